"""MlflowRegistry keeps its connection: one per thread that uses the client, reused call after
call (it opened a new one per request: ``requests.request`` without a Session). A kept
connection the server dropped as it was reused costs a read one more attempt, not an error.
A loopback HTTP/1.1 server plays MLflow and counts the connections it accepts."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from uplift_operator.adapters.mlflow_registry import MlflowRegistry, RegistryUnavailable

RUN = {"info": {"run_id": "r1", "artifact_uri": "mlflow-artifacts:/1/r1/artifacts"},
       "data": {"metrics": [{"key": "qini.email", "value": 0.05}]}}
VERSION = {"name": "m", "version": "1", "status": "READY", "run_id": "r1", "source": "models:/m-1"}
REFERENCE = {"features": {"recency": {"counts": [1, 2, 3]}}}


class _Mlflow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as MLflow's server
    connections = 0
    drop_second = False  # drop each connection's second request without an answer
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        self.served = 0
        with self.lock:
            type(self).connections += 1

    def _answer(self) -> None:
        self.served += 1
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.drop_second and self.served == 2:
            self.close_connection = True  # gone, as a server whose keep-alive just ran out
            return
        if self.path.startswith("/api/2.0/mlflow-artifacts/artifacts/"):
            body: Any = REFERENCE
        elif self.path.startswith("/api/2.0/mlflow/runs/get"):
            body = {"run": RUN}
        elif self.path.startswith("/api/2.0/mlflow/model-versions/get"):
            body = {"model_version": VERSION}
        else:
            body = {}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(_Mlflow, "connections", 0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mlflow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def reads(registry: MlflowRegistry) -> None:
    assert registry.resolve("m", version="1").run_id == "r1"
    assert registry.run_metrics("r1") == {"qini.email": 0.05}
    assert registry.download_artifact_json("r1", "reference/feature_histograms.json") == REFERENCE
    registry.set_alias("m", "champion", "1")


def test_one_connection_serves_a_threads_calls(mlflow: str) -> None:
    registry = MlflowRegistry(mlflow, timeout=5)
    for _ in range(3):
        reads(registry)  # 18 requests, a streamed download among them
    assert _Mlflow.connections == 1


def test_each_thread_has_a_connection_of_its_own(mlflow: str) -> None:
    registry = MlflowRegistry(mlflow, timeout=5)
    reads(registry)
    others = [threading.Thread(target=reads, args=(registry,)) for _ in range(2)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)
    reads(registry)
    assert _Mlflow.connections == 3


def test_a_kept_connection_dropped_on_reuse_costs_a_read_one_more_attempt(
        mlflow: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Mlflow, "drop_second", True)
    registry = MlflowRegistry(mlflow, timeout=5)
    assert registry.run_metrics("r1") == {"qini.email": 0.05}
    assert registry.run_metrics("r1") == {"qini.email": 0.05}  # dropped, asked again
    assert _Mlflow.connections == 2
    # A write is not sent twice: the write-back queue retries it (services/writeback.py).
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        registry.set_alias("m", "champion", "1")
