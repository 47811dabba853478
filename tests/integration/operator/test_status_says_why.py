"""A stuck UpliftModel says why where people look (issue #12 item 7): the cause in
``status.message`` and one Warning event, reported by ``uplift-operator`` rather than ``kopf``."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess

from uplift_operator.devenv import process

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())


def _events(admin: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    items = json.loads(admin.run("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def test_unreachable_registry_is_the_message_and_one_warning_event(
        admin: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    body = copy.deepcopy(MODEL)
    body["spec"]["model"]["trackingUri"] = f"http://127.0.0.1:{process.free_port()}"  # nobody there
    admin.apply(body, namespace)
    name = body["metadata"]["name"]

    def explained() -> bool:
        message = admin.get("upliftmodel", name, namespace).get("status", {}).get("message", "")
        return "RegistryUnavailable" in message

    admin.wait_for(explained, timeout=60, what="status.message naming the cause")
    status = admin.get("upliftmodel", name, namespace)["status"]
    assert status["message"].startswith("waiting for the model reference to resolve")
    assert "127.0.0.1" in status["message"]  # the unreachable address, not a generic wait

    def warned() -> bool:
        return any(e["reason"] == "RegistryUnavailable" for e in _events(admin, namespace, name))

    admin.wait_for(warned, timeout=30, what="RegistryUnavailable event")
    # Two passes after it, each woken by an annotation that asks for nothing (the model's next
    # look is otherwise 30 s away), the cause unchanged: still one event, once.
    pokes = iter(range(1, 1000))

    def poke() -> None:
        admin.run("annotate", "--overwrite", "-n", namespace, f"upliftmodel/{name}",
                  f"test.uplift.dev/poke={next(pokes)}")

    operator.wait_for_passes("UpliftModel", namespace, name, time.time(), poke=poke)
    time.sleep(1)  # kopf posts a pass's events off the pass
    assert "RegistryUnavailable" in admin.get("upliftmodel", name, namespace)["status"]["message"]
    warnings = [e for e in _events(admin, namespace, name) if e["reason"] == "RegistryUnavailable"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert warnings[0].get("count", 1) == 1, "one event per cause, not one per pass"
    assert warnings[0]["source"]["component"] == "uplift-operator"
    assert warnings[0]["reportingComponent"] == "uplift-operator"
    assert all(e["source"].get("component") == "uplift-operator"
               for e in _events(admin, namespace, name))
