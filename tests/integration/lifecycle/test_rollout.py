"""The UpliftModel lifecycle end to end: MLflow versions, SeldonDeployment traffic, gates, rollback.

Against the real control plane, the operator under its own identity, a real MLflow server and a
real Prometheus scraping the runtime's counters. Seldon's status is played by the stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import NAME, Bench, drifted_recency, recency_reference
from tests.support.traffic import Profile

pytestmark = pytest.mark.integration


def _canary_at(version: str, weight: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("canaryVersion") == version and s.get("canaryWeight") == weight


def test_happy_path_ramps_every_step_and_promotes(bench: Bench) -> None:
    # The default splitTolerance: the last step promotes only once the split is shown within
    # ±4 % of its weight (≈ 5,000 requests at 50 %: a few seconds at 1,000 requests/s).
    bench.apply(rollout={k: v for k, v in _rollout().items() if k != "splitTolerance"})
    bench.traffic.set("1", rps=1000)
    bench.wait_healthy("1")
    assert bench.traffic_split() == {"1": 100}
    sdep = bench.seldon()
    assert sdep is not None
    assert sdep["metadata"]["ownerReferences"][0]["kind"] == "UpliftModel"

    v2 = bench.new_version()
    bench.traffic.set(v2, Profile(rps=1000))
    bench.move_alias(v2)
    bench.wait(_canary_at(v2, 20), "canary at 20%")
    assert bench.traffic_split() == {"1": 80, v2: 20}
    bench.wait(_canary_at(v2, 50), "canary at 50%", timeout=60)
    status = bench.wait_healthy(v2, timeout=60)

    # Deployed at 0 % until it serves (seen if a poll caught it), then every step, in order,
    # none skipped.
    assert bench.seen_weights in ([0, 20, 50], [20, 50])
    assert bench.traffic_split() == {v2: 100}
    assert status["previousStableVersion"] == "1"
    actions = [h["action"] for h in status["history"]]
    assert actions[-4:] == ["CanaryStarted", "TrafficStarted", "StepAdvanced", "Promoted"]
    # MLflow hears of it off the pass (services.writeback): within moments, not in the pass.
    bench.wait(lambda _: bench.versions.tags(v2, name=bench.model).get("uplift.dev/role")
               == "stable" and bench.versions.tags("1", name=bench.model).get(
                   "uplift.dev/role") == "retired"
               and bench.versions.alias_target("production", name=bench.model) == v2,
               "the roles and the alias written back to MLflow", timeout=10)
    bench.posted("CanaryStarted", "StepAdvanced", "Promoted")


@dataclass(frozen=True)
class GateCase:
    gate: dict[str, Any]
    # how the canary looks with no data, and with bad data
    no_data: Callable[[Bench, str], None]
    bad: Callable[[Bench, str], None]
    version_metrics: dict[str, float] | None = None
    version_without: tuple[str, ...] = ()
    spec: dict[str, Any] | None = None


def _silent(bench: Bench, version: str) -> None:
    bench.traffic.set(version, Profile(rps=0))


def _drifted(bench: Bench, version: str) -> None:
    bench.traffic.set(version, Profile(feature_bins={"recency": drifted_recency(bench)}))


def _insane_scores(bench: Bench, version: str) -> None:
    ref = bench.versions.references["reference/uplift_distribution.json"]["treatments"]
    mean = max(float(t["mean"]) for t in ref.values())
    std = max(float(t["std"]) for t in ref.values())
    bench.traffic.set(version, Profile(mean_uplift=mean + 20 * std, uplift_spread=std))


def _no_effect(bench: Bench, version: str) -> None:
    bench.traffic.set(version, Profile(rps=300, holdout_fraction=0.5, holdout_conversion=0.1,
                                       treated_conversion=0.1))


GATES = {
    "errorRate": GateCase(
        {"name": "errors", "type": "errorRate", "minSamples": 50}, _silent,
        lambda b, v: b.traffic.set(v, Profile(error_rate=0.5))),
    "latency": GateCase(
        {"name": "latency", "type": "latency", "max": 0.05, "minSamples": 30}, _silent,
        lambda b, v: b.traffic.set(v, Profile(latency=0.4))),
    "drift": GateCase(
        {"name": "drift", "type": "drift", "features": ["recency"], "minSamples": 50},
        _silent, _drifted),
    "qini": GateCase(
        {"name": "qini", "type": "qini", "treatments": ["womens-e-mail"]},
        lambda b, v: None, lambda b, v: None,
        version_metrics={"qini.womens_e_mail": -0.08, "qini_lower.womens_e_mail": -0.2,
                         "qini_upper.womens_e_mail": 0.04}),
    "onlineEffect": GateCase(
        {"name": "online", "type": "onlineEffect", "margin": 0.005, "minSamples": 100,
         "expectedSamples": 2000}, _silent, _no_effect,
        spec={"experiment": {"holdoutFraction": 0.5, "attributionWindow": "1s"}}),
    "upliftSanity": GateCase(
        {"name": "sanity", "type": "upliftSanity", "minSamples": 50}, _silent, _insane_scores),
    "custom": GateCase(
        {"name": "rows", "type": "custom", "max": 5,
         "query": 'sum(uplift_rows_scored_total{namespace="{{namespace}}", model="{{name}}", '
                  'version="{{version}}"})'}, _silent, lambda b, v: b.traffic.set(v, Profile())),
}


@pytest.mark.parametrize("gate_type", list(GATES))
def test_each_gate_holds_without_data_and_rolls_back_on_bad_data(bench: Bench,
                                                                 gate_type: str) -> None:
    case = GATES[gate_type]
    stable_profile = (Profile(rps=300, holdout_fraction=0.5, holdout_conversion=0.1,
                              treated_conversion=0.3) if gate_type == "onlineEffect" else Profile())
    good_reference = {"recency": recency_reference(bench)} if gate_type == "drift" else {}
    bench.traffic.set("1", stable_profile, feature_bins=good_reference)
    bench.apply(**{**(case.spec or {}),
                   "rollout": {**_rollout(), "gates": [case.gate]}})
    bench.wait_healthy("1")

    if gate_type == "qini":
        # No data: a version whose run never logged a Qini holds; then a bad one fails.
        silent = bench.new_version(without=("qini",))
        bench.move_alias(silent)
        _assert_holds(bench, silent, case.gate["name"], weight=0)  # offline: before traffic
        v_bad = bench.new_version(case.version_metrics, references=_worse_qini(bench, 0.15))
        bench.move_alias(v_bad)
    else:
        v_bad = bench.new_version()
        case.no_data(bench, v_bad)
        # No data means no traffic at all: a canary without requests while the stable gets its
        # share would be a broken split (a sample ratio mismatch), not missing data.
        bench.traffic.set("1", stable_profile, rps=0)
        bench.move_alias(v_bad)
        _assert_holds(bench, v_bad, case.gate["name"])
        bench.traffic.set("1", stable_profile, feature_bins=good_reference)
        case.bad(bench, v_bad)

    status = bench.wait(lambda s: s.get("phase") == "Degraded" and not s.get("canaryVersion"),
                        f"rollback by the {gate_type} gate", timeout=90)
    assert status["stableVersion"] == "1"
    assert status["abortedVersion"] == v_bad
    assert bench.traffic_split() == {"1": 100}, "all traffic back on stable, canary removed"
    gate = next(g for g in status["gates"] if g["name"] == case.gate["name"])
    assert gate["verdict"] == "Fail"
    assert case.gate["name"] in status["message"]
    if gate_type == "drift":
        # The betting evidence's counts went through the real API server's schema intact.
        kept = gate["sequentialState"]["drift:recency"]
        assert len(kept["counts"]) == len(good_reference["recency"]) and sum(kept["counts"]) > 0
    rolled_back = [e for e in bench.posted("RolledBack") if e["reason"] == "RolledBack"]
    assert rolled_back and case.gate["name"] in rolled_back[-1]["message"]
    bench.wait(lambda _: bench.versions.tags(v_bad, name=bench.model).get("uplift.dev/role")
               == "rolled-back", "the rolled-back role written back to MLflow", timeout=10)
    # The aborted version is not retried by itself (the alias, still on it, is re-read every
    # second; the passes the test wakes decide the same).
    quiet = time.time()
    time.sleep(2)
    bench.wait_for_passes(quiet)
    assert not bench.status().get("canaryVersion")


def _rollout(**changes: Any) -> dict[str, Any]:
    from tests.integration.lifecycle.conftest import BASE_SPEC

    return {**BASE_SPEC["rollout"], **changes}


def _assert_holds(bench: Bench, version: str, gate: str, weight: int = 20) -> None:
    bench.wait(_canary_at(version, weight), f"canary v{version} at its first step ({weight}%)")
    bench.wait(lambda s: any(g["name"] == gate and g["verdict"] == "Inconclusive"
                             and g.get("inconclusives", 0) >= 2 for g in s.get("gates", [])),
               f"{gate} Inconclusive twice", timeout=60)
    status = bench.status()
    assert status["canaryWeight"] == weight and status["currentStep"] == 0, (
        "no data never passes")
    assert status["phase"] == "Progressing"


def _worse_qini(bench: Bench, by: float) -> dict[str, Any]:
    """The base run's Qini bootstrap replicates, each ``by`` lower: the same evaluation set, so
    the gate pairs them with the stable's and sees a version worse on every resample."""
    doc = bench.versions.references["reference/qini_bootstrap.json"]
    return {"reference/qini_bootstrap.json": {
        **doc, "treatments": {key: {**t, "estimate": t["estimate"] - by,
                                    "replicates": [r - by for r in t["replicates"]]}
                              for key, t in doc["treatments"].items()}}}


