"""The alias polling task is supervised: an unexpected exception is logged and the polling started
again after a short wait, instead of ending it silently for the process's life (no follower of an
alias would have seen it move again until a restart). Cancelled at shutdown (``stop``), or ended
because its pool shut down, it is not started again."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from tests.unit.handlers.polling_harness import DEADLINE_SECONDS
from tests.unit.handlers.scripted_runs import ScriptedRuns
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.handlers import registry_polling
from uplift_operator.handlers.registry_polling import ALIAS_READERS, Readers, poll_aliases
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.handlers.watches import AliasFollowers
from uplift_operator.services.resolution import Resolver


class _Polling(ScriptedRuns):
    """``poll_aliases`` as told: each run raises, returns, or waits until cancelled."""

    def __init__(self, *runs: str) -> None:
        super().__init__(*runs, bug="a bug in the poller")

    async def __call__(self, *_: Any, **__: Any) -> None:
        await self.run()


def _memo() -> kopf.Memo:
    return kopf.Memo(wakeups=set(), alias_executor=None, alias_followers=object(),
                     uplift_dependencies=type("D", (), {"resolver": None})())


@pytest.fixture
def polling(monkeypatch: pytest.MonkeyPatch) -> _Polling:
    fake = _Polling("raise", "raise")
    monkeypatch.setattr(registry_polling, "poll_aliases", fake)
    monkeypatch.setattr(registry_polling, "alias_followers", lambda memo: memo["alias_followers"])
    return fake


async def _until(condition: Any, seconds: float = DEADLINE_SECONDS) -> None:
    """Wait for ``condition``; ``seconds`` bounds a failing run only (a loaded machine)."""
    give_up = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > give_up:
            raise AssertionError("not reached")
        await asyncio.sleep(0.005)


def test_a_polling_task_that_raises_is_logged_and_started_again(
        polling: _Polling, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        memo = _memo()
        registry_polling.start(memo, restart_after=0.01)
        task = memo["alias_polling"]
        await _until(lambda: polling.started == 3)  # raised twice, running the third time
        assert not task.done() and memo["alias_polling"] is task  # ``stop`` cancels this one
        stop: Any = registry_polling.stop  # the kopf cleanup handler, as kopf calls it
        await stop(memo=memo)
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and polling.cancelled == 1
        await asyncio.sleep(0.05)
        assert polling.started == 3  # cancelled at shutdown: not started again

    with caplog.at_level(logging.ERROR, logger=registry_polling.__name__):
        asyncio.run(scenario())
    failures = [r for r in caplog.records if "alias polling failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info is not None for r in failures)
    assert "a bug in the poller" in caplog.text


def test_a_restart_waits_its_back_off(polling: _Polling) -> None:
    async def scenario() -> None:
        memo = _memo()
        registry_polling.start(memo, restart_after=60)
        await _until(lambda: polling.started == 1)
        await asyncio.sleep(0.05)
        assert polling.started == 1  # waiting out its back-off, not spinning
        memo["alias_polling"].cancel()
        await asyncio.gather(memo["alias_polling"], return_exceptions=True)

    asyncio.run(scenario())


def test_polling_that_ends_is_not_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """``poll_aliases`` returns when its pool was shut down: the operator is stopping."""
    ends = _Polling("return")
    monkeypatch.setattr(registry_polling, "poll_aliases", ends)
    monkeypatch.setattr(registry_polling, "alias_followers", lambda memo: memo["alias_followers"])

    async def scenario() -> None:
        memo = _memo()
        registry_polling.start(memo, restart_after=0.01)
        await asyncio.wait_for(memo["alias_polling"], 1)
        await asyncio.sleep(0.05)
        assert ends.started == 1

    asyncio.run(scenario())



class _HeldRegistry(FakeRegistry):
    """Answers once ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.reads: list[str] = []

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self.reads.append(name)
        self.release.wait(10)
        return super().resolve(name, version, alias)


