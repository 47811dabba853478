"""The preStop hook (``python -m uplift_operator.runtime.drain``): it asks the runtime in its
pod to drain with the drain token the runtime wrote, waits for a scrape, and never holds the
pod's stop when the runtime is gone; the demo's serving agent plays it before stopping a
predictor."""

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

TOKEN = "drain-token-of-this-pod"


class Runtime(BaseHTTPRequestHandler):
    """Answers a drain only with the token, as the runtime does."""

    asked: ClassVar[list[str]] = []
    refused: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            Runtime.refused.append(self.path)
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
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
    Runtime.refused.clear()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "drain-token"
    drain.write_token(path, TOKEN)
    return path


def test_the_hook_drains_the_runtime_then_waits_for_a_scrape(runtime: int,
                                                             token_file: Path) -> None:
    started = time.monotonic()
    assert drain.main(["--port", str(runtime), "--wait", "0.3",
                       "--token-file", str(token_file)]) == 0
    assert Runtime.asked == ["/uplift/v1/drain"] and Runtime.refused == []
    assert time.monotonic() - started >= 0.3


def test_the_hook_reads_the_token_file_the_environment_names(
        runtime: int, token_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(drain.TOKEN_FILE_ENV, str(token_file))  # as the rendered pod sets it
    assert drain.main(["--port", str(runtime), "--wait", "0"]) == 0
    assert Runtime.asked == ["/uplift/v1/drain"]


def test_without_the_token_file_the_hook_asks_nothing_and_holds_nothing_up(
        runtime: int, tmp_path: Path) -> None:
    started = time.monotonic()
    assert drain.main(["--port", str(runtime), "--wait", "30",
                       "--token-file", str(tmp_path / "never-written")]) == 0
    assert Runtime.asked == Runtime.refused == [] and time.monotonic() - started < 10


def test_a_runtime_that_does_not_answer_is_not_waited_for(token_file: Path) -> None:
    started = time.monotonic()
    assert drain.main(["--port", str(process.free_port()), "--wait", "30",
                       "--token-file", str(token_file)]) == 0
    assert time.monotonic() - started < 10


def test_the_token_file_is_the_owners_alone_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "drain-token"
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    path.symlink_to(target)  # a link planted where the token goes is replaced, not followed
    drain.write_token(path, "first")
    drain.write_token(path, "second")
    assert drain.read_token(path) == "second" and not path.is_symlink()
    assert path.stat().st_mode & 0o777 == 0o600
    assert target.read_text() == "untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drain-token", "elsewhere"]
    assert drain.token_file({drain.TOKEN_FILE_ENV: str(path)}) == path
    assert drain.token_file({}).name == drain.DEFAULT_TOKEN_FILE


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
    token_file = tmp_path / "drain-token"
    drain.write_token(token_file, TOKEN)
    predictor = Predictor(namespace="ns", deployment="m", name="v1", version="1",
                          env={drain.TOKEN_FILE_ENV: str(token_file)}, workdir=tmp_path,
                          server=cast(MlserverProcess, server), state=state)
    predictor.stop(drain_wait=drain_wait)
    assert server.stopped_after == (["/uplift/v1/drain"] if drained else [])
