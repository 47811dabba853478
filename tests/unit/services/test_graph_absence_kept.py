"""The watch's store remembers a model's serving graph absent (``handlers.lifecycle.
watched_objects``: SeldonDeployments are in ``absence_kept``), so the passes of a model whose
reference does not resolve (a version not registered yet, MLflow down) read its absence once,
not at every pass: before, each such model sent one 404 GET per pass (10 s doubling to 5 min),
33 a second at 10,000 models, 10,000 at once when MLflow came back. Before anything is created
over a remembered absence, the graph is read from the API server: one made meanwhile without
the labels the watch selects by (no event came) is seen, never taken over."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.unit.services.test_graph_ghost import PLURAL, ApiServer, operated, watched_sim
from tests.unit.services.test_upliftmodel import NAME, NS, REGISTERED, SELDON, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.render import naming
from uplift_operator.render.naming import Owner

GRAPH = (PLURAL, NS, NAME)


def unresolved(api: ApiServer, *, down: bool = False) -> tuple[Sim, WatchedObjects]:
    """A model pinned to version 9, not registered (or MLflow down), its graph read through
    the store as the operator builds it."""
    sim = Sim()
    sim.cluster = api
    sim.deps.cluster, objects = operated(api)
    sim.body["spec"]["model"] = {"registeredModel": REGISTERED, "version": "9"}
    sim.registry.down = down
    return sim, objects


def graph_gets(api: ApiServer) -> int:
    return sum(1 for get in api.gets if get == GRAPH)


def untouched(api: ApiServer, theirs: Mapping[str, Any]) -> bool:
    """The graph there is ``theirs`` as they made it (Seldon's status aside)."""
    there = api.objects.get(SELDON)
    return there is not None and {k: v for k, v in there.items() if k != "status"} == theirs


def foreign(*, controller_uid: str = "u-other", labelled: bool = False) -> dict[str, Any]:
    """A SeldonDeployment of the model's name another writer made."""
    labels = naming.labels(Owner(NAME, NS, controller_uid)) if labelled else {"team": "fraud"}
    return {"apiVersion": SELDON[0], "kind": "SeldonDeployment",
            "metadata": {"namespace": NS, "name": NAME, "uid": "sd-other",
                         "resourceVersion": "500", "labels": labels,
                         "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                              "kind": "Deployment", "name": "someone",
                                              "uid": controller_uid, "controller": True}]},
            "spec": {"predictors": [{"name": "theirs", "traffic": 100,
                                     "annotations": {"version": "x"}}]}}


def test_an_unresolved_models_passes_read_its_absent_graph_once() -> None:
    for down, reason in ((False, "ModelNotFound"), (True, "RegistryUnavailable")):
        api = ApiServer()
        sim, objects = unresolved(api, down=down)
        for _ in range(6):
            sim.tick(300)
        assert sim.condition("ModelResolved")["reason"] == reason
        assert graph_gets(api) == 1  # the first pass's 404, remembered
        assert objects.absent(*GRAPH) and SELDON not in api.objects


def test_the_graph_is_read_live_once_before_it_is_created_over_a_remembered_absence() -> None:
    api = ApiServer()
    sim, _objects = unresolved(api)
    sim.tick()
    sim.tick(10)
    assert graph_gets(api) == 1
    sim.registry.add(REGISTERED, "9")  # the trainer registered it
    sim.tick(20)
    assert graph_gets(api) == 2  # the read before the create
    assert SELDON in api.objects and sim.weights() == {"9": 100}
    sim.tick(1)
    sim.tick(1)
    assert graph_gets(api) == 2  # kept from its apply on


def test_a_first_pass_that_just_read_the_404_creates_without_a_second_read() -> None:
    api = ApiServer()
    sim, _objects = unresolved(api)
    sim.registry.add(REGISTERED, "9")
    sim.tick()
    assert graph_gets(api) == 1 and SELDON in api.objects


def test_a_graph_another_writer_made_without_the_labels_is_seen_not_taken_over() -> None:
    api = ApiServer()
    sim, objects = unresolved(api)
    sim.tick()
    assert objects.absent(*GRAPH)
    theirs = foreign()
    api.objects[SELDON] = copy.deepcopy(theirs)  # no event: the watch does not select it
    sim.registry.add(REGISTERED, "9")
    result = sim.tick(20)
    assert result.requeue_after == 1.0  # read before the create: found, decided again
    assert untouched(api, theirs) and SELDON not in api.applied
    assert not objects.absent(*GRAPH)
    sim.tick(1)
    assert sim.condition("ServingApplied")["reason"] == "ServingConflict"
    assert untouched(api, theirs) and SELDON not in api.applied


