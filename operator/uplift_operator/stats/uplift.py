"""Uplift evaluation: Qini and uplift (gain) curves, their areas, uplift@k, bootstrap CIs.

Role: the offline model gate. The trainer (``uplift_operator.model``) scores a holdout with these
functions, and the Campaign report reuses them on live outcomes. Pure numpy; no I/O.
Neighbours: ``economics`` (what the uplift is worth), ``sequential`` (online gates).

Conventions (see ``docs/statistics.md`` §Uplift metrics):

* rows are sorted by ``score`` descending, ties kept as a block (a tie block is one threshold:
  a policy cannot separate units with equal scores);
* ``Q(k) = Y_t(k) − Y_c(k)·N_t(k)/N_c(k)`` (Qini, Radcliffe 2007) and
  ``G(k) = (Y_t(k)/N_t(k) − Y_c(k)/N_c(k))·k`` (uplift / cumulative gain), with a ratio whose
  denominator is zero taken as 0 — exactly as scikit-uplift 0.5.1 does;
* curves are returned at every ``k = 0..N``; inside a tie block they are linear between the
  block's end points, so the trapezoidal area equals scikit-uplift's (which keeps only the
  block end points);
* ``qini_coefficient``/``auuc`` with ``normalize=True`` equal sklift ``qini_auc_score``
  (``negative_effect=True``) / ``uplift_auc_score``: (area − random)/(perfect − random); a
  random ranking scores ≈ 0 and the perfect ranking 1. With ``normalize=False`` they return the
  area between the curve and the random line with x as the *fraction* targeted, in outcome units
  (incremental outcomes for Qini; ``N``·uplift for the gain curve);
* ``qini_score_causalml``/``auuc_score_causalml`` reproduce causalml 0.18 ``qini_score`` /
  ``auuc_score`` (row-by-row curve, no tie blocks). Note ``auuc_score_causalml`` of a random
  ranking is ≈ 0.5, not 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "UpliftMetric",
    "auuc",
    "auuc_score_causalml",
    "bootstrap_ci",
    "bootstrap_replicates",
    "one_sided_bounds",
    "paired_difference_bounds",
    "per_treatment",
    "percentile_replicates_needed",
    "perfect_qini_score",
    "perfect_uplift_score",
    "qini_coefficient",
    "qini_curve",
    "qini_score_causalml",
    "uplift_at_k",
    "uplift_curve",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: A metric of (y, treatment, score) → float, e.g. ``qini_coefficient`` or a ``functools.partial``.
UpliftMetric = Callable[[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike], float]


def _as_inputs(
    y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    ya = np.asarray(y, dtype=np.float64).ravel()
    ta = np.asarray(treatment, dtype=np.float64).ravel()
    sa = np.asarray(score, dtype=np.float64).ravel()
    if not (ya.size == ta.size == sa.size):
        raise ValueError(f"length mismatch: y={ya.size}, treatment={ta.size}, score={sa.size}")
    if ya.size == 0:
        raise ValueError("empty input")
    if not np.all((ta == 0.0) | (ta == 1.0)):
        raise ValueError("treatment must be 0/1")
    if not (np.all(np.isfinite(ya)) and np.all(np.isfinite(sa))):
        raise ValueError("y and score must be finite")
    return ya, ta, sa


class _Cumulative:
    """Cumulative arm counts and outcome sums after sorting by score (descending, stable)."""

    __slots__ = ("n", "n_c", "n_t", "thresholds", "y_c", "y_t")

    def __init__(self, y: FloatArray, t: FloatArray, score: FloatArray) -> None:
        # mergesort on the reversed order = sklift's `argsort(kind="mergesort")[::-1]`.
        order = np.argsort(score, kind="mergesort")[::-1]
        ys, ts, ss = y[order], t[order], score[order]
        self.n = ys.size
        self.n_t = np.cumsum(ts)
        self.n_c = np.arange(1, self.n + 1, dtype=np.float64) - self.n_t
        self.y_t = np.cumsum(ys * ts)
        self.y_c = np.cumsum(ys * (1.0 - ts))
        # index (0-based) of the last row of each tie block
        self.thresholds: IntArray = np.r_[np.flatnonzero(np.diff(ss)), self.n - 1].astype(np.int64)


def _safe_div(a: FloatArray, b: FloatArray) -> FloatArray:
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _qini_values(c: _Cumulative, idx: IntArray) -> FloatArray:
    return c.y_t[idx] - c.y_c[idx] * _safe_div(c.n_t[idx], c.n_c[idx])


def _gain_values(c: _Cumulative, idx: IntArray) -> FloatArray:
    return _lift_values(c, idx) * (idx + 1).astype(np.float64)


def _tie_aware_curve(
    c: _Cumulative, values: Callable[[_Cumulative, IntArray], FloatArray]
) -> tuple[FloatArray, FloatArray]:
    x_thr = np.r_[0, c.thresholds + 1].astype(np.float64)
    v_thr = np.r_[0.0, values(c, c.thresholds)]
    x = np.arange(c.n + 1, dtype=np.float64)
    return x, np.interp(x, x_thr, v_thr)


def qini_curve(
    y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Qini curve: x = number targeted (0..N), Q(x) = incremental outcomes among the top x.

    ``Q(k) = Y_t(k) − Y_c(k)·N_t(k)/N_c(k)``; tie blocks are linear (see module docstring).
    """
    c = _Cumulative(*_as_inputs(y, treatment, score))
    return _tie_aware_curve(c, _qini_values)


