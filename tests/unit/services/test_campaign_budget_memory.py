"""The budget gate's memory of the period's spend per runtime ledger (``status.budgetLedgers``):
a ledger Prometheus no longer holds (past its retention, a Prometheus that lost its TSDB) still
counts, across passes and across an operator restart (a new pass reading only the status), so
the budget does not open again; Prometheus out of reach still holds the gate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.unit.services.test_campaign import CampaignMetrics, Sim, reasons

from uplift_operator.adapters.prometheus import MetricsUnavailable, Sample
from uplift_operator.domain import budget
from uplift_operator.services import campaign

ANCHOR = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)  # the sample's schedule.start


@dataclass
class LedgerMetrics(CampaignMetrics):
    """The fake Prometheus answering the period gauges with ``ledgers`` (each ledger's last
    spend in the period it holds), all of the period starting at ``period_start``; ``down``:
    it does not answer at all."""

    ledgers: dict[str, float] = field(default_factory=dict)
    period_start: float = 0.0
    down: bool = False

    def query(self, promql: str, time: dt.datetime | float | None = None) -> Sequence[Any]:
        if self.down:
            raise MetricsUnavailable("Prometheus at http://prom:9090: timed out", unanswered=True)
        for metric, value in (("uplift_campaign_period_spend{", None),
                              ("uplift_campaign_period_start_seconds{", self.period_start)):
            if metric in promql:
                self.asked.append(promql)
                return [Sample(labels={"pod": f"pod-{ledger}", "ledger": ledger},
                               value=spend if value is None else value, timestamp=0.0)
                        for ledger, spend in self.ledgers.items()]
        return super().query(promql, time)

    def scalar(self, promql: str, time: dt.datetime | float | None = None) -> float | None:
        if self.down:
            raise MetricsUnavailable("Prometheus at http://prom:9090: timed out", unanswered=True)
        return super().scalar(promql, time)


def _period_start(now: dt.datetime) -> dt.datetime:
    start, _ = budget.current_period("7d", ANCHOR, now)
    return start


def _sim(ledgers: dict[str, float]) -> Sim:
    sim = Sim()
    sim.deps = dataclasses.replace(sim.deps, prometheus=LedgerMetrics(
        ledgers=ledgers, period_start=_period_start(sim.now).timestamp()))
    return sim


def _restart(sim: Sim, ledgers: dict[str, float]) -> None:
    """A new operator process: new adapters (a Prometheus that holds only ``ledgers``), the
    Campaign's status as the API server stores it (JSON), nothing else carried over."""
    sim.body = json.loads(json.dumps(sim.body))
    sim.deps = campaign.CampaignDependencies(
        cluster=sim.cluster, metric_templates=sim.deps.metric_templates,
        prometheus=LedgerMetrics(ledgers=ledgers,
                                 period_start=_period_start(sim.now).timestamp()))


def _budget_gate(sim: Sim) -> dict[str, Any]:
    return next(g for g in sim.status["gates"] if g["name"] == "budget")


def test_a_ledger_gone_from_prometheus_still_counts_after_an_operator_restart() -> None:
    sim = _sim({"r1-first": 3000.0, "r2": 1500.0})
    sim.tick()
    sim.tick(5)
    s = sim.status
    assert _budget_gate(sim)["verdict"] == "Pass" and s["spend"] == 4500.0
    assert s["budgetLedgers"] == {
        "periodStart": _period_start(sim.now).isoformat().replace("+00:00", "Z"),
        "ledgers": {"r1-first": 3000.0, "r2": 1500.0}, "carried": 0.0, "folded": []}
    # r1 restarted long ago: its first ledger is past Prometheus' retention. Prometheus alone
    # reads 600 + 1600 = 2200, well within the budget of 5000; with the record it is 5200.
    _restart(sim, {"r1": 600.0, "r2": 1600.0})
    said = reasons(sim.tick(5))
    s = sim.status
    assert s["spend"] == 5200.0 and _budget_gate(sim)["verdict"] == "Fail"
    assert (s["phase"], s["exposurePercent"]) == ("Suspended", 0)
    assert "BudgetExhausted" in said
    assert s["budgetLedgers"]["ledgers"] == {"r1-first": 3000.0, "r1": 600.0, "r2": 1600.0}


def test_a_spent_budget_stays_spent_when_prometheus_loses_its_data() -> None:
    sim = _sim({"a": 3000.0, "b": 2100.0})
    sim.tick()
    sim.tick(5)
    assert sim.status["phase"] == "Suspended"
    # A new Prometheus: only the replica still running is scraped again.
    _restart(sim, {"b": 2100.0})
    said: list[str] = []
    for _ in range(3):
        said += reasons(sim.tick(5))
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s["spend"]) == ("Suspended", 0, 5100.0)
    assert "BudgetRenewed" not in said


def test_prometheus_out_of_reach_holds_the_gate_and_keeps_the_record() -> None:
    sim = _sim({"a": 1000.0})
    sim.tick()
    sim.tick(5)
    kept = sim.status["budgetLedgers"]
    metrics = sim.deps.prometheus
    assert isinstance(metrics, LedgerMetrics)
    metrics.down = True
    sim.tick(5)
    s = sim.status
    gate = _budget_gate(sim)
    assert gate["verdict"] == "Error" and not gate.get("consecutiveErrors")  # held
    assert s["budgetLedgers"] == kept and s["phase"] == "Progressing"


def test_a_runtime_without_the_gauges_is_judged_at_no_less_than_the_record() -> None:
    sim = _sim({"a": 4000.0, "b": 500.0})
    sim.tick()
    sim.tick(5)
    kept = sim.status["budgetLedgers"]
    # Replicas rolled back to a runtime without the period gauges; the counter's increase
    # over the period reads only what Prometheus still holds of it.
    metrics = sim.deps.prometheus
    assert isinstance(metrics, LedgerMetrics)
    metrics.ledgers, metrics.spend = {}, 700.0
    sim.tick(5)
    s = sim.status
    assert s["spend"] == 4500.0 and s["budgetLedgers"] == kept


def test_a_new_budget_period_starts_the_record_afresh() -> None:
    sim = _sim({"a": 1000.0, "old": 200.0})
    sim.tick()
    sim.tick(5)
    first = _period_start(sim.now)
    later = first + dt.timedelta(days=7, minutes=5)
    metrics = sim.deps.prometheus
    assert isinstance(metrics, LedgerMetrics)
    metrics.ledgers, metrics.period_start = {"a": 30.0}, _period_start(later).timestamp()
    sim.tick((later - sim.now).total_seconds() / 60)
    s = sim.status
    assert s["budgetLedgers"]["ledgers"] == {"a": 30.0}
    assert s["budgetLedgers"]["periodStart"] != sim.results[1].status["budgetLedgers"][
        "periodStart"]
    assert s["spend"] == 30.0


def test_a_pass_that_reads_no_budget_writes_no_record() -> None:
    sim = _sim({"a": 1000.0})
    sim.tick()
    assert "budgetLedgers" not in sim.status  # started, nothing measured yet
    sim.tick(1)  # no analysis due
    assert "budgetLedgers" not in sim.status
