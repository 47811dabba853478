"""What the CRDs' rules refuse since they bound durations, gate settings, names and the holdout's
text: an object stored before a rule is InvalidSpec naming the field (``domain.validation``),
never an exception at every pass (a duration no time can be added to) nor an Error at every
analysis then a rollback (a bound the evaluator refuses). The API server's own answer is pinned
in ``tests/integration/operator/test_api_server.py``; the passes' in
``tests/unit/services/test_stored_before_the_bounds.py``."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.domain import test_campaign_gates, test_gates

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
from uplift_operator.api.v1alpha1 import Campaign, UpliftModel
from uplift_operator.api.v1alpha1.campaign import (
    CAMPAIGN_GATE_FIELDS,
    CAMPAIGN_NAME_PATTERN,
    ROI_VALUE,
)
from uplift_operator.api.v1alpha1.common import (
    DURATION_BOUND,
    DURATION_PATTERN,
    MAX_DURATION_SECONDS,
    WHITESPACE_CLASS,
    WINDOW_BOUND,
    GateSpecBase,
    clamp_durations,
    durations,
    parse_duration,
)
from uplift_operator.api.v1alpha1.upliftmodel import (
    MODEL_GATE_FIELDS,
    MODEL_NAME_PATTERN,
    ModelGate,
)
from uplift_operator.domain import gates, validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.runtime import campaigns as runtime

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
CAMPAIGN_BODY = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
MODEL_TREATMENTS = {"mens-e-mail", "womens-e-mail"}


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``path`` (dotted, list indices as numbers) set to ``value``."""
    body = copy.deepcopy(body)
    node: Any = body
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[int(leaf) if leaf.isdigit() else leaf] = value
    return body


def _model_problems(body: dict[str, Any]) -> list[str]:
    return validation.validate_upliftmodel(
        UpliftModel.model_validate(body).spec, BUILTIN_TEMPLATES,
        name=body["metadata"]["name"])


def _campaign_problems(body: dict[str, Any]) -> list[str]:
    return validation.validate_campaign(
        Campaign.model_validate(body).spec, BUILTIN_TEMPLATES, MODEL_TREATMENTS,
        name=body["metadata"]["name"])


def test_the_samples_are_within_every_bound() -> None:
    assert _model_problems(MODEL) == [] and _campaign_problems(CAMPAIGN_BODY) == []


# -- durations -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["36601d", "878401h", "3000000d", "999999999d", "1000000000d",
                                  "99999999999h", "9" * 31 + "d", "36599d23h59m60.5s"])
def test_parse_duration_refuses_past_the_bound_with_a_value_error(text: str) -> None:
    """Never an OverflowError (timedelta's own limit, near 1e9 days) nor a value no time can be
    added to (from about 3 million days): a ValueError naming the bound, which the passes'
    validation reports first (InvalidSpec) and never reaches."""
    with pytest.raises(ValueError, match=r"is longer than 36600d \(100 years"):
        parse_duration(text)


def test_parse_duration_takes_the_bound_itself() -> None:
    assert parse_duration("36600d").total_seconds() == MAX_DURATION_SECONDS
    assert parse_duration("878400h") == parse_duration("36599d23h59m60s") == parse_duration(
        "36600d")


def _duration_nodes(schema: dict[str, Any], path: str = "spec") -> dict[str, dict[str, Any]]:
    """Every node of a CRD schema with the Duration pattern, by path (list items as ``[]``)."""
    found: dict[str, dict[str, Any]] = {}
    if schema.get("pattern") == DURATION_PATTERN:
        found[path] = schema
    for name, sub in schema.get("properties", {}).items():
        found.update(_duration_nodes(sub, f"{path}.{name}"))
    if "items" in schema:
        found.update(_duration_nodes(schema["items"], f"{path}[]"))
    return found


@pytest.mark.parametrize(("crd", "sample", "model"), [(UPLIFTMODEL, MODEL, UpliftModel),
                                                       (CAMPAIGN, CAMPAIGN_BODY, Campaign)])
