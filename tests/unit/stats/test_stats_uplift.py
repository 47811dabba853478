"""Uplift curves and metrics: hand-computed cases and invariants (hypothesis)."""

from __future__ import annotations

import random
from functools import partial

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from uplift_operator.stats.uplift import (
    auuc,
    auuc_score_causalml,
    bootstrap_ci,
    one_sided_bounds,
    paired_difference_bounds,
    per_treatment,
    perfect_qini_score,
    perfect_uplift_score,
    qini_coefficient,
    qini_curve,
    qini_score_causalml,
    uplift_at_k,
    uplift_curve,
)

Y = np.array([1, 0, 1, 0])
T = np.array([1, 1, 0, 0])
S = np.array([4.0, 3.0, 2.0, 1.0])


def test_curves_hand_computed() -> None:
    # k=1: Y_t=1, N_c=0 → Q=1; k=2: Q=1; k=3: 1 − 1·2/1 = −1; k=4: 1 − 1·2/2 = 0
    x, q = qini_curve(Y, T, S)
    np.testing.assert_array_equal(x, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(q, [0, 1, 1, -1, 0])
    # G: k=1: 1·1; k=2: ½·2; k=3: (½ − 1)·3; k=4: 0
    _, g = uplift_curve(Y, T, S)
    np.testing.assert_allclose(g, [0, 1, 1, -1.5, 0])


def test_qini_coefficient_hand_computed() -> None:
    # area (trapezoid) of [0,1,1,-1,0] = 0.5+1+0-0.5 = 1; random line ends at 0 → area 1
    assert qini_coefficient(Y, T, S, normalize=False) == pytest.approx(1 / 4)
    # the perfect ranking here is y·t − y·(1−t) = [1, 0, −1, 0]: treated responder first,
    # then the two non-responders (tie), control responder last → Q = [0, 1, 1, 1, 0], area 3
    assert qini_coefficient(Y, T, S) == pytest.approx(1 / 3)


def test_tie_block_is_linear() -> None:
    rng = np.random.default_rng(0)
    y, t = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    t[:2] = [0, 1]
    x, q = qini_curve(y, t, np.zeros(50))
    np.testing.assert_allclose(q, x / 50 * q[-1])
    assert qini_coefficient(y, t, np.zeros(50), normalize=False) == pytest.approx(0.0, abs=1e-12)


def test_uplift_at_k_hand_computed() -> None:
    # top 2 overall are both treated → control mean undefined
    assert np.isnan(uplift_at_k(Y, T, S, 0.5, "overall"))
    assert uplift_at_k(Y, T, S, 0.5, "by_group") == pytest.approx(1.0 - 1.0)
    assert uplift_at_k(Y, T, S, 3, "overall") == pytest.approx(0.5 - 1.0)
    with pytest.raises(ValueError, match="strategy"):
        uplift_at_k(Y, T, S, 0.5, "bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fractional"):
        uplift_at_k(Y, T, S, 1.5)


def test_causalml_variants_baselines() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.1 + 0.05 * t).astype(int)
    scores = [rng.random(n) for _ in range(20)]
    # causalml's AUUC of a random ranking is ≈ 0.5 (random is not subtracted); Qini ≈ 0
    assert np.mean([auuc_score_causalml(y, t, s) for s in scores]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([qini_score_causalml(y, t, s) for s in scores]) == pytest.approx(0.0, abs=0.03)
    assert np.mean([qini_coefficient(y, t, s) for s in scores]) == pytest.approx(0.0, abs=0.03)


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="length"):
        qini_curve([1, 0], [1, 0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0/1"):
        qini_curve([1, 0], [2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="binary"):
        auuc([1.5, 0], [1, 0], [0.1, 0.2])


def test_bootstrap_is_seeded_and_resamples_within_arms() -> None:
    rng = np.random.default_rng(2)
    n = 600
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.2 + 0.1 * t).astype(int)
    s = rng.random(n) + 0.3 * y * t
    a = bootstrap_ci(qini_coefficient, y, t, s, n_resamples=100, seed=7)
    b = bootstrap_ci(qini_coefficient, y, t, s, n_resamples=100, seed=7)
    assert a == b
    assert a[1] <= a[0] <= a[2]
    seen: set[int] = set()

    def n_treated(yy: object, tt: object, ss: object) -> float:
        seen.add(int(np.sum(np.asarray(tt))))
        return 0.0

    bootstrap_ci(n_treated, y, t, s, n_resamples=20)
    assert seen == {int(t.sum())}


def test_per_treatment_matches_manual_subsets() -> None:
    rng = np.random.default_rng(3)
    n = 900
    arm = rng.choice(np.array(["ctl", "a", "b"]), n)
    y = rng.integers(0, 2, n)
    sa, sb = rng.random(n), rng.random(n)
    out = per_treatment(qini_coefficient, y, arm, {"a": sa, "b": sb}, control="ctl")
    assert set(out) == {"a", "b"}
    for label, s in (("a", sa), ("b", sb)):
        rows = (arm == "ctl") | (arm == label)
        assert out[label] == pytest.approx(
            qini_coefficient(y[rows], (arm[rows] == label).astype(int), s[rows])
        )
    ints = per_treatment(
        partial(uplift_at_k, k=0.3, strategy="by_group"), y, rng.integers(0, 3, n), sa, control=0
    )
    assert set(ints) == {1, 2}


# ---------------------------------------------------------------- properties

binary = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=6, max_size=80)


def _arrays(rows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([r[0] for r in rows])
    t = np.array([r[1] for r in rows])
    return y, t


def _nondegenerate(y: np.ndarray, t: np.ndarray) -> bool:
    # both arms present and the perfect curve lies above random
    return bool(0 < t.sum() < t.size and y.sum() > 0)


@settings(max_examples=80, deadline=None)
@given(binary)
def test_perfect_ranking_scores_one(rows: list[tuple[int, int]]) -> None:
    y, t = _arrays(rows)
    assume(_nondegenerate(y, t))
    q = qini_coefficient(y, t, perfect_qini_score(y, t))
    assume(np.isfinite(q))
    assert q == pytest.approx(1.0)
    u = auuc(y, t, perfect_uplift_score(y, t))
    assume(np.isfinite(u))
    assert u == pytest.approx(1.0)


@settings(max_examples=80, deadline=None)
@given(binary, st.randoms(use_true_random=False))
def test_invariant_to_monotone_transform(rows: list[tuple[int, int]], rnd: random.Random) -> None:
    y, t = _arrays(rows)
    assume(_nondegenerate(y, t))
    # Random scores on a 0.1 grid: ties, and gaps of every size between distinct scores.
    s = np.array([round(rnd.uniform(-2.0, 2.0), 1) for _ in range(y.size)])
    for metric in (qini_coefficient, auuc):
        a, b = metric(y, t, s), metric(y, t, np.exp(3 * s) - 5)
        assert a == pytest.approx(b, nan_ok=True)


@settings(max_examples=80, deadline=None)
@given(binary)
def test_curves_end_at_the_overall_effect(rows: list[tuple[int, int]]) -> None:
    y, t = _arrays(rows)
    assume(0 < t.sum() < t.size)
    s = np.arange(y.size, dtype=float)
    x, q = qini_curve(y, t, s)
    _, g = uplift_curve(y, t, s)
    ate = y[t == 1].mean() - y[t == 0].mean()
    assert x[0] == 0
    assert x[-1] == y.size
    assert q[0] == 0
    assert g[0] == 0
    assert g[-1] == pytest.approx(ate * y.size)
    assert q[-1] == pytest.approx(ate * t.sum())


def test_one_sided_bounds_are_the_alpha_b_plus_one_order_statistics() -> None:
    replicates = np.arange(1.0, 200.0)  # B = 199: α(B + 1) = 10 exactly
    assert one_sided_bounds(replicates, alpha=0.05) == pytest.approx((10.0, 190.0))
    mean, low, high, pairs = paired_difference_bounds(replicates + 1.0, np.ones(199), alpha=0.05)
    assert (low, high) == pytest.approx((10.0, 190.0)) and pairs == 199
    assert mean == pytest.approx(100.0)
    with_nan = np.r_[replicates, np.nan]
    assert one_sided_bounds(with_nan, alpha=0.05) == pytest.approx((10.0, 190.0))


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_a_value_exchangeable_with_the_replicates_falls_outside_a_bound_at_rate_alpha(
        alpha: float) -> None:
    # 200 replicates, as the trainer logs: numpy's default quantile (type 7) was wrong in
    # 10.95/201 = 5.4 % of cases at α = 0.05 and 2.99/201 = 1.5 % at α = 0.01.
    rng = np.random.default_rng(7)
    draws = rng.normal(size=(40_000, 201))
    below = above = 0
    for row in draws:
        low, high = one_sided_bounds(row[1:], alpha=alpha)
        below += row[0] < low
        above += row[0] > high
    se = (alpha * (1 - alpha) / len(draws)) ** 0.5
    assert abs(below / len(draws) - alpha) < 2.5 * se
    assert abs(above / len(draws) - alpha) < 2.5 * se
