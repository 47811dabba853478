"""The pending cohort counts (``windows.DueCounts``): one ring of slot counts per key, ~50 KB per
campaign whose windows are full (a dict of slots, each holding a key tuple and a float per key,
held 2.8 MB: 11.5 GB at 4,096 campaigns), handing over the same counts at the same times as that
dict did; a campaign's or a version's last due time read from its own keys only (every pending
count was scanned once per retired label, on the event loop: 9–40 s at 4,096 campaigns)."""

from __future__ import annotations

import gc
import heapq
import math
import tracemalloc
from collections.abc import Callable, Hashable

from hypothesis import given, settings
from hypothesis import strategies as st

from uplift_operator.runtime.windows import SLOTS_PER_WINDOW, STEADY_SPAN, DueCounts

WINDOW = 14 * 86400
Key = tuple[str, str, str, str, str]


def _groups(key: Key) -> tuple[Hashable, ...]:
    """As the runtime groups its cohort counts: by campaign and by version."""
    return (("campaign", key[1]), ("version", key[4]))


class DictOfSlots:
    """The representation before: a dict per due time of the counts per key (the reference)."""

    def __init__(self) -> None:
        self.slots: dict[float, dict[Key, float]] = {}
        self.heap: list[float] = []

    def add(self, closes_at: float, window_seconds: float, key: Key, n: float = 1) -> None:
        width = max(1.0, window_seconds / SLOTS_PER_WINDOW)
        due = math.ceil(closes_at / width) * width
        slot = self.slots.get(due)
        if slot is None:
            slot = self.slots[due] = {}
            heapq.heappush(self.heap, due)
        slot[key] = slot.get(key, 0.0) + n

    def pop_due(self, now: float) -> dict[Key, float]:
        out: dict[Key, float] = {}
        while self.heap and self.heap[0] <= now:
            for key, n in self.slots.pop(heapq.heappop(self.heap)).items():
                out[key] = out.get(key, 0.0) + n
        return out

    def last_due(self, match: Callable[[Key], bool]) -> float | None:
        due = [at for at, slot in self.slots.items() if any(match(key) for key in slot)]
        return max(due) if due else None


def _fill(due: DueCounts[Key], campaigns: int, start: float = 1_780_000_000) -> None:
    """Steady traffic over a 14-day window: every kind × arm × treatment of each campaign
    counted in every slot, each with a fresh key tuple (as ``UpliftRuntime._hold`` makes)."""
    width = WINDOW / SLOTS_PER_WINDOW
    names = [f"campaign-{c}" for c in range(campaigns)]
    for slot in range(SLOTS_PER_WINDOW):
        closes = start + slot * width
        for name in names:
            for kind in ("expected", "received", "converted"):
                for arm in ("holdout", "treated"):
                    for treatment in ("womens_e_mail", "mens_e_mail", "none"):
                        due.add(closes, WINDOW, (kind, name, arm, treatment, "7"))


def test_a_full_window_holds_about_50_kb_per_campaign() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        due: DueCounts[Key] = DueCounts(groups=_groups)
        _fill(due, campaigns=3)
        per_campaign = (tracemalloc.get_traced_memory()[0] - base) / 3
    finally:
        tracemalloc.stop()
    assert len(due) == 3 * 18 * SLOTS_PER_WINDOW
    # 18 keys × ~1,008 slots × 2 bytes and each key's ring around them (the dict of slots
    # held 2.8 MB per campaign: review-runtime due_counts_memory.py)
    assert per_campaign < 120_000, per_campaign
    assert sum(due.pop_due(math.inf).values()) == 3 * 18 * SLOTS_PER_WINDOW


def test_a_campaigns_last_due_time_reads_its_own_keys_only() -> None:
    due: DueCounts[Key] = DueCounts(groups=_groups)
    _fill(due, campaigns=2)
    due.add(1_790_000_000, WINDOW, ("received", "late-one", "treated", "none", "8"))
    width = WINDOW / SLOTS_PER_WINDOW
    last = math.ceil((1_780_000_000 + (SLOTS_PER_WINDOW - 1) * width) / width) * width
    assert due.last_due(("campaign", "campaign-1")) == last
    assert due.last_due(("campaign", "late-one")) == math.ceil(1_790_000_000 / width) * width
    assert due.last_due(("version", "8")) == due.last_due(("campaign", "late-one"))
    assert due.last_due(("campaign", "gone")) is None
    due.pop_due(last)
    assert due.last_due(("campaign", "campaign-1")) is None
    assert due.last_due(("version", "7")) is None
    assert due.last_due(("version", "8")) is not None


def test_counts_too_large_or_not_whole_are_held_exactly() -> None:
    due: DueCounts[str] = DueCounts()
    for _ in range(3):
        due.add(100.0, 10, "many", 40_000)       # past 2 bytes a slot
    due.add(100.0, 10, "huge", 2**33)           # past 4 bytes
    due.add(100.0, 10, "part", 0.5)
    due.add(100.0, 10, "part", 2)
    due.add(100.0, 10, "nothing", 0)
    assert due.pop_due(100.0) == {"many": 120_000.0, "huge": float(2**33), "part": 2.5}
    assert len(due) == 0