def test_every_duration_of_the_crd_carries_its_bound_and_is_checked(
        crd: Any, sample: dict[str, Any], model: Any) -> None:
    """The walker ``domain.validation`` checks with sees every Duration field of the CRD (all of
    them are set in the samples), and each field's CRD rule is its type's bound."""
    spec = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    nodes = _duration_nodes(spec)
    walked = {re.sub(r"\[\d+\]", "[]", where): bound
              for where, _, bound in durations(model.model_validate(sample).spec, "spec")}
    assert set(walked) == set(nodes)
    for where, node in nodes.items():
        bound = WINDOW_BOUND if where.endswith("attributionWindow") else DURATION_BOUND
        assert walked[where] == bound, where
        assert node["x-kubernetes-validations"] == [bound.rule()], where
        assert f"at most {bound.text}" in node["description"].lower(), where


def _duration_paths(sample: dict[str, Any], model: Any) -> list[str]:
    spec = model.model_validate(sample).spec
    return [re.sub(r"\[(\d+)\]", r".\1", where) for where, _, _ in durations(spec, "spec")]


DURATION_CASES = [
    *[pytest.param("UpliftModel", path, value, id=f"model-{path}-{value}")
      for path in _duration_paths(MODEL, UpliftModel)
      for value in ("36601d", "3000000d", "1000000000d")],
    *[pytest.param("Campaign", path, value, id=f"campaign-{path}-{value}")
      for path in _duration_paths(CAMPAIGN_BODY, Campaign)
      for value in ("36601d", "3000000d", "1000000000d")],
]


@pytest.mark.parametrize(("kind", "path", "value"), DURATION_CASES)
def test_a_duration_past_its_bound_is_a_problem_naming_the_field(kind: str, path: str,
                                                                  value: str) -> None:
    base = MODEL if kind == "UpliftModel" else CAMPAIGN_BODY
    body = _set(base, path, value)  # the typed model takes it: it was stored
    problems = (_model_problems if kind == "UpliftModel" else _campaign_problems)(body)
    field = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)
    bound = WINDOW_BOUND if path.endswith("attributionWindow") else DURATION_BOUND
    # A Campaign's experiment is immutable (transition rules): its fix is a new Campaign.
    immutable = (f" {validation.EXPERIMENT_IMMUTABLE}"
                 if kind != "UpliftModel" and path.startswith("spec.experiment.") else "")
    assert f"{field} must be at most {bound.text} ({bound.why}); got {value}{immutable}" in problems


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_an_attribution_window_has_the_runtimes_bound(kind: str) -> None:
    assert validation.MAX_ATTRIBUTION_WINDOW_SECONDS == runtime.MAX_WINDOW_SECONDS
    base, check = ((MODEL, _model_problems) if kind == "UpliftModel"
                   else (CAMPAIGN_BODY, _campaign_problems))
    immutable = f" {validation.EXPERIMENT_IMMUTABLE}" if kind == "Campaign" else ""
    assert check(_set(base, "spec.experiment.attributionWindow", "3661d")) == [
        "spec.experiment.attributionWindow must be at most 3660d (10 years, the runtime's "
        f"bound); got 3661d{immutable}"]
    assert check(_set(base, "spec.experiment.attributionWindow", "3660d")) == []


def test_a_duration_at_the_bound_is_no_problem() -> None:
    body = _set(_set(MODEL, "spec.rollout.steps.2.pause", "36600d"),
                "spec.rollout.progressDeadline", "878400h")
    body["spec"]["rollback"] = {"scaleDownDelay": "36600d"}
    assert _model_problems(body) == []


def test_clamping_brings_only_what_parse_duration_refuses_within_it() -> None:
    body = _set(_set(MODEL, "spec.rollout.steps.0.pause", "1000000000d"),
                "spec.experiment.attributionWindow", "4000d")
    body["spec"]["rollback"] = {"scaleDownDelay": "99999999999h"}
    spec = UpliftModel.model_validate(body).spec
    clamped = clamp_durations(spec)
    assert clamped.rollout.steps[0].pause == "36600d"
    assert clamped.rollback.scale_down_delay == "36600d"
    # within what parse_duration takes: kept (its own bound is validation's to name)
    assert clamped.experiment.attribution_window == "4000d"
    assert clamped.rollout.steps[1:] == spec.rollout.steps[1:]
    assert spec.rollout.steps[0].pause == "1000000000d"  # a copy: the spec is as stored
    for _, value, _ in durations(clamped, "spec"):
        parse_duration(value)
    assert clamp_durations(UpliftModel.model_validate(MODEL).spec) == UpliftModel.model_validate(
        MODEL).spec


