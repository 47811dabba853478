"""A custom gate whose query ends in ``or vector(<number>)`` passing the gate is named in a Warning.

``<expr> or vector(0)`` answers 0 whenever ``<expr>`` has no series: a canary with no traffic
yet (or whose series are not scraped) gets 0, not "no data", so a ``max`` gate passes it (a
custom gate reads no sample count: minSamples is not checked) instead of holding it
Inconclusive. Valid PromQL, so not refused: a Warning event ``IgnoredField`` names it once per
generation, as an ignored field is, for either kind's custom gates; only when the number would
pass the gate (finite, within min/max: ``gates._custom``): ``or vector(1)`` under ``max: 0.01``
fails the gate on no data, ``vector(NaN)`` holds it, and neither is named.

The check runs at every pass, outside the spec's validation: it never raises. Its first version
recursed once per operator, and a valid 3 KB query ``sum(x) or vector(1+1+…+0)`` raised
RecursionError at every pass, with no status ever written. Only a query with the words ``or`` and
``vector`` is parsed.
"""

from __future__ import annotations

import math
from typing import Any

import promql_parser
import pytest
from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.domain import validation
from uplift_operator.domain.validation import CUSTOM_CONSTANT_FALLBACK

ERROR_RATE = ('sum(rate(uplift_request_errors_total{namespace="{{namespace}}", '
              'model="{{model}}", version="{{version}}"}[{{interval}}])) / '
              'sum(rate(uplift_request_duration_seconds_count{namespace="{{namespace}}", '
              'model="{{model}}", version="{{version}}"}[{{interval}}]))')
#: 1,500 terms, 3 KB: a tree 1,500 deep, past Python's recursion limit for a recursive walk.
LONG_SUM = "+".join(["1"] * 1500) + "+0"
#: 2,000 terms adding up to 0.
LONG_ZERO = "+".join(["1-1"] * 1000)


def _named(where: str, text: str, value: str, bounds: str) -> str:
    return (f"{where}.query: its top-level `or {text}` answers {value} when the rest of the "
            f"query has no data, within the gate's bounds {bounds}, {CUSTOM_CONSTANT_FALLBACK}")


def test_an_upliftmodel_custom_gate_with_a_constant_fallback_is_named_once_per_generation(
        ) -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"][0]["query"] = "sum(probe_value) or vector(0)"
    said = [e for e in sim.tick().events if e.reason == "IgnoredField"]
    assert [(e.type, e.message) for e in said] == [(
        "Warning", _named("spec.rollout.gates[0] (probe)", "vector(0)", "0", "[-Inf, 1]"))]
    assert "IgnoredField" not in [e.reason for e in sim.tick(1).events]


@pytest.mark.parametrize(("fallback", "named"), [
    (LONG_SUM, False),  # 1500 > max 1
    (LONG_ZERO, True),
])
def test_a_long_valid_fallback_never_fails_the_pass(fallback: str, named: bool) -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"][0]["query"] = f"sum(probe_value) or vector({fallback})"
    result = sim.tick()  # raised RecursionError at every pass: no status, ever
    assert result.status.get("phase")
    assert result.status.get("observedGeneration") == 1
    said = [e.message for e in result.events if e.reason == "IgnoredField"]
    assert said == ([_named("spec.rollout.gates[0] (probe)", "vector(…)", "0", "[-Inf, 1]")]
                    if named else [])
    sim.tick(1)  # and the next pass, past the generation's first, as well


def _gate(query: str, **bounds: float) -> list[CampaignGate]:
    return [CampaignGate.model_validate({"name": "c", "type": "custom", "query": query,
                                         **bounds})]


@pytest.mark.parametrize(("query", "bounds", "text", "value", "shown"), [
    (f"{ERROR_RATE} or vector(0)", {"max": 0.01}, "vector(0)", "0", "[-Inf, 0.01]"),
    (f"({ERROR_RATE} or on() vector(-1))", {"max": 0.01}, "vector(-1)", "-1", "[-Inf, 0.01]"),
    (f"{ERROR_RATE} or sum(x) or (vector(0.005))", {"max": 0.01}, "vector(0.005)", "0.005",
     "[-Inf, 0.01]"),
    ("sum(ok) / sum(all) or vector(1)", {"min": 0.99}, "vector(1)", "1", "[0.99, +Inf]"),
    ("sum(x) or vector(2 - 1)", {"min": 0.5, "max": 1}, "vector(2 - 1)", "1", "[0.5, 1]"),
    ("sum(x) or vector(1 / (1 / 0))", {"max": 0.01}, "vector(1 / (1 / 0))", "0",
     "[-Inf, 0.01]"),
    ("sum(x) or vector(2 > bool 3)", {"max": 0.01}, "vector(2 > bool 3)", "0", "[-Inf, 0.01]"),
])
def test_a_top_level_constant_fallback_the_gate_passes_is_named(
        query: str, bounds: dict[str, float], text: str, value: str, shown: str) -> None:
    assert validation.ignored_gate_fields(_gate(query, **bounds), "spec.exposure") == [
        _named("spec.exposure.gates[0] (c)", text, value, shown)]


