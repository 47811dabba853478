"""A real MLflow tracking server (sqlite backend, proxied artifacts) on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from uplift_operator.devenv import process


class MlflowServer:
    """``with MlflowServer() as mlflow: mlflow.url`` — a tracking server for one test session or run."""

    def __init__(self, workdir: Path | None = None, port: int | None = None,
                 timeout: float = 120.0) -> None:
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="uplift-mlflow-"))
        self.port = port or process.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.workdir / "mlflow.log"
        self.timeout = timeout  # to /health; a busy 2-core machine can need minutes
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MlflowServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.workdir / 'mlflow.db'}",
            "--artifacts-destination", str(self.workdir / "mlartifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]
        # MLflow 3's server starts a pool of job workers (huey, ~8 processes) by default; the
        # registry and tracking API need none of them, and on 2 cores they slow every start.
        self._proc = process.start(argv, log=self.log, cwd=self.workdir,
                                   env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        process.wait_until(lambda: process.http_ok(f"{self.url}/health"), timeout=self.timeout,
                           what="mlflow server", proc=self._proc, log=self.log, interval=0.3)
        return self

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop the server; ``keep_data`` leaves the store so ``start()`` brings it back as it was
        (same port, same models) — how tests play an MLflow outage."""
        if self._proc is not None:
            process.stop(self._proc)
            self._proc = None
        if self._own_dir and not keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
