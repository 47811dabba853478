"""UpliftModels stored before the CRD refused a ``spec.model.trackingUri`` with userinfo
(``user:password@``) or a ``registeredModel`` with control characters: the API server keeps a
stored value a new pattern refuses, so after the upgrade the typed spec refuses it. Their pass
writes InvalidSpec naming the field (never quoting the URL), and an abort or an emergency
rollback is still acted on, the stable rendered as the previous release rendered it. Before,
the spec was not typed at all and every stop request was ignored. Driven through
``reconcile`` with the fakes of ``test_upliftmodel.Sim``."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.services.test_upliftmodel import SELDON, Sim, reasons

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
from uplift_operator.services import upliftmodel

SECRET = "s3cr3t-pw"
WITH_USERINFO = f"https://alice:{SECRET}@mlflow.example:5000"
STOPS = ["uplift.dev/abort", "uplift.dev/emergency-rollback"]


def _predictor(sim: Sim, version: str) -> dict[str, Any]:
    child = sim.cluster.objects[SELDON]
    return copy.deepcopy(next(p for p in child["spec"]["predictors"]
                              if p["annotations"]["version"] == version))


def _canary_stored_with_userinfo() -> Sim:
    """A canary at 10 % whose graph the previous release rendered from a tracking URI with
    userinfo (the operator's default here, so that this release renders it too), then the spec
    as stored: that URL in ``spec.model.trackingUri``."""
    sim = Sim()
    sim.deps.default_tracking_uri = WITH_USERINFO
    sim.with_canary()
    sim.body["spec"]["model"]["trackingUri"] = WITH_USERINFO
    return sim


@pytest.mark.parametrize("annotation", STOPS)
def test_a_stored_tracking_uri_with_userinfo_is_invalid_and_a_stop_still_acts(
        annotation: str) -> None:
    sim = _canary_stored_with_userinfo()
    stable = _predictor(sim, "1")
    sim.tick(61)
    assert sim.status["phase"] == "Degraded" and sim.weights() == {"1": 90, "2": 10}
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True"
    assert "spec.model.trackingUri must not hold credentials" in invalid["message"]
    assert "model.credentials" in invalid["message"]
    sim.body["metadata"]["annotations"] = {annotation: "now"}
    result = sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.status["handledRequests"] == {annotation: "now"}
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")
    assert sim.condition("InvalidSpec")["status"] == "True"
    # The stable as the previous release rendered it: no roll of its pods.
    assert _predictor(sim, "1")["componentSpecs"] == stable["componentSpecs"]
    env = {e["name"]: e.get("value") for c in stable["componentSpecs"][0]["spec"]["containers"]
           for e in c.get("env", [])}
    assert env["MLFLOW_TRACKING_URI"] == WITH_USERINFO
    told = json.dumps(sim.status) + json.dumps([e.message for e in result.events])
    assert SECRET not in told and "alice" not in told


@pytest.mark.parametrize("annotation", STOPS)
def test_a_stored_registered_model_with_a_control_character_is_invalid_and_a_stop_still_acts(
        annotation: str) -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["model"]["registeredModel"] = "hillstrom\x1b[31m"  # as stored before
    sim.tick(61)
    assert sim.status["phase"] == "Degraded" and sim.weights() == {"1": 90, "2": 10}
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True"
    assert "spec.model.registeredModel: must not hold control characters" in invalid["message"]
    sim.body["metadata"]["annotations"] = {annotation: "now"}
    result = sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.status["handledRequests"] == {annotation: "now"}
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")
    told = json.dumps(sim.status) + json.dumps([e.message for e in result.events])
    assert "\x1b" not in told


def test_another_schema_error_beside_a_stored_pattern_leaves_the_spec_untyped() -> None:
    """Only the patterns this release added are read past: a spec refused for anything else
    too is not typed (as before), and says both, without the URL."""
    sim = Sim()
    spec = copy.deepcopy(sim.body["spec"])
    spec["model"]["trackingUri"] = WITH_USERINFO
    spec["model"]["aliasRefreshInterval"] = "soon"
    body = {**sim.body, "spec": spec}
    typed, problems = upliftmodel._validate(body, sim.deps)
    assert typed is None
    assert any(p.startswith("spec.model.aliasRefreshInterval") for p in problems)
    assert SECRET not in json.dumps(problems)


def test_a_tracking_uri_refused_for_another_reason_leaves_the_spec_untyped() -> None:
    """A URL the previous release refused too (not http(s)) is no stored value to read past."""
    sim = Sim()
    spec = copy.deepcopy(sim.body["spec"])
    spec["model"]["trackingUri"] = "ftp://mlflow"
    typed, _problems = upliftmodel._validate({**sim.body, "spec": spec}, sim.deps)
    assert typed is None


def test_deleting_a_model_stored_with_userinfo_logs_no_password(
        caplog: pytest.LogCaptureFixture) -> None:
    """Its canary is not retired (the spec does not parse); the line that says so names the
    field, not the value pydantic's error text would quote."""
    sim = _canary_stored_with_userinfo()
    with caplog.at_level(logging.DEBUG):
        assert not upliftmodel.retire_deleted_canary(sim.body, sim.deps, sim.now)
    said = caplog.text
    assert "spec.model.trackingUri" in said and "stays tagged canary" in said
    assert SECRET not in said and "alice" not in said


def test_an_api_validation_error_text_holds_no_input() -> None:
    """Any ValidationError of an API type that reaches a log or a status message as text
    (``validated``, ``log.exception``) leaves the values out; ``errors()`` keeps them."""
    spec = copy.deepcopy(Sim().body["spec"])
    spec["model"]["trackingUri"] = WITH_USERINFO
    with pytest.raises(ValidationError) as raised:
        UpliftModelSpec.model_validate(spec)
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)
    assert raised.value.errors()[0]["input"] == WITH_USERINFO
