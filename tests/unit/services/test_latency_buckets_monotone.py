"""Latency bucket counts that are not monotone in ``le``.

``sum by (le) (increase(...))`` extrapolates each ``le`` series (and each pod's) on its own, so a
lower bucket can read a count above a higher one, even above +Inf. The gate's slow counts (+Inf
less a bucket) were then negative and the gate an Error ("invalid measurement") that counted
towards consecutiveErrorLimit. The collector repairs each side against the canary, keeping +Inf
(the request count): the canary's buckets capped at the one above (disputed requests slow), the
stable's raised to the one below and capped at +Inf (disputed requests fast, so its p95, the
frozen slow threshold, and its slow count no higher). The gate clamps a slow count within
[0, total] for a measurement that still holds such buckets.
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
from uplift_operator.domain.measurements import LatencyMeasurement
from uplift_operator.services import measurements

NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
LE = ("0.05", "0.1", "0.2", "0.5", "+Inf")
BOUNDS = (0.05, 0.1, 0.2, 0.5, math.inf)
STABLE = (10000, 19000, 19800, 20000, 20000)
# le=0.1 and le=0.5 above +Inf, le=0.1 above le=0.2: each series' increase extrapolated on its own.
CANARY = (10000, 20002, 19800, 20001, 20000)


class Buckets:
    """Prometheus answering each version's bucket counts since the step started."""

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if promql.startswith("sum by (le) (increase(uplift_request_duration_seconds_bucket"):
            counts = CANARY if 'version="2"' in promql else STABLE
            return [Sample({"le": le}, float(c), 0.0) for le, c in zip(LE, counts, strict=True)]
        return []

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return single_value(self.query(promql, time))


def _ctx() -> measurements.GateContext:
    return measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=NOW - dt.timedelta(minutes=30),
        canary_started_at=NOW - dt.timedelta(minutes=30), now=NOW, analysis_interval_s=30,
        holdout_fraction=0.1, metric_templates=templates.BUILTIN_TEMPLATES, treatments=(),
        canary_share=0.5)


def test_the_collector_caps_each_bucket_at_the_one_above_keeping_the_request_count() -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "max": 0.5})
    measured = measurements.collect(gate, _ctx(), Buckets(), None)
    assert isinstance(measured, LatencyMeasurement)
    assert measured.bucket_bounds == BOUNDS
    assert measured.canary_buckets == (10000, 19800, 19800, 20000, 20000)
    assert measured.canary_requests == 20000
    assert measured.stable_buckets == STABLE
    verdict = gates.evaluate_gate(gate, measured, None, NOW).verdict
    assert verdict is not GateVerdict.ERROR


@pytest.mark.parametrize("max_", [0.5, None], ids=["with max", "no max"])
@pytest.mark.parametrize("margin", [{}, {"margin": 0.05, "marginType": "absolute"}],
                         ids=["relative", "absolute"])
def test_the_gate_reads_no_negative_slow_count(max_: float | None,
                                               margin: dict[str, object]) -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", **margin,
                                     **({"max": max_} if max_ is not None else {})})
    measured = LatencyMeasurement(0.1, CANARY[-1], 0.1, STABLE[-1], bucket_bounds=BOUNDS,
                                  canary_buckets=CANARY, stable_buckets=STABLE)
    result = gates.evaluate_gate(gate, measured, None, NOW)
    assert result.verdict is not GateVerdict.ERROR, result.message


class _Layouts(Buckets):
    """Prometheus answering given bucket counts per version (``version="2"`` the canary)."""

    def __init__(self, canary: tuple[int, ...], stable: tuple[int, ...]) -> None:
        self.counts = {"2": canary, "1": stable}

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        if promql.startswith("sum by (le) (increase(uplift_request_duration_seconds_bucket"):
            counts = self.counts["2" if 'version="2"' in promql else "1"]
            return [Sample({"le": le}, float(c), 0.0) for le, c in zip(LE, counts, strict=True)]
        return []


# The stable's le=0.1 reads above its le=0.2. Capped from the top, as the canary's are, le=0.1
# fell to 18900: the stable's p95 (19000th request) moved up from (0.05, 0.1] to (0.2, 0.5] and
# its slow count with it. Repaired from the bottom up (le=0.2 raised to 19500), it stays at 0.1.
STABLE_DISPUTED = (10000, 19500, 18900, 19950, 20000)
# 10 % of the canary's requests above 0.1 s against the stable's 2.5 %, none above 0.5 s.
CANARY_SLOWER = (10000, 18000, 19000, 20000, 20000)


def test_the_stable_is_repaired_from_the_bottom_up_capped_at_its_request_count() -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency"})
    stable = (10000, 19500, 18900, 20100, 20000)  # le=0.5 above +Inf as well
    measured = measurements.collect(gate, _ctx(), _Layouts(CANARY, stable), None)
    assert isinstance(measured, LatencyMeasurement)
    assert measured.stable_buckets == (10000, 19500, 19500, 20000, 20000)
    assert measured.stable_requests == 20000
    # The canary's as before: capped from +Inf down.
    assert measured.canary_buckets == (10000, 19800, 19800, 20000, 20000)


def test_the_stable_repair_cannot_move_its_p95_up_and_pass_a_slower_canary() -> None:
    gate = ModelGate.model_validate({"name": "lat", "type": "latency"})
    measured = measurements.collect(gate, _ctx(), _Layouts(CANARY_SLOWER, STABLE_DISPUTED), None)
    assert isinstance(measured, LatencyMeasurement)
    assert measured.stable_p95_seconds is not None and measured.stable_p95_seconds <= 0.1
    result = gates.evaluate_gate(gate, measured, None, NOW)
    assert result.verdict is GateVerdict.FAIL, result.message
    assert "slower than 0.1s" in result.message
