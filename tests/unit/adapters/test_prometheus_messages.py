"""``PrometheusClient``'s error messages are short and stable: the server and the cause class
(refused, timed out, HTTP 5xx with Prometheus' own error, a query it refused). They reach a
gate's status and the Ready/Degraded message; the client library's text (urllib3's pool and
connection reprs, the URL-encoded query) goes to the log only."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest
import requests

from uplift_operator.adapters.prometheus import (
    PARTIAL,
    FailFast,
    MetricsUnavailable,
    OverLimits,
    PrometheusClient,
    PrometheusError,
    QueryError,
)

QUERY = 'sum(rate(uplift_requests_total{version="2"}[5m]))'


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: a connection to it is refused


def test_a_refused_connection_says_so_in_a_few_stable_words(
        caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    client = PrometheusClient(url, fail_fast=FailFast(hold=0))
    messages = []
    with caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"):
        for promql in (QUERY, QUERY.replace("5m", "6m")):
            with pytest.raises(MetricsUnavailable) as refused:
                client.scalar(promql)
            messages.append(refused.value.message)
    assert messages == [f"prometheus at {url} is unreachable (connection refused)"] * 2
    # The detail, and the query as written (not URL-encoded), in the log only.
    assert QUERY in caplog.text and "Connection refused" in caplog.text


def _answering(monkeypatch: pytest.MonkeyPatch, status: int, body: bytes) -> None:
    def request(_session: requests.Session, method: str, url: str,
                **_: Any) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content, response.url = status, body, url
        return response
    monkeypatch.setattr(requests.Session, "request", request)


def test_a_5xx_gives_prometheus_own_error_and_a_proxy_page_stays_out(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    client = PrometheusClient("http://prometheus.test:9090", fail_fast=FailFast(hold=0))
    _answering(monkeypatch, 503, json.dumps({"status": "error", "errorType": "timeout",
                                             "error": "query timed out in expression evaluation"
                                             }).encode())
    with pytest.raises(MetricsUnavailable) as busy:
        client.scalar(QUERY)
    assert busy.value.message == ("prometheus answered HTTP 503 (timeout): "
                                  "query timed out in expression evaluation")
    texts = []
    for request_id in ("a1", "b2"):
        _answering(monkeypatch, 502, f"<html>Bad Gateway, request {request_id}</html>".encode())
        with caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"), \
                pytest.raises(MetricsUnavailable) as proxy:
            client.scalar(QUERY)
        texts.append(proxy.value.message)
    assert texts == ["prometheus answered HTTP 502 Bad Gateway without an API response"] * 2
    assert "request b2" in caplog.text


def test_a_long_prometheus_error_is_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    client = PrometheusClient("http://prometheus.test:9090", fail_fast=FailFast(hold=0))
    _answering(monkeypatch, 400, json.dumps({"status": "error", "errorType": "bad_data",
                                             "error": "parse error:\n" + "x" * 5000}).encode())
    with pytest.raises(QueryError) as bad:
        client.scalar(QUERY)
    assert len(bad.value.message) <= 200 and "\n" not in bad.value.message


# (id, warnings, what the answer is): a success answer with warnings is partial (Thanos'
# partial response, a failed remote read); without any it is the data.
ENVELOPES = [
    ("warnings", ["No StoreAPIs matched for this query", "remote_read: endpoint failed"],
     "prometheus answered a partial result: No StoreAPIs matched for this query; "
     "remote_read: endpoint failed"),
    ("no warnings", [], 7.0),
    ("warnings null", None, 7.0),
    # PromQL's annotations (Thanos, Prometheus 2.46-2.53 before its "infos" field): about the
    # query, every series there; refused, the gate held for ever.
    ("promql info: not a counter", [
        'PromQL info: metric might not be a counter, name does not end in '
        '_total/_sum/_count/_bucket: "nginx_ingress_controller_requests" (1:10)'], 7.0),
    ("promql info: monotonicity", [
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see "
        "https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) "
        'for metric name ""'], 7.0),
    ("promql warning", ['PromQL warning: encountered a mix of histograms and floats for '
                        'metric name "x"'], 7.0),
    ("an annotation beside a missing store", [
        "PromQL info: metric might not be a counter", "No StoreAPIs matched for this query"],
     "prometheus answered a partial result: No StoreAPIs matched for this query"),
]


@pytest.mark.parametrize(("warnings", "answer"), [row[1:] for row in ENVELOPES],
                         ids=[row[0] for row in ENVELOPES])
def test_a_success_answer_with_warnings_is_partial(monkeypatch: pytest.MonkeyPatch,
                                                   warnings: list[str] | None,
                                                   answer: str | float) -> None:
    client = PrometheusClient("http://thanos.test:9090", fail_fast=FailFast(hold=0))
    _answering(monkeypatch, 200, json.dumps({
        "status": "success", "warnings": warnings,
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "7"]}]}}).encode())
    if isinstance(answer, float):
        assert client.scalar(QUERY) == answer
        return
    with pytest.raises(MetricsUnavailable) as partial:
        client.scalar(QUERY)
    assert (partial.value.message, partial.value.error_type) == (answer, PARTIAL)
    assert not partial.value.unanswered  # the server answered: the analysis asks on


# (id, status, body, error class, message): a query refused for a limit of the server's is its
# capacity's matter (OverLimits, a MetricsUnavailable), never a "bad query"; Prometheus' other
# refusals still are.
def _api_error(error_type: str, error: str) -> bytes:
    return json.dumps({"status": "error", "errorType": error_type, "error": error}).encode()


LIMITS = [
    ("max-samples", 422, _api_error(
        "execution", "query processing would load too many samples into memory in query "
        "execution"), OverLimits, "prometheus over its query limits (HTTP 422, execution): "
     "query processing would load too many samples into memory in query execution"),
    ("mimir chunks", 422, _api_error(
        "execution", "the query exceeded the maximum number of chunks (limit: 2000000 chunks)"),
     OverLimits, "prometheus over its query limits (HTTP 422, execution): the query exceeded "
     "the maximum number of chunks (limit: 2000000 chunks)"),
    ("429 with an API body", 429, _api_error("unavailable", "too many outstanding requests"),
     OverLimits, "prometheus over its query limits (HTTP 429, unavailable): too many "
     "outstanding requests"),
    ("429 from a proxy", 429, b"<html>slow down</html>", OverLimits,
     "prometheus answered HTTP 429 Too Many Requests: over its query limits"),
    ("another execution error", 422, _api_error(
        "execution", "vector cannot contain metrics with the same labelset"), QueryError,
     "vector cannot contain metrics with the same labelset"),
    ("a parse error", 400, _api_error(
        "bad_data", 'invalid parameter "query": 1:8: parse error: unexpected "limitk"'),
     QueryError, 'invalid parameter "query": 1:8: parse error: unexpected "limitk"'),
    # A parse error quoting the word "limit" is the query's fault, not the server's limits.
    ("a parse error quoting limit", 400, _api_error(
        "bad_data", 'invalid parameter "query": 1:38: parse error: unexpected identifier '
        '"limit"'), QueryError,
     'invalid parameter "query": 1:38: parse error: unexpected identifier "limit"'),
    ("a bad_data naming a series limit", 400, _api_error(
        "bad_data", 'parse error: unexpected identifier "series_limit"'), QueryError,
     'parse error: unexpected identifier "series_limit"'),
    ("thanos series limit", 422, _api_error(
        "execution", "expanding series: exceeded series limit: limit 1000 violated"),
     OverLimits, "prometheus over its query limits (HTTP 422, execution): expanding series: "
     "exceeded series limit: limit 1000 violated"),
    # A timeout stays a counted failure (docs/reliability.md), never a limit that holds.
    ("thanos timeout 503", 503, _api_error(
        "internal", "rpc error: code = DeadlineExceeded desc = context deadline exceeded"),
     MetricsUnavailable, "prometheus answered HTTP 503 (internal): rpc error: code = "
     "DeadlineExceeded desc = context deadline exceeded"),
    ("thanos timeout 422", 422, _api_error(
        "execution", "expanding series: context deadline exceeded"), MetricsUnavailable,
     "prometheus answered HTTP 422 (execution): expanding series: context deadline exceeded"),
]


# (id, error text): Thanos' querier, asked with partial_response=false, answers 422 execution
# when a store behind it does not answer: a held partial answer, never a counted "bad query".
STORES_DOWN = [
    ("no store matched", "expanding series: proxy Series(): rpc error: code = Aborted desc = "
     "No StoreAPIs matched for this query"),
    ("a store unavailable", 'expanding series: receive series from Addr: 10.0.0.7:10901 '
     'LabelSets: {prometheus_replica="b"}: rpc error: code = Unavailable desc = connection '
     "error"),
]


@pytest.mark.parametrize("error", [row[1] for row in STORES_DOWN],
                         ids=[row[0] for row in STORES_DOWN])
def test_a_store_down_behind_thanos_is_partial_not_a_bad_query(
        monkeypatch: pytest.MonkeyPatch, error: str) -> None:
    client = PrometheusClient("http://thanos.test:9090", fail_fast=FailFast(hold=0))
    _answering(monkeypatch, 422, _api_error("execution", error))
    with pytest.raises(PrometheusError) as down:
        client.scalar(QUERY)
    assert type(down.value) is MetricsUnavailable
    assert down.value.error_type == PARTIAL
    assert down.value.message == f"a store behind the querier did not answer (HTTP 422): {error}"
    assert not down.value.unanswered  # the querier answered: the analysis asks on


@pytest.mark.parametrize(("status", "body", "error", "message"), [row[1:] for row in LIMITS],
                         ids=[row[0] for row in LIMITS])
def test_a_query_over_the_servers_limits_is_not_a_bad_query(
        monkeypatch: pytest.MonkeyPatch, status: int, body: bytes,
        error: type[Exception], message: str) -> None:
    client = PrometheusClient("http://prometheus.test:9090", fail_fast=FailFast(hold=0))
    _answering(monkeypatch, status, body)
    with pytest.raises(PrometheusError) as refused:
        client.scalar(QUERY)
    assert type(refused.value) is error
    assert refused.value.message == message


def test_failing_fast_repeats_the_failure_word_for_word(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that hit the breaker and one that timed out must give the gate the same text."""
    def time_out(*_: Any, **__: Any) -> requests.Response:
        raise requests.ReadTimeout("HTTPConnectionPool(host='p', port=9090): Read timed out.")
    monkeypatch.setattr(requests.Session, "request", time_out)
    client = PrometheusClient("http://prometheus.test:9090", timeout=10,
                              fail_fast=FailFast(hold=60))
    with pytest.raises(MetricsUnavailable) as first:
        client.scalar(QUERY)
    with pytest.raises(MetricsUnavailable) as fast:
        client.scalar(QUERY)
    assert first.value.message == "prometheus at http://prometheus.test:9090 did not answer within 10s"
    assert (fast.value.message, fast.value.asked, first.value.asked) == (
        first.value.message, False, True)


@pytest.mark.parametrize("status", [400, 422])
def test_a_400_without_prometheus_envelope_is_a_proxys_not_a_bad_query(
        monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """Prometheus answers every API error in JSON; a page without it comes from a proxy in
    front (a WAF, a header limit). Before, it was "bad query: prometheus rejected the query",
    a spec fault that named no proxy."""
    client = PrometheusClient("http://prometheus.test:9090", fail_fast=FailFast(hold=0))
    _answering(monkeypatch, status, b"<html><h1>400 Bad Request</h1>Request Header Or Cookie "
                                    b"Too Large</html>")
    with pytest.raises(PrometheusError) as proxy:
        client.scalar(QUERY)
    assert type(proxy.value) is MetricsUnavailable and not proxy.value.unanswered
    assert proxy.value.status_code == status
    phrase = "Bad Request" if status == 400 else "Unprocessable Entity"
    assert proxy.value.message == (f"prometheus answered HTTP {status} {phrase} without an API "
                                   "response")
