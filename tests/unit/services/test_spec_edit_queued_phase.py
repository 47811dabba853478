"""A spec edit whose serving graph waits for a roll slot (``ServingApplied`` False
``RollQueued``) has not taken effect: the published phase is Progressing, its message naming
the queue, not Healthy, until it is applied (docs/install.md, "Argo CD": a spec that has not
taken effect does not show Healthy). Before, it read Healthy "version 1 serves all traffic"
while the graph served the spec before the edit. A re-render no edit asked for (an operator
release or setting) leaves Healthy; a status at rest is written once (no churn). Passes of two
UpliftModels over one fake cluster (``test_graph_rolls.Fleet``, limit 1)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from tests.unit.services.test_graph_rolls import Fleet, key, replicas_edited, upgraded

from uplift_operator.domain import conditions as cond

HEALTH_TESTDATA = (Path(__file__).resolve().parents[3] / "argocd" / "resource_customizations"
                   / "uplift.dev" / "UpliftModel" / "testdata")
SERVES = "version 1 serves all traffic"


def _phase(fleet: Fleet, name: str) -> tuple[str, str]:
    status = fleet.bodies[name]["status"]
    return status["phase"], status["message"]


def test_a_spec_edit_queued_is_progressing_until_it_is_applied() -> None:
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
    replicas_edited(fleet, "a", 2)
    fleet.tick("a", 1)  # a takes the one slot: its pods roll
    assert fleet.condition("a")["reason"] == "Applied"

    replicas_edited(fleet, "b", 3)
    fleet.tick("b", 1)  # queued behind a's roll: b's graph serves the spec before the edit
    queued = fleet.condition("b")
    assert (queued["status"], queued["reason"]) == ("False", "RollQueued")
    assert queued["message"] == ("SeldonDeployment b serves v1 100% as it is: re-render of the "
                                 "serving graph queued: 1 graphs rolling (limit 1); "
                                 f"{cond.SPEC_EDIT_QUEUED}")
    assert _phase(fleet, "b") == ("Progressing", f"ServingApplied False (RollQueued): "
                                                 f"{queued['message']}; {SERVES}")
    assert fleet.condition("b", "Ready")["status"] == "True"  # decisions as they were
    # What Argo CD's health check reads (Progressing: testdata/spec-edit-queued.yaml).
    body = yaml.safe_load((HEALTH_TESTDATA / "spec-edit-queued.yaml").read_text())
    assert {k: body["status"][k] for k in ("phase", "message", "observedGeneration")} == {
        k: fleet.bodies["b"]["status"][k] for k in ("phase", "message", "observedGeneration")}
    # b's own passes meanwhile: still queued, still Progressing, nothing new to write.
    at_rest = copy.deepcopy(fleet.bodies["b"]["status"])
    fleet.tick("b", 30)
    assert fleet.bodies["b"]["status"] == at_rest

    fleet.seldon("a")  # a's new pods serve: the slot goes to b
    fleet.tick("a", 1)
    assert fleet.woken == [key("b")]
    fleet.tick("b", 1)  # admitted: applied
    assert fleet.condition("b")["message"] == "SeldonDeployment b applied: v1 100%"
    assert _phase(fleet, "b") == ("Healthy", SERVES)
    fleet.seldon("b")
    fleet.tick("b", 1)
    for name in ("a", "b"):  # at rest: Healthy, nothing more to write, no flap
        assert _phase(fleet, name) == ("Healthy", SERVES)
        rested = copy.deepcopy(fleet.bodies[name]["status"])
        fleet.tick(name, 60)
        assert fleet.bodies[name]["status"] == rested


def test_a_re_render_no_edit_asked_for_stays_healthy_queued() -> None:
    """An operator release re-renders every graph: the specs took effect, the graphs serve."""
    fleet = upgraded(["a", "b"], limit=1)
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    for name in ("a", "b"):
        assert cond.SPEC_EDIT_QUEUED not in fleet.condition(name)["message"]
        assert _phase(fleet, name) == ("Healthy", SERVES)
