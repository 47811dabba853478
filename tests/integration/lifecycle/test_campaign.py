"""The Campaign lifecycle end to end: exposure ramp, gates, rollback, schedule, its UpliftModel.

Against the real control plane, the operator under its own identity, a real MLflow server and a
real Prometheus scraping the runtime's counters (``tests.support.campaign_traffic``: the
campaign's decisions at the exposure of its entry in the ``<model>-campaigns`` ConfigMap, as the
runtime applies it). The UpliftModel is the lifecycle ``bench``'s, serving version 1.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import BASE_SPEC as BENCH_SPEC
from tests.integration.lifecycle.conftest import NAME as MODEL
from tests.integration.lifecycle.conftest import Bench, drifted_recency, recency_reference
from tests.support.campaign_traffic import CampaignProfile, CampaignTraffic, ConfigMapExposure
from tests.support.scrapes import series_values
from tests.support.traffic import Profile

from uplift_operator.adapters.prometheus import PrometheusClient
from uplift_operator.devenv import process

pytestmark = pytest.mark.integration

CAMPAIGN = "camp"

GATES: dict[str, dict[str, Any]] = {
    "delivery": {"name": "delivery", "type": "deliveryRate", "min": 0.95, "minSamples": 50},
    "lift": {"name": "lift", "type": "incrementalConversions", "minSamples": 50,
             "expectedSamples": 500},
    "roi": {"name": "roi", "type": "roi", "min": 0.0, "minSamples": 50, "expectedSamples": 500},
}

BASE_SPEC: dict[str, Any] = {
    "modelRef": {"name": MODEL},
    "treatments": [{"name": "womens-e-mail"}],
    "economics": {"valuePerConversion": 10.0, "costPerTreatment": 0.1},
    # The simulated traffic closes each decision's window in the tick that decided it: the
    # conversion gates judge cohorts from a window after the ramp (or a promotion) began.
    "experiment": {"holdoutFraction": 0.5, "attributionWindow": "1s", "salt": "t"},
    "exposure": {"analysisInterval": "1s",
                 "steps": [{"percent": 5, "pause": "2s"}, {"percent": 25, "pause": "2s"},
                           {"percent": 100, "pause": "1s"}],
                 "gates": list(GATES.values())},
}

Status = dict[str, Any]


@dataclass
class CampaignBench:
    """One test's Campaign on the bench's UpliftModel, its traffic, and ways to look."""

    bench: Bench
    traffic: CampaignTraffic
    seen_exposure: list[float] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.bench.namespace

    def apply(self, **spec_changes: Any) -> None:
        spec = copy.deepcopy(BASE_SPEC)
        spec.update(spec_changes)
        self.bench.admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
                                "metadata": {"name": CAMPAIGN, "namespace": self.namespace},
                                "spec": spec})

    def patch(self, spec: dict[str, Any]) -> None:
        self.bench.admin.run("patch", "campaign", CAMPAIGN, "-n", self.namespace, "--type=merge",
                             "-p", json.dumps({"spec": spec}))

    def status(self) -> Status:
        status: Status = self.bench.admin.get("campaign", CAMPAIGN, self.namespace).get(
            "status", {})
        percent = status.get("exposurePercent")
        if percent is not None and (not self.seen_exposure or self.seen_exposure[-1] != percent):
            self.seen_exposure.append(percent)
        return status

    def wait(self, predicate: Callable[[Status], bool], what: str, timeout: float = 60) -> Status:
        deadline = time.monotonic() + timeout
        status: Status = {}
        while time.monotonic() < deadline:
            status = self.status()
            if predicate(status):
                return status
            time.sleep(0.3)
        # Each gate's verdict and message first: the whole status (sequential states) is long,
        # and the gate that held is what a failure needs to say.
        gates = "\n".join(f"  {g.get('name')}: {g.get('verdict')} (errors in a row "
                          f"{g.get('consecutiveErrors')}) {g.get('message')}"
                          for g in status.get("gates", []))
        rest = {k: v for k, v in status.items() if k != "gates"}
        logs = self.bench.operator.logs().splitlines()
        warnings = [line for line in logs if '"severity": "warn' in line
                    or '"severity": "err' in line]
        # What the campaign's traffic sent, and whether Prometheus scraped it: "no data yet"
        # is either, and only these tell them apart.
        selector = (f'{{namespace="{self.namespace}", model="{MODEL}", '
                    f'campaign="{CAMPAIGN}"}}')
        held = series_values(self.bench.prometheus_url, {
            "units": f"sum by (arm, version) (uplift_assignments_total{selector})",
            "units in the last 30s": f"sum by (arm) (increase(uplift_assignments_total"
                                     f"{selector}[30s]))"})
        # Whether passes still run (and see no data) or stopped (a lost waiting task).
        last = self.bench.operator.last_pass("Campaign", self.namespace, CAMPAIGN)
        passes = (f"last Campaign pass began {time.time() - last:.1f} s ago" if last
                  else "no Campaign pass recorded in the operator's /metrics")
        sent = (f"{self.traffic.diagnostics()}\n{self.bench.scrape_health()}\n{held}\n"
                f"{passes}")
        raise AssertionError(f"timed out waiting for {what}; gates:\n{gates}\ncampaign status "
                             f"without gates: {json.dumps(rest, indent=1)[:2500]}\n{sent}\n"
                             "operator warnings and errors (last 10):\n"
                             + "\n".join(warnings[-10:])
                             + "\noperator log tail:\n" + "\n".join(logs[-15:]))

    def wait_for_passes(self, after: float) -> None:
        """Two Campaign passes after ``after``, each woken by an annotation that asks for
        nothing (a quiet Campaign has no pass due)."""
        pokes = iter(range(1, 1000))

        def poke() -> None:
            self.bench.admin.run("annotate", "--overwrite", "campaign", CAMPAIGN, "-n",
                                 self.namespace, f"test.uplift.dev/poke={next(pokes)}")

        self.bench.operator.wait_for_passes("Campaign", self.namespace, CAMPAIGN, after,
                                            poke=poke)

    def gate(self, status: Status, name: str) -> Status:
        return next(g for g in status.get("gates", []) if g["name"] == name)

    def events(self, reason: str) -> list[dict[str, Any]]:
        """The Campaign's events of ``reason`` posted so far."""
        return [e for e in self.bench.events() if e["reason"] == reason
                and e["involvedObject"].get("kind") == "Campaign"]

    def posted(self, reason: str) -> list[dict[str, Any]]:
        """The Campaign's events of ``reason``, once there is one (posted off the pass)."""
        return [e for e in self.bench.posted(reason, kind="Campaign") if e["reason"] == reason
                and e["involvedObject"].get("kind") == "Campaign"]


