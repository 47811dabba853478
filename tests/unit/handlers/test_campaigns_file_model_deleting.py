"""An UpliftModel being deleted (foreground: ``deletionTimestamp`` set, its children going
first) gets no campaigns-file write: the garbage collector deletes ``<model>-campaigns``, whose
DELETED event wakes the file pass, and re-applying it (owned by the model,
``blockOwnerDeletion``) would fight the collector."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)


def test_a_config_map_the_collector_deleted_is_not_applied_again_while_the_model_goes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "event", lambda obj, *, type, reason, message="": events.append(
        (type, reason)))
    cluster = FakeCluster()
    raw: dict[str, Any] = {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}
    model = kopf.Body(cast(kopf.RawBody, raw))
    index = {(OWNER.namespace, OWNER.name): [
        service.snapshot(campaign_body(percent=50, phase="Healthy"))]}
    seen: list[bool] = []  # whether the ConfigMap is there after each pass

    async def passes(key: Any, wakeups: Any, one_pass: Callable[[], Awaitable[float | None]],
                     **_: Any) -> None:
        await one_pass()  # the model at rest: its file written
        seen.append(KEY in cluster.objects)
        raw["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"  # kubectl delete
        cluster.objects.pop(KEY)  # ... --cascade=foreground: the collector deletes its child
        await one_pass()  # the pass the ConfigMap's DELETED event wakes
        seen.append(KEY in cluster.objects)

    monkeypatch.setattr(handler, "run_passes", passes)

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(pass_executor=pool, wakeups=Wakeups(),
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            await _campaigns_file(body=model, memo=memo, logger=logger, campaigns_by_model=index)

    asyncio.run(go())

    assert seen == [True, False]
    assert cluster.applied == [KEY]  # once, before the deletion; never again
    assert events == []  # nothing said of a file the model takes with it
