"""A campaigns ConfigMap the model does not control, as the UpliftModel sees it: someone else's
is refused with one Warning ``CampaignsFileNotWritten`` naming it and its controller (not one
per retry), and ``CampaignsFileWritten`` once it is gone; a predecessor's holds the file with
one Normal ``PredecessorBeingDeleted`` event, no error, and its DELETED event's wake-up writes
the file at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body
from tests.unit.services.test_campaigns_file_owner import PREDECESSOR, foreign, refusal

from uplift_operator.domain import status as status_logic
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers import observability, scheduling
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)

Posted = list[tuple[str, str, str]]


class Counting(FakeCluster):
    """Counts the reads of the ConfigMap (each pass reads it: no store here)."""

    reads: int = 0

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        self.reads += 1
        return super().get(api_version, plural, namespace, name)


def _passes(result: str) -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_reconciles_total", {"kind": handler.FILE_KIND, "result": result}) or 0.0


def _run(cluster: Counting, posted: Posted, *, reads: int, then: Callable[[], object],
         until: int) -> None:
    """Run the model's file task until the ConfigMap was read ``reads`` times, then ``then``
    (its owner deletes it) and a wake-up (its DELETED event), until ``until`` events and the
    model's own ConfigMap."""
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]}

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            memo = kopf.Memo(pass_executor=pool, wakeups=wakeups,
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(_campaigns_file(body=model, memo=memo, logger=logger,
                                                       campaigns_by_model=index))
            started = time.monotonic()
            try:
                while cluster.reads < reads:
                    assert time.monotonic() - started < 20, f"{cluster.reads}: {posted}"
                    await asyncio.sleep(0.01)
                then()
                wakeups.wake(handler.file_key(OWNER.namespace, OWNER.name))
                while len(posted) < until or not cluster.applied:
                    assert time.monotonic() - started < 20, f"{cluster.reads}: {posted}"
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)  # nothing more comes
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> Posted:
    events: Posted = []

    def event(obj: Any, *, type: str, reason: str, message: str = "") -> None:
        assert obj["metadata"]["name"] == OWNER.name  # on the owning UpliftModel
        events.append((type, reason, message))

    monkeypatch.setattr(kopf, "event", event)
    return events


def test_someone_elses_config_map_is_refused_once_then_written_when_it_goes(
        monkeypatch: pytest.MonkeyPatch, posted: Posted) -> None:
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 0.01)  # retries at once
    errors, ok = _passes("error"), _passes("ok")
    cluster = Counting()
    cluster.put("configmaps", foreign())

    _run(cluster, posted, reads=4, then=lambda: cluster.objects.pop(KEY), until=2)

    assert [(t, r) for t, r, _ in posted] == [("Warning", "CampaignsFileNotWritten"),
                                              ("Normal", "CampaignsFileWritten")]
    assert posted[0][2] == "campaigns file not written: " + refusal("no controller")
    assert posted[1][2] == ("campaigns file written to ConfigMap hillstrom-uplift-campaigns "
                            "again, after: " + refusal("no controller"))
    assert cluster.applied == [KEY]  # never while it was theirs
    assert _passes("error") - errors >= 4 and _passes("ok") - ok == 1


def test_a_predecessors_config_map_holds_the_file_said_once_without_an_error(
        monkeypatch: pytest.MonkeyPatch, posted: Posted) -> None:
    monkeypatch.setattr(status_logic, "PREDECESSOR_RETRY_MIN_SECONDS", 0.01)
    monkeypatch.setattr(status_logic, "PREDECESSOR_RETRY_MAX_SECONDS", 0.02)
    errors = _passes("error")
    cluster = Counting()
    cluster.put("configmaps", foreign(PREDECESSOR, labelled=True))

    _run(cluster, posted, reads=5, then=lambda: cluster.objects.pop(KEY), until=1)

    assert [(t, r) for t, r, _ in posted] == [("Normal", "PredecessorBeingDeleted")]
    assert posted[0][2].startswith(
        "campaigns file not written yet: waiting for ConfigMap shop/hillstrom-uplift-campaigns "
        "to go: it is controlled by UpliftModel hillstrom-uplift (uid uid-0)")
    assert cluster.applied == [KEY] and _passes("error") == errors


def test_a_hold_looks_again_after_as_long_as_it_has_held_within_bounds(
        monkeypatch: pytest.MonkeyPatch, posted: Posted) -> None:
    """2 s at first, then doubling up to 30 s: the garbage collector usually takes seconds,
    and the DELETED event wakes the file in any case."""
    delays: list[float | None] = []
    clock = iter([100.0, 100.5, 102.0, 104.0, 108.0, 116.0, 132.0])
    monkeypatch.setattr(handler, "_clock", lambda: next(clock))

    async def passes(key: Any, wakeups: Any, one_pass: Callable[..., Any], **_: Any) -> None:
        for _pass in range(7):
            delays.append(await one_pass())

    monkeypatch.setattr(handler, "run_passes", passes)
    cluster = Counting()
    cluster.put("configmaps", foreign(PREDECESSOR, labelled=True))
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy"}}))

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(pass_executor=pool, wakeups=Wakeups(),
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            await _campaigns_file(body=model, memo=memo, logger=logger, campaigns_by_model={
                (OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]})

    asyncio.run(go())
    assert delays == [2.0, 2.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert len(posted) == 1 and cluster.applied == []
