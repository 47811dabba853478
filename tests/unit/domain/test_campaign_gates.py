"""Campaign gate judgement with plain values: Pass, Fail, Inconclusive, no data, outcomes not in
yet, a broken holdout split, the budget's suspension, and evidence carried across steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import budget, gates
from uplift_operator.domain.gates import GateAction, assess, evaluate_gate, required_action
from uplift_operator.domain.measurements import (
    ArmCounts,
    BudgetMeasurement,
    CampaignArms,
    DeliveryRateMeasurement,
    IncrementalConversionsMeasurement,
    Measurement,
    OutcomeCompleteness,
    RoiMeasurement,
)
from uplift_operator.runtime import policy

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
P, INC, E, F = (GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.ERROR, GateVerdict.FAIL)
COMPLETE = OutcomeCompleteness(expected=1000, received=990, late=12)


def gate(type_: str, **fields: Any) -> CampaignGate:
    return CampaignGate.model_validate({"name": "g", "type": type_, **fields})


def arms(treated: int, treated_conv: int, holdout: int, holdout_conv: int) -> CampaignArms:
    return CampaignArms(ArmCounts(treated, treated_conv), ArmCounts(holdout, holdout_conv))


def incremental(a: CampaignArms, completeness: OutcomeCompleteness | None = COMPLETE,
                h: float = 0.1) -> IncrementalConversionsMeasurement:
    return IncrementalConversionsMeasurement(arms=a, holdout_fraction=h, completeness=completeness)


def roi(a: CampaignArms, spend: float, value: float = 10.0,
        completeness: OutcomeCompleteness | None = COMPLETE) -> RoiMeasurement:
    return RoiMeasurement(arms=a, holdout_fraction=0.1, value_per_conversion=value, spend=spend,
                          completeness=completeness)


# 20,000 treated-arm and 2,000 holdout units, 10 % holdout conversion.
POSITIVE = arms(18_000, 3_600, 2_000, 200)  # +10 pp
ZERO = arms(18_000, 1_800, 2_000, 200)
NEGATIVE = arms(18_000, 900, 2_000, 200)  # −5 pp
PERIOD_END = NOW + dt.timedelta(days=5)

CASES = [
    # deliveryRate: delivered / decided against min (default 0.95)
    (gate("deliveryRate", min=0.95), DeliveryRateMeasurement(delivered=990, decided=1000), P),
    (gate("deliveryRate", min=0.95), DeliveryRateMeasurement(delivered=500, decided=1000), F),
    (gate("deliveryRate", min=0.95), DeliveryRateMeasurement(delivered=950, decided=1000), INC),
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=985, decided=1000), P),
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=0, decided=0), INC),
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=60, decided=60), INC),  # minSamples
    (gate("deliveryRate", min=1.0), DeliveryRateMeasurement(delivered=10, decided=10), E),
    # Early in a step most decisions are still in flight: judged on the reports received, a
    # healthy sender passes and a failing one fails; a silent one fails once decisions are old.
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=495, decided=0, reported=500), P),
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=250, decided=0, reported=500), F),
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=0, decided=0, reported=0), INC),
    (gate("deliveryRate"), DeliveryRateMeasurement(delivered=400, decided=1000, reported=400), F),
    # incrementalConversions: Pass shows Δ > 0 (or > min), Fail shows Δ < 0 (or < min)
    (gate("incrementalConversions"), incremental(POSITIVE), P),
    (gate("incrementalConversions"), incremental(NEGATIVE), F),
    (gate("incrementalConversions"), incremental(ZERO), INC),
    (gate("incrementalConversions", min=0.05), incremental(arms(18_000, 2_000, 2_000, 200)), F),
    (gate("incrementalConversions", min=0.05), incremental(arms(18_000, 2_880, 2_000, 200)), INC),
    (gate("incrementalConversions", min=0.05), incremental(POSITIVE), P),
    (gate("incrementalConversions"), incremental(arms(0, 0, 0, 0)), INC),
    (gate("incrementalConversions", minSamples=5000), incremental(POSITIVE), INC),
    (gate("incrementalConversions"), incremental(arms(1000, 100, 20, 2), h=0.5), E),  # SRM
    (gate("incrementalConversions"), incremental(POSITIVE, None), P),  # no completeness counters
    (gate("incrementalConversions"), incremental(arms(10, 11, 2, 0)), E),  # impossible counts
    # roi: ROI = (value × n_T × Δ − spend) / spend against min (default 0)
    (gate("roi"), roi(POSITIVE, spend=0.2 * 18_000), P),  # ROI ≈ 4
    (gate("roi"), roi(POSITIVE, spend=2.0 * 18_000), F),  # ROI ≈ −0.5
    (gate("roi"), roi(POSITIVE, spend=1.0 * 18_000), INC),  # break-even: ROI = 0
    (gate("roi", min=1.0), roi(POSITIVE, spend=0.5 * 18_000), INC),  # ROI ≈ 1
    (gate("roi"), roi(ZERO, spend=0.2 * 18_000), F),  # no effect, money spent
    (gate("roi"), roi(POSITIVE, spend=0.0), INC),
    (gate("roi"), roi(POSITIVE, spend=100, value=0.0), E),
    # budget: spend of the period against economics.budget
    (gate("budget"), BudgetMeasurement(spend=4999.0, budget=5000.0, period_start=NOW,
                                       period_end=PERIOD_END), P),
    (gate("budget"), BudgetMeasurement(spend=5000.0, budget=5000.0, period_start=NOW,
                                       period_end=PERIOD_END), F),
]


@pytest.mark.parametrize(("gate_", "measurement", "verdict"), CASES)
def test_evaluate_campaign_gate(gate_: CampaignGate, measurement: Measurement,
                                verdict: GateVerdict) -> None:
    outcome = evaluate_gate(gate_, measurement, None, NOW)
    assert outcome.verdict is verdict, outcome.message


@pytest.mark.parametrize("type_", ["deliveryRate", "incrementalConversions", "roi", "budget",
                                   "drift", "custom"])
def test_no_data_is_inconclusive_never_pass(type_: str) -> None:
    g = gate(type_, query="x", min=0.5) if type_ == "custom" else gate(type_)
    assert evaluate_gate(g, None, None, NOW).verdict is INC


def test_delivery_rate_reports_the_rate_and_its_bounds() -> None:
    outcome = evaluate_gate(gate("deliveryRate", min=0.95),
                            DeliveryRateMeasurement(delivered=990, decided=1000), None, NOW)
    assert outcome.value == pytest.approx(0.99) and outcome.threshold == 0.95
    assert outcome.lower is not None and outcome.upper is not None
    assert 0.95 <= outcome.lower < 0.99 < outcome.upper <= 1
    # Reports of decisions taken before the window never count above what was decided.
    clipped = evaluate_gate(gate("deliveryRate"),
                            DeliveryRateMeasurement(delivered=1010, decided=1000), None, NOW)
    assert clipped.value == 1.0 and clipped.verdict is P


@pytest.mark.parametrize("completeness", [
    OutcomeCompleteness(expected=1000, received=850),
    OutcomeCompleteness(expected=0, received=0),
])
@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_incomplete_outcomes_hold(completeness: OutcomeCompleteness, type_: str) -> None:
    """Partial outcomes shrink Δ towards 0 (ROI towards −1): no verdict until they are in, even
    on data that would decide."""
    for data in (POSITIVE, NEGATIVE):
        m = (incremental(data, completeness) if type_ == "incrementalConversions"
             else roi(data, 0.2 * 18_000, completeness=completeness))
        outcome = evaluate_gate(gate(type_), m, None, NOW)
        assert outcome.verdict is INC
        assert "outcomes incomplete" in outcome.message and "holding" in outcome.message
        assert "effect" not in outcome.memory  # the effect test did not look



@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_no_cohort_of_the_version_yet_holds_with_why(type_: str) -> None:
    why = "the decisions made on version 4 since … are judged once their window closes"
    empty = arms(0, 0, 0, 0)
    m = (IncrementalConversionsMeasurement(arms=empty, holdout_fraction=0.1, pending=why)
         if type_ == "incrementalConversions"
         else RoiMeasurement(arms=empty, holdout_fraction=0.1, value_per_conversion=10.0,
                             spend=0.0, pending=why))
    previous = evaluate_gate(gate(type_), incremental(POSITIVE) if type_ == "incrementalConversions"
                             else roi(POSITIVE, 0.2 * 18_000), None, NOW).memory
    outcome = evaluate_gate(gate(type_), m, previous, NOW)
    assert (outcome.verdict, outcome.message, outcome.samples) == (INC, why, 0)
    assert outcome.memory == previous  # nothing looked, nothing spent
    # Waiting is no evidence either way: it holds, counted towards no inconclusiveLimit.
    g = gate(type_).model_copy(update={"inconclusive_limit": 1})
    held = assess(g, assess(g, None, outcome), outcome)
    assert outcome.holds and held.inconclusives == 0
    assert required_action(g, held) is GateAction.NONE

def test_late_outcomes_are_reported_not_counted() -> None:
    late = OutcomeCompleteness(expected=1000, received=950, late=400)
    with_late = evaluate_gate(gate("incrementalConversions"), incremental(ZERO, late), None, NOW)
    without = evaluate_gate(gate("incrementalConversions"), incremental(ZERO, COMPLETE), None, NOW)
    # The conversions are those handed in: the late count changes nothing in the verdict.
    assert with_late.verdict is without.verdict is INC
    assert with_late.value == without.value == pytest.approx(0.0)


def test_a_broken_holdout_split_holds_without_counting() -> None:
    g = gate("incrementalConversions")
    outcome = evaluate_gate(g, incremental(arms(5000, 1000, 1000, 100)), None, NOW)  # 16.7 %
    assert outcome.verdict is E and outcome.holds
    assert "sample ratio mismatch" in outcome.message
    assert assess(g, None, outcome).consecutive_errors == 0


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_one_skewed_look_at_the_holdout_clears_on_a_fresh_check(type_: str) -> None:
    # The first look of a step read the arms from different scrapes (treated a second ahead);
    # the step's later, cumulative counts are split as designed.
    g = gate(type_)
    looks = [arms(1000, 200, 50, 5)] + [arms(18_000 * k, 3_600 * k, 2_000 * k, 200 * k)
                                        for k in range(1, 6)]
    memory, verdicts = None, []
    for a in looks:
        m = incremental(a) if type_ == "incrementalConversions" else roi(a, spend=0.2 * a.treated.units)
        outcome = evaluate_gate(g, m, memory, NOW)
        memory = outcome.memory
        verdicts.append(outcome.verdict)
        if outcome.verdict is E:
            assert "the campaign's holdout" in outcome.message and outcome.holds
    # 1,050 units at the mismatch: checked again on the next 4,200, which the first
    # cumulative look (20,000) has; the step's evidence is judged again from then.
    assert verdicts[0] is E and E not in verdicts[1:], verdicts
    assert verdicts[-1] is P


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_the_pass_that_completes_the_ramp_waits_for_the_holdout_share(type_: str) -> None:
    # +10 pp on 3,000 units: the effect is shown, but a 11.2 % holdout (52/48 on 50/50,
    # standardised) could not be told from 10 % on them yet.
    few = arms(2_700, 540, 300, 30)
    many = arms(270_000, 54_000, 30_000, 3_000)

    def look(a: CampaignArms, completes: bool) -> Measurement:
        if type_ == "roi":
            return RoiMeasurement(arms=a, holdout_fraction=0.1, value_per_conversion=10.0,
                                  spend=0.2 * a.treated.units, completeness=COMPLETE,
                                  completes=completes)
        return IncrementalConversionsMeasurement(arms=a, holdout_fraction=0.1,
                                                 completeness=COMPLETE, completes=completes)

    g = gate(type_)
    assert evaluate_gate(g, look(few, False), None, NOW).verdict is P  # an earlier step
    waiting = evaluate_gate(g, look(few, True), None, NOW)
    assert waiting.verdict is INC
    assert "not shown yet: the campaign's holdout share within 0.088–0.112 (300/3000)" in waiting.message
    assert evaluate_gate(g, look(many, True), None, NOW).verdict is P


def test_the_holdout_share_shown_in_an_earlier_period_carries_to_the_next() -> None:
    # The holdout fraction is the same in every period (a budget renewal, a promotion, a
    # re-delivery restart the step): units of an earlier stratum show the same share, so the
    # wait does not start over with every period (the traffic split's does: its weight moves).
    g = gate("incrementalConversions")

    def look(a: CampaignArms) -> Measurement:
        return IncrementalConversionsMeasurement(arms=a, holdout_fraction=0.1,
                                                 completeness=COMPLETE, completes=True)

    first = evaluate_gate(g, look(arms(270_000, 54_000, 30_000, 3_000)), None, NOW)
    assert first.verdict is P and first.memory["holdoutWithin"].p_pass < 0.01
    carried = gates.memory_of(gates.next_step(assess(g, None, first)))
    assert carried["holdoutWithin"].units == 0
    # 300 of 3,000 alone do not show 10 ± 1.2 % (the test above) ...
    assert evaluate_gate(g, look(arms(2_700, 540, 300, 30)), None, NOW).verdict is INC
    # ... with the earlier period's units they do.
    later = evaluate_gate(g, look(arms(2_700, 540, 300, 30)), carried, NOW)
    assert later.verdict is P


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_spec_exposure_split_tolerance_sets_the_holdout_wait(type_: str) -> None:
    # The same +10 pp on 3,000 units, 300 in a 10 % holdout, on the step that completes.
    few = arms(2_700, 540, 300, 30)

    def look(tolerance: float) -> Measurement:
        if type_ == "roi":
            return RoiMeasurement(arms=few, holdout_fraction=0.1, value_per_conversion=10.0,
                                  spend=0.2 * few.treated.units, completeness=COMPLETE,
                                  completes=True, split_tolerance=tolerance)
        return IncrementalConversionsMeasurement(arms=few, holdout_fraction=0.1,
                                                 completeness=COMPLETE, completes=True,
                                                 split_tolerance=tolerance)

    g = gate(type_)
    assert evaluate_gate(g, look(0.04), None, NOW).verdict is INC
    # 0 turns the wait off: the effect alone decides, and nothing is kept for a wait.
    off = evaluate_gate(g, look(0.0), None, NOW)
    assert off.verdict is P
    assert "holdoutWithin" not in off.memory
    # 0.2 standardised is 10 ± 6 % here: 300 of 3,000 show that.
    wide = evaluate_gate(g, look(0.2), None, NOW)
    assert wide.verdict is P
    assert "holdoutWithin" in wide.memory


def test_the_campaign_api_defaults_split_tolerance_as_the_upliftmodel() -> None:
    from uplift_operator.api.v1alpha1.campaign import ExposureSpec
    from uplift_operator.api.v1alpha1.upliftmodel import RolloutSpec

    assert (ExposureSpec.model_fields["split_tolerance"].default
            == RolloutSpec.model_fields["split_tolerance"].default == 0.04)


def test_roi_reports_roi_and_its_bounds() -> None:
    outcome = evaluate_gate(gate("roi"), roi(POSITIVE, spend=0.2 * 18_000), None, NOW)
    # Δ = 0.1 at 10 per conversion and 0.2 per treated unit: ROI = 10·0.1/0.2 − 1 = 4.
    assert outcome.value == pytest.approx(4.0)
    assert outcome.lower is not None and outcome.upper is not None
    assert 0 < outcome.lower < 4 < outcome.upper
    assert outcome.threshold == 0.0


def test_budget_exhausted_suspends_and_never_rolls_back() -> None:
    g = gate("budget")
    m = BudgetMeasurement(spend=5200.0, budget=5000.0, period_start=NOW, period_end=PERIOD_END)
    outcome = evaluate_gate(g, m, None, NOW)
    assert outcome.verdict is F
    assert outcome.suspension is not None and outcome.suspension.until == PERIOD_END
    assert "suspended until the period rolls over" in outcome.message
    status = assess(g, None, outcome)
    assert status.failures == 0 and required_action(g, status) is GateAction.NONE
    whole = evaluate_gate(g, BudgetMeasurement(spend=6000.0, budget=5000.0, period_start=NOW),
                          None, NOW)
    assert whole.suspension is not None and whole.suspension.until is None


def test_one_replica_stopping_short_of_the_budget_is_exhausted() -> None:
    """The runtime treats only while a treatment's cost fits what is left, so one replica's
    spend ends just below the budget (review-campaign finding 4): the gate reads that as spent
    once what is left pays for no treatment, the runtime's own rule, not only at the amount."""
    costs, amount, spent = np.array([0.10, 0.12]), 50.0, 0.0
    for i in range(1000):  # one row a request, the two treatments in turn, one replica
        kept = policy.apply_budget(np.array([i % 2]), np.array([1.0]), costs, amount - spent,
                                   np.array([True]))
        spent += kept.spend
    assert amount - 0.10 < spent < amount  # nothing fits, yet the amount is not reached
    g = gate("budget")

    def judged(spend: float, cheapest: float) -> gates.GateOutcome:
        return evaluate_gate(g, BudgetMeasurement(spend=spend, budget=amount, period_start=NOW,
                                                  period_end=PERIOD_END, cheapest=cheapest),
                             None, NOW)

    exhausted = judged(spent, 0.10)
    assert exhausted.verdict is F and exhausted.suspension is not None
    assert exhausted.suspension.until == PERIOD_END
    assert "pays for no treatment (the cheapest costs 0.1)" in exhausted.message
    # What is left still pays for the cheapest (the runtime treats on): within budget; so with
    # a free treatment, which always fits.
    assert judged(amount - 0.10, 0.10).verdict is P
    assert judged(amount - 0.15, 0.10).verdict is P
    assert judged(spent, 0.0).verdict is P
    assert judged(amount, 0.0).verdict is F


