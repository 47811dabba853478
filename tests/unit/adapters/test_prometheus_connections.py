"""``PrometheusClient`` keeps one connection per thread: a pass's queries (16 for a Campaign's
analysis) reuse it instead of opening one each. A loopback HTTP/1.1 server answers and records
the client port each request came from."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from uplift_operator.adapters.prometheus import FailFast, PrometheusClient

ANSWER = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1.0, "5"]}]}}).encode()


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
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
