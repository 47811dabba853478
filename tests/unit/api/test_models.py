"""Typed models: wire names, defaults applied by the model, durations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from uplift_operator.api.v1alpha1 import Campaign, CampaignStatus, UpliftModel, UpliftModelStatus
from uplift_operator.api.v1alpha1.common import parse_duration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("1m", 60), ("1h30m", 5400), ("14d", 14 * 86400), ("250ms", 0.25), ("1.5h", 5400),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "1x", "1m 2s", "-1s"])
def test_parse_duration_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_duration(text)


def test_sample_upliftmodel_round_trips_with_camel_case() -> None:
    body = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    model = UpliftModel.model_validate(body)
    assert model.spec.model.alias == "champion"
    assert model.spec.rollout.gates[0].template_ref == "uplift-latency-p95"
    assert model.spec.rollout.gates[1].failure_limit == 0  # default from the model, not the schema
    wire = model.to_wire()
    assert wire["spec"]["model"]["registeredModel"] == "hillstrom-uplift"
    assert wire["spec"]["rollout"]["analysisInterval"] == "1m"


def test_sample_campaign_defaults() -> None:
    body = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    campaign = Campaign.model_validate(body)
    assert campaign.spec.targeting.max_treatments_per_unit == 1
    assert campaign.spec.exposure.gates[0].type == "deliveryRate"
    assert campaign.spec.exposure.paused is False
    assert campaign.spec.rollback.mode == "Automatic"


def test_both_kinds_share_the_ramp_and_failure_policy_shape() -> None:
    """v1alpha1 aligned: the same fields in the same place for the rollout and the exposure."""
    model = UpliftModel.model_validate(yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text()))
    campaign = Campaign.model_validate(yaml.safe_load((SAMPLES / "campaign.yaml").read_text()))
    shared = {"steps", "analysis_interval", "gates", "paused", "progress_deadline"}
    assert shared <= set(type(model.spec.rollout).model_fields)
    assert shared <= set(type(campaign.spec.exposure).model_fields)
    assert set(type(campaign.spec.rollback).model_fields) == {"mode"}
    assert "mode" in type(model.spec.rollback).model_fields
    ramp_status = {"current_step", "step_started_at", "last_analysis_at", "gates", "history"}
    assert ramp_status <= set(UpliftModelStatus.model_fields)
    assert ramp_status <= set(CampaignStatus.model_fields)
