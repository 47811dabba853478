"""``PiecewiseIncreases``: which queries reach Prometheus, and that the pieces add up.

The fake source answers ``sum [by (feature)] (increase(c{...}[R]))`` for counters that grow at
a constant rate per label set (so any split of a range adds up exactly) and records what it was
asked. The real Prometheus's extrapolation at the joints is measured in
``tests/integration/adapters/test_prometheus_ranges.py`` and ``bench/prometheus_ranges.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from uplift_operator.adapters.prometheus import (
    PARTIAL,
    FailFast,
    MetricsUnavailable,
    PrometheusClient,
    QueryError,
    Sample,
)
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases

HOUR = 3600.0
RATES = {"a": 2.0, "b": 0.5}  # per second, per feature
SERIES = 'c_total{namespace="ns", campaign="x"}'
_ASKED = re.compile(r"sum(?P<by> by \(feature\))? ?\(increase\(c_total\{[^}]*\}"
                    r"\[(?P<amount>\d+)(?P<unit>ms|s)\](?: offset (?P<offset>\d+)s)?\)\)"
                    r"(?: or vector\(0\))?")


class Counters:
    """Constant-rate counters that exist from ``born`` on; records (range seconds, time)."""

    def __init__(self, born: float = 0.0, rates: dict[str, float] | None = None) -> None:
        self.born = born
        self.rates = RATES if rates is None else rates
        self.asked: list[tuple[str, float | None]] = []

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        at = time.timestamp() if isinstance(time, datetime) else time
        self.asked.append((promql, at))
        match = _ASKED.fullmatch(promql)
        if match is None:
            return [Sample(labels={}, value=42.0, timestamp=0.0)]
        assert at is not None
        seconds = int(match["amount"]) / (1000 if match["unit"] == "ms" else 1)
        end = at - int(match["offset"] or 0)
        covered = max(0.0, end - max(end - seconds, self.born))
        per_feature = {f: r * covered for f, r in self.rates.items() if covered > 0}
        if match["by"]:
            return [Sample(labels={"feature": f}, value=v, timestamp=at)
                    for f, v in per_feature.items()]
        return ([Sample(labels={}, value=sum(per_feature.values()), timestamp=at)]
                if per_feature else [])

    def ranges(self) -> list[float]:
        """The range of every count query asked, in seconds."""
        out = []
        for promql, _ in self.asked:
            match = _ASKED.fullmatch(promql)
            assert match is not None
            out.append(int(match["amount"]) / (1000 if match["unit"] == "ms" else 1))
        return out


def total(at: float, since: float) -> float:
    return sum(RATES.values()) * (at - since)


def test_a_short_range_and_any_other_query_go_to_prometheus_unchanged() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    short = f"sum(increase({SERIES}[3600s]))"
    other = 'histogram_quantile(0.95, sum by (le) (rate(x{a="b"}[5m])))'
    assert ranges.scalar(short, 100 * HOUR) == total(100 * HOUR, 99 * HOUR)
    assert ranges.query(other, 100 * HOUR)[0].value == 42.0
    assert [q for q, _ in counters.asked] == [short, other]


def test_a_long_range_is_the_kept_pieces_plus_the_rest() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    since = 10 * HOUR + 17.0
    at = since + 20 * HOUR + 1234.0
    promql = f"sum(increase({SERIES}[{int(at - since)}s]))"
    assert ranges.scalar(promql, at) == pytest.approx(total(at, since))
    # Up to the last whole hour at least 5 minutes back, then the rest.
    assert counters.ranges() == pytest.approx([30 * HOUR - since, at - 30 * HOUR])

    # Five minutes later, in the same hour: only the rest is asked again.
    counters.asked.clear()
    later = at + 300
    assert ranges.scalar(f"sum(increase({SERIES}[{int(later - since)}s]))", later) == (
        pytest.approx(total(later, since), rel=1e-9))
    assert counters.ranges() == pytest.approx([later - 30 * HOUR])

    # Two hours on: the kept part is extended by the two hours that closed, then the rest.
    counters.asked.clear()
    hours_on = at + 2 * HOUR
    assert ranges.scalar(f"sum(increase({SERIES}[{int(hours_on - since)}s]))", hours_on) == (
        pytest.approx(total(hours_on, since), rel=1e-9))
    assert counters.ranges() == pytest.approx([2 * HOUR, hours_on - 32 * HOUR])


def test_the_rest_is_never_shorter_than_the_settling_time() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    at = 40 * HOUR + 60.0  # one minute past the hour: the cut stays an hour earlier
    ranges.scalar(f"sum(increase({SERIES}[{int(20 * HOUR)}s]))", at)
    assert counters.ranges()[-1] == pytest.approx(HOUR + 60.0)


def test_grouped_counts_are_added_per_label_set_with_the_offset_respected() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    at, window, offset = 500 * HOUR + 99.0, 48 * HOUR, 14 * 24 * HOUR
    answer = ranges.query(f"sum by (feature) (increase({SERIES}[{int(window)}s] "
                          f"offset {int(offset)}s))", at)
    assert {s.labels["feature"]: s.value for s in answer} == pytest.approx(
        {f: r * window for f, r in RATES.items()})
    # Both pieces end at or before the range's end, ``offset`` back from the analysis.
    ends = [when for _, when in counters.asked]
    assert max(e for e in ends if e is not None) <= at - offset + 1e-6


def test_a_series_born_late_joins_the_sum_and_no_data_stays_no_data() -> None:
    born = 30 * HOUR
    counters = Counters(born=born)
    ranges = PiecewiseIncreases(counters)
    since = 10 * HOUR
    before = 25 * HOUR
    assert ranges.scalar(f"sum(increase({SERIES}[{int(before - since)}s]))", before) is None
    assert ranges.query(f"sum(increase({SERIES}[{int(before - since)}s])) or vector(0)",
                        before)[0].value == 0.0
    after = 40 * HOUR
    assert ranges.scalar(f"sum(increase({SERIES}[{int(after - since)}s]))", after) == (
        pytest.approx(total(after, born)))


def test_the_start_the_whole_seconds_imply_finds_the_kept_part() -> None:
    """The collectors write ``int(now - start)``: the implied start moves within a second."""
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    since = 3 * HOUR + 0.4
    for at in (since + 10 * HOUR + 0.9, since + 10 * HOUR + 300.1, since + 10 * HOUR + 600.5):
        ranges.scalar(f"sum(increase({SERIES}[{int(at - since)}s]))", at)
    kept_parts = [r for r in counters.ranges() if r > 2 * HOUR]
    assert len(kept_parts) == 1


def test_the_least_recently_used_parts_go_first() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters, max_size=4)
    at = 100 * HOUR
    for start_hours in (10, 20, 30):  # three (query, start) parts of one value each: 2 apiece
        ranges.scalar(f"sum(increase({SERIES}[{int(at - start_hours * HOUR)}s]))", at)
    counters.asked.clear()
    ranges.scalar(f"sum(increase({SERIES}[{int(at - 30 * HOUR)}s]))", at)
    assert len(counters.asked) == 1  # kept: only the rest
    ranges.scalar(f"sum(increase({SERIES}[{int(at - 10 * HOUR)}s]))", at)
    # Dropped: the kept part asked again (89 h in day-long queries), then the rest.
    assert counters.ranges()[1:] == pytest.approx([24 * HOUR, 24 * HOUR, 24 * HOUR, 17 * HOUR,
                                                   at - 99 * HOUR])


def test_parts_of_no_series_count_towards_the_bound_and_are_dropped() -> None:
    """An answer with no series is an entry (its key, its selector's text) all the same: counted
    as no values, such entries were never dropped (120 MB at 200,000 of them)."""
    counters = Counters(rates={})  # no series at all
    ranges = PiecewiseIncreases(counters, max_size=3)
    at = 100 * HOUR
    for start_hours in range(10, 60):  # fifty (query, start) parts, no series in any
        assert ranges.scalar(f"sum(increase({SERIES}[{int(at - start_hours * HOUR)}s]))", at) is None
    assert len(ranges._kept) == 3 and ranges._size == 3
    # The newest are kept; the oldest dropped and asked again.
    counters.asked.clear()
    ranges.scalar(f"sum(increase({SERIES}[{int(at - 59 * HOUR)}s]))", at)
    assert len(counters.asked) == 1
    ranges.scalar(f"sum(increase({SERIES}[{int(at - 10 * HOUR)}s]))", at)
    assert len(counters.asked) > 2


def test_the_bound_counts_each_part_and_its_values() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters, max_size=7)
    at = 100 * HOUR

    def query(range_s: float, when: float) -> None:
        ranges.query(f"sum by (feature) (increase({SERIES}[{int(range_s)}s]))", when)

    for start_hours in (10, 20, 30):  # two values apiece: 3 each
        query(at - start_hours * HOUR, at)
    assert len(ranges._kept) == 2 and ranges._size == 6
    # A part extended keeps its count: the same entry, the same values.
    query(at + HOUR - 30 * HOUR, at + HOUR)
    assert len(ranges._kept) == 2 and ranges._size == 6


def test_more_than_one_series_for_a_scalar_is_refused() -> None:
    ranges = PiecewiseIncreases(Counters())
    with pytest.raises(QueryError, match="expected one"):
        ranges.scalar(f"sum by (feature) (increase({SERIES}[{int(20 * HOUR)}s]))", 50 * HOUR)


def test_a_datetime_instant_is_read_as_its_epoch_seconds() -> None:
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    at = datetime(2026, 12, 5, 12, 0, 30, tzinfo=UTC)
    value = ranges.scalar(f"sum(increase({SERIES}[{int(20 * HOUR)}s]))", at)
    assert value == pytest.approx(total(at.timestamp(), at.timestamp() - 20 * HOUR))
    assert len(counters.asked) == 2


def test_the_pieces_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="settle <= piece"):
        PiecewiseIncreases(Counters(), piece=60, settle=300)


def test_one_series_from_one_start_at_two_offsets_keeps_two_parts() -> None:
    """deliveryRate's decisions ``[w − d] offset d`` and roi's ``[w]`` start at the step's start."""
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    since, delay = 10 * HOUR, 300
    for at in (since + 20 * HOUR + 400, since + 20 * HOUR + 500):  # cut points an hour apart
        ranges.scalar(f"sum(increase({SERIES}[{int(at - since)}s]))", at)
        ranges.scalar(f"sum(increase({SERIES}[{int(at - delay - since)}s] offset {delay}s))", at)
    kept_parts = [r for r in counters.ranges() if r > 2 * HOUR]
    assert len(kept_parts) == 2


def test_nothing_kept_yet_is_asked_a_day_at_most_at_a_time() -> None:
    """An operator just started on a 20-day-old step: no single query reads weeks (a model's
    drift bins could pass Prometheus's sample limit), and the answer is the whole range's."""
    counters = Counters()
    ranges = PiecewiseIncreases(counters)
    since = 7 * HOUR + 13.0
    at = since + 20 * 24 * HOUR + 2000.0
    assert ranges.scalar(f"sum(increase({SERIES}[{int(at - since)}s]))", at) == pytest.approx(
        total(at, since))
    asked = counters.ranges()
    assert max(asked) <= 24 * HOUR and len(asked) == 21  # 20 day-long queries and the rest
    assert sum(asked) == pytest.approx(at - since)


# -- a partial answer (a store that did not answer) is never kept --------------------------------

class PartialFirst:
    """Prometheus behind ``requests``: ``sum(increase(c_total{...}[<n>ms]))`` grows 2 a second;
    the first answer is partial (Thanos: a store unavailable, a tenth of the count, with
    ``warnings``), the later ones complete. Records each query's parameters."""

    def __init__(self) -> None:
        self.params: list[dict[str, str]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        params = dict(kwargs.get("data") or kwargs["params"])  # POSTed as form data
        self.params.append(params)
        match = re.search(r"\[(\d+)(ms|s)\]", params["query"])
        assert match is not None
        seconds = int(match[1]) / (1000 if match[2] == "ms" else 1)
        partial = len(self.params) == 1
        body: dict[str, Any] = {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [float(params["time"]), str(2.0 * seconds
                                                                 * (0.1 if partial else 1))]}]}}
        if partial:
            body["warnings"] = ["partial response: store 10.0.0.7:10901 unavailable"]
        response = requests.Response()
        response.status_code, response._content, response.url = 200, json.dumps(body).encode(), url
        return response


