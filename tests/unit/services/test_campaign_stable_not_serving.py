"""A Campaign exposing while its UpliftModel's stable version, which served, does not any more:
the exposure is held at its step (no rollback for the model's outage: every decision as before),
but ``ModelServing`` says False, ``StableNotServing``, and the phase is Degraded past the grace
(``domain.stuck``), Paused kept under a pause but the outage named, which Argo CD's health check
reads as Degraded (argocd/.../Campaign/testdata/stable-not-serving.yaml and
paused-stable-not-serving.yaml). Before, ``ModelServing`` stayed True ``StableVersionServing``
("serves version 3 (its predictor is not reported ready: stable version 3 does not serve any
more ...)") and the Campaign Healthy for as long as the outage lasted. A model rolling out (its
predictor not ready yet, a stable that still serves) is held through as before, ModelServing
True."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.services.test_campaign import SERVING, Sim

from uplift_operator.handlers import observability

HEALTH_TESTDATA = (Path(__file__).resolve().parents[3] / "argocd" / "resource_customizations"
                   / "uplift.dev" / "Campaign" / "testdata")
DOWN_WORDS = ("stable version 3 does not serve any more: stable 3 not serving: SeldonDeployment "
              "Failed: Deployment hillstrom-uplift-v3 has no available replicas (ImagePullBackOff)")
# The model as its own pass writes it: Degraded, Ready False WaitingForServing saying so
# (``domain.canary.stable_down_text``), stableServedVersion naming the stable version.
DOWN: dict[str, Any] = {
    **copy.deepcopy(SERVING), "stableServedVersion": "3", "phase": "Degraded",
    "message": DOWN_WORDS,
    "conditions": [{"type": "Ready", "status": "False", "reason": "WaitingForServing",
                    "message": DOWN_WORDS, "lastTransitionTime": "2026-12-01T12:02:00Z"}]}
# A rollout: its predictor not reported ready yet, nothing said of an outage.
ROLLING: dict[str, Any] = {
    **copy.deepcopy(SERVING), "phase": "Progressing",
    "message": "waiting for stable version 3 to serve",
    "conditions": [{"type": "Ready", "status": "False", "reason": "WaitingForServing",
                    "message": "waiting for stable version 3 to serve",
                    "lastTransitionTime": "2026-12-01T12:02:00Z"}]}


def _exposing(paused: bool = False) -> Sim:
    sim = Sim()
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    if paused:
        sim.body["spec"]["exposure"]["paused"] = True
        sim.body["metadata"]["generation"] += 1
        sim.tick(0)
        assert sim.status["phase"] == "Paused"
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    return sim


def _decided(status: dict[str, Any]) -> dict[str, Any]:
    """What the ramp decided: everything but the published phase and message and the
    conditions."""
    return {k: v for k, v in status.items() if k not in ("phase", "message", "conditions")}


def _as_health_reads(status: dict[str, Any]) -> dict[str, Any]:
    """What the Campaign's health.lua reads of a status."""
    kept = {"InvalidSpec", "Ready", "ModelServing"}
    return {"phase": status["phase"], "message": status["message"],
            "observedGeneration": status["observedGeneration"],
            "conditions": sorted((c["type"], c["status"], c["reason"])
                                 for c in status["conditions"] if c["type"] in kept)}


def _testdata(name: str) -> dict[str, Any]:
    return _as_health_reads(yaml.safe_load((HEALTH_TESTDATA / name).read_text())["status"])


def test_the_model_s_stable_outage_holds_the_exposure_says_so_and_is_degraded_past_the_grace(
        ) -> None:
    sim = _exposing()
    before = sim.status
    sim.set_model(DOWN)
    result = sim.tick(1)
    s = sim.status
    # Decisions as before: held at its step, nothing rolled back, no event.
    assert result.events == ()
    assert _decided(s) == _decided(before)
    serving = sim.condition("ModelServing")
    assert (serving["status"], serving["reason"]) == ("False", "StableNotServing")
    assert serving["message"] == (f"UpliftModel 'hillstrom-uplift': {DOWN_WORDS} (the exposure "
                                  "is held at its step, no rollback)")
    assert sim.condition("Ready")["status"] == "True"  # the campaigns file treats as it did
    assert s["phase"] == "Progressing"  # within the grace
    assert result.requeue_after is not None and result.requeue_after <= 300.0

    sim.tick(4)
    assert sim.status["phase"] == "Progressing"
    sim.tick(1)
    degraded = sim.status
    assert degraded["phase"] == "Degraded"
    since = serving["lastTransitionTime"].replace("Z", "+00:00")
    assert degraded["message"].startswith(f"ModelServing False (StableNotServing) since {since}: "
                                          f"{serving['message']}; exposure 25% at step 2/")
    assert _decided(degraded)["exposurePercent"] == 25
    # The model's outage, paged as the model's (UpliftModelNotServing): no spec held back.
    assert observability.spec_stuck("Campaign", degraded) is None
    # A pass later with nothing new: the same status (nothing written).
    sim.tick(30)
    assert sim.status["phase"] == "Degraded" and sim.status["message"] == degraded["message"]
    assert _as_health_reads(sim.status) == _testdata("stable-not-serving.yaml")

    sim.set_model(SERVING)  # it serves again: the ramp's phase at once, the step as it was
    sim.tick(1)
    assert sim.status["phase"] == "Progressing"
    assert (sim.condition("ModelServing")["status"], sim.status["exposurePercent"]) == ("True", 25)


def test_a_completed_ramp_is_not_healthy_while_its_model_does_not_serve() -> None:
    sim = _exposing()
    sim.annotate("uplift.dev/promote", "full")
    sim.tick(1)
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Healthy", 100)
    sim.set_model(DOWN)
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"  # within the grace
    sim.tick(5)
    assert sim.status["phase"] == "Degraded" and sim.status["exposurePercent"] == 100
    assert sim.status["message"].startswith("ModelServing False (StableNotServing) since ")


def test_a_paused_campaign_names_its_model_s_outage_which_argo_cd_reads_as_degraded() -> None:
    sim = _exposing(paused=True)
    sim.set_model(DOWN)
    sim.tick(1)
    s = sim.status
    assert s["phase"] == "Paused" and s["exposurePercent"] == 25
    since = sim.condition("ModelServing")["lastTransitionTime"].replace("Z", "+00:00")
    # Named at once (no grace to wait out under a pause), after the pause's words.
    assert s["message"] == (f"{sim.condition('Ready')['message']}; ModelServing False "
                            f"(StableNotServing) since {since}: "
                            f"{sim.condition('ModelServing')['message']}")
    assert s["message"].startswith("exposure 25% at step 2/3 held by spec.exposure.paused")
    assert _as_health_reads(s) == _testdata("paused-stable-not-serving.yaml")
    sim.set_model(SERVING)
    sim.tick(1)
    assert sim.status["phase"] == "Paused" and "StableNotServing" not in sim.status["message"]


@pytest.mark.parametrize("paused", [False, True])
def test_a_model_rolling_out_is_held_through_serving(paused: bool) -> None:
    sim = _exposing(paused)
    sim.set_model(ROLLING)
    sim.tick(1)
    serving = sim.condition("ModelServing")
    assert (serving["status"], serving["reason"]) == ("True", "StableVersionServing")
    sim.tick(30)
    assert sim.status["phase"] == ("Paused" if paused else "Progressing")
    assert sim.status["exposurePercent"] == 25

