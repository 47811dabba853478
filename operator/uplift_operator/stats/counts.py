"""Anytime-valid tests on event counts: errors, failed deliveries, assignments.

Role: guardrail gates on rates and the sequential SRM check. Each arm's events arrive with
intensity λ_i(t) = ρ_i·e^{δ_i}·λ(t); given that an event happened, it belongs to arm i with
probability θ_i = ρ_i e^{δ_i}/Σ_j ρ_j e^{δ_j}. The shared baseline λ(t) cancels, so daily traffic
cycles cannot raise alarms, and the only state is one cumulative count per arm
(Lindon & Malek, NeurIPS 2022, arXiv:2011.03567; savvi ``multinomial.py``).
Neighbours: ``srm`` (uses ``multinomial_test``), ``sequential`` (the same for means),
``results``. Formulas: ``docs/statistics.md`` §2.

* two-sided: Dirichlet(kρ) mixture, ``log O = ln B(kρ + c) − ln B(kρ) − Σ c_i ln ρ_i``;
* one-sided rate ratio r = (c_B/ρ_B)/(c_A/ρ_A) against r₀ = 1 + m: a Beta(kθ₀, k(1−θ₀)) prior
  truncated to θ > θ₀ (or θ < θ₀), with θ₀ = ρ_B r₀/(ρ_A + ρ_B r₀).

Shares ρ must stay fixed within a stratum: when a ramp changes the split, count from the
change and go on with ``SequentialState.next_stratum()``, which carries the evidence so far
(the e-values multiply across strata). The bounds invert that product too, as a function of
the rate ratio: the state keeps each stratum's two counts and share (``_carried_strata``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import overload

import numpy as np
import numpy.typing as npt

from .results import Decision, SequentialState, TestResult

# scipy is imported inside the functions that use it: importing this module (as the idle
# operator does) must not load scipy (docs/operator.md, "Footprint").

__all__ = [
    "DEFAULT_CONCENTRATION",
    "log_beta_bf_one_sided",
    "log_dirichlet_bf",
    "multinomial_test",
    "p_value_of",
    "proportion_bound_test",
    "rate_ratio_test",
]

FloatArray = npt.NDArray[np.float64]
#: Prior concentration k of the Dirichlet(kρ) mixture; savvi's default.
DEFAULT_CONCENTRATION = 100.0
_LOG_FLOOR = -1.0e4  # log-evidence floor, keeps root finding finite where a tail underflows


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _shares(shares: Sequence[float] | FloatArray) -> FloatArray:
    rho = np.asarray(shares, dtype=np.float64)
    if rho.ndim != 1 or rho.size < 2 or np.any(rho <= 0) or not np.all(np.isfinite(rho)):
        raise ValueError(f"need ≥ 2 positive finite shares, got {shares!r}")
    normalised: FloatArray = rho / rho.sum()
    return normalised


#: How far from a whole number a count given as a float may be and still count as that number:
#: float noise (a sum of float counters), not a fraction of an event.
_INTEGRAL_TOLERANCE = 1e-9


def _event_counts(counts: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Event counts as integers, checked before any conversion: finite, ≥ 0 and whole (to within
    float noise, then rounded to the nearest). ``np.asarray(counts, dtype=np.int64)`` alone
    truncated first, so ``-0.5`` became a valid 0 and ``29.7`` a 29. A count with a fraction of
    an event is refused, not rounded: the tests' likelihoods are of whole events, and a fraction
    means the caller holds a rate or an extrapolated estimate (``increase()``), which rounding
    would pass off as observed events; such a caller decides itself how to make them whole."""
    x = np.asarray(counts, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"counts must be finite, got {counts!r}")
    if np.any(x < 0):
        raise ValueError(f"counts must be nonnegative, got {counts!r}")
    whole = np.rint(x)
    if np.any(np.abs(x - whole) > _INTEGRAL_TOLERANCE * np.maximum(1.0, whole)):
        raise ValueError(f"counts must be whole numbers of events, got {counts!r}")
    if np.any(whole >= 2.0**63):
        raise ValueError(f"counts too large, got {counts!r}")
    return whole.astype(np.int64)


