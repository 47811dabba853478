"""`kubectl uplift status` of a Campaign whose spend cannot be read: suspended for it (Ready
reason BudgetUnreadable, spec.economics.budgetUnreadable.action Suspend) it says so, since when,
and that the exposure comes back at the first reading under the budget, not at a period's
renewal; exposing meanwhile (Hold), its spend line says since when no reading showed it."""

from __future__ import annotations

from typing import Any

from uplift_operator.plugin import kubectl_uplift as plugin

SINCE = "2026-03-02T10:00:00Z"
ECONOMICS = {"economics": {"budget": 5000, "budgetPeriod": "7d", "currency": "USD",
                           "budgetUnreadable": {"action": "Suspend", "after": "10m"}}}


def _campaign(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": "spring-email"},
            "spec": {"modelRef": {"name": "m"}, "exposure": {"steps": [{"percent": 25}]},
                     **ECONOMICS},
            "status": status}


def _line(text: str, head: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(head))


def _ready(reason: str) -> list[dict[str, Any]]:
    return [{"type": "Ready", "status": "False", "reason": reason, "message": "..."}]


def test_a_campaign_suspended_for_an_unreadable_spend_says_so_and_what_gives_it_back() -> None:
    text = plugin.render_campaign(_campaign({
        "phase": "Suspended", "exposurePercent": 0, "currentStep": 0,
        "suspendedExposurePercent": 25.0, "spend": 1200.0, "budgetRemaining": 3800.0,
        "budgetUnreadableSince": SINCE, "conditions": _ready("BudgetUnreadable")}))
    assert _line(text, "Exposure:") == (
        f"Exposure:  0%  step 1/1  (suspended, the spend unreadable since {SINCE}: 25% given "
        "back at the first reading under the budget)")
    assert "renews" not in _line(text, "Exposure:")
    assert _line(text, "Spend:") == (
        f"Spend:     1,200.00 of 5,000.00 USD, 3,800.00 left per 7d (unreadable since {SINCE})")


def test_a_spent_budget_still_reads_as_one_while_its_spend_is_unreadable() -> None:
    text = plugin.render_campaign(_campaign({
        "phase": "Suspended", "exposurePercent": 0, "currentStep": 0,
        "suspendedExposurePercent": 25.0, "spend": 5000.0, "budgetRemaining": 0.0,
        "budgetUnreadableSince": SINCE, "conditions": _ready("BudgetExhausted")}))
    assert _line(text, "Exposure:") == (
        "Exposure:  0%  step 1/1  (suspended by the budget: 25% given back when the period "
        "renews)")


def test_a_campaign_exposing_blind_says_since_when_its_spend_is_unreadable() -> None:
    text = plugin.render_campaign(_campaign({
        "phase": "Progressing", "exposurePercent": 25.0, "currentStep": 0, "spend": 1200.0,
        "budgetRemaining": 3800.0, "budgetUnreadableSince": SINCE,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Exposing"}]}))
    assert _line(text, "Exposure:") == "Exposure:  25%  step 1/1"
    assert _line(text, "Spend:").endswith(f" per 7d (unreadable since {SINCE})")
    read = plugin.render_campaign(_campaign({
        "phase": "Progressing", "exposurePercent": 25.0, "currentStep": 0, "spend": 1200.0,
        "budgetRemaining": 3800.0}))
    assert "unreadable" not in read