def test_other_fails_still_count_towards_rollback() -> None:
    g = gate("deliveryRate", min=0.95)
    outcome = evaluate_gate(g, DeliveryRateMeasurement(delivered=500, decided=1000), None, NOW)
    assert outcome.suspension is None
    assert required_action(g, assess(g, None, outcome)) is GateAction.ROLLBACK


def test_incremental_evidence_is_pooled_across_steps() -> None:
    """Each step's counts start afresh; the evidence of the earlier step is carried, so two
    half-size steps decide where one alone cannot."""
    g = gate("incrementalConversions")
    half = arms(4_500, 630, 500, 50)  # +4 pp on 5,000 units
    first = evaluate_gate(g, incremental(half), None, NOW)
    assert first.verdict is INC
    status = gates.next_step(assess(g, None, first))
    second = evaluate_gate(g, incremental(half), gates.memory_of(status), NOW)
    alone = evaluate_gate(g, incremental(half), None, NOW)
    assert second.verdict is P and alone.verdict is INC
    # One mixture for the ramp: frozen at the first look.
    assert second.memory["effect"].reference == first.memory["effect"].reference


def test_budget_periods_follow_the_runtime() -> None:
    anchor = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert budget.current_period("7d", anchor, anchor + dt.timedelta(days=9)) == (
        anchor + dt.timedelta(days=7), anchor + dt.timedelta(days=14))
    assert budget.current_period("1d", anchor, anchor) == (anchor, anchor + dt.timedelta(days=1))
    assert budget.current_period(None, anchor, anchor + dt.timedelta(days=90)) == (anchor, None)


