"""The checked-in CRDs, RBAC and chart copies are exactly what the typed sources generate."""

from __future__ import annotations

from pathlib import Path

from uplift_operator.api import crdgen

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_in_sync() -> None:
    diff = crdgen.check(ROOT)
    assert not diff, f"generated files drifted; fix with `{crdgen.FIX_COMMAND}`:\n{diff}"


def test_check_reports_a_drift_with_the_fix(tmp_path: Path) -> None:
    crdgen.write(tmp_path)
    target = tmp_path / "crds" / "upliftmodels.uplift.dev.yaml"
    target.write_text(target.read_text().replace("shortNames:", "shortNamez:"))
    diff = crdgen.check(tmp_path)
    assert "+    shortNames:" in diff and "-    shortNamez:" in diff
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 1
    crdgen.main(["--write", "--root", str(tmp_path)])
    assert crdgen.check(tmp_path) == ""


def test_chart_and_manifests_grant_the_same_rules() -> None:
    import yaml

    manifest_rules = next(d for d in yaml.safe_load_all((ROOT / "manifests/rbac.yaml").read_text())
                          if d["kind"] == "ClusterRole")["rules"]
    chart_rules = yaml.safe_load((ROOT / "charts/uplift-operator/files/rbac-rules.yaml").read_text())
    assert manifest_rules == chart_rules["all"]
    # The namespaced mode (Roles only) grants the same on every namespaced resource, and
    # nothing on the cluster-scoped ones, which an operator with exact namespaces never reads.
    from uplift_operator.api.rbac import CLUSTER_SCOPED

    namespaced = {(g, r, tuple(rule["verbs"])) for rule in chart_rules["namespaced"]
                  for g in rule["apiGroups"] for r in rule["resources"]}
    assert namespaced == {(g, r, tuple(rule["verbs"])) for rule in manifest_rules
                          for g in rule["apiGroups"] for r in rule["resources"]
                          if r not in CLUSTER_SCOPED}
    assert set(chart_rules) == {"all", "namespaced"}
