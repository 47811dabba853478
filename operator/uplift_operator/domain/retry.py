"""How soon a resource asks again after something it waits for failed: backing off, spread.

A model whose reference does not resolve (MLflow down, its credentials Secret missing) was
asked again every 10 s for as long as it lasted: at 10,000 models through an MLflow outage,
1,000 passes a second on the pass pool's 8 threads, the rollback passes of other resources
queued behind them. The wait now grows with how long the failure has lasted (``retry_after``:
the time since it began, so it doubles from one retry to the next whatever else woke the
resource meanwhile), up to a cap, each resource stretched by a fraction of its own so that
resources that failed together do not retry together. A pass that raised
(``handlers.scheduling.run_passes``: its status write refused, the API server unreachable)
backs off the same way (``backoff``). Pure: the time is passed in.
"""

from __future__ import annotations

import datetime as dt
import zlib

__all__ = ["JITTER", "backoff", "retry_after", "spread_of"]

#: How much longer than the plain backoff a resource may wait, at most (a fraction of it,
#: fixed per resource by ``spread_of``).
JITTER = 0.25


def spread_of(name: str) -> float:
    """A fraction in [0, 1) fixed by ``name`` (the same in every process and replica): how far
    into ``JITTER`` the resource so named waits."""
    return zlib.crc32(name.encode()) / 2**32


def retry_after(failing_since: dt.datetime, now: dt.datetime, spread: float, *,
                first: float, cap: float) -> float:
    """Seconds until the next try of something failing since ``failing_since``: ``first``
    while it has failed for less than that (its first retry); then as long as it has failed so
    far, at most ``cap``, stretched by ``spread`` (``spread_of``) times ``JITTER``. The retries
    come about ``first``, 2, 4, 8 times ``first`` after the failure: the waits double until
    the cap, and resources that failed at once drift apart from the second retry on."""
    return backoff((now - failing_since).total_seconds(), spread, first=first, cap=cap)


def backoff(failing_for: float, spread: float, *, first: float, cap: float) -> float:
    """``retry_after`` of something that has failed for ``failing_for`` seconds (for a caller
    that keeps a monotonic clock, not datetimes: ``handlers.scheduling`` times a pass that
    raised on the event loop's clock)."""
    if failing_for < first:
        return first
    return min(failing_for, cap) * (1 + JITTER * spread)
