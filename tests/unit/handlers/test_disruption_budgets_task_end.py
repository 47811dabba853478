"""An UpliftModel's waiting task that ends drops what this process knows of the model's
PodDisruptionBudgets (``DisruptionBudgets.forget``), a pass of it still running in the pool
(its thread outlives the task's cancellation) included: the model's next pass here reads the
cluster again rather than trust what that pass found."""

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
from tests.unit.handlers.test_task_end import MODEL_SPEC, PAUSING, Cluster
from tests.unit.services.test_disruption_budgets_listing import GatedCluster

from uplift_operator.handlers import observability, upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render import disruption as render_disruption
from uplift_operator.render.naming import Owner
from uplift_operator.services import upliftmodel as service
from uplift_operator.services.common import PassResult
from uplift_operator.services.disruption import DisruptionBudgets
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import WriteBack

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
OWNER = Owner(name="r", namespace="ns", uid="u1")
WANTED = render_disruption.desired_budgets(OWNER, {"maxUnavailable": 1}, ["1"])
KEY = ("policy/v1", "poddisruptionbudgets", "ns", "r-v1")


def _run_and_stop(reason: kopf.DaemonStoppingReason, cluster: GatedCluster,
                  budgets: DisruptionBudgets, monkeypatch: pytest.MonkeyPatch, *,
                  before_sync: threading.Event | None = None) -> None:
    """Run the model's waiting task, whose pass syncs its budgets, until that pass has applied
    or (``cluster.hold``) is applying, or (``before_sync``) waits for that event before its
    sync; stop the task as kopf does (stopper set with ``reason``, then cancelled); then let
    a held apply or pass go on and the pool's work end."""
    entered = threading.Event()

    def reconcile(snapshot: dict[str, Any], deps: Any, now: Any, *,
                  budget_epoch: int | None = None) -> PassResult:
        entered.set()
        if before_sync is not None:  # the pass is elsewhere (measuring, say)
            assert before_sync.wait(10)
        deps.disruption_budgets.sync(deps.cluster, OWNER, WANTED, NOW, epoch=budget_epoch)
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
                             uplift_dependencies=SimpleNamespace(
                                 resolver=Resolver(), unresolved=FailingSince(),
                                 decision_keys={}, decision_keys_recreated={},
                                 unwritten={}, unwritten_lock=threading.Lock(),
                                 write_back=WriteBack(), cluster=cluster,
                                 disruption_budgets=budgets))
            task = asyncio.create_task(upliftmodel.reconcile(body=body, memo=memo,
                                                             stopped=AsyncFlagWaiter(stopper)))
            for _ in range(500):
                if ("apply" in cluster.hold and cluster.started["apply"].is_set()) or (
                        OWNER.uid in budgets._known) or (
                        before_sync is not None and entered.is_set()):
                    break
                await asyncio.sleep(0.01)
            assert entered.is_set() if before_sync is not None else (
                cluster.started["apply"].is_set())
            stopper.set(reason=reason)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The pass's thread goes on after the task ended.
            cluster.gates["apply"].set()
            if before_sync is not None:
                before_sync.set()
        observability.forget("UpliftModel", "ns", "r")

    asyncio.run(run())


@pytest.mark.parametrize("reason", [PAUSING, kopf.DaemonStoppingReason.RESOURCE_DELETED])
def test_a_task_ended_drops_the_models_budgets_memory(reason: kopf.DaemonStoppingReason,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = GatedCluster()
    budgets = DisruptionBudgets()
    other = Owner(name="other", namespace="ns", uid="u-other")  # a model of the namespace
    assert budgets.sync(cluster, other, [], NOW).failure is None
    _run_and_stop(reason, cluster, budgets, monkeypatch)
    assert KEY in cluster.objects
    assert budgets._known.keys() == budgets._epochs.keys() == {other.uid}
    listing = budgets._listed["ns"]  # kept for the other model
    assert listing.owners == {}  # its entries dropped with it
    assert listing.stale == ({"u1"} if reason is PAUSING else set())
    assert len(cluster.lists) == 1
    # The namespace's last model's task ends: its listing goes too.
    budgets.forget(other.uid, "ns", paused=reason is PAUSING)
    assert budgets._listed == {} and budgets._epochs == {}


def test_a_pass_still_running_when_its_task_is_paused_keeps_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its thread applies the budget after ``forget``: the model's next pass here (resumed)
    lists its namespace again and puts back a budget deleted meanwhile."""
    cluster = GatedCluster(hold={"apply"})
    budgets = DisruptionBudgets()
    _run_and_stop(PAUSING, cluster, budgets, monkeypatch)
    assert KEY in cluster.objects  # the held apply went through after the task ended
    assert budgets._known == {} and budgets._epochs == {}
    del cluster.objects[KEY]  # deleted while this replica was paused
    lists = len(cluster.lists)
    assert budgets.sync(cluster, OWNER, WANTED, NOW).failure is None
    assert len(cluster.lists) == lists + 1 and KEY in cluster.objects


@pytest.mark.parametrize("reason", [PAUSING, kopf.DaemonStoppingReason.RESOURCE_DELETED])
def test_a_pass_reaching_the_budgets_after_its_task_ended_makes_no_call(
        reason: kopf.DaemonStoppingReason, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its thread was still before the budgets when the task ended: no LIST (during a pause it
    would pass for what the namespace holds after it), no apply, nothing kept; resumed, the
    model's next pass lists its namespace and finds what the other replica did meanwhile."""
    cluster = GatedCluster()
    budgets = DisruptionBudgets()
    _run_and_stop(reason, cluster, budgets, monkeypatch, before_sync=threading.Event())
    assert cluster.lists == [] and KEY not in cluster.objects
    assert budgets._known == {} and budgets._epochs == {}
    if reason is not PAUSING:
        return
    cluster.put("poddisruptionbudgets", WANTED[0])  # the other replica's, while paused
    assert budgets.sync(cluster, OWNER, WANTED, NOW, epoch=budgets.begin(OWNER.uid)).failure is None
    assert len(cluster.lists) == 1 and OWNER.uid in budgets._known
