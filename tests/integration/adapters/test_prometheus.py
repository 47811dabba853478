"""PrometheusClient against a real Prometheus scraping a metrics endpoint the test controls."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.integration.adapters.conftest import TARGET_LABELS
from tests.support.metrics_endpoint import MetricsEndpoint

from uplift_operator.adapters.prometheus import (
    BasicAuth,
    MetricsUnavailable,
    PrometheusClient,
    QueryError,
    Sample,
)
from uplift_operator.devenv import process
from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget

pytestmark = pytest.mark.integration

# A gate template as the operator would render it: labels from the UpliftModel/Campaign.
TEMPLATE = ('sum(uplift_test_requests_total{{namespace="{namespace}",predictor="{predictor}",'
            'version="{version}",code="200"}})')


def eventually(read: Callable[[], object], expected: object, *, timeout: float = 30.0) -> None:
    """Wait until ``read()`` returns ``expected`` (Prometheus applies targets after ~5 s)."""
    seen: list[object] = []

    def check() -> bool:
        seen.append(read())
        return seen[-1] == expected

    try:
        process.wait_until(check, timeout=timeout, what=f"waiting for {expected!r}", interval=0.25)
    except TimeoutError as exc:
        raise AssertionError(f"never saw {expected!r}; last: {seen[-1:]!r}") from exc


@pytest.fixture(scope="module")
def client(prometheus: PrometheusServer) -> PrometheusClient:
    # A fractional timeout on purpose: it is also sent to Prometheus, which must accept it.
    return PrometheusClient(prometheus.url, timeout=2.5)


def test_template_with_labels_returns_the_value_the_test_set(
        metrics_endpoint: MetricsEndpoint, client: PrometheusClient) -> None:
    requests_total = metrics_endpoint.counter("uplift_test_requests", ["code"])
    requests_total.labels("200").inc(42)
    requests_total.labels("500").inc(3)
    query = TEMPLATE.format(**TARGET_LABELS)

    eventually(lambda: client.scalar(query), 42.0)
    requests_total.labels("200").inc(8)
    eventually(lambda: client.scalar(query), 50.0)

    samples = client.query('uplift_test_requests_total{namespace="uplift-test"}')
    by_code = {s.labels["code"]: s for s in samples}
    assert by_code["500"].value == 3.0
    assert by_code["200"].labels["predictor"] == "canary"
    assert by_code["200"].labels["job"] == "seldon"
    assert by_code["200"].timestamp == pytest.approx(time.time(), abs=60)
    # Other labels select nothing: no data, not zero.
    assert client.scalar(TEMPLATE.format(namespace="uplift-test", predictor="stable", version="3")) is None


def test_histogram_quantile_over_a_filled_histogram(
        metrics_endpoint: MetricsEndpoint, client: PrometheusClient) -> None:
    latency = metrics_endpoint.histogram("uplift_test_latency_seconds", ["service"])
    for _ in range(90):
        latency.labels("predictions").observe(0.02)   # bucket (0.01, 0.025]
    for _ in range(10):
        latency.labels("predictions").observe(0.7)    # bucket (0.5, 1.0]
    count = 'sum(uplift_test_latency_seconds_count{predictor="canary"})'
    eventually(lambda: client.scalar(count), 100.0)

    def quantile(q: float) -> float | None:
        return client.scalar(f'histogram_quantile({q}, sum by (le) '
                             f'(uplift_test_latency_seconds_bucket{{predictor="canary"}}))')

    # Linear interpolation inside the bucket holding the rank.
    assert quantile(0.5) == pytest.approx(0.01 + 0.015 * 50 / 90)
    assert quantile(0.95) == pytest.approx(0.5 + 0.5 * 5 / 10)


def test_no_data_nan_and_infinities(metrics_endpoint: MetricsEndpoint, client: PrometheusClient) -> None:
    assert client.query("uplift_test_never_exported") == []
    assert client.scalar("uplift_test_never_exported") is None
    assert client.scalar("0/0") is None                       # a NaN scalar counts as no data
    assert client.scalar("1/0") == math.inf
    assert client.scalar("-1/0") == -math.inf
    [sample] = client.query("0/0")
    assert sample.labels == {}
    assert math.isnan(sample.value)

    zero = metrics_endpoint.gauge("uplift_test_zero")
    zero.set(0)
    eventually(lambda: client.scalar("sum(uplift_test_zero)"), 0.0)
    ratio = "sum(uplift_test_zero) / sum(uplift_test_zero)"     # 0/0 over a vector
    [nan_sample] = client.query(ratio)
    assert math.isnan(nan_sample.value)
    assert client.scalar(ratio) is None


def test_bad_queries_raise_query_error_with_prometheus_text(
        metrics_endpoint: MetricsEndpoint, client: PrometheusClient) -> None:
    with pytest.raises(QueryError) as parse:
        client.query("sum(rate(uplift_test_requests_total[1m])")
    assert parse.value.status_code == 400
    assert parse.value.error_type == "bad_data"
    assert "parse error" in str(parse.value)

    # Two metrics with the same labels once the name is dropped: 422 execution error.
    for name in ("uplift_test_twin_a", "uplift_test_twin_b"):
        metrics_endpoint.gauge(name).set(1)
    eventually(lambda: len(client.query('{__name__=~"uplift_test_twin_.+"}')), 2)
    with pytest.raises(QueryError) as execution:
        client.query('{__name__=~"uplift_test_twin_.+"} * 2')
    assert execution.value.status_code == 422
    assert execution.value.error_type == "execution"
    assert "same labelset" in str(execution.value)


def test_result_shapes_a_gate_cannot_use(client: PrometheusClient) -> None:
    with pytest.raises(QueryError, match="matrix"):
        client.query("up[1m]")
    with pytest.raises(QueryError, match="string"):
        client.query('"text"')
    with pytest.raises(QueryError, match="series, expected one"):
        client.scalar('label_replace(vector(1), "a", "x", "", "") '
                      'or label_replace(vector(2), "a", "y", "", "")')


def test_set_targets_reloads_and_scrapes_the_new_target(
        prometheus: PrometheusServer, metrics_endpoint: MetricsEndpoint, client: PrometheusClient) -> None:
    with MetricsEndpoint() as stable:
        stable.gauge("uplift_test_stable_only").set(7)
        targets = [*prometheus.targets,
                   ScrapeTarget(stable.target, job="seldon", metrics_path="/prometheus",
                                labels={**TARGET_LABELS, "predictor": "stable"})]
        prometheus.set_targets(targets)
        eventually(lambda: client.scalar('uplift_test_stable_only{predictor="stable"}'), 7.0)
        prometheus.set_targets(targets[:1])


def test_stopped_server_is_unavailable_and_restarts_on_the_same_storage() -> None:
    with MetricsEndpoint() as endpoint, PrometheusServer(
            [ScrapeTarget(endpoint.target, labels=TARGET_LABELS)]) as server:
        client = PrometheusClient(server.url, timeout=2.0)
        endpoint.gauge("uplift_test_restart").set(5)
        eventually(lambda: client.scalar("uplift_test_restart"), 5.0)
        before = time.time()

        server.stop()
        with pytest.raises(MetricsUnavailable, match="unreachable") as down:
            client.scalar("uplift_test_restart")
        assert down.value.status_code is None

        server.start()
        # The data written before the stop is still there...
        assert client.scalar("uplift_test_restart", time=before) == 5.0
        # ...and scraping resumes.
        endpoint.gauge("uplift_test_restart_after").set(6)
        eventually(lambda: client.scalar("uplift_test_restart_after"), 6.0)


def test_timeout_is_unavailable() -> None:
    # A listening socket that never accepts: the connection succeeds, the answer never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(MetricsUnavailable, match=r"did not answer within 0\.5s"):
            client.query("up")
        assert time.monotonic() - started < 5


class _Canned(BaseHTTPRequestHandler):
    """Answers every request with the status/body in ``server.reply``; records headers."""

    def do_GET(self) -> None:
        status, body = self.server.reply  # type: ignore[attr-defined]
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server for answers a healthy Prometheus will not give on demand (503, 401)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.reply = (200, {})  # type: ignore[attr-defined]
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_5xx_and_auth_failures_are_unavailable(canned: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{canned.server_address[1]}"
    client = PrometheusClient(url, timeout=2.0, basic_auth=BasicAuth("gate", "s3cret"),
                              headers={"X-Scope-OrgID": "uplift"})
    canned.reply = (503, {"status": "error", "errorType": "timeout",  # type: ignore[attr-defined]
                          "error": "query timed out in expression evaluation"})
    with pytest.raises(MetricsUnavailable, match="query timed out") as timeout:
        client.query("up")
    assert (timeout.value.status_code, timeout.value.error_type) == (503, "timeout")

    canned.reply = (401, "Unauthorized\n")  # type: ignore[attr-defined]
    with pytest.raises(MetricsUnavailable, match=r"HTTP 401.*Unauthorized"):
        client.query("up")

    headers = canned.seen[-1]  # type: ignore[attr-defined]
    assert headers["Authorization"] == "Basic Z2F0ZTpzM2NyZXQ="   # base64("gate:s3cret")
    assert headers["X-Scope-OrgID"] == "uplift"
    bearer = PrometheusClient(url, bearer_token="t0ken")
    canned.reply = (200, {"status": "success",  # type: ignore[attr-defined]
                          "data": {"resultType": "vector", "result": [
                              {"metric": {"a": "b"}, "value": [1.5, "+Inf"]}]}})
    assert bearer.query("up") == [Sample(labels={"a": "b"}, value=math.inf, timestamp=1.5)]
    assert canned.seen[-1]["Authorization"] == "Bearer t0ken"  # type: ignore[attr-defined]
    assert "s3cret" not in repr(client)
