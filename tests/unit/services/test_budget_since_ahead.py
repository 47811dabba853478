"""A Campaign's ``status.budgetSince`` later than the operator's clock by more than the clocks
may differ (a hand edit, a replica whose clock runs ahead) was dropped, and the spend then
counted from the budget period's start: after a budget was removed and set again within the
period, the removed budget's ledgers counted again (3000 + 1950 + 100 = 5050 of a 5000 budget),
a false ``BudgetExhausted`` suspended the Campaign at 0 % for the rest of the period, and
``keep_budget_anchor`` never recorded ``budgetSince`` again while ``budgetAnchor`` was set; no
message said why (found by a review, 2026-12-08). It is taken as the pass's time instead
(``domain.status.future_times``), and ``StatusReadable`` and a later ``BudgetExhausted`` say
the spend is counted from then."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.services.test_campaign import Sim, reasons
from tests.unit.services.test_campaign_budget_set_again import (
    RangedMetrics,
    Series,
    _budget_gate,
    _remove_budget,
    _set_budget,
    _sim,
    _start,
)


def _set_again_with_since_ahead() -> tuple[Sim, RangedMetrics, dt.datetime]:
    """A budget spent 4950 of 5000 in its period, removed, set again (then spent 100), and
    the status' ``budgetSince`` edited an hour ahead; the pass that reads it, and its time."""
    sim, metrics = _sim()
    old_start = _start("7d", sim.now)
    first = sim.now
    sim.tick()
    metrics.series = {
        "r1-before-restart": Series(3000.0, old_start, first, first + dt.timedelta(hours=1)),
        "r2": Series(1950.0, old_start, first + dt.timedelta(hours=1))}
    sim.tick(120)
    _remove_budget(sim)
    sim.tick(1)
    metrics.series["r2"].until = sim.now + dt.timedelta(seconds=30)
    sim.tick(10)
    _set_budget(sim, 5000.0, "7d")
    sim.tick(1)
    metrics.series["r2-again"] = Series(100.0, _start("7d", sim.now),
                                        sim.now + dt.timedelta(seconds=20))
    sim.tick(5)
    assert sim.status["spend"] == 100.0
    sim.body["status"]["budgetSince"] = (sim.now + dt.timedelta(minutes=60)).isoformat()
    return sim, metrics, sim.now + dt.timedelta(minutes=5)


def _readable(sim: Sim) -> dict[str, Any]:
    return next(c for c in sim.status["conditions"] if c["type"] == "StatusReadable")


def test_a_budget_since_ahead_counts_the_spend_from_now_not_the_removed_budgets() -> None:
    sim, _, read_at = _set_again_with_since_ahead()
    said = reasons(sim.tick(5)) + reasons(sim.tick(5))
    assert "BudgetExhausted" not in said and "StatusUnreadable" in said
    assert sim.status["phase"] != "Suspended" and sim.status["exposurePercent"] > 0
    assert sim.status["spend"] == 100.0 and _budget_gate(sim)["verdict"] == "Pass"
    assert sim.status["budgetSince"] == read_at.isoformat().replace("+00:00", "Z")
    assert (f"budgetSince taken as now ({read_at.isoformat()}): the budget's spend is counted "
            "from then") in _readable(sim)["message"]


def test_a_budget_exhausted_after_says_it_is_counted_from_the_time_budget_since_was_taken_as(
        ) -> None:
    sim, metrics, read_at = _set_again_with_since_ahead()
    sim.tick(5)
    metrics.series["r2-again"].spend = 5001.0
    for _ in range(10):
        if "BudgetExhausted" in reasons(sim.tick(30)):
            break
    assert sim.status["phase"] == "Suspended"
    entry = next(e for e in reversed(sim.status["history"]) if e["action"] == "BudgetExhausted")
    assert (f"spent 5001 of budget 5000, counted from {read_at.isoformat()}: the stored "
            "status.budgetSince was later than the operator's clock") in entry["reason"]
