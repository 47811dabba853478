"""domain.exposure and a spend that cannot be read: ``status.budgetUnreadableSince`` says since
when the budget gates' readings have failed without a break (set at the first, cleared by a
reading that shows the spend), and ``spec.economics.budgetUnreadable.action: Suspend``
suspends the campaign once that has lasted ``after`` — as a spent budget suspends it, under its
own reason — until a reading shows the spend under the budget. Hold (the default) only holds
the ramp, as before. Plain values, time passed in; each pass measures what
``gates_to_measure`` names, when due, as the service does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignGate, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.requests import parse_requests

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # a budget period's start (7d from T0)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")
MINUTE = dt.timedelta(minutes=1)
DOWN = "Prometheus at http://prom:9090: timed out"


def spec_with(unreadable: dict[str, Any] | None, **economics: Any) -> CampaignSpec:
    raw = yaml.safe_load(SAMPLE.read_text())["spec"]
    raw["schedule"] = None
    raw["exposure"]["progressDeadline"] = None
    raw["exposure"]["gates"] = [{"name": "budget", "type": "budget"}]
    raw["economics"].update(economics)
    raw["economics"].pop("budgetUnreadable", None)  # absent: Hold
    if unreadable is not None:
        raw["economics"]["budgetUnreadable"] = unreadable
    return Campaign.model_validate({"spec": raw}).spec


class Spend:
    """What the budget gate reads: the spend, or nothing (``down``: an Error that holds, as
    ``services.measurements._campaign_budget`` says Prometheus out of reach)."""

    def __init__(self) -> None:
        self.spend = 100.0
        self.down = False

    def __call__(self, gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if self.down:
            return GateOutcome(name=gate.name, verdict=GateVerdict.ERROR, message=DOWN,
                               time=now, holds=True)
        spent = self.spend >= 5000
        return GateOutcome(name=gate.name, verdict=GateVerdict.FAIL if spent else GateVerdict.PASS,
                           message="m", time=now, value=self.spend, threshold=5000.0,
                           suspension=Suspension(None, "spent") if spent else None)


def run(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime, judge: Spend,
        annotations: dict[str, str] | None = None) -> exposure.Decision:
    outcomes = None
    if exposure.analysis_due(spec, status, now):
        outcomes = [judge(gate, now) for gate in exposure.gates_to_measure(spec, status)]
    return exposure.decide(spec, status, exposure.Observed(
        model=SERVING, gate_outcomes=outcomes, budget_anchor=T0, generation=1,
        requests=parse_requests(annotations or {})), now)


def ready(status: CampaignStatus) -> str:
    found = cond.find(status.conditions, cond.READY)
    assert found is not None
    return found.reason


def reasons(decision: exposure.Decision) -> list[str]:
    return [e.reason.value for e in decision.events]


def exposing_then_down(spec: CampaignSpec, judge: Spend) -> CampaignStatus:
    """The ramp started at T0 (the spend read), then Prometheus down from T0+5m: the reading
    at T0+5m fails."""
    s = run(spec, CampaignStatus(), T0, judge).status
    assert (s.exposure_percent, s.budget_unreadable_since) == (5, None)
    judge.down = True
    d = run(spec, s, T0 + 5 * MINUTE, judge)
    s = d.status
    assert s.budget_unreadable_since == T0 + 5 * MINUTE
    assert (s.phase, s.exposure_percent) == (Phase.PROGRESSING, 5)
    return s


SUSPEND = {"action": "Suspend", "after": "7m"}


def test_before_after_the_unreadable_spend_holds_then_it_suspends_with_its_own_reason() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = exposing_then_down(spec, judge)
    d = run(spec, s, T0 + 10 * MINUTE, judge)  # another failed reading: 5 min unreadable
    s = d.status
    assert s.budget_unreadable_since == T0 + 5 * MINUTE  # since the first, not the latest
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    assert exposure.treating(s)
    # A pass is asked for when `after` has passed (T0+12m), not only at the next analysis.
    assert d.requeue_after == 2 * MINUTE
    # At T0+12m no analysis is due: time alone suspends, as a spent budget does.
    d = run(spec, s, T0 + 12 * MINUTE, judge)
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.SUSPENDED, 0, 5)
    assert ready(s) == cond.BUDGET_UNREADABLE == "BudgetUnreadable"
    assert not exposure.treating(s)
    assert reasons(d) == ["BudgetUnreadable"]
    assert d.events[0].type == "Warning"
    assert s.history[-1].action == "BudgetUnreadable"
    # The message says since when and why (the failed reading's words).
    assert "since 2026-12-01T00:05:00+00:00" in s.message and DOWN in s.message
    assert "(never a rollback)" in s.message and s.current_step == 0
    # Still unreadable: it stays suspended, said once.
    d = run(spec, s, T0 + 15 * MINUTE, judge)
    assert (d.status.phase, d.status.exposure_percent, reasons(d)) == (Phase.SUSPENDED, 0, [])
    assert ready(d.status) == cond.BUDGET_UNREADABLE


def test_a_reading_under_the_budget_resumes_the_exposure_it_held() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = exposing_then_down(spec, judge)
    s = run(spec, s, T0 + 12 * MINUTE, judge).status
    assert s.phase is Phase.SUSPENDED
    judge.down, judge.spend = False, 1200.0
    d = run(spec, s, T0 + 17 * MINUTE, judge)  # the next analysis (T0+12m's) reads it
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    assert s.budget_unreadable_since is None
    assert ready(s) == cond.EXPOSING and exposure.treating(s)
    assert reasons(d) == ["BudgetRenewed"]
    assert "the spend is read again, under the budget: spent 1200 of budget 5000" in (
        d.events[0].message)


def test_a_reading_that_shows_the_budget_spent_suspends_on_as_exhausted() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = exposing_then_down(spec, judge)
    s = run(spec, s, T0 + 12 * MINUTE, judge).status
    judge.down, judge.spend = False, 5000.0
    d = run(spec, s, T0 + 17 * MINUTE, judge)
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.SUSPENDED, 0, 5)
    assert ready(s) == cond.BUDGET_EXHAUSTED and s.budget_unreadable_since is None
    assert reasons(d) == ["BudgetExhausted"]
    assert s.history[-1].action == "BudgetExhausted"  # what dates the Fail from now on
    # Prometheus down again: the spent budget's suspension holds (its rules, not `after`).
    judge.down = True
    d = run(spec, s, T0 + 40 * MINUTE, judge)
    assert ready(d.status) == cond.BUDGET_EXHAUSTED and reasons(d) == ["GateHeld"]
    d = run(spec, d.status, T0 + 60 * MINUTE, judge)  # past `after` since T0+40m
    assert d.status.budget_unreadable_since == T0 + 40 * MINUTE
    assert ready(d.status) == cond.BUDGET_EXHAUSTED and reasons(d) == []


def test_hold_never_suspends_however_long_the_spend_is_unreadable() -> None:
    for unreadable in (None, {"action": "Hold"}, {"action": "Hold", "after": "1m"}):
        spec, judge = spec_with(unreadable), Spend()
        s = exposing_then_down(spec, judge)
        said: list[str] = []
        for minutes in range(10, 6 * 60, 5):  # six hours of failed readings
            d = run(spec, s, T0 + minutes * MINUTE, judge)
            s, said = d.status, said + reasons(d)
        assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
            Phase.PROGRESSING, 5, None), unreadable
        assert exposure.treating(s)
        assert "BudgetUnreadable" not in said
        assert s.budget_unreadable_since == T0 + 5 * MINUTE  # kept: a change to Suspend counts it


def test_since_is_carried_from_status_across_an_operator_restart() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = exposing_then_down(spec, judge)
    # A new process reads the status as the API server stored it (JSON), nothing else.
    stored = CampaignStatus.model_validate(s.to_wire())
    assert stored.budget_unreadable_since == T0 + 5 * MINUTE
    d = run(spec, stored, T0 + 10 * MINUTE, judge)  # its first reading fails too
    assert d.status.budget_unreadable_since == T0 + 5 * MINUTE  # not restarted at T0+10m
    restored = CampaignStatus.model_validate(d.status.to_wire())
    d = run(spec, restored, T0 + 12 * MINUTE, judge)
    assert (d.status.phase, ready(d.status)) == (Phase.SUSPENDED, cond.BUDGET_UNREADABLE)


def test_a_change_from_suspend_to_hold_gives_the_exposure_back() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = exposing_then_down(spec, judge)
    s = run(spec, s, T0 + 12 * MINUTE, judge).status
    assert s.phase is Phase.SUSPENDED
    d = run(spec_with({"action": "Hold"}), s, T0 + 13 * MINUTE, judge)
    assert (d.status.phase, d.status.exposure_percent) == (Phase.PROGRESSING, 5)
    assert reasons(d) == ["BudgetRenewed"]
    assert "no longer Suspend" in d.events[0].message


def test_a_spent_budget_whose_period_rolls_over_unread_turns_into_an_unreadable_one() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = run(spec, CampaignStatus(), T0, judge).status
    judge.spend = 5000.0
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    assert (s.phase, ready(s)) == (Phase.SUSPENDED, cond.BUDGET_EXHAUSTED)
    judge.down = True
    minutes = 10
    while T0 + minutes * MINUTE < T0 + dt.timedelta(days=7):  # unreadable for days: held
        s = run(spec, s, T0 + minutes * MINUTE, judge).status
        minutes += 6 * 60
    assert ready(s) == cond.BUDGET_EXHAUSTED
    assert s.budget_unreadable_since == T0 + 10 * MINUTE
    # The week rolls over: the spent budget no longer suspends, but the spend is still blind.
    d = run(spec, s, T0 + dt.timedelta(days=7), judge)
    s = d.status
    assert (s.phase, s.exposure_percent, ready(s)) == (Phase.SUSPENDED, 0,
                                                        cond.BUDGET_UNREADABLE)
    assert reasons(d) == ["BudgetUnreadable"] and "stays suspended" in d.events[0].message
    assert s.history[-1].action == "BudgetUnreadable"


def test_a_campaign_exposing_no_one_is_not_blind() -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = exposing_then_down(spec, judge)
    d = run(spec, s, T0 + 6 * MINUTE, judge, annotations={"uplift.dev/abort": "t"})
    assert (d.status.exposure_percent, d.status.budget_unreadable_since) == (0, None)
