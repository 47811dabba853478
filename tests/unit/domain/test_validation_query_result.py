"""A gate query that parses but whose top-level expression (inside any parentheses) is a range
vector, a subquery or a string literal: Prometheus' instant query answers it with no number, so
it passed validation and was then an Error ("bad query") at every analysis until the Errors
rolled the ramp back. Validation refuses it (InvalidSpec), naming what it answers."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.domain.test_validation import _model, _with_gate

from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES


@pytest.mark.parametrize(("query", "said"), [
    ('uplift_request_errors_total{namespace="{{namespace}}"}[{{interval}}]', "a range vector"),
    ("(uplift_request_errors_total[5m] offset 1m)", "a range vector"),
    ("rate(uplift_request_errors_total[5m])[10m:1m]", "a subquery"),
    ('"high"', "a string"),
    ('(("high"))', "a string"),
])
def test_a_query_answering_no_number_is_refused(query: str, said: str) -> None:
    problems = _with_gate({"name": "probe", "type": "custom", "query": query, "max": 1})
    assert len(problems) == 1, problems
    assert problems[0].startswith("spec.rollout.gates[6] (probe).query: its result is ")
    assert said in problems[0]


@pytest.mark.parametrize("query", [
    "sum(rate(uplift_request_errors_total[{{interval}}]))",
    "max_over_time(rate(uplift_request_errors_total[5m])[10m:1m])",
    "(1)", "-uplift_request_errors_total", 'uplift_request_errors_total{model="{{model}}"}',
])
def test_a_query_answering_a_number_passes(query: str) -> None:
    assert _with_gate({"name": "probe", "type": "custom", "query": query, "max": 1}) == []


def test_a_template_answering_no_number_is_refused() -> None:
    templates: dict[str, Any] = {**BUILTIN_TEMPLATES, "raw": "uplift_request_errors_total[5m]"}
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(
        {"name": "probe", "type": "custom", "templateRef": "raw", "max": 1})
    problems = validation.validate_upliftmodel(UpliftModel.model_validate(body).spec, templates,
                                               namespace="shop", name="um")
    assert any("template 'raw': its result is a range vector" in p for p in problems), problems
