"""A campaigns file of many campaigns costs the event loop its changes, not its size.

The once-a-second tick bound and set each campaign's generation and exposure gauges (and its
period spend series) every time: ~4 ``.labels().set()`` per campaign, 72–175 ms a tick at
4,096. Now each gauge child is bound once and set when its value changes. A new version of the
file was read as JSON three times and every entry parsed and bound again, and logged with every
campaign in one line (0.25–0.84 s for one changed entry at 4,096); now it is read once, only the
entries that changed are parsed and bound, and the log line says counts and the names that
changed (at most ten). The runtime is loaded in-process as MLServer loads it."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import campaigns, drain
from uplift_operator.runtime.metrics import RuntimeMetrics
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS, UpliftRuntime

NAME, VERSION, N = "scale-test", "5", 30
BASE = {"model": NAME, "version": VERSION}
NOW = time.time()
END = NOW + 3600   # c-0 ends then
# The budgets' daily periods roll over 12 h from now, never between NOW and END: a rollover
# refreshes every budgeted campaign's spend series, which this file does not test (it failed
# when run in the hour before midnight UTC, with periods anchored at midnight).
PERIOD_START = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 43200))




def _entry(i: int, **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "generation": 1, "salt": f"s{i}", "unitKey": "customer_id", "holdoutFraction": 0.1,
        "exposurePercent": 100, "treatments": {"womens-e-mail": {"cost": 0.1, "value": 1.0}},
        "policy": {"type": "costAware"}, "attributionWindowSeconds": 86400, "active": True}
    if i % 2:   # half of them with a budget: their period spend series too
        entry["budget"] = {"amount": 100, "periodSeconds": 86400,
                           "periodStart": PERIOD_START}
    if i == 0:
        entry["end"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(END))
    return {**entry, **changes}


def _document(entries: dict[str, dict[str, Any]]) -> str:
    return json.dumps({"format": campaigns.FORMAT, "campaigns": entries})


def _every(**changed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"c-{i}": changed.get(f"c_{i}", _entry(i)) for i in range(N)}


def _rewrite(path: Path, text: str) -> None:
    """A new version of the file, whatever the file system's time resolution."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpliftRuntime]:
    root = tmp_path_factory.mktemp("scale")
    train_small_model(root / "model", arms=("Womens E-Mail",), rows=400, max_iter=10)
    (root / "campaigns.json").write_text(_document(_every()))
    env = {"UPLIFT_CAMPAIGNS_FILE": str(root / "campaigns.json"),
           "UPLIFT_DECISION_KEY": "scale-test-decision-key-0123456789abcdef",
           "UPLIFT_MODEL_VERSION": VERSION, drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime(NAME, root / "model", env) as (loaded, _):
        yield loaded


class _Calls:
    def __init__(self) -> None:
        self.count = 0

    def counting(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return function(*args, **kwargs)
        return counted


@pytest.fixture
def gauge_calls(monkeypatch: pytest.MonkeyPatch) -> tuple[_Calls, _Calls]:
    """(``.labels()`` calls on any metric, ``.set()`` calls on any gauge) from now on."""
    labels, sets = _Calls(), _Calls()
    monkeypatch.setattr(MetricWrapperBase, "labels", labels.counting(MetricWrapperBase.labels))
    monkeypatch.setattr(prometheus_client.Gauge, "set", sets.counting(prometheus_client.Gauge.set))
    return labels, sets


def _gauge(metric: str, campaign: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {**BASE, "campaign": campaign})


def test_a_tick_binds_no_gauge_and_sets_only_what_changed(
        runtime: UpliftRuntime, gauge_calls: tuple[_Calls, _Calls]) -> None:
    labels, sets = gauge_calls
    runtime._campaign_tick(NOW)
    labels.count = sets.count = 0
    runtime._campaign_tick(NOW + 1)
    assert (labels.count, sets.count) == (0, 0)   # N campaigns, nothing changed
    runtime._campaign_tick(END + 1)               # c-0 ended: its exposure only
    assert (labels.count, sets.count) == (0, 1)
    assert _gauge("uplift_campaign_exposure_percent", "c-0") == 0.0
    assert _gauge("uplift_campaign_exposure_percent", "c-1") == 100.0
    assert _gauge("uplift_campaign_generation", "c-1") == 1.0


def test_a_new_version_parses_and_binds_only_the_entries_that_changed(
        runtime: UpliftRuntime, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    assert runtime._watch is not None and runtime._campaigns is not None
    path = Path(runtime._watch.path)
    runtime._campaign_tick(NOW)
    before = dict(runtime._campaigns)
    loads, parses, binds = _Calls(), _Calls(), _Calls()
    monkeypatch.setattr(json, "loads", loads.counting(json.loads))   # campaigns' json
    monkeypatch.setattr(campaigns, "parse_campaign", parses.counting(campaigns.parse_campaign))
    monkeypatch.setattr(runtime._engine, "bind", binds.counting(runtime._engine.bind))
    _rewrite(path, _document(_every(c_7=_entry(7, exposurePercent=50, generation=2))))
    with caplog.at_level(logging.INFO, logger="uplift_operator.runtime"):
        runtime._campaign_tick(NOW)
    assert (loads.count, parses.count, binds.count) == (1, 1, 1)
    assert runtime._campaigns["c-7"].campaign.exposure_percent == 50
    assert all(runtime._campaigns[n] is before[n] for n in before if n != "c-7")
    assert _gauge("uplift_campaign_generation", "c-7") == 2.0
    (line,) = [r.getMessage() for r in caplog.records if "applied" in r.getMessage()]
    assert f"{N} campaigns, 1 new or changed: c-7 (generation 2, exposure 50 %), 0 gone" in line
    assert "c-8" not in line   # not every campaign of the file


def test_the_log_line_names_at_most_ten_and_a_campaign_back_gets_its_gauges(
        runtime: UpliftRuntime, caplog: pytest.LogCaptureFixture) -> None:
    assert runtime._watch is not None
    path = Path(runtime._watch.path)
    every = _every()
    fewer = {name: entry for name, entry in every.items() if name not in {"c-1", "c-2"}}
    _rewrite(path, _document(fewer))
    runtime._campaign_tick(NOW)
    assert _gauge("uplift_campaign_generation", "c-1") is None   # its series removed
    changed = {name: {**entry, "generation": 3} for name, entry in every.items()}
    _rewrite(path, _document(changed))
    with caplog.at_level(logging.INFO, logger="uplift_operator.runtime"):
        runtime._campaign_tick(NOW)
    (line,) = [r.getMessage() for r in caplog.records if "applied" in r.getMessage()]
    assert f"{N} new or changed: " in line and f"and {N - 10} more, 0 gone" in line
    assert _gauge("uplift_campaign_generation", "c-1") == 3.0    # exported again
    assert _gauge("uplift_campaign_exposure_percent", "c-1") == 100.0


def test_an_entry_kept_at_its_last_good_settings_is_taken_again_as_it_was() -> None:
    """``apply_read``: an unchanged entry is taken over as it was; a malformed one keeps its
    last good version, which the entry it was taken from goes on naming, so that entry back
    is taken over again without a bind; a rejected entry is parsed (and said) every time."""
    bound: list[str] = []

    def bind(c: campaigns.Campaign) -> str:
        bound.append(c.name)
        return f"{c.name}@{c.exposure_percent:g}"

    def apply(previous: campaigns.Applied[str] | None, **entries: Any) -> campaigns.Applied[str]:
        bound.clear()
        document = campaigns.read_document(_document(
            {name.replace("_", "-"): entry for name, entry in entries.items()}))
        return campaigns.apply_read(previous.campaigns if previous else {},
                                    previous.sources if previous else {}, document, bind)

    first = apply(None, a=_entry(0), b=_entry(2))
    assert first.campaigns == {"a": "a@100", "b": "b@100"} and bound == ["a", "b"]
    same = apply(first, a=_entry(0), b=_entry(2))
    assert same.campaigns == first.campaigns and bound == [] and same.changed == ()
    typed = apply(first, a={**_entry(0), "exposurePercent": 101}, b=_entry(2))
    assert "a" in typed.errors and typed.campaigns["a"] == "a@100" and bound == []
    again = apply(typed, a={**_entry(0), "exposurePercent": 101}, b=_entry(2))
    assert "a" in again.errors and again.changed == ("a",)            # said again
    back = apply(again, a=_entry(0), b=_entry(2))
    assert back.campaigns == first.campaigns and back.errors == {} and bound == []
    moved = apply(back, a=_entry(0, exposurePercent=5), b=_entry(2))
    assert moved.campaigns["a"] == "a@5" and bound == ["a"] and moved.changed == ("a",)


def _campaign_families(metrics: RuntimeMetrics) -> list[Any]:
    return [collector for collector in vars(metrics).values()
            if "campaign" in getattr(collector, "_labelnames", ())]


def _own(families: list[Any], name: str) -> int:
    """The series of model ``name``'s campaigns (not its own decisions', ``campaign=""``)."""
    return sum(key[0] == name and key[family._labelnames.index("campaign")] != ""
               for family in families for key in family._metrics)


@pytest.mark.parametrize("how", ["deleted", "ended"])
def test_many_campaigns_leaving_in_one_tick_cost_one_pass_over_the_series(
        tmp_path: Path, how: str) -> None:
    """The review's retire_tick.py: N campaigns deleted in one version of the file (or all
    past their end) had their series removed by one pass over every series per campaign, in
    one tick: N² work on the event loop (38 s at 2,048). Now the tick that removes them looks
    at each series once, at N as at 4 N: the series looked at (``series_scanned``) are at
    most those there are, where a pass per campaign looked at N times as many."""
    train_small_model(tmp_path / "model", arms=("Womens E-Mail",), rows=400, max_iter=10)
    for n in (8, 32):
        name, path = f"scale-leave-{how}-{n}", tmp_path / f"campaigns-{n}.json"
        ends = time.time() + 60
        end = {"end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ends))}
        path.write_text(_document({f"c-{i}": _entry(2 * i, **(end if how == "ended" else {}))
                                   for i in range(n)}))
        env = {"UPLIFT_CAMPAIGNS_FILE": str(path),
               "UPLIFT_DECISION_KEY": "scale-test-decision-key-0123456789abcdef",
               "UPLIFT_MODEL_VERSION": VERSION, drain.TOKEN_FILE_ENV: str(tmp_path / "token")}
        with loaded_runtime(name, tmp_path / "model", env) as (loaded, _):
            families = _campaign_families(loaded._m)

            assert _own(families, name) >= 50 * n   # every campaign's series at zero: it may treat
            if how == "deleted":
                _rewrite(path, _document({}))
                loaded._campaign_tick(time.time())
                later = time.time() + 86400 + FORGET_AFTER_SECONDS + 5
            else:
                loaded._campaign_tick(ends + 1)   # ended: idle from now
                later = ends + 1 + 86400 + FORGET_AFTER_SECONDS + 5
            series = sum(len(family._metrics) for family in families)  # every model's
            looked = loaded._m.series_scanned
            loaded._campaign_tick(later)
            # One pass over the series, not one per campaign (N times as many).
            assert 0 < loaded._m.series_scanned - looked <= series
            # Their series are gone: all when deleted; when ended, the counters (the gauges of
            # a campaign of the file stay: generation, exposure, a budget's period spend).
            assert _own(families, name) <= (0 if how == "deleted" else 3 * n)
