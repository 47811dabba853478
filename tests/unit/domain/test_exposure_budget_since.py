"""``status.budgetAnchor`` and ``status.budgetSince`` through budget edits (review finding r4).

The anchor is recorded once per budget, and ``budgetSince`` with it: the time the budget gates
read the spend from (``domain.budget.counted_from``). Without a budget both go, so a budget set
again (the documented way to change ``budgetPeriod``) is recorded again, from the spec as it is
then and from the pass that sees it: its gates leave out the removed budget's ledgers, which
Prometheus keeps for the rest of their period. Plain values, time passed in.
"""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure_budget import MINUTE, T0, run, spec_with
from tests.unit.domain.test_exposure_budget_edits import DELIVERY, Spend

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import Phase

HOUR = dt.timedelta(hours=1)


def _without_budget(spec: CampaignSpec) -> CampaignSpec:
    return spec.model_copy(update={"economics": spec.economics.model_copy(
        update={"budget": None, "budget_period": None})})


def test_the_anchor_and_since_are_recorded_with_the_budget_and_again_once_it_is_set_again(
        ) -> None:
    spec = spec_with([DELIVERY], budget=5000, budgetPeriod="7d")
    judge = Spend(100.0)
    s = run(spec, CampaignStatus(), T0, judge).status
    # Recorded in the pass that first exposes: nothing was spent under the budget before.
    assert s.phase is Phase.PROGRESSING and s.exposure_percent > 0
    assert (s.budget_anchor, s.budget_since) == (T0, T0)
    s = run(spec, s, T0 + 5 * MINUTE, judge).status
    assert (s.budget_anchor, s.budget_since) == (T0, T0)   # once

    removed_at = T0 + 2 * HOUR
    s = run(_without_budget(spec), s, removed_at, judge).status
    assert (s.budget_anchor, s.budget_since) == (None, None)
    s = run(_without_budget(spec), s, removed_at + HOUR, judge).status
    assert (s.budget_anchor, s.budget_since) == (None, None)

    # Set again with another period: recorded again, the anchor from the spec (here still
    # T0, the periods' grid unchanged), budgetSince the pass that sees it.
    again = spec_with([DELIVERY], budget=5000, budgetPeriod="30d")
    set_again = removed_at + 3 * HOUR
    s = run(again, s, set_again, judge).status
    assert (s.budget_anchor, s.budget_since) == (T0, set_again)
    s = run(again, s, set_again + 5 * MINUTE, judge).status
    assert (s.budget_anchor, s.budget_since) == (T0, set_again)


def test_a_budget_recorded_before_since_existed_keeps_no_since() -> None:
    """A status written by the previous release: an anchor, no since. Nothing is recorded over
    it (its gates read from the period's start, as before), until the budget is removed."""
    spec = spec_with([DELIVERY], budget=5000, budgetPeriod="7d")
    judge = Spend(100.0)
    s = run(spec, CampaignStatus(), T0, judge).status
    old = s.model_copy(update={"budget_since": None})
    s = run(spec, old, T0 + 5 * MINUTE, judge).status
    assert (s.budget_anchor, s.budget_since) == (T0, None)


def test_a_budget_first_set_on_a_campaign_that_exposes_counts_from_then() -> None:
    spec = _without_budget(spec_with([DELIVERY], budget=5000, budgetPeriod="7d"))
    judge = Spend(0.0)
    s = run(spec, CampaignStatus(), T0, judge).status
    assert s.exposure_percent > 0 and (s.budget_anchor, s.budget_since) == (None, None)
    budgeted = spec_with([DELIVERY], budget=5000, budgetPeriod="7d")
    s = run(budgeted, s, T0 + HOUR, judge).status
    assert (s.budget_anchor, s.budget_since) == (T0, T0 + HOUR)
