"""Tests across strata (ramp steps): the count tests' bounds invert the evidence summed over the
strata, the mean tests pool them, and the state that carries them round-trips through JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from uplift_operator.api.v1alpha1.common import SequentialStateStatus
from uplift_operator.stats.counts import (
    log_beta_bf_one_sided,
    log_dirichlet_bf,
    multinomial_test,
    proportion_bound_test,
    rate_ratio_test,
)
from uplift_operator.stats.results import ArmStats, Decision, SequentialState, TestResult
from uplift_operator.stats.sequential import (
    difference_test,
    guarded_non_inferiority_test,
    non_inferiority_test,
    superiority_test,
)
from uplift_operator.stats.srm import srm_chisquare, srm_sequential
from uplift_operator.stats.uplift import uplift_at_k

ALPHA = 0.05
TARGET = math.log(1 / ALPHA)


def _ratio(state: SequentialState | None, c_a: int, c_b: int, n_a: int,
           n_b: int) -> tuple[TestResult, SequentialState]:
    return rate_ratio_test(c_a, c_b, control_exposure=n_a, treatment_exposure=n_b, margin=0.2,
                           fail_margin=0.0, alpha=ALPHA, min_events=1, state=state)


def _theta(r: float, share_b: float) -> float:
    return share_b * r / ((1 - share_b) + share_b * r)


# -- rate ratio ------------------------------------------------------------------------------


@pytest.mark.slow
def test_rate_ratio_bounds_cover_the_truth_over_a_ramp() -> None:
    """Equal error rates (r = 1) over 8 steps of 4 looks: the shown [lower, upper] excludes 1 at
    some look in at most ≈ α of the versions. Each step's own evidence intersected over the
    steps excluded it in 0.135 of them (α spent again at every step)."""
    rng = np.random.default_rng(7)
    runs, missed = 100, 0
    for _ in range(runs):
        state, miss = SequentialState(), False
        for step in range(8):
            w = (0.1, 0.25, 0.5)[min(step, 2)]
            c_a = c_b = n_a = n_b = 0
            for _ in range(4):
                a = int(20000 * (1 - w))
                n_a, n_b = n_a + a, n_b + 20000 - a
                c_a += rng.binomial(a, 0.01)
                c_b += rng.binomial(20000 - a, 0.01)
                _, state = _ratio(state, c_a, c_b, n_a, n_b)
                miss |= state.lower > 1 or state.upper < 1
            state = state.next_stratum()
        missed += miss
    assert missed / runs <= 0.07


def test_rate_ratio_bounds_invert_the_summed_evidence() -> None:
    """At a later step's look each bound is where the one-sided evidence summed over the steps
    (at the steps' own shares) reaches 1/α."""
    state = SequentialState()
    first, state = _ratio(state, 90, 12, 9000, 1000)  # step 1: 10 %
    state = state.next_stratum()
    res, state = _ratio(state, 400, 380, 40000, 40000)  # step 2: 50 %
    assert first.lower < res.lower < res.estimate < res.upper < first.upper  # not step 1's

    def summed(r: float, greater: bool) -> float:
        return (log_beta_bf_one_sided(12, 90, _theta(r, 0.1), greater=greater)
                + log_beta_bf_one_sided(380, 400, _theta(r, 0.5), greater=greater))

    assert summed(res.lower, True) == pytest.approx(TARGET, abs=1e-6)
    assert summed(res.upper, False) == pytest.approx(TARGET, abs=1e-6)
    assert state.counts[:3] == (90, 12, 10**14) and state.units == 780


def test_records_leave_the_decisions_alone() -> None:
    """The records only move the bounds: the p-values and decisions are those of the carried
    evidence, with or without them (a state written before they were kept: bounds frozen)."""
    state = SequentialState()
    for c_a, c_b in ((300, 260), (610, 500)):
        _, state = _ratio(state, c_a, c_b, 30000, 30000)
    state = state.next_stratum()
    bare = SequentialState.from_dict({k: v for k, v in state.to_dict().items()
                                      if k not in ("counts", "units")})
    with_records, _ = _ratio(state, 80, 20, 10000, 10000)
    without, after = _ratio(bare, 80, 20, 10000, 10000)
    assert with_records.decision is without.decision is Decision.PASS
    assert with_records.p_value == without.p_value
    assert with_records.details == without.details
    assert (without.lower, without.upper) == (state.lower, state.upper)  # frozen, still valid
    assert after.counts == () and after.units == 0  # stays frozen at later looks


def test_a_first_step_is_unchanged_and_a_look_replaces_its_record() -> None:
    state = SequentialState()
    res1, state = _ratio(state, 50, 70, 5000, 5000)
    res2, state = _ratio(state, 100, 150, 10000, 10000)
    assert state.counts == (100, 150, 5 * 10**14) and state.units == 250
    lo_alone = next(t for t in np.linspace(0.3, 0.7, 4001)
                    if log_beta_bf_one_sided(150, 100, t, greater=True) < TARGET)
    assert _theta(res2.lower, 0.5) == pytest.approx(lo_alone, abs=2e-4)
    assert res2.lower >= res1.lower


def test_state_with_records_round_trips_through_the_status() -> None:
    """Replaying a ramp through the CR status's JSON after every look gives the same results."""
    rng = np.random.default_rng(3)
    direct = through = SequentialState()
    for w in (0.1, 0.5):
        c_a = c_b = 0
        for _ in range(3):
            c_a += rng.binomial(int(10000 * (1 - w)), 0.02)
            c_b += rng.binomial(int(10000 * w), 0.02)
            n = (int(10000 * (1 - w)), int(10000 * w))
            r1, direct = _ratio(direct, c_a, c_b, *n)
            wire = json.loads(json.dumps(SequentialStateStatus.model_validate(
                through.to_dict()).to_wire()))
            r2, through = _ratio(SequentialState.from_dict(wire), c_a, c_b, *n)
            assert r1 == r2
        direct, through = direct.next_stratum(), through.next_stratum()
    assert direct.counts == through.counts and len(direct.counts) == 6


def test_records_stop_at_the_cap_and_the_bounds_then_hold() -> None:
    from uplift_operator.stats.counts import MAX_BOUND_STRATA

    state = SequentialState()
    for _ in range(MAX_BOUND_STRATA):
        _, state = _ratio(state, 100, 100, 10000, 10000)
        state = state.next_stratum()
    assert len(state.counts) == 3 * MAX_BOUND_STRATA
    res, after = _ratio(state, 100, 100, 10000, 10000)
    assert (res.lower, res.upper) == (state.lower, state.upper)
    assert after.counts == state.counts and res.decision is Decision.PASS


# -- proportion and SRM ----------------------------------------------------------------------


def test_proportion_bounds_invert_the_summed_evidence() -> None:
    state = SequentialState()
    _, state = proportion_bound_test(30, 1000, 0.05, state=state)
    state = state.next_stratum()
    res, _ = proportion_bound_test(50, 2000, 0.05, state=state)

    def summed(p: float, greater: bool) -> float:
        return (log_beta_bf_one_sided(30, 970, p, greater=greater)
                + log_beta_bf_one_sided(50, 1950, p, greater=greater))

    assert summed(res.lower, True) == pytest.approx(TARGET, abs=1e-6)
    assert summed(res.upper, False) == pytest.approx(TARGET, abs=1e-6)


def test_two_arm_srm_bounds_invert_the_summed_evidence() -> None:
    state = SequentialState()
    _, state = multinomial_test([9000, 1030], [0.9, 0.1], state=state)
    state = state.next_stratum()
    res, _ = multinomial_test([5000, 4900], [0.5, 0.5], state=state)

    def summed(r: float) -> float:
        return float(log_dirichlet_bf([9000, 1030], [1 - _theta(r, 0.1), _theta(r, 0.1)])
                     + log_dirichlet_bf([5000, 4900], [1 - _theta(r, 0.5), _theta(r, 0.5)]))

    assert res.lower < res.estimate < res.upper
    assert summed(res.lower) == pytest.approx(TARGET, abs=1e-6)
    assert summed(res.upper) == pytest.approx(TARGET, abs=1e-6)


def test_srm_chisquare_rejects_non_finite_shares_and_counts() -> None:
    for shares in ([math.nan, 0.1], [math.inf, 0.1]):
        with pytest.raises(ValueError, match="finite"):
            srm_chisquare([100, 1000], shares)
        with pytest.raises(ValueError, match="finite"):
            srm_sequential([100, 1000], shares)
    with pytest.raises(ValueError, match="finite"):
        srm_chisquare([math.nan, 1000], [0.5, 0.5])  # type: ignore[list-item]


# -- mean tests across strata ----------------------------------------------------------------


P = ArmStats.proportion


def test_non_inferiority_spends_alpha_once_over_a_ramp() -> None:
    """At the margin over 8 steps of 10 looks the plain test passes in ≤ ≈ α of the versions;
    restarting at each step's first look it passed in 0.11 of them."""
    rng = np.random.default_rng(12)
    runs, passed = 200, 0
    for _ in range(runs):
        state, shown = SequentialState(), False
        for _ in range(8):
            c_a = c_b = n = 0
            for _ in range(10):
                n += 500
                c_a += rng.binomial(500, 0.10)
                c_b += rng.binomial(500, 0.09)
                res, state = non_inferiority_test(P(c_a, n), P(c_b, n), margin=0.01,
                                                  n_star=10000, state=state)
                shown |= res.decision is Decision.PASS
            state = state.next_stratum()
        passed += shown
    assert passed / runs <= 0.07


@pytest.mark.parametrize("test", [non_inferiority_test, superiority_test, difference_test])
def test_mean_tests_pool_the_carried_strata(test) -> None:  # type: ignore[no-untyped-def]
    """After ``next_stratum`` the estimate is the inverse-variance pool of the steps (as the
    guarded test's), and the state keeps what it does not use (``reference``, ``counts``)."""
    kwargs = {} if test is difference_test else {"margin": 0.01}
    state = SequentialState(reference=2.5, counts=(1, 2))
    a1, b1, a2, b2 = P(200, 2000), P(240, 2000), P(90, 1000), P(100, 1000)
    _, state = test(a1, b1, state=state, **kwargs)
    state = state.next_stratum()
    assert state.carried_units == 4000 and state.carried_info > 0
    res, new = test(a2, b2, state=state, **kwargs)
    guarded, _ = guarded_non_inferiority_test(a2, b2, margin=0.01, state=state)
    assert res.estimate == pytest.approx(guarded.estimate)
    assert res.estimate != pytest.approx(b2.mean - a2.mean)
    assert new.reference == 2.5 and new.counts == (1, 2) and new.units == 2000
    assert new.carried_units == 4000


# -- persistence and uplift@k ----------------------------------------------------------------


def test_reference_zero_round_trips() -> None:
    for ref in (0.0, 1.5, -0.0):
        assert SequentialState.from_dict(SequentialState(reference=ref).to_dict()).reference == ref
    assert math.isnan(SequentialState.from_dict(SequentialState().to_dict()).reference)
    assert "reference" not in SequentialState().to_dict()


def test_uplift_at_k_tells_fraction_from_count_by_dtype() -> None:
    y, t, s = [1, 0, 1, 0, 1, 1], [1, 0, 1, 0, 0, 1], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert uplift_at_k(y, t, s, np.float32(0.5)) == uplift_at_k(y, t, s, 0.5)
    assert uplift_at_k(y, t, s, np.int64(3)) == uplift_at_k(y, t, s, 3)
    assert not math.isnan(uplift_at_k(y, t, s, np.float32(0.5)))
    with pytest.raises(ValueError, match="k must be"):
        uplift_at_k(y, t, s, True)
    with pytest.raises(ValueError, match="k must be"):
        uplift_at_k(y, t, s, np.bool_(True))  # type: ignore[arg-type]