def test_killed_operator_resumes_the_ramp_at_the_same_step(bench: Bench) -> None:
    bench.apply(rollout=_rollout(steps=[{"weight": 10, "pause": "4s"}, {"weight": 30},
                                        {"weight": 60, "pause": "4s"}]))
    bench.wait_healthy("1")
    v2 = bench.new_version()
    bench.traffic.set(v2, Profile())
    bench.move_alias(v2)
    bench.wait(_canary_at(v2, 30), "canary held at the indefinite 30% step", timeout=60)
    before = bench.status()
    bench.operator.kill()
    time.sleep(3)
    bench.operator.start()
    # Passes of the restarted operator, for a few seconds (it waits out its dead predecessor's
    # peering entry first: the same priority would pause both).
    restarted = time.time()
    time.sleep(4)
    bench.wait_for_passes(restarted)
    after = bench.status()
    assert after["canaryWeight"] == 30 and after["currentStep"] == before["currentStep"] == 1
    assert after["stepStartedAt"] == before["stepStartedAt"]
    assert [h["action"] for h in after["history"]] == [h["action"] for h in before["history"]]
    assert bench.seen_weights in ([0, 10, 30], [10, 30])


def test_prometheus_down_holds_the_ramp_without_touching_serving(
        bench: Bench, prometheus: Any) -> None:
    bench.apply()
    bench.wait_healthy("1")
    v2 = bench.new_version()
    bench.traffic.set(v2, Profile())
    bench.move_alias(v2)
    bench.wait(_canary_at(v2, 20), "canary at 20%")
    prometheus.stop()
    try:
        status = bench.wait(lambda s: any(g["verdict"] == "Error" for g in s.get("gates", [])),
                            "gate Error while Prometheus is down", timeout=30)
        assert status["canaryWeight"] == 20
        assert bench.traffic_split() == {"1": 80, v2: 20}
        assert any("measurement failed" in g["message"] for g in status["gates"])
    finally:
        prometheus.start()
    bench.wait_healthy(v2, timeout=120)


