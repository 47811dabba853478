"""A budget removed in an edit the operator refuses says BudgetReset too (530caee7's gap).

A valid pass that drops a removed budget's record after its gates read a spend posts a
``BudgetReset`` Warning (``domain.exposure`` ``warn_budget_reset``): set again, the budget is
counted afresh, a whole ``amount`` more in the same period. The refused-spec path drops that
record as well (``exposure.forget_budget``: the campaigns file renders the refused entry
without the budget), so an edit that removes the budget and is refused for any reason lost
the spend as silently as before the Warning existed.
"""

from __future__ import annotations

import dataclasses

from tests.unit.services.test_campaign import Sim, reasons
from tests.unit.services.test_campaign_budget_set_again import ANCHOR, RangedMetrics, Series, _start


def _sim_with_spend(spend: float) -> Sim:
    sim = Sim()
    metrics = RangedMetrics(clock=lambda: sim.now)
    sim.deps = dataclasses.replace(sim.deps, prometheus=metrics)
    first = sim.now
    sim.tick()   # the first exposure: the budget counts from then
    metrics.series = {"r1": Series(spend, _start("7d", first), first)}
    sim.tick(120)
    assert sim.status["spend"] == spend and sim.status["budgetAnchor"] == (
        ANCHOR.isoformat().replace("+00:00", "Z"))
    return sim


def _remove_budget_keeping_its_gate(sim: Sim) -> None:
    """The budget and its period removed, the declared budget gate kept: refused (a budget
    gate needs a budget)."""
    economics = {k: v for k, v in sim.body["spec"]["economics"].items()
                 if k not in ("budget", "budgetPeriod")}
    assert any(g["type"] == "budget" for g in sim.body["spec"]["exposure"]["gates"])
    sim.edit_spec(economics=economics)


def test_a_budget_removed_in_a_refused_edit_warns_once_that_it_counts_afresh() -> None:
    sim = _sim_with_spend(1234.5)
    _remove_budget_keeping_its_gate(sim)
    result = sim.tick(1)
    s = sim.status
    assert s["phase"] == "Degraded" and "InvalidSpec" in reasons(result)
    assert "budgetAnchor" not in s and "budgetSince" not in s
    [reset] = [e for e in result.events if e.reason == "BudgetReset"]
    assert reset.type == "Warning"
    assert "1234.5 was spent" in reset.message
    assert "counts from the time it is set" in reset.message
    # Said once: the next pass (still refused) has no budget record left to drop.
    assert "BudgetReset" not in reasons(sim.tick(1))


def test_a_budget_removed_in_a_refused_edit_before_any_spend_says_nothing() -> None:
    sim = _sim_with_spend(0.0)
    _remove_budget_keeping_its_gate(sim)
    result = sim.tick(1)
    assert sim.status["phase"] == "Degraded" and "BudgetReset" not in reasons(result)