def log_dirichlet_bf(
    counts: npt.ArrayLike, shares: Sequence[float] | FloatArray, k: float = DEFAULT_CONCENTRATION
) -> FloatArray | float:
    """log O_n of the Dirichlet(kρ)-mixture test of H0: θ = ρ (counts on the last axis)."""
    from scipy import special

    rho = _shares(shares)
    c = np.asarray(counts, dtype=np.float64)
    a = k * rho

    def log_mvbeta(x: FloatArray) -> FloatArray:
        out: FloatArray = np.sum(special.gammaln(x), axis=-1) - special.gammaln(np.sum(x, axis=-1))
        return out

    out = log_mvbeta(a + c) - log_mvbeta(a) - np.sum(c * np.log(rho), axis=-1)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)


@overload
def log_beta_bf_one_sided(
    n_b: float, n_a: float, theta0: float, k: float = ..., *, greater: bool = ...
) -> float: ...
@overload
def log_beta_bf_one_sided(
    n_b: FloatArray, n_a: FloatArray, theta0: float, k: float = ..., *, greater: bool = ...
) -> FloatArray: ...
def log_beta_bf_one_sided(
    n_b: FloatArray | float,
    n_a: FloatArray | float,
    theta0: float,
    k: float = DEFAULT_CONCENTRATION,
    *,
    greater: bool = True,
) -> FloatArray | float:
    """log BF of H1 θ > θ₀ (``greater``) or θ < θ₀ vs H0 θ = θ₀ with n_b of n_a + n_b events in B.

    Prior Beta(a = kθ₀, b = k(1−θ₀)) truncated to the alternative side:
    BF = B(a+n_B, b+n_A)·T(a+n_B, b+n_A) / [B(a, b)·T(a, b)] / (θ₀^{n_B}(1−θ₀)^{n_A}), where
    T = 1 − I_θ₀ (greater) or I_θ₀ (less). The likelihood ratio is monotone on the alternative
    side, so the BF is a supermartingale for every θ on the null side.
    """
    if not 0.0 < theta0 < 1.0:
        raise ValueError(f"theta0 must be in (0, 1), got {theta0}")
    from scipy import special

    nb = np.asarray(n_b, dtype=np.float64)
    na = np.asarray(n_a, dtype=np.float64)
    a, b = k * theta0, k * (1.0 - theta0)
    tail = special.betaincc if greater else special.betainc
    with np.errstate(divide="ignore"):
        log_post = np.log(tail(a + nb, b + na, theta0))
        log_prior = math.log(float(tail(a, b, theta0)))
    out = (
        special.betaln(a + nb, b + na)
        + log_post
        - special.betaln(a, b)
        - log_prior
        - nb * math.log(theta0)
        - na * math.log1p(-theta0)
    )
    out = np.maximum(out, _LOG_FLOOR)
    return float(out) if out.ndim == 0 else out


def _log_bf_one_sided_each(n_b: FloatArray, n_a: FloatArray, theta0: FloatArray, k: float,
                           *, greater: bool) -> FloatArray:
    """``log_beta_bf_one_sided`` of several strata at once, each at its own θ₀ in (0, 1)."""
    from scipy import special

    a, b = k * theta0, k * (1.0 - theta0)
    tail = special.betaincc if greater else special.betainc
    with np.errstate(divide="ignore"):  # a tail that underflows: the floor below
        out: FloatArray = (special.betaln(a + n_b, b + n_a) + np.log(tail(a + n_b, b + n_a, theta0))
                           - special.betaln(a, b) - np.log(tail(a, b, theta0))
                           - n_b * np.log(theta0) - n_a * np.log1p(-theta0))
    return np.maximum(out, _LOG_FLOOR)


def _theta_of_ratio(r: float, rho_a: float, rho_b: float) -> float:
    return rho_b * r / (rho_a + rho_b * r)


def _ratio_of_theta(theta: float, rho_a: float, rho_b: float) -> float:
    if theta >= 1.0:
        return math.inf
    return theta * rho_a / ((1.0 - theta) * rho_b)


_EPS = 1e-12


def _invert(log_bf: Callable[[float], float], target: float, theta_hat: float, *, below: bool) -> float:
    """The θ₀ where log_bf(θ₀) crosses ``target`` on one side of θ̂ (log_bf(θ̂) ≤ 0 < target)."""
    from scipy import optimize

    edge = _EPS if below else 1.0 - _EPS
    inner = min(max(theta_hat, _EPS), 1.0 - _EPS)
    if log_bf(edge) < target:
        return 0.0 if below else 1.0
    return float(optimize.brentq(lambda t: log_bf(t) - target, *sorted((edge, inner)), xtol=1e-14))


