"""``RuntimeSettings.placement`` (nodeSelector, tolerations, imagePullSecrets,
priorityClassName) in every predictor's pod spec: the stable's and a canary's alike, each key
only when set (a graph rendered without them keeps its pod spec: no roll at the upgrade), and
read back as rendered, so that a pass under an invalid spec renders the placement the graph has,
not the refused spec's (``services.upliftmodel._held_runtime``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from tests.unit.render.test_seldon import BACKEND, OWNER, RUNTIME
from tests.unit.render.test_seldon_runtime_read_back import ELSEWHERE

from uplift_operator.render.seldon import PLACEMENT_KEYS
from uplift_operator.render.serving import TrafficSplit

PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"node.kubernetes.io/pool": "inference", "topology.kubernetes.io/zone": "a"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference",
                     "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 60}],
    "imagePullSecrets": [{"name": "registry-pull"}],
    "priorityClassName": "inference-high",
}
SPLITS = [TrafficSplit("3"), TrafficSplit("3", "4", 25), TrafficSplit("3", "4", 0),
          TrafficSplit("3", "4", 100)]


def _pods(graph: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["componentSpecs"][0]["spec"] for p in graph["spec"]["predictors"]]


@pytest.mark.parametrize("split", SPLITS)
def test_every_predictor_gets_the_placement(split: TrafficSplit) -> None:
    graph = BACKEND.render(OWNER, replace(RUNTIME, placement=PLACEMENT), split)
    pods = _pods(graph)
    assert len(pods) == (2 if split.canary_version else 1)
    for pod in pods:
        assert {key: pod[key] for key in PLACEMENT_KEYS} == PLACEMENT
    # Nowhere else: not on the predictor, not beside the pod spec (no pdbSpec).
    for predictor in graph["spec"]["predictors"]:
        assert set(predictor["componentSpecs"][0]) == {"spec"}
        assert not set(PLACEMENT_KEYS) & set(predictor)


@pytest.mark.parametrize("split", SPLITS)
def test_unset_placement_is_absent_and_the_graph_is_as_before(split: TrafficSplit) -> None:
    before = BACKEND.render(OWNER, RUNTIME, split)
    for pod in _pods(before):
        assert not set(PLACEMENT_KEYS) & set(pod)
    empty = {"nodeSelector": {}, "tolerations": [], "imagePullSecrets": [],
             "priorityClassName": ""}
    assert BACKEND.render(OWNER, replace(RUNTIME, placement=empty), split) == before


@pytest.mark.parametrize("key", PLACEMENT_KEYS)
def test_each_key_alone_is_rendered_alone(key: str) -> None:
    graph = BACKEND.render(OWNER, replace(RUNTIME, placement={key: PLACEMENT[key]}),
                           TrafficSplit("3", "4", 25))
    plain = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 25))
    for pod, before in zip(_pods(graph), _pods(plain), strict=True):
        assert pod == {**before, key: PLACEMENT[key]}


def test_a_key_outside_the_placement_keys_is_not_rendered() -> None:
    graph = BACKEND.render(OWNER, replace(RUNTIME, placement={"nodeName": "node-1",
                                                              "hostNetwork": True}),
                           TrafficSplit("3"))
    assert graph == BACKEND.render(OWNER, RUNTIME, TrafficSplit("3"))


def test_the_rendering_does_not_share_the_settings_objects() -> None:
    placement = {key: (dict(v) if isinstance(v, dict) else
                       [dict(t) for t in v] if isinstance(v, list) else v)
                 for key, v in PLACEMENT.items()}
    graph = BACKEND.render(OWNER, replace(RUNTIME, placement=placement),
                           TrafficSplit("3", "4", 25))
    stable, canary = _pods(graph)
    stable["tolerations"][0]["value"] = "edited"
    stable["nodeSelector"]["x"] = "y"
    assert canary["tolerations"] == PLACEMENT["tolerations"]
    assert placement == PLACEMENT


@pytest.mark.parametrize("split", SPLITS)
def test_the_placement_reads_back_as_rendered(split: TrafficSplit) -> None:
    runtime = replace(RUNTIME, placement=PLACEMENT)
    graph = BACKEND.render(OWNER, runtime, split)
    read = BACKEND.runtime_settings(graph, replace(ELSEWHERE, placement={
        "nodeSelector": {"kubernetes.io/hostname": "elsewhere"}}))
    assert read is not None and dict(read.placement) == PLACEMENT
    assert BACKEND.render(OWNER, read, split) == graph


def test_a_graph_without_placement_reads_back_none_not_the_fallbacks() -> None:
    """An invalid spec's placement (the fallback) never reaches a pod through a held pass."""
    graph = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 25))
    read = BACKEND.runtime_settings(graph, replace(ELSEWHERE, placement=PLACEMENT))
    assert read is not None and dict(read.placement) == {}
    assert BACKEND.render(OWNER, read, TrafficSplit("3", "4", 25)) == graph
