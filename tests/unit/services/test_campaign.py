"""services.campaign.reconcile against in-memory ports: the Campaign pass through the shared engine.

Each test plays passes the way the handler does (the previous pass's status is the next one's
input) and asserts what a user reads: phase, exposure, conditions, events, history.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.services.fakes import FakeCluster, FakeMetrics, FakeRegistry

from uplift_operator.adapters.mlflow_registry import Credentials
from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import exposure
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import campaign, upliftmodel
from uplift_operator.services.common import PassResult
from uplift_operator.services.measurements import REFERENCE_HISTOGRAMS
from uplift_operator.services.ports import Registry

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
NS, MODEL = "shop", "hillstrom-uplift"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SERVING: dict[str, Any] = {
    "stableVersion": "3", "desiredVersion": "3", "phase": "Healthy",
    "message": "version 3 serves all traffic",
    "conditions": [{"type": "Ready", "status": "True", "reason": "StableServing",
                    "lastTransitionTime": "2026-12-01T00:00:00Z"}]}
NOT_SERVING: dict[str, Any] = {
    "phase": "Progressing", "message": "waiting for the model reference to resolve to a version",
    "conditions": [{"type": "Ready", "status": "False", "reason": "NoVersion",
                    "lastTransitionTime": "2026-12-01T00:00:00Z"}]}


def _model_body(status: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    body["metadata"]["namespace"] = NS
    if status is not None:
        body["status"] = status
    return body


@dataclass
class CampaignMetrics(FakeMetrics):
    """The fake Prometheus, answering the campaign's spend counter with ``spend``: the runtime
    exports it from the moment it takes the campaign (0 until it treats), so the sample's budget
    gate is measured from the first analysis."""

    spend: float | None = 0.0

    def scalar(self, promql: str, time: dt.datetime | float | None = None) -> float | None:
        if "uplift_campaign_spend_total" not in promql:
            return super().scalar(promql, time)
        self.asked.append(promql)
        return self.spend


class Sim:
    """A Campaign and its UpliftModel in a fake cluster; ``tick`` runs one pass."""

    def __init__(self, model_status: dict[str, Any] | None = SERVING, **spec_changes: Any) -> None:
        self.cluster = FakeCluster()
        self.deps = campaign.CampaignDependencies(cluster=self.cluster,
                                                  prometheus=CampaignMetrics(),
                                                  metric_templates=BUILTIN_TEMPLATES)
        self.set_model(model_status)
        self.body = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
        self.body["metadata"].update(namespace=NS, generation=1, annotations={})
        self.body["spec"].update(spec_changes)
        self.now = T0
        self.results: list[PassResult] = []

    def set_model(self, status: dict[str, Any] | None, present: bool = True) -> None:
        key = ("uplift.dev/v1alpha1", "upliftmodels", NS, MODEL)
        self.cluster.objects.pop(key, None)
        if present:
            self.cluster.put("upliftmodels", _model_body(status))

    def tick(self, minutes: float = 0) -> PassResult:
        self.now += dt.timedelta(minutes=minutes)
        result = campaign.reconcile(copy.deepcopy(self.body), self.deps, self.now)
        self.body["status"] = result.status
        self.results.append(result)
        return result

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body["status"])

    def condition(self, type_: str) -> dict[str, Any]:
        return next(c for c in self.status["conditions"] if c["type"] == type_)

    def edit_spec(self, **changes: Any) -> None:
        self.body["spec"].update(changes)
        self.body["metadata"]["generation"] += 1

    def annotate(self, key: str, value: str) -> None:
        self.body["metadata"]["annotations"][key] = value


def reasons(result: PassResult) -> list[str]:
    return [e.reason for e in result.events]


# -- its UpliftModel ------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "present", "phase", "serving_reason", "says"), [
    (None, False, "Progressing", "ModelNotFound", "UpliftModel 'hillstrom-uplift' not found"),
    (NOT_SERVING, True, "Progressing", "ModelNotServing", "has nothing serving (Progressing"),
    ({**NOT_SERVING, "phase": "Degraded", "message": "version 2 was rolled back"}, True,
     "Degraded", "ModelNotServing", "has nothing serving (Degraded: version 2 was rolled back"),
])
def test_nothing_serving_means_exposure_zero_with_the_reason(
        model: dict[str, Any] | None, present: bool, phase: str, serving_reason: str,
        says: str) -> None:
    sim = Sim()
    sim.set_model(model, present)
    sim.tick()
    s = sim.status
    assert (s["phase"], s["exposurePercent"]) == (phase, 0)
    assert says in s["message"] and s["message"].startswith("exposure 0%")
    assert sim.condition("Ready")["status"] == "False"
    assert sim.condition("ModelServing")["reason"] == serving_reason
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert "modelVersion" not in s


def test_a_serving_model_starts_the_ramp_at_the_first_step() -> None:
    sim = Sim()
    result = sim.tick()
    s = sim.status
    assert (s["exposurePercent"], s["currentStep"], s["modelVersion"]) == (5, 0, "3")
    assert s["phase"] == "Progressing" and s["stepStartedAt"] == T0.isoformat().replace("+00:00", "Z")
    assert reasons(result) == ["ExposureStarted"]
    assert s["history"][-1]["action"] == "ExposureStarted" and s["history"][-1]["percent"] == 5
    assert sim.condition("Ready")["reason"] == "Exposing"
    assert sim.condition("ModelServing") == {**sim.condition("ModelServing"), "status": "True",
                                             "reason": "StableVersionServing"}


def test_gates_without_data_are_inconclusive_and_never_ramp() -> None:
    sim = Sim()
    sim.tick()
    result = sim.tick(5)  # the first analysis (interval 5m)
    s = sim.status
    # The budget's spend is exported from the start (0): that gate alone has data.
    assert {g["name"]: g["verdict"] for g in s["gates"]} == {
        "delivery": "Inconclusive", "incremental": "Inconclusive", "roi": "Inconclusive",
        "drift": "Inconclusive", "budget": "Pass"}
    delivery = next(g for g in s["gates"] if g["name"] == "delivery")
    assert delivery["message"] == "no data yet"
    # The collectors asked Prometheus for this campaign's counters.
    assert any('campaign="spring-email"' in q for q in sim.deps.prometheus.asked)  # type: ignore[union-attr]
    drift = next(g for g in s["gates"] if g["name"] == "drift")
    assert "no MLflow registry configured" in drift["message"]  # a Sim without one
    # "no data yet" is counted; the conversion gates waiting for their first cohort and the
    # drift gate without a reference hold, counted towards nothing, and say so under GateHeld.
    assert reasons(result).count("GateInconclusive") == 1
    assert reasons(result).count("GateHeld") == 3
    for _ in range(30):  # far past the 1h pause: still step 1 at 5 %
        sim.tick(5)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    # Past progressDeadline (1d) after the pause, but the conversion gates cannot be conclusive
    # before the 14-day attribution window closes on the first decisions: not stuck yet.
    sim.tick(24 * 60)
    assert sim.status["phase"] == "Progressing"
    sim.tick(13 * 24 * 60 + 30)  # the window closed at 14d: the deadline runs from there
    assert sim.status["phase"] == "Progressing"
    # ... and a day past it, still nothing conclusive: Degraded, not rolled back.
    sim.tick(24 * 60)
    assert sim.status["phase"] == "Degraded" and sim.status["exposurePercent"] == 5
    assert "ProgressDeadlineExceeded" in sim.status["message"]
    # The step still exposes 5 %: the campaigns file goes on treating there.
    assert exposure.treating(CampaignStatus.model_validate(sim.status))
    # An invalid spec edit on top of it stops the treating (nothing sent on a refused spec).
    sim.edit_spec(exposure={**sim.body["spec"]["exposure"], "analysisInterval": "500ms"})
    sim.tick(1)
    assert sim.status["phase"] == "Degraded" and sim.status["exposurePercent"] == 5
    assert not exposure.treating(CampaignStatus.model_validate(sim.status))



def test_dry_run_conversion_gates_leave_the_deadline_to_the_pause() -> None:
    sim = Sim()
    for gate in sim.body["spec"]["exposure"]["gates"]:
        gate["dryRun"] = gate["type"] in ("incrementalConversions", "roi")
    sim.tick()
    sim.tick(5)
    sim.tick(26 * 60)  # the 1h pause and a day: only the other gates hold the step
    assert sim.status["phase"] == "Degraded" and sim.status["exposurePercent"] == 5
    assert "ProgressDeadlineExceeded" in sim.status["message"]

def test_model_stops_serving_mid_ramp_then_serves_again() -> None:
    sim = Sim()
    sim.tick()
    sim.set_model(NOT_SERVING)
    result = sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status.get("currentStep")) == (0, None)
    assert reasons(result) == ["ExposureWithdrawn"]
    assert result.events[0].type == "Warning" and "has nothing serving" in result.events[0].message
    sim.set_model(SERVING)
    result = sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    assert reasons(result) == ["ExposureStarted"]


def test_a_model_being_deleted_withdraws_the_exposure_at_once() -> None:
    # Argo CD prunes in the foreground: the model keeps its deletionTimestamp, and the Healthy
    # status its last pass wrote, until its SeldonDeployment and pods are gone.
    sim = Sim()
    sim.tick()
    model = sim.cluster.objects[("uplift.dev/v1alpha1", "upliftmodels", NS, MODEL)]
    model["metadata"].update(deletionTimestamp="2026-12-01T12:01:00Z",
                             finalizers=["foregroundDeletion"])
    result = sim.tick(1)
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s.get("currentStep")) == ("Progressing", 0, None)
    assert s["message"] == "exposure 0%: UpliftModel 'hillstrom-uplift' is being deleted"
    assert sim.condition("Ready")["status"] == "False"
    assert sim.condition("ModelServing")["reason"] == "ModelNotServing"
    assert "modelVersion" not in s
    assert reasons(result) == ["ExposureWithdrawn"] and "being deleted" in result.events[0].message
    # Gone a moment later: ModelNotFound, nothing more withdrawn or said.
    sim.set_model(None, present=False)
    assert sim.tick(1).events == ()
    assert sim.condition("ModelServing")["reason"] == "ModelNotFound"


def test_a_canary_rollback_of_the_model_does_not_disturb_the_campaign() -> None:
    sim = Sim()
    sim.tick()
    pending = copy.deepcopy(SERVING)
    pending["conditions"][0].update(status="False", reason="RollbackPending")
    sim.set_model({**pending, "canaryVersion": "4", "phase": "Paused"})
    result = sim.tick(1)
    assert sim.status["exposurePercent"] == 5 and result.events == ()


def _model_ready(reason: str, phase: str, message: str) -> dict[str, Any]:
    """The model's status once its Ready condition says ``reason`` (stable version 3 kept)."""
    changed = copy.deepcopy(SERVING)
    changed["conditions"][0].update(status="False", reason=reason, message=message)
    return {**changed, "phase": phase, "message": message}