@pytest.fixture
def campaign(bench: Bench) -> Iterator[CampaignBench]:
    from kubernetes import client
    from kubernetes import config as kube_config

    api = client.CoreV1Api(
        kube_config.new_client_from_config(str(bench.admin.kubeconfig)))  # type: ignore[no-untyped-call]
    traffic = CampaignTraffic(bench.traffic.metrics, MODEL, CAMPAIGN,
                              ConfigMapExposure(api, bench.namespace, MODEL, CAMPAIGN)).start()
    bench.apply()
    bench.wait_healthy("1")
    try:
        yield CampaignBench(bench, traffic)
    finally:
        bench.admin.run("delete", "campaign", CAMPAIGN, "-n", bench.namespace, "--wait=false",
                        check=False)
        traffic.stop()


def _at(percent: float, step: int) -> Callable[[Status], bool]:
    return lambda s: s.get("exposurePercent") == percent and s.get("currentStep") == step


def _results(status: Status) -> dict[str, Any]:
    return {k: status.get(k) for k in ("incrementalEffect", "roi", "spend", "treatedUnits",
                                       "holdoutUnits")}


def test_healthy_campaign_ramps_every_step_and_completes_at_end_with_results_frozen(
        campaign: CampaignBench) -> None:
    budget_gate = {"name": "budget", "type": "budget"}
    campaign.traffic.set(CampaignProfile())
    campaign.apply(economics={**BASE_SPEC["economics"], "budget": 1e6},
                   exposure={**BASE_SPEC["exposure"],
                             "gates": [*GATES.values(), budget_gate]})
    status = campaign.wait(lambda s: s.get("phase") == "Healthy", "the ramp complete", timeout=90)
    assert status["exposurePercent"] == 100 and status.get("currentStep") is None
    # Every step, in order, none skipped.
    assert campaign.seen_exposure in ([0, 5, 25, 100], [5, 25, 100])
    actions = [h["action"] for h in status["history"]]
    assert actions == ["ExposureStarted", "StepAdvanced", "StepAdvanced", "RampCompleted"]
    effect, roi = status["incrementalEffect"], status["roi"]
    assert effect["lower"] > 0 and effect["lower"] <= effect["estimate"] <= effect["upper"]
    assert abs(effect["estimate"] - 0.2) < 0.05, "treated 0.30 vs holdout 0.10"
    assert roi["lower"] > 0 and roi["lower"] <= roi["estimate"] <= roi["upper"]
    assert status["spend"] > 0 and status["treatedUnits"] > 0
    campaign.bench.posted("ExposureStarted", "StepAdvanced", "RampCompleted")

    end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
    campaign.patch({"schedule": {"end": end.isoformat().replace("+00:00", "Z")}})
    done = campaign.wait(lambda s: s.get("phase") == "Completed", "Completed at the end")
    assert done["exposurePercent"] == 0
    assert "the results in status are final" in done["message"]
    assert done["history"][-1]["action"] == "CampaignCompleted"
    final = _results(done)
    # The effect and ROI are the ramp's last analysis; a completed ramp still measures its
    # budget gate (the spend summed across replicas), so spend and units go on counting.
    completed = _results(status)
    for key in ("incrementalEffect", "roi"):
        assert final[key] == completed[key], f"{key} at the end is the ramp's last analysis"
    for key in ("spend", "treatedUnits", "holdoutUnits"):
        assert final[key] >= completed[key], key
    # The decisions stop (exposure 0 in the file); whatever still arrives changes nothing.
    campaign.traffic.set(treated_conversion=0.0)
    quiet = time.time()
    time.sleep(2.5)
    campaign.wait_for_passes(quiet)
    later = campaign.status()
    assert later["phase"] == "Completed" and _results(later) == final
    assert later["history"] == done["history"]


