"""A Fail states the condition it showed and reports that condition's boundary as its
threshold (on-call review §2): "value 1.15, threshold 1.2 … ratio < 1.2: harm shown" read as
a rolled-back passing canary, while the Fail test was ratio > 1."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import (
    ArmCounts,
    ErrorRateMeasurement,
    LatencyMeasurement,
    OnlineEffectMeasurement,
    VersionArms,
)

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
F = GateVerdict.FAIL


def gate(type_: str, **fields: Any) -> ModelGate:
    return ModelGate.model_validate({"name": "g", "type": type_, **fields})


def test_an_error_rate_ratio_fail_states_ratio_above_one_and_reports_one_as_threshold() -> None:
    # The canary's error rate 1.15 × the stable's: harm (> 1) shown, though below 1 + margin.
    out = evaluate_gate(gate("errorRate"), ErrorRateMeasurement(4600, 400_000, 36_000, 3_600_000),
                        None, NOW)
    assert out.verdict is F
    assert "harm shown: error-rate ratio > 1 (always-valid p = " in out.message
    assert out.message.endswith("; passing needs error-rate ratio < 1.2")
    assert "ratio < 1.2: harm" not in out.message
    assert out.threshold == 1.0
    assert out.value is not None and out.lower is not None
    assert out.value > out.threshold and out.lower > out.threshold


def test_an_error_rate_ceiling_fail_states_the_rate_above_max() -> None:
    out = evaluate_gate(gate("errorRate", max=0.01), ErrorRateMeasurement(200, 4000, 0, 0),
                        None, NOW)
    assert out.verdict is F
    assert "harm shown: canary error rate > 0.01 (always-valid p = " in out.message
    assert "≤ 0.01" not in out.message
    assert (out.value, out.threshold) == (0.05, 0.01)


def test_an_error_rate_ceiling_fail_next_to_a_ratio_reports_the_rate_and_max() -> None:
    out = evaluate_gate(gate("errorRate", max=0.01), ErrorRateMeasurement(200, 4000, 100, 4000),
                        None, NOW)
    assert out.verdict is F and "harm shown:" in out.message
    assert out.value is not None and out.threshold is not None
    assert out.value > out.threshold


def test_a_latency_ceiling_fail_states_the_p95_above_max() -> None:
    bounds, n = (0.05, 0.1, 0.2, 0.5, 1.0, math.inf), 4000
    buckets = (int(n * .2), int(n * .3), int(n * .5), int(n * .7), int(n * .97), n)
    m = LatencyMeasurement(canary_p95_seconds=0.9, canary_requests=n, stable_p95_seconds=None,
                           stable_requests=0, bucket_bounds=bounds, canary_buckets=buckets)
    out = evaluate_gate(gate("latency", max=0.5), m, None, NOW)
    assert out.verdict is F
    assert "harm shown: canary p95 > 0.5 (always-valid p = " in out.message
    assert "≤ 0.5" not in out.message
    assert (out.value, out.threshold) == (0.9, 0.5)


def test_an_online_effect_fail_reports_zero_and_says_what_passing_needs() -> None:
    def arms(n: int, rate: float) -> VersionArms:
        h = n // 10
        return VersionArms(ArmCounts(h, h // 10), ArmCounts(n - h, int((n - h) * rate)))

    out = evaluate_gate(gate("onlineEffect", margin=0.02),
                        OnlineEffectMeasurement(arms(10000, 0.10), arms(10000, 0.15), 0.1),
                        None, NOW)
    assert out.verdict is F
    assert "worse than 0" in out.message and "passing needs Δ > -0.02" in out.message
    assert out.threshold == 0.0 and out.upper is not None and out.upper < out.threshold
