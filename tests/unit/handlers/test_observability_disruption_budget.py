"""``uplift_operator_disruption_budget_failing``: 1 while an UpliftModel's
``DisruptionBudgetApplied`` condition is False with reason ``DisruptionBudgetFailed`` (its
PodDisruptionBudgets not applied: a later node drain may evict every serving pod of a version),
which no phase says (``services.disruption``: never a problem ``domain.stuck`` counts).
UpliftModelDisruptionBudgetFailing reads it. No series otherwise (a predecessor's budget waited
for: ``WaitingForGarbageCollector``, at every pass), nor once forgotten."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_disruption_budgets import BudgetCluster, _sim
from tests.unit.services.test_disruption_budgets_listing import _predecessors
from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers import observability
from uplift_operator.services.disruption import (
    BUDGET_WAITING,
    RETRY_BASE_SECONDS,
    WAIT_BASE_SECONDS,
)

METRIC = "uplift_operator_disruption_budget_failing"


def failing(name: str, status: dict[str, Any] | None = None) -> float | None:
    if status is not None:
        observability.observe_status("UpliftModel", "shop", name, status)
        observability.observe_rollout("shop", name, status, measured={})
    return observability.REGISTRY.get_sample_value(METRIC, {"namespace": "shop", "name": name})


def test_a_budget_the_api_server_refuses_is_exported_until_it_is_applied() -> None:
    """Whole passes: RBAC refuses the budget; the model is Healthy and serves, and only this
    series says its pods are unprotected, at every pass, until a retry applies it."""
    sim = Sim()
    cluster = BudgetCluster()
    sim.cluster = cluster
    sim.deps.cluster = cluster
    sim.body["spec"]["serving"] = {"disruptionBudget": {"maxUnavailable": 1}}
    cluster.budget_error = KubeError("apply poddisruptionbudgets/uplift-v1: 403 forbidden", 403)
    sim.tick()
    sim.tick(1)
    for _ in range(6):
        sim.tick(300)
        assert sim.status["phase"] == "Healthy"
        assert failing("refused", sim.status) == 1
    cluster.budget_error = None
    sim.tick(RETRY_BASE_SECONDS)
    sim.tick(600)
    assert sim.condition("DisruptionBudgetApplied")["status"] == "True"
    assert failing("refused", sim.status) is None
    observability.forget("UpliftModel", "shop", "refused")


def test_a_predecessors_budget_has_no_series_at_any_pass_while_it_is_waited_for() -> None:
    """Whole passes: a budget of the name the model's predecessor left (the model deleted and
    created again) waits for the garbage collector; a pass due before its retry says so too."""
    sim = _sim({"maxUnavailable": 1})
    _predecessors(sim)
    sim.tick()
    for _ in range(4):
        sim.tick(1)  # within WAIT_BASE_SECONDS of the last try: no call, what it found
        assert sim.condition("DisruptionBudgetApplied")["reason"] == BUDGET_WAITING
        assert failing("reborn", sim.status) is None
    sim.tick(WAIT_BASE_SECONDS)  # tried again: still there
    assert failing("reborn", sim.status) is None
    observability.forget("UpliftModel", "shop", "reborn")


def _status(budget: dict[str, str] | None) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True", "reason": "StableServing",
                   "message": "stable 1 serves", "lastTransitionTime": "2026-12-08T00:00:00Z"}]
    if budget is not None:
        conditions.append({"type": "DisruptionBudgetApplied", "message": "x",
                           "lastTransitionTime": "2026-12-01T00:00:00Z", **budget})
    return {"phase": "Healthy", "message": "version 1 serves all traffic", "stableVersion": "1",
            "canaryWeight": 0, "conditions": conditions}


FAILED = {"status": "False", "reason": "DisruptionBudgetFailed"}


def test_only_a_failed_budget_has_a_series() -> None:
    assert failing("m", _status(FAILED)) == 1
    assert failing("m", _status({"status": "True", "reason": "Applied"})) is None
    assert failing("m", _status(FAILED)) == 1
    # A predecessor's budget of the name that the garbage collector deletes: waited for.
    assert failing("m", _status({"status": "False",
                                 "reason": "WaitingForGarbageCollector"})) is None
    assert failing("m", _status(FAILED)) == 1
    # The field removed: the condition goes with the budgets.
    assert failing("m", _status(None)) is None
    observability.forget("UpliftModel", "shop", "m")


def test_a_forgotten_model_leaves_no_series() -> None:
    assert failing("gone", _status(FAILED)) == 1
    observability.forget("UpliftModel", "shop", "gone", keep_last_pass=True)
    assert failing("gone") is None
    assert failing("gone", _status(FAILED)) == 1
    observability.forget("UpliftModel", "shop", "gone")
    assert failing("gone") is None
