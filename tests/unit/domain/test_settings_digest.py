"""The fingerprints that decide whether evidence kept in status still applies.

``gates.settings_digest`` (``status.gates[].settingsDigest``) restarts a gate's evidence and
counters when what it tests is edited; ``exposure.spec_digest`` (``status.rolledBackSpec``)
keeps a rolled-back Campaign at 0 % until its spec is edited. Both must move with what the user
set and with nothing else: before, they hashed the full dump, defaults included, so an operator
release that only added a field with a default changed every digest — every canary in flight
started its evidence and failure counters over at the upgrade (α spent again, a gate at 2 Fails
of 3 back at 0), and a paused rolled-back Campaign was exposed again.

The golden digests below are literals on purpose: if one changes, statuses in clusters stop
matching at the next upgrade. Do not update them to make the test pass; make the new field or
form leave them alone (or, if a change of what the digest means is intended, keep accepting the
old value, as ``legacy_settings_digest`` / ``legacy_spec_digest`` do).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel, Field

from uplift_operator.api.v1alpha1.campaign import (
    CampaignGate,
    CampaignSpec,
    CampaignStatus,
    ExposureSpec,
)
from uplift_operator.api.v1alpha1.common import (
    ApiModel,
    Duration,
    GateSpecBase,
    GateStatus,
    GateVerdict,
    Phase,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import exposure, gates
from uplift_operator.domain.gates import GateAction, assess, evaluate_gate
from uplift_operator.domain.measurements import ErrorRateMeasurement
from uplift_operator.domain.requests import parse_requests

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)

#: Representative gates, as the handler parses them from the wire (unset fields stay unset).
GATES: dict[str, tuple[type[GateSpecBase], dict[str, Any]]] = {
    "defaults": (ModelGate, {"name": "errors", "type": "errorRate"}),
    "online-effect": (ModelGate, {"name": "effect", "type": "onlineEffect", "margin": 0.01,
                                  "marginType": "absolute", "alpha": 0.1,
                                  "expectedSamples": 20000}),
    "drift": (ModelGate, {"name": "drift", "type": "drift", "max": 0.2,
                          "features": ["age", "recency"], "minSamples": 500}),
    "latency": (ModelGate, {"name": "p95", "type": "latency", "templateRef": "p95", "max": 0.25,
                            "failureLimit": 2, "dryRun": True}),
    "delivery": (CampaignGate, {"name": "delivery", "type": "deliveryRate", "min": 0.95,
                                "reportDelay": "10m"}),
    "roi": (CampaignGate, {"name": "roi", "type": "roi", "min": 0.0}),
}

#: name: (settings_digest now, what operators before it wrote: legacy_settings_digest).
GOLDEN_GATES = {
    "defaults": ("03a12451f0bce0f5", "7a4221a640e4e674"),
    "online-effect": ("a49b7da3380a8cb0", "d5bb223f3888b199"),
    "drift": ("13765fcd87f5cfb4", "9d51a8bf8b146be1"),
    "latency": ("7d26e90803debf78", "2b198158e73f050c"),
    "delivery": ("31586b26478551cb", "459145153322c706"),
    "roi": ("6c60018d793fe55f", "9934e208c0940fd5"),
}

#: The sample Campaign (manifests/samples/campaign.yaml), copied so that editing the sample
#: cannot move the golden digest.
CAMPAIGN: dict[str, Any] = {
    "modelRef": {"name": "hillstrom-uplift"},
    "treatments": [{"name": "womens-e-mail"},
                   {"name": "mens-e-mail", "costPerTreatment": 0.12}],
    "economics": {"valuePerConversion": 110.0, "costPerTreatment": 0.10, "currency": "USD",
                  "budget": 5000, "budgetPeriod": "7d"},
    "targeting": {"policy": "costAware"},
    "experiment": {"holdoutFraction": 0.1, "unitKey": "customer_id", "salt": "spring-2026",
                   "attributionWindow": "14d"},
    "exposure": {"analysisInterval": "5m", "progressDeadline": "1d",
                 "steps": [{"percent": 5, "pause": "1h"}, {"percent": 25, "pause": "6h"},
                           {"percent": 100}],
                 "gates": [{"name": "delivery", "type": "deliveryRate", "min": 0.95,
                            "reportDelay": "10m"},
                           {"name": "incremental", "type": "incrementalConversions",
                            "alpha": 0.05, "minSamples": 500},
                           {"name": "roi", "type": "roi", "min": 0.0},
                           {"name": "drift", "type": "drift"}]},
    "rollback": {"mode": "Automatic"},
    "schedule": {"start": "2026-03-01T00:00:00Z"},
}
GOLDEN_CAMPAIGN = "533f047d7ca6af6b8a5ddd9487f23e30"
LEGACY_CAMPAIGN = "84f1709a9297dd3591b7d25ea91aa7fc"  # what operators before it wrote


def parse(kind: type[GateSpecBase], wire: dict[str, Any]) -> GateSpecBase:
    return kind.model_validate(wire)


def campaign(**changes: Any) -> CampaignSpec:
    """The sample Campaign with top-level ``changes`` (a None removes the field)."""
    wire = {key: value for key, value in {**CAMPAIGN, **changes}.items() if value is not None}
    return CampaignSpec.model_validate(wire)


def exposure_with(**changes: Any) -> dict[str, Any]:
    """The sample's ``exposure`` with ``changes`` (a None removes the field)."""
    return {key: value for key, value in {**CAMPAIGN["exposure"], **changes}.items()
            if value is not None}


