"""A drift gate's ``features`` checked before any analysis, also without ``spec.features``.

Measured, a feature the model lacks is a MeasurementError at every analysis (Error verdicts,
then a rollback after ``consecutiveErrorLimit``): InvalidSpec instead. An UpliftModel with
``spec.features`` is checked against them (``validate_upliftmodel``), one without against the
inputs of the version its spec resolves to (``validate_against_model``); a Campaign against
what its pass says its model has (``model_features``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.domain.test_validation import CONTRACT, MODEL_TREATMENTS, _campaign, _model

from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES


def _without_features(**changes: Any) -> UpliftModel:
    body = _model(**changes).to_wire()
    del body["spec"]["features"]
    return UpliftModel.model_validate(body)


def test_without_spec_features_the_versions_inputs_decide() -> None:
    spec = _without_features(**{"rollout.gates.2.features": ["recencyy", "recency"]}).spec
    assert validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES) == []  # not known yet
    assert validation.validate_against_model(spec, CONTRACT) == [
        "spec.rollout.gates[2] (drift).features: 'recencyy' is not in the inputs of version 3 "
        "of 'hillstrom-uplift'; known: channel, history, mens, newbie, recency, unit_id, "
        "womens, zip_code"]
    fits = _without_features(**{"rollout.gates.2.features": ["recency"]}).spec
    assert validation.validate_against_model(fits, CONTRACT) == []
    silent = validation.ModelContract("hillstrom-uplift", "3")  # no signature: not judged
    assert validation.validate_against_model(spec, silent) == []


def test_a_campaigns_drift_features_are_checked_against_its_model() -> None:
    campaign = _campaign().to_wire()
    campaign["spec"]["exposure"]["gates"][3] = {"name": "drift", "type": "drift",
                                                "features": ["recencyy"]}
    spec = _campaign(**campaign["spec"]).spec
    known = validation.ModelFeatures(frozenset({"recency", "history"}),
                                     "spec.features of UpliftModel 'm'")
    assert validation.validate_campaign(spec, BUILTIN_TEMPLATES, MODEL_TREATMENTS,
                                        model_features=known) == [
        "spec.exposure.gates[3] (drift).features: 'recencyy' is not in spec.features of "
        "UpliftModel 'm'; known: history, recency"]
    # Not known (no model, no signature): not judged.
    assert validation.validate_campaign(spec, BUILTIN_TEMPLATES, MODEL_TREATMENTS) == []


def test_an_empty_feature_name_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        _model(**{"rollout.gates.2.features": [""]})
