"""The campaigns file the operator renders: the documented mapping, field by field, and the
ConfigMap that carries it. Every rendered document is also read back by the runtime's parser."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.render import campaigns
from uplift_operator.render.naming import Owner
from uplift_operator.runtime import campaigns as runtime_campaigns

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "manifests" / "samples"
                         / "campaign.yaml").read_text())
OWNER = Owner(name="hillstrom-uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000001")
CREATED = dt.datetime(2026, 2, 20, 9, 30, tzinfo=dt.UTC)
UID = "5f0c1d2e-7a9b-4c3d-8e1f-2a3b4c5d6e7f"


def spec(**changes: Any) -> CampaignSpec:
    raw = copy.deepcopy(SAMPLE["spec"])
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return CampaignSpec.model_validate(raw)


def entry_of(s: CampaignSpec, name: str = "spring-email", exposure: float = 25,
             active: bool = True, generation: int = 3) -> campaigns.CampaignEntry:
    return campaigns.CampaignEntry(name=name, namespace="growth", generation=generation, spec=s,
                                   exposure_percent=exposure, active=active, created=CREATED,
                                   uid=UID)


def test_the_sample_renders_exactly_the_documented_entry() -> None:
    assert campaigns.entry(entry_of(spec())) == {
        "generation": 3, "salt": "spring-2026", "unitKey": "customer_id",
        "holdoutFraction": 0.1, "exposurePercent": 25,
        "treatments": {"womens-e-mail": {"cost": 0.10, "value": 110.0},
                       "mens-e-mail": {"cost": 0.12, "value": 110.0}},
        "policy": {"type": "costAware"}, "maxTreatmentsPerUnit": 1,
        "budget": {"amount": 5000, "periodSeconds": 604800, "periodStart": "2026-03-01T00:00:00Z"},
        "attributionWindowSeconds": 1209600, "active": True,
        "start": "2026-03-01T00:00:00Z", "end": None, "createdAt": "2026-02-20T09:30:00Z",
        "uid": UID}


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"experiment__salt": ...}, "salt", "growth/spring-email"),
    ({"economics__budget": ..., "economics__budgetPeriod": ...}, "budget", None),
    ({"economics__budgetPeriod": ...}, "budget",
     {"amount": 5000, "periodSeconds": None, "periodStart": "2026-03-01T00:00:00Z"}),
    ({"schedule": ...}, "budget",  # no start: the period starts at the creation timestamp
     {"amount": 5000, "periodSeconds": 604800, "periodStart": "2026-02-20T09:30:00Z"}),
    ({"schedule": {"start": "2026-03-01T01:00:00+01:00", "end": "2026-04-01T00:00:00Z"}},
     "start", "2026-03-01T00:00:00Z"),
    ({"schedule": {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}},
     "end", "2026-04-01T00:00:00Z"),
    ({"targeting": {"policy": "upliftThreshold", "minUplift": 0.01}}, "policy",
     {"type": "upliftThreshold", "minUplift": 0.01}),
    ({"targeting": {"policy": "topFraction", "topFraction": 0.2, "maxTreatmentsPerUnit": 3}},
     "policy", {"type": "topFraction", "topFraction": 0.2}),
    ({"targeting": {"maxTreatmentsPerUnit": 3}}, "maxTreatmentsPerUnit", 3),
    ({"experiment__attributionWindow": "36h"}, "attributionWindowSeconds", 129600),
    ({"treatments": [{"name": "womens-e-mail", "valuePerConversion": 80}]}, "treatments",
     {"womens-e-mail": {"cost": 0.10, "value": 80}}),
])
def test_each_field_follows_the_documented_mapping(changes: dict[str, Any], field: str,
                                                   expected: Any) -> None:
    rendered = campaigns.entry(entry_of(spec(**changes)))
    assert rendered[field] == expected
    parsed = runtime_campaigns.parse(campaigns.text([entry_of(spec(**changes))]))
    assert parsed.errors == {}, parsed.errors


def test_a_recorded_budget_anchor_is_the_period_start_whatever_the_schedule_says() -> None:
    # status.budgetAnchor, once recorded, wins over an edited schedule.start (review-campaign
    # finding 5): the runtime's ledgers keep their period, so their spend.
    anchored = campaigns.CampaignEntry(
        name="spring-email", namespace="growth", generation=4,
        spec=spec(schedule={"start": "2026-03-10T00:00:00Z"}), exposure_percent=25,
        active=True, created=CREATED, budget_anchor=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert campaigns.entry(anchored)["budget"]["periodStart"] == "2026-03-01T00:00:00Z"
    assert campaigns.entry(anchored)["start"] == "2026-03-10T00:00:00Z"
    parsed = runtime_campaigns.parse(campaigns.text([anchored]))
    assert parsed.errors == {}, parsed.errors


@pytest.mark.parametrize(("exposure", "active"), [(0, False), (5, True), (100, True), (25, False)])
def test_exposure_and_active_are_the_pass_decision_written_down(exposure: float,
                                                                active: bool) -> None:
    c = runtime_campaigns.parse(campaigns.text([entry_of(spec(), exposure=exposure,
                                                         active=active)])).campaigns
    assert (c["spring-email"].exposure_percent, c["spring-email"].active) == (exposure, active)


def test_the_text_is_the_same_for_the_same_campaigns_in_any_order() -> None:
    a, b = entry_of(spec(), name="a-campaign"), entry_of(spec(), name="b-campaign")
    assert campaigns.text([a, b]) == campaigns.text([b, a])
    assert campaigns.text([a]) != campaigns.text([a, b])
    assert list(json.loads(campaigns.text([b, a]))["campaigns"]) == ["a-campaign", "b-campaign"]


def test_no_campaign_is_an_empty_document_the_runtime_accepts() -> None:
    text = campaigns.text([])
    assert json.loads(text) == {"format": "uplift-operator/campaigns/v1", "campaigns": {}}
    assert runtime_campaigns.parse(text).campaigns == {}


def test_the_config_map_is_owned_by_the_model_and_holds_the_file() -> None:
    text = campaigns.text([entry_of(spec())])
    assert campaigns.config_map(OWNER, text) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "hillstrom-uplift-campaigns", "namespace": "growth",
                     "labels": {"app.kubernetes.io/managed-by": "uplift-operator",
                                "app.kubernetes.io/name": "hillstrom-uplift",
                                "uplift.dev/model": "hillstrom-uplift"},
                     "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                          "kind": "UpliftModel", "name": "hillstrom-uplift",
                                          "uid": OWNER.uid, "controller": True,
                                          "blockOwnerDeletion": True}]},
        "data": {"campaigns.json": text}}
    assert campaigns.FILE == "/etc/uplift/campaigns/campaigns.json"


def test_the_version_split_reaches_the_runtime_as_it_reads_it() -> None:
    from uplift_operator.services.campaigns_file import version_split

    status = {"stableVersion": "3", "canaryVersion": "4", "canaryWeight": 30}
    split = version_split(status)  # the attribution window's default: 1h
    assert split == campaigns.VersionSplit("3", "4", 30, attribution_window_seconds=3600)
    text = campaigns.text([], split)
    assert runtime_campaigns.parse_split(text) == runtime_campaigns.VersionSplit(
        "3", "4", 30.0, attribution_window_seconds=3600)
    assert runtime_campaigns.parse(text).campaigns == {}  # an older reader ignores it
    # The spec's window, rounded up to whole seconds; a file without one (an older operator)
    # gives the runtime none.
    spec = {"experiment": {"attributionWindow": "90m"}}
    assert version_split(status, spec) == campaigns.VersionSplit("3", "4", 30, 5400)
    assert version_split(status, {"experiment": {"attributionWindow": "1500ms"}}) == \
        campaigns.VersionSplit("3", "4", 30, 2)
    older = json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": {},
                        "split": {"stable": "3", "canary": "4", "canaryPercent": 30}})
    assert runtime_campaigns.parse_split(older) == runtime_campaigns.VersionSplit("3", "4", 30.0)
    # No canary (or a canary equal to the stable): no split, the serving version owns every
    # unit, so the file does not change when a model's first version starts serving.
    assert version_split({"stableVersion": "3"}) is None
    assert version_split({"stableVersion": "3", "canaryVersion": "3",
                          "canaryWeight": 50}) is None
    assert version_split({}) is None and runtime_campaigns.parse_split(campaigns.text([])) is None


@pytest.mark.parametrize("split", [[], {"canary": "2", "canaryPercent": 10},
                                   {"stable": "1", "canaryPercent": 101},
                                   {"stable": "1", "canary": 2, "canaryPercent": 10},
                                   {"stable": "1", "canaryPercent": 10,
                                    "attributionWindowSeconds": -1},
                                   {"stable": "1", "canaryPercent": 10,
                                    "attributionWindowSeconds": "1h"}])
def test_a_malformed_split_is_refused_naming_the_field(split: Any) -> None:
    text = json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": {},
                       "split": split})
    with pytest.raises(runtime_campaigns.CampaignsError, match="split"):
        runtime_campaigns.parse_split(text)