@pytest.mark.parametrize(("query", "bounds"), [
    # Fails the gate on no data: nothing passes with no traffic.
    (f"{ERROR_RATE} or vector(1)", {"max": 0.01}),
    ("sum(success) / sum(all) or vector(0)", {"min": 0.99}),
    ("sum(x) or vector(5)", {"min": 0, "max": 1}),
    (f"sum(x) or vector({LONG_SUM})", {"max": 1}),
    # Not finite: Inconclusive, as no data is.
    ("sum(x) or vector(NaN)", {"max": 0.01}),
    ("sum(x) or vector(Inf)", {"min": 0.99}),
    ("sum(x) or vector(-Inf)", {"max": 0.01}),
    ("sum(x) or vector(1 / 0)", {"min": 0.99}),
    ("sum(x) or vector(0 / 0)", {"max": 0.01}),
    ("sum(x) or vector(10 ^ 400)", {"min": 0.99}),
])
def test_a_fallback_the_gate_does_not_pass_is_not_named(query: str,
                                                       bounds: dict[str, float]) -> None:
    assert validation.constant_fallback(query) is not None
    assert validation.ignored_gate_fields(_gate(query, **bounds), "spec.exposure") == []


@pytest.mark.parametrize("query", [
    ERROR_RATE,
    f"sum(x) / ({ERROR_RATE} or vector(1))",  # not top level: no series still answers nothing
    f"{ERROR_RATE} or vector(time())",  # not a number
    f"{ERROR_RATE} or sum(x)",
    f"{ERROR_RATE} unless vector(0)",
])
def test_anything_else_is_not(query: str) -> None:
    assert validation.ignored_gate_fields(_gate(query, max=0.01), "spec.exposure") == []


def test_a_query_that_does_not_parse_has_no_fallback() -> None:
    assert validation.constant_fallback("sum(x or vector(0)") is None
    assert validation.constant_fallback("{{unknown}} or vector(0)") is None


@pytest.mark.parametrize(("fallback", "value"), [
    (LONG_SUM, 1500.0),
    (LONG_ZERO, 0.0),
    ("(" * 1800 + "1" + ")" * 1800, 1.0),
    ("-(" * 1300 + "1" + ")" * 1300, 1.0),
    ("^".join(["1"] * 2000), 1.0),
])
def test_a_deep_fallback_is_computed_without_recursion(fallback: str, value: float) -> None:
    found = validation.constant_fallback(f"sum(x) or vector({fallback})")
    assert found is not None and found.value == value and found.text == "vector(…)"


def test_the_check_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(query: str) -> Any:
        raise RuntimeError("the parser failed")

    validation._parsed_fallback.cache_clear()
    monkeypatch.setattr(promql_parser, "parse", broken)
    assert validation.constant_fallback("sum(never_cached) or vector(0)") is None
    assert validation.ignored_gate_fields(_gate("sum(never_cached) or vector(0)", max=1),
                                          "spec.exposure") == []
    validation._parsed_fallback.cache_clear()


def test_only_a_query_with_or_and_vector_is_parsed_and_only_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse = promql_parser.parse

    def counting(query: str) -> Any:
        parsed.append(query)
        return parse(query)

    validation._parsed_fallback.cache_clear()
    monkeypatch.setattr(promql_parser, "parse", counting)
    for _ in range(3):  # three passes
        assert validation.ignored_gate_fields(
            _gate(ERROR_RATE, max=0.01) + _gate(f"{ERROR_RATE} or vector(0)", max=0.01),
            "spec.exposure") != []
    assert len(parsed) == 1 and parsed[0].endswith("or vector(0)")
    validation._parsed_fallback.cache_clear()


def test_values_are_prometheus_float_arithmetic() -> None:
    def value(expression: str) -> float:
        found = validation.constant_fallback(f"sum(x) or vector({expression})")
        assert found is not None
        return found.value

    assert value("-5 % 3") == -2  # Go's math.Mod: the dividend's sign
    assert value("2 ^ 3 ^ 2") == 512  # right-associative
    assert value("-1 / 0") == -math.inf
    assert math.isnan(value("(-8) ^ 0.5"))
    assert value("1 atan2 1") == pytest.approx(math.pi / 4)
    assert value("1 == bool 1") == 1
