"""A placement the SeldonDeployments admission policy refuses (a toleration without a key or of
a control-plane taint, a system-critical PriorityClass, a pull Secret outside the chart's list)
is InvalidSpec under the operator's mirror of that policy (``--narrow-serving-placement``,
``--allowed-image-pull-secret``): the graph keeps the placement it was rendered with, and an
abort still takes the canary off. Before, the API accepted it and the operator's validation
passed it, so every apply was refused by the policy: the abort was written in the status and
never reached the SeldonDeployment.

The fake cluster refuses what the policy refuses, as the API server does with it installed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import SELDON, Sim, reasons

from uplift_operator.adapters.kube import KubeError
from uplift_operator.domain import validation

PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"node.kubernetes.io/pool": "inference"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference",
                     "effect": "NoSchedule"}],
    "imagePullSecrets": [{"name": "registry-pull"}],
}
PULL_SECRETS = ("registry-pull",)
DENIED = ("ValidatingAdmissionPolicy 'uplift-operator-seldondeployments' denied request: every "
          "toleration of a SeldonDeployment of the uplift-operator ServiceAccount names a taint "
          "key")


def _refused_by_the_policy(manifest: Mapping[str, Any]) -> bool:
    """What the chart's SeldonDeployments policy refuses of the placement (its two shape rules
    and, allowed.imagePullSecrets set, the pull-Secret rule)."""
    for predictor in manifest["spec"]["predictors"]:
        for component in predictor["componentSpecs"]:
            pod = component["spec"]
            if any(not t.get("key") or t["key"].startswith("node-role.kubernetes.io/")
                   for t in pod.get("tolerations", [])):
                return True
            if pod.get("priorityClassName") in ("system-node-critical",
                                                 "system-cluster-critical"):
                return True
            if any(s.get("name") not in PULL_SECRETS for s in pod.get("imagePullSecrets", [])):
                return True
    return False


def _with_the_policy(sim: Sim, *, mirrored: bool) -> None:
    """The policy installed in the fake cluster; ``mirrored``: the operator started with the
    options the chart then sets."""
    apply = sim.cluster.apply

    def admitted(manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        if plural == "seldondeployments" and _refused_by_the_policy(manifest):
            raise KubeError(DENIED, 422)
        return apply(manifest, plural)

    sim.cluster.apply = admitted  # type: ignore[method-assign]
    if mirrored:
        sim.deps.policy = validation.ServingPolicy(narrow_placement=True,
                                                   image_pull_secrets=PULL_SECRETS)


def _pods(sim: Sim) -> dict[str, dict[str, Any]]:
    return {p["annotations"]["version"]: p["componentSpecs"][0]["spec"]
            for p in sim.cluster.objects[SELDON]["spec"]["predictors"]}


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "keyless toleration": ({"tolerations": [{"operator": "Exists"}]},
                           "spec.serving.tolerations[0] names no taint key"),
    "control-plane toleration": (
        {"tolerations": [*PLACEMENT["tolerations"],
                         {"key": "node-role.kubernetes.io/control-plane",
                          "operator": "Exists", "effect": "NoSchedule"}]},
        "spec.serving.tolerations[1].key 'node-role.kubernetes.io/control-plane' is a "
        "control-plane taint"),
    "system-critical class": ({"priorityClassName": "system-cluster-critical"},
                              "spec.serving.priorityClassName 'system-cluster-critical'"),
    "pull Secret outside the list": (
        {"imagePullSecrets": [{"name": "registry-pull"}, {"name": "other-team-pull"}]},
        "spec.serving.imagePullSecrets[1].name 'other-team-pull' is not allowed by the "
        "operator (--allowed-image-pull-secret: registry-pull)"),
}


@pytest.mark.parametrize("annotation", ["uplift.dev/abort", "uplift.dev/emergency-rollback"])
@pytest.mark.parametrize("refused", list(REFUSED))
def test_a_refused_placement_mid_canary_is_invalid_and_an_abort_still_takes_it_off(
        refused: str, annotation: str) -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = dict(PLACEMENT)
    _with_the_policy(sim, mirrored=True)
    sim.with_canary()
    placed = _pods(sim)
    sim.body["spec"]["serving"] = {**PLACEMENT, **REFUSED[refused][0]}
    sim.body["metadata"]["generation"] = 2
    for _ in range(3):
        sim.tick(61)
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True" and REFUSED[refused][1] in invalid["message"]
    assert sim.weights() == {"1": 90, "2": 10}  # held where it stands, as rendered
    assert _pods(sim) == placed
    assert sim.condition("ServingApplied")["status"] == "True"
    sim.body["metadata"]["annotations"] = {annotation: "now"}
    result = sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.status["abortedVersion"] == "2"
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.condition("ServingApplied")["status"] == "True"
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")
    assert _pods(sim)["1"] == placed["1"]  # the stable's placement as it was


def test_without_the_mirror_the_policy_refuses_the_abort() -> None:
    """What the mirror prevents: the spec valid to the operator, every apply refused, the
    abort in the status and not in the graph (the canary keeps its traffic)."""
    sim = Sim()
    _with_the_policy(sim, mirrored=False)
    sim.with_canary()
    sim.body["spec"]["serving"] = {"tolerations": [{"operator": "Exists"}]}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "False"
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(1)
    assert sim.status["abortedVersion"] == "2"
    assert sim.weights() == {"1": 90, "2": 10}
    assert sim.condition("ServingApplied")["reason"] == "ApplyFailed"


def test_a_graph_deleted_under_a_refused_placement_is_created_without_the_refused_values() -> None:
    """No graph to read its placement from (deleted by hand): the spec's, but for what the
    policy refuses (``ServingPolicy.within``), so the graph is admitted and serves."""
    sim = Sim()
    _with_the_policy(sim, mirrored=True)
    sim.tick()
    sim.tick(1)
    sim.body["spec"]["serving"] = {
        **PLACEMENT, "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}, *PLACEMENT["tolerations"]],
        "imagePullSecrets": [{"name": "other-team-pull"}, {"name": "registry-pull"}]}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    del sim.cluster.objects[SELDON]
    sim.tick(1)
    (pod,) = _pods(sim).values()
    assert pod["tolerations"] == PLACEMENT["tolerations"]
    assert pod["imagePullSecrets"] == [{"name": "registry-pull"}]
    assert pod["nodeSelector"] == PLACEMENT["nodeSelector"]
    assert "priorityClassName" not in pod
    assert sim.condition("ServingApplied")["status"] == "True"


RENDERED_BEFORE: dict[str, tuple[dict[str, Any], str]] = {
    # A graph rendered before the policy was installed: a keyless toleration.
    "before the policy": ({"tolerations": [{"operator": "Exists"}, *PLACEMENT["tolerations"]]},
                          "uplift.dev/abort"),
    # One rendered before allowed.imagePullSecrets was narrowed: a pull Secret now outside it.
    "before the pull-Secret list was narrowed": (
        {"imagePullSecrets": [{"name": "other-team-pull"}, {"name": "registry-pull"}]},
        "uplift.dev/emergency-rollback"),
}


@pytest.mark.parametrize("rendered", list(RENDERED_BEFORE))
def test_a_graph_rendered_before_the_policy_is_held_without_what_it_refuses(
        rendered: str) -> None:
    """A graph whose placement the policy now refuses (rendered before it, or before its
    pull-Secret list was narrowed): the spec is InvalidSpec, and the held graph is rendered
    without the refused values (``ServingPolicy.admitted_placement``), so the policy admits
    the abort or the emergency rollback and the canary's traffic goes to the stable."""
    serving, annotation = RENDERED_BEFORE[rendered]
    sim = Sim()
    sim.body["spec"]["serving"] = {**PLACEMENT, **serving}
    sim.with_canary()
    assert _pods(sim)["1"].get("tolerations") != PLACEMENT["tolerations"] or (
        _pods(sim)["1"].get("imagePullSecrets") != PLACEMENT["imagePullSecrets"])
    _with_the_policy(sim, mirrored=True)
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    sim.body["metadata"]["annotations"] = {annotation: "now"}
    result = sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.condition("ServingApplied")["status"] == "True"
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")
    pod = _pods(sim)["1"]
    assert pod["tolerations"] == PLACEMENT["tolerations"]
    assert pod["imagePullSecrets"] == PLACEMENT["imagePullSecrets"]
    assert pod["nodeSelector"] == PLACEMENT["nodeSelector"]


def test_the_admitted_placement_leaves_out_what_the_policy_refuses() -> None:
    policy = validation.ServingPolicy(narrow_placement=True, image_pull_secrets=PULL_SECRETS)
    placement = {
        "nodeSelector": PLACEMENT["nodeSelector"],
        "tolerations": [{"operator": "Exists"}, *PLACEMENT["tolerations"],
                        {"key": "node-role.kubernetes.io/master", "operator": "Exists"}],
        "imagePullSecrets": [{"name": "other-team-pull"}, {"name": "registry-pull"}],
        "priorityClassName": "system-node-critical"}
    assert policy.admitted_placement(placement) == PLACEMENT
    assert policy.admitted_placement({"tolerations": [{"operator": "Exists"}],
                                      "imagePullSecrets": [{"name": "x"}],
                                      "priorityClassName": "batch"}) == {
        "priorityClassName": "batch"}
    assert validation.ServingPolicy().admitted_placement(placement) == placement
