"""The other version's report and cohort series, at zero on a replica from the moment a split
names that version (review-runtime finding 1).

Reports reach replicas of either version, so a stable replica counts the conversions of the
canary's decisions (and a canary replica those of the stable's campaign decisions). A series
first created by its first count is born inside the gates' PromQL ranges and loses that count;
so a replica exports them at zero for the split's versions, for the model's own decisions and
every campaign of the file, and removes them a window after a version left the split.
``UpliftRuntime`` is loaded as MLServer loads it; counters are read from the process-wide
registry the metrics port serves.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.requests import Request
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.events import Signer
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS, UpliftRuntime

NAME, OWN, CANARY = "split-series-test", "7", "8"
CAMPAIGN, LATER = "spring-email", "summer-sms"
TREATING = "autumn-kids"   # a campaign no other test publishes
KEY = "split-series-decision-key-0123456789ab"
KEYS = ("womens_e_mail", "mens_e_mail", "none")
WINDOW = 60
#: What a report or a closing cohort counts under the deciding version (its campaign's too).
REPORTED = ("uplift_outcomes_total", "uplift_conversions_total",
            "uplift_outcomes_received_total", "uplift_outcomes_converted_total")




def _entry(window: int = 86400) -> dict[str, Any]:
    return {"generation": 1, "salt": "t/spring", "unitKey": "customer_id",
            "holdoutFraction": 0.2, "exposurePercent": 100,
            "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
            "policy": {"type": "upliftThreshold", "minUplift": -1.0},
            "attributionWindowSeconds": window, "active": True}


def _document(canary: str | None, campaigns: tuple[str, ...] = (CAMPAIGN,)) -> str:
    return json.dumps({"format": "uplift-operator/campaigns/v1",
                       "campaigns": {name: _entry() for name in campaigns},
                       "split": {"stable": OWN, "canary": canary, "canaryPercent": 10,
                                 "attributionWindowSeconds": WINDOW}})


@dataclass
class Loaded:
    runtime: UpliftRuntime
    loop: asyncio.AbstractEventLoop
    path: Path

    def publish(self, text: str, now: float) -> None:
        self.path.write_text(text)
        self.runtime._campaign_tick(now)

    def report(self, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
        data = json.dumps({"outcomes": outcomes}).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/",
                           "query_string": b""}, receive)
        answer: dict[str, Any] = self.loop.run_until_complete(self.runtime.outcomes(request))
        return answer


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A stable replica (version 7) loaded while a canary (8) runs."""
    root = tmp_path_factory.mktemp("split-series")
    train_small_model(root / "model")
    path = root / "campaigns.json"
    path.write_text(_document(CANARY))
    env = {"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_DECISION_KEY": KEY,
           "UPLIFT_MODEL_VERSION": OWN, drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime(NAME, root / "model", env) as (runtime, loop):
        yield Loaded(runtime, loop, path)


def value(metric: str, version: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"model": NAME, "version": version, **labels})


def series(version: str) -> set[tuple[object, ...]]:
    """Every series of this model labelled ``version`` with a ``campaign`` label (their
    values: not the ``_created`` timestamps beside them)."""
    return {(s.name, *sorted(s.labels.items())) for family in REGISTRY.collect()
            for s in family.samples if not s.name.endswith("_created")
            and s.labels.get("model") == NAME
            and s.labels.get("version") == version and "campaign" in s.labels}


def missing(version: str, campaign: str) -> list[str]:
    """The series a report of ``version``'s decisions under ``campaign`` counts in that this
    replica does not export (yet)."""
    wanted = [(metric, arm, key) for metric in REPORTED for arm in ("holdout", "treated")
              for key in KEYS]
    if campaign:
        wanted += [("uplift_late_outcomes_total", arm, key) for arm in ("holdout", "treated")
                   for key in KEYS]
    out = [f"{metric}{{arm={arm},treatment={key}}}" for metric, arm, key in wanted
           if value(metric, version, campaign=campaign, arm=arm, treatment=key) is None]
    if campaign:
        out += [f"deliveries {key} {status}" for key in KEYS[:2] for status in ("ok", "failed")
                if value("uplift_deliveries_total", version, campaign=campaign, arm="treated",
                         treatment=key, status=status) is None]
    return out


