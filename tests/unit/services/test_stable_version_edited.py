"""A ``status.stableVersion`` no decision of the operator explains (a hand edit: any digits
parse) moved the traffic off the version that serves: the graph was rendered with it as the
stable predictor (``{'999': 90, '1': 10}``) and MLflow's role tags followed it (the real stable
tagged canary). ``read_status`` takes, in its place, the version the history's newest decision
made stable when the model's own serving graph serves it as stable, and says so in
``StatusReadable``; a graph behind a decision (an apply refused or pending) or a decision whose
status write was lost still differs from the status, and is followed as before. The graph's
annotations are never the decision: whoever may edit SeldonDeployments may write any version
and role there (docs/security.md), and such an edit is reverted by the next apply, not copied
into the status (found by a review, 2026-12-08: a stable whose promotion had left the history,
or one an emergency rollback restored, was replaced by a version written into the graph)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, SELDON, Sim, reasons

from uplift_operator.adapters.kube import KubeError
from uplift_operator.render.seldon import ROLES_ANNOTATION

ROLE = "uplift.dev/role"


def _readable(sim: Sim) -> dict[str, Any] | None:
    return next((c for c in sim.status["conditions"] if c["type"] == "StatusReadable"), None)


def _promoted() -> Sim:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):  # both steps pass: version 2 is promoted
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.status["previousStableVersion"] == "1"
    return sim


@pytest.mark.parametrize("edited", ["999", "3"])
def test_a_stable_version_edited_by_hand_does_not_move_the_traffic(edited: str) -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    sim.body["status"]["stableVersion"] = edited
    result = sim.tick(30)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 100}
    condition = _readable(sim)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "StatusUnreadable")
    assert ("stableVersion dropped; taken from the history: 1, which its newest decision made "
            f"stable and SeldonDeployment shop/uplift serves as stable ({edited} is not the "
            "version the serving graph serves as stable") in condition["message"]
    assert "StatusUnreadable" in reasons(result)
    for _ in range(3):
        sim.tick(30)
    assert sim.weights() == {"1": 100} and sim.status["phase"] == "Healthy"
    assert sim.registry.tags[(REGISTERED, "1", ROLE)] == "stable"
    assert _readable(sim)["status"] == "True"  # type: ignore[index]


@pytest.mark.parametrize("edited", ["999", "3", "2"])
def test_a_canarys_stable_version_edited_by_hand_keeps_the_split(edited: str) -> None:
    """"2" is the canary's own version: the canary was then dropped as one that names the
    stable version, and version 2 served all traffic without passing its gates."""
    sim = Sim()
    sim.with_canary()
    sim.body["status"]["stableVersion"] = edited
    for _ in range(3):
        sim.tick(30)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("1", "2")
    assert sim.weights() == {"1": 90, "2": 10}
    assert sim.registry.tags[(REGISTERED, "1", ROLE)] == "stable"
    assert sim.registry.tags[(REGISTERED, "2", ROLE)] == "canary"
    assert "stableVersion dropped" in _readable(sim)["message"]  # type: ignore[index]


def test_a_promotion_the_graph_is_behind_keeps_its_stable_version() -> None:
    """The promotion's apply refused: the graph still serves 1 as its stable and 2 as its
    canary; the status' stable version (2) is the decision, applied once the API server takes
    it."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    while sim.weights() != {"1": 50, "2": 50}:
        sim.tick(30)
    sim.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and "canaryVersion" not in sim.status
    assert sim.weights() == {"1": 50, "2": 50}
    roles = sim.cluster.objects[SELDON]["metadata"]["annotations"][ROLES_ANNOTATION]
    assert json.loads(roles) == {"canary": "2", "stable": "1"}
    assert _readable(sim) is None
    sim.cluster.apply_error = None
    sim.tick(30)
    assert sim.status["stableVersion"] == "2" and _readable(sim) is None
    assert sim.weights() == {"2": 100}


def test_an_emergency_rollback_the_graph_is_behind_keeps_its_restored_version() -> None:
    sim = _promoted()
    sim.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "now"
    result = sim.tick(1)
    assert "EmergencyRollback" in reasons(result)
    assert sim.weights() == {"2": 100}  # not applied: version 1 is not in the graph
    for _ in range(3):
        sim.tick(30)
    assert sim.status["stableVersion"] == "1"
    assert sim.status["emergencyRolledBackVersion"] == "2" and _readable(sim) is None
    sim.cluster.apply_error = None
    sim.tick(30)
    assert sim.status["stableVersion"] == "1" and _readable(sim) is None


