"""`helm upgrade --reuse-values` from the release before the start-up probe renders the chart.

With ``--reuse-values`` Helm renders the new chart's templates with the old release's values in
place of the new chart's values.yaml (``chart.Values = oldVals`` in Helm's ``Upgrade.reuseValues``):
a value the new chart added is not set at all. Rendered bare, the start-up probe's (d517d71) was
``null`` (a YAML parse error: the upgrade failed) and the PDB's ``unhealthyPodEvictionPolicy`` was
left out (an unready replica was again never evicted). The templates default both to values.yaml's.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from tests.contract.test_packaging import CHART, HERE, KUBE_VERSION, by_kind, helm_template, run, tools

#: The chart's values.yaml at 863f4a0, the release before the start-up probe.
BEFORE_STARTUP_PROBE = HERE / "values-863f4a0.yaml"


def _reused(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    """What `helm upgrade --reuse-values` renders: the new chart with the old values.yaml."""
    chart = tmp_path / "uplift-operator"
    shutil.copytree(CHART, chart)
    shutil.copyfile(BEFORE_STARTUP_PROBE, chart / "values.yaml")
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
