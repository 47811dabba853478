"""When the model's ``uplift_operator_campaigns_file_undelivered`` (the page
UpliftCampaignsFileNotWritten) stays quiet though a pass is refused: a ConfigMap not the model's
that keeps nothing from the pods (no Campaign, no split, no campaigns file in it: said by event
only), and a model being deleted (no pass writes its file any more: its series goes then, not at
its DELETED event, which a foreground deletion may hold back long: kopf stops the task as
``deletionTimestamp`` is set, and a pass still running says nothing more). Only when the garbage
collector deletes it (no finalizer left, or one of its own): under a background deletion another
tool's finalizer holds, its ConfigMap and pods stay, treating at the last file, possibly for
hours, so the series stays at what the last pass found."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers import observability
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render import campaigns
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)


def _gauge() -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaigns_file_undelivered",
        {"namespace": OWNER.namespace, "model": OWNER.name})


def _run(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, raw: dict[str, Any],
         index: dict[Any, Any], passes: Callable[[Callable[[], Awaitable[float | None]]],
                                                 Awaitable[None]],
         stopped: Any = None) -> list[str]:
    events: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda obj, *, type, reason, message="": events.append(
        reason))

    async def run(key: Any, wakeups: Any, one_pass: Callable[[], Awaitable[float | None]],
                  **_: Any) -> None:
        await passes(one_pass)

    monkeypatch.setattr(handler, "run_passes", run)
    model = kopf.Body(cast(kopf.RawBody, raw))

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            # No task registers the key (``run_passes`` is faked): its end finds the key free,
            # as that of a task kopf stopped does (``run_passes`` unregisters it first).
            wakeups = Wakeups()
            memo = kopf.Memo(pass_executor=pool, wakeups=wakeups,
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            await _campaigns_file(body=model, memo=memo, logger=logger, campaigns_by_model=index,
                                  stopped=stopped)

    asyncio.run(go())
    return events


def _model() -> dict[str, Any]:
    return {"metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
            "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}


async def _refused(one_pass: Callable[[], Awaitable[float | None]]) -> None:
    with pytest.raises(handler.FileNotWrittenError):
        await one_pass()


def test_a_users_config_map_beside_a_model_with_nothing_to_deliver_pages_no_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = FakeCluster()
    cluster.objects[KEY] = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"other": "x"},
                            "metadata": {"name": KEY[3], "namespace": KEY[2], "uid": "cm-1"}}
    index: dict[Any, Any] = {(OWNER.namespace, OWNER.name): []}
    seen: list[float | None] = []

    async def passes(one_pass: Callable[[], Awaitable[float | None]]) -> None:
        await _refused(one_pass)
        seen.append(_gauge())
        # A Campaign of the model now: the file would say something the pods cannot read.
        index[(OWNER.namespace, OWNER.name)] = [service.snapshot(campaign_body())]
        await _refused(one_pass)
        seen.append(_gauge())

    events = _run(monkeypatch, cluster, _model(), index, passes)
    assert seen == [0, 1]
    assert events == [handler.NOT_WRITTEN]  # said once (same cause), the first pass too
    cluster.objects[KEY]["data"] = {campaigns.DATA_KEY: '{"campaigns": {}}'}
    index[(OWNER.namespace, OWNER.name)] = []
    seen.clear()

    async def carrying(one_pass: Callable[[], Awaitable[float | None]]) -> None:
        await _refused(one_pass)
        seen.append(_gauge())

    _run(monkeypatch, cluster, _model(), index, carrying)
    assert seen == [1]  # a file there the pods read, which the model cannot write


#: How the model is deleted, and whether its series goes: the garbage collector's own
#: deletion (no finalizer left, or one of its own) takes its ConfigMap and pods; a background
#: deletion another tool's finalizer holds leaves them, treating at the last file, for hours.
DELETIONS = pytest.mark.parametrize(("finalizers", "dropped"), [
    (None, True), (["foregroundDeletion"], True), (["orphan"], True),
    (["resources-finalizer.argocd.argoproj.io"], False),
], ids=["background", "foreground", "orphan", "held-by-argocd"])


@DELETIONS
def test_a_model_being_deleted_drops_its_series_at_its_next_pass(
        monkeypatch: pytest.MonkeyPatch, finalizers: list[str] | None, dropped: bool) -> None:
    cluster = FakeCluster()
    raw = _model()
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]}
    seen: list[float | None] = []

    async def passes(one_pass: Callable[[], Awaitable[float | None]]) -> None:
        cluster.apply_error = KubeError("apply configmaps: 403 forbidden", 403)
        await _refused(one_pass)
        seen.append(_gauge())
        raw["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"
        if finalizers is not None:
            raw["metadata"]["finalizers"] = finalizers
        await one_pass()  # woken (its ConfigMap's DELETED event, a Campaign's): writes nothing
        seen.append(_gauge())

    _run(monkeypatch, cluster, raw, index, passes)
    assert seen == [1, None if dropped else 1]
    observability.forget_campaigns_file(OWNER.namespace, OWNER.name)


@DELETIONS
def test_a_task_kopf_stops_as_the_deletion_begins_drops_the_models_series(
        monkeypatch: pytest.MonkeyPatch, finalizers: list[str] | None, dropped: bool) -> None:
    """kopf cancels the waiting task of an object being deleted; its DELETED event (which
    ends the task's key) comes only once its children are gone."""
    cluster = FakeCluster()
    raw = _model()
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]}
    seen: list[float | None] = []

    async def passes(one_pass: Callable[[], Awaitable[float | None]]) -> None:
        cluster.apply_error = KubeError("apply configmaps: 403 forbidden", 403)
        await _refused(one_pass)
        seen.append(_gauge())
        raw["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"
        if finalizers is not None:
            raw["metadata"]["finalizers"] = finalizers
        raise asyncio.CancelledError  # kopf stops the daemon

    with pytest.raises(asyncio.CancelledError):
        _run(monkeypatch, cluster, raw, index, passes)
    assert seen == [1] and _gauge() == (None if dropped else 1)
    observability.forget_campaigns_file(OWNER.namespace, OWNER.name)


def test_a_replica_paused_under_a_held_deletion_drops_the_models_series(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Paused by peering, this replica no longer runs the file's task: the acting one exports
    the series, held deletion or not."""
    cluster = FakeCluster()
    raw = _model()
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]}
    seen: list[float | None] = []

    async def passes(one_pass: Callable[[], Awaitable[float | None]]) -> None:
        cluster.apply_error = KubeError("apply configmaps: 403 forbidden", 403)
        await _refused(one_pass)
        seen.append(_gauge())
        raw["metadata"].update(deletionTimestamp="2026-12-01T12:00:00Z",
                               finalizers=["resources-finalizer.argocd.argoproj.io"])
        raise asyncio.CancelledError  # kopf stops the daemon

    class Stopped:
        reason = kopf.DaemonStoppingReason.OPERATOR_PAUSING

    with pytest.raises(asyncio.CancelledError):
        _run(monkeypatch, cluster, raw, index, passes, Stopped())
    assert seen == [1] and _gauge() is None
