"""Cost-aware treatment choice with an optional budget (pure numpy).

For unit i and treatment k the expected net value is ``uplift[i, k] · value − cost[k]``. A unit
gets the treatment with the largest net value when that value is > 0, otherwise none. With a
budget, candidates are taken greedily by net value (highest first) while their cost still fits;
a candidate that does not fit is skipped and cheaper ones below it may still be taken.
"""

from __future__ import annotations

from dataclasses import dataclass

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
