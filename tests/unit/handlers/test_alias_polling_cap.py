"""The alias poller reads MLflow on threads of its own, a few at a time, the most overdue first:
a poller that falls behind (many aliases, a slow MLflow) reads the aliases later than their
interval and never makes a pass wait for a pass-pool thread (it put every due alias on that
pool at once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from tests.unit.handlers.polling_harness import (
    DEADLINE_SECONDS,
    step_clock,
    until_idle,
    watched,
)
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.handlers import registry_polling
from uplift_operator.handlers.registry_polling import (
    ALIAS_READERS,
    Readers,
    due_and_early,
    poll_aliases,
)
from uplift_operator.handlers.scheduling import Key, Wakeups
from uplift_operator.handlers.watches import AliasFollowers
from uplift_operator.services.resolution import AliasKey, Resolver

SCOPE = ("http://mlflow", "", "")
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EVERY = dt.timedelta(seconds=30)


class SlowRegistry(FakeRegistry):
    """Answers after ``latency`` seconds; counts the reads in flight at once and their
    threads."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency
        self.lock = threading.Lock()
        self.now_reading = self.most_at_once = 0
        self.order: list[str] = []
        self.threads: set[str] = set()

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        with self.lock:
            self.now_reading += 1
            self.most_at_once = max(self.most_at_once, self.now_reading)
            self.order.append(name)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.latency)
            return super().resolve(name, version, alias)
        finally:
            with self.lock:
                self.now_reading -= 1


def _followed(count: int, registry: FakeRegistry, resolver: Resolver,
              followers: AliasFollowers | None = None,
              ) -> tuple[AliasFollowers, list[AliasKey]]:
    """``count`` aliases, each followed by one model, the first read longest ago."""
    followers, keys = followers or AliasFollowers(), []
    for index in range(count):
        name = f"model-{index:02d}"
        registry.add(name, "1")
        registry.aliases[(name, "champion")] = "1"
        key = (SCOPE, name, "champion")
        ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        # model-00 read first (the most overdue at T0 + EVERY + ...), model-09 last.
        resolver.resolve(SCOPE, ref, registry, T0 + dt.timedelta(seconds=index))
        followers.follow(("UpliftModel", "ns", name), (key, EVERY))
        keys.append(key)
    return followers, keys


def test_the_most_overdue_alias_comes_first() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    _, keys = _followed(3, registry, resolver)
    followed = {keys[2]: EVERY, keys[0]: EVERY, keys[1]: EVERY}
    at = T0 + EVERY + dt.timedelta(seconds=1.5)  # model-00 and model-01 due, model-02 not
    due, _early = due_and_early(followed, resolver, at)
    assert [alias for alias, _ in due] == [keys[0], keys[1]]


def test_at_most_in_flight_reads_at_once_the_rest_later_none_lost(
        caplog: pytest.LogCaptureFixture) -> None:
    registry, resolver = SlowRegistry(latency=0.05), Resolver()
    followers, _ = _followed(10, registry, resolver)
    registry.order.clear()
    before = registry.calls
    later = T0 + EVERY + dt.timedelta(seconds=20)  # every alias due

    async def scenario() -> None:
        readers = Readers()
        with ThreadPoolExecutor(8, thread_name_prefix="readers") as pool, \
                watched(resolver) as looks:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    tick=0.01, clock=lambda: later,
                                                    in_flight=2, readers=readers))
            try:
                # Many more looks once idle: nothing read twice, and "caught up" said.
                await until_idle(readers, looks, lambda: registry.calls, quiet_looks=10)
            finally:
                task.cancel()

    with caplog.at_level(logging.INFO, logger=registry_polling.__name__):
        asyncio.run(scenario())
    assert registry.calls - before == 10  # each due alias read once
    assert registry.most_at_once == 2  # on a pool of 8: the cap, not the pool, bounds it
    assert registry.order[:2] == ["model-00", "model-01"]  # the most overdue first
    assert caplog.text.count("alias reads fall behind: 8 due aliases wait for one of 2 "
                             "readers") == 1
    assert caplog.text.count("alias reads caught up") == 1