def test_negative_roi_rolls_back_to_zero_with_the_gates_evidence(campaign: CampaignBench) -> None:
    # 0.2 incremental conversions × 10 per conversion = 2 per treated unit, against 5 spent.
    campaign.traffic.set(CampaignProfile(cost=5.0))
    campaign.apply(economics={"valuePerConversion": 10.0, "costPerTreatment": 5.0},
                   exposure={**BASE_SPEC["exposure"], "gates": [GATES["delivery"], GATES["roi"]]})
    status = campaign.wait(lambda s: s.get("phase") == "Degraded", "rolled back by roi",
                           timeout=60)
    assert status["exposurePercent"] == 0 and status.get("currentStep") is None
    assert status["rolledBackGeneration"] == 1
    gate = campaign.gate(status, "roi")
    assert gate["verdict"] == "Fail" and gate["upper"] < 0 and gate["threshold"] == 0
    assert abs(gate["value"] - (-0.6)) < 0.15, "ROI = 10 × 0.2 / 5 − 1"
    assert status["history"][-1]["action"] == "RolledBack"
    assert "gate roi Fail" in status["history"][-1]["reason"]
    [event] = campaign.posted("RolledBack")
    assert event["type"] == "Warning"
    message = event["message"]
    assert "gate roi Fail" in message and "to 0%" in message
    for evidence in ("value ", "threshold 0", "samples "):
        assert evidence in message, (evidence, message)
    assert status["roi"]["estimate"] == gate["value"]
    # Rolled back stays rolled back (no restart on the same generation).
    quiet = time.time()
    time.sleep(2.5)
    campaign.wait_for_passes(quiet)
    assert campaign.status()["exposurePercent"] == 0
    assert len(campaign.events("RolledBack")) == 1