def test_a_small_holdout_that_converted_little_by_chance_is_no_evidence_of_an_effect() -> None:
    # Both arms at 10 % is the truth a gate must not pass; 4 of 150 holdout units converting
    # happens (P ≈ 0.2 %). With plug-in variances p̂(1 − p̂) the low holdout rate also shrinks
    # its variance and this passed (p = 0.0096); at the boundary's pooled rate it does not.
    small = arms(1350, 135, 150, 4)
    outcome = evaluate_gate(gate("incrementalConversions", minSamples=100), incremental(small),
                            None, NOW)
    assert outcome.verdict is INC, outcome.message
    # Enough units showing a real +10 pp still pass.
    assert evaluate_gate(gate("incrementalConversions"), incremental(POSITIVE), None,
                         NOW).verdict is P


def test_the_conversion_gates_show_where_their_mixture_is_tuned_in_treated_units() -> None:
    # N* = expectedSamples (default 20,000) counts both arms; samples counts the treated arm.
    default = evaluate_gate(gate("incrementalConversions"), incremental(ZERO), None, NOW)
    assert default.design_samples == 18_000 and default.samples == 18_000
    tuned = evaluate_gate(gate("roi", min=0.0, expectedSamples=5000), roi(ZERO, spend=900.0),
                          None, NOW)
    assert tuned.design_samples == 4_500
    # Held before any verdict (no units yet), the bar still has its end.
    empty = evaluate_gate(gate("incrementalConversions"), incremental(arms(0, 0, 0, 0)), None, NOW)
    assert empty.verdict is INC and empty.design_samples == 18_000
