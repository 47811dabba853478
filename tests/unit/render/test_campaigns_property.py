"""Property: whatever name and spec the API server took for a Campaign, and whatever the pass
decided, the campaigns file holds only entries the runtime's parser takes.

Names are DNS subdomains of up to 253 characters (what the API server takes for a custom
resource); specs are anything the schema (pydantic, from which the CRDs are generated) accepts,
the CEL rules and the operator's own validation aside (objects stored before a rule existed):
any duration the pattern allows, a policy without its parameter, an end before the start,
times at the ends of the calendar, blank salts and unit keys, huge numbers. Each Campaign
whose name the runtime serves a campaign under is in the file; one refused by the operator or
by the renderer (``unfit``) treats no one there; the others carry the pass's decision.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.render import campaigns
from uplift_operator.runtime import campaigns as runtime

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "manifests" / "samples"
                         / "campaign.yaml").read_text())["spec"]

_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
#: metadata.name of a custom resource: a DNS subdomain (dots, up to 253 characters).
_names = st.one_of(_label, st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?",
                                         fullmatch=True))
_durations = st.from_regex(r"([0-9]{1,12}(\.[0-9]{1,3})?(ms|s|m|h|d)){1,3}",
                           fullmatch=True).filter(lambda d: len(d) <= 32)
_amounts = st.floats(min_value=0, max_value=1e308, allow_nan=False, allow_infinity=False)
_texts = st.text(min_size=1, max_size=128)
_zones = st.builds(dt.timezone, st.timedeltas(min_value=-dt.timedelta(hours=23, minutes=59),
                                              max_value=dt.timedelta(hours=23, minutes=59)))
_times = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                      timezones=st.one_of(st.none(), _zones))


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def _specs(draw: st.DrawFn) -> CampaignSpec:
    raw: dict[str, Any] = copy.deepcopy(SAMPLE)
    raw["treatments"] = draw(st.lists(st.fixed_dictionaries({"name": _label}, optional={
        "costPerTreatment": _amounts, "valuePerConversion": _amounts}), min_size=1,
        max_size=4))
    raw["economics"] = {"valuePerConversion": draw(_amounts),
                        "costPerTreatment": draw(_amounts),
                        "budget": draw(_maybe(st.floats(min_value=1e-9, max_value=1e308))),
                        "budgetPeriod": draw(_maybe(_durations))}
    raw["targeting"] = {
        "policy": draw(st.sampled_from(["costAware", "upliftThreshold", "topFraction"])),
        "minUplift": draw(_maybe(st.floats(min_value=-1, max_value=1))),
        "topFraction": draw(_maybe(st.floats(min_value=1e-12, max_value=1))),
        "maxTreatmentsPerUnit": draw(st.integers(min_value=1, max_value=32))}
    raw["experiment"] = {
        "holdoutFraction": draw(st.floats(min_value=1e-12, max_value=1 - 1e-12)),
        "unitKey": draw(_texts),
        "salt": draw(_maybe(st.text(max_size=128))),
        "attributionWindow": draw(_durations)}
    raw["schedule"] = draw(_maybe(st.fixed_dictionaries({}, optional={"start": _times,
                                                                       "end": _times})))
    for section in ("economics", "targeting", "experiment"):
        raw[section] = {k: v for k, v in raw[section].items() if v is not None}
    if raw["schedule"] is None:
        del raw["schedule"]
    return CampaignSpec.model_validate(raw)


@st.composite
def _entries(draw: st.DrawFn) -> list[campaigns.CampaignEntry]:
    names = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    namespace = draw(_label)
    return [campaigns.CampaignEntry(
        name=name, namespace=namespace,
        generation=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        spec=draw(_specs()),
        exposure_percent=draw(st.floats(min_value=0, max_value=100)),
        active=draw(st.booleans()),
        created=draw(_maybe(st.datetimes(min_value=dt.datetime(1970, 1, 1),
                                         max_value=dt.datetime(2999, 1, 1),
                                         timezones=st.just(dt.UTC)))),
        refused=draw(st.booleans())) for name in names]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_entries())
def test_every_entry_the_file_holds_is_one_the_runtime_takes(
        entries: list[campaigns.CampaignEntry]) -> None:
    file = campaigns.fitted(entries)
    parsed = runtime.parse(file.text)
    assert parsed.errors == {}
    servable = {e.name for e in entries if campaigns.name_problem(e.name) is None}
    assert set(parsed.campaigns) == servable
    assert set(file.not_carried) == {e.name for e in entries} - servable
    unfit = dict(file.unfit)
    for e in entries:
        if e.name not in servable:
            assert e.name in unfit
            continue
        taken = parsed.campaigns[e.name]
        if e.refused or e.name in unfit:
            assert (taken.active, taken.exposure_percent) == (False, 0)
        else:
            assert (taken.active, taken.exposure_percent) == (e.active, e.exposure_percent)
            assert campaigns.entry(e)["salt"] == (e.spec.experiment.salt
                                                  or f"{e.namespace}/{e.name}")
