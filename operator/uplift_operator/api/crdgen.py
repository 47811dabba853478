"""Generate the CRD YAML from the typed models; write it, print it, or check it is in sync.

``uplift-operator crds --write`` (or ``python -m uplift_operator.api.crdgen --write``) rewrites
``crds/*.yaml`` and the chart's copy; ``--check`` exits 1 with a unified diff when they drift.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from uplift_operator.api.crds import CRDS, CrdDefinition

__all__ = ["FIX_COMMAND", "check", "render", "targets", "write"]

FIX_COMMAND = "uplift-operator crds --write"
HEADER = f"# Generated from operator/uplift_operator/api by `{FIX_COMMAND}`. Do not edit.\n"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def render(crd: CrdDefinition) -> str:
    return HEADER + yaml.safe_dump(crd.manifest(), sort_keys=False, width=100)


def targets(root: Path) -> dict[Path, str]:
    """Every generated file and the text it should hold."""
    files: dict[Path, str] = {}
    for crd in CRDS:
        text = render(crd)
        files[root / "crds" / f"{crd.name}.yaml"] = text
        files[root / "charts" / "uplift-operator" / "crds" / f"{crd.name}.yaml"] = text
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
