"""What a pass measured and what it was asked by hand, in the same pass: neither is lost, and
the status is what those observations say (a pass run again on it changes nothing)."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.requests import parse_requests

from .test_exposure import ANCHOR, BUDGET_SPEC, SERVING, T0


def _spent(now: dt.datetime) -> GateOutcome:
    return GateOutcome(name="budget", verdict=GateVerdict.FAIL, message="m", time=now,
                       value=5200.0, threshold=5000.0, suspension=Suspension(None, "spent"))


def _observed(**kwargs: object) -> exposure.Observed:
    return exposure.Observed(model=SERVING, budget_anchor=ANCHOR, generation=1,
                             **kwargs)  # type: ignore[arg-type]


def test_a_full_promote_keeps_the_budget_fail_measured_in_the_same_pass() -> None:
    start = exposure.decide(BUDGET_SPEC, CampaignStatus(), _observed(), T0).status
    now = T0 + dt.timedelta(minutes=6)
    promoted = exposure.decide(BUDGET_SPEC, start, _observed(
        gate_outcomes=[_spent(now)], requests=parse_requests({"uplift.dev/promote": "full:1"})),
        now)
    s = promoted.status
    # The promote is done (the completed ramp's 100 % held aside), and the spend suspends it:
    # never Healthy and treating at 100 % until the next pass.
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent, s.current_step) == (
        Phase.SUSPENDED, 0, 100, None)
    assert not exposure.treating(s)
    assert [(g.name, g.verdict) for g in s.gates] == [("budget", GateVerdict.FAIL)]
    assert [e.reason.value for e in promoted.events] == [
        "ManualPromote", "RampCompleted", "BudgetExhausted"]
    # Run again on its own output, nothing new observed: the same status.
    again = exposure.decide(BUDGET_SPEC, s, _observed(
        requests=parse_requests({"uplift.dev/promote": "full:1"})), now)
    assert again.status == s and again.events == ()


def test_a_one_step_promote_keeps_the_budget_fail_measured_in_the_same_pass() -> None:
    # Step 1 at 5 %; the analysis of this pass (measured on step 1) finds the budget spent,
    # and a promote by hand moves the ramp to step 2 in the same pass.
    start = exposure.decide(BUDGET_SPEC, CampaignStatus(), _observed(), T0).status
    now = T0 + dt.timedelta(minutes=6)
    promoted = exposure.decide(BUDGET_SPEC, start, _observed(
        gate_outcomes=[_spent(now)], requests=parse_requests({"uplift.dev/promote": "step:1"})),
        now)
    s = promoted.status
    # The step is promoted (its 25 % held aside), and the spend suspends it in this pass:
    # never treating at 25 % while the budget is spent, never a rollback.
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent, s.current_step) == (
        Phase.SUSPENDED, 0, 25, 1)
    assert not exposure.treating(s)
    assert [(g.name, g.verdict) for g in s.gates] == [("budget", GateVerdict.FAIL)]
    assert s.spend == 5200.0 and s.rolled_back_generation is None
    assert [e.reason.value for e in promoted.events] == [
        "ManualPromote", "StepAdvanced", "BudgetExhausted"]
    # The step's evidence starts at the step: the Fail (measured on step 1) passes nothing.
    assert s.step_started_at == now and s.last_analysis_at == now
    # Run again on its own output, nothing new observed: the same status.
    again = exposure.decide(BUDGET_SPEC, s, _observed(
        gate_outcomes=[_spent(now)], requests=parse_requests({"uplift.dev/promote": "step:1"})),
        now)
    assert again.status == s and again.events == ()


def test_a_new_model_version_keeps_the_budget_fail_measured_in_the_same_pass() -> None:
    # The model promotes version 4 in the pass whose analysis (of version 3's step) finds the
    # budget spent: the step starts over on version 4, suspended at once.
    start = exposure.decide(BUDGET_SPEC, CampaignStatus(), _observed(), T0).status
    now = T0 + dt.timedelta(minutes=6)
    version_4 = exposure.ModelObservation("m", True, "4", serving=True, why="serves version 4")
    d = exposure.decide(BUDGET_SPEC, start, exposure.Observed(
        model=version_4, budget_anchor=ANCHOR, generation=1, gate_outcomes=[_spent(now)]), now)
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent, s.model_version) == (
        Phase.SUSPENDED, 0, 5, "4")
    assert [e.reason.value for e in d.events] == ["ModelVersionChanged", "BudgetExhausted"]


def test_a_budget_pass_measured_before_a_promote_keeps_the_step_s_verdict() -> None:
    # Only a Fail outlives the step it was measured on: the other outcomes of that analysis
    # (a budget Pass included) belong to the step before and are dropped, as any gate's.
    start = exposure.decide(BUDGET_SPEC, CampaignStatus(), _observed(), T0).status
    now = T0 + dt.timedelta(minutes=6)
    passed = GateOutcome(name="budget", verdict=GateVerdict.PASS, message="m", time=now,
                         value=10.0, threshold=5000.0)
    d = exposure.decide(BUDGET_SPEC, start, _observed(
        gate_outcomes=[passed], requests=parse_requests({"uplift.dev/promote": "step:1"})), now)
    assert (d.status.exposure_percent, d.status.current_step) == (25, 1)
    assert d.status.gates == start.gates and d.status.last_analysis_at == start.last_analysis_at


def test_a_one_step_ramp_promoted_by_hand_keeps_the_budget_fail_of_its_pass() -> None:
    # One step, no pause: a promote of one step completes the ramp (as a full one does).
    one_step = BUDGET_SPEC.model_copy(update={"exposure": BUDGET_SPEC.exposure.model_copy(
        update={"steps": [BUDGET_SPEC.exposure.steps[-1]]})})
    start = exposure.decide(one_step, CampaignStatus(), _observed(), T0).status
    assert (start.current_step, start.exposure_percent) == (0, 100)
    now = T0 + dt.timedelta(minutes=6)
    d = exposure.decide(one_step, start, _observed(
        gate_outcomes=[_spent(now)], requests=parse_requests({"uplift.dev/promote": "step:1"})),
        now)
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent, s.current_step) == (
        Phase.SUSPENDED, 0, 100, None)
    assert [e.reason.value for e in d.events] == ["ManualPromote", "RampCompleted",
                                                 "BudgetExhausted"]
