"""A registry whose search pages are slow is not swept once a sweep of it took longer than
the reads it replaces: its aliases, in flight for the whole listing, were told a move only
when the last page came (up to 50 pages of 30 s). Its aliases are read one by one instead."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.unit.handlers.test_alias_polling_cap import EVERY, T0, _followed
from tests.unit.services.fakes import ListingRegistry

from uplift_operator.domain.alias_sweep import AliasListing
from uplift_operator.handlers.registry_polling import poll_aliases
from uplift_operator.services.resolution import AliasKey, Resolver

ROUND = T0 + dt.timedelta(minutes=40)


class SlowPages(ListingRegistry):
    """Alias reads answer in 5 ms, search pages in 150 ms."""

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        time.sleep(0.005)
        return super().resolve(name, version, alias)

    def registered_aliases(self, max_pages: int | None = None) -> AliasListing:
        listing = super().registered_aliases(max_pages)
        time.sleep(0.15 * listing.pages)
        return listing


def _time_to_tell(registry: SlowPages, resolver: Resolver, followers: Any, moved: AliasKey,
                  at: dt.datetime) -> float:
    told: dict[AliasKey, float] = {}
    start = time.monotonic()

    def tell(key: AliasKey) -> None:
        told.setdefault(key, time.monotonic() - start)

    resolver.moved.append(tell)

    async def scenario() -> None:
        with ThreadPoolExecutor(4) as pool:
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True,
                                                    tick=0.01, clock=lambda: at, in_flight=4))
            while moved not in told and time.monotonic() - start < 20:
                await asyncio.sleep(0.01)
            task.cancel()

    asyncio.run(scenario())
    return told[moved]


def test_a_registry_whose_sweep_is_slower_than_its_reads_is_read_one_by_one() -> None:
    registry, resolver = SlowPages(page_size=1_000, other_models=20_000), Resolver()
    followers, keys = _followed(100, registry, resolver)
    # The first round sweeps (nothing known yet): 21 pages, ~3 s; 100 reads take ~0.13 s.
    first = keys[5]
    registry.add(first[1], "2")
    registry.aliases[(first[1], "champion")] = "2"
    assert _time_to_tell(registry, resolver, followers, first, ROUND) > 2.5
    assert registry.pages_listed == 21
    # From then on it is read alias by alias: a move is told within the reads' time (~0.07 s
    # idle), before a sweep could have told it (its 21 pages alone take 3.15 s; the bound
    # leaves a loaded machine room).
    moved = keys[50]
    registry.add(moved[1], "2")
    registry.aliases[(moved[1], "champion")] = "2"
    assert _time_to_tell(registry, resolver, followers, moved, ROUND + EVERY + EVERY) < 2.5
    assert registry.pages_listed == 21
