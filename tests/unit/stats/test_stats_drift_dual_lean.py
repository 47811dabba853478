"""``psi_bounds``' dual, evaluated in kept buffers one λ at a time (``stats.drift._Dual``), gives
the bounds the straightforward evaluation gave, bit for bit: the same points λ, in the same
order, with the same arithmetic. The reference below is the earlier code, kept as written."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from uplift_operator.stats import drift
from uplift_operator.stats.drift import pearson_radius, psi_bounds, psi_value

Array = npt.NDArray[np.float64]


def _reference_grid_values(bound_at: Callable[[Array], Array], sign: float) -> Array:
    values = sign * bound_at(drift._LAMBDAS[:2])
    done = values.size
    while values[-1] < values[-2] and done < drift._LAMBDAS.size:
        more = sign * bound_at(drift._LAMBDAS[done:done + drift._SCAN])
        rises = np.flatnonzero(np.diff(np.r_[values[-1], more]) >= 0)
        values = np.r_[values, more]
        done += more.size
        if rises.size:
            break
    return values


def _reference_refine(bound_at: Callable[[Array], Array], *, minimise: bool) -> float:
    sign = 1.0 if minimise else -1.0
    values = _reference_grid_values(bound_at, sign)
    best = int(np.argmin(values))
    if best == 0:
        return float(sign * values[0])
    left = math.log(drift._LAMBDAS[max(best - 1, 1)])
    right = math.log(drift._LAMBDAS[min(best + 1, drift._LAMBDAS.size - 1)])
    ratio = (math.sqrt(5.0) - 1.0) / 2.0

    def at(x: float) -> float:
        return float(sign * bound_at(np.array([math.exp(x)]))[0])

    x1, x2 = right - ratio * (right - left), left + ratio * (right - left)
    f1, f2 = at(x1), at(x2)
    best_value = min(float(np.min(values)), f1, f2)
    for _ in range(19):
        if f1 <= f2:
            right, x2, f2 = x2, x1, f1
            x1 = right - ratio * (right - left)
            f1 = at(x1)
            best_value = min(best_value, f1)
        else:
            left, x1, f1 = x1, x2, f2
            x2 = left + ratio * (right - left)
            f2 = at(x2)
            best_value = min(best_value, f2)
    return sign * best_value


def _reference_bin_terms(a_hat: Array, e: Array, radius: float) -> tuple[Array, Array]:
    reach = np.sqrt(radius * a_hat + radius * radius / 4.0)
    lo = np.clip(a_hat + radius / 2.0 - reach, 0.0, 1.0)
    hi = np.clip(a_hat + radius / 2.0 + reach, 0.0, 1.0)
    grid = lo + (hi - lo) * np.linspace(0.0, 1.0, drift._GRID)[None, :]
    floored = np.maximum(grid, drift.PSI_EMPTY_SHARE)
    g = (floored - e) * np.log(floored / e)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(grid > 0, (a_hat - grid) ** 2 / grid, np.where(a_hat > 0, np.inf, 0.0))
    return g, h


def _reference_bounds(ref: Array, cur: Array, alpha: float, n_star: float, alpha_lower: float,
                      n_star_lower: float) -> tuple[float, float, float]:
    n = float(cur.sum())
    e = np.maximum(ref / ref.sum(), drift.PSI_EMPTY_SHARE)[:, None]
    a_hat = (cur / n)[:, None]
    dims = ref.size - 1
    upper_radius = pearson_radius(n, alpha=alpha, dims=dims, n_star=n_star)
    lower_radius = pearson_radius(n, alpha=alpha_lower, dims=dims, n_star=n_star_lower)
    g_up, h_up = _reference_bin_terms(a_hat, e, upper_radius)
    g_low, h_low = _reference_bin_terms(a_hat, e, lower_radius)

    def upper_at(lam: Array) -> Array:
        inner = np.max(g_up[None] - lam[:, None, None] * h_up[None], axis=2)
        out: Array = lam * upper_radius + inner.sum(axis=1)
        return out

    def lower_at(lam: Array) -> Array:
        inner = np.min(g_low[None] + lam[:, None, None] * h_low[None], axis=2)
        out: Array = inner.sum(axis=1) - lam * lower_radius
        return out

    upper = _reference_refine(upper_at, minimise=True)
    lower = _reference_refine(lower_at, minimise=False)
    return psi_value(ref, cur), max(lower, 0.0), upper


def _bits(values: tuple[float, ...]) -> list[int]:
    return [int(x) for x in np.array(values, dtype=np.float64).view(np.int64)]


def test_the_bounds_equal_the_straightforward_evaluation_bit_for_bit() -> None:
    rng = np.random.default_rng(2026)
    for case in range(400):
        bins = int(rng.choice([2, 3, 5, 10, 10, 20]))
        shares = (np.full(bins, 1.0 / bins) if case % 4 == 0
                  else rng.dirichlet(np.full(bins, rng.choice([0.3, 1.0, 5.0]))))
        ref = rng.multinomial(int(rng.choice([200, 50_000])), shares).astype(float)
        if case % 9 == 0:
            ref[rng.integers(bins)] = 0.0  # an empty reference bin: the floor
        tilt = np.exp(rng.normal(0.0, rng.choice([0.0, 0.2, 1.0]), bins))
        live = shares * tilt / np.sum(shares * tilt)
        cur = rng.multinomial(int(np.exp(rng.uniform(0.0, math.log(30_000)))), live).astype(float)
        alpha = float(rng.choice([0.05, 0.01]))
        n_star = float(rng.choice([300.0, 762.0, 5000.0]))
        same = case % 3 == 0
        alpha_lower = alpha if same else alpha / 70
        n_star_lower = n_star if same else float(rng.choice([1940.0, 20_000.0]))
        got = psi_bounds(ref, cur, alpha=alpha, n_star=n_star, alpha_lower=alpha_lower,
                         n_star_lower=n_star_lower)
        want = _reference_bounds(ref, cur, alpha, n_star, alpha_lower, n_star_lower)
        assert _bits(got) == _bits(want), (case, got, want)