def test_drift_from_the_stable_versions_training_reference_rolls_back_and_none_ramps(
        campaign: CampaignBench) -> None:
    # The campaign's reference is version 1's MLflow run (the version the model serves); its
    # live bins are version 1's whole traffic since the ramp started.
    bench = campaign.bench
    drift = {"name": "drift", "type": "drift", "features": ["recency"], "minSamples": 50}
    bench.traffic.set("1", Profile(feature_bins={"recency": drifted_recency(bench)}))
    campaign.apply(exposure={**BASE_SPEC["exposure"], "gates": [drift]})
    status = campaign.wait(lambda s: s.get("phase") == "Degraded", "rolled back by drift",
                           timeout=30)
    assert status["exposurePercent"] == 0 and status.get("currentStep") is None
    gate = campaign.gate(status, "drift")
    assert gate["verdict"] == "Fail" and "drift shown" in gate["message"], gate
    assert status["history"][-1]["action"] == "RolledBack"
    assert "gate drift Fail" in status["history"][-1]["reason"]
    [event] = campaign.posted("RolledBack")
    assert "gate drift Fail" in event["message"]

    # Binned as in training: a spec change starts the ramp afresh (drift counted since then)
    # and it passes every step. More rows a second, so "no drift" is shown within seconds.
    bench.traffic.set("1", Profile(rps=1000, feature_bins={"recency": recency_reference(bench)}))
    time.sleep(1.5)  # the drifted rows scraped before the ramp restarts
    campaign.patch({"exposure": {"gates": [{**drift, "minSamples": 100}]}})
    status = campaign.wait(lambda s: s.get("phase") == "Healthy", "the ramp complete",
                           timeout=30)
    assert [h["action"] for h in status["history"]][-4:] == [
        "ExposureStarted", "StepAdvanced", "StepAdvanced", "RampCompleted"]
    gate = campaign.gate(status, "drift")
    assert gate["verdict"] == "Pass" and "no drift" in gate["message"], gate


def test_manual_rollback_mode_holds_the_exposure_on_a_failing_gate(
        campaign: CampaignBench) -> None:
    campaign.traffic.set(CampaignProfile(cost=5.0))
    campaign.apply(economics={"valuePerConversion": 10.0, "costPerTreatment": 5.0},
                   rollback={"mode": "Manual"},
                   exposure={**BASE_SPEC["exposure"], "gates": [GATES["delivery"], GATES["roi"]]})
    status = campaign.wait(
        lambda s: any(g["name"] == "roi" and g["verdict"] == "Fail" for g in s.get("gates", [])),
        "roi Fail", timeout=60)
    quiet = time.time()
    time.sleep(2.5)
    campaign.wait_for_passes(quiet)
    status = campaign.status()
    assert (status["exposurePercent"], status["currentStep"]) == (5, 0), "held, not rolled back"
    assert status["phase"] != "Degraded" and status.get("rolledBackGeneration") is None
    assert "rollback.mode is Manual" in status["message"]
    assert not campaign.events("RolledBack")
    # The hold is recorded once (its Paused entry names the Fail that tripped it), no rollback.
    assert [h["action"] for h in status["history"]] == ["ExposureStarted", "Paused"]
    assert "gate roi Fail" in status["history"][-1]["reason"]


def test_late_outcomes_are_not_counted(campaign: CampaignBench) -> None:
    # No effect in the window; late conversions on the treated arm would make one of 0.3.
    campaign.traffic.set(CampaignProfile(holdout_conversion=0.1, treated_conversion=0.1,
                                         late_treated_conversion=0.3))
    campaign.apply(exposure={**BASE_SPEC["exposure"], "gates": [GATES["lift"]]})
    status = campaign.wait(lambda s: any(g["name"] == "lift" and g.get("value") is not None
                                         and g.get("inconclusives", 0) + g.get("failures", 0) >= 3
                                         for g in s.get("gates", [])),
                           "three analyses of the lift gate with values", timeout=60)
    gate = campaign.gate(status, "lift")
    assert gate["verdict"] != "Pass"
    assert abs(gate["value"]) < 0.03, f"late outcomes counted: {gate}"
    assert (status["exposurePercent"], status["currentStep"]) in ((5, 0), (0, None))
    # Those outcomes reached Prometheus, in their own counter only: the treated arm's in-window
    # conversions there are the in-window ones sent (at 0.1), none of the late (0.3). The
    # decisions stop first, so the totals sent are final and a scrape catches up with them.
    campaign.traffic.set(rps=0)
    sent = dict(campaign.traffic.emitted)
    assert sent["treated.late"] > 0
    prometheus = PrometheusClient(campaign.bench.prometheus_url)
    treated = (f'{{namespace="{campaign.namespace}", model="{MODEL}", campaign="{CAMPAIGN}", '
               'arm="treated"}')
    wanted = {"uplift_late_outcomes_total": sent["treated.late"],
              "uplift_outcomes_converted_total": sent["treated.converted"]}
    seen: dict[str, float | None] = {}

    def scraped() -> bool:
        seen.update({name: prometheus.scalar(f"sum({name}{treated})") for name in wanted})
        return seen == wanted

    try:
        process.wait_until(scraped, timeout=30, interval=0.5, what="the totals sent scraped")
    except TimeoutError:
        raise AssertionError(f"Prometheus holds {seen} for the treated arm; the campaign's "
                             f"traffic sent {wanted}") from None


