"""Campaign economics: what the measured uplift is worth, with confidence bounds.

Role: a reference calculation that turns a treated-vs-holdout comparison into incremental
conversions, incremental value, ROI and cost per incremental action, for analyses outside the
operator. No operator code calls it: the Campaign's ``roi`` gate and ``status.roi`` come from
``domain.gates`` (ROI as a monotone transform of the lift, on the sequential test), the budget
from the runtime's spend counters. Neighbours: ``uplift`` (which units to target),
``sequential`` (the anytime-valid interval used with ``n_star``, valid however often the
figures are refreshed). Formulas: ``docs/statistics.md`` §6.

With treated arm T (n_T units) and holdout C, Δ = ȳ_T − ȳ_C and P = the treated population
(``population``, default n_T):

* incremental conversions = P·Δ, bounds P·(Δ ∓ h), h = z_{1−α/2}·√V (Wald) or the mSPRT CS
  half-width when ``n_star`` is given (valid however often it is recomputed);
* incremental value = P·(v̄_T − v̄_C) from per-unit value summaries, or
  ``value_per_conversion`` × incremental conversions;
* cost = ``cost_per_treated``·P + ``fixed_cost`` (known, no sampling error);
* ROI = (incremental value − cost)/cost; cost per incremental action = cost/incremental
  conversions (+inf when the incremental conversions can be ≤ 0). Both are monotone transforms, so
  their bounds are the transformed bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .results import ArmStats
from .sequential import cs_half_width, mixing_variance, pooled_variance

# scipy is imported inside the functions that use it: importing this module (as the idle
# operator does) must not load scipy (docs/operator.md, "Footprint").

__all__ = ["CampaignEconomics", "Interval", "campaign_economics"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence bounds."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class CampaignEconomics:
    """Economics of one treated arm against its holdout (see module docstring)."""

    lift: Interval  # Δ, per unit
    incremental_conversions: Interval
    incremental_value: Interval
    cost: float
    roi: Interval
    cost_per_incremental_action: Interval
    confidence: float
    anytime_valid: bool
    population: int


def _difference(treated: ArmStats, control: ArmStats, alpha: float, n_star: float | None) -> Interval:
    from scipy import stats

    if treated.n < 2 or control.n < 2:
        return Interval(treated.mean - control.mean, -math.inf, math.inf)
    delta = treated.mean - control.mean
    var = treated.variance / treated.n + control.variance / control.n
    if var <= 0.0:
        # Neither arm varies: not a difference known exactly. If the means differ, the pooled
        # sample's variance (that of equal arms); if not, nothing bounds the difference.
        pooled = pooled_variance(treated, control)
        if pooled <= 0.0:
            return Interval(delta, -math.inf, math.inf)
        var = pooled * (1.0 / treated.n + 1.0 / control.n)
    if n_star is None:
        half = float(stats.norm.ppf(1.0 - alpha / 2.0)) * math.sqrt(var)
    else:
        tau2 = mixing_variance(n_star, alpha) * (treated.n + control.n) * var
        half = cs_half_width(var, tau2, alpha)
    return Interval(delta, delta - half, delta + half)


def _scale(iv: Interval, factor: float) -> Interval:
    return Interval(iv.estimate * factor, iv.lower * factor, iv.upper * factor)


def campaign_economics(
    treated: ArmStats,
    control: ArmStats,
    *,
    population: int | None = None,
    value_per_conversion: float = 1.0,
    treated_value: ArmStats | None = None,
    control_value: ArmStats | None = None,
    cost_per_treated: float = 0.0,
    fixed_cost: float = 0.0,
    alpha: float = 0.05,
    n_star: float | None = None,
) -> CampaignEconomics:
    """Incremental conversions and value, ROI and cost per incremental action, with bounds.

    ``treated``/``control`` summarise the conversion metric (``ArmStats.proportion``);
    ``treated_value``/``control_value`` optionally summarise per-unit value (e.g. spend) and then
    replace ``value_per_conversion``. ``n_star`` switches the bounds to the anytime-valid CS.

    ``population`` must be finite and ≥ 0, ``value_per_conversion`` finite and the costs finite
    and ≥ 0 (ValueError otherwise): a negative population turns the bounds over (lower >
    upper), a NaN or infinite population or value makes every figure NaN or infinite while
    looking like a result, and a negative cost makes the ROI NaN where a cost of 0 means
    "nothing spent" (the ROI undefined, NaN by design).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if population is not None and not (math.isfinite(population) and population >= 0):
        raise ValueError(f"population must be finite and ≥ 0, got {population}")
    if not math.isfinite(value_per_conversion):
        raise ValueError(f"value_per_conversion must be finite, got {value_per_conversion}")
    for name, amount in (("cost_per_treated", cost_per_treated), ("fixed_cost", fixed_cost)):
        if not (math.isfinite(amount) and amount >= 0.0):
            raise ValueError(f"{name} must be finite and ≥ 0, got {amount}")
    if (treated_value is None) != (control_value is None):
        raise ValueError("give both treated_value and control_value, or neither")
    pop = treated.n if population is None else population
    lift = _difference(treated, control, alpha, n_star)
    conversions = _scale(lift, float(pop))
    if treated_value is not None and control_value is not None:
        value = _scale(_difference(treated_value, control_value, alpha, n_star), float(pop))
    else:
        value = _scale(conversions, value_per_conversion)
        if value_per_conversion < 0:
            value = Interval(value.estimate, value.upper, value.lower)
    cost = cost_per_treated * pop + fixed_cost
    if cost > 0:
        roi = Interval(
            (value.estimate - cost) / cost, (value.lower - cost) / cost, (value.upper - cost) / cost
        )
    else:
        roi = Interval(math.nan, math.nan, math.nan)

    def per_action(x: float) -> float:
        return cost / x if x > 0 else math.inf

    cpia = Interval(
        per_action(conversions.estimate),
        per_action(conversions.upper),
        per_action(conversions.lower),
    )
    return CampaignEconomics(
        lift=lift,
        incremental_conversions=conversions,
        incremental_value=value,
        cost=cost,
        roi=roi,
        cost_per_incremental_action=cpia,
        confidence=1.0 - alpha,
        anytime_valid=n_star is not None,
        population=pop,
    )
