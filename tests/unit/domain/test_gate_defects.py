"""A gate's own arithmetic never crashes a pass: long drift stays finite, and any unexpected
exception of an evaluator becomes an Error verdict that names the gate (on-call review §1)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import pytest

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.gates import assess, evaluate_gate, memory_of
from uplift_operator.domain.measurements import DriftMeasurement, FeatureHistogram
from uplift_operator.stats.results import SequentialState

T0 = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def gate(type_: str, **fields: Any) -> ModelGate:
    return ModelGate.model_validate({"name": "drifty", "type": type_, **fields})


def drifted(n: int) -> DriftMeasurement:
    """Moderate drift (PSI ≈ 0.39) on ``n`` live rows."""
    a, b = int(n * 0.55), int(n * 0.15)
    live = (a, b, b, n - a - 2 * b)
    return DriftMeasurement(features={"age": FeatureHistogram(reference=(250,) * 4, live=live)})


def test_a_drift_gate_measured_for_an_hour_after_its_fail_stays_finite() -> None:
    """A dryRun drift gate (as one with failureLimit > 0, or one measured while a manual
    rollback is pending) keeps betting on moderate drift at 600 rows a minute: its
    log-evidence passes ~745 after 28 minutes, where exp(−log e) underflowed and 1/p divided by
    zero. Every look stays a Fail with a finite evidence."""
    g = gate("drift", dryRun=True)
    previous = None
    for minute in range(60):
        now = T0 + dt.timedelta(minutes=minute)
        out = evaluate_gate(g, drifted(600 * (minute + 1)), memory_of(previous, g), now)
        assert out.verdict is GateVerdict.FAIL, (minute, out.message)
        assert "drift shown" in out.message
        state = out.memory["drift:age"]
        assert 0 < state.p_fail <= 1 and math.isfinite(1 / state.p_fail)
        previous = assess(g, previous, out)
    assert previous is not None and previous.verdict is GateVerdict.FAIL


def test_an_unexpected_exception_of_a_gate_is_an_error_naming_the_gate(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def boom(*_: object, **__: object) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(gates, "psi_bounds", boom)
    memory = {"drift:age": SequentialState(looks=3)}
    with caplog.at_level(logging.ERROR, logger=gates.__name__):
        out = evaluate_gate(gate("drift"), drifted(1000), memory, T0)
    assert out.verdict is GateVerdict.ERROR
    assert "drifty" in out.message and "ZeroDivisionError" in out.message
    assert out.memory == memory  # the evidence so far is kept, not reset
    record = next(r for r in caplog.records if "drifty" in r.getMessage())
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
