"""The latency collector on a step that leaves the stable no traffic (weight 100).

The CRD lets a ramp end at weight 100 only when its latency gates set ``max``, and the
evaluator judges a canary without a stable histogram on ``max`` alone. The step's window starts
when the step started, before the graph's 100/0 split reached the router, so the stable usually
served a few of the step's requests: once they reached ``minSamples`` the gate compared the
canary with them, that comparison could never show the canary no worse, and the gate sat
Inconclusive at every look until ``inconclusiveLimit`` paused the ramp. At weight 100 the
collector now leaves the stable out (as the errorRate collector does,
test_error_rate_full_weight.py); at a step that gives the stable traffic it still compares.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from datetime import datetime

import pytest

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.measurements import LatencyMeasurement
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BOUNDS = (0.05, 0.1, 0.25, 0.5, float("inf"))
_VERSION = re.compile(r'version="([^"]*)"')


class Histograms:
    """Prometheus at the step: the canary (version 2) answered 20,000 requests, 2 % of them
    slower than 0.1 s; the stable (version 1) answered ``stable``, as fast. Bucket counts per
    version (``sum by (le) (increase(...))``) and each version's p95 (a scalar, 0.1 s); the
    traffic split's queries find no series (nothing to check)."""

    def __init__(self, stable: int) -> None:
        self.stable = stable
        self.scalars: list[str] = []

    def _requests(self, promql: str) -> int:
        version = _VERSION.search(promql)
        assert version is not None, promql
        return {"2": 20_000, "1": self.stable}.get(version.group(1), 0)

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if not promql.startswith("sum by (le) (increase(uplift_request_duration_seconds_bucket"):
            return []
        n = self._requests(promql)
        if not n:
            return []
        within = {0.05: 0.0, 0.1: 0.98 * n}
        return [Sample({"le": "+Inf" if b == float("inf") else str(b)},
                       within.get(b, float(n)), 0.0) for b in BOUNDS]

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        self.scalars.append(promql)
        return 0.1 if self._requests(promql) else None


def _ctx(share: float | None) -> measurements.GateContext:
    return measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=T0, canary_started_at=T0,
        now=T0 + dt.timedelta(hours=1), analysis_interval_s=60, holdout_fraction=0.1,
        metric_templates=BUILTIN_TEMPLATES, treatments=(), canary_share=share, promotes=True)


GATE = ModelGate.model_validate({"name": "p95", "type": "latency", "max": 0.2})

# (id, the step's canary share, the stable's requests, the stable's requests measured, verdict)
ROWS = [
    ("weight 100, no stable requests", 1.0, 0, 0, GateVerdict.PASS),
    # The stable's requests of the step before the 100/0 split reached the router (over
    # minSamples, 100).
    ("weight 100, stable requests before the switch", 1.0, 300, 0, GateVerdict.PASS),
    ("weight 100, many stable requests before the switch", 1.0, 5_000, 0, GateVerdict.PASS),
    # A step that gives the stable traffic compares with it, as before: one look on as fast a
    # canary shows nothing yet.
    ("weight 50, stable requests", 0.5, 300, 300, GateVerdict.INCONCLUSIVE),
    ("share unknown, stable requests", None, 300, 300, GateVerdict.INCONCLUSIVE),
]


@pytest.mark.parametrize(("share", "stable", "stable_measured", "verdict"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_latency_at_weight_100_judges_the_canary_alone(share: float | None, stable: int,
                                                       stable_measured: int,
                                                       verdict: GateVerdict) -> None:
    ctx = _ctx(share)
    prom = Histograms(stable)
    collected = measurements.collect(GATE, ctx, prom, None)
    assert isinstance(collected, LatencyMeasurement)
    assert (collected.canary_requests, collected.canary_p95_seconds) == (20_000, 0.1)
    assert collected.stable_requests == stable_measured
    assert bool(collected.stable_buckets) == bool(stable_measured)
    if not stable_measured:
        assert collected.stable_p95_seconds is None
    out = gates.evaluate_gate(GATE, collected, None, ctx.now)
    assert out.verdict is verdict, out.message
    if verdict is GateVerdict.PASS:
        assert "canary p95 ≤ 0.2 shown" in out.message
        assert "stable" not in out.message
    else:
        assert "vs stable" in out.message
