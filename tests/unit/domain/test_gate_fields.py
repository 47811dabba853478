"""The API refuses a gate field on the types that never read it (``field_rules``): the tables
beside each kind's ``type`` must be true, or the API server refuses a setting that matters.

Checked where the verdict is made: every table case of both kinds' gate tests is judged again with
each field its type is said to ignore set to a value that would matter if it were read, and the
outcome must be identical. (``features``, ``treatments``, ``query`` and ``templateRef`` are also
read by the measurement adapters, ``services/measurements.py``; the table names the same types.)
The API server's answer to such a field is pinned in
``tests/integration/operator/test_api_server.py`` and ``test_mistakes.py``."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest
from tests.unit.domain import test_campaign_gates, test_gates

from uplift_operator.api.v1alpha1.campaign import CAMPAIGN_GATE_FIELDS, CampaignGate
from uplift_operator.api.v1alpha1.common import GateSpecBase, field_rules
from uplift_operator.api.v1alpha1.upliftmodel import MODEL_GATE_FIELDS, ModelGate
from uplift_operator.domain.gates import assess, evaluate_gate, required_action
from uplift_operator.domain.measurements import Measurement

#: A value per field that changes a verdict wherever the field is read.
READ_VALUES: dict[str, Any] = {
    "margin": 0.37, "marginType": "absolute", "min": 0.3, "max": 0.3, "expectedSamples": 777,
    "features": ["zz"], "treatments": ["zz"], "query": "vector(1)", "templateRef": "other",
    "reportDelay": "1h",
    # Read by the counters (``assess``, ``required_action``) rather than the verdict: what the
    # outcome would make of them is compared too (``_seen``).
    "alpha": 0.37, "minSamples": 777, "failureLimit": 3, "inconclusiveLimit": 1,
}


def _cases() -> list[Any]:
    model = [pytest.param(g, m, id=name) for name, g, m, *_ in test_gates.CASES]
    campaign = [pytest.param(g, m, id=f"campaign-{i}-{g.type}")
                for i, (g, m, *_) in enumerate(test_campaign_gates.CASES)]
    return model + campaign


def _ignored(gate: GateSpecBase) -> list[str]:
    table = MODEL_GATE_FIELDS if isinstance(gate, ModelGate) else CAMPAIGN_GATE_FIELDS
    return [name for name, types in table.items() if gate.type not in types]


def _with(gate: GateSpecBase, field: str) -> GateSpecBase:
    return type(gate).model_validate({**gate.to_wire(), field: READ_VALUES[field]})


def _seen(gate: GateSpecBase, measurement: Measurement) -> str:
    """The verdict, and what it demands of the ramp after two like it (``assess``: counted or
    not; ``required_action``: against the limits)."""
    outcome = evaluate_gate(gate, measurement, None, test_gates.NOW)
    status = assess(gate, assess(gate, None, outcome), outcome)
    # repr: a NaN estimate compares unequal to itself, its text does not.
    return repr((dataclasses.replace(outcome, name=""), required_action(gate, status)))


@pytest.mark.parametrize(("gate", "measurement"), _cases())
def test_a_field_refused_for_a_gate_type_changes_nothing_it_decides(
        gate: GateSpecBase, measurement: Measurement) -> None:
    judged = _seen(gate, measurement)
    for field in _ignored(gate):
        assert _seen(_with(gate, field), measurement) == judged, f"{gate.type} reads {field}"


def test_every_optional_field_of_a_gate_is_in_both_tables() -> None:
    """A new optional field must say which types read it, or it would be silently ignored. A
    Campaign's table also names fields with a default that its budget (and custom) gates never
    read (alpha, minSamples, failureLimit, inconclusiveLimit); the UpliftModel's, alpha (its
    custom gate tests nothing)."""
    optional = {info.alias for name, info in CampaignGate.model_fields.items()
                if not info.is_required() and info.default is None}
    assert set(CAMPAIGN_GATE_FIELDS) == optional | {
        "alpha", "minSamples", "failureLimit", "inconclusiveLimit"}
    optional = {info.alias for name, info in ModelGate.model_fields.items()
                if not info.is_required() and info.default is None}
    assert set(MODEL_GATE_FIELDS) == optional | {"alpha"}


def test_the_tables_name_only_real_gate_types() -> None:
    for model, table in ((ModelGate, MODEL_GATE_FIELDS), (CampaignGate, CAMPAIGN_GATE_FIELDS)):
        types = set(model.model_fields["type"].annotation.__args__)  # type: ignore[union-attr]
        for name, readers in table.items():
            assert set(readers) <= types, name


def test_the_rules_refuse_a_field_by_name_and_say_who_reads_it() -> None:
    rules = field_rules({"min": ("qini", "custom"), "margin": ()}, "Campaign")
    assert rules == [
        {"rule": "!has(self.min) || self.type in ['qini', 'custom']",
         "message": "min applies to qini and custom gates only", "fieldPath": ".min"},
        {"rule": "!has(self.margin)", "message": "margin applies to no Campaign gate",
         "fieldPath": ".margin"},
    ]


@pytest.mark.parametrize("gate_class", [ModelGate, CampaignGate])
def test_a_stored_gate_names_each_ignored_field_in_the_api_servers_words(
        gate_class: type[GateSpecBase]) -> None:
    """What the operator says of a field stored before the rules is what the rule says."""
    rules = cast(list[dict[str, str]], field_rules(gate_class.field_readers, gate_class.kind))
    said_by_rule = {rule["fieldPath"][1:]: rule["message"] for rule in rules}
    types = gate_class.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
    for type_ in types:
        for name, readers in gate_class.field_readers.items():
            fields = {"name": "g", "type": type_, name: READ_VALUES[name]}
            gate = gate_class.model_validate(fields)
            expected = [] if type_ in readers else [said_by_rule[name]]
            assert gate.ignored_fields() == expected, (type_, name)
