"""One analysis against a Prometheus that does not answer: the first unanswered query fails the
rest of the analysis's queries at once (``AnalysisQueries``), and the gates read exactly what
they read when each asked and got its own Error: the same verdicts, messages, and errors in a
row towards ``consecutiveErrorLimit``. A query Prometheus refused on its own is not kept.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import requests
from tests.unit.services import test_campaign as tc
from tests.unit.services import test_upliftmodel as tu
from tests.unit.services.fakes import FakeMetrics

from uplift_operator.adapters.prometheus import (
    PARTIAL,
    FailFast,
    MetricsUnavailable,
    OverLimits,
    PrometheusClient,
    QueryError,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import measurements as m
from uplift_operator.domain import templates
from uplift_operator.services import measurements

TIMED_OUT = "prometheus at http://prometheus:9090 did not answer within 10s: Read timed out."


class Silent:
    """Every query fails as a black-holed Prometheus's does; ``unanswered=False`` is the same
    failure as the services saw it before they told the two apart (each query asked)."""

    def __init__(self, unanswered: bool = True) -> None:
        self.unanswered = unanswered
        self.calls = 0

    def _fail(self) -> Any:
        self.calls += 1
        raise MetricsUnavailable(TIMED_OUT, unanswered=self.unanswered)

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Any]:
        return self._fail()  # type: ignore[no-any-return]

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return self._fail()  # type: ignore[no-any-return]


def _campaign_in_its_cohorts() -> tc.Sim:
    """The sample Campaign 15 days into its first step: every gate reads Prometheus."""
    sim = tc.Sim()
    sim.tick()
    for _ in range(3):
        sim.tick(5)
    sim.now += dt.timedelta(days=15)
    return sim


def _analyses(sim: tc.Sim, source: Silent, passes: int = 2) -> list[dict[str, Any]]:
    sim = copy.deepcopy(sim)
    sim.deps = replace(sim.deps, prometheus=source)
    for _ in range(passes):
        sim.tick(5)
    return [dict(g) for g in sim.status["gates"]]


def test_a_campaign_analysis_asks_a_silent_prometheus_once() -> None:
    sim = _campaign_in_its_cohorts()
    once, each = Silent(), Silent(unanswered=False)
    gates = _analyses(sim, once)
    assert gates == _analyses(sim, each)  # verdicts, messages, errors in a row: identical
    assert each.calls >= 2 * 4  # before: every gate asked, one timeout each (40 s a pass)
    assert once.calls == 2  # one query per analysis
    errors = {g["name"]: g for g in gates if g["verdict"] == "Error"}
    assert set(errors) == {"delivery", "incremental", "roi", "budget"}
    for gate in errors.values():
        # The budget gate's Error holds (the spend says nothing about the model): not counted.
        assert gate.get("consecutiveErrors", 0) == (0 if gate["name"] == "budget" else 2)
        assert gate["message"].endswith(f"measurement failed: {TIMED_OUT}")


def test_an_upliftmodel_canary_analysis_asks_a_silent_prometheus_once() -> None:
    def analysed(source: Silent) -> list[dict[str, Any]]:
        sim = tu.Sim()
        sim.body["spec"]["rollout"]["gates"] = [
            {"name": "errors", "type": "errorRate", "max": 0.02},
            {"name": "latency", "type": "latency", "max": 0.2}]
        sim.with_canary()
        sim.deps.prometheus = source
        sim.tick(61)
        return [dict(g) for g in sim.status["gates"]]

    once, each = Silent(), Silent(unanswered=False)
    gates = analysed(once)
    assert gates == analysed(each) and [g["verdict"] for g in gates] == ["Error", "Error"]
    # Each asked: the latency gate's shown p95 failing does not fail it; its bucket counts,
    # asked then, do.
    assert (once.calls, each.calls) == (1, 3)


def test_a_query_prometheus_refused_does_not_stop_the_others() -> None:
    class OneRefused(FakeMetrics):
        def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
            self.asked.append(promql)
            if promql == "bad":
                raise QueryError("parse error: unexpected end of input", status_code=400)
            if promql == "busy":
                raise MetricsUnavailable("prometheus answered HTTP 503 (timeout): query timed out",
                                         status_code=503)
            return 1.0

    source = OneRefused()
    shared = measurements.AnalysisQueries(source)
    for failing, error in (("bad", QueryError), ("busy", MetricsUnavailable)):
        with pytest.raises(error):
            shared.scalar(failing)
        with pytest.raises(error):
            shared.scalar(failing)  # not kept: asked again
    assert shared.scalar("good") == 1.0
    assert source.asked == ["bad", "bad", "busy", "busy", "good"]


def test_after_an_unanswered_query_the_rest_of_the_analysis_fails_with_it() -> None:
    calls: list[str] = []

    class Once:
        def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Any]:
            calls.append(promql)
            raise MetricsUnavailable(TIMED_OUT, unanswered=True)

        def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
            calls.append(promql)
            return 1.0

    shared = measurements.AnalysisQueries(Once())
    with pytest.raises(MetricsUnavailable) as first:
        shared.query("a")
    for ask in (shared.query, shared.scalar):
        with pytest.raises(MetricsUnavailable) as then:
            ask("b")
        assert then.value is not first.value  # its own error, the same words
        assert (then.value.message, then.value.unanswered) == (TIMED_OUT, True)
    assert calls == ["a"]
    # The next analysis asks again.
    assert measurements.AnalysisQueries(Once()).scalar("b") == 1.0


def test_the_campaign_units_are_not_asked_after_a_silent_analysis() -> None:
    """The units exposed (asked after the gates) stay as they were, without two more timeouts."""
    sim = _campaign_in_its_cohorts()
    sim.deps = replace(sim.deps, prometheus=FakeMetrics())
    sim.tick(5)
    counted = {k: sim.status.get(k) for k in ("treatedUnits", "holdoutUnits")}
    source = Silent()
    sim.deps = replace(sim.deps, prometheus=source)
    sim.tick(5)
    assert {k: sim.status.get(k) for k in counted} == counted and source.calls == 1


class Partial(Silent):
    """Every query answered partial (a store that did not answer)."""

    def _fail(self) -> Any:
        self.calls += 1
        raise MetricsUnavailable("prometheus answered a partial result: store down",
                                 status_code=200, error_type=PARTIAL)


def test_a_partial_answer_holds_without_counting_towards_a_rollback() -> None:
    errors = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        canary_started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        now=dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC), analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates={}, treatments=())
    measured = measurements.collect(errors, ctx, Partial(), None)
    assert measured == m.MeasurementError("prometheus answered a partial result: store down",
                                          holds=True)


BUSY = "prometheus answered HTTP 503 (timeout): query timed out in expression evaluation"


def _overloaded(seconds: float) -> tuple[PrometheusClient, list[str]]:
    """A client of a Prometheus that answers every query with its timeout error (HTTP 503)
    after ``seconds``, on a simulated clock; and the queries sent."""
    clock = [0.0]
    client = PrometheusClient("http://prometheus:9090", timeout=10,
                              fail_fast=FailFast(clock=lambda: clock[0]))
    sent: list[str] = []

    def send(url: str, params: Mapping[str, str], headers: Mapping[str, str],
             auth: tuple[str, str] | None, started: float) -> requests.Response:
        sent.append(params["query"])
        clock[0] += seconds
        response = requests.Response()
        response.status_code = 503
        response._content = json.dumps({"status": "error", "errorType": "timeout",
                                        "error": "query timed out in expression evaluation"
                                        }).encode()
        return response

    client._send = send  # type: ignore[method-assign]
    return client, sent


def _canary_gates(source: Any) -> dict[str, Any]:
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=now - dt.timedelta(minutes=20),
        canary_started_at=now - dt.timedelta(minutes=20), now=now, analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates=templates.BUILTIN_TEMPLATES, treatments=(),
        canary_share=0.25, attribution_window_s=600)
    shared = measurements.per_analysis(source, now)
    return {type_: measurements.collect(ModelGate.model_validate({"name": type_.lower(), "type": type_}),
                                        ctx, shared, None)
            for type_ in ("latency", "errorRate", "onlineEffect")}


def test_after_an_answer_that_took_the_evaluation_timeout_the_analysis_fails_fast() -> None:
    # An overloaded Prometheus answers each query with its timeout error once the evaluation
    # timeout (8 s of the client's 10 s) ran out. Before: each of the analysis's queries was
    # asked and held the pass thread 8 s (the three gates: 24 s, every 60 s interval).
    client, sent = _overloaded(client_seconds := 8.1)
    assert client_seconds >= client.evaluation_timeout
    gates = _canary_gates(client)
    assert len(sent) == 1
    # The gate whose query was slow: its Error, counted. The others' queries were never sent:
    # held, naming the slow query.
    assert gates["latency"] == m.MeasurementError(BUSY)
    for type_ in ("errorRate", "onlineEffect"):
        held = gates[type_]
        assert isinstance(held, m.MeasurementError) and held.holds, held
        assert held.message.startswith("not asked: an earlier query of this analysis was "
                                       f"answered only after Prometheus' evaluation timeout "
                                       f"({BUSY}): {sent[0][:40]}")


def test_a_timeout_answered_at_once_does_not_stop_the_others() -> None:
    # A query too heavy for Prometheus answered quickly is that query's failure: the others
    # are asked.
    client, sent = _overloaded(0.5)
    gates = _canary_gates(client)
    # One per gate (each fails at its first query judged), and the latency gate's shown p95,
    # whose failure alone does not fail it.
    assert len(sent) == 4
    assert gates == {type_: m.MeasurementError(BUSY) for type_ in gates}


class OverItsLimits(Silent):
    """Every query refused for the server's limits (``--query.max-samples``)."""

    def _fail(self) -> Any:
        self.calls += 1
        raise OverLimits("prometheus over its query limits (HTTP 422, execution): query "
                         "processing would load too many samples into memory in query "
                         "execution", status_code=422, error_type="execution")


