"""A latency gate whose template reads no classic histogram's buckets (a native histogram, a
recording rule) makes the UpliftModel InvalidSpec at its first pass, naming the gate and why:
before, the gate showed the template's p95 and decided on the runtime's own histogram."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.domain.templates import BUILTIN_TEMPLATES, LATENCY_NEEDS_BUCKETS

NATIVE = ('histogram_quantile(0.95, sum(rate(http_server_duration_seconds{namespace='
          '"{{namespace}}", app="{{model}}", version="{{version}}"}[{{interval}}])))')


def test_a_latency_gate_on_a_native_histogram_is_invalid_spec_and_deploys_nothing() -> None:
    sim = Sim()
    sim.deps.metric_templates = {**BUILTIN_TEMPLATES, "native-p95": NATIVE}
    sim.body["spec"]["rollout"]["gates"].append(
        {"name": "lat", "type": "latency", "templateRef": "native-p95", "max": 0.5})
    sim.tick()
    assert sim.status["phase"] == "Degraded" and sim.cluster.applied == []
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True"
    assert (f"gates[1] (lat).templateRef: template 'native-p95': {LATENCY_NEEDS_BUCKETS}"
            in invalid["message"])
