"""Pack ``kubectl uplift`` into one executable file (a zipapp), for krew or a copy onto ``PATH``.

Why a zipapp: installing the Python package pulls the operator's dependencies, but the plugin
needs only the standard library and ``domain.requests``; the zipapp carries exactly those
modules, runs on any Python ≥ 3.11 and is what the krew manifest in ``plugins/krew/`` ships.

    python -m uplift_operator.plugin.bundle dist/kubectl-uplift
"""

from __future__ import annotations

import sys
import tempfile
import zipapp
from collections.abc import Sequence
from pathlib import Path

__all__ = ["MODULES", "build", "main"]

PACKAGE = Path(__file__).resolve().parents[1]  # operator/uplift_operator
# Everything the plugin imports (tests/unit/test_operator_imports.py checks nothing else is needed).
MODULES = ("__init__.py", "domain/__init__.py", "domain/requests.py", "plugin/__init__.py",
           "plugin/kubectl_uplift.py")


def build(target: Path) -> Path:
    """Write the executable single-file plugin to ``target`` and return it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for module in MODULES:
            dest = root / "uplift_operator" / module
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((PACKAGE / module).read_bytes())
        # Our own __main__ (zipapp's ``main=`` drops the exit code).
        (root / "__main__.py").write_text("import sys\n\nfrom uplift_operator.plugin.kubectl_uplift "
                                          "import main\n\nsys.exit(main())\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        zipapp.create_archive(root, target, interpreter="/usr/bin/env python3", compressed=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m uplift_operator.plugin.bundle TARGET", file=sys.stderr)
        return 2
    print(build(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
