"""A latency template over a histogram in milliseconds (Istio's
``istio_request_duration_milliseconds``, Linkerd's ``response_latency_ms``) passed validation,
then every canary failed ``max``: the gate reads ``le``, the p95 and ``max`` as seconds, so
requests under 25 ms read as 25 s. Validation refuses such a template (InvalidSpec)."""

from __future__ import annotations

import pytest
from tests.unit.domain.test_validation import _model

from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

ISTIO = ('histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket'
         '{destination_workload_namespace="{{namespace}}", destination_workload=~'
         '"{{model}}-{{predictor}}-.*"}[{{interval}}])))')
LINKERD = ('histogram_quantile(0.95, sum by (le) (rate(response_latency_ms_bucket'
           '{namespace="{{namespace}}", deployment=~"{{model}}-{{predictor}}-.*"}'
           '[{{interval}}])))')
SECONDS = ('histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_seconds_bucket'
           '{destination_workload_namespace="{{namespace}}", destination_workload=~'
           '"{{model}}-{{predictor}}-.*"}[{{interval}}])))')


def _problems(template: str) -> list[str]:
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(
        {"name": "p95", "type": "latency", "templateRef": "mesh-p95", "max": 0.5})
    return validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                           {**BUILTIN_TEMPLATES, "mesh-p95": template},
                                           namespace="shop", name="um")


@pytest.mark.parametrize(("template", "metric"), [
    (ISTIO, "istio_request_duration_milliseconds_bucket"),
    (LINKERD, "response_latency_ms_bucket"),
])
def test_a_latency_template_over_milliseconds_is_refused(template: str, metric: str) -> None:
    assert _problems(template) == [
        f"spec.rollout.gates[6] (p95).templateRef: template 'mesh-p95': its histogram "
        f"{metric} {validation.LATENCY_NEEDS_SECONDS}"]


def test_a_latency_template_over_seconds_passes() -> None:
    assert _problems(SECONDS) == []