def gates_with(name: str, **changes: Any) -> list[dict[str, Any]]:
    """The sample's exposure gates, the one called ``name`` with ``changes``."""
    return [{**g, **changes} if g["name"] == name else g for g in CAMPAIGN["exposure"]["gates"]]


def every_default(model: type[BaseModel]) -> dict[str, Any]:
    """Every optional field of ``model`` set explicitly to its default, in wire form."""
    return {field.alias or name: field.get_default(call_default_factory=True)
            for name, field in model.model_fields.items() if not field.is_required()}


# ---------------------------------------------------------------------------------------------
# Golden digests


@pytest.mark.parametrize("name", sorted(GATES))
def test_gate_digests_are_pinned(name: str) -> None:
    kind, wire = GATES[name]
    current, legacy = GOLDEN_GATES[name]
    assert gates.settings_digest(parse(kind, wire)) == current
    assert gates.legacy_settings_digest(parse(kind, wire)) == legacy, (
        "legacy_settings_digest no longer reproduces what operators before settings_digest "
        "wrote: upgrading from them would restart every gate's evidence")


def test_the_canonical_form_is_what_the_user_set_in_wire_names() -> None:
    kind, wire = GATES["online-effect"]
    assert gates.canonical_json(parse(kind, wire), exclude={"name"}) == (
        '{"alpha":0.1,"expectedSamples":20000,"margin":0.01,"marginType":"absolute",'
        '"type":"onlineEffect"}')


def test_campaign_digest_is_pinned() -> None:
    assert exposure.spec_digest(campaign()) == GOLDEN_CAMPAIGN
    assert exposure.legacy_spec_digest(campaign()) == LEGACY_CAMPAIGN


# ---------------------------------------------------------------------------------------------
# A release adding fields with defaults changes nothing


class _Window(ApiModel):
    looks: int = 3
    spacing: Duration = "1m"


class _ModelGateNext(ModelGate):
    """ModelGate as a later release might have it: more fields, each with a default."""

    warmup: Duration | None = None
    cooldown_looks: int = 3
    one_sided: bool = False
    sides: list[str] = Field(default_factory=list)
    window: _Window = Field(default_factory=_Window)
    mode: str = "sequential"


class _CampaignGateNext(CampaignGate):
    warmup: Duration | None = None
    cooldown_looks: int = 3
    window: _Window = Field(default_factory=_Window)


class _ModelGateWidened(ModelGate):
    """A release that widens an int field to a float: 500 is then dumped as 500.0."""

    min_samples: float = 100.0  # type: ignore[assignment]


class _ExposureNext(ExposureSpec):
    gates: list[_CampaignGateNext] = Field(min_length=1, max_length=16)  # type: ignore[assignment]
    hold_on_error: bool = False


class _CampaignSpecNext(CampaignSpec):
    exposure: _ExposureNext
    window: _Window = Field(default_factory=_Window)
    labels: list[str] = Field(default_factory=list)
    notes: str | None = None


@pytest.mark.parametrize("name", sorted(GATES))
def test_a_release_adding_gate_fields_with_defaults_keeps_the_digest(name: str) -> None:
    kind, wire = GATES[name]
    nxt: type[GateSpecBase] = _ModelGateNext if kind is ModelGate else _CampaignGateNext
    later = parse(nxt, wire)
    assert later.model_dump().keys() > parse(kind, wire).model_dump().keys()
    assert gates.settings_digest(later) == GOLDEN_GATES[name][0]
    # The full dump was not: this is what reset every canary's evidence at an upgrade.
    assert gates.legacy_settings_digest(later) != GOLDEN_GATES[name][1]


