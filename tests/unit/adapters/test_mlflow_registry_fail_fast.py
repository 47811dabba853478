"""``MlflowRegistry`` against an MLflow that does not answer: after a request got no answer
within its timeout, the requests after it, every client's of that tracking URI, fail at once as
``RegistryUnavailable`` (``FailFast``) instead of each holding a pass-pool thread for the whole
timeout; one request at a time tries MLflow again once the hold is over.

The HTTP layer is faked (``requests.Session.request``): each call is counted, may move the fake
clock forward, and raises or answers as told. The last test uses a real socket that accepts
connections and never answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from tests.support.fake_http import Clock, Http, installed

from uplift_operator.adapters.mlflow_registry import (
    FAIL_FAST_FOR,
    Credentials,
    FailFast,
    MlflowRegistry,
    RegistryNotFound,
    RegistryUnavailable,
)

URI = "http://mlflow.test:5000"
TIMEOUT = 5.0
VERSION = {"model_version": {"name": "m", "version": "3", "status": "READY", "run_id": "r1",
                             "source": "models:/m-1"}}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Http:
    return installed(monkeypatch, Http(
        clock, TIMEOUT, VERSION, timed_out="HTTPConnectionPool(host='mlflow.test', port=5000): "
                                           "Read timed out. (read timeout=5.0)"))


def _registry(clock: Clock, hold: float = FAIL_FAST_FOR) -> MlflowRegistry:
    return MlflowRegistry(URI, timeout=TIMEOUT, fail_fast=FailFast(hold=hold, clock=clock))


def _read(registry: MlflowRegistry) -> str:
    return registry.resolve("m", alias="champion").version


def test_after_a_timeout_requests_fail_at_once_for_the_hold(clock: Clock, http: Http) -> None:
    registry = _registry(clock)
    http.behave = http.time_out
    with pytest.raises(RegistryUnavailable) as first:
        _read(registry)
    assert first.value.message == f"MLflow at {URI} did not answer within 5s"
    assert http.calls == 1
    clock.now += FAIL_FAST_FOR - 0.1
    for read in (lambda: _read(registry), lambda: registry.run_metrics("r1"),
                 lambda: registry.set_alias("m", "champion", "3")):
        with pytest.raises(RegistryUnavailable) as fast:
            read()
        # Not sent (no thread held for another 5 s), in the failure's own words: a follower's
        # ModelResolved message stays the same pass after pass.
        assert fast.value.message == first.value.message
    assert http.calls == 1
    # The hold over, one request tries it again; answered, the breaker closes.
    clock.now += 0.1
    http.behave = lambda _: (200, VERSION)
    assert _read(registry) == "3"
    assert _read(registry) == "3"
    assert http.calls == 3


def test_while_one_request_tries_again_the_others_fail_fast(clock: Clock, http: Http) -> None:
    registry = _registry(clock)
    http.behave = http.time_out
    with pytest.raises(RegistryUnavailable):
        _read(registry)
    clock.now += FAIL_FAST_FOR
    seen: list[str] = []

    def trying(call: int) -> tuple[int, Any]:
        # Another thread's read while this one waits for MLflow: not sent.
        with pytest.raises(RegistryUnavailable, match="did not answer within"):
            registry.run_metrics("r1")
        seen.append("other failed fast")
        return http.time_out(call)

    http.behave = trying
    with pytest.raises(RegistryUnavailable, match="did not answer within"):
        _read(registry)
    assert seen == ["other failed fast"] and http.calls == 2
    # Timed out again: held again from this failure on.
    clock.now += FAIL_FAST_FOR - 1
    with pytest.raises(RegistryUnavailable):
        _read(registry)
    assert http.calls == 2


def test_an_error_answer_closes_it_and_a_refused_connection_never_opens_it(
        clock: Clock, http: Http) -> None:
    """Any HTTP answer is an answer (a 404 too); a refused connection costs no thread time:
    a restarted MLflow is read at once."""
    registry = _registry(clock)
    http.behave = http.time_out
    with pytest.raises(RegistryUnavailable):
        _read(registry)
    clock.now += FAIL_FAST_FOR
    http.behave = lambda _: (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"})
    with pytest.raises(RegistryNotFound):
        _read(registry)
    http.behave = http.refuse
    for _ in range(3):
        with pytest.raises(RegistryUnavailable, match=r"unreachable: .*refused"):
            _read(registry)
    assert http.calls == 5


def test_a_connection_failure_that_took_half_the_timeout_opens_it(clock: Clock,
                                                                   http: Http) -> None:
    """A name lookup that hangs, a reset after long: the thread was held alike."""
    registry = _registry(clock)

    def slow_failure(_: int) -> tuple[int, Any]:
        clock.now += TIMEOUT / 2
        raise requests.ConnectionError("Failed to resolve 'mlflow.test' (name lookup timed out)")

    http.behave = slow_failure
    with pytest.raises(RegistryUnavailable) as first:
        _read(registry)
    assert first.value.message == f"MLflow at {URI} is unreachable (no answer within 2.5s)"
    with pytest.raises(RegistryUnavailable) as fast:
        _read(registry)
    assert fast.value.message == first.value.message and http.calls == 1


def test_hold_zero_never_fails_fast(clock: Clock, http: Http) -> None:
    registry = _registry(clock, hold=0)
    http.behave = http.time_out
    for _ in range(2):
        with pytest.raises(RegistryUnavailable, match="did not answer within"):
            _read(registry)
    assert http.calls == 2


def test_every_client_of_a_tracking_uri_shares_one_breaker(http: Http) -> None:
    """Process-wide per tracking URI, whatever the credentials: each UpliftModel's client (one
    per identity, ``services.run_cache.RegistryClients``) is spared."""
    uri = "http://shared-breaker.test:5000"
    first = MlflowRegistry(uri, timeout=TIMEOUT)
    second = MlflowRegistry(uri + "/", credentials=Credentials.bearer("t"), timeout=TIMEOUT)
    try:
        assert first.fail_fast is second.fail_fast is FailFast.for_url(uri)
        assert first.fail_fast.hold == FAIL_FAST_FOR == 5.0
        assert MlflowRegistry("http://another.test:5000").fail_fast is not first.fail_fast

        def connect_timeout(_: int) -> tuple[int, Any]:
            raise requests.ConnectTimeout("connect timed out")

        http.behave = connect_timeout
        with pytest.raises(RegistryUnavailable, match="did not answer within"):
            _read(first)
        with pytest.raises(RegistryUnavailable, match="did not answer within"):
            _read(second)
        assert http.calls == 1
    finally:
        first.fail_fast.settle(None)  # leave the process-wide breaker closed


@pytest.fixture
def silent() -> Iterator[tuple[str, list[socket.socket]]]:
    """A server that accepts connections and never answers, and the connections it took."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    taken: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                taken.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", taken
    finally:
        server.close()
        for connection in taken:
            connection.close()


@pytest.mark.timeout(30)
def test_a_black_holed_mlflow_holds_one_request_not_each(
        silent: tuple[str, list[socket.socket]]) -> None:
    uri, taken = silent
    fail_fast = FailFast(hold=60)
    registries = [MlflowRegistry(uri, timeout=0.3, fail_fast=fail_fast) for _ in range(3)]
    with pytest.raises(RegistryUnavailable, match=r"did not answer within 0\.3s$"):
        _read(registries[0])
    for registry in registries:
        with pytest.raises(RegistryUnavailable, match=r"did not answer within 0\.3s$"):
            registry.run_metrics("r1")
    assert len(taken) == 1  # only the first request reached the server
