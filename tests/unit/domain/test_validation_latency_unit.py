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


def _histogram(metric: str) -> str:
    return ('histogram_quantile(0.95, sum by (le) (rate(' + metric +
            '{namespace="{{namespace}}", version="{{version}}"}[{{interval}}])))')


@pytest.mark.parametrize("metric", [
    "foo_ms_duration_seconds_bucket",  # a segment "ms" inside the name: its unit is seconds
    "api_msg_latency_seconds_bucket",
    "request_duration_seconds_bucket",
    "us_east_request_duration_seconds_bucket",
])
def test_a_histogram_whose_name_ends_in_seconds_passes(metric: str) -> None:
    assert _problems(_histogram(metric)) == []


@pytest.mark.parametrize("metric", [
    "request_duration_msec_bucket",
    "request_latency_us_bucket",
    "request_duration_microseconds_bucket",
    "request_duration_millisecond_bucket",
])
def test_a_histogram_whose_name_ends_in_another_unit_is_refused(metric: str) -> None:
    assert _problems(_histogram(metric)) == [
        f"spec.rollout.gates[6] (p95).templateRef: template 'mesh-p95': its histogram "
        f"{metric} {validation.LATENCY_NEEDS_SECONDS}"]


#: A latency template answering a range of bucket counts: the gate tests those counts, and the
#: p95 it shows from the template is an Error it tolerates, so the template is not refused.
RANGE = ('uplift_request_duration_seconds_bucket{namespace="{{namespace}}", '
         'model="{{model}}", version="{{version}}"}[{{interval}}]')


def test_a_latency_template_answering_a_range_passes() -> None:
    assert _problems(RANGE) == []


def test_a_custom_gate_over_the_same_range_template_is_still_refused() -> None:
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(
        {"name": "probe", "type": "custom", "templateRef": "mesh-p95", "max": 1})
    problems = validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                               {**BUILTIN_TEMPLATES, "mesh-p95": RANGE},
                                               namespace="shop", name="um")
    assert len(problems) == 1 and "its result is a range vector" in problems[0], problems
