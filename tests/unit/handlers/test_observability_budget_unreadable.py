"""A Campaign's unreadable spend, as its status says it: since when
(``uplift_operator_campaign_budget_unreadable_since_timestamp_seconds``, from
``status.budgetUnreadableSince``, whatever the action) and whether it suspends the campaign
(``uplift_operator_campaign_budget_unreadable``, Ready's ``BudgetUnreadable``, whatever phase is
published over Suspended); neither is ``uplift_operator_campaign_budget_exhausted``'s."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from uplift_operator.handlers import observability

SINCE = "2026-03-02T10:00:00Z"
SINCE_UNIX = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC).timestamp()


def _sample(metric: str, name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        f"uplift_operator_campaign_{metric}", {"namespace": "ns", "name": name})


def _status(phase: str, reason: str, since: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "False" if phase != "Progressing" else "True",
         "reason": reason},
        {"type": "SettingsDelivered", "status": "True", "reason": "Delivered"}]}
    if since is not None:
        status["budgetUnreadableSince"] = since
    return status


@pytest.mark.parametrize("phase", ["Suspended", "Degraded"])
def test_a_suspension_for_an_unreadable_spend_is_said_whatever_the_phase(phase: str) -> None:
    name = f"blind-{phase}"
    observability.observe_campaign("ns", name, _status(phase, "BudgetUnreadable", SINCE),
                                   measured={})
    assert _sample("budget_unreadable", name) == 1
    assert _sample("budget_exhausted", name) == 0  # not a spent budget
    assert _sample("budget_unreadable_since_timestamp_seconds", name) == SINCE_UNIX
    # A reading under the budget gives the exposure back and clears the time.
    observability.observe_campaign("ns", name, _status("Progressing", "Exposing", None),
                                   measured={})
    assert _sample("budget_unreadable", name) == 0
    assert _sample("budget_unreadable_since_timestamp_seconds", name) is None
    observability.forget("Campaign", "ns", name)


def test_a_spend_unreadable_while_exposing_has_its_time_and_no_suspension() -> None:
    """Under Hold (or before Suspend's after): exposure goes on, blind."""
    observability.observe_campaign("ns", "held", _status("Progressing", "Exposing", SINCE),
                                   measured={})
    assert _sample("budget_unreadable_since_timestamp_seconds", "held") == SINCE_UNIX
    assert _sample("budget_unreadable", "held") == 0
    # A spent budget with the spend unreadable since: exhausted, not unreadable.
    observability.observe_campaign("ns", "held", _status("Suspended", "BudgetExhausted", SINCE),
                                   measured={})
    assert _sample("budget_exhausted", "held") == 1
    assert _sample("budget_unreadable", "held") == 0
    observability.forget("Campaign", "ns", "held")


def test_a_deleted_campaigns_unreadable_series_are_forgotten() -> None:
    observability.observe_campaign("ns", "gone-blind", _status("Suspended", "BudgetUnreadable",
                                                                SINCE), measured={})
    observability.forget("Campaign", "ns", "gone-blind")
    assert _sample("budget_unreadable", "gone-blind") is None
    assert _sample("budget_unreadable_since_timestamp_seconds", "gone-blind") is None