def test_an_invalid_spec_of_the_model_leaves_the_campaign_as_it_was() -> None:
    # The model's pass on an invalid spec keeps stableVersion and touches nothing that serves.
    sim = Sim()
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    before = sim.status
    assert (before["exposurePercent"], before["currentStep"]) == (25, 1)
    sim.set_model(_model_ready("InvalidSpec", "Degraded", "invalid spec: spec.rollout.steps"))
    result = sim.tick(1)
    s = sim.status
    assert result.events == ()
    assert (s["exposurePercent"], s["currentStep"], s["phase"]) == (25, 1, "Progressing")
    assert s["stepStartedAt"] == before["stepStartedAt"] and s["history"] == before["history"]
    assert sim.condition("ModelServing")["status"] == "True"
    assert "its spec is invalid" in sim.condition("ModelServing")["message"]
    sim.set_model(SERVING)  # fixed
    assert sim.tick(1).events == () and sim.status["currentStep"] == 1


def test_a_rollout_of_the_models_graph_holds_a_running_exposure_and_starts_none() -> None:
    # WaitingForServing: Seldon reports the graph not Available (e.g. a canary being added).
    waiting = _model_ready("WaitingForServing", "Progressing",
                           "waiting for stable version 3 to serve")
    sim = Sim(model_status=waiting)
    sim.tick()
    assert (sim.status["exposurePercent"], sim.status.get("currentStep")) == (0, None)
    sim.set_model(SERVING)
    sim.tick(1)
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    before = sim.status
    sim.set_model(waiting)
    result = sim.tick(1)
    s = sim.status
    assert result.events == ()
    assert (s["exposurePercent"], s["currentStep"]) == (25, 1)
    assert s["stepStartedAt"] == before["stepStartedAt"]
    assert "the exposure is held" in sim.condition("ModelServing")["message"]