def test_mlflow_unreachable_keeps_serving_and_says_why(bench: Bench, mlflow_server: Any) -> None:
    bench.apply(model={"registeredModel": bench.model, "alias": "champion",
                       "aliasRefreshInterval": "1s",
                       "trackingUri": "http://127.0.0.1:9/"})
    status = bench.wait(lambda s: any(c["type"] == "ModelResolved" and c["status"] == "False"
                                      for c in s.get("conditions", [])),
                        "ModelResolved=False", timeout=30)
    condition = next(c for c in status["conditions"] if c["type"] == "ModelResolved")
    assert condition["reason"] == "RegistryUnavailable"
    assert bench.seldon() is None, "nothing deployed from an unresolved version"
    bench.apply()  # back to the real MLflow: it recovers without other changes
    bench.wait_healthy("1")
    bench.apply(model={"registeredModel": bench.model, "alias": "champion",
                       "aliasRefreshInterval": "1s", "trackingUri": "http://127.0.0.1:9/"})
    applied = time.time()
    time.sleep(4)
    bench.wait_for_passes(applied)
    status = bench.status()
    generation = bench.admin.get("upliftmodel", NAME, bench.namespace)["metadata"]["generation"]
    assert status["observedGeneration"] == generation, "the passes saw the unreachable URI"
    assert bench.traffic_split() == {"1": 100}, "an unreachable registry never changes serving"
    assert status["stableVersion"] == "1"


