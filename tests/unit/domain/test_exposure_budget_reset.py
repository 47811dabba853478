"""A budget removed after spending is refilled when set again (review-money finding 2).

Removing ``spec.economics.budget`` and setting it again (the only way to change
``budgetPeriod``) counts the new budget afresh from the time it is set, a whole ``amount`` more
in the same period; the status keeps nothing of the removed budget to tell that re-set from a
first budget. The ledgers' semantics stay: the pass that drops the budget's record says it, a
``BudgetReset`` Warning naming the spend recorded. Plain values, time passed in.
"""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure_budget import MINUTE, T0, run, spec_with
from tests.unit.domain.test_exposure_budget_edits import DELIVERY, Spend

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus

HOUR = dt.timedelta(hours=1)


def _without_budget(spec: CampaignSpec) -> CampaignSpec:
    return spec.model_copy(update={"economics": spec.economics.model_copy(
        update={"budget": None, "budget_period": None})})


def _resets(decision: object) -> list[tuple[str, str]]:
    return [(e.type, e.message) for e in decision.events  # type: ignore[attr-defined]
            if e.reason == "BudgetReset"]


def test_a_budget_removed_after_spending_warns_once_that_it_counts_afresh_if_set_again() -> None:
    spec = spec_with([DELIVERY], budget=5000, budgetPeriod="7d")
    judge = Spend(1234.5)
    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 6 * MINUTE, judge).status
    assert s.spend == 1234.5
    removed = run(_without_budget(spec), s, T0 + HOUR, judge)
    assert removed.status.budget_since is None
    [(kind, message)] = _resets(removed)
    assert kind == "Warning"
    assert "1234.5 was spent" in message and "counts from the time it is set" in message
    assert "where a period of both lengths starts" in message
    # Said once: the next pass has no budget record left to drop.
    assert _resets(run(_without_budget(spec), removed.status, T0 + 2 * HOUR, judge)) == []
    # Set again: counted afresh, as before (the ledgers' semantics are unchanged).
    again = run(spec_with([DELIVERY], budget=5000, budgetPeriod="30d"), removed.status,
                T0 + 3 * HOUR, judge)
    assert again.status.budget_since == T0 + 3 * HOUR and _resets(again) == []


def test_a_budget_removed_before_any_spend_was_read_says_nothing() -> None:
    spec = spec_with([DELIVERY], budget=5000, budgetPeriod="7d")
    judge = Spend(0.0)
    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 6 * MINUTE, judge).status
    assert s.budget_anchor is not None and s.spend == 0
    assert _resets(run(_without_budget(spec), s, T0 + HOUR, judge)) == []


def test_a_large_spend_is_named_whole_not_rounded() -> None:
    """The Event is the only record of the spend (the same write zeroes status.spend), and
    the docs tell to lower the next amount by it: ``:g`` printed 1234567.89 as 1.23457e+06."""
    spec = spec_with([DELIVERY], budget=5000000, budgetPeriod="7d")
    judge = Spend(1234567.89)
    s = run(spec, CampaignStatus(), T0, judge).status
    s = run(spec, s, T0 + 6 * MINUTE, judge).status
    [(_, message)] = _resets(run(_without_budget(spec), s, T0 + HOUR, judge))
    assert "at least 1234567.89 was spent" in message
