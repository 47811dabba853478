"""A custom gate whose query ends in ``or vector(<number>)`` is named in a Warning event.

``<expr> or vector(0)`` answers 0 whenever ``<expr>`` has no series: a canary with no traffic
yet (or whose series are not scraped) gets 0, not "no data", so a ``max`` gate passes it (a
custom gate reads no sample count: minSamples is not checked) instead of holding it
Inconclusive. Valid PromQL, so not refused: a Warning event ``IgnoredField`` names it once per
generation, as an ignored field is, for either kind's custom gates.
"""

from __future__ import annotations

import pytest
from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.domain import validation
from uplift_operator.domain.validation import CUSTOM_CONSTANT_FALLBACK

ERROR_RATE = ('sum(rate(uplift_request_errors_total{namespace="{{namespace}}", '
              'model="{{model}}", version="{{version}}"}[{{interval}}])) / '
              'sum(rate(uplift_request_duration_seconds_count{namespace="{{namespace}}", '
              'model="{{model}}", version="{{version}}"}[{{interval}}]))')


def test_an_upliftmodel_custom_gate_with_a_constant_fallback_is_named_once_per_generation(
        ) -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"][0]["query"] = "sum(probe_value) or vector(0)"
    said = [e for e in sim.tick().events if e.reason == "IgnoredField"]
    assert [(e.type, e.message) for e in said] == [(
        "Warning", f"spec.rollout.gates[0] (probe).query: its top-level `or vector(0)` "
                   f"{CUSTOM_CONSTANT_FALLBACK}")]
    assert "IgnoredField" not in [e.reason for e in sim.tick(1).events]


@pytest.mark.parametrize(("query", "fallback"), [
    (f"{ERROR_RATE} or vector(0)", "vector(0)"),
    (f"({ERROR_RATE} or on() vector(-1))", "vector(-1)"),
    (f"{ERROR_RATE} or sum(x) or (vector(0.5))", "vector(0.5)"),
])
def test_a_top_level_constant_fallback_is_named(query: str, fallback: str) -> None:
    gates = [CampaignGate.model_validate({"name": "c", "type": "custom", "query": query,
                                          "max": 0.01})]
    assert validation.ignored_gate_fields(gates, "spec.exposure") == [
        f"spec.exposure.gates[0] (c).query: its top-level `or {fallback}` "
        f"{CUSTOM_CONSTANT_FALLBACK}"]


@pytest.mark.parametrize("query", [
    ERROR_RATE,
    f"sum(x) / ({ERROR_RATE} or vector(1))",  # not top level: no series still answers nothing
    f"{ERROR_RATE} or vector(time())",  # not a number
    f"{ERROR_RATE} or sum(x)",
    f"{ERROR_RATE} unless vector(0)",
])
def test_anything_else_is_not(query: str) -> None:
    gates = [CampaignGate.model_validate({"name": "c", "type": "custom", "query": query,
                                          "max": 0.01})]
    assert validation.ignored_gate_fields(gates, "spec.exposure") == []


def test_a_query_that_does_not_parse_has_no_fallback() -> None:
    assert validation.constant_fallback("sum(x or vector(0)") is None
    assert validation.constant_fallback("{{unknown}} or vector(0)") is None
