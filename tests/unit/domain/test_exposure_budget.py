"""domain.exposure and the budget: a budget is always enforced by a budget gate (one is implied
when none is declared), a renewal starts the step's other gates on a new stratum and only the
budget gates are measured while suspended, the periods count from ``status.budgetAnchor``
recorded once, and a past period's spend is not shown as the current one's. Plain values, time
passed in; each pass measures what ``gates_to_measure`` names, as the service does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.api.v1alpha1.campaign import (
    BudgetLedgers,
    Campaign,
    CampaignGate,
    CampaignSpec,
    CampaignStatus,
)
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure, gates
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.measurements import (
    ArmCounts,
    CampaignArms,
    IncrementalConversionsMeasurement,
    OutcomeCompleteness,
)
from uplift_operator.domain.requests import parse_requests
from uplift_operator.domain.steps import Event

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")
MINUTE = dt.timedelta(minutes=1)


def spec_with(gates_: list[dict[str, Any]], **economics: Any) -> CampaignSpec:
    raw = yaml.safe_load(SAMPLE.read_text())["spec"]
    raw["schedule"] = None
    raw["exposure"]["progressDeadline"] = None
    raw["exposure"]["gates"] = gates_
    raw["economics"].update(economics)
    raw["economics"] = {k: v for k, v in raw["economics"].items() if v is not None}
    return Campaign.model_validate({"spec": raw}).spec


def budget_outcome(name: str, now: dt.datetime, spend: float) -> GateOutcome:
    spent = spend >= 5000
    return GateOutcome(name=name, verdict=GateVerdict.FAIL if spent else GateVerdict.PASS,
                       message="m", time=now, value=spend, threshold=5000.0,
                       suspension=Suspension(None, "spent") if spent else None)


Judge = Callable[[CampaignGate, dt.datetime], GateOutcome]


def run(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime, judge: Judge,
        anchor: dt.datetime | None = T0, annotations: dict[str, str] | None = None,
        ) -> exposure.Decision:
    """One pass as the service runs it: the gates ``gates_to_measure`` names, when due."""
    outcomes = None
    if exposure.analysis_due(spec, status, now):
        outcomes = [judge(gate, now) for gate in exposure.gates_to_measure(spec, status)]
    return exposure.decide(spec, status, exposure.Observed(
        model=SERVING, gate_outcomes=outcomes, budget_anchor=anchor, generation=1,
        requests=parse_requests(annotations or {})), now)


# -- a budget without a budget gate implies one (review-campaign finding 1) --------------------

def test_a_budget_without_a_budget_gate_implies_one_that_suspends() -> None:
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000,
                     budgetPeriod="7d")
    implied = exposure.implied_budget_gate(spec)
    assert implied is not None and (implied.name, implied.type) == ("budget", "budget")
    assert [g.name for g in spec.exposure.gates] == ["delivery"]  # the spec stays as declared
    assert [g.name for g in exposure.gates_to_measure(spec)] == ["delivery", "budget"]
    spend = 0.0

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return budget_outcome(gate.name, now, spend)
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    # Measured and shown like a declared gate.
    assert {g.name: g.verdict for g in s.gates} == {"delivery": GateVerdict.PASS,
                                                    "budget": GateVerdict.PASS}
    assert (s.spend, s.budget_remaining) == (0.0, 5000.0)
    spend = 5000.0  # the replicas' spend, summed by that gate
    suspended = run(spec, s, T0 + 10 * MINUTE, judge)
    s = suspended.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (Phase.SUSPENDED, 0, 5)
    assert [e.reason.value for e in suspended.events] == ["BudgetExhausted"]
    assert not exposure.treating(s)


def test_the_implied_gate_takes_a_free_name_and_none_without_a_budget() -> None:
    taken = spec_with([{"name": "budget", "type": "deliveryRate"},
                       {"name": "budget-2", "type": "roi"}], budget=5000)
    implied = exposure.implied_budget_gate(taken)
    assert implied is not None and implied.name == "budget-3"
    declared = spec_with([{"name": "money", "type": "budget"}], budget=5000)
    assert exposure.implied_budget_gate(declared) is None
    assert exposure.enforced(declared) is declared
    unbudgeted = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=None,
                           budgetPeriod=None)
    assert exposure.implied_budget_gate(unbudgeted) is None
    assert [g.name for g in exposure.gates_to_measure(unbudgeted)] == ["delivery"]


def test_a_rollback_holds_for_the_spec_as_declared_not_with_its_implied_gate() -> None:
    # rolledBackSpec is the declared spec's digest, as operators before the implied gate wrote
    # it: a Campaign rolled back before this release stays at 0 % through the upgrade.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000)

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + MINUTE, judge, annotations={"uplift.dev/abort": "t"}).status
    assert s.rolled_back_spec == exposure.spec_digest(spec)
    held = run(spec, s.model_copy(update={"rolled_back_generation": 0}), T0 + 2 * MINUTE,
               judge).status
    assert (held.exposure_percent, held.current_step) == (0, None)


# -- a renewal folds the gates; suspended, only the budget is measured (finding 2) -------------

INCREMENTAL = {"name": "incremental", "type": "incrementalConversions", "inconclusiveLimit": 6}


def _null_counts(units: int) -> IncrementalConversionsMeasurement:
    treated, holdout = units * 9 // 10, units // 10
    return IncrementalConversionsMeasurement(
        arms=CampaignArms(ArmCounts(treated, treated // 10), ArmCounts(holdout, holdout // 10)),
        holdout_fraction=0.1, completeness=OutcomeCompleteness(units, units, 0))


def test_a_suspension_measures_only_the_budget_and_its_renewal_starts_a_new_stratum() -> None:
    spec = spec_with([{"name": "budget", "type": "budget"}, INCREMENTAL], budget=5000,
                     budgetPeriod="1d")
    spend, measured = 10.0, []

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        measured.append(gate.name)
        if gate.type == "budget":
            return budget_outcome(gate.name, now, spend)
        return gates.evaluate_gate(gate, _null_counts(4000), gates.memory_of(
            next((g for g in status.gates if g.name == gate.name), None), gate), now)

    status = run(spec, CampaignStatus(), T0, judge).status
    now = T0 + dt.timedelta(hours=20)
    status = run(spec, status, now, judge).status  # one look of the incremental gate
    spend = 6000.0
    now += 5 * MINUTE
    status = run(spec, status, now, judge).status
    assert (status.phase, status.suspended_exposure_percent) == (Phase.SUSPENDED, 5)
    before = next(g for g in status.gates if g.name == "incremental")
    measured.clear()
    while now < T0 + dt.timedelta(hours=23, minutes=55):  # analyses while at 0 %
        now += 5 * MINUTE
        status = run(spec, status, now, judge).status
    # Nothing is exposed for the incremental gate to judge: only the budget is measured, so
    # no Inconclusive piles up towards inconclusiveLimit at 0 %.
    assert measured and set(measured) == {"budget"}
    assert next(g for g in status.gates if g.name == "incremental") == before
    spend = 0.0
    renewed = run(spec, status, T0 + dt.timedelta(days=1), judge)
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.current_step) == (Phase.PROGRESSING, 5, 0)
    assert [e.reason.value for e in renewed.events] == ["BudgetRenewed"]
    # The counts restart from the renewal (stepStartedAt): the gate's evidence goes on in a new
    # stratum, its counters zeroed, as at a step change.
    after = next(g for g in r.gates if g.name == "incremental")
    assert after == gates.next_step(before)
    assert before.sequential_state and after.sequential_state != before.sequential_state
    assert r.step_started_at == T0 + dt.timedelta(days=1)
    later = run(spec, r, T0 + dt.timedelta(days=1, minutes=5), judge).status
    assert later.phase is Phase.PROGRESSING, later.message  # not Paused for a human


def test_a_renewal_keeps_a_rollback_a_gate_demands_and_restarts_the_inconclusive_count() -> None:
    # rollback.mode Manual: a Fail beyond failureLimit holds the step for a human. A renewal is
    # no evidence against it: the demand stands, Fails kept; Inconclusives start again.
    spec = spec_with([{"name": "budget", "type": "budget"},
                      {"name": "delivery", "type": "deliveryRate"},
                      {**INCREMENTAL, "inconclusiveLimit": 1}], budget=5000, budgetPeriod="1d")
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(update={"mode": "Manual"})})
    spend, delivery = 10.0, GateVerdict.FAIL

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return budget_outcome(gate.name, now, spend)
        verdict = delivery if gate.type == "deliveryRate" else GateVerdict.INCONCLUSIVE
        return GateOutcome(name=gate.name, verdict=verdict, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    ready = next(c for c in s.conditions if c.type == "Ready")
    assert (s.phase, ready.reason) == (Phase.PAUSED, "RollbackPending")
    spend = 6000.0
    s = run(spec, s, T0 + 10 * MINUTE, judge).status
    assert s.phase is Phase.SUSPENDED
    failed = next(g for g in s.gates if g.name == "delivery").failures
    assert failed >= 1
    spend = 0.0
    renewed = run(spec, s, T0 + dt.timedelta(days=1), judge).status
    by_name = {g.name: g for g in renewed.gates}
    assert (by_name["delivery"].failures, by_name["incremental"].inconclusives) == (failed, 0)
    ready = next(c for c in renewed.conditions if c.type == "Ready")
    assert (renewed.phase, ready.reason, renewed.exposure_percent) == (
        Phase.PAUSED, "RollbackPending", 5)


def test_inconclusives_counted_before_a_renewal_do_not_pause_its_pass() -> None:
    # A status whose gates counted Inconclusives while suspended (as operators before this one
    # measured every gate at 0 %): the renewal pass judges them as they now stand, folded.
    spec = spec_with([{"name": "budget", "type": "budget"}, INCREMENTAL], budget=5000,
                     budgetPeriod="1d")
    spend = 6000.0

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return budget_outcome(gate.name, now, spend)
        return GateOutcome(name=gate.name, verdict=GateVerdict.INCONCLUSIVE, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + dt.timedelta(hours=20), judge).status
    assert s.phase is Phase.SUSPENDED
    piled = [g.model_copy(update={"inconclusives": 48}) if g.name == "incremental" else g
             for g in s.gates]
    s = s.model_copy(update={"gates": piled})
    spend = 0.0
    renewed = run(spec, s, T0 + dt.timedelta(days=1), judge).status
    assert (renewed.phase, renewed.exposure_percent) == (Phase.PROGRESSING, 5), renewed.message


# -- the anchor is recorded once (finding 5) ---------------------------------------------------

def test_the_budget_anchor_is_recorded_when_the_campaign_first_exposes_and_then_kept() -> None:
    spec = spec_with([{"name": "budget", "type": "budget"}], budget=5000, budgetPeriod="7d")

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        return budget_outcome(gate.name, now, 6000.0)

    gone = exposure.ModelObservation("m", False, why="UpliftModel 'm' not found")
    waiting = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=gone, budget_anchor=T0, generation=1), T0).status
    assert waiting.budget_anchor is None  # nothing exposed, nothing spent: it follows the spec
    s = run(spec, waiting, T0, judge).status
    assert s.budget_anchor == T0
    # schedule.start edited (the service derives another anchor from it): the recorded one
    # counts, so the spent budget is not refilled by a period that starts anew.
    moved = T0 + dt.timedelta(days=3)
    s = run(spec, s, T0 + dt.timedelta(days=4), judge, anchor=moved).status
    assert s.budget_anchor == T0
    assert s.phase is Phase.SUSPENDED
    got = exposure.budget_suspension(spec, s, s.budget_anchor, T0 + dt.timedelta(days=4))
    assert got is not None and got.until == T0 + dt.timedelta(days=7)


# -- a past period's spend is not shown as the current one's (review-oncall finding 9) ---------

def test_after_a_rollback_a_rolled_over_period_shows_nothing_spent() -> None:
    spec = spec_with([{"name": "budget", "type": "budget"}], budget=5000, budgetPeriod="7d")

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        return budget_outcome(gate.name, now, 4950.0)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    assert (s.spend, s.budget_remaining) == (4950.0, 50.0)
    s = run(spec, s, T0 + 6 * MINUTE, judge, annotations={"uplift.dev/abort": "t"}).status
    assert (s.exposure_percent, s.current_step) == (0, None)
    # Within the period the figures are still the period's (nothing was treated since).
    same = run(spec, s, T0 + dt.timedelta(days=6), judge,
               annotations={"uplift.dev/abort": "t"}).status
    assert (same.spend, same.budget_remaining) == (4950.0, 50.0)
    # The period rolled over while nothing is exposed: nothing spent in this one.
    rolled = run(spec, same, T0 + dt.timedelta(days=7), judge,
                 annotations={"uplift.dev/abort": "t"})
    assert (rolled.status.spend, rolled.status.budget_remaining) == (0.0, 5000.0)
    assert run(spec, rolled.status, T0 + dt.timedelta(days=8), judge,
               annotations={"uplift.dev/abort": "t"}).status == rolled.status


def test_the_spend_record_is_written_as_read_and_dropped_once_its_period_is_past() -> None:
    spec = spec_with([{"name": "budget", "type": "budget"}], budget=5000, budgetPeriod="7d")
    s = run(spec, CampaignStatus(), T0, lambda gate, now: budget_outcome(gate.name, now, 10.0))
    read = BudgetLedgers(period_start=T0, ledgers={"a": 10.0})
    measured = exposure.decide(spec, s.status, exposure.Observed(
        model=SERVING, gate_outcomes=[budget_outcome("budget", T0 + 5 * MINUTE, 10.0)],
        budget_anchor=T0, generation=1, budget_ledgers=read), T0 + 5 * MINUTE).status
    assert measured.budget_ledgers == read
    # A pass that read nothing keeps it.
    assert exposure.decide(spec, measured, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1),
        T0 + 6 * MINUTE).status.budget_ledgers == read
    # Rolled back: within the period the record stays (it is this period's money) ...
    aborted = run(spec, measured, T0 + 7 * MINUTE, lambda gate, now: budget_outcome(
        gate.name, now, 10.0), annotations={"uplift.dev/abort": "t"}).status
    assert aborted.exposure_percent == 0 and aborted.budget_ledgers == read
    same = run(spec, aborted, T0 + dt.timedelta(days=6), lambda gate, now: budget_outcome(
        gate.name, now, 10.0), annotations={"uplift.dev/abort": "t"}).status
    assert same.budget_ledgers == read
    # ... and goes with the period's figures once it rolled over while nothing is exposed.
    rolled = run(spec, same, T0 + dt.timedelta(days=7), lambda gate, now: budget_outcome(
        gate.name, now, 10.0), annotations={"uplift.dev/abort": "t"}).status
    assert rolled.spend == 0.0 and rolled.budget_ledgers is None


def test_a_campaign_wide_budget_keeps_its_spend_after_a_rollback() -> None:
    spec = spec_with([{"name": "budget", "type": "budget"}], budget=5000, budgetPeriod=None)

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        return budget_outcome(gate.name, now, 4950.0)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    s = run(spec, s, T0 + 6 * MINUTE, judge, annotations={"uplift.dev/abort": "t"}).status
    later = run(spec, s, T0 + dt.timedelta(days=90), judge,
                annotations={"uplift.dev/abort": "t"}).status
    assert (later.spend, later.budget_remaining) == (4950.0, 50.0)


# -- a suspension ends on a Pass or a rollover only (review-domain finding 1) ------------------

def _held_error(name: str, now: dt.datetime) -> GateOutcome:
    """What the budget collector gives when Prometheus does not answer: an Error that holds."""
    return GateOutcome(name=name, verdict=GateVerdict.ERROR, message="measurement failed: "
                       "Prometheus at http://prom:9090: timed out", time=now, holds=True)


@pytest.mark.parametrize("unmeasured", [
    _held_error,
    # A counted Error, and no data (operators before the budget collector held them).
    lambda name, now: GateOutcome(name=name, verdict=GateVerdict.ERROR, message="timed out",
                                  time=now),
    lambda name, now: GateOutcome(name=name, verdict=GateVerdict.INCONCLUSIVE,
                                  message="no data yet", time=now),
])
def test_a_budget_gate_that_cannot_measure_keeps_the_suspension_until_the_rollover(
        unmeasured: Callable[[str, dt.datetime], GateOutcome]) -> None:
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000,
                     budgetPeriod="1d")
    spend, down = 10.0, False

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return unmeasured(gate.name, now) if down else budget_outcome(gate.name, now, spend)
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    spend = 6000.0
    s = run(spec, s, T0 + 10 * MINUTE, judge).status
    assert (s.phase, s.suspended_exposure_percent) == (Phase.SUSPENDED, 5)
    down, now, said = True, T0 + 10 * MINUTE, list[str]()
    # Prometheus down in the same period (four looks: a counted Error's consecutiveErrorLimit
    # is the rollback rule's business): no renewal, nothing flaps.
    for _ in range(4):
        now += 5 * MINUTE
        decision = run(spec, s, now, judge)
        s, said = decision.status, said + [e.reason.value for e in decision.events]
        assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
            Phase.SUSPENDED, 0, 5), s.message
        assert not exposure.treating(s)
    assert "BudgetRenewed" not in said and said.count("BudgetExhausted") == 0
    assert said.count("GateHeld") + said.count("GateErrored") + said.count(
        "GateInconclusive") <= 1  # the outage said once at most, never per look
    assert "rolls over at 2026-12-02T00:00:00+00:00" in s.message
    assert "last failed at 2026-12-01T00:10:00+00:00" in s.message
    # Prometheus back with the budget still spent: nothing said again.
    down = False
    back = run(spec, s, now + 5 * MINUTE, judge)
    assert back.status.phase is Phase.SUSPENDED and back.events == ()
    # Down again until the period rolls over: the rollover alone ends it, unmeasured.
    down = True
    renewed = run(spec, back.status, T0 + dt.timedelta(days=1), judge)
    r = renewed.status
    assert (r.phase, r.exposure_percent, r.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    assert [h.action for h in r.history].count("BudgetRenewed") == 1
    assert r.history[-1].reason == "the budget period rolled over"


def test_a_budget_gate_that_cannot_measure_keeps_a_campaign_wide_suspension() -> None:
    # No budgetPeriod: "the suspension lasts until the budget is raised" (the runbook); an
    # outage is no raise. Only a Pass ends it.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000,
                     budgetPeriod=None)
    spend, down = 6000.0, False

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return _held_error(gate.name, now) if down else budget_outcome(gate.name, now, spend)
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    assert s.phase is Phase.SUSPENDED
    down = True
    for days in range(1, 40, 7):
        s = run(spec, s, T0 + dt.timedelta(days=days), judge).status
        assert (s.phase, s.exposure_percent) == (Phase.SUSPENDED, 0), s.message
    assert "until the budget gate passes again" in s.message
    # The budget raised (what the gate measures now passes): it ends.
    down, spend = False, 10.0
    resumed = run(spec, s, T0 + dt.timedelta(days=40), judge)
    assert (resumed.status.phase, resumed.status.exposure_percent) == (Phase.PROGRESSING, 5)
    renewed = [e.message for e in resumed.events if e.reason.value == "BudgetRenewed"]
    assert renewed and "the budget gate passes again within the period: spent 10" in renewed[0]


def test_a_held_budget_outcome_while_suspended_is_announced_once() -> None:
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000,
                     budgetPeriod="1d")
    down = False

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return _held_error(gate.name, now) if down else budget_outcome(gate.name, now, 6000)
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    down, events = True, list[Event]()
    for minutes in range(10, 60, 5):
        decision = run(spec, s, T0 + minutes * MINUTE, judge)
        s, events = decision.status, events + list(decision.events)
    assert [(e.type, e.reason.value) for e in events] == [("Warning", "GateHeld")]
    assert events[0].message.startswith(
        "gate budget Error holds exposure 5% (suspended to 0% by the budget) at step 1/3, not "
        "counted towards consecutiveErrorLimit: measurement failed: Prometheus")
    budget_gate = next(g for g in s.gates if g.name == "budget")
    assert (budget_gate.verdict, budget_gate.consecutive_errors) == (GateVerdict.ERROR, 0)


# -- the renewal pass says no AnalysisPassed (review-domain finding 4) ------------------------

def test_a_renewal_says_no_analysis_passed_on_verdicts_from_before_the_suspension() -> None:
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000,
                     budgetPeriod="1d")
    spend = 10.0

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return budget_outcome(gate.name, now, spend)
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    spend = 6000.0
    s = run(spec, s, T0 + 15 * MINUTE, judge).status
    for minutes in range(20, 40, 5):  # suspended: the budget gate alone measured
        s = run(spec, s, T0 + minutes * MINUTE, judge).status
    delivery = next(g for g in s.gates if g.name == "delivery")
    assert delivery.time == T0 + 15 * MINUTE  # its last Pass, from before the suspension
    spend = 0.0
    for at in (T0 + dt.timedelta(days=1),  # the period rolled over
               T0 + 40 * MINUTE):  # within the period, the budget raised (spend below it)
        renewed = run(spec, s, at, judge)
        assert [e.reason.value for e in renewed.events] == ["BudgetRenewed"]
        r = renewed.status
        assert (r.phase, r.exposure_percent) == (Phase.PROGRESSING, 5)
        # The next analysis measures every gate again, from the renewal: that one is said.
        after = run(spec, r, at + 5 * MINUTE, judge)
        assert [e.reason.value for e in after.events] == ["AnalysisPassed"]
        assert after.events[0].message == "every gate passed for exposure 5% at step 1/3"


def test_a_pass_that_fixes_a_refused_spec_and_lifts_a_suspension_starts_one_stratum() -> None:
    # The spec refused while suspended, fixed in the pass whose period rolls over: both
    # ``start_step_again`` and the renewal in ``follow_budget`` start the step again, which
    # is one restart (``restart_step``, once a pass): each gate but the budget's is the
    # stratum after the one it had, its Fails kept; the budget gate's Fail, a past period's,
    # goes (``drop_past_budget_fails``): the new period is not shown as spent.
    spec = spec_with([{"name": "budget", "type": "budget"}, INCREMENTAL], budget=5000,
                     budgetPeriod="1d")
    spend = 10.0

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return budget_outcome(gate.name, now, spend)
        return gates.evaluate_gate(gate, _null_counts(4000), gates.memory_of(
            next((g for g in status.gates if g.name == gate.name), None), gate), now)

    status = run(spec, CampaignStatus(), T0, judge).status
    status = run(spec, status, T0 + dt.timedelta(hours=20), judge).status
    spend = 6000.0
    status = run(spec, status, T0 + dt.timedelta(hours=20, minutes=5), judge).status
    assert (status.phase, status.suspended_exposure_percent) == (Phase.SUSPENDED, 5)
    before = {g.name: g for g in status.gates}
    assert before["incremental"].sequential_state
    renewed_at = T0 + dt.timedelta(days=1)
    both = exposure.decide(spec, status, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, spec_was_refused=True), renewed_at)
    r = both.status
    assert (r.phase, r.exposure_percent, r.current_step, r.step_started_at) == (
        Phase.PROGRESSING, 5, 0, renewed_at)
    assert [e.reason.value for e in both.events] == ["BudgetRenewed"]
    after = {g.name: g for g in r.gates}
    assert after["incremental"] == gates.next_step(before["incremental"])
    assert "budget" not in after and (r.spend, r.budget_remaining) == (0.0, 5000.0)
    # A pass re-run on its own output changes nothing.
    assert exposure.decide(spec, r, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), renewed_at).status == r


# -- the period's rollover shows in the pass at its start, whatever the ramp (review-budget 1) --

DAY = dt.timedelta(days=1)


def _ramp_with_spend(spend: Callable[[dt.datetime], float],
                     budget_down: Callable[[dt.datetime], bool] = lambda now: False,
                     ) -> tuple[CampaignSpec, Judge]:
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=5000,
                     budgetPeriod="1d")

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type == "budget":
            return (_held_error(gate.name, now) if budget_down(now)
                    else budget_outcome(gate.name, now, spend(now)))
        return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)

    return spec, judge


def _until(spec: CampaignSpec, s: CampaignStatus, until: dt.datetime, judge: Judge,
           start: dt.datetime = T0 + 3 * MINUTE) -> CampaignStatus:
    """Passes every 5 minutes from ``start`` (off the period's boundary) while before
    ``until``."""
    now = start
    while now < until:
        s = run(spec, s, now, judge).status
        now += 5 * MINUTE
    return s


def test_an_exposing_campaign_shows_the_new_period_from_its_first_pass() -> None:
    # Spent 10 in the day, last analysis at 23:58; the pass at 00:00 (asked for: the period's
    # end is a requeue time) is no analysis of the ramp underway, but shows nothing spent.
    spec, judge = _ramp_with_spend(lambda now: 10.0 if now < T0 + DAY else 0.0)
    s = _until(spec, CampaignStatus(), T0 + DAY, judge)
    assert s.last_analysis_at == T0 + DAY - 2 * MINUTE and s.phase is Phase.PROGRESSING
    assert (s.spend, s.budget_remaining) == (10.0, 4990.0)
    last = run(spec, s, T0 + DAY - 2 * MINUTE, judge)
    assert last.requeue_after == 2 * MINUTE  # a pass at the period's start
    assert not exposure.analysis_due(spec, s, T0 + DAY)
    r = run(spec, s, T0 + DAY, judge).status
    assert (r.spend, r.budget_remaining) == (0.0, 5000.0)
    assert r.last_analysis_at == s.last_analysis_at and r.phase is Phase.PROGRESSING
    assert run(spec, r, T0 + DAY + MINUTE, judge).status == r
    # The next analysis reads the period's spend, as usual.
    after = run(spec, r, T0 + DAY + 3 * MINUTE, judge).status
    assert after.last_analysis_at == T0 + DAY + 3 * MINUTE
    assert (after.spend, after.budget_remaining) == (0.0, 5000.0)


def test_a_first_look_of_the_period_that_reads_no_spend_shows_the_period_begun() -> None:
    # No pass at 00:00 (an operator restart): the first is the ramp's analysis at 00:03, and
    # Prometheus does not answer it. Nothing read in this period: the day before's 10 is not it.
    spec, judge = _ramp_with_spend(lambda now: 10.0, budget_down=lambda now: now >= T0 + DAY)
    s = _until(spec, CampaignStatus(), T0 + DAY, judge)
    r = run(spec, s, T0 + DAY + 3 * MINUTE, judge).status
    assert r.last_analysis_at == T0 + DAY + 3 * MINUTE
    assert (r.spend, r.budget_remaining) == (0.0, 5000.0)
    assert next(g for g in r.gates if g.name == "budget").verdict is GateVerdict.ERROR


def test_a_suspended_campaign_resumes_at_the_period_start_and_reads_it_an_interval_on() -> None:
    # Budget 5000 a day, spent at 00:13, last look at 23:58. The pass at 00:00 (the
    # suspension's end) renews on the rollover, nothing of the past period's Fail left in
    # status, but measures nothing: read at once the gate finds no sample yet (Inconclusive in
    # the first scrape). The step starts over there, so its gates read the period at 00:05.
    spec, judge = _ramp_with_spend(lambda now: 6000.0 if T0 + 13 * MINUTE <= now < T0 + DAY
                                   else 0.0 if now >= T0 + DAY else 10.0)
    s = _until(spec, CampaignStatus(), T0 + DAY, judge)
    assert (s.phase, s.spend, s.budget_remaining) == (Phase.SUSPENDED, 6000.0, 0.0)
    assert run(spec, s, T0 + DAY - 2 * MINUTE, judge).requeue_after == 2 * MINUTE
    assert not exposure.analysis_due(spec, s, T0 + DAY)
    d = run(spec, s, T0 + DAY, judge)
    r = d.status
    assert [e.reason.value for e in d.events] == ["BudgetRenewed"]
    assert (r.phase, r.exposure_percent) == (Phase.PROGRESSING, 5)
    assert (r.spend, r.budget_remaining) == (0.0, 5000.0)
    assert "budget" not in {g.name for g in r.gates} and "Fail" not in r.message
    assert r.history[-1].reason == "the budget period rolled over"
    assert r.last_analysis_at == s.last_analysis_at
    assert not exposure.analysis_due(spec, r, T0 + DAY + 4 * MINUTE)
    read = run(spec, r, T0 + DAY + 5 * MINUTE, judge).status
    budget_gate = next(g for g in read.gates if g.name == "budget")
    assert (budget_gate.verdict, budget_gate.time) == (GateVerdict.PASS, T0 + DAY + 5 * MINUTE)


def test_a_suspended_campaign_whose_spend_cannot_be_read_at_the_rollover_drops_the_fail() -> None:
    spec, judge = _ramp_with_spend(
        lambda now: 6000.0 if now >= T0 + 13 * MINUTE else 10.0,
        budget_down=lambda now: now >= T0 + DAY)
    s = _until(spec, CampaignStatus(), T0 + DAY, judge)
    assert s.phase is Phase.SUSPENDED
    d = run(spec, s, T0 + DAY, judge)
    r = d.status
    assert (r.phase, r.exposure_percent) == (Phase.PROGRESSING, 5)
    assert (r.spend, r.budget_remaining) == (0.0, 5000.0)
    verdicts = {g.name: g.verdict for g in r.gates}
    assert verdicts.get("budget") is not GateVerdict.FAIL and "budget Fail" not in r.message
    # Without a pass at the period's start (the rollover pass is a plain one, nothing due):
    # the past period's Fail still goes.
    quiet = exposure.decide(spec, s, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), T0 + DAY)
    q = quiet.status
    assert (q.phase, q.spend, q.budget_remaining) == (Phase.PROGRESSING, 0.0, 5000.0)
    assert "budget" not in {g.name for g in q.gates}
    assert "waiting for an analysis" in q.message and "budget Fail" not in q.message


def test_a_completed_ramp_shows_the_new_period_at_its_start_and_reads_it_an_interval_on() -> None:
    spec, judge = _ramp_with_spend(lambda now: 10.0 if now < T0 + DAY else 0.0)
    s = run(spec, CampaignStatus(), T0 + 3 * MINUTE, judge).status
    s = run(spec, s, T0 + 8 * MINUTE, judge,
            annotations={"uplift.dev/promote": "full"}).status
    assert exposure.completed(s) and s.current_step is None
    s = _until(spec, s, T0 + DAY, judge, start=T0 + 13 * MINUTE)
    assert (s.spend, s.last_analysis_at) == (10.0, T0 + DAY - 2 * MINUTE)
    assert run(spec, s, T0 + DAY - 2 * MINUTE, judge).requeue_after == 2 * MINUTE
    # The pass at the period's start shows it begun but is no analysis (``analysis_due``).
    assert not exposure.analysis_due(spec, s, T0 + DAY)
    start = run(spec, s, T0 + DAY, judge)
    r = start.status
    assert (r.phase, r.spend, r.budget_remaining, r.last_analysis_at) == (
        Phase.HEALTHY, 0.0, 5000.0, T0 + DAY - 2 * MINUTE)
    assert start.requeue_after == 3 * MINUTE  # the next analysis, an interval after the last
    read = run(spec, r, T0 + DAY + 3 * MINUTE, judge).status
    assert (read.spend, read.last_analysis_at) == (0.0, T0 + DAY + 3 * MINUTE)


def test_a_campaign_that_exposes_no_one_asks_for_no_pass_at_each_period() -> None:
    # Rolled back: nothing to show at the period's start but figures its next pass rolls over;
    # a pass a period (30 s in the demo) for every such campaign would be for nothing.
    spec, judge = _ramp_with_spend(lambda now: 10.0)
    s = run(spec, CampaignStatus(), T0 + 3 * MINUTE, judge).status
    s = run(spec, s, T0 + 8 * MINUTE, judge).status
    aborted = run(spec, s, T0 + 9 * MINUTE, judge, annotations={"uplift.dev/abort": "t"})
    assert not exposure.exposing(aborted.status) and aborted.status.spend == 10.0
    assert aborted.requeue_after is None or aborted.requeue_after > DAY
