"""Cost-aware treatment choice with an optional budget (pure numpy).

For unit i and treatment k the expected net value is ``uplift[i, k] · value − cost[k]``. A unit
gets the treatment with the largest net value when that value is > 0, otherwise none. With a
budget, candidates are taken greedily by net value (highest first) while their cost still fits;
a candidate that does not fit is skipped and cheaper ones below it may still be taken.

A campaign (``runtime.campaigns``) names one of three rules (:func:`choose_rule`), with a value
per treatment, and spends a budget across requests (:func:`apply_budget`): ``costAware`` (the
rule above), ``upliftThreshold`` (the treatment of largest uplift when that uplift is at least
``min_uplift``) and ``topFraction`` (the treatment of largest uplift when that uplift is at least
``threshold``, the uplift the top ``top_fraction`` of recent uplifts reach:
:func:`top_fraction_threshold`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_TREATMENT = -1


@dataclass(frozen=True)
class PolicyResult:
    choice: IntArray      # (n,) treatment index, or NO_TREATMENT
    net_value: FloatArray  # (n,) expected net value of the choice (0 when none)
    spend: float          # summed cost of the chosen treatments


def choose(uplift: FloatArray, value: float, costs: FloatArray, *,
           budget: float | None = None, allowed: BoolArray | None = None) -> PolicyResult:
    """Pick at most one treatment per row; see the module docstring for the rule."""
    u = np.asarray(uplift, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"uplift must be (rows, treatments), got shape {u.shape}")
    c = np.asarray(costs, dtype=np.float64)
    if c.shape != (u.shape[1],):
        raise ValueError(f"need one cost per treatment ({u.shape[1]}), got {c.shape}")
    if budget is not None and budget < 0:
        raise ValueError(f"budget must be ≥ 0, got {budget}")
    net = u * value - c[None, :]
    if allowed is not None:
        net = np.where(np.asarray(allowed, dtype=bool)[None, :], net, -np.inf)
    n = len(u)
    if u.shape[1] == 0 or n == 0:
        return PolicyResult(np.full(n, NO_TREATMENT, dtype=np.int64), np.zeros(n), 0.0)
    best = np.argmax(net, axis=1).astype(np.int64)
    best_net = net[np.arange(n), best]
    choice = np.where(best_net > 0, best, NO_TREATMENT).astype(np.int64)
    if budget is not None:
        candidates = np.flatnonzero(choice != NO_TREATMENT)
        order = candidates[np.argsort(-best_net[candidates], kind="stable")]
        remaining = budget
        for i in order:
            cost = c[choice[i]]
            if cost <= remaining + 1e-9 * max(1.0, budget):  # float sums: 5 × 0.01 fit 0.05
                remaining -= cost
            else:
                choice[i] = NO_TREATMENT
    treated = choice != NO_TREATMENT
    net_value = np.where(treated, best_net, 0.0)
    spend = float(c[choice[treated]].sum())
    return PolicyResult(choice, net_value, spend)


@dataclass(frozen=True)
class RuleResult:
    choice: IntArray       # (n,) treatment index, or NO_TREATMENT
    net_value: FloatArray  # (n,) uplift × value − cost of the choice (0 when none)
    score: FloatArray      # (n,) the rule's ranking of the choice (budget order): net value for
                           # costAware, uplift otherwise; -inf when none


def choose_rule(uplift: FloatArray, values: FloatArray, costs: FloatArray,
                allowed: BoolArray, rule: str, *, min_uplift: float | None = None,
                threshold: float | None = None) -> RuleResult:
    """A campaign's choice per row under ``rule`` (costAware, upliftThreshold, topFraction),
    among the ``allowed`` treatments, with a value and a cost per treatment."""
    u = np.asarray(uplift, dtype=np.float64)
    n, k = u.shape
    if n == 0 or k == 0 or not np.any(allowed):
        return RuleResult(np.full(n, NO_TREATMENT, dtype=np.int64), np.zeros(n),
                          np.full(n, -np.inf))
    net = u * np.asarray(values, dtype=np.float64)[None, :] - np.asarray(costs)[None, :]
    mask = np.asarray(allowed, dtype=bool)[None, :]
    rows = np.arange(n)
    if rule == "costAware":
        ranked = np.where(mask, net, -np.inf)
        best = np.argmax(ranked, axis=1).astype(np.int64)
        score = ranked[rows, best]
        treat = score > 0
    elif rule in ("upliftThreshold", "topFraction"):
        bar = min_uplift if rule == "upliftThreshold" else threshold
        if bar is None:
            raise ValueError(f"policy {rule} needs its threshold")
        ranked = np.where(mask, u, -np.inf)
        best = np.argmax(ranked, axis=1).astype(np.int64)
        score = ranked[rows, best]
        treat = score >= bar
    else:
        raise ValueError(f"unknown policy {rule!r}")
    choice = np.where(treat, best, NO_TREATMENT).astype(np.int64)
    return RuleResult(choice, np.where(treat, net[rows, best], 0.0),
                      np.where(treat, score, -np.inf))


def top_fraction_threshold(recent: Sequence[float] | npt.NDArray[np.floating[Any]],
                           fraction: float) -> float:
    """The uplift the top ``fraction`` of ``recent`` uplifts reach: the k-th largest of the n,
    k = ⌊fraction · n⌋; +inf while k is 0 (fewer than 1/fraction uplifts: no one is treated).
    A unit whose uplift, one of ``recent``, is at least this is among the top k, so of
    exchangeable uplifts each is treated with a chance of k/n ≤ ``fraction`` (ties aside),
    however few there are. Before, the ``higher`` 1 − ``fraction`` quantile let
    1 + ⌊fraction · (n − 1)⌋ of n reach it: with the unit's own uplift among them, a history
    that had just started (a restart, a model load, a new replica) treated each new running
    maximum, 30 % of the first 10 single-row decisions at ``fraction`` 0.1."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    values = np.asarray(recent, dtype=np.float64).reshape(-1)
    n = len(values)
    k = math.floor(fraction * n + 1e-9)   # 0.1 · 30 is 3.0000000000000004, 0.57 · 100 is 56.99…
    if k < 1:
        return math.inf
    return float(np.partition(values, n - k)[n - k])


