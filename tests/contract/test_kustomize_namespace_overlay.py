"""The kustomize overlay docs/install.md gives to move the manifests to another namespace keeps
the cluster-scoped objects without one: kustomize's ``namespace:`` gives one to every kind it does
not know to be cluster-scoped, kopf.dev's ClusterKopfPeering among them, and the overlay's
transformer takes it off again. An ``openapi:`` schema naming the kind's scope in manifests/ would
replace kustomize's built-in Kubernetes schema for the whole build (kubernetes-sigs/kustomize#4613):
a strategic-merge patch of the Deployment beside it would then replace its containers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml
from tests.contract.test_packaging import ROOT, by_kind, run, tools

#: The kinds the manifests hold that are cluster-scoped (a namespace on one is wrong).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                  "ValidatingAdmissionPolicyBinding", "ClusterKopfPeering"}


def _documented_namespace_overlay() -> str:
    text = (ROOT / "docs" / "install.md").read_text()
    blocks: list[str] = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S)
                         if "namespace: ml-platform" in b and "resources: [../manifests]" in b]
    [block] = blocks
    return block


def test_the_documented_namespace_overlay_keeps_cluster_scoped_objects_without_one(
        tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    overlay = tmp_path / "my-overlay"
    overlay.mkdir()
    # A strategic-merge patch of the Deployment beside it merges (an `openapi:` schema naming
    # the peering's scope would have replaced kustomize's built-in one: the container replaced).
    (overlay / "kustomization.yaml").write_text(
        _documented_namespace_overlay() + "patches:\n  - path: env.yaml\n")
    (overlay / "env.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "uplift-operator", "namespace": "uplift-system"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "operator", "env": [{"name": "UPLIFT_LOG_FORMAT", "value": "plain"}]}]}}}}))
    result = run(tools()["kustomize"], "build", str(overlay))
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {d["kind"] for d in docs} >= CLUSTER_SCOPED
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in doc["metadata"], (doc["kind"], doc["metadata"])
        else:
            assert doc["metadata"]["namespace"] == "ml-platform", (doc["kind"], doc["metadata"])
    [container] = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/uplift-dev/uplift-operator:")
    assert {"name": "UPLIFT_LOG_FORMAT", "value": "plain"} in container["env"]
    assert len(container["env"]) > 1
