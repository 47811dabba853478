"""An UpliftModel being deleted (``deletionTimestamp`` set) held by another tool's finalizer
(Argo CD's ``resources-finalizer.argocd.argoproj.io``, a backup tool's) under a background
deletion: the garbage collector leaves its children as they are for as long as the hold lasts,
so the pass withdraws the canary's traffic (the stable takes 100 %), by a merge patch that
never creates anything; under the collector's own finalizers (``foregroundDeletion``,
``orphan``) it writes nothing (``services.upliftmodel.withdraw_held_canary``, which the
model's watch events call: ``handlers.upliftmodel.withdraw_held``, tested in
tests/unit/handlers/test_upliftmodel_withdraw_held.py; ``reconcile`` writes nothing for a
model being deleted)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.unit.services.fakes import FakeCluster, conflict
from tests.unit.services.test_upliftmodel import SELDON, Sim, status_written

from uplift_operator.adapters.kube import KubeError
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import PassResult

ARGO = "resources-finalizer.argocd.argoproj.io"


@dataclass
class PatchingCluster(FakeCluster):
    """``FakeCluster`` with the API server's JSON merge patch: 404 for an object not there
    (a merge patch never creates), 409 when ``metadata.resourceVersion`` is not the object's,
    a list replaced whole."""

    patched: list[Mapping[str, Any]] = field(default_factory=list)

    def merge_patch(self, api_version: str, plural: str, namespace: str, name: str,
                    patch: Mapping[str, Any]) -> dict[str, Any]:
        key = (api_version, plural, namespace, name)
        live = self.objects.get(key)
        if live is None:
            raise KubeError(f'{plural} "{name}" not found', 404)
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted and str(live["metadata"].get("resourceVersion")) != str(wanted):
            raise conflict(plural, name)
        merged = copy.deepcopy(live)
        merged["spec"] = {**merged.get("spec", {}), **copy.deepcopy(dict(patch.get("spec") or {}))}
        merged["metadata"]["resourceVersion"] = self._next_version(live)
        self.objects[key] = merged
        self.patched.append(patch)
        return copy.deepcopy(merged)


def held_sim() -> tuple[Sim, PatchingCluster]:
    """A model ramping canary 2 at 10 % (stable 1 at 90 %) on a cluster that merge-patches."""
    sim = Sim()
    cluster = sim.cluster = PatchingCluster()
    sim.deps.cluster = cluster
    sim.with_canary()
    return sim, cluster


def deleting(sim: Sim, *finalizers: str) -> None:
    sim.body["metadata"]["deletionTimestamp"] = "2026-12-01T12:10:00Z"
    sim.body["metadata"]["finalizers"] = list(finalizers)
    sim.tick = lambda seconds=0, available=True: withdraw(sim, seconds)  # type: ignore[method-assign]


def withdraw(sim: Sim, seconds: float) -> PassResult:
    """What a watch event of the model being deleted decides (``withdraw_held_canary``), its
    status kept as the pass runner writes it."""
    sim.now += dt.timedelta(seconds=seconds)
    result = status_written(upliftmodel.withdraw_held_canary(copy.deepcopy(sim.body), sim.deps))
    sim.body["status"] = result.status
    return result


def test_a_model_held_by_another_tools_finalizer_withdraws_its_canary_traffic() -> None:
    """The reviewer's case: Argo CD's finalizer holds the model, the collector leaves the graph;
    the canary gave 10 % to a version no gate judges any more, for as long as the hold lasts."""
    sim, cluster = held_sim()
    applied, secrets = len(sim.cluster.applied), len(sim.cluster.created_secrets)
    deleting(sim, ARGO)
    result = sim.tick(61)
    assert sim.weights() == {"1": 100, "2": 0}
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "CanaryWithdrawn")]
    assert ARGO in result.events[0].message
    # Withdrawn, recorded; the canary's version kept (its DELETED event retires it in MLflow).
    assert sim.status["canaryWeight"] == 0 and sim.status["canaryVersion"] == "2"
    assert sim.status["stableVersion"] == "1" and "withdrawn" in sim.status["message"]
    assert "100" in sim.status["servingSplit"]
    # Nothing applied or created: a merge patch only, preconditioned on the graph as read.
    assert len(sim.cluster.applied) == applied and len(sim.cluster.created_secrets) == secrets
    assert len(cluster.patched) == 1 and cluster.patched[0]["metadata"]["resourceVersion"]
    # Done once: the next pass finds no canary traffic and writes nothing.
    again = sim.tick(30)
    assert again.events == () and len(cluster.patched) == 1


def test_a_graph_gone_under_a_foreign_finalizer_is_not_created_again() -> None:
    sim, cluster = held_sim()
    applied = len(sim.cluster.applied)
    deleting(sim, ARGO)
    del sim.cluster.objects[SELDON]  # deleted by hand meanwhile
    before = copy.deepcopy(sim.status)
    result = sim.tick(61)
    assert SELDON not in sim.cluster.objects and len(sim.cluster.applied) == applied
    assert cluster.patched == [] and result.events == () and sim.status == before


def test_under_the_collectors_own_finalizers_no_child_is_written() -> None:
    """A foreground deletion (children first) or an orphan one (their owner references taken
    off): the collector works on the children, which the pass leaves alone."""
    for finalizer in ("foregroundDeletion", "orphan"):
        sim, cluster = held_sim()
        deleting(sim, ARGO, finalizer)
        before = copy.deepcopy(sim.status)
        result = sim.tick(61)
        assert sim.weights() == {"1": 90, "2": 10}, finalizer
        assert cluster.patched == [] and result.events == () and sim.status == before


def test_a_graph_itself_being_deleted_is_not_written() -> None:
    sim, cluster = held_sim()
    deleting(sim, ARGO)
    sim.cluster.objects[SELDON]["metadata"]["deletionTimestamp"] = "2026-12-01T12:10:00Z"
    result = sim.tick(61)
    assert cluster.patched == [] and result.events == ()
    assert sim.weights() == {"1": 90, "2": 10}


def test_someone_elses_graph_is_not_written() -> None:
    """A graph of the model's name controlled by another object (a successor's cannot exist
    while this one does; a hand-made one): not the model's to change."""
    sim, cluster = held_sim()
    deleting(sim, ARGO)
    for ref in sim.cluster.objects[SELDON]["metadata"]["ownerReferences"]:
        ref["uid"] = "someone-else"
    sim.tick(61)
    assert cluster.patched == [] and sim.weights() == {"1": 90, "2": 10}


