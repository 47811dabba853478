"""The preStop hook (``python -m uplift_operator.runtime.drain``): it asks the runtime in its
pod to drain, waits for a scrape, and never holds the pod's stop when the runtime is gone; the
demo's serving agent plays it before stopping a predictor."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar, cast

import pytest

from uplift_operator.devenv import process
from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.devenv.serving_agent import Predictor
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


class Server:
    """An MlserverProcess's face to the serving agent: its URL, and whether it was stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stopped_after: list[str] = []

    def stop(self) -> None:
        self.stopped_after = list(Runtime.asked)


@pytest.mark.parametrize(("state", "drain_wait", "drained"), [
    ("Available", 0.01, True),   # a predictor removed: drained, as the pod's hook would
    ("Available", None, False),  # the whole stack going away
    ("Creating", 0.01, False),   # still loading: nothing decided
])
def test_the_demo_serving_agent_drains_a_predictor_before_stopping_it(
        runtime: int, tmp_path: Path, state: str, drain_wait: float | None,
        drained: bool) -> None:
    server = Server(f"http://127.0.0.1:{runtime}")
    predictor = Predictor(namespace="ns", deployment="m", name="v1", version="1", env={},
                          workdir=tmp_path, server=cast(MlserverProcess, server), state=state)
    predictor.stop(drain_wait=drain_wait)
    assert server.stopped_after == (["/uplift/v1/drain"] if drained else [])