def test_no_data_is_inconclusive_and_exposure_never_grows(campaign: CampaignBench) -> None:
    campaign.apply()  # the campaign's traffic stays at rps 0: nothing is decided
    status = campaign.wait(
        lambda s: len(s.get("gates", [])) == len(GATES)
        and all(g["verdict"] == "Inconclusive" and g.get("inconclusives", 0) >= 3
                for g in s["gates"]), "every gate Inconclusive three times", timeout=60)
    assert (status["exposurePercent"], status["currentStep"]) == (5, 0), "no data never passes"
    assert status["phase"] == "Progressing"
    assert campaign.seen_exposure in ([0, 5], [5])
    assert [h["action"] for h in status["history"]] == ["ExposureStarted"]


def test_a_rolled_back_model_canary_does_not_disturb_the_campaign(
        campaign: CampaignBench) -> None:
    bench = campaign.bench
    campaign.traffic.set(CampaignProfile())
    campaign.apply(exposure={**BASE_SPEC["exposure"],
                             "steps": [{"percent": 5, "pause": "1s"}, {"percent": 25}]})
    before = campaign.wait(_at(25, 1), "held at the indefinite 25% step", timeout=60)
    v2 = bench.new_version()
    bench.traffic.set(v2, Profile(error_rate=0.5))
    bench.move_alias(v2)
    model = bench.wait(lambda s: s.get("phase") == "Degraded" and s.get("abortedVersion") == v2,
                       "the model's canary rolled back", timeout=60)
    assert model["stableVersion"] == "1"
    quiet = time.time()
    time.sleep(1.5)
    campaign.wait_for_passes(quiet)
    after = campaign.status()
    assert (after["exposurePercent"], after["currentStep"]) == (25, 1)
    assert after["stepStartedAt"] == before["stepStartedAt"]
    assert after["history"] == before["history"]
    assert after["modelVersion"] == "1" and after["phase"] == "Progressing"
    assert 0 not in campaign.seen_exposure[campaign.seen_exposure.index(5):]


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _carried(gate: Status) -> bool:
    """Whether any of the gate's sequential tests carries evidence from before its step."""
    return any(key.startswith("carried") for state in gate.get("sequentialState", {}).values()
               for key in state)


