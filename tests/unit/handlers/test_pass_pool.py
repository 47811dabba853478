"""PassPool: earliest-due work first; a resource's first pass queued later, never starved."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from uplift_operator.handlers.pass_pool import PassPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _blocked_pool(deferral: float = 120.0) -> tuple[PassPool, Clock, threading.Event]:
    """A one-thread pool whose thread is busy until the returned event is set."""
    clock = Clock()
    pool = PassPool(1, first_pass_deferral=deferral, clock=clock)
    gate, started = threading.Event(), threading.Event()
    pool.submit(lambda: (started.set(), gate.wait()))
    assert started.wait(5)
    return pool, clock, gate


def test_later_passes_go_ahead_of_first_passes_submitted_before_them() -> None:
    pool, clock, gate = _blocked_pool()
    order: list[str] = []
    firsts = [pool.first_passes.submit(order.append, f"first {i}") for i in range(3)]
    clock.now += 30
    later = pool.submit(order.append, "later pass")
    clock.now += 100  # 130 s after the first passes: past their deferral
    after = pool.submit(order.append, "work after the deferral")
    gate.set()
    for future in (*firsts, later, after):
        future.result(timeout=5)
    assert order == ["later pass", "first 0", "first 1", "first 2", "work after the deferral"]
    pool.shutdown()


def test_results_and_exceptions_reach_the_caller() -> None:
    with PassPool(2) as pool:
        assert pool.submit(sum, [1, 2, 3]).result(timeout=5) == 6
        assert pool.first_passes.submit(max, 4, 9).result(timeout=5) == 9
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=5)


def test_at_most_max_workers_threads_run_at_once() -> None:
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    with PassPool(3) as pool:
        futures = [pool.submit(work) for _ in range(8)]
        threading.Timer(0.3, release.set).start()
        for future in futures:
            future.result(timeout=10)
    assert peak[0] == 3


def test_shutdown_cancels_queued_work_and_refuses_more() -> None:
    pool, _, gate = _blocked_pool()
    queued = pool.first_passes.submit(print, "never")
    assert len(pool) == 1
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    with pytest.raises(CancelledError):
        queued.result(timeout=5)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(print, "late")
