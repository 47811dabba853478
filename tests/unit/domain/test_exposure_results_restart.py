"""The Campaign's results (``incrementalEffect``, ``roi``) belong to the ramp and the version
they were measured on: a retry or a promotion mid-ramp clears them rather than shows the old
ones as the new ramp's for an attribution window; bounds that crossed are never shown around an
estimate outside them; and a step index past edited-away steps completes as the last one."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure import (
    PROMOTION_SPEC,
    SPEC,
    T0,
    TYPES,
    _at_step_two,
    _promotion_pass,
    _serving,
)

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.measurements import CampaignUnits
from uplift_operator.domain.requests import parse_requests


def _measured(status: CampaignStatus, now: dt.datetime, *, roi_verdict: GateVerdict,
              version: str = "3", requests: dict[str, str] | None = None) -> CampaignStatus:
    """A pass whose analysis measured an effect and an ROI (the roi gate's verdict given; the
    others Inconclusive), with units counted since the ramp started."""
    outcomes = [GateOutcome(
        name=name, message="m", time=now, threshold=0.0, samples=400,
        verdict=roi_verdict if type_ == "roi" else GateVerdict.INCONCLUSIVE,
        value={"roi": -0.4, "incrementalConversions": -0.2}.get(type_),
        lower={"roi": -0.6, "incrementalConversions": -0.3}.get(type_),
        upper={"roi": -0.2, "incrementalConversions": -0.1}.get(type_))
        for name, type_ in TYPES.items()]
    return exposure.decide(PROMOTION_SPEC, status, exposure.Observed(
        model=_serving(version), gate_outcomes=outcomes, budget_anchor=T0, generation=1,
        units=CampaignUnits(treated=700, holdout=80),
        requests=parse_requests(requests or {})), now).status


def test_a_retry_starts_without_the_rolled_back_ramps_results() -> None:
    started = _promotion_pass(CampaignStatus(), T0, analysis=False).status
    rolled_back = _measured(started, T0 + dt.timedelta(minutes=5), roi_verdict=GateVerdict.FAIL)
    assert (rolled_back.phase, rolled_back.exposure_percent) == (Phase.DEGRADED, 0)
    assert rolled_back.roi is not None and rolled_back.roi.estimate == -0.4
    assert rolled_back.incremental_effect is not None
    retried = exposure.decide(PROMOTION_SPEC, rolled_back, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=1,
        requests=parse_requests({"uplift.dev/retry": "r1"})), T0 + dt.timedelta(hours=1)).status
    assert (retried.phase, retried.exposure_percent) == (Phase.PROGRESSING, 5)
    assert retried.history[-1].action == "Retry"
    # Until its own first cohort closes, the new ramp shows no result, not the last one's.
    assert (retried.roi, retried.incremental_effect) == (None, None)
    assert (retried.treated_units, retried.holdout_units) == (0, 0)
    # The history keeps why the last ramp was rolled back.
    assert any(e.action == "RolledBack" and "roi" in e.reason for e in retried.history)


def test_a_promotion_mid_ramp_clears_the_old_versions_results_until_measured_again() -> None:
    before, now = _at_step_two()
    measured = _measured(before, now + dt.timedelta(minutes=6), roi_verdict=GateVerdict.PASS)
    assert measured.roi is not None and measured.incremental_effect is not None
    promoted = _promotion_pass(measured, now + dt.timedelta(minutes=7), version="4",
                               analysis=False).status
    assert (promoted.model_version, promoted.current_step) == ("4", 1)
    assert (promoted.roi, promoted.incremental_effect) == (None, None)
    # Units count since the ramp started, which the promotion did not restart.
    assert (promoted.treated_units, promoted.holdout_units) == (700, 80)
    again = _measured(promoted, now + dt.timedelta(minutes=13), roi_verdict=GateVerdict.PASS,
                      version="4")
    assert again.roi is not None and again.roi.display == "-0.4 [-0.6, -0.2]"


def test_a_completed_ramp_keeps_its_final_results_through_a_promotion() -> None:
    before, now = _at_step_two()
    measured = _measured(before, now + dt.timedelta(minutes=6), roi_verdict=GateVerdict.PASS,
                         requests={"uplift.dev/promote": "full"})
    assert measured.current_step is None and measured.roi is not None
    promoted = _promotion_pass(measured, now + dt.timedelta(minutes=7), version="4",
                               analysis=False).status
    assert promoted.model_version == "4" and promoted.roi == measured.roi


def test_bounds_that_crossed_are_not_shown_around_an_estimate_outside_them() -> None:
    started = _promotion_pass(CampaignStatus(), T0, analysis=False).status
    at = T0 + dt.timedelta(minutes=5)
    roi = next(name for name, type_ in TYPES.items() if type_ == "roi")
    s = exposure.decide(PROMOTION_SPEC, started, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=1, gate_outcomes=[GateOutcome(
            name=roi, verdict=GateVerdict.PASS, message="m", time=at, value=-0.022,
            lower=0.638, upper=0.281)]), at).status
    assert s.roi is not None
    assert (s.roi.estimate, s.roi.lower, s.roi.upper) == (-0.022, None, None)
    assert s.roi.display == "-0.022 (bounds crossed)"


def test_a_step_index_past_steps_edited_away_completes_as_the_last_step() -> None:
    steps = SPEC.exposure.steps
    two = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(update={
        "steps": [steps[0], steps[1].model_copy(update={"pause": "1h"})]})})
    assert exposure.completes(two, CampaignStatus(current_step=1))
    assert exposure.completes(two, CampaignStatus(current_step=2))  # was at the third step
    assert not exposure.completes(two, CampaignStatus(current_step=0))
