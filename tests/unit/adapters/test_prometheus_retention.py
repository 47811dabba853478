"""Prometheus' storage retention: ``parse_retention`` reads runtimeinfo's ``storageRetention``,
``query_reach`` how far back a query reads, and ``PrometheusClient.storage_retention`` reads
the retention at most hourly, one read at a time, a failure being "unknown" (no check), never
an error. The gates' check against it: tests/unit/services/test_measurements_retention.py."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pytest
import requests

from uplift_operator.adapters.prometheus import (
    LOOKBACK,
    RETENTION_READ_EVERY,
    FailFast,
    MetricsUnavailable,
    PrometheusClient,
    StorageRetention,
    parse_retention,
    query_reach,
)
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases

DAY = 86400.0

# storageRetention as Prometheus writes it (web.go runtimeInfo: the time flag's
# model.Duration, " or ", the size flag's units.Base2Bytes; nothing when neither is set).
RETENTIONS = [
    ("15d", 15 * DAY),                  # the default
    ("15d or 10GiB", 15 * DAY),         # a time and a size: the time is the bound known
    ("10GiB", None),                    # a size only: unknown in time
    ("512MiB or 6h", 6 * 3600.0),
    ("1d12h", 1.5 * DAY),
    ("10y", 3650 * DAY),                # model.Duration writes 3650d so (a year is 365 days)
    ("2w", 14 * DAY),
    ("90m", 5400.0),
    ("1h30m15s500ms", 5415.5),
    ("0s", None),
    ("", None),
    (None, None),
    (15, None),
    ("15 days", None),                  # a form not known: no check rather than a wrong one
    ("15d or forever", None),
]


@pytest.mark.parametrize(("text", "seconds"), RETENTIONS, ids=[repr(r[0]) for r in RETENTIONS])
def test_storage_retention_parses(text: object, seconds: float | None) -> None:
    assert parse_retention(text) == seconds


REACHES = [
    ('sum(increase(uplift_requests_total{version="2"}[1468800s]))', 1468800.0),
    ('sum by (arm) (increase(x{a="b"}[172800s] offset 1209600s)) or vector(0)', 1382400.0),
    # ``_scraped_late``: an instant selector an offset back reads a lookback before it.
    ('sum by (version) (m{version=~"1|2"} offset 600s)', 600.0 + LOOKBACK),
    ("rate(x[5m])", 300.0),
    # A subquery reads what it applies to its range (and offset) back: the inner ranges and
    # offsets add to it, at every depth.
    ("max_over_time(rate(x[5m])[1h:1m] offset 1d)", 3600.0 + DAY + 300.0),
    ("max_over_time(rate(x[5m] offset 1d)[1h:1m])", DAY + 3600.0 + 300.0),
    ("max_over_time((x offset 1d)[1h:])", DAY + LOOKBACK + 3600.0),
    ("max_over_time((rate(x[5m]) + rate(y[10m] offset 2h))[1h:1m])", 2 * 3600 + 600 + 3600.0),
    ("max_over_time(avg_over_time(rate(x[5m])[1h:1m])[1d:5m])", 300.0 + 3600.0 + DAY),
    ("max_over_time(rate(x[5m])[1h:1m]) + rate(y[2h])", 2 * 3600.0),  # not inside: its own
    ("min_over_time(x{a=\"b\"}[30m:1m] offset 1h) + rate(z[5m] offset 1d)", DAY + 300.0),
    # Keywords are case-insensitive.
    ("x OFFSET 20d", 20 * DAY + LOOKBACK),
    ("rate(x[5m] Offset 1d)", DAY + 300.0),
    ("max_over_time(rate(x[5m] OFFSET 1d)[1h:1m])", DAY + 3600.0 + 300.0),
    ('sum(my_offset{offset="1d"})', 0.0),  # a name or a label, no modifier
    ("rate(x[5m] offset -1h)", 0.0),
    ('sum(rate(x{path=~"/v[0-9]+/[0-9]d"}[2m]))', 120.0),  # a regex's brackets are not ranges
    ("up", 0.0),
    ("x @ 1700000000", None),            # an instant of its own: not told from the text
    ("histogram_quantile(0.95, sum by (le) (rate(b[300s])))", 300.0),
    # An aggregation's grouping after its arguments (as before them, ``sum by (x) (...)``):
    # the subquery applies to it all.
    ("max_over_time(sum(rate(y[5m] offset 1d)) by (x)[1h:1m])", DAY + 3600.0 + 300.0),
    ("max_over_time(sum(rate(y[5m] offset 1d)) without (x)[2h:1m])", DAY + 7200.0 + 300.0),
    ("max_over_time(sum(rate(y[5m] offset 1d))BY(x) [1h:1m])", DAY + 3600.0 + 300.0),
    ("max_over_time(sum(rate(y[5m] offset 1d))\n  Without (x, z)\n[1h:1m])",
     DAY + 3600.0 + 300.0),
    ("max_over_time(max(avg_over_time(sum(rate(y[5m])) by (x)[1h:1m] offset 2h)) by (z)"
     "[1d:5m])", 300.0 + 3600.0 + 2 * 3600.0 + DAY),
    # Read from the syntax tree, what a subquery applies to is what the grammar says: a
    # selector's offset before its ``[`` included (a backwards scan of the text from the ``[``
    # stopped at the offset's duration), a ``}`` in a label value or not, at every depth.
    ("max_over_time(x offset 1d[1h:1m])", DAY + LOOKBACK + 3600.0),
    ('max_over_time(x{a="b"} offset 1d [1h:1m])', DAY + LOOKBACK + 3600.0),
    ('max_over_time({__name__="x", a="}"} offset 1d [1h:1m])', DAY + LOOKBACK + 3600.0),
    ("max_over_time(max_over_time(x offset 1d[1h:1m] offset 1h)[1d:1h])",
     DAY + LOOKBACK + 3600.0 + 3600.0 + DAY),
    # A comment between a range and its offset, or before a subquery's ``[``.
    ("rate(x[10m] # the last ten minutes\n offset 1d)", DAY + 600.0),
    ("max_over_time(rate(x[5m] offset 1d) # per minute\n[1h:1m])", DAY + 3600.0 + 300.0),
    # A subquery reads what its operand reads at each instant of its range: ahead of those
    # with a negative offset, and nothing with no selector in it.
    ("max_over_time(rate(x[5m] offset -1h)[2h:])", 2 * 3600.0 - 3600.0 + 300.0),
    ("max_over_time(vector(1)[1h:])", 0.0),
    # An aggregation's parameter is an expression too.
    ("topk(scalar(max_over_time(y[1d] offset 2d)), x offset 1h)", 3 * DAY),
    # Prometheus 2's holt_winters parses (domain.promql registers it).
    ("holt_winters(rate(x[5m] offset 1d)[1h:1m], 0.5, 0.5)", DAY + 3600.0 + 300.0),
    # Strings and comments are neither ranges, offsets nor ``@``.
    ('max_over_time(x{a="[5m]", b="offset 1h", c="@"}[1h:1m])', 3600.0),
    ('sum(rate(x{path=~"/v[0-9]+"}[2m])) # was x[5d] offset 1w @ 0', 120.0),
    ("x @ start()", None),
    ("rate(x[5m] @ end())", None),
    ("max_over_time(rate(x[5m])[1h:1m] offset 1d @ end())", None),
]


@pytest.mark.parametrize(("promql", "reach"), REACHES, ids=[r[0][:40] for r in REACHES])
def test_how_far_back_a_query_reads(promql: str, reach: float | None) -> None:
    assert query_reach(promql) == reach


# Texts the parser refuses (``domain.validation`` refuses them as a gate query): how far back
# they read is not told, so they are not checked against the retention, never an error; the
# query is asked as it is and Prometheus' answer is the gate's. Nor is a duration too long for
# a ``timedelta`` (2.7 million years).
UNTOLD = ["rate(x[5m]", "sum(", "", "rate(x[5m] offset 1d) +", "x offset 0s", "x[99999999y]",
          'max_over_time(x{a="b"}[1h:1m] offset 1d']


@pytest.mark.parametrize("promql", UNTOLD)
def test_a_query_the_parser_refuses_reaches_back_unknown(promql: str) -> None:
    assert query_reach(promql) is None


def test_a_parser_failure_reaches_back_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(query: str) -> Any:
        raise RuntimeError("the parser failed")

    monkeypatch.setattr(promql_parser, "parse", broken)
    assert query_reach("rate(x[5m] offset 1d)") is None


class Status:
    """Prometheus' status endpoints behind ``requests``: records (method, path)."""

    def __init__(self, retention: str | None = "15d", config: str = "global: {}\n",
                 status: int = 200) -> None:
        self.retention, self.config, self.status = retention, config, status
        self.asked: list[tuple[str, str]] = []
        self.during: list[Any] = []  # what a call made while a read is under way returned
        self.client: PrometheusClient | None = None

    def request(self, method: str, url: str, **_: Any) -> requests.Response:
        path = url.split("9090", 1)[1]
        self.asked.append((method, path))
        if self.client is not None and len(self.asked) == 1:
            self.during.append(self.client.storage_retention())
        response = requests.Response()
        response.url, response.status_code = url, self.status
        if self.status == 404:
            response._content = b"404 page not found\n"
            return response
        data: dict[str, Any] = ({"storageRetention": self.retention}
                                if path.endswith("runtimeinfo") else {"yaml": self.config})
        if self.retention is None:
            data.pop("storageRetention", None)
        response._content = json.dumps({"status": "success", "data": data}).encode()
        return response


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(monkeypatch: pytest.MonkeyPatch, status: Status,
            clock: Clock | None = None) -> PrometheusClient:
    monkeypatch.setattr(requests.Session, "request", status.request)
    return PrometheusClient("http://prometheus.test:9090",
                            fail_fast=FailFast(hold=5.0, clock=clock or Clock()))


