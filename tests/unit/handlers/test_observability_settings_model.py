"""``uplift_operator_campaign_settings_undelivered`` names the Campaign's model
(``spec.modelRef.name``), so that an Alertmanager inhibit rule (source
UpliftCampaignsFileNotWritten, equal ``namespace`` and ``model``) mutes a refused file's N
Campaign pages behind its one model page. A Campaign moved to another model keeps one series,
and its DELETED event drops it, whatever model it named."""

from __future__ import annotations

from typing import Any

from uplift_operator.handlers import campaign, observability

NOT_DELIVERED = {"conditions": [{"type": "SettingsDelivered", "status": "False",
                                 "reason": "FileNotWritten"}]}


def _series(name: str) -> dict[str, float]:
    """The Campaign's series, by the model each names."""
    return {sample.labels["model"]: sample.value
            for metric in observability.REGISTRY.collect()
            if metric.name == "uplift_operator_campaign_settings_undelivered"
            for sample in metric.samples
            if sample.labels["namespace"] == "ns" and sample.labels["name"] == name}


def _spec(model: str) -> dict[str, Any]:
    return {"modelRef": {"name": model}}


def test_the_series_names_the_campaigns_model_and_follows_a_move() -> None:
    campaign._observe("ns", "moved", NOT_DELIVERED, _spec("hillstrom"))
    assert _series("moved") == {"hillstrom": 1}
    campaign._observe("ns", "moved", {}, _spec("criteo"))
    assert _series("moved") == {"criteo": 0}  # not two series, one of them stuck at 1
    observability.forget("Campaign", "ns", "moved")
    assert _series("moved") == {}