def _two_arm_log_bf(c_a: int, c_b: int, theta0: float, k: float) -> float:
    """``log_dirichlet_bf([c_a, c_b], [1 − θ₀, θ₀], k)`` in scalar arithmetic: the root finder
    that inverts it calls it ≈ 40 times per bound, where numpy's per-call cost on two-element
    arrays was most of a two-arm SRM check's time (``tests/unit/stats`` pins the equality)."""
    total = (1.0 - theta0) + theta0  # the shares normalised as ``_shares`` does
    rho_a, rho_b = (1.0 - theta0) / total, theta0 / total
    a_a, a_b = k * rho_a, k * rho_b
    lgamma = math.lgamma
    return ((lgamma(a_a + c_a) + lgamma(a_b + c_b) - lgamma(a_a + a_b + c_a + c_b))
            - (lgamma(a_a) + lgamma(a_b) - lgamma(a_a + a_b))
            - (c_a * math.log(rho_a) + c_b * math.log(rho_b)))


def _two_arm_cs(
    c_a: int, c_b: int, rho_a: float, rho_b: float, alpha: float, k: float
) -> tuple[float, float]:
    # Invert the two-sided Beta mixture (prior centred on each candidate θ₀): valid CS for θ,
    # mapped to the rate ratio.
    target = math.log(1.0 / alpha)
    theta_hat = c_b / (c_a + c_b)

    def lbf(theta0: float) -> float:
        return _two_arm_log_bf(c_a, c_b, theta0, k)

    lo = _invert(lbf, target, theta_hat, below=True)
    hi = _invert(lbf, target, theta_hat, below=False)
    return _ratio_of_theta(lo, rho_a, rho_b), _ratio_of_theta(hi, rho_a, rho_b)


#: A stratum's record in ``SequentialState.counts``, which the count tests' bounds need once the
#: traffic split has changed: its two counts (first arm, second arm) and the second arm's share
#: in units of 10⁻¹⁵ (the state's counts are integers, ``status.gates[].sequentialState``).
_SHARE_UNITS = 10**15
#: Strata whose records are kept (3 integers each, well within the status's 256 counts). A
#: version with more ramp steps keeps its bounds as they are from then on: valid, no narrower.
MAX_BOUND_STRATA = 32

_Stratum = tuple[int, int, float]  # (count of the first arm, of the second, second's share)


def _carried_strata(state: SequentialState) -> list[_Stratum] | None:
    """The completed strata whose evidence the bounds add to this stratum's, or None where
    they are not known (a state written before the records were kept, more strata than
    ``MAX_BOUND_STRATA``): the bounds then stay as they are. ``units`` > 0 marks the last
    record as this stratum's own (written at its last look; ``next_stratum`` zeroes it)."""
    c = state.counts
    if len(c) % 3:
        return None
    records = [(c[i], c[i + 1], c[i + 2] / _SHARE_UNITS) for i in range(0, len(c), 3)]
    if state.units > 0:
        return records[:-1] if records else None
    if (state.looks > 0 and not records) or len(records) >= MAX_BOUND_STRATA:
        return None
    return records


def _recorded(state: SequentialState, carried: list[_Stratum] | None, c_a: int, c_b: int,
              rho_b: float) -> SequentialState:
    """``state`` keeping this stratum's record after the carried ones (as it is with None)."""
    if carried is None:
        return state
    flat = [x for n_a, n_b, rb in carried for x in (n_a, n_b, round(rb * _SHARE_UNITS))]
    return replace(state, counts=(*flat, c_a, c_b, round(rho_b * _SHARE_UNITS)),
                   units=float(c_a + c_b))


def _clip(theta: float) -> float:
    return min(max(theta, _EPS), 1.0 - _EPS)


