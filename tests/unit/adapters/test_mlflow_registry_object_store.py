"""A run artifact that is not there, on an object store (S3, GCS, Azure): MLflow answers HTTP 500
INTERNAL_ERROR, not 404 (its ``artifact_repo.download_artifacts`` wraps the store's "not found",
no MLflow error, in one: MLflow 3.x), as for a store it cannot reach. The adapter asks the run's
artifact listing once: an artifact it does not list is ``RegistryNotFound`` (kept as absent by
the run cache, its gate judged), one it lists, or a listing that fails too, is the store failing
(``RegistryUnavailable``: the gate holds). A loopback HTTP/1.1 server plays MLflow."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from uplift_operator.adapters.mlflow_registry import (
    FailFast,
    MlflowRegistry,
    RegistryNotFound,
    RegistryUnavailable,
)
from uplift_operator.services.run_cache import CachingRegistry, RunReads

REFERENCE = {"features": {"recency": {"counts": [1, 2, 3]}}}
S3_FAILURE = ("The following failures occurred while downloading one or more artifacts from "
              "s3://bucket/1/{run}/artifacts:\n##### File {path} #####\nAn error occurred (404) "
              "when calling the HeadObject operation: Not Found")


MLMODEL = """flavors: {}
signature:
  inputs: '[{"name": "recency", "type": "double", "required": true},
    {"name": "history", "type": "double", "required": false}]'
  outputs: null