def test_a_graph_changed_since_it_was_read_is_refused_and_looked_at_again() -> None:
    sim, cluster = held_sim()
    deleting(sim, ARGO)
    real_get = sim.cluster.get

    def stale_get(api_version: str, plural: str, namespace: str, name: str) -> Any:
        found = real_get(api_version, plural, namespace, name)
        if found is not None and plural == "seldondeployments":
            found["metadata"]["resourceVersion"] = "1"  # an older read than the graph's
        return found

    sim.cluster.get = stale_get  # type: ignore[method-assign]
    result = sim.tick(61)
    assert sim.weights() == {"1": 90, "2": 10} and cluster.patched == []
    assert [e.reason for e in result.events] == ["CanaryNotWithdrawn"]
    assert result.requeue_after == upliftmodel.WITHDRAW_RETRY_SECONDS
    assert sim.status["canaryWeight"] == 10  # the status says what the graph does
    sim.cluster.get = real_get  # type: ignore[method-assign]
    sim.tick(5)
    assert sim.weights() == {"1": 100, "2": 0}


def test_a_stable_that_does_not_serve_is_not_given_all_the_traffic() -> None:
    sim, cluster = held_sim()
    deleting(sim, ARGO)
    sim.seldon("Creating")
    child = sim.cluster.objects[SELDON]
    child["status"]["deploymentStatus"] = {name: {"replicas": 1}
                                           for name in child["status"]["deploymentStatus"]}
    result = sim.tick(61, available=False)
    assert cluster.patched == [] and sim.weights() == {"1": 90, "2": 10}
    assert [e.reason for e in result.events] == ["CanaryNotWithdrawn"]


def test_reconcile_writes_nothing_for_a_model_being_deleted() -> None:
    """The withdrawal is the watch handler's: a pass of the waiting task kopf is stopping
    (woken by the deletion's own event) would race it, one merge patch refused 409."""
    sim, cluster = held_sim()
    sim.body["metadata"]["deletionTimestamp"] = "2026-12-01T12:10:00Z"
    sim.body["metadata"]["finalizers"] = [ARGO]
    before = copy.deepcopy(sim.status)
    result = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps, sim.now)
    assert result.status == before and result.events == () and result.requeue_after is None
    assert cluster.patched == [] and sim.weights() == {"1": 90, "2": 10}


def test_a_withdrawal_whose_status_write_was_refused_is_said_at_the_next_look() -> None:
    """The graph was patched but the status write after it was refused (409): the next look
    finds no canary traffic and a status still giving it some, and says the withdrawal then;
    after that, nothing."""
    sim, cluster = held_sim()
    deleting(sim, ARGO)
    lost = sim.status
    sim.tick(61)
    sim.body["status"] = lost  # the write refused
    result = sim.tick(1)
    assert [e.reason for e in result.events] == ["CanaryWithdrawn"] and len(cluster.patched) == 1
    assert sim.status["canaryWeight"] == 0 and sim.status["canaryVersion"] == "2"
    assert "100" in sim.status["servingSplit"]
    again = sim.tick(1)
    assert again.events == () and again.status == sim.status and len(cluster.patched) == 1


def test_the_patched_graph_is_what_the_next_look_reads() -> None:
    """Through the watch's store (``WatchedCluster``): the patch's answer is kept, so the next
    event's look, before the graph's own watch event, patches nothing again."""
    from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects

    sim, cluster = held_sim()
    objects = WatchedObjects(["seldondeployments"])
    watched = WatchedCluster(cluster, objects)
    sim.deps.cluster = watched
    objects.observe("seldondeployments", copy.deepcopy(cluster.objects[SELDON]))
    deleting(sim, ARGO)
    assert [e.reason for e in sim.tick(61).events] == ["CanaryWithdrawn"]
    again = sim.tick(1)
    assert again.events == () and len(cluster.patched) == 1
