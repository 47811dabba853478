"""bench/prometheus_ranges.py counts the instant queries each analysis asks (the docs cite "5.65 M
samples in 15 queries, 14 day-long and the rest" for a first analysis at 14 days), on a fake
Prometheus API."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench import prometheus_ranges as bench  # noqa: E402

SAMPLES_PER_QUERY = 7


class _Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


class FakePrometheus:
    """``/api/v1/query`` with ``stats=all``: one label set, every query read 7 samples; the
    queries asked, in order."""

    def __init__(self, fail: bool = False) -> None:
        self.asked: list[tuple[str, float]] = []
        self.fail = fail

    def get(self, url: str, timeout: float, params: dict[str, str]) -> _Answer:
        assert url.endswith("/api/v1/query") and params["stats"] == "all"
        self.asked.append((params["query"], float(params["time"])))
        if self.fail:
            return _Answer({"status": "error", "error": "query processing would load too many "
                                                        "samples into memory"})
        return _Answer({"status": "success", "data": {
            "resultType": "vector",
            "result": [{"metric": {"feature": "f0", "bin": "0"},
                        "value": [params["time"], "1"]}],
            "stats": {"samples": {"totalQueryableSamples": SAMPLES_PER_QUERY}}}})


def test_counting_source_counts_every_query_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePrometheus()
    monkeypatch.setattr(requests, "get", fake.get)  # the bench's client
    source = bench.CountingSource("http://prometheus")
    source.query("up", 100.0)
    source.query("up", 200.0)
    assert (source.queries, source.samples) == (2, 2 * SAMPLES_PER_QUERY)
    fake.fail = True  # refused (too many samples): asked all the same
    with pytest.raises(RuntimeError):
        source.query("up", 300.0)
    assert (source.queries, source.samples) == (3, 2 * SAMPLES_PER_QUERY)


def test_measure_reports_the_queries_of_each_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first analysis's queries and the running ones' (median), as Prometheus got them:
    each analysis is its pieces' queries, then the whole range's one query."""
    fake = FakePrometheus()
    monkeypatch.setattr(requests, "get", fake.get)  # the bench's client
    end, age = 1_788_000_000.0, 24 * bench.HOUR
    result = bench.measure(bench.CountingSource("http://prometheus"), end, age)
    start = end - age - bench.ANALYSES * bench.EVERY_S + 0.4  # as measure's ranges begin
    analyses: list[list[str]] = [[]]
    for promql, at in fake.asked:
        if promql == bench.QUERY.format(seconds=int(at - start)):  # the whole range: one query
            analyses.append([])
        else:
            analyses[-1].append(promql)
    assert analyses.pop() == [] and len(analyses) == bench.ANALYSES
    # A just-started operator asks the closed range in pieces, then the rest: more than one.
    assert result["first_queries"] == len(analyses[0]) > 1
    assert result["piece_queries"] == statistics.median(len(a) for a in analyses[1:])
    assert result["first_samples"] == len(analyses[0]) * SAMPLES_PER_QUERY


def test_a_first_analysis_at_14_days_asks_14_day_long_queries_and_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The count the docs cite, at the bench's own end time: it depends on the pieces' grid,
    not on the answers."""
    fake = FakePrometheus()
    monkeypatch.setattr(requests, "get", fake.get)  # the bench's client
    end = 1_788_000_000 - 1_788_000_000 % (2 * bench.HOUR)  # as bench's main
    result = bench.measure(bench.CountingSource("http://prometheus"), end, 336 * bench.HOUR)
    assert result["first_queries"] == 15
    assert result["piece_queries"] == 1  # running: the rest since the last joint