def uplift_curve(
    y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Uplift (cumulative gain) curve: x = number targeted, G(x) = (ȳ_t − ȳ_c in top x)·x."""
    c = _Cumulative(*_as_inputs(y, treatment, score))
    return _tie_aware_curve(c, _gain_values)


def perfect_qini_score(y: npt.ArrayLike, treatment: npt.ArrayLike) -> FloatArray:
    """Scores of the optimal Qini ranking (sklift ``negative_effect=True``): y·t − y·(1−t).

    Treated responders first, control responders last.
    """
    ya = np.asarray(y, dtype=np.float64)
    ta = np.asarray(treatment, dtype=np.float64)
    return ya * ta - ya * (1.0 - ta)


def perfect_uplift_score(y: npt.ArrayLike, treatment: npt.ArrayLike) -> FloatArray:
    """Scores of the optimal uplift-curve ranking, as sklift ``perfect_uplift_curve``.

    ``2·[y == t] + (y if #control responders > #treated non-responders else t)``; binary y only.
    """
    ya = np.asarray(y, dtype=np.float64)
    ta = np.asarray(treatment, dtype=np.float64)
    cr = np.sum((ya == 1) & (ta == 0))
    tn = np.sum((ya == 0) & (ta == 1))
    summand = ya if cr > tn else ta
    perfect: FloatArray = 2.0 * (ya == ta).astype(np.float64) + summand
    return perfect


def _trapezoid(x: FloatArray, v: FloatArray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (v[1:] + v[:-1])) / 2.0)


def _area_above_random(x: FloatArray, v: FloatArray) -> float:
    # random targeting = the straight line from (0, 0) to (N, v(N))
    return _trapezoid(x, v) - float(x[-1] * v[-1]) / 2.0


def _normalised_area(
    curve: Callable[[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike], tuple[FloatArray, FloatArray]],
    y: FloatArray,
    t: FloatArray,
    score: FloatArray,
    perfect: FloatArray,
    normalize: bool,
) -> float:
    x, v = curve(y, t, score)
    actual = _area_above_random(x, v)
    if not normalize:
        return actual / float(x[-1])  # x as the fraction targeted
    xp, vp = curve(y, t, perfect)
    best = _area_above_random(xp, vp)
    return actual / best if best != 0.0 else float("nan")


def qini_coefficient(
    y: npt.ArrayLike,
    treatment: npt.ArrayLike,
    score: npt.ArrayLike,
    normalize: bool = True,
) -> float:
    """Qini coefficient.

    ``normalize=True`` (default): (area under Q − random area)/(perfect area − random area), with
    the perfect ranking of ``perfect_qini_score`` — equal to sklift ``qini_auc_score(...,
    negative_effect=True)``; random ≈ 0, perfect = 1, may be negative.
    ``normalize=False``: area between Q and the random line, x as the fraction targeted
    (incremental outcomes averaged over depths).
    """
    ya, ta, sa = _as_inputs(y, treatment, score)
    return _normalised_area(qini_curve, ya, ta, sa, perfect_qini_score(ya, ta), normalize)


def auuc(
    y: npt.ArrayLike,
    treatment: npt.ArrayLike,
    score: npt.ArrayLike,
    normalize: bool = True,
) -> float:
    """Area under the uplift (cumulative gain) curve.

    ``normalize=True`` (default): (area − random)/(perfect − random) with ``perfect_uplift_score``
    — equal to sklift ``uplift_auc_score``; random ≈ 0, perfect = 1. Requires binary y.
    ``normalize=False``: area between G and the random line, x as the fraction targeted.
    """
    ya, ta, sa = _as_inputs(y, treatment, score)
    if normalize and not np.all((ya == 0.0) | (ya == 1.0)):
        raise ValueError("normalised AUUC needs a binary outcome (its perfect curve is binary)")
    return _normalised_area(uplift_curve, ya, ta, sa, perfect_uplift_score(ya, ta), normalize)


def _lift_values(c: _Cumulative, idx: IntArray) -> FloatArray:
    return _safe_div(c.y_t[idx], c.n_t[idx]) - _safe_div(c.y_c[idx], c.n_c[idx])


def _causalml_interpolate(v: FloatArray, valid: npt.NDArray[np.bool_]) -> FloatArray:
    # causalml evaluates every row (no tie blocks); rows with 0/0 are NaN there and pandas
    # `interpolate()` fills them linearly from the (0, 0) origin, trailing ones with the last value.
    x = np.arange(v.size + 1, dtype=np.float64)
    vv = np.r_[0.0, v]
    ok = np.r_[True, valid]
    filled: FloatArray = np.interp(x, x[ok], vv[ok])
    return filled


def qini_score_causalml(
    y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike, normalize: bool = True
) -> float:
    """causalml 0.18 ``qini_score``: mean over k = 0..N of Q(k) minus the straight line to Q(N).

    With ``normalize=True`` Q is first divided by |Q(N)|. Ranking is row by row (ties are broken
    by input order here; causalml breaks them by pandas' unstable sort), random ≈ 0.
    """
    c = _Cumulative(*_as_inputs(y, treatment, score))
    q = _causalml_interpolate(_qini_values(c, np.arange(c.n, dtype=np.int64)), c.n_c > 0)
    if normalize:
        q = q / abs(q[-1]) if q[-1] != 0 else q * np.nan
    random_area = np.linspace(q[0], q[-1], q.size).sum()
    return float((q.sum() - random_area) / q.size)


def auuc_score_causalml(
    y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike, normalize: bool = True
) -> float:
    """causalml 0.18 ``auuc_score``: mean over k = 0..N of G(k) (÷|G(N)| if normalised).

    The random baseline is *not* subtracted: a random ranking scores ≈ 0.5 when normalised.
    """
    c = _Cumulative(*_as_inputs(y, treatment, score))
    lift = _causalml_interpolate(_lift_values(c, np.arange(c.n, dtype=np.int64)), (c.n_c > 0) & (c.n_t > 0))
    g = lift * np.arange(c.n + 1, dtype=np.float64)  # causalml: gain = interpolated lift × k
    if normalize:
        g = g / abs(g[-1]) if g[-1] != 0 else g * np.nan
    return float(g.sum() / g.size)


def uplift_at_k(
    y: npt.ArrayLike,
    treatment: npt.ArrayLike,
    score: npt.ArrayLike,
    k: float | np.floating | np.integer,
    strategy: Literal["overall", "by_group"] = "overall",
) -> float:
    """ȳ_t − ȳ_c among the top-scored units, as sklift ``uplift_at_k``.

    ``k`` in (0, 1) is a fraction, an int ≥ 1 a count, told apart by the dtype as sklift does
    (``np.float32(0.3)`` is a fraction, ``np.int64(3)`` a count; a bool is neither).
    ``overall``: the top ⌊k·N⌋ of the pooled ranking; ``by_group``: the top ⌊k·N_t⌋ treated
    and top ⌊k·N_c⌋ control, each ranked within its arm. NaN when an arm has no unit in the selection.
    """
    ya, ta, sa = _as_inputs(y, treatment, score)
    n = ya.size
    kind = np.asarray(k).dtype.kind  # as sklift: numpy floats are fractions, numpy ints counts
    if kind not in "iuf" or np.ndim(k) != 0:
        raise ValueError(f"k must be a float fraction or an int count, got {k!r}")
    is_fraction = kind == "f"
    if is_fraction and not 0.0 < k < 1.0:
        raise ValueError(f"fractional k must be in (0, 1), got {k}")
    if not is_fraction and not 0 < k < n:
        raise ValueError(f"integer k must be in [1, {n}), got {k}")
    order = np.argsort(sa, kind="mergesort")[::-1]
    ys, ts = ya[order], ta[order]

    def _mean(a: FloatArray) -> float:
        return float(a.mean()) if a.size else float("nan")

    if strategy == "overall":
        size = int(n * k) if is_fraction else int(k)
        top_y, top_t = ys[:size], ts[:size]
        return _mean(top_y[top_t == 1]) - _mean(top_y[top_t == 0])
    if strategy == "by_group":
        y_t, y_c = ys[ts == 1], ys[ts == 0]
        n_t = int(y_t.size * k) if is_fraction else int(k)
        n_c = int(y_c.size * k) if is_fraction else int(k)
        if n_t > y_t.size or n_c > y_c.size:
            raise ValueError(f"k={k} exceeds an arm's size")
        return _mean(y_t[:n_t]) - _mean(y_c[:n_c])
    raise ValueError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")


def bootstrap_ci(
    metric: UpliftMetric,
    y: npt.ArrayLike,
    treatment: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, lower, upper): percentile bootstrap, rows resampled with replacement within arms;
    the ends are ``one_sided_bounds`` at (1 − confidence)/2 each.

    Predictions stay fixed (no refit variance). Resampling within arms keeps N_t and N_c, so the
    metric's scale (which depends on the arm sizes) is that of the data. Resamples on which the
    metric is undefined (NaN) are dropped; NaN bounds if none remain.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    ya, ta, sa = _as_inputs(y, treatment, score)
    estimate = float(metric(ya, ta, sa))
    stats = bootstrap_replicates(metric, ya, ta, sa, n_resamples=n_resamples, seed=seed)
    # Each end is a one-sided bound at half the level, the order statistic the gates use.
    lower, upper = one_sided_bounds(stats, alpha=(1.0 - confidence) / 2.0)
    return estimate, lower, upper


def per_treatment(
    metric: UpliftMetric,
    y: npt.ArrayLike,
    treatment: npt.ArrayLike,
    score: npt.ArrayLike | Mapping[Hashable, npt.ArrayLike],
    *,
    control: Hashable,
) -> dict[Hashable, float]:
    """Evaluate ``metric`` for each treatment label against ``control`` (multi-treatment).

    ``treatment`` holds arm labels (ints or strs). ``score`` is either one array (used for every
    arm) or a mapping label → array of length N with that arm's predicted uplift over control.
    Each comparison keeps only the rows of that arm and of control.
    """
    ya = np.asarray(y, dtype=np.float64).ravel()
    labels = np.asarray(treatment).ravel()
    if labels.size != ya.size:
        raise ValueError("length mismatch between y and treatment")
    is_control = labels == control
    if not np.any(is_control):
        raise ValueError(f"no row has the control label {control!r}")
    out: dict[Hashable, float] = {}
    arms = {lab.item() if hasattr(lab, "item") else lab for lab in labels[~is_control]}
    for label in sorted(arms, key=str):
        arm_score = score[label] if isinstance(score, Mapping) else score
        sa = np.asarray(arm_score, dtype=np.float64).ravel()
        if sa.size != ya.size:
            raise ValueError(f"score for {label!r} has length {sa.size}, expected {ya.size}")
        rows = is_control | (labels == label)
        t = (labels[rows] == label).astype(np.float64)
        out[label] = float(metric(ya[rows], t, sa[rows]))
    return out


def bootstrap_replicates(
    metric: UpliftMetric,
    y: npt.ArrayLike,
    treatment: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    n_resamples: int = 200,
    seed: int = 0,
) -> FloatArray:
    """The metric on each bootstrap resample (rows drawn with replacement within arms).

    The draws depend only on the arms' sizes, their row order and ``seed``: two models scored
    on the same evaluation set get the *same* resamples, so their replicates pair up and the
    spread of their differences is the paired bootstrap of canary − stable (NaN where the metric
    is undefined on a resample).
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be ≥ 1")
    ya, ta, sa = _as_inputs(y, treatment, score)
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(ta == 1), np.flatnonzero(ta == 0)]
    out = np.empty(n_resamples, dtype=np.float64)
    for b in range(n_resamples):
        idx = np.concatenate([rng.choice(a, size=a.size, replace=True) for a in arms if a.size])
        out[b] = metric(ya[idx], ta[idx], sa[idx])
    return out


def paired_difference_bounds(
    canary: npt.ArrayLike, stable: npt.ArrayLike, *, alpha: float = 0.05, exact: bool = False
) -> tuple[float, float, float, int]:
    """(mean difference, lower, upper, pairs) of canary − stable over paired replicates.

    ``lower``/``upper`` are the α and 1 − α percentiles (``_percentile_bounds``): each a
    one-sided bound at level α (non-inferiority is read off ``lower``, harm off ``upper``); at
    α = 0.5 both are the median. Pairs where either replicate is NaN are dropped; NaN bounds
    when none remain. ``exact``: (−∞, +∞) when fewer pairs remain than the level needs
    (``percentile_replicates_needed``), rather than the extreme ones, whose level is larger.
    """
    a = np.asarray(canary, dtype=np.float64)
    b = np.asarray(stable, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired replicates must be two 1-D arrays of one length")
    if not 0.0 < alpha <= 0.5:
        raise ValueError(f"alpha must be in (0, 0.5], got {alpha}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    if d.size == 0:
        return math.nan, math.nan, math.nan, 0
    lower, upper = _percentile_bounds(d, alpha, exact=exact)
    return float(d.mean()), lower, upper, int(d.size)


def one_sided_bounds(replicates: npt.ArrayLike, *, alpha: float = 0.05,
                     exact: bool = False) -> tuple[float, float]:
    """(lower, upper): the α and 1 − α percentiles of bootstrap replicates (NaN dropped).
    ``exact``: (−∞, +∞) when fewer remain than the level needs, as ``_percentile_bounds``."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return math.nan, math.nan
    return _percentile_bounds(r, alpha, exact=exact)


def _percentile_bounds(values: npt.NDArray[np.float64], alpha: float, *,
                       exact: bool = False) -> tuple[float, float]:
    """The α and 1 − α percentiles of B replicates, each a one-sided bound at level α.

    The α(B + 1)-th order statistic (Hyndman and Fan's type 6, numpy's ``weibull``): a value
    exchangeable with the B replicates falls below it with probability α. numpy's default
    (type 7, the α(B − 1) + 1-th) sits higher: with 200 replicates (the trainer's default then), a
    one-sided bound at α = 0.05 was wrong in 10.95/201 = 5.4 % of cases, at α = 0.01 in 1.5 %.

    With fewer replicates than that needs (α(B + 1) < 1: B = 200 at α = 0.05/16, a qini gate's
    Fail level over 16 treatments) no order statistic is a bound at α: numpy clamps to the
    extreme replicate, which an exchangeable value passes with probability 1/(B + 1) > α. That
    is kept for a descriptive interval (the trainer's logged 95 % one on 30 replicates); a
    decision asks ``exact`` and gets (−∞, +∞) then: nothing can be shown at that level.
    """
    if exact and values.size < percentile_replicates_needed(alpha):
        return -math.inf, math.inf
    lower, upper = np.quantile(values, [alpha, 1.0 - alpha], method="weibull")
    return float(lower), float(upper)


def percentile_replicates_needed(alpha: float) -> int:
    """The fewest replicates B whose α(B + 1)-th order statistic exists (α(B + 1) ≥ 1), so
    that a percentile bound at level α can be read off them: 19 at α = 0.05, 319 at 0.05/16."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return max(1, math.ceil(1.0 / alpha - 1.0 - 1e-9))
