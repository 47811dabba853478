"""domain.budget: budget periods are fixed lengths of seconds from the anchor, never calendar
units (docs/lifecycle.md "Budget", runtime.md "Budget"): ``30d`` slides against month starts,
and an anchor at local midnight rolls over an hour off it across a daylight-saving change."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from uplift_operator.domain import budget

PARIS = ZoneInfo("Europe/Paris")


def test_thirty_days_is_not_a_calendar_month() -> None:
    anchor = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    start, end = budget.current_period("30d", anchor, dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert start == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def test_a_daily_period_from_local_midnight_keeps_its_utc_instant_across_dst() -> None:
    # As the API reads `schedule.start: 2026-03-01T00:00:00+01:00`: a fixed offset.
    anchor = dt.datetime(2026, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    after_dst = dt.datetime(2026, 4, 1, 12, tzinfo=PARIS)
    start, _ = budget.current_period("1d", anchor, after_dst)
    assert start.astimezone(dt.UTC).hour == 23
    assert start.astimezone(PARIS).hour == 1  # an hour off local midnight
