"""The latency gate's comparison with the stable when the template's p95 is not there.

The built-in templates read the p95 over the last analysis interval (``rate(...[{{interval}}])``):
with an analysisInterval at or below the scrape interval (the shipped sample: 30 s, the chart's
scrape 30 s) that range rarely holds two scrapes, so the p95 is NaN at nearly every look. The
gate froze its slow threshold from the stable's template p95, so the comparison never ran and
a gate with ``max`` passed on it alone: a canary 4 × slower than the stable, under ``max``,
passed at every look. The threshold is now the bucket the stable's p95 falls in over its bucket
counts since the step started (the counts the comparison reads, fetched anyway), and the stable's
p95 shown is computed from them. A step that gives the stable traffic but has no stable
histogram yet is no data (None), as errorRate's; ``max`` alone passes a step of weight 100 only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from datetime import datetime

import pytest

from uplift_operator.adapters.prometheus import (
    PARTIAL,
    MetricsUnavailable,
    QueryError,
    Sample,
    single_value,
)
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates, templates
from uplift_operator.domain.measurements import LatencyMeasurement, NotMeasured, bucket_quantile
from uplift_operator.services import measurements

NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
LE = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, math.inf)
STABLE = (9000, 9800, 9990, 10000, 10000, 10000)  # p95 in (0.05, 0.1]
CANARY = (50, 200, 1000, 1000, 1000, 1000)  # p95 in (0.1, 0.25]: 4 × the stable's


class QuietInterval:
    """Prometheus at a look of a 30-minute step: each version's bucket counts since the step
    started are there (``stable``: None, the stable's scrapes failing); the templates' p95 over
    the last interval is empty (one scrape in it)."""

    def __init__(self, stable: tuple[int, ...] | None = STABLE) -> None:
        self.stable = stable
        self.asked: list[str] = []

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        self.asked.append(promql)
        if promql.startswith("sum by (le) (increase(uplift_request_duration_seconds_bucket"):
            counts = CANARY if 'version="2"' in promql else self.stable
            return [] if counts is None else [Sample({"le": le}, float(c), 0.0)
                                              for le, c in zip(LE, counts, strict=True)]
        return []  # the p95 over the last interval; the split's queries: nothing to check

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return single_value(self.query(promql, time))


def _ctx(share: float) -> measurements.GateContext:
    return measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=NOW - dt.timedelta(minutes=30),
        canary_started_at=NOW - dt.timedelta(minutes=30), now=NOW, analysis_interval_s=30,
        holdout_fraction=0.1, metric_templates=templates.BUILTIN_TEMPLATES, treatments=(),
        canary_share=share)


@pytest.mark.parametrize("max_", [0.5, None], ids=["with max", "no max"])
def test_a_slower_canary_fails_without_the_templates_stable_p95(max_: float | None) -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency",
                                     **({"max": max_} if max_ is not None else {})})
    prom = QuietInterval()
    measured = measurements.collect(gate, _ctx(0.1), prom, None)
    assert isinstance(measured, LatencyMeasurement)
    # The stable's p95 from its step's counts: rank 9,500 of 10,000, in (0.05, 0.1].
    assert measured.stable_p95_seconds == pytest.approx(0.05 + 0.05 * 500 / 800)
    # Only the canary's p95 is asked of the template (shown); the stable's is not.
    assert sum(q.startswith("histogram_quantile") for q in prom.asked) == 1
    memory = None
    for _ in range(3):
        out = gates.evaluate_gate(gate, measured, memory, NOW)
        memory = out.memory
        assert out.verdict is GateVerdict.FAIL, out.message
        assert "requests slower than 0.1s ratio > 1" in out.message
        assert out.memory["slowRatio"].reference == pytest.approx(0.1)


def test_an_equal_canary_passes_without_the_templates_stable_p95() -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "max": 0.5})
    prom = QuietInterval()
    prom.stable = CANARY  # both alike, 1,000 requests each
    out = gates.evaluate_gate(gate, measurements.collect(gate, _ctx(0.5), prom, None), None,
                              NOW)
    assert out.verdict is not GateVerdict.FAIL, out.message
    assert "vs stable 0.2406s" in out.message


def test_no_stable_histogram_while_it_serves_is_no_data() -> None:
    # The stable's scrapes fail: judged on max alone, the 4 × slower canary passed.
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "max": 0.5})
    assert measurements.collect(gate, _ctx(0.1), QuietInterval(stable=None), None) is None


def test_no_stable_histogram_at_weight_100_is_judged_on_max() -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "max": 0.5})
    measured = measurements.collect(gate, _ctx(1.0), QuietInterval(stable=None), None)
    assert isinstance(measured, LatencyMeasurement)
    assert measured.stable_p95_seconds is None and measured.stable_buckets == ()
    out = gates.evaluate_gate(gate, measured, None, NOW)
    assert out.verdict is GateVerdict.PASS, out.message


# (id, cumulative counts over BOUNDS, q, quantile): as PromQL's histogram_quantile, but +Inf
# where the rank is in the +Inf bucket (PromQL: the largest finite bound).
QUANTILES = [
    ("interpolated", STABLE, 0.95, 0.05 + 0.05 * 500 / 800),
    ("in the first bucket, from 0", STABLE, 0.5, 0.05 * 5000 / 9000),
    ("at a bucket's bound", (0, 100, 100, 100, 100, 100), 0.95, 0.05 + 0.05 * 95 / 100),
    ("in the +Inf bucket", (0, 0, 0, 0, 90, 100), 0.95, math.inf),
]


@pytest.mark.parametrize(("counts", "q", "expected"), [row[1:] for row in QUANTILES],
                         ids=[row[0] for row in QUANTILES])
def test_bucket_quantile(counts: tuple[int, ...], q: float, expected: float) -> None:
    assert bucket_quantile(q, BOUNDS, counts) == pytest.approx(expected)


def test_bucket_quantile_without_requests_is_nan() -> None:
    assert math.isnan(bucket_quantile(0.95, BOUNDS, (0, 0, 0, 0, 0, 0)))
    assert math.isnan(bucket_quantile(0.95, (), ()))


class ShownP95Fails(QuietInterval):
    """The template's canary p95 (shown only) refused or answered partial; the bucket counts
    answered."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if promql.startswith("histogram_quantile"):
            self.asked.append(promql)
            raise self.error
        return super().query(promql, time)


@pytest.mark.parametrize("error", [
    QueryError("vector cannot contain metrics with the same labelset", status_code=422),
    MetricsUnavailable("prometheus answered a partial result: store down", status_code=200,
                       error_type=PARTIAL)], ids=["refused", "partial"])
def test_the_shown_canary_p95_failing_does_not_fail_the_gate(error: Exception) -> None:
    # Before: the gate was an Error (a refused query counted towards a rollback; a partial
    # one held the gate for as long as it lasted), though it judges the bucket counts only.
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "max": 0.5})
    measured = measurements.collect(gate, _ctx(0.1), ShownP95Fails(error), None)
    assert isinstance(measured, LatencyMeasurement)
    # The canary's p95 from its own bucket counts instead: rank 950 of 1,000 in (0.1, 0.25].
    assert measured.canary_p95_seconds == pytest.approx(bucket_quantile(0.95, BOUNDS, CANARY))
    out = gates.evaluate_gate(gate, measured, None, NOW)
    assert out.verdict is GateVerdict.FAIL, out.message  # judged, as when it answered


