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
    # The next pass asked for is the next reading (T0+15m), not the time `after` is past.
    assert d.requeue_after == 5 * MINUTE
    # At T0+12m `after` has passed, but no reading is due: time alone suspends nothing.
    d = run(spec, s, T0 + 12 * MINUTE, judge)
    assert (d.status.phase, d.status.exposure_percent, reasons(d)) == (
        Phase.PROGRESSING, 5, [])
    assert d.status.to_wire() == s.to_wire()
    # The reading at T0+15m fails, 10 min since the first: it suspends.
    d = run(spec, s, T0 + 15 * MINUTE, judge)
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
    # Still unreadable: it stays suspended, said once, between readings too.
    d = run(spec, s, T0 + 17 * MINUTE, judge)
    assert (d.status.phase, d.status.exposure_percent, reasons(d)) == (Phase.SUSPENDED, 0, [])
    d = run(spec, d.status, T0 + 20 * MINUTE, judge)
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
    d = run(spec, restored, T0 + 15 * MINUTE, judge)
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


def every_half_hour(spec: CampaignSpec) -> CampaignSpec:
    """``spec`` read every 30 min (``analysisInterval`` longer than ``after``)."""
    return spec.model_copy(update={"exposure": spec.exposure.model_copy(
        update={"analysis_interval": "30m"})})


def test_one_failed_reading_suspends_nothing_when_the_interval_is_longer_than_after() -> None:
    # after 10m (the default), read every 30 min: a Prometheus restart that fails the reading
    # at T0+30m is over at T0+60m's.
    spec, judge = every_half_hour(spec_with({"action": "Suspend"})), Spend()
    s = run(spec, CampaignStatus(), T0, judge).status
    assert (s.exposure_percent, s.step_started_at) == (5, T0)
    judge.down = True
    d = run(spec, s, T0 + 30 * MINUTE, judge)
    s = d.status
    assert (s.budget_unreadable_since, s.phase, s.exposure_percent) == (
        T0 + 30 * MINUTE, Phase.PROGRESSING, 5)
    assert d.requeue_after == 30 * MINUTE  # the next reading, not since + after (T0+40m)
    said: list[str] = []
    for minutes in (40, 45, 59):  # `after` past, no reading: nothing suspends
        d = run(spec, s, T0 + minutes * MINUTE, judge)
        said += reasons(d)
        assert (d.status.phase, d.status.exposure_percent) == (Phase.PROGRESSING, 5), minutes
        assert exposure.treating(d.status)
    judge.down = False
    d = run(spec, d.status, T0 + 60 * MINUTE, judge)  # read again, under the budget
    s, said = d.status, said + reasons(d)
    assert s.budget_unreadable_since is None
    assert "BudgetUnreadable" not in said and "BudgetRenewed" not in said
    # Nothing restarted the step: its hour's pause, from T0, is over, and it advances.
    assert (s.current_step, s.exposure_percent) == (1, 25)


def test_two_failed_readings_spanning_after_suspend_at_the_second() -> None:
    spec, judge = every_half_hour(spec_with({"action": "Suspend"})), Spend()
    s = run(spec, CampaignStatus(), T0, judge).status
    judge.down = True
    s = run(spec, s, T0 + 30 * MINUTE, judge).status
    s = run(spec, s, T0 + 45 * MINUTE, judge).status
    assert (s.phase, s.exposure_percent) == (Phase.PROGRESSING, 5)
    d = run(spec, s, T0 + 60 * MINUTE, judge)  # 30 min since the first: past `after`
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.SUSPENDED, 0, 5)
    assert ready(s) == cond.BUDGET_UNREADABLE and reasons(d) == ["BudgetUnreadable"]
    assert "unreadable since 2026-12-01T00:30:00+00:00" in s.message


def suspended_at_t0_15m(spec: CampaignSpec, judge: Spend) -> CampaignStatus:
    """Failed readings at T0+5m, +10m, +15m (after 7m): suspended at the third."""
    s = exposing_then_down(spec, judge)
    s = run(spec, s, T0 + 10 * MINUTE, judge).status
    d = run(spec, s, T0 + 15 * MINUTE, judge)
    assert (d.status.phase, reasons(d)) == (Phase.SUSPENDED, ["BudgetUnreadable"])
    return d.status


def test_after_lengthened_while_suspended_lifts_it_saying_so_until_a_reading_fails_past_it(
        ) -> None:
    spec, judge = spec_with(SUSPEND), Spend()
    s = suspended_at_t0_15m(spec, judge)
    longer = spec_with({"action": "Suspend", "after": "1h"})
    d = run(longer, s, T0 + 16 * MINUTE, judge)  # no reading: still unreadable
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    assert s.budget_unreadable_since == T0 + 5 * MINUTE
    assert reasons(d) == ["BudgetRenewed"]
    message = d.events[0].message
    assert "spec.economics.budgetUnreadable.after lengthened to 1h" in message
    assert "unreadable since 2026-12-01T00:05:00+00:00" in message
    assert "read again" not in message and "under the budget" not in message
    # Failed readings go on; the first at or past T0+5m + 1h suspends it again.
    suspended_at = None
    for minutes in range(17, 90):
        d = run(longer, s, T0 + minutes * MINUTE, judge)
        s = d.status
        if s.phase is Phase.SUSPENDED:
            suspended_at = T0 + minutes * MINUTE
            break
        assert "BudgetUnreadable" not in reasons(d)
    assert suspended_at is not None and T0 + 65 * MINUTE <= suspended_at < T0 + 70 * MINUTE
    assert reasons(d) == ["BudgetUnreadable"] and ready(s) == cond.BUDGET_UNREADABLE
    budget = next(g for g in s.gates if g.name == "budget")
    assert (budget.verdict, budget.time) == (GateVerdict.ERROR, suspended_at)  # at a reading


