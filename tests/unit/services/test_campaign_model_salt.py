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
