"""A pass that waits in the pass pool (FIFO, every resource's: a namespace of thousands deleted
at once) when its resource's DELETED event comes decides nothing (``Wakeups.finished``): on its
snapshot from before the deletion it applied the serving graph again (an owner reference to
the deleted uid), took roll slots nothing freed but the 10 min timeout, and remembered
absences nothing dropped. One already deciding when the event came still runs (the residual
window): its task's end drops what it left in memory (roll slots, absences), only when it ended
for the deletion: a peering pause or the operator's exit keeps them. A pass after which its
object is gone wakes no pass in error back-off."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter
from kopf._core.intents.stoppers import DaemonStopper
from tests.unit.handlers.invoking import invoke

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import campaign, observability, scheduling, upliftmodel
from uplift_operator.handlers import campaigns_file as file_handler
from uplift_operator.handlers.common import PassRunner, now
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render.naming import campaigns_config_map
from uplift_operator.services import campaign as campaign_service
from uplift_operator.services import campaigns_file as file_service
from uplift_operator.services import upliftmodel as model_service
from uplift_operator.services.common import PassResult
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.rolls import Rolls
from uplift_operator.services.writeback import AliasClaims, WriteBack

NS = "doomed"
MODEL_SPEC = {"model": {"registeredModel": "m", "version": "1"}, "treatments": [{"name": "t"}],
              "rollout": {"steps": [{"weight": 10}]}}
CAMPAIGN_SPEC = {"modelRef": {"name": "scorer"}, "treatments": [{"name": "t"}],
                 "experiment": {"holdoutFraction": 0.1, "unitKey": "u", "salt": "s"}}


class Cluster:
    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                             "resourceVersion": "2"}, "status": dict(patch.get("status") or {})}

    def read_live(self, *_: str) -> dict[str, Any] | None:
        return None


def _body(name: str, spec: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, {
        "apiVersion": "uplift.dev/v1alpha1",
        "metadata": {"name": name, "namespace": NS, "uid": "u1", "resourceVersion": "1",
                     "generation": 1},
        "spec": spec}))


class Decision:
    """The service's decision, in the pool: counted, and held while ``hold`` is not set, so
    that a deletion can come in the middle of it."""

    def __init__(self, act: Callable[[], None]) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.hold = threading.Event()
        self.hold.set()
        self._act = act

    def __call__(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        self.started.set()
        assert self.hold.wait(10)
        self._act()  # what it does after the deletion was handled: its reads, its roll


async def _until(done: Callable[[], bool]) -> None:
    started = time.monotonic()
    while not done():
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.01)


def _gone_passes(kind: str) -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_reconciles_total", {"kind": kind, "result": "gone"}) or 0.0


async def _delete_during(task: asyncio.Task[None], pool_busy: threading.Event,
                         decision: Decision, *, queued: bool,
                         delete: Callable[[], Any]) -> None:
    """Let ``task``'s first pass reach the pool (queued behind a busy one, or deciding), run
    the DELETED event's handlers (``delete``), then let the pool go on; the task ends after
    that pass, as at any deletion."""
    if queued:
        await asyncio.sleep(0.2)  # queued behind the other resources' passes
        assert decision.calls == 0
    else:
        decision.hold.clear()
        pool_busy.set()
        await _until(decision.started.is_set)
    await delete()
    pool_busy.set()
    decision.hold.set()
    await asyncio.wait_for(task, 10)


def _model_memo(pool: ThreadPoolExecutor, objects: WatchedObjects, rolls: Rolls) -> kopf.Memo:
    wakeups = Wakeups()
    return kopf.Memo(wakeups=wakeups, watched_objects=objects, pass_executor=pool,
                     pass_runner_UpliftModel=PassRunner(upliftmodel.KIND, upliftmodel.PLURAL,
                                                        wakeups, pool, Cluster()),
                     uplift_dependencies=SimpleNamespace(
                         resolver=Resolver(), unresolved=FailingSince(), decision_keys={},
                         decision_keys_recreated={}, unwritten={},
                         unwritten_lock=threading.Lock(), write_back=WriteBack(), rolls=rolls,
                         alias_claims=AliasClaims()))


@pytest.mark.parametrize("queued", [True, False], ids=["queued", "deciding"])
def test_an_upliftmodel_deleted_while_its_pass_waits_is_not_decided_and_holds_no_roll(
        queued: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    key = (upliftmodel.KIND, NS, "scorer")
    rolls = Rolls(limit=1)
    objects = WatchedObjects(["seldondeployments"])

    def act() -> None:  # what ``services.upliftmodel.reconcile`` does: its graph read, a roll
        objects.mark_absent("seldondeployments", NS, "scorer")
        rolls.found(key, now(), version="1", rolling=True)
        rolls.admit(key, now())

    decision = Decision(act)
    monkeypatch.setattr(model_service, "reconcile",
                        lambda *a, **k: decision(*a, **k) or PassResult({"phase": "Healthy"},
                                                                        (), None))
    monkeypatch.setattr(model_service, "followed_alias", lambda *_: None)
    monkeypatch.setattr(model_service, "followed_versions", lambda *_: frozenset())
    body = _body("scorer", MODEL_SPEC)
    gone_before = _gone_passes(upliftmodel.KIND)

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            pool_busy = threading.Event()
            pool.submit(pool_busy.wait, 10)  # every other resource's pass, ahead (FIFO)
            memo = _model_memo(pool, objects, rolls)
            task = asyncio.create_task(upliftmodel.reconcile(body=body, memo=memo))

            async def delete() -> None:
                await invoke(upliftmodel.forget, meta=body.meta, body=body, memo=memo)

            await _delete_during(task, pool_busy, decision, queued=queued, delete=delete)

    asyncio.run(run())
    observability.forget(upliftmodel.KIND, NS, "scorer")
    assert decision.calls == (0 if queued else 1)
    if queued:
        assert _gone_passes(upliftmodel.KIND) == gone_before + 1
    # Nothing left of it in the rolls: no slot held from the live models' re-renders.
    assert (rolls.rolling(), rolls.waiting(), rolls._seen) == (0, 0, set())
    assert not objects.absent("seldondeployments", NS, "scorer")


@pytest.mark.parametrize("queued", [True, False], ids=["queued", "deciding"])
def test_a_campaigns_file_deleted_while_its_pass_waits_is_not_written_nor_remembered_absent(
        queued: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    objects = WatchedObjects(["configmaps"])
    config_map = campaigns_config_map("scorer")

    def act() -> None:  # ``sync``'s read of the ConfigMap: a 404, remembered
        objects.mark_absent("configmaps", NS, config_map)

    decision = Decision(act)
    monkeypatch.setattr(file_service, "sync", lambda *a, **k: decision(*a, **k)
                        or file_service.Synced(False, None, (), ()))
    model = _body("scorer", MODEL_SPEC)
    gone_before = _gone_passes(file_handler.FILE_KIND)

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            pool_busy = threading.Event()
            pool.submit(pool_busy.wait, 10)
            memo = kopf.Memo(wakeups=Wakeups(), watched_objects=objects, pass_executor=pool,
                             campaigns_file_dependencies=file_service.FileDependencies(
                                 cast(Any, None)))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(file_handler.campaigns_file(
                body=model, memo=memo, logger=logger, campaigns_by_model={}))

            async def delete() -> None:
                await invoke(file_handler.forget_file, meta=model.meta, memo=memo)
                objects.forget_absent("configmaps", NS, config_map)  # ``watches.model_changed``

            await _delete_during(task, pool_busy, decision, queued=queued, delete=delete)

    asyncio.run(run())
    assert decision.calls == (0 if queued else 1)
    if queued:
        assert _gone_passes(file_handler.FILE_KIND) == gone_before + 1
        assert observability.REGISTRY.get_sample_value(
            "uplift_operator_campaigns_file_undelivered",
            {"namespace": NS, "name": "scorer"}) is None
    assert not objects.absent("configmaps", NS, config_map)


@pytest.mark.parametrize("queued", [True, False], ids=["queued", "deciding"])
def test_a_campaign_deleted_while_its_pass_waits_is_not_decided_nor_its_model_remembered_absent(
        queued: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = WatchedObjects(["upliftmodels"])

    def act() -> None:  # its model's read: deleted with the namespace, a 404 remembered
        objects.mark_absent("upliftmodels", NS, "scorer")

    decision = Decision(act)
    monkeypatch.setattr(campaign_service, "reconcile",
                        lambda *a, **k: decision(*a, **k) or PassResult({"phase": "Progressing"},
                                                                        (), None))
    monkeypatch.setattr(campaign, "campaign_dependencies", lambda _memo: None)
    body = _body("spring", CAMPAIGN_SPEC)
    gone_before = _gone_passes(campaign.KIND)

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            pool_busy = threading.Event()
            pool.submit(pool_busy.wait, 10)
            wakeups = Wakeups()
            memo = kopf.Memo(wakeups=wakeups, watched_objects=objects, pass_executor=pool,
                             pass_runner_Campaign=PassRunner(campaign.KIND, campaign.PLURAL,
                                                             wakeups, pool, Cluster()))
            task = asyncio.create_task(campaign.reconcile(body=body, memo=memo))

            async def delete() -> None:
                await invoke(campaign.forget, meta=body.meta, memo=memo)
                objects.forget_absent("upliftmodels", NS, "scorer")  # ``campaign_changed``

            await _delete_during(task, pool_busy, decision, queued=queued, delete=delete)

    asyncio.run(run())
    observability.forget(campaign.KIND, NS, "spring")
    assert decision.calls == (0 if queued else 1)
    if queued:
        assert _gone_passes(campaign.KIND) == gone_before + 1
    assert not objects.absent("upliftmodels", NS, "scorer")


def test_finished_answers_from_any_thread_and_past_what_finished_keeps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass asks from the pool's thread; an object whose task still runs (its pass queued)
    is finished whatever ``FINISHED_KEPT`` dropped since (a namespace of thousands deleted)."""
    from uplift_operator.handlers import scheduling
    monkeypatch.setattr(scheduling, "FINISHED_KEPT", 2)
    wakeups = Wakeups()
    key = (campaign.KIND, NS, "spring")
    flag = wakeups.register(key, "u1")
    assert not wakeups.finished(key, "u1")
    wakeups.finish(key, "u1")
    for i in range(5):  # later deletions push it out of ``_finished``
        wakeups.finish((campaign.KIND, NS, f"other-{i}"), f"o{i}")
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(wakeups.finished, key, "u1").result()
        assert not pool.submit(wakeups.finished, key, "u2").result()  # another object
    wakeups.unregister(key, flag)
    assert not wakeups.finished(key, "u1")  # its task ended: nothing kept of it
    assert wakeups.finished((campaign.KIND, NS, "other-4"), "o4")


