"""A campaign's series at zero while it may treat, not while it treats no one (review-runtime:
at 4,096 campaigns one scrape was 0.45 million series — 77 per campaign of the replica's own
version and 34 of the split's other — and their ``_created`` twins, 119 MB and 24–34 s of CPU,
past the chart's 10 s ``scrapeTimeout``).

A campaign of the file that is inactive, at exposure 0 or past its end exports no series at zero;
one whose start is ahead does (its first decisions come without a new version of the file). A
campaign that stops treating keeps its series while its decisions' reports may still come (its
window and ``FORGET_AFTER_SECONDS``) and while a cohort count of its is pending, then its
counters go, its gauges stay; at zero again once it may treat. A cohort count held for a
campaign whose series are not at zero here exports them first. ``UpliftRuntime`` is loaded as
MLServer loads it; the series are read from the process-wide registry the metrics port serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY
from starlette.requests import Request
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.events import Signer
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS, UpliftRuntime

OWN, CANARY = "7", "8"
KEY = "idle-series-decision-key-0123456789abcd"
WINDOW = 60
NOW = time.time()
#: Series a report of a decision counts under, per arm × treatment (and so at zero).
REPORTED = ("uplift_outcomes_total", "uplift_conversions_total",
            "uplift_outcomes_received_total", "uplift_outcomes_converted_total")


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _entry(**changes: Any) -> dict[str, Any]:
    return {"generation": 1, "salt": "t/idle", "unitKey": "customer_id",
            "holdoutFraction": 0.5, "exposurePercent": 100,
            "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
            "policy": {"type": "upliftThreshold", "minUplift": -1.0},
            "attributionWindowSeconds": WINDOW, "active": True, **changes}


#: What each campaign of the first file is, by what keeps it from treating (if anything).
FIRST = {"treating": _entry(), "inactive": _entry(active=False),
         "held": _entry(exposurePercent=0), "ended": _entry(end=_stamp(NOW - 5)),
         "later": _entry(start=_stamp(NOW + 3600))}


def _document(campaigns: dict[str, dict[str, Any]]) -> str:
    return json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": campaigns,
                       "split": {"stable": OWN, "canary": CANARY, "canaryPercent": 10,
                                 "attributionWindowSeconds": WINDOW}})


@dataclass
class Loaded:
    name: str
    runtime: UpliftRuntime
    loop: asyncio.AbstractEventLoop
    path: Path
    versions: int = 0

    def publish(self, campaigns: dict[str, dict[str, Any]], now: float) -> None:
        """A new version of the campaigns file (another mtime, whatever the file system's
        resolution), applied at ``now``."""
        self.versions += 1
        self.path.write_text(_document(campaigns))
        st = self.path.stat()
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + self.versions * 10**9))
        self.runtime._campaign_tick(now)

    def decide(self, campaign: str, units: list[str]) -> list[str]:
        n = len(units)
        body = {"inputs": [
            {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
            {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
            {"name": "customer_id", "datatype": "BYTES", "shape": [n], "data": units}],
            "parameters": {"campaign": campaign}}
        response = self.loop.run_until_complete(
            self.runtime.predict(InferenceRequest.model_validate(body)))
        return [str(v) for o in response.outputs if o.name == "arm" for v in o.data.root]

    def report(self, outcomes: list[dict[str, Any]],
               endpoint: str = "outcomes") -> dict[str, Any]:
        data = json.dumps({endpoint: outcomes}).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/",
                           "query_string": b""}, receive)
        handler = self.runtime.outcomes if endpoint == "outcomes" else self.runtime.deliveries
        answer: dict[str, Any] = self.loop.run_until_complete(handler(request))
        return answer

    def value(self, metric: str, version: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(metric, {"model": self.name, "version": version,
                                                  **labels})

    def series(self, campaign: str, version: str | None = None) -> set[str]:
        """The names of this model's series of ``campaign`` (of ``version``, if given)."""
        return {s.name for family in REGISTRY.collect() for s in family.samples
                if s.labels.get("model") == self.name and s.labels.get("campaign") == campaign
                and (version is None or s.labels.get("version") == version)}

    def zeros_missing(self, campaign: str) -> list[str]:
        """The report and cohort series of ``campaign`` not exported, of either version."""
        return [f"{metric} {version} {arm}" for metric in REPORTED for version in (OWN, CANARY)
                for arm in ("holdout", "treated")
                if self.value(metric, version, campaign=campaign, arm=arm,
                              treatment="womens_e_mail") is None]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("idle-series-model")
    train_small_model(root / "model")
    return root / "model"


