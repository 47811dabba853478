"""A tracking URI with ``user:password@`` in it never shows the credentials: the API and the
operator's settings refuse such a URI, but a client given one (the operator's own code paths, a
stored object read before the rule) names the server without its userinfo in every message (a
status' ModelResolved/RegistryUnavailable message), log line and ``repr``, and has the
userinfo whole and its password (as written and decoded) and the basic header requests makes
of them redacted from every text quoted, as a credentials Secret's values are."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import threading
from collections.abc import Iterator

import pytest
import requests
from tests.support.fake_http import Clock, Http, installed

from uplift_operator.adapters.mlflow_registry import (
    FailFast,
    MlflowRegistry,
    RegistryError,
    RegistryUnavailable,
)

USER, PASSWORD = "reader-9d1c", "pw-3f7a0e52%21"  # %21: "!" once decoded
PLAIN = "pw-3f7a0e52!"
HEADER = base64.b64encode(f"{USER}:{PLAIN}".encode()).decode()
LEAKS = (USER, PASSWORD, PLAIN, HEADER)


def _no_credentials(text: str) -> None:
    for leak in LEAKS[1:]:
        assert leak not in text, text
    assert f"{USER}:" not in text, text


class _Echo(http.server.BaseHTTPRequestHandler):
    """A proxy that answers MLflow's error shape with the request's headers in it."""

    def do_GET(self) -> None:
        headers = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        body = json.dumps({"error_code": "PERMISSION_DENIED",
                           "message": f"denied; you sent {headers}"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_repr_and_shown_url_name_the_server_without_userinfo() -> None:
    registry = MlflowRegistry(f"https://{USER}:{PASSWORD}@mlflow.example/prefix/")
    assert registry.shown_url == "https://mlflow.example/prefix"
    _no_credentials(repr(registry))
    assert "mlflow.example" in repr(registry)


def test_an_echoed_basic_header_from_the_url_is_redacted(echo: int) -> None:
    """requests sends the URL's userinfo as basic credentials; a proxy that echoes them gets
    neither the header nor the password into the message (the resource's status)."""
    registry = MlflowRegistry(f"http://{USER}:{PASSWORD}@127.0.0.1:{echo}", timeout=5,
                              fail_fast=FailFast(hold=0))
    with pytest.raises(RegistryUnavailable) as refused:
        registry.resolve("m", version="1")
    text = str(refused.value)
    assert "MLflow denied permission to the credentials' user (HTTP 403)" in text and "***" in text
    _no_credentials(text)


def test_an_unreachable_server_is_named_without_userinfo(
        caplog: pytest.LogCaptureFixture) -> None:
    registry = MlflowRegistry(f"http://{USER}:{PASSWORD}@127.0.0.1:9", timeout=5,
                              fail_fast=FailFast(hold=0))
    with caplog.at_level(logging.DEBUG, logger="uplift_operator.adapters.mlflow_registry"), \
            pytest.raises(RegistryUnavailable) as refused:
        registry.resolve("m", version="1")
    text = str(refused.value)
    assert text.startswith("MLflow at http://127.0.0.1:9 is unreachable")
    _no_credentials(text)
    _no_credentials(caplog.text)


def test_a_timeout_and_a_body_that_is_not_json_are_told_without_userinfo(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    fake = installed(monkeypatch, Http(clock, 5.0, {}, timed_out=(
        f"HTTPConnectionPool(host='mlflow', port=5000): Read timed out for "
        f"http://{USER}:{PASSWORD}@mlflow:5000 ({HEADER})")))
    registry = MlflowRegistry(f"http://{USER}:{PASSWORD}@mlflow:5000", timeout=5.0,
                              fail_fast=FailFast(hold=0, clock=clock))
    fake.behave = fake.time_out
    with caplog.at_level(logging.DEBUG, logger="uplift_operator.adapters.mlflow_registry"), \
            pytest.raises(RegistryUnavailable) as slow:
        registry.resolve("m", version="1")
    assert str(slow.value) == "MLflow at http://mlflow:5000 did not answer within 5s"
    assert "did not answer" in caplog.text and "http://***@mlflow:5000 (***)" in caplog.text
    _no_credentials(caplog.text)

    def not_json(*_: object, **__: object) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content = 200, b"<html>login</html>"
        return response

    monkeypatch.setattr(requests.Session, "request", not_json)
    with pytest.raises(RegistryError) as odd:
        registry.resolve("m", version="1")
    assert str(odd.value).startswith("MLflow at http://mlflow:5000 answered ")
    _no_credentials(str(odd.value))
