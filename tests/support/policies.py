"""The operator's ValidatingAdmissionPolicies as the tests install them: rendered from the plain
manifests or from the chart, on a control plane with the manifests' RBAC."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config as kube_config

from tests.contract.test_packaging import CHART, KUBE_VERSION, tools
from tests.support.kube import Kubectl, install_crds
from uplift_operator.adapters.kube import KubeCluster
from uplift_operator.devenv.controlplane import OPERATOR_USER, ControlPlane
from uplift_operator.render import naming

ROOT = Path(__file__).resolve().parents[2]
POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def policy_docs(source: str, manifest: str, template: str, *helm_args: str,
                name: str | None = None) -> list[dict[str, Any]]:
    """The policy and its binding from ``manifests/<manifest>`` (``source`` "manifests") or
    from the chart's ``templates/<template>`` as `helm install uplift -n uplift-system` renders
    it with ``helm_args``; checked to judge the control plane's operator identity."""
    if source == "manifests":
        text = (ROOT / "manifests" / manifest).read_text()
    else:
        text = subprocess.run(
            [tools()["helm"], "template", "uplift", str(CHART), "-n", "uplift-system",
             "--kube-version", KUBE_VERSION,
             "--show-only", f"templates/{template}", *helm_args],
            check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(text) if d and d["kind"] in POLICY_KINDS]
    assert sorted(d["kind"] for d in docs) == sorted(POLICY_KINDS)
    policy = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicy")
    if name is not None:
        assert policy["metadata"]["name"] == name
    # The chart names the release's identity; the manifests any namespace's ServiceAccount of
    # that name (a kustomize namespace overlay moves it), which the control plane's is too.
    expression = policy["spec"]["matchConditions"][0]["expression"]
    account = OPERATOR_USER.rsplit(":", 1)[1]
    assert f'"{OPERATOR_USER}"' in expression or (
        OPERATOR_USER.startswith("system:serviceaccount:")
        and 'startsWith("system:serviceaccount:")' in expression
        and f'endsWith(":{account}")' in expression), (
        "the policy judges the control plane's operator identity")
    return docs


def dump(docs: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.safe_dump(d) for d in docs)


def manifests_rbac(plane: ControlPlane, namespace: str) -> Kubectl:
    """The CRDs (Seldon's own SeldonDeployment CRD), the namespaces and the plain manifests'
    RBAC: the operator's identity as installed; an administrator's kubectl."""
    kubectl = Kubectl(plane.admin_kubeconfig)
    install_crds(kubectl)
    for name in ("uplift-system", namespace):
        kubectl.run("create", "namespace", name)
    kubectl.run("apply", "-f", str(ROOT / "manifests" / "rbac.yaml"))
    return kubectl


def operator_adapter(plane: ControlPlane) -> KubeCluster:
    """The operator's own cluster adapter, under the operator's own kubeconfig."""
    api = kube_config.new_client_from_config(str(plane.operator_kubeconfig))  # type: ignore[no-untyped-call]
    return KubeCluster(api)


@contextlib.contextmanager
def in_force(admin: Kubectl, docs: list[dict[str, Any]],
             refused: Callable[[], bool]) -> Iterator[None]:
    """``docs`` applied and in force for the block, removed and out of force after it:
    ``refused`` (a probe the policy refuses and RBAC alone allows) says which."""
    assert not refused(), "without the policy, RBAC alone allows the probe"
    admin.apply(docs)
    admin.wait_for(refused, timeout=30, what="the policy in force")
    yield
    admin.run("delete", "-f", "-", input=dump(docs))
    admin.wait_for(lambda: not refused(), timeout=30, what="the policy out of force")


def refused(kubectl: Kubectl, manifest: dict[str, Any], denial: str) -> bool:
    """Whether the API server refuses ``kubectl``'s identity ``manifest`` (a server-side dry
    run: admission judges it, nothing is stored); a refusal must be ``denial``."""
    attempt = kubectl.run("create", "--dry-run=server", "-f", "-", check=False,
                          input=json.dumps(manifest))
    if attempt.returncode == 0:
        return False
    assert denial in attempt.stderr, attempt.stderr
    return True


def model_owner(admin: Kubectl, name: str, namespace: str) -> naming.Owner:
    """A real UpliftModel ``name`` (made by the administrator), as the operator reads its
    identity: what the objects it renders are owned by."""
    admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"model": {"registeredModel": name, "alias": "champion"},
                          "treatments": [{"name": "womens-e-mail"}],
                          "rollout": {"steps": [{"weight": 50}],
                                      "gates": [{"name": "errors", "type": "errorRate",
                                                 "max": 0.05}]}}})
    meta = admin.get("upliftmodel", name, namespace)["metadata"]
    return naming.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


#: The owner-reference edits every ownership policy refuses (``owner_changed``).
OWNER_CHANGES = ("no owner", "another owner kind", "not the controller", "two owners")


def owner_changed(meta: dict[str, Any], change: str) -> bool:
    """Apply ``change`` (one of ``OWNER_CHANGES``) to the ownerReferences of ``meta``; whether
    it was one of them."""
    if change == "no owner":
        del meta["ownerReferences"]
    elif change == "another owner kind":
        meta["ownerReferences"][0]["kind"] = "Campaign"
    elif change == "not the controller":
        meta["ownerReferences"][0]["controller"] = False
    elif change == "two owners":
        meta["ownerReferences"].append({**meta["ownerReferences"][0], "controller": False,
                                        "name": "other", "uid": "0" * 8})
    else:
        return False
    return True
