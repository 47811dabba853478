"""A budget gate needs ``spec.economics.budget``: without one it could only Error at every
analysis, and the Errors would roll the campaign back (a budget never rolls back)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.domain.validation import validate_campaign

RAW = yaml.safe_load((Path(__file__).resolve().parents[3] / "manifests" / "samples"
                      / "campaign.yaml").read_text())["spec"]


def _spec(budget: bool, gates: list[dict[str, Any]]) -> CampaignSpec:
    raw = copy.deepcopy(RAW)
    if not budget:
        raw["economics"].pop("budget", None)
        raw["economics"].pop("budgetPeriod", None)
    raw["exposure"]["gates"] = gates
    return CampaignSpec.model_validate(raw)


BUDGET_GATE = {"name": "budget", "type": "budget"}
DELIVERY_GATE = {"name": "delivery", "type": "deliveryRate", "threshold": 0.9}


def test_a_budget_gate_without_a_budget_is_refused() -> None:
    problems = validate_campaign(_spec(False, [DELIVERY_GATE, BUDGET_GATE]), BUILTIN_TEMPLATES,
                                 None)
    assert problems == ["spec.exposure.gates[1] (budget): a budget gate needs "
                        "spec.economics.budget"]


def test_a_budget_gate_with_a_budget_or_no_budget_gate_is_fine() -> None:
    assert validate_campaign(_spec(True, [DELIVERY_GATE, BUDGET_GATE]), BUILTIN_TEMPLATES,
                             None) == []
    assert validate_campaign(_spec(False, [DELIVERY_GATE]), BUILTIN_TEMPLATES, None) == []
