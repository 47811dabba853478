"""Install paths on a fresh real control plane: README's "Using it", kustomize, and the chart.

A control plane of its own (not the session one, which already has the CRDs, the namespace and the
RBAC): "fresh" means no namespace, no CRD. Every rendered object goes through the API server
(server-side dry-run or a real apply), so schema, defaulting and admission judge it; the chart's
ServiceMonitor, PodMonitor and PrometheusRule too, against prometheus-operator's CRDs
(``scripts/build-tools.sh`` generates them from its Go API types, as prometheus-operator does).
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
from tests.contract.test_packaging import ALL_OPTIONS, CHART, KUBE_VERSION, NAMESPACED, tools
from tests.support.kube import Kubectl, wait_established

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
MONITORING = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
MONITORING_ON = ["--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true",
                 "--set", "prometheusRule.enabled=true", "--set", "dashboards.enabled=true"]


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
    apply_crds(fresh, ROOT / "crds")
    # A dry-run namespace is never stored, so the namespaced objects need it to exist already
    # (independent of whether the README test ran first in this module).
    shell(fresh, "kubectl get namespace uplift-system || kubectl create namespace uplift-system")
    built = subprocess.run([tools()["kustomize"], "build", "manifests/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    fresh.run("apply", "--dry-run=server", "-f", "-", input=built)


def apply_crds(kube: Kubectl, path: Path, server_side: bool = False) -> None:
    """Apply the CRDs in ``path`` (a file or a directory) and wait until each is Established,
    polling (``wait_established``): `kubectl wait` fails at once on a CRD whose conditions are
    still null, as every new one's are for a moment (docs/install.md)."""
    kube.run("apply", *(["--server-side"] if server_side else []), "-f", str(path))
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    names = [doc["metadata"]["name"] for f in files for doc in yaml.safe_load_all(f.read_text())
             if doc and doc.get("kind") == "CustomResourceDefinition"]
    wait_established(kube, *names)


def render(*args: str, release: str = "dryrun") -> list[dict[str, Any]]:
    out = subprocess.run([tools()["helm"], "template", release, str(CHART), "-n", "uplift-system",
                          "--kube-version", KUBE_VERSION, *args],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module")
def monitoring_crds(fresh: Kubectl) -> Kubectl:
    """prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs, installed."""
    crds = tools()["prometheus-operator-crds"]
    apply_crds(fresh, Path(crds), server_side=True)
    return fresh


def _dry_run(kube: Kubectl, docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return kube.run("apply", "--dry-run=server", "-f", "-", check=False,
                    input="---\n".join(yaml.safe_dump(d) for d in docs))


@pytest.mark.parametrize("values", [[], NAMESPACED, MONITORING_ON, ["-f", str(ALL_OPTIONS)]],
                         ids=["default", "namespaced", "monitoring", "all-options"])
def test_chart_renders_pass_server_side_dry_run(monitoring_crds: Kubectl,
                                                values: list[str]) -> None:
    fresh = monitoring_crds
    apply_crds(fresh, ROOT / "crds")
    for namespace in ("uplift-system", "team-a", "team-b"):
        fresh.run("create", "namespace", namespace, check=False)
    docs = render(*values)
    assert len(docs) >= 7
    if values in (MONITORING_ON, ["-f", str(ALL_OPTIONS)]):
        assert {d["kind"] for d in docs} >= MONITORING
    result = _dry_run(fresh, docs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(docs)


def test_monitoring_objects_are_judged_by_prometheus_operators_schema(
        monitoring_crds: Kubectl) -> None:
    # The same dry-run refuses what the real schema refuses: the CRDs validate, they do not just
    # make the kinds known (an open schema would accept both of these).
    monitors = [d for d in render(*MONITORING_ON) if d["kind"] in MONITORING]
    monitor = next(d for d in monitors if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scheme"] = "ftp"
    refused = _dry_run(monitoring_crds, [monitor])
    assert refused.returncode != 0 and "spec.endpoints[0].scheme" in refused.stderr, refused.stderr
    rule = next(d for d in monitors if d["kind"] == "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["forr"] = "5m"
    refused = _dry_run(monitoring_crds, [rule])
    assert refused.returncode != 0 and 'unknown field "spec.groups[0].rules[0].forr"' in (
        refused.stderr), refused.stderr


def helm(kube: Kubectl, *args: str) -> str:
    """The real helm against ``kube``'s cluster; its output, or the test fails with it."""
    result = subprocess.run([tools()["helm"], "--kubeconfig", str(kube.kubeconfig), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_helm_install_and_upgrade(fresh: Kubectl) -> None:
    def run(*args: str) -> str:
        return helm(fresh, *args)

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


def test_two_shards_install_side_by_side_on_disjoint_namespaces(fresh: Kubectl) -> None:
    """Scale-out beyond one replica (issue #10): one release per set of namespaces, each with
    its own peering, installed by the real helm into one cluster. helm refuses an object another
    release owns, so two successful installs show the shards' objects do not collide."""
    def run(*args: str) -> str:
        return helm(fresh, *args)

    apply_crds(fresh, ROOT / "crds")
    shards = {"shard-a": ["shard-a-1", "shard-a-2"], "shard-b": ["shard-b-1"]}
    for namespaces in shards.values():
        for namespace in namespaces:
            fresh.run("create", "namespace", namespace, check=False)
    for release, namespaces in shards.items():
        run("install", release, str(CHART), "-n", "uplift-shards", "--create-namespace",
            "--set", "watch.allNamespaces=false",
            "--set", "watch.namespaces={" + ",".join(namespaces) + "}")
    for release, namespaces in shards.items():
        deployment = fresh.get("deployment", f"{release}-uplift-operator", "uplift-shards")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert [a for a in args if a.startswith("--namespace=")] == [
            f"--namespace={n}" for n in namespaces]
        assert f"--peering={release}-uplift-operator" in args and "--all-namespaces" not in args
        for namespace in namespaces:  # its own peering object where it watches, no other's
            fresh.get("kopfpeering", f"{release}-uplift-operator", namespace)
        others = [n for r, ns in shards.items() if r != release for n in ns]
        for namespace in others:
            missing = fresh.run("get", "kopfpeering", f"{release}-uplift-operator", "-n",
                                namespace, check=False)
            assert missing.returncode != 0
    for release in shards:
        run("uninstall", release, "-n", "uplift-shards")
