"""``bench/stats_simulation.py`` decides its "sequential" rows with what the operator calls per
analysis: the same statistics functions with the same arguments as ``gates.evaluate_gate``
passes them, so its figures are the operator's gates' and not a look-alike's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from tests.support.bench_scripts import load_bench_script

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import gates as gates_mod
from uplift_operator.domain import measurements as ms

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench_script("stats_simulation", "stats_simulation_operator_calls")


def _recording(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, Any]]:
    """Every call of ``gates.<name>`` (still made), with its arguments."""
    calls: list[tuple[Any, Any]] = []
    original = getattr(gates_mod, name)

    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(gates_mod, name, record)
    return calls


def _looks() -> Iterator[tuple[int, int, int, int]]:
    """(stable conversions, stable units, canary conversions, canary units) of three looks."""
    yield 80, 800, 18, 200
    yield 170, 1600, 31, 400
    yield 240, 2400, 52, 600


def test_conversion_looks_call_what_evaluate_gate_calls(bench: ModuleType,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _recording(monkeypatch, "guarded_non_inferiority_test")
    gate = bench.CONVERSION_GATE
    operator_memory: dict[str, Any] = {}
    bench_memory: dict[str, Any] = {}
    for sc, sn, cc, cn in _looks():
        # the holdouts at the design's share (10 %, converting alike): no SRM, no holdout wait
        m = ms.OnlineEffectMeasurement(
            canary=ms.VersionArms(holdout=ms.ArmCounts(cn // 9, cc // 9),
                                  treated=ms.ArmCounts(cn, cc)),
            stable=ms.VersionArms(holdout=ms.ArmCounts(sn // 9, sc // 9),
                                  treated=ms.ArmCounts(sn, sc)),
            holdout_fraction=0.1)
        calls.clear()
        outcome = gates_mod.evaluate_gate(gate, m, operator_memory, NOW)
        operator_memory = dict(outcome.memory)
        by_operator = list(calls)
        calls.clear()
        decision, bench_memory = bench.operator_conversion_look(
            gate, ms.ArmCounts(sn, sc), ms.ArmCounts(cn, cc), bench_memory)
        assert len(by_operator) == 3
        assert calls == by_operator
        assert {k: bench_memory[k] for k in ("effect", "effectFail")} == {
            k: operator_memory[k] for k in ("effect", "effectFail")}
        assert decision == {GateVerdict.PASS: 1, GateVerdict.FAIL: -1}.get(outcome.verdict, 0)


def test_error_looks_call_what_evaluate_gate_calls(bench: ModuleType,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _recording(monkeypatch, "rate_ratio_test")
    gate = bench.ERRORS_GATE
    operator_memory: dict[str, Any] = {}
    bench_memory: dict[str, Any] = {}
    for se, sn, ce, cn in ((30, 4000, 9, 1000), (61, 8000, 14, 2000), (95, 12000, 20, 3000)):
        calls.clear()
        outcome = gates_mod.evaluate_gate(gate, ms.ErrorRateMeasurement(ce, cn, se, sn),
                                          operator_memory, NOW)
        operator_memory = dict(outcome.memory)
        by_operator = list(calls)
        calls.clear()
        decision, bench_memory = bench.operator_errors_look(gate, se, sn, ce, cn, bench_memory)
        assert len(by_operator) == 1
        assert calls == by_operator
        # the operator's call: the Fail side at r > 1, from the first error on
        assert by_operator[0][1]["fail_margin"] == 0.0
        assert by_operator[0][1]["min_events"] == 1
        assert bench_memory["rateRatio"] == operator_memory["rateRatio"]
        assert decision == {GateVerdict.PASS: 1, GateVerdict.FAIL: -1}.get(outcome.verdict, 0)


def test_vectorised_kernels_decide_as_the_operator_functions(bench: ModuleType) -> None:
    for delta in (-bench.MARGIN, 0.0, bench.MARGIN):
        out, counts = bench.conversion(delta, 12, seed=7)
        bench._cross_check_conversion(counts, out["sequential"], 12)
    for ratio in (1.0 + bench.RATIO_MARGIN, 1.0, 0.8):
        out, counts = bench.errors(ratio, 12, seed=8)
        bench._cross_check_errors(counts, out["sequential"], 12)


def test_cross_check_catches_a_kernel_that_is_not_the_operators(bench: ModuleType) -> None:
    out, counts = bench.errors(1.0, 30, seed=9)
    seq = out["sequential"]
    flipped = type(seq)(np.where(seq.decision == 1, 0, seq.decision), seq.samples)
    with pytest.raises(AssertionError):
        bench._cross_check_errors(counts, flipped, 30)
