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