def _summed(log_bf: Callable[[int, int, float], float], c_a: int, c_b: int, rho_b: float,
            carried: list[_Stratum],
            log_bf_each: Callable[[FloatArray, FloatArray, FloatArray], FloatArray] | None = None,
            ) -> Callable[[float], float]:
    """θ ↦ the log evidence against the rate ratio r(θ) summed over the carried strata and this
    one, θ on this stratum's scale (θ = ρ_B r/(ρ_A + ρ_B r)). A stratum's e-value at its last look
    times the next stratum's test supermartingale is again one, for every r (the same product the
    decisions' carried evidence is), so inverting the sum gives a confidence sequence over the
    whole version; this stratum's evidence alone would spend α again at every step.
    ``log_bf(n_b, n_a, θ₀)`` is one stratum's evidence against θ₀ with n_b of n_a + n_b events
    in the second arm; ``log_bf_each`` the same of several strata at once (arrays), if given."""
    rho_a = 1.0 - rho_b
    n_a_s = np.array([s[0] for s in carried] + [c_a], dtype=np.float64)
    n_b_s = np.array([s[1] for s in carried] + [c_b], dtype=np.float64)
    rho_s = np.array([s[2] for s in carried] + [rho_b], dtype=np.float64)

    def total(theta: float) -> float:
        if not carried:
            return log_bf(c_b, c_a, theta)
        r = _ratio_of_theta(theta, rho_a, rho_b)
        if log_bf_each is not None and math.isfinite(r):
            # every stratum at once, this one (the last) at θ itself
            thetas = np.clip(rho_s * r / ((1.0 - rho_s) + rho_s * r), _EPS, 1.0 - _EPS)
            thetas[-1] = theta
            return float(np.sum(log_bf_each(n_b_s, n_a_s, thetas)))
        out = log_bf(c_b, c_a, theta)
        for n_a, n_b, rb in carried:
            out += log_bf(n_b, n_a, _clip(_theta_of_ratio(r, 1.0 - rb, rb)))
        return out

    return total


def _pooled_theta(c_a: int, c_b: int, rho_b: float, carried: list[_Stratum]) -> float:
    """The maximum-likelihood r of all strata together, on this stratum's θ scale."""
    from scipy import optimize

    rho_a = 1.0 - rho_b

    def score(theta: float) -> float:
        r = _ratio_of_theta(theta, rho_a, rho_b)
        out = c_b - (c_a + c_b) * theta
        for n_a, n_b, rb in carried:
            out += n_b - (n_a + n_b) * _theta_of_ratio(r, 1.0 - rb, rb)
        return out

    lo, hi = _EPS, 1.0 - _EPS
    if score(lo) <= 0:
        return lo
    if score(hi) >= 0:
        return hi
    return float(optimize.brentq(score, lo, hi, xtol=1e-14))


def _carried_bounds(lbf_lo: Callable[[float], float], lbf_hi: Callable[[float], float],
                    target: float, pooled: float, *, two_sided: bool) -> tuple[float, float]:
    """θ bounds from summed evidence: ``lbf_lo`` rejects θ₀ below the truth (non-increasing
    in θ₀ for the one-sided mixtures), ``lbf_hi`` above it. The inversion starts from the pooled
    estimate (or, failing that, where the evidence is least); where every θ₀ on a side is
    rejected the set is empty on that side (lower above upper, or the least-evidence point
    for the two-sided test)."""
    from scipy import optimize

    def least(f: Callable[[float], float], fallback: float) -> float:
        if f(pooled) < target:
            return pooled
        if not two_sided:
            return fallback
        found = optimize.minimize_scalar(f, bounds=(_EPS, 1.0 - _EPS), method="bounded",
                                         options={"xatol": 1e-12})
        return float(found.x)

    inner_lo = least(lbf_lo, 1.0 - _EPS)
    inner_hi = inner_lo if two_sided else least(lbf_hi, _EPS)
    if lbf_lo(inner_lo) >= target:
        return (inner_lo, inner_lo) if two_sided else (1.0, 0.0)
    lo = _invert(lbf_lo, target, inner_lo, below=True)
    hi = _invert(lbf_hi, target, inner_hi, below=False) if lbf_hi(inner_hi) < target else 0.0
    return lo, hi


