"""A moved alias wakes exactly the UpliftModels that follow it."""

from __future__ import annotations

import asyncio

import kopf

from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.handlers.watches import AliasFollowers, alias_followers
from uplift_operator.services.resolution import Resolver

CHAMPION = (("http://mlflow", "", ""), "churn", "champion")
CHALLENGER = (("http://mlflow", "", ""), "churn", "challenger")
A, B, C = (("UpliftModel", "ns", n) for n in "abc")


def test_followers_by_alias_as_their_last_pass_found() -> None:
    followers = AliasFollowers()
    followers.follow(A, CHAMPION)
    followers.follow(B, CHAMPION)
    followers.follow(C, CHALLENGER)
    assert followers.followers(CHAMPION) == [A, B]
    followers.follow(B, CHALLENGER)  # its spec moved to another alias
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
        followers.follow(A, CHAMPION)
        followers.follow(B, CHALLENGER)
        flag_a, flag_b = wakeups.register(A), wakeups.register(B)
        await asyncio.to_thread(resolver.moved[0], CHAMPION)  # told from a pass thread
        await asyncio.sleep(0.01)
        return flag_a.is_set(), flag_b.is_set()

    assert asyncio.run(scenario()) == (True, False)
