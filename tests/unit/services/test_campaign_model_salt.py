"""A Campaign whose effective salt is its UpliftModel's own (both default to namespace/name: a
Campaign named like its model, neither setting a salt; or a salt set to the model's) draws its
holdout from the same unit positions as the model's own holdout (``runtime.assignment``: the
same hash of salt and unit id), so its incremental conversions and ROI count the effect of the
model's own decisions. ``HoldoutShared`` says so (True, ``SaltShared``, a Warning once), as it
says another Campaign sharing the salt; the defaults stay (changing one would re-draw every
existing holdout). A warning only: the ramp is what it would be without it."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

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


def test_the_models_salt_holds_out_the_same_units_only_over_the_same_unit_input() -> None:
    """The runtime hashes the model's own requests' units by the model's unitKey, a
    Campaign's by the Campaign's: with the same salt over different inputs (customers, a
    household id) they hold out other units, and nothing is said."""
    body = _unsalted(MODEL)
    body["spec"]["experiment"]["unitKey"] = "household_id"
    apart = campaign.reconcile(copy.deepcopy(body), _deps(), T0)
    assert _shared(apart.status) is None and not _said(apart, "SaltShared")
    alike = campaign.reconcile(copy.deepcopy(body), _deps(unitKey="household_id"), T0)
    shared = _shared(alike.status)
    assert shared is not None and shared["status"] == "True"
    assert "over the same unit input 'household_id'" in shared["message"]
    # Neither sets one: both read unit_id, the same units.
    del body["spec"]["experiment"]["unitKey"]
    deps = _deps()
    model_key = next(k for k in _objects(deps) if k[1] == "upliftmodels")
    del _objects(deps)[model_key]["spec"]["experiment"]["unitKey"]
    default = campaign.reconcile(copy.deepcopy(body), deps, T0)
    assert "over the same unit input 'unit_id'" in (_shared(default.status) or {})["message"]
    assert not _shared(campaign.reconcile(copy.deepcopy(body), _deps(), T0).status)


def test_while_the_model_is_not_read_what_was_said_of_its_holdout_stays() -> None:
    """The model deleted (or its read failing) says nothing of its salt: the condition keeps
    its model part, True, without a Normal event, and neither a Warning nor a new transition
    time when the model is back (its alert's ``for`` would start over)."""
    body = _unsalted(MODEL)
    deps = _deps()
    first = campaign.reconcile(copy.deepcopy(body), deps, T0)
    said = _shared(first.status)
    assert said is not None and said["status"] == "True"
    body["status"] = first.status
    [model_key] = [k for k in _objects(deps) if k[1] == "upliftmodels"]
    gone_model = _objects(deps).pop(model_key)
    gone = campaign.reconcile(copy.deepcopy(body), deps, T0 + dt.timedelta(seconds=5))
    kept = _shared(gone.status)
    assert kept is not None and (kept["status"], kept["reason"]) == ("True", "SaltShared")
    assert kept["message"] == said["message"]
    assert kept["lastTransitionTime"] == said["lastTransitionTime"]
    assert not _said(gone, "SaltNotShared") and not _said(gone, "SaltShared")
    body["status"] = gone.status
    _objects(deps)[model_key] = gone_model
    back = campaign.reconcile(copy.deepcopy(body), deps, T0 + dt.timedelta(seconds=10))
    again = _shared(back.status)
    assert again is not None and again["status"] == "True"
    assert again["lastTransitionTime"] == said["lastTransitionTime"]
    assert not _said(back, "SaltShared") and not _said(back, "SaltNotShared")

    # Only what was said of the model's holdout is kept: another Campaign's sharing ended is
    # said as before, model or not.
    body = _body("spring-email")
    deps = _deps()
    other = body | {"metadata": {**body["metadata"], "name": "summer-email"}}
    drawn = campaign.holdout_draw(other)
    assert drawn is not None
    first = campaign.reconcile(copy.deepcopy(body), deps, T0, draws=(drawn,))
    assert (_shared(first.status) or {}).get("status") == "True"
    body["status"] = first.status
    _objects(deps).clear()
    later = campaign.reconcile(copy.deepcopy(body), deps, T0 + dt.timedelta(seconds=5), draws=())
    released = _shared(later.status)
    assert released is not None and released["status"] == "False"
    assert [kind for kind, _ in _said(later, "SaltNotShared")] == ["Normal"]
