"""An UpliftModel whose model reference stops resolving, through ``reconcile`` against the
in-memory ports: a running canary is held (no step, no promotion, no promotion alias moved)
while its Prometheus gates are still judged; the reasons that do not clear by themselves (a
version or alias MLflow does not have, a failed registration, an unreadable MLmodel, a missing
credentials Secret) turn the phase Degraded after the grace, while an outage and an upload are
waited for; only the gates that read MLflow hold while it cannot be asked."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any, get_args

import pytest
from tests.unit.services.fakes import FakeMetrics
from tests.unit.services.test_campaign_measurements import context as campaign_context
from tests.unit.services.test_upliftmodel import NS, PROBE, REGISTERED, Sim, reasons

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.mlflow_registry import (
    RegistryError,
    RegistryRequestError,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.measurements import MeasurementError
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements
from uplift_operator.services.resolution import MAX_STATUS_MESSAGE

HELD = "the model reference does not resolve now: no step and no promotion of canary 2"
TOKEN = "tok-4f1b2c9d"


def split(sim: Sim) -> tuple[Any, ...]:
    s = sim.status
    return s.get("stableVersion"), s.get("canaryVersion"), s.get("canaryWeight"), s.get(
        "currentStep")


def run(sim: Sim, minutes: int) -> list[str]:
    """``minutes`` passes a minute apart (each an analysis, past every step's pause): the
    events' reasons."""
    said: list[str] = []
    for _ in range(minutes):
        said += reasons(sim.tick(60))
    return said


MOVES = {"StepAdvanced", "Promoted", "TrafficStarted"}


def test_a_version_edited_to_one_mlflow_does_not_have_holds_the_canary_and_moves_no_alias(
        ) -> None:
    """On-call wants version 3 instead of the canary 2 and types 33: the canary is held where
    it is (its gates still judged), neither by its gates nor by hand promoted, the promotion
    alias stays on the stable, and the phase is Degraded past the grace. The spec fixed, the
    ramp goes on."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.body["spec"]["model"] = {"registeredModel": REGISTERED, "version": "1",
                                 "promotionAlias": "production"}
    sim.tick()
    sim.tick(1)
    sim.body["spec"]["model"]["version"] = "2"
    sim.body["metadata"]["generation"] = 2
    sim.tick(30)
    sim.tick(1)
    assert split(sim) == ("1", "2", 10, 0)
    sim.body["spec"]["model"]["version"] = "33"
    sim.body["metadata"]["generation"] = 3
    said = run(sim, 10)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    assert sim.status["gates"][0]["verdict"] == "Pass"  # judged, not held
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    s = sim.status
    assert s["phase"] == "Degraded" and HELD in s["message"]
    assert s["message"].startswith("ModelResolved False (ModelNotFound) since ")
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "full:1"}
    refused = [e for e in sim.tick(1).events if e.reason == "ManualPromote"]
    assert [e.type for e in refused] == ["Warning"] and HELD in refused[0].message
    assert split(sim) == ("1", "2", 10, 0)
    sim.body["spec"]["model"]["version"] = "2"  # fixed
    sim.body["metadata"]["generation"] = 4
    said = run(sim, 6)
    assert "Promoted" in said and split(sim) == ("2", None, 0, None)
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"


def test_an_alias_deleted_mid_ramp_holds_the_canary_until_it_is_back() -> None:
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    del sim.registry.aliases[(REGISTERED, "champion")]  # to stop the rollout
    said = run(sim, 10)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    assert sim.condition("ModelResolved")["reason"] == "ModelNotFound"
    assert sim.status["phase"] == "Degraded" and HELD in sim.status["message"]
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    assert "Promoted" in run(sim, 6) and split(sim) == ("2", None, 0, None)


@pytest.mark.parametrize(("status", "reason", "degraded"), [
    ("PENDING_REGISTRATION", "VersionNotReady", False),
    ("FAILED_REGISTRATION", "VersionFailed", True),
])
def test_an_alias_moved_to_a_version_not_ready_holds_the_canary(
        status: str, reason: str, degraded: bool) -> None:
    """A version still registering clears by itself (Progressing meanwhile, however long); a
    failed registration never does (Degraded past the grace). Either way the canary the alias
    left is not promoted."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    sim.registry.add(REGISTERED, "4", status=status)
    sim.registry.aliases[(REGISTERED, "champion")] = "4"
    said = run(sim, 60)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert f"version 4 of {REGISTERED} is {status}, not READY" in resolved["message"]
    assert said.count(reason) == 1  # one Warning, not one per pass
    assert sim.status["phase"] == ("Degraded" if degraded else "Progressing")
    assert HELD in sim.status["message"]
    sim.registry.aliases[(REGISTERED, "champion")] = "3"  # a version that is READY
    run(sim, 1)
    assert split(sim) == ("1", "3", 0, 0)  # the version it resolves to replaces the canary


@pytest.mark.parametrize(("status", "reason", "degraded"), [
    ("PENDING_REGISTRATION", "VersionNotReady", False),
    ("FAILED_REGISTRATION", "VersionFailed", True),
])
def test_a_stable_model_whose_alias_moved_to_a_version_not_ready(
        status: str, reason: str, degraded: bool) -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.registry.add(REGISTERED, "4", status=status)
    sim.registry.aliases[(REGISTERED, "champion")] = "4"
    run(sim, 60)
    assert sim.condition("ModelResolved")["reason"] == reason
    assert sim.status["phase"] == ("Degraded" if degraded else "Healthy")
    assert "version 1 serves all traffic" in sim.status["message"]
    assert sim.weights() == {"1": 100}


def test_a_failed_registration_says_mlflows_own_reason_bounded() -> None:
    """MLflow's ``status_message`` (why the registration failed: the store refused the copy of
    the artifacts, a quota) is what on-call needs to fix it; whitespace folded, and cut at
    ``MAX_STATUS_MESSAGE`` characters (its log may be long)."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.registry.add(REGISTERED, "4", status="FAILED_REGISTRATION")
    why = "Failed to copy artifacts from s3://b/r4:\n  AccessDenied"
    sim.registry.versions[(REGISTERED, "4")] = replace(sim.registry.versions[(REGISTERED, "4")],
                                                      status_message=why)
    sim.registry.aliases[(REGISTERED, "champion")] = "4"
    run(sim, 60)
    message = sim.condition("ModelResolved")["message"]
    assert (f"version 4 of {REGISTERED} is FAILED_REGISTRATION, not READY (MLflow: Failed to "
            "copy artifacts from s3://b/r4: AccessDenied), and MLflow will not make it READY"
            ) in message
    sim.registry.add(REGISTERED, "5", status="FAILED_REGISTRATION")
    sim.registry.versions[(REGISTERED, "5")] = replace(sim.registry.versions[(REGISTERED, "5")],
                                                      status_message="x" * 5000)
    sim.registry.aliases[(REGISTERED, "champion")] = "5"
    run(sim, 60)
    message = sim.condition("ModelResolved")["message"]
    assert f"(MLflow: {'x' * (MAX_STATUS_MESSAGE - 1)}…)" in message and "x" * 300 not in message


def _signature_raising(sim: Sim, version: str, error: RegistryError) -> None:
    """Reading the MLmodel of ``version`` raises ``error``; every other read answers."""
    answer = sim.registry.model_signature

    def signature(name: str, asked: str) -> Any:
        if asked == version:
            raise error
        return answer(name, asked)
    sim.registry.model_signature = signature  # type: ignore[method-assign,assignment]


CONTRACT_ERRORS = [
    pytest.param(RegistryRequestError("the MLmodel of version 3 of hillstrom is not readable: "
                                      "bad yaml"), "InvalidModel", True, id="mlmodel-unparseable"),
    pytest.param(RegistryRequestError("artifact /api/2.0/mlflow-artifacts/artifacts/3/MLmodel "
                                      "is larger than 1048576 bytes"), "InvalidModel", True,
                 id="mlmodel-oversized"),
    pytest.param(RegistryUnavailable("MLflow at http://mlflow.test did not answer within 10s"),
                 "RegistryUnavailable", False, id="mlflow-down"),
]


@pytest.mark.parametrize(("error", "reason", "degraded"), CONTRACT_ERRORS)
def test_a_version_whose_contract_cannot_be_read_holds_the_canary(
        error: RegistryError, reason: str, degraded: bool) -> None:
    """The alias moves to version 3, whose MLmodel cannot be read: the version's own problem
    (InvalidModel: Degraded past the grace), not an outage (RegistryUnavailable: waited for).
    The canary 2 is held either way; its Prometheus gate is judged, not held."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    _signature_raising(sim, "3", error)
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    said = run(sim, 40)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert resolved["message"] == f"reading what version 3 takes and scores: {error}"
    probe = sim.status["gates"][0]
    assert (probe["verdict"], probe["message"]) == ("Pass", "value 0.5 within [−∞, 1]")
    assert sim.status["phase"] == ("Degraded" if degraded else "Progressing")
    assert HELD in sim.status["message"]


def _secret_read_failing(sim: Sim, status: int) -> None:
    def refused(namespace: str, name: str, keys: Any) -> dict[str, bytes]:
        raise KubeError(f"get secret {namespace}/{name}: {status} refused", status)
    sim.cluster.secret_values = refused  # type: ignore[method-assign]


@pytest.mark.parametrize(("status", "reason", "degraded"), [
    (404, "CredentialsUnreadable", True),
    (403, "CredentialsUnreadable", True),
    (500, "RegistryUnavailable", False),
])
def test_a_credentials_secret_that_cannot_be_read_holds_the_canary(
        status: int, reason: str, degraded: bool) -> None:
    """A spec edit mid-ramp names a credentials Secret the API server says is not there (a
    typo in Git) or not readable (the install's RBAC does not list it): Degraded past the
    grace, not held as an MLflow outage for good; an API server failing (500) is waited for.
    The Prometheus-only gate is judged meanwhile; the ramp holds."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    sim.body["spec"]["model"]["credentials"] = {"name": "mlflow-creds-typo", "tokenKey": "token"}
    sim.body["metadata"]["generation"] = 2
    _secret_read_failing(sim, status)
    said = run(sim, 120)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert f"credentials: get secret {NS}/mlflow-creds-typo: {status}" in resolved["message"]
    assert sim.status["gates"][0]["verdict"] == "Pass"
    assert sim.status["phase"] == ("Degraded" if degraded else "Progressing")


def test_mlflow_down_holds_the_gates_that_read_it_and_judges_the_others() -> None:
    """A drift gate (it reads the canary's MLflow run) holds while MLflow is unreachable; the
    Prometheus-only probe is judged, and its Fail still rolls the canary back."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append({"name": "shift", "type": "drift"})
    sim.body["metadata"]["generation"] = 2
    sim.registry.down = True
    said = run(sim, 6)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    probe, shift = sim.status["gates"]
    assert probe["verdict"] == "Pass"
    assert shift["verdict"] == "Inconclusive" and shift["message"].startswith(
        "holding: MLflow unavailable (connection refused")
    assert shift.get("consecutiveErrors", 0) == 0 and shift.get("inconclusives", 0) == 0
    assert sim.status["phase"] == "Progressing" and HELD in sim.status["message"]
    sim.metrics.values[PROBE] = 5.0  # harm shown: over the probe's max of 1
    said = run(sim, 1)
    assert "RolledBack" in said and split(sim) == ("1", None, 0, None)


@pytest.mark.parametrize("down", [True, False], ids=["mlflow-down", "mlflow-up"])
def test_a_canary_held_by_an_unreachable_mlflow_says_no_analysis_passed(down: bool) -> None:
    """MLflow unreachable holds the canary (its reference does not resolve) while its
    Prometheus-only probe is judged and passes: no ``AnalysisPassed`` event while held, so
    on-call does not read a step that cannot move as passing; MLflow up, the same analysis
    says it. Back up, the ramp goes on and is promoted."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    sim.registry.down = down
    said = run(sim, 1)
    assert sim.status["gates"][0]["verdict"] == "Pass"
    assert ("AnalysisPassed" in said) == (not down)
    assert (HELD in sim.status["message"]) == down
    if down:  # past the step's pause: held, and still nothing said of its Pass
        said = run(sim, 3)
        assert "AnalysisPassed" not in said and split(sim) == ("1", "2", 10, 0)
        sim.registry.down = False
    assert "Promoted" in run(sim, 6) and split(sim) == ("2", None, 0, None)


def _spy_registry(touched: list[str]) -> Any:
    class Spy:
        def __getattr__(self, name: str) -> Callable[..., Any]:
            touched.append(name)
            raise RegistryUnavailable("the spy answers nothing")
    return Spy()


GATES: dict[str, dict[str, Any]] = {
    "latency": {"type": "latency"}, "errorRate": {"type": "errorRate"},
    "drift": {"type": "drift"}, "qini": {"type": "qini"},
    "onlineEffect": {"type": "onlineEffect"}, "upliftSanity": {"type": "upliftSanity"},
    "custom": {"type": "custom", "query": PROBE, "max": 1.0},
}


def _reads_registry(collector: measurements.Collector[Any, Any], gate: Any, ctx: Any) -> bool:
    """Whether ``collector`` asks the registry, run bare (not through ``_guarded``, which hands
    it the registry only when it declares it): what it does, not what it says."""
    touched: list[str] = []
    with contextlib.suppress(RegistryUnavailable):
        collector.collect(gate, ctx, FakeMetrics(), _spy_registry(touched))
    return bool(touched)


def test_every_collector_that_reads_mlflow_declares_it_and_its_gates_hold() -> None:
    """Each UpliftModel collector is run against a registry that records being asked: one
    that asks it must declare MLflow (``Collector.reads``), and its gate type is then among
    those ``services.upliftmodel`` holds while MLflow cannot be asked (derived from the
    declarations: a collector added without declaring it fails here); one that does not ask
    it is not held. The hold itself, through a pass: every type in one spec."""
    assert set(GATES) == set(get_args(ModelGate.model_fields["type"].annotation))
    now = dt.datetime(2026, 12, 1, 12, 10, tzinfo=dt.UTC)
    ctx = measurements.GateContext(
        namespace=NS, name="uplift", canary_version="2", stable_version="1",
        canary_run_id="run-2", stable_run_id="run-1", step_started_at=now - dt.timedelta(
            minutes=5), canary_started_at=now - dt.timedelta(minutes=5), now=now,
        analysis_interval_s=60, holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES,
        treatments=(("email", "email"),), canary_share=0.1)
    reading = {type_ for type_, fields in GATES.items()
               if _reads_registry(measurements._COLLECTORS[type_],
                                  ModelGate.model_validate({"name": "g", **fields}), ctx)}
    assert reading == {"qini", "drift", "upliftSanity"}  # the spy sees what they ask
    assert measurements.gate_types_reading(measurements.Source.MLFLOW) == reading
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    type_of = {type_.lower(): type_ for type_ in GATES}  # gate names are DNS labels
    sim.body["spec"]["rollout"]["gates"] = [{"name": name, **GATES[type_]}
                                            for name, type_ in type_of.items()]
    sim.body["metadata"]["generation"] = 2
    sim.registry.down = True
    run(sim, 2)
    assert len(sim.status["gates"]) == len(GATES)
    held = {type_of[g["name"]] for g in sim.status["gates"]
            if g["message"].startswith("holding: MLflow unavailable")}
    assert held == reading


def test_every_campaign_collector_that_reads_mlflow_declares_it() -> None:
    """The same for a Campaign's collectors (its drift reads the stable version's run):
    ``_guarded`` hands the registry only to those that declare it."""
    ctx = campaign_context()  # the sample Campaign, following stable version 3 (run-3)
    fields = {"custom": {"query": PROBE, "max": 1.0}, "budget": {}}
    for type_, collector in measurements._CAMPAIGN_COLLECTORS.items():
        gate = CampaignGate.model_validate({"name": "g", "type": type_, **fields.get(type_, {})})
        declared = measurements.Source.MLFLOW in collector.reads
        assert _reads_registry(collector, gate, ctx) == declared, type_
    assert {t for t, c in measurements._CAMPAIGN_COLLECTORS.items()
            if measurements.Source.MLFLOW in c.reads} == {"drift"}


def test_a_collector_is_handed_only_the_sources_it_declares(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector that reads MLflow without declaring it is handed no registry: it cannot
    measure at all (an Error at every look, caught by any test of its gate), rather than read
    MLflow unheld and count an Error towards a rollback only while MLflow cannot be asked."""
    now = dt.datetime(2026, 12, 1, 12, 10, tzinfo=dt.UTC)
    ctx = measurements.GateContext(
        namespace=NS, name="uplift", canary_version="2", stable_version="1",
        canary_run_id="run-2", stable_run_id="run-1", step_started_at=now - dt.timedelta(
            minutes=5), canary_started_at=now - dt.timedelta(minutes=5), now=now,
        analysis_interval_s=60, holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES,
        treatments=(("email", "email"),))
    gate = ModelGate.model_validate({"name": "g", "type": "qini"})
    qini = measurements._COLLECTORS["qini"]
    monkeypatch.setitem(measurements._COLLECTORS, "qini", measurements.Collector(
        qini.collect, frozenset({measurements.Source.PROMETHEUS})))
    touched: list[str] = []
    measured = measurements.collect(gate, ctx, FakeMetrics(), _spy_registry(touched))
    assert touched == [] and isinstance(measured, MeasurementError)
    assert "no MLflow registry reachable" in measured.message
    assert "qini" not in measurements.gate_types_reading(measurements.Source.MLFLOW)
