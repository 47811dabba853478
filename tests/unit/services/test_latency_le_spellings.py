"""One latency bucket under two spellings of its ``le`` ("1" and "1.0").

Prometheus 3 normalises ``le`` at ingestion (2.x when it scrapes the protobuf format), so across
such a change, or between two scrape jobs, one bound's series carry both spellings and
``sum by (le)`` answers a row for each. The collector kept the last row only: that bucket lost
the other row's requests, the repair read them as slow on the canary's side and fast on the
stable's, and a canary as fast as its stable failed (p = 2.8e-125). The rows of one bound are
summed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from datetime import datetime

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates, templates
from uplift_operator.domain.measurements import LatencyMeasurement
from uplift_operator.services import measurements

NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
#: Both versions: 1000 requests, 990 under 0.5 s; le="1" renamed "1.0" mid-range.
ROWS = (("0.1", 500.0), ("0.5", 990.0), ("1", 600.0), ("1.0", 400.0), ("+Inf", 1000.0),
        ("2", math.nan))


class Buckets:
    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if promql.startswith("sum by (le) (increase("):
            return [Sample({"le": le}, value, 0.0) for le, value in ROWS]
        return []

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return 0.2


def test_the_rows_of_one_bound_under_two_spellings_are_summed() -> None:
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=NOW - dt.timedelta(hours=1),
        canary_started_at=NOW - dt.timedelta(hours=1), now=NOW, analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates=templates.BUILTIN_TEMPLATES, treatments=())
    gate = ModelGate.model_validate({"name": "p95", "type": "latency", "max": 0.9})
    measured = measurements.collect(gate, ctx, Buckets(), None)
    assert isinstance(measured, LatencyMeasurement)
    assert measured.bucket_bounds == (0.1, 0.5, 1.0, math.inf)
    assert measured.canary_buckets == measured.stable_buckets == (500, 990, 1000, 1000)
    assert gates.evaluate_gate(gate, measured, {}, NOW).verdict is not GateVerdict.FAIL
