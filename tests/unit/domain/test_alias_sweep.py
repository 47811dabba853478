"""The plan of a round of alias reads (``domain.alias_sweep.plan_round``): a registry's due
aliases share one sweep only when it is no slower than reading them on the readers and asks
fewer requests; it answers the registry's aliases due soon too, and never lists more pages than
that rule allows."""

from __future__ import annotations

import datetime as dt

from uplift_operator.domain.alias_sweep import (
    FIRST_SWEEP_AT,
    MAX_SWEEP_PAGES,
    SWEEP_RECORD_KEPT,
    SWEEP_RETRY_AFTER,
    SWEEP_VOUCH_LIMIT,
    Sweep,
    SweepRecord,
    own_read_due,
    phase_of,
    plan_round,
    recorded,
)

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
READERS = 4


def _due(registry: str | None, count: int, prefix: str = "a") -> list[tuple[str | None, str]]:
    return [(registry, f"{prefix}{index}") for index in range(count)]


def _early(registry: str, count: int) -> list[tuple[str, str]]:
    return [(registry, f"e{index}") for index in range(count)]


def test_with_no_page_count_known_a_sweep_is_tried_from_the_threshold_on() -> None:
    below = plan_round(_due("r", FIRST_SWEEP_AT - 1), {}, AT, readers=READERS)
    assert below.sweeps == () and len(below.reads) == FIRST_SWEEP_AT - 1
    at = plan_round(_due("r", FIRST_SWEEP_AT), {}, AT, readers=READERS)
    assert at.reads == ()
    # Its budget: no more pages than the 4 readers would take to read the 8 aliases.
    assert at.sweeps == (Sweep("r", tuple(f"a{i}" for i in range(FIRST_SWEEP_AT)),
                               FIRST_SWEEP_AT // READERS),)
    # One reader: one page fewer than the reads.
    assert plan_round(_due("r", FIRST_SWEEP_AT), {}, AT).sweeps[0].budget == FIRST_SWEEP_AT - 1


def test_a_sweep_only_when_its_pages_on_one_reader_are_no_slower_than_the_reads() -> None:
    records = {"r": SweepRecord(AT, pages=3)}
    assert plan_round(_due("r", 11), records, AT, readers=READERS).sweeps == ()  # 3×4 > 11
    twelve = plan_round(_due("r", 12), records, AT, readers=READERS)
    assert [(s.aliases, s.budget) for s in twelve.sweeps] == [
        (tuple(f"a{i}" for i in range(12)), 3)] and twelve.reads == ()
    # One reader: fewer requests than the reads (3 pages for 3 reads: no).
    assert plan_round(_due("r", 3), records, AT).sweeps == ()
    assert len(plan_round(_due("r", 4), records, AT).sweeps) == 1
    # A known small registry is swept below the first-sweep threshold: 1 page, 4 readers, 4.
    small = {"r": SweepRecord(AT, pages=1)}
    assert len(plan_round(_due("r", 4), small, AT, readers=READERS).sweeps) == 1
    assert plan_round(_due("r", 3), small, AT, readers=READERS).sweeps == ()


def test_aliases_due_soon_join_a_sweep_count_and_are_never_read_here() -> None:
    records = {"r": SweepRecord(AT, pages=2)}
    # 1 due and 7 due soon: 8 answerable, 2 pages × 4 readers: swept, all eight answered.
    plan = plan_round(_due("r", 1), records, AT, early=_early("r", 7), readers=READERS)
    assert [(s.aliases, s.budget) for s in plan.sweeps] == [
        (("a0", *(f"e{i}" for i in range(7))), 2)] and plan.reads == ()
    # Due soon but none due: nothing to do yet.
    assert plan_round([], records, AT, early=_early("r", 50), readers=READERS) == plan_round(
        [], records, AT)
    # Too few with them: the due alias is read by itself, the others wait for their turn.
    plan = plan_round(_due("r", 1), records, AT, early=_early("r", 6), readers=READERS)
    assert plan.sweeps == () and plan.reads == ("a0",)
    # Another registry's due soon do not count here.
    plan = plan_round(_due("r", 1), records, AT, early=_early("s", 50), readers=READERS)
    assert plan.sweeps == ()


def test_a_big_registry_keeps_its_per_alias_reads_and_a_sweep_lists_at_most_the_cap() -> None:
    """100,000 models (100 pages): 30 or 399 followed aliases are read one by one, and never
    swept: a sweep lists at most MAX_SWEEP_PAGES pages."""
    big = {"r": SweepRecord(AT, pages=100)}
    for count in (3, 30, 399, 10_000):
        plan = plan_round(_due("r", count), big, AT, readers=READERS)
        assert plan.sweeps == () and len(plan.reads) == count
    first = plan_round(_due("r", 10_000), {}, AT, readers=READERS)
    assert first.sweeps[0].budget == MAX_SWEEP_PAGES == 50
    assert len(plan_round(_due("r", 10_000), {"r": SweepRecord(AT, pages=MAX_SWEEP_PAGES)}, AT,
                          readers=READERS).sweeps) == 1


def test_a_sweep_stopped_at_its_budget_makes_the_registry_at_least_a_page_bigger() -> None:
    # 8 answerable aliases, budget 2 pages, the registry had more: at least 3 pages from now
    # on, so 8 (or 11) aliases are read one by one, 12 are swept.
    record = recorded(pages=2, complete=False, at=AT)
    assert record.pages == 3
    assert plan_round(_due("r", 8), {"r": record}, AT, readers=READERS).sweeps == ()
    assert plan_round(_due("r", 11), {"r": record}, AT, readers=READERS).sweeps == ()
    assert len(plan_round(_due("r", 12), {"r": record}, AT, readers=READERS).sweeps) == 1
    assert recorded(pages=2, complete=True, at=AT).pages == 2
    # Stopped at the cap: never swept again while the record is believed.
    capped = {"r": recorded(MAX_SWEEP_PAGES, complete=False, at=AT)}
    assert plan_round(_due("r", 100_000), capped, AT, readers=READERS).sweeps == ()


def test_a_failed_sweep_reads_one_by_one_until_the_retry_and_an_old_record_is_forgotten() -> None:
    failed = {"r": SweepRecord(AT, failed=True)}
    plan = plan_round(_due("r", 50), failed, AT + SWEEP_RETRY_AFTER / 2, readers=READERS)
    assert plan.sweeps == ()
    assert len(plan_round(_due("r", 50), failed, AT + SWEEP_RETRY_AFTER,
                          readers=READERS).sweeps) == 1
    # Judged too big an hour ago: measured again (it may have shrunk), from the threshold on.
    big = {"r": SweepRecord(AT, pages=500)}
    assert plan_round(_due("r", 50), big, AT + SWEEP_RECORD_KEPT / 2,
                      readers=READERS).sweeps == ()
    assert len(plan_round(_due("r", 50), big, AT + SWEEP_RECORD_KEPT,
                          readers=READERS).sweeps) == 1


def test_registries_are_planned_apart_and_aliases_without_one_are_read_alone_in_order() -> None:
    due = [(None, "x0"), *_due("small", 10, "s"), *_due("big", 10, "b"), (None, "x1")]
    records = {"big": SweepRecord(AT, pages=40), "small": SweepRecord(AT, pages=1)}
    plan = plan_round(due, records, AT, readers=READERS)
    assert [(s.registry, len(s.aliases), s.budget) for s in plan.sweeps] == [("small", 10, 2)]
    assert plan.reads == ("x0", *(f"b{i}" for i in range(10)), "x1")


def test_an_aliases_own_read_comes_due_within_the_limit_and_not_before_three_quarters() -> None:
    minutes = set()
    for index in range(200):
        name = f"model-{index}\nchampion"
        phase = phase_of(name)
        assert 0 <= phase < 1 and phase == phase_of(name)  # fixed by the name
        for read_at in (AT, AT + dt.timedelta(minutes=17, seconds=3)):
            due = own_read_due(read_at, phase)
            assert read_at + SWEEP_VOUCH_LIMIT * 3 / 4 <= due <= read_at + SWEEP_VOUCH_LIMIT
            minutes.add(int((due - read_at) / dt.timedelta(minutes=1)))
    assert minutes == set(range(45, 60))  # spread over the whole last quarter


def _most_in_a_minute(reads: list[dt.datetime]) -> int:
    per_minute: dict[int, int] = {}
    for read in reads:
        minute = int((read - AT) / dt.timedelta(minutes=1))
        per_minute[minute] = per_minute.get(minute, 0) + 1
    return max(per_minute.values())


def test_own_reads_of_aliases_first_read_in_one_burst_come_due_spread_out() -> None:
    """5,000 aliases all read in the same second (start-up), then each by itself when due:
    their reads come over a quarter of an hour, not 5,000 in one minute, and spread further
    each time."""
    phases = [phase_of(f"model-{index:04d}\nchampion") for index in range(5_000)]
    reads = [AT] * len(phases)
    most = []
    for _ in range(4):
        reads = [own_read_due(read, phase) for read, phase in zip(reads, phases, strict=True)]
        most.append(_most_in_a_minute(reads))
    assert most[0] <= 2 * 5_000 / 15  # ~333 a minute on average over the quarter hour
    assert most[3] < most[0] / 2  # four hours on, spread over about an hour


def test_a_registry_whose_last_sweep_took_longer_than_its_reads_is_not_swept() -> None:
    import datetime as _dt

    from uplift_operator.domain.alias_sweep import SweepRecord, plan_round

    at = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)
    due = [("r", f"a{index}") for index in range(100)]
    read = {"r": _dt.timedelta(milliseconds=100)}  # 100 reads on 4 readers: 2.5 s
    slow = {"r": SweepRecord(at, pages=2, took=_dt.timedelta(seconds=3))}
    fast = {"r": SweepRecord(at, pages=2, took=_dt.timedelta(seconds=2))}
    assert plan_round(due, slow, at, readers=4, read_takes=read).sweeps == ()
    assert len(plan_round(due, fast, at, readers=4, read_takes=read).sweeps) == 1
    # Under a second a sweep is never too slow, however fast the reads.
    quick = {"r": _dt.timedelta(milliseconds=1)}
    under = {"r": SweepRecord(at, pages=2, took=_dt.timedelta(milliseconds=900))}
    assert len(plan_round(due, under, at, readers=4, read_takes=quick).sweeps) == 1
