"""What a pass of this process applied with its status write outstanding
(``Dependencies.unwritten``: a write refused 409) is dropped when the model's task ends on its
deletion and at its DELETED event, not kept until ``UNWRITTEN_KEPT`` other models push it out;
paused by peering, it is kept, as the status the task's last pass left is
(``_keep_status_left``): it matches at the next pass here only while no replica wrote a status
or applied a graph since."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter
from kopf._core.intents.stoppers import DaemonStopper
from tests.unit.handlers.invoking import invoke_now
from tests.unit.handlers.test_task_end import MODEL_SPEC, PAUSING, Cluster
from tests.unit.services.fakes import FakeCluster, FakeRegistry

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.handlers import observability, upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel as service
from uplift_operator.services.common import PassResult

OTHER = ("41", "digest")  # another model's entry: kept


def _deps() -> service.Dependencies:
    deps = service.Dependencies(
        cluster=FakeCluster(), backend=SeldonV1Backend(),
        registry_for=lambda ref, c: FakeRegistry(), prometheus=None,
        metric_templates=BUILTIN_TEMPLATES, runtime_image="r:1",
        default_tracking_uri="http://mlflow")
    deps.unwritten["u-other"] = OTHER
    return deps


def test_a_deleted_model_s_unwritten_apply_is_forgotten() -> None:
    deps = _deps()
    deps.unwritten["u1"] = ("7", "digest")
    wakeups = Wakeups()
    with ThreadPoolExecutor(1) as pool:
        runner = PassRunner("UpliftModel", "upliftmodels", wakeups, pool, cluster=None)  # type: ignore[arg-type]
        memo = kopf.Memo(wakeups=wakeups, pass_runner_UpliftModel=runner,
                         watched_objects=WatchedObjects(["upliftmodels"]), pass_executor=pool,
                         uplift_dependencies=deps)
        body = kopf.Body(cast(kopf.RawBody, {
            "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
            "metadata": {"namespace": "ns", "name": "gone", "uid": "u1", "resourceVersion": "8"},
            "spec": MODEL_SPEC, "status": {"phase": "Healthy", "stableVersion": "1"}}))
        invoke_now(upliftmodel.forget, meta=body.meta, body=body, memo=memo)
    observability.forget("UpliftModel", "ns", "gone")
    assert deps.unwritten == {"u-other": OTHER}


@pytest.mark.parametrize(("reason", "kept"), [
    (PAUSING, True), (kopf.DaemonStoppingReason.RESOURCE_DELETED, False)])
def test_a_task_ended_forgets_its_unwritten_apply_unless_paused(
        reason: kopf.DaemonStoppingReason, kept: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = _deps()
    done = threading.Event()

    def reconcile(snapshot: dict[str, Any], deps: Any, now: Any, *,
                  budget_epoch: int | None = None) -> PassResult:
        # A pass that applied the graph; its status write is refused (no after_write here).
        deps.unwritten["u1"] = ("1", "digest")
        done.set()
        return PassResult({"phase": "Healthy"}, (), None)

    monkeypatch.setattr(service, "reconcile", reconcile)
    monkeypatch.setattr(service, "followed_alias", lambda *_: None)
    monkeypatch.setattr(service, "followed_versions", lambda *_: frozenset())
    body = kopf.Body(cast(kopf.RawBody, {"metadata": {"name": "r", "namespace": "ns",
                                                      "uid": "u1", "resourceVersion": "1"},
                                         "spec": MODEL_SPEC}))
    stopper = DaemonStopper()

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            passes = PassRunner("UpliftModel", "upliftmodels", wakeups, pool, Cluster())
            memo = kopf.Memo(wakeups=wakeups, pass_runner_UpliftModel=passes,
                             uplift_dependencies=deps)
            task = asyncio.create_task(upliftmodel.reconcile(body=body, memo=memo,
                                                             stopped=AsyncFlagWaiter(stopper)))
            for _ in range(500):
                if done.is_set():
                    break
                await asyncio.sleep(0.01)
            assert done.is_set() and "u1" in deps.unwritten
            await asyncio.sleep(0.05)  # the pass's status written
            stopper.set(reason=reason)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        observability.forget("UpliftModel", "ns", "r")

    asyncio.run(run())
    assert deps.unwritten == ({"u-other": OTHER, "u1": ("1", "digest")} if kept
                              else {"u-other": OTHER})
