"""A custom gate's ``minSamples`` is never read (its query gives one value, no sample count):
the API server accepts it (refusing it now would break applying specs that have it), so a
Warning event ``IgnoredField`` names it once per generation, as a field stored before the API
server refused it is, and the CRD no longer promises a samples query."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModel
from uplift_operator.domain import validation
from uplift_operator.domain.validation import CUSTOM_MIN_SAMPLES


def test_a_custom_gates_min_samples_is_named_ignored_once_per_generation() -> None:
    sim = Sim()
    assert sim.body["spec"]["rollout"]["gates"][0]["type"] == "custom"
    sim.body["spec"]["rollout"]["gates"][0]["minSamples"] = 100000
    said = [e for e in sim.tick().events if e.reason == "IgnoredField"]
    assert [(e.type, e.message) for e in said] == [(
        "Warning", f"spec.rollout.gates[0] (probe): {CUSTOM_MIN_SAMPLES}; ignored (remove it)")]
    assert "IgnoredField" not in [e.reason for e in sim.tick(1).events]


def test_only_a_custom_gate_that_sets_min_samples_is_named() -> None:
    gates = [CampaignGate.model_validate(g) for g in (
        {"name": "c", "type": "custom", "query": "sum(x)", "max": 1},
        {"name": "d", "type": "deliveryRate", "minSamples": 50},
        {"name": "e", "type": "custom", "query": "sum(x)", "max": 1, "minSamples": 100})]
    assert validation.ignored_gate_fields(gates, "spec.exposure") == [
        f"spec.exposure.gates[2] (e): {CUSTOM_MIN_SAMPLES}; ignored (remove it)"]


def test_the_crd_no_longer_promises_a_samples_query() -> None:
    described = UpliftModel.model_json_schema()["$defs"]["ModelGate"]["properties"]["minSamples"]
    assert "samples query" not in described["description"]
    assert "custom gate never reads it" in described["description"]