def test_a_labelled_graph_another_writer_made_is_seen_from_its_event() -> None:
    api = ApiServer()
    sim, objects = unresolved(api)
    sim.tick()
    theirs = foreign(labelled=True)
    api.objects[SELDON] = copy.deepcopy(theirs)
    objects.observe(PLURAL, copy.deepcopy(theirs))  # the watch's ADDED event
    sim.registry.add(REGISTERED, "9")
    sim.tick(20)
    assert graph_gets(api) == 1  # from the store: no read needed
    assert sim.condition("ServingApplied")["reason"] == "ServingConflict"
    assert untouched(api, theirs)


def test_the_models_own_graph_without_its_labels_is_taken_back_as_its_own() -> None:
    """A copy of the model's own graph restored without the labels (no event came): read
    before the create, found the model's, its labels applied back."""
    api = ApiServer()
    sim, _objects = unresolved(api)
    sim.tick()
    own = foreign(controller_uid="u-1")
    own["metadata"]["ownerReferences"][0].update(kind="UpliftModel", name=NAME)
    api.objects[SELDON] = own
    sim.registry.add(REGISTERED, "9")
    assert sim.tick(20).requeue_after == 1.0
    sim.tick(1)
    labels = api.objects[SELDON]["metadata"]["labels"]
    assert labels[naming.MANAGED_BY_LABEL] == naming.MANAGED_BY
    assert api.objects[SELDON]["metadata"]["uid"] == "sd-other"  # the same object


@dataclass
class Racing(ApiServer):
    """An API server with a graph another writer creates between the pass's read and its
    apply, refusing the apply that would create it 409 AlreadyExists. A real one hardly does:
    the operator's apply is a server-side apply forced (``KubeCluster.apply``), which it turns
    into an update of the graph created meanwhile (kubernetes PR #64892), taking it over."""

    sneak: dict[str, Any] | None = None

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        key = (manifest["apiVersion"], plural, manifest["metadata"]["namespace"],
               manifest["metadata"]["name"])
        if plural == PLURAL and key not in self.objects and self.sneak is not None:
            self.objects[key], self.sneak = self.sneak, None
            raise KubeError(f"apply {plural}/{key[3]}: 409 AlreadyExists: seldondeployments "
                            f"{key[3]!r} already exists", 409)
        return super().apply(manifest, plural)


def test_a_create_refused_409_already_exists_reads_the_graph_and_decides_again() -> None:
    """The safety net (``_apply``'s ``_created_meanwhile``), should a create be refused so."""
    api = Racing()
    sim, objects = unresolved(api)
    sim.tick()
    theirs = foreign()
    api.sneak = copy.deepcopy(theirs)
    sim.registry.add(REGISTERED, "9")
    assert sim.tick(20).requeue_after == 1.0
    assert graph_gets(api) == 3  # the 404, the read before the create, the read after the 409
    assert not objects.absent(*GRAPH)
    sim.tick(1)
    assert sim.condition("ServingApplied")["reason"] == "ServingConflict"
    assert untouched(api, theirs)


def test_a_deleted_graph_is_recreated_after_one_read() -> None:
    """A serving model's graph deleted (its DELETED event dropped it from the store): the pass
    reads it once, from the API server, and creates it again. The status' reading may ask for
    the graph before the pass does (``_stable_as_served``, when the status' stable is not the
    one its history made stable; ``_split_from_graph``: below); a 404 it reads, then
    remembered, is not taken for an absence remembered from an earlier pass, which would read it
    again before the create (2 GETs a recreate)."""
    api = ApiServer()
    sim, objects = watched_sim(api)
    uid = api.objects[SELDON]["metadata"]["uid"]
    del api.objects[SELDON]
    objects.forget(PLURAL, NS, NAME, uid)  # the watch's DELETED event
    api.gets.clear()
    sim.tick(1)
    assert graph_gets(api) == 1  # the status' read, remembered; none again before the create
    assert SELDON in api.objects and sim.weights() == {"1": 100}


def test_a_graph_read_first_by_the_repair_of_an_unreadable_status_is_read_once() -> None:
    """Likewise when the status' split cannot be read and its repair asks the graph for it
    (``_split_from_graph``): that 404 is this pass's own read, not one remembered."""
    api = ApiServer()
    sim, objects = watched_sim(api)
    uid = api.objects[SELDON]["metadata"]["uid"]
    del api.objects[SELDON]
    objects.forget(PLURAL, NS, NAME, uid)
    sim.body["status"]["stableVersion"] = "one"  # unreadable: repaired from the graph, none there
    api.gets.clear()
    sim.tick(1)
    assert graph_gets(api) == 1
    assert SELDON in api.objects
