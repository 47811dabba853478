"""The plan of a round of alias reads (``domain.alias_sweep.plan_round``): a registry's due
aliases share one sweep only when it costs MLflow fewer requests than reading each of them."""

from __future__ import annotations

import datetime as dt

from uplift_operator.domain.alias_sweep import (
    FIRST_SWEEP_AT,
    SWEEP_RECORD_KEPT,
    SWEEP_RETRY_AFTER,
    Sweep,
    SweepRecord,
    plan_round,
    recorded,
)

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _due(registry: str | None, count: int, prefix: str = "a") -> list[tuple[str | None, str]]:
    return [(registry, f"{prefix}{index}") for index in range(count)]


def test_with_no_page_count_known_a_sweep_is_tried_from_the_threshold_on() -> None:
    below = plan_round(_due("r", FIRST_SWEEP_AT - 1), {}, AT)
    assert below.sweeps == () and len(below.reads) == FIRST_SWEEP_AT - 1
    at = plan_round(_due("r", FIRST_SWEEP_AT), {}, AT)
    assert at.reads == ()
    assert at.sweeps == (Sweep("r", tuple(f"a{i}" for i in range(FIRST_SWEEP_AT)),
                               FIRST_SWEEP_AT - 1),)  # never more requests than the reads


def test_a_sweep_only_when_its_pages_cost_fewer_requests_than_the_reads() -> None:
    records = {"r": SweepRecord(AT, pages=3)}
    assert plan_round(_due("r", 3), records, AT).sweeps == ()  # 3 pages for 3 reads: no
    four = plan_round(_due("r", 4), records, AT)
    assert [s.aliases for s in four.sweeps] == [("a0", "a1", "a2", "a3")] and four.reads == ()
    # A known small registry is swept below the first-sweep threshold: 1 page for 2 reads.
    assert len(plan_round(_due("r", 2), {"r": SweepRecord(AT, pages=1)}, AT).sweeps) == 1
    assert plan_round(_due("r", 1), {"r": SweepRecord(AT, pages=1)}, AT).sweeps == ()


def test_a_big_registry_keeps_its_per_alias_reads() -> None:
    """100,000 models (100 pages): 3 or 30 followed aliases are read one by one."""
    big = {"r": SweepRecord(AT, pages=100)}
    for count in (3, 30, 100):
        plan = plan_round(_due("r", count), big, AT)
        assert plan.sweeps == () and len(plan.reads) == count
    assert len(plan_round(_due("r", 101), big, AT).sweeps) == 1


def test_a_sweep_stopped_at_its_budget_makes_the_registry_at_least_a_page_bigger() -> None:
    # 8 due aliases, budget 7 pages, the registry had more: at least 8 pages from now on.
    record = recorded(pages=7, complete=False, at=AT)
    assert record.pages == 8
    assert plan_round(_due("r", 8), {"r": record}, AT).sweeps == ()
    assert len(plan_round(_due("r", 9), {"r": record}, AT).sweeps) == 1
    assert recorded(pages=2, complete=True, at=AT).pages == 2


def test_a_failed_sweep_reads_one_by_one_until_the_retry_and_an_old_record_is_forgotten() -> None:
    failed = {"r": SweepRecord(AT, failed=True)}
    assert plan_round(_due("r", 50), failed, AT + SWEEP_RETRY_AFTER / 2).sweeps == ()
    assert len(plan_round(_due("r", 50), failed, AT + SWEEP_RETRY_AFTER).sweeps) == 1
    # Judged too big an hour ago: measured again (it may have shrunk), from the threshold on.
    big = {"r": SweepRecord(AT, pages=500)}
    assert plan_round(_due("r", 50), big, AT + SWEEP_RECORD_KEPT / 2).sweeps == ()
    assert len(plan_round(_due("r", 50), big, AT + SWEEP_RECORD_KEPT).sweeps) == 1


def test_registries_are_planned_apart_and_aliases_without_one_are_read_alone_in_order() -> None:
    due = [(None, "x0"), *_due("small", 10, "s"), *_due("big", 10, "b"), (None, "x1")]
    records = {"big": SweepRecord(AT, pages=40), "small": SweepRecord(AT, pages=1)}
    plan = plan_round(due, records, AT)
    assert [(s.registry, len(s.aliases), s.budget) for s in plan.sweeps] == [("small", 10, 9)]
    assert plan.reads == ("x0", *(f"b{i}" for i in range(10)), "x1")