"""


class _Mlflow(http.server.BaseHTTPRequestHandler):
    """Runs ``s3-run`` (an S3 artifact root: ``/get-artifact``) and ``proxied-run``
    (``mlflow-artifacts:/``: the artifacts proxy). ``stored`` holds the artifacts there are;
    a download of any other answers 500 INTERNAL_ERROR as MLflow does on S3, as does every
    download while ``store_down`` (the store unreachable), and the listing while
    ``listing_down``. ``asked`` records each request's path."""

    protocol_version = "HTTP/1.1"
    stored: ClassVar[set[str]] = {"reference/feature_histograms.json"}
    store_down = False
    listing_down = False
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.asked.append(url.path)
        if url.path == "/api/2.0/mlflow/runs/get":
            run = query["run_id"]
            root = ("mlflow-artifacts:/1/proxied-run/artifacts" if run == "proxied-run"
                    else f"s3://bucket/1/{run}/artifacts")
            info = {"run_id": run, "artifact_uri": root,
                    **({"status": "RUNNING"} if run == "running-run" else {})}
            return self._json(200, {"run": {"info": info, "data": {"metrics": [
                {"key": "qini.email", "value": 0.12}]}}})
        if url.path == "/api/2.0/mlflow/artifacts/list":
            if self.listing_down:
                return self._json(500, {"error_code": "INTERNAL_ERROR",
                                        "message": "Could not connect to the endpoint URL"})
            directory = query.get("path", "")
            files = [{"path": p, "is_dir": False, "file_size": 10} for p in sorted(self.stored)
                     if p.rpartition("/")[0] == directory]
            return self._json(200, {"root_uri": "s3://bucket", **({"files": files} if files
                                                                     else {})})
        if url.path == "/get-artifact":
            return self._artifact(query["run_uuid"], query["path"])
        if url.path == "/model-versions/get-artifact":
            return self._model_file(query["name"], query["version"], query["path"])
        prefix = "/api/2.0/mlflow-artifacts/artifacts/1/proxied-run/artifacts/"
        if url.path.startswith(prefix):
            return self._artifact("proxied-run", urllib.parse.unquote(url.path[len(prefix):]))
        return self._json(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": url.path})

    def _artifact(self, run: str, path: str) -> None:
        if self.store_down or path not in self.stored:
            return self._json(500, {"error_code": "INTERNAL_ERROR",
                                    "message": S3_FAILURE.format(run=run, path=path)})
        return self._json(200, REFERENCE)

    def _model_file(self, name: str, version: str, path: str) -> None:
        """A version's file, as MLflow serves it from any store: version 3 on S3 has an
        MLmodel with a signature, version 4 one without; version 99 does not exist."""
        if version == "99":
            return self._json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                    "message": f"Model Version (name={name}, version=99) not "
                                               "found"})
        if self.store_down:
            return self._json(500, {"error_code": "INTERNAL_ERROR",
                                    "message": S3_FAILURE.format(run="m-abc", path=path)})
        raw = (MLMODEL if version == "3" else "flavors: {}\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        return None

    def _json(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowRegistry]:
    monkeypatch.setattr(_Mlflow, "asked", [])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mlflow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield MlflowRegistry(f"http://127.0.0.1:{server.server_address[1]}", timeout=5,
                         fail_fast=FailFast(hold=0))
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("run", ["s3-run", "proxied-run"])
def test_an_artifact_the_listing_does_not_hold_is_not_found(registry: MlflowRegistry,
                                                            run: str) -> None:
    assert registry.download_artifact_json(run, "reference/feature_histograms.json") == REFERENCE
    _Mlflow.asked.clear()
    with pytest.raises(RegistryNotFound, match=r"reference/uplift_distribution\.json of run"):
        registry.download_artifact_json(run, "reference/uplift_distribution.json")
    # One listing, asked only after the 500.
    assert _Mlflow.asked[-1] == "/api/2.0/mlflow/artifacts/list"
    assert _Mlflow.asked.count("/api/2.0/mlflow/artifacts/list") == 1


def test_a_listed_artifact_the_store_fails_to_give_is_unavailable(
        registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Mlflow, "store_down", True)
    with pytest.raises(RegistryUnavailable, match="HTTP 500 INTERNAL_ERROR"):
        registry.download_artifact_json("s3-run", "reference/feature_histograms.json")


def test_a_listing_that_fails_too_leaves_the_download_unavailable(
        registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Mlflow, "listing_down", True)
    with pytest.raises(RegistryUnavailable, match="HeadObject"):  # the download's failure
        registry.download_artifact_json("s3-run", "reference/uplift_distribution.json")


def test_a_top_level_artifact_is_looked_for_in_the_runs_root(
        registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Mlflow, "stored", {"top.json"})
    assert registry.download_artifact_json("s3-run", "top.json") == REFERENCE
    with pytest.raises(RegistryNotFound):
        registry.download_artifact_json("s3-run", "other.json")
    monkeypatch.setattr(_Mlflow, "store_down", True)
    with pytest.raises(RegistryUnavailable):
        registry.download_artifact_json("s3-run", "top.json")


def test_the_run_cache_keeps_the_absence(registry: MlflowRegistry) -> None:
    reads = RunReads()
    cached = CachingRegistry(registry, (registry.tracking_uri, ""), reads)
    for _ in range(3):
        with pytest.raises(RegistryNotFound):
            cached.download_artifact_json("s3-run", "reference/uplift_distribution.json")
    assert reads.reads == 1 and reads.hits == 2


def test_a_signature_is_read_through_the_tracking_server_whatever_the_store(
        registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version on S3 (no artifacts proxy): read through ``/model-versions/get-artifact``,
    not skipped as "no signature" (only ``mlflow-artifacts:/`` versions were read before)."""
    assert registry.model_signature("m", "3") == {"inputs": [
        {"name": "recency", "type": "double", "required": True},
        {"name": "history", "type": "double", "required": False}], "outputs": None}
    assert _Mlflow.asked == ["/model-versions/get-artifact"]  # no download URI asked
    assert registry.model_signature("m", "4") is None  # an MLmodel without a signature
    with pytest.raises(RegistryNotFound, match="version=99"):
        registry.model_signature("m", "99")
    # The store failing (on an object store, an MLmodel not there too: MLflow does not tell
    # them apart): held, not taken as "no signature".
    monkeypatch.setattr(_Mlflow, "store_down", True)
    with pytest.raises(RegistryUnavailable, match="HTTP 500 INTERNAL_ERROR"):
        registry.model_signature("m", "3")


def test_a_runs_metrics_come_with_its_status_from_one_read(registry: MlflowRegistry) -> None:
    """What ``services.run_cache`` keeps a run's metrics by: its status (none given: "")."""
    assert registry.run_metrics_and_status("running-run") == ({"qini.email": 0.12}, "RUNNING")
    assert registry.run_metrics_and_status("s3-run") == ({"qini.email": 0.12}, "")
    assert registry.run_metrics("s3-run") == {"qini.email": 0.12}
    assert _Mlflow.asked == ["/api/2.0/mlflow/runs/get"] * 3
