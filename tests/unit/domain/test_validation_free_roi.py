"""A roi gate needs a treatment it judges that costs more than 0. With all of them free nothing
is spent: its break-even Δ* = c̄(1 + min)/v is 0 whatever its min, and the ROI, (value −
cost)/cost, is undefined. Before, such a Campaign was accepted and its roi gate measured
"nothing spent on … treated-arm units yet" at every analysis, a counted Inconclusive, so the
ramp never left its first step (or paused at inconclusiveLimit). It is refused now, by the
operator (InvalidSpec) and by the CRD's CEL rule (the same message)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from uplift_operator.api.crds import CAMPAIGN
from uplift_operator.api.v1alpha1.campaign import GATE_TREATMENTS_UNKNOWN, ROI_COST, CampaignSpec
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.domain.validation import validate_campaign

RAW = yaml.safe_load((Path(__file__).resolve().parents[3] / "manifests" / "samples"
                      / "campaign.yaml").read_text())["spec"]
# The sample sends womens-e-mail at the economics' 0.10 and mens-e-mail at its own 0.12.
ROI = {"name": "roi", "type": "roi", "min": 0.0}


def _problems(default_cost: float, mens_cost: float | None,
              gates: list[dict[str, Any]]) -> list[str]:
    raw = copy.deepcopy(RAW)
    raw["economics"]["costPerTreatment"] = default_cost
    raw["economics"].pop("budget")  # a budget below the cheapest treatment is refused apart
    raw["economics"].pop("budgetPeriod")
    if mens_cost is None:
        raw["treatments"][1].pop("costPerTreatment")
    else:
        raw["treatments"][1]["costPerTreatment"] = mens_cost
    raw["exposure"]["gates"] = gates
    return validate_campaign(CampaignSpec.model_validate(raw), BUILTIN_TEMPLATES, None)


def test_a_roi_gate_on_free_treatments_is_refused() -> None:
    refusal = f"spec.exposure.gates[1] (roi): {ROI_COST}"
    delivery = {"name": "delivery", "type": "deliveryRate"}
    assert _problems(0.0, 0.0, [delivery, ROI]) == [refusal]
    assert _problems(0.0, None, [delivery, ROI]) == [refusal]  # the override left unset
    # Only the treatments it judges count: the paid one is not among them.
    assert _problems(0.0, 0.12, [delivery, {**ROI, "treatments": ["womens-e-mail"]}]) == [
        refusal]
    assert "incrementalConversions gate (its min 0 is the break-even at no cost)" in refusal


def test_a_roi_gate_with_a_paid_treatment_it_judges_is_fine() -> None:
    assert _problems(0.0, 0.12, [ROI]) == []  # one of the two costs something: spend > 0
    assert _problems(0.0, 0.12, [{**ROI, "treatments": ["mens-e-mail"]}]) == []
    assert _problems(0.10, 0.0, [ROI]) == []
    # Free treatments without a roi gate: the effect gate judges them.
    assert _problems(0.0, 0.0, [{"name": "inc", "type": "incrementalConversions"}]) == []


def test_the_crd_refuses_it_with_the_same_message() -> None:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = schema["properties"]["spec"]["x-kubernetes-validations"]
    rule = next(r for r in rules if r["message"] == ROI_COST)
    assert rule["fieldPath"] == ".exposure.gates"
    # What the rule reads: each roi gate's treatments (absent or empty: all), each treatment's
    # cost, else the economics' (the evaluation is checked by the API server's integration
    # test, tests/integration/operator/test_api_server.py).
    for text in ("g.type != 'roi'", "!has(g.treatments)", "t.name in g.treatments",
                 "has(t.costPerTreatment) ? t.costPerTreatment : "
                 "self.economics.costPerTreatment", "> 0.0"):
        assert text in rule["rule"]


def test_a_roi_gate_naming_an_unknown_treatment_is_refused_as_unknown_not_as_free() -> None:
    """Where a roi gate names a treatment the campaign does not send, the cost check does not
    apply (the unknown name is the problem, said by the gate checks), as in the CRD's rule."""
    for named in (["no-such"], ["womens-e-mail", "no-such"]):
        problems = _problems(0.0, 0.12, [{**ROI, "treatments": named}])
        assert problems == ["spec.exposure.gates[0] (roi).treatments: unknown treatment "
                            "'no-such'"], named


def test_the_crd_applies_the_cost_rule_only_to_known_treatments_and_refuses_unknown_ones() -> None:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = schema["properties"]["spec"]["x-kubernetes-validations"]
    cost = next(r for r in rules if r["message"] == ROI_COST)
    # Evaluated by the API server's integration test (tests/support/cel has no macros):
    # test_a_roi_gate_naming_an_unknown_treatment_is_refused_as_such.
    assert "g.treatments.exists(n, !self.treatments.exists(t, t.name == n))" in cost["rule"]
    unknown = next(r for r in rules if r["message"] == GATE_TREATMENTS_UNKNOWN)
    assert unknown["fieldPath"] == ".exposure.gates"
    assert unknown["rule"] == ("self.exposure.gates.all(g, !has(g.treatments) || "
                               "g.treatments.all(n, self.treatments.exists(t, t.name == n)))")
