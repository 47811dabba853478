"""``scripts/build-controlplane.sh`` reuses its cached binary only when nothing the build reads has
changed: go.mod, go.sum, main.go, the ldflags and the Go toolchain (``go version``). It used to
key on go.sum alone, so an edited main.go or a new Go kept serving the old binary. Run here on a
copy of the script and the module with a stand-in ``go`` that records its builds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

FAKE_GO = """#!/usr/bin/env bash
set -euo pipefail
case "$1" in
  version) echo "go version ${FAKE_GO_VERSION:-go1.26.0} linux/amd64" ;;
  mod) ;;
  build) while [ "$1" != -o ]; do shift; done; echo built >> "$FAKE_GO_LOG"; echo bin > "$2" ;;
  *) exit 2 ;;
esac
"""


def _build(repo: Path, cache: Path, **env: str) -> str:
    out = subprocess.run(
        [str(repo / "scripts" / "build-controlplane.sh")], check=True, capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(cache), "UPLIFT_CACHE_DIR": str(cache),
             "GO": str(repo / "go"), "FAKE_GO_LOG": str(repo / "builds"), **env})
    return out.stdout.splitlines()[-1]


def test_the_binary_is_rebuilt_when_anything_the_build_reads_changes(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "build-controlplane.sh", repo / "scripts")
    shutil.copytree(ROOT / "controlplane", repo / "controlplane",
                    ignore=lambda _d, names: [n for n in names if n not in {"go.mod", "go.sum", "main.go"}])
    (repo / "go").write_text(FAKE_GO)
    (repo / "go").chmod(0o755)

    def builds() -> int:
        return len((repo / "builds").read_text().splitlines())

    first = _build(repo, cache)
    assert Path(first).read_text() == "bin\n" and builds() == 1
    assert _build(repo, cache) == first and builds() == 1  # nothing changed: the cached binary

    paths = {first}
    for n, change in enumerate(("main.go", "go.mod", "go.sum"), start=2):
        with (repo / "controlplane" / change).open("a") as f:
            f.write("\n// changed\n")
        paths.add(_build(repo, cache))
        assert (builds(), len(paths)) == (n, n), f"{change} changed, the cached binary was reused"
    paths.add(_build(repo, cache, FAKE_GO_VERSION="go1.26.1"))
    assert (builds(), len(paths)) == (5, 5), "a new Go toolchain reused the cached binary"
    assert _build(repo, cache, FAKE_GO_VERSION="go1.26.1") in paths and builds() == 5
