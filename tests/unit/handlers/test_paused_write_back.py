"""A replica that stops acting stops writing to MLflow: paused by kopf's peering, it holds each
resource's writes (``WriteBack.pause``) until its next pass reads whose status it is; a pass
that reads a status another process wrote drops what is held of that resource
(``fence_foreign_status``), one that reads the status this process left lets them go on."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter
from kopf._core.intents.stoppers import DaemonStopper
from tests.unit.handlers.test_task_end import MODEL_SPEC, PAUSING, _stop

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers import upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.handlers.upliftmodel import fence_foreign_status
from uplift_operator.services import upliftmodel as service
from uplift_operator.services.common import PassResult
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import Write, WriteBack

KEY = ("UpliftModel", "ns", "r")
SCOPE = ("http://mlflow", "", "")


class Failing:
    """An MLflow that answers every write 503."""

    def set_alias(self, *_: str) -> None:
        raise ConnectionError("mlflow unreachable")


def _queued() -> WriteBack:
    """A write-back holding a failing alias write of ``KEY``."""
    queue = WriteBack()
    queue.submit(KEY, cast(Any, Failing()), SCOPE, "m",
                 [Write(("alias", "prod"), "2", lambda r: r.set_alias("m", "prod", "2"))])
    queue.run_due()
    assert queue.pending() == 1 and queue.knows(KEY)
    return queue


def test_a_replica_paused_by_peering_holds_its_write_back(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queued()
    _stop("UpliftModel", PAUSING, monkeypatch, write_back=queue)
    # Held, not dropped: a pause of a few seconds of this same replica loses nothing.
    assert queue.pending() == 1 and queue.knows(KEY) and queue.paused(KEY)
    assert queue.run_due() is not None and queue.pending() == 1  # not tried while held


@pytest.mark.parametrize("reason", [kopf.DaemonStoppingReason.OPERATOR_EXITING,
                                    kopf.DaemonStoppingReason.RESOURCE_DELETED])
def test_a_task_ended_otherwise_keeps_the_write_back(reason: kopf.DaemonStoppingReason,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queued()
    _stop("UpliftModel", reason, monkeypatch, write_back=queue)
    assert queue.pending() == 1


class Cluster:
    """Keeps one object's status, patched (a top-level merge patch is enough here)."""

    def __init__(self) -> None:
        self.refuse = False
        self.status: dict[str, Any] = {}

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        if self.refuse:
            raise KubeError("conflict", 409)
        for field, value in patch.items():
            if value is None:
                self.status.pop(field, None)
            else:
                self.status[field] = value
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                             "resourceVersion": str(int(resource_version or "1") + 1)},
                "status": dict(self.status)}

    def read_live(self, *_: str) -> dict[str, Any] | None:
        return {"metadata": {"name": "r", "namespace": "ns", "uid": "u1",
                             "resourceVersion": "9"}, "status": {"phase": "Healthy"}}


def _body(status: dict[str, Any], version: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "ns", "uid": "u1",
                         "resourceVersion": version}, "status": status}


def _pass(runner: PassRunner, body: dict[str, Any], decided: dict[str, Any]) -> None:
    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult(decided, (), None)

    asyncio.run(runner.run_once(KEY, kopf.Body(cast(kopf.RawBody, body)), decide,
                                lambda *_: None))