@pytest.fixture
def loaded(model: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Loaded]:
    """A stable replica (7) during a canary (8), the campaigns of ``FIRST``; a model name per
    test (the registry is the process's)."""
    name = "idle-" + request.node.name.removeprefix("test_")[:40].replace("_", "-")
    path = tmp_path / "campaigns.json"
    path.write_text(_document(FIRST))
    env = {"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_DECISION_KEY": KEY,
           "UPLIFT_MODEL_VERSION": OWN, drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}
    with loaded_runtime(name, model, env) as (runtime, loop):
        yield Loaded(name, runtime, loop, path)


def test_only_a_campaign_that_may_treat_has_series_at_zero(loaded: Loaded) -> None:
    for name in ("treating", "later"):   # "later": its first decisions come at its start
        assert loaded.zeros_missing(name) == [], name
        assert loaded.value("uplift_outcomes_expected_total", OWN, campaign=name,
                            arm="treated", treatment="none") == 0.0
    for name in ("inactive", "held", "ended"):
        # Nothing at zero, of either version; its state still exported.
        assert loaded.series(name) == {"uplift_campaign_generation",
                                       "uplift_campaign_exposure_percent"}, name
        assert loaded.value("uplift_campaign_exposure_percent", OWN, campaign=name) == 0.0


def test_its_series_are_at_zero_once_it_may_treat(loaded: Loaded) -> None:
    assert loaded.zeros_missing("held") != []
    loaded.publish({**FIRST, "held": _entry(exposurePercent=50, generation=2)}, time.time())
    assert loaded.zeros_missing("held") == []
    assert loaded.value("uplift_assignments_total", OWN, campaign="held", arm="treated",
                        treatment="womens_e_mail") == 0.0


def test_a_campaign_that_stops_treating_loses_its_counters_a_window_later(
        loaded: Loaded) -> None:
    """Its decisions' expected counts and a conversion reported after it stopped are pending
    until their windows close: its series stay until then and a few scrapes more, then its
    counters go and its gauges stay. A decision under it then counts from a new series (not
    the child bound before), and it is at zero again once it treats."""
    runtime, t0 = loaded.runtime, time.time()
    arms = loaded.decide("treating", [f"u-{i}" for i in range(20)])
    exposed = sum(arm in ("holdout", "treated") for arm in arms)
    assert exposed == 20
    loaded.publish({**FIRST, "treating": _entry(exposurePercent=0, generation=2)}, t0)
    decision = Signer(KEY.encode()).mint("treated", "womens_e_mail", OWN, "treating",
                                         int(t0), WINDOW)
    assert loaded.report([{"decision_id": decision, "converted": True}])["counted"] == 1
    kept = loaded.series("treating")
    assert "uplift_outcomes_converted_total" in kept

    later = t0 + WINDOW + FORGET_AFTER_SECONDS + 5   # past the window and the grace
    runtime._campaign_tick(later)   # the pending counts are counted now: kept a while longer
    assert loaded.value("uplift_outcomes_expected_total", OWN, campaign="treating",
                        arm="treated", treatment="womens_e_mail") is not None
    assert loaded.value("uplift_outcomes_converted_total", OWN, campaign="treating",
                        arm="treated", treatment="womens_e_mail") == 1.0
    assert loaded.series("treating") == kept
    runtime._campaign_tick(later + FORGET_AFTER_SECONDS - 10)
    assert loaded.series("treating") == kept
    runtime._campaign_tick(later + FORGET_AFTER_SECONDS + 10)
    assert loaded.series("treating") == {"uplift_campaign_generation",
                                         "uplift_campaign_exposure_percent"}
    assert loaded.value("uplift_campaign_generation", OWN, campaign="treating") == 2.0

    loaded.decide("treating", ["u-1", "u-2", "u-3"])   # unexposed: it treats no one
    assert loaded.value("uplift_rows_scored_total", OWN, campaign="treating") == 3.0
    loaded.publish({**FIRST, "treating": _entry(generation=3)},
                   later + FORGET_AFTER_SECONDS + 20)
    assert loaded.zeros_missing("treating") == []


