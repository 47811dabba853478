"""A Prometheus outage, through the real adapter: the gate's message, status.message and the
Ready/Degraded message say which server is down and why in a few stable words (no urllib3
text, no URL-encoded PromQL) and name the gate, and they do not change from pass to pass."""

from __future__ import annotations

import socket

from tests.unit.services import test_upliftmodel as tu

from uplift_operator.adapters.prometheus import FailFast, PrometheusClient


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_refused_prometheus_reads_the_same_short_words_until_the_rollback() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    sim = tu.Sim()
    sim.body["spec"]["rollout"]["gates"] = [{"name": "errors", "type": "errorRate", "max": 0.02}]
    sim.with_canary()
    sim.deps.prometheus = PrometheusClient(url, fail_fast=FailFast(hold=0))
    down = f"measurement failed: prometheus at {url} is unreachable (connection refused)"
    gate_messages: list[str] = []
    while sim.status.get("canaryVersion") == "2" and len(gate_messages) < 10:
        sim.tick(61)
        gate_messages.append(sim.status["gates"][0]["message"])
    # One text, pass after pass (no status rewrite), until the fifth Error in a row rolls back.
    assert gate_messages == [down] * 5
    s = sim.status
    assert s["phase"] == "Degraded" and s.get("canaryVersion") is None
    texts = [s["message"], sim.condition("Ready")["message"], s["history"][-1]["reason"]]
    for text in texts:
        assert "gate errors Error" in text and down in text, text
        assert "HTTPConnectionPool" not in text and "%7B" not in text and "Errno" not in text
