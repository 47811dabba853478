"""One Campaign the file cannot carry as its spec says never costs the others their updates.

A Campaign whose spec cannot be rendered as it is (a duration past what a ``timedelta`` holds,
a value the runtime would reject) is carried as refused: inactive at 0 %, an entry the runtime
takes, ``unfit`` saying why. One whose name the runtime serves no campaign under (a dot, 64
characters or more: names the API server took for a Campaign) is left out. Whatever happens
rendering one entry is that entry's alone: the others are rendered as without it, a rollback
to 0 % included.
"""

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
from uplift_operator.runtime import campaigns as runtime

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "manifests" / "samples"
                         / "campaign.yaml").read_text())["spec"]
CREATED = dt.datetime(2026, 2, 20, 9, 30, tzinfo=dt.UTC)


def spec(**sections: dict[str, Any]) -> CampaignSpec:
    raw = copy.deepcopy(SAMPLE)
    for section, fields in sections.items():
        raw.setdefault(section, {}).update(fields)
    return CampaignSpec.model_validate(raw)


def entry_of(name: str, s: CampaignSpec | None = None, exposure: float = 25,
             active: bool = True, refused: bool = False) -> campaigns.CampaignEntry:
    return campaigns.CampaignEntry(name=name, namespace="growth", generation=2,
                                   spec=s or spec(), exposure_percent=exposure, active=active,
                                   created=CREATED, refused=refused)


def parsed(text: str) -> runtime.Parsed:
    result = runtime.parse(text)
    assert result.errors == {}
    return result


def test_a_campaign_with_a_duration_past_a_timedelta_is_refused_and_the_others_roll_back() -> None:
    rolled_back = entry_of("good", exposure=0, active=False)
    huge = entry_of("bad", spec(economics={"budgetPeriod": "1000000000d"}))
    file = campaigns.fitted([rolled_back, huge])
    taken = parsed(file.text).campaigns
    assert (taken["good"].exposure_percent, taken["good"].active) == (0, False)
    assert taken["good"] == parsed(campaigns.text([rolled_back])).campaigns["good"]
    assert (taken["bad"].exposure_percent, taken["bad"].active) == (0, False)
    assert taken["bad"].budget is not None and taken["bad"].budget.period_seconds is None
    assert (taken["bad"].salt, taken["bad"].unit_key) == ("spring-2026", "customer_id")
    why = dict(file.unfit)["bad"]
    assert "spec.economics.budgetPeriod '1000000000d'" in why
    assert "good" not in dict(file.unfit) and file.not_carried == () and file.left_out == ()
    assert campaigns.unfit(huge) == why and campaigns.unfit(rolled_back) is None


@pytest.mark.parametrize(("sections", "names"), [
    ({"experiment": {"attributionWindow": "1000000000d"}}, "spec.experiment.attributionWindow"),
    ({"economics": {"budgetPeriod": "99999999999h"}}, "spec.economics.budgetPeriod"),
    ({"targeting": {"policy": "upliftThreshold"}}, "needs spec.targeting.minUplift"),
    ({"targeting": {"policy": "topFraction"}}, "needs spec.targeting.topFraction"),
    ({"schedule": {"start": "2026-03-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}},
     "spec.schedule.end must be after"),
    ({"schedule": {"start": "2026-03-01T00:00:00Z", "end": "9999-12-31T23:30:00-05:00"}},
     "spec.schedule.end 9999-12-31T23:30:00-05:00 is out of range"),
])
def test_a_spec_the_runtime_would_reject_is_carried_as_refused_naming_the_field(
        sections: dict[str, Any], names: str) -> None:
    campaign = entry_of("odd", spec(**sections))
    taken = parsed(campaigns.text([campaign])).campaigns["odd"]
    assert taken.treats_no_one() and (taken.active, taken.exposure_percent) == (False, 0)
    why = campaigns.unfit(campaign)
    assert why is not None and names in why
    # refused by the operator already, it says so itself: nothing more to tell
    assert campaigns.unfit(entry_of("odd", spec(**sections), refused=True)) is None


@pytest.mark.parametrize("name", ["spring.email", "a" * 64, "c" * 63 + ".x", "s" * 253])
def test_a_name_the_runtime_serves_no_campaign_under_is_left_out(name: str) -> None:
    campaign = entry_of(name)
    file = campaigns.fitted([campaign, entry_of("fine")])
    assert set(parsed(file.text).campaigns) == {"fine"}
    assert file.not_carried == (name,) and file.left_out == ()
    assert "is not one the runtime serves a campaign under" in dict(file.unfit)[name]
    assert campaigns.name_problem(name) is not None and campaigns.name_problem("fine") is None
    with pytest.raises(campaigns.UnrenderableError, match="DNS label"):
        campaigns.entry(campaign)


def test_any_error_rendering_one_entry_is_that_entrys_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: an error no rule foresaw carries the Campaign as refused; one that
    even the refused entry hits leaves it out; the others render as without it."""
    original = campaigns._settings

    def failing(campaign: campaigns.CampaignEntry, *, refused: bool) -> dict[str, Any]:
        if campaign.name == "buggy":
            raise KeyError("surprise")
        if campaign.name == "broken" and not refused:
            raise ZeroDivisionError("as it is")
        return original(campaign, refused=refused)

    others = [entry_of("good", exposure=0, active=False), entry_of("treating")]
    alone = campaigns.text(others)
    monkeypatch.setattr(campaigns, "_settings", failing)
    file = campaigns.fitted([*others, entry_of("buggy"), entry_of("broken")])
    taken = parsed(file.text).campaigns
    assert set(taken) == {"good", "treating", "broken"}
    assert {n: taken[n] for n in ("good", "treating")} == dict(parsed(alone).campaigns)
    assert taken["broken"].treats_no_one()
    assert file.not_carried == ("buggy",)
    reasons = dict(file.unfit)
    assert "not even as refused: KeyError" in reasons["buggy"]
    assert "ZeroDivisionError: as it is" in reasons["broken"]


def test_a_number_json_cannot_carry_is_contained_to_its_entry() -> None:
    """The runtime rejects a whole document holding NaN or Infinity (not JSON): one such
    number (a spec built in Python; the API server's JSON holds none) is refused alone."""
    odd = entry_of("odd", spec(economics={"valuePerConversion": float("inf")}))
    file = campaigns.fitted([odd, entry_of("fine")])
    taken = parsed(file.text).campaigns
    assert taken["odd"].treats_no_one() and not taken["fine"].treats_no_one()
    assert "spec.treatments[].valuePerConversion inf" in dict(file.unfit)["odd"]
    json.loads(file.text)


def test_the_rules_mirrored_are_the_runtimes() -> None:
    assert campaigns.NAME.pattern == runtime.NAME.pattern
    assert (campaigns.MAX_NAME, campaigns.MAX_TEXT) == (runtime.MAX_NAME, runtime.MAX_TEXT)
