"""A task of an object started again after kopf cancelled the previous one (a peering pause,
the object's deletion, the operator's exit) waits for the pass its predecessor left running
in the pool: kopf's cancellation ends the awaiting, not the thread, so the old decision went
on while the new task decided too (two passes of one object at once)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest

from uplift_operator.handlers import scheduling
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups, run_passes
from uplift_operator.services.common import PassResult

KEY = ("UpliftModel", "ns", "m")


class Cluster:
    def patch_status(self, *_: Any, **__: Any) -> dict[str, Any]:
        raise AssertionError("nothing to write")

    def read_live(self, *_: Any, **__: Any) -> None:
        return None


class Deciding:
    """A decision that takes ``seconds``, counting how many run at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.running, self.peak, self.calls = seconds, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self, snapshot: dict[str, Any], now: Any) -> PassResult:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        return PassResult(status=dict(snapshot.get("status") or {}), events=(),
                          requeue_after=None)


def _scenario(decide: Deciding, after: float) -> None:
    async def go() -> None:
        body = kopf.Body({"metadata": {"uid": "u1", "namespace": "ns", "name": "m",
                                       "resourceVersion": "1"}, "status": {"phase": "Healthy"}})
        wakeups = Wakeups()
        with ThreadPoolExecutor(4) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", wakeups, pool, Cluster())

            def one() -> Any:
                return runner.run_once(KEY, body, decide, lambda *_: None)

            first = asyncio.create_task(run_passes(KEY, wakeups, one, uid="u1"))
            await asyncio.sleep(0.1)  # its pass decides in the pool
            first.cancel()  # kopf cancels the daemon
            await asyncio.gather(first, return_exceptions=True)
            second = asyncio.create_task(run_passes(KEY, wakeups, one, uid="u1"))
            await asyncio.sleep(after)
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)

    asyncio.run(go())


def test_a_task_started_again_waits_for_its_predecessors_pass() -> None:
    decide = Deciding(0.4)
    _scenario(decide, after=1.2)
    assert decide.peak == 1
    assert decide.calls == 2  # the new task's pass ran, after the old one's


def test_the_wait_is_bounded(monkeypatch: pytest.MonkeyPatch,
                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(scheduling, "PREDECESSOR_WAIT_SECONDS", 0.1)
    decide = Deciding(0.8)
    with caplog.at_level(logging.WARNING, logger=scheduling.__name__):
        _scenario(decide, after=0.4)
    assert decide.peak == 2 and decide.calls == 2
    assert "cancelled earlier still runs" in caplog.text


def test_a_pass_not_started_in_the_pool_is_cancelled_with_its_task() -> None:
    """Queued behind a busy pool when its task is cancelled: it never runs."""
    ran: list[str] = []

    async def go() -> None:
        wakeups = Wakeups()
        with ThreadPoolExecutor(1) as pool:
            busy = asyncio.get_running_loop().run_in_executor(pool, time.sleep, 0.3)
            queued = asyncio.create_task(wakeups.in_pool(KEY, pool, lambda: ran.append("x")))
            await asyncio.sleep(0.05)
            queued.cancel()
            await asyncio.gather(queued, return_exceptions=True)
            await busy
            assert await wakeups.settled(KEY, 1.0)

    asyncio.run(go())
    assert ran == []


def test_a_cancelled_pass_that_finished_is_not_kept_for_a_task_that_never_comes() -> None:
    """A task cancelled while its pass ran in the pool, its object never getting a task again
    (deleted during a peering pause, or with a deletionTimestamp: kopf cancels the daemon),
    kept the finished pass's result (status, events, the write's closure) in ``_in_pool`` for
    good (/tmp/review-final-a/in_pool_leak.py: 200 deleted objects, 200 results kept)."""
    started = threading.Semaphore(0)

    def one_pass() -> PassResult:
        started.release()
        time.sleep(0.2)
        return PassResult(status={"big": "x" * 50_000}, events=(), requeue_after=None)

    async def go() -> None:
        wakeups = Wakeups()
        with ThreadPoolExecutor(2) as pool:
            tasks = [asyncio.create_task(wakeups.in_pool(("UpliftModel", "ns", name), pool,
                                                         one_pass)) for name in ("a", "b")]
            for _ in tasks:  # both running in the pool when their tasks are cancelled
                await asyncio.get_running_loop().run_in_executor(None, started.acquire)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert len(wakeups._in_pool) == 2  # still running: kept for a successor to wait
        for _ in range(100):  # the pool's work done: dropped on the loop soon after
            if not wakeups._in_pool:
                break
            await asyncio.sleep(0.01)
        assert wakeups._in_pool == {}

    asyncio.run(go())


def test_a_pass_that_completes_leaves_its_successors_work_kept() -> None:
    """The old work's completion drops only itself, not the work of a later pass of the key."""

    async def go() -> None:
        wakeups = Wakeups()
        release = threading.Event()
        with ThreadPoolExecutor(2) as pool:
            first = asyncio.create_task(wakeups.in_pool(KEY, pool, lambda: time.sleep(0.1)))
            await asyncio.sleep(0.02)
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            second = asyncio.create_task(wakeups.in_pool(KEY, pool, lambda: release.wait(2)))
            await asyncio.sleep(0.3)  # the first one completed meanwhile
            assert KEY in wakeups._in_pool and not wakeups._in_pool[KEY].done()
            release.set()
            await second
        assert wakeups._in_pool == {}

    asyncio.run(go())
