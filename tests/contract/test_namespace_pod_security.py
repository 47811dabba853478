"""manifests/namespace.yaml enforces the Pod Security Standard "restricted" on uplift-system, so
the operator's pod must meet it: the plain manifests' Deployment and the chart's defaults (which
docs/install.md tells Helm users to label the namespace for) are checked here against what
"restricted" requires of a pod (Kubernetes' Pod Security Standards, the checks of
``k8s.io/pod-security-admission`` that apply to a Linux pod)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.contract.test_packaging import by_kind, helm_template

ROOT = Path(__file__).resolve().parents[2]
#: The volume types "restricted" admits.
VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
           "projected", "secret"}


def _restricted(pod: dict[str, Any]) -> list[str]:
    """What of ``pod`` (a pod spec) "restricted" refuses; empty when it meets it."""
    problems = [f"host namespace {k}" for k in ("hostNetwork", "hostPID", "hostIPC")
                if pod.get(k)]
    problems += [f"volume {v['name']}" for v in pod.get("volumes") or []
                 if not set(v) - {"name"} <= VOLUMES]
    context = pod.get("securityContext") or {}
    for container in [*(pod.get("initContainers") or []), *pod["containers"]]:
        own = container.get("securityContext") or {}
        name = container["name"]

        def setting(key: str, own: dict[str, Any] = own) -> Any:
            return own.get(key, context.get(key))

        if own.get("privileged"):
            problems.append(f"{name}: privileged")
        if own.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        capabilities = own.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities not dropping ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities added")
        if setting("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot not true")
        if setting("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        if (setting("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: no RuntimeDefault or Localhost seccomp profile")
        if any(p.get("hostPort") for p in container.get("ports") or []):
            problems.append(f"{name}: host port")
    return problems


def test_the_operators_namespace_enforces_restricted() -> None:
    [namespace] = [d for d in yaml.safe_load_all((ROOT / "manifests" / "namespace.yaml")
                                                 .read_text()) if d]
    assert namespace["metadata"]["name"] == "uplift-system"
    labels = namespace["metadata"]["labels"]
    # enforce refuses the pods; warn and audit judge a workload's template too, so an apply of a
    # Deployment that does not meet it is told so at once (not only its ReplicaSet's
    # FailedCreate events), and the audit log records it.
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode


def test_the_operators_pod_meets_restricted_in_the_manifests_and_the_chart() -> None:
    manifests = [d for d in yaml.safe_load_all((ROOT / "manifests" / "operator.yaml")
                                               .read_text()) if d]
    for docs in (manifests, helm_template()):
        [deployment] = by_kind(docs, "Deployment")
        assert deployment["metadata"]["namespace"] == "uplift-system"
        assert _restricted(deployment["spec"]["template"]["spec"]) == []


def test_the_check_refuses_what_restricted_refuses() -> None:
    """The check above is not vacuous: each loosening of the operator's pod is found."""
    [deployment] = by_kind([d for d in yaml.safe_load_all(
        (ROOT / "manifests" / "operator.yaml").read_text()) if d], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    loosened = [
        {**pod, "hostNetwork": True},
        {**pod, "volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
        {**pod, "securityContext": {**pod["securityContext"], "runAsNonRoot": False}},
        {**pod, "securityContext": {k: v for k, v in pod["securityContext"].items()
                                    if k != "seccompProfile"}},
        {**pod, "containers": [{**pod["containers"][0], "securityContext": {
            **pod["containers"][0]["securityContext"], "allowPrivilegeEscalation": True}}]},
        {**pod, "containers": [{**pod["containers"][0], "securityContext": {
            **pod["containers"][0]["securityContext"], "capabilities": {"drop": ["NET_RAW"]}}}]},
        {**pod, "containers": [*pod["containers"], {"name": "sidecar", "image": "x"}]},
    ]
    for changed in loosened:
        assert _restricted(changed), changed
