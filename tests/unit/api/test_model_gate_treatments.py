"""An UpliftModel gate naming a treatment the model does not have is refused by the API server,
as a Campaign's is (``GATE_TREATMENTS_UNKNOWN``): before, only the operator refused it, as
InvalidSpec after it was stored. ``tests.support.cel`` reads no ``exists`` macro, so the rule is
checked as the Campaign's (the same text on ``rollout``); the real API server's validator
refuses ``treatments: [mens-email]`` and takes ``[womens-e-mail]`` (review harness)."""

from __future__ import annotations

from typing import Any

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import MODEL_GATE_TREATMENTS_UNKNOWN


def _spec_rules(crd: Any) -> list[dict[str, Any]]:
    schema = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return list(schema["properties"]["spec"]["x-kubernetes-validations"])


def test_a_model_gate_naming_an_unknown_treatment_is_refused_as_a_campaigns_is() -> None:
    (campaign,) = [r for r in _spec_rules(CAMPAIGN) if r["fieldPath"] == ".exposure.gates"
                   and "g.treatments.all(" in r["rule"]]
    (model,) = [r for r in _spec_rules(UPLIFTMODEL) if r.get("fieldPath") == ".rollout.gates"]
    assert model["rule"] == campaign["rule"].replace("self.exposure.", "self.rollout.")
    assert model["message"] == MODEL_GATE_TREATMENTS_UNKNOWN
