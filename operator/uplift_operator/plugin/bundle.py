"""Pack ``kubectl uplift`` into one executable file (a zipapp), for krew or a copy onto ``PATH``.

Why a zipapp: installing the Python package pulls the operator's dependencies, but the plugin
needs only the standard library and ``domain.requests``; the zipapp carries exactly those
modules, runs on any Python ≥ 3.11 (an older one gets a one-line message, exit code 1)
and is what the krew manifest in ``plugins/krew/`` ships.

    python -m uplift_operator.plugin.bundle dist/kubectl-uplift
    python -m uplift_operator.plugin.bundle dist/kubectl-uplift --krew URL   # + .tar.gz, krew manifest

``--krew URL`` also writes ``kubectl-uplift.tar.gz`` and ``uplift.yaml``: the krew manifest of
``plugins/krew/uplift.yaml`` with that release URL and the archive's sha256 filled in.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import tempfile
import zipapp
from collections.abc import Sequence
from pathlib import Path

__all__ = ["KREW_TEMPLATE", "MAIN", "MINIMUM_PYTHON", "MODULES", "build", "krew", "main"]

PACKAGE = Path(__file__).resolve().parents[1]  # operator/uplift_operator
KREW_TEMPLATE = PACKAGE.parents[1] / "plugins" / "krew" / "uplift.yaml"
# Everything the plugin imports (tests/unit/test_operator_imports.py checks nothing else is needed).
MODULES = ("__init__.py", "domain/__init__.py", "domain/requests.py", "handled_tokens.py",
           "plugin/__init__.py", "plugin/kubectl_uplift.py")
#: The oldest Python the plugin's modules run on (``enum.StrEnum``, ``datetime.UTC``).
MINIMUM_PYTHON = (3, 11)
#: The zipapp's ``__main__.py``. It checks the interpreter before importing anything of the
#: plugin: ``/usr/bin/env python3`` may be older than ``MINIMUM_PYTHON``, which would fail with
#: an ImportError traceback. So it says so in one line, exit code 1; and it is written in a
#: Python any ``python3`` (or a ``python`` 2.7) can parse and run.
MAIN = f"""import sys

if sys.version_info[:2] < {MINIMUM_PYTHON!r}:
    sys.stderr.write("kubectl uplift: needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer, "
                     "this is Python %d.%d (%s): run it with a newer one "
                     "(e.g. python3.{MINIMUM_PYTHON[1]} %s VERB NAME)\\n"
                     % (sys.version_info[0], sys.version_info[1], sys.executable, sys.argv[0]))
    sys.exit(1)

from uplift_operator.plugin.kubectl_uplift import main  # noqa: E402

sys.exit(main())
"""


def build(target: Path) -> Path:
    """Write the executable single-file plugin to ``target`` and return it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for module in MODULES:
            dest = root / "uplift_operator" / module
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((PACKAGE / module).read_bytes())
        # Our own __main__ (zipapp's ``main=`` drops the exit code).
        (root / "__main__.py").write_text(MAIN)
        target.parent.mkdir(parents=True, exist_ok=True)
        zipapp.create_archive(root, target, interpreter="/usr/bin/env python3", compressed=True)
    return target


def krew(plugin: Path, uri: str) -> tuple[Path, Path]:
    """Archive ``plugin`` for krew and fill the manifest template's ``uri`` and ``sha256``."""
    archive = plugin.with_name("kubectl-uplift.tar.gz")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tar.gettarinfo(str(plugin), arcname="kubectl-uplift")
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        with plugin.open("rb") as handle:
            tar.addfile(info, handle)
    archive.write_bytes(data.getvalue())
    digest = hashlib.sha256(data.getvalue()).hexdigest()
    manifest = plugin.with_name("uplift.yaml")
    manifest.write_text(KREW_TEMPLATE.read_text().replace("RELEASE_URI", uri)
                        .replace("RELEASE_SHA256", digest))
    return archive, manifest


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (1, 3) or args[0].startswith("-") or (len(args) == 3 and args[1] != "--krew"):
        print("usage: python -m uplift_operator.plugin.bundle TARGET [--krew RELEASE_URL]",
              file=sys.stderr)
        return 2
    plugin = build(Path(args[0]))
    print(plugin)
    if len(args) == 3:
        print(*krew(plugin, args[2]), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
