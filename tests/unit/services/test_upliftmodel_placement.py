"""``spec.serving`` placement (nodeSelector, tolerations, imagePullSecrets, priorityClassName)
reaches every predictor's pod spec, the stable's and a canary's, and an edit re-renders both;
unset, none of it is rendered; under an invalid spec the graph's own placement is kept."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_upliftmodel import SELDON, Sim

from uplift_operator.render.seldon import PLACEMENT_KEYS

PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"node.kubernetes.io/pool": "inference"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference",
                     "effect": "NoSchedule"}],
    "imagePullSecrets": [{"name": "registry-pull"}],
    "priorityClassName": "inference-high",
}


def _pods(sim: Sim) -> dict[str, dict[str, Any]]:
    return {p["annotations"]["version"]: p["componentSpecs"][0]["spec"]
            for p in sim.cluster.objects[SELDON]["spec"]["predictors"]}


def test_the_placement_reaches_every_predictor_and_an_edit_both() -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = dict(PLACEMENT)
    sim.with_canary()
    pods = _pods(sim)
    assert set(pods) == {"1", "2"}
    for pod in pods.values():
        assert {k: pod[k] for k in PLACEMENT_KEYS} == PLACEMENT
    sim.body["spec"]["serving"] = {**PLACEMENT, "nodeSelector": {"pool": "b"}}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert [pod["nodeSelector"] for pod in _pods(sim).values()] == [{"pool": "b"}] * 2
    assert sim.weights() == {"1": 90, "2": 10}  # the split as it was


def test_unset_placement_is_not_rendered() -> None:
    sim = Sim()
    sim.tick()
    for pod in _pods(sim).values():
        assert not set(PLACEMENT_KEYS) & set(pod)


def test_an_invalid_spec_keeps_the_graphs_placement() -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = dict(PLACEMENT)
    sim.tick()
    sim.tick(1)
    # Invalid (a gate naming a treatment the model does not have, stored before the rule),
    # with another placement: the graph keeps its own.
    sim.body["spec"]["serving"] = {**PLACEMENT, "priorityClassName": "other"}
    sim.body["spec"]["rollout"]["gates"][0]["treatments"] = ["nope"]
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert [pod["priorityClassName"] for pod in _pods(sim).values()] == ["inference-high"]