def test_a_promotion_of_the_model_holds_the_exposure_and_restarts_the_step() -> None:
    sim = Sim()
    sim.tick()
    sim.set_model({**SERVING, "stableVersion": "4", "message": "version 4 serves all traffic"})
    result = sim.tick(1)
    s = sim.status
    assert (s["exposurePercent"], s["currentStep"], s["modelVersion"]) == (5, 0, "4")
    assert s["phase"] == "Progressing" and s["stepStartedAt"] == "2026-12-01T12:01:00Z"
    assert [(e.type, e.reason) for e in result.events] == [("Normal", "ModelVersionChanged")]
    assert [h["action"] for h in s["history"]] == ["ExposureStarted", "ModelVersionChanged"]



def test_the_conversion_gates_judge_only_decisions_made_on_the_followed_version() -> None:
    # Cohorts close a window after their decisions: those closing right after a promotion
    # were decided by the version promoted away from, those right after the ramp started
    # by whatever exposure came before it.
    sim = Sim()
    sim.body["spec"]["experiment"]["attributionWindow"] = "10m"
    asked: list[str] = sim.deps.prometheus.asked  # type: ignore[union-attr]

    def incremental() -> str:
        return str(next(g for g in sim.status["gates"] if g["name"] == "incremental")["message"])

    def cohort_ranges() -> set[str]:
        found = {q.split("[")[1].split("]")[0] for q in asked
                 if "uplift_outcomes_expected_total{" in q}
        asked.clear()
        return found

    def waits_a_window_then_judges(version: str, since: str, closes: str) -> None:
        asked.clear()
        sim.tick(5)
        assert incremental() == (f"the decisions made on version {version} since {since} are "
                                 f"judged once their attribution window (10m) closes, from "
                                 f"{closes}")
        assert cohort_ranges() == set()
        sim.tick(10)  # 5 minutes of cohorts
        assert cohort_ranges() == {"300s"} and incremental() == "no data yet"

    sim.tick()
    waits_a_window_then_judges("3", "2026-12-01T12:00:00Z", "2026-12-01T12:10:00Z")
    sim.set_model({**SERVING, "stableVersion": "4", "message": "version 4 serves all traffic"})
    sim.tick(1)
    assert sim.status["history"][-1]["action"] == "ModelVersionChanged"
    waits_a_window_then_judges("4", "2026-12-01T12:16:00Z", "2026-12-01T12:26:00Z")


