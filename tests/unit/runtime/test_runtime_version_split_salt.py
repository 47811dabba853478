"""An UpliftModel's salt may not be the version split's (``router``): a holdout drawn under it
is the same draw as which version owns a unit, so during a canary at a weight up to the holdout
fraction every unit the canary owns was in the holdout (100 % at 10 %, where 10 % is due).
Refused by the API server (the CRD's CEL rule on ``spec.experiment.salt``) and, for a spec
stored before the rule, by the operator (InvalidSpec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import cel

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import (
    VERSION_SPLIT_SALT,
    VERSION_SPLIT_SALT_TAKEN,
    UpliftModelSpec,
)
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.runtime.assignment import VERSION_SALT, assign, version_owner

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "upliftmodel.yaml"


def _holdout_share_of_canary_units(salt: str) -> float:
    owned = [f"u{i}" for i in range(5000) if version_owner(f"u{i}", "3", "4", 10) == "4"]
    return sum(assign(u, salt, 0.1) == "holdout" for u in owned) / len(owned)


def test_the_version_splits_salt_is_the_runtimes() -> None:
    assert VERSION_SPLIT_SALT == VERSION_SALT
    # Why it is refused: under it the holdout is the canary's units, not a draw among them.
    assert _holdout_share_of_canary_units(VERSION_SALT) == 1.0
    assert 0.05 < _holdout_share_of_canary_units("default/model") < 0.15


def _salt_rule() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    salt = schema["properties"]["spec"]["properties"]["experiment"]["properties"]["salt"]
    rules: list[dict[str, Any]] = [r for r in salt["x-kubernetes-validations"]
                                   if r["message"] == VERSION_SPLIT_SALT_TAKEN]
    assert len(rules) == 1
    return rules[0]


@pytest.mark.parametrize(("salt", "admitted"), [
    ("router", False), ("Router", True), ("router ", True), ("default/model", True), ("", True)])
def test_the_api_server_refuses_the_version_splits_salt(salt: str, admitted: bool) -> None:
    self_value: Any = salt   # the rule is the field's: self is the string
    assert cel.evaluate(_salt_rule()["rule"], self_value) is admitted


@pytest.mark.parametrize(("salt", "refused"), [("router", True), ("spring-2026", False),
                                                (None, False)])
def test_a_spec_stored_before_the_rule_is_invalid(salt: str | None, refused: bool) -> None:
    body = yaml.safe_load(SAMPLE.read_text())["spec"]
    body.setdefault("experiment", {})["salt"] = salt
    problems = validation.validate_upliftmodel(UpliftModelSpec.model_validate(body),
                                               BUILTIN_TEMPLATES)
    assert problems == ([f"spec.experiment.salt: {VERSION_SPLIT_SALT_TAKEN}"] if refused else [])
