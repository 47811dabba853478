"""MLflow's 401 (the credentials refused) and 403 (their user denied the permission a request
needs), in MLflow's error shape or a proxy's, are ``CredentialsRefused``: still a
``RegistryUnavailable`` to every caller that holds or retries on one (a gate's read, the
write-back worker), with the status kept (the credentials Secret is read again on it), but
told apart from an outage, so the model reference's ``ModelResolved`` says it and the phase
turns Degraded after the grace instead of waiting for good. A 5xx stays an outage."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import requests

from uplift_operator.adapters.mlflow_registry import (
    CredentialsRefused,
    MlflowRegistry,
    RegistryUnavailable,
)


def _answering(status: int, as_json: bool) -> object:
    class Answer:
        status_code = status
        headers: ClassVar[dict[str, str]] = {
            "Content-Type": "application/json" if as_json else "text/html"}
        content = (json.dumps({"error_code": "PERMISSION_DENIED", "message": "Permission denied"})
                   if as_json else "<html>Unauthorized</html>").encode()
        text = content.decode()

        def json(self) -> object:
            return json.loads(self.text)

    return Answer()


@pytest.mark.parametrize("as_json", [True, False], ids=["mlflow", "proxy"])
@pytest.mark.parametrize(("status", "said"), [
    (401, "MLflow refused the credentials (HTTP 401"),
    (403, "MLflow denied permission to the credentials' user (HTTP 403"),
])
def test_a_refusal_is_credentials_refused(status: int, said: str, as_json: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests.Session, "request", lambda *a, **k: _answering(status, as_json))
    with pytest.raises(CredentialsRefused) as raised:
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")
    assert isinstance(raised.value, RegistryUnavailable)  # held and retried as before
    assert raised.value.status_code == status and str(raised.value).startswith(said)


@pytest.mark.parametrize("as_json", [True, False], ids=["mlflow", "proxy"])
def test_a_server_error_is_an_outage_not_a_refusal(as_json: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests.Session, "request", lambda *a, **k: _answering(503, as_json))
    with pytest.raises(RegistryUnavailable) as raised:
        MlflowRegistry("http://mlflow.example", timeout=5).resolve("m", version="1")
    assert not isinstance(raised.value, CredentialsRefused)
