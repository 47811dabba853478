"""A Campaign's ``spec.experiment`` problem says the field is immutable.

Only an object stored before the CRD's rules can hold a blank unit key or salt, the version
split's salt, or an attribution window outside [1s, 10 years]; the API server's transition
rules refuse any change of the experiment, so an InvalidSpec message asking to fix the field
asked for an edit the API server refuses (review-api immutable_fix.py). Each now says how to
fix it: a new Campaign. An UpliftModel's experiment may change between canaries: its problems
say nothing of the kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.api.v1alpha1 import Campaign, UpliftModel
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL_TREATMENTS = {"mens-e-mail", "womens-e-mail"}
IMMUTABLE = "(immutable: create the Campaign again under a new name)"


def _campaign_problems(**experiment: Any) -> list[str]:
    body = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    body["spec"]["experiment"].update(experiment)
    spec = Campaign.model_validate(body).spec
    return validation.validate_campaign(spec, BUILTIN_TEMPLATES, MODEL_TREATMENTS)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("attributionWindow", "500ms", "spec.experiment.attributionWindow must be at least 1s"),
    ("attributionWindow", "4000d", "spec.experiment.attributionWindow must be at most 3660d"),
    ("salt", "   ", "spec.experiment.salt: salt must not be blank"),
    ("salt", "router", "spec.experiment.salt: salt must not be 'router'"),
    ("unitKey", "  ", "spec.experiment.unitKey: unitKey must not be blank"),
])
def test_a_campaign_experiment_problem_says_it_is_immutable(field: str, value: str,
                                                             says: str) -> None:
    [problem] = _campaign_problems(**{field: value})
    assert problem.startswith(says)
    assert problem.endswith(f" {IMMUTABLE}")
    assert validation.EXPERIMENT_IMMUTABLE == IMMUTABLE


def test_a_campaign_problem_elsewhere_says_nothing_of_the_kind() -> None:
    body = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    body["spec"]["economics"]["budgetPeriod"] = "500ms"
    problems = validation.validate_campaign(Campaign.model_validate(body).spec,
                                            BUILTIN_TEMPLATES, MODEL_TREATMENTS)
    assert problems == ["spec.economics.budgetPeriod must be at least 1s (got 500ms)"]


def test_an_upliftmodel_experiment_problem_says_nothing_of_the_kind() -> None:
    body = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    body["spec"]["experiment"]["salt"] = "  "
    problems = validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                               BUILTIN_TEMPLATES)
    assert problems == ["spec.experiment.salt: salt must not be blank (got '  ')"]
