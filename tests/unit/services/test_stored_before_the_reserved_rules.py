"""Objects stored before the CRDs' later CEL rules: an UpliftModel with a reserved alias name
(``promotionAlias: latest``/``v2``, ``alias: v3``) or a disruption budget that allows no
eviction (``maxUnavailable: 0``/``"0%"``, ``minAvailable: "100%"``), and gates whose bound
fails at the first look (drift or latency ``max`` at or below 0) or can never pass
(incrementalConversions ``min`` at 1 or beyond). The API server keeps a stored value its new
rule refuses; the typed model takes it, so the pass writes InvalidSpec in the rule's words
and an abort on a running canary is still acted on. Before, the reserved names and budgets
made the spec not parse (every stop request ignored: "not acted on: the spec does not
parse"), and the gates rolled every canary (every exposure) back. Driven through
``reconcile`` with the fakes of ``test_upliftmodel.Sim`` and ``test_campaign.Sim``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from tests.unit.services import test_campaign
from tests.unit.services.test_upliftmodel import Sim, reasons

from uplift_operator.api.v1alpha1.campaign import INCREMENTAL_CONVERSIONS_MIN
from uplift_operator.api.v1alpha1.upliftmodel import (
    ALIAS_VERSION_RESERVED,
    BUDGET_MAX_NO_EVICTION,
    BUDGET_MIN_NO_EVICTION,
    DRIFT_MAX,
    LATENCY_MAX,
    LATEST_RESERVED,
    VERSION_RESERVED,
)
from uplift_operator.services import upliftmodel


def _promotion_alias(alias: str) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        spec["model"]["promotionAlias"] = alias
    return edit


def _followed_alias(alias: str) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        spec["model"]["alias"] = alias
    return edit


def _budget(**budget: Any) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        spec.setdefault("serving", {})["disruptionBudget"] = budget
    return edit


PROMOTION_LATEST = "spec." + LATEST_RESERVED.format(field="model.promotionAlias")
PROMOTION_VERSION = "spec." + VERSION_RESERVED.format(field="model.promotionAlias")
STORED = {
    "promotionAlias latest": (_promotion_alias("latest"), PROMOTION_LATEST),
    "promotionAlias Latest": (_promotion_alias("Latest"), PROMOTION_LATEST),
    "promotionAlias v2": (_promotion_alias("v2"), PROMOTION_VERSION),
    "alias v3": (_followed_alias("v3"), "spec." + ALIAS_VERSION_RESERVED),
    "maxUnavailable 0": (_budget(maxUnavailable=0), "spec.serving." + BUDGET_MAX_NO_EVICTION),
    "maxUnavailable 0%": (_budget(maxUnavailable="0%"),
                          "spec.serving." + BUDGET_MAX_NO_EVICTION),
    "minAvailable 100%": (_budget(minAvailable="100%"),
                          "spec.serving." + BUDGET_MIN_NO_EVICTION),
}


@pytest.mark.parametrize("case", list(STORED))
def test_a_stored_value_a_later_rule_refuses_is_typed_and_invalid(case: str) -> None:
    edit, says = STORED[case]
    sim = Sim()
    spec = copy.deepcopy(sim.body["spec"])
    edit(spec)
    typed, problems = upliftmodel._validate({**sim.body, "spec": spec}, sim.deps)
    assert typed is not None
    assert any(p.startswith(says) for p in problems), problems


@pytest.mark.parametrize("annotation", ["uplift.dev/abort", "uplift.dev/emergency-rollback"])
@pytest.mark.parametrize("case", list(STORED))
def test_a_canary_stored_with_such_a_value_is_held_and_a_stop_still_acts(
        case: str, annotation: str) -> None:
    edit, says = STORED[case]
    sim = Sim()
    sim.with_canary()
    edit(sim.body["spec"])  # as the previous release stored it, at the operator's upgrade
    sim.tick(61)
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True" and says in invalid["message"], invalid
    assert "does not parse" not in sim.status["message"]
    assert sim.status["phase"] == "Degraded" and sim.weights() == {"1": 90, "2": 10}
    sim.body["metadata"]["annotations"][annotation] = "now"
    result = sim.tick(1)
    assert "canaryVersion" not in sim.status and sim.weights()["1"] == 100
    assert sim.weights().get("2", 0) == 0
    assert sim.status["handledRequests"] == {annotation: "now"}
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")
    assert sim.condition("InvalidSpec")["status"] == "True"
    # Nothing is applied from the refused spec: no budget that holds every drain.
    assert not [key for key in sim.cluster.objects if "poddisruptionbudgets" in key]


@pytest.mark.parametrize(("gate", "says"), [
    ({"name": "psi", "type": "drift", "max": 0}, f"gates[1] (psi).max: {DRIFT_MAX} (got 0)"),
    ({"name": "psi", "type": "drift", "max": -0.5}, f"(psi).max: {DRIFT_MAX} (got -0.5)"),
    ({"name": "p95", "type": "latency", "max": 0}, f"gates[1] (p95).max: {LATENCY_MAX} (got 0)"),
    ({"name": "p95", "type": "latency", "max": -1}, f"(p95).max: {LATENCY_MAX} (got -1)"),
])
def test_a_gate_bound_that_fails_at_the_first_look_is_invalid_not_a_rollback(
        gate: dict[str, Any], says: str) -> None:
    """Before: the gate's Fail shown at the first look (a PSI is never below 0, a p95 never at
    or below 0 s), and every canary rolled back."""
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append(gate)
    sim.body["metadata"]["generation"] += 1
    for _ in range(3):
        sim.tick(61)
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True" and says in invalid["message"], invalid
    assert sim.status["canaryVersion"] == "2" and sim.weights() == {"1": 90, "2": 10}
    assert not any(e["action"] == "RolledBack" for e in sim.status.get("history", []))
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    sim.tick(1)
    assert "canaryVersion" not in sim.status and sim.weights()["1"] == 100


@pytest.mark.parametrize(("gate", "field", "value", "says"), [
    ("drift", "max", 0, f"(drift).max: {DRIFT_MAX} (got 0)"),
    ("incremental", "min", 1, f"(incremental).min: {INCREMENTAL_CONVERSIONS_MIN} (got 1)"),
    ("incremental", "min", -1.5, f"(incremental).min: {INCREMENTAL_CONVERSIONS_MIN} (got -1.5)"),
])
def test_a_campaign_gate_bound_it_can_never_judge_is_invalid_and_its_kill_switch_works(
        gate: str, field: str, value: float, says: str) -> None:
    sim = test_campaign.Sim()
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 25
    exposure = copy.deepcopy(sim.body["spec"]["exposure"])
    next(g for g in exposure["gates"] if g["name"] == gate)[field] = value
    sim.edit_spec(exposure=exposure)
    sim.tick(1)
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True" and says in invalid["message"], invalid
    sim.annotate("uplift.dev/emergency-rollback", "t1")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    assert sim.status["handledRequests"]["uplift.dev/emergency-rollback"] == "t1"