def test_a_key_stretched_by_a_long_closed_window_shrinks_back() -> None:
    """A non-conversion reported long after its window (due at once) next to a key's steady
    counts: its ring grows to span both, and shrinks back once the old count is handed over."""
    due: DueCounts[Key] = DueCounts(groups=_groups)
    key: Key = ("received", "c", "treated", "none", "7")
    width = WINDOW / SLOTS_PER_WINDOW
    now = 1_780_000_000.0
    for slot in range(SLOTS_PER_WINDOW):
        due.add(now + slot * width, WINDOW, key)
    due.add(now - 3 * WINDOW, WINDOW, key)
    assert max(len(lane.counts) for lane in due._lanes.values()) > STEADY_SPAN
    assert due.pop_due(now - 1) == {key: 1.0}
    assert max(len(lane.counts) for lane in due._lanes.values()) <= STEADY_SPAN
    assert due.pop_due(math.inf) == {key: float(SLOTS_PER_WINDOW)}


def test_a_count_already_due_when_added_is_never_a_slot() -> None:
    """The review's r4_duecounts_span.py: a report of a year-old decision (a 60 s window) next
    to a key's pending counts. Added with ``now``, it is handed over whole by the next pop and
    the key's ring keeps its size; before, the ring grew to span the year, ~525,000 slots
    (79 MB at its peak, ~0.2 s on the event loop)."""
    due: DueCounts[Key] = DueCounts(groups=_groups)
    key: Key = ("received", "c", "treated", "none", "7")
    now = 1_780_000_000.0
    due.add(now + 60, 60, key)                       # steady traffic: a count pending
    old = now - 365 * 86400 + 60
    due.add(old, 60, key, now=now)                   # a year-old decision's report
    due.add(old + 1, 60, key, 2, now=now)
    assert max(len(lane.counts) for lane in due._lanes.values()) <= STEADY_SPAN
    assert len(due) == 2                             # the pending slot, the key's ready counts
    assert due.last_due(("campaign", "c")) == now + 60
    assert due.last_due(("version", "7")) == now + 60
    assert due.pop_due(now) == {key: 3.0}            # the next pop, whatever its time
    assert due.pop_due(now) == {}
    assert due.pop_due(now + 60) == {key: 1.0}
    assert len(due) == 0 and due.last_due(("campaign", "c")) is None
    # Alone, a ready count is what its group waits for (``_forget_retired`` keeps its series).
    other: Key = ("converted", "gone", "holdout", "none", "8")
    due.add(old, 60, other, now=now)
    assert not due._lanes
    assert due.last_due(("campaign", "gone")) == math.ceil(old) and len(due) == 1
    assert due.pop_due(now - 10**9) == {other: 1.0}  # even a pop dated before it
    assert due.last_due(("campaign", "gone")) is None


def test_a_keys_counts_past_the_end_of_its_ring_are_found_after_its_start() -> None:
    """Slots 4 and 9 of one key (1 s slots) in a ring of 6: slot 9 sits at position 3, before
    slot 4's; once slot 4 is handed over, the next count is slot 9's, not one past it."""
    due: DueCounts[str] = DueCounts()
    due.add(4.0, 10, "k")
    due.add(9.0, 10, "k", 2)
    assert due.pop_due(4.0) == {"k": 1.0}
    assert due.pop_due(8.5) == {}
    assert due.pop_due(9.0) == {"k": 2.0}
    assert len(due) == 0


_KEYS = st.tuples(st.sampled_from(["expected", "received"]), st.sampled_from(["a", "b", ""]),
                  st.sampled_from(["holdout", "treated"]), st.just("none"),
                  st.sampled_from(["7", "8"]))
# Close times mostly a few slots apart (counts sharing slots, rings wrapping), some far apart.
_TIMES = st.integers(-40, 40).map(float) | st.floats(-50_000, 50_000)
_ADD = st.tuples(st.just("add"), _TIMES, st.sampled_from([1, 30, 999, 5_000, 86_400]), _KEYS,
                 st.sampled_from([1, 2, 3.0, 0.25, 70_000]))
_POP = st.tuples(st.just("pop"), _TIMES | st.just(math.inf))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ADD | _POP, max_size=60))
def test_the_same_counts_fall_due_at_the_same_times_as_a_dict_of_slots(
        steps: list[tuple[object, ...]]) -> None:
    base = 1_780_000_000.0
    due: DueCounts[Key] = DueCounts(groups=_groups)
    reference = DictOfSlots()
    popped_until = -math.inf
    for step in steps:
        if step[0] == "add":
            _, closes, window, key, n = step
            assert isinstance(closes, float) and isinstance(window, int)
            assert isinstance(n, (int, float))
            due.add(base + closes, window, key, n)   # type: ignore[arg-type]
            reference.add(base + closes, window, key, n)   # type: ignore[arg-type]
        else:
            now = base + step[1]   # type: ignore[operator]
            popped_until = max(popped_until, now)
            assert due.pop_due(now) == reference.pop_due(now)
        for label, at in (("campaign", 1), ("version", 4)):
            for value in ("a", "b", "", "7", "8"):
                assert due.last_due((label, value)) == reference.last_due(
                    lambda key, at=at, value=value: key[at] == value)  # type: ignore[misc]
        assert (len(due) == 0) == (not reference.slots)
    assert due.pop_due(math.inf) == reference.pop_due(math.inf)
