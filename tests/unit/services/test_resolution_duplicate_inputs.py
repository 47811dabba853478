"""A signature that lists a column twice: before 8e83c4ac, a model with a ``long`` ``unit_id``
feature logged it as the required feature and then again as the optional string id. The
operator read the last entry (a string), so a spec declaring ``unit_id`` numeric or boolean
was refused though the version takes it as a number; the required entry is what it takes."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from tests.unit.domain.test_validation import _model
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import validation
from uplift_operator.services.resolution import TREATMENTS_TAG, Resolver, Scope

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "1"})
FEATURE = {"name": "unit_id", "type": "long", "required": True}
ID = {"name": "unit_id", "type": "string", "required": False}
OTHERS = [{"name": "recency", "type": "long", "required": True},
          {"name": "history", "type": "double", "required": True}]


def _contract(inputs: list[dict[str, object]]) -> validation.ModelContract:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("m", "1", run_id="run-1")
    registry.versions[("m", "1")] = replace(
        registry.versions[("m", "1")],
        tags={TREATMENTS_TAG: '{"mens_e_mail": "Mens E-Mail", "womens_e_mail": "Womens E-Mail"}'})
    registry.signatures[("m", "1")] = {"inputs": inputs}
    resolved = resolver.resolve(SCOPE, PINNED, registry, T0)
    assert resolved.desired is not None
    return resolver.contract(SCOPE, "m", resolved.desired, registry)


@pytest.mark.parametrize("inputs", [
    [*OTHERS, FEATURE, ID],  # as logged before 8e83c4ac: the feature, then the id
    [*OTHERS, ID, FEATURE],  # the other way round
], ids=["feature-then-id", "id-then-feature"])
def test_the_required_entry_of_a_column_listed_twice_is_what_the_version_takes(
        inputs: list[dict[str, object]]) -> None:
    contract = _contract(inputs)
    assert contract.inputs == {"recency": "long", "history": "double", "unit_id": "long"}
    assert contract.required == {"recency", "history", "unit_id"}
    spec = _model(features=[{"name": "recency", "type": "numeric"},
                            {"name": "history", "type": "numeric"},
                            {"name": "unit_id", "type": "numeric"}]).spec
    assert validation.validate_against_model(spec, contract) == []


def test_a_column_listed_twice_both_optional_is_taken_as_first_listed() -> None:
    contract = _contract([*OTHERS, {**FEATURE, "required": False}, ID])
    assert contract.inputs is not None and contract.inputs["unit_id"] == "long"
    assert "unit_id" not in contract.required


def test_the_signature_logged_since_lists_the_id_once() -> None:
    contract = _contract([*OTHERS, ID])
    assert contract.inputs == {"recency": "long", "history": "double", "unit_id": "string"}
    assert contract.required == {"recency", "history"}
