"""The trainer's default ``--n-bootstrap`` is enough for the qini gate's Fail level.

The gate (``domain.gates._qini``) fails at α/(T·k): α over the T treatments it judges and each
one's k Fail tests (the floor, the paired difference with the stable, ``max``). A percentile
bound at that level needs α(B + 1) ≥ 1. With 200 replicates, the default before, a canary worse
than the stable on one of 6–10 treatments could not be failed (Inconclusive, "harm cannot be
shown at the Fail level"), though the docs said 200 covered 10 treatments. The default now
covers T·k ≤ 30 at α = 0.05: 10 treatments paired with the stable and ``max`` set.
"""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.domain.test_qini_levels import _measurement as paired_measurement

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import QiniMeasurement
from uplift_operator.model import trainer
from uplift_operator.stats.uplift import percentile_replicates_needed

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def _measurement(treatments: int, replicates: int) -> QiniMeasurement:
    """Paired canary and stable replicates per treatment; the canary 0.03 worse on ``t00``."""
    return paired_measurement({f"t{i:02d}": -0.03 if i == 0 else 0.0
                               for i in range(treatments)}, replicates)


def test_the_default_reads_the_fail_level_of_10_treatments_with_max() -> None:
    assert trainer.TrainConfig().n_bootstrap >= percentile_replicates_needed(0.05 / 10 / 3) == 599
    assert trainer.parse_args([]).n_bootstrap == trainer.TrainConfig().n_bootstrap


@pytest.mark.parametrize("treatments", [1, 6, 10])
@pytest.mark.parametrize("max_", [None, 1.0], ids=["no max", "max"])
def test_a_harmful_canary_fails_on_the_default_replicates(treatments: int,
                                                          max_: float | None) -> None:
    gate = ModelGate.model_validate({"name": "qini", "type": "qini",
                                     **({"max": max_} if max_ is not None else {})})
    measured = _measurement(treatments, trainer.TrainConfig().n_bootstrap)
    out = evaluate_gate(gate, measured, {}, NOW)
    assert out.verdict is GateVerdict.FAIL, out.message
    assert "harm cannot be shown" not in out.message
