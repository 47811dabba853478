"""MLflow going away between the version lookup (cached) and a gate's read of its reference, or
during the pass's run-id lookup, or the qini gate's bootstrap read: every gate that reads MLflow
holds (NotMeasured → Inconclusive), none counts an Error towards a rollback nor is judged
without the evidence it could not read; any other failure of a source stays the gate's Error."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from tests.unit.services import test_upliftmodel as tu
from tests.unit.services.fakes import FakeMetrics, FakeRegistry

from uplift_operator.adapters.mlflow_registry import (
    RegistryError,
    RegistryNotFound,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import MeasurementError, NotMeasured, QiniMeasurement
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services.measurements import REFERENCE_QINI_BOOTSTRAP, GateContext, collect
from uplift_operator.services.run_cache import CachingRegistry, RunReads

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


# -- qini: a failed bootstrap read is MLflow unavailable, not a run without replicates --------

REPLICATES = [0.10 + 0.001 * (i % 7) for i in range(200)]


class _BootstrapDown(FakeRegistry):
    """Reads ``run-<version>``'s qini_bootstrap.json as MLflow unavailable for the versions in
    ``down`` (a timeout, the breaker open, a 429 or a 5xx), the rest as the fake does."""

    down_for: frozenset[str] = frozenset()

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        if run_id in self.down_for and path == REFERENCE_QINI_BOOTSTRAP:
            raise RegistryUnavailable("MLflow at http://mlflow:5000 did not answer within 5s")
        return super().download_artifact_json(run_id, path)


def _qini_registry(down: frozenset[str] = frozenset(), *,
                   stable_bootstrap: bool = True) -> _BootstrapDown:
    registry = _BootstrapDown()
    registry.down_for = down
    registry.metrics = {"run-1": {"qini.womens_e_mail": 0.10, "n_test.womens_e_mail": 5000},
                        "run-2": {"qini.womens_e_mail": 0.07, "n_test.womens_e_mail": 5000}}
    for run, shift in (("run-1", 0.0), ("run-2", -0.03)):
        if run == "run-1" and not stable_bootstrap:
            continue
        registry.artifacts[(run, REFERENCE_QINI_BOOTSTRAP)] = {
            "evaluationSet": "e1",
            "treatments": {"womens_e_mail": {"replicates": [r + shift for r in REPLICATES]}}}
    return registry


QINI = ModelGate.model_validate({"name": "qini", "type": "qini"})


def test_a_canary_worse_than_the_stable_fails_when_both_bootstraps_are_read() -> None:
    got = collect(QINI, context(), None, _qini_registry())
    assert evaluate_gate(QINI, got, None, NOW).verdict == GateVerdict.FAIL


@pytest.mark.parametrize("down", ["run-1", "run-2"])
def test_a_bootstrap_read_mlflow_does_not_answer_holds_the_qini_gate(down: str) -> None:
    """The stable's read failing judged the worse canary on its floor alone (a Pass); the
    canary's read it as a run that logged no replicates ("retrain it")."""
    got = collect(QINI, context(), None, _qini_registry(frozenset({down})))
    assert isinstance(got, NotMeasured) and got.holds, got
    assert "holding: MLflow unavailable" in got.why and "did not answer" in got.why
    outcome = evaluate_gate(QINI, got, None, NOW)
    assert outcome.verdict == GateVerdict.INCONCLUSIVE and outcome.holds


def test_the_same_through_the_run_cache_which_keeps_no_failed_read() -> None:
    registry = _qini_registry(frozenset({"run-1"}))
    cached = CachingRegistry(registry, ("http://mlflow", ""), RunReads())
    got = collect(QINI, context(), None, cached)
    assert isinstance(got, NotMeasured) and got.holds, got
    registry.down_for = frozenset()  # back: the comparison is made, the canary fails
    got = collect(QINI, context(), None, cached)
    assert evaluate_gate(QINI, got, None, NOW).verdict == GateVerdict.FAIL


def test_a_stable_run_without_the_bootstrap_is_still_judged_on_what_it_has() -> None:
    got = collect(QINI, context(), None, _qini_registry(stable_bootstrap=False))
    assert isinstance(got, QiniMeasurement), got
    assert got.stable["womens-e-mail"].replicates is None
    assert got.canary["womens-e-mail"].replicates is not None


# -- a run id whose lookup failed is that failure, not a version without a run ---------------

def _lookup_failed(**errors: RegistryError) -> GateContext:
    ctx = context()
    return dataclasses.replace(
        ctx, canary_run_id=None if "canary" in errors else ctx.canary_run_id,
        stable_run_id=None if "stable" in errors else ctx.stable_run_id,
        canary_run_error=errors.get("canary"), stable_run_error=errors.get("stable"))


UNAVAILABLE = RegistryUnavailable("MLflow at http://mlflow:5000 did not answer within 5s")


@pytest.mark.parametrize("gate", [{"name": "drift", "type": "drift"},
                                  {"name": "qini", "type": "qini"},
                                  {"name": "sanity", "type": "upliftSanity"}])
def test_a_canary_run_lookup_mlflow_did_not_answer_holds(gate: dict[str, Any]) -> None:
    got = collect(ModelGate.model_validate(gate), _lookup_failed(canary=UNAVAILABLE),
                  FakeMetrics(), _qini_registry())
    assert isinstance(got, NotMeasured) and got.holds, got
    assert got.why == f"holding: MLflow unavailable ({UNAVAILABLE})"


def test_a_stable_run_lookup_mlflow_did_not_answer_holds_qini() -> None:
    got = collect(QINI, _lookup_failed(stable=UNAVAILABLE), None, _qini_registry())
    assert isinstance(got, NotMeasured) and got.holds, got


def test_a_lookup_that_failed_otherwise_is_an_error_naming_it() -> None:
    gone = RegistryNotFound("version 2 of m not found")
    got = collect(ModelGate.model_validate({"name": "drift", "type": "drift"}),
                  _lookup_failed(canary=gone), FakeMetrics(), _qini_registry())
    assert isinstance(got, MeasurementError), got
    assert got.message == "version 2's MLflow run could not be looked up: version 2 of m not found"


def test_a_version_mlflow_says_has_no_run_is_still_that() -> None:
    ctx = dataclasses.replace(context(), canary_run_id=None)
    got = collect(ModelGate.model_validate({"name": "drift", "type": "drift"}), ctx,
                  FakeMetrics(), _qini_registry())
    assert isinstance(got, MeasurementError) and got.message == "version 2 has no MLflow run"


def test_a_pass_whose_run_lookup_fails_holds_the_gates_that_read_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the UpliftModel's pass: the version's alias resolves (from the resolver's
    cache), its run-id lookup fails as MLflow does not answer; the drift gate holds, counted
    towards no limit, rather than be an Error ("version 2 has no MLflow run")."""
    sim = tu.Sim()
    sim.body["spec"]["rollout"]["gates"] = [{"name": "drift", "type": "drift"}]
    sim.with_canary()

    def facts(*args: Any) -> Any:
        raise UNAVAILABLE

    monkeypatch.setattr(sim.deps.resolver, "facts", facts)
    for _ in range(3):
        sim.tick(61)
    drift = sim.status["gates"][0]
    assert drift["verdict"] == "Inconclusive", drift
    assert "holding: MLflow unavailable" in drift["message"], drift
    assert drift.get("consecutiveErrors", 0) == 0 and drift.get("inconclusives", 0) == 0
    assert sim.status["canaryVersion"] == "2"