STOPPED_NOT_GONE = [kopf.DaemonStoppingReason.OPERATOR_PAUSING,
                    kopf.DaemonStoppingReason.OPERATOR_EXITING]


async def _stop_after(task: asyncio.Task[None], stopper: DaemonStopper,
                      reason: kopf.DaemonStoppingReason, done: Callable[[], bool]) -> None:
    """Once ``done``, stop ``task`` as kopf does (its stopper set with ``reason``, then
    cancelled): the object is still there."""
    await _until(done)
    await asyncio.sleep(0.05)  # the pass ends
    stopper.set(reason=reason)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("reason", STOPPED_NOT_GONE, ids=["paused", "exiting"])
def test_an_upliftmodel_s_task_ended_by_a_pause_keeps_its_roll_and_its_graph_s_absence(
        reason: kopf.DaemonStoppingReason, monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf pauses the whole operator for a moment each time a namespace newly matches a
    ``--namespace`` pattern: every task ends, and the roll a model holds stays held (else a
    stuck roll's timeout started over at each pause, and queued models took slots before the
    rolling graph was found again), its absences known (else a GET each after every pause)."""
    key = (upliftmodel.KIND, NS, "scorer")
    rolls = Rolls(limit=1)
    objects = WatchedObjects(["seldondeployments"])

    def act() -> None:
        objects.mark_absent("seldondeployments", NS, "scorer")
        rolls.found(key, now(), version="1", rolling=True)
        rolls.admit(key, now())

    decision = Decision(act)
    monkeypatch.setattr(model_service, "reconcile",
                        lambda *a, **k: decision(*a, **k) or PassResult({"phase": "Healthy"},
                                                                        (), None))
    monkeypatch.setattr(model_service, "followed_alias", lambda *_: None)
    monkeypatch.setattr(model_service, "followed_versions", lambda *_: frozenset())
    body = _body("scorer", MODEL_SPEC)
    stopper = DaemonStopper()

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = _model_memo(pool, objects, rolls)
            task = asyncio.create_task(upliftmodel.reconcile(
                body=body, memo=memo, stopped=AsyncFlagWaiter(stopper)))
            await _stop_after(task, stopper, reason, lambda: decision.calls == 1)

    asyncio.run(run())
    observability.forget(upliftmodel.KIND, NS, "scorer")
    assert (rolls.rolling(), rolls.waiting(), rolls._seen) == (1, 0, {key})
    assert objects.absent("seldondeployments", NS, "scorer")


@pytest.mark.parametrize("reason", STOPPED_NOT_GONE, ids=["paused", "exiting"])
def test_a_campaign_s_task_ended_by_a_pause_keeps_its_model_s_absence(
        reason: kopf.DaemonStoppingReason, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = WatchedObjects(["upliftmodels"])
    decision = Decision(lambda: objects.mark_absent("upliftmodels", NS, "scorer"))
    monkeypatch.setattr(campaign_service, "reconcile",
                        lambda *a, **k: decision(*a, **k) or PassResult({"phase": "Progressing"},
                                                                        (), None))
    monkeypatch.setattr(campaign, "campaign_dependencies", lambda _memo: None)
    body = _body("spring", CAMPAIGN_SPEC)
    stopper = DaemonStopper()

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            memo = kopf.Memo(wakeups=wakeups, watched_objects=objects, pass_executor=pool,
                             pass_runner_Campaign=PassRunner(campaign.KIND, campaign.PLURAL,
                                                             wakeups, pool, Cluster()))
            task = asyncio.create_task(campaign.reconcile(body=body, memo=memo,
                                                          stopped=AsyncFlagWaiter(stopper)))
            await _stop_after(task, stopper, reason, lambda: decision.calls == 1)

    asyncio.run(run())
    observability.forget(campaign.KIND, NS, "spring")
    assert objects.absent("upliftmodels", NS, "scorer")


@pytest.mark.parametrize("reason", STOPPED_NOT_GONE, ids=["paused", "exiting"])
def test_a_campaigns_file_s_task_ended_by_a_pause_keeps_its_config_map_s_absence(
        reason: kopf.DaemonStoppingReason, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    objects = WatchedObjects(["configmaps"])
    config_map = campaigns_config_map("scorer")
    decision = Decision(lambda: objects.mark_absent("configmaps", NS, config_map))
    monkeypatch.setattr(file_service, "sync", lambda *a, **k: decision(*a, **k)
                        or file_service.Synced(False, None, (), ()))
    model = _body("scorer", MODEL_SPEC)
    stopper = DaemonStopper()

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(wakeups=Wakeups(), watched_objects=objects, pass_executor=pool,
                             campaigns_file_dependencies=file_service.FileDependencies(
                                 cast(Any, None)))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(file_handler.campaigns_file(
                body=model, memo=memo, logger=logger, campaigns_by_model={},
                stopped=AsyncFlagWaiter(stopper)))
            await _stop_after(task, stopper, reason, lambda: decision.calls == 1)

    asyncio.run(run())
    assert objects.absent("configmaps", NS, config_map)


@pytest.mark.parametrize("found", ["deleted", "read_back_gone"])
def test_a_pass_that_finds_its_object_gone_wakes_no_failing_pass(found: str) -> None:
    """A pass in error back-off whose object is deleted meanwhile ends deciding nothing
    (``Wakeups.finished``), or reads it back gone after its status write's 404
    (``Wakeups.gone``): no recovery of whatever refused the others' passes (a namespace
    deleted during an API server outage), so it wakes none of them (``Wakeups.passed``)."""
    key = (upliftmodel.KIND, NS, "doomed")
    other_key = (upliftmodel.KIND, NS, "failing")
    assert scheduling.ERROR_FIRST_RETRY_SECONDS >= 1.0  # the other's own retry comes later

    async def run() -> tuple[int, int]:
        wakeups = Wakeups()
        attempts = {key: 0, other_key: 0}

        async def doomed() -> float | None:
            attempts[key] += 1
            if attempts[key] == 1:
                raise scheduling.NamedPassError("status write: connection refused")
            if found == "deleted":  # its DELETED event, while it waited to retry
                wakeups.finish(key, "u-doomed")
            else:  # its status write's 404, the object read back: none
                wakeups.gone(key, "u-doomed")
            return None  # ``PassRunner``'s "gone" pass: nothing decided, nothing written

        async def failing() -> float | None:
            attempts[other_key] += 1
            raise scheduling.NamedPassError("status write: connection refused")

        other = asyncio.create_task(scheduling.run_passes(other_key, wakeups, failing,
                                                          uid="u-failing"))
        await _until(lambda: attempts[other_key] == 1)
        task = asyncio.create_task(scheduling.run_passes(key, wakeups, doomed, uid="u-doomed"))
        await _until(lambda: attempts[key] == 1)
        wakeups.wake(key)  # its resource changed: its retry runs at once
        await asyncio.wait_for(task, 5)
        await asyncio.sleep(scheduling.COALESCE_SECONDS + 0.1)  # a woken pass would run now
        other.cancel()
        await asyncio.gather(other, return_exceptions=True)
        return attempts[key], attempts[other_key]

    assert asyncio.run(run()) == (2, 1)  # the failing one not woken: its own back-off runs
