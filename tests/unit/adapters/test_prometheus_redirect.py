"""A redirected query is sent again as it was, to the same server only.

requests followed a 301, 302 or 303 answered to the POSTed query with a GET without its body:
Prometheus answered 400 "no expression found in input", a ``QueryError`` ("bad query"), an
Error counted towards ``consecutiveErrorLimit``, so behind an http → https load balancer or a
moved path every canary and campaign rolled back. The client follows redirects itself now: the
query POSTed again to the same server (same scheme, host and port, or http → https on the
default ports), at most ``MAX_REDIRECTS`` times; a redirect elsewhere is a
``MetricsUnavailable`` naming where it points. A loopback server redirects ``/old/...`` to
``/new/...`` (or elsewhere) and answers a query only where it has one.

Only a redirect to the API path asked (``/api/v1/query`` under another prefix) is followed: an
authenticating proxy's redirect to its login page on the same host was followed, the query and
the bearer token POSTed to ``/login.html``, and its 405 to the POST made the client ask every
query after with GET, for good. Only the configured URL's 405 does that now. And the hops of one
query share its one timeout: each was given a fresh one, so a chain held the thread up to
``MAX_REDIRECTS + 1`` timeouts.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from tests.unit.services.test_observed_counts import _ctx

from uplift_operator.adapters.prometheus import (
    MAX_REDIRECTS,
    FailFast,
    MetricsUnavailable,
    PrometheusClient,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import measurements as m
from uplift_operator.services import measurements

REDIRECT_CODES = (301, 302, 303, 307, 308)


class _Redirecting(BaseHTTPRequestHandler):
    """``/old/...``: ``server.code`` to ``server.location`` (``{port}`` and ``{path}`` filled
    in: ``{path}`` is the request's under ``/new``); ``/loop/...``: to itself; any other path:
    the query's answer, or Prometheus' 400 for a request without one. Records (method, path,
    parameters, Authorization) in ``server.seen``."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self._handle("POST", parse_qs(body))

    def do_GET(self) -> None:
        self._handle("GET", parse_qs(urlparse(self.path).query))

    def _handle(self, method: str, params: dict[str, list[str]]) -> None:
        path = urlparse(self.path).path
        self.server.seen.append(  # type: ignore[attr-defined]
            (method, path, params, self.headers.get("Authorization")))
        refused = getattr(self.server, "refuse_post", False)
        if method == "POST" and refused and (refused is True or path.startswith(refused)):
            self._send(405, b"")
            return
        if path.startswith("/login"):
            self._send(405 if method == "POST" else 200, b"<html>login</html>")
            return
        if path.startswith("/hop"):  # /hop<n>/...: after server.delay, to /hop<n+1>/... (to 3)
            time.sleep(self.server.delay)  # type: ignore[attr-defined]
            hop = int(path[len("/hop")])
            if hop < 3:
                self._redirect(307, f"/hop{hop + 1}{path[len('/hop1'):]}")
                return
        if path.startswith(("/old/", "/loop/")):
            server: Any = self.server
            location = (path if path.startswith("/loop/") else server.location.format(
                port=server.server_port, path="/new" + path[len("/old"):]))
            self._redirect(server.code, location)
            return
        if "query" not in params:
            self._send(400, json.dumps({
                "status": "error", "errorType": "bad_data",
                "error": 'invalid parameter "query": 1:1: parse error: no expression found in '
                         "input"}).encode())
            return
        self._send(200, json.dumps({"status": "success", "data": {
            "resultType": "vector", "result": [{"metric": {}, "value": [1.0, "0.01"]}]}}).encode())

    def _redirect(self, code: int, location: str) -> None:
        self.send_response(code)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    server.code = 301  # type: ignore[attr-defined]
    server.location = "http://127.0.0.1:{port}{path}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    server = _serve()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[ThreadingHTTPServer]:
    server = _serve()
    yield server
    server.shutdown()
    server.server_close()


def _client(url: str, **kwargs: object) -> PrometheusClient:
    return PrometheusClient(url, timeout=5, fail_fast=FailFast(hold=0), **kwargs)  # type: ignore[arg-type]


def _port(server: ThreadingHTTPServer) -> int:
    return server.server_address[1]


@pytest.mark.parametrize("code", REDIRECT_CODES)
def test_a_redirect_on_the_same_server_is_followed_with_the_query(
        server: ThreadingHTTPServer, code: int) -> None:
    server.code = code  # type: ignore[attr-defined]
    client = _client(f"http://127.0.0.1:{_port(server)}/old", bearer_token="s3cret")
    assert client.scalar("sum(up)") == 0.01
    seen = server.seen  # type: ignore[attr-defined]
    assert [(method, path) for method, path, _, _ in seen] == [
        ("POST", "/old/api/v1/query"), ("POST", "/new/api/v1/query")]
    assert seen[1][2]["query"] == ["sum(up)"]  # the query went along, once
    assert seen[1][3] == "Bearer s3cret"  # and so did the credentials


def test_a_relative_location_is_the_same_server(server: ThreadingHTTPServer) -> None:
    server.location = "{path}"  # type: ignore[attr-defined]
    assert _client(f"http://127.0.0.1:{_port(server)}/old").scalar("sum(up)") == 0.01


def test_the_redirect_is_logged_once_with_the_url_to_give(
        server: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    client = _client(f"http://127.0.0.1:{_port(server)}/old")
    with caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"):
        for _ in range(3):
            assert client.scalar("sum(up)") == 0.01
    said = [r.getMessage() for r in caplog.records if "redirects queries" in r.getMessage()]
    assert len(said) == 1
    assert f"set --prometheus-url to http://127.0.0.1:{_port(server)}/new" in said[0]


def test_the_userinfo_of_the_url_goes_with_the_redirected_query(
        server: ThreadingHTTPServer) -> None:
    client = _client(f"http://alice:pw@127.0.0.1:{_port(server)}/old")
    assert client.scalar("sum(up)") == 0.01
    sent = server.seen[1][3]  # type: ignore[attr-defined]
    assert sent == "Basic " + base64.b64encode(b"alice:pw").decode()


def test_a_get_after_a_refused_post_follows_the_redirect_with_its_parameters_once(
        server: ThreadingHTTPServer) -> None:
    server.refuse_post = True  # type: ignore[attr-defined]
    # The Location carries the query string asked: it is not sent twice.
    server.location = "{path}?query=sum%28up%29"  # type: ignore[attr-defined]
    client = _client(f"http://127.0.0.1:{_port(server)}/old")
    assert client.scalar("sum(up)") == 0.01
    method, path, params, _ = server.seen[-1]  # type: ignore[attr-defined]
    assert (method, path, params["query"]) == ("GET", "/new/api/v1/query", ["sum(up)"])


def test_a_redirect_to_another_server_is_unavailable_naming_it_not_a_bad_query(
        server: ThreadingHTTPServer, elsewhere: ThreadingHTTPServer) -> None:
    server.location = f"http://127.0.0.1:{_port(elsewhere)}{{path}}"  # type: ignore[attr-defined]
    client = _client(f"http://127.0.0.1:{_port(server)}/old", bearer_token="s3cret")
    with pytest.raises(MetricsUnavailable) as raised:
        client.scalar("sum(up)")
    assert raised.value.status_code == 301
    assert f"to http://127.0.0.1:{_port(elsewhere)}/new (HTTP 301)" in raised.value.message
    assert "set --prometheus-url to it" in raised.value.message
    assert elsewhere.seen == []  # type: ignore[attr-defined]  # nor its credentials


@pytest.mark.parametrize("location", ["https://127.0.0.1:{port}{path}",
                                      "http://localhost:{port}{path}"])
def test_another_scheme_or_host_is_another_server(server: ThreadingHTTPServer,
                                                  location: str) -> None:
    server.location = location  # type: ignore[attr-defined]
    with pytest.raises(MetricsUnavailable, match="another server: not followed"):
        _client(f"http://127.0.0.1:{_port(server)}/old").scalar("sum(up)")
    assert len(server.seen) == 1  # type: ignore[attr-defined]


def test_a_redirect_loop_stops_after_max_redirects(server: ThreadingHTTPServer) -> None:
    with pytest.raises(MetricsUnavailable, match=f"more than {MAX_REDIRECTS} times"):
        _client(f"http://127.0.0.1:{_port(server)}/loop").scalar("sum(up)")
    assert len(server.seen) == MAX_REDIRECTS + 1  # type: ignore[attr-defined]


def test_a_gate_behind_a_redirect_to_another_server_is_no_bad_query(
        server: ThreadingHTTPServer, elsewhere: ThreadingHTTPServer) -> None:
    server.location = f"http://127.0.0.1:{_port(elsewhere)}{{path}}"  # type: ignore[attr-defined]
    gate = ModelGate.model_validate({"name": "c", "type": "custom", "query": "sum(up)",
                                     "max": 1})
    got = measurements.collect(gate, _ctx(600, 30), _client(f"http://127.0.0.1:{_port(server)}/old"),
                               None)
    assert isinstance(got, m.MeasurementError)
    assert not got.message.startswith("bad query")
    assert "set --prometheus-url" in got.message


@pytest.mark.parametrize("location", ["/login.html?rd={path}", "/new/login",
                                      "/new/api/v1/query_range", "/api/v1/query/x"])
def test_a_redirect_to_another_path_on_the_same_server_is_not_followed(
        server: ThreadingHTTPServer, location: str) -> None:
    server.location = location  # type: ignore[attr-defined]
    client = _client(f"http://127.0.0.1:{_port(server)}/old", bearer_token="s3cret")
    with pytest.raises(MetricsUnavailable) as raised:
        client.scalar("sum(up)")
    where = location.partition("?")[0]
    assert raised.value.status_code == 301
    assert f"to http://127.0.0.1:{_port(server)}{where} (HTTP 301)" in raised.value.message
    assert "not a Prometheus API path" in raised.value.message
    # Neither the query nor the token went to the login page.
    assert [path for _, path, _, _ in server.seen] == ["/old/api/v1/query"]  # type: ignore[attr-defined]


def test_a_login_page_refusing_the_post_does_not_turn_the_client_to_get(
        server: ThreadingHTTPServer) -> None:
    """An auth proxy in front of Prometheus sends the query to its login page (which refuses a
    POST); once it lets the operator through, the queries are POSTed, as before."""
    server.code, server.location = 302, "/login.html?rd={path}"  # type: ignore[attr-defined]
    client = _client(f"http://127.0.0.1:{_port(server)}/old")
    with pytest.raises(MetricsUnavailable, match=r"/login\.html \(HTTP 302\)"):
        client.scalar("sum(up)")
    server.location = "{path}"  # type: ignore[attr-defined]  # let through: to /new
    assert client.scalar("sum(up)") == 0.01
    assert [(m, p) for m, p, _, _ in server.seen[1:]] == [  # type: ignore[attr-defined]
        ("POST", "/old/api/v1/query"), ("POST", "/new/api/v1/query")]


def test_only_the_configured_url_refusing_the_post_turns_the_client_to_get(
        server: ThreadingHTTPServer) -> None:
    server.refuse_post = "/new/"  # type: ignore[attr-defined]  # the target, not /old
    client = _client(f"http://127.0.0.1:{_port(server)}/old")
    with pytest.raises(MetricsUnavailable, match="HTTP 405"):
        client.scalar("sum(up)")
    server.refuse_post = False  # type: ignore[attr-defined]
    assert client.scalar("sum(up)") == 0.01
    assert [m for m, _, _, _ in server.seen] == ["POST"] * 4  # type: ignore[attr-defined]


def test_the_redirects_of_a_query_share_its_one_timeout(server: ThreadingHTTPServer) -> None:
    """Three hops of 0.4 s each against a timeout of 1 s: the third is given what is left
    (0.2 s) and the query did not answer within 1 s; each given a fresh 1 s, it took 1.2 s."""
    server.delay = 0.4  # type: ignore[attr-defined]
    client = PrometheusClient(f"http://127.0.0.1:{_port(server)}/hop1", timeout=1,
                              fail_fast=FailFast(hold=0))
    started = time.monotonic()
    with pytest.raises(MetricsUnavailable, match="did not answer within 1s"):
        client.scalar("sum(up)")
    assert time.monotonic() - started < 1.15
    server.delay = 0.1  # type: ignore[attr-defined]
    assert client.scalar("sum(up)") == 0.01  # 0.3 s in all: answered