def test_a_release_dumping_a_value_as_a_float_keeps_the_digest() -> None:
    _, wire = GATES["drift"]
    widened = parse(_ModelGateWidened, wire)
    assert widened.model_dump()["min_samples"] == 500.0
    assert gates.settings_digest(widened) == GOLDEN_GATES["drift"][0]


def test_a_release_adding_spec_fields_with_defaults_keeps_the_campaign_digest() -> None:
    later = _CampaignSpecNext.model_validate(CAMPAIGN)
    assert isinstance(later.exposure.gates[0], _CampaignGateNext)
    assert exposure.spec_digest(later) == GOLDEN_CAMPAIGN
    assert exposure.legacy_spec_digest(later) != LEGACY_CAMPAIGN


# ---------------------------------------------------------------------------------------------
# A field set to its default means what an unset one does


@pytest.mark.parametrize("name", sorted(GATES))
def test_a_gate_field_set_to_its_default_is_as_unset(name: str) -> None:
    kind, wire = GATES[name]
    explicit = parse(kind, {**every_default(kind), **wire})
    assert explicit.model_fields_set == set(kind.model_fields)
    assert gates.settings_digest(explicit) == GOLDEN_GATES[name][0]


@pytest.mark.parametrize(("one", "other"), [
    ({"min": 1}, {"min": 1.0}),
    ({"max": 0}, {"max": -0.0}),
    ({"margin": 0.1}, {"margin": 0.10000000000000001}),
    ({"expectedSamples": 2000}, {"expectedSamples": 2000.0}),
    ({"alpha": 0.05, "minSamples": 100, "query": None}, {}),
])
def test_spellings_of_one_setting_give_one_digest(one: dict[str, Any],
                                                  other: dict[str, Any]) -> None:
    base = {"name": "g", "type": "custom"}
    assert (gates.settings_digest(ModelGate.model_validate({**base, **one}))
            == gates.settings_digest(ModelGate.model_validate({**base, **other})))


def test_a_campaign_field_set_to_its_default_is_as_unset() -> None:
    spelled_out = campaign(
        targeting={"policy": "costAware", "minUplift": None, "maxTreatmentsPerUnit": 1},
        rollback={"mode": "Automatic"},
        schedule={"start": "2026-03-01T00:00:00+00:00", "end": None},
        treatments=[{"name": "womens-e-mail", "costPerTreatment": None},
                    {"name": "mens-e-mail", "costPerTreatment": 0.12}],
        economics={**CAMPAIGN["economics"], "valuePerConversion": 110, "currency": "USD"},
        exposure=exposure_with(paused=False, gates=[
            {**every_default(CampaignGate), **g} for g in CAMPAIGN["exposure"]["gates"]]))
    terse = campaign(targeting=None, rollback=None, exposure=exposure_with(
        analysisInterval=None, gates=[{key: value for key, value in g.items() if key != "alpha"}
                                      for g in CAMPAIGN["exposure"]["gates"]]))
    assert "targeting" not in terse.model_fields_set
    assert exposure.spec_digest(spelled_out) == exposure.spec_digest(terse) == GOLDEN_CAMPAIGN


# ---------------------------------------------------------------------------------------------
# What the user changes, the digest shows


#: A non-default value for every field a gate tests (wire name: value), per kind.
_TESTED_CHANGES: dict[str, Any] = {
    "type": "latency", "templateRef": "p99", "query": "sum(rate(x[5m]))", "min": 0.5,
    "max": 0.9, "margin": 0.1, "marginType": "absolute", "alpha": 0.01, "expectedSamples": 1000,
    "minSamples": 50, "features": ["age"], "treatments": ["email"],
}
_CAMPAIGN_TESTED_CHANGES = {**_TESTED_CHANGES, "type": "roi", "reportDelay": "1m"}
#: What changes what is done with a verdict, not what the evidence tests: the digest ignores it.
_UNTESTED_CHANGES: dict[str, Any] = {
    "name": "renamed", "dryRun": True, "failureLimit": 3, "inconclusiveLimit": 2,
    "consecutiveErrorLimit": 9,
}
_CHANGE_TABLES: list[tuple[type[GateSpecBase], str, dict[str, Any]]] = [
    (ModelGate, "errorRate", _TESTED_CHANGES), (CampaignGate, "deliveryRate",
                                                _CAMPAIGN_TESTED_CHANGES)]