def test_the_renewal_after_an_unreadable_suspension_starts_the_step_over() -> None:
    # The step (5 %, a 1h pause from T0) was at 0 % from T0+15m to T0+20m: as at a spent
    # budget's renewal, its pause runs again from the renewal, and its gates count from there.
    spec, judge = spec_with(SUSPEND), Spend()
    s = suspended_at_t0_15m(spec, judge)
    assert s.step_started_at == T0
    judge.down, judge.spend = False, 1200.0
    d = run(spec, s, T0 + 20 * MINUTE, judge)
    s = d.status
    assert reasons(d) == ["BudgetRenewed"] and s.step_started_at == T0 + 20 * MINUTE
    advanced_at = None
    for minutes in range(25, 95, 5):
        s = run(spec, s, T0 + minutes * MINUTE, judge).status
        if s.current_step == 1:
            advanced_at = minutes
            break
    assert advanced_at == 80  # an hour from the renewal, not T0+60m


def test_a_change_to_suspend_mid_outage_suspends_on_the_readings_that_failed_already() -> None:
    # Under Hold the readings from T0+5m to T0+20m failed; an edit to Suspend at T0+22m (no
    # reading due) suspends at once when they span `after` (the runbook's `after: 0s`, or 15m),
    # not when they do not (20m).
    spec, judge = spec_with({"action": "Hold"}), Spend()
    s = exposing_then_down(spec, judge)
    for minutes in (10, 15, 20):
        s = run(spec, s, T0 + minutes * MINUTE, judge).status
    for after, suspends in (("0s", True), ("15m", True), ("20m", False)):
        d = run(spec_with({"action": "Suspend", "after": after}), s, T0 + 22 * MINUTE, judge)
        assert (d.status.phase is Phase.SUSPENDED, reasons(d)) == (
            suspends, ["BudgetUnreadable"] if suspends else []), after


#: The budget enforced by ``budget``, watched by a dry-run ``shadow`` too.
WITH_SHADOW: list[dict[str, Any]] = [{"name": "budget", "type": "budget"},
                                  {"name": "shadow", "type": "budget", "dryRun": True}]


def with_gates(spec: CampaignSpec, gates: list[dict[str, Any]]) -> CampaignSpec:
    return spec.model_copy(update={"exposure": spec.exposure.model_copy(
        update={"gates": [CampaignGate.model_validate(g) for g in gates]})})


class ShadowReads(Spend):
    """The dry-run ``shadow`` gate reads the spend (its own query) whatever the enforcing
    gate reads."""

    def __call__(self, gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.dry_run:
            return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now,
                               value=100.0, threshold=5000.0)
        return super().__call__(gate, now)


def test_a_dry_run_gate_reading_the_spend_does_not_clear_the_enforcing_gates_outage() -> None:
    spec, judge = with_gates(spec_with(SUSPEND), WITH_SHADOW), ShadowReads()
    s = run(spec, CampaignStatus(), T0, judge).status
    assert (s.exposure_percent, s.budget_unreadable_since) == (5, None)
    judge.down = True  # the enforcing gate cannot read; the dry-run one still passes
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    assert s.budget_unreadable_since == T0 + 5 * MINUTE
    s = run(spec, s, T0 + 10 * MINUTE, judge).status
    assert s.budget_unreadable_since == T0 + 5 * MINUTE
    d = run(spec, s, T0 + 15 * MINUTE, judge)
    assert (d.status.phase, ready(d.status), reasons(d)) == (
        Phase.SUSPENDED, cond.BUDGET_UNREADABLE, ["BudgetUnreadable"])
    assert "gate budget" in d.status.message


def test_a_dry_run_budget_gate_alone_is_never_blind() -> None:
    # Only a dry-run gate watches the budget: nothing enforces it, so its failed readings set
    # no budgetUnreadableSince (no UpliftCampaignSpendUnreadable) and suspend nothing.
    spec = with_gates(spec_with(SUSPEND), [{"name": "shadow", "type": "budget", "dryRun": True}])
    judge = Spend()
    s = run(spec, CampaignStatus(), T0, judge).status
    assert s.exposure_percent == 5
    judge.down = True
    said: list[str] = []
    for minutes in range(5, 60, 5):
        d = run(spec, s, T0 + minutes * MINUTE, judge)
        s, said = d.status, said + reasons(d)
        assert s.budget_unreadable_since is None, minutes
    assert s.phase is Phase.PROGRESSING and "BudgetUnreadable" not in said