def test_a_first_version_replacing_one_that_never_served_keeps_it_while_the_graph_is_behind(
        ) -> None:
    """Version 1 never served and the spec moved to 2: 2 replaces it as the first version
    (the history's newest promotion names it), its apply refused. The graph's stable (1) is
    named nowhere else in the status."""
    sim = Sim()
    sim.tick(available=False)
    sim.tick(1, available=False)
    assert sim.weights() == {"1": 100} and sim.status["stableVersion"] == "1"
    sim.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    for _ in range(3):
        sim.tick(30, available=False)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"1": 100}
    assert _readable(sim) is None
    sim.cluster.apply_error = None
    sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}


def _edit_graph_stable(sim: Sim, version: str) -> None:
    """Someone who may edit SeldonDeployments relabels the stable predictor: its version
    annotation and the roles annotation."""
    graph = sim.cluster.objects[SELDON]
    roles = json.loads(graph["metadata"]["annotations"][ROLES_ANNOTATION])
    for predictor in graph["spec"]["predictors"]:
        if predictor["annotations"]["version"] == roles["stable"]:
            predictor["annotations"]["version"] = version
    roles["stable"] = version
    graph["metadata"]["annotations"][ROLES_ANNOTATION] = json.dumps(roles)


def test_a_graph_edited_after_the_stables_promotion_left_the_history_is_applied_over() -> None:
    """The stable's ``Promoted`` entry has left the 20-entry history (the usual state of a
    long-lived model): the status is followed, and the edited graph is applied over. Before,
    the graph's stable (3) was taken ({'3': 90, '1': 10}, version 1 tagged canary)."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    sim.body["status"]["history"] = [e for e in sim.body["status"]["history"]
                                     if e["action"] != "Promoted"]
    sim.tick(30)
    _edit_graph_stable(sim, "3")
    for _ in range(4):
        sim.tick(30)
    assert sim.status["stableVersion"] == "1" and "canaryVersion" not in sim.status
    assert sim.weights() == {"1": 100} and _readable(sim) is None
    assert sim.registry.tags[(REGISTERED, "1", ROLE)] == "stable"
    assert (REGISTERED, "3", ROLE) not in sim.registry.tags


def test_a_graph_edited_back_to_a_version_an_emergency_rollback_replaced_is_applied_over() -> None:
    """An emergency rollback 2 → 1, then a new canary 3 (which clears
    ``emergencyRolledBackVersion``): the history's newest decision that made a version stable
    is the rollback, which restored 1. A graph edited to serve 2 as its stable again is applied
    over; before, 2 was taken ({'2': 90, '3': 10}: the rollback undone)."""
    sim = _promoted()
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "now"
    sim.tick(1)
    for _ in range(3):
        sim.tick(30)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 100}
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    for _ in range(3):
        sim.tick(30)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("1", "3")
    assert "emergencyRolledBackVersion" not in sim.status
    _edit_graph_stable(sim, "2")
    for _ in range(3):
        sim.tick(30)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("1", "3")
    assert sorted(sim.weights()) == ["1", "3"] and _readable(sim) is None
    roles = sim.cluster.objects[SELDON]["metadata"]["annotations"][ROLES_ANNOTATION]
    assert json.loads(roles) == {"canary": "3", "stable": "1"}
    assert sim.registry.tags[(REGISTERED, "1", ROLE)] == "stable"
    assert sim.registry.tags[(REGISTERED, "3", ROLE)] == "canary"


def test_an_emergency_rollback_whose_status_write_was_lost_is_made_again() -> None:
    """The rollback applied (the graph serves 1 as its stable), its status write lost: the
    status read is the one before it (stable 2, which its history's promotion made stable),
    followed, and the request, still unhandled, acted on again."""
    sim = _promoted()
    sim.body["metadata"]["resourceVersion"] = "70"
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "now"
    before = copy.deepcopy(sim.body)
    sim.tick(1)
    roles = sim.cluster.objects[SELDON]["metadata"]["annotations"][ROLES_ANNOTATION]
    assert json.loads(roles)["stable"] == "1"
    sim.body = before
    result = sim.tick(1)
    assert "EmergencyRollback" in reasons(result)
    assert sim.status["stableVersion"] == "1" and _readable(sim) is None
    assert sim.status["emergencyRolledBackVersion"] == "2"
