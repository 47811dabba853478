"""domain.exposure and edits of the budget while it is spent (review-campaign findings 3, 4).

A budget gate renamed, declared or implied under another name while a spent budget suspends the
campaign has no status yet: the period's money is the same whatever the gate is called, so the
suspension holds on its last Fail until the gate is measured (before, the next pass lifted it
saying "the budget period rolled over", and treated until the new gate failed again). A
``BudgetRenewed`` says what happened: a rollover only when a period boundary passed. A budget
removed (the documented way to change its period) leaves no spend, remaining budget, ledgers
nor budget gate verdict in status. Plain values, time passed in; each pass measures what
``gates_to_measure`` names, as the service does (``test_exposure_budget.run``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.domain.test_exposure_budget import (
    MINUTE,
    SERVING,
    T0,
    budget_outcome,
    run,
    spec_with,
)

from uplift_operator.api.v1alpha1.campaign import BudgetLedgers, CampaignGate, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome

DELIVERY = {"name": "delivery", "type": "deliveryRate"}


class Spend:
    """The replicas' summed spend the budget gates measure; every other gate passes."""

    def __init__(self, spend: float) -> None:
        self.spend = spend
        self.measured: list[str] = []

    def __call__(self, gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        self.measured.append(gate.name)
        if gate.type == "budget":
            return budget_outcome(gate.name, now, self.spend)
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)


def _suspended(gates: list[dict[str, Any]]) -> tuple[CampaignStatus, Spend]:
    """Step 1 at 5 % suspended at T0+10m: the budget (5000 a day) spent, 6000."""
    judge = Spend(10.0)
    spec = spec_with(gates, budget=5000, budgetPeriod="1d")
    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    judge.spend = 6000.0
    s = run(spec, s, T0 + 10 * MINUTE, judge).status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (Phase.SUSPENDED, 0, 5)
    return s, judge


# Each edit leaves the spec with a budget gate that has no status yet.
EDITS = {
    # The declared gate removed: the budget then implies one, named budget.
    "declared gate removed": ([DELIVERY, {"name": "spend", "type": "budget"}], [DELIVERY],
                              "budget"),
    # A declared one in place of the implied one.
    "one declared": ([DELIVERY], [DELIVERY, {"name": "cap", "type": "budget"}], "cap"),
    # Any gate named budget: the implied one becomes budget-2.
    "implied renamed": ([DELIVERY], [DELIVERY, {"name": "budget", "type": "deliveryRate"}],
                        "budget-2"),
}


@pytest.mark.parametrize(("before", "after", "new"), EDITS.values(), ids=EDITS.keys())
def test_a_budget_gate_renamed_while_suspended_keeps_the_suspension_until_measured(
        before: list[dict[str, Any]], after: list[dict[str, Any]], new: str) -> None:
    s, judge = _suspended(before)
    edited = spec_with(after, budget=5000, budgetPeriod="1d")
    assert new in {g.name for g in exposure.gates_to_measure(edited, s)}
    # The pass reading the edit (no analysis due): still suspended, nothing said, not treated.
    quiet = run(edited, s, T0 + 11 * MINUTE, judge)
    q = quiet.status
    assert not exposure.analysis_due(edited, s, T0 + 11 * MINUTE)
    assert (q.phase, q.exposure_percent, q.suspended_exposure_percent) == (Phase.SUSPENDED, 0, 5)
    assert quiet.events == ()
    assert not exposure.treating(q)
    assert (f"last failed at {(T0 + 10 * MINUTE).isoformat()}, not measured since, gate {new}"
            in q.message)
    assert "rolls over at 2026-12-02T00:00:00+00:00" in q.message
    # Measured: the budget still spent holds it, quietly (no second BudgetExhausted).
    judge.measured.clear()
    spent = run(edited, q, T0 + 15 * MINUTE, judge)
    assert judge.measured == [new]
    assert spent.status.phase is Phase.SUSPENDED and spent.events == ()
    # Measured under the budget (raised, say): it passes again, and says so.
    judge.spend = 10.0
    resumed = run(edited, spent.status, T0 + 20 * MINUTE, judge)
    assert (resumed.status.phase, resumed.status.exposure_percent) == (Phase.PROGRESSING, 5)
    assert [e.message for e in resumed.events if e.reason.value == "BudgetRenewed"] == [
        "exposure 5% at step 1/3 resumed (the budget gate passes again within the period: "
        "spent 10 of budget 5000)"]


