"""The conversion gates (incrementalConversions, roi) judge the units the runtime treats against
the holdout, so whom it treats is part of what they test (``exposure.with_economics`` →
``settingsDigest``): an edit of the targeting starts them afresh, as an edit of their own fields
does (review-campaign finding 5). Before, a step whose gates passed under ``topFraction: 0.05``
ended on that Pass after an edit to ``topFraction: 1.0, maxTreatmentsPerUnit: 5``: the ramp
advanced on evidence about another policy. The gates that judge no conversions (deliveryRate,
drift, budget) keep theirs; an operator upgrade restarts nothing (``gates.same_settings`` takes
the digests written before the targeting was bound)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.domain.test_exposure import SPEC

from uplift_operator.api.v1alpha1.campaign import (
    CampaignSpec,
    CampaignStatus,
    CampaignTreatment,
    Targeting,
)
from uplift_operator.api.v1alpha1.common import GateStatus, GateVerdict, SequentialStateStatus
from uplift_operator.domain import exposure, gates
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.steps import passed_as_set

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")
CONVERSIONS = ("incremental", "roi")
OTHERS = ("delivery", "drift", "budget")


def _with(spec: CampaignSpec, **changes: Any) -> CampaignSpec:
    return spec.model_copy(update=changes)


def _targeted(policy: str, **fields: Any) -> CampaignSpec:
    return _with(SPEC, targeting=Targeting(policy=policy, **fields))


def _digests(spec: CampaignSpec) -> dict[str, str]:
    return {g.name: gates.settings_digest(g) for g in exposure.with_economics(spec).exposure.gates}


NARROW = _targeted("topFraction", top_fraction=0.05)
MORE = [*SPEC.treatments, CampaignTreatment(name="sms", cost_per_treatment=0.02)]

#: (before, after): edits of whom the runtime treats.
TARGETING_EDITS = {
    "topFraction widened": (NARROW, _targeted("topFraction", top_fraction=1.0)),
    "the reviewer's": (NARROW, _targeted("topFraction", top_fraction=1.0,
                                         max_treatments_per_unit=5)),
    "maxTreatmentsPerUnit": (SPEC, _with(SPEC, targeting=Targeting(max_treatments_per_unit=5))),
    "policy": (NARROW, SPEC),
    "minUplift": (_targeted("upliftThreshold", min_uplift=0.01),
                  _targeted("upliftThreshold", min_uplift=0.02)),
    "a treatment added": (NARROW, _with(NARROW, treatments=MORE)),
    "a treatment removed": (_with(NARROW, treatments=MORE), NARROW),
    # Under costAware the net value of every treatment decides whom it treats, and with which.
    "costAware: a treatment's cost": (SPEC, _with(SPEC, treatments=[
        SPEC.treatments[0], SPEC.treatments[1].model_copy(update={"cost_per_treatment": 0.5})])),
    "costAware: the value of a conversion": (SPEC, _with(SPEC, economics=SPEC.economics.model_copy(
        update={"value_per_conversion": 50.0}))),
}


@pytest.mark.parametrize(("before", "after"), TARGETING_EDITS.values(),
                         ids=TARGETING_EDITS.keys())
def test_a_targeting_edit_starts_the_conversion_gates_afresh(before: CampaignSpec,
                                                             after: CampaignSpec) -> None:
    old, new = _digests(before), _digests(after)
    assert all(new[name] != old[name] for name in CONVERSIONS), (old, new)
    assert [new[name] for name in OTHERS] == [old[name] for name in OTHERS]


#: (before, after): edits that leave whom the runtime treats as it was.
NO_TARGETING_EDITS = {
    # A field its policy never reads (stored before the API server refused it).
    "minUplift under topFraction": (NARROW, _targeted("topFraction", top_fraction=0.05,
                                                      min_uplift=0.3)),
    "budget": (SPEC, _with(SPEC, economics=SPEC.economics.model_copy(update={"budget": 9000.0}))),
    "currency": (SPEC, _with(SPEC, economics=SPEC.economics.model_copy(
        update={"currency": "EUR"}))),
    "steps": (SPEC, _with(SPEC, exposure=SPEC.exposure.model_copy(update={
        "steps": [s.model_copy(update={"pause": "2h"}) for s in SPEC.exposure.steps]}))),
    "paused": (SPEC, _with(SPEC, exposure=SPEC.exposure.model_copy(update={"paused": True}))),
    "treatments reordered": (NARROW, _with(NARROW, treatments=SPEC.treatments[::-1])),
}


@pytest.mark.parametrize(("before", "after"), NO_TARGETING_EDITS.values(),
                         ids=NO_TARGETING_EDITS.keys())
def test_what_leaves_the_targeting_as_it_was_keeps_every_gates_evidence(
        before: CampaignSpec, after: CampaignSpec) -> None:
    assert _digests(after) == _digests(before)


def test_under_a_policy_that_reads_no_costs_a_cost_restarts_only_the_roi_gate() -> None:
    cheaper = _with(NARROW, economics=NARROW.economics.model_copy(
        update={"cost_per_treatment": 0.05}))
    old, new = _digests(NARROW), _digests(cheaper)
    assert new["roi"] != old["roi"]  # its break-even
    assert {name: new[name] for name in new if name != "roi"} == {
        name: old[name] for name in old if name != "roi"}


def _pass(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime,
          measured: bool) -> exposure.Decision:
    """One pass as the service runs it: the spec bound (``with_economics``); every gate
    measured at Pass when ``measured``."""
    bound = exposure.with_economics(spec)
    outcomes = ([GateOutcome(name=g.name, verdict=GateVerdict.PASS, message="m", time=now)
                 for g in exposure.gates_to_measure(bound, status)] if measured else None)
    return exposure.decide(bound, status, exposure.Observed(
        model=SERVING, gate_outcomes=outcomes, budget_anchor=T0, generation=1), now)


@pytest.mark.parametrize(("edited", "advances"), [(NARROW, True), (TARGETING_EDITS[
    "the reviewer's"][1], False)], ids=["unedited", "targeting widened"])
def test_a_step_does_not_end_on_a_pass_shown_under_another_targeting(
        edited: CampaignSpec, advances: bool) -> None:
    s = _pass(NARROW, CampaignStatus(), T0, measured=False).status
    s = _pass(NARROW, s, T0 + dt.timedelta(minutes=58), measured=True).status
    assert (s.current_step, s.exposure_percent) == (0, 5)
    assert {g.name: g.verdict for g in s.gates} == dict.fromkeys(
        ("delivery", "incremental", "roi", "drift", "budget"), GateVerdict.PASS)
    # The pause (1h) is over; the targeting is edited before the next analysis is due.
    after = _pass(edited, s, T0 + dt.timedelta(minutes=61), measured=False)
    assert [e.reason.value == "StepAdvanced" for e in after.events].count(True) == int(advances)
    assert after.status.current_step == (1 if advances else 0)
    if not advances:
        # The step starts over at the edit (exposure.follow_targeting): its pause runs again,
        # the conversion gates judge only the cohorts decided since, measured afresh.
        edit = T0 + dt.timedelta(minutes=61)
        assert [e.reason.value for e in after.events] == ["StepRestarted"]
        assert after.status.step_started_at == after.status.targeting_since == edit
        assert exposure.decisions_since(after.status, "3") == edit
        bound = {g.name: g for g in exposure.with_economics(edited).exposure.gates}
        stored = {g.name: g for g in after.status.gates}
        waiting = {name for name, g in bound.items() if not passed_as_set(g, stored.get(name))}
        assert waiting == {"incremental", "roi"}


def _stored_roi(spec: CampaignSpec, digest: str) -> GateStatus:
    return GateStatus(name="roi", verdict=GateVerdict.PASS, message="m", time=T0,
                      settings_digest=digest, sequential_state={"roi": SequentialStateStatus(
                          looks=2, lower=0.01, upper=0.2)})


def test_a_roi_status_written_before_targeting_was_bound_keeps_its_evidence() -> None:
    bound = exposure.with_economics(SPEC)
    roi = next(g for g in bound.exposure.gates if g.type == "roi")
    # What operators bound before: its fields and economics only.
    before = gates.settings_digest(gates.with_outside_settings(
        roi, exposure.roi_economics(SPEC, roi)))
    assert before != gates.settings_digest(roi)
    stored = _stored_roi(SPEC, before).model_copy(update={"failures": 1, "inconclusives": 2})
    # Taken as gathered under these settings: its Pass, its evidence and its counters kept,
    # with no rewrite of the status at every pass (the old exposure.rebound).
    assert gates.same_settings(roi, stored) and passed_as_set(roi, stored)
    assert gates.memory_of(stored, roi) == gates.memory_of(stored) != {}
    look = GateOutcome(name="roi", verdict=GateVerdict.INCONCLUSIVE, time=T0, message="m",
                       samples=10)
    again = gates.assess(roi, stored, look)
    assert (again.failures, again.inconclusives) == (1, 3)
    # ... and rewritten in the current form at its next analysis.
    assert again.settings_digest == gates.settings_digest(roi)
    # Under other economics that old form is another gate's: afresh, as before the upgrade.
    costlier = exposure.with_economics(SPEC.model_copy(update={
        "economics": SPEC.economics.model_copy(update={"cost_per_treatment": 4.5})}))
    roi_costlier = next(g for g in costlier.exposure.gates if g.type == "roi")
    assert not gates.same_settings(roi_costlier, stored)
    assert gates.memory_of(stored, roi_costlier) == {}
    assert gates.assess(roi_costlier, stored, look).inconclusives == 1
    # A digest of nothing it was ever bound to is no form of it.
    assert not gates.same_settings(roi, _stored_roi(SPEC, "0123456789abcdef"))
    # Only the forms of fewer bindings: a gate that binds nothing takes no other.
    delivery = next(g for g in bound.exposure.gates if g.type == "deliveryRate")
    assert not gates.same_settings(delivery, _stored_roi(SPEC, before))
    # The incrementalConversions gate's fields-only digest, as before; not a roi form.
    incremental = next(g for g in bound.exposure.gates if g.type == "incrementalConversions")
    unbound = next(g for g in SPEC.exposure.gates if g.type == "incrementalConversions")
    assert gates.same_settings(incremental, _stored_roi(SPEC, gates.settings_digest(unbound)))
    assert not gates.same_settings(incremental, _stored_roi(SPEC, before))