def test_the_retention_is_read_with_get_at_most_hourly(monkeypatch: pytest.MonkeyPatch) -> None:
    status, clock = Status("15d or 10GiB"), Clock()
    client = _client(monkeypatch, status, clock)
    assert client.storage_retention() == StorageRetention(15 * DAY, "15d or 10GiB")
    # GET (Prometheus takes no POST there); the configuration, for a remote_read.
    assert status.asked == [("GET", "/api/v1/status/runtimeinfo"),
                            ("GET", "/api/v1/status/config")]
    clock.now += RETENTION_READ_EVERY - 1
    assert client.storage_retention() == StorageRetention(15 * DAY, "15d or 10GiB")
    assert len(status.asked) == 2
    status.retention = "30d"
    clock.now += 1
    assert client.storage_retention() == StorageRetention(30 * DAY, "30d")
    assert len(status.asked) == 4
    # A query still goes POSTed: the status reads changed nothing of that.
    assert client._post


@pytest.mark.parametrize(("status", "why"), [
    (Status(status=404), "a server without runtimeinfo"),
    (Status("10GiB"), "a size only"),
    (Status(""), "Thanos' querier: a runtimeinfo without a retention"),
    (Status(None), "no storageRetention field"),
    (Status("15d", config="remote_read:\n- url: http://store/read\n"), "older samples elsewhere"),
])
def test_a_retention_not_known_in_time_is_none_for_the_hour(
        monkeypatch: pytest.MonkeyPatch, status: Status, why: str) -> None:
    clock = Clock()
    client = _client(monkeypatch, status, clock)
    assert client.storage_retention() is None, why
    asked = len(status.asked)
    clock.now += 60
    assert client.storage_retention() is None
    assert len(status.asked) == asked  # answered: it stands for the hour


