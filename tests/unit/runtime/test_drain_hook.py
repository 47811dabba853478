"""The preStop hook (``python -m uplift_operator.runtime.drain``): it asks the runtime in its
pod to drain, waits for a scrape, and never holds the pod's stop when the runtime is gone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from uplift_operator.devenv import process
from uplift_operator.runtime import drain


class Runtime(BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        Runtime.asked.append(self.path)
        body = json.dumps({"counted": {"expected": 3.0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def runtime() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Runtime.asked.clear()
    yield server.server_address[1]
    server.shutdown()


def test_the_hook_drains_the_runtime_then_waits_for_a_scrape(runtime: int) -> None:
    started = time.monotonic()
    assert drain.main(["--port", str(runtime), "--wait", "0.3"]) == 0
    assert Runtime.asked == ["/uplift/v1/drain"]
    assert time.monotonic() - started >= 0.3


def test_a_runtime_that_does_not_answer_is_not_waited_for() -> None:
    started = time.monotonic()
    assert drain.main(["--port", str(process.free_port()), "--wait", "30"]) == 0
    assert time.monotonic() - started < 10
