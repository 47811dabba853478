"""``FakeCluster.apply`` answers as the API server answers the operator's forced server-side
apply (``adapters.kube.KubeCluster.apply``), and a pass meets what that implies: a graph that
moved between the pass's read and its apply (a status Seldon wrote, a hand edit) refuses the
apply with 409, and what other managers set outside ``spec.predictors`` stays."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_upliftmodel import NAME, NS, SELDON, Sim, reasons

from uplift_operator.adapters.kube import KubeError
from uplift_operator.devenv.seldon_standin import seldon_status

PLURAL = SELDON[1]


def graph(traffic: int = 100, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": SELDON[0], "kind": "SeldonDeployment",
            "metadata": {"name": NAME, "namespace": NS, **meta},
            "spec": {"protocol": "v2", "predictors": [
                {"name": "v1", "traffic": traffic, "annotations": {"version": "1"}}]}}


def version(cluster: FakeCluster) -> int:
    return int(cluster.objects[SELDON]["metadata"]["resourceVersion"])


# -- the fake alone ------------------------------------------------------------------------------

def test_an_apply_over_a_stale_resource_version_is_refused_with_the_adapters_409() -> None:
    cluster = FakeCluster()
    cluster.apply(graph(), PLURAL)
    seen = str(version(cluster))
    cluster.write_status(SELDON, {"state": "Available"})  # Seldon wrote since it was read
    before = copy.deepcopy(cluster.objects[SELDON])
    with pytest.raises(KubeError) as refused:
        cluster.apply(graph(50, resourceVersion=seen), PLURAL)
    assert refused.value.status == 409 and "409" in str(refused.value)
    assert cluster.objects[SELDON] == before and cluster.applied == [SELDON]


def test_an_apply_with_a_resource_version_over_no_object_is_refused() -> None:
    with pytest.raises(KubeError) as refused:
        FakeCluster().apply(graph(resourceVersion="3"), PLURAL)
    assert refused.value.status == 409


def test_every_write_moves_the_resource_version_forward_never_to_the_precondition() -> None:
    cluster = FakeCluster()
    cluster.put(PLURAL, graph(resourceVersion="40"))  # a graph placed at a version of its own
    written = cluster.apply(graph(90, resourceVersion="40"), PLURAL)  # the precondition holds
    assert written["metadata"]["resourceVersion"] == "41" == str(version(cluster))
    cluster.write_status(SELDON, {"state": "Creating"})
    assert version(cluster) == 42
    cluster.apply(graph(80), PLURAL)  # without a precondition: applied, and moved again
    assert version(cluster) == 43
    cluster.objects[SELDON]["metadata"]["resourceVersion"] = "7"  # a test's own, lower
    cluster.apply(graph(70), PLURAL)
    assert version(cluster) == 44  # past the cluster's last: never back


def test_other_managers_fields_stay_and_the_predictors_are_replaced_whole() -> None:
    cluster = FakeCluster()
    cluster.apply(graph(labels={"app": "uplift"}, annotations={"ours": "1"}), PLURAL)
    there = cluster.objects[SELDON]
    there["metadata"]["labels"]["team"] = "growth"  # kubectl label
    there["metadata"]["annotations"]["note"] = "hand"  # kubectl annotate
    there["spec"]["annotations"] = {"seldon.io/engine-log-level": "debug"}  # kubectl edit
    there["spec"]["predictors"][0]["tolerations"] = [{"key": "gpu"}]  # inside the atomic list
    cluster.write_status(SELDON, {"state": "Available"})
    applied = graph(60, labels={"app": "uplift"}, annotations={"ours": "2"})
    applied["status"] = {"state": "Failed"}  # not written by an apply: a subresource's
    result = cluster.apply(applied, PLURAL)
    assert result["metadata"]["labels"] == {"app": "uplift", "team": "growth"}
    assert result["metadata"]["annotations"] == {"ours": "2", "note": "hand"}
    assert result["spec"]["annotations"] == {"seldon.io/engine-log-level": "debug"}
    assert result["spec"]["protocol"] == "v2"
    assert result["spec"]["predictors"] == graph(60)["spec"]["predictors"]
    assert result["status"] == {"state": "Available"}
    assert result == cluster.objects[SELDON]


def test_a_field_the_last_apply_set_and_this_one_does_not_is_removed() -> None:
    cluster = FakeCluster()
    cluster.put(PLURAL, graph(labels={"team": "growth"}))  # another writer's label
    cluster.apply(graph(labels={"app": "uplift", "old": "x"}), PLURAL)
    result = cluster.apply(graph(labels={"app": "uplift"}), PLURAL)
    assert result["metadata"]["labels"] == {"team": "growth", "app": "uplift"}
    cluster.delete(*SELDON)  # deleted and created anew: nothing of it is the operator's
    cluster.put(PLURAL, graph(labels={"old": "x"}))
    assert cluster.apply(graph(), PLURAL)["metadata"]["labels"] == {"old": "x"}


# -- a pass meeting it -----------------------------------------------------------------------------

@dataclass
class MovingCluster(FakeCluster):
    """A cluster where something writes the graph between a pass's read and its apply."""

    meanwhile: Callable[[], None] | None = None

    def apply(self, manifest: Any, plural: str) -> dict[str, Any]:
        if self.meanwhile is not None:
            write, self.meanwhile = self.meanwhile, None
            write()
        return super().apply(manifest, plural)


