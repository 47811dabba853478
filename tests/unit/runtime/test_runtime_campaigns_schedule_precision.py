"""The runtime judges an entry's schedule as the operator does, to the microsecond: compared as
unix seconds in a float, a start and an end a microsecond apart past the year ~2242 were one,
and the runtime rejected an entry the operator wrote (its Campaign then treated on its last
settings: a review, 2026-12-07, micro.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.render import campaigns
from uplift_operator.runtime import campaigns as runtime

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"


def rendered(start: str, end: str) -> dict[str, object]:
    raw = yaml.safe_load(SAMPLE.read_text())["spec"]
    raw["schedule"] = {"start": start, "end": end}
    entry = campaigns.CampaignEntry(
        name="c", namespace="ns", generation=1, spec=CampaignSpec.model_validate(raw),
        exposure_percent=5.0, active=True, created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        uid="u")
    assert campaigns.unfit(entry) is None
    return dict(json.loads(json.dumps(campaigns.entry(entry))))


@pytest.mark.parametrize("year", [2026, 2300, 9000])
def test_an_entry_the_operator_writes_the_runtime_takes(year: int) -> None:
    start = f"{year}-01-01T00:00:00.000001Z"
    entry = rendered(start, f"{year}-01-01T00:00:00.000002Z")
    campaign = runtime.parse_campaign("c", entry)
    assert campaign.start == dt.datetime.fromisoformat(start).timestamp()
    assert campaign.start is not None and campaign.end is not None
    assert campaign.start <= campaign.end


def test_an_end_not_after_the_start_is_still_rejected() -> None:
    entry = rendered("2300-01-01T00:00:00.000001Z", "2300-01-01T00:00:00.000002Z")
    entry["end"] = entry["start"]
    with pytest.raises(runtime.CampaignsError, match="end must be after start"):
        runtime.parse_campaign("c", entry)
    entry["end"] = "2300-01-01T00:00:00Z"
    with pytest.raises(runtime.CampaignsError, match="end must be after start"):
        runtime.parse_campaign("c", entry)
