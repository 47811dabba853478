"""The write-back's queues take turns, and a tracking URI that does not answer holds one worker."""

from __future__ import annotations

import threading
import time
from typing import Any

from uplift_operator.adapters.mlflow_registry import RegistryUnavailable
from uplift_operator.services.writeback import Write, WriteBack

A_SCOPE, B_SCOPE = ("http://mlflow-a", "", ""), ("http://mlflow-b", "", "")
B = ("UpliftModel", "team-b", "x")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_another_tracking_uri_waits_one_request_not_a_round_of_every_queue() -> None:
    clock = Clock()
    queue = WriteBack(clock=clock)
    tried: list[str] = []

    def failing(name: str) -> Write:
        def apply(_: Any) -> None:
            tried.append(name)
            raise RegistryUnavailable("down", status_code=504)
        return Write(("role", "1"), "stable", apply)

    def healthy(_: Any) -> None:
        tried.append("b")

    for i in range(100):
        queue.submit(("UpliftModel", "team-a", f"m{i}"), object(), A_SCOPE,  # type: ignore[arg-type]
                     f"model{i}", [failing(f"a{i}")])
    queue.submit(B, object(), B_SCOPE, "bmodel",  # type: ignore[arg-type]
                 [Write(("alias", "prod"), "7", healthy)])
    queue.run_due()
    assert tried.index("b") == 1  # after the one A request under way, not after 100 of them
    assert not queue.waiting(B)


def test_the_queues_of_one_tracking_uri_take_turns_each_in_order() -> None:
    queue = WriteBack(clock=Clock())
    done: list[tuple[str, str]] = []

    def write(model: str, version: str) -> Write:
        return Write(("role", version), "stable", lambda _: done.append((model, version)))

    queue.submit(("UpliftModel", "ns", "x"), object(), A_SCOPE, "x",  # type: ignore[arg-type]
                 [write("x", "1"), write("x", "2"), write("x", "3")])
    queue.submit(("UpliftModel", "ns", "y"), object(), A_SCOPE, "y",  # type: ignore[arg-type]
                 [write("y", "1")])
    assert queue.run_due() is None
    assert done == [("x", "1"), ("y", "1"), ("x", "2"), ("x", "3")]


def test_a_tracking_uri_that_does_not_answer_holds_one_worker_and_only_its_own_writes() -> None:
    queue = WriteBack()
    release = threading.Event()
    a_tries: list[str] = []
    b_done = threading.Event()

    def hanging(name: str) -> Write:
        def apply(_: Any) -> None:
            a_tries.append(name)
            release.wait(10)
        return Write(("role", "1"), "stable", apply)

    try:
        for i in range(3):
            queue.submit(("UpliftModel", "team-a", f"m{i}"), object(), A_SCOPE,  # type: ignore[arg-type]
                         f"model{i}", [hanging(f"a{i}")])
        queue.start()
        deadline = time.monotonic() + 5
        while not a_tries and time.monotonic() < deadline:
            time.sleep(0.01)
        queue.submit(B, object(), B_SCOPE, "bmodel",  # type: ignore[arg-type]
                     [Write(("alias", "prod"), "7", lambda _: b_done.set())])
        assert b_done.wait(5)  # while the first A write still hangs
        time.sleep(0.1)
        assert a_tries == ["a0"]  # one worker per tracking URI at a time: A's others wait
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while queue.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(a_tries) == ["a0", "a1", "a2"] and queue.pending() == 0
