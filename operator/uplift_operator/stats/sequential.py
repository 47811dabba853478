"""Anytime-valid tests of a difference Δ = μ_B − μ_A (B = canary/treatment, A = stable/holdout).

Role: the online gates. The operator looks at cumulative per-arm summaries every interval; these
tests stay valid under that continuous monitoring (Ville's inequality), which a z-test with
peeking does not. Neighbours: ``results`` (value types), ``counts`` (event-count metrics),
``srm`` (checked before every gate). Formulas and sources: ``docs/statistics.md`` §1.

* mSPRT with a normal mixture θ ~ N(θ₀, τ²) (Johari, Pekelis & Walsh 2022), on the estimator
  Δ̂ with variance V = s²_A/n_A + s²_B/n_B:
  ``log Λ = ½ ln(V/(V+τ²)) + τ²(Δ̂−θ₀)²/(2V(V+τ²))``; reject Δ = θ₀ when Λ ≥ 1/α.
* its confidence sequence ``Δ̂ ± √(V(V+τ²)/τ² · [2 ln(1/α) + ln((V+τ²)/V)])``, intersected
  over looks; always-valid p-value ``p_n = min(p_{n−1}, 1/Λ_n)``.
* one-sided: a half-normal mixture on θ > θ₀ gives ``Λ⁺ = 2Λ·Φ((Δ̂−θ₀)τ/√(V(V+τ²)))``
  (and Λ⁻ with Φ(−·)); non-inferiority and superiority are the pair (Λ⁺ promotes, Λ⁻ rolls back).
* τ² = ρ²·N·V with N = n_A + n_B (GrowthBook / Waudby-Smith et al. 2021, eq. 9), and
  ``ρ² = (−2 ln α + ln(1 − 2 ln α))/N*`` makes the CS tightest at the expected decision size N*.
  The plug-in variance makes validity asymptotic, hence a minimum sample size per arm.

The vectorised kernels (``log_mixture_lr``, ``log_mixture_lr_one_sided``, ``cs_half_width``)
accept numpy arrays; ``bench/stats_simulation.py`` runs the very same code on 2,000 canaries.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import overload

import numpy as np
import numpy.typing as npt

from .results import ArmStats, Decision, SequentialState, TestResult

# scipy is imported inside the functions that use it: importing this module (as the idle
# operator does) must not load scipy (docs/operator.md, "Footprint").

__all__ = [
    "cs_half_width",
    "difference_test",
    "fixed_horizon_n",
    "guarded_decision",
    "guarded_non_inferiority_test",
    "log_mixture_lr",
    "log_mixture_lr_one_sided",
    "mean_one_sided_bounds",
    "mixing_variance",
    "non_inferiority_test",
    "one_sided_margin",
    "superiority_test",
]

FloatArray = npt.NDArray[np.float64]
_LN2 = math.log(2.0)


def mixing_variance(n_star: float, alpha: float) -> float:
    """ρ² = (−2 ln α + ln(1 − 2 ln α))/N*: the CS is narrowest at a total sample size of N*.

    N* is the total (both arms) sample size at which a decision is expected, e.g. canary traffic
    × bake time. The mixture variance on Δ is then τ² = ρ²·N·V (see module docstring).
    Source: Waudby-Smith et al. (arXiv:2103.06476, eq. 161), GrowthBook ``sequential_rho``.
    """
    if n_star <= 0:
        raise ValueError(f"n_star must be > 0, got {n_star}")
    _check_alpha(alpha)
    la = math.log(alpha)
    return (-2.0 * la + math.log(1.0 - 2.0 * la)) / n_star


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


@overload
def log_mixture_lr(delta_hat: float, variance: float, tau2: float, theta0: float = 0.0) -> float: ...
@overload
def log_mixture_lr(
    delta_hat: FloatArray,
    variance: FloatArray | float,
    tau2: FloatArray | float,
    theta0: FloatArray | float = 0.0,
) -> FloatArray: ...
def log_mixture_lr(
    delta_hat: FloatArray | float,
    variance: FloatArray | float,
    tau2: FloatArray | float,
    theta0: FloatArray | float = 0.0,
) -> FloatArray | float:
    """log Λ of the normal-mixture SPRT of Δ = θ₀ (two-sided)."""
    v = np.asarray(variance, dtype=np.float64)
    t = np.asarray(tau2, dtype=np.float64)
    d = np.asarray(delta_hat, dtype=np.float64) - theta0
    out = 0.5 * np.log(v / (v + t)) + t * d * d / (2.0 * v * (v + t))
    return float(out) if out.ndim == 0 else out


@overload
def log_mixture_lr_one_sided(
    delta_hat: float, variance: float, tau2: float, theta0: float = 0.0, *, greater: bool = True
) -> float: ...
@overload
def log_mixture_lr_one_sided(
    delta_hat: FloatArray,
    variance: FloatArray | float,
    tau2: FloatArray | float,
    theta0: FloatArray | float = 0.0,
    *,
    greater: bool = True,
) -> FloatArray: ...
def log_mixture_lr_one_sided(
    delta_hat: FloatArray | float,
    variance: FloatArray | float,
    tau2: FloatArray | float,
    theta0: FloatArray | float = 0.0,
    *,
    greater: bool = True,
) -> FloatArray | float:
    """log Λ⁺ (``greater``: H1 Δ > θ₀) or log Λ⁻ (H1 Δ < θ₀), half-normal mixture on θ − θ₀.

    ``Λ± = 2Λ·Φ(±(Δ̂−θ₀)τ/√(V(V+τ²)))``; a nonnegative supermartingale for every Δ on the null
    side, so rejecting when Λ± ≥ 1/α has type-I error ≤ α at any stopping time.
    """
    from scipy import special

    v = np.asarray(variance, dtype=np.float64)
    t = np.asarray(tau2, dtype=np.float64)
    d = np.asarray(delta_hat, dtype=np.float64) - theta0
    sign = 1.0 if greater else -1.0
    z = sign * d * np.sqrt(t) / np.sqrt(v * (v + t))
    out = _LN2 + 0.5 * np.log(v / (v + t)) + t * d * d / (2.0 * v * (v + t)) + special.log_ndtr(z)
    return float(out) if out.ndim == 0 else out


@overload
def cs_half_width(variance: float, tau2: float, alpha: float) -> float: ...
@overload
def cs_half_width(variance: FloatArray, tau2: FloatArray | float, alpha: float) -> FloatArray: ...
def cs_half_width(variance: FloatArray | float, tau2: FloatArray | float, alpha: float) -> FloatArray | float:
    """Half-width of the two-sided mSPRT confidence sequence at level α (inverts Λ < 1/α)."""
    v = np.asarray(variance, dtype=np.float64)
    t = np.asarray(tau2, dtype=np.float64)
    out = np.sqrt(v * (v + t) / t * (2.0 * math.log(1.0 / alpha) + np.log((v + t) / v)))
    return float(out) if out.ndim == 0 else out


def one_sided_margin(variance: float, tau2: float, alpha: float) -> float:
    """u* with log Λ⁺(Δ̂ − u*) = ln(1/α): the one-sided bound is Δ̂ − u* (or Δ̂ + u* above).

    Λ⁺ increases in Δ̂ − θ₀, so {θ₀ : not rejected} = (Δ̂ − u*, ∞). In standard units
    (c = τ²/V, z = u/√V) the root lies in [0, two-sided half-width], where f(0) < 0 ≤ f(z₂).
    """
    from scipy import optimize, special

    _check_alpha(alpha)
    c = tau2 / variance
    target = math.log(1.0 / alpha)

    def f(z: float) -> float:
        return (
            _LN2
            - 0.5 * math.log1p(c)
            + c * z * z / (2.0 * (1.0 + c))
            + float(special.log_ndtr(z * math.sqrt(c / (1.0 + c))))
            - target
        )

    z2 = math.sqrt((1.0 + c) / c * (2.0 * target + math.log1p(c)))
    root = float(optimize.brentq(f, 0.0, z2, xtol=1e-12))
    return root * math.sqrt(variance)


def _summaries(control: ArmStats, treatment: ArmStats) -> tuple[float, float, int]:
    """Δ̂, its variance and the units. Where neither arm varies but their means differ (0/5000
    against 5000/5000 converted) the plug-in variance is 0 and no test could ever decide; each
    arm then takes the pooled sample's variance (``pooled_variance``), the variance both would
    share were they equal, so the difference is judged on the scale of the null it rejects."""
    delta = treatment.mean - control.mean
    n_a, n_b = max(control.n, 1), max(treatment.n, 1)
    var = control.variance / n_a + treatment.variance / n_b
    if not var > 0.0 and delta != 0.0:
        var = pooled_variance(control, treatment) * (1.0 / n_a + 1.0 / n_b)
    return delta, var, control.n + treatment.n


def pooled_variance(a: ArmStats, b: ArmStats) -> float:
    """The per-unit variance of both arms' samples taken together: the within-arm sums of
    squares plus the between-arm one, n_a·n_b/(n_a + n_b)·(μ_a − μ_b)², over n_a + n_b."""
    n = a.n + b.n
    if n <= 0:
        return 0.0
    between = a.n * b.n / n * (a.mean - b.mean) ** 2
    return (a.n * a.variance + b.n * b.variance + between) / n


def _pooled(control: ArmStats, treatment: ArmStats,
            state: SequentialState) -> tuple[float, float, float, SequentialState]:
    """Δ̂, V and units pooled over the strata carried in ``state`` and this one (inverse-variance
    weights: Δ̂ = Σ(Δ̂_s/V_s)/Σ(1/V_s), V = 1/Σ(1/V_s)), and ``state`` holding this stratum's
    part for ``next_stratum``. Without carried strata these are this stratum's own."""
    delta_s, var_s, n_s = _summaries(control, treatment)
    info = state.carried_info + 1.0 / var_s
    score = state.carried_score + delta_s / var_s
    units = state.carried_units + n_s
    mine = replace(state, info=1.0 / var_s, score=delta_s / var_s, units=float(n_s))
    return score / info, 1.0 / info, units, mine


