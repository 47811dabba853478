"""Semantic validation: each problem names the field to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cel import evaluate

from uplift_operator.api.v1alpha1 import Campaign, UpliftModel
from uplift_operator.api.v1alpha1.upliftmodel import RELATIVE_MARGIN, ModelGate
from uplift_operator.domain import promql, templates, validation
from uplift_operator.domain.gates import margin_of
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL_TREATMENTS = {"mens-e-mail", "womens-e-mail"}


def _model(**changes: Any) -> UpliftModel:
    body = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    for path, value in changes.items():
        node = body["spec"]
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return UpliftModel.model_validate(body)


def _campaign(**spec_changes: Any) -> Campaign:
    body = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    body["spec"].update(spec_changes)
    return Campaign.model_validate(body)


def test_samples_are_valid() -> None:
    assert validation.validate_upliftmodel(_model().spec, BUILTIN_TEMPLATES) == []
    assert validation.validate_campaign(_campaign().spec, BUILTIN_TEMPLATES, MODEL_TREATMENTS) == []


@pytest.mark.parametrize(("changes", "expected"), [
    ({"rollout.gates.0.templateRef": "no-such-template"},
     "gates[0] (latency).templateRef: metric template 'no-such-template' does not exist"),
    ({"rollout.gates.2.features": ["shoe_size"]},
     "gates[2] (drift).features: 'shoe_size' is not in spec.features"),
    ({"rollout.gates.3.treatments": ["sms"]}, "gates[3] (qini).treatments: unknown treatment 'sms'"),
    ({"rollout.gates.1.margin": 1.5}, "a relative margin must be below 1"),
    ({"rollout.steps.0.pause": "10s"}, "spec.rollout.steps[0].pause (10s) is shorter than"),
    ({"rollout.analysisInterval": "100ms", "rollout.steps.0.pause": "1s"},
     "analysisInterval must be at least 1s"),
    # The runtime would refuse to load the model: refused before anything is deployed.
    ({"treatments": [{"name": "a-b"}, {"name": "a--b"}]},
     "spec.treatments: treatments 'a-b' and 'a--b' have the same key 'a_b'"),
    ({"treatments": [{"name": "1" + "a" * 62}]}, "has 65 characters, at most 64"),
])
def test_upliftmodel_problems_name_the_field(changes: dict[str, Any], expected: str) -> None:
    problems = validation.validate_upliftmodel(_model(**changes).spec, BUILTIN_TEMPLATES)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(("index", "name"), [(0, "latency"), (1, "errors"), (3, "qini")])
def test_relative_margin_of_one_or_more_is_refused_when_margin_type_is_left_out(
        index: int, name: str) -> None:
    """latency, errorRate and qini are judged with a relative margin when marginType is left
    out (gates.margin_of): a margin of 1 or more is refused as when relative is written."""
    body = _model().to_wire()
    gate = body["spec"]["rollout"]["gates"][index]
    gate.pop("marginType", None)
    gate["margin"] = 1.5
    problems = validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                               BUILTIN_TEMPLATES)
    assert problems == [f"spec.rollout.gates[{index}] ({name}).margin: a relative margin must be below 1 "
                        "(got 1.5)"]


def test_margin_of_one_or_more_is_allowed_when_absolute() -> None:
    """An absolute margin has no bound of 1: onlineEffect's default type, or written."""
    body = _model().to_wire()
    gates = body["spec"]["rollout"]["gates"]
    gates[4]["margin"] = 1.5  # onlineEffect, marginType left out: absolute
    gates[1].update(margin=1.5, marginType="absolute")
    assert validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                           BUILTIN_TEMPLATES) == []


def test_custom_query_with_unknown_variable() -> None:
    gate = {"name": "custom", "type": "custom", "query": "up{job='{{job}}'}", "max": 1}
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(gate)
    problems = validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                               BUILTIN_TEMPLATES)
    assert problems == ["spec.rollout.gates[6] (custom).query: unknown variables job; known: "
                        "interval, model, name, namespace, predictor, version"]


