"""Edits of the budget while it is spent, through the Campaign pass (review-campaign findings 3,
4; the domain's tables: tests/unit/domain/test_exposure_budget_edits.py). A budget gate renamed
while the budget suspends the campaign keeps it suspended until measured (before: resumed at
once, "the budget period rolled over", then suspended again an analysis later, the runtime
treating meanwhile); a budget removed leaves no spend, remaining budget nor budget gate in
status (before: its last figures and Fail for good, the printer columns and the spend gauge
showing them)."""

from __future__ import annotations

from tests.unit.services.test_campaign import CampaignMetrics, Sim, reasons

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.domain import exposure


def _suspended() -> Sim:
    sim = Sim()
    metrics = sim.deps.prometheus
    assert isinstance(metrics, CampaignMetrics)
    sim.tick()
    sim.tick(5)
    metrics.spend = 6000.0  # of the sample's 5000 a week
    assert reasons(sim.tick(5)) == ["BudgetExhausted"]
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Suspended", 0)
    return sim


def test_a_budget_gate_renamed_while_suspended_stays_suspended() -> None:
    sim = _suspended()
    gates = [{**g, "name": "money"} if g["type"] == "budget" else g
             for g in sim.body["spec"]["exposure"]["gates"]]
    sim.edit_spec(exposure={**sim.body["spec"]["exposure"], "gates": gates})
    said = reasons(sim.tick(1))
    said += reasons(sim.tick(4))  # the renamed gate measured: still spent
    s = sim.status
    assert "BudgetRenewed" not in said and "BudgetExhausted" not in said
    assert (s["phase"], s["exposurePercent"], s["suspendedExposurePercent"]) == (
        "Suspended", 0, 5)
    assert not exposure.treating(CampaignStatus.model_validate(s))
    assert {g["name"]: g["verdict"] for g in s["gates"]}["money"] == "Fail"
    assert "budget" not in {g["name"] for g in s["gates"]}


def test_a_budget_removed_leaves_no_spend_in_status() -> None:
    sim = _suspended()
    assert (sim.status["spend"], sim.status["budgetRemaining"]) == (6000.0, 0.0)
    economics = {k: v for k, v in sim.body["spec"]["economics"].items()
                 if k not in ("budget", "budgetPeriod")}
    gates = [g for g in sim.body["spec"]["exposure"]["gates"] if g["type"] != "budget"]
    sim.edit_spec(economics=economics, exposure={**sim.body["spec"]["exposure"], "gates": gates})
    renewed = sim.tick(1)
    s = sim.status
    assert [e.message for e in renewed.events if e.reason == "BudgetRenewed"] == [
        "exposure 5% at step 1/3 resumed (spec.economics.budget was removed: no budget is "
        "enforced)"]
    assert s["phase"] == "Progressing" and s["exposurePercent"] == 5
    assert s.get("spend", 0) == 0 and "budgetRemaining" not in s and "budgetLedgers" not in s
    assert "budget" not in {g["name"] for g in s["gates"]}