@pytest.mark.parametrize(("kind", "changes"), [(kind, changes) for kind, _, changes
                                                 in _CHANGE_TABLES])
def test_the_change_tables_cover_every_gate_field(kind: type[GateSpecBase],
                                                  changes: dict[str, Any]) -> None:
    """A new gate field must be placed: tested (its edits restart the evidence) or not."""
    covered = set(changes) | set(_UNTESTED_CHANGES)
    assert covered == {field.alias or name for name, field in kind.model_fields.items()}


@pytest.mark.parametrize(("kind", "base_type", "changes"), _CHANGE_TABLES)
def test_editing_a_tested_gate_field_changes_the_digest(
        kind: type[GateSpecBase], base_type: str, changes: dict[str, Any]) -> None:
    base = {"name": "g", "type": base_type}
    seen = {gates.settings_digest(parse(kind, base))}
    for field, value in changes.items():
        edited = gates.settings_digest(parse(kind, {**base, field: value}))
        assert edited not in seen, field
        seen.add(edited)
    # From one non-default value to another, and back to the default.
    tight = parse(kind, {**base, "alpha": 0.01})
    assert gates.settings_digest(tight) != gates.settings_digest(parse(kind, {**base,
                                                                               "alpha": 0.02}))
    assert gates.settings_digest(tight) != gates.settings_digest(parse(kind, base))
    assert (gates.settings_digest(parse(kind, {**base, "features": ["a", "b"]}))
            != gates.settings_digest(parse(kind, {**base, "features": ["a"]})))


@pytest.mark.parametrize("kind", [ModelGate, CampaignGate])
@pytest.mark.parametrize("field", sorted(_UNTESTED_CHANGES))
def test_editing_what_is_done_with_a_verdict_keeps_the_digest(kind: type[GateSpecBase],
                                                              field: str) -> None:
    base = {"name": "g", "type": "custom", "max": 1}
    assert (gates.settings_digest(parse(kind, {**base, field: _UNTESTED_CHANGES[field]}))
            == gates.settings_digest(parse(kind, base)))


@pytest.mark.parametrize("edit", [
    {"exposure": exposure_with(analysisInterval="10m")},
    {"exposure": exposure_with(steps=[{"percent": 5, "pause": "1h"}, {"percent": 50}])},
    # In a spec, a gate's limits and dryRun are edits too (they change what a rollout does).
    {"exposure": exposure_with(gates=gates_with("roi", failureLimit=1))},
    {"exposure": exposure_with(gates=gates_with("roi", dryRun=True))},
    {"exposure": exposure_with(gates=gates_with("roi", min=0.1))},
    {"targeting": {"policy": "topFraction", "topFraction": 0.2}},
    {"rollback": {"mode": "Manual"}},
    {"schedule": None},
    {"treatments": [{"name": "womens-e-mail"}, {"name": "mens-e-mail"}]},
    {"economics": {**CAMPAIGN["economics"], "currency": "EUR"}},
])
def test_editing_a_campaign_changes_its_digest(edit: dict[str, Any]) -> None:
    assert exposure.spec_digest(campaign(**edit)) != GOLDEN_CAMPAIGN


def test_pausing_a_campaign_keeps_its_digest() -> None:
    assert exposure.spec_digest(campaign(exposure=exposure_with(paused=True))) == GOLDEN_CAMPAIGN


# ---------------------------------------------------------------------------------------------
# The upgrade: statuses written by operators before the current form keep their evidence


#: The gate of the upgrade cases, and the settingsDigest operators before the current form
#: wrote for it (computed by them, not by ``legacy_settings_digest``).
_UPGRADED = {"name": "errors", "type": "errorRate", "margin": 0.2, "marginType": "relative",
             "failureLimit": 2}
_UPGRADED_LEGACY_DIGEST = "cb448033e4e6641a"
_WORSE = ErrorRateMeasurement(canary_errors=400, canary_requests=10_000, stable_errors=100,
                              stable_requests=10_000)


