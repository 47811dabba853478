"""Sample ratio mismatch: are the arms' assignment counts those of the configured split?

Role: checked before every gate — a mismatch (broken routing, bot traffic, crashes in one arm)
invalidates every comparison of the arms. Neighbours: ``counts`` (the sequential test used under
continuous monitoring), ``sequential``. Formulas: ``docs/statistics.md`` §3.

* one look: Pearson χ² goodness of fit, χ² = Σ (O_i − E_i)²/E_i on K − 1 degrees of freedom
  (Spotify Confidence ``sample_ratio_test``);
* continuous monitoring: the Dirichlet-mixture multinomial test with θ₀ = the configured split
  (Lindon & Malek 2022), which never inflates its error however often one looks.

Both report, as ``estimate``, the observed share of the *last* arm (the canary by convention,
counts ordered control first) with a confidence interval (Clopper–Pearson at one look; the
anytime-valid CS of the sequential test, as a share).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .counts import DEFAULT_CONCENTRATION, log_beta_bf_one_sided, multinomial_test, p_value_of
from .results import Decision, SequentialState, TestResult

# scipy is imported inside the functions that use it: importing this module (as the idle
# operator does) must not load scipy (docs/operator.md, "Footprint").

__all__ = [
    "DEFAULT_SPLIT_TOLERANCE",
    "DEFAULT_SRM_ALPHA",
    "split_concentration",
    "split_within_test",
    "srm_chisquare",
    "srm_sequential",
]

#: SRM checks conventionally use a small α: a false alarm halts an experiment.
DEFAULT_SRM_ALPHA = 0.001
#: The relative departure of the canary's share from its weight that a split must be shown
#: within before a gate passes: 0.04 is 52/48 on a 50/50 design, 10.4 % at a 10 % weight.
DEFAULT_SPLIT_TOLERANCE = 0.04


def _validate(counts: Sequence[int], shares: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(counts, dtype=np.float64)
    rho = np.asarray(shares, dtype=np.float64)
    if c.ndim != 1 or c.size < 2 or c.shape != rho.shape:
        raise ValueError("need ≥ 2 counts and as many expected shares")
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(rho))):
        raise ValueError("counts and shares must be finite")
    if np.any(c < 0) or np.any(rho <= 0):
        raise ValueError("counts must be ≥ 0 and shares > 0")
    return c, rho / rho.sum()


def srm_chisquare(
    counts: Sequence[int],
    expected_shares: Sequence[float],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
    min_samples: int = 100,
) -> TestResult:
    """Pearson χ² test of the assignment counts at one look: FAIL if p < α, else PASS.

    Valid for a single look only; a gate that re-checks every interval should use
    ``srm_sequential``. Below ``min_samples`` in total: CONTINUE.
    """
    from scipy import stats

    c, rho = _validate(counts, expected_shares)
    n = float(c.sum())
    samples = tuple(int(x) for x in c)
    share = c[-1] / n if n else math.nan
    if n < max(min_samples, 1):
        why = f"SRM χ²: too few assignments ({int(n)} < {max(min_samples, 1)})"
        return TestResult(Decision.CONTINUE, share, math.nan, math.nan, math.nan, samples, why)
    expected = n * rho
    chi2 = float(np.sum((c - expected) ** 2 / expected))
    p = float(stats.chi2.sf(chi2, c.size - 1))
    # Clopper–Pearson interval for the last arm's share, at the same α
    x = c[-1]
    lower = float(stats.beta.ppf(alpha / 2, x, n - x + 1)) if x > 0 else 0.0
    upper = float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x)) if x < n else 1.0
    worst = int(np.argmax(np.abs(c / n - rho) / rho))
    if p < alpha:
        decision = Decision.FAIL
        why = f"SRM χ²: mismatch (p = {p:.3g} < α = {alpha:g}); arm {worst} deviates most"
    else:
        decision = Decision.PASS
        why = f"SRM χ²: counts consistent with the split (p = {p:.3g})"
    return TestResult(
        decision,
        float(share),
        lower,
        upper,
        p,
        samples,
        why,
        chi2,
        {"expected_share": float(rho[-1]), "worst_arm": float(worst)},
    )


def srm_sequential(
    counts: Sequence[int],
    expected_shares: Sequence[float],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
    k: float = DEFAULT_CONCENTRATION,
    min_samples: int = 100,
    state: SequentialState | None = None,
) -> tuple[TestResult, SequentialState]:
    """Sequential SRM check for continuous monitoring: FAIL on mismatch, otherwise CONTINUE.

    It never returns PASS: the absence of a mismatch is not proven, so a gate proceeds unless
    FAIL. ``lower``/``upper`` bound the last arm's share (two arms), intersected over looks; the
    state holds them on the rate-ratio scale used by ``counts.multinomial_test``.

    ``counts`` must be whole numbers of events (floats within float noise of one included), as
    ``multinomial_test`` requires: a fraction is a ``ValueError``. They were truncated here
    first (``int(29.7)`` = 29), which passed a rate or an ``increase()`` estimate off as observed
    events past that check. The operator's counts are whole already: its collectors round each
    count scaled to what the scrapes observed to the nearest event
    (``services.measurements._observed``), so a caller holding estimates makes them whole itself.
    """
    c, rho = _validate(counts, expected_shares)
    res, new = multinomial_test(
        c.tolist(), list(rho), alpha=alpha, k=k, min_events=min_samples, state=state
    )
    c = np.asarray(res.samples, dtype=np.float64)  # the whole counts it took them as
    n = float(c.sum())
    share = c[-1] / n if n else math.nan

    def to_share(ratio: float) -> float:
        # rate ratio r of last vs first arm → share of the last arm (two arms only)
        if math.isnan(ratio) or c.size != 2:
            return math.nan
        if math.isinf(ratio):
            return 1.0
        return float(rho[-1] * ratio / (rho[0] + rho[-1] * ratio))

    reason = res.reason.replace("multinomial:", "SRM (sequential):")
    out = TestResult(
        res.decision,
        float(share),
        to_share(res.lower),
        to_share(res.upper),
        res.p_value,
        res.samples,
        reason,
        res.statistic,
        {"expected_share": float(rho[-1]), "rate_ratio": res.estimate},
    )
    return out, new


def split_concentration(share: float, tolerance: float = DEFAULT_SPLIT_TOLERANCE) -> float:
    """The Beta mixture's concentration k for a split at ``share``: the prior's spread on the
    share, √(θ(1−θ)/k), equals the departure the split is judged on (θ·tolerance), the scale
    on which the evidence has to be found (never below the default 100)."""
    if not 0.0 < share < 1.0 or tolerance <= 0.0:
        raise ValueError(f"need 0 < share < 1 and tolerance > 0, got {share}, {tolerance}")
    return max(DEFAULT_CONCENTRATION, (1.0 - share) / (tolerance**2 * share))


def split_within_test(
    stable: int,
    canary: int,
    share: float,
    *,
    tolerance: float = DEFAULT_SPLIT_TOLERANCE,
    state: SequentialState | None = None,
    restart: bool = True,
) -> tuple[float, SequentialState]:
    """Anytime-valid equivalence test of a traffic split: is the canary's share of requests
    shown within ``share`` × (1 ± ``tolerance``)? Returns the running p-value and the state.

    Two one-sided truncated-Beta mixture tests (``counts.log_beta_bf_one_sided``, k from
    ``split_concentration``): θ < share·(1 + tolerance) and θ > share·(1 − tolerance). The split
    is shown within when both reject (an intersection of rejections needs no correction), so
    the p-value is the larger of the two running p-values. The state keeps the upper edge's
    evidence in ``log_pass``/``p_pass``, the lower edge's in ``log_fail``/``p_fail``, and the
    stratum's requests in ``units``.

    Unlike the other count tests, the split is shown within tolerance **in the current stratum**
    (``SequentialState.next_stratum``: a ramp step, or the split applied again): a split shown
    within at an earlier step says nothing of this step's. So at a stratum's first look the
    running p-values start afresh and of the earlier strata's evidence only a factor ≤ 1 is
    carried (min(carried log e-value, 0)): evidence that an earlier split was off still counts
    against, evidence that it was within does not count for. A factor ≤ 1 fixed before the
    stratum starts times the stratum's test supermartingale is again one, so the p-value stays
    valid for this stratum's split alone. (A state with ``units`` 0 and looks behind it is
    taken to start a stratum; a state written before ``units`` was kept restarts once, which
    only forgets evidence.) A look with no requests before the stratum's first shows nothing
    (p = 1), not the earlier stratum's running p-value.

    ``restart=False`` carries the evidence across strata in full, as the other count tests do:
    for a share that is the same at every stratum (a holdout fraction, whose tolerance
    ``reference`` the caller restarts on when it changes), restarting would only throw valid
    evidence away.
    """
    if stable < 0 or canary < 0:
        raise ValueError("counts must be ≥ 0")
    state = state or SequentialState()
    if stable + canary == 0:
        if restart and state.units == 0:  # nothing of this stratum seen yet: nothing shown
            return 1.0, state
        return max(state.p_pass, state.p_fail), state
    if restart and state.units == 0:  # the stratum's first look
        state = replace(state, p_pass=1.0, p_fail=1.0,
                        carried_log_pass=min(state.carried_log_pass, 0.0),
                        carried_log_fail=min(state.carried_log_fail, 0.0))
    k = split_concentration(share, tolerance)
    high, low = share * (1.0 + tolerance), share * (1.0 - tolerance)
    log_below_high = (float(log_beta_bf_one_sided(canary, stable, high, k, greater=False))
                      if high < 1.0 else math.inf)
    log_above_low = float(log_beta_bf_one_sided(canary, stable, low, k, greater=True))
    p_high = min(state.p_pass, p_value_of(state.carried_log_pass + log_below_high))
    p_low = min(state.p_fail, p_value_of(state.carried_log_fail + log_above_low))
    new = replace(state, looks=state.looks + 1, p_pass=p_high, p_fail=p_low,
                  log_pass=log_below_high, log_fail=log_above_low, units=float(stable + canary))
    return max(p_high, p_low), new