def test_unknown_model_carries_mlflows_message(bench: Bench) -> None:
    bench.apply(model={"registeredModel": "no-such-model", "alias": "champion"})
    status = bench.wait(lambda s: any(c["type"] == "ModelResolved" and c["reason"] == "ModelNotFound"
                                      for c in s.get("conditions", [])), "ModelNotFound")
    condition = next(c for c in status["conditions"] if c["type"] == "ModelResolved")
    assert "no-such-model" in condition["message"]


def test_deleting_the_upliftmodel_deletes_its_seldondeployment(bench: Bench) -> None:
    bench.apply()
    bench.wait_healthy("1")
    assert bench.seldon() is not None
    bench.admin.run("delete", "upliftmodel", NAME, "-n", bench.namespace)
    deadline = time.monotonic() + 60
    while bench.seldon() is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert bench.seldon() is None, "the garbage collector follows the owner reference"


def test_a_hand_edited_child_is_restored(bench: Bench) -> None:
    bench.apply()
    bench.wait_healthy("1")
    bench.admin.run("patch", "seldondeployments.machinelearning.seldon.io", NAME, "-n",
                    bench.namespace, "--type=json",
                    "-p", '[{"op": "replace", "path": "/spec/predictors/0/replicas", "value": 7}]')
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sdep = bench.seldon() or {}
        if sdep.get("spec", {}).get("predictors", [{}])[0].get("replicas") == 1:
            break
        time.sleep(0.5)
    assert (bench.seldon() or {})["spec"]["predictors"][0]["replicas"] == 1