def test_configured_template_makes_a_reference_valid() -> None:
    spec = _model(**{"rollout.gates.0.templateRef": "team-latency"}).spec
    templates = {**BUILTIN_TEMPLATES, "team-latency": (
        "histogram_quantile(0.9, sum by (le) (rate(x_bucket{ns='{{namespace}}', "
        "version='{{version}}'}[{{interval}}])))")}
    assert validation.validate_upliftmodel(spec, templates) == []


#: p95 templates a latency gate cannot judge: they read no classic histogram's bucket counts,
#: so the gate would show their p95 and decide on another histogram (review finding 3).
NO_BUCKETS = {
    "native-p95": ('histogram_quantile(0.95, sum(rate(http_server_duration_seconds{namespace='
                   '"{{namespace}}", app="{{model}}", version="{{version}}"}[{{interval}}])))'),
    "recorded-p95": ('job:model_latency_seconds:p95{namespace="{{namespace}}", '
                     'model="{{model}}", version="{{version}}"}'),
    # A _bucket series read as an instant vector: no range, so no count since the step began.
    "instant-buckets": ('histogram_quantile(0.95, sum by (le) (x_bucket{namespace='
                        '"{{namespace}}"}))'),
}


@pytest.mark.parametrize("name", sorted(NO_BUCKETS))
def test_a_latency_template_that_reads_no_bucket_series_is_refused(name: str) -> None:
    spec = _model(**{"rollout.gates.0.templateRef": name}).spec
    problems = validation.validate_upliftmodel(spec, {**BUILTIN_TEMPLATES, **NO_BUCKETS})
    assert problems == [f"spec.rollout.gates[0] (latency).templateRef: template {name!r}: "
                        f"{templates.LATENCY_NEEDS_BUCKETS}"]
    assert "_bucket series over a range" in problems[0]


#: An Istio-style p95 filtered by namespace and service only: both versions' traffic in one
#: histogram, so the canary's and the stable's bucket queries would be the same text.
ISTIO_P95 = ('histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_seconds_bucket'
             '{destination_workload_namespace="{{namespace}}", destination_service_name='
             '"{{model}}"}[{{interval}}])))')


def test_a_latency_template_that_does_not_name_the_version_is_refused() -> None:
    spec = _model(**{"rollout.gates.0.templateRef": "istio-p95"}).spec
    problems = validation.validate_upliftmodel(spec, {**BUILTIN_TEMPLATES,
                                                      "istio-p95": ISTIO_P95})
    assert problems == [f"spec.rollout.gates[0] (latency).templateRef: template 'istio-p95': "
                        f"{validation.LATENCY_NEEDS_VERSION}"]
    assert "neither {{version}} nor {{predictor}}" in problems[0]
    # Named by the predictor instead, or by the version outside the selector only: the first
    # is accepted, the second is not (its bucket counts are still both versions').
    by_predictor = ISTIO_P95.replace('"{{model}}"}', '"{{model}}", predictor="{{predictor}}"}')
    assert validation.validate_upliftmodel(spec, {**BUILTIN_TEMPLATES,
                                                  "istio-p95": by_predictor}) == []
    outside = f'{ISTIO_P95} * on() group_left() vector(0 * {{{{version}}}})'
    assert validation.validate_upliftmodel(spec, {**BUILTIN_TEMPLATES,
                                                  "istio-p95": outside}) == problems


@pytest.mark.parametrize("name", sorted(NO_BUCKETS))
def test_a_custom_gate_may_read_any_template(name: str) -> None:
    gate = {"name": "probe", "type": "custom", "templateRef": name, "max": 1}
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(gate)
    spec = UpliftModel.model_validate(body).spec
    assert validation.validate_upliftmodel(spec, {**BUILTIN_TEMPLATES, **NO_BUCKETS}) == []


def test_a_default_latency_template_replaced_by_one_without_buckets_is_refused() -> None:
    """--metric-templates may replace the built-in uplift-latency-p95, which a latency gate
    without templateRef reads."""
    body = _model().to_wire()
    del body["spec"]["rollout"]["gates"][0]["templateRef"]
    spec = UpliftModel.model_validate(body).spec
    assert spec.rollout.gates[0].type == "latency" and spec.rollout.gates[0].template_ref is None
    replaced = {**BUILTIN_TEMPLATES, templates.DEFAULT_LATENCY_TEMPLATE: NO_BUCKETS["native-p95"]}
    assert validation.validate_upliftmodel(spec, replaced) == [
        f"spec.rollout.gates[0] (latency): template 'uplift-latency-p95': {templates.LATENCY_NEEDS_BUCKETS}"]