def test_the_other_checks_still_run_beside_a_duration_past_its_bound() -> None:
    body = _set(_set(MODEL, "spec.rollout.analysisInterval", "1000000000d"),
                "spec.rollout.gates.0.templateRef", "no-such-template")
    problems = _model_problems(body)
    assert problems[0].startswith("spec.rollout.analysisInterval must be at most 36600d")
    assert any("metric template 'no-such-template' does not exist" in p for p in problems)


# -- gate bounds the evaluators refuse ----------------------------------------------------------

def _with_model_gate(gate: dict[str, Any]) -> list[str]:
    body = copy.deepcopy(MODEL)
    body["spec"]["rollout"]["gates"].append(gate)
    return _model_problems(body)


def _with_campaign_gate(gate: dict[str, Any], **economics: Any) -> list[str]:
    body = copy.deepcopy(CAMPAIGN_BODY)
    body["spec"]["exposure"]["gates"] = [gate]
    body["spec"]["economics"].update(economics)
    return _campaign_problems(body)


@pytest.mark.parametrize(("gate", "expected"), [
    ({"name": "e", "type": "errorRate", "max": 0},
     "gates[6] (e).max: an errorRate gate's max is a share of requests: it must be above 0 and "
     "below 1 (at 0 the gate could never pass, at 1 never fail) (got 0)"),
    ({"name": "e", "type": "errorRate", "max": 1}, "(got 1)"),
    ({"name": "e", "type": "errorRate", "max": 1.5}, "(got 1.5)"),
    ({"name": "s", "type": "upliftSanity", "min": 0.5, "max": 0.5},
     "gates[6] (s): an upliftSanity gate's band needs min below max (absent: min -1, max 1, in "
     "training standard deviations) (got [0.5, 0.5])"),
    ({"name": "s", "type": "upliftSanity", "min": 2}, "(got [2, 1])"),
    ({"name": "s", "type": "upliftSanity", "max": -1}, "(got [-1, -1])"),
])
def test_a_model_gate_bound_its_evaluator_refuses_is_a_problem(gate: dict[str, Any],
                                                               expected: str) -> None:
    problems = _with_model_gate(gate)
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("gate", [
    {"name": "e", "type": "errorRate", "max": 0.001},
    {"name": "e", "type": "errorRate", "max": 0.999},
    {"name": "e", "type": "errorRate", "margin": 0.1},
    {"name": "s", "type": "upliftSanity"},
    {"name": "s", "type": "upliftSanity", "min": 0.5},
    {"name": "s", "type": "upliftSanity", "min": -3, "max": -2},
])
def test_a_model_gate_bound_its_evaluator_judges_is_no_problem(gate: dict[str, Any]) -> None:
    assert _with_model_gate(gate) == []


@pytest.mark.parametrize(("floor", "ok"), [(0, False), (1, False), (1.5, False), (0.5, True),
                                           (0.999, True)])
def test_a_delivery_rate_min_must_be_a_share_strictly_between_0_and_1(floor: float,
                                                                       ok: bool) -> None:
    problems = _with_campaign_gate({"name": "d", "type": "deliveryRate", "min": floor})
    assert problems == ([] if ok else [
        "spec.exposure.gates[0] (d).min: a deliveryRate gate's min is a share of the decisions delivered: it "
        "must be above 0 and below 1 (at 0 the gate could never fail, at 1 never pass) "
        f"(got {floor:g})"])


