"""Generate the CRDs (from the typed models) and the RBAC (from ``api.rbac``); check they are in sync.

``uplift-operator crds --write`` (or ``python -m uplift_operator.api.crdgen --write``) rewrites
``crds/*.yaml``, ``manifests/rbac.yaml`` and the chart's copies; ``--check`` exits 1 with a
unified diff when a checked-in copy drifts from what the code generates.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from uplift_operator.api import rbac
from uplift_operator.api.crds import CRDS, CrdDefinition, kopf_peering_crds

__all__ = ["FIX_COMMAND", "check", "render", "targets", "write"]

FIX_COMMAND = "uplift-operator crds --write"
HEADER = f"# Generated from operator/uplift_operator/api by `{FIX_COMMAND}`. Do not edit.\n"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def render(crd: CrdDefinition) -> str:
    return HEADER + yaml.safe_dump(crd.manifest(), sort_keys=False, width=100)


def render_rbac() -> str:
    """ServiceAccount, ClusterRole and ClusterRoleBinding for plain manifests."""
    meta = {"labels": {"app.kubernetes.io/name": "uplift-operator"}}
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": rbac.SERVICE_ACCOUNT, "namespace": rbac.OPERATOR_NAMESPACE, **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "uplift-operator", **meta}, "rules": rbac.RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "uplift-operator", **meta},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "uplift-operator"},
         "subjects": [{"kind": "ServiceAccount", "name": rbac.SERVICE_ACCOUNT,
                       "namespace": rbac.OPERATOR_NAMESPACE}]},
    ]
    return HEADER + "---\n".join(yaml.safe_dump(o, sort_keys=False, width=100) for o in objects)


def render_chart_rules() -> str:
    """The chart's rules as data (``files/rbac-rules.yaml``): its RBAC templates pick a scope.

    ``all`` for the cluster-wide mode (a ClusterRole); ``namespaced`` for the namespaced mode
    (a Role in each watched namespace, nothing cluster-wide).
    """
    scopes = {"all": rbac.RULES, "namespaced": rbac.namespaced_rules()}
    # A JSON round trip: the scopes share rule lists, which YAML would otherwise write as anchors.
    return HEADER + yaml.safe_dump(json.loads(json.dumps(scopes)), sort_keys=False, width=100)


def targets(root: Path) -> dict[Path, str]:
    """Every generated file and the text it should hold."""
    chart = root / "charts" / "uplift-operator"
    files: dict[Path, str] = {}
    for crd in CRDS:
        text = render(crd)
        files[root / "crds" / f"{crd.name}.yaml"] = text
        files[chart / "crds" / f"{crd.name}.yaml"] = text
    peering = HEADER + "---\n".join(
        yaml.safe_dump(crd, sort_keys=False, width=100) for crd in kopf_peering_crds())
    files[root / "crds" / "kopfpeerings.kopf.dev.yaml"] = peering
    files[chart / "crds" / "kopfpeerings.kopf.dev.yaml"] = peering
    files[root / "manifests" / "rbac.yaml"] = render_rbac()
    files[chart / "files" / "rbac-rules.yaml"] = render_chart_rules()
    return files


def write(root: Path) -> list[Path]:
    written = []
    for path, text in targets(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def check(root: Path) -> str:
    """A unified diff of every file out of sync ("" when all are in sync)."""
    diffs: list[str] = []
    for path, text in targets(root).items():
        current = path.read_text() if path.exists() else ""
        if current != text:
            rel = path.relative_to(root)
            diffs.extend(difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"a/{rel} (checked in)", tofile=f"b/{rel} (generated)"))
    return "".join(diffs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="uplift-operator crds", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite crds/ and the chart's copy")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff when out of sync")
    parser.add_argument("--root", type=Path, default=repo_root(), help="repository root")
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.root):
            print(f"wrote {path.relative_to(args.root)}")
        return 0
    if args.check:
        diff = check(args.root)
        if diff:
            sys.stdout.write(diff)
            print(f"\nCRDs are out of sync with the models; run: {FIX_COMMAND}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write("---\n".join(render(crd) for crd in CRDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