def test_the_poller_reads_on_its_own_pool_and_leaves_the_pass_pool_alone() -> None:
    """``start`` hands the poller ``memo["alias_executor"]``: no read runs on a pass thread."""
    registry, resolver = SlowRegistry(latency=0.01), Resolver()
    followers, _ = _followed(6, registry, resolver)  # all due: read at T0 + seconds, long ago
    registry.threads.clear()
    before = registry.calls
    wakeups = Wakeups()
    for index in range(6):
        wakeups.register(("UpliftModel", "ns", f"model-{index:02d}"))

    async def scenario() -> None:
        with ThreadPoolExecutor(2, thread_name_prefix="pass") as passes, \
                ThreadPoolExecutor(2, thread_name_prefix="alias-read") as readers:
            memo = kopf.Memo(wakeups=wakeups, pass_executor=passes, alias_executor=readers,
                             alias_followers=followers,
                             uplift_dependencies=type("D", (), {"resolver": resolver})())
            registry_polling.start(memo)
            give_up = asyncio.get_running_loop().time() + DEADLINE_SECONDS
            try:
                while registry.calls - before < 6 and asyncio.get_running_loop().time() < give_up:
                    await asyncio.sleep(0.01)
            finally:
                memo["alias_polling"].cancel()

    asyncio.run(scenario())
    assert registry.calls - before == 6
    assert registry.threads and all(name.startswith("alias-read") for name in registry.threads)


class _RecordingResolver(Resolver):
    """Records every alias the poller hands to ``refresh``: a reader it took."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[AliasKey] = []

    def refresh(self, key: AliasKey, interval: dt.timedelta, now: dt.datetime,
                ahead: dt.timedelta = dt.timedelta(0)) -> bool:
        self.handed.append(key)
        return super().refresh(key, interval, now, ahead)


def test_aliases_without_a_client_take_no_reader_and_hold_back_no_other_alias(
        caplog: pytest.LogCaptureFixture) -> None:
    """Four aliases whose followers' credentials Secret is missing (their pass forgot the
    client) are never read: they stayed the most overdue and took all four readers at every
    look, and the healthy aliases were read once, then never again."""
    registry, resolver = SlowRegistry(latency=0.001), _RecordingResolver()
    followers, keys = _followed(10, registry, resolver)
    healthy, client_less = keys[:6], keys[6:]
    for key in client_less:
        resolver.forget_client(key)  # as services.upliftmodel does when it cannot build one
    registry.order.clear()
    clock = [T0]

    async def scenario() -> None:
        readers = Readers()
        with ThreadPoolExecutor(ALIAS_READERS) as pool, watched(resolver) as looks:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    tick=0.005, clock=lambda: clock[0],
                                                    readers=readers))
            try:
                # 120 s of the aliases' time, 4 intervals of 30 s: a look a second, each once
                # the poller looked and its reads ended (not a second per 20 ms of the wall's).
                await step_clock(clock, T0 + dt.timedelta(seconds=120), dt.timedelta(seconds=1),
                                 readers, looks, lambda: registry.calls)
            finally:
                task.cancel()

    with caplog.at_level(logging.INFO, logger=registry_polling.__name__):
        asyncio.run(scenario())
    assert not set(client_less) & set(resolver.handed)
    for key in healthy:  # read at 30, 60, 90 and 120 s after their first read
        assert registry.order.count(key[1]) >= 3, registry.order
    assert "fall behind" not in caplog.text
    assert resolver.has_client(healthy[0]) and not resolver.has_client(client_less[0])


class _CountedLooks(AliasFollowers):
    """Counts the poller's looks for due aliases (one a tick)."""

    looks = 0

    def intervals(self, live: Callable[[Key], bool] = lambda _: True,
                  ) -> dict[AliasKey, dt.timedelta]:
        self.looks += 1
        return super().intervals(live)


def test_a_reader_that_finishes_takes_the_next_due_alias_before_the_next_look() -> None:
    """With the default tick (a look a second), 40 due aliases answered in 10 ms are read in
    a fraction of a second, at most ``ALIAS_READERS`` at once: the readers were handed new
    aliases only at a look, ``ALIAS_READERS`` reads a second however fast MLflow answered.
    Each read is stamped with the moment it was handed out, not with its look."""
    registry, resolver = SlowRegistry(latency=0.01), Resolver()
    followers = _CountedLooks()
    _, keys = _followed(40, registry, resolver, followers)
    ticks = [0]

    def clock() -> dt.datetime:  # a second later at each call
        ticks[0] += 1
        return T0 + EVERY + dt.timedelta(seconds=60 + ticks[0])

    before = registry.calls

    async def scenario() -> int:
        with ThreadPoolExecutor(ALIAS_READERS) as pool:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    clock=clock))
            give_up = asyncio.get_running_loop().time() + DEADLINE_SECONDS
            while registry.calls - before < 40 and asyncio.get_running_loop().time() < give_up:
                await asyncio.sleep(0.01)
            looked = followers.looks
            task.cancel()
        return looked

    looked = asyncio.run(scenario())
    reads = registry.calls - before
    assert reads == 40
    assert reads > ALIAS_READERS * looked  # not ALIAS_READERS a look (a second)
    assert registry.most_at_once <= ALIAS_READERS
    stamps = {resolver.next_refresh(key, EVERY) - EVERY for key in keys}
    assert len(stamps) == 40  # each at its own clock() reading, not one per look
