"""A fake clock and a fake HTTP layer for the adapters' fail-fast tests (Prometheus, MLflow).

``requests.Session.request`` (which ``requests.get`` goes through too) is replaced: each call is
counted, may move the fake clock forward by the client's timeout, and raises or answers as
``Http.behave`` says for that call number.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests


class Clock:
    """``time.monotonic`` for a breaker under test, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Http:
    """What each request does: ``behave(call number)`` raises, or returns (status, body)."""

    def __init__(self, clock: Clock, timeout: float, answer: Any,
                 timed_out: str | None = None) -> None:
        self.clock = clock
        self.timeout = timeout
        #: what ``requests`` says of the timeout (its text names the host and port)
        self.timed_out = timed_out or f"Read timed out. (read timeout={timeout})"
        self.calls = 0
        self.behave: Callable[[int], tuple[int, Any]] = lambda _: (200, answer)

    def request(self, _session: requests.Session, method: str, url: str,
                **_: Any) -> requests.Response:
        self.calls += 1
        status, body = self.behave(self.calls)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.url = url
        return response

    def time_out(self, _: int) -> tuple[int, Any]:
        """No answer within the timeout: the clock moves by it, as ``requests`` would wait."""
        self.clock.now += self.timeout
        raise requests.ReadTimeout(self.timed_out)

    def refuse(self, _: int) -> tuple[int, Any]:
        raise requests.ConnectionError("[Errno 111] Connection refused")


def installed(monkeypatch: pytest.MonkeyPatch, fake: Http) -> Http:
    """``fake`` answering every ``requests`` call for the test's duration."""
    monkeypatch.setattr(requests.Session, "request",
                        lambda session, method, url, **kw: fake.request(session, method, url, **kw))
    return fake
