"""The runtime as its image runs it: an unprivileged uid, a read-only working directory, MLServer
configured only by the environment the rendered SeldonDeployment sets (issue #12: with MLServer's
defaults the runtime wrote ``./.metrics`` into the root-owned ``/app`` and crash-looped).

Runs ``mlserver start`` under ``setpriv`` as a throwaway uid with no capabilities (the image's
user is uid 10001, no home directory), from a virtualenv built from ``requirements/runtime.lock``
exactly as the runtime image's builder stage installs it (so mlflow-skinny, not the dev
environment's full mlflow, loads the model), against the real MLflow server and the sample model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tests.support.registry import Versions

from uplift_operator.devenv import process
from uplift_operator.devenv.mlflow_server import MlflowServer
from uplift_operator.devenv.mlserver import UPLIFT_RUNTIME
from uplift_operator.render.seldon import runtime_env
from uplift_operator.render.serving import RuntimeSettings

pytestmark = pytest.mark.integration

UID = 10001  # the image's USER
SETPRIV = shutil.which("setpriv")
ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "requirements" / "runtime.lock"


@pytest.fixture(scope="module")
def runtime_venv() -> Path:
    """The runtime image's dependencies: a virtualenv from the lock, with hashes, cached by the
    lock's hash outside the repository (under /tmp: the unprivileged uid cannot enter /root)."""
    uv = shutil.which("uv")
    assert uv, "uv is required (scripts/bootstrap-python.sh installs it)"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / "uplift-operator-cache" / f"runtime-venv-{digest}"
    if not (venv / "bin" / "mlserver").exists():
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "sync", "--quiet", "--require-hashes", "--python",
                        str(venv / "bin" / "python"), str(LOCK)], check=True, timeout=600)
    os.chmod(venv.parent, 0o755)
    return venv


@pytest.fixture
def dirs() -> Iterator[tuple[Path, Path]]:
    """(working dir: root-owned, read and execute only; metrics dir: the emptyDir, uid-owned)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start the runtime under another uid")
    assert SETPRIV, "setpriv (util-linux) is required"
    base = Path(tempfile.mkdtemp(prefix="uplift-unpriv-"))  # not under pytest's 0700 tmp dir
    base.chmod(0o755)
    workdir, metrics = base / "app", base / "metrics"
    workdir.mkdir(mode=0o555)
    metrics.mkdir()
    os.chown(metrics, UID, UID)
    yield workdir, metrics
    shutil.rmtree(base, ignore_errors=True)


def _start(venv: Path, workdir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    mlserver = venv / "bin" / "mlserver"
    argv = [str(SETPRIV), "--reuid", str(UID), "--regid", str(UID), "--clear-groups",
            "--inh-caps=-all", str(mlserver), "start", str(workdir)]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=workdir, start_new_session=True)


def _env(mlflow: MlflowServer, version: str, metrics: Path) -> tuple[dict[str, str], str]:
    runtime = RuntimeSettings(image="unused", registered_model="hillstrom-uplift",
                              tracking_uri=mlflow.url, holdout_fraction=0.1, unit_key="unit_id",
                              salt="it/unprivileged")
    http, grpc, metrics_port = process.free_port(), process.free_port(), process.free_port()
    env = {e["name"]: e["value"] for e in runtime_env(runtime, "hillstrom-uplift", version)}
    env.update({
        # The image's ENV, then what Seldon's pod adds: ports on loopback and the emptyDir.
        "MLSERVER_MODEL_IMPLEMENTATION": UPLIFT_RUNTIME,
        "MLSERVER_METRICS_DIR": str(metrics),
        "MLSERVER_HOST": "127.0.0.1", "MLSERVER_HTTP_PORT": str(http),
        "MLSERVER_GRPC_PORT": str(grpc), "MLSERVER_METRICS_PORT": str(metrics_port),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent",
        "PYTHONPATH": str(ROOT / "operator"),  # the image copies the source onto PYTHONPATH
        "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
    })
    return env, f"http://127.0.0.1:{http}"


def test_runtime_serves_as_an_unprivileged_user_in_a_read_only_workdir(
        dirs: tuple[Path, Path], runtime_venv: Path, mlflow_server: MlflowServer,
        versions: Versions, tmp_path: Path) -> None:
    workdir, metrics = dirs
    assert versions.base_version is not None
    env, url = _env(mlflow_server, versions.base_version, metrics)
    assert env["MLSERVER_PARALLEL_WORKERS"] == "0"  # set by the rendered SeldonDeployment
    log = tmp_path / "mlserver.log"
    proc = _start(runtime_venv, workdir, env, log)
    try:
        process.wait_until(lambda: process.http_ok(f"{url}/v2/models/hillstrom-uplift/ready"),
                           timeout=180, what="runtime as uid 10001", proc=proc, log=log,
                           interval=0.3)
        body = {"inputs": [
            {"name": "recency", "shape": [1], "datatype": "INT64", "data": [6]},
            {"name": "history", "shape": [1], "datatype": "FP64", "data": [329.08]},
            {"name": "mens", "shape": [1], "datatype": "INT64", "data": [1]},
            {"name": "womens", "shape": [1], "datatype": "INT64", "data": [1]},
            {"name": "newbie", "shape": [1], "datatype": "INT64", "data": [1]},
            {"name": "zip_code", "shape": [1], "datatype": "BYTES", "data": ["Rural"]},
            {"name": "channel", "shape": [1], "datatype": "BYTES", "data": ["Web"]},
            {"name": "unit_id", "shape": [1], "datatype": "BYTES", "data": ["u-1"]}]}
        response = requests.post(f"{url}/v2/models/hillstrom-uplift/infer", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert {o["name"] for o in response.json()["outputs"]} >= {"arm"}
        assert proc.poll() is None
    finally:
        process.stop(proc)
    text = log.read_text(errors="replace")
    assert "PermissionError" not in text and "Read-only file system" not in text, text[-3000:]
    assert list(workdir.iterdir()) == []


def test_mlserver_defaults_fail_there_which_is_why_the_env_is_set(
        dirs: tuple[Path, Path], runtime_venv: Path, mlflow_server: MlflowServer,
        versions: Versions, tmp_path: Path) -> None:
    # The control: same user and directory without the two settings → MLServer's parallel
    # workers write ./.metrics into the read-only working directory and the server dies.
    workdir, metrics = dirs
    assert versions.base_version is not None
    env, _ = _env(mlflow_server, versions.base_version, metrics)
    del env["MLSERVER_PARALLEL_WORKERS"], env["MLSERVER_METRICS_DIR"]
    log = tmp_path / "mlserver.log"
    proc = _start(runtime_venv, workdir, env, log)
    try:
        proc.wait(timeout=120)
    finally:
        process.stop(proc)
    assert proc.returncode != 0
    assert "PermissionError" in log.read_text(errors="replace")