def test_a_campaign_treating_again_before_its_window_keeps_its_series(loaded: Loaded) -> None:
    runtime, t0 = loaded.runtime, time.time()
    kept = loaded.series("treating")
    loaded.publish({**FIRST, "treating": _entry(exposurePercent=0, generation=2)}, t0)
    loaded.publish({**FIRST, "treating": _entry(generation=3)}, t0 + WINDOW)
    runtime._campaign_tick(t0 + 10 * (WINDOW + FORGET_AFTER_SECONDS))
    assert loaded.series("treating") == kept


def test_a_cohort_count_of_an_idle_campaigns_decision_lands_in_a_series_at_zero(
        loaded: Loaded) -> None:
    """A conversion of a decision made while "inactive" still treated (before this replica
    started), reported here: the campaign's series are exported at zero when its cohort
    counts are held, so the count lands, when its window closes, in series that were there
    at 0 — for this replica's own version and the canary's."""
    runtime, now = loaded.runtime, int(time.time())
    signer = Signer(KEY.encode())
    labels = {"campaign": "inactive", "arm": "treated", "treatment": "womens_e_mail"}
    assert loaded.value("uplift_outcomes_converted_total", CANARY, **labels) is None
    assert loaded.report([{"decision_id": signer.mint("treated", "womens_e_mail", version,
                                                      "inactive", now - 10, WINDOW),
                           "converted": True} for version in (OWN, CANARY)])["counted"] == 2
    for version in (OWN, CANARY):
        for metric in ("uplift_outcomes_received_total", "uplift_outcomes_converted_total"):
            assert loaded.value(metric, version, **labels) == 0.0, (metric, version)
    assert loaded.zeros_missing("inactive") == []
    runtime._campaign_tick(now + WINDOW)   # the window closed on them
    for version in (OWN, CANARY):
        assert loaded.value("uplift_outcomes_converted_total", version, **labels) == 1.0
    # Still treating no one: its counters go a window and the grace later.
    runtime._campaign_tick(now + 3 * (WINDOW + FORGET_AFTER_SECONDS))
    assert loaded.series("inactive") == {"uplift_campaign_generation",
                                         "uplift_campaign_exposure_percent"}


GAUGES = {"uplift_campaign_generation", "uplift_campaign_exposure_percent"}


def test_a_report_after_an_idle_campaigns_counters_went_has_them_removed_again(
        loaded: Loaded) -> None:
    """The review's r1b_idle_series_leak.py: a campaign rolled back to exposure 0 loses its
    counters a window later; a delivery and a late conversion reported after that create
    series again (no cohort count is held for either). They go back to ``_forget_idle``, a
    few scrapes later; before, they stayed for the life of the process."""
    runtime, t0 = loaded.runtime, time.time()
    loaded.decide("treating", [f"u-{i}" for i in range(4)])
    loaded.publish({**FIRST, "treating": _entry(exposurePercent=0, generation=2)}, t0)
    later = t0 + WINDOW + FORGET_AFTER_SECONDS + 5
    runtime._campaign_tick(later)
    runtime._campaign_tick(later + 2 * FORGET_AFTER_SECONDS)
    assert loaded.series("treating") == GAUGES
    signer = Signer(KEY.encode())
    sent = signer.mint("treated", "womens_e_mail", OWN, "treating", int(t0) - 600, WINDOW)
    old = signer.mint("treated", "womens_e_mail", OWN, "treating", int(t0) - 3600, WINDOW)
    assert loaded.report([{"decision_id": sent, "status": "ok"}], "deliveries")["counted"] == 1
    assert loaded.report([{"decision_id": old, "converted": True}])["late"] == 1
    assert {"uplift_deliveries_total", "uplift_late_outcomes_total"} <= loaded.series("treating")
    now = time.time()
    runtime._campaign_tick(now + FORGET_AFTER_SECONDS - 10)   # read by a few scrapes first
    assert "uplift_deliveries_total" in loaded.series("treating")
    runtime._campaign_tick(now + FORGET_AFTER_SECONDS + 10)
    assert loaded.series("treating") == GAUGES
    assert "treating" not in runtime._idle and "treating" not in runtime._zeros_out


