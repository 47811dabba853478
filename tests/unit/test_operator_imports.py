"""The operator process and the kubectl plugin stay light: what they import, checked in a fresh interpreter.

The operator image has no data-plane libraries (issue #12), so an import of pandas, pyarrow,
scikit-learn, mlflow or matplotlib anywhere on the operator's path would crash it at start; the
plugin must start in well under a second, so it may not even import numpy or scipy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_PLANE = ("pandas", "pyarrow", "sklearn", "mlflow", "matplotlib", "mlserver")
NUMERIC = ("numpy", "scipy")


def _loaded_after(statement: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``statement`` in a new interpreter."""
    code = (f"{statement}\nimport json, sys\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "operator")},
                         capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_operator_entry_point_imports_no_data_plane_library() -> None:
    # ``uplift-operator run`` imports handlers.main, which registers these three handler modules.
    loaded = _loaded_after("import uplift_operator.handlers.main\n"
                           "from uplift_operator.handlers import campaign, lifecycle, upliftmodel")
    assert "kopf" in loaded  # the statement really imported the operator
    assert loaded.isdisjoint(DATA_PLANE), sorted(loaded & set(DATA_PLANE))


def test_kubectl_plugin_imports_no_numeric_or_data_plane_library() -> None:
    loaded = _loaded_after("from uplift_operator.plugin import kubectl_uplift")
    assert "uplift_operator" in loaded
    assert loaded.isdisjoint(DATA_PLANE + NUMERIC + ("kopf", "pydantic")), \
        sorted(loaded & set(DATA_PLANE + NUMERIC + ("kopf", "pydantic")))
