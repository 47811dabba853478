"""A query too heavy for Prometheus is that query's failure, not the server's: Prometheus is given
less than the client's timeout to evaluate it (``EVALUATION_SHARE``), so its own timeout answer
(HTTP 503, errorType "timeout") arrives while the client still waits, and the process-wide
breaker stays closed for every other resource's queries. A Prometheus that does not answer at
all still opens it.

A loopback server plays Prometheus: it honours the ``timeout`` parameter as Prometheus does
(evaluation past it answers 503 "timeout"), for a heavy query just after that timeout has passed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from uplift_operator.adapters.prometheus import (
    EVALUATION_SHARE,
    FailFast,
    MetricsUnavailable,
    PrometheusClient,
)

TIMEOUT = 0.5
ANSWER: dict[str, object] = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1.0, "5"]}]}}
TIMED_OUT: dict[str, object] = {"status": "error", "errorType": "timeout",
             "error": "query timed out in expression evaluation"}


class _Prometheus(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # the client's queries: the parameters as form data
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(parse_qs(self.rfile.read(length).decode()))

    def do_GET(self) -> None:
        self._answer(parse_qs(urlparse(self.path).query))

    def _answer(self, params: dict[str, list[str]]) -> None:
        self.server.timeouts.append(params["timeout"][0])  # type: ignore[attr-defined]
        query = params["query"][0]
        if "black_hole" in query:
            time.sleep(TIMEOUT * 2)  # no answer within the client's timeout
            return
        status, body = 200, ANSWER
        if "heavy" in query:
            time.sleep(float(params["timeout"][0]) + 0.02)  # its own evaluation timeout fires
            status, body = 503, TIMED_OUT
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    server.daemon_threads = True
    server.timeouts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _clients(server: ThreadingHTTPServer) -> tuple[PrometheusClient, PrometheusClient]:
    """Two resources' clients of one Prometheus, sharing its breaker as in the process."""
    shared = FailFast(hold=5.0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return (PrometheusClient(url, timeout=TIMEOUT, fail_fast=shared),
            PrometheusClient(url, timeout=TIMEOUT, fail_fast=shared))


def test_prometheus_is_given_less_than_the_client_waits(server: ThreadingHTTPServer) -> None:
    heavy, _ = _clients(server)
    assert heavy.scalar("sum(up)") == 5.0
    assert heavy.evaluation_timeout == pytest.approx(TIMEOUT * EVALUATION_SHARE)
    assert server.timeouts == [f"{TIMEOUT * EVALUATION_SHARE:g}"]  # type: ignore[attr-defined]
    assert float(server.timeouts[0]) < TIMEOUT  # type: ignore[attr-defined]
    assert PrometheusClient("http://p.test", timeout=10).evaluation_timeout == 8.0


def test_a_query_too_heavy_for_prometheus_leaves_the_others_asked(
        server: ThreadingHTTPServer) -> None:
    heavy, other = _clients(server)
    with pytest.raises(MetricsUnavailable) as slow:
        heavy.scalar("sum(rate(heavy_metric[14d]))")
    # Prometheus' answer, not the client giving up: that query's failure only.
    assert not slow.value.unanswered and slow.value.asked
    assert slow.value.message == ("prometheus answered HTTP 503 (timeout): "
                                  "query timed out in expression evaluation")
    # Another resource's query right after is sent and answered (the breaker stays closed).
    for _ in range(3):
        assert other.scalar('sum(rate(cheap{model="b"}[1m]))') == 5.0
    assert len(server.timeouts) == 4  # type: ignore[attr-defined]


def test_a_prometheus_that_does_not_answer_still_opens_the_breaker(
        server: ThreadingHTTPServer) -> None:
    hung, other = _clients(server)
    with pytest.raises(MetricsUnavailable, match=r"did not answer within 0\.5s") as first:
        hung.scalar("sum(black_hole)")
    assert first.value.unanswered
    with pytest.raises(MetricsUnavailable) as fast:
        other.scalar("sum(up)")
    assert not fast.value.asked
    assert len(server.timeouts) == 1  # type: ignore[attr-defined]
