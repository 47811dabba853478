"""The campaigns file never carries an entry the runtime's parser rejects (a rejected entry keeps
the runtime's last good settings of the Campaign, treating on): every sample and edge spec the
API server lets through renders to an entry ``runtime.campaigns`` takes, and a Campaign whose
spec the operator refused renders as an inactive entry at 0 % (test_campaigns_property checks
it for any spec and name; test_campaigns_unfit, one the renderer itself refuses)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.render import campaigns
from uplift_operator.runtime import campaigns as runtime

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
RAW = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]
CREATED = dt.datetime(2026, 2, 20, 9, 30, tzinfo=dt.UTC)

#: Spec edits the schema (pydantic, the CRD's pattern) lets through, some of which the operator
#: refuses (``domain.validation.validate_campaign``) or the CRD's CEL rules would.
EDGES: dict[str, dict[str, Any]] = {
    "sample": {},
    "budgetPeriod 500ms": {"economics": {"budgetPeriod": "500ms"}},
    "budgetPeriod 0s": {"economics": {"budgetPeriod": "0s"}},
    "no budget": {"economics": {"budget": None, "budgetPeriod": None}},
    "budget no period": {"economics": {"budgetPeriod": None}},
    "window 500ms": {"experiment": {"attributionWindow": "500ms"}},
    "window 0s": {"experiment": {"attributionWindow": "0s"}},
    "window 4000d": {"experiment": {"attributionWindow": "4000d"}},
    "upliftThreshold without minUplift": {"targeting": {"policy": "upliftThreshold"}},
    "topFraction without topFraction": {"targeting": {"policy": "topFraction"}},
    "upliftThreshold": {"targeting": {"policy": "upliftThreshold", "minUplift": -1}},
    "topFraction": {"targeting": {"policy": "topFraction", "topFraction": 1}},
    "end before start": {"schedule": {"start": "2026-03-01T00:00:00Z",
                                      "end": "2026-02-01T00:00:00Z"}},
    "end equals start": {"schedule": {"start": "2026-03-01T00:00:00Z",
                                      "end": "2026-03-01T00:00:00Z"}},
    "naive schedule": {"schedule": {"start": "2026-03-01T00:00:00", "end": "2026-04-01T00:00:00"}},
    "no schedule": {"schedule": None},
}


def _spec(changes: dict[str, Any]) -> CampaignSpec:
    raw = copy.deepcopy(RAW)
    for key, fields in changes.items():
        if fields is None:
            raw.pop(key, None)
            continue
        node = raw.setdefault(key, {})
        for field, value in fields.items():
            if value is None:
                node.pop(field, None)
            else:
                node[field] = value
    return CampaignSpec.model_validate(raw)


def _entry(spec: CampaignSpec, refused: bool) -> campaigns.CampaignEntry:
    return campaigns.CampaignEntry(name="spring-email", namespace="growth", generation=4,
                                   spec=spec, exposure_percent=25, active=True, created=CREATED,
                                   refused=refused)


def _parsed(entry: campaigns.CampaignEntry) -> runtime.Campaign:
    parsed = runtime.parse(campaigns.text([entry]))
    assert parsed.errors == {}
    return parsed.campaigns["spring-email"]


@pytest.mark.parametrize("name", sorted(EDGES))
def test_a_refused_spec_renders_an_entry_the_runtime_takes_and_treats_no_one(name: str) -> None:
    spec = _spec(EDGES[name])
    taken = _parsed(_entry(spec, refused=True))
    assert (taken.active, taken.exposure_percent) == (False, 0)
    assert taken.state(CREATED.timestamp()) == "inactive"
    # what attributes the reports of earlier decisions stays
    assert (taken.salt, taken.unit_key, taken.holdout_fraction) == ("spring-2026", "customer_id",
                                                                    0.1)
    assert set(taken.treatments) == {t.name for t in spec.treatments}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_every_spec_the_api_server_takes_renders_an_entry_the_runtime_takes(name: str) -> None:
    # A policy without its parameter, an end before the start (the CRD's CEL rules refuse
    # them; an object stored before they did): carried as refused, ``unfit`` saying why.
    campaign = _entry(_spec(EDGES[name]), refused=False)
    taken = _parsed(campaign)
    cel = any(word in name for word in ("without", "before", "equals"))
    assert (taken.active, taken.exposure_percent) == ((False, 0) if cel else (True, 25))
    assert (campaigns.unfit(campaign) is not None) == cel


def test_every_sample_renders_an_entry_the_runtime_takes() -> None:
    found = 0
    for path in sorted(SAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Campaign":
                found += 1
                spec = CampaignSpec.model_validate(doc["spec"])
                for refused in (False, True):
                    _parsed(_entry(spec, refused))
    assert found >= 1


def test_a_valid_spec_renders_as_before() -> None:
    spec = _spec({})
    assert campaigns.entry(_entry(spec, refused=False))["budget"]["periodSeconds"] == 604800


def test_the_window_bound_is_the_runtimes() -> None:
    assert campaigns.MAX_WINDOW_SECONDS == runtime.MAX_WINDOW_SECONDS
