"""Drift (PSI, binned KS), campaign economics and the JSON form of results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from uplift_operator.stats.drift import ks_binned, psi, psi_threshold, psi_value
from uplift_operator.stats.economics import campaign_economics
from uplift_operator.stats.results import ArmStats, Decision, TestResult

counts = st.lists(st.integers(0, 500), min_size=2, max_size=12)


def test_psi_hand_computed() -> None:
    # e = (½, ½), a = (¼, ¾): ¼·ln 2 + ¼·ln 1.5 = 0.274653
    assert psi_value([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi_value([10, 0, 10], [10, 0, 10]) == 0.0


def test_psi_threshold_values() -> None:
    chi = stats.chi2.ppf(0.99, 9)  # 21.666
    assert psi_threshold(200, 200, 10) == pytest.approx(0.01 * chi)
    assert psi_threshold(10_000, 10_000, 10) == 0.1


def test_psi_null_matches_chi_square_approximation() -> None:
    rng = np.random.default_rng(2)
    p = np.full(10, 0.1)
    ref = rng.multinomial(10_000, p, 600)
    cur = rng.multinomial(10_000, p, 600)
    values = np.array([psi_value(r, c) for r, c in zip(ref, cur, strict=True)])
    assert values.mean() == pytest.approx(2e-4 * 9, rel=0.08)  # (1/n + 1/m)·(B − 1) = 0.0018


def test_psi_small_samples_not_flagged_by_noise() -> None:
    # 200 vs 200 on 10 bins: noise alone gives PSI ≈ 0.09; the threshold (0.217) absorbs it
    rng = np.random.default_rng(4)
    flags = [
        psi(rng.multinomial(200, [0.1] * 10), rng.multinomial(200, [0.1] * 10)).decision for _ in range(200)
    ]
    assert flags.count(Decision.FAIL) / 200 <= 0.03
    shifted = psi([100] * 10, [40] * 5 + [160] * 5)
    assert shifted.decision is Decision.FAIL


@settings(max_examples=60, deadline=None)
@given(counts)
def test_psi_is_symmetric_and_nonnegative(c: list[int]) -> None:
    other = list(reversed(c))
    if sum(c) == 0:
        return
    assert psi_value(c, other) == pytest.approx(psi_value(other, c))
    assert psi_value(c, other) >= 0.0


def test_ks_binned_equals_scipy_on_discrete_data() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10, 700)
    b = np.minimum(rng.integers(0, 10, 400) + (rng.random(400) < 0.2), 9)
    res = ks_binned(np.bincount(a, minlength=10), np.bincount(b, minlength=10))
    ref = stats.ks_2samp(a, b, method="asymp")
    assert res.estimate == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert ks_binned([1] * 10, [1] * 10, alpha=0.05).details["critical_d"] == pytest.approx(
        1.3581 * math.sqrt(20 / 100), rel=1e-4
    )


def test_ks_binned_flags_a_shift() -> None:
    assert ks_binned([100] * 10, [50] * 5 + [150] * 5).decision is Decision.FAIL
    assert ks_binned([100] * 10, [100] * 10).decision is Decision.PASS
    assert ks_binned([0, 0], [3, 4]).decision is Decision.CONTINUE


def test_campaign_economics_hand_computed() -> None:
    t, c = ArmStats.proportion(1500, 10_000), ArmStats.proportion(1000, 10_000)
    e = campaign_economics(t, c, value_per_conversion=5.0, cost_per_treated=0.1)
    se = math.sqrt(0.15 * 0.85 / 10_000 + 0.1 * 0.9 / 10_000)
    z = stats.norm.ppf(0.975)
    assert e.incremental_conversions.estimate == pytest.approx(500.0)
    assert e.incremental_conversions.lower == pytest.approx(10_000 * (0.05 - z * se))
    assert e.incremental_value.estimate == pytest.approx(2500.0)
    assert e.cost == pytest.approx(1000.0)
    assert e.roi.estimate == pytest.approx(1.5)
    assert e.cost_per_incremental_action.estimate == pytest.approx(2.0)
    cpia = e.cost_per_incremental_action
    assert cpia.lower < cpia.estimate < cpia.upper
    seq = campaign_economics(t, c, value_per_conversion=5.0, cost_per_treated=0.1, n_star=20_000)
    assert seq.anytime_valid
    assert seq.incremental_value.lower < e.incremental_value.lower  # the price of peeking


def test_campaign_economics_value_arms_and_no_effect() -> None:
    t, c = ArmStats.proportion(1000, 10_000), ArmStats.proportion(1000, 10_000)
    tv = ArmStats(n=10_000, mean=12.0, variance=100.0)
    cv = ArmStats(n=10_000, mean=10.0, variance=100.0)
    e = campaign_economics(t, c, treated_value=tv, control_value=cv, fixed_cost=5000.0, population=50_000)
    assert e.incremental_value.estimate == pytest.approx(100_000.0)
    assert e.roi.estimate == pytest.approx(19.0)
    assert e.cost_per_incremental_action.estimate == math.inf  # zero incremental conversions
    with pytest.raises(ValueError, match="both"):
        campaign_economics(t, c, treated_value=tv)


def test_result_to_dict_is_json() -> None:
    r = TestResult(Decision.PASS, 0.1, -math.inf, math.nan, 0.01, (10, 12), "x", 1.0, {"a": 2.0})
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["decision"] == "pass"
    assert d["lower"] is None
    assert d["upper"] is None
    assert d["samples"] == [10, 12]


def test_arm_stats_from_sums() -> None:
    x = np.array([1.0, 2.0, 4.0, 7.0])
    a = ArmStats.from_sums(4, float(x.sum()), float((x**2).sum()))
    assert a.mean == pytest.approx(x.mean())
    assert a.variance == pytest.approx(x.var(ddof=1))
    with pytest.raises(ValueError, match="successes"):
        ArmStats.proportion(5, 3)