def test_a_query_over_prometheus_limits_holds_without_counting_towards_a_rollback() -> None:
    # Before: "bad query: …", an Error counted towards consecutiveErrorLimit: a long step's
    # range past --query.max-samples rolled a healthy canary back.
    errors = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        canary_started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        now=dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC), analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates={}, treatments=())
    measured = measurements.collect(errors, ctx, OverItsLimits(), None)
    assert measured == m.MeasurementError(
        "prometheus over its query limits (HTTP 422, execution): query processing would load "
        "too many samples into memory in query execution", holds=True)


class OneHeavy:
    """A Prometheus that answers every query at once (no data), but the one query naming
    ``heavy`` only with its timeout error after the evaluation timeout (``overloaded``)."""

    def __init__(self, heavy: str) -> None:
        self.heavy = heavy
        self.asked: list[str] = []

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Any]:
        self.asked.append(promql)
        if self.heavy in promql:
            raise MetricsUnavailable(BUSY, status_code=503, error_type="timeout",
                                     overloaded=True)
        return []

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        self.query(promql, time)
        return None


@pytest.mark.parametrize("order", [("latency", "errorRate", "onlineEffect"),
                                   ("errorRate", "onlineEffect", "latency")],
                         ids=["heavy first", "heavy last"])
def test_a_heavy_query_among_cheap_ones_counts_against_its_own_gate_only(
        order: tuple[str, ...]) -> None:
    # The latency gate's bucket counts are too heavy for Prometheus (answered after its
    # evaluation timeout); the other gates' queries are cheap. Before, every gate after the
    # heavy one was a counted Error with its message, whatever its own queries: three looks
    # of that rolled a healthy canary back, or not, by the order of the gates.
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=now - dt.timedelta(minutes=20),
        canary_started_at=now - dt.timedelta(minutes=20), now=now, analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates=templates.BUILTIN_TEMPLATES, treatments=(),
        canary_share=0.25, attribution_window_s=600)
    source = OneHeavy("uplift_request_duration_seconds_bucket")
    shared = measurements.per_analysis(source, now)
    gates = {type_: measurements.collect(
        ModelGate.model_validate({"name": type_.lower(), "type": type_}), ctx, shared, None)
        for type_ in order}
    heavy = [q for q in source.asked if source.heavy in q]
    assert gates["latency"] == m.MeasurementError(BUSY)  # its own query: counted
    for type_ in ("errorRate", "onlineEffect"):
        measured = gates[type_]
        if order[0] == "latency":
            # Never asked: held, naming the slow query.
            assert isinstance(measured, m.MeasurementError) and measured.holds, measured
            assert heavy[0][:60] in measured.message and BUSY in measured.message
        else:
            assert not isinstance(measured, m.MeasurementError), measured  # asked, answered
    assert len(heavy) == 1  # asked once
