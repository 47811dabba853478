"""No credential leaves the MLflow adapter in an error: a proxy or a wrong tracking URI that
echoes the request's headers back, and requests refusing a header it cannot send, both end up
in status messages, so every text is redacted (a loopback server plays the echoing proxy)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    MlflowRegistry,
    RegistryError,
    RegistryUnavailable,
)

TOKEN = "tok-5c9e0a71d3b84f26"
PASSWORD = "pw-8e1b7c2d9f"


class _Echo(http.server.BaseHTTPRequestHandler):
    status = 401
    as_json = False

    def do_GET(self) -> None:
        headers = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        body = (f'{{"error_code": "{headers.strip()}", "message": "{headers.strip()}"}}'
                if self.as_json else f"refused, you sent:\n{headers}").encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("credentials", [Credentials.bearer(TOKEN),
                                         Credentials.basic("reader", PASSWORD)])
@pytest.mark.parametrize(("status", "as_json"), [(401, False), (500, False), (404, False),
                                                 (403, True), (503, True)])
def test_an_echoing_server_gets_no_credential_into_an_error(
        echo: str, credentials: Credentials, status: int, as_json: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Echo, "status", status)
    monkeypatch.setattr(_Echo, "as_json", as_json)
    with pytest.raises(RegistryError) as raised:
        MlflowRegistry(echo, credentials=credentials, timeout=5).resolve("m", version="1")
    text = str(raised.value)
    # Not MLflow's JSON error shape (the echo's headers break its JSON too): described, never
    # quoted, so nothing of the answer reaches the status
    assert "not MLflow API JSON, not shown" in text and "you sent" not in text
    assert "Authorization" not in text and "User-Agent" not in text
    for secret in credentials.secrets():
        assert secret not in text
    assert raised.value.__cause__ is None or TOKEN not in str(raised.value.__cause__)


def test_an_answer_that_is_not_mlflows_is_described_not_quoted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trackingUri pointed at another internal service must not read its answers back
    through the resource's status (the review's SSRF: a non-JSON 200 was quoted there)."""
    import requests

    class Answer:
        status_code = 200
        headers: ClassVar[dict[str, str]] = {"Content-Type": "text/plain; charset=utf-8"}
        content = b"INTERNAL-ONLY: role=node-admin"
        text = content.decode()

        def json(self) -> object:
            raise ValueError("not JSON")

    monkeypatch.setattr(requests.Session, "request", lambda *a, **k: Answer())
    with pytest.raises(RegistryError) as raised:
        MlflowRegistry("http://internal.example", timeout=5).resolve("m", version="1")
    text = str(raised.value)
    assert "INTERNAL-ONLY" not in text and "node-admin" not in text
    assert "text/plain, 30 bytes, not MLflow API JSON, not shown" in text


def test_a_header_requests_cannot_send_is_not_quoted() -> None:
    registry = MlflowRegistry("http://127.0.0.1:9", credentials=Credentials.bearer(TOKEN + "\n"))
    with pytest.raises(RegistryUnavailable) as raised:
        registry.resolve("m", version="1")
    assert TOKEN not in str(raised.value) and raised.value.__cause__ is None