@pytest.mark.parametrize("name", sorted(n for n in BUILTIN_TEMPLATES if "latency" in n))
def test_every_builtin_latency_template_reads_a_bucket_series(name: str) -> None:
    spec = _model(**{"rollout.gates.0.templateRef": name}).spec
    assert validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES) == []


def test_campaign_treatment_must_belong_to_the_model() -> None:
    problems = validation.validate_campaign(_campaign().spec, BUILTIN_TEMPLATES, {"womens-e-mail"})
    assert problems == ["spec.treatments[1].name: 'mens-e-mail' is not a treatment of UpliftModel "
                        "'hillstrom-uplift' (it has: womens-e-mail)"]


def test_campaign_with_unknown_model_is_not_judged_on_treatments() -> None:
    assert validation.validate_campaign(_campaign().spec, BUILTIN_TEMPLATES, None) == []


def test_campaign_budget_below_one_treatment() -> None:
    economics = {"valuePerConversion": 10, "costPerTreatment": 0.5, "budget": 0.1}
    problems = validation.validate_campaign(_campaign(economics=economics).spec, BUILTIN_TEMPLATES,
                                            MODEL_TREATMENTS)
    assert problems == ["spec.economics.budget (0.1) cannot pay for a single treatment "
                        "(cheapest costs 0.12)"]


@pytest.mark.parametrize(("section", "field", "value"), [
    ("economics", "budgetPeriod", "0s"),
    ("economics", "budgetPeriod", "500ms"),
    ("experiment", "attributionWindow", "500ms"),
])
def test_campaign_periods_under_a_second_are_refused(section: str, field: str,
                                                     value: str) -> None:
    # The runtime counts them in whole seconds of at least 1 and would refuse the entry.
    spec = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]
    problems = validation.validate_campaign(
        _campaign(**{section: {**spec[section], field: value}}).spec, BUILTIN_TEMPLATES,
        MODEL_TREATMENTS)
    # The experiment is immutable (transition rules): its fix is a new Campaign.
    suffix = f" {validation.EXPERIMENT_IMMUTABLE}" if section == "experiment" else ""
    assert problems == [f"spec.{section}.{field} must be at least 1s (got {value}){suffix}"]


@pytest.mark.parametrize("value", ["0s", "500ms", "0.9s"])
def test_an_upliftmodel_attribution_window_under_a_second_is_refused(value: str) -> None:
    """As a Campaign's: the runtime counts it in whole seconds of at least 1, so 0s or 500ms
    silently ran as 1s (the CRD's rule now refuses it; this, one stored before)."""
    problems = validation.validate_upliftmodel(
        _model(**{"experiment.attributionWindow": value}).spec, BUILTIN_TEMPLATES)
    assert problems == [f"spec.experiment.attributionWindow must be at least 1s (got {value})"]
    fits = _model(**{"experiment.attributionWindow": "1s"}).spec
    assert validation.validate_upliftmodel(fits, BUILTIN_TEMPLATES) == []


def test_an_attribution_window_beyond_the_runtimes_bound_is_refused() -> None:
    """The runtime refuses a window over ten years (its entry, or the model's split): both
    kinds say so in their status instead of the runtime quietly dropping the campaign."""
    from uplift_operator.runtime.campaigns import MAX_WINDOW_SECONDS

    assert validation.MAX_ATTRIBUTION_WINDOW_SECONDS == MAX_WINDOW_SECONDS
    spec = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]
    too_long = "3661d"
    campaign = _campaign(experiment={**spec["experiment"], "attributionWindow": too_long}).spec
    expected = ("spec.experiment.attributionWindow must be at most 3660d (10 years, the "
                f"runtime's bound); got {too_long}")
    assert validation.validate_campaign(campaign, BUILTIN_TEMPLATES, MODEL_TREATMENTS) == [
        f"{expected} (immutable: create the Campaign again under a new name)"]
    model = _model(**{"experiment.attributionWindow": too_long}).spec
    assert expected in validation.validate_upliftmodel(model, BUILTIN_TEMPLATES)
    fits = _campaign(experiment={**spec["experiment"], "attributionWindow": "3660d"}).spec
    assert validation.validate_campaign(fits, BUILTIN_TEMPLATES, MODEL_TREATMENTS) == []


