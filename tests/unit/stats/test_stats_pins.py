"""Pins of the sample-ratio checks and the guarded sequential test that no other test held:
each one fails on a small change (state not carried, α halved, the harm null moved to the
margin) that the rest of the suite let through."""

from __future__ import annotations

import pytest

from uplift_operator.stats.results import ArmStats, Decision, SequentialState
from uplift_operator.stats.sequential import guarded_decision, guarded_non_inferiority_test
from uplift_operator.stats.srm import (
    DEFAULT_SRM_ALPHA,
    split_concentration,
    split_within_test,
    srm_chisquare,
    srm_sequential,
)

# -- sample ratio mismatch -----------------------------------------------------------------------


def test_chisquare_judges_from_exactly_min_samples() -> None:
    assert srm_chisquare([49, 51], [0.5, 0.5], min_samples=100).decision is Decision.PASS
    assert srm_chisquare([49, 50], [0.5, 0.5], min_samples=100).decision is Decision.CONTINUE


def test_chisquare_fails_below_alpha_not_half_of_it() -> None:
    result = srm_chisquare([5170, 4830], [0.5, 0.5])
    assert DEFAULT_SRM_ALPHA / 2 < result.p_value < DEFAULT_SRM_ALPHA
    assert result.decision is Decision.FAIL


def test_a_sequential_mismatch_once_shown_stays_shown() -> None:
    first, state = srm_sequential([1000, 1300], [0.5, 0.5])
    assert first.decision is Decision.FAIL
    # Later counts look less skewed on their own; the always-valid p-value never rises.
    later, _ = srm_sequential([5000, 5300], [0.5, 0.5], state=state)
    assert later.decision is Decision.FAIL and later.p_value <= first.p_value


def test_split_within_keeps_its_running_minimum() -> None:
    p_first, state = split_within_test(5000, 5000, 0.5, tolerance=0.04)
    p_later, later = split_within_test(5400, 5600, 0.5, tolerance=0.04, state=state)
    assert p_later <= p_first
    assert later.p_pass <= state.p_pass


def test_split_concentration_never_below_the_default() -> None:
    assert split_concentration(0.5, 0.2) == 100.0  # (1 − ½)/(0.04·½) = 25 would be looser
    assert split_concentration(0.5, 0.04) == pytest.approx(625.0)


# -- the guarded test ----------------------------------------------------------------------------


def test_guarded_decision_fails_at_alpha_and_fail_wins_a_tie() -> None:
    assert guarded_decision(1.0, 0.05, 0.05, -0.01, -1.0, 1.0)[0] is Decision.FAIL
    assert guarded_decision(0.01, 0.04, 0.05, -0.01, -1.0, 1.0)[0] is Decision.FAIL
    assert guarded_decision(0.01, 0.06, 0.05, -0.01, -1.0, 1.0)[0] is Decision.PASS


def test_harm_is_shown_against_zero_not_against_the_margin() -> None:
    # Δ = −0.01 on 100,000 units an arm: clearly below 0, well within the 0.05 margin.
    result, _ = guarded_non_inferiority_test(ArmStats.proportion(15_000, 100_000),
                                             ArmStats.proportion(14_000, 100_000),
                                             margin=0.05, alpha=0.05)
    assert result.decision is Decision.FAIL


def _look(c: tuple[int, int], t: tuple[int, int],
          state: SequentialState | None = None) -> SequentialState:
    _, new = guarded_non_inferiority_test(ArmStats.proportion(*c), ArmStats.proportion(*t),
                                          margin=0.02, alpha=0.05, state=state)
    return new


def test_bounds_and_p_values_are_running_over_looks() -> None:
    first = _look((1500, 10_000), (1500, 10_000))
    later = _look((1520, 10_100), (1480, 10_100), first)
    alone = _look((1520, 10_100), (1480, 10_100))
    assert alone.lower < first.lower and later.lower == first.lower
    assert alone.p_pass > first.p_pass and later.p_pass == first.p_pass


def test_strata_are_pooled_across_steps() -> None:
    c, t = ArmStats.proportion(1500, 10_000), ArmStats.proportion(1500, 10_000)
    one, state = guarded_non_inferiority_test(c, t, margin=0.02, alpha=0.05)
    two, _ = guarded_non_inferiority_test(c, t, margin=0.02, alpha=0.05,
                                          state=state.next_stratum())
    assert two.details["variance"] == pytest.approx(one.details["variance"] / 2)
    assert two.details["units"] == pytest.approx(2 * one.details["units"])


def test_next_stratum_carries_every_stratum_quantity() -> None:
    state = SequentialState(looks=3, log_pass=1.0, log_fail=2.0, info=3.0, score=4.0,
                            units=400.0).next_stratum()
    carried = (state.carried_log_pass, state.carried_log_fail, state.carried_info,
               state.carried_score, state.carried_units)
    assert carried == (1.0, 2.0, 3.0, 4.0, 400.0)
    assert (state.log_pass, state.log_fail, state.info, state.score, state.units) == (0,) * 5
