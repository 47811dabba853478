"""``PrometheusClient`` keeps one connection per thread: a pass's queries (16 for a Campaign's
analysis) reuse it instead of opening one each. A loopback HTTP/1.1 server answers and records
the client port each request came from."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from uplift_operator.adapters.prometheus import FailFast, MetricsUnavailable, PrometheusClient
from uplift_operator.services.measurements import AnalysisQueries

ANSWER = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1.0, "5"]}]}}).encode()


class _KeepAlive(BaseHTTPRequestHandler):
    """Answers every query; records the client port, and (method, path, body) in
    ``server.requests``. With ``server.refuse_post`` a POST is answered 405, as by a proxy that
    takes GET only."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.requests.append(("POST", self.path, body))  # type: ignore[attr-defined]
        if getattr(self.server, "refuse_post", False):
            self.send_response(405)
            self.send_header("Allow", "GET")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._answer()

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, ""))  # type: ignore[attr-defined]
        self._answer()

    def _answer(self) -> None:
        self.server.ports.append(self.client_address[1])  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    server.daemon_threads = True
    server.ports = []  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_each_thread_reuses_one_connection(server: ThreadingHTTPServer) -> None:
    client = PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5,
                              fail_fast=FailFast(hold=0))
    for _ in range(5):
        assert client.scalar("sum(up)") == 5.0
    ports: list[int] = server.ports  # type: ignore[attr-defined]
    assert len(ports) == 5 and len(set(ports)) == 1

    together = threading.Barrier(3)

    def four_queries() -> None:
        for _ in range(4):
            assert client.scalar("sum(up)") == 5.0
            together.wait(timeout=5)  # the three threads' connections open at once

    threads = [threading.Thread(target=four_queries) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ports) == 5 + 12
    # A session of its own per thread: never one connection shared by two at once.
    assert len(set(ports[5:])) == 3 and ports[0] not in ports[5:]



class _Closes(BaseHTTPRequestHandler):
    """Closes each connection at its ``closes_at``-th request, unanswered: at the second, a
    kept connection whose idle timeout (the server's, a proxy's) ran out just as the client
    reused it; at the first, a server that closes every request."""

    protocol_version = "HTTP/1.1"
    closes_at = 2

    def setup(self) -> None:
        super().setup()
        self.served = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        self.served += 1
        self.server.ports.append(self.client_address[1])  # type: ignore[attr-defined]
        if self.served == self.closes_at:
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ClosesEvery(_Closes):
    closes_at = 1


@pytest.fixture
def closing(request: pytest.FixtureRequest) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    server.daemon_threads = True
    server.ports = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("closing", [_Closes], indirect=True)
def test_a_kept_connection_closed_as_it_is_reused_is_asked_again_on_a_new_one(
        closing: ThreadingHTTPServer) -> None:
    client = PrometheusClient(f"http://127.0.0.1:{closing.server_address[1]}", timeout=5,
                              fail_fast=FailFast(hold=0))
    assert client.scalar("sum(up)") == 5.0
    # The next analysis's queries: each goes out on a kept connection the server then closes
    # unanswered; each is asked once more, on a new connection, and answered. Before, the
    # first was "unreachable (connection reset)", unanswered, and failed the analysis's rest.
    analysis = AnalysisQueries(client)
    assert [analysis.scalar(q) for q in ("sum(a)", "sum(b)", "sum(c)")] == [5.0, 5.0, 5.0]
    ports: list[int] = closing.ports  # type: ignore[attr-defined]
    # 1 + 2 per query (the closed one, then its retry: the first request of a new connection).
    assert len(ports) == 7 and len(set(ports)) == 4
    assert all(ports[i] != ports[i + 1] for i in (1, 3, 5))


@pytest.mark.parametrize("closing", [_ClosesEvery], indirect=True)
def test_a_server_closing_every_request_unanswered_costs_one_retry_then_is_unreachable(
        closing: ThreadingHTTPServer) -> None:
    client = PrometheusClient(f"http://127.0.0.1:{closing.server_address[1]}", timeout=5,
                              fail_fast=FailFast(hold=0))
    with pytest.raises(MetricsUnavailable) as raised:
        client.scalar("sum(up)")
    assert raised.value.unanswered and "connection reset" in raised.value.message
    assert len(closing.ports) == 2  # type: ignore[attr-defined]  # asked twice, no more


#: A custom gate's query as long as the CRD allows (4096 characters), URL-encoded far longer:
#: in a GET's URL it passed proxies' header limits (HTTP 414, 431).
LONG_QUERY = "sum(" + " + ".join(f'rate(x{{model="m", n="{i:04d}"}}[5m])'
                                  for i in range(120)) + ")"


def test_a_query_is_posted_as_form_data_not_put_in_the_url(server: ThreadingHTTPServer) -> None:
    assert len(LONG_QUERY) > 4000
    client = PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5,
                              fail_fast=FailFast(hold=0))
    assert client.query(LONG_QUERY, time=1700000000.0)[0].value == 5.0
    (method, path, body), = server.requests  # type: ignore[attr-defined]
    assert (method, path) == ("POST", "/api/v1/query")
    form = parse_qs(body)
    assert form["query"] == [LONG_QUERY] and form["time"] == ["1700000000.000"]
    assert form["partial_response"] == ["false"] and form["timeout"] == ["4"]


def test_a_server_that_refuses_post_is_asked_with_get_from_then_on(
        server: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    server.refuse_post = True  # type: ignore[attr-defined]
    client = PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5,
                              fail_fast=FailFast(hold=0))
    with caplog.at_level(logging.INFO, logger="uplift_operator.adapters.prometheus"):
        assert client.scalar("sum(up)") == 5.0
        assert client.scalar("sum(up)") == 5.0
    requests: list[tuple[str, str, str]] = server.requests  # type: ignore[attr-defined]
    # One POST refused (405), then GETs only: one extra request for the client's life.
    assert [method for method, _, _ in requests] == ["POST", "GET", "GET"]
    path = urlparse(requests[1][1])
    assert path.path == "/api/v1/query" and parse_qs(path.query)["query"] == ["sum(up)"]
    assert caplog.text.count("asking with GET from now on") == 1
