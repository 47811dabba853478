"""``progressDeadline`` is at least the analysis interval: ``0s`` and ``1ms`` were accepted, a
step past its deadline before its gates were evaluated once, and the not-serving grace
(``domain.canary``: 5 minutes, or the deadline when shorter) shortened to nothing. The CRDs'
rule (``ramp_rules``) reads the interval's default when the spec sets none; evaluated with
``tests.support.cel`` (the real API server's validator agrees: review harness). An object
stored before it is read with the interval as its deadline (``RampSpecBase``), not refused, and
named in a Warning."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.cel import evaluate
from tests.unit.domain.test_validation import _campaign, _model
from tests.unit.services.test_campaign import Sim as CampaignSim
from tests.unit.services.test_upliftmodel import PROBE, Sim

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
from uplift_operator.api.v1alpha1.campaign import ExposureSpec
from uplift_operator.api.v1alpha1.upliftmodel import RolloutSpec
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES


def _deadline_rule(crd: Any, ramp: str) -> str:
    schema = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = schema["properties"]["spec"]["properties"][ramp]["x-kubernetes-validations"]
    (rule,) = [r["rule"] for r in rules if r.get("fieldPath") == ".progressDeadline"]
    return str(rule)


@pytest.mark.parametrize(("crd", "ramp", "model"), [(UPLIFTMODEL, "rollout", RolloutSpec),
                                                    (CAMPAIGN, "exposure", ExposureSpec)])
def test_a_deadline_shorter_than_the_interval_is_refused(crd: Any, ramp: str,
                                                          model: Any) -> None:
    rule = _deadline_rule(crd, ramp)
    default = model.model_fields["analysis_interval"].default  # 1m, 5m
    assert evaluate(rule, {})                                   # no deadline
    for deadline in ("0s", "1ms", "59s"):
        assert not evaluate(rule, {"progressDeadline": deadline}), deadline
        assert not evaluate(rule, {"progressDeadline": deadline, "analysisInterval": "1m"})
    assert evaluate(rule, {"progressDeadline": default})        # the default interval
    assert not evaluate(rule, {"progressDeadline": "1m", "analysisInterval": "61s"})
    assert evaluate(rule, {"progressDeadline": "60s", "analysisInterval": "1m"})
    assert evaluate(rule, {"progressDeadline": "1h", "analysisInterval": "30m"})


def test_one_stored_before_the_rule_is_read_as_the_interval_not_refused() -> None:
    """Refused (InvalidSpec), an object stored before the rule held a running canary where it
    stood after an operator upgrade, its gates unjudged: a failing one stayed at 90/10. It is
    read as the interval instead, by every reader of the ramp, and named in a Warning; written
    out (its digests) it stays as stored."""
    spec = _model(**{"rollout.progressDeadline": "1ms"}).spec
    assert validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES) == []
    assert spec.rollout.progress_deadline == "1m" and spec.rollout.short_progress_deadline == "1ms"
    assert spec.rollout.to_wire()["progressDeadline"] == "1ms"
    assert spec.rollout.model_copy(update={"paused": True}).progress_deadline == "1m"
    (warning,) = validation.short_progress_deadline(spec.rollout, "spec.rollout")
    assert warning.startswith("spec.rollout.progressDeadline (1ms) is shorter than "
                              "analysisInterval (1m): read as 1m (it counts from the end of a "
                              "step's pause")
    exposure = _campaign().to_wire()["spec"]["exposure"]
    spec2 = _campaign(exposure={**exposure, "progressDeadline": "0s"}).spec
    assert validation.validate_campaign(spec2, BUILTIN_TEMPLATES, None) == []
    assert spec2.exposure.progress_deadline == exposure.get("analysisInterval", "5m")
    assert validation.short_progress_deadline(spec2.exposure, "spec.exposure")
    fits = _model(**{"rollout.progressDeadline": "1m"}).spec
    assert fits.rollout.short_progress_deadline is None
    assert validation.short_progress_deadline(fits.rollout, "spec.rollout") == []
    # One length up to the rules' tolerance is not shorter.
    same = _model(**{"rollout.progressDeadline": "3960s", "rollout.analysisInterval": "1.1h"})
    assert same.spec.rollout.progress_deadline == "3960s"


def test_a_failing_canary_stored_with_a_short_deadline_is_still_rolled_back() -> None:
    """The reviewer's upgrade scenario: the stored object (same generation) read by an operator
    with the rule; its failing canary was held at 90/10, InvalidSpec, never rolled back."""
    sim = Sim()
    sim.body["spec"]["rollout"]["progressDeadline"] = "10m"
    sim.with_canary()
    sim.body["spec"]["rollout"]["progressDeadline"] = "30s"
    sim.metrics.values[PROBE] = 5.0  # the custom gate's max is 1.0: a failing canary
    for _ in range(10):
        sim.tick(60)
    assert sim.weights() == {"1": 100} and sim.status.get("canaryVersion") is None
    assert sim.condition("InvalidSpec")["status"] == "False"


def test_a_campaign_names_it_in_a_warning_once_per_generation() -> None:
    sim = CampaignSim()
    sim.body["spec"]["exposure"]["progressDeadline"] = "1s"
    first = sim.tick()
    (event,) = [e for e in first.events if e.reason == "IgnoredField"]
    assert event.type == "Warning"
    assert event.message.startswith("spec.exposure.progressDeadline (1s) is shorter than "
                                    "analysisInterval")
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert "IgnoredField" not in [e.reason for e in sim.tick(5).events]


def test_an_upliftmodel_names_it_in_a_warning_once_per_generation() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["progressDeadline"] = "1s"
    (event,) = [e for e in sim.tick().events if e.reason == "IgnoredField"]
    assert event.type == "Warning"
    assert event.message.startswith("spec.rollout.progressDeadline (1s) is shorter than "
                                    "analysisInterval")
    assert "IgnoredField" not in [e.reason for e in sim.tick(5).events]