# -- the drift gate's training reference: the stable version's MLflow run --------------------------

REFERENCE = {"features": {"recency": {"counts": [250, 250, 250, 250]}}}
DRIFTED = (0, 0, 0, 3000)
UNDRIFTED = (750, 750, 750, 750)


@dataclass
class BinMetrics(CampaignMetrics):
    """The fake Prometheus, answering the drift gate's query with per-bin rows of ``bins``."""

    bins: tuple[int, ...] = ()

    def query(self, promql: str, time: dt.datetime | float | None = None) -> Sequence[Any]:
        if "uplift_feature_bin_total" not in promql:
            return super().query(promql, time)
        self.asked.append(promql)
        return [Sample({"feature": "recency", "bin": str(i)}, float(n), 0.0)
                for i, n in enumerate(self.bins)]


@dataclass
class RecordingRegistry(FakeRegistry):
    """The fake MLflow, recording the runs whose reference artifacts were read."""

    artifact_runs: list[str] = field(default_factory=list)

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        self.artifact_runs.append(run_id)
        return super().download_artifact_json(run_id, path)


class DriftSim(Sim):
    """A campaign with a drift gate only, its model serving ``stable``, the runs of versions 2
    and 3 in a fake MLflow (only 3's reference matches ``UNDRIFTED``), the UpliftModels'
    dependencies given to the Campaign pass as the handler gives them."""

    def __init__(self, bins: tuple[int, ...], stable: str = "3") -> None:
        exposure_spec = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
        exposure_spec["gates"] = [{"name": "drift", "type": "drift", "minSamples": 50}]
        super().__init__(exposure=exposure_spec)
        self.set_model({**SERVING, "stableVersion": stable, "desiredVersion": stable})
        self.registry = RecordingRegistry()
        for version in ("2", "3"):
            self.registry.add(MODEL, version)
        self.registry.artifacts[("run-3", REFERENCE_HISTOGRAMS)] = REFERENCE
        self.registry.artifacts[("run-2", REFERENCE_HISTOGRAMS)] = {
            "features": {"recency": {"counts": [1, 1, 1, 997]}}}
        self.registry_for_calls: list[tuple[str, Credentials | None]] = []
        self.metrics = BinMetrics(bins=bins)
        models = upliftmodel.Dependencies(
            cluster=self.cluster, backend=SeldonV1Backend(), registry_for=self._registry_for,
            prometheus=None, metric_templates=BUILTIN_TEMPLATES, runtime_image="runtime:test",
            default_tracking_uri="http://mlflow.test")
        self.deps = replace(self.deps, prometheus=self.metrics, models=models)

    def _registry_for(self, ref: ModelReference, credentials: Credentials | None) -> Registry:
        self.registry_for_calls.append((ref.registered_model, credentials))
        return self.registry

    def gate(self) -> dict[str, Any]:
        return dict(next(g for g in self.status["gates"] if g["name"] == "drift"))


@pytest.mark.parametrize("stable", ["3", "2"])
def test_the_drift_gate_judges_the_served_versions_run_and_drift_rolls_the_campaign_back(
        stable: str) -> None:
    # Live mass in the last bin: drift against version 3's reference, none against version 2's.
    sim = DriftSim(DRIFTED, stable=stable)
    sim.tick()
    result = sim.tick(5)
    assert sim.registry.artifact_runs == [f"run-{stable}"], "the served version's run, only"
    live = [q for q in sim.metrics.asked if "uplift_feature_bin_total" in q]
    assert live and all(f'version="{stable}"' in q for q in live)
    s = sim.status
    if stable == "2":
        assert sim.gate()["verdict"] == "Pass" and s["exposurePercent"] == 5
        return
    assert sim.gate()["verdict"] == "Fail" and "drift shown" in sim.gate()["message"]
    assert (s["exposurePercent"], s["phase"], s.get("currentStep")) == (0, "Degraded", None)
    assert reasons(result) == ["GateFailed", "RolledBack"]
    assert s["history"][-1]["action"] == "RolledBack"
    assert "gate drift Fail" in s["history"][-1]["reason"]


