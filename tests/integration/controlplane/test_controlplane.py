"""The local control plane (etcd + kube-apiserver + kube-controller-manager) really works.

One control plane for the module; the stop test starts its own. Needs the ``kube-local`` binary
(``$UPLIFT_KUBE_LOCAL`` or built by ``scripts/build-controlplane.sh``) and /usr/bin/kubectl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from uplift_operator.devenv.controlplane import (
    OPERATOR_GROUPS,
    OPERATOR_NAMESPACE,
    OPERATOR_SERVICE_ACCOUNT,
    OPERATOR_USER,
    ControlPlane,
)

pytestmark = pytest.mark.integration

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed")
    with ControlPlane() as cp:
        yield cp


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def eventually(predicate: object, *, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not true after {timeout:.0f}s")


def core_api(kubeconfig: Path) -> client.CoreV1Api:
    api_client = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
    return client.CoreV1Api(api_client)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_kubectl_creates_namespace_and_configmap(plane: ControlPlane) -> None:
    ns = unique("cp-basic")
    kubectl(plane.admin_kubeconfig, "create", "namespace", ns)
    kubectl(plane.admin_kubeconfig, "-n", ns, "create", "configmap", "settings",
            "--from-literal=answer=42")
    got = json.loads(kubectl(plane.admin_kubeconfig, "-n", ns, "get", "configmap", "settings",
                             "-o", "json").stdout)
    assert got["data"] == {"answer": "42"}


def test_version_is_pinned(plane: ControlPlane) -> None:
    version = json.loads(kubectl(plane.admin_kubeconfig, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.")
    assert "0.0.0" not in version["serverVersion"]["gitVersion"]


def test_python_client_verifies_the_serving_certificate(plane: ControlPlane) -> None:
    api = core_api(plane.admin_kubeconfig)
    assert api.api_client.configuration.verify_ssl
    names = {ns.metadata.name for ns in api.list_namespace().items if ns.metadata}
    assert {"default", "kube-system"} <= names


def test_garbage_collector_cascades_owner_references(plane: ControlPlane) -> None:
    ns = unique("cp-gc")
    kcfg = plane.admin_kubeconfig
    kubectl(kcfg, "create", "namespace", ns)
    kubectl(kcfg, "-n", ns, "create", "configmap", "owner")
    owner_uid = kubectl(kcfg, "-n", ns, "get", "configmap", "owner",
                        "-o", "jsonpath={.metadata.uid}").stdout.strip()
    assert owner_uid
    child = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "child", "namespace": ns, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}]},
        "data": {"k": "v"},
    }
    kubectl(kcfg, "create", "-f", "-", stdin=json.dumps(child))
    kubectl(kcfg, "-n", ns, "get", "configmap", "child")

    kubectl(kcfg, "-n", ns, "delete", "configmap", "owner", "--wait=false")
    eventually(lambda: kubectl(kcfg, "-n", ns, "get", "configmap", "child",
                               check=False).returncode != 0,
               timeout=60, what="child ConfigMap garbage-collected")
    gone = kubectl(kcfg, "-n", ns, "get", "configmap", "child", check=False)
    assert "NotFound" in gone.stderr


def test_namespace_deletion_completes(plane: ControlPlane) -> None:
    ns = unique("cp-nsdel")
    kcfg = plane.admin_kubeconfig
    kubectl(kcfg, "create", "namespace", ns)
    kubectl(kcfg, "-n", ns, "create", "configmap", "content", "--from-literal=a=b")
    kubectl(kcfg, "delete", "namespace", ns, "--wait=false")
    eventually(lambda: "NotFound" in kubectl(kcfg, "get", "namespace", ns, check=False).stderr,
               timeout=60, what=f"namespace {ns} deleted")


def test_operator_identity_is_the_service_account(plane: ControlPlane) -> None:
    review = json.loads(kubectl(plane.operator_kubeconfig, "auth", "whoami", "-o", "json").stdout)
    info = review["status"]["userInfo"]
    assert info["username"] == OPERATOR_USER
    assert set(OPERATOR_GROUPS) <= set(info["groups"])


def test_operator_needs_rbac(plane: ControlPlane) -> None:
    # Forbidden before any grant: 403 through kubectl and through the Python client.
    denied = kubectl(plane.operator_kubeconfig, "get", "secrets", "-A", check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr, denied.stderr
    api = core_api(plane.operator_kubeconfig)
    with pytest.raises(ApiException) as excinfo:
        api.list_secret_for_all_namespaces()
    assert excinfo.value.status == 403

    # A RoleBinding to the ServiceAccount applies to the operator identity.
    ns = unique("cp-rbac")
    kcfg = plane.admin_kubeconfig
    kubectl(kcfg, "create", "namespace", ns)
    kubectl(kcfg, "-n", ns, "create", "role", "read-secrets", "--verb=list,get",
            "--resource=secrets")
    kubectl(kcfg, "-n", ns, "create", "rolebinding", "operator-reads-secrets",
            "--role=read-secrets",
            f"--serviceaccount={OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}")
    eventually(lambda: kubectl(plane.operator_kubeconfig, "-n", ns, "get", "secrets",
                               check=False).returncode == 0,
               timeout=10, what="RoleBinding applies to the operator")
    assert api.list_namespaced_secret(ns).items == []
    # ...and only there.
    assert kubectl(plane.operator_kubeconfig, "get", "secrets", "-A", check=False).returncode != 0


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (and process.stop reaps its children anyway).
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_stop_leaves_no_process_behind() -> None:
    cp = ControlPlane().start()
    pids = cp.pids
    workdir = cp.workdir
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    assert all(_alive(pid) for pid in pids.values())
    assert _processes_mentioning(str(workdir))
    cp.stop()
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert not _processes_mentioning(str(workdir))
    assert not workdir.exists()
    cp.stop()  # idempotent


def test_restart_keeps_data_addresses_and_credentials() -> None:
    """kube-apiserver and etcd SIGKILLed and started again: the same server URL, kubeconfigs
    and tokens work, the stored objects are there; KCM was never restarted."""
    with ControlPlane() as cp:
        kubectl(cp.admin_kubeconfig, "create", "configmap", "kept", "--from-literal=a=b")
        server, before = cp.server, cp.pids
        outage = cp.restart(kill=True)
        assert 0 < outage < 120
        assert cp.server == server
        assert cp.pids["kube-controller-manager"] == before["kube-controller-manager"]
        assert all(cp.pids[n] != before[n] and _alive(cp.pids[n]) for n in ("etcd", "kube-apiserver"))
        assert not _alive(before["etcd"]) and not _alive(before["kube-apiserver"])
        kept = kubectl(cp.admin_kubeconfig, "get", "configmap", "kept", "-o", "jsonpath={.data.a}")
        assert kept.stdout == "b"
        review = json.loads(kubectl(cp.operator_kubeconfig, "auth", "whoami", "-o", "json").stdout)
        assert review["status"]["userInfo"]["username"] == OPERATOR_USER
        kubectl(cp.admin_kubeconfig, "create", "configmap", "after", "--from-literal=a=c")


def test_starts_without_a_default_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """The advertise-address pitfall: no default route (and no usable interface address)."""
    from uplift_operator.devenv import controlplane

    monkeypatch.setattr(controlplane, "_has_ipv4_default_route", lambda: False)
    monkeypatch.setattr(controlplane, "_local_ipv4_addresses", list)
    assert controlplane.advertise_address() == controlplane.FALLBACK_ADVERTISE_ADDRESS
    with ControlPlane() as cp:
        cmdline = Path(f"/proc/{cp.pids['kube-apiserver']}/cmdline").read_bytes().split(b"\0")
        assert f"--advertise-address={controlplane.FALLBACK_ADVERTISE_ADDRESS}".encode() in cmdline
        kubectl(cp.admin_kubeconfig, "create", "namespace", "no-default-route")
