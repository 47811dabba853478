"""A Campaign's drift gate naming a feature its UpliftModel does not have.

Measured, such a gate is a MeasurementError at every analysis: Error verdicts, then a rollback
after ``consecutiveErrorLimit``. So the pass refuses it before any analysis (Ready ``False``
``InvalidSpec`` naming the feature), against the model's ``spec.features``, else the inputs of
the version it serves (its signature, read through the models' shared resolver)."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_campaign import MODEL, NS
from tests.unit.services.test_campaign_treatment_not_served import BOTH, TreatmentSim

INPUTS = ["recency", "history", "channel", "unit_id"]


def _sim(features: list[str], *, model_features: bool, signed: bool = True) -> TreatmentSim:
    sim = TreatmentSim({"3": BOTH}, stable="3")
    if signed:
        sim.registry.signatures[(MODEL, "3")] = {
            "inputs": [{"name": name, "type": "long"} for name in INPUTS]}
    if not model_features:
        model = sim.cluster.objects[("uplift.dev/v1alpha1", "upliftmodels", NS, MODEL)]
        del model["spec"]["features"]
    gates: list[dict[str, Any]] = sim.body["spec"]["exposure"]["gates"]
    gates.append({"name": "drift", "type": "drift", "features": features})
    return sim


def test_a_feature_not_in_the_models_spec_features_is_invalid_spec() -> None:
    sim = _sim(["recencyy"], model_features=True)
    sim.tick()
    status, reason, message = sim.ready()
    assert (status, reason) == ("False", "InvalidSpec")
    assert ("spec.exposure.gates[4] (drift).features: 'recencyy' is not in spec.features of "
            f"UpliftModel {MODEL!r}") in message
    assert sim.status["exposurePercent"] == 0 and not sim.status.get("gates")


def test_without_spec_features_the_served_versions_inputs_decide() -> None:
    sim = _sim(["recencyy"], model_features=False)
    sim.tick()
    status, reason, message = sim.ready()
    assert (status, reason) == ("False", "InvalidSpec")
    assert (f"'recencyy' is not in the inputs of version 3 of UpliftModel {MODEL!r}; known: "
            "channel, history, recency, unit_id") in message


def test_a_known_feature_or_an_unknown_contract_is_not_refused() -> None:
    for sim in (_sim(["recency"], model_features=True), _sim(["recency"], model_features=False),
                _sim(["recencyy"], model_features=False, signed=False)):  # no signature
        sim.tick()
        assert sim.ready()[1] != "InvalidSpec", sim.ready()

