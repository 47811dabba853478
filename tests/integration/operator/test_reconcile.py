"""The operator, running under its own identity, accepts valid resources and explains invalid ones."""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
CAMPAIGN = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())


def _conditions(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in body.get("status", {}).get("conditions", [])}


def test_valid_resources_become_ready(admin: Kubectl, operator: OperatorProcess,
                                      namespace: str) -> None:
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES))
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              "upliftmodel/hillstrom-uplift", "campaign/spring-email")
    body = admin.get("upliftmodel", "hillstrom-uplift", namespace)
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
    assert _conditions(body)["InvalidSpec"]["status"] == "False"
    _assert_exposing_first_step(admin, namespace, body["status"]["stableVersion"])
    # Nothing of kopf's on the objects: no finalizer (a namespace deleted while the operator is
    # down must not hang), no last-handled annotation (a write per object for nothing).
    for kind, name in (("upliftmodel", "hillstrom-uplift"), ("campaign", "spring-email")):
        meta = admin.get(kind, name, namespace)["metadata"]
        assert not meta.get("finalizers"), meta
        assert not [a for a in meta.get("annotations") or {} if "last-handled" in a], meta
    assert operator.alive


def _assert_exposing_first_step(admin: Kubectl, namespace: str, model_version: str) -> None:
    """The campaign follows its serving model: the first exposure step, on no gate evidence yet
    (no Campaign gate has a collector: they can only hold it there)."""
    body = admin.get("campaign", "spring-email", namespace)
    status, conditions = body["status"], _conditions(body)
    assert (status["exposurePercent"], status["currentStep"]) == (5, 0)
    assert status["modelVersion"] == model_version and status["phase"] == "Progressing"
    assert conditions["Ready"]["reason"] == "Exposing"
    assert conditions["ModelServing"]["status"] == "True"
    assert conditions["InvalidSpec"]["status"] == "False"
    assert status["history"][-1]["action"] == "ExposureStarted"


def test_semantically_invalid_model_is_degraded_with_reason(
        admin: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    body = copy.deepcopy(MODEL)
    body["spec"]["rollout"]["gates"][0]["templateRef"] = "no-such-template"
    admin.apply(body, namespace)

    def degraded() -> bool:
        status = admin.get("upliftmodel", "hillstrom-uplift", namespace).get("status", {})
        return bool(status.get("phase") == "Degraded")

    admin.wait_for(degraded, timeout=60, what="Degraded phase")
    observed = admin.get("upliftmodel", "hillstrom-uplift", namespace)
    invalid = _conditions(observed)["InvalidSpec"]
    assert invalid["status"] == "True" and invalid["reason"] == "InvalidSpec"
    assert "gates[0] (latency).templateRef: metric template 'no-such-template' does not exist" in (
        invalid["message"])
    assert _conditions(observed)["Ready"]["status"] == "False"

    def warned() -> bool:  # events are posted off the pass: a moment after the status
        events = json.loads(admin.run("get", "events", "-n", namespace, "-o", "json").stdout)[
            "items"]
        return any(e["reason"] == "InvalidSpec"
                   and e["involvedObject"]["name"] == "hillstrom-uplift" for e in events)

    admin.wait_for(warned, timeout=15, what="an InvalidSpec event")

    # Fixing the spec makes it Ready again; observedGeneration follows the new generation.
    admin.apply(MODEL, namespace)
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              "upliftmodel/hillstrom-uplift")
    fixed = admin.get("upliftmodel", "hillstrom-uplift", namespace)
    assert fixed["status"]["observedGeneration"] == fixed["metadata"]["generation"] == 2
    assert operator.alive


def test_campaign_waits_for_its_model_then_becomes_ready(
        admin: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    admin.apply(CAMPAIGN, namespace)

    def waiting() -> bool:
        status = admin.get("campaign", "spring-email", namespace).get("status", {})
        return bool(status.get("phase") == "Progressing")

    admin.wait_for(waiting, timeout=60, what="campaign waiting for its model")
    ready = _conditions(admin.get("campaign", "spring-email", namespace))["Ready"]
    assert ready["reason"] == "Waiting" and "'hillstrom-uplift' not found" in ready["message"]
    assert _conditions(admin.get("campaign", "spring-email", namespace))["ModelServing"][
        "reason"] == "ModelNotFound"
    admin.apply(MODEL, namespace)
    # The timer follows the model without an edit: once it serves, exposure starts.
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              "upliftmodel/hillstrom-uplift", "campaign/spring-email")
    model = admin.get("upliftmodel", "hillstrom-uplift", namespace)
    _assert_exposing_first_step(admin, namespace, model["status"]["stableVersion"])