def test_a_campaign_reported_while_idle_keeps_its_series_once_it_treats(
        loaded: Loaded) -> None:
    """A report of "held" (exposure 0, no series at zero) puts it in ``_idle``; once it may
    treat, its series are at zero and stay: it leaves ``_idle`` with the tick that exports
    them, never removed while it treats."""
    runtime, t0 = loaded.runtime, time.time()
    held = Signer(KEY.encode()).mint("treated", "womens_e_mail", OWN, "held", int(t0) - 3600,
                                     WINDOW)
    assert loaded.report([{"decision_id": held, "status": "failed"}], "deliveries")[
        "counted"] == 1
    assert "held" in runtime._idle
    loaded.publish({**FIRST, "held": _entry(exposurePercent=50, generation=2)}, t0)
    assert "held" not in runtime._idle and loaded.zeros_missing("held") == []
    runtime._campaign_tick(t0 + 10 * (WINDOW + FORGET_AFTER_SECONDS))
    assert loaded.zeros_missing("held") == []
    assert "uplift_deliveries_total" in loaded.series("held")


def test_a_report_after_a_retired_campaigns_series_went_has_them_removed_again(
        loaded: Loaded) -> None:
    """The review's r1_retired_series_leak.py: a campaign leaves the file, its series go a
    window and the grace later; then the sender's ``converted: false`` of its decisions,
    reported when their windows closed (a daily batch), creates them again, cohort counts
    included. They go back to ``_forget_retired``, once those counts are counted and a few
    scrapes have read them; before, nothing removed them again."""
    runtime, t0 = loaded.runtime, time.time()
    signer = Signer(KEY.encode())
    loaded.decide("treating", [f"u-{i}" for i in range(4)])
    campaigns = {name: entry for name, entry in FIRST.items() if name != "treating"}
    loaded.publish(campaigns, t0)
    later = t0 + WINDOW + FORGET_AFTER_SECONDS + 5
    runtime._campaign_tick(later)
    runtime._campaign_tick(later + 2 * FORGET_AFTER_SECONDS)
    assert loaded.series("treating") == set()
    ids = [signer.mint(arm, "womens_e_mail", OWN, "treating", int(t0) - 600, WINDOW)
           for arm in ("treated", "holdout")]   # decisions whose windows closed
    assert loaded.report([{"decision_id": d, "converted": False} for d in ids])["counted"] == 2
    assert "uplift_outcomes_total" in loaded.series("treating")
    now = time.time()
    runtime._campaign_tick(now + 1)   # the cohort counts (their windows closed) are counted
    assert loaded.value("uplift_outcomes_received_total", OWN, campaign="treating",
                        arm="holdout", treatment="womens_e_mail") == 1.0
    runtime._campaign_tick(now + FORGET_AFTER_SECONDS - 10)
    assert "uplift_outcomes_received_total" in loaded.series("treating")
    runtime._campaign_tick(now + 1 + FORGET_AFTER_SECONDS + 10)
    assert loaded.series("treating") == set()
    assert ("campaign", "treating") not in runtime._retired


def test_the_runtime_exports_no_created_series() -> None:
    """Counters without their ``_created`` twin, by the runtime's metrics alone (this test
    process also imports the operator's, which turn them off too)."""
    script = (
        "from prometheus_client import CollectorRegistry, generate_latest\n"
        "from uplift_operator.runtime.metrics import RuntimeMetrics\n"
        "m = RuntimeMetrics(CollectorRegistry())\n"
        "m.outcomes.labels('m', '1', 'treated', 'none', 'c').inc()\n"
        "print(generate_latest(m._registry).decode())\n")
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(
                             Path(__file__).resolve().parents[3] / "operator")}).stdout
    assert "uplift_outcomes_total{" in out
    assert "_created" not in out