def test_undrifted_traffic_passes_the_drift_gate_and_the_ramp_goes_on() -> None:
    sim = DriftSim(UNDRIFTED)
    sim.tick()
    for _ in range(12):  # the 5 % step's 1h pause, an analysis every 5m
        sim.tick(5)
    assert sim.gate()["verdict"] == "Pass" and "no drift" in sim.gate()["message"]
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    # The version's facts are read once (a READY version never changes), its reference at
    # each analysis.
    assert set(sim.registry.artifact_runs) == {"run-3"}
    assert sim.registry.calls == 1 + len(sim.registry.artifact_runs)


@pytest.mark.parametrize("analyses_before", [0, 1])
def test_mlflow_down_holds_the_drift_gate_and_never_rolls_back(analyses_before: int) -> None:
    # Down from the start (the run id cannot be resolved), or once the run id is known (its
    # reference cannot be read): Inconclusive with the cause, far past consecutiveErrorLimit (4).
    sim = DriftSim(UNDRIFTED)
    sim.tick()
    for _ in range(analyses_before):
        sim.tick(5)
    assert sim.registry.calls == 2 * analyses_before
    sim.registry.down = True
    sim.metrics.bins = DRIFTED  # drifted, but with no reference to judge by: held, not judged
    for _ in range(8):
        result = sim.tick(5)
        gate = sim.gate()
        assert gate["verdict"] == "Inconclusive", gate
        assert "MLflow" in gate["message"] and "connection refused" in gate["message"]
        assert "RolledBack" not in reasons(result)
    s = sim.status
    assert (s["exposurePercent"], s["currentStep"], s["phase"]) == (5, 0, "Progressing")
    assert [h["action"] for h in s["history"]] == ["ExposureStarted"]
    assert not sim.gate().get("consecutiveErrors")


def test_the_models_credentials_secret_reaches_the_registry_and_a_missing_one_holds() -> None:
    sim = DriftSim(DRIFTED)
    key = ("uplift.dev/v1alpha1", "upliftmodels", NS, MODEL)
    sim.cluster.objects[key]["spec"]["model"]["credentials"] = {"name": "mlflow",
                                                                "tokenKey": "token"}
    sim.tick()
    sim.tick(5)
    gate = sim.gate()
    assert gate["verdict"] == "Inconclusive" and "get secret shop/mlflow: 404" in gate["message"]
    assert sim.registry.calls == 0 and sim.status["exposurePercent"] == 5
    sim.cluster.secrets[(NS, "mlflow")] = {"token": "s3cret"}
    sim.tick(5)
    assert sim.gate()["verdict"] == "Fail"
    assert sim.registry_for_calls[-1] == (MODEL, Credentials.bearer("s3cret"))


def test_without_a_drift_gate_the_registry_is_never_asked() -> None:
    sim = DriftSim(DRIFTED)
    sim.edit_spec(**_custom_gate_spec())
    sim.metrics.values["delivered_share"] = 0.99
    sim.tick()
    for _ in range(3):
        sim.tick(5)
    # The sample's budget (5000) without its gate: the implied one is measured too.
    assert {g["name"]: g["verdict"] for g in sim.status["gates"]} == {"delivered": "Pass",
                                                                      "budget": "Pass"}
    assert sim.registry.calls == 0 and sim.registry_for_calls == []


# -- the shared engine: failure, manual control, idempotence -----------------------------------

def _with_delivery_collector(sim: Sim, value: float) -> Sim:
    """A custom gate's query answered by the fake Prometheus: the engine's rollback path."""
    sim.deps.prometheus.values["delivered_share"] = value  # type: ignore[union-attr]
    return sim


def _custom_gate_spec(mode: str = "Automatic") -> dict[str, Any]:
    exposure = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
    exposure["gates"] = [{"name": "delivered", "type": "custom", "query": "delivered_share",
                          "min": 0.95}]
    return {"exposure": exposure, "rollback": {"mode": mode}}


def test_a_failing_gate_rolls_exposure_back_to_zero() -> None:
    sim = _with_delivery_collector(Sim(**_custom_gate_spec()), 0.5)
    sim.tick()
    result = sim.tick(5)
    s = sim.status
    assert (s["exposurePercent"], s["phase"], s.get("currentStep")) == (0, "Degraded", None)
    assert reasons(result) == ["GateFailed", "RolledBack"]
    rolled = result.events[1]
    assert rolled.type == "Warning"
    assert "gate delivered Fail: value 0.5, threshold 0.95" in rolled.message
    assert s["history"][-1]["action"] == "RolledBack" and s["history"][-1]["percent"] == 0
    assert sim.condition("Ready")["reason"] == "RolledBack"
    # Held at 0 % for this generation; a spec change starts again.
    assert sim.tick(60).events == () and sim.status["exposurePercent"] == 0
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budget": 6000})
    result = sim.tick(1)
    assert reasons(result) == ["ExposureStarted"] and sim.status["exposurePercent"] == 5


