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


def _modules_after(statement: str) -> set[str]:
    """Every module in ``sys.modules`` after running ``statement`` in a new interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "operator")},
                         capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _loaded_after(statement: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``statement`` in a new interpreter."""
    return {m.split(".")[0] for m in _modules_after(statement)}


def test_operator_entry_point_imports_no_data_plane_library() -> None:
    # ``uplift-operator run`` imports handlers.main, which registers these three handler modules.
    loaded = _loaded_after("import uplift_operator.handlers.main\n"
                           "from uplift_operator.handlers import campaign, campaigns_file, lifecycle, "
                           "upliftmodel")
    assert "kopf" in loaded  # the statement really imported the operator
    assert loaded.isdisjoint(DATA_PLANE), sorted(loaded & set(DATA_PLANE))


def test_idle_operator_loads_neither_scipy_nor_the_core_v1_api() -> None:
    # Idle RSS ≤ 150 MB (docs/operator.md, "Footprint"): scipy (≈ 75 MB) is loaded by the first
    # gate evaluation only, and the core/v1 reads do without client.CoreV1Api (≈ 70 MB).
    loaded = _modules_after(
        "import uplift_operator.handlers.main\n"
        "from uplift_operator.handlers import campaign, campaigns_file, lifecycle, readiness, "
        "upliftmodel\n"
        "from kubernetes import client\n"
        "from uplift_operator.adapters.kube import KubeCluster\n"
        "KubeCluster(client.ApiClient())")
    assert "kopf" in loaded and "uplift_operator.adapters.kube" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "scipy"}
    assert "kubernetes.client.api.core_v1_api" not in loaded


def test_kubectl_plugin_imports_no_numeric_or_data_plane_library() -> None:
    loaded = _loaded_after("from uplift_operator.plugin import kubectl_uplift")
    assert "uplift_operator" in loaded
    assert loaded.isdisjoint(DATA_PLANE + NUMERIC + ("kopf", "pydantic")), \
        sorted(loaded & set(DATA_PLANE + NUMERIC + ("kopf", "pydantic")))
