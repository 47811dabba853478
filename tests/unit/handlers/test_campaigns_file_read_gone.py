"""A Campaign its own pass read back gone (404: ``Wakeups.gone``) leaves its model's campaigns
file at once, although kopf's index keeps it until its DELETED event, which a watch gap never
brings: without this it stayed active in the file until the existence audit's exit, two
audits (10 to 25 minutes) later."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, campaign_body

from uplift_operator.handlers import campaign
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)


def _snapshot(name: str, uid: str) -> dict[str, Any]:
    body = campaign_body(name, percent=50, phase="Healthy")
    body["metadata"]["uid"] = uid
    return service.snapshot(body)


def _names(cluster: FakeCluster) -> set[str]:
    return set(json.loads(cluster.objects[KEY]["data"]["campaigns.json"])["campaigns"])


def test_a_campaign_read_back_gone_leaves_the_file_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    cluster = FakeCluster()
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    # kopf's index: it keeps both, the deleted one's DELETED event lost in a watch gap.
    index = {(NS, OWNER.name): [_snapshot("spring", "c-1"), _snapshot("autumn", "c-2")]}
    wakeups = Wakeups()
    names: list[set[str]] = []

    async def until(done: Callable[[], bool]) -> None:
        started = time.monotonic()
        while not done():
            assert time.monotonic() - started < 20, names
            await asyncio.sleep(0.01)

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(pass_executor=pool, wakeups=wakeups,
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(_campaigns_file(body=model, memo=memo, logger=logger,
                                                       campaigns_by_model=index))
            try:
                await until(lambda: KEY in cluster.objects)
                names.append(_names(cluster))
                # The Campaign's own pass: its status write answered 404, read back: gone.
                wakeups.gone((campaign.KIND, NS, "autumn"), "c-2")
                await until(lambda: _names(cluster) != names[0])
                names.append(_names(cluster))
                assert wakeups.read_gone(campaign.KIND) == {"c-2"}
                # Its DELETED event at last: kopf's index drops it, nothing is kept for it.
                index[(NS, OWNER.name)].pop()
                wakeups.finish((campaign.KIND, NS, "autumn"), "c-2")
                assert wakeups.read_gone(campaign.KIND) == frozenset()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())

    assert names == [{"spring", "autumn"}, {"spring"}]


def test_read_gone_outlives_the_audit_giving_up_on_its_namespace() -> None:
    """The audit stops comparing what it cannot list (``forget_unlistable``); the object is
    still known gone, for the file, until its DELETED event."""
    wakeups = Wakeups()
    told: list[tuple[tuple[str, str, str], str]] = []
    stop = wakeups.listen_gone(lambda key, uid: told.append((key, uid)))
    key = (campaign.KIND, NS, "autumn")
    wakeups.gone(key, "c-2")
    assert told == [(key, "c-2")]
    wakeups.forget_unlistable(campaign.KIND, NS)
    assert "c-2" not in wakeups.audited(campaign.KIND)
    assert wakeups.read_gone(campaign.KIND) == {"c-2"}
    assert wakeups.read_gone("UpliftModel") == frozenset()
    stop()
    wakeups.gone((campaign.KIND, NS, "winter"), "c-3")
    assert told == [(key, "c-2")]  # no longer told
    wakeups.finish(key, "c-2")
    assert wakeups.read_gone(campaign.KIND) == {"c-3"}
