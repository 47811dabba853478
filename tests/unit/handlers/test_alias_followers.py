"""Who follows which alias; one poller reads each, and a move wakes exactly its followers."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import kopf
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.handlers.registry_polling import poll_aliases
from uplift_operator.handlers.scheduling import Key, Wakeups
from uplift_operator.handlers.watches import AliasFollowers, alias_followers
from uplift_operator.services.resolution import Resolver

CHAMPION = (("http://mlflow", "", ""), "churn", "champion")
CHALLENGER = (("http://mlflow", "", ""), "churn", "challenger")
A, B, C = (("UpliftModel", "ns", n) for n in "abc")
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_followers_by_alias_as_their_last_pass_found() -> None:
    followers = AliasFollowers()
    minute = dt.timedelta(minutes=1)
    followers.follow(A, (CHAMPION, minute))
    followers.follow(B, (CHAMPION, minute))
    followers.follow(C, (CHALLENGER, minute))
    assert followers.followers(CHAMPION) == [A, B]
    followers.follow(B, (CHALLENGER, minute))  # its spec moved to another alias
    followers.follow(C, None)  # pinned to a version now
    assert followers.followers(CHAMPION) == [A] and followers.followers(CHALLENGER) == [B]
    followers.forget(A)
    assert followers.followers(CHAMPION) == []


def test_the_resolver_telling_of_a_move_wakes_its_followers_only() -> None:
    async def scenario() -> tuple[bool, bool]:
        resolver, wakeups = Resolver(), Wakeups()
        memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=type("D", (), {
            "resolver": resolver})())
        followers = alias_followers(memo)
        assert alias_followers(memo) is followers and len(resolver.moved) == 1
        followers.follow(A, (CHAMPION, dt.timedelta(minutes=1)))
        followers.follow(B, (CHALLENGER, dt.timedelta(minutes=1)))
        flag_a, flag_b = wakeups.register(A), wakeups.register(B)
        await asyncio.to_thread(resolver.moved[0], CHAMPION)  # told from a pass thread
        await asyncio.sleep(0.01)
        return flag_a.is_set(), flag_b.is_set()

    assert asyncio.run(scenario()) == (True, False)


def test_the_shortest_interval_of_the_live_followers_is_the_aliases() -> None:
    followers = AliasFollowers()
    followers.follow(A, (CHAMPION, dt.timedelta(minutes=1)))
    followers.follow(B, (CHAMPION, dt.timedelta(seconds=10)))
    followers.follow(C, (CHALLENGER, dt.timedelta(minutes=5)))
    assert followers.intervals() == {CHAMPION: dt.timedelta(seconds=10),
                                     CHALLENGER: dt.timedelta(minutes=5)}
    # Only aliases with a follower whose waiting task runs (a paused replica reads nothing).
    assert followers.intervals(lambda key: key == C) == {CHALLENGER: dt.timedelta(minutes=5)}
    followers.forget(C)
    followers.follow(B, (CHAMPION, dt.timedelta(minutes=1)))  # its spec asks less often now
    assert followers.intervals() == {CHAMPION: dt.timedelta(minutes=1)}
    followers.forget(A)
    followers.forget(B)
    assert followers.intervals() == {} and followers.followers(CHAMPION) == []


def test_one_poller_reads_each_followed_alias_once_per_interval_and_wakes_its_followers() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    for version in ("1", "2"):
        registry.add("churn", version)
    registry.aliases[("churn", "champion")] = registry.aliases[("churn", "challenger")] = "1"
    every = dt.timedelta(seconds=30)
    clock = [T0]

    async def scenario() -> tuple[list[set[Key]], int]:
        wakeups = Wakeups()
        memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=type("D", (), {
            "resolver": resolver})())
        followers = alias_followers(memo)  # a move wakes the followers
        for key, alias in ((A, CHAMPION), (B, CHAMPION), (C, CHALLENGER)):
            ref = ModelReference.model_validate({"registeredModel": "churn", "alias": alias[2],
                                                 "aliasRefreshInterval": "30s"})
            resolver.resolve(alias[0], ref, registry, T0)  # each follower's first pass
            followers.follow(key, (alias, every))
        first_reads = registry.calls
        flags = {key: wakeups.register(key) for key in (A, B, C)}
        woken: list[set[Key]] = []
        with ThreadPoolExecutor(2) as pool:
            task = asyncio.create_task(poll_aliases(
                followers, resolver, pool, wakeups.__contains__, tick=0.01,
                clock=lambda: clock[0]))
            for step in range(1, 4):
                if step == 2:
                    registry.aliases[("churn", "champion")] = "2"
                clock[0] = T0 + step * every
                await asyncio.sleep(0.2)  # many ticks: each due alias is still read once
                woken.append({key for key, flag in flags.items() if flag.is_set()})
                for flag in flags.values():
                    flag.clear()
            task.cancel()
        return woken, registry.calls - first_reads

    woken, reads = asyncio.run(scenario())
    assert woken == [set(), {A, B}, set()]  # the moved alias's followers, once
    assert reads == 2 * 3  # two aliases, one read each per interval, for three intervals


def test_an_alias_without_a_running_follower_is_not_read() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("churn", "1")
    registry.aliases[("churn", "champion")] = "1"
    ref = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion"})
    resolver.resolve(CHAMPION[0], ref, registry, T0)
    followers = AliasFollowers()
    followers.follow(A, (CHAMPION, dt.timedelta(seconds=30)))
    before = registry.calls

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            task = asyncio.create_task(poll_aliases(
                followers, resolver, pool, lambda _key: False, tick=0.01,
                clock=lambda: T0 + dt.timedelta(hours=1)))
            await asyncio.sleep(0.1)
            task.cancel()

    asyncio.run(scenario())
    assert registry.calls == before


def test_an_alias_its_last_follower_left_is_forgotten_by_the_resolver() -> None:
    """A registry's aliases come and go with the resources following them: the resolver
    keeps an alias's answer, failure and client (with its credentials) only while followed."""
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("churn", "1")
    registry.aliases[("churn", "champion")] = "1"
    every = dt.timedelta(seconds=30)

    async def scenario() -> None:
        memo = kopf.Memo(wakeups=Wakeups(), uplift_dependencies=type("D", (), {
            "resolver": resolver})())
        followers = alias_followers(memo)
        ref = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        resolver.resolve(CHAMPION[0], ref, registry, T0)
        followers.follow(A, (CHAMPION, every))
        followers.follow(B, (CHAMPION, every))
        followers.forget(A)
        assert resolver.refresh(CHAMPION, every, T0 + every)  # B still follows it
        followers.follow(B, (CHAMPION, every))  # its pass again: nothing is dropped
        assert resolver.next_refresh(CHAMPION, every) == T0 + 2 * every
        followers.forget(B)
        assert not resolver.refresh(CHAMPION, every, T0 + 10 * every)  # no client kept
        assert resolver.next_refresh(CHAMPION, every) == dt.datetime.min.replace(tzinfo=dt.UTC)

    asyncio.run(scenario())
