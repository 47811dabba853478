"""Typed models: wire names, defaults applied by the model, durations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from uplift_operator.api.v1alpha1 import Campaign, UpliftModel
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
    assert wire["spec"]["rollout"]["analysisInterval"] == "30s"


def test_sample_campaign_defaults() -> None:
    body = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    campaign = Campaign.model_validate(body)
    assert campaign.spec.targeting.max_treatments_per_unit == 1
    assert campaign.spec.gates[1].on_failure == "rollback"
    assert campaign.spec.gates[0].on_failure == "pause"
