"""A Campaign whose modelRef never resolves (a typo in Git, the model deleted) is Degraded once
that has held past the grace (5 minutes, or a shorter progressDeadline), as an UpliftModel
whose version does not resolve is, not an endless Progressing: docs/install.md ("Argo CD")
promises Degraded. While the model is not found its ``SettingsDelivered`` condition is absent
(nothing to deliver), so before, ``domain.stuck`` had no problem to read and the published phase
stayed Progressing for good. Its Argo CD health reads that status:
argocd/.../Campaign/testdata/model-not-found.yaml (health_test.yaml: Degraded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.unit.services.test_campaign import MODEL, NOT_SERVING, SERVING, T0, Sim, reasons

HEALTH_TESTDATA = (Path(__file__).resolve().parents[3] / "argocd" / "resource_customizations"
                   / "uplift.dev" / "Campaign" / "testdata")


def _as_health_reads(status: dict[str, Any]) -> dict[str, Any]:
    """What the Campaign's health.lua reads of a status: phase, message, observedGeneration,
    InvalidSpec and Ready."""
    kept = {"InvalidSpec", "Ready"}
    return {"phase": status["phase"], "message": status["message"],
            "observedGeneration": status["observedGeneration"],
            "conditions": sorted((c["type"], c["status"], c["reason"])
                                 for c in status["conditions"] if c["type"] in kept)}


def test_a_campaign_whose_model_never_comes_is_degraded_past_the_grace_then_not() -> None:
    sim = Sim()
    sim.set_model(None, present=False)
    first = sim.tick()
    says = f"exposure 0%: UpliftModel {MODEL!r} not found"
    assert (sim.status["phase"], sim.status["message"]) == ("Progressing", says)
    assert first.requeue_after == 300.0   # the grace's end: a pass is due then
    assert sim.condition("ModelServing")["reason"] == "ModelNotFound"

    sim.tick(4)
    assert sim.status["phase"] == "Progressing"
    result = sim.tick(1)
    s = sim.status
    assert s["phase"] == "Degraded"
    assert s["message"] == (f"ModelServing False (ModelNotFound) since "
                            f"{T0.isoformat()}; {says}")
    assert reasons(result) == []
    # The same a month later (no pass says more), and what Argo CD's health check reads.
    sim.tick(60 * 24 * 30)
    assert sim.status == s | {"conditions": sim.status["conditions"]}
    body = yaml.safe_load((HEALTH_TESTDATA / "model-not-found.yaml").read_text())
    assert _as_health_reads(body["status"]) == _as_health_reads(sim.status)

    # The model created: the ramp starts, its phase as the ramp says.
    sim.set_model(SERVING)
    sim.tick(1)
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Progressing", 5)


def test_a_model_not_found_for_a_moment_is_progressing_still() -> None:
    """GitOps applying the Campaign a moment before its UpliftModel: within the grace."""
    sim = Sim()
    sim.set_model(None, present=False)
    sim.tick()
    sim.set_model(SERVING)
    sim.tick(2)
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Progressing", 5)
    sim.tick(10)
    assert sim.status["phase"] == "Progressing"


def test_a_model_not_serving_for_long_then_briefly_missing_gets_the_whole_grace() -> None:
    """ModelServing False for an hour (ModelNotServing: no problem of its own), then the model
    deleted and re-created (Argo CD Replace, a prune and re-add): ModelNotFound is timed from
    now, so the Campaign stays Progressing through the gap. Before, the reason inherited the
    hour-old transition time and the Campaign was Degraded at once, "since" an hour ago."""
    sim = Sim()
    sim.set_model(NOT_SERVING)
    sim.tick()
    sim.tick(60)
    assert sim.condition("ModelServing")["reason"] == "ModelNotServing"
    sim.set_model(None, present=False)
    sim.tick(0.1)
    missing = sim.condition("ModelServing")
    assert missing["reason"] == "ModelNotFound"
    assert sim.status["phase"] == "Progressing"
    sim.set_model(NOT_SERVING)
    sim.tick(0.5)
    assert sim.status["phase"] == "Progressing"
    sim.set_model(None, present=False)
    sim.tick(0.1)
    assert sim.status["phase"] == "Progressing"
    sim.tick(5)
    assert sim.status["phase"] == "Degraded"  # missing for the whole grace since it went
