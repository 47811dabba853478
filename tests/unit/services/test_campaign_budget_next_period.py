"""The budget gate sums the ledgers of the current period only: not the period before (a
ledger last scraped before the rollover), nor the period after — a replica whose clock runs
ahead counts the next period a moment before the operator's rollover, and its spend there is
not this period's (review-budget finding 2)."""

from __future__ import annotations

import datetime as dt

from tests.unit.services.test_campaign_measurements import Ledgers, context, gate

from uplift_operator.domain import budget
from uplift_operator.domain import measurements as m
from uplift_operator.services.measurements import collect_campaign


def test_a_ledger_of_the_next_period_is_not_counted_in_this_one() -> None:
    spec = context().spec.model_copy(update={"economics": context().spec.economics.model_copy(
        update={"budget_period": "1d"})})
    anchor = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    now = dt.datetime(2026, 3, 11, tzinfo=dt.UTC) - dt.timedelta(seconds=2)
    start, end = budget.current_period("1d", anchor, now)
    assert end is not None
    # r1: this period, 1200. r2 (its clock 3 s ahead) already counts the next period, 40 so
    # far: its last_over_time is that. "old": the previous period's last scrape.
    prom = Ledgers(spend={"r1": 1200.0, "r2": 40.0, "old": 4000.0},
                   start={"r1": start.timestamp(), "r2": end.timestamp(),
                          "old": (start - dt.timedelta(days=1)).timestamp()})
    got = collect_campaign(gate("budget"), context(spec=spec, now=now, budget_anchor=anchor),
                           prom, None)
    assert isinstance(got, m.BudgetMeasurement)
    assert (got.spend, got.ledgers, got.period_start) == (1200.0, {"r1": 1200.0}, start)
    # Within the half second a float gauge may round the start by, it is this period's.
    prom = Ledgers(spend={"r1": 1200.0}, start={"r1": start.timestamp() + 0.25})
    got = collect_campaign(gate("budget"), context(spec=spec, now=now, budget_anchor=anchor),
                           prom, None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 1200.0
