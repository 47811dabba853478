"""A serving graph the watch's store still holds after it was deleted (no DELETED event came: a
watch listed again after a gap). Should the API server refuse the apply that carries its
resourceVersion (409), the pass reads the graph again (one GET) so that the store no longer
holds it, and the next pass creates it; before, the store kept it and every pass applied over
it again, a second apart, the stable version not served."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_upliftmodel import NAME, NS, SELDON, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.handlers import lifecycle

PLURAL = "seldondeployments"


@dataclass
class ApiServer(FakeCluster):
    """``FakeCluster`` answering as the API server does: a uid for each object created and a new
    resourceVersion at each write; an apply carrying a resourceVersion other than the object's
    is refused (409), over no object too when ``refuse_absent`` (what it does there differs
    between kinds and releases); a LIST of uids by label selector; every GET counted."""

    version: int = 100
    refuse_absent: bool = False
    gets: list[tuple[str, str, str]] = field(default_factory=list)
    lists: list[tuple[str, str | None, str]] = field(default_factory=list)

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        meta = manifest["metadata"]
        key = (manifest["apiVersion"], plural, meta["namespace"], meta["name"])
        there = self.objects.get(key)
        wanted = meta.get("resourceVersion")
        if wanted and (there["metadata"].get("resourceVersion") != wanted if there is not None
                       else self.refuse_absent):
            raise KubeError(f"apply {plural}/{meta['name']}: 409 Operation cannot be fulfilled: "
                            "the object has been modified", 409)
        uid = there["metadata"]["uid"] if there is not None else f"uid-{self.version + 1}"
        super().apply({**manifest, "metadata": {k: v for k, v in meta.items()
                                                 if k != "resourceVersion"}}, plural)
        self.version += 1
        self.objects[key]["metadata"].update(uid=uid, resourceVersion=str(self.version))
        return copy.deepcopy(self.objects[key])

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        self.gets.append((plural, namespace, name))
        return super().get(api_version, plural, namespace, name)

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                  label_selector: str = "") -> set[str]:
        self.lists.append((plural, namespace, label_selector))
        wanted = [term.partition("=") for term in label_selector.split(",") if term]
        found = set()
        for (_, kind, space, _), body in self.objects.items():
            labels = body["metadata"].get("labels") or {}
            if kind == plural and namespace in (None, space) and all(
                    name in labels and (not equals or labels[name] == value)
                    for name, equals, value in wanted):
                found.add(str(body["metadata"]["uid"]))
        return found


def operated(api: ApiServer) -> tuple[WatchedCluster, WatchedObjects]:
    """The cluster adapter over the store as the operator builds it."""
    objects = lifecycle.watched_objects()
    return WatchedCluster(api, objects), objects


def watched_sim(api: ApiServer) -> tuple[Sim, WatchedObjects]:
    """The UpliftModel simulation with its graph read from the store, serving version 1."""
    sim = Sim()
    sim.cluster = api
    sim.deps.cluster, objects = operated(api)
    sim.tick()
    event(sim, objects)
    sim.tick(1)
    event(sim, objects)
    assert sim.status["phase"] == "Healthy" and sim.weights() == {"1": 100}
    return sim, objects


def event(sim: Sim, objects: WatchedObjects) -> None:
    """Seldon wrote the graph's status: the watch brings it."""
    objects.observe(PLURAL, copy.deepcopy(sim.cluster.objects[SELDON]))


def test_an_apply_refused_over_a_graph_deleted_in_a_watch_gap_reads_it_again() -> None:
    api = ApiServer(refuse_absent=True)
    sim, objects = watched_sim(api)
    # A hand edit the watch brought, then the graph deleted while the watch was away.
    edited = copy.deepcopy(objects.get(PLURAL, NS, NAME))
    assert edited is not None
    edited["spec"]["predictors"][0]["traffic"] = 50
    objects.observe(PLURAL, edited)
    del api.objects[SELDON]
    api.gets.clear()
    result = sim.tick(1)  # reverts the edit over the graph it read: refused (409)
    assert result.requeue_after == 1.0 and SELDON not in api.objects
    assert api.gets == [(PLURAL, NS, NAME)]  # read again, once
    assert objects.get(PLURAL, NS, NAME) is None
    sim.tick(1)
    assert SELDON in api.objects and sim.weights() == {"1": 100}


def test_an_apply_refused_over_a_graph_that_moved_refreshes_what_is_kept() -> None:
    """The graph changed between the store's version and the apply (its event not there
    yet): the read brings the newer version, decided on at the next pass."""
    api = ApiServer()
    sim, objects = watched_sim(api)
    api.objects[SELDON]["spec"]["predictors"][0]["traffic"] = 50  # an edit, event on its way
    api.objects[SELDON]["metadata"]["resourceVersion"] = "150"
    kept = objects.get(PLURAL, NS, NAME)
    assert kept is not None
    edited = copy.deepcopy(kept)
    edited["spec"]["predictors"][0]["traffic"] = 70  # the store had an earlier edit
    objects.observe(PLURAL, edited)
    assert sim.tick(1).requeue_after == 1.0
    now = objects.get(PLURAL, NS, NAME)
    assert now is not None and now["metadata"]["resourceVersion"] == "150"
    sim.tick(1)
    assert sim.weights() == {"1": 100}