def _uplift(bench: Bench, *args: str, via_kubectl: bool) -> str:
    """Run the CLI as a user would: ``kubectl uplift ...`` (plugin on PATH) or the console script."""
    import os
    import subprocess
    import sys

    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
           "KUBECONFIG": str(bench.admin.kubeconfig)}
    argv = (["kubectl", "uplift", *args] if via_kubectl
            else [os.path.join(bindir, "uplift-operator"), *args])
    result = subprocess.run([*argv, NAME, "-n", bench.namespace], env=env, text=True,
                            capture_output=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_manual_control_through_the_cli_and_kubectl_plugin(bench: Bench) -> None:
    bench.apply(rollout=_rollout(steps=[{"weight": 20}, {"weight": 50}]))
    bench.wait_healthy("1")
    v2 = bench.new_version()
    bench.traffic.set(v2, Profile())
    bench.move_alias(v2)
    bench.wait(_canary_at(v2, 20), "canary waiting at 20% for a human")

    _uplift(bench, "promote", via_kubectl=True)
    bench.wait(_canary_at(v2, 50), "promoted one step")
    _uplift(bench, "pause", via_kubectl=False)
    bench.wait(lambda s: s.get("phase") == "Paused", "Paused")
    _uplift(bench, "resume", via_kubectl=True)
    bench.wait(lambda s: s.get("phase") == "Progressing", "resumed")

    _uplift(bench, "abort", via_kubectl=True)
    status = bench.wait(lambda s: s.get("phase") == "Degraded" and not s.get("canaryVersion"),
                        "aborted")
    assert status["abortedVersion"] == v2 and bench.traffic_split() == {"1": 100}
    assert status["history"][-1]["actor"].startswith("annotation uplift.dev/abort=")

    _uplift(bench, "retry", via_kubectl=False)
    bench.wait(_canary_at(v2, 20), "retried from the first step without a spec change")
    _uplift(bench, "promote", "--full", via_kubectl=True)
    bench.wait_healthy(v2)

    summary = _uplift(bench, "status", via_kubectl=True)
    assert f"Stable:    {v2}" in summary and "Promoted" in summary

    # Emergency rollback: the previous stable serves again, skipping any ramp (v2 keeps the
    # traffic until 1's predictor, created again, serves); the alias still names v2, so the
    # resource stays Degraded until a new version or a retry.
    _uplift(bench, "rollback", via_kubectl=False)
    status = bench.wait(lambda s: s.get("stableVersion") == "1" and any(
        h["action"] == "StableRestored" for h in s.get("history", [])), "previous stable restored")
    actions = [h["action"] for h in status["history"]]
    assert actions[-2:] == ["EmergencyRollback", "StableRestored"]
    emergency = status["history"][-2]  # names the version rolled back, and the restored one
    # The plugin writes who asked (uplift.dev/requested-by): the reason goes on with " by ...".
    assert emergency["version"] == v2
    assert emergency["reason"].startswith(f"stable {v2} replaced by previous stable 1 at once")
    assert status["emergencyRolledBackVersion"] == v2 and status["phase"] == "Degraded"
    assert "abortedVersion" not in status  # the retry superseded the abort
    assert bench.traffic_split() == {"1": 100}
    summary = _uplift(bench, "status", via_kubectl=True)
    assert f"Rolled back: {v2} (stable, emergency rollback)" in summary


def test_mlflow_down_mid_ramp_holds_then_resumes(bench: Bench, mlflow_server: Any) -> None:
    bench.apply()
    bench.wait_healthy("1")
    v2 = bench.new_version()
    bench.traffic.set(v2, Profile())
    bench.move_alias(v2)
    bench.wait(_canary_at(v2, 20), "canary at 20%")
    mlflow_server.stop(keep_data=True)
    try:
        status = bench.wait(lambda s: any(c["type"] == "ModelResolved" and c["status"] == "False"
                                          for c in s.get("conditions", [])),
                            "ModelResolved=False while MLflow is down", timeout=30)
        condition = next(c for c in status["conditions"] if c["type"] == "ModelResolved")
        assert condition["reason"] == "RegistryUnavailable"
        quiet = time.time()
        time.sleep(6)  # three analysis intervals, longer than the step's pause
        bench.wait_for_passes(quiet)
        status = bench.status()
        assert (status["canaryWeight"], status["currentStep"]) == (20, 0), "no promotion"
        assert status["phase"] == "Progressing"
        # The ramp is held (no step, no promotion); gates that read only Prometheus are
        # still judged, so a harmful canary could roll back meanwhile (77e936b)
        assert ("the model reference does not resolve now: no step and no promotion of "
                f"canary {v2}") in status["message"]
        assert bench.traffic_split() == {"1": 80, v2: 20}, "serving untouched"
    finally:
        mlflow_server.start()
    bench.wait_healthy(v2, timeout=120)
