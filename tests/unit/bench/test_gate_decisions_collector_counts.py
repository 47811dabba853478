"""``bench/gate_decisions.py`` hands the gates their counts as the collector produces them
(every count times φ of its range, ``services.measurements.observed_share``; the traffic split
over the settled window only) and calls ``memory_of``/``gates_to_measure`` as the operator's
passes do. Its figures are the bench's output (docs/gate-bench.md), never asserted here."""

from __future__ import annotations

import math
import sys
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from tests.support.bench_scripts import load_bench_script

from uplift_operator.domain import measurements as ms


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench_script("gate_decisions", "gate_decisions_collector_counts")


def _error_run(bench: ModuleType) -> Any:
    sim = bench.gate_sims()["errorRate"]
    return sim.new_run(sim.scenarios[0], np.random.default_rng(0))


def test_phi_is_the_collectors_observed_share(bench: ModuleType,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_BENCH_SCRAPE_INTERVAL", raising=False)
    assert [bench.phi(k) for k in (0, 1, 2, 3)] == [0.0, 0.5, 0.75, pytest.approx(5 / 6)]
    monkeypatch.setenv("GATE_BENCH_SCRAPE_INTERVAL", "0")
    assert [bench.phi(k) for k in (0, 1, 3)] == [0.0, 1.0, 1.0]


def test_counts_are_scaled_and_the_split_waits_for_the_settled_window(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_BENCH_SCRAPE_INTERVAL", raising=False)  # 30 s, the operator's
    run = _error_run(bench)
    rng = np.random.default_rng(1)
    run.start_step(10)
    run.stepped()
    run.tick(rng)
    run.ticked()
    first = [int(x) for x in run.counts]  # canary errors, requests, stable errors, requests
    m = run.measure()
    assert isinstance(m, ms.ErrorRateMeasurement)
    # one interval (60 s) into the step: half of what Prometheus' increase would say
    assert (m.canary_requests, m.stable_requests) == (round(first[1] / 2), round(first[3] / 2))
    assert m.split is not None and (m.split.stable, m.split.canary) == (0, 0)
    for _ in range(2):
        run.tick(rng)
        run.ticked()
    now = [int(x) for x in run.counts]
    m = run.measure()
    assert isinstance(m, ms.ErrorRateMeasurement)
    assert m.canary_requests == round(now[1] * 5 / 6)
    assert m.stable_errors == round(now[2] * 5 / 6)
    # the split: since the step's first interval (120 s of the step's 180 s), at φ = 0.75
    assert m.split is not None
    assert m.split.canary == round((now[1] - first[1]) * 0.75)
    assert m.split.stable == round((now[3] - first[3]) * 0.75)


def test_memory_and_the_campaign_gates_are_read_as_the_operators_passes_read_them(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    memory_calls: list[tuple[Any, ...]] = []
    original_memory = bench.gates_mod.memory_of

    def memory_of(*args: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__") == bench.__name__:  # the bench's calls
            memory_calls.append(args)
        return original_memory(*args)

    measure_calls: list[tuple[Any, ...]] = []
    original_measure = bench.exposure.gates_to_measure

    def gates_to_measure(*args: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__") == bench.__name__:
            measure_calls.append(args)
        return original_measure(*args)

    monkeypatch.setattr(bench.gates_mod, "memory_of", memory_of)
    monkeypatch.setattr(bench.exposure, "gates_to_measure", gates_to_measure)
    for key in ("errorRate", "incrementalConversions"):
        sim = bench.gate_sims()[key]
        bench.simulate(sim, sim.scenarios[0], np.random.default_rng(3))
    assert memory_calls and all(len(args) == 2 and args[1] is not None for args in memory_calls)
    assert measure_calls and all(len(args) == 2 for args in measure_calls)


def test_the_table_labels_the_one_to_one_n_and_shows_the_horizon(bench: ModuleType) -> None:
    sc = bench.Scenario("margin", "hold", 1.2)
    results = tuple([bench.RunResult(0, math.inf, False, 120, design=900.0)] * 9
                    + [bench.RunResult(-1, 500.0, False, 30, design=1100.0)])
    row = bench.Row("errorRate", sc, "requests", 1000.0, 640.0, results, 0.0)
    assert row.undecided() == pytest.approx(0.9)
    assert row.design() == 900.0
    head, _, line = bench.table([row]).splitlines()
    assert "1:1 N" in head and "designSamples" in head
    assert "(0.90 undecided)" in line
    assert "| 900 |" in line
