"""A hand edit anywhere in a predictor is applied over at the next pass, not left until the next
split change: everything in a predictor reaches its pods, and nothing else adds to it (Seldon
Core 1.17.1 defaults in memory only; the CRD's one default, a port's ``protocol``, is rendered).
Outside the predictors a field someone else set is left alone, and a graph at rest is never
applied again (``services.upliftmodel._same_spec``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import SELDON, Sim


def pod(graph: dict[str, Any], index: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = graph["spec"]["predictors"][index]["componentSpecs"][0]["spec"]
    return spec


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "tolerations": lambda g: pod(g).update(tolerations=[
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]),
    "nodeName": lambda g: pod(g).update(nodeName="cp-0"),
    "hostNetwork": lambda g: pod(g).update(hostNetwork=True),
    "privileged": lambda g: pod(g)["containers"][0]["securityContext"].update(privileged=True),
    "a port": lambda g: pod(g)["containers"][0]["ports"].append(
        {"name": "debug", "containerPort": 5678, "protocol": "TCP"}),
    "a predictor label": lambda g: g["spec"]["predictors"][0]["labels"].update(team="x"),
    "the canary's pod": lambda g: pod(g, 1).update(nodeName="cp-0"),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_a_field_added_inside_a_predictor_is_applied_over_at_the_next_pass(edit: str) -> None:
    sim = Sim()
    sim.with_canary()
    rendered = sim.cluster.get(*SELDON)
    assert rendered is not None
    applied = len(sim.cluster.applied)
    EDITS[edit](sim.cluster.objects[SELDON])  # kubectl edit
    sim.tick(1)
    assert len(sim.cluster.applied) == applied + 1
    assert sim.cluster.objects[SELDON]["spec"]["predictors"] == rendered["spec"]["predictors"]
    assert sim.weights() == {"1": 90, "2": 10}
    sim.tick(1)
    sim.tick(1)
    assert len(sim.cluster.applied) == applied + 1  # at rest: not applied again


def test_a_graph_as_the_api_server_returns_it_is_not_applied_again() -> None:
    """The CRD defaults a container port's ``protocol`` to TCP: rendered so, the graph read
    back is the rendered one, and passes at rest apply nothing."""
    sim = Sim()
    sim.with_canary()
    graph = sim.cluster.objects[SELDON]
    for predictor in graph["spec"]["predictors"]:
        for port in pod({"spec": {"predictors": [predictor]}})["containers"][0]["ports"]:
            assert port["protocol"] == "TCP"
    applied = len(sim.cluster.applied)
    for _ in range(5):
        sim.tick(1)
    assert len(sim.cluster.applied) == applied


def test_a_spec_field_outside_the_predictors_set_by_someone_else_is_left_alone() -> None:
    """Outside the (atomic) predictors list a field another manager set survives the
    operator's apply; applying over it would change nothing and repeat at every pass."""
    sim = Sim()
    sim.with_canary()
    applied = len(sim.cluster.applied)
    sim.cluster.objects[SELDON]["spec"]["serverType"] = "rpc"
    sim.tick(1)
    sim.tick(1)
    assert len(sim.cluster.applied) == applied


def test_a_split_change_that_takes_a_hand_edit_out_of_a_kept_predictor_counts_as_a_roll() -> None:
    """The promotion's apply also replaces the edited predictor of the version it keeps: its
    pods roll, which ``_kept_predictors_change`` says (the roll is counted)."""
    from uplift_operator.services.upliftmodel import _kept_predictors_change

    sim = Sim()
    sim.with_canary()
    graph = sim.cluster.get(*SELDON)
    assert graph is not None
    edited = sim.cluster.get(*SELDON)
    assert edited is not None
    pod(edited, 1)["nodeName"] = "cp-0"
    assert not _kept_predictors_change(graph, graph)
    assert _kept_predictors_change(edited, graph)
