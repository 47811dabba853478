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

Each key's counts at one slot width are one *lane*: a ring of slot counts in a numpy array
(2 bytes a slot while its counts fit, 4 or 8 once one does not), its key held once, ~2.5 KB for
a lane whose window is full. A dict of slots each holding its keys' counts held a key tuple and
a float per key and slot: ~155 bytes a count, 2.8 MB per campaign of steady traffic, 11.5 GB
at 4,096 campaigns (docs/runtime.md "Late outcomes, completeness and cohorts"). A heap holds
each lane's first due time, so :meth:`DueCounts.pop_due` visits only the lanes with a count
due; the lanes of each *group* a key belongs to (its campaign, its version) are indexed, so
:meth:`DueCounts.last_due` reads a group's lanes only, never every pending count.

A count already due when it is added (a report of a decision whose window closed long ago: the
sender's ``converted: false`` at window close, a daily batch) is never a slot: it is held
whole per key and handed over by the next :meth:`DueCounts.pop_due`. As a slot, it stretched
its key's ring from that old slot to the key's pending ones: one report of a year-old decision
with a 60 s window made a ring of ~525,000 slots (79 MB at its peak, ~0.2 s on the event loop).
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Callable, Collection, Hashable
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

SLOTS_PER_WINDOW = 1000

K = TypeVar("K", bound=Hashable)

#: The slots a lane spans while its traffic is steady: a window's, the slot its counts are
#: rounded up into, and a few ticks' worth of slots due but not yet handed over. A lane that
#: grows past it (a report of a decision whose window closed long ago) shrinks back once
#: what is due of it was handed over.
STEADY_SPAN = SLOTS_PER_WINDOW + 8
#: What a lane's counts are stored as, smallest first: a count that is not a whole number or
#: does not fit moves its lane up to the next that holds it.
_DTYPES: tuple[np.dtype[Any], ...] = (np.dtype(np.uint16), np.dtype(np.uint32),
                                      np.dtype(np.float64))


def _no_groups(key: object) -> tuple[()]:
    return ()


#: The largest count each integer dtype of ``_DTYPES`` holds.
_LARGEST: dict[np.dtype[Any], float] = {d: int(np.iinfo(d).max) for d in _DTYPES
                                        if d.kind == "u"}


def _holds(dtype: np.dtype[Any], count: float) -> bool:
    """Whether an array of ``dtype`` holds ``count`` exactly."""
    return dtype.kind == "f" or (float(count).is_integer() and count <= _LARGEST[dtype])


class _Lane:
    """The pending counts of one key at one slot width: slots ``lo`` … ``hi`` (numbers of
    ``width`` seconds: slot ``s`` is due at ``s * width``), slot ``s`` at ``s % len(counts)``;
    zero everywhere else. The counts at ``lo`` and ``hi`` are never zero."""

    __slots__ = ("counts", "groups", "hi", "key", "largest", "lo", "width")

    def __init__(self, key: Any, width: float, slot: int,
                 groups: Collection[Hashable]) -> None:
        self.key, self.width, self.groups = key, width, groups
        self.lo = self.hi = slot
        self.counts: npt.NDArray[Any] = np.zeros(1, _DTYPES[0])
        self.largest: float = _LARGEST[_DTYPES[0]]   # the largest count it holds

    def add(self, slot: int, n: float) -> None:
        if slot < self.lo or slot > self.hi:
            lo, hi = min(self.lo, slot), max(self.hi, slot)
            span = hi - lo + 1
            if span > len(self.counts):
                self._resize(min(max(2 * len(self.counts), span), STEADY_SPAN)
                             if span <= STEADY_SPAN else span + span // 4)
            self.lo, self.hi = lo, hi
        counts = self.counts
        i = slot % len(counts)
        total = counts.item(i) + n
        if total > self.largest or (isinstance(total, float) and self.largest < math.inf
                                    and not total.is_integer()):
            dtype = next(d for d in _DTYPES if _holds(d, total))
            self.counts, self.largest = counts.astype(dtype), _LARGEST.get(dtype, math.inf)
            counts = self.counts
        counts[i] = total

    def take(self, cut: int) -> float:
        """Hand over the counts of slots ``lo`` … ``cut`` (≤ ``hi``), zeroed; their sum.
        ``lo`` moves to the next slot with a count (past ``hi``: nothing left)."""
        counts, size = self.counts, len(self.counts)
        if cut == self.lo:   # one slot: what a tick finds under steady traffic
            i = cut % size
            total = float(counts.item(i))
            counts[i] = 0
        else:
            total = 0.0
            for a, b in self._runs(self.lo, cut):
                total += float(counts[a:b].sum())
                counts[a:b] = 0
        if cut >= self.hi:
            self.lo = self.hi + 1
            return total
        self.lo = cut + 1 if counts.item((cut + 1) % size) else self._first_count(cut + 1)
        if size > STEADY_SPAN and self.hi - self.lo + 1 <= STEADY_SPAN:
            self._resize(STEADY_SPAN)
        return total

    def _first_count(self, first: int) -> int:
        """The first slot from ``first`` (≤ ``hi``, whose count is never zero) with a count."""
        slot = first
        for a, b in self._runs(first, self.hi):
            found = np.flatnonzero(self.counts[a:b])
            if len(found):
                return slot + int(found[0])
            slot += b - a
        raise AssertionError("the count at hi is never zero")

    def _runs(self, first: int, last: int) -> list[tuple[int, int]]:
        """Where slots ``first`` … ``last`` (within the span) are in the ring: one or two
        ranges of positions, in slot order."""
        size = len(self.counts)
        a, b = first % size, last % size
        return [(a, b + 1)] if a <= b else [(a, size), (0, b + 1)]

    def _resize(self, size: int) -> None:
        """The same counts in a ring of ``size`` slots (≥ the span)."""
        slots = np.arange(self.lo, self.hi + 1)
        counts: npt.NDArray[Any] = np.zeros(size, self.counts.dtype)
        counts[slots % size] = self.counts[slots % len(self.counts)]
        self.counts = counts

    @property
    def empty(self) -> bool:
        return self.lo > self.hi


class DueCounts(Generic[K]):
    """Counts per key that become due at a time; :meth:`pop_due` hands over what is due.
    ``groups`` names the groups a key belongs to (a campaign, a version), whose last due time
    :meth:`last_due` tells without reading any other key's counts. Counts are positive (a count
    of 0 is nothing pending)."""

    def __init__(self, groups: Callable[[K], Collection[Hashable]] = _no_groups) -> None:
        self._groups_of = groups
        self._lanes: dict[tuple[K, float], _Lane] = {}
        self._groups: dict[Hashable, set[_Lane]] = {}
        # (width, slot) → the lanes whose first slot it is (and stale entries of lanes whose
        # first slot moved since, skipped); the heap holds their (due time, width, slot)
        self._firsts: dict[tuple[float, int], list[_Lane]] = {}
        self._heap: list[tuple[float, float, int]] = []
        # counts already due when added, per key: the next pop_due hands them over; and per
        # group, the last due time of those (last_due)
        self._ready: dict[K, float] = {}
        self._ready_due: dict[Hashable, float] = {}

    def add(self, closes_at: float, window_seconds: float, key: K, n: float = 1,
            now: float = -math.inf) -> None:
        """Count ``n`` (> 0) for ``key`` once ``closes_at`` (unix seconds) has passed. A count
        already due at ``now`` (its slot's due time at or before it) is handed over by the next
        :meth:`pop_due`, whatever that one's time: never a slot, whose ring would have to span
        back to it."""
        if n <= 0:
            if n < 0:
                raise ValueError(f"a due count is positive, got {n}")
            return
        width = max(1.0, window_seconds / SLOTS_PER_WINDOW)
        slot = math.ceil(closes_at / width)
        if slot * width <= now:
            ready, ready_due = self._ready, self._ready_due
            ready[key] = ready.get(key, 0.0) + n
            for group in self._groups_of(key):
                ready_due[group] = max(ready_due.get(group, -math.inf), slot * width)
            return
        lane = self._lanes.get((key, width))
        if lane is None:
            groups = tuple(self._groups_of(key))
            lane = self._lanes[key, width] = _Lane(key, width, slot, groups)
            for group in groups:
                self._groups.setdefault(group, set()).add(lane)
            lane.add(slot, n)
            self._file(lane)
        elif slot < lane.lo:
            lane.add(slot, n)
            self._file(lane)
        else:
            lane.add(slot, n)

    def pop_due(self, now: float) -> dict[K, float]:
        """Everything due at or before ``now`` (and every count added when already due),
        summed per key, and forget it."""
        out: dict[K, float] = self._ready
        if out:
            self._ready, self._ready_due = {}, {}
        else:
            out = {}
        heap, firsts = self._heap, self._firsts
        cuts: dict[float, int] = {}   # per width, the last slot due
        while heap and heap[0][0] <= now:
            _, width, slot = heapq.heappop(heap)
            cut = cuts.get(width)
            if cut is None:
                cut = cuts[width] = _last_slot(now, width)
            for lane in firsts.pop((width, slot)):
                if lane.lo != slot:
                    continue   # stale: its first slot moved since
                count = lane.take(min(cut, lane.hi))
                out[lane.key] = out.get(lane.key, 0.0) + count
                if lane.empty:
                    self._drop(lane)
                else:
                    self._file(lane)
        return out

    def last_due(self, group: Hashable) -> float | None:
        """When the last count of a key in ``group`` falls due (``None``: none pending)."""
        lanes = self._groups.get(group)
        last = max(lane.hi * lane.width for lane in lanes) if lanes else None
        ready = self._ready_due.get(group)
        return last if ready is None else ready if last is None else max(last, ready)

    def __len__(self) -> int:
        """(key, due time) counts pending (those added when already due: one per key)."""
        return len(self._ready) + sum(int(np.count_nonzero(lane.counts))
                                      for lane in self._lanes.values())

    def _file(self, lane: _Lane) -> None:
        """File ``lane`` under its first slot."""
        at = (lane.width, lane.lo)
        lanes = self._firsts.get(at)
        if lanes is None:
            self._firsts[at] = [lane]
            heapq.heappush(self._heap, (lane.lo * lane.width, lane.width, lane.lo))
        else:
            lanes.append(lane)

    def _drop(self, lane: _Lane) -> None:
        del self._lanes[lane.key, lane.width]
        for group in lane.groups:
            lanes = self._groups[group]
            lanes.discard(lane)
            if not lanes:
                del self._groups[group]


def _last_slot(now: float, width: float) -> int:
    """The last slot of ``width`` due at or before ``now`` (``slot * width <= now``; every
    slot for an infinite ``now``)."""
    if math.isinf(now):
        return sys.maxsize
    slot = math.floor(now / width)
    while (slot + 1) * width <= now:
        slot += 1
    while slot * width > now:
        slot -= 1
    return slot
