"""mSPRT kernels, confidence sequences and the sequential gates: known answers and invariants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from uplift_operator.stats.results import ArmStats, Decision, SequentialState
from uplift_operator.stats.sequential import (
    cs_half_width,
    difference_test,
    log_mixture_lr,
    log_mixture_lr_one_sided,
    mean_one_sided_bounds,
    mixing_variance,
    non_inferiority_test,
    one_sided_margin,
    superiority_test,
)

ALPHA = 0.05


def _quad_mixture(delta: float, v: float, tau2: float, theta0: float, half: bool) -> float:
    # Λ = ∫ N(Δ̂; θ, V)/N(Δ̂; θ₀, V) dπ(θ), by quadrature
    tau = math.sqrt(tau2)

    def integrand(theta: float) -> float:
        lr = math.exp((-((delta - theta) ** 2) + (delta - theta0) ** 2) / (2 * v))
        prior = stats.norm.pdf(theta, theta0, tau) * (2.0 if half else 1.0)
        return float(lr * prior)

    lo = theta0 if half else theta0 - 12 * tau
    return float(integrate.quad(integrand, lo, theta0 + 12 * tau, epsabs=0, epsrel=1e-10,
                                limit=200)[0])


# ---------------------------------------------------------------- known answers


def test_mixing_variance_closed_form() -> None:
    # (−2 ln 0.05 + ln(1 − 2 ln 0.05)) = 5.99146 + 1.94470 = 7.93616
    assert mixing_variance(1.0, 0.05) == pytest.approx(7.936159, rel=1e-6)
    assert mixing_variance(5000.0, 0.05) == pytest.approx(7.936159 / 5000, rel=1e-6)


def test_log_lr_matches_johari_paired_form() -> None:
    # Johari et al.: Λ_n = √(2σ²/(2σ²+nτ²))·exp(n²τ²(Ȳ−X̄)²/(4σ²(2σ²+nτ²))) with V = 2σ²/n
    sigma2, n, tau2, d = 0.09, 400, 0.0004, 0.03
    johari = 0.5 * math.log(2 * sigma2 / (2 * sigma2 + n * tau2)) + n**2 * tau2 * d**2 / (
        4 * sigma2 * (2 * sigma2 + n * tau2)
    )
    assert log_mixture_lr(d, 2 * sigma2 / n, tau2) == pytest.approx(johari, rel=1e-12)


@pytest.mark.parametrize(
    ("delta", "v", "tau2", "theta0"),
    [
        (0.01, 1e-4, 4e-4, 0.0),
        (-0.02, 4e-4, 1e-4, 0.005),
        (0.0, 1e-3, 1e-3, 0.01),
    ],
)
def test_log_lr_equals_quadrature(delta: float, v: float, tau2: float, theta0: float) -> None:
    assert math.exp(log_mixture_lr(delta, v, tau2, theta0)) == pytest.approx(
        _quad_mixture(delta, v, tau2, theta0, half=False), rel=1e-7
    )
    assert math.exp(log_mixture_lr_one_sided(delta, v, tau2, theta0)) == pytest.approx(
        _quad_mixture(delta, v, tau2, theta0, half=True), rel=1e-7
    )


def test_cs_half_width_inverts_the_test_and_matches_growthbook() -> None:
    v, tau2 = 2e-4, 5e-4
    h = cs_half_width(v, tau2, ALPHA)
    assert log_mixture_lr(0.3 + h, v, tau2, 0.3) == pytest.approx(math.log(1 / ALPHA), rel=1e-12)
    # GrowthBook: σ̂√N·√(2(Nρ²+1)/(N²ρ²)·ln(√(Nρ²+1)/α)), V = s²/N, τ² = ρ²s²
    n, s2 = 4000, 0.36
    rho2 = mixing_variance(5000, ALPHA)
    gb = math.sqrt(s2) * math.sqrt(
        2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / ALPHA)
    )
    assert cs_half_width(s2 / n, rho2 * s2, ALPHA) == pytest.approx(gb, rel=1e-12)


@pytest.mark.parametrize(("ratio", "expected"), [(0.1, 1.97), (0.5, 1.57), (1, 1.55), (2, 1.56), (10, 1.65)])
def test_price_of_anytime_validity(ratio: float, expected: float) -> None:
    n_star, s2 = 10_000.0, 1.0
    n = ratio * n_star
    v = s2 / n
    width = cs_half_width(v, mixing_variance(n_star, ALPHA) * n * v, ALPHA)
    assert width / (stats.norm.ppf(0.975) * math.sqrt(v)) == pytest.approx(expected, abs=0.006)


def test_one_sided_margin_inverts_one_sided_test() -> None:
    v, tau2 = 3e-4, 1e-3
    u = one_sided_margin(v, tau2, ALPHA)
    assert log_mixture_lr_one_sided(u, v, tau2, 0.0) == pytest.approx(math.log(20), abs=1e-9)
    assert log_mixture_lr_one_sided(-u, v, tau2, 0.0, greater=False) == pytest.approx(math.log(20), abs=1e-9)
    assert 0 < u < cs_half_width(v, tau2, ALPHA)  # one-sided bound is tighter


def test_mean_bounds_are_the_one_sided_margin_at_the_tuned_mixture() -> None:
    lo, hi = mean_one_sided_bounds(0.3, 400, 2.0, alpha=ALPHA, n_star=1000)
    v = 4.0 / 400
    u = one_sided_margin(v, mixing_variance(1000, ALPHA) * 400 * v, ALPHA)
    assert (lo, hi) == pytest.approx((0.3 - u, 0.3 + u), abs=1e-12)
    assert mean_one_sided_bounds(0.3, 0, 2.0) == (-math.inf, math.inf)
    # Tightest (relative to a fixed-n interval's √(1/n)) near the tuning point.
    rel = {n: (mean_one_sided_bounds(0.0, n, 1.0, n_star=1000)[1]) * math.sqrt(n)
           for n in (50, 1000, 20_000)}
    assert rel[1000] < rel[50] and rel[1000] < rel[20_000]


def test_mean_bounds_hold_at_every_look_with_probability_one_minus_alpha() -> None:
    # 2,000 looks of one request each, 1,000 paths at the true mean: an upper bound that
    # ever falls below the mean is a miss; the one-sided guarantee allows α of paths.
    rng = np.random.default_rng(23)
    n = np.arange(1, 2001)
    means = np.cumsum(rng.normal(0.0, 1.0, (1000, n.size)), axis=1) / n
    v = 1.0 / n
    u = np.array([one_sided_margin(float(x), mixing_variance(300, ALPHA) * k * float(x), ALPHA)
                  for k, x in zip(n, v, strict=True)])
    assert mean_one_sided_bounds(0.0, 300, 1.0, n_star=300)[1] == pytest.approx(u[299])
    missed = ((means + u) < 0).any(axis=1).mean()
    assert missed <= ALPHA + 0.015
    # ... and the fixed-n bound, read at every look, misses far more often: the price is real.
    assert ((means + 1.645 * np.sqrt(v)) < 0).any(axis=1).mean() > 3 * ALPHA


def test_vectorised_kernels_match_scalar() -> None:
    d = np.array([0.0, 0.01, -0.02])
    v = np.array([1e-4, 2e-4, 3e-4])
    out = log_mixture_lr_one_sided(d, v, 5e-4, -0.005)
    assert out.shape == (3,)
    for i in range(3):
        assert out[i] == pytest.approx(log_mixture_lr_one_sided(float(d[i]), float(v[i]), 5e-4, -0.005))


# ---------------------------------------------------------------- gate decisions


def test_too_few_samples_continue_and_keep_state() -> None:
    a, b = ArmStats.proportion(5, 50), ArmStats.proportion(40, 50)
    res, state = non_inferiority_test(a, b, margin=0.01, min_samples=100)
    assert res.decision is Decision.CONTINUE
    assert "too few" in res.reason
    assert state == SequentialState()


def test_zero_variance_continue() -> None:
    a, b = ArmStats.proportion(0, 500), ArmStats.proportion(0, 500)
    res, _ = difference_test(a, b)
    assert res.decision is Decision.CONTINUE
    assert "zero variance" in res.reason


def test_clear_effects_decide() -> None:
    a = ArmStats.proportion(1000, 10_000)
    better, worse = ArmStats.proportion(1300, 10_000), ArmStats.proportion(700, 10_000)
    assert non_inferiority_test(a, better, margin=0.01)[0].decision is Decision.PASS
    assert non_inferiority_test(a, worse, margin=0.01)[0].decision is Decision.FAIL
    assert superiority_test(a, better)[0].decision is Decision.PASS
    assert superiority_test(a, worse)[0].decision is Decision.FAIL
    assert difference_test(a, better)[0].decision is Decision.PASS
    assert difference_test(a, worse)[0].decision is Decision.FAIL
    same = ArmStats.proportion(1000, 10_000)
    assert superiority_test(a, same)[0].decision is Decision.CONTINUE


def test_relative_margin_and_lower_is_better() -> None:
    a = ArmStats(n=5000, mean=200.0, variance=400.0)  # latency ms
    b = ArmStats(n=5000, mean=204.0, variance=400.0)
    res, _ = non_inferiority_test(a, b, margin=0.05, relative=True, higher_is_better=False)
    assert res.details["theta0"] == pytest.approx(10.0)  # 5 % of 200 ms, B may be ≤ 10 ms slower
    assert res.decision is Decision.PASS
    assert res.estimate == pytest.approx(4.0)
    slow = ArmStats(n=5000, mean=220.0, variance=400.0)
    res, _ = non_inferiority_test(a, slow, margin=0.05, relative=True, higher_is_better=False)
    assert res.decision is Decision.FAIL
    assert res.lower > 10.0


def test_state_survives_json_restart() -> None:
    rng = np.random.default_rng(3)
    mem = SequentialState()
    disk = json.dumps(SequentialState().to_dict())
    ca = cb = na = nb = 0
    for _ in range(15):
        na += 200
        nb += 200
        ca += int(rng.binomial(200, 0.10))
        cb += int(rng.binomial(200, 0.11))
        a, b = ArmStats.proportion(ca, na), ArmStats.proportion(cb, nb)
        r1, mem = non_inferiority_test(a, b, margin=0.01, state=mem)
        r2, restored = non_inferiority_test(
            a, b, margin=0.01, state=SequentialState.from_dict(json.loads(disk))
        )
        disk = json.dumps(restored.to_dict())
        assert r1 == r2
    assert SequentialState.from_dict(json.loads(disk)) == mem


def test_null_false_positive_rate_small_simulation() -> None:
    # A/A, p = 0.10, 60 looks of 250 per arm, 400 runs: the sequential test stays ≤ α (+ MC slack)
    rng = np.random.default_rng(11)
    runs, looks, step, p = 400, 60, 250, 0.10
    ca = np.cumsum(rng.binomial(step, p, (runs, looks)), axis=1)
    cb = np.cumsum(rng.binomial(step, p, (runs, looks)), axis=1)
    n = step * np.arange(1, looks + 1)
    pa, pb = ca / n, cb / n
    v = (pa * (1 - pa) + pb * (1 - pb)) / n
    tau2 = mixing_variance(2 * step * looks, ALPHA) * 2 * n * v
    rejected = (log_mixture_lr(pb - pa, v, tau2) >= math.log(1 / ALPHA)).any(axis=1)
    assert rejected.mean() <= ALPHA + 0.02


# ---------------------------------------------------------------- properties

arm = st.tuples(st.integers(200, 5000), st.floats(0.02, 0.98))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(50, 400), st.integers(50, 400), st.floats(0.05, 0.5), st.floats(0.05, 0.5)),
        min_size=2,
        max_size=12,
    ),
    st.sampled_from(["difference", "non_inferiority", "superiority"]),
)
def test_confidence_sequence_never_widens(increments: list[tuple[int, int, float, float]], test: str) -> None:
    state = SequentialState()
    na = nb = 0
    sa = sb = 0
    prev = state
    for da, db, pa, pb in increments:
        na, nb = na + da, nb + db
        sa, sb = sa + round(da * pa), sb + round(db * pb)
        a, b = ArmStats.proportion(sa, na), ArmStats.proportion(sb, nb)
        if test == "difference":
            res, state = difference_test(a, b, state=state)
        elif test == "non_inferiority":
            res, state = non_inferiority_test(a, b, margin=0.02, state=state)
        else:
            res, state = superiority_test(a, b, state=state)
        assert state.lower >= prev.lower
        assert state.upper <= prev.upper
        assert state.p_pass <= prev.p_pass
        assert state.p_fail <= prev.p_fail
        assert res.lower == state.lower
        assert res.upper == state.upper
        prev = state


@settings(max_examples=60, deadline=None)
@given(arm, arm)
def test_swapping_arms_flips_the_estimate(x: tuple[int, float], y: tuple[int, float]) -> None:
    a = ArmStats.proportion(round(x[0] * x[1]), x[0])
    b = ArmStats.proportion(round(y[0] * y[1]), y[0])
    r1, _ = difference_test(a, b)
    r2, _ = difference_test(b, a)
    assert r2.estimate == pytest.approx(-r1.estimate, abs=1e-12)
    assert r2.lower == pytest.approx(-r1.upper, abs=1e-12)
    assert r2.upper == pytest.approx(-r1.lower, abs=1e-12)
    assert r2.p_value == pytest.approx(r1.p_value, rel=1e-9)
    mirror = {
        Decision.PASS: Decision.FAIL,
        Decision.FAIL: Decision.PASS,
        Decision.CONTINUE: Decision.CONTINUE,
    }
    assert r2.decision is mirror[r1.decision]


@settings(max_examples=60, deadline=None)
@given(st.floats(-0.1, 0.1), st.floats(1e-6, 1e-2), st.floats(1e-6, 1e-2))
def test_one_sided_evidence_is_monotone(delta: float, v: float, tau2: float) -> None:
    up = log_mixture_lr_one_sided(delta + 1e-3, v, tau2)
    assert up >= log_mixture_lr_one_sided(delta, v, tau2) - 1e-12
    # the one-sided evidence never exceeds twice the two-sided one (Φ ≤ 1)
    assert log_mixture_lr_one_sided(delta, v, tau2) <= math.log(2) + log_mixture_lr(delta, v, tau2) + 1e-12