@dataclass(frozen=True)
class BudgetResult:
    choice: IntArray       # (n,) the choice after the cap and the budget
    exhausted: BoolArray   # (n,) rows whose treatment did not fit the budget
    spend: float           # summed cost of the charged rows that kept a treatment
    capped: BoolArray      # (n,) rows whose unit had no treatment left under its cap


def apply_budget(choice: IntArray, score: FloatArray, costs: FloatArray, remaining: float | None,
                 charged: BoolArray, *, units: Sequence[str] | None = None,
                 cap_left: Callable[[str], int] | None = None) -> BudgetResult:
    """Rows in order of ``score`` (highest first) keep their treatment while its cost fits what
    is left of ``remaining`` (``None``: no budget); a ``charged`` row pays for it, an uncharged
    one (a holdout row: nothing is sent) is judged by the same test and pays nothing, so both
    arms lose their treatment at the same point. A free treatment always fits.

    With ``units`` and ``cap_left`` (how many treatments each unit may still get), the cap is
    judged in the same pass, before the budget: a row whose unit has none left is ``capped``,
    and a row takes one of its unit's only once it also fits the budget, so a unit repeated in
    a request whose best row does not fit keeps its slot for a row that does."""
    out = np.array(choice, dtype=np.int64, copy=True)
    exhausted = np.zeros(len(out), dtype=bool)
    capped = np.zeros(len(out), dtype=bool)
    c = np.asarray(costs, dtype=np.float64)
    candidates = np.flatnonzero(out != NO_TREATMENT)
    order = candidates[np.argsort(-np.asarray(score)[candidates], kind="stable")]
    left = math.inf if remaining is None else max(remaining, 0.0)
    slack = 0.0 if remaining is None else 1e-9 * max(1.0, remaining)
    spend = 0.0
    taken: Counter[str] = Counter()
    for i in order.tolist():
        unit = units[i] if units is not None and cap_left is not None else None
        if unit is not None and cap_left is not None and taken[unit] >= cap_left(unit):
            out[i] = NO_TREATMENT
            capped[i] = True
            continue
        cost = float(c[out[i]])
        if cost <= left + slack:
            if charged[i]:
                left -= cost
                spend += cost
            if unit is not None:
                taken[unit] += 1
        else:
            out[i] = NO_TREATMENT
            exhausted[i] = True
    return BudgetResult(out, exhausted, spend, capped)
