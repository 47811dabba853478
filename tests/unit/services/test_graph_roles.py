"""The versions' roles in the serving graph, end to end through the operator's passes: said on
the SeldonDeployment itself (``render.seldon.ROLES_ANNOTATION``), so a promotion changes no
pod template of the version it promotes; read back, from that form or the per-predictor form
of a graph an earlier operator rendered, when the status cannot say the split."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.services.test_upliftmodel import PROBE, SELDON, Sim

from uplift_operator.devenv.seldon_standin import pod_templates
from uplift_operator.render.seldon import (
    PREDICTOR_ROLE_ANNOTATION,
    ROLES_ANNOTATION,
    deployment_names,
    version_roles,
)


def deployment(child: dict[str, Any], version: str) -> str:
    predictor = next(p for p in child["spec"]["predictors"]
                     if p["annotations"]["version"] == version)
    return deployment_names(child["metadata"]["name"], predictor)[0]


def test_a_promotion_through_the_passes_keeps_the_promoted_versions_pod_template() -> None:
    sim = Sim()
    sim.with_canary()
    seen = []  # each graph the passes leave, with the canary's pod template in it
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):  # both steps pass: version 2 is promoted
        child = copy.deepcopy(sim.cluster.objects[SELDON])
        seen.append((version_roles(child), pod_templates(child)[deployment(child, "2")]))
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and "canaryVersion" not in sim.status
    after = sim.cluster.objects[SELDON]
    assert sim.weights() == {"2": 100} and version_roles(after) == {"2": "stable"}
    assert seen[0][0] == {"1": "stable", "2": "canary"}
    assert {template for _, template in seen} == {pod_templates(after)[deployment(after, "2")]}


def _lose_the_split(sim: Sim) -> None:
    """A status this release cannot read the split of (a newer release's, or a hand edit)."""
    sim.body["status"]["stableVersion"] = ["1"]
    sim.body["status"]["canaryVersion"] = {"v": "2"}
    sim.body["status"]["canaryWeight"] = 10.5


def _restored(sim: Sim) -> None:
    applied = len(sim.cluster.applied)
    sim.tick(1)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"],
            sim.status["canaryWeight"]) == ("1", "2", 10)
    message = sim.condition("StatusReadable")["message"]
    for said in ("stableVersion dropped; taken from SeldonDeployment shop/uplift: 1",
                 "canaryVersion dropped; taken from SeldonDeployment shop/uplift: 2",
                 "canaryWeight dropped; taken from SeldonDeployment shop/uplift: 10"):
        assert said in message
    assert sim.weights() == {"1": 90, "2": 10} and len(sim.cluster.applied) == applied


def test_a_lost_split_is_taken_from_the_graphs_roles_annotation() -> None:
    sim = Sim()
    sim.with_canary()
    child = sim.cluster.objects[SELDON]
    assert ROLES_ANNOTATION in child["metadata"]["annotations"]
    assert all(PREDICTOR_ROLE_ANNOTATION not in p["annotations"]
               for p in child["spec"]["predictors"])
    _lose_the_split(sim)
    _restored(sim)


def test_a_lost_split_is_taken_from_a_graph_an_earlier_operator_rendered() -> None:
    """Roles on the predictors, none on the object: still read (and the graph is left as it is:
    it holds everything this operator renders but the roles annotation)."""
    sim = Sim()
    sim.with_canary()
    child = sim.cluster.objects[SELDON]
    roles = version_roles(child)
    del child["metadata"]["annotations"][ROLES_ANNOTATION]
    for predictor in child["spec"]["predictors"]:
        predictor["annotations"][PREDICTOR_ROLE_ANNOTATION] = roles[
            predictor["annotations"]["version"]]
    _lose_the_split(sim)
    _restored(sim)
