"""What ``kubectl explain`` says of a Campaign's fields shared with the UpliftModel's: each in a
Campaign's own words (review: paused said nothing of the 0 % hold before the ramp starts;
templateRef and margin spoke of latency and the UpliftModel's comparative gates)."""

from __future__ import annotations

from typing import Any

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL


def _spec(crd: Any) -> dict[str, Any]:
    schema = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: dict[str, Any] = schema["properties"]["spec"]["properties"]
    return spec


def _said(text: str) -> str:
    return " ".join(text.split())


def test_paused_says_it_holds_a_campaign_at_0_until_resumed_before_its_ramp_starts() -> None:
    paused = _said(_spec(CAMPAIGN)["exposure"]["properties"]["paused"]["description"])
    assert "before its ramp has started" in paused
    assert "holds the Campaign at 0 %" in paused and "until it is resumed" in paused
    assert "starts at step 1" in paused
    # The UpliftModel's own words stay as they were.
    model = _spec(UPLIFTMODEL)["rollout"]["properties"]["paused"]["description"]
    assert model == "Hold the ramp where it is; gates keep being evaluated."


def test_a_campaign_gates_template_ref_and_margin_describe_a_campaign_gate() -> None:
    gate = _spec(CAMPAIGN)["exposure"]["properties"]["gates"]["items"]["properties"]
    template = _said(gate["templateRef"]["description"])
    assert "latency" not in template and "histogram" not in template
    assert "custom gates only" in template and "min/max" in template
    for field in ("margin", "marginType"):
        said = _said(gate[field]["description"])
        assert "UpliftModel" not in said.replace("UpliftModel's spec", ""), said
        assert "latency" not in said and "refused" in said
    # The UpliftModel's keep theirs.
    model_gate = _spec(UPLIFTMODEL)["rollout"]["properties"]["gates"]["items"]["properties"]
    assert "latency gate's template" in model_gate["templateRef"]["description"]
    assert "Comparative gates only" in model_gate["margin"]["description"]


def test_a_campaigns_phase_names_its_model_not_found_among_what_turns_it_degraded() -> None:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    phase = _said(schema["properties"]["status"]["properties"]["phase"]["description"])
    assert "SettingsDelivered False" in phase and "ModelServing False (ModelNotFound" in phase
