"""Drift (PSI, binned KS), campaign economics and the JSON form of results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from uplift_operator.stats.drift import (
    ks_binned,
    pearson_radius,
    psi,
    psi_bounds,
    psi_drift_evidence,
    psi_threshold,
    psi_value,
)
from uplift_operator.stats.economics import campaign_economics
from uplift_operator.stats.results import ArmStats, Decision, TestResult

counts = st.lists(st.integers(0, 500), min_size=2, max_size=12)


def test_psi_hand_computed() -> None:
    # e = (½, ½), a = (¼, ¾): ¼·ln 2 + ¼·ln 1.5 = 0.274653
    assert psi_value([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi_value([10, 0, 10], [10, 0, 10]) == 0.0


def test_psi_floors_every_share_below_the_empty_share_as_its_bounds_do() -> None:
    # A reference bin of 20 in a million (share 2e-5) with live rows in it: replacing only
    # shares of exactly 0 put the PSI shown at 0.077, outside its own bounds [0.053, 0.061],
    # which floor every share at 1e-4 (a drift gate could Pass while showing PSI above max).
    ref = np.array([20] + [111109] * 9)
    ref[1] += 1_000_000 - ref.sum()
    n = 2_000_000
    live = np.r_[0.012 * n, np.full(9, (1 - 0.012) * n / 9)].round()
    value, lower, upper = psi_bounds(ref, live, alpha=0.05, n_star=2000)
    assert lower <= value <= upper
    e, a = np.maximum(ref / ref.sum(), 1e-4), np.maximum(live / live.sum(), 1e-4)
    assert value == pytest.approx(float(np.sum((a - e) * np.log(a / e))), rel=1e-12)
    assert value == pytest.approx(0.05712, abs=1e-5)
    # A live share below the floor counts as the floor too, whichever side it is on.
    assert psi_value([1, 1], [10**7, 1]) == pytest.approx(psi_value([1, 1], [10**7, 0]))
    assert psi_value([10**7, 1], [1, 1]) == pytest.approx(psi_value([10**7, 0], [1, 1]))


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


def test_pearson_radius_is_robbins_normal_mixture_boundary() -> None:
    # n·R = (1 + 1/k)(2 ln(1/α) + d ln(1 + k)), k = n·c/n*, c the radius-minimising ratio at n*.
    r = pearson_radius(1000, alpha=0.05, dims=9, n_star=1000)
    c = np.geomspace(0.01, 100.0, 2001)
    at_design = float(np.min((1 + 1 / c) * (2 * math.log(20) + 9 * np.log1p(c))))
    assert 1000 * r == pytest.approx(at_design)
    # Tightest (per row) at the design size; wider before and after.
    assert 4000 * pearson_radius(4000, alpha=0.05, dims=9, n_star=1000) > at_design
    assert 250 * pearson_radius(250, alpha=0.05, dims=9, n_star=1000) > at_design
    assert pearson_radius(0, alpha=0.05, dims=9, n_star=1000) == math.inf


def _points_in_set(cur: np.ndarray, radius: float, rng: np.random.Generator,
                   count: int) -> np.ndarray:
    """Random share vectors a with Σ(â − a)²/a ≤ radius, many on its boundary."""
    a_hat = cur / cur.sum()
    out: list[np.ndarray] = []
    while len(out) < count:
        step = rng.normal(size=a_hat.size) * np.sqrt(np.maximum(a_hat, 1e-4)) * rng.uniform(0, 2)
        for scale in np.linspace(1.0, 0.0, 41):  # the farthest point of the ray inside the set
            a = np.clip(a_hat + scale * math.sqrt(radius) * step, 1e-9, 1.0)
            if np.sum((a_hat - a) ** 2 / a) <= radius:
                out.append(a)
                break
    return np.array(out)


@pytest.mark.parametrize("live", [(5, 90, 300, 80, 25), (0, 40, 120, 30, 10),
                                  (400, 400, 100, 50, 50), (2000, 3000, 2500, 1500, 1000)])
def test_psi_bounds_hold_every_psi_in_the_confidence_set(live: tuple[int, ...]) -> None:
    ref = np.array([1000, 2000, 4000, 2000, 1000])
    cur = np.array(live, dtype=float)
    value, lower, upper = psi_bounds(ref, cur, alpha=0.05, n_star=500)
    radius = pearson_radius(cur.sum(), alpha=0.05, dims=4, n_star=500)
    points = _points_in_set(cur, radius, np.random.default_rng(7), 3000)
    e = ref / ref.sum()
    psis = np.sum((np.maximum(points, 1e-4) - e) * np.log(np.maximum(points, 1e-4) / e), axis=1)
    assert lower <= value <= upper
    assert lower <= psis.min() + 1e-9 and psis.max() <= upper * 1.002 + 1e-9
    # The duality gap is small: the bounds are close to what the set's points reach.
    assert psis.max() >= 0.8 * upper and psis.min() <= lower + 0.2 * (upper - lower)


def test_psi_bounds_grid_is_within_a_fifth_of_a_percent_of_a_fine_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uplift_operator.stats.drift as drift

    rng = np.random.default_rng(3)
    ref = rng.multinomial(50_000, np.full(10, 0.1))
    tilt = np.exp(0.9 * np.linspace(-1, 1, 10)) / np.exp(0.9 * np.linspace(-1, 1, 10)).sum()
    cases = [rng.multinomial(n, p) for n in (300, 1000, 4000) for p in (np.full(10, 0.1), tilt)]
    coarse = np.array([psi_bounds(ref, c, alpha=0.05 / 7)[1:] for c in cases])
    monkeypatch.setattr(drift, "_GRID", 2049)
    monkeypatch.setattr(drift, "_LAMBDAS", np.r_[0.0, np.geomspace(1e-3, 1e4, 201)])
    fine = np.array([psi_bounds(ref, c, alpha=0.05 / 7)[1:] for c in cases])
    assert np.all(np.abs(coarse - fine) <= 0.002 * fine + 1e-4)


def test_psi_bounds_stop_the_lambda_grid_at_its_first_rise_without_moving_a_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The dual is convex in λ: the grid scanned up to its first rise has the full grid's
    # minimum. Against the whole grid, every bound of 300 random cases is the same float.
    import uplift_operator.stats.drift as drift

    rng = np.random.default_rng(17)
    cases = []
    for _ in range(300):
        bins = int(rng.integers(2, 15))
        ref = rng.multinomial(int(rng.choice([500, 50_000])), rng.dirichlet(np.ones(bins)))
        cur = rng.multinomial(int(rng.integers(1, 20_000)),
                              rng.dirichlet(np.ones(bins) * rng.choice([0.5, 5.0, 50.0])))
        cases.append((ref, cur, float(rng.choice([100.0, 713.0, 5000.0]))))

    def bounds() -> list[tuple[float, float, float]]:
        return [psi_bounds(ref, cur, alpha=0.05, n_star=n_star, n_star_lower=1500.0,
                           alpha_lower=0.05 / 70) for ref, cur, n_star in cases]

    scanned = bounds()
    monkeypatch.setattr(drift, "_grid_values", lambda bound_at, sign: sign * bound_at(drift._LAMBDAS))
    assert scanned == bounds()


def test_psi_bounds_tighten_to_the_psi_and_cover_it_under_continuous_looks() -> None:
    rng = np.random.default_rng(11)
    ref = np.array([1000, 2000, 4000, 2000, 1000]) * 50
    truth = np.array([0.05, 0.15, 0.4, 0.25, 0.15])
    true_psi = psi_value(ref, truth * 1e9)
    missed = 0
    for _ in range(100):
        rows = np.cumsum(rng.multinomial(1, truth, size=4000), axis=0)
        looks = [psi_bounds(ref, rows[n - 1], alpha=0.05, n_star=1000)
                 for n in range(100, 4001, 100)]
        missed += any(not lo <= true_psi <= hi for _, lo, hi in looks)
    assert missed <= 8  # ≤ α = 5 % of paths, at every one of 40 looks (binomial slack)
    _, lo, hi = psi_bounds(ref, truth * 1e7, alpha=0.05, n_star=1000)
    assert lo == pytest.approx(true_psi, abs=2e-3) and hi == pytest.approx(true_psi, abs=2e-3)


def test_psi_lower_bound_tuned_later_is_narrower_there_and_still_covers() -> None:
    rng = np.random.default_rng(13)
    ref = np.array([1000, 2000, 4000, 2000, 1000]) * 50
    truth = np.array([0.02, 0.08, 0.3, 0.3, 0.3])  # drifted: PSI ≈ 0.5
    true_psi = psi_value(ref, truth * 1e9)
    # The upper bound is untouched; the lower bound is higher (narrower) past the first n*.
    late = truth * 3000
    same = psi_bounds(ref, late, alpha=0.05, n_star=500)
    split = psi_bounds(ref, late, alpha=0.05, n_star=500, n_star_lower=3000)
    assert split[2] == same[2] and split[1] > same[1] + 0.005
    missed = 0
    for _ in range(100):
        rows = np.cumsum(rng.multinomial(1, truth, size=4000), axis=0)
        looks = [psi_bounds(ref, rows[n - 1], alpha=0.05, n_star=500, n_star_lower=3000)
                 for n in range(100, 4001, 100)]
        missed += any(lo > true_psi for _, lo, _ in looks)
    assert missed <= 8  # the lower bound alone still holds at α = 5 %, at every look


def _drifted_to(ref_shares: np.ndarray, direction: np.ndarray, target: float) -> np.ndarray:
    """ref_shares exponentially tilted along ``direction`` until PSI = target."""
    lo, hi = 0.0, 20.0
    for _ in range(80):
        beta = (lo + hi) / 2
        q = ref_shares * np.exp(beta * direction)
        q /= q.sum()
        lo, hi = (beta, hi) if psi_value(ref_shares, q) < target else (lo, beta)
    q = ref_shares * np.exp(lo * direction)
    return np.asarray(q / q.sum())


def _evidence_paths(ref: np.ndarray, truth: np.ndarray, bound: float, paths: int, looks: int,
                    rows: int, seed: int) -> np.ndarray:
    """The running maximum of the betting e-process on each path, after each look."""
    rng = np.random.default_rng(seed)
    out = np.zeros((paths, looks))
    for i in range(paths):
        seen, log_e, best = np.zeros(ref.size, dtype=np.int64), 0.0, 0.0
        for j in range(looks):
            now = seen + rng.multinomial(rows, truth)
            log_e += psi_drift_evidence(ref, seen, now, bound)
            seen, best = now, max(best, log_e)
            out[i, j] = math.exp(best)
    return out


def test_psi_drift_evidence_bets_nothing_positive_on_average_anywhere_in_the_null() -> None:
    rng = np.random.default_rng(8)
    ref = rng.integers(200, 2000, 10) * 10
    ref[0] = 30  # a rare bin, near the empty-share floor's reach
    shares = ref / ref.sum()
    checked = 0
    for _ in range(40):
        # Rows so far from some drifted distribution: the bet points wherever they do.
        seen_from = _drifted_to(shares, rng.normal(size=10), rng.uniform(0.12, 1.0))
        seen = rng.multinomial(int(rng.integers(50, 3000)), seen_from)
        # One more row in bin b multiplies the wealth by 1 + λ·(w_b − c): recover λ·(w − c).
        bet = np.array([math.expm1(psi_drift_evidence(ref, seen, seen + np.eye(10, dtype=int)[b],
                                                      0.1)) for b in range(10)])
        if not np.any(bet):
            continue
        checked += 1
        assert bet.min() >= -0.5  # no row can take more than half the wealth
        # The worst case leans the way the bet does; then random points of the boundary.
        toward = _drifted_to(shares, bet / np.abs(bet).max(), 0.1)
        assert float(toward @ bet) <= 1e-12
        for _ in range(50):  # any live distribution with PSI ≤ 0.1: its mean factor ≤ 1
            boundary = _drifted_to(shares, rng.normal(size=10) * rng.uniform(0.1, 3), 0.1)
            inside = boundary + rng.uniform(0, 1) * (shares - boundary)
            for a in (boundary, inside):
                assert psi_value(ref, a * 1e12) <= 0.1 + 1e-9
                assert float(a @ bet) <= 1e-12
    assert checked >= 30


@pytest.mark.parametrize("shape", ["tilt", "bump"])
def test_psi_drift_evidence_holds_on_the_boundary_of_the_null(shape: str) -> None:
    ref = np.array([500, 800, 1000, 1200, 1500, 1500, 1200, 1000, 800, 500]) * 10
    shares = ref / ref.sum()
    direction = np.linspace(-1, 1, 10) if shape == "tilt" else np.eye(10)[2] * 3
    truth = _drifted_to(shares, direction, 0.1)  # PSI exactly at the bound: in H0
    assert psi_value(ref, truth * 1e9) == pytest.approx(0.1, abs=1e-6)
    evidence = _evidence_paths(ref, truth, 0.1, paths=150, looks=40, rows=25, seed=3)
    # Ville: P(the e-process ever reaches 1/α) ≤ α; at α = 0.2, 150 paths, 40 looks.
    assert np.mean(evidence[:, -1] >= 5) <= 0.2


def test_psi_drift_evidence_stays_out_while_the_rows_differ_from_the_reference_by_noise() -> None:
    # 40 rows from the reference itself: their shares sit outside PSI ≤ 0.1 by noise alone
    # (n·PSI ≈ χ²₉), so a bet sized on the gain those same rows show would be placed in most
    # looks and lose; corrected for the rows having chosen the bet, it is almost never placed.
    rng = np.random.default_rng(1)
    ref = np.full(10, 5000)
    placed = {True: 0, False: 0}
    for _ in range(300):
        seen = rng.multinomial(40, ref / ref.sum())
        for corrected in placed:
            placed[corrected] += psi_drift_evidence(ref, seen, seen + np.eye(10, dtype=int)[0],
                                                    0.1, corrected=corrected) != 0.0
    assert placed[True] <= 15
    assert placed[False] >= 200  # the gain as those rows show it


def test_psi_drift_evidence_grows_with_drift_beyond_the_bound() -> None:
    ref = np.full(10, 5000)
    shares = ref / ref.sum()
    truth = _drifted_to(shares, np.linspace(-1, 1, 10), 0.3)
    evidence = _evidence_paths(ref, truth, 0.1, paths=40, looks=40, rows=25, seed=4)
    assert np.mean(evidence[:, -1] >= 1 / 0.05) >= 0.9  # shown within 1,000 rows
    # No bet before rows are seen, nor while the rows so far sit inside the null.
    assert psi_drift_evidence(ref, np.zeros(10), ref // 100, 0.1) == 0.0
    assert psi_drift_evidence(ref, ref // 100, ref // 50, 0.1) == 0.0


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
