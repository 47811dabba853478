"""The alias poller sweeps a registry when that asks MLflow fewer requests: 2,000 aliases on
one server cost 2 requests a round (two pages of 1,000 models) and one read per alias that
moved, instead of 2,000 reads; a large registry followed by a few aliases keeps its reads; a
sweep takes one reader and the aliases it hands back are read at once, not at the next look.
A fake registry counts the requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.unit.handlers.polling_harness import step_clock, until_idle, watched
from tests.unit.handlers.test_alias_polling_cap import EVERY, SCOPE, T0, _followed
from tests.unit.services.fakes import FakeRegistry, ListingRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.alias_sweep import AliasListing
from uplift_operator.handlers.registry_polling import ALIAS_READERS, Readers, poll_aliases
from uplift_operator.handlers.watches import AliasFollowers
from uplift_operator.services.resolution import AliasKey, Resolver

#: Every alias of ``_followed`` (up to 2,000, first read a second apart) due, and none read by
#: itself longer ago than sweeps vouch for it (``own_read_due``: 45 minutes at the least).
ROUND = T0 + dt.timedelta(minutes=40)


def _round(followers: AliasFollowers, resolver: Resolver, registry: FakeRegistry,
           at: dt.datetime, *, tick: float = 0.01, in_flight: int = ALIAS_READERS,
           quiet_looks: int = 3) -> int:
    """Run the poller with its clock at ``at`` until it is idle, nothing in flight or waiting,
    ``quiet_looks`` looks after it last asked MLflow anything (``polling_harness.until_idle``:
    looks the poller ran, not wall seconds); the requests it made."""
    before = registry.calls

    async def scenario() -> None:
        readers = Readers()
        with ThreadPoolExecutor(in_flight) as pool, watched(resolver) as looks:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    tick=tick, clock=lambda: at,
                                                    in_flight=in_flight, readers=readers))
            try:
                await until_idle(readers, looks, lambda: registry.calls,
                                 quiet_looks=quiet_looks)
            finally:
                task.cancel()

    asyncio.run(scenario())
    return registry.calls - before


def _told(resolver: Resolver) -> list[AliasKey]:
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    return told


def test_two_thousand_aliases_on_one_server_cost_two_requests_a_round_not_two_thousand() -> None:
    plain, resolver = FakeRegistry(), Resolver()
    followers, _ = _followed(2_000, plain, resolver)
    assert _round(followers, resolver, plain, ROUND) == 2_000

    registry, resolver = ListingRegistry(page_size=1_000), Resolver()
    followers, keys = _followed(2_000, registry, resolver)
    told = _told(resolver)
    for key in keys[100:110]:
        registry.add(key[1], "2")
        registry.aliases[(key[1], "champion")] = "2"
    first = ROUND
    assert _round(followers, resolver, registry, first) == 2 + 10  # two pages, ten reads
    assert registry.pages_listed == 2
    assert sorted(told) == sorted(keys[100:110])  # exactly the moved aliases' followers
    assert all(resolver.next_refresh(key, EVERY) > first for key in keys)  # all refreshed
    # The next round, nothing moved: the two pages only.
    assert _round(followers, resolver, registry, first + EVERY) == 2
    assert len(told) == 10


def test_a_large_registry_followed_by_a_few_aliases_keeps_its_reads() -> None:
    """100,000 models: 3 followed aliases are read one by one, never swept (100 pages)."""
    registry, resolver = ListingRegistry(page_size=1_000, other_models=100_000), Resolver()
    followers, _ = _followed(3, registry, resolver)
    assert _round(followers, resolver, registry, ROUND) == 3
    assert registry.pages_listed == 0


def test_a_failing_sweep_falls_back_to_the_reads_in_the_same_round() -> None:
    registry, resolver = ListingRegistry(listing_fails=True), Resolver()
    followers, keys = _followed(20, registry, resolver)
    at = ROUND
    assert _round(followers, resolver, registry, at) == 1 + 20  # the failed page, the reads
    assert all(resolver.next_refresh(key, EVERY) > at for key in keys)
    # Not tried again before SWEEP_RETRY_AFTER: 20 reads.
    assert _round(followers, resolver, registry, at + EVERY) == 20


def test_the_probe_a_failed_sweep_hands_back_is_read_when_a_look_comes_first() -> None:
    """A tick of 0: a look comes before every hand-out, as one comes before the probe on a
    loaded machine when the failed sweep ended after the look was due. The look plans afresh
    what waits for a reader: it dropped the probe (the failed sweep counted as one sent), and
    the round ended with the failed page alone, the aliases read an interval later."""
    registry, resolver = ListingRegistry(listing_fails=True), Resolver()
    followers, keys = _followed(20, registry, resolver)
    assert _round(followers, resolver, registry, ROUND, tick=0.0) == 1 + 20
    assert all(resolver.next_refresh(key, EVERY) > ROUND for key in keys)


class _SlowListing(ListingRegistry):
    """Every request (a read, a page) takes ``latency`` seconds; counts those at once."""

    latency: float = 0.02
    lock = threading.Lock()
    now_asking = most_at_once = 0

    def _asking(self, delta: int) -> None:
        with self.lock:
            self.now_asking += delta
            self.most_at_once = max(self.most_at_once, self.now_asking)

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self._asking(1)
        try:
            time.sleep(self.latency)
            return super().resolve(name, version, alias)
        finally:
            self._asking(-1)

    def registered_aliases(self, max_pages: int | None = None) -> AliasListing:
        self._asking(1)
        try:
            time.sleep(self.latency)
            return super().registered_aliases(max_pages)
        finally:
            self._asking(-1)


def test_a_sweep_takes_one_reader_and_what_it_hands_back_is_read_before_the_next_look() -> None:
    registry, resolver = _SlowListing(), Resolver()
    followers, keys = _followed(30, registry, resolver)
    told = _told(resolver)
    for key in keys[:6]:
        registry.add(key[1], "2")
        registry.aliases[(key[1], "champion")] = "2"
    registry.most_at_once = 0
    started = time.monotonic()
    # One look only (a tick of 60 s): the six reads come from the sweep's hand-back.
    requests = _round(followers, resolver, registry, ROUND,
                      tick=60.0, in_flight=2, quiet_looks=0)
    assert requests == 1 + 6
    assert sorted(told) == sorted(keys[:6])
    assert registry.most_at_once == 2  # the cap holds, the sweep counted as one reader
    assert time.monotonic() - started < 5.0


class _Timed(ListingRegistry):
    """Records when (on the poller's clock) each request was made."""

    clock: Any = None
    asked: list[dt.datetime]

    def _check(self) -> None:
        super()._check()
        if self.clock is not None:
            self.asked.append(self.clock())


def test_aliases_first_read_at_different_moments_come_to_share_one_sweep() -> None:
    """2,000 aliases first read over 40 s (start-up passes, new followers), each refreshed
    every minute: once their groups merged (one round), a minute costs the two pages of one
    sweep, not a sweep per second's group (80 requests a minute) nor 2,000 reads. The poller's
    clock moves on a second once it looked and its reads ended (``step_clock``: a look a
    second, MLflow answering at once), not at 100 times the wall's: on a loaded machine that
    skipped seconds and left sweeps in flight for many of them."""
    registry, resolver, followers = _Timed(page_size=1_000), Resolver(), AliasFollowers()
    registry.asked = []
    every = dt.timedelta(minutes=1)
    for index in range(2_000):
        name = f"model-{index:04d}"
        registry.add(name, "1")
        registry.aliases[(name, "champion")] = "1"
        key = (SCOPE, name, "champion")
        ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "1m"})
        resolver.resolve(SCOPE, ref, registry, T0 + dt.timedelta(seconds=index * 0.02))
        followers.follow(("UpliftModel", "ns", name), (key, every))
    registry.asked.clear()
    start = T0 + every
    clock = [start]
    registry.clock = lambda: clock[0]
    end = start + dt.timedelta(minutes=4)

    async def scenario() -> None:
        readers = Readers()
        with ThreadPoolExecutor(ALIAS_READERS) as pool, watched(resolver) as looks:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    tick=0.005, clock=lambda: clock[0],
                                                    readers=readers))
            try:
                await step_clock(clock, end, dt.timedelta(seconds=1), readers, looks,
                                 lambda: registry.calls)
            finally:
                task.cancel()

    asyncio.run(scenario())
    assert not any(resolver.next_refresh(key, interval) < end - dt.timedelta(seconds=5)
                   for key, interval in followers.intervals(lambda _: True).items())
    last_two_minutes = [at for at in registry.asked if at >= end - 2 * every]
    # One sweep (2 pages) a minute; at most two sweeps an interval as the groups settle.
    assert len(last_two_minutes) <= 2 * 2 * 2
    assert 2 <= len([at for at in registry.asked if at >= end - every]) <= 4
