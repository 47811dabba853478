"""A Campaign's salt may not be the version split's (``router``) either: its holdout drawn under
it is the same draw as which version of its UpliftModel owns a unit, so during the model's canary
at a weight up to the holdout fraction the canary's units are all in the campaign's holdout and
the stable's fall short of it — and the campaign's conversion gates, counting the stable's units,
see a sample-ratio mismatch that is none. Refused by the API server (the CRD's CEL rule on
``spec.experiment.salt``) and, for a spec stored before the rule, by the operator (InvalidSpec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import cel

from uplift_operator.api.crds import CAMPAIGN
from uplift_operator.api.v1alpha1.campaign import CAMPAIGN_SALT_TAKEN, CampaignSpec
from uplift_operator.api.v1alpha1.upliftmodel import VERSION_SPLIT_SALT
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.runtime.assignment import VERSION_SALT, assign, version_owner

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
TREATMENTS = {"womens-e-mail", "mens-e-mail"}


def _holdout_share_of_stable_units(salt: str) -> float:
    owned = [f"u{i}" for i in range(5000) if version_owner(f"u{i}", "3", "4", 5) == "3"]
    return sum(assign(u, salt, 0.1) == "holdout" for u in owned) / len(owned)


def test_under_the_version_splits_salt_the_campaigns_holdout_is_not_a_draw_among_the_stables_units(
        ) -> None:
    assert VERSION_SPLIT_SALT == VERSION_SALT
    assert _holdout_share_of_stable_units(VERSION_SALT) < 0.07   # ~5 %, 10 % due
    assert 0.08 < _holdout_share_of_stable_units("spring-2026") < 0.12


def _salt_rule() -> dict[str, Any]:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    salt = schema["properties"]["spec"]["properties"]["experiment"]["properties"]["salt"]
    rules: list[dict[str, Any]] = [r for r in salt["x-kubernetes-validations"]
                                   if r["message"] == CAMPAIGN_SALT_TAKEN]
    assert len(rules) == 1
    return rules[0]


@pytest.mark.parametrize(("salt", "admitted"), [
    ("router", False), ("Router", True), ("router ", True), ("spring-2026", True), ("", True)])
def test_the_api_server_refuses_the_version_splits_salt(salt: str, admitted: bool) -> None:
    self_value: Any = salt   # the rule is the field's: self is the string
    assert cel.evaluate(_salt_rule()["rule"], self_value) is admitted


def test_the_salt_description_says_so() -> None:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    salt = schema["properties"]["spec"]["properties"]["experiment"]["properties"]["salt"]
    assert "not 'router'" in salt["description"]


@pytest.mark.parametrize(("salt", "refused"), [("router", True), ("spring-2026", False),
                                                (None, False)])
def test_a_spec_stored_before_the_rule_is_invalid(salt: str | None, refused: bool) -> None:
    body = yaml.safe_load(SAMPLE.read_text())["spec"]
    body["experiment"]["salt"] = salt
    problems = validation.validate_campaign(CampaignSpec.model_validate(body), BUILTIN_TEMPLATES,
                                            TREATMENTS, namespace="ns", name="c")
    # The salt is immutable (transition rules): the fix is a new Campaign.
    assert problems == ([f"spec.experiment.salt: {CAMPAIGN_SALT_TAKEN} "
                         f"{validation.EXPERIMENT_IMMUTABLE}"] if refused else [])
