"""The alias poller reads the versions resources follow (pinned, stable, canary) again, each
once however many follow it, about once an hour, with readers the aliases leave free; a read
that finds a version deleted wakes its followers (``registry_polling.start`` wires
``Resolver.versions_moved`` to the wake-up flags), which run no pass at rest otherwise."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from tests.unit.handlers.polling_harness import DEADLINE_SECONDS
from tests.unit.handlers.test_alias_polling_cap import EVERY, SCOPE, T0, _followed
from tests.unit.handlers.test_alias_polling_sweep import _round
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.alias_sweep import SWEEP_VOUCH_LIMIT
from uplift_operator.handlers import registry_polling
from uplift_operator.handlers.scheduling import Key, Wakeups
from uplift_operator.handlers.watches import AliasFollowers
from uplift_operator.services.resolution import Resolver

HOUR_ON = T0 + SWEEP_VOUCH_LIMIT


def _pinning(registry: FakeRegistry, resolver: Resolver, count: int) -> list[Key]:
    """``count`` resources pinned to version 1 or 2 of ``pinned``, resolved at T0."""
    registry.add("pinned", "1")
    registry.add("pinned", "2")
    keys: list[Key] = []
    for index in range(count):
        version = str(index % 2 + 1)
        ref = ModelReference.model_validate({"registeredModel": "pinned", "version": version})
        assert resolver.resolve(SCOPE, ref, registry, T0).ok
        key = ("UpliftModel", "ns", f"pinned-{index}")
        resolver.follow_versions(key, [(SCOPE, "pinned", version)])
        keys.append(key)
    resolver.due_versions(T0)  # the poller's first look saw them
    return keys


def test_the_poller_reads_each_followed_version_once_an_hour() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    _pinning(registry, resolver, 500)
    followers = AliasFollowers()
    assert _round(followers, resolver, registry, T0 + dt.timedelta(minutes=30)) == 0
    # Before: never; now one read per version for the 500 followers.
    assert _round(followers, resolver, registry, HOUR_ON) == 2
    assert _round(followers, resolver, registry, HOUR_ON + dt.timedelta(minutes=1)) == 0


class _Recording(FakeRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self.order.append(name)
        return super().resolve(name, version, alias)


def test_versions_wait_behind_the_aliases_due() -> None:
    registry, resolver = _Recording(), Resolver()
    followers, _ = _followed(6, registry, resolver)
    _pinning(registry, resolver, 2)
    registry.order.clear()
    assert _round(followers, resolver, registry, HOUR_ON, in_flight=1) == 6 + 2
    assert registry.order[-2:] == ["pinned", "pinned"]  # every alias read first


def test_a_version_found_deleted_wakes_its_followers(monkeypatch: pytest.MonkeyPatch) -> None:
    registry, resolver = FakeRegistry(), Resolver()
    keys = _pinning(registry, resolver, 2)
    wakeups = Wakeups()
    flags = {key: wakeups.register(key) for key in keys}
    registry.delete_model("pinned")
    clock = [HOUR_ON]

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as readers:
            memo = kopf.Memo(wakeups=wakeups, alias_executor=readers,
                             alias_followers=AliasFollowers(),
                             uplift_dependencies=type("D", (), {"resolver": resolver})())
            original = registry_polling.poll_aliases

            async def polling(*args: Any, **kwargs: Any) -> None:
                await original(*args, clock=lambda: clock[0], tick=0.01, **kwargs)

            monkeypatch.setattr(registry_polling, "poll_aliases", polling)
            try:
                registry_polling.start(memo)
                give_up = asyncio.get_running_loop().time() + DEADLINE_SECONDS
                while not all(flag.is_set() for flag in flags.values()) \
                        and asyncio.get_running_loop().time() < give_up:
                    await asyncio.sleep(0.01)
            finally:
                memo["alias_polling"].cancel()

    asyncio.run(scenario())
    assert all(flag.is_set() for flag in flags.values())
    ref = ModelReference.model_validate({"registeredModel": "pinned", "version": "1"})
    assert resolver.resolve(SCOPE, ref, registry, HOUR_ON + EVERY).reason == cond.MODEL_NOT_FOUND
