"""Shared fixtures for the adapter tests: a test-controlled metrics endpoint, a real Prometheus
scraping it, and a real MLflow server (sqlite, proxied artifacts) with one registered model.

The servers are module/session scoped because MLflow takes ~15 s to start; Prometheus starts
in well under a second but only applies new targets after its ~5 s discovery throttle.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.metrics_endpoint import MetricsEndpoint

from uplift_operator.devenv.prometheus import PROMETHEUS_BINARY, PrometheusServer, ScrapeTarget

# Labels the operator's PromQL templates select on (see anchors §1: executor metrics).
TARGET_LABELS = {"namespace": "uplift-test", "predictor": "canary", "version": "3"}


def _require_prometheus() -> None:
    if not PROMETHEUS_BINARY.exists() and shutil.which("prometheus") is None:
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


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[str]:
    from uplift_operator.devenv.mlflow_server import MlflowServer

    with MlflowServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def mlflow_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-client")
