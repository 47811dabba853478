"""Peering never silent: a namespaced operator without its KopfPeering says so and is not ready.

The real operator process, namespaced, under its own RBAC identity: with no KopfPeering in the
watched namespace kopf keeps the watches paused; the log must carry that at WARNING with the
reason, and /readyz must answer 503 naming the missing object, until the object is created.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.support.kube import Kubectl, OperatorProcess

from uplift_operator.devenv import process
from uplift_operator.devenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration


def readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def warnings(proc: OperatorProcess) -> list[str]:
    lines = [json.loads(line) for line in proc.logs().splitlines() if line.startswith("{")]
    return [str(line.get("message")) for line in lines if line.get("severity") == "warn"]


def test_missing_peering_is_a_warning_and_not_ready_until_created(
        controlplane: ControlPlane, admin: Kubectl, namespace: str, tmp_path: Path) -> None:
    port = process.free_port()
    proc = OperatorProcess(controlplane.operator_kubeconfig, tmp_path,
                           "--namespace", namespace, "--priority", "7",
                           "--readiness-port", str(port)).start()
    try:
        process.wait_until(lambda: "KopfPeering 'uplift-operator'" in " ".join(warnings(proc)),
                           timeout=60, what="a WARNING about the missing KopfPeering")
        process.wait_until(
            lambda: any(m.startswith("Pausing the watch-stream") and namespace in m
                        and "blockers" in m for m in warnings(proc)),
            timeout=60, what="kopf's paused watch logged at WARNING with its blockers")
        status, body = readyz(port)
        assert status == 503
        assert f"KopfPeering 'uplift-operator' in namespace '{namespace}' does not exist" in body

        admin.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                     "metadata": {"name": "uplift-operator", "namespace": namespace}})
        process.wait_until(lambda: readyz(port)[0] == 200, timeout=60,
                           what="/readyz 200 once the KopfPeering exists")
    finally:
        proc.stop()
