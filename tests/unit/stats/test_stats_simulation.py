"""Smoke test of ``bench/stats_simulation.py``: small run, scalar cross-check, error rates ≤ α."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "stats_simulation.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stats_simulation", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sequential_gates_keep_alpha_and_match_scalar_functions() -> None:
    bench = _bench()
    out, counts = bench.conversion(-bench.MARGIN, 300, seed=1)
    bench._cross_check_conversion(counts, out["sequential"], 5)
    assert np.mean(out["sequential"].decision == 1) <= 0.05 + 0.03
    assert np.mean(out["z-test, peeking"].decision == 1) > 0.15  # peeking inflates
    out, counts = bench.errors(1.0 + bench.RATIO_MARGIN, 300, seed=2)
    bench._cross_check_errors(counts, out["sequential"], 5)
    assert np.mean(out["sequential"].decision == 1) <= 0.05 + 0.03