class _CountingPool(ThreadPoolExecutor):
    """The readers' pool, recording each alias read handed to it and how many were handed and
    not done at once (queued ones count: each is a read the poller let out)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers, thread_name_prefix="alias-read")
        self.lock = threading.Lock()
        self.handed: list[str] = []
        self.outstanding = self.most_outstanding = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.handed.append(args[0][1])  # Resolver.refresh(key, ...): the model's name
            self.outstanding += 1
            self.most_outstanding = max(self.most_outstanding, self.outstanding)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: self._done())
        return future

    def _done(self) -> None:
        with self.lock:
            self.outstanding -= 1


class _FailingOnce(AliasFollowers):
    """Followers whose second look raises: the poller dies with its first reads pending."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def intervals(self, live: Any = lambda _: True) -> Any:
        self.looks += 1
        if self.looks == 2:
            raise RuntimeError("a bug in the poller")
        return super().intervals(live)


def test_a_restarted_poller_counts_the_reads_its_predecessor_left_pending(
        caplog: pytest.LogCaptureFixture) -> None:
    """The reads the failed poller handed to the readers' pool are still there: the next one
    neither hands out an alias being read again nor more than ``ALIAS_READERS`` reads (it
    started with none counted, and queued a second read of each behind the first)."""
    registry, resolver, followers = _HeldRegistry(), Resolver(), _FailingOnce()
    count = ALIAS_READERS + 1
    read_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)  # every alias due
    wakeups = Wakeups()
    registry.release.set()
    for index in range(count):
        name = f"model-{index}"
        registry.add(name, "1")
        registry.aliases[(name, "champion")] = "1"
        ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        key = (("http://mlflow", "", ""), name, "champion")
        resolver.resolve(key[0], ref, registry, read_at)
        followers.follow(("UpliftModel", "ns", name), (key, dt.timedelta(seconds=30)))
        wakeups.register(("UpliftModel", "ns", name))
    registry.release.clear()
    registry.reads.clear()

    async def scenario() -> None:
        with _CountingPool(ALIAS_READERS) as readers:
            memo = kopf.Memo(wakeups=wakeups, alias_executor=readers, alias_followers=followers,
                             uplift_dependencies=type("D", (), {"resolver": resolver})())
            registry_polling.start(memo, restart_after=0.01)
            try:
                await _until(lambda: followers.looks >= 3)  # restarted, looked
                await asyncio.sleep(0.05)
                held = list(readers.handed)
                registry.release.set()
                await _until(lambda: len(registry.reads) >= count and not readers.outstanding)
            finally:
                registry.release.set()
                memo["alias_polling"].cancel()
                await asyncio.gather(memo["alias_polling"], return_exceptions=True)
        assert sorted(held) == [f"model-{index}" for index in range(ALIAS_READERS)]
        assert readers.most_outstanding == ALIAS_READERS  # the cap held across the restart
        # The one left waiting is read once a reader is free; none twice.
        assert sorted(readers.handed) == [f"model-{index}" for index in range(count)]

    with caplog.at_level(logging.ERROR, logger=registry_polling.__name__):
        asyncio.run(scenario())
    assert "alias polling failed" in caplog.text
    assert sorted(registry.reads) == [f"model-{index}" for index in range(count)]


def test_a_cancel_that_comes_as_a_read_ends_stops_the_poller() -> None:
    """``stop`` cancels the poller as a reader finishes (a loaded machine: the read's end and
    the cancel in one turn of the loop). ``asyncio.wait_for`` on Python 3.11 returned the
    finished wait instead of raising, so the cancel was lost: the poller went on looking,
    and a test awaiting it after ``cancel`` hung until its timeout."""

    async def scenario() -> bool:
        readers = Readers()
        with ThreadPoolExecutor(1) as pool:
            task = asyncio.create_task(poll_aliases(AliasFollowers(), Resolver(), pool,
                                                    lambda _: True, tick=60.0,
                                                    readers=readers))
            await asyncio.sleep(0.01)  # waiting for a reader or its next look
            readers.finished.set()  # a reader finished ...
            task.cancel()  # ... as the poller was cancelled
            await asyncio.wait({task}, timeout=5)
            stopped = task.done()
            if not stopped:  # do not leave it running
                task.cancel()
                await asyncio.wait({task}, timeout=5)
            return stopped and task.cancelled()

    assert asyncio.run(scenario())