def test_a_renamed_budget_gate_never_measured_resumes_when_the_period_rolls_over() -> None:
    s, judge = _suspended([DELIVERY])
    edited = spec_with([DELIVERY, {"name": "cap", "type": "budget"}], budget=5000,
                       budgetPeriod="1d")
    s = run(edited, s, T0 + 11 * MINUTE, judge).status
    assert s.phase is Phase.SUSPENDED
    # A pass at the rollover that measured nothing (the gate not measured yet): it lifts.
    renewed = exposure.decide(edited, s, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), T0 + dt.timedelta(days=1))
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    assert r.history[-1].reason == "the budget period rolled over"


@pytest.mark.parametrize(("gates", "economics", "why"), [
    ([DELIVERY], {"budget": None, "budgetPeriod": None},
     "spec.economics.budget was removed: no budget is enforced"),
    ([DELIVERY, {"name": "cap", "type": "budget", "dryRun": True}], {},
     "the budget gate is dry-run (cap): it suspends nothing"),
])
def test_a_suspension_lifted_by_an_edit_says_so_not_a_rollover(
        gates: list[dict[str, Any]], economics: dict[str, Any], why: str) -> None:
    s, judge = _suspended([DELIVERY])
    edited = spec_with(gates, **{"budget": 5000, "budgetPeriod": "1d", **economics})
    resumed = run(edited, s, T0 + 11 * MINUTE, judge)
    r = resumed.status
    assert (r.phase, r.exposure_percent, r.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    assert [e.message for e in resumed.events if e.reason.value == "BudgetRenewed"] == [
        f"exposure 5% at step 1/3 resumed ({why})"]
    assert r.history[-1].reason == why


def test_a_removed_budget_leaves_no_spend_remaining_ledgers_nor_gate_in_status() -> None:
    # The reviewer's scenario: a completed ramp suspended at 6000 of 5000; the user removes
    # budget and budgetPeriod (the documented way to change the period).
    spec = spec_with([DELIVERY], budget=5000, budgetPeriod="7d")
    one_step = spec.model_copy(update={"exposure": spec.exposure.model_copy(
        update={"steps": [spec.exposure.steps[0].model_copy(update={"percent": 50})]})})
    judge = Spend(100.0)
    s = run(one_step, CampaignStatus(), T0, judge).status
    s = run(one_step, s, T0 + dt.timedelta(hours=2), judge).status
    assert (s.phase, s.current_step, s.exposure_percent) == (Phase.HEALTHY, None, 50)
    judge.spend = 6000.0
    s = exposure.decide(one_step, s, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1,
        gate_outcomes=[budget_outcome("budget", T0 + dt.timedelta(hours=2, minutes=10), 6000)],
        budget_ledgers=BudgetLedgers(period_start=T0, ledgers={"a": 6000.0})),
        T0 + dt.timedelta(hours=2, minutes=10)).status
    assert (s.phase, s.spend, s.budget_remaining) == (Phase.SUSPENDED, 6000.0, 0.0)
    assert s.budget_ledgers is not None
    unbudgeted = one_step.model_copy(update={"economics": one_step.economics.model_copy(
        update={"budget": None, "budget_period": None})})
    now = T0 + dt.timedelta(hours=2, minutes=20)
    for later in (now, now + dt.timedelta(days=30)):
        s = run(unbudgeted, s, later, judge).status
        assert (s.phase, s.exposure_percent) == (Phase.HEALTHY, 50)
        assert (s.spend, s.budget_remaining, s.budget_ledgers) == (0.0, None, None)
        assert [(g.name, g.verdict) for g in s.gates] == [("delivery", GateVerdict.PASS)]
    assert exposure.treating(s)
    # Nothing left to write: a pass changes nothing more.
    assert run(unbudgeted, s, now + dt.timedelta(days=31), judge).status == s


def test_a_gate_removed_from_a_completed_ramp_leaves_its_status() -> None:
    spec = spec_with([DELIVERY, {"name": "other", "type": "deliveryRate"}], budget=None,
                     budgetPeriod=None)
    one_step = spec.model_copy(update={"exposure": spec.exposure.model_copy(
        update={"steps": [spec.exposure.steps[0].model_copy(update={"percent": 50})]})})
    judge = Spend(0.0)
    s = run(one_step, CampaignStatus(), T0, judge).status
    s = run(one_step, s, T0 + dt.timedelta(hours=2), judge).status
    assert s.phase is Phase.HEALTHY and {g.name for g in s.gates} == {"delivery", "other"}
    fewer = one_step.model_copy(update={"exposure": one_step.exposure.model_copy(
        update={"gates": one_step.exposure.gates[:1]})})
    s = run(fewer, s, T0 + dt.timedelta(hours=3), judge).status
    assert [g.name for g in s.gates] == ["delivery"]
