"""Counts that fall due when an attribution window closes: outcome completeness (pure).

A campaign decision in the holdout or treated arm expects an outcome report within its
attribution window. Completeness is judged once the window has closed, on both sides of the
ratio: ``uplift_outcomes_expected_total`` counts decisions whose window closed (on the replica
that decided), ``uplift_outcomes_received_total`` the in-window outcomes of decisions whose
window closed (on the replica that received them). Both are held here until then, as counts per
(label key, due time): a due time is rounded up to a slot of 1/1,000 of the window (≥ 1 s), so a
14-day window keeps at most ~1,000 slots per key whatever the traffic, and a count lands at most
0.1 % of the window late. A stopping replica's preStop hook counts what is pending at once
(``UpliftRuntime.drain_cohorts``); a process that dies without it loses it (docs/runtime.md).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

SLOTS_PER_WINDOW = 1000

K = TypeVar("K", bound=Hashable)


class DueCounts(Generic[K]):
    """Counts per key that become due at a time; :meth:`pop_due` hands over what is due."""

    def __init__(self) -> None:
        self._slots: dict[float, dict[K, float]] = {}
        self._heap: list[float] = []

    def add(self, closes_at: float, window_seconds: float, key: K, n: float = 1) -> None:
        """Count ``n`` for ``key`` once ``closes_at`` (unix seconds) has passed."""
        width = max(1.0, window_seconds / SLOTS_PER_WINDOW)
        due = math.ceil(closes_at / width) * width
        slot = self._slots.get(due)
        if slot is None:
            slot = self._slots[due] = {}
            heapq.heappush(self._heap, due)
        slot[key] = slot.get(key, 0.0) + n

    def pop_due(self, now: float) -> dict[K, float]:
        """Everything due at or before ``now``, summed per key, and forget it."""
        out: dict[K, float] = {}
        while self._heap and self._heap[0] <= now:
            for key, n in self._slots.pop(heapq.heappop(self._heap)).items():
                out[key] = out.get(key, 0.0) + n
        return out

    def last_due(self, match: Callable[[K], bool]) -> float | None:
        """When the last count of a key ``match`` accepts falls due (``None``: none pending)."""
        due = [at for at, slot in self._slots.items() if any(match(key) for key in slot)]
        return max(due) if due else None

    def __len__(self) -> int:
        """Slots pending."""
        return len(self._heap)
