"""errorRate and latency gates at a step of weight 100 judge the canary on ``max`` alone.

The step's window starts when the step started, before its 100/0 split reached the router, so
the stable served a few of its requests. The gates compared the canary with those few, a
comparison that could never show the canary no worse, and sat Inconclusive at every look (with
``max`` shown) until ``inconclusiveLimit`` paused the ramp. A measurement whose split says
weight 100 is now judged without its stable side; at a lower weight it still compares.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from tests.unit.domain.test_gates import FAST, SLOW, lat

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.measurements import (
    ErrorRateMeasurement,
    LatencyMeasurement,
    SplitCounts,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ERRORS = ModelGate.model_validate({"name": "errors", "type": "errorRate", "max": 0.01})
P95 = ModelGate.model_validate({"name": "p95", "type": "latency", "max": 0.2})


def _looks(gate: ModelGate, measure: object, looks: int = 30) -> GateOutcome:
    memory = None
    for look in range(1, looks + 1):
        out = gates.evaluate_gate(gate, measure(look), memory, NOW)  # type: ignore[operator]
        memory = out.memory
    return out


def _split(share: float) -> SplitCounts:
    """The step's weight; no request counted since its split settled (no split to check)."""
    return SplitCounts(stable=0, canary=0, canary_share=share)


def _errors(share: float, stable_n: int, canary_rate: float = 0.0005) -> object:
    def measure(look: int) -> ErrorRateMeasurement:
        n = 20_000 * look
        return ErrorRateMeasurement(canary_errors=round(n * canary_rate), canary_requests=n,
                                    stable_errors=0, stable_requests=stable_n,
                                    split=_split(share))
    return measure


def _latency(share: float, stable_n: int, canary: tuple[float, ...] = FAST) -> object:
    def measure(look: int) -> LatencyMeasurement:
        n = 20_000 * look
        return replace(lat(canary, n, FAST, stable_n), split=_split(share))
    return measure


@pytest.mark.parametrize("stable_n", [0, 50, 300, 2_000],
                         ids=lambda n: f"{n} stable requests before the switch")
def test_error_rate_at_weight_100_passes_on_max_whatever_the_stable_served(
        stable_n: int) -> None:
    out = _looks(ERRORS, _errors(1.0, stable_n))
    assert out.verdict is GateVerdict.PASS, out.message
    assert "canary error rate ≤ 0.01 shown" in out.message
    assert "stable" not in out.message


@pytest.mark.parametrize("stable_n", [0, 300, 2_000],
                         ids=lambda n: f"{n} stable requests before the switch")
def test_latency_at_weight_100_passes_on_max_whatever_the_stable_served(stable_n: int) -> None:
    out = _looks(P95, _latency(1.0, stable_n))
    assert out.verdict is GateVerdict.PASS, out.message
    assert "canary p95 ≤ 0.2 shown" in out.message
    assert "stable" not in out.message


def test_at_weight_100_max_still_fails_a_broken_canary() -> None:
    out = _looks(ERRORS, _errors(1.0, 300, canary_rate=0.05), looks=3)
    assert out.verdict is GateVerdict.FAIL, out.message
    slow = ModelGate.model_validate({"name": "p95", "type": "latency", "max": 0.05})
    out = _looks(slow, _latency(1.0, 300, canary=SLOW), looks=3)
    assert out.verdict is GateVerdict.FAIL, out.message


def test_below_weight_100_the_gates_still_compare_with_the_stable() -> None:
    out = _looks(ERRORS, _errors(0.5, 300), looks=1)
    assert "vs stable 0/300" in out.message
    assert out.verdict is GateVerdict.INCONCLUSIVE, out.message
    out = _looks(P95, _latency(0.5, 300), looks=1)
    assert "vs stable" in out.message
    assert out.verdict is GateVerdict.INCONCLUSIVE, out.message
