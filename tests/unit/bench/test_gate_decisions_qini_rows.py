"""``bench/gate_decisions.py``'s Qini replicates, one resample at a time, are the replicates the
bench computed 8 resamples at a time, bit for bit (the report's rows must not move), and its
qini pilots and population grid, computed in the workers, are the ones computed in process."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from tests.support.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench_script("gate_decisions", "gate_decisions_qini_rows")


def _chunked(y: Any, t: Any, score: Any, weights: Any, chunk: int = 8) -> Any:
    """The bench's earlier ``qini_replicates``, as written."""
    order = np.argsort(score, kind="mergesort")[::-1]
    ys, ts = y[order], t[order]
    y_treated, y_control = ys * ts, ys * (1 - ts)
    out = np.empty(len(weights))
    for lo in range(0, len(weights), chunk):
        w = weights[lo:lo + chunk][:, order]
        x = np.cumsum(w, axis=1)
        n_t = np.cumsum(w * ts, axis=1)
        n_c = x - n_t
        y_t = np.cumsum(w * y_treated, axis=1)
        y_c = np.cumsum(w * y_control, axis=1)
        q = y_t - y_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
        before = np.zeros_like(q)
        before[:, 1:] = q[:, :-1]
        area = np.einsum("ij,ij->i", w, q + before) / 2
        total, q_end = x[:, -1], q[:, -1]
        random = total * q_end / 2
        a, c = y_t[:, -1], y_c[:, -1]
        b = total - a - c
        perfect = a * a / 2 + b * a + c * (a + q_end) / 2
        out[lo:lo + chunk] = (area - random) / (perfect - random)
    return out


@pytest.mark.parametrize("resamples", [1, 2, 5, 8, 9, 16, 17, 24])
def test_replicates_equal_the_chunked_ones_bit_for_bit(bench: ModuleType, resamples: int) -> None:
    rng = np.random.default_rng(resamples)
    for rows in (40, 3000):
        u = rng.normal(size=rows)
        t = (rng.random(rows) < 0.5).astype(float)
        y = (rng.random(rows) < bench.QINI_P0 + t * bench._cate(u)).astype(float)
        score = u + rng.normal(size=rows)
        weights = bench.bootstrap_weights(t, resamples, resamples)
        got = bench.qini_replicates(y, t, score, weights)
        want = _chunked(y, t, score, weights)
        assert got.view(np.int64).tolist() == want.view(np.int64).tolist()


def test_pilots_in_workers_equal_the_pilots_in_process(bench: ModuleType,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_BENCH_QINI_ROWS", "500")
    monkeypatch.setattr(bench, "QINI_PILOT_RUNS", 2)
    monkeypatch.setattr(bench, "_PILOT_SE", {})
    # A population grid of a few points, as run_bench hands it to the tasks.
    monkeypatch.setattr(bench, "_NOISE_GRID", np.linspace(0.5, 2.0, 4))
    monkeypatch.setattr(bench, "_POPULATION", {})
    noises = bench._population_noises()
    population = tuple(((s, 200_000, 11), bench._population_qini(s)) for s in noises)
    sim = bench.gate_sims()["qini"]
    in_process = [bench._pilot_se(sim, sc) for sc in sim.scenarios]
    monkeypatch.setattr(bench, "_POPULATION", {})
    by_task = [float(np.sqrt(np.mean([bench._pilot_task((index, k, population))
                                       for k in range(2)])))
               for index in range(len(sim.scenarios))]
    assert by_task == in_process