def test_manual_mode_holds_exposure_instead() -> None:
    sim = _with_delivery_collector(Sim(**_custom_gate_spec("Manual")), 0.5)
    sim.tick()
    sim.tick(5)
    s = sim.status
    assert (s["exposurePercent"], s["phase"]) == (5, "Paused")
    assert "rollback.mode is Manual" in s["message"]
    assert sim.condition("Ready")["reason"] == "RollbackPending"


def test_passing_gates_ramp_to_completion() -> None:
    sim = _with_delivery_collector(Sim(**_custom_gate_spec()), 0.99)
    sim.tick()
    percents = []
    for _ in range(120):
        sim.tick(5)
        percents.append(sim.status["exposurePercent"])
    assert sorted(set(percents)) == [5, 25, 100]
    # The sample's last step has no pause: it holds at 100 % until a promote, as a rollout does.
    assert sim.status["currentStep"] == 2 and "this step has no pause" in sim.status["message"]
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    assert sim.status["phase"] == "Healthy" and "exposure ramp complete: 100%" in sim.status["message"]
    assert [h["action"] for h in sim.status["history"]] == [
        "ExposureStarted", "StepAdvanced", "StepAdvanced", "RampCompleted"]


@pytest.mark.parametrize(("annotation", "value", "exposure", "phase", "reason"), [
    ("uplift.dev/abort", "t1", 0, "Degraded", "ManualAbort"),
    ("uplift.dev/emergency-rollback", "t1", 0, "Degraded", "EmergencyRollback"),
    ("uplift.dev/promote", "step", 25, "Progressing", "StepAdvanced"),
    ("uplift.dev/promote", "full", 100, "Healthy", "RampCompleted"),
])
def test_manual_requests(annotation: str, value: str, exposure: float, phase: str,
                         reason: str) -> None:
    sim = Sim()
    sim.tick()
    sim.annotate(annotation, value)
    result = sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["phase"]) == (exposure, phase)
    assert reason in reasons(result)
    assert sim.status["handledRequests"] == {annotation: value}
    assert sim.tick(1).events == ()  # once per token


def test_an_unrecognised_request_value_is_said_once_and_changes_nothing() -> None:
    sim = Sim()
    sim.tick()
    sim.annotate("uplift.dev/promote", "true")
    result = sim.tick(1)
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "UnrecognisedRequest")]
    assert "'true' is not a promote mode: use step or full" in result.events[0].message
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    assert sim.status["history"][-1]["action"] == "UnrecognisedRequest"
    assert sim.status["history"][-1]["actor"] == "annotation uplift.dev/promote=true"
    assert sim.tick(1).events == ()


def test_retry_restarts_a_rolled_back_campaign() -> None:
    sim = Sim()
    sim.tick()
    sim.annotate("uplift.dev/abort", "t1")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    sim.annotate("uplift.dev/retry", "t2")
    result = sim.tick(1)
    assert reasons(result) == ["Retry"] and sim.status["exposurePercent"] == 5


def test_a_gate_field_stored_before_the_api_refused_it_is_named_once_per_generation() -> None:
    # The roi gate's margin: only an object written before the field rules can carry one.
    sim = Sim()
    roi = next(g for g in sim.body["spec"]["exposure"]["gates"] if g["type"] == "roi")
    roi["margin"] = 0.1
    first = sim.tick()
    ignored = [e for e in first.events if e.reason == "IgnoredField"]
    assert [e.type for e in ignored] == ["Warning"]
    assert ignored[0].message.startswith("spec.exposure.gates[2] (roi): margin applies to no "
                                         "Campaign gate; ignored")
    assert "IgnoredField" not in reasons(sim.tick(5))  # this generation was seen
    sim.edit_spec(paused=False)
    assert "IgnoredField" in reasons(sim.tick(5))  # a new generation: said again
    del roi["margin"]
    sim.edit_spec(paused=False)
    assert "IgnoredField" not in reasons(sim.tick(5))


def test_a_targeting_field_its_policy_never_reads_is_named_once_per_generation() -> None:
    # minUplift under costAware: only an object written before the targeting rules has one;
    # the runtime ignores it, and the pass runs as without it.
    sim = Sim(targeting={"policy": "costAware", "minUplift": 0.3})
    ignored = [e for e in sim.tick().events if e.reason == "IgnoredField"]
    assert [(e.type, e.message) for e in ignored] == [(
        "Warning", "spec.targeting: minUplift applies to the upliftThreshold policy only; "
                   "ignored (stored before the API server refused it: remove it)")]
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert "IgnoredField" not in reasons(sim.tick(5))  # this generation was seen
    sim.edit_spec(targeting={"policy": "costAware"})
    assert "IgnoredField" not in reasons(sim.tick(5))


