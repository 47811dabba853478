"""Fixtures for the model tests: a single OpenMP thread and a small synthetic uplift dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.ensemble  # noqa: F401 - load libgomp before limiting it
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

# Gradient boosting with 2 OpenMP threads on a busy 2-core box spins more than it computes.
threadpool_limits(limits=1, user_api="openmp")


def synthetic(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Two treatments with known effects: A helps when x1 > 0, B helps young (x2 small) units."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 10, size=n)
    region = rng.choice(["north", "south", "east"], size=n)
    arm = rng.choice(["ctrl", "A", "B"], size=n)
    base = 0.1 + 0.05 * (region == "south")
    effect_a = np.where(x1 > 0, 0.25, 0.0)
    effect_b = np.where(x2 < 3, 0.2, -0.05)
    p = base + np.where(arm == "A", effect_a, 0.0) + np.where(arm == "B", effect_b, 0.0)
    y = (rng.uniform(size=n) < np.clip(p, 0, 1)).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "region": region, "arm": arm, "y": y,
                         "true_a": effect_a, "true_b": effect_b})


@pytest.fixture(scope="session")
def synth() -> pd.DataFrame:
    return synthetic()
