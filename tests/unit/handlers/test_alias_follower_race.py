"""A resource that starts following an alias while its only other follower leaves keeps the
client its pass left with the resolver: the alias is polled on, its moves seen. Before, the pass
resolved the alias (leaving its client) and only then registered as a follower, so the other
follower's leave, told in between, dropped the client: the alias was not read until the new
follower's next pass (the 10-minute resync)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter
from kopf._core.intents.stoppers import DaemonStopper
from tests.unit.handlers.test_task_end import MODEL_SPEC, STATUS, Cluster
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.handlers import upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.handlers.watches import alias_followers
from uplift_operator.services.common import PassResult
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import WriteBack

SCOPE = ("http://mlflow", "", "")
CHAMPION = (SCOPE, "churn", "champion")
A, B = (("UpliftModel", "ns", n) for n in "ab")
EVERY = dt.timedelta(seconds=30)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
REF = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion",
                                     "aliasRefreshInterval": "30s"})


def _registry() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("churn", "1")
    registry.aliases[("churn", "champion")] = "1"
    return registry


def test_a_follower_that_came_before_the_leave_was_told_keeps_the_client() -> None:
    """The leave is told outside the followers' lock: a new follower registered and resolved
    in between, and the resolver is told only then. It asks whether someone follows now."""
    registry, resolver = _registry(), Resolver()

    async def scenario() -> None:
        memo = kopf.Memo(wakeups=Wakeups(), uplift_dependencies=SimpleNamespace(
            resolver=resolver))
        followers = alias_followers(memo)
        resolver.resolve(SCOPE, REF, registry, T0)
        followers.follow(A, (CHAMPION, EVERY))

        def b_comes(alias: Any) -> None:  # B's pass, between A's leave and its telling
            followers.follow(B, (alias, EVERY))
            resolver.resolve(SCOPE, REF, registry, T0 + dt.timedelta(seconds=1))

        followers.abandoned.insert(0, b_comes)
        followers.forget(A)
        assert resolver.has_client(CHAMPION)
        registry.aliases[("churn", "champion")] = "2"
        registry.add("churn", "2")
        assert resolver.refresh(CHAMPION, EVERY, T0 + EVERY + dt.timedelta(seconds=1))
        followers.abandoned.remove(b_comes)
        followers.forget(B)  # the last one now: dropped
        assert not resolver.has_client(CHAMPION)

    asyncio.run(scenario())


def test_a_pass_follows_the_alias_before_it_resolves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the UpliftModel's waiting task: when its pass resolves the alias, the model
    follows it already, so a leave told meanwhile keeps the client that pass leaves."""
    seen: list[bool] = []
    key = ("UpliftModel", "ns", "r")

    def reconcile(snapshot: Any, deps: Any, now: Any, **_: Any) -> PassResult:
        seen.append(alias_followers(memo).followers(CHAMPION) == [key])
        return PassResult(dict(STATUS), (), None)

    service: Any = upliftmodel.service  # type: ignore[attr-defined]
    monkeypatch.setattr(service, "reconcile", reconcile)
    monkeypatch.setattr(service, "followed_alias", lambda *_: (CHAMPION, EVERY))
    monkeypatch.setattr(service, "followed_versions", lambda *_: frozenset())
    body = kopf.Body(cast(kopf.RawBody, {"metadata": {"name": "r", "namespace": "ns",
                                                      "uid": "u1", "resourceVersion": "1"},
                                         "spec": MODEL_SPEC}))
    stopper = DaemonStopper()
    memo: kopf.Memo

    async def run() -> None:
        nonlocal memo
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            passes = PassRunner("UpliftModel", "upliftmodels", wakeups, pool, Cluster())
            memo = kopf.Memo(wakeups=wakeups, pass_runner_UpliftModel=passes,
                             uplift_dependencies=SimpleNamespace(
                                 resolver=Resolver(), unresolved=FailingSince(),
                                 decision_keys={}, decision_keys_recreated={},
                                 unwritten={}, unwritten_lock=threading.Lock(),
                                 write_back=WriteBack()))
            task = asyncio.create_task(upliftmodel.reconcile(body=body, memo=memo,
                                                             stopped=AsyncFlagWaiter(stopper)))
            for _ in range(300):
                if seen:
                    break
                await asyncio.sleep(0.01)
            stopper.set(reason=kopf.DaemonStoppingReason.OPERATOR_PAUSING)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert seen and all(seen)


def test_an_aliases_lock_outlives_its_forgetting_while_a_read_holds_it() -> None:
    """Forgotten while a read of it is under way, the alias keeps its lock for that read: a
    read starting next waits for it instead of taking a new lock and reading alongside."""
    resolver = Resolver()
    started, release = threading.Event(), threading.Event()
    reading, most = [0], [0]

    class _Slow(FakeRegistry):
        def resolve(self, name: str, version: str | None = None,
                    alias: str | None = None) -> Any:
            reading[0] += 1
            most[0] = max(most[0], reading[0])
            started.set()
            release.wait(5)
            reading[0] -= 1
            return super().resolve(name, version, alias)

    registry = _Slow()
    registry.add("churn", "1")
    registry.aliases[("churn", "champion")] = "1"
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(resolver.resolve, SCOPE, REF, registry, T0)
        assert started.wait(5)
        resolver.forget_alias(CHAMPION)
        second = pool.submit(resolver.resolve, SCOPE, REF, registry, T0)
        threading.Event().wait(0.2)
        release.set()
        assert first.result(5).ok and second.result(5).ok
    assert most[0] == 1
    resolver.forget_alias(CHAMPION)
    assert CHAMPION not in resolver._alias_locks  # none left once nobody holds it