def test_a_model_promotion_mid_ramp_holds_the_exposure_and_restarts_the_step_on_the_new_version(
        campaign: CampaignBench) -> None:
    bench = campaign.bench
    campaign.traffic.set(CampaignProfile())
    campaign.apply(exposure={**BASE_SPEC["exposure"],
                             "steps": [{"percent": 5, "pause": "1s"}, {"percent": 25}]})
    before = campaign.wait(
        lambda s: _at(25, 1)(s) and len(s.get("gates", [])) == len(GATES)
        and all(g["verdict"] == "Pass" and _time(g["time"]) > _time(s["stepStartedAt"])
                for g in s["gates"]), "every gate passed at the indefinite 25% step", timeout=60)
    assert before["modelVersion"] == "1"
    assert _carried(campaign.gate(before, "lift")), "the 5% step's evidence carried to 25%"

    # The model ramps a canary of version 2 and promotes it (its own gates pass).
    v2 = bench.new_version()
    bench.traffic.set(v2, Profile())
    bench.move_alias(v2)
    model = bench.wait_healthy(v2, timeout=90)
    assert model["previousStableVersion"] == "1"
    campaign.traffic.follow_version(v2)  # the runtime now decides with version 2's scores
    status = campaign.wait(lambda s: s.get("modelVersion") == v2, f"modelVersion {v2}")

    # Followed, the exposure held at the same step: never withdrawn, in status or in the file.
    assert (status["exposurePercent"], status["currentStep"]) == (25, 1)
    assert status["phase"] == "Progressing"
    assert 0 not in campaign.seen_exposure[campaign.seen_exposure.index(5):]
    applied = campaign.traffic.applied
    assert 0 not in applied[applied.index(5):], applied
    assert status["history"][:-1] == before["history"]
    entry = status["history"][-1]
    assert (entry["action"], entry["version"], entry["percent"]) == ("ModelVersionChanged", v2, 25)
    assert f"promoted version {v2} (was 1)" in entry["reason"]
    assert "gates lift, roi measured afresh" in entry["reason"]
    [event] = campaign.posted("ModelVersionChanged")
    assert event["type"] == "Normal"
    assert not campaign.events("ExposureWithdrawn") and not campaign.events("RolledBack")
    # The step starts over on version 2: its clock from the promotion, the model's gates with
    # none of version 1's evidence; the delivery gate (the sender) keeps its own.
    restarted = _time(status["stepStartedAt"])
    assert restarted > _time(before["stepStartedAt"])
    judged = campaign.wait(
        lambda s: len(s.get("gates", [])) == len(GATES)
        and all(g["verdict"] == "Pass" and _time(g["time"]) > restarted for g in s["gates"]),
        "every gate passed again on version 2", timeout=60)
    assert (judged["exposurePercent"], judged["currentStep"]) == (25, 1)
    assert _time(judged["stepStartedAt"]) == restarted
    lift = campaign.gate(judged, "lift")
    assert not _carried(lift), f"version 1's evidence in version 2's test: {lift}"
    assert _carried(campaign.gate(judged, "delivery"))
    assert [h["action"] for h in judged["history"]][-1] == "ModelVersionChanged"


def _not_serving(status: Status) -> bool:
    serving: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c["type"] == "ModelServing"), {})
    return status.get("exposurePercent") == 0 and serving.get("status") == "False"


def test_a_deleted_model_withdraws_the_exposure_with_the_reason(campaign: CampaignBench) -> None:
    campaign.traffic.set(CampaignProfile())
    campaign.apply(exposure={**BASE_SPEC["exposure"], "steps": [{"percent": 5}]})
    campaign.wait(_at(5, 0), "exposed at 5%")
    campaign.bench.admin.run("delete", "upliftmodel", MODEL, "-n", campaign.namespace)
    status = campaign.wait(_not_serving, "exposure withdrawn")
    assert status["phase"] != "Healthy" and f"UpliftModel '{MODEL}' not found" in status["message"]
    serving = next(c for c in status["conditions"] if c["type"] == "ModelServing")
    assert serving["reason"] == "ModelNotFound"
    assert status["history"][-1]["action"] == "ExposureWithdrawn"
    assert campaign.posted("ExposureWithdrawn")


