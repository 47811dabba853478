"""A deleted resource's write held behind a live resource's failing write of its model gets its
retries once it is the head of its queue: the hour it waited is not its retry budget."""

from __future__ import annotations

from typing import Any

from uplift_operator.adapters.mlflow_registry import RegistryUnavailable
from uplift_operator.services.writeback import (
    MAX_BACKOFF_SECONDS,
    ORPHAN_RETRY_SECONDS,
    Write,
    WriteBack,
)

SCOPE = ("http://mlflow", "team-a", "creds")
LIVE, GONE, OTHER = (("UpliftModel", "team-a", n) for n in ("live", "gone", "other"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_deleted_resources_write_held_behind_a_live_one_is_retried_once_at_the_head() -> None:
    clock = Clock()
    queue = WriteBack(clock=clock)
    failing = {"live": True, "gone": 0}
    done: list[str] = []

    def write(what: str) -> Write:
        def apply(_: Any) -> None:
            if what == "live" and failing["live"]:
                raise RegistryUnavailable("MLflow answers 503")
            if what == "gone" and failing["gone"] > 0:
                failing["gone"] -= 1  # one blip once it is tried, then it goes through
                raise RegistryUnavailable("MLflow answers 503")
            done.append(what)
        return Write(("role", what), "stable", apply)

    queue.submit(LIVE, object(), SCOPE, "m", [write("live")])  # type: ignore[arg-type]
    queue.submit(GONE, object(), SCOPE, "m", [write("gone")])  # type: ignore[arg-type]
    queue.forget(GONE)  # deleted: its write is left to land on its own
    start = clock.now
    while clock.now - start < 2 * ORPHAN_RETRY_SECONDS:  # the live one fails for two hours
        clock.now += queue.run_due() or MAX_BACKOFF_SECONDS
    assert done == [] and queue.pending() == 2
    failing["live"], failing["gone"] = False, 1
    for _ in range(5):
        clock.now += queue.run_due() or 0.0
    # Its first try failed (a blip): retried, not dropped as if its hour had been spent.
    assert done == ["live", "gone"] and queue.pending() == 0


def test_a_deleted_resources_writes_share_one_budget_behind_each_other() -> None:
    """Behind a write of the same deleted resource, the budget is the one that started at the
    deletion (``test_writeback_orphans``): not an hour more per write."""
    clock = Clock()
    queue = WriteBack(clock=clock)

    def failing(what: str) -> Write:
        def apply(_: Any) -> None:
            raise RegistryUnavailable("MLflow answers 503")
        return Write(("role", what), "retired", apply)

    queue.submit(GONE, object(), SCOPE, "m",  # type: ignore[arg-type]
                 [failing("4"), failing("5"), failing("6")])
    queue.forget(GONE)
    start = clock.now
    while queue.pending() and clock.now - start < 5 * ORPHAN_RETRY_SECONDS:
        clock.now += queue.run_due() or MAX_BACKOFF_SECONDS
    assert queue.pending() == 0
    assert clock.now - start < ORPHAN_RETRY_SECONDS + 2 * MAX_BACKOFF_SECONDS


def test_every_write_of_a_deleted_resource_held_behind_a_live_one_gets_its_hour() -> None:
    """Two writes of a deleted resource behind a live resource's write failing for two hours:
    the second, reaching the head once the first went through, has its hour from when the live
    write went too, not the deletion's (before, a blip at its first try dropped it)."""
    clock = Clock()
    queue = WriteBack(clock=clock)
    failing = {"live": True, "g2": 0}
    done: list[str] = []

    def write(what: str) -> Write:
        def apply(_: Any) -> None:
            if what == "live" and failing["live"]:
                raise RegistryUnavailable("MLflow answers 503")
            if what == "g2" and failing["g2"] > 0:
                failing["g2"] -= 1
                raise RegistryUnavailable("MLflow answers 503")
            done.append(what)
        return Write(("role", what), "retired", apply)

    queue.submit(LIVE, object(), SCOPE, "m", [write("live")])  # type: ignore[arg-type]
    queue.submit(GONE, object(), SCOPE, "m", [write("g1"), write("g2")])  # type: ignore[arg-type]
    queue.forget(GONE)
    start = clock.now
    while clock.now - start < 2 * ORPHAN_RETRY_SECONDS:
        clock.now += queue.run_due() or MAX_BACKOFF_SECONDS
    assert done == [] and queue.pending() == 3
    failing["live"], failing["g2"] = False, 1
    for _ in range(5):
        clock.now += queue.run_due() or 0.0
    assert done == ["live", "g1", "g2"] and queue.pending() == 0


def test_a_live_write_between_deleted_ones_ends_the_first_run_of_fresh_budgets() -> None:
    """Only the deleted resource's writes up to the next live write get a fresh hour when a
    live head goes: those behind that live write wait for it to go in turn."""
    clock = Clock()
    queue = WriteBack(clock=clock)
    failing = {"live": True, "other": True}
    done: list[str] = []

    def write(what: str, owner_failing: str | None = None) -> Write:
        def apply(_: Any) -> None:
            if owner_failing is not None and failing[owner_failing]:
                raise RegistryUnavailable("MLflow answers 503")
            done.append(what)
        return Write(("role", what), "retired", apply)

    queue.submit(LIVE, object(), SCOPE, "m", [write("live", "live")])  # type: ignore[arg-type]
    queue.submit(GONE, object(), SCOPE, "m", [write("g1")])  # type: ignore[arg-type]
    queue.submit(OTHER, object(), SCOPE, "m", [write("other", "other")])  # type: ignore[arg-type]
    queue.submit(GONE, object(), SCOPE, "m", [write("g2")])  # type: ignore[arg-type]
    queue.forget(GONE)
    start = clock.now
    while clock.now - start < 2 * ORPHAN_RETRY_SECONDS:
        clock.now += queue.run_due() or MAX_BACKOFF_SECONDS
    failing["live"] = False
    while "g1" not in done:
        clock.now += queue.run_due() or 0.0
    # g1 went at once; "other" is the failing head now, g2 waits behind it. Two hours more:
    start = clock.now
    while clock.now - start < 2 * ORPHAN_RETRY_SECONDS:
        clock.now += queue.run_due() or MAX_BACKOFF_SECONDS
    failing["other"] = False
    for _ in range(5):
        clock.now += queue.run_due() or 0.0
    assert done == ["live", "g1", "other", "g2"] and queue.pending() == 0
