"""Shared fixtures for the adapter tests: a test-controlled metrics endpoint, a real Prometheus
scraping it, and real MLflow servers (sqlite, proxied artifacts): a plain one and, when the
``mlflow[auth]`` extra is installed, one with ``--app-name basic-auth``.

The servers are module/session scoped because MLflow takes ~15 s to start; Prometheus starts
in well under a second but only applies new targets after its ~5 s discovery throttle.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tests.support.metrics_endpoint import MetricsEndpoint

from uplift_operator.devenv import process
from uplift_operator.devenv.prometheus import PROMETHEUS_BINARY, PrometheusServer, ScrapeTarget

# Labels the operator's PromQL templates select on (see anchors §1: executor metrics).
TARGET_LABELS = {"namespace": "uplift-test", "predictor": "canary", "version": "3"}


def _require_prometheus() -> None:
    if not PROMETHEUS_BINARY.exists():
        pytest.skip("prometheus is not installed (scripts/install-prometheus.sh)")


@pytest.fixture(scope="module")
def metrics_endpoint() -> Iterator[MetricsEndpoint]:
    with MetricsEndpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def prometheus(metrics_endpoint: MetricsEndpoint) -> Iterator[PrometheusServer]:
    _require_prometheus()
    target = ScrapeTarget(metrics_endpoint.target, job="seldon", metrics_path="/prometheus",
                          labels=TARGET_LABELS)
    with PrometheusServer([target]) as server:
        yield server


AUTH_ADMIN = ("admin", "uplift-admin-password-0123")


class AuthMlflow:
    """An MLflow server with ``--app-name basic-auth`` (needs the ``mlflow[auth]`` extra).

    Started without waiting so it boots while the plain server does; ``wait()`` before use.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = process.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "mlflow-auth.log"
        config = workdir / "basic_auth.ini"
        config.write_text("[mlflow]\ndefault_permission = READ\n"
                          f"database_uri = sqlite:///{workdir / 'basic_auth.db'}\n"
                          f"admin_username = {AUTH_ADMIN[0]}\n"
                          "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                          # Password checks are PBKDF2 (~1 s each); cache the good ones.
                          "auth_cache_ttl_seconds = 300\n")
        argv = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
                "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
                "--artifacts-destination", str(workdir / "mlartifacts"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        env = {"MLFLOW_FLASK_SERVER_SECRET_KEY": "uplift-test-secret",
               "MLFLOW_AUTH_CONFIG_PATH": str(config),
               "MLFLOW_AUTH_ADMIN_PASSWORD": AUTH_ADMIN[1]}
        self.proc = process.start(argv, log=self.log, env=env, cwd=workdir)

    def wait(self) -> AuthMlflow:
        def answering() -> bool:
            # /health may itself require credentials; any non-5xx answer means the app is up.
            return requests.get(f"{self.url}/health", timeout=2).status_code < 500

        process.wait_until(answering, timeout=120, what="mlflow basic-auth server", proc=self.proc,
                           log=self.log, interval=0.3)
        return self

    def stop(self) -> None:
        process.stop(self.proc)


def _auth_available() -> bool:
    return importlib.util.find_spec("flask_wtf") is not None


@pytest.fixture(scope="session")
def mlflow_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AuthMlflow | None]]:
    """The plain MLflow server's URL and, when ``mlflow[auth]`` is installed, a basic-auth server."""
    from uplift_operator.devenv.mlflow_server import MlflowServer

    auth = AuthMlflow(tmp_path_factory.mktemp("mlflow-auth")) if _auth_available() else None
    try:
        with MlflowServer() as server:
            yield server.url, auth
    finally:
        if auth is not None:
            auth.stop()


@pytest.fixture(scope="session")
def mlflow_server(mlflow_servers: tuple[str, AuthMlflow | None]) -> str:
    return mlflow_servers[0]


@pytest.fixture(scope="session")
def mlflow_auth_server(mlflow_servers: tuple[str, AuthMlflow | None]) -> AuthMlflow:
    auth = mlflow_servers[1]
    if auth is None:
        pytest.skip("mlflow[auth] is not installed (flask-wtf missing): no basic-auth server")
    return auth.wait()