def test_a_model_with_nothing_serving_or_degraded_before_serving_exposes_no_one(
        campaign: CampaignBench) -> None:
    # A campaign on a model that has never served: not found yet, then resolving nothing.
    bench = campaign.bench
    campaign.apply(modelRef={"name": "late"})
    status = campaign.wait(_not_serving, "no model, no exposure")
    assert status["phase"] != "Healthy" and "UpliftModel 'late' not found" in status["message"]
    # The model appears with a spec only the operator can refuse (a gate naming an unknown metric
    # template): InvalidSpec, Degraded before its first serve.
    manifest = bench.manifest(rollout={**BENCH_SPEC["rollout"], "gates": [
        {"name": "x", "type": "custom", "templateRef": "no-such-template", "max": 1}]})
    manifest["metadata"]["name"] = "late"
    bench.admin.apply(manifest)
    bench.admin.wait_for(lambda: (bench.admin.get("upliftmodel", "late", campaign.namespace)
                                  .get("status") or {}).get("phase") == "Degraded",
                         timeout=60, what="the model Degraded before serving")
    # The message names the model's phase: one written while the model was still resolving
    # ("has nothing serving (Progressing: …)") is not yet the Degraded model's.
    status = campaign.wait(lambda s: _not_serving(s) and "has nothing serving (Degraded"
                           in s.get("message", ""), "the Degraded model's reason in status")
    assert status["phase"] == "Degraded", "nothing serving and a Degraded model"
    serving = next(c for c in status["conditions"] if c["type"] == "ModelServing")
    assert serving["reason"] == "ModelNotServing"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    quiet = time.time()
    time.sleep(1.5)
    campaign.wait_for_passes(quiet)
    assert campaign.status()["exposurePercent"] == 0
    assert campaign.seen_exposure == [0]
    bench.admin.run("delete", "upliftmodel", "late", "-n", campaign.namespace, "--wait=false")


def test_a_campaign_deleted_and_applied_again_at_once_starts_afresh_and_ramps(
        campaign: CampaignBench) -> None:
    # A replace (GitOps, or kubectl delete && apply): the new object's task, memory and status
    # are its own, whatever order the operator sees the two objects' events in.
    campaign.traffic.set(CampaignProfile())
    exposure = {**BASE_SPEC["exposure"], "steps": [{"percent": 5, "pause": "1s"},
                                                   {"percent": 25}]}
    campaign.apply(exposure=exposure)
    campaign.wait(_at(25, 1), "the first object at 25%")
    admin, namespace = campaign.bench.admin, campaign.namespace
    old_uid = admin.get("campaign", CAMPAIGN, namespace)["metadata"]["uid"]
    replaced = dt.datetime.now(dt.UTC).replace(microsecond=0)
    admin.run("delete", "campaign", CAMPAIGN, "-n", namespace, "--wait=false")
    campaign.apply(exposure=exposure)
    new = admin.get("campaign", CAMPAIGN, namespace)
    assert new["metadata"]["uid"] != old_uid

    def started_again(s: Status) -> bool:
        history = s.get("history") or [{}]
        started = dt.datetime.fromisoformat(history[0].get("time", "1970-01-01T00:00:00Z"))
        # The gates at 25 % start over (Inconclusive until the step's own data): wait for
        # them to pass there too.
        gates = s.get("gates") or [{}]
        return (_at(25, 1)(s) and started >= replaced
                and all(g.get("verdict") == "Pass" for g in gates))

    status = campaign.wait(started_again, "the new object at 25%, on a history of its own, "
                           "its gates passing")
    assert [h["action"] for h in status["history"]] == ["ExposureStarted", "StepAdvanced"]
    # Its passes go on: a change of spec is still acted on.
    campaign.patch({"exposure": {**exposure, "steps": [{"percent": 5, "pause": "1s"},
                                                       {"percent": 25, "pause": "1s"}]}})
    campaign.wait(lambda s: s.get("phase") == "Healthy", "the new object's ramp complete")


def test_killed_operator_resumes_the_campaign_at_the_same_step(campaign: CampaignBench) -> None:
    campaign.traffic.set(CampaignProfile())
    campaign.apply(exposure={**BASE_SPEC["exposure"],
                             "steps": [{"percent": 5, "pause": "1s"}, {"percent": 25},
                                       {"percent": 100, "pause": "1s"}]})
    before = campaign.wait(lambda s: _at(25, 1)(s) and all(
        g["verdict"] == "Pass" for g in s.get("gates", [])), "held at the indefinite 25% step",
                           timeout=60)
    operator = campaign.bench.operator
    operator.kill()
    time.sleep(3)
    operator.start()
    restarted = time.time()
    time.sleep(4)
    campaign.wait_for_passes(restarted)
    after = campaign.status()
    assert (after["exposurePercent"], after["currentStep"]) == (25, 1)
    assert after["stepStartedAt"] == before["stepStartedAt"]
    assert after["history"] == before["history"]
    assert campaign.seen_exposure in ([0, 5, 25], [5, 25])
