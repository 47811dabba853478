"""An incrementalConversions gate's incremental conversions (status.incrementalConversions and
its gauge) count every cohort it judged in the version, summed over the steps as its Δ pools
them: Σ_s (C_T,s − C_H,s·n_T,s/n_H,s), kept in its memory across ``next_step``; never the
pooled Δ̂ times the current step's decisions, which dropped at each step (180 read 40)."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateStatus
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import (
    assess,
    evaluate_gate,
    incremental_conversions_count,
    memory_of,
    next_step,
)
from uplift_operator.domain.measurements import (
    ArmCounts,
    CampaignArms,
    IncrementalConversionsMeasurement,
)

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
GATE = CampaignGate.model_validate({"name": "lift", "type": "incrementalConversions"})


def _look(previous: GateStatus | None, treated: tuple[int, int],
          holdout: tuple[int, int]) -> GateStatus:
    m = IncrementalConversionsMeasurement(
        arms=CampaignArms(ArmCounts(*treated), ArmCounts(*holdout)), holdout_fraction=0.1)
    outcome = evaluate_gate(GATE, m, memory_of(previous, GATE), NOW)
    return assess(GATE, previous, outcome)


def _step_one() -> GateStatus:
    # 9,000 treated decisions converting 12 %, 1,000 held out converting 10 %: 180.
    return _look(None, (9000, 1080), (1000, 100))


def test_one_step_counts_its_cohorts_with_the_effects_bounds_scaled() -> None:
    st = _step_one()
    assert st.value is not None and st.lower is not None and st.upper is not None
    count = incremental_conversions_count(st)
    assert count is not None
    assert count == pytest.approx((180.0, st.lower * 9000, st.upper * 9000))


def test_a_step_with_no_effect_of_its_own_keeps_the_earlier_steps_conversions() -> None:
    """Step 2's first look (2,700 treated decisions, no effect of their own): 180 in all, not
    the pooled Δ̂ (0.0148) times step 2's 2,700 decisions (40)."""
    step_two = _look(next_step(_step_one()), (2700, 270), (300, 30))
    assert step_two.value is not None and step_two.samples == 2700
    assert step_two.value * step_two.samples == pytest.approx(40.08, abs=0.01)
    count = incremental_conversions_count(step_two)
    assert count is not None
    estimate, lower, upper = count
    assert estimate == pytest.approx(180.0)
    assert lower is not None and upper is not None and lower < estimate < upper
    # Wider than step 1's: the sum has step 2's variance too.
    one = incremental_conversions_count(_step_one())
    assert one is not None and one[1] is not None and one[2] is not None
    assert upper - lower > one[2] - one[1]
    # Step 2's own cohorts grow at its next look: theirs replace its last look's.
    later = _look(step_two, (5400, 594), (600, 60))  # +0.01 on 5,400: +54
    again = incremental_conversions_count(later)
    assert again is not None and again[0] == pytest.approx(234.0)
    # And the status shows the sum (its display included).
    shown = exposure._conversions(step_two)
    assert shown is not None and shown.estimate == pytest.approx(180.0)


def test_a_status_from_an_older_operator_counts_from_its_current_step() -> None:
    """Memory written before the count was kept: the gate's value times its samples until its
    next look, which starts the sum at the current step."""
    st = _step_one()
    older = st.model_copy(update={"sequential_state": {
        k: v for k, v in st.sequential_state.items() if k != "conversions"}})
    assert incremental_conversions_count(older) == pytest.approx(
        (st.value * 9000, st.lower * 9000, st.upper * 9000))  # type: ignore[operator]
    count = incremental_conversions_count(_look(next_step(older), (2700, 324), (300, 30)))
    assert count is not None and count[0] == pytest.approx(54.0)


def test_the_verdict_and_effect_are_those_without_the_count() -> None:
    """The count is bookkeeping only: the same looks without its memory judge alike."""
    with_count = _look(next_step(_step_one()), (2700, 270), (300, 30))
    first = _step_one()
    without = first.model_copy(update={"sequential_state": {
        k: v for k, v in first.sequential_state.items() if k != "conversions"}})
    bare = _look(next_step(without), (2700, 270), (300, 30))
    assert (bare.verdict, bare.value, bare.lower, bare.upper) == (
        with_count.verdict, with_count.value, with_count.lower, with_count.upper)
