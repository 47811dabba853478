"""`helm upgrade --reuse-values` from an older release renders the chart.

With ``--reuse-values`` Helm renders the new chart's templates with the old release's values in
place of the new chart's values.yaml (``chart.Values = oldVals`` in Helm's ``Upgrade.reuseValues``):
a value the new chart added is not set at all. Rendered bare, the start-up probe's (d517d71) was
``null`` (a YAML parse error: the upgrade failed) and the PDB's ``unhealthyPodEvictionPolicy`` was
left out (an unready replica was again never evicted). The templates default both to values.yaml's.
From the previous release, ddca979 (docs/install.md, "Upgrading from the previous release"),
``rbac.userRoles.view`` was a nil pointer (the upgrade failed) and ``splitPropagationGrace`` an
empty variable: values.yaml's defaults too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.test_packaging import CHART, HERE, KUBE_VERSION, by_kind, helm_template, run, tools

#: The chart's values.yaml at 863f4a0, the release before the start-up probe.
BEFORE_STARTUP_PROBE = HERE / "values-863f4a0.yaml"
#: The chart's values.yaml at ddca979, the previous release, the one docs/install.md upgrades from.
PREVIOUS_RELEASE = HERE / "values-ddca979.yaml"


def _reused(tmp_path: Path, *args: str, old: Path = BEFORE_STARTUP_PROBE) -> list[dict[str, Any]]:
    """What `helm upgrade --reuse-values` renders: the new chart with the old values.yaml."""
    chart = tmp_path / "uplift-operator"
    shutil.copytree(CHART, chart)
    shutil.copyfile(old, chart / "values.yaml")
    result = run(tools()["helm"], "template", "uplift", str(chart), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = by_kind(docs, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


def test_the_fixture_is_a_release_without_the_new_values() -> None:
    old = yaml.safe_load(BEFORE_STARTUP_PROBE.read_text())
    assert "startupProbe" not in old
    assert "unhealthyPodEvictionPolicy" not in old["podDisruptionBudget"]
    assert old["replicas"] > 1 and old["podDisruptionBudget"]["enabled"]


def test_reused_old_values_render_the_start_up_probe_and_the_pdb_policy(tmp_path: Path) -> None:
    fresh = helm_template()
    reused = _reused(tmp_path)
    # The same objects, and the probe and the budget a fresh install of this chart gets.
    assert sorted((d["kind"], d["metadata"]["name"]) for d in reused) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in fresh)
    probe = _container(reused)["startupProbe"]
    assert probe == _container(fresh)["startupProbe"]
    assert probe["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert probe["periodSeconds"] * probe["failureThreshold"] == 180
    [budget] = by_kind(reused, "PodDisruptionBudget")
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budget["spec"] == by_kind(fresh, "PodDisruptionBudget")[0]["spec"]


def test_values_set_on_the_upgrade_still_win(tmp_path: Path) -> None:
    """`--reuse-values --set ...` on the upgrade: values.yaml's only fill what is not set (a
    probe with only failureThreshold would time out after Kubernetes' 1 s)."""
    reused = _reused(tmp_path, "--set", "startupProbe.failureThreshold=30",
                     "--set", "podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget")
    assert _container(reused)["startupProbe"] == {
        "httpGet": {"path": "/healthz", "port": "healthz"},
        "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 30}
    [budget] = by_kind(reused, "PodDisruptionBudget")
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"


def _keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        keys.add(prefix + key)
        if isinstance(value, dict) and value:
            keys |= _keys(value, f"{prefix}{key}.")
    return keys


#: The values.yaml keys the chart added since ddca979, each checked below with that release's values.
ADDED_SINCE_PREVIOUS_RELEASE = {
    "splitPropagationGrace", "seldonControllerId", "startupProbe", "startupProbe.periodSeconds",
    "startupProbe.timeoutSeconds", "startupProbe.failureThreshold", "podAntiAffinity",
    "rbac.userRoles", "rbac.userRoles.view", "rbac.userRoles.edit",
    "podDisruptionBudget.unhealthyPodEvictionPolicy", "servingPodMonitor.executor",
    "servingPodMonitor.executor.enabled", "servingPodMonitor.executor.port",
    "servingPodMonitor.executor.path", "allowed.imagePullSecrets", "prometheus.queryLag"}
#: Every optional object on: each template renders.
EVERYTHING_ON = [
    "--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true",
    "--set", "servingPodMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
    "--set", "dashboards.enabled=true", "--set", "networkPolicy.enabled=true"]
#: What the previous release's values set otherwise than this chart's values.yaml, kept by
#: --reuse-values on purpose (docs/install.md, "Upgrading from the previous release"): its
#: memory limit, and the executor's endpoint left off.
AS_THE_PREVIOUS_RELEASE = ["--set", "resources.limits.memory=512Mi",
                           "--set", "servingPodMonitor.executor.enabled=false"]


def test_the_previous_release_fixture_lacks_exactly_the_keys_checked_here() -> None:
    """A key added to values.yaml is not set under `--reuse-values` from ddca979: its template
    must render without it (a default of values.yaml's, or `dig`). Add it above once it does."""
    old = yaml.safe_load(PREVIOUS_RELEASE.read_text())
    new = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _keys(new) - _keys(old) == ADDED_SINCE_PREVIOUS_RELEASE
    assert old["replicas"] > 1 and "userRoles" not in old["rbac"]


@pytest.mark.parametrize("on", [[], EVERYTHING_ON], ids=["defaults", "everything-on"])
def test_reused_previous_release_values_render_what_a_fresh_install_renders(
        tmp_path: Path, on: list[str]) -> None:
    """Every object, byte for byte, as a fresh install of this chart with the previous release's
    memory limit and without the executor's endpoint: the user roles (view on, edit off), the
    split propagation grace (120), the soft anti-affinity, the start-up probe, the PDB policy."""
    reused = _reused(tmp_path, *on, old=PREVIOUS_RELEASE)
    assert reused == helm_template(*on, *AS_THE_PREVIOUS_RELEASE)
    roles = {d["metadata"]["name"] for d in by_kind(reused, "ClusterRole")}
    assert "uplift-operator-view" in roles and "uplift-operator-edit" not in roles
    env = {e["name"]: e.get("value") for e in _container(reused)["env"]}
    assert env["UPLIFT_SPLIT_PROPAGATION_GRACE"] == "120"
    assert "UPLIFT_SELDON_CONTROLLER_ID" not in env


@pytest.mark.parametrize("executor", [
    ["--set", "servingPodMonitor.executor.enabled=true"],
    ["--set", "servingPodMonitor.executor.enabled=true",
     "--set", "servingPodMonitor.executor.path=/metrics"]], ids=["enabled", "enabled-path"])
def test_new_values_set_on_an_upgrade_from_the_previous_release_win(
        tmp_path: Path, executor: list[str]) -> None:
    """What docs/install.md says to `--set` with `--reuse-values` (the executor's endpoint on
    alone: at values.yaml's port and path), and the other new keys, render as on a fresh install."""
    new = ["--set", "rbac.userRoles.view=false", "--set", "rbac.userRoles.edit=true",
           "--set", "podAntiAffinity=hard", "--set", "splitPropagationGrace=90",
           "--set", "seldonControllerId=seldon-a", "--set", "servingPodMonitor.enabled=true",
           "--set-json", 'allowed.imagePullSecrets=["registry-pull"]', *executor]
    reused = _reused(tmp_path, *new, old=PREVIOUS_RELEASE)
    assert reused == helm_template(*new, "--set", "resources.limits.memory=512Mi")
    assert "--allowed-image-pull-secret=registry-pull" in _container(reused)["args"]
    roles = {d["metadata"]["name"] for d in by_kind(reused, "ClusterRole")}
    assert "uplift-operator-view" not in roles and "uplift-operator-edit" in roles
    [monitor] = by_kind(reused, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][1]["port"] == "metrics"