def _one_sided_theta_bounds(
    carried: list[_Stratum], c_a: int, c_b: int, rho_b: float, alpha: float, k: float
) -> tuple[float, float]:
    """This look's θ bounds of the one-sided pair, each at α, from the evidence summed over the
    carried strata and this one."""
    target = math.log(1.0 / alpha)

    def worse(n_b: int, n_a: int, t: float) -> float:
        return float(log_beta_bf_one_sided(n_b, n_a, t, k, greater=True))

    def better(n_b: int, n_a: int, t: float) -> float:
        return float(log_beta_bf_one_sided(n_b, n_a, t, k, greater=False))

    def worse_each(n_b: FloatArray, n_a: FloatArray, t: FloatArray) -> FloatArray:
        return _log_bf_one_sided_each(n_b, n_a, t, k, greater=True)

    def better_each(n_b: FloatArray, n_a: FloatArray, t: FloatArray) -> FloatArray:
        return _log_bf_one_sided_each(n_b, n_a, t, k, greater=False)

    lbf_lo = _summed(worse, c_a, c_b, rho_b, carried, worse_each)
    lbf_hi = _summed(better, c_a, c_b, rho_b, carried, better_each)
    if carried:
        pooled = _pooled_theta(c_a, c_b, rho_b, carried)
        lo, hi = _carried_bounds(lbf_lo, lbf_hi, target, pooled, two_sided=False)
    else:
        theta_hat = c_b / (c_a + c_b)
        lo = _invert(lbf_lo, target, theta_hat, below=True)
        hi = _invert(lbf_hi, target, theta_hat, below=False)
    return lo, hi


def _two_arm_carried_cs(c_a: int, c_b: int, rho_b: float, carried: list[_Stratum], alpha: float,
                        k: float) -> tuple[float, float]:
    """``_two_arm_cs`` with the carried strata's evidence added (``_summed``)."""
    def lbf(n_b: int, n_a: int, theta0: float) -> float:
        return _two_arm_log_bf(n_a, n_b, theta0, k)

    total = _summed(lbf, c_a, c_b, rho_b, carried)
    pooled = _pooled_theta(c_a, c_b, rho_b, carried)
    lo, hi = _carried_bounds(total, total, math.log(1.0 / alpha), pooled, two_sided=True)
    rho_a = 1.0 - rho_b
    return _ratio_of_theta(lo, rho_a, rho_b), _ratio_of_theta(hi, rho_a, rho_b)


