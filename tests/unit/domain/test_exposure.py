"""domain.exposure: the Campaign's ramp on the shared step machine, as properties over random runs.

The table tests of the Campaign pass are in tests/unit/services/test_campaign.py; here, random
sequences of passes (model serving or not, gate verdicts, time, manual requests) check what must
hold whatever happens: exposure is 0 or a step's percent, it only goes down to 0 (a rollback, a
withdrawal), 0 % is never Healthy, and a pass re-run on its own output changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypedDict

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from uplift_operator.api.v1alpha1.campaign import (
    BudgetLedgers,
    Campaign,
    CampaignGate,
    CampaignSpec,
    CampaignStatus,
    Schedule,
)
from uplift_operator.api.v1alpha1.common import Condition, GateStatus, GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.measurements import CampaignUnits
from uplift_operator.domain.requests import parse_requests
from uplift_operator.stats.results import SequentialState

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
SPEC = Campaign.model_validate(yaml.safe_load(SAMPLE.read_text())).spec
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")
GONE = exposure.ModelObservation("m", False, why="UpliftModel 'm' not found")

class _Pass(TypedDict):
    minutes: int
    serving: bool
    verdict: GateVerdict | None
    request: tuple[str, str] | None
    spent: bool  # the budget gate finds the period's budget spent (else it passes)
    held: bool  # the model's campaigns file cannot be written: the step is held
    promoted: bool  # the model promoted a new stable version before this pass


_pass = st.fixed_dictionaries({
    "minutes": st.sampled_from([0, 1, 5, 30, 61, 400, 5000]),
    "serving": st.booleans(),
    "verdict": st.sampled_from([None, GateVerdict.PASS, GateVerdict.PASS, GateVerdict.FAIL,
                                GateVerdict.INCONCLUSIVE]),
    "request": st.sampled_from([None, None, None, ("uplift.dev/promote", "step"),
                                ("uplift.dev/abort", "x"), ("uplift.dev/retry", "y")]),
    "spent": st.sampled_from([False, False, False, True]),
    "held": st.booleans(),
    "promoted": st.sampled_from([False, False, True]),
})


def _run(*changes: dict[str, object]) -> list[_Pass]:
    """Passes 5 minutes apart of a serving model whose gates pass, but for ``changes``."""
    base: _Pass = {"minutes": 5, "serving": True, "verdict": GateVerdict.PASS, "request": None,
                   "spent": False, "held": False, "promoted": False}
    return [_Pass(**{**base, **change}) for change in changes]  # type: ignore[typeddict-item]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pass, min_size=1, max_size=25))
# Gates that passed while the campaigns file was not written leave a mark of the step, which
# the step starting over must clear in that pass: at a model promotion, at a budget renewal.
@example(_run({"minutes": 0, "verdict": None}, {"held": True},
              {"held": True, "promoted": True, "verdict": None}))
@example(_run({"minutes": 0, "verdict": None}, {"held": True}, {"held": True, "spent": True},
              {"minutes": 5000, "held": True}, {"minutes": 5000, "held": True}))
def test_exposure_invariants(passes: list[_Pass]) -> None:
    status, now, previous, version = CampaignStatus(), T0, 0.0, 3
    steps = {s.percent for s in SPEC.exposure.steps}
    annotations: dict[str, str] = {}
    for index, p in enumerate(passes):
        now += dt.timedelta(minutes=float(p["minutes"]))
        if p["request"] is not None:
            key, value = p["request"]
            annotations[key] = f"{value}-{index}" if key != "uplift.dev/promote" else value
        version += p["promoted"]
        model = (exposure.ModelObservation("m", True, str(version), serving=True,
                                           why=f"serves version {version}")
                 if p["serving"] else GONE)
        outcomes = None
        if p["verdict"] is not None and exposure.analysis_due(SPEC, status, now):
            # The budget gate's verdict is its own (a spent period suspends, with a renewal
            # when the period rolls over); the others share the pass's.
            outcomes = [GateOutcome(name=g.name, verdict=GateVerdict.FAIL, message="spent",
                                    time=now, value=5200.0, threshold=5000.0,
                                    suspension=Suspension(None, "spent"))
                        if g.type == "budget" and p["spent"] else
                        GateOutcome(name=g.name, verdict=(GateVerdict.PASS if g.type == "budget"
                                                          else p["verdict"]),
                                    message="m", time=now)
                        for g in exposure.gates_to_measure(SPEC, status)]
        observed = exposure.Observed(model=model, gate_outcomes=outcomes, budget_anchor=T0,
                                     requests=parse_requests(annotations), generation=1,
                                     undelivered="file not written (403)" if p["held"] else None)
        decision = exposure.decide(SPEC, status, observed, now)
        status = decision.status
        level = status.exposure_percent
        assert level == 0 or level in steps
        assert level >= previous or level == 0, (previous, level)
        assert not (level == 0 and status.phase is Phase.HEALTHY)
        # A mark of gates that passed while the step was held belongs to the step underway.
        held_at, started = status.passed_while_held_at, status.step_started_at
        assert held_at is None or (started is not None and held_at > started), (held_at,
                                                                                   started)
        if not p["serving"]:
            assert level == 0 and status.current_step is None
        again = exposure.decide(SPEC, status, observed, now)
        assert again.events == () and again.status == status
        previous = level


@pytest.mark.parametrize(("phase", "percent", "deleting", "active"), [
    (Phase.PROGRESSING, 5, False, True),
    (Phase.HEALTHY, 100, False, True),
    (Phase.PAUSED, 25, False, True),  # a pause holds the exposure, it does not stop treating
    (Phase.PROGRESSING, 0, False, False),
    (Phase.SUSPENDED, 0, False, False),
    (Phase.COMPLETED, 0, False, False),
    (Phase.DEGRADED, 0, False, False),
    (Phase.DEGRADED, 25, False, False),  # an invalid spec edit: nothing sent on a refused spec
    (None, 25, False, False),
    (Phase.HEALTHY, 100, True, False),  # being deleted
])
def test_treating_is_the_files_active(phase: Phase | None, percent: float, deleting: bool,
                                      active: bool) -> None:
    status = CampaignStatus(phase=phase, exposure_percent=percent)
    assert exposure.treating(status, deleting=deleting) is active


def _ready(reason: str) -> list[Condition]:
    return [Condition(type="Ready", status="True" if reason == "Exposing" else "False",
                      reason=reason, message="m", last_transition_time=T0)]


@pytest.mark.parametrize(("ready", "active"), [
    ("Exposing", True),  # ProgressDeadlineExceeded: the step still exposes, not rolled back
    ("InvalidSpec", False),
    ("RolledBack", False),
])
def test_a_degraded_campaign_treats_only_past_its_deadline(ready: str, active: bool) -> None:
    status = CampaignStatus(phase=Phase.DEGRADED, exposure_percent=5, current_step=0,
                            conditions=_ready(ready))
    assert exposure.treating(status) is active


@pytest.mark.parametrize(("schedule", "now", "expected"), [
    ({}, T0, None),
    ({"start": "2026-12-02T00:00:00Z"}, T0, (False, "2026-12-02T00:00:00+00:00")),
    ({"start": "2026-12-01T00:00:00Z"}, T0, None),  # from its start on, inclusive
    ({"end": "2026-12-01T00:00:00Z"}, T0, (True, "2026-12-01T00:00:00+00:00")),  # end exclusive
    ({"start": "2026-11-01T00:00:00", "end": "2026-12-01T00:00:01Z"}, T0, None),  # naive = UTC
])
def test_outside_schedule_with_time_passed_in(schedule: dict[str, str], now: dt.datetime,
                                              expected: tuple[bool, str] | None) -> None:
    outside = exposure.outside_schedule(Schedule.model_validate(schedule), now)
    assert (None if outside is None else (outside.ended, outside.at.isoformat())) == expected


# -- the budget: plain values, time passed in ---------------------------------------------------

BUDGET_SPEC = SPEC.model_copy(update={
    "exposure": SPEC.exposure.model_copy(update={"gates": [
        g for g in Campaign.model_validate({
            "spec": {**yaml.safe_load(SAMPLE.read_text())["spec"],
                     "exposure": {**yaml.safe_load(SAMPLE.read_text())["spec"]["exposure"],
                                  "gates": [{"name": "budget", "type": "budget"}]}}}
        ).spec.exposure.gates]}),
    "schedule": None})
ANCHOR = T0  # periods of the sample's 7d from here


def _budget_pass(status: CampaignStatus, now: dt.datetime, verdict: GateVerdict | None,
                 spec: CampaignSpec = BUDGET_SPEC) -> exposure.Decision:
    outcomes = None
    if verdict is not None:
        outcomes = [GateOutcome(name="budget", verdict=verdict, message="m", time=now,
                                value=5200.0 if verdict is GateVerdict.FAIL else 10.0,
                                threshold=5000.0,
                                suspension=(Suspension(None, "spent") if verdict is GateVerdict.FAIL
                                            else None))]
    observed = exposure.Observed(model=SERVING, gate_outcomes=outcomes, budget_anchor=ANCHOR,
                                 generation=1)
    return exposure.decide(spec, status, observed, now)


PAUSED_BUDGET_SPEC = BUDGET_SPEC.model_copy(update={
    "exposure": BUDGET_SPEC.exposure.model_copy(update={"paused": True})})


def _reasons(decision: exposure.Decision) -> list[str]:
    return [e.reason.value for e in decision.events]


def test_a_pause_ended_while_the_budget_suspends_ends_then_not_at_the_renewal() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    paused = _budget_pass(start, T0 + dt.timedelta(hours=1), None, PAUSED_BUDGET_SPEC)
    assert paused.status.paused_at == T0 + dt.timedelta(hours=1)
    suspended = _budget_pass(paused.status, T0 + dt.timedelta(days=2), GateVerdict.FAIL,
                             PAUSED_BUDGET_SPEC)
    assert suspended.status.paused_at == T0 + dt.timedelta(hours=1)
    # Un-paused while suspended: the pause ends now, not at the renewal days later.
    unpaused = _budget_pass(suspended.status, T0 + dt.timedelta(days=3), None)
    u = unpaused.status
    assert (u.phase, u.paused_at, u.resumed_at) == (Phase.SUSPENDED, None,
                                                    T0 + dt.timedelta(days=3))
    assert unpaused.events == ()
    renewed = _budget_pass(u, T0 + dt.timedelta(days=7), None)
    assert renewed.status.phase is Phase.PROGRESSING and renewed.status.paused_at is None
    assert _reasons(renewed) == ["BudgetRenewed"]  # no Resumed four days late


def test_a_pause_the_budget_suspension_outlives_holds_through_the_renewal() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    paused = _budget_pass(start, T0 + dt.timedelta(hours=1), None, PAUSED_BUDGET_SPEC)
    suspended = _budget_pass(paused.status, T0 + dt.timedelta(days=2), GateVerdict.FAIL,
                             PAUSED_BUDGET_SPEC)
    later = _budget_pass(suspended.status, T0 + dt.timedelta(days=3), None, PAUSED_BUDGET_SPEC)
    assert later.events == () and later.status.paused_at == T0 + dt.timedelta(hours=1)
    renewed = _budget_pass(later.status, T0 + dt.timedelta(days=7), None, PAUSED_BUDGET_SPEC)
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.paused_at) == (Phase.PAUSED, 5,
                                                          T0 + dt.timedelta(hours=1))
    assert _reasons(renewed) == ["BudgetRenewed"]  # neither Paused again nor Resumed


def test_a_pause_begun_while_the_budget_suspends_is_said_at_the_renewal() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    suspended = _budget_pass(start, T0 + dt.timedelta(days=2), GateVerdict.FAIL)
    paused = _budget_pass(suspended.status, T0 + dt.timedelta(days=3), None, PAUSED_BUDGET_SPEC)
    assert paused.status.phase is Phase.SUSPENDED and paused.events == ()
    renewed = _budget_pass(paused.status, T0 + dt.timedelta(days=7), None, PAUSED_BUDGET_SPEC)
    assert renewed.status.phase is Phase.PAUSED
    assert _reasons(renewed) == ["BudgetRenewed", "Paused"]
    assert renewed.status.paused_at == T0 + dt.timedelta(days=7)


def test_budget_suspension_holds_within_the_period_of_the_fail() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    assert start.exposure_percent == 5
    fail_at = T0 + dt.timedelta(days=2)
    suspended = _budget_pass(start, fail_at, GateVerdict.FAIL)
    s = suspended.status
    assert (s.phase, s.exposure_percent, s.current_step) == (Phase.SUSPENDED, 0, 0)
    assert [e.reason.value for e in suspended.events] == ["BudgetExhausted"]
    got = exposure.budget_suspension(BUDGET_SPEC, s, ANCHOR, fail_at)
    assert got is not None and got.until == T0 + dt.timedelta(days=7)
    assert "spent 5200 of budget 5000" in got.why
    # A pass is due when the period rolls over, at the latest.
    assert suspended.requeue_after is not None
    assert fail_at + suspended.requeue_after <= T0 + dt.timedelta(days=7)
    # Later in the same period, nothing new is said.
    later = _budget_pass(s, T0 + dt.timedelta(days=6, hours=23), None)
    assert later.events == () and later.status.exposure_percent == 0
    # The period rolled over: step 1's 5 % again, without an analysis, nothing rolled back.
    renewed = _budget_pass(later.status, T0 + dt.timedelta(days=7), None)
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.current_step) == (Phase.PROGRESSING, 5, 0)
    assert [e.reason.value for e in renewed.events] == ["BudgetRenewed"]
    assert renewed.events[0].message.endswith("resumed (the budget period rolled over)")
    assert r.rolled_back_generation is None
    assert exposure.budget_suspension(BUDGET_SPEC, r, ANCHOR, T0 + dt.timedelta(days=7)) is None


def test_a_completed_ramp_keeps_measuring_its_budget_and_suspends_then_resumes() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    done = exposure.decide(BUDGET_SPEC, start, exposure.Observed(
        model=SERVING, budget_anchor=ANCHOR, generation=1,
        requests=parse_requests({"uplift.dev/promote": "full"})), T0 + dt.timedelta(hours=1))
    s = done.status
    assert (s.phase, s.exposure_percent, s.current_step) == (Phase.HEALTHY, 100, None)
    # The budget gates alone go on being measured, once an interval: the replicas' spend is
    # summed nowhere else.
    assert exposure.analysis_due(BUDGET_SPEC, s, T0 + dt.timedelta(hours=1))
    assert done.requeue_after is not None and done.requeue_after <= dt.timedelta(minutes=5)
    assert [g.name for g in exposure.gates_to_measure(PROMOTION_SPEC, s)] == ["budget"]
    s = _budget_pass(s, T0 + dt.timedelta(days=1), GateVerdict.PASS).status
    assert (s.phase, s.exposure_percent, s.spend) == (Phase.HEALTHY, 100, 10.0)
    assert not exposure.analysis_due(BUDGET_SPEC, s, T0 + dt.timedelta(days=1, minutes=4))
    # Spent in the second period: suspended at 0 %, not treating, the exposure kept aside.
    fail_at = T0 + dt.timedelta(days=8)
    suspended = _budget_pass(s, fail_at, GateVerdict.FAIL)
    s = suspended.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent, s.current_step) == (
        Phase.SUSPENDED, 0, 100, None)
    assert [e.reason.value for e in suspended.events] == ["BudgetExhausted"]
    assert "of the completed ramp suspended to 0%" in suspended.events[0].message
    assert "then the completed ramp's 100% again" in s.message
    assert not exposure.treating(s)
    ready = next(c for c in s.conditions if c.type == "Ready")
    assert ready.reason == "BudgetExhausted"
    assert exposure.decide(BUDGET_SPEC, s, exposure.Observed(
        model=SERVING, budget_anchor=ANCHOR, generation=1), fail_at).status == s
    # Still measured while suspended (a raised budget lifts it); the model serving it is no
    # reason to restart the ramp at step 1.
    later = _budget_pass(s, fail_at + dt.timedelta(hours=1), GateVerdict.FAIL)
    assert later.events == () and later.status.current_step is None
    # The period rolls over: the completed ramp's exposure again, nothing restarted.
    renewed = _budget_pass(later.status, T0 + dt.timedelta(days=14), None)
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.suspended_exposure_percent, r.current_step) == (
        Phase.HEALTHY, 100, None, None)
    assert [e.reason.value for e in renewed.events] == ["BudgetRenewed"]
    assert exposure.treating(r)


def test_a_renewed_budget_gives_back_the_exposure_held_then_an_edited_step_percent() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    s = _budget_pass(start, T0 + dt.timedelta(days=2), GateVerdict.FAIL).status
    assert (s.exposure_percent, s.suspended_exposure_percent) == (0, 5)
    edited = BUDGET_SPEC.model_copy(update={"exposure": BUDGET_SPEC.exposure.model_copy(
        update={"steps": [step.model_copy(update={"percent": percent}) for step, percent in
                          zip(BUDGET_SPEC.exposure.steps, (60, 80, 100), strict=True)]})})
    now = T0 + dt.timedelta(days=7)
    renewed = exposure.decide(edited, s, exposure.Observed(
        model=SERVING, budget_anchor=ANCHOR, generation=2), now)
    # The exposure held (5 %) is given back, then, the suspension no longer holding the step,
    # raised to the 60 % its spec now gives it, the step starting over there: its gates judge
    # 60 % for a whole pause before the ramp goes on (``test_exposure_step_edits``).
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.current_step, r.step_started_at) == (
        Phase.PROGRESSING, 60, 0, now)
    assert [e.reason.value for e in renewed.events] == ["BudgetRenewed", "StepRestarted"]
    assert "exposure 5% at step 1/3 resumed" in renewed.events[0].message


def test_a_spent_budget_stays_spent_through_a_restart_of_the_ramp() -> None:
    start = _budget_pass(CampaignStatus(), T0, None).status
    fail_at = T0 + dt.timedelta(days=2)
    s = _budget_pass(start, fail_at, GateVerdict.FAIL).status
    # The model stops serving for a minute: withdrawn, the ramp ended.
    s = exposure.decide(BUDGET_SPEC, s, exposure.Observed(
        model=GONE, budget_anchor=ANCHOR, generation=1), fail_at + dt.timedelta(hours=1)).status
    assert (s.exposure_percent, s.current_step) == (0, None)
    # It serves again mid-period: the ramp restarts at step 1, but the period's budget is
    # still spent, so nothing is treated until the period rolls over.
    restarted = _budget_pass(s, fail_at + dt.timedelta(hours=1, minutes=1), None)
    r = restarted.status
    assert (r.phase, r.exposure_percent, r.suspended_exposure_percent, r.current_step) == (
        Phase.SUSPENDED, 0, 5, 0)
    assert [e.reason.value for e in restarted.events] == ["ExposureStarted", "BudgetExhausted"]
    assert not exposure.treating(r)
    renewed = _budget_pass(r, T0 + dt.timedelta(days=7), None).status
    assert (renewed.phase, renewed.exposure_percent) == (Phase.PROGRESSING, 5)


def test_a_budget_passing_again_within_its_period_says_so() -> None:
    # A raised budget, or replicas restarted (their spend counted from zero): no rollover.
    start = _budget_pass(CampaignStatus(), T0, None).status
    s = _budget_pass(start, T0 + dt.timedelta(days=2), GateVerdict.FAIL).status
    resumed = _budget_pass(s, T0 + dt.timedelta(days=2, minutes=5), GateVerdict.PASS)
    assert resumed.status.exposure_percent == 5
    renewed = [e for e in resumed.events if e.reason.value == "BudgetRenewed"]
    assert [e.message for e in renewed] == [
        "exposure 5% at step 1/3 resumed (the budget gate passes again within the period: "
        "spent 10 of budget 5000)"]
    assert resumed.status.history[-1].reason == renewed[0].message.split("(", 1)[1][:-1]
    # The analysis that lifted it measured the budget gate only: no "every gate passed" on
    # the others' verdicts from before the suspension (the renewal restarts their count).
    assert [e.reason.value for e in resumed.events] == ["BudgetRenewed"]


def test_without_an_anchor_a_spent_budget_holds_until_its_gate_passes() -> None:
    status = _budget_pass(CampaignStatus(), T0, None).status
    status = _budget_pass(status, T0 + dt.timedelta(minutes=5), GateVerdict.FAIL).status
    got = exposure.budget_suspension(BUDGET_SPEC, status, None, T0 + dt.timedelta(days=30))
    assert got is not None and got.until is None and "the budget gate passes again" in got.why


RESULTS_SPEC = SPEC.model_copy(update={
    "exposure": SPEC.exposure.model_copy(update={
        "steps": SPEC.exposure.steps[:1],
        "gates": [CampaignGate.model_validate(g) for g in (
            {"name": "lift", "type": "incrementalConversions"}, {"name": "roi", "type": "roi"},
            {"name": "budget", "type": "budget"})]}),
    "schedule": Schedule(end=T0 + dt.timedelta(hours=1))})


SO_FAR = CampaignUnits(treated=900, holdout=100)


def test_results_follow_each_analysis_and_stay_final_past_the_end() -> None:
    def look(status: CampaignStatus, now: dt.datetime, lift: float,
             units: CampaignUnits | None = SO_FAR) -> CampaignStatus:
        outcomes = [
            GateOutcome(name="lift", verdict=GateVerdict.INCONCLUSIVE, message="m", time=now,
                        value=lift, lower=lift - 0.01, upper=lift + 0.01, threshold=0.0,
                        samples=400),
            GateOutcome(name="roi", verdict=GateVerdict.INCONCLUSIVE, message="m", time=now,
                        value=2.5, lower=1.0, upper=4.0, threshold=0.0, samples=400),
            GateOutcome(name="budget", verdict=GateVerdict.PASS, message="m", time=now,
                        value=12.5, threshold=5000.0)]
        observed = exposure.Observed(model=SERVING, gate_outcomes=outcomes, budget_anchor=T0,
                                     generation=1, units=units)
        return exposure.decide(RESULTS_SPEC, status, observed, now).status

    start = exposure.decide(RESULTS_SPEC, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), T0).status
    assert start.incremental_effect is None and start.roi is None
    first = look(start, T0 + dt.timedelta(minutes=1), 0.05)
    assert first.incremental_effect is not None and first.roi is not None
    assert (first.incremental_effect.estimate, first.incremental_effect.lower) == (0.05, 0.04)
    assert first.incremental_effect.display == "+0.05 [+0.04, +0.06]"
    assert (first.roi.estimate, first.roi.lower, first.roi.upper) == (2.5, 1.0, 4.0)
    # The units since the ramp started, not the gates' step window (400).
    assert (first.treated_units, first.holdout_units, first.spend) == (900, 100, 12.5)
    assert first.budget_remaining == 5000.0 - 12.5
    second = look(first, T0 + dt.timedelta(minutes=2), 0.07, units=None)  # no data: kept
    assert (second.treated_units, second.holdout_units) == (900, 100)
    assert second.incremental_effect is not None and second.incremental_effect.estimate == 0.07
    # Past the end: Completed, no analysis applies, the results are those of the last one.
    ended = look(second, T0 + dt.timedelta(hours=2), 0.5)
    assert ended.phase is Phase.COMPLETED and ended.exposure_percent == 0
    for field in ("incremental_effect", "roi", "spend", "treated_units"):
        assert getattr(ended, field) == getattr(second, field), field


# -- the model promotes a new stable version mid-ramp --------------------------------------------

PROMOTION_SPEC = SPEC.model_copy(update={
    "exposure": SPEC.exposure.model_copy(update={"gates": [
        *(g for g in SPEC.exposure.gates if g.type != "budget"),
        CampaignGate.model_validate({"name": "budget", "type": "budget"})]}),
    "schedule": None})
TYPES = {g.name: g.type for g in PROMOTION_SPEC.exposure.gates}


def _serving(version: str) -> exposure.ModelObservation:
    return exposure.ModelObservation("m", True, version, serving=True,
                                     why=f"serves version {version}")


def _promotion_pass(status: CampaignStatus, now: dt.datetime, version: str = "3",
                    analysis: bool = True, spent: bool = False) -> exposure.Decision:
    """One pass, with an analysis in which every gate passed with evidence in its sequential
    state (``spent``: the budget gate failed, suspending), or without one."""
    outcomes = None
    if analysis:
        outcomes = [GateOutcome(
            name=name, message="m", time=now, value=1.0, threshold=0.0, samples=400,
            verdict=GateVerdict.FAIL if spent and type_ == "budget" else GateVerdict.PASS,
            suspension=Suspension(None, "spent") if spent and type_ == "budget" else None,
            memory={"t": SequentialState(looks=2, log_pass=1.5, units=400)})
            for name, type_ in TYPES.items()]
    observed = exposure.Observed(model=_serving(version), gate_outcomes=outcomes,
                                 budget_anchor=T0, generation=1)
    return exposure.decide(PROMOTION_SPEC, status, observed, now)


def _at_step_two() -> tuple[CampaignStatus, dt.datetime]:
    """Version 3 serving, the ramp at step 2 (25 %) with every gate passed there."""
    status = _promotion_pass(CampaignStatus(), T0, analysis=False).status
    now = T0
    for minutes in (5, 61, 66):
        now = T0 + dt.timedelta(minutes=minutes)
        status = _promotion_pass(status, now).status
    assert (status.exposure_percent, status.current_step, status.model_version) == (25, 1, "3")
    return status, now


def test_a_promotion_holds_the_exposure_and_restarts_the_step_on_the_new_version() -> None:
    before, now = _at_step_two()
    now += dt.timedelta(minutes=6)  # an analysis is due: measured on the old version's step
    decision = _promotion_pass(before, now, version="4")
    s = decision.status
    # Followed, the exposure held (never withdrawn), the same step started over from now.
    assert (s.model_version, s.exposure_percent, s.current_step) == ("4", 25, 1)
    assert s.phase is Phase.PROGRESSING and exposure.treating(s)
    assert s.step_started_at == now
    assert [(e.type, e.reason.value) for e in decision.events] == [
        ("Normal", "ModelVersionChanged")]
    entry = s.history[-1]
    assert (entry.action, entry.version, entry.percent) == ("ModelVersionChanged", "4", 25)
    assert "promoted version 4 (was 3)" in entry.reason
    assert "gates incremental, roi, drift measured afresh" in entry.reason
    # The old version's evidence is not mixed into the new one's: this pass's outcomes (the
    # old step's) are dropped; the model's gates start afresh; delivery (the sender) carries
    # its evidence into a new stratum as at a step change; budget (money) keeps its verdict.
    assert s.last_analysis_at == before.last_analysis_at
    gates = {g.name: g for g in s.gates}
    assert set(gates) == {"delivery", "budget"}
    old = {g.name: g for g in before.gates}
    assert gates["budget"] == old["budget"]
    delivery = gates["delivery"].sequential_state["t"]
    assert (delivery.log_pass or 0.0, delivery.carried_log_pass) == (0.0, 1.5)  # carried
    # A pass on its own output changes nothing.
    again = exposure.decide(PROMOTION_SPEC, s, exposure.Observed(
        model=_serving("4"), budget_anchor=T0, generation=1), now)
    assert again.events == () and again.status == s
    # The new version's first analysis fills every gate afresh; the step's 6h pause runs from
    # the promotion, so it advances only then, never on the old version's evidence.
    first = _promotion_pass(s, now + dt.timedelta(minutes=5), version="4").status
    assert {g.name for g in first.gates} == set(TYPES) and first.current_step == 1
    fresh = next(g for g in first.gates if g.name == "incremental").sequential_state["t"]
    assert not fresh.carried_log_pass, "no evidence of version 3 in version 4's test"
    held = _promotion_pass(first, now + dt.timedelta(hours=5, minutes=55), version="4").status
    assert held.current_step == 1
    advanced = _promotion_pass(held, now + dt.timedelta(hours=6, minutes=1), version="4").status
    assert (advanced.current_step, advanced.exposure_percent) == (2, 100)


def test_a_promotion_while_the_budget_is_spent_keeps_the_campaign_suspended() -> None:
    before, now = _at_step_two()
    now += dt.timedelta(minutes=6)
    suspended = _promotion_pass(before, now, spent=True).status
    assert (suspended.phase, suspended.exposure_percent) == (Phase.SUSPENDED, 0)
    promoted = _promotion_pass(suspended, now + dt.timedelta(minutes=1), version="4",
                               analysis=False)
    s = promoted.status
    assert (s.phase, s.exposure_percent, s.current_step, s.model_version) == (
        Phase.SUSPENDED, 0, 1, "4")
    assert [e.reason.value for e in promoted.events] == ["ModelVersionChanged"]


def test_a_completed_ramp_follows_the_new_version_at_its_exposure() -> None:
    status, now = _at_step_two()
    status = exposure.decide(PROMOTION_SPEC, status, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=1,
        requests=parse_requests({"uplift.dev/promote": "full"})), now).status
    assert (status.phase, status.exposure_percent, status.current_step) == (
        Phase.HEALTHY, 100, None)
    promoted = _promotion_pass(status, now + dt.timedelta(minutes=1), version="4",
                               analysis=False)
    s = promoted.status
    assert (s.phase, s.exposure_percent, s.model_version) == (Phase.HEALTHY, 100, "4")
    assert s.gates == status.gates and s.history[-1].action == "ModelVersionChanged"
    assert "the completed ramp keeps exposure 100%" in s.history[-1].reason


def test_the_ramps_start_and_the_followed_version_outlive_the_bounded_history() -> None:
    status, now = _at_step_two()
    promoted_at = now + dt.timedelta(minutes=1)
    status = _promotion_pass(status, promoted_at, version="4", analysis=False).status
    assert (status.ramp_started_at, status.model_version_since) == (T0, promoted_at)
    # Twenty-four weekly budget periods, each spent and renewed: the BudgetExhausted entries
    # push the ramp's start and the promotion out of the history (it keeps the last 20,
    # dropping the routine renewals first).
    for week in range(1, 25):
        spent_at = T0 + dt.timedelta(days=7 * week - 1)
        status = _promotion_pass(status, spent_at, version="4", spent=True).status
        status = _promotion_pass(status, T0 + dt.timedelta(days=7 * week), version="4",
                                 analysis=False).status
    actions = [e.action for e in status.history]
    assert "ExposureStarted" not in actions and "ModelVersionChanged" not in actions
    assert exposure.ramp_started_at(status) == T0
    # The conversion gates still judge every decision made on version 4 since its promotion.
    assert exposure.decisions_since(status, "4") == promoted_at


def test_a_status_without_the_ramps_start_reads_it_from_its_history_once() -> None:
    status, now = _at_step_two()
    promoted_at = now + dt.timedelta(minutes=1)
    status = _promotion_pass(status, promoted_at, version="4", analysis=False).status
    old = status.model_copy(update={"ramp_started_at": None, "model_version_since": None})
    assert exposure.decisions_since(old, "4") == promoted_at  # from the history
    kept = _promotion_pass(old, promoted_at + dt.timedelta(minutes=1), version="4",
                           analysis=False).status
    assert (kept.ramp_started_at, kept.model_version_since) == (T0, promoted_at)


def test_only_a_pass_on_the_last_step_with_a_pause_completes_the_ramp() -> None:
    steps = SPEC.exposure.steps
    last = len(steps) - 1
    paused = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(update={
        "steps": [*steps[:-1], steps[-1].model_copy(update={"pause": "1h"})]})})
    assert not exposure.completes(paused, CampaignStatus())
    assert not exposure.completes(paused, CampaignStatus(current_step=last - 1))
    assert exposure.completes(paused, CampaignStatus(current_step=last))
    # The sample's last step has no pause: it ends on a manual promote, which no gate decides.
    assert steps[-1].pause is None
    assert not exposure.completes(SPEC, CampaignStatus(current_step=last))


def test_pausing_a_rolled_back_campaign_does_not_restart_it() -> None:
    """`kubectl uplift pause` on a Campaign a gate rolled back bumps the generation: the
    rollback held only for its generation, so the pause restarted the ramp at 5 % (and the
    resume then ran it unpaused). A real spec change still restarts it."""
    start = exposure.decide(SPEC, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), T0).status
    assert start.exposure_percent == SPEC.exposure.steps[0].percent
    rolled = exposure.decide(SPEC, start, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1,
        requests=parse_requests({"uplift.dev/emergency-rollback": "x"})),
        T0 + dt.timedelta(minutes=1)).status
    assert (rolled.exposure_percent, rolled.phase) == (0, Phase.DEGRADED)
    paused = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(
        update={"paused": True})})
    for generation, spec in ((2, paused), (3, SPEC)):  # paused, then resumed
        held = exposure.decide(spec, rolled, exposure.Observed(
            model=SERVING, budget_anchor=T0, generation=generation),
            T0 + dt.timedelta(minutes=1 + generation))
        assert (held.status.exposure_percent, held.status.phase) == (0, Phase.DEGRADED)
        assert "ExposureStarted" not in [e.reason.value for e in held.events]
        assert not exposure.treating(held.status)
    edited = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(
        update={"analysis_interval": "10m"})})
    restarted = exposure.decide(edited, rolled, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=4), T0 + dt.timedelta(minutes=9))
    assert restarted.status.exposure_percent == SPEC.exposure.steps[0].percent


def test_a_campaign_paused_on_an_inconclusive_gate_offers_what_it_takes() -> None:
    """A Campaign's retry acts on a rollback only: its pause message names promote and abort,
    not the retry an UpliftModel's offers."""
    spec = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(update={"gates": [
        CampaignGate.model_validate({"name": "lift", "type": "incrementalConversions",
                                     "inconclusiveLimit": 1})]})})
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), T0).status
    for minute in (6, 12, 18):
        now = T0 + dt.timedelta(minutes=minute)
        status = exposure.decide(spec, status, exposure.Observed(
            model=SERVING, budget_anchor=T0, generation=1, gate_outcomes=[
                GateOutcome(name="lift", verdict=GateVerdict.INCONCLUSIVE, message="m",
                            time=now)]), now).status
    assert status.phase is Phase.PAUSED, status.message
    assert status.message.endswith(
        "; go on or roll back with `kubectl uplift promote campaign/NAME` or `kubectl uplift "
        "abort campaign/NAME` (or annotate --overwrite uplift.dev/promote=step:$(date +%s) or "
        "uplift.dev/abort=$(date +%s))")
    assert "retry" not in status.message


