"""spec.model.registeredModel never carries control characters: it is printed in messages
and by ``kubectl uplift status``, where an escape sequence would drive the reader's terminal;
nor a name MLflow refuses. The typed model (the operator's reading) and the CRD (the API
server's) refuse the same."""

from __future__ import annotations

import itertools
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


@pytest.mark.parametrize("name", ["a:b", "team a:model.v2", ".", "..", "..foo", "...", " ",
                                  "\u3000 \xa0", "\u2005"])
def test_a_registered_model_mlflow_refuses_is_refused(name: str) -> None:
    """MLflow 3.x's ``_validate_model_name`` refuses a blank name, ``/`` and ``:``, and a
    name that normalises to another path (``.``, starting with ``..``): every read of it is
    "Invalid model name 'a:b'. Names cannot contain '/' or ':'", which the resolver took for
    ModelNotFound (the review's /tmp/review-mlflow/t1.py against MLflow 3.17.2)."""
    with pytest.raises(ValidationError):
        _reference(name)
    assert not re.search(_pattern(), name)


@pytest.mark.parametrize("name", ["uplift-demo", "team a.model.v2", "modèle_日本", "m@x#1 %",
                                  ".a", "a..b", "a.", " a", "\u3000a", ". x", "  .."])
def test_a_registered_model_of_printable_text_is_taken(name: str) -> None:
    assert _reference(name).registered_model == name
    assert re.search(_pattern(), name)


def test_the_pattern_is_mlflows_rule_but_for_control_characters_and_question_marks() -> None:
    """Every name of up to 4 characters from an alphabet of the characters the rule turns on
    is taken by the typed model and the CRD exactly when MLflow's own ``_validate_model_name``
    takes it and it has no control character or ``?``."""
    validation = pytest.importorskip("mlflow.utils.validation")
    alphabet = ["a", ".", " ", ":", "/", "?", "\x1b", "\x85", "\xa0", "\u3000", "%", "é"]
    pattern = re.sub(r"\$$", r"\\Z", _pattern())  # RE2's $ is the very end
    for size in range(1, 5):
        for chars in itertools.product(alphabet, repeat=size):
            name = "".join(chars)
            try:
                validation._validate_model_name(name)
                mlflow_takes = True
            except Exception:
                mlflow_takes = False
            wanted = mlflow_takes and not re.search(r"[\x00-\x1f\x7f-\x9f?]", name)
            assert (re.search(pattern, name) is not None) is wanted, name
            try:
                _reference(name)
                typed = True
            except ValidationError:
                typed = False
            assert typed is wanted, name
