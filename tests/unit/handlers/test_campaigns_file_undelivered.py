"""When a model's campaigns file stops being written, and when it is written again, the pass of
each of its Campaigns is woken (its status says whether its settings reach the runtime)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import kopf
import pytest
from tests.unit.handlers.test_campaigns_file_refused import FORBIDDEN, Refusing, running_file_task
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.adapters.kube import KubeError
from uplift_operator.domain.exposure import NotKnownYet
from uplift_operator.handlers import campaign, scheduling
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)


def test_the_campaigns_are_woken_when_the_file_fails_and_when_it_recovers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(kopf, "event", lambda *a, **k: None)
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body("a")),
                                             service.snapshot(campaign_body("b"))]}
    cluster = Refusing([KubeError(FORBIDDEN, 403)] * 2)
    files = service.FileDependencies(cluster)
    wakeups = Wakeups()
    woken: dict[str, int] = {"a": 0, "b": 0}
    flags = {name: wakeups.register((campaign.KIND, OWNER.namespace, name)) for name in woken}
    seen: list[str | NotKnownYet | None] = []

    async def go() -> None:
        async with running_file_task(model, index, files, wakeups):
            started = time.monotonic()
            while KEY not in cluster.objects or any(n < 2 for n in woken.values()):
                assert time.monotonic() - started < 10, (cluster.attempts, woken, seen)
                for name, flag in flags.items():
                    if flag.is_set():
                        woken[name] += 1
                        flag.clear()
                        seen.append(files.undelivered(OWNER.namespace, OWNER.name))
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.2)
            assert not any(flag.is_set() for flag in flags.values())  # said once each

    asyncio.run(go())
    assert cluster.attempts == 3 and woken == {"a": 2, "b": 2}
    assert isinstance(seen[0], str) and FORBIDDEN in seen[0]  # woken on the failure ...
    assert seen[-1] is None  # ... and on the recovery


@pytest.mark.parametrize("asked", [True, False])
def test_campaigns_that_asked_before_the_first_file_pass_are_woken_by_it(
        monkeypatch: pytest.MonkeyPatch, asked: bool) -> None:
    # After a restart a Campaign's pass may run before its model's first file pass: it keeps
    # its stored SettingsDelivered (not known yet), and is told what that pass found, even
    # when the file is written (nothing else would wake it). Unasked, a pass that finds the
    # file written wakes no one.
    monkeypatch.setattr(kopf, "event", lambda *a, **k: None)
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body("a"))]}
    cluster = Refusing([])
    files = service.FileDependencies(cluster)
    if asked:
        assert files.undelivered(OWNER.namespace, OWNER.name) is NotKnownYet.NOT_KNOWN_YET
    wakeups = Wakeups()
    flag = wakeups.register((campaign.KIND, OWNER.namespace, "a"))

    async def go() -> None:
        async with running_file_task(model, index, files, wakeups):
            started = time.monotonic()
            while KEY not in cluster.objects:
                assert time.monotonic() - started < 10
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.1)
            assert flag.is_set() is asked
            assert files.undelivered(OWNER.namespace, OWNER.name) is None

    asyncio.run(go())
