"""What held resources export, from statuses the real ramps and passes write: a Campaign whose
settings have not reached the pods (``uplift_operator_campaign_settings_undelivered``); every
series gone with the resource. Before, a rolled-back Campaign's 0 % that its model's campaigns
file did not carry had no series saying so."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.unit.services import test_campaign as campaigns

from uplift_operator.handlers import campaign, observability

UNWRITTEN = "the campaigns file of UpliftModel 'hillstrom-uplift' cannot be written (403)"


def _undelivered(name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_settings_undelivered", {"namespace": "ns", "name": name})


def _observe_campaign(sim: campaigns.Sim, name: str) -> None:
    status: dict[str, Any] = sim.status
    campaign._observe("ns", name, status, sim.body["spec"])


def test_a_campaigns_undelivered_settings_are_exported_while_its_condition_is_false() -> None:
    """Its rollback's 0 % (or any exposure) decided while the campaigns file cannot be written
    has not reached the pods: the status says 0 %, the pods treat at the exposure they had."""
    sim = campaigns.Sim(schedule=None)
    sim.tick()
    sim.tick(6)
    _observe_campaign(sim, "unwritten")
    assert _undelivered("unwritten") == 0  # never failed: no condition
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: UNWRITTEN)
    sim.tick(1)
    assert sim.condition("SettingsDelivered")["status"] == "False"
    _observe_campaign(sim, "unwritten")
    assert _undelivered("unwritten") == 1
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: None)
    sim.tick(1)
    assert sim.condition("SettingsDelivered")["status"] == "True"
    _observe_campaign(sim, "unwritten")
    assert _undelivered("unwritten") == 0
    observability.forget("Campaign", "ns", "unwritten")
    assert _undelivered("unwritten") is None