class Layouts(QuietInterval):
    """Each version's histogram with its own bucket bounds (a canary built with other
    buckets)."""

    def __init__(self, canary: dict[str, int], stable: dict[str, int]) -> None:
        super().__init__()
        self.layouts = {"2": canary, "1": stable}

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if promql.startswith("sum by (le) (increase(uplift_request_duration_seconds_bucket"):
            self.asked.append(promql)
            counts = self.layouts["2" if 'version="2"' in promql else "1"]
            return [Sample({"le": le}, float(c), 0.0) for le, c in counts.items()]
        return super().query(promql, time)


def test_bucket_layouts_that_differ_are_judged_on_the_bounds_both_have() -> None:
    # The stable's p95 sits at 0.1, a bound the canary's histogram lacks. Before, the bounds
    # were merged and the canary's count at 0.1 filled with 0: every canary request counted
    # slower than the stable's p95, a Fail at the first look of a canary as fast as it.
    gate = ModelGate.model_validate({"name": "lat", "type": "latency"})
    stable = {"0.05": 9000, "0.075": 9400, "0.1": 10000, "0.25": 10000, "+Inf": 10000}
    canary = {"0.05": 9000, "0.075": 9400, "0.25": 10000, "+Inf": 10000}
    measured = measurements.collect(gate, _ctx(0.5), Layouts(canary, stable), None)
    assert isinstance(measured, LatencyMeasurement)
    assert measured.bucket_bounds == (0.05, 0.075, 0.25, math.inf)
    assert measured.canary_buckets == measured.stable_buckets == (9000, 9400, 10000, 10000)
    out = gates.evaluate_gate(gate, measured, None, NOW)
    assert out.verdict is not GateVerdict.FAIL, out.message
    assert out.memory["slowRatio"].reference == pytest.approx(0.25)  # a bound both have


def test_bucket_layouts_without_a_bound_in_common_are_not_measured() -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "max": 0.5})
    stable = {"0.1": 9000, "1": 10000, "+Inf": 10000}
    canary = {"0.05": 9000, "0.5": 10000, "+Inf": 10000}
    measured = measurements.collect(gate, _ctx(0.5), Layouts(canary, stable), None)
    assert isinstance(measured, NotMeasured)
    assert "bucket layouts differ" in measured.why
