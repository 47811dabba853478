"""MLflow going away between the version lookup (cached) and a gate's read of its reference:
every gate that reads MLflow holds (NotMeasured → Inconclusive), none counts an Error towards a
rollback; any other failure of a source stays the gate's Error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services.fakes import FakeMetrics, FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.measurements import MeasurementError, NotMeasured
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services.measurements import GateContext, collect

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def context() -> GateContext:
    return GateContext(
        namespace="shop", name="m", canary_version="2", stable_version="1", canary_run_id="run-2",
        stable_run_id="run-1", step_started_at=NOW - dt.timedelta(minutes=10),
        canary_started_at=NOW - dt.timedelta(minutes=10), now=NOW, analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES,
        treatments=(("womens-e-mail", "womens_e_mail"),))


@pytest.mark.parametrize("gate", [{"name": "drift", "type": "drift"},
                                  {"name": "qini", "type": "qini"},
                                  {"name": "sanity", "type": "upliftSanity"}])
def test_mlflow_unreachable_while_reading_a_reference_holds_the_gate(gate: dict[str, Any]) -> None:
    registry = FakeRegistry(down=True)
    got = collect(ModelGate.model_validate(gate), context(), FakeMetrics(), registry)
    assert isinstance(got, NotMeasured), got
    assert "holding: MLflow unavailable" in got.why


def test_a_reference_that_is_not_there_is_still_an_error() -> None:
    got = collect(ModelGate.model_validate({"name": "drift", "type": "drift"}), context(),
                  FakeMetrics(), FakeRegistry())
    assert isinstance(got, MeasurementError), got