def _before_upgrade(g: ModelGate, fails: int) -> GateStatus:
    """The gate's status after ``fails`` Fail looks, as the previous operator wrote it."""
    status: GateStatus | None = None
    for look in range(fails):
        outcome = evaluate_gate(g, _WORSE, gates.memory_of(status, g),
                                NOW + dt.timedelta(minutes=look))
        assert outcome.verdict is GateVerdict.FAIL
        status = assess(g, status, outcome)
    assert status is not None
    return status.model_copy(update={"settings_digest": _UPGRADED_LEGACY_DIGEST})


def test_a_gate_status_written_before_the_upgrade_keeps_its_evidence_and_counters() -> None:
    """Two Fails of the three ``failureLimit: 2`` tolerates... then the upgrade: the third
    Fail still rolls back, on the evidence gathered so far, and the status is rewritten with
    the current digest."""
    g = ModelGate.model_validate(_UPGRADED)
    assert gates.legacy_settings_digest(g) == _UPGRADED_LEGACY_DIGEST
    assert gates.settings_digest(g) != _UPGRADED_LEGACY_DIGEST
    stored = _before_upgrade(g, 2)
    assert stored.failures == 2 and gates.required_action(g, stored) is GateAction.NONE
    memory = gates.memory_of(stored, g)
    assert memory and memory == gates.memory_of(stored)
    outcome = evaluate_gate(g, _WORSE, memory, NOW + dt.timedelta(minutes=5))
    upgraded = assess(g, stored, outcome)
    assert upgraded.failures == 3 and gates.required_action(g, upgraded) is GateAction.ROLLBACK
    assert upgraded.settings_digest == gates.settings_digest(g)
    assert upgraded.sequential_state["rateRatio"].looks == stored.sequential_state[
        "rateRatio"].looks + 1
    # Carried to the next step too (the counters restart there, the evidence does not).
    moved = gates.next_step(stored)
    assert gates.memory_of(moved, g) and moved.failures == 0


def test_a_legacy_digest_of_other_settings_still_restarts_the_evidence() -> None:
    """Accepting the legacy form is no loophole: it is the legacy digest of *these* settings
    that is accepted, so an edit made across the upgrade still starts afresh."""
    g = ModelGate.model_validate(_UPGRADED)
    stored = _before_upgrade(g, 2)
    tight = ModelGate.model_validate({**_UPGRADED, "margin": 0.05})
    assert gates.memory_of(stored, tight) == {}
    outcome = evaluate_gate(tight, _WORSE, {}, NOW + dt.timedelta(minutes=5))
    assert assess(tight, stored, outcome).failures == 1


T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")


def _rolled_back(spec: CampaignSpec) -> CampaignStatus:
    start = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1), T0).status
    rolled = exposure.decide(spec, start, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1,
        requests=parse_requests({"uplift.dev/emergency-rollback": "x"})),
        T0 + dt.timedelta(minutes=1)).status
    assert (rolled.exposure_percent, rolled.phase) == (0, Phase.DEGRADED)
    assert rolled.rolled_back_spec == exposure.spec_digest(spec) == GOLDEN_CAMPAIGN
    return rolled


def test_a_campaign_rolled_back_before_the_upgrade_stays_at_zero_when_paused() -> None:
    """Rolled back under the previous operator (its ``rolledBackSpec`` in the legacy form),
    then paused and resumed after the upgrade (new generations): it stays at 0 %, and the
    digest is rewritten in the current form. A real edit still restarts it."""
    spec = campaign()
    legacy = _rolled_back(spec).model_copy(update={"rolled_back_spec": LEGACY_CAMPAIGN})
    paused = campaign(exposure=exposure_with(paused=True))
    status = legacy
    for generation, current in ((2, paused), (3, spec)):
        held = exposure.decide(current, status, exposure.Observed(
            model=SERVING, budget_anchor=T0, generation=generation),
            T0 + dt.timedelta(minutes=1 + generation))
        assert (held.status.exposure_percent, held.status.phase) == (0, Phase.DEGRADED)
        assert "ExposureStarted" not in [e.reason.value for e in held.events]
        assert held.status.rolled_back_spec == GOLDEN_CAMPAIGN
        status = held.status
    again = exposure.decide(spec, status, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=3), T0 + dt.timedelta(minutes=5))
    assert again.events == () and again.status == status
    edited = campaign(exposure=exposure_with(analysisInterval="10m"))
    for stored in (legacy, status):
        restarted = exposure.decide(edited, stored, exposure.Observed(
            model=SERVING, budget_anchor=T0, generation=4), T0 + dt.timedelta(minutes=9))
        assert restarted.status.exposure_percent == CAMPAIGN["exposure"]["steps"][0]["percent"]