def _with_gate(gate: dict[str, Any]) -> list[str]:
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(gate)
    return validation.validate_upliftmodel(UpliftModel.model_validate(body).spec,
                                           BUILTIN_TEMPLATES, namespace="shop", name="um")


@pytest.mark.parametrize(("query", "expected"), [
    ('sum(rate(uplift_outcomes_total{namespace="{{namespace}}"}[{{interval}}])',
     "gates[6] (probe).query: PromQL does not parse at column 4 (at '(rate(uplift_outcome')"
     ": unclosed left parenthesis"),
    ("rate(x[5 minutes])", "PromQL does not parse at column 10 (at 'minutes])')"),
    ("x{model={{name}}}", "column 9 (at '{{name}}}')"),
    ('rate(x{a="b"}[1m]) $', "column 20 (at '$'): unexpected character: '$'"),
    ("rat(x[1m])", "column 1 (at 'rat(x[1m])'): unknown function with name 'rat'"),
    ("sum(x)\n  / sum(y))", "line 2, column 11 (at ')'): unexpected right parenthesis"),
    ("", "gates[6] (probe).query is empty"),
    ("  \n", "gates[6] (probe).query is empty"),
])
def test_custom_query_that_does_not_parse_names_the_gate_and_position(query: str,
                                                                       expected: str) -> None:
    problems = _with_gate({"name": "probe", "type": "custom", "query": query, "max": 1})
    assert len(problems) == 1 and expected in problems[0], problems


def test_queries_are_parsed_with_the_resource_variables_filled_in() -> None:
    query = ('sum(rate(uplift_request_duration_seconds_count{namespace="{{namespace}}", '
             'model="{{name}}", version="{{version}}"}[{{interval}}])) > 0')
    assert _with_gate({"name": "probe", "type": "custom", "query": query, "max": 1}) == []


def test_a_configured_template_that_does_not_parse_is_named() -> None:
    spec = _model(**{"rollout.gates.0.templateRef": "team-latency"}).spec
    templates = {**BUILTIN_TEMPLATES, "team-latency": "histogram_quantile(0.9, x[{{interval}}]"}
    problems = validation.validate_upliftmodel(spec, templates)
    assert problems == ["spec.rollout.gates[0] (latency) template 'team-latency': PromQL does not parse at "
                        "column 19 (at '(0.9, x[{{interval}}')"
                        ": unclosed left parenthesis"]


def test_every_builtin_template_parses() -> None:
    variables = validation.query_variables("shop", "hillstrom-uplift", "30s")
    for name, template in BUILTIN_TEMPLATES.items():
        assert promql.check(templates.render(template, variables)) is None, name


def test_a_campaign_custom_gate_is_parsed_too() -> None:
    gates = [{"name": "spend", "type": "custom", "query": "sum(spend", "max": 1}]
    spec = _campaign(exposure={"steps": [{"percent": 5}], "gates": gates}).spec
    problems = validation.validate_campaign(spec, BUILTIN_TEMPLATES, MODEL_TREATMENTS)
    assert problems == ["spec.exposure.gates[0] (spend).query: PromQL does not parse at column 4 "
                        "(at '(spend'): unclosed left parenthesis"]


# -- against the registered version --------------------------------------------------------------

HILLSTROM_INPUTS = {"recency": "long", "history": "double", "mens": "long", "womens": "long",
                    "newbie": "long", "zip_code": "string", "channel": "string",
                    "unit_id": "string"}
CONTRACT = validation.ModelContract(
    "hillstrom-uplift", "3", HILLSTROM_INPUTS, frozenset(HILLSTROM_INPUTS) - {"unit_id"},
    {"mens_e_mail": "Mens E-Mail", "womens_e_mail": "Womens E-Mail"})


def test_the_sample_fits_the_trained_model() -> None:
    assert validation.validate_against_model(_model().spec, CONTRACT) == []