LEFT = {"phase": "Progressing", "stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10}


def _paused_task(queue: WriteBack, cluster: Cluster,
                 monkeypatch: pytest.MonkeyPatch) -> PassRunner:
    """Run ``KEY``'s waiting task for one pass (its status written: ``LEFT``), then stop it as
    kopf's peering pausing the operator does; the pass runner it used."""
    monkeypatch.setattr(service, "reconcile",
                        lambda *_, **__: PassResult(dict(LEFT), (), None))
    monkeypatch.setattr(service, "followed_alias", lambda *_: None)
    monkeypatch.setattr(service, "followed_versions", lambda *_: frozenset())
    body = kopf.Body(cast(kopf.RawBody, {**_body({}), "spec": MODEL_SPEC}))
    stopper = DaemonStopper()
    used: list[PassRunner] = []

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            passes = PassRunner("UpliftModel", "upliftmodels", wakeups, pool, cluster)
            used.append(passes)
            memo = kopf.Memo(wakeups=wakeups, pass_runner_UpliftModel=passes,
                             uplift_dependencies=SimpleNamespace(
                                 resolver=Resolver(), unresolved=FailingSince(),
                                 decision_keys={}, decision_keys_recreated={},
                                 unwritten={}, unwritten_lock=threading.Lock(),
                                 write_back=queue))
            task = asyncio.create_task(upliftmodel.reconcile(
                body=body, memo=memo, stopped=AsyncFlagWaiter(stopper)))
            for _ in range(300):
                if cluster.status:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the pass records its own status after the write
            stopper.set(reason=PAUSING)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert cluster.status == LEFT and queue.paused(KEY)
    return used[0]


def test_writes_held_at_a_pause_go_on_when_the_next_pass_reads_the_status_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    queue, cluster = _queued(), Cluster()
    passes = _paused_task(queue, cluster, monkeypatch)
    # Resumed within seconds, nobody acted: the status is the one its last pass left.
    assert not fence_foreign_status(passes, queue, KEY, _body(dict(cluster.status), "2"))
    assert not queue.paused(KEY) and queue.pending() == 1 and queue.knows(KEY)


def test_writes_held_at_a_pause_are_dropped_when_another_replica_acted_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    queue, cluster = _queued(), Cluster()
    passes = _paused_task(queue, cluster, monkeypatch)
    theirs = _body({"phase": "Degraded", "stableVersion": "1", "abortedVersion": "2"}, "7")
    assert fence_foreign_status(passes, queue, KEY, theirs)
    assert not queue.paused(KEY) and queue.pending() == 0 and not queue.knows(KEY)


def test_writes_held_at_a_pause_with_no_status_known_here_are_dropped() -> None:
    """Paused before any pass of this object recorded its status (another object of the name,
    a pause at once): nothing says nobody acted, so they are dropped, and the status gives the
    registry state again."""
    with ThreadPoolExecutor(1) as pool:
        runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, Cluster())
        queue = _queued()
        queue.pause(KEY)
        assert fence_foreign_status(runner, queue, KEY, _body({"phase": "Healthy"}, "3"))
        assert queue.pending() == 0 and not queue.paused(KEY)


def test_a_status_another_process_wrote_drops_what_is_held_of_the_resource() -> None:
    with ThreadPoolExecutor(1) as pool:
        cluster = Cluster()
        runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
        queue = _queued()
        # Before any pass of it here: nothing to compare with (``knows`` covers a restart).
        assert not fence_foreign_status(runner, queue, KEY, _body({"phase": "Healthy"}))
        _pass(runner, _body({}), {"phase": "Progressing", "stableVersion": "2",
                                  "canaryWeight": 10.0})
        # Its own write, read back (whole floats as integers, as the API server serves them).
        own = _body({"phase": "Progressing", "stableVersion": "2", "canaryWeight": 10}, "2")
        assert not fence_foreign_status(runner, queue, KEY, own)
        assert queue.pending() == 1
        # A pass that decided nothing new takes the status as it found it as its own.
        _pass(runner, own, {"phase": "Progressing", "stableVersion": "2", "canaryWeight": 10})
        assert not fence_foreign_status(runner, queue, KEY, own)
        # Another replica wrote it meanwhile: the queued promotion is dropped.
        theirs = _body({"phase": "Healthy", "stableVersion": "1"}, "5")
        assert fence_foreign_status(runner, queue, KEY, theirs)
        assert queue.pending() == 0 and not queue.knows(KEY)


