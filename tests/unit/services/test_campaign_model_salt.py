"""A Campaign whose effective salt is its UpliftModel's own (both default to namespace/name: a
Campaign named like its model, neither setting a salt; or a salt set to the model's) draws its
holdout from the same unit positions as the model's own holdout (``runtime.assignment``: the
same hash of salt and unit id), so its incremental conversions and ROI count the effect of the
model's own decisions. ``HoldoutShared`` says so (True, ``SaltShared``, a Warning once), as it
says another Campaign sharing the salt; the defaults stay (changing one would re-draw every
existing holdout). A warning only: the ramp is what it would be without it."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster, FakeMetrics
from tests.unit.services.test_campaign_holdout_shared import MODEL, _body, _said, _shared
from tests.unit.services.test_campaigns_file import NS, T0, serving_model

from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import campaign


def _deps(**experiment: Any) -> campaign.CampaignDependencies:
    model = serving_model()
    model["spec"].setdefault("experiment", {}).update(experiment)
    cluster = FakeCluster()
    cluster.put("upliftmodels", model)
    return campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES)


def _objects(deps: campaign.CampaignDependencies) -> dict[Any, dict[str, Any]]:
    assert isinstance(deps.cluster, FakeCluster)
    return deps.cluster.objects


def _unsalted(name: str) -> dict[str, Any]:
    body = _body(name)
    del body["spec"]["experiment"]["salt"]
    return body


def test_a_campaign_named_like_its_model_without_salts_is_said_to_share_its_holdout() -> None:
    body = _unsalted(MODEL)
    deps = _deps()
    result = campaign.reconcile(copy.deepcopy(body), deps, T0)
    shared = _shared(result.status)
    assert shared is not None and (shared["status"], shared["reason"]) == ("True", "SaltShared")
    assert f"UpliftModel {MODEL}'s own holdout draws with the same salt '{NS}/{MODEL}'" in (
        shared["message"])
    assert "give it a salt of its own" in shared["message"]
    [(kind, message)] = _said(result, "SaltShared")
    assert kind == "Warning" and message == shared["message"]
    # A warning only: the same ramp as a Campaign named otherwise.
    apart = campaign.reconcile(copy.deepcopy(_unsalted("spring-email")), deps, T0)
    assert _shared(apart.status) is None
    assert result.status["exposurePercent"] == apart.status["exposurePercent"]
    assert result.status["phase"] == apart.status["phase"]
    # Named so, with a salt of its own, or its model with one: no longer the same draw.
    for other, other_deps in ((_body(MODEL), deps), (body, _deps(salt="hillstrom-2026"))):
        alone = campaign.reconcile(copy.deepcopy(other), other_deps, T0)
        assert _shared(alone.status) is None and not _said(alone, "SaltShared")


def test_a_campaign_salt_equal_to_the_models_set_salt_is_said_and_released() -> None:
    body = _body("spring-email", salt="hillstrom-2026")
    first = campaign.reconcile(copy.deepcopy(body), _deps(salt="hillstrom-2026"), T0)
    shared = _shared(first.status)
    assert shared is not None and shared["status"] == "True"
    assert "'hillstrom-2026'" in shared["message"]
    body["status"] = first.status
    # The model's experiment changed between canaries: another draw, no longer this one.
    later = campaign.reconcile(copy.deepcopy(body), _deps(salt="hillstrom-2027"),
                               T0 + dt.timedelta(seconds=5))
    released = _shared(later.status)
    assert released is not None and (released["status"], released["reason"]) == (
        "False", "SaltNotShared")
    assert [kind for kind, _ in _said(later, "SaltNotShared")] == ["Normal"]


def test_a_refused_campaign_says_it_too() -> None:
    """Its campaigns-file entry, inactive, still carries the salt (``_refused_pass``)."""
    body = _unsalted(MODEL)
    body["spec"]["exposure"]["analysisInterval"] = "1000000000d"
    result = campaign.reconcile(copy.deepcopy(body), _deps(), T0)
    assert any(c["type"] == "InvalidSpec" and c["status"] == "True"
               for c in result.status["conditions"])
    shared = _shared(result.status)
    assert shared is not None and shared["status"] == "True"
    assert f"UpliftModel {MODEL}'s own holdout" in shared["message"]


def test_the_models_salt_is_shared_whatever_either_s_unit_key() -> None:
    """The runtime hashes the unit id's value with the salt, not the name of the input it was
    read by (``runtime.assignment.unit_position``): a model and its Campaign reading their ids
    under different inputs (a column renamed, two request formats) hold out the same ids alike,
    as two Campaigns do (``test_campaign_holdout_shared``)."""
    body = _unsalted(MODEL)
    body["spec"]["experiment"]["unitKey"] = "household_id"
    for deps in (_deps(), _deps(unitKey="customer_id"), _deps(unitKey="household_id")):
        result = campaign.reconcile(copy.deepcopy(body), deps, T0)
        shared = _shared(result.status)
        assert shared is not None and (shared["status"], shared["reason"]) == (
            "True", "SaltShared")
        assert f"UpliftModel {MODEL}'s own holdout draws with the same salt '{NS}/{MODEL}'" in (
            shared["message"])
        assert "unit input" not in shared["message"]


class _ReadFails(FakeCluster):
    """The API server does not answer the model's read."""

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        if plural == "upliftmodels":
            raise RuntimeError("the API server did not answer")
        return super().get(api_version, plural, namespace, name)


def test_a_deleted_model_s_holdout_is_no_longer_said_and_a_failed_read_changes_nothing() -> None:
    """The model deleted holds out no one any more: what was said of its holdout goes
    (False, ``SaltNotShared``, a Normal event), and comes back (a Warning) with a model
    re-created with the same salt. A read of the model that fails fails the pass: the status,
    the condition with it, stays as the last pass wrote it."""
    body = _unsalted(MODEL)
    deps = _deps()
    first = campaign.reconcile(copy.deepcopy(body), deps, T0)
    said = _shared(first.status)
    assert said is not None and said["status"] == "True"
    body["status"] = first.status
    failing = _ReadFails()
    failing.objects.update(_objects(deps))
    with pytest.raises(RuntimeError):
        campaign.reconcile(copy.deepcopy(body), dataclasses.replace(deps, cluster=failing),
                           T0 + dt.timedelta(seconds=5))
    [model_key] = [k for k in _objects(deps) if k[1] == "upliftmodels"]
    gone_model = _objects(deps).pop(model_key)
    gone = campaign.reconcile(copy.deepcopy(body), deps, T0 + dt.timedelta(seconds=10))
    released = _shared(gone.status)
    assert released is not None and (released["status"], released["reason"]) == (
        "False", "SaltNotShared")
    assert [kind for kind, _ in _said(gone, "SaltNotShared")] == ["Normal"]
    body["status"] = gone.status
    _objects(deps)[model_key] = gone_model
    back = campaign.reconcile(copy.deepcopy(body), deps, T0 + dt.timedelta(seconds=15))
    again = _shared(back.status)
    assert again is not None and again["status"] == "True"
    assert [kind for kind, _ in _said(back, "SaltShared")] == ["Warning"]