def test_the_canarys_series_are_at_zero_on_a_stable_replica_from_load(loaded: Loaded) -> None:
    for campaign in ("", CAMPAIGN):
        assert missing(CANARY, campaign) == []
        for metric in REPORTED:
            assert value(metric, CANARY, campaign=campaign, arm="treated",
                         treatment="womens_e_mail") == 0.0
    # Counted where they are counted, never here: the canary replica's own decisions.
    assert value("uplift_outcomes_expected_total", CANARY, campaign="", arm="treated",
                 treatment="none") is None
    assert value("uplift_windowed_decisions_total", CANARY, campaign="", arm="treated",
                 treatment="none") is None


def test_the_first_conversion_of_a_canary_decision_counts_from_zero(loaded: Loaded) -> None:
    """The review's born.py: a canary (v8) decision's conversion reported to this v7 replica;
    when its window closes the count goes 0 → 1 in a series that was there at 0 (a series
    born at 1 inside the gate's range showed no increase: the first count lost)."""
    runtime = loaded.runtime
    now = int(time.time())
    decision = Signer(KEY.encode()).mint("holdout", "womens_e_mail", CANARY, "", now - 30,
                                         WINDOW)
    labels = {"campaign": "", "arm": "holdout", "treatment": "womens_e_mail"}
    before = value("uplift_outcomes_converted_total", CANARY, **labels)
    assert before == 0.0
    assert loaded.report([{"decision_id": decision, "converted": True}])["counted"] == 1
    runtime._campaign_tick(now + 31)   # the window closed on it
    assert value("uplift_outcomes_converted_total", CANARY, **labels) == before + 1
    assert value("uplift_outcomes_received_total", CANARY, **labels) == before + 1


def test_a_campaign_added_during_the_canary_has_the_canarys_series_too(loaded: Loaded) -> None:
    try:
        assert missing(CANARY, LATER) != []
        loaded.publish(_document(CANARY, (CAMPAIGN, LATER)), time.time())
        assert missing(CANARY, LATER) == []
        assert missing(OWN, LATER) == []   # its own, as before
    finally:
        loaded.publish(_document(CANARY), time.time())


def test_a_treatment_only_the_canary_has_is_at_zero_once_the_file_names_it(
        loaded: Loaded) -> None:
    """The canary's model scores kids-e-mail, this replica's (7) does not. The campaign naming
    it is held at 0 % (the stable does not score it), so this replica takes it without it;
    a Campaign that treats with it is rejected here. The file names it either way: the
    canary's series of that key are at zero here before its first report — for each campaign
    of the file that names it, taken here or not, and for the model's own decisions — and
    never this replica's own (its decisions cannot carry it). Before, only this model's keys,
    and only for the campaigns this replica takes."""
    def kids(version: str, campaign: str, metric: str = "uplift_outcomes_converted_total",
             **labels: str) -> float | None:
        return value(metric, version, campaign=campaign, treatment="kids_e_mail",
                     **({"arm": "treated"} | labels))

    held = {**_entry(), "exposurePercent": 0,
            "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0},
                           "kids-e-mail": {"cost": 0.0, "value": 1.0}}}
    treating = {**held, "exposurePercent": 50}
    document = json.loads(_document(CANARY))
    document["campaigns"] = {CAMPAIGN: held, TREATING: treating}
    runtime, now = loaded.runtime, int(time.time())
    assert kids(CANARY, "") is None and kids(CANARY, CAMPAIGN) is None
    try:
        loaded.publish(json.dumps(document), now)
        assert CAMPAIGN in (runtime._campaigns or {}) and TREATING not in (runtime._campaigns or {})
        for campaign in ("", CAMPAIGN):
            for metric in REPORTED:
                for arm in ("holdout", "treated"):
                    assert kids(CANARY, campaign, metric, arm=arm) == 0.0, (campaign, metric)
        assert kids(CANARY, CAMPAIGN, "uplift_late_outcomes_total") == 0.0
        for status in ("ok", "failed"):
            assert kids(CANARY, CAMPAIGN, "uplift_deliveries_total", status=status) == 0.0
        # Never taken here (it treats with kids-e-mail), served by the canary: its series at
        # zero for the canary, every key the entry names; none of this replica's own.
        assert missing(CANARY, TREATING) == []
        assert kids(CANARY, TREATING, status="ok", metric="uplift_deliveries_total") == 0.0
        assert value("uplift_outcomes_total", OWN, campaign=TREATING, arm="treated",
                     treatment="womens_e_mail") is None
        assert kids(OWN, "") is None and kids(OWN, CAMPAIGN) is None
        # The canary's first conversion of it, reported here, counts 0 → 1.
        decision = Signer(KEY.encode()).mint("treated", "kids_e_mail", CANARY, "", now - 30,
                                             WINDOW)
        assert loaded.report([{"decision_id": decision, "converted": True}])["counted"] == 1
        runtime._campaign_tick(now + 31)
        assert kids(CANARY, "") == 1.0
    finally:
        loaded.publish(_document(CANARY), time.time())


