"""Writes left by a deleted resource that keep failing are retried for a while, not for ever."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.adapters.mlflow_registry import RegistryUnavailable
from uplift_operator.services.writeback import ORPHAN_RETRY_SECONDS, Write, WriteBack

SCOPE = ("http://old-mlflow", "team-a", "creds")
GONE, OTHER = ("UpliftModel", "team-a", "m"), ("UpliftModel", "team-a", "n")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_deleted_resources_failing_writes_are_dropped_after_the_budget(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    queue = WriteBack(clock=clock)
    down = {"on": True}
    done: list[str] = []
    told: list[Any] = []
    queue.on_change.append(lambda owners: told.extend(owners))

    def write(what: str) -> Write:
        def apply(_: Any) -> None:
            if down["on"] and what != "other":
                raise RegistryUnavailable("MLflow at http://old-mlflow is unreachable")
            done.append(what)
        return Write(("role", what), "retired", apply)

    queue.submit(GONE, object(), SCOPE, "modelA",  # type: ignore[arg-type]
                 [write("4"), write("5")])
    queue.submit(OTHER, object(), SCOPE, "modelA",  # type: ignore[arg-type]
                 [write("other")])
    delay = queue.run_due()
    held = queue.failure(OTHER)
    assert held is not None and "held behind another resource's write" in held
    queue.forget(GONE)  # its DELETED event
    held = queue.failure(OTHER)
    assert held is not None and "left by a deleted resource" in held
    assert "another resource" not in held and OTHER in told
    start = clock.now
    while queue.pending() and clock.now - start < 3 * ORPHAN_RETRY_SECONDS:
        clock.now += delay or 1.0
        delay = queue.run_due()
    assert queue.pending() == 0 and queue.backlog() == (0, None)
    assert clock.now - start < ORPHAN_RETRY_SECONDS + 301
    assert done == ["other"]  # its own write went through once the others were dropped
    assert queue.failure(OTHER) is None
    assert "its resource was deleted" in caplog.text


def test_a_deleted_resources_writes_that_go_through_still_land() -> None:
    clock = Clock()
    queue = WriteBack(clock=clock)
    done: list[str] = []
    queue.submit(GONE, object(), SCOPE, "modelA",  # type: ignore[arg-type]
                 [Write(("role", "4"), "retired", lambda _: done.append("4"))])
    queue.forget(GONE)
    assert queue.run_due() is None and done == ["4"]
