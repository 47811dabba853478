"""Smoke test of ``bench/stats_simulation.py``: small run, scalar cross-check, error rates ≤ α."""

from __future__ import annotations

from types import ModuleType

import numpy as np
from tests.support.bench_scripts import load_bench_script


def _bench() -> ModuleType:
    return load_bench_script("stats_simulation", "stats_simulation")


def test_sequential_gates_keep_alpha_and_match_scalar_functions() -> None:
    bench = _bench()
    out, counts = bench.conversion(-bench.MARGIN, 300, seed=1)
    bench._cross_check_conversion(counts, out["sequential"], 5)
    assert np.mean(out["sequential"].decision == 1) <= 0.05 + 0.03
    assert np.mean(out["z-test, peeking"].decision == 1) > 0.15  # peeking inflates
    out, counts = bench.errors(1.0 + bench.RATIO_MARGIN, 300, seed=2)
    bench._cross_check_errors(counts, out["sequential"], 5)
    assert np.mean(out["sequential"].decision == 1) <= 0.05 + 0.03