def test_a_version_that_left_the_split_has_its_series_removed_after_its_window(
        loaded: Loaded) -> None:
    """A rollback and the next canary (9): 9's series at zero at once; 8's kept while its
    decisions' reports may still come (the longest window + FORGET_AFTER_SECONDS) and while a
    cohort count of its is pending, then removed. The replica's own series stay."""
    runtime = loaded.runtime
    now = time.time()
    try:
        loaded.publish(_document("9"), now)
        assert missing("9", "") == [] and missing("9", CAMPAIGN) == []
        assert missing(CANARY, "") == []            # not yet: its reports still come
        # A conversion of an 8 decision received now, due when its window closes.
        decision = Signer(KEY.encode()).mint("treated", "mens_e_mail", CANARY, CAMPAIGN,
                                             int(now), 86400)
        assert loaded.report([{"decision_id": decision, "converted": True}])["counted"] == 1
        gone_at = now + 86400 + FORGET_AFTER_SECONDS + 1   # the campaign's window is longest
        runtime._campaign_tick(now + 86400 - 10)
        assert missing(CANARY, CAMPAIGN) == []
        runtime._campaign_tick(gone_at - 120)   # its count is due and counted; kept a while
        assert value("uplift_outcomes_converted_total", CANARY, campaign=CAMPAIGN,
                     arm="treated", treatment="mens_e_mail") == 1.0
        runtime._campaign_tick(gone_at)
        assert series(CANARY) == set()
        assert missing("9", "") == []               # the split's versions stay
        assert missing(OWN, "") == [] and missing(OWN, CAMPAIGN) == []
    finally:
        loaded.publish(_document(CANARY), time.time())
    assert missing(CANARY, "") == [] and missing(CANARY, CAMPAIGN) == []  # back: from zero


def test_a_report_after_a_retired_versions_series_went_has_them_removed_again(
        loaded: Loaded) -> None:
    """The review's r1_retired_series_leak.py for a version: 8 leaves the split and its series
    go; then a ``converted: false`` of one of its decisions (its window closed long ago, a
    daily batch) creates them again. The version goes back to ``_forget_retired`` and they go
    once the cohort count is counted and a few scrapes have read it; before, they stayed."""
    runtime = loaded.runtime
    now = time.time()
    try:
        loaded.publish(_document("9"), now)
        runtime._campaign_tick(now + 86400 + FORGET_AFTER_SECONDS + 1)
        assert series(CANARY) == set()
        decision = Signer(KEY.encode()).mint("holdout", "womens_e_mail", CANARY, CAMPAIGN,
                                             int(now) - 2 * 86400, 86400)
        assert loaded.report([{"decision_id": decision, "converted": False}])["counted"] == 1
        assert series(CANARY) != set()
        reported = time.time()
        runtime._campaign_tick(reported + 1)    # the cohort count is counted
        assert value("uplift_outcomes_received_total", CANARY, campaign=CAMPAIGN,
                     arm="holdout", treatment="womens_e_mail") == 1.0
        runtime._campaign_tick(reported + FORGET_AFTER_SECONDS - 10)
        assert series(CANARY) != set()
        runtime._campaign_tick(reported + 1 + FORGET_AFTER_SECONDS + 10)
        assert series(CANARY) == set()
        assert ("version", CANARY) not in runtime._retired
        assert missing("9", CAMPAIGN) == [] and missing(OWN, CAMPAIGN) == []
    finally:
        loaded.publish(_document(CANARY), time.time())
    assert missing(CANARY, "") == [] and missing(CANARY, CAMPAIGN) == []


def test_the_series_are_bounded_by_the_splits_versions(loaded: Loaded) -> None:
    """Per other version: 4 families × 2 arms × (treatments + none) for the model's own
    decisions, and per campaign 5 × 2 × (treatments + none) + 2 delivery results × the
    treatments (docs/runtime.md "Metrics")."""
    k = len(KEYS)
    per_campaign = 5 * 2 * k + 2 * (k - 1)
    assert len(series(CANARY)) == 4 * 2 * k + per_campaign
