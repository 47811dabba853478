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

from uplift_operator.adapters.prometheus import Sample, single_value
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates, templates
from uplift_operator.domain.measurements import LatencyMeasurement, bucket_quantile
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