@pytest.mark.parametrize(("changes", "expected"), [
    ({"treatments.0.name": "sms"},
     "spec.treatments[0].name: 'sms' (key sms) is not a treatment version 3 of "
     "'hillstrom-uplift' scores; it scores: Mens E-Mail (mens_e_mail), Womens E-Mail "
     "(womens_e_mail)"),
    ({"features.0.name": "shoe_size"},
     "spec.features[0].name: 'shoe_size' is not an input of version 3 of 'hillstrom-uplift'; "
     "its inputs: recency, history"),
    ({"features.5": {"name": "zip_code", "type": "numeric"}},
     "spec.features[5].type: 'zip_code' is declared numeric but version 3 of "
     "'hillstrom-uplift' takes it as string"),
    ({"features.1": {"name": "history", "type": "categorical"}},
     "'history' is declared categorical but version 3 of 'hillstrom-uplift' takes it as double"),
    ({"features.0": {"name": "channel", "type": "categorical"}},
     "spec.features: version 3 of 'hillstrom-uplift' requires recency, which spec.features "
     "does not declare"),
])
def test_a_spec_that_does_not_fit_the_version_names_the_mismatch(changes: dict[str, Any],
                                                                   expected: str) -> None:
    problems = validation.validate_against_model(_model(**changes).spec, CONTRACT)
    assert any(expected in p for p in problems), problems


def test_what_the_version_does_not_say_is_not_judged() -> None:
    spec = _model(**{"treatments.0.name": "sms", "features.0.name": "shoe_size"}).spec
    silent = validation.ModelContract("hillstrom-uplift", "3")
    assert validation.validate_against_model(spec, silent) == []
    body = _model().to_wire()
    del body["spec"]["features"]  # features not declared: only treatments are checked
    assert validation.validate_against_model(UpliftModel.model_validate(body).spec, CONTRACT) == []


# -- the credentials Secret ----------------------------------------------------------------------

TOKEN = "s3cr3t-token-value"


@pytest.mark.parametrize(("values", "expected"), [
    ({"token": f"{TOKEN}\n".encode()},
     "Secret 'mlflow' key 'token' has a trailing newline around the value (as `echo … | "
     "base64` writes)"),
    ({"token": f"  {TOKEN}".encode()}, "Secret 'mlflow' key 'token' has whitespace around"),
    ({"token": b""}, "Secret 'mlflow' key 'token' is empty"),
    ({"token": b" \n"}, "Secret 'mlflow' key 'token' is empty"),
    ({"token": b"\xff\xfe"}, "Secret 'mlflow' key 'token' is not UTF-8 text"),
    ({"token": f"{TOKEN}\x00x".encode()}, "Secret 'mlflow' key 'token' contains a control"),
    ({"user": b"x"}, "Secret 'mlflow' key 'token' does not exist in the Secret"),
])
def test_credential_problems_name_the_secret_and_key_never_the_value(
        values: dict[str, bytes], expected: str) -> None:
    problems = validation.credential_problems("mlflow", ["token"], values)
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("spec.model.credentials: ")
    assert TOKEN not in problems[0] and "s3cr3t" not in problems[0]


def test_clean_credentials_have_no_problem() -> None:
    assert validation.credential_problems("mlflow", ["user", "password"],
                                          {"user": b"reader", "password": b"p@ss w0rd"}) == []


def test_the_crd_rule_judges_a_margin_as_margin_of_does() -> None:
    """The API server's rule and the operator's check (``gates.margin_of``) agree on which
    margins are relative, for each type with and without marginType."""
    rule = next(r["rule"] for r in ModelGate.model_json_schema()["x-kubernetes-validations"]
                if r["message"] == RELATIVE_MARGIN)
    for gate_type in ("latency", "errorRate", "qini", "onlineEffect"):
        for margin_type in (None, "relative", "absolute"):
            for margin in (0.5, 1.0, 1.5):
                wire = {"name": "g", "type": gate_type, "margin": margin,
                        **({"marginType": margin_type} if margin_type else {})}
                relative = margin_of(ModelGate.model_validate(wire))[1] == "relative"
                assert evaluate(rule, wire) is (not relative or margin < 1), wire
    assert evaluate(rule, {"name": "g", "type": "latency"}) is True  # no margin: the default
