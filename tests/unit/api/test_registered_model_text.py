"""spec.model.registeredModel never carries control characters: it is printed in messages
and by ``kubectl uplift status``, where an escape sequence would drive the reader's terminal.
The typed model (the operator's reading) and the CRD (the API server's) refuse the same."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference


def _pattern() -> str:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    model: dict[str, Any] = schema["properties"]["spec"]["properties"]["model"]
    return str(model["properties"]["registeredModel"]["pattern"])


def _reference(name: str) -> ModelReference:
    return ModelReference.model_validate({"registeredModel": name, "version": "1"})


@pytest.mark.parametrize("name", ["m\x1b]2;owned\x07", "m\x1b[2J", "m\x9b31m", "m\nx", "m\tx",
                                  "\x7f"])
def test_a_registered_model_with_control_characters_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        _reference(name)
    assert not re.search(_pattern(), name)


@pytest.mark.parametrize("name", ["churn?v2", "team/model", "a/b?c"])
def test_a_registered_model_the_models_uri_cannot_carry_is_refused(name: str) -> None:
    """``models:/churn?v2/3`` is model ``churn`` to MLflow and ``models:/team/model/3`` is no
    models URI: the pods could never load the version the operator resolved."""
    with pytest.raises(ValidationError):
        _reference(name)
    assert not re.search(_pattern(), name)


@pytest.mark.parametrize("name", ["uplift-demo", "team a:model.v2", "modèle_日本", "m@x#1 %"])
def test_a_registered_model_of_printable_text_is_taken(name: str) -> None:
    assert _reference(name).registered_model == name
    assert re.search(_pattern(), name)
