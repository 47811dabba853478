"""The errorRate collector on a step that leaves the stable no traffic (weight 100).

The CRD lets a ramp end at weight 100 only when its errorRate gates set ``max`` ("could never
pass there" otherwise), and the evaluator judges a canary without stable requests on ``max``
alone. The collector used to hand it nothing whenever the stable had served no request, so such
a gate was "no data yet" at every look of its last step and the canary never promoted. It now
needs the canary's requests only at such a step. At a step that gives the stable traffic, no
stable count is still "no data yet": a scrape not in, not a comparison to leave out.

The step's window starts when the step started, before the graph's 100/0 split reached the
router, so the stable usually served a few of the step's requests. The collector compared the
canary with those few, and the comparison could never show the canary no worse: the gate sat
Inconclusive at every look until ``inconclusiveLimit`` paused the ramp. At weight 100 it now
leaves the stable's counts out, whatever they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import datetime

import pytest

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.measurements import ErrorRateMeasurement
from uplift_operator.services import measurements

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Counts:
    """Prometheus at the step: the canary (version 2) answered 19,998 requests and refused 2;
    the stable (version 1) answered ``stable`` (0: its series there with an increase of 0;
    None: no series at all) and refused none."""

    def __init__(self, stable: float | None) -> None:
        self.stable = stable

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if "increase(" not in promql or "offset" in promql:
            return []
        errors = "uplift_request_errors_total" in promql
        rows = [Sample({"version": "2"}, 2.0 if errors else 19_998.0, 0.0)]
        if self.stable is not None:
            rows.append(Sample({"version": "1"}, 0.0 if errors else self.stable, 0.0))
        return rows

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return None


def _ctx(share: float | None) -> measurements.GateContext:
    return measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=T0, canary_started_at=T0,
        now=T0 + dt.timedelta(hours=1), analysis_interval_s=60, holdout_fraction=0.1,
        metric_templates={}, treatments=(), canary_share=share, promotes=True)


GATE = ModelGate.model_validate({"name": "errors", "type": "errorRate", "max": 0.01})

# (id, the step's canary share, the stable's series, the stable's (errors, requests) measured
# or None: nothing measured, verdict)
ROWS = [
    ("weight 100, stable series at 0", 1.0, 0.0, (0, 0), GateVerdict.PASS),
    ("weight 100, no stable series", 1.0, None, (0, 0), GateVerdict.PASS),
    # The stable's requests of the step before the 100/0 split reached the router.
    ("weight 100, stable requests before the switch", 1.0, 300.0, (0, 0), GateVerdict.PASS),
    ("weight 100, many stable requests before the switch", 1.0, 5_000.0, (0, 0),
     GateVerdict.PASS),
    ("weight 50, stable series at 0", 0.5, 0.0, None, GateVerdict.INCONCLUSIVE),
    ("weight 50, no stable series", 0.5, None, None, GateVerdict.INCONCLUSIVE),
    # A step that gives the stable traffic compares with it, as before.
    ("weight 50, stable requests", 0.5, 300.0, (0, 300), GateVerdict.INCONCLUSIVE),
    # The graph does not declare the status's split yet: no share to read, so as before.
    ("share unknown, no stable series", None, None, None, GateVerdict.INCONCLUSIVE),
    ("share unknown, stable requests", None, 300.0, (0, 300), GateVerdict.INCONCLUSIVE),
]


@pytest.mark.parametrize(("share", "stable", "stable_measured", "verdict"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_error_rate_without_stable_requests(share: float | None, stable: float | None,
                                            stable_measured: tuple[int, int] | None,
                                            verdict: GateVerdict) -> None:
    ctx = _ctx(share)
    collected = measurements.collect(GATE, ctx, Counts(stable), None)
    if stable_measured is not None:
        assert isinstance(collected, ErrorRateMeasurement)
        assert (collected.canary_errors, collected.canary_requests) == (2, 20_000)
        assert (collected.stable_errors, collected.stable_requests) == stable_measured
    else:
        assert collected is None
    out = gates.evaluate_gate(GATE, collected, None, ctx.now)
    assert out.verdict is verdict, out.message
    if verdict is GateVerdict.PASS:
        assert "canary error rate ≤ 0.01 shown" in out.message


def test_without_max_the_gate_says_what_it_lacks() -> None:
    g = ModelGate.model_validate({"name": "errors", "type": "errorRate"})
    ctx = _ctx(1.0)
    out = gates.evaluate_gate(g, measurements.collect(g, ctx, Counts(0.0), None), None, ctx.now)
    assert out.verdict is GateVerdict.INCONCLUSIVE
    assert "no stable requests to compare with; set max" in out.message