def test_a_status_write_refused_is_not_taken_as_this_process_s_own() -> None:
    """A write refused (409) left the status as it was: that status is still this process's
    own, not another's (the decision it refused is not)."""
    with ThreadPoolExecutor(1) as pool:
        cluster = Cluster()
        runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
        queue = _queued()
        _pass(runner, _body({}), {"phase": "Healthy"})
        cluster.refuse = True
        _pass(runner, _body({"phase": "Healthy"}, "2"), {"phase": "Progressing"})
        assert not fence_foreign_status(runner, queue, KEY, _body({"phase": "Healthy"}, "9"))
        assert queue.pending() == 1


class LostAnswers(Cluster):
    """Applies each status write; while ``lost`` is set, its answer is lost (``status``: a
    read timeout, 0, or a 504 after the commit)."""

    lost: int | None = None

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        written = super().patch_status(api_version, plural, namespace, name, patch,
                                       resource_version)
        if self.lost is not None:
            raise KubeError("patch upliftmodels/r/status: no answer", self.lost)
        return written


@pytest.mark.parametrize("status", [0, 504])
def test_a_status_write_whose_answer_was_lost_is_still_this_process_s_own(status: int) -> None:
    """The API server applied the write and its answer was lost: the echo is this process's
    own status, not another replica's (read as one, it dropped the pending write-back and
    logged "written by another process"). Until a write is confirmed again: then only that
    one is."""
    with ThreadPoolExecutor(1) as pool:
        cluster = LostAnswers()
        runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
        queue = _queued()
        _pass(runner, _body({}), {"phase": "Progressing", "stableVersion": "1"})
        cluster.lost = status
        with pytest.raises(KubeError):
            _pass(runner, _body({"phase": "Progressing", "stableVersion": "1"}, "2"),
                  {"phase": "Healthy", "stableVersion": "2"})
        applied = _body(dict(cluster.status), "3")
        assert applied["status"] == {"phase": "Healthy", "stableVersion": "2"}
        assert not fence_foreign_status(runner, queue, KEY, applied)
        # Maybe not applied after all: the status before is still its own too.
        before = _body({"phase": "Progressing", "stableVersion": "1"}, "2")
        assert not fence_foreign_status(runner, queue, KEY, before)
        assert queue.pending() == 1 and queue.knows(KEY)
        # A confirmed write: the lost one's status is no longer taken as its own.
        cluster.lost = None
        _pass(runner, applied, {"phase": "Healthy", "stableVersion": "2", "canaryWeight": 0})
        assert fence_foreign_status(runner, queue, KEY, applied)
        assert queue.pending() == 0


def test_a_status_write_refused_outright_leaves_nothing_taken_as_own() -> None:
    """A 403 or 422 is the API server refusing the write: its status is never taken as this
    process's own (another process that writes it is still seen)."""
    with ThreadPoolExecutor(1) as pool:
        cluster = LostAnswers()
        runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
        queue = _queued()
        _pass(runner, _body({}), {"phase": "Progressing"})
        cluster.lost = 403
        with pytest.raises(KubeError):
            _pass(runner, _body({"phase": "Progressing"}, "2"), {"phase": "Healthy"})
        assert fence_foreign_status(runner, queue, KEY, _body({"phase": "Healthy"}, "5"))


def test_the_backlog_of_the_write_back_is_on_the_metrics() -> None:
    from uplift_operator.handlers import observability

    now = [1000.0]
    queue = WriteBack(clock=lambda: now[0])
    observability.observe_write_back(queue)
    sample = observability.REGISTRY.get_sample_value
    assert sample("uplift_operator_registry_write_back_pending") == 0
    assert sample("uplift_operator_registry_write_back_oldest_age_seconds") == 0
    queue.submit(KEY, cast(Any, Failing()), SCOPE, "m",
                 [Write(("alias", "prod"), "2", lambda r: r.set_alias("m", "prod", "2"))])
    queue.run_due()
    now[0] += 600
    assert sample("uplift_operator_registry_write_back_pending") == 1
    assert sample("uplift_operator_registry_write_back_oldest_age_seconds") == 600
    queue.reset()
    assert sample("uplift_operator_registry_write_back_pending") == 0
    assert sample("uplift_operator_registry_write_back_oldest_age_seconds") == 0
