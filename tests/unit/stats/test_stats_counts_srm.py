"""Count tests (multinomial / Poisson, one-sided rate ratio) and sample ratio mismatch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from uplift_operator.stats import counts
from uplift_operator.stats.counts import (
    log_beta_bf_one_sided,
    log_dirichlet_bf,
    multinomial_test,
    rate_ratio_test,
)
from uplift_operator.stats.results import Decision, SequentialState
from uplift_operator.stats.srm import (
    split_concentration,
    split_within_test,
    srm_chisquare,
    srm_sequential,
)

HILLSTROM_SEGMENTS = [21306, 21387, 21307]  # No E-Mail, Womens, Mens


def test_dirichlet_bf_hand_computed() -> None:
    # counts (1, 1), shares ½, k = 2: Beta(1,1) prior → B(2,2)/B(1,1)/(½·½) = (1/6)/(1/4) = 2/3
    assert log_dirichlet_bf([1, 1], [0.5, 0.5], k=2.0) == pytest.approx(math.log(2 / 3))
    assert log_dirichlet_bf([0, 0, 0], [1, 1, 1]) == pytest.approx(0.0)


def test_dirichlet_bf_two_arms_is_beta_binomial() -> None:
    ca, cb, ra, rb, k = 37, 12, 0.8, 0.2, 100.0
    expected = (
        special.betaln(k * rb + cb, k * ra + ca)
        - special.betaln(k * rb, k * ra)
        - cb * math.log(rb)
        - ca * math.log(ra)
    )
    assert log_dirichlet_bf([ca, cb], [ra, rb], k) == pytest.approx(expected, rel=1e-12)


def test_one_sided_beta_bf_equals_quadrature() -> None:
    nb, na, theta0, k = 14, 90, 0.12, 100.0
    a, b = k * theta0, k * (1 - theta0)
    mass = special.betaincc(a, b, theta0)

    def integrand(th: float) -> float:
        lr = (th / theta0) ** nb * ((1 - th) / (1 - theta0)) ** na
        return float(lr * stats.beta.pdf(th, a, b) / mass)

    expected = integrate.quad(integrand, theta0, 1, limit=200, epsrel=1e-10)[0]
    got = math.exp(log_beta_bf_one_sided(nb, na, theta0, k, greater=True))
    assert got == pytest.approx(expected, rel=1e-7)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300), st.floats(0.05, 0.95))
def test_one_sided_bfs_average_to_the_two_sided(nb: int, na: int, theta0: float) -> None:
    # the untruncated mixture = prior mass above · BF⁺ + prior mass below · BF⁻
    k = 100.0
    a, b = k * theta0, k * (1 - theta0)
    up, down = special.betaincc(a, b, theta0), special.betainc(a, b, theta0)
    two = log_dirichlet_bf([na, nb], [1 - theta0, theta0], k)
    mix = np.logaddexp(
        math.log(up) + log_beta_bf_one_sided(nb, na, theta0, k, greater=True),
        math.log(down) + log_beta_bf_one_sided(nb, na, theta0, k, greater=False),
    )
    assert mix == pytest.approx(two, abs=1e-7)


def test_rate_ratio_decisions() -> None:
    kw: dict[str, Any] = {"control_exposure": 0.9, "treatment_exposure": 0.1, "margin": 0.2}
    assert rate_ratio_test(100, 30, **kw)[0].decision is Decision.FAIL  # r̂ = 2.7
    assert rate_ratio_test(1000, 80, **kw)[0].decision is Decision.PASS  # r̂ = 0.72
    res, _ = rate_ratio_test(100, 15, **kw)
    assert res.decision is Decision.CONTINUE
    assert res.estimate == pytest.approx(1.35)
    assert res.lower < 1.35 < res.upper
    assert rate_ratio_test(5, 3, **kw)[0].reason.startswith("rate ratio: too few")


def test_rate_ratio_only_depends_on_exposure_ratio() -> None:
    r1, _ = rate_ratio_test(300, 45, control_exposure=9.0, treatment_exposure=1.0, margin=0.1)
    r2, _ = rate_ratio_test(300, 45, control_exposure=90_000, treatment_exposure=10_000, margin=0.1)
    assert r1 == r2


def test_daily_cycles_do_not_fool_the_count_test() -> None:
    # A/A with a strongly cyclic and growing baseline λ(t); only event arm labels matter.
    rng = np.random.default_rng(5)
    runs, looks, share_b = 300, 96, 0.1
    hours = np.arange(looks)
    lam = 40 * (1 + 0.9 * np.sin(2 * np.pi * hours / 24)) * (1 + hours / looks)
    total = rng.poisson(lam, (runs, looks))
    in_b = rng.binomial(total, share_b)
    cb, ca = np.cumsum(in_b, axis=1), np.cumsum(total - in_b, axis=1)
    log_o = log_dirichlet_bf(np.stack([ca, cb], axis=-1), [1 - share_b, share_b])
    assert np.asarray(log_o).shape == (runs, looks)
    assert (np.asarray(log_o) >= math.log(20)).any(axis=1).mean() <= 0.05 + 0.02


def test_multinomial_two_arm_cs_contains_estimate_and_shrinks() -> None:
    state = SequentialState()
    prev_width = math.inf
    for n in (200, 800, 3200):
        res, state = multinomial_test([n, n // 9], [0.9, 0.1], state=state)
        assert res.lower <= res.estimate <= res.upper
        assert res.upper - res.lower < prev_width
        prev_width = res.upper - res.lower
    assert multinomial_test([1000, 200], [0.9, 0.1])[0].decision is Decision.FAIL


@pytest.mark.parametrize("bad", [[-0.5, 30], [-1, 30], [0.5, 30], [29.7, 30], [math.nan, 30],
                                 [math.inf, 30], [30, -math.inf], [2.0**64, 30]])
def test_multinomial_refuses_counts_not_whole_finite_and_nonnegative(bad: list[float]) -> None:
    # np.asarray(counts, dtype=np.int64) truncated first: [-0.5, 30] became (0, 30), a Fail.
    with pytest.raises(ValueError, match="counts"):
        multinomial_test(bad, [0.5, 0.5])


def test_multinomial_takes_whole_counts_given_as_floats() -> None:
    res, _ = multinomial_test([1000.0, 200.0], [0.9, 0.1])
    assert res.samples == (1000, 200) and res.decision is Decision.FAIL
    noisy, _ = multinomial_test([0.1 + 0.2 + 999.7, 200.00000000001], [0.9, 0.1])  # float noise
    assert noisy.samples == (1000, 200) and noisy.p_value == res.p_value
    with pytest.raises(ValueError, match="one per share"):
        multinomial_test([1, 2, 3], [0.5, 0.5])


def test_srm_hillstrom_known_values() -> None:
    res = srm_chisquare(HILLSTROM_SEGMENTS, [1, 1, 1])
    ref = stats.chisquare(HILLSTROM_SEGMENTS)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.p_value == pytest.approx(0.90, abs=0.005)
    assert res.decision is Decision.PASS
    seq, _ = srm_sequential(HILLSTROM_SEGMENTS, [1, 1, 1])
    assert seq.statistic == pytest.approx(-6.4, abs=0.05)
    assert seq.decision is Decision.CONTINUE


def test_srm_detects_mismatch() -> None:
    assert srm_chisquare([5000, 5400], [1, 1]).decision is Decision.FAIL
    res, _ = srm_sequential([5000, 5600], [1, 1])
    assert res.decision is Decision.FAIL
    assert res.upper < 0.5 or res.lower > 0.5
    assert srm_chisquare([10, 12], [1, 1]).decision is Decision.CONTINUE


@settings(max_examples=40, deadline=None)
@given(st.integers(100, 20_000), st.integers(100, 20_000))
def test_srm_bounds_bracket_the_observed_share(a: int, b: int) -> None:
    one = srm_chisquare([a, b], [1, 1])
    assert one.lower <= one.estimate <= one.upper
    seq, _ = srm_sequential([a, b], [1, 1])
    assert seq.lower <= seq.estimate <= seq.upper


# -- split within tolerance (the equivalence a promoting Pass needs) ------------------------------


def test_split_within_is_shown_for_a_split_as_weighted_and_not_for_a_52_48() -> None:
    as_weighted, _ = split_within_test(25_000, 25_000, 0.5)
    assert as_weighted < 1e-3
    broken, _ = split_within_test(24_000, 26_000, 0.5)  # 52/48: at the tolerance's edge
    assert broken > 0.05
    few, _ = split_within_test(500, 500, 0.5)  # too few requests to show ±4 %
    assert few > 0.05


def test_split_within_carries_only_evidence_against_across_weights() -> None:
    # 10 % then 50 %: a 10 % step shown within tolerance does not show the 50 % step within
    # (its evidence for is not carried) ...
    p_first, state = split_within_test(90_000, 10_000, 0.1)
    assert p_first < 0.05
    alone, _ = split_within_test(6_000, 6_000, 0.5)
    carried, fresh = split_within_test(6_000, 6_000, 0.5, state=state.next_stratum())
    assert carried == pytest.approx(alone)
    assert fresh.carried_log_pass == 0.0 and fresh.units == 12_000
    # ... while a 10 % step shown off (11.5 %) still counts against the 50 % step.
    _, off = split_within_test(177_000, 23_000, 0.1)
    assert off.log_pass < 0
    against, _ = split_within_test(6_000, 6_000, 0.5, state=off.next_stratum())
    assert against > alone


def test_split_within_restarts_its_running_minimum_at_a_new_stratum() -> None:
    p_first, state = split_within_test(50_000, 50_000, 0.5)
    assert p_first < 1e-6
    p_next, _ = split_within_test(5_250, 4_750, 0.5, state=state.next_stratum())
    assert p_next > 0.5  # 47.5 % of 10,000: not within 48–52 %, whatever the step before showed


def test_split_within_shows_nothing_at_a_new_strata_look_without_requests() -> None:
    # A step's first analysis often has no settled requests (0, 0): it shows nothing of the
    # step's split, not the earlier step's running p-value.
    p_first, state = split_within_test(90_000, 10_000, 0.1)
    assert p_first < 1e-3
    p_empty, kept = split_within_test(0, 0, 0.5, state=state.next_stratum())
    assert p_empty == 1.0 and kept.units == 0
    p_next, _ = split_within_test(10, 10, 0.5, state=kept)
    assert p_next > 0.5  # the stratum starts afresh at its first requests
    # Within a stratum, a look without new requests keeps the stratum's own running p-value.
    _, shown = split_within_test(25_000, 25_000, 0.5)
    p_kept, _ = split_within_test(0, 0, 0.5, state=shown)
    assert p_kept == max(shown.p_pass, shown.p_fail) < 1e-3


def test_split_within_without_restart_carries_a_shared_share_across_strata() -> None:
    # A holdout fraction is the same at every stratum: restart=False keeps the evidence.
    _, state = split_within_test(27_000, 3_000, 0.1, tolerance=0.12)
    alone, _ = split_within_test(2_700, 300, 0.1, tolerance=0.12)
    restarted, _ = split_within_test(2_700, 300, 0.1, tolerance=0.12, state=state.next_stratum())
    assert restarted == pytest.approx(alone) and alone > 0.05
    carried, kept = split_within_test(2_700, 300, 0.1, tolerance=0.12,
                                      state=state.next_stratum(), restart=False)
    assert carried < 0.01 and kept.units == 3_000
    empty, _ = split_within_test(0, 0, 0.1, tolerance=0.12, state=state.next_stratum(),
                                 restart=False)
    assert empty == max(state.p_pass, state.p_fail) < 0.01


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_split_within_rarely_passes_a_mismatch_only_at_the_promoting_step(share: float) -> None:
    # Step 1 at 20 % is split exactly as weighted (shown within); the promoting step at
    # ``share`` gets share × 1.04, the tolerance's edge. "Within" may be shown at the promoting
    # step in ≤ α of runs however often one looks (as the test above; ≤ 10 + 3σ of 200).
    rng = np.random.default_rng(11)
    shown = 0
    for _ in range(200):
        first = None
        stable = canary = 0
        for _ in range(20):
            c = int(rng.binomial(5_000, 0.2))
            stable, canary = stable + 5_000 - c, canary + c
            _, first = split_within_test(stable, canary, 0.2, state=first)
        assert first is not None and first.p_pass < 0.05
        state: SequentialState | None = first.next_stratum()
        stable = canary = 0
        for _ in range(40):
            c = int(rng.binomial(5_000, share * 1.04))
            stable, canary = stable + 5_000 - c, canary + c
            p, state = split_within_test(stable, canary, share, state=state)
            if p <= 0.05:
                shown += 1
                break
    assert shown <= 19


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_split_within_rarely_passes_a_split_at_the_edge_under_continuous_looks(share: float) -> None:
    # The canary gets share × 1.04, the tolerance's edge: "within" may be shown in ≤ α of runs
    # however often one looks (200 runs, 40 looks each, α = 0.05: ≤ 10 + 3σ).
    rng = np.random.default_rng(7)
    shown = 0
    for _ in range(200):
        state, stable, canary = None, 0, 0
        for _ in range(40):
            n = 5_000
            c = int(rng.binomial(n, share * 1.04))
            stable, canary = stable + n - c, canary + c
            p, state = split_within_test(stable, canary, share, state=state)
            if p <= 0.05:
                shown += 1
                break
    assert shown <= 19


def test_split_concentration_scales_with_the_share() -> None:
    assert split_concentration(0.5) == pytest.approx(0.5 / (0.04**2 * 0.5))
    assert split_concentration(0.1) > split_concentration(0.5)
    with pytest.raises(ValueError, match="share"):
        split_concentration(1.0)


@pytest.mark.parametrize(("c_a", "c_b"),
                         [(0, 0), (0, 7), (20, 25), (480, 520), (52_000, 48_000)])
@pytest.mark.parametrize("theta0", [1e-9, 0.02, 0.3, 0.5, 0.97, 1 - 1e-9])
def test_the_two_arm_scalar_bayes_factor_is_the_dirichlet_one(c_a: int, c_b: int,
                                                                theta0: float) -> None:
    scalar = counts._two_arm_log_bf(c_a, c_b, theta0, counts.DEFAULT_CONCENTRATION)
    vector = counts.log_dirichlet_bf([c_a, c_b], [1.0 - theta0, theta0])
    assert scalar == pytest.approx(vector, rel=1e-12, abs=1e-9)
