"""Pins of the Campaign exposure ramp (``domain.exposure``) that no other test held: each one
fails on a small change (a dropped condition, a bound no longer kept) that the rest of the suite
let through."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure import (
    ANCHOR,
    BUDGET_SPEC,
    RESULTS_SPEC,
    SERVING,
    SO_FAR,
    SPEC,
    T0,
    _budget_pass,
)

from uplift_operator.api.v1alpha1.campaign import (
    CampaignGate,
    CampaignSpec,
    CampaignStatus,
    Schedule,
)
from uplift_operator.api.v1alpha1.common import Condition, GateStatus, GateVerdict, Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.measurements import CampaignUnits
from uplift_operator.domain.requests import parse_requests
from uplift_operator.domain.steps import Reason

P, INC, F = GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.FAIL
NO_SCHEDULE = SPEC.model_copy(update={"schedule": None})


def _gates(spec_gates: list[dict[str, object]]) -> list[CampaignGate]:
    return [CampaignGate.model_validate(g) for g in spec_gates]


def _pass(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime, *,
          outcomes: list[GateOutcome] | None = None, requests: dict[str, str] | None = None,
          model: exposure.ModelObservation = SERVING,
          units: CampaignUnits | None = None) -> exposure.Decision:
    observed = exposure.Observed(model=model, gate_outcomes=outcomes, budget_anchor=ANCHOR,
                                 generation=1, requests=parse_requests(requests or {}),
                                 units=units)
    return exposure.decide(spec, status, observed, now)


# -- budget ----------------------------------------------------------------------------------------

def test_a_dry_run_budget_gate_never_suspends() -> None:
    spec = BUDGET_SPEC.model_copy(update={"exposure": BUDGET_SPEC.exposure.model_copy(update={
        "gates": _gates([{"name": "budget", "type": "budget", "dryRun": True}])})})
    status = CampaignStatus(current_step=0, exposure_percent=5, gates=[GateStatus(
        name="budget", verdict=F, message="spent", time=T0, value=5200.0, threshold=5000.0)])
    assert exposure.budget_suspension(spec, status, ANCHOR, T0 + dt.timedelta(hours=1)) is None


def test_the_remaining_budget_is_never_negative() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    s = _budget_pass(start, T0 + dt.timedelta(days=2), F).status
    assert (s.spend, s.budget_remaining) == (5200.0, 0.0)


def test_a_suspension_found_without_the_exposure_kept_holds_the_step_s() -> None:
    # Written by an operator that did not keep the exposure aside: 0 % at step 1, the budget
    # spent in this period. The exposure to give back is the step's, and nothing new is said.
    status = CampaignStatus(phase=Phase.SUSPENDED, current_step=0, exposure_percent=0,
                            step_started_at=T0, ramp_started_at=T0, model_version="3",
                            gates=[GateStatus(name="budget", verdict=F, message="spent",
                                              time=T0 + dt.timedelta(days=1), value=5200.0,
                                              threshold=5000.0)])
    d = _pass(BUDGET_SPEC, status, T0 + dt.timedelta(days=2))
    assert (d.status.exposure_percent, d.status.suspended_exposure_percent) == (0, 5)
    assert Reason.BUDGET_EXHAUSTED not in [e.reason for e in d.events]


def test_a_suspended_campaign_never_treats() -> None:
    assert not exposure.treating(CampaignStatus(phase=Phase.SUSPENDED, exposure_percent=25))


def test_a_completed_ramp_s_budget_analysis_is_applied_once() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    done = _pass(BUDGET_SPEC, start, T0 + dt.timedelta(hours=1),
                 requests={"uplift.dev/promote": "full"}).status
    assert exposure.completed(done)
    at = T0 + dt.timedelta(days=1)
    held = [GateOutcome(name="budget", verdict=INC, message="not measured yet", time=at)]
    once = _pass(BUDGET_SPEC, done, at, outcomes=held).status
    assert once.gates[0].inconclusives == 1
    twice = _pass(BUDGET_SPEC, once, at, outcomes=held)
    assert twice.status == once and twice.events == ()


# -- requests and the ramp -------------------------------------------------------------------------

def test_a_retry_while_exposing_is_ignored() -> None:
    s = _pass(NO_SCHEDULE, CampaignStatus(), T0).status
    s = _pass(NO_SCHEDULE, s, T0 + dt.timedelta(minutes=5), outcomes=[
        GateOutcome(name=g.name, verdict=P, message="m", time=T0 + dt.timedelta(minutes=5))
        for g in NO_SCHEDULE.exposure.gates]).status
    d = _pass(NO_SCHEDULE, s, T0 + dt.timedelta(minutes=6), requests={"uplift.dev/retry": "a"})
    assert [(e.type, e.reason) for e in d.events] == [("Warning", Reason.RETRY)]
    assert "ignored" in d.events[0].message
    assert d.status.last_analysis_at == s.last_analysis_at  # the step's evidence kept
    assert d.status.step_started_at == s.step_started_at


def test_a_full_promote_never_lowers_an_exposure_above_the_edited_last_step() -> None:
    s = _pass(NO_SCHEDULE, CampaignStatus(), T0).status
    assert s.exposure_percent == 5
    edited = NO_SCHEDULE.model_copy(update={"exposure": NO_SCHEDULE.exposure.model_copy(
        update={"steps": [step.model_copy(update={"percent": percent}) for step, percent in
                          zip(NO_SCHEDULE.exposure.steps, (1, 2, 3), strict=True)]})})
    d = _pass(edited, s, T0 + dt.timedelta(minutes=1), requests={"uplift.dev/promote": "full"})
    assert d.status.current_step is None and d.status.exposure_percent == 5


def test_a_degraded_model_with_nothing_serving_degrades_the_campaign() -> None:
    gone = exposure.ModelObservation("m", True, None, serving=False, degraded=True,
                                     why="UpliftModel 'm' has nothing serving")
    d = _pass(NO_SCHEDULE, CampaignStatus(), T0, model=gone)
    assert d.status.phase is Phase.DEGRADED and d.status.exposure_percent == 0


def test_a_campaign_first_seen_past_its_end_says_nothing() -> None:
    ended = NO_SCHEDULE.model_copy(update={"schedule": Schedule(end=T0 - dt.timedelta(hours=1))})
    d = _pass(ended, CampaignStatus(), T0)
    assert d.status.phase is Phase.COMPLETED
    assert d.events == () and d.status.history == []


def test_the_deadline_waits_for_the_first_cohorts_to_close() -> None:
    # Step 1 may end at 1h, the deadline is 1d past that, but the conversion gates cannot be
    # conclusive before the attribution window (14d) has closed on the first decisions.
    s = _pass(NO_SCHEDULE, CampaignStatus(), T0).status
    now = T0 + dt.timedelta(days=3)
    d = _pass(NO_SCHEDULE, s, now, outcomes=[
        GateOutcome(name=g.name, verdict=INC, message="m", time=now)
        for g in NO_SCHEDULE.exposure.gates])
    assert d.status.phase is Phase.PROGRESSING
    assert Reason.PROGRESS_DEADLINE_EXCEEDED not in [e.reason for e in d.events]


# -- results ---------------------------------------------------------------------------------------

def test_results_change_only_with_an_analysis() -> None:
    start = _pass(RESULTS_SPEC, CampaignStatus(), T0).status
    at = T0 + dt.timedelta(minutes=1)
    first = _pass(RESULTS_SPEC, start, at, units=SO_FAR, outcomes=[
        GateOutcome(name="budget", verdict=P, message="m", time=at, value=12.5,
                    threshold=5000.0)]).status
    assert (first.treated_units, first.holdout_units) == (900, 100)
    # A pass without an analysis (e.g. a requeue) with newer counts: the results stay those
    # of the last analysis.
    later = _pass(RESULTS_SPEC, first, at + dt.timedelta(minutes=1),
                  units=CampaignUnits(treated=1800, holdout=200)).status
    assert (later.treated_units, later.holdout_units) == (900, 100)


def test_the_first_gate_of_a_type_gives_the_result() -> None:
    spec = RESULTS_SPEC.model_copy(update={"exposure": RESULTS_SPEC.exposure.model_copy(update={
        "gates": _gates([{"name": "lift", "type": "incrementalConversions"},
                         {"name": "lift2", "type": "incrementalConversions", "min": 0.01}])})})
    start = _pass(spec, CampaignStatus(), T0).status
    at = T0 + dt.timedelta(minutes=1)
    s = _pass(spec, start, at, outcomes=[
        GateOutcome(name="lift", verdict=INC, message="m", time=at, value=0.05),
        GateOutcome(name="lift2", verdict=INC, message="m", time=at, value=0.09)]).status
    assert s.incremental_effect is not None and s.incremental_effect.estimate == 0.05


def test_an_estimate_past_its_intersected_bounds_is_shown_within_them() -> None:
    """The bounds are a confidence sequence intersected over the looks; the last look's
    estimate can lie outside them. Status shows it at the nearest bound, never outside."""
    start = _pass(RESULTS_SPEC, CampaignStatus(), T0).status
    at = T0 + dt.timedelta(minutes=1)
    lift = next(g.name for g in RESULTS_SPEC.exposure.gates
                if g.type == "incrementalConversions")
    s = _pass(RESULTS_SPEC, start, at, outcomes=[
        GateOutcome(name=lift, verdict=P, message="m", time=at, value=0.2000,
                    lower=0.1718, upper=0.1867)]).status
    effect = s.incremental_effect
    assert effect is not None and (effect.lower, effect.estimate, effect.upper) == (
        0.1718, 0.1867, 0.1867)
    assert effect.display == "+0.187 [+0.172, +0.187]"


# -- the model ---------------------------------------------------------------------------------------

def _model(reason: str) -> UpliftModelStatus:
    return UpliftModelStatus(stable_version="3", phase=Phase.PROGRESSING, conditions=[
        Condition(type="Ready", status="False", reason=reason, message="rolling out",
                  last_transition_time=T0)])


def test_a_stable_version_not_reported_ready_starts_no_campaign() -> None:
    waiting = _model("WaitingForServing")
    assert not exposure.model_observation("m", waiting).serving
    assert exposure.model_observation("m", waiting, exposing=True).serving


def test_decisions_on_another_version_count_from_the_ramp_s_start() -> None:
    status = CampaignStatus(current_step=0, exposure_percent=5, ramp_started_at=T0,
                            model_version="4",
                            model_version_since=T0 + dt.timedelta(days=1))
    assert exposure.decisions_since(status, "4") == T0 + dt.timedelta(days=1)
    assert exposure.decisions_since(status, "3") == T0
