"""A campaign held through its model's WaitingForServing (the predictor rolling out) and then
rolled back: the pass that rolls it back says what the next pass says, nothing new observed
(one status write, no Degraded → Progressing flap, ModelServing not flipped)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit.services.test_campaign import SERVING, Sim, reasons

WAITING: dict[str, Any] = {
    **copy.deepcopy(SERVING), "phase": "Progressing",
    "conditions": [{"type": "Ready", "status": "False", "reason": "WaitingForServing",
                    "message": "pods starting", "lastTransitionTime": "2026-12-01T00:00:00Z"}]}


@pytest.mark.parametrize(("annotation", "reason"), [
    ("uplift.dev/abort", "ManualAbort"),
    ("uplift.dev/emergency-rollback", "EmergencyRollback"),
])
def test_a_rollback_while_the_model_waits_for_serving_is_stable(annotation: str,
                                                                 reason: str) -> None:
    sim = Sim(schedule=None)
    sim.tick()
    sim.set_model(WAITING)
    sim.tick(1)
    held = sim.status
    assert (held["phase"], held["exposurePercent"]) == ("Progressing", 5)
    assert sim.condition("ModelServing")["status"] == "True"  # held: the stable version serves on
    sim.annotate(annotation, "x1")
    result = sim.tick(1)
    assert reasons(result) == [reason]
    rolled_back = copy.deepcopy(sim.status)
    assert (rolled_back["phase"], rolled_back["exposurePercent"]) == ("Degraded", 0)
    assert sim.condition("Ready")["reason"] == "RolledBack"
    # Exposing no more, the campaign no longer holds through the rollout: the model is judged
    # as any campaign not exposing judges it, in this pass already.
    assert sim.condition("ModelServing")["status"] == "False"
    assert "modelVersion" not in rolled_back
    for minutes in (0, 10):
        again = sim.tick(minutes)
        assert reasons(again) == []
        assert sim.status == rolled_back
    # The model serves again: still rolled back (a retry or a spec change restarts it).
    sim.set_model(SERVING)
    sim.tick(1)
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Degraded", 0)
    assert sim.condition("Ready")["reason"] == "RolledBack"
    assert sim.condition("ModelServing")["status"] == "True"
