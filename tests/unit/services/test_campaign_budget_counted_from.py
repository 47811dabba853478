"""The budget collector reads a period's spend from when the budget was set
(``CampaignGateContext.budget_since``, ``status.budgetSince``; ``domain.budget.counted_from``)
when that is later than the period's start: a budget removed and set again does not count the
ledgers of the one removed, which Prometheus keeps for the rest of the period (review finding
r4; the whole Campaign pass: test_campaign_budget_set_again.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.services.test_campaign_measurements import NOW, Counters, Ledgers, context, gate

from uplift_operator.domain import measurements as m
from uplift_operator.services.measurements import collect_campaign


@pytest.mark.parametrize(("since", "reads_from"), [
    (None, dt.datetime(2026, 3, 8, tzinfo=dt.UTC)),                    # the period's start
    (dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 3, 8, tzinfo=dt.UTC)),
    (dt.datetime(2026, 3, 9, 6, tzinfo=dt.UTC), dt.datetime(2026, 3, 9, 6, tzinfo=dt.UTC)),
])
def test_the_budget_collector_reads_from_when_the_budget_was_set(
        since: dt.datetime | None, reads_from: dt.datetime) -> None:
    start = dt.datetime(2026, 3, 8, tzinfo=dt.UTC).timestamp()
    window = f"[{int((NOW - reads_from).total_seconds())}s]"
    prom = Ledgers(spend={"r1": 120.0}, start={"r1": start})
    got = collect_campaign(gate("budget"), context(budget_since=since), prom, None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 120.0
    assert got.period_start == dt.datetime(2026, 3, 8, tzinfo=dt.UTC)  # the record's key
    assert [q[q.index("["):] for q in prom.asked] == [window + ")", window + ")"]
    counter = Counters({("uplift_campaign_spend_total", ""): 12.0})
    collect_campaign(gate("budget"), context(budget_since=since), counter, None)
    assert window in counter.asked[-1]