def test_a_pass_on_its_own_output_changes_nothing() -> None:
    sim = Sim()
    for minutes in (0, 5, 5, 60):
        sim.tick(minutes)
        before = copy.deepcopy(sim.status)
        again = sim.tick(0)
        assert again.events == () and sim.status == before


# -- the schedule ---------------------------------------------------------------------------------

def test_a_schedule_that_ended_before_the_campaign_was_applied_is_completed_at_zero() -> None:
    sim = Sim(schedule={"start": "2025-03-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"})
    result = sim.tick()
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s.get("currentStep")) == ("Completed", 0, None)
    assert s["message"].startswith("exposure 0%: completed, spec.schedule.end "
                                   "2025-06-01T00:00:00+00:00 has passed; the results")
    assert "the results in status are final" in s["message"]
    ready = sim.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ScheduleEnded")
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert result.events == () and s.get("history", []) == []
    assert sim.tick(10).events == ()
    # An ended campaign writes nothing more: its status is the same at every later pass.
    assert sim.status == s
    assert not exposure.treating(CampaignStatus.model_validate(s))


def test_the_end_of_the_schedule_withdraws_a_running_exposure_and_keeps_the_results() -> None:
    sim = Sim(schedule={"end": "2026-12-01T12:30:00Z"})
    sim.tick()
    assert sim.status["exposurePercent"] == 5
    sim.body["status"].update(spend=812.5, treatedUnits=4200, holdoutUnits=470,
                              roi={"estimate": 1.8, "lower": 0.4, "upper": 3.1,
                                   "display": "1.8 [0.4, 3.1]"})
    results = {k: sim.status[k] for k in ("spend", "treatedUnits", "holdoutUnits", "roi")}
    result = sim.tick(30)
    assert sim.status["exposurePercent"] == 0 and sim.status["phase"] == "Completed"
    assert reasons(result) == ["CampaignCompleted"] and result.events[0].type == "Normal"
    assert "spec.schedule.end 2026-12-01T12:30:00+00:00 has passed" in result.events[0].message
    assert sim.status["history"][-1]["action"] == "CampaignCompleted"
    assert {k: sim.status[k] for k in results} == results
    assert sim.tick(60).events == () and sim.status.get("currentStep") is None  # no analysis
    assert {k: sim.status[k] for k in results} == results
    sim.annotate("uplift.dev/retry", "t1")
    retried = sim.tick(1)
    assert sim.status["exposurePercent"] == 0 and "has passed" in retried.events[0].message
    sim.body["spec"]["schedule"] = {"end": "2026-12-31T00:00:00Z"}  # a moved end runs it again
    sim.body["metadata"]["generation"] = 2
    assert reasons(sim.tick(1)) == ["ExposureStarted"] and sim.status["phase"] == "Progressing"


def test_a_schedule_still_to_start_is_suspended_at_zero_then_starts() -> None:
    sim = Sim(schedule={"start": "2026-12-01T13:00:00Z"})
    assert sim.tick().requeue_after == 3600  # the start is the next thing due
    s = sim.status
    assert (s["phase"], s["exposurePercent"]) == ("Suspended", 0)
    assert s["message"].startswith("exposure 0%: starts at 2026-12-01T13:00:00+00:00 ")
    assert sim.condition("Ready")["reason"] == "SchedulePending"
    assert not exposure.treating(CampaignStatus.model_validate(s))
    result = sim.tick(60)
    assert sim.status["exposurePercent"] == 5 and reasons(result) == ["ExposureStarted"]
    assert exposure.treating(CampaignStatus.model_validate(sim.status))


# -- the shared invalid-spec path ---------------------------------------------------------------

def test_invalid_spec_changes_nothing_and_warns_once() -> None:
    sim = Sim()
    sim.tick()
    sim.edit_spec(treatments=[*sim.body["spec"]["treatments"], {"name": "sms"}])
    result = sim.tick(1)
    s = sim.status
    assert s["phase"] == "Degraded" and s["exposurePercent"] == 5  # nothing else happens
    assert "spec.treatments[2].name: 'sms' is not a treatment of UpliftModel" in s["message"]
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "InvalidSpec")]
    assert sim.tick(1).events == ()


def test_schema_problem_takes_the_same_path() -> None:
    sim = Sim()
    sim.body["spec"]["exposure"]["steps"] = []
    sim.tick()
    assert sim.status["phase"] == "Degraded"
    assert "spec.exposure.steps" in sim.condition("InvalidSpec")["message"]


def test_retry_never_lowers_a_running_exposure() -> None:
    sim = Sim()
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 25
    sim.annotate("uplift.dev/retry", "t1")
    result = sim.tick(1)
    assert sim.status["exposurePercent"] == 25 and reasons(result) == ["Retry"]
    assert result.events[0].type == "Warning" and "is not rolled back" in result.events[0].message


