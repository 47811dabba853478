"""A missing KopfPeering no longer pauses the whole namespaced operator.

The real operator process, namespaced, under its own RBAC identity (the generated rules, which
allow creating peering objects), started watching three namespaces: one holding its KopfPeering,
one without it, and one that does not exist. Before, kopf paused every watch of the process
until the missing KopfPeering existed and the missing namespace held one: nothing was
reconciled anywhere. Now the operator creates the missing KopfPeering before kopf's watches
start and leaves the missing namespace out of kopf's set with a WARNING: both existing
namespaces are reconciled (passes of this process, from its own /metrics), and /readyz is 200
with a note naming the namespace left out. Once that namespace is created, the checker creates
its KopfPeering and says a restart watches it; after the restart it is reconciled too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess

from uplift_operator.devenv import process
from uplift_operator.devenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL: dict[str, Any] = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
NAME = str(MODEL["metadata"]["name"])
PEERING = "uplift-operator"


def readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def warnings(proc: OperatorProcess) -> list[str]:
    lines = [json.loads(line) for line in proc.logs().splitlines() if line.startswith("{")]
    return [str(line.get("message")) for line in lines if line.get("severity") == "warn"]


def reconciled(proc: OperatorProcess, namespace: str) -> bool:
    """A pass of the sample UpliftModel in ``namespace`` completed in this very process (not
    another operator of the session, which may watch every namespace)."""
    return proc.last_pass("UpliftModel", namespace, NAME) > 0


def test_a_missing_kopfpeering_or_namespace_pauses_no_other_namespace(
        controlplane: ControlPlane, admin: Kubectl, namespace: str, tmp_path: Path) -> None:
    without_peering = namespace  # exists, no KopfPeering: before, every watch paused
    with_peering, later = f"{namespace}-p", f"{namespace}-later"  # later: not created yet
    admin.run("create", "namespace", with_peering)
    admin.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                 "metadata": {"name": PEERING, "namespace": with_peering}})
    assert admin.run("get", "kopfpeering", PEERING, "-n", without_peering,
                     check=False).returncode != 0
    for ns in (without_peering, with_peering):
        admin.apply(MODEL, namespace=ns)  # no tracking URI anywhere: a status that says so
    port = process.free_port()
    args = ("--namespace", with_peering, "--namespace", without_peering, "--namespace", later,
            "--priority", "7", "--readiness-port", str(port))
    proc = OperatorProcess(controlplane.operator_kubeconfig, tmp_path, *args).start()
    try:
        process.wait_until(lambda: reconciled(proc, without_peering)
                           and reconciled(proc, with_peering), timeout=60,
                           what="passes in both existing namespaces", proc=proc.proc,
                           log=proc.log)
        created = admin.get("kopfpeering", PEERING, without_peering)
        assert created["metadata"]["labels"]["app.kubernetes.io/created-by"] == "uplift-operator"
        assert any(m.startswith(f"namespace {later!r} does not exist: left out of the watched "
                                "namespaces") for m in warnings(proc)), warnings(proc)
        status, body = readyz(port)
        assert status == 200, body
        assert f"note: namespace {later!r} is not watched: it did not exist at start" in body
        assert f"KopfPeering {PEERING!r} in namespace {without_peering!r}" not in body

        # The namespace created: its KopfPeering follows, and readiness says to restart.
        admin.run("create", "namespace", later)
        process.wait_until(lambda: f"note: namespace {later!r} exists now" in readyz(port)[1],
                           timeout=60, what="/readyz noting the namespace created")
        admin.get("kopfpeering", PEERING, later)
        admin.apply(MODEL, namespace=later)
        assert readyz(port)[0] == 200
        proc.stop()
        proc = OperatorProcess(controlplane.operator_kubeconfig, tmp_path, *args).start()
        process.wait_until(lambda: all(reconciled(proc, ns) for ns in
                                       (without_peering, with_peering, later)),
                           timeout=60, what="passes in all three namespaces after the restart",
                           proc=proc.proc, log=proc.log)
        process.wait_until(lambda: readyz(port) == (200, "ok\n"), timeout=30,
                           what="/readyz 200 without a note")
    finally:
        proc.stop()
        for ns in (with_peering, later):
            admin.run("delete", "namespace", ns, "--wait=false", check=False)
