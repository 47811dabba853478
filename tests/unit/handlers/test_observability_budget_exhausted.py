"""uplift_operator_campaign_budget_exhausted follows Ready's BudgetExhausted, whatever phase is
published over Suspended (a Campaign whose settings are not delivered past the grace reads
Degraded, ``domain.stuck``, while its budget is still spent)."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.handlers import observability


def _exhausted(name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_budget_exhausted", {"namespace": "ns", "name": name})


def _status(phase: str, reason: str) -> dict[str, Any]:
    return {"phase": phase, "conditions": [
        {"type": "Ready", "status": "False", "reason": reason},
        {"type": "SettingsDelivered", "status": "False", "reason": "FileNotWritten"}]}


@pytest.mark.parametrize("phase", ["Suspended", "Degraded"])
def test_the_gauge_says_exhausted_while_ready_says_so_whatever_the_phase(phase: str) -> None:
    observability.observe_campaign("ns", f"spent-{phase}", _status(phase, "BudgetExhausted"),
                                   measured={})
    assert _exhausted(f"spent-{phase}") == 1
    observability.observe_campaign("ns", f"spent-{phase}", _status(phase, "Exposing"),
                                   measured={})
    assert _exhausted(f"spent-{phase}") == 0
    observability.forget("Campaign", "ns", f"spent-{phase}")