def test_a_partial_answer_is_never_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: the first piece's partial count (a tenth) was kept and added to every later
    # answer of the step, a store's outage lasting as long as the step.
    prometheus = PartialFirst()
    monkeypatch.setattr(requests.Session, "request", prometheus.request)
    client = PrometheusClient("http://thanos.test:9090", fail_fast=FailFast(hold=0))
    ranges = PiecewiseIncreases(client)
    since = 10 * HOUR
    at = since + 20 * HOUR + 600
    promql = f"sum(increase({SERIES}[{int(at - since)}s]))"
    with pytest.raises(MetricsUnavailable) as partial:
        ranges.scalar(promql, at)
    assert partial.value.error_type == PARTIAL
    assert partial.value.message == ("prometheus answered a partial result: partial response: "
                                     "store 10.0.0.7:10901 unavailable")
    assert ranges.scalar(promql, at) == pytest.approx(2.0 * (at - since))
    # Thanos is asked for no partial answer at all.
    assert {p["partial_response"] for p in prometheus.params} == {"false"}


class FailingAt(Counters):
    """``Counters`` whose ``fail_at``-th query (1-based) is answered 503, as an overloaded
    Prometheus answers."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at: int | None = fail_at

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if self.fail_at is not None and len(self.asked) + 1 == self.fail_at:
            self.asked.append((promql, None))
            raise MetricsUnavailable("prometheus answered HTTP 503 (timeout)", overloaded=True)
        return super().query(promql, time)


def test_a_cold_start_that_fails_part_way_keeps_the_days_answered() -> None:
    """Before: the day-long queries of a cold start were kept only once all had been answered,
    so one failing (an overloaded Prometheus's 503) lost the days before it and the next
    analysis asked them all again: under load a 14-day step might never get its counts."""
    counters = FailingAt(10)
    ranges = PiecewiseIncreases(counters)
    since = 7 * HOUR
    at = since + 14 * 24 * HOUR + 2000.0
    with pytest.raises(MetricsUnavailable):
        ranges.scalar(f"sum(increase({SERIES}[{int(at - since)}s]))", at)
    assert len(counters.asked) == 10  # nine days answered, the tenth failed
    counters.fail_at, counters.asked = None, []
    later = at + 60.0
    assert ranges.scalar(f"sum(increase({SERIES}[{int(later - since)}s]))", later) == (
        pytest.approx(total(later, since)))
    # The five days left (the ninth answered ends where the tenth starts) and the rest.
    asked = counters.ranges()
    assert len(asked) == 6 and max(asked) <= 24 * HOUR
    assert sum(asked) == pytest.approx(later - (since + 9 * 24 * HOUR))
