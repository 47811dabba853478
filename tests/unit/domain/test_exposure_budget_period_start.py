"""domain.exposure at a budget period's start, passes driven as the operator drives them (each
at the requeue the one before asked for) and the budget gate read as its collector reads it: a
range of the period so far, which holds no sample within the first scrape of the period, so the
gate is Inconclusive there (``services.measurements._range``: "a range shorter than two scrapes
yields no data").

The pass at a period's start shows the period begun (0 spent, a past period's Fail gone, a
suspension lifted) but is no analysis: read there, the gate would see nothing, and as the last
analysis it would put the next at a period's start again, so with ``budgetPeriod`` ≤
``analysisInterval`` no analysis would read the spend. And a short ``budgetPeriod`` asks for a
pass at a period's end only while the status has something to roll over: never a pass a second
at a 1 s period, never a budget check more often than ``analysisInterval``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Callable

import pytest
from tests.unit.domain.test_exposure_budget import MINUTE, T0, Judge, run, spec_with

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase, parse_duration
from uplift_operator.domain import budget, exposure, gates
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.measurements import BudgetMeasurement, NotMeasured

#: Prometheus' scrape interval: a range shorter than that holds no sample of the spend gauges.
SCRAPE = dt.timedelta(seconds=30)
AMOUNT = 5000.0


def collector(spec: CampaignSpec, spend: Callable[[dt.datetime], float]) -> Judge:
    """The budget gate as ``services.measurements`` measures it (the spend read over the period
    so far: nothing within its first scrape), the other gates passing."""
    period = spec.economics.budget_period

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type != "budget":
            return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)
        start, end = budget.current_period(period, T0, now)
        measured = (
            NotMeasured("holding: no spend series in Prometheus for this campaign yet",
                        holds=True) if now - start < SCRAPE
            else BudgetMeasurement(spend=spend(now), budget=AMOUNT, period_start=start,
                                   period_end=end, cheapest=0.10))
        return gates.evaluate_gate(gate, measured, None, now)

    return judge


class Pass:
    def __init__(self, now: dt.datetime, before: CampaignStatus,
                 decision: exposure.Decision) -> None:
        self.now, self.decision = now, decision
        after = decision.status
        self.analysed = after.last_analysis_at == now != before.last_analysis_at
        self.budget = next((g for g in after.gates if g.name == "budget" and g.time == now),
                           None) if self.analysed else None


def operate(spec: CampaignSpec, s: CampaignStatus, start: dt.datetime, until: dt.datetime,
            judge: Judge) -> tuple[CampaignStatus, list[Pass]]:
    """Passes from ``start`` while before ``until``, each at the requeue the one before asked
    for (no other event wakes the campaign)."""
    now, passes = start, []
    while now < until:
        decision = run(spec, s, now, judge)
        passes.append(Pass(now, s, decision))
        s = decision.status
        if decision.requeue_after is None:
            break
        now += decision.requeue_after
    return s, passes


def _completed(spec: CampaignSpec, judge: Judge) -> CampaignStatus:
    s = run(spec, CampaignStatus(), T0 + 3 * MINUTE, judge).status
    s = run(spec, s, T0 + 8 * MINUTE, judge, annotations={"uplift.dev/promote": "full"}).status
    assert exposure.completed(s) and s.current_step is None and s.phase is Phase.HEALTHY
    return s


# -- review-budget-rollover 1: the period's start is no analysis --------------------------------

@pytest.mark.parametrize("period", ["5m", "10m"])
def test_a_completed_campaign_overspending_is_suspended_in_every_period(period: str) -> None:
    # 6000 of 5000 spent in every period from 00:10 (read from the period's first scrape on),
    # analysisInterval 5m: each analysis reads the spend and fails the gate, the first of each
    # period suspending the campaign; each rollover resumes it. Before, the pass at the period's
    # start measured the gate at once (no sample yet: Inconclusive) and, as the last analysis,
    # put the next one at a period's start again: with 5m periods one Fail in 30 minutes, then
    # Inconclusive for good, never suspended again.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=AMOUNT,
                     budgetPeriod=period)
    over, length = T0 + 10 * MINUTE, parse_duration(period)
    judge = collector(spec, lambda now: 6000.0 if now >= over else 10.0)
    s = _completed(spec, judge)
    s, passes = operate(spec, s, T0 + 8 * MINUTE, over + 30 * MINUTE, judge)
    looks = [p for p in passes if p.budget is not None and p.now >= over]
    assert Counter(p.budget.verdict for p in looks if p.budget is not None) == {
        GateVerdict.FAIL: 6}
    exhausted = [budget.current_period(period, T0, p.now)[0] for p in passes
                 if any(e.reason.value == "BudgetExhausted" for e in p.decision.events)]
    periods = [over + k * length for k in range(30 * MINUTE // length)]
    assert exhausted == periods  # suspended once in every period
    renewed = [p.now for p in passes
               if any(e.reason.value == "BudgetRenewed" for e in p.decision.events)]
    assert renewed == periods[1:]  # at each rollover, by the pass its suspension asked for
    # No analysis at a period's start, none more often than analysisInterval.
    analysed = [p.now for p in passes if p.analysed]
    assert all(t - budget.current_period(period, T0, t)[0] >= SCRAPE for t in analysed)
    assert all(b - a >= 5 * MINUTE for a, b in itertools.pairwise(analysed))


# -- review-budget-rollover 2: a 1 s period asks for no pass a second ---------------------------

@pytest.mark.parametrize("completed", [False, True], ids=["underway", "completed"])
def test_a_one_second_period_asks_for_a_pass_per_rollover_of_a_spend_only(
        completed: bool) -> None:
    # budgetPeriod 1s (the CRD's minimum), analysisInterval 5m, a spend read at each analysis
    # (the judge reads it at once, the worst case). Ten minutes: two analyses, each followed by
    # one pass at the end of its period that shows the next begun; then nothing to roll over,
    # so no pass until the next analysis. Before: a pass every second (600), and for a completed
    # ramp a budget check every second.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=AMOUNT,
                     budgetPeriod="1s")

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        if gate.type != "budget":
            return GateOutcome(name=gate.name, verdict=GateVerdict.PASS, message="m", time=now)
        start, end = budget.current_period("1s", T0, now)
        return gates.evaluate_gate(gate, BudgetMeasurement(
            spend=1.0, budget=AMOUNT, period_start=start, period_end=end, cheapest=0.10),
            None, now)

    if completed:
        s = _completed(spec, judge)
        start = T0 + 13 * MINUTE
    else:
        s = run(spec, CampaignStatus(), T0 + 3 * MINUTE, judge).status
        start = T0 + 8 * MINUTE
    assert exposure.exposing(s)
    s, passes = operate(spec, s, start, start + 10 * MINUTE, judge)
    assert [(p.now - start, p.analysed) for p in passes] == [
        (dt.timedelta(0), True), (dt.timedelta(seconds=1), False),
        (5 * MINUTE, True), (5 * MINUTE + dt.timedelta(seconds=1), False)]
    for p in passes:
        r = p.decision.status
        assert (r.spend, r.budget_remaining) == ((1.0, 4999.0) if p.analysed
                                                 else (0.0, AMOUNT))
    assert exposure.exposing(s)


# -- review-budget-rollover 3: no analysis within a period's first scrapes ----------------------

#: ``exposure.budget_settle()`` at the default 30 s scrape: two scrapes.
SETTLE = dt.timedelta(seconds=60)


def test_the_settle_window_is_two_scrapes() -> None:
    assert exposure.budget_settle() == SETTLE == exposure.budget_settle(30.0)
    assert exposure.budget_settle(15.0) == dt.timedelta(seconds=30)


def test_the_settle_window_waits_the_query_lag_too() -> None:
    """A remote-write backend answers the period's first scrapes only the query lag after
    them (``--prometheus-query-lag``): read before, the budget gate has no sample."""
    assert exposure.budget_settle(30.0, 45.0) == dt.timedelta(seconds=105)
    assert exposure.budget_settle(None, 10.0) == SETTLE + dt.timedelta(seconds=10)
    assert exposure.budget_settle(30.0, 0.0) == SETTLE


def test_a_ramp_renewed_at_a_rollover_reads_the_spend_at_every_later_analysis() -> None:
    # The fixer's repro, budgetPeriod 5m, analysisInterval 5m: 6000 of 5000 spent at 00:13,
    # suspended; the rollover at 00:15 renews, the step starting over there. Its analyses were
    # then at 00:20, 00:25, ...: each within the first scrape of a period, the budget gate
    # Inconclusive for good, the step held ("waiting (gates: budget Inconclusive)") and the
    # overspend from 00:35 never caught. Now the first analysis after the renewal waits for
    # the period's first samples (00:21), the later ones an interval on, off the periods'
    # starts: each reads the spend, and the overspend suspends again at once.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=AMOUNT,
                     budgetPeriod="5m")
    over = T0 + 35 * MINUTE

    def spend(now: dt.datetime) -> float:
        return 6000.0 if T0 + 13 * MINUTE <= now < T0 + 15 * MINUTE or now >= over else 10.0

    judge = collector(spec, spend)
    s = run(spec, CampaignStatus(), T0 + 3 * MINUTE, judge).status
    s, passes = operate(spec, s, T0 + 3 * MINUTE, T0 + 45 * MINUTE, judge)
    renewed = [p.now for p in passes
               if any(e.reason.value == "BudgetRenewed" for e in p.decision.events)]
    assert renewed[0] == T0 + 15 * MINUTE
    after = [p for p in passes if p.budget is not None and p.now > renewed[0]]
    assert [(p.now - T0, p.budget.verdict) for p in after if p.budget is not None] == [
        (21 * MINUTE, GateVerdict.PASS),
        (26 * MINUTE, GateVerdict.PASS),
        (31 * MINUTE, GateVerdict.PASS),
        (36 * MINUTE, GateVerdict.FAIL)]
    exhausted = [p.now for p in passes
                 if any(e.reason.value == "BudgetExhausted" for e in p.decision.events)]
    assert exhausted == [T0 + 13 * MINUTE, T0 + 36 * MINUTE]
    assert all("Inconclusive" not in p.decision.status.message for p in passes)
    # The step keeps its start (the renewal's): only the analysis moved, not the step's end.
    passed = next(p for p in after if p.budget is not None)
    assert passed.decision.status.step_started_at == T0 + 15 * MINUTE
    # No extra pass: each is an analysis or a period's start (a rollover to show, a suspension
    # to lift), none between the period's start and the settled analysis.
    assert [p.now - T0 for p in passes if p.now > renewed[0]] == [
        21 * MINUTE, 25 * MINUTE, 26 * MINUTE, 30 * MINUTE,
        31 * MINUTE, 35 * MINUTE, 36 * MINUTE, 40 * MINUTE]


def test_a_first_step_begun_at_the_budget_anchor_reads_the_spend() -> None:
    # The step starts at budgetAnchor (00:00), analyses every 5m of 5m periods: the first
    # waits for the period's samples, each reads the spend; 6000 from 00:20 suspends.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=AMOUNT,
                     budgetPeriod="5m")
    judge = collector(spec, lambda now: 6000.0 if now >= T0 + 20 * MINUTE else 10.0)
    _, passes = operate(spec, CampaignStatus(), T0, T0 + 22 * MINUTE, judge)
    assert passes[0].decision.status.step_started_at == T0
    looks = [(p.now - T0, p.budget.verdict) for p in passes if p.budget is not None]
    assert looks == [(6 * MINUTE, GateVerdict.PASS),
                     (11 * MINUTE, GateVerdict.PASS),
                     (16 * MINUTE, GateVerdict.PASS),
                     (21 * MINUTE, GateVerdict.FAIL)]
    assert not exposure.analysis_due(spec, passes[0].decision.status, T0 + 5 * MINUTE)
    assert exposure.analysis_due(spec, passes[0].decision.status, T0 + 6 * MINUTE)


def test_a_completed_campaign_at_rest_gets_one_pass_an_interval() -> None:
    # Nothing spent: no rollover to show, so only the analyses ask for passes, one each
    # analysisInterval, the settle window moving none of them (none falls in it) and adding
    # no pass.
    spec = spec_with([{"name": "delivery", "type": "deliveryRate"}], budget=AMOUNT,
                     budgetPeriod="5m")
    judge = collector(spec, lambda now: 0.0)
    s = _completed(spec, judge)
    s, passes = operate(spec, s, T0 + 13 * MINUTE, T0 + 43 * MINUTE, judge)
    assert all(p.analysed for p in passes)
    assert [p.now - T0 for p in passes] == [(13 + 5 * k) * MINUTE for k in range(6)]
