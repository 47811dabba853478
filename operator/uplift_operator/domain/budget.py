"""A Campaign's budget period: where the current one starts and ends, as the runtime counts it.

Role: one formula shared by the budget gate's collector (the PromQL range of the period's
spend) and the exposure logic (how long a campaign whose budget is spent stays suspended).
The runtime computes the same (``docs/runtime.md`` "Budget"): periods of ``budgetPeriod`` from
``spec.schedule.start`` (else ``metadata.creationTimestamp``),
``[anchor + k·period, anchor + (k+1)·period)``; without ``budgetPeriod`` the whole campaign is
one period. No I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math

from uplift_operator.api.v1alpha1.common import parse_duration

__all__ = ["current_period"]


def current_period(budget_period: str | None, anchor: dt.datetime,
                   now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """(start, end) of the budget period containing ``now``; end None without ``budgetPeriod``.
    ``anchor`` is the campaign's schedule start or creation time (UTC when it has no zone)."""
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=dt.UTC)
    if budget_period is None:
        return anchor, None
    length = parse_duration(budget_period)
    if length <= dt.timedelta(0):
        raise ValueError(f"budgetPeriod must be positive, got {budget_period!r}")
    k = math.floor((now - anchor) / length)
    start = anchor + k * length
    return start, start + length
