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


def _rendered_by_an_earlier_operator(sim: Sim) -> dict[str, Any]:
    """The graph there as operators before ``ROLES_ANNOTATION`` rendered it: roles on the
    predictors, none on the object."""
    child = sim.cluster.objects[SELDON]
    roles = version_roles(child)
    del child["metadata"]["annotations"][ROLES_ANNOTATION]
    for predictor in child["spec"]["predictors"]:
        predictor["annotations"][PREDICTOR_ROLE_ANNOTATION] = roles[
            predictor["annotations"]["version"]]
    return child


def test_a_lost_split_is_taken_from_a_graph_an_earlier_operator_rendered() -> None:
    """Roles on the predictors, none on the object: still read, and the graph rendered anew in
    the same pass (the split it restored unchanged)."""
    sim = Sim()
    sim.with_canary()
    before = version_roles(_rendered_by_an_earlier_operator(sim))
    _lose_the_split(sim)
    applied = len(sim.cluster.applied)
    sim.tick(1)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"],
            sim.status["canaryWeight"]) == ("1", "2", 10)
    assert "stableVersion dropped; taken from SeldonDeployment shop/uplift: 1" in (
        sim.condition("StatusReadable")["message"])
    child = sim.cluster.objects[SELDON]
    assert len(sim.cluster.applied) == applied + 1 and sim.weights() == {"1": 90, "2": 10}
    assert version_roles(child) == before
    assert all(PREDICTOR_ROLE_ANNOTATION not in p["annotations"]
               for p in child["spec"]["predictors"])


def test_a_graph_an_earlier_operator_rendered_is_re_rendered_at_once_not_at_the_promotion(
        ) -> None:
    """Before: it held everything this operator renders but the roles annotation, so it was
    left as it was, and the promotion's apply removed the per-predictor roles, which Seldon
    carries into the pods: the promoted version's pods rolled as they took all the traffic, a
    roll no slot counted. Now the first pass re-renders it (a throttled roll, once)."""
    sim = Sim()
    sim.with_canary()
    _rendered_by_an_earlier_operator(sim)
    sim.tick(1)
    child = copy.deepcopy(sim.cluster.objects[SELDON])
    assert ROLES_ANNOTATION in child["metadata"]["annotations"]
    assert all(PREDICTOR_ROLE_ANNOTATION not in p["annotations"]
               for p in child["spec"]["predictors"])
    assert sim.weights() == {"1": 90, "2": 10}  # the split as it was
    seen = {pod_templates(child)[deployment(child, "2")]}
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):  # both steps pass: version 2 is promoted
        sim.tick(30)
        graph = sim.cluster.objects[SELDON]
        seen.add(pod_templates(graph)[deployment(graph, "2")])
    assert sim.status["stableVersion"] == "2" and len(seen) == 1