def multinomial_test(
    counts: Sequence[float],
    shares: Sequence[float],
    *,
    alpha: float = 0.05,
    k: float = DEFAULT_CONCENTRATION,
    min_events: int = 20,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """Two-sided sequential test of H0: events fall in the arms in proportion to ``shares``.

    FAIL when O_n ≥ 1/α at any look (tracked by the running-min p-value), else CONTINUE: equality
    is never proven. ``estimate`` is the rate ratio of the last arm against the first,
    (c_last/ρ_last)/(c_0/ρ_0); with two arms ``lower``/``upper`` are its confidence sequence
    (running intersection), with more arms NaN. ``counts`` must be finite, ≥ 0 and whole
    numbers of events (floats within float noise of one included): ``ValueError`` otherwise
    (``_event_counts`` says why they are not rounded).
    """
    _check_alpha(alpha)
    rho = _shares(shares)
    c = _event_counts(counts)
    if c.shape != rho.shape:
        raise ValueError("counts must be one per share")
    state = state or SequentialState()
    samples = tuple(int(x) for x in c)
    ratio = (c[-1] / rho[-1]) / (c[0] / rho[0]) if c[0] > 0 else (math.inf if c[-1] else math.nan)
    if c.sum() < max(min_events, 1):
        why = f"multinomial: too few events ({int(c.sum())} < {max(min_events, 1)})"
        res = TestResult(
            Decision.CONTINUE, float(ratio), state.lower, state.upper, state.p_pass, samples, why
        )
        return res, state
    log_o = float(log_dirichlet_bf(c, rho, k))
    p = min(state.p_pass, p_value_of(state.carried_log_fail + log_o))
    lower, upper = state.lower, state.upper
    carried = _carried_strata(state) if c.size == 2 else None
    if carried == []:
        lo, hi = _two_arm_cs(int(c[0]), int(c[1]), float(rho[0]), float(rho[1]), alpha, k)
        lower, upper = max(lower, lo), min(upper, hi)
    elif carried:
        lo, hi = _two_arm_carried_cs(int(c[0]), int(c[1]), float(rho[1]), carried, alpha, k)
        lower, upper = max(lower, lo), min(upper, hi)
    elif c.size != 2:
        lower, upper = math.nan, math.nan
    new = replace(_recorded(state, carried, int(c[0]), int(c[-1]), float(rho[-1])),
                  looks=state.looks + 1, lower=lower, upper=upper, p_pass=p, p_fail=p,
                  log_fail=log_o)
    if p <= alpha:
        decision = Decision.FAIL
        why = f"multinomial: counts {samples} depart from shares (always-valid p = {p:.3g} ≤ α)"
    else:
        decision = Decision.CONTINUE
        why = f"multinomial: counts {samples} consistent with shares so far (p = {p:.3g})"
    res = TestResult(decision, float(ratio), lower, upper, p, samples, why, log_o, {"concentration": k})
    return res, new


def rate_ratio_test(
    control_events: int,
    treatment_events: int,
    *,
    control_exposure: float,
    treatment_exposure: float,
    margin: float = 0.0,
    fail_margin: float | None = None,
    alpha: float = 0.05,
    k: float = DEFAULT_CONCENTRATION,
    min_events: int = 20,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """One-sided sequential test of "B's event rate is at most (1 + m) × A's" (events are bad).

    ``fail_margin`` (default: ``margin``) sets the FAIL null apart from the PASS one: with
    ``margin=m, fail_margin=0`` PASS shows r < 1 + m (non-inferiority) and FAIL shows r > 1
    (harm beyond zero), each at α. Evidence carried in ``state`` from earlier strata (other
    traffic splits, ``SequentialState.next_stratum``) multiplies this stratum's.

    Exposures are the arms' traffic shares (or exposure counts in a fixed split); only their
    ratio matters. With r₀ = 1 + m and θ₀ = ρ_B r₀/(ρ_A + ρ_B r₀): FAIL (roll back) when the
    truncated-Beta BF for θ > θ₀ reaches 1/α (B's rate exceeds (1+m)× A's), PASS when the BF for
    θ < θ₀ does (B's rate is below (1+m)× A's). ``estimate`` = r̂ = (c_B/ρ_B)/(c_A/ρ_A);
    ``lower``/``upper`` invert the two one-sided BFs at α each (summed over the strata as
    functions of r), intersected over looks.
    ``p_value`` is that of the FAIL null unless the decision is PASS.
    """
    _check_alpha(alpha)
    if margin < 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}")
    if control_exposure <= 0 or treatment_exposure <= 0:
        raise ValueError("exposures must be > 0")
    if control_events < 0 or treatment_events < 0:
        raise ValueError("event counts must be ≥ 0")
    state = state or SequentialState()
    rho_a = control_exposure / (control_exposure + treatment_exposure)
    rho_b = 1.0 - rho_a
    c_a, c_b = int(control_events), int(treatment_events)
    samples = (c_a, c_b)
    r0 = 1.0 + margin
    ratio = (c_b / rho_b) / (c_a / rho_a) if c_a > 0 else (math.inf if c_b else math.nan)
    if c_a + c_b < max(min_events, 1):
        why = f"rate ratio: too few events ({c_a + c_b} < {max(min_events, 1)})"
        p0 = min(state.p_pass, state.p_fail)
        res = TestResult(Decision.CONTINUE, ratio, state.lower, state.upper, p0, samples, why)
        return res, state
    r1 = 1.0 + (margin if fail_margin is None else fail_margin)
    if r1 <= 0:
        raise ValueError(f"fail_margin must be > -1, got {fail_margin}")
    theta0 = _theta_of_ratio(r0, rho_a, rho_b)
    theta1 = _theta_of_ratio(r1, rho_a, rho_b)
    log_worse = float(log_beta_bf_one_sided(c_b, c_a, theta1, k, greater=True))
    log_better = float(log_beta_bf_one_sided(c_b, c_a, theta0, k, greater=False))
    p_fail = min(state.p_fail, p_value_of(state.carried_log_fail + log_worse))
    p_pass = min(state.p_pass, p_value_of(state.carried_log_pass + log_better))
    lower, upper = state.lower, state.upper
    carried = _carried_strata(state)
    if carried is not None:
        lo, hi = _one_sided_theta_bounds(carried, c_a, c_b, rho_b, alpha, k)
        lower = max(lower, _ratio_of_theta(lo, rho_a, rho_b))
        upper = min(upper, _ratio_of_theta(hi, rho_a, rho_b))
    new = replace(_recorded(state, carried, c_a, c_b, rho_b), looks=state.looks + 1,
                  lower=lower, upper=upper, p_pass=p_pass, p_fail=p_fail, log_pass=log_better,
                  log_fail=log_worse)
    if p_fail <= alpha:
        decision, p = Decision.FAIL, p_fail
        why = f"rate ratio: B's rate exceeds {r1:.4g}× A's (always-valid p = {p_fail:.3g} ≤ α)"
    elif p_pass <= alpha:
        decision, p = Decision.PASS, p_pass
        why = f"rate ratio: B's rate is below {r0:.4g}× A's (always-valid p = {p_pass:.3g} ≤ α)"
    else:
        decision, p = Decision.CONTINUE, p_fail
        why = f"rate ratio: no conclusion about r vs {r0:.4g} yet"
    res = TestResult(
        decision,
        ratio,
        lower,
        upper,
        p,
        samples,
        why,
        log_worse,
        {"p_pass": p_pass, "log_bf_better": log_better, "theta0": theta0, "r0": r0, "r1": r1},
    )
    return res, new


def p_value_of(log_evidence: float) -> float:
    """Always-valid p-value of one look: 1/E, capped at 1."""
    return 1.0 if log_evidence <= 0 else math.exp(-log_evidence)


def proportion_bound_test(
    events: int,
    trials: int,
    bound: float,
    *,
    alpha: float = 0.05,
    k: float = DEFAULT_CONCENTRATION,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """One-sample sequential test of an event probability p against a ceiling ``bound``.

    PASS when p < ``bound`` is shown (the truncated-Beta BF for θ < bound reaches 1/α), FAIL when
    p > ``bound`` is shown; otherwise CONTINUE. The Beta-binomial mixture is exact at any sample
    size, so a service with no errors at all passes a ceiling once enough requests are seen.
    Evidence carried in ``state`` from earlier strata multiplies this one's.
    """
    _check_alpha(alpha)
    if not 0.0 < bound < 1.0:
        raise ValueError(f"bound must be in (0, 1), got {bound}")
    if not 0 <= events <= trials:
        raise ValueError(f"need 0 ≤ events ≤ trials, got {events}/{trials}")
    state = state or SequentialState()
    rate = events / trials if trials else math.nan
    if trials == 0:
        res = TestResult(Decision.CONTINUE, rate, state.lower, state.upper, state.p_pass,
                         (events, trials), "proportion: no trials yet")
        return res, state
    log_above = float(log_beta_bf_one_sided(events, trials - events, bound, k, greater=True))
    log_below = float(log_beta_bf_one_sided(events, trials - events, bound, k, greater=False))
    p_fail = min(state.p_fail, p_value_of(state.carried_log_fail + log_above))
    p_pass = min(state.p_pass, p_value_of(state.carried_log_pass + log_below))
    # The strata share p itself (no split enters it): recorded as events against non-events
    # at equal shares, where r = θ/(1 − θ) maps θ to θ in every stratum.
    lower, upper = state.lower, state.upper
    carried = _carried_strata(state)
    if carried is not None:
        lo, hi = _one_sided_theta_bounds(carried, trials - events, events, 0.5, alpha, k)
        lower, upper = max(lower, lo), min(upper, hi)
    new = replace(_recorded(state, carried, trials - events, events, 0.5), looks=state.looks + 1,
                  lower=lower, upper=upper, p_pass=p_pass, p_fail=p_fail, log_pass=log_below,
                  log_fail=log_above)
    if p_fail <= alpha:
        decision, p = Decision.FAIL, p_fail
        why = f"proportion {rate:.4g} is above {bound:.4g} (always-valid p = {p_fail:.3g} ≤ α)"
    elif p_pass <= alpha:
        decision, p = Decision.PASS, p_pass
        why = f"proportion {rate:.4g} is below {bound:.4g} (always-valid p = {p_pass:.3g} ≤ α)"
    else:
        decision, p = Decision.CONTINUE, min(p_pass, p_fail)
        why = f"proportion {rate:.4g}: no conclusion about {bound:.4g} yet"
    res = TestResult(decision, rate, lower, upper, p, (events, trials), why, log_below,
                     {"p_fail": p_fail, "bound": bound})
    return res, new