def test_campaign_treatment_unknown_to_the_model_is_invalid(
        admin: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    admin.apply(MODEL, namespace)
    campaign = copy.deepcopy(CAMPAIGN)
    campaign["spec"]["treatments"].append({"name": "sms"})
    admin.apply(campaign, namespace)

    def invalid() -> bool:
        status = admin.get("campaign", "spring-email", namespace).get("status", {})
        return bool(status.get("phase") == "Degraded")

    admin.wait_for(invalid, timeout=60, what="campaign Degraded")
    message = admin.get("campaign", "spring-email", namespace)["status"]["message"]
    assert "spec.treatments[2].name: 'sms' is not a treatment of UpliftModel" in message


def test_passes_write_nothing_when_nothing_changed(
        admin: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    admin.apply([MODEL, CAMPAIGN], namespace)
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              "campaign/spring-email")
    before = admin.get("campaign", "spring-email", namespace)["metadata"]["resourceVersion"]
    # At rest nothing is written: no status churn, no resourceVersion bump, no watch event.
    time.sleep(3)
    assert admin.get("campaign", "spring-email", namespace)["metadata"][
        "resourceVersion"] == before
    # An annotation that asks for nothing wakes the Campaign's pass (its annotations are among
    # what it depends on), which observes nothing new and so writes nothing: the object stays
    # at the resourceVersion of the annotation's own write. Two passes of this Campaign (its
    # own last-pass series, not a count shared with every Campaign), each woken by one.
    touched: list[str] = []

    def annotate() -> None:
        if touched:  # the pass woken by the last annotation completed, its write included
            assert admin.get("campaign", "spring-email", namespace)["metadata"][
                "resourceVersion"] == touched[-1], "a pass wrote though nothing changed"
        touched.append(admin.run(
            "annotate", "--overwrite", "-n", namespace, "campaign/spring-email",
            f"example.com/note=hello-{len(touched)}",
            "-o", "jsonpath={.metadata.resourceVersion}").stdout.strip())

    operator.wait_for_passes("Campaign", namespace, "spring-email", time.time(), poke=annotate)
    time.sleep(1)
    assert admin.get("campaign", "spring-email", namespace)["metadata"][
        "resourceVersion"] == touched[-1], "a pass wrote though nothing changed"


def test_operator_metrics_and_liveness(operator: OperatorProcess, admin: Kubectl,
                                       namespace: str) -> None:
    admin.apply(MODEL, namespace)
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              "upliftmodel/hillstrom-uplift")
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    line = (f'uplift_operator_resource_phase{{kind="UpliftModel",name="hillstrom-uplift",'
            f'namespace="{namespace}",phase="Healthy"}} 1.0')

    def observed() -> bool:
        # The pass sets its metrics after its status patch: kubectl's wait can see the patch
        # first (seen in CI under load), so the series is waited for, not read once.
        return line in urllib.request.urlopen(url, timeout=5).read().decode()

    admin.wait_for(observed, timeout=30, what="the model's Healthy phase series")
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'uplift_operator_reconciles_total{kind="UpliftModel",result="ok"}' in text
    health = urllib.request.urlopen(
        f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5)
    assert health.status == 200
    # Deleted, its series go (the forget handler runs on the watch's DELETED event only).
    admin.run("delete", "-n", namespace, "upliftmodel/hillstrom-uplift")

    def series_gone() -> bool:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        return f'name="hillstrom-uplift",namespace="{namespace}"' not in text

    admin.wait_for(series_gone, timeout=30, what="the deleted model's metric series gone")


def test_logs_are_structured_json(operator: OperatorProcess) -> None:
    lines = [line for line in operator.logs().splitlines() if line.startswith("{")]
    assert lines, operator.logs()[-2000:]
    record = json.loads(lines[-1])
    assert {"message", "timestamp", "severity"} <= record.keys()
