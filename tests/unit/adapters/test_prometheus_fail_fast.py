"""``PrometheusClient`` against a Prometheus that does not answer: after a query got no answer
within its timeout, the queries after it fail at once (``FailFast``) instead of each holding a
pass-pool thread for the whole timeout.

The HTTP layer is faked (``requests.Session.request``, which ``requests.get`` goes through): each
call is counted, may move the fake clock forward, and raises or answers as told.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from tests.support.fake_http import Clock, Http, installed

from uplift_operator.adapters.prometheus import (
    FAIL_FAST_FOR,
    FailFast,
    MetricsUnavailable,
    PrometheusClient,
    QueryError,
)

URL = "http://prometheus.test:9090"
TIMEOUT = 10.0
ANSWER = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1.0, "5"]}]}}


def assert_not_asked(query: Callable[[], Any]) -> None:
    """``query`` failed fast (``FailFast``), with the earlier failure's message."""
    with pytest.raises(MetricsUnavailable) as fast:
        query()
    assert not fast.value.asked and fast.value.unanswered


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Http:
    return installed(monkeypatch, Http(clock, TIMEOUT, ANSWER))


def _client(clock: Clock, hold: float = 5.0) -> PrometheusClient:
    return PrometheusClient(URL, timeout=TIMEOUT, fail_fast=FailFast(hold=hold, clock=clock))


def test_after_a_timeout_the_queries_fail_at_once_for_the_hold(clock: Clock, http: Http) -> None:
    client = _client(clock)
    http.behave = http.time_out
    with pytest.raises(MetricsUnavailable, match="did not answer within 10s") as first:
        client.query("up")
    assert first.value.unanswered and http.calls == 1
    clock.now += 4.9
    with pytest.raises(MetricsUnavailable) as fast:
        client.scalar("sum(up)")
    assert http.calls == 1  # not asked: no thread held for another 10 s
    assert fast.value.unanswered
    # Not asked, in the failure's own words: a gate's message stays the same pass after pass.
    assert fast.value.message == first.value.message and not fast.value.asked
    # The hold over, one query tries it again; answered, the breaker closes.
    clock.now += 0.1
    http.behave = lambda _: (200, ANSWER)
    assert client.scalar("sum(up)") == 5.0
    assert client.scalar("sum(up)") == 5.0
    assert http.calls == 3


def test_while_one_query_tries_again_the_others_fail_fast(clock: Clock, http: Http) -> None:
    client = _client(clock)
    http.behave = http.time_out
    with pytest.raises(MetricsUnavailable):
        client.query("up")
    clock.now += 5.0
    seen: list[str] = []

    def trying(call: int) -> tuple[int, Any]:
        # Another thread's query, while this one waits for Prometheus: not sent.
        assert_not_asked(lambda: client.query("other"))
        seen.append("other failed fast")
        return http.time_out(call)

    http.behave = trying
    with pytest.raises(MetricsUnavailable, match="did not answer within"):
        client.query("up")
    assert seen == ["other failed fast"] and http.calls == 2
    # Timed out again: held again from this failure on.
    clock.now += 4.0
    assert_not_asked(lambda: client.query("up"))
    assert http.calls == 2


def test_a_refused_connection_is_not_held(clock: Clock, http: Http) -> None:
    """Refused in a moment: nothing worth saving, and a restarted Prometheus is read at once."""
    client = _client(clock)
    http.behave = http.refuse
    for _ in range(3):
        with pytest.raises(MetricsUnavailable, match="is unreachable") as refused:
            client.query("up")
        assert refused.value.unanswered
    assert http.calls == 3
    http.behave = lambda _: (200, ANSWER)
    assert client.scalar("up") == 5.0


def test_a_connection_failure_as_slow_as_a_timeout_is_held(clock: Clock, http: Http) -> None:
    client = _client(clock)

    def slow_lookup(_: int) -> tuple[int, Any]:
        clock.now += TIMEOUT / 2  # a name lookup that hung
        raise requests.ConnectionError("Failed to resolve 'prometheus.test'")

    http.behave = slow_lookup
    with pytest.raises(MetricsUnavailable, match="is unreachable"):
        client.query("up")
    assert_not_asked(lambda: client.query("up"))
    assert http.calls == 1


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, {"status": "error", "errorType": "bad_data", "error": "parse error"}, QueryError),
    (503, {"status": "error", "errorType": "timeout", "error": "query timed out"},
     MetricsUnavailable),
])
def test_an_answered_error_closes_the_breaker(clock: Clock, http: Http, status: int,
                                              body: dict[str, Any], error: type[Exception]) -> None:
    """Prometheus answered (a query it refused, a query too slow for it): the server is there."""
    client = _client(clock)
    http.behave = http.time_out
    with pytest.raises(MetricsUnavailable):
        client.query("up")
    clock.now += 5.0
    http.behave = lambda _: (status, body)
    with pytest.raises(error) as answered:
        client.query("up")
    assert not getattr(answered.value, "unanswered", False)
    with pytest.raises(error):
        client.query("up")
    assert http.calls == 3


def test_hold_zero_never_fails_fast(clock: Clock, http: Http) -> None:
    client = _client(clock, hold=0)
    http.behave = http.time_out
    for _ in range(2):
        with pytest.raises(MetricsUnavailable, match="did not answer within"):
            client.query("up")
    assert http.calls == 2


def test_every_client_of_a_url_shares_one_breaker(http: Http) -> None:
    """Process-wide per URL: each resource's analysis, whatever client it holds, is spared."""
    url = "http://shared-breaker.test:9090"
    first, second = PrometheusClient(url, timeout=TIMEOUT), PrometheusClient(url + "/")
    assert first.fail_fast is second.fail_fast is FailFast.for_url(url)
    assert first.fail_fast.hold == FAIL_FAST_FOR == 5.0
    assert PrometheusClient("http://another.test:9090").fail_fast is not first.fail_fast
    http.behave = lambda _: (_ for _ in ()).throw(requests.ConnectTimeout("connect timed out"))
    with pytest.raises(MetricsUnavailable, match="did not answer within"):
        first.query("up")
    assert_not_asked(lambda: second.query("up"))
    assert http.calls == 1
    first.fail_fast.settle(None)  # leave the process-wide breaker closed
