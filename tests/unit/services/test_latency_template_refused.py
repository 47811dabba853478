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


ISTIO = ('histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_seconds_bucket'
         '{destination_workload_namespace="{{namespace}}", destination_service_name="{{model}}"}'
         '[{{interval}}])))')


def test_a_latency_template_that_reads_both_versions_alike_is_an_error_never_a_pass() -> None:
    """Past validation (the operator's templates changed under a spec): the canary's and the
    stable's bucket queries are the same text, the traffic compared with itself; the gate is
    an Error naming the template, and asks Prometheus nothing."""
    import datetime as dt

    from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
    from uplift_operator.domain import measurements as m
    from uplift_operator.domain.validation import LATENCY_NEEDS_VERSION
    from uplift_operator.services import measurements

    class Asked:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def query(self, promql: str, time: object = None) -> list[object]:
            self.asked.append(promql)
            return []

        def scalar(self, promql: str, time: object = None) -> float | None:
            self.asked.append(promql)
            return 0.1

    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=now - dt.timedelta(seconds=600),
        canary_started_at=now - dt.timedelta(seconds=600), now=now, analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates={**BUILTIN_TEMPLATES, "istio-p95": ISTIO},
        treatments=())
    gate = ModelGate.model_validate({"name": "lat", "type": "latency", "templateRef": "istio-p95",
                                     "max": 0.5})
    prom = Asked()
    got = measurements.collect(gate, ctx, prom, None)
    assert got == m.MeasurementError(f"template 'istio-p95': {LATENCY_NEEDS_VERSION}")
    assert prom.asked == []
