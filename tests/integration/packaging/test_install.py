"""Install paths on a fresh real control plane: README's "Using it", kustomize, and the chart.

A control plane of its own (not the session one, which already has the CRDs, the namespace and the
RBAC): "fresh" means no namespace, no CRD. Every rendered object goes through the API server
(server-side dry-run or a real apply), so schema, defaulting and admission judge it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.test_packaging import ALL_OPTIONS, CHART, NAMESPACED, tools
from tests.support.kube import Kubectl

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
# The prometheus-operator CRDs are not in the test cluster; those objects are checked by the
# contract tests (promtool, schema) instead.
NOT_SERVED = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def fresh() -> Iterator[Kubectl]:
    from uplift_operator.devenv.controlplane import ControlPlane

    plane = ControlPlane().start()
    try:
        yield Kubectl(plane.admin_kubeconfig)
    finally:
        plane.stop()


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Using it"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's Using it section has no sh block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()
            if line.strip() and not line.startswith("#")]


def shell(kube: Kubectl, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig)}
    return subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_readme_using_it_runs_verbatim_on_a_fresh_cluster(fresh: Kubectl) -> None:
    commands = readme_commands()
    assert any(c.startswith("kubectl apply -f manifests/") and "samples" not in c for c in commands)
    for command in commands:
        if command.startswith("kubectl wait --for=condition=Ready"):
            # Needs the operator running in the cluster and Seldon serving (no kubelet here).
            continue
        result = shell(fresh, command)
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
        if command == "kubectl get uplift":
            assert "hillstrom-uplift" in result.stdout
    deployment = fresh.get("deployment", "uplift-operator", "uplift-system")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    fresh.get("clusterkopfpeering", "uplift-operator")


def test_kustomize_build_passes_server_side_dry_run(fresh: Kubectl) -> None:
    shell(fresh, "kubectl apply -f crds/ && kubectl wait --for=condition=Established -f crds/")
    built = subprocess.run([tools()["kustomize"], "build", "manifests/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    fresh.run("apply", "--dry-run=server", "-f", "-", input=built)


def render(*args: str, release: str = "dryrun") -> list[dict[str, Any]]:
    out = subprocess.run([tools()["helm"], "template", release, str(CHART), "-n", "uplift-system",
                          *args], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.parametrize("values", [[], NAMESPACED, ["-f", str(ALL_OPTIONS)]],
                         ids=["default", "namespaced", "all-options"])
def test_chart_renders_pass_server_side_dry_run(fresh: Kubectl, values: list[str]) -> None:
    shell(fresh, "kubectl apply -f crds/ && kubectl wait --for=condition=Established -f crds/")
    for namespace in ("uplift-system", "team-a", "team-b"):
        fresh.run("create", "namespace", namespace, check=False)
    docs = [d for d in render(*values) if d["kind"] not in NOT_SERVED]
    assert len(docs) >= 7
    result = fresh.run("apply", "--dry-run=server", "-f", "-",
                       input="---\n".join(yaml.safe_dump(d) for d in docs))
    assert result.stdout.count("(server dry run)") == len(docs)


def test_helm_install_and_upgrade(fresh: Kubectl) -> None:
    helm = [tools()["helm"], "--kubeconfig", str(fresh.kubeconfig)]

    def run(*args: str) -> str:
        result = subprocess.run([*helm, *args], cwd=ROOT, capture_output=True, text=True,
                                timeout=180, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    # Not "uplift": the README test above already made the plain manifests' uplift-operator objects.
    out = run("install", "helmtest", str(CHART), "-n", "uplift-helm", "--create-namespace")
    assert "CRD upgrades" in out  # NOTES.txt
    deployment = fresh.get("deployment", "helmtest-uplift-operator", "uplift-helm")
    assert deployment["spec"]["replicas"] == 2
    fresh.get("clusterkopfpeering", "helmtest-uplift-operator")
    run("upgrade", "helmtest", str(CHART), "-n", "uplift-helm", "--reuse-values",
        "--set", "replicas=3", "--set", "podLabels.team=ml")
    deployment = fresh.get("deployment", "helmtest-uplift-operator", "uplift-helm")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "ml"
    assert "deployed" in run("status", "helmtest", "-n", "uplift-helm")
    run("uninstall", "helmtest", "-n", "uplift-helm")
