"""``domain.budget.counted_from``: from when the budget gates read a period's spend."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift_operator.domain import budget

START = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


@pytest.mark.parametrize(("since", "expected"), [
    (None, START),                                              # never set again: the period
    (START - dt.timedelta(days=3), START),                      # set again in a past period
    (START + dt.timedelta(hours=5), START + dt.timedelta(hours=5)),  # set again in this one
    (dt.datetime(2026, 11, 29, 5), START + dt.timedelta(hours=5)),  # stored without a zone
])
def test_counted_from_the_later_of_the_period_start_and_the_budget_set(
        since: dt.datetime | None, expected: dt.datetime) -> None:
    assert budget.counted_from(START, since) == expected
