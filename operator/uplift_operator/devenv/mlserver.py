"""A real MLServer process on loopback serving one model (ours or any other runtime).

``with MlserverProcess("models:/uplift/1", env={"MLFLOW_TRACKING_URI": url}) as srv:`` writes
``settings.json`` and ``models/<name>/model-settings.json`` into a temporary directory, runs
``mlserver start`` on free HTTP/gRPC/metrics ports and waits for the model to be ready.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from uplift_operator.devenv import process

UPLIFT_RUNTIME = "uplift_operator.runtime.runtime.UpliftRuntime"
MLFLOW_RUNTIME = "mlserver_mlflow.MLflowRuntime"


class MlserverProcess:
    """One MLServer with one model; ``url``, ``metrics_url`` and small HTTP helpers."""

    def __init__(self, model_uri: str, *, name: str = "uplift",
                 implementation: str = UPLIFT_RUNTIME, extra: Mapping[str, Any] | None = None,
                 version: str | None = None, env: Mapping[str, str] | None = None,
                 workdir: Path | None = None, parallel_workers: int = 0,
                 timeout: float = 180.0) -> None:
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="uplift-mlserver-"))
        self.model_uri, self.name, self.implementation = model_uri, name, implementation
        self.extra, self.version = dict(extra or {}), version
        self.env = dict(env or {})
        self.parallel_workers, self.timeout = parallel_workers, timeout
        self.http_port, self.grpc_port, self.metrics_port = (process.free_port(),
                                                             process.free_port(),
                                                             process.free_port())
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.log = self.workdir / "mlserver.log"
        self.session = requests.Session()
        self._proc: subprocess.Popen[bytes] | None = None

    def write_settings(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        settings = {"host": "127.0.0.1", "http_port": self.http_port,
                    "grpc_port": self.grpc_port, "metrics_port": self.metrics_port,
                    "parallel_workers": self.parallel_workers,
                    "metrics_dir": str(self.workdir / ".metrics"), "debug": False}
        (self.workdir / "settings.json").write_text(json.dumps(settings, indent=2))
        parameters: dict[str, Any] = {"uri": self.model_uri}
        if self.version:
            parameters["version"] = self.version
        if self.extra:
            parameters["extra"] = self.extra
        model_dir = self.workdir / "models" / self.name
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model-settings.json").write_text(json.dumps(
            {"name": self.name, "implementation": self.implementation,
             "parameters": parameters}, indent=2))
        return self.workdir

    @property
    def exit_code(self) -> int | None:
        """The process' exit code once it exited; None while it runs (or before ``start``)."""
        return None if self._proc is None else self._proc.poll()

    def start(self) -> MlserverProcess:
        self.write_settings()
        mlserver = Path(sys.executable).with_name("mlserver")
        argv = [str(mlserver), "start", str(self.workdir)]
        # One OpenMP thread (see runtime.load); unbuffered logs for the failure tail.
        env = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        self._proc = process.start(argv, log=self.log, env=env, cwd=self.workdir)
        process.wait_until(
            lambda: process.http_ok(f"{self.url}/v2/models/{self.name}/ready"),
            timeout=self.timeout, what=f"mlserver ({self.implementation})", proc=self._proc,
            log=self.log, interval=0.2)
        return self

    def stop(self) -> None:
        self.session.close()
        if self._proc is not None:
            process.stop(self._proc)
            self._proc = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MlserverProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- HTTP helpers ---------------------------------------------------------------------

    @property
    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.name}/infer"

    def infer(self, body: Mapping[str, Any]) -> requests.Response:
        return self._request("POST", self.infer_url, json=body, timeout=30)

    def post(self, path: str, body: Any) -> requests.Response:
        return self._request("POST", f"{self.url}{path}", json=body, timeout=30)

    def metrics_text(self) -> str:
        response = self._request("GET", self.metrics_url, timeout=10)
        response.raise_for_status()
        return response.text

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request on the session's kept-alive connection, sent again once on a fresh one
        when that connection was reset before any answer: uvicorn closes a connection idle
        for 5 s, and a request sent as it does is reset unread (a test that waited 5 s for an
        attribution window failed so in CI). A server that really failed resets the second
        send too, and that error is raised."""
        try:
            return self.session.request(method, url, **kwargs)
        except requests.ConnectionError as error:
            if "Connection aborted" not in str(error):
                raise
            self.session.close()  # drop the pooled connections; the session opens new ones
            return self.session.request(method, url, **kwargs)
