"""A budget removed and set again is counted afresh by the budget gate too (review finding r4,
the operator's side; the runtime's: tests/unit/runtime/test_runtime_campaign_decisions.py).

Removing ``spec.economics.budget`` and setting it again is how a Campaign's ``budgetPeriod`` is
changed (the API server refuses the change while a budget is set), documented as "the spend is
counted afresh". The replicas withdraw the removed budget's period series, but Prometheus keeps
their last values, and the budget gate read every ledger's last figure since the period's start
whose own start was not before it: the removed budget's ledgers of this period counted against
the budget set again, and so did those of a shorter old period inside a longer new one (their
start is later than the new period's). The Campaign was suspended at once. The gate now reads
the ledgers from ``status.budgetSince``, when the budget was set again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.unit.services.test_campaign import CampaignMetrics, Sim, reasons

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.domain import budget

ANCHOR = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)  # the sample's schedule.start


@dataclass
class Series:
    """One ledger's period series as Prometheus holds them: its spend and period start, scraped
    from ``since`` until ``until`` (None: still exported)."""

    spend: float
    period_start: dt.datetime
    since: dt.datetime
    until: dt.datetime | None = None


@dataclass
class RangedMetrics(CampaignMetrics):
    """A fake Prometheus that honours a ``last_over_time`` range: a ledger's series answers
    only when one of its samples lies within ``[at − range, at]``."""

    series: dict[str, Series] = field(default_factory=dict)
    clock: Callable[[], dt.datetime] = lambda: ANCHOR

    def query(self, promql: str, time: dt.datetime | float | None = None) -> Sequence[Any]:
        metric = next((m for m in ("uplift_campaign_period_spend{",
                                   "uplift_campaign_period_start_seconds{") if m in promql), None)
        if metric is None:
            return super().query(promql, time)
        self.asked.append(promql)
        at = time if isinstance(time, dt.datetime) else self.clock()
        found = re.search(r"\[(\d+)s\]", promql)
        assert found, promql
        since = at - dt.timedelta(seconds=int(found.group(1)))
        return [Sample(labels={"pod": f"pod-{ledger}", "ledger": ledger},
                       value=(s.spend if "spend{" in metric else s.period_start.timestamp()),
                       timestamp=0.0)
                for ledger, s in self.series.items()
                if s.since <= at and (s.until is None or s.until >= since)]


def _sim() -> tuple[Sim, RangedMetrics]:
    sim = Sim()
    metrics = RangedMetrics(clock=lambda: sim.now)
    sim.deps = dataclasses.replace(sim.deps, prometheus=metrics)
    return sim, metrics


def _start(period: str, now: dt.datetime) -> dt.datetime:
    start, _ = budget.current_period(period, ANCHOR, now)
    return start


def _budget_gate(sim: Sim) -> dict[str, Any]:
    return next(g for g in sim.status["gates"] if g["name"] == "budget")


def _remove_budget(sim: Sim) -> None:
    """The budget, its period and the sample's declared budget gate (which needs a budget);
    set again, the budget implies its gate, named budget as the declared one was."""
    economics = {k: v for k, v in sim.body["spec"]["economics"].items()
                 if k not in ("budget", "budgetPeriod")}
    exposure = sim.body["spec"]["exposure"]
    gates = [g for g in exposure["gates"] if g["type"] != "budget"]
    sim.edit_spec(economics=economics, exposure={**exposure, "gates": gates})


def _set_budget(sim: Sim, amount: float, period: str) -> None:
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budget": amount,
                             "budgetPeriod": period})


@pytest.mark.parametrize("period_again", ["7d", "30d"])
def test_a_budget_removed_and_set_again_is_counted_afresh(period_again: str) -> None:
    sim, metrics = _sim()
    assert sim.body["spec"]["economics"]["budgetPeriod"] == "7d"
    old_start = _start("7d", sim.now)
    first = sim.now
    sim.tick()   # the first exposure: the budget counts from then
    assert sim.status["budgetSince"] == first.isoformat().replace("+00:00", "Z")
    # Two ledgers of this week: one replica restarted (its old ledger ended), one running.
    metrics.series = {
        "r1-before-restart": Series(3000.0, old_start, first, first + dt.timedelta(hours=1)),
        "r2": Series(1950.0, old_start, first + dt.timedelta(hours=1))}
    sim.tick(120)
    s = sim.status
    assert (_budget_gate(sim)["verdict"], s["spend"]) == ("Pass", 4950.0)

    _remove_budget(sim)
    sim.tick(1)
    s = sim.status
    assert "budgetAnchor" not in s and "budgetSince" not in s and "budgetLedgers" not in s
    # The replicas apply the file: the removed budget's series end (Prometheus keeps them).
    metrics.series["r2"].until = sim.now + dt.timedelta(seconds=30)
    sim.tick(10)

    _set_budget(sim, 5000.0, period_again)
    said = reasons(sim.tick(1))
    set_again = sim.now
    s = sim.status
    assert s["budgetSince"] == set_again.isoformat().replace("+00:00", "Z")
    assert s["budgetAnchor"] == ANCHOR.isoformat().replace("+00:00", "Z")  # the same grid
    new_start = _start(period_again, sim.now)
    if period_again == "30d":
        # The reviewer's case: a longer period starting before the old week did, whose
        # ledgers' start (the week's) passes the period-start filter.
        assert new_start < old_start
    # The replicas count the budget set again under new ledgers, from zero.
    metrics.series["r2-again"] = Series(100.0, new_start, sim.now + dt.timedelta(seconds=20))
    asked = len(metrics.asked)
    said += reasons(sim.tick(5))
    s = sim.status
    gate = _budget_gate(sim)
    assert (gate["verdict"], s["spend"], s["budgetRemaining"]) == ("Pass", 100.0, 4900.0)
    assert (s["phase"], s["exposurePercent"]) != ("Suspended", 0)
    assert "BudgetExhausted" not in said
    assert s["budgetLedgers"]["ledgers"] == {"r2-again": 100.0}
    # Read from when the budget was set again, not from the period's start.
    ranges = {re.search(r"\[(\d+)s\]", q).group(1)  # type: ignore[union-attr]
              for q in metrics.asked[asked:] if "uplift_campaign_period_" in q}
    assert ranges == {str(int((sim.now - set_again).total_seconds()))}

    # The new budget's spend still counts in full, across passes.
    metrics.series["r2-again"].spend = 5000.0
    said = reasons(sim.tick(5))
    s = sim.status
    assert (_budget_gate(sim)["verdict"], s["spend"]) == ("Fail", 5000.0)
    assert s["phase"] == "Suspended" and "BudgetExhausted" in said
    assert s["budgetSince"] == set_again.isoformat().replace("+00:00", "Z")


def test_a_budget_recorded_before_budget_since_existed_is_read_from_the_periods_start() -> None:
    """A Campaign whose status the previous release wrote (budgetAnchor, no budgetSince): every
    ledger of the period counts, as before, and no budgetSince is recorded over it."""
    sim, metrics = _sim()
    start = _start("7d", sim.now)
    sim.tick()
    del sim.body["status"]["budgetSince"]
    metrics.series = {"old": Series(1000.0, start, start, start + dt.timedelta(hours=1)),
                      "live": Series(500.0, start, start)}
    sim.tick(5)
    s = sim.status
    assert s["spend"] == 1500.0
    assert "budgetSince" not in s and "budgetAnchor" in s
    ranges = {re.search(r"\[(\d+)s\]", q).group(1)  # type: ignore[union-attr]
              for q in metrics.asked if "period_spend" in q}
    assert ranges == {str(int((sim.now - start).total_seconds()))}


def test_without_the_period_gauges_the_counter_is_read_from_when_the_budget_was_set() -> None:
    sim, metrics = _sim()
    metrics.spend = 4000.0
    sim.tick()
    sim.tick(5)
    assert sim.status["spend"] == 4000.0
    _remove_budget(sim)
    sim.tick(1)
    sim.tick(10)
    _set_budget(sim, 5000.0, "7d")
    sim.tick(1)
    set_again = sim.now
    metrics.spend = 40.0
    metrics.asked.clear()
    sim.tick(5)
    assert sim.status["spend"] == 40.0
    window = int((sim.now - set_again).total_seconds())
    assert any("uplift_campaign_spend_total" in q and f"[{window}s]" in q for q in metrics.asked)



def _refuse(sim: Sim) -> None:
    """Make the spec refused (InvalidSpec): a gate naming a treatment it does not send."""
    exposure = sim.body["spec"]["exposure"]
    exposure["gates"] = [*exposure["gates"], {"name": "inc2", "type": "incrementalConversions",
                                              "treatments": ["no-such-treatment"]}]
    sim.body["metadata"]["generation"] += 1


def _unrefuse(sim: Sim) -> None:
    exposure = sim.body["spec"]["exposure"]
    exposure["gates"] = [g for g in exposure["gates"] if g["name"] != "inc2"]
    sim.body["metadata"]["generation"] += 1


@pytest.mark.parametrize("spent", [4950.0, 5000.0])
def test_a_budget_removed_while_the_spec_is_refused_is_counted_afresh_when_set_again(
        spent: float) -> None:
    """The refused spec's campaigns-file entry is rendered without the budget, so each replica
    drops its ledger, as for a valid removal: the status drops the removed budget's anchor,
    ledgers, spend and its gate's result the same way, in the refused pass. Else the budget set
    again counted the removed budget's ledgers (and a Fail of it stayed in status.gates)."""
    sim, metrics = _sim()
    old_start = _start("7d", sim.now)
    first = sim.now
    sim.tick()
    metrics.series = {"r1": Series(spent, old_start, first)}
    sim.tick(120)
    assert (_budget_gate(sim)["verdict"], sim.status["spend"]) == (
        "Pass" if spent < 5000 else "Fail", spent)

    _remove_budget(sim)
    _refuse(sim)
    sim.tick(1)
    s = sim.status
    assert sim.condition("Ready")["reason"] == "InvalidSpec"
    for gone in ("budgetAnchor", "budgetSince", "budgetLedgers", "budgetRemaining"):
        assert gone not in s, gone
    assert s["spend"] == 0.0
    assert "budget" not in {g["name"] for g in s["gates"]}
    metrics.series["r1"].until = sim.now + dt.timedelta(seconds=30)
    sim.tick(10)

    _unrefuse(sim)
    _set_budget(sim, 5000.0, "7d")
    said = reasons(sim.tick(1))
    set_again = sim.now
    metrics.series["r1-again"] = Series(100.0, _start("7d", sim.now),
                                        sim.now + dt.timedelta(seconds=20))
    said += reasons(sim.tick(5))
    s = sim.status
    assert s["budgetSince"] == set_again.isoformat().replace("+00:00", "Z")
    assert (_budget_gate(sim)["verdict"], s["spend"], s["budgetRemaining"]) == (
        "Pass", 100.0, 4900.0)
    assert s["phase"] != "Suspended" and "BudgetExhausted" not in said


def test_a_refused_spec_that_keeps_its_budget_keeps_the_budgets_record() -> None:
    sim, metrics = _sim()
    sim.tick()
    metrics.series = {"r1": Series(1000.0, _start("7d", sim.now), sim.now)}
    sim.tick(120)
    before = sim.status
    _refuse(sim)
    sim.tick(1)
    s = sim.status
    assert sim.condition("Ready")["reason"] == "InvalidSpec"
    for kept in ("budgetAnchor", "budgetSince", "budgetLedgers", "spend", "budgetRemaining"):
        assert s[kept] == before[kept], kept
    assert _budget_gate(sim) == next(g for g in before["gates"] if g["name"] == "budget")