@pytest.mark.parametrize(("economics", "treatment_value", "ok"), [
    ({"valuePerConversion": 0}, None, False),
    ({"valuePerConversion": 10}, 0, False),
    ({"valuePerConversion": 10}, 5, True),
])
def test_a_roi_gate_needs_a_value_per_conversion_above_0(
        economics: dict[str, Any], treatment_value: float | None, ok: bool) -> None:
    body = copy.deepcopy(CAMPAIGN_BODY)
    body["spec"]["economics"].update(economics)
    if treatment_value is not None:
        body["spec"]["treatments"][0]["valuePerConversion"] = treatment_value
    problems = _campaign_problems(body)
    assert [g["type"] for g in body["spec"]["exposure"]["gates"]].count("roi") == 1
    # The sample's roi gate (gates[2]) judges both treatments; womens-e-mail is treatments[0].
    where = ("spec.economics.valuePerConversion" if treatment_value is None
             else "spec.treatments[0].valuePerConversion")
    assert problems == ([] if ok else [
        f"{where} (0, read by spec.exposure.gates[2] (roi) for 'womens-e-mail'): a roi gate "
        "needs a value per conversion above 0 for each treatment it judges (its treatments, "
        "else all): the treatment's valuePerConversion, else spec.economics.valuePerConversion "
        "(an ROI is measured in it); a treatment the gate does not judge, and the economics' "
        "value when each one it judges overrides it, may be 0"])
    body["spec"]["exposure"]["gates"] = [g for g in body["spec"]["exposure"]["gates"]
                                         if g["type"] != "roi"]
    assert _campaign_problems(body) == []  # nothing else reads it as a unit


def test_a_value_the_roi_gate_never_reads_may_be_0() -> None:
    """Review finding (cel_roi_value.py): the economics' value when every treatment overrides
    it, and a treatment the roi gate does not judge, are read by no roi gate; they were refused
    all the same."""
    body = copy.deepcopy(CAMPAIGN_BODY)
    spec = body["spec"]
    spec["economics"]["valuePerConversion"] = 0
    for treatment in spec["treatments"]:
        treatment["valuePerConversion"] = 50
    assert _campaign_problems(body) == []
    body = copy.deepcopy(CAMPAIGN_BODY)
    spec = body["spec"]
    spec["treatments"][1]["valuePerConversion"] = 0  # mens-e-mail, which the gate leaves out
    spec["exposure"]["gates"][2]["treatments"] = ["womens-e-mail"]
    assert _campaign_problems(body) == []
    # Judged after all (by this gate, or by a second roi gate judging every treatment): refused.
    spec["exposure"]["gates"].append({"name": "roi-all", "type": "roi"})
    assert _campaign_problems(body) == [
        f"spec.treatments[1].valuePerConversion (0, read by spec.exposure.gates[5] (roi-all) "
        f"for 'mens-e-mail'): {ROI_VALUE}"]


#: Bounds the schema takes for each field (min ≤ max is the API server's), tried on every gate of
#: the gate tests' tables whose type reads the field.
BOUNDS = [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0]


def _variants(gate: GateSpecBase) -> list[GateSpecBase]:
    table = MODEL_GATE_FIELDS if isinstance(gate, ModelGate) else CAMPAIGN_GATE_FIELDS
    reads = [f for f in ("min", "max") if gate.type in table[f]]
    wire = gate.to_wire()
    out = []
    for low in [None, *BOUNDS] if "min" in reads else [wire.get("min")]:
        for high in [None, *BOUNDS] if "max" in reads else [wire.get("max")]:
            if low is not None and high is not None and low > high:
                continue
            body = {k: v for k, v in wire.items() if k not in ("min", "max")}
            body.update({k: v for k, v in (("min", low), ("max", high)) if v is not None})
            out.append(type(gate).model_validate(body))
    return out


def _cases() -> list[Any]:
    model = [pytest.param(g, m, id=name) for name, g, m, *_ in test_gates.CASES]
    campaign = [pytest.param(g, m, id=f"campaign-{i}-{g.type}")
                for i, (g, m, *_) in enumerate(test_campaign_gates.CASES)]
    return model + campaign


@pytest.mark.parametrize(("gate", "measurement"), _cases())
def test_every_bound_the_schema_takes_is_judged_or_refused(gate: GateSpecBase,
                                                          measurement: Any) -> None:
    """Each min/max the schema lets through, on every gate of the gate tests' tables: the
    evaluator judges it (no "invalid measurement" Error, which counts towards a rollback), or
    validation refuses it (InvalidSpec). A measurement the table itself makes invalid is no
    bound's doing and is skipped."""
    judged = gates.evaluate_gate(gate, measurement, None, test_gates.NOW)
    if judged.message.startswith("invalid measurement") and not validation.gate_bound_problems(
            gate, "g"):
        pytest.skip("the table's measurement is invalid whatever the bounds")
    for variant in _variants(gate):
        outcome = gates.evaluate_gate(variant, measurement, None, test_gates.NOW)
        refused = validation.gate_bound_problems(variant, "g")
        assert refused or not outcome.message.startswith("invalid measurement"), (
            variant.to_wire(), outcome.message)


