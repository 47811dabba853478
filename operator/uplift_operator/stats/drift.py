"""Distribution drift on binned histograms: PSI with a sample-size-aware threshold, binned KS.

Role: the feature / score drift gate. Inputs are per-bin counts on fixed bin edges, exactly what a
serving runtime exports as Prometheus counters — no raw rows needed.
Neighbours: ``results``; the bins are chosen by the trainer (reference quantiles).
Formulas: ``docs/statistics.md`` §5.

* PSI = Σ_b (a_b − e_b)·ln(a_b/e_b), e = reference share, a = current share; empty shares are
  replaced by 1e-4 (as Evidently). With no shift PSI ≈ (1/n + 1/m)·χ²_{B−1} (it equals Pearson's
  two-sample χ² to second order), so a fixed 0.1 cut-off is pure noise for small samples: the
  threshold is ``max(0.1, (1/n + 1/m)·χ²_{B−1, 0.99})``.
* KS: D = max_b |F_ref(b) − F_cur(b)| at the bin edges, p-value as scipy ``ks_2samp``'s
  asymptotic mode (``kstwo`` at the effective n·m/(n+m)). Binning can only lower D, so the test
  is conservative; at large n it flags differences too small to matter — pair it with PSI.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .results import Decision, TestResult
from .sequential import cs_half_width, mixing_variance

# scipy is imported inside the functions that use it: importing this module (as the idle
# operator does) must not load scipy (docs/operator.md, "Footprint").

__all__ = ["PSI_EMPTY_SHARE", "ks_binned", "psi", "psi_bounds", "psi_threshold", "psi_value"]

#: Share used in place of an empty bin (Evidently's ``psi.py`` convention).
PSI_EMPTY_SHARE = 1e-4


def _counts(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    ref = np.asarray(ref_counts, dtype=np.float64).ravel()
    cur = np.asarray(cur_counts, dtype=np.float64).ravel()
    if ref.shape != cur.shape or ref.size < 2:
        raise ValueError("need two histograms with the same ≥ 2 bins")
    if np.any(ref < 0) or np.any(cur < 0) or not (np.all(np.isfinite(ref)) and np.all(np.isfinite(cur))):
        raise ValueError("bin counts must be finite and ≥ 0")
    return ref, cur


def psi_value(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, *, empty_share: float = PSI_EMPTY_SHARE
) -> float:
    """The population stability index of two histograms on the same bins."""
    ref, cur = _counts(ref_counts, cur_counts)
    if ref.sum() == 0 or cur.sum() == 0:
        return math.nan
    e = ref / ref.sum()
    a = cur / cur.sum()
    e = np.where(e == 0, empty_share, e)
    a = np.where(a == 0, empty_share, a)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_threshold(n: int, m: int, bins: int, *, quantile: float = 0.99, floor: float = 0.1) -> float:
    """max(floor, (1/n + 1/m)·χ²_{bins−1, quantile}): PSI above it is not sampling noise."""
    from scipy import stats

    if n <= 0 or m <= 0 or bins < 2:
        raise ValueError(f"need n, m > 0 and bins ≥ 2, got {n}, {m}, {bins}")
    return max(floor, (1.0 / n + 1.0 / m) * float(stats.chi2.ppf(quantile, bins - 1)))


def psi(
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    quantile: float = 0.99,
    floor: float = 0.1,
    empty_share: float = PSI_EMPTY_SHARE,
    min_samples: int = 1,
) -> TestResult:
    """PSI drift check: FAIL when PSI > ``psi_threshold``, PASS otherwise.

    ``p_value`` is the χ² approximation P(χ²_{B−1} ≥ PSI/(1/n + 1/m)), B = bins non-empty in
    either histogram; ``lower``/``upper`` are NaN (PSI has no interval here). CONTINUE when
    either histogram has fewer than ``min_samples`` counts.
    """
    from scipy import stats

    ref, cur = _counts(ref_counts, cur_counts)
    n, m = int(ref.sum()), int(cur.sum())
    samples = (n, m)
    if min(n, m) < max(min_samples, 1):
        why = f"PSI: too few samples ({min(n, m)} < {max(min_samples, 1)})"
        return TestResult(Decision.CONTINUE, math.nan, math.nan, math.nan, math.nan, samples, why)
    bins = max(int(np.count_nonzero((ref + cur) > 0)), 2)
    value = psi_value(ref, cur, empty_share=empty_share)
    threshold = psi_threshold(n, m, bins, quantile=quantile, floor=floor)
    p = float(stats.chi2.sf(value / (1.0 / n + 1.0 / m), bins - 1))
    if value > threshold:
        decision, why = Decision.FAIL, f"PSI {value:.4g} > threshold {threshold:.4g}: drift"
    else:
        decision, why = Decision.PASS, f"PSI {value:.4g} ≤ threshold {threshold:.4g}"
    return TestResult(
        decision,
        value,
        math.nan,
        math.nan,
        p,
        samples,
        why,
        value,
        {"threshold": threshold, "bins": float(bins)},
    )


def ks_binned(
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    min_samples: int = 1,
) -> TestResult:
    """Two-sample Kolmogorov–Smirnov test on binned counts: FAIL if p < α, else PASS.

    ``estimate`` = D; ``details['critical_d']`` = √(−ln(α/2)/2)·√((n+m)/(nm)) (1.358·… at 0.05).
    """
    from scipy import stats

    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ref, cur = _counts(ref_counts, cur_counts)
    n, m = int(ref.sum()), int(cur.sum())
    samples = (n, m)
    if min(n, m) < max(min_samples, 1):
        why = f"KS: too few samples ({min(n, m)} < {max(min_samples, 1)})"
        return TestResult(Decision.CONTINUE, math.nan, math.nan, math.nan, math.nan, samples, why)
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    en = n * m / (n + m)
    p = float(np.clip(stats.kstwo.sf(d, round(en)), 0.0, 1.0))
    critical = math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt((n + m) / (n * m))
    if p < alpha:
        decision, why = Decision.FAIL, f"KS D = {d:.4g} (p = {p:.3g} < α): distributions differ"
    else:
        decision, why = Decision.PASS, f"KS D = {d:.4g} (p = {p:.3g})"
    return TestResult(decision, d, math.nan, math.nan, p, samples, why, d, {"critical_d": critical})


def psi_bounds(
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    n_star: float = 2000.0,
    empty_share: float = PSI_EMPTY_SHARE,
) -> tuple[float, float, float]:
    """(PSI, lower, upper): anytime-valid confidence bounds on the PSI of the live distribution.

    The reference histogram (training, large) is taken as known; each live bin share gets a
    normal-mixture confidence sequence at α/B (Bonferroni over the B bins, so all hold at once
    with probability ≥ 1 − α at every look). Each PSI term (a − e)·ln(a/e) is convex in a with
    its minimum 0 at a = e, so its extremes over a bin's interval are at the interval's ends (or
    0 when the interval covers e); summing them bounds the PSI (conservatively: the shares'
    sum-to-one is ignored). Shares are floored at ``empty_share`` as in ``psi_value``; an
    interval reaching 0 gives a large upper bound, which is why an empty live bin cannot pass
    a drift gate on a small sample.
    """
    ref, cur = _counts(ref_counts, cur_counts)
    n = float(cur.sum())
    if ref.sum() == 0 or n == 0:
        return math.nan, 0.0, math.inf
    e = np.maximum(ref / ref.sum(), empty_share)
    a = cur / n
    level = alpha / ref.size
    smoothed = (cur + 1.0) / (n + 2.0)  # never a zero variance, even for an empty bin
    var = smoothed * (1.0 - smoothed) / n
    half = cs_half_width(var, mixing_variance(n_star, level) * n * var, level)
    lo = np.clip(a - half, empty_share, 1.0)
    hi = np.clip(a + half, empty_share, 1.0)

    def term(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = (x - e) * np.log(x / e)
        return out

    upper = float(np.sum(np.maximum(term(lo), term(hi))))
    covers = (lo <= e) & (e <= hi)
    lower = float(np.sum(np.where(covers, 0.0, np.minimum(term(lo), term(hi)))))
    return psi_value(ref, cur, empty_share=empty_share), lower, upper