def test_a_status_seldon_writes_between_the_read_and_the_apply_refuses_it_and_decides_again(
        ) -> None:
    """Seldon's status write between the pass's read of the graph and its apply moves the
    graph's resourceVersion: the apply (over the version read) is refused 409, and the pass
    decides nothing (its status as it was, no event, no ApplyFailed, a look again in a second),
    the graph left as the others wrote it; the next pass reads it again and applies."""
    sim = Sim()
    sim.cluster = sim.deps.cluster = MovingCluster()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    sim.cluster.objects[SELDON]["spec"]["predictors"][0]["traffic"] = 50  # a hand edit to revert
    sim.cluster.write_status(SELDON, seldon_status(sim.cluster.objects[SELDON], "Available"))
    later = seldon_status(sim.cluster.objects[SELDON], "Creating")
    sim.cluster.meanwhile = lambda: sim.cluster.write_status(SELDON, later)
    before, applied = copy.deepcopy(sim.status), list(sim.cluster.applied)
    result = sim.tick(1, available=False)
    assert result.status == before and result.events == ()
    assert "ApplyFailed" not in reasons(result) and result.requeue_after == 1.0
    assert sim.cluster.applied == applied  # refused: nothing written over the moved graph
    assert sim.weights() == {"1": 50} and sim.cluster.objects[SELDON]["status"] == later
    sim.tick(1)
    assert sim.cluster.applied == [*applied, SELDON] and sim.weights() == {"1": 100}


def test_what_others_set_on_the_graph_outside_its_predictors_survives_the_passes() -> None:
    """A label, an annotation and a ``spec`` field someone else set stay through the
    operator's apply (its forced apply replaces ``spec.predictors`` only), and the pass does
    not apply over them again and again."""
    sim = Sim()
    sim.tick()
    there = sim.cluster.objects[SELDON]
    there["metadata"].setdefault("labels", {})["team"] = "growth"
    there["metadata"]["annotations"]["note"] = "hand"
    there["spec"]["annotations"] = {"seldon.io/engine-log-level": "debug"}
    there["spec"]["predictors"][0]["traffic"] = 50  # reverted by the next apply
    sim.tick(1)
    there = sim.cluster.objects[SELDON]
    assert sim.weights() == {"1": 100} and sim.cluster.applied == [SELDON, SELDON]
    assert there["metadata"]["labels"]["team"] == "growth"
    assert there["metadata"]["annotations"]["note"] == "hand"
    assert there["spec"]["annotations"] == {"seldon.io/engine-log-level": "debug"}
    sim.tick(1)
    assert sim.cluster.applied == [SELDON, SELDON]  # nothing to apply: the graph is as decided