def test_forget_budget_drops_what_the_status_keeps_of_a_removed_budget() -> None:
    """A spec without a budget (valid or refused: the service calls it on both paths) keeps no
    anchor, ledgers, spend nor the result of a budget gate, declared or implied (``budget``,
    ``budget-2`` when a declared gate had the name); the other gates' results stay."""
    def gate(name: str) -> GateStatus:
        return GateStatus(name=name, verdict=GateVerdict.FAIL, time=T0)

    status = CampaignStatus(
        budget_anchor=T0, budget_since=T0, spend=5000.0, budget_remaining=0.0,
        budget_ledgers=BudgetLedgers(period_start=T0, ledgers={"r1": 5000.0}),
        gates=[gate("budget"), gate("budget-2"), gate("spend"), gate("conversions"),
               gate("budgets")])
    assert exposure.forget_budget(SPEC, status) is status  # the sample has a budget
    economics = SPEC.economics.model_copy(update={"budget": None, "budget_period": None})
    # A refused spec may still declare a budget gate ("spend"); "budget" names another type.
    gates = [g for g in SPEC.exposure.gates if g.type != "budget"]
    gates += [CampaignGate(name="spend", type="budget"),
              CampaignGate(name="budget", type="deliveryRate")]
    without = SPEC.model_copy(update={
        "economics": economics,
        "exposure": SPEC.exposure.model_copy(update={"gates": gates})})
    forgot = exposure.forget_budget(without, status)
    assert (forgot.budget_anchor, forgot.budget_since, forgot.budget_ledgers, forgot.spend,
            forgot.budget_remaining) == (None, None, None, 0.0, None)
    assert [g.name for g in forgot.gates] == ["budget", "conversions", "budgets"]
    assert status.budget_anchor == T0  # the status given is not changed