# -- the budget ----------------------------------------------------------------------------------

class _Spend(FakeMetrics):
    """The period's spend (whatever its window) and nothing else."""

    spend: float | None = None

    def scalar(self, promql: str, time: Any = None) -> float | None:
        self.asked.append(promql)
        return self.spend if "uplift_campaign_spend_total" in promql else None


def _budget_sim() -> tuple[Sim, _Spend]:
    exposure_spec = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
    exposure_spec["gates"] = [{"name": "budget", "type": "budget"}]
    sim = Sim(exposure=exposure_spec,
              economics={"valuePerConversion": 110.0, "costPerTreatment": 0.1, "budget": 100,
                         "budgetPeriod": "1h"},
              schedule={"start": "2026-12-01T11:30:00Z"})  # periods 11:30, 12:30, 13:30 …
    spend = _Spend()
    sim.deps = campaign.CampaignDependencies(cluster=sim.cluster, prometheus=spend,
                                             metric_templates=BUILTIN_TEMPLATES)
    return sim, spend


def test_a_spent_budget_suspends_then_the_next_period_resumes_the_step() -> None:
    sim, prom = _budget_sim()
    sim.tick()  # 12:00, step 1 at 5 %
    prom.spend = 150.0
    result = sim.tick(5)  # 12:05, the first analysis
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s["currentStep"]) == ("Suspended", 0, 0)
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "BudgetExhausted")]
    assert result.events[0].message.startswith("exposure 5% at step 1 suspended to 0%: budget "
                                               "exhausted (spent 150 of budget 100")
    assert "rolls over at 2026-12-01T12:30:00+00:00" in s["message"]
    assert "then step 1/3 at 5% again (never a rollback)" in s["message"]
    assert sim.condition("Ready")["reason"] == "BudgetExhausted"
    assert s["history"][-1]["action"] == "BudgetExhausted" and s["history"][-1]["percent"] == 0
    assert not exposure.treating(CampaignStatus.model_validate(s))  # the campaigns file's active
    assert result.requeue_after is not None and result.requeue_after <= 25 * 60
    # Measured again in the same period: still suspended, said once.
    for _ in range(4):
        assert sim.tick(5).events == ()  # 12:10 … 12:25
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Suspended", 0)
    # The period rolls over at 12:30: the step's exposure again, nothing rolled back.
    prom.spend = 0.0
    result = sim.tick(6)  # 12:31
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s["currentStep"]) == ("Progressing", 5, 0)
    assert [e.reason for e in result.events if e.reason != "AnalysisPassed"] == ["BudgetRenewed"]
    assert s.get("rolledBackGeneration") is None
    assert [h["action"] for h in s["history"]] == ["ExposureStarted", "BudgetExhausted",
                                                   "BudgetRenewed"]
    budget_gate = next(g for g in s["gates"] if g["name"] == "budget")
    assert budget_gate["failures"] == 0  # never counted towards a rollback


def test_a_suspended_campaign_never_runs_into_its_progress_deadline() -> None:
    sim, prom = _budget_sim()
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "30d"})
    sim.tick()
    prom.spend = 100.0  # reached exactly: spent
    sim.tick(5)
    for _ in range(30):
        sim.tick(60)  # far past the 1h pause and the 1d deadline
    s = sim.status
    assert (s["phase"], s["exposurePercent"]) == ("Suspended", 0)
    assert "ProgressDeadlineExceeded" not in [h["action"] for h in s["history"]]


def test_a_completed_ramp_is_still_suspended_when_its_budget_is_spent() -> None:
    sim, prom = _budget_sim()
    sim.tick()  # 12:00, step 1 at 5 %
    sim.annotate("uplift.dev/promote", "full")
    sim.tick(1)  # 12:01, complete at 100 %
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Healthy", 100)
    prom.spend, prom.asked = 150.0, []
    result = sim.tick(5)  # 12:06: the budget gate, summed over the replicas, is still read
    s = sim.status
    assert any("uplift_campaign_spend_total" in q for q in prom.asked)
    assert (s["phase"], s["exposurePercent"], s["suspendedExposurePercent"]) == (
        "Suspended", 0, 100)
    assert "currentStep" not in s
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "BudgetExhausted")]
    assert not exposure.treating(CampaignStatus.model_validate(s))  # the campaigns file's active
    assert result.requeue_after is not None and result.requeue_after <= 5 * 60
    prom.spend = 0.0
    for _ in range(5):
        sim.tick(5)  # 12:11 … 12:31: the period rolled over at 12:30
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s.get("currentStep")) == ("Healthy", 100, None)
    assert "suspendedExposurePercent" not in s
    assert [h["action"] for h in s["history"]][-2:] == ["BudgetExhausted", "BudgetRenewed"]