def test_a_read_not_sent_is_tried_again_and_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    status, clock = Status("15d"), Clock()
    client = _client(monkeypatch, status, clock)
    # The breaker open (a query got no answer a moment ago): not sent, unknown, no error.
    client.fail_fast.admit()
    client.fail_fast.settle(MetricsUnavailable("prometheus at x did not answer within 10s",
                                               unanswered=True))
    assert client.storage_retention() is None and status.asked == []
    clock.now += 6  # the breaker lets one request try: this read
    assert client.storage_retention() == StorageRetention(15 * DAY, "15d")
    client.fail_fast.admit()  # and the answer closed the breaker


def test_a_read_under_way_is_not_waited_for_nor_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    status = Status("15d")
    client = _client(monkeypatch, status)
    status.client = client  # asks again while its first request is being answered
    assert client.storage_retention() == StorageRetention(15 * DAY, "15d")
    assert status.during == [None]  # the last outcome (none yet), at once
    assert len(status.asked) == 2


def test_no_answer_within_the_timeout_is_unknown_and_opens_the_breaker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def timeout(_session: requests.Session, method: str, url: str,
                **_: Any) -> requests.Response:
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(requests.Session, "request", timeout)
    client = PrometheusClient("http://prometheus.test:9090",
                              fail_fast=FailFast(hold=5.0, clock=Clock()))
    assert client.storage_retention() is None
    with pytest.raises(MetricsUnavailable) as fast:
        client.scalar("up")
    assert not fast.value.asked
    assert fast.value.message == "prometheus at http://prometheus.test:9090 did not answer within 10s"


class NoRetention:
    def query(self, promql: str, time: Any = None) -> list[Any]:
        return []


def test_the_long_range_source_tells_its_clients_retention(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's source (``handlers.lifecycle.metric_source``) is ``PiecewiseIncreases``
    in front of the client: the gates ask it."""
    client = _client(monkeypatch, Status("15d"))
    assert PiecewiseIncreases(client).storage_retention() == StorageRetention(15 * DAY, "15d")
    assert PiecewiseIncreases(NoRetention()).storage_retention() is None
