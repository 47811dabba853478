"""An invalid spec of the Campaign's UpliftModel: its pass keeps ``stableVersion`` and sets Ready
reason ``InvalidSpec``, which no longer tells whether that version ever served. A campaign
already exposing holds; none starts on it (a first version that never served would start it)."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_campaign import SERVING, T0, Sim, reasons

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.services.campaign import model_inputs
from uplift_operator.services.common import invalid_pass

WAITING: dict[str, Any] = {"stableVersion": "1", "phase": "Progressing",
           "message": "waiting for stable version 1 to serve",
           "conditions": [{"type": "Ready", "status": "False", "reason": "WaitingForServing",
                           "message": "waiting for stable version 1 to serve",
                           "lastTransitionTime": "2026-12-01T00:00:00Z"}]}


def _invalid(status: dict[str, Any]) -> dict[str, Any]:
    """The model's own pass on an invalid edit of its spec (``services.common.invalid_pass``)."""
    return invalid_pass(UpliftModelStatus.model_validate(status), 2,
                        ["spec.rollout.gates[0] (x).templateRef: metric template 'nope' does "
                         "not exist"], T0).status


def test_a_model_that_never_served_starts_no_campaign_once_its_spec_is_invalid() -> None:
    sim = Sim(model_status=WAITING)
    sim.tick()
    assert (sim.status["exposurePercent"], sim.condition("ModelServing")["reason"]) == (
        0, "ModelNotServing")
    sim.set_model(_invalid(WAITING))
    result = sim.tick(1)
    assert "ExposureStarted" not in reasons(result)
    assert sim.status["exposurePercent"] == 0  # phase Degraded: the model is
    assert sim.condition("ModelServing")["status"] == "False"


def test_an_exposing_campaign_holds_through_its_models_invalid_spec() -> None:
    sim = Sim()
    sim.tick()
    sim.set_model(_invalid(SERVING))
    result = sim.tick(1)
    assert result.events == () and sim.status["exposurePercent"] == 5
    assert "its spec is invalid; the stable version serves on; the exposure is held" in (
        sim.condition("ModelServing")["message"])


def test_what_a_campaign_reads_of_its_model_tells_the_two_apart() -> None:
    # model_inputs (the watch's wake-up digest) judges the status both ways, so a change of
    # the model from serving to invalid wakes its Campaigns
    body = {"metadata": {"name": "m", "generation": 1}, "status": SERVING}
    invalid = {"metadata": {"name": "m", "generation": 1}, "status": _invalid(SERVING)}
    assert model_inputs(body) != model_inputs(invalid)
