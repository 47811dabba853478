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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.handlers import registry_polling
from uplift_operator.handlers.registry_polling import due_aliases, poll_aliases
from uplift_operator.handlers.scheduling import Wakeups
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


def _followed(count: int, registry: FakeRegistry,
              resolver: Resolver) -> tuple[AliasFollowers, list[AliasKey]]:
    """``count`` aliases, each followed by one model, the first read longest ago."""
    followers, keys = AliasFollowers(), []
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
    assert [alias for alias, _ in due_aliases(followed, resolver, at)] == [keys[0], keys[1]]


def test_at_most_in_flight_reads_at_once_the_rest_later_none_lost(
        caplog: pytest.LogCaptureFixture) -> None:
    registry, resolver = SlowRegistry(latency=0.05), Resolver()
    followers, _ = _followed(10, registry, resolver)
    registry.order.clear()
    before = registry.calls
    later = T0 + EVERY + dt.timedelta(seconds=20)  # every alias due

    async def scenario() -> None:
        with ThreadPoolExecutor(8, thread_name_prefix="readers") as pool:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    tick=0.01, clock=lambda: later,
                                                    in_flight=2))
            for _ in range(300):
                await asyncio.sleep(0.02)
                if registry.calls - before == 10 and registry.now_reading == 0:
                    break
            await asyncio.sleep(0.1)  # many more ticks: nothing read twice
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
            try:
                for _ in range(300):
                    await asyncio.sleep(0.01)
                    if registry.calls - before == 6:
                        break
            finally:
                memo["alias_polling"].cancel()

    asyncio.run(scenario())
    assert registry.calls - before == 6
    assert registry.threads and all(name.startswith("alias-read") for name in registry.threads)
