"""An MLflow answer in MLflow's own error shape that says "not now" (429 rate limit, 408) is
the registry unavailable for a while, like a 5xx: the UpliftModel waits however long
(``RegistryUnavailable``), never turns Degraded as for a version MLflow refused for good
(``RegistryRequestError`` → ``InvalidModel``)."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import requests

from uplift_operator.adapters.mlflow_registry import (
    MlflowRegistry,
    RegistryNotFound,
    RegistryRequestError,
    RegistryUnavailable,
)


def _answering(status: int, error_code: str) -> object:
    class Answer:
        status_code = status
        headers: ClassVar[dict[str, str]] = {"Content-Type": "application/json"}
        content = json.dumps({"error_code": error_code, "message": "slow down"}).encode()
        text = content.decode()

        def json(self) -> object:
            return json.loads(self.text)

    return Answer()


@pytest.mark.parametrize(("status", "error_code"), [(429, "REQUEST_LIMIT_EXCEEDED"),
                                                    (408, "TEMPORARILY_UNAVAILABLE")])
def test_not_now_is_unavailable(status: int, error_code: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests.Session, "request",
                        lambda *a, **k: _answering(status, error_code))
    with pytest.raises(RegistryUnavailable) as raised:
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")
    assert f"HTTP {status}" in str(raised.value)


def test_a_bad_request_stays_a_request_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests.Session, "request",
                        lambda *a, **k: _answering(400, "BAD_REQUEST"))
    with pytest.raises(RegistryRequestError):
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")


@pytest.mark.parametrize(("status", "error_code"), [(409, "ABORTED"), (499, "CANCELLED"),
                                                    (423, "RESOURCE_EXHAUSTED"),
                                                    (425, "TEMPORARILY_UNAVAILABLE")])
def test_mlflows_not_now_codes_are_unavailable(status: int, error_code: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's transient codes (its ``databricks.proto``: ABORTED is a concurrency abort, 409;
    CANCELLED the request cancelled, 499) say "not now" whatever the status: read as a refusal,
    a blip turned the model InvalidModel, Degraded after the grace."""
    monkeypatch.setattr(requests.Session, "request",
                        lambda *a, **k: _answering(status, error_code))
    with pytest.raises(RegistryUnavailable) as raised:
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")
    assert type(raised.value) is RegistryUnavailable
    assert f"HTTP {status} {error_code}" in str(raised.value)


def test_a_resource_conflict_stays_a_request_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """RESOURCE_CONFLICT (409) is "a conflict with an existing resource": the same request gets
    the same answer, so it stays a refusal."""
    monkeypatch.setattr(requests.Session, "request",
                        lambda *a, **k: _answering(409, "RESOURCE_CONFLICT"))
    with pytest.raises(RegistryRequestError):
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")


def test_mlflows_generic_not_found_is_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests.Session, "request",
                        lambda *a, **k: _answering(404, "NOT_FOUND"))
    with pytest.raises(RegistryNotFound):
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")


def test_a_missing_endpoint_is_a_refusal_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENDPOINT_NOT_FOUND is the API missing (not an MLflow with the registry API), not the
    model: no wait clears it, and the message says what is wrong."""
    monkeypatch.setattr(requests.Session, "request",
                        lambda *a, **k: _answering(404, "ENDPOINT_NOT_FOUND"))
    with pytest.raises(RegistryRequestError, match="no such API endpoint") as raised:
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")
    assert type(raised.value) is RegistryRequestError
    assert "model registry API" in str(raised.value)