def _too_early(
    control: ArmStats, treatment: ArmStats, min_samples: int, state: SequentialState, what: str
) -> tuple[TestResult, SequentialState] | None:
    delta, var, _ = _summaries(control, treatment)
    samples = (control.n, treatment.n)
    reason = ""
    if min(samples) < max(min_samples, 2):
        reason = f"{what}: too few samples ({min(samples)} < {max(min_samples, 2)} per arm)"
    elif not var > 0.0:
        reason = f"{what}: zero variance in both arms and no difference"
    if not reason:
        return None
    p = min(state.p_pass, state.p_fail)
    result = TestResult(Decision.CONTINUE, delta, state.lower, state.upper, p, samples, reason)
    return result, state


def difference_test(
    control: ArmStats,
    treatment: ArmStats,
    *,
    alpha: float = 0.05,
    n_star: float = 5000.0,
    theta0: float = 0.0,
    min_samples: int = 100,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """Two-sided mSPRT of Δ = θ₀ with its confidence sequence (running intersection).

    PASS when the CS lies above θ₀ (B better, for a higher-is-better metric), FAIL when below,
    otherwise CONTINUE. ``p_value`` is the always-valid p-value ``min_n 1/Λ_n``. Strata carried
    in ``state`` (``SequentialState.next_stratum``) are pooled with this one as in
    ``guarded_non_inferiority_test``, so α is spent once over all of them, not once per stratum.
    """
    _check_alpha(alpha)
    state = state or SequentialState()
    early = _too_early(control, treatment, min_samples, state, "difference")
    if early is not None:
        return early
    delta, var, n, mine = _pooled(control, treatment, state)
    tau2 = mixing_variance(n_star, alpha) * n * var
    log_lr = log_mixture_lr(delta, var, tau2, theta0)
    half = cs_half_width(var, tau2, alpha)
    p = min(state.p_pass, math.exp(-log_lr) if log_lr > 0 else 1.0)
    lower, upper = max(state.lower, delta - half), min(state.upper, delta + half)
    new = replace(mine, looks=state.looks + 1, lower=lower, upper=upper, p_pass=p, p_fail=p)
    if lower > theta0:
        decision, why = Decision.PASS, f"CS lower bound {lower:.6g} > θ₀ = {theta0:.6g}"
    elif upper < theta0:
        decision, why = Decision.FAIL, f"CS upper bound {upper:.6g} < θ₀ = {theta0:.6g}"
    else:
        decision, why = Decision.CONTINUE, f"CS [{lower:.6g}, {upper:.6g}] contains θ₀"
    result = TestResult(
        decision,
        delta,
        lower,
        upper,
        p,
        (control.n, treatment.n),
        f"difference μ_B − μ_A: {why}",
        log_lr,
        {"tau2": tau2, "variance": var},
    )
    return result, new


def _one_sided_pair(
    control: ArmStats,
    treatment: ArmStats,
    *,
    theta0: float,
    alpha: float,
    n_star: float,
    min_samples: int,
    state: SequentialState,
    higher_is_better: bool,
    what: str,
) -> tuple[TestResult, SequentialState]:
    # Oriented so that "better" is Δ > θ₀: PASS rejects H0 Δ ≤ θ₀ (Λ⁺), FAIL rejects H0
    # Δ ≥ θ₀ (Λ⁻). Bounds are kept on the caller's scale μ_B − μ_A.
    early = _too_early(control, treatment, min_samples, state, what)
    if early is not None:
        return early
    delta, var, n, mine = _pooled(control, treatment, state)
    sign = 1.0 if higher_is_better else -1.0
    d, t0 = sign * delta, sign * theta0
    tau2 = mixing_variance(n_star, alpha) * n * var
    log_pass = log_mixture_lr_one_sided(d, var, tau2, t0, greater=True)
    log_fail = log_mixture_lr_one_sided(d, var, tau2, t0, greater=False)
    p_pass = min(state.p_pass, min(1.0, math.exp(-log_pass)))
    p_fail = min(state.p_fail, min(1.0, math.exp(-log_fail)))
    u = one_sided_margin(var, tau2, alpha)
    lo, hi = (delta - u, delta + u)
    lower, upper = max(state.lower, lo), min(state.upper, hi)
    new = replace(mine, looks=state.looks + 1, lower=lower, upper=upper, p_pass=p_pass,
                  p_fail=p_fail)
    better = "above" if higher_is_better else "below"
    if p_pass <= alpha:
        decision, p = Decision.PASS, p_pass
        why = f"Δ is {better} {theta0:.6g} (always-valid p = {p_pass:.3g} ≤ α)"
    elif p_fail <= alpha:
        decision, p = Decision.FAIL, p_fail
        why = f"Δ is on the wrong side of {theta0:.6g} (always-valid p = {p_fail:.3g} ≤ α)"
    else:
        decision, p = Decision.CONTINUE, p_pass
        why = f"no conclusion yet about Δ vs {theta0:.6g} (p = {p_pass:.3g})"
    result = TestResult(
        decision,
        delta,
        lower,
        upper,
        p,
        (control.n, treatment.n),
        f"{what}: {why}",
        log_pass,
        {"p_fail": p_fail, "log_lr_fail": log_fail, "theta0": theta0, "tau2": tau2},
    )
    return result, new


def non_inferiority_test(
    control: ArmStats,
    treatment: ArmStats,
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    n_star: float = 5000.0,
    min_samples: int = 100,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """Canary B is not worse than stable A by more than ``margin`` (one-sided, anytime-valid).

    Higher-is-better: H0 Δ ≤ −m is rejected by Λ⁺ → PASS (promote); H0 Δ ≥ −m rejected by Λ⁻
    → FAIL (B is worse than the margin: roll back). Lower-is-better mirrors it around +m.
    ``relative``: m is a fraction of the control mean (m·|μ̂_A|, plug-in, as Spotify Confidence).
    ``lower``/``upper`` are one-sided bounds at α each, intersected over looks (together a
    1 − 2α confidence sequence for Δ = μ_B − μ_A). Strata carried in ``state``
    (``SequentialState.next_stratum``) are pooled with this one as in
    ``guarded_non_inferiority_test``: α is spent once over all of them, not once per stratum.
    """
    _check_alpha(alpha)
    m = _absolute_margin(margin, relative, control)
    theta0 = -m if higher_is_better else m
    return _one_sided_pair(
        control,
        treatment,
        theta0=theta0,
        alpha=alpha,
        n_star=n_star,
        min_samples=min_samples,
        state=state or SequentialState(),
        higher_is_better=higher_is_better,
        what="non-inferiority",
    )


def _absolute_margin(margin: float, relative: bool, control: ArmStats) -> float:
    """The margin on Δ's scale: as given, or a fraction of the control mean (plug-in)."""
    if margin < 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}")
    return margin * abs(control.mean) if relative else margin


def superiority_test(
    control: ArmStats,
    treatment: ArmStats,
    *,
    margin: float = 0.0,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    n_star: float = 5000.0,
    min_samples: int = 100,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """Treated B beats holdout A by more than ``margin`` (one-sided, anytime-valid).

    PASS when H0 Δ ≤ m is rejected (Λ⁺); FAIL when H0 Δ ≥ m is rejected (Λ⁻: B is certainly not
    better by m). Lower-is-better metrics mirror the sign. See ``non_inferiority_test``.
    """
    _check_alpha(alpha)
    m = _absolute_margin(margin, relative, control)
    theta0 = m if higher_is_better else -m
    return _one_sided_pair(
        control,
        treatment,
        theta0=theta0,
        alpha=alpha,
        n_star=n_star,
        min_samples=min_samples,
        state=state or SequentialState(),
        higher_is_better=higher_is_better,
        what="superiority",
    )


def guarded_non_inferiority_test(
    control: ArmStats,
    treatment: ArmStats,
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    n_star: float = 5000.0,
    tau2: float | None = None,
    min_samples: int = 100,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """The gate rule on a difference of means: PASS shows non-inferiority, FAIL shows harm.

    PASS rejects H0 Δ ≤ −m (Λ⁺ at −m: B is no worse than A beyond the margin); FAIL rejects
    H0 Δ ≥ 0 (Λ⁻ at 0: B is worse than A at all); each at α, otherwise CONTINUE. So a canary
    exactly at the margin is promoted with probability ≤ α and an equal canary is rolled back
    with probability ≤ α. Lower-is-better mirrors the signs.

    ``control``/``treatment`` summarise the current stratum (one traffic split, e.g. one ramp
    step). Earlier strata carried in ``state`` (``SequentialState.next_stratum``) are pooled by
    inverse-variance weights, Δ̂ = Σ(Δ̂_s/V_s)/Σ(1/V_s) with V = 1/Σ(1/V_s): the score process
    keeps independent increments across strata, so one mixture covers the whole version and α
    is spent once, while a change of allocation between steps cannot bias Δ̂ (each stratum
    compares arms observed over the same period).

    ``tau2`` fixes the mixture's variance (e.g. c_α·V* for a design variance V*, see
    ``mixing_variance``); the default ρ²(N*)·N·V follows the data, which is only approximately a
    fixed mixture when the allocation changes between strata.
    """
    _check_alpha(alpha)
    state = state or SequentialState()
    early = _too_early(control, treatment, min_samples, state, "non-inferiority")
    if early is not None:
        return early
    delta, var, units, mine = _pooled(control, treatment, state)
    m = _absolute_margin(margin, relative, control)
    sign = 1.0 if higher_is_better else -1.0
    d = sign * delta
    if tau2 is None:
        tau2 = mixing_variance(n_star, alpha) * units * var
    log_pass = log_mixture_lr_one_sided(d, var, tau2, -m, greater=True)
    log_fail = log_mixture_lr_one_sided(d, var, tau2, 0.0, greater=False)
    p_pass = min(state.p_pass, min(1.0, math.exp(-log_pass)))
    p_fail = min(state.p_fail, min(1.0, math.exp(-log_fail)))
    u = one_sided_margin(var, tau2, alpha)
    lower, upper = max(state.lower, delta - u), min(state.upper, delta + u)
    new = replace(mine, looks=state.looks + 1, lower=lower, upper=upper, p_pass=p_pass,
                  p_fail=p_fail)
    theta_pass = -sign * m
    decision, p, why = guarded_decision(p_pass, p_fail, alpha, theta_pass, lower, upper)
    result = TestResult(
        decision, delta, lower, upper, p, (control.n, treatment.n),
        f"non-inferiority: {why}", log_pass,
        {"p_fail": p_fail, "theta0": theta_pass, "tau2": tau2, "variance": var,
         "units": units},
    )
    return result, new


def guarded_decision(p_pass: float, p_fail: float, alpha: float, theta_pass: float,
                     lower: float, upper: float) -> tuple[Decision, float, str]:
    """The guarded rule on the running p-values: FAIL when harm is shown (it wins a tie: the
    stable version is what must be protected), else PASS when non-inferiority is, else CONTINUE;
    with the p-value that decided and why (``lower``/``upper`` the CS on Δ, for CONTINUE)."""
    if p_fail <= alpha:
        return Decision.FAIL, p_fail, f"Δ is worse than 0 (always-valid p = {p_fail:.3g} ≤ α)"
    if p_pass <= alpha:
        return (Decision.PASS, p_pass, f"Δ is no worse than the margin {theta_pass:.6g} "
                                       f"(always-valid p = {p_pass:.3g} ≤ α)")
    return (Decision.CONTINUE, p_pass, f"no conclusion yet: Δ in [{lower:.6g}, {upper:.6g}], "
                                       f"margin {theta_pass:.6g} (p = {p_pass:.3g})")


def fixed_horizon_n(effect: float, variance: float, *, alpha: float = 0.05,
                    power: float = 0.8) -> float:
    """Per-arm n of the one-sided fixed-sample z-test that detects ``effect`` at α with ``power``:
    (z₁₋α + z_power)² · 2σ²/effect², σ² = ``variance`` per unit in each arm."""
    from scipy import special

    _check_alpha(alpha)
    if effect == 0 or variance <= 0:
        raise ValueError("need effect ≠ 0 and variance > 0")
    z = float(special.ndtri(1.0 - alpha) + special.ndtri(power))
    return z * z * 2.0 * variance / (effect * effect)


def mean_one_sided_bounds(mean: float, n: int, sigma: float, *, alpha: float = 0.05,
                          n_star: float = 2000.0) -> tuple[float, float]:
    """Anytime-valid lower and upper bounds for a mean with known per-unit sd ``sigma``, each
    one-sided at level α (half-normal mixtures, ``one_sided_margin``), tightest near ``n_star``.

    Each bound holds at α on its own, simultaneously at every n, so it needs no state between
    looks. A claim that needs *both* (the mean lies within a band: an intersection-union test)
    takes them at α; a claim that needs *either* (the mean lies outside a band) at α/2.
    """
    _check_alpha(alpha)
    if n <= 0 or sigma <= 0:
        return -math.inf, math.inf
    v = sigma * sigma / n
    u = one_sided_margin(v, mixing_variance(n_star, alpha) * n * v, alpha)
    return mean - u, mean + u