def test_the_crd_band_default_is_the_evaluators() -> None:
    rules = [r["rule"] for r in ModelGate.model_json_schema()["x-kubernetes-validations"]
             if r["rule"].startswith("self.type != 'upliftSanity'")]
    band = gates.DEFAULT_SANITY_BAND
    assert rules == [f"self.type != 'upliftSanity' || (has(self.min) ? self.min : {-band!r}) < "
                     f"(has(self.max) ? self.max : {band!r})"]


# -- names and the holdout's text ----------------------------------------------------------------

@pytest.mark.parametrize(("name", "ok"), [
    ("hillstrom-uplift", True), ("a", True), ("a" * 63, True), ("a" * 64, False),
    ("churn.v2", False), ("1churn", False), ("churn-", False), ("Churn", False),
])
def test_an_upliftmodel_name_must_be_a_dns_1035_label(name: str, ok: bool) -> None:
    problems = _model_problems(_set(MODEL, "metadata.name", name))
    assert problems == ([] if ok else [
        "metadata.name must be a DNS-1035 label: at most 63 characters, lower-case letters, "
        "digits and '-', starting with a letter and ending with a letter or digit (no '.'): it "
        "names the serving graph's container and Services and is a label value "
        f"(got {name!r}); create it again under such a name"])


@pytest.mark.parametrize(("name", "ok"), [
    ("spring-email", True), ("1spring", True), ("a" * 63, True), ("a" * 64, False),
    ("spring.email", False), ("-spring", False), ("Spring", False),
])
def test_a_campaign_name_must_be_what_the_runtime_takes(name: str, ok: bool) -> None:
    problems = _campaign_problems(_set(CAMPAIGN_BODY, "metadata.name", name))
    taken = len(name) <= runtime.MAX_NAME and runtime.NAME.fullmatch(name) is not None
    assert ok == taken  # the runtime's own rule (runtime.campaigns.parse_campaign)
    assert (problems == []) == ok, problems
    if not ok:
        assert problems[0].startswith("metadata.name must be a DNS label")


def test_the_name_rules_are_the_runtimes_and_a_dns_label() -> None:
    assert f"^{runtime.NAME.pattern}$" == CAMPAIGN_NAME_PATTERN and runtime.MAX_NAME == 63
    assert MODEL_NAME_PATTERN == "^[a-z]([-a-z0-9]*[a-z0-9])?$"


@pytest.mark.parametrize(("field", "value", "ok"), [
    ("salt", " ", False), ("salt", "\t\u3000", False), ("salt", "", True), ("salt", " x ", True),
    ("unitKey", "  ", False), ("unitKey", "\x1c", False), ("unitKey", "\u200b", True),
])
@pytest.mark.parametrize("kind", ["Campaign", "UpliftModel"])
def test_the_holdout_text_must_not_be_blank(kind: str, field: str, value: str, ok: bool) -> None:
    problems = (_campaign_problems(_set(CAMPAIGN_BODY, f"spec.experiment.{field}", value))
                if kind == "Campaign" else
                _model_problems(_set(MODEL, f"spec.experiment.{field}", value)))
    immutable = f" {validation.EXPERIMENT_IMMUTABLE}" if kind == "Campaign" else ""
    assert problems == ([] if ok else [f"spec.experiment.{field}: {field} must not be blank "
                                       f"(got {value!r}){immutable}"])
    blank_for_runtime = not value.strip()  # runtime.campaigns reads text so
    assert ok == (not blank_for_runtime or (field == "salt" and value == ""))


def test_the_crds_whitespace_is_pythons() -> None:
    """The CRD's rule refuses what ``str.strip`` (the runtime's reading) leaves empty."""
    # RE2's \x{h} is Python's \U0000000h.
    listed = re.compile("[" + re.sub(r"\\x\{(\w+)\}", lambda m: f"\\U{int(m[1], 16):08x}",
                                     WHITESPACE_CLASS) + "]")
    everything = map(chr, range(sys.maxunicode + 1))
    assert {c for c in everything if listed.fullmatch(c)} == {
        c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}

