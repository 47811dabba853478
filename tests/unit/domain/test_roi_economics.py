"""A roi gate tests Δ against a break-even computed from the campaign's costs and values, while
its sequential evidence is a running test against that break-even: evidence gathered under
other economics tests another null. So the economics it reads are part of its settings
(``exposure.with_economics`` → ``settingsDigest``): an edit of them starts it afresh, as an edit
of its own fields does, and only of those it reads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.domain.test_exposure import SPEC

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec, Targeting
from uplift_operator.api.v1alpha1.common import GateStatus, GateVerdict
from uplift_operator.domain import exposure, gates
from uplift_operator.domain.measurements import (
    ArmCounts,
    CampaignArms,
    OutcomeCompleteness,
    RoiMeasurement,
)
from uplift_operator.domain.steps import passed_as_set

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _edited(spec: CampaignSpec, **economics: Any) -> CampaignSpec:
    return spec.model_copy(update={"economics": spec.economics.model_copy(update=economics)})


def _roi(spec: CampaignSpec) -> CampaignGate:
    """The spec's roi gate as the Campaign pass reads it."""
    return next(g for g in exposure.with_economics(spec).exposure.gates if g.type == "roi")


def _measured(holdout: int, cost: float) -> RoiMeasurement:
    """Treated 12 % vs holdout 8 % (Δ 0.04) at 110 per conversion: ROI +43 at a cost of 0.10
    per treated unit; at 4.5 the break-even Δ is 0.0409, so the ROI is -0.022."""
    treated = 9 * holdout
    return RoiMeasurement(
        arms=CampaignArms(treated=ArmCounts(treated, int(treated * 0.12)),
                          holdout=ArmCounts(holdout, int(holdout * 0.08))),
        holdout_fraction=0.1, value_per_conversion=110.0, spend=cost * treated,
        completeness=OutcomeCompleteness(expected=10 * holdout, received=10 * holdout))


def _look(gate: CampaignGate, status: GateStatus | None, measured: RoiMeasurement,
          at: dt.datetime) -> GateStatus:
    """One analysis as the Campaign pass runs it: memory by the gate's settings, then assess."""
    outcome = gates.evaluate_gate(gate, measured, gates.memory_of(status, gate), at)
    return gates.assess(gate, status, outcome)


def _passed_at_a_cost_of_ten_cents() -> GateStatus:
    roi = _roi(SPEC)
    status = None
    for minutes, holdout in ((0, 2000), (5, 4000)):
        status = _look(roi, status, _measured(holdout, 0.10), T0 + dt.timedelta(minutes=minutes))
    assert status is not None and status.verdict is GateVerdict.PASS
    assert passed_as_set(roi, status)
    return status


def test_a_cost_raised_mid_step_starts_the_roi_gate_afresh() -> None:
    passed = _passed_at_a_cost_of_ten_cents()
    before, after = _roi(SPEC), _roi(_edited(SPEC, cost_per_treatment=4.5))
    assert gates.settings_digest(after) != gates.settings_digest(before)
    # The Pass was shown against the old break-even: no Pass of the gate as it reads now.
    assert not passed_as_set(after, passed)
    assert gates.memory_of(passed, after) == {}
    at = T0 + dt.timedelta(minutes=10)
    # Even read with the evidence kept, the realized break-even moved far past the one that
    # evidence was gathered against (tests/unit/domain/test_roi_break_even.py): no Pass on the
    # negative ROI (before either guard, it was one, held from an earlier look).
    kept = gates.evaluate_gate(before, _measured(4400, 4.5), gates.memory_of(passed, before), at)
    assert kept.verdict is GateVerdict.INCONCLUSIVE and kept.value is not None and kept.value < 0
    assert "ROI evidence starts afresh" in kept.message
    # Afresh: Inconclusive, the estimate within its bounds; the counters start over.
    fresh = _look(after, passed.model_copy(update={"inconclusives": 3}), _measured(4400, 4.5), at)
    assert fresh.verdict is GateVerdict.INCONCLUSIVE
    assert fresh.lower is not None and fresh.upper is not None and fresh.value is not None
    assert fresh.lower <= fresh.value <= fresh.upper
    assert (fresh.inconclusives, fresh.settings_digest) == (1, gates.settings_digest(after))


def test_a_value_per_conversion_edit_starts_it_afresh_too() -> None:
    passed = _passed_at_a_cost_of_ten_cents()
    assert gates.memory_of(passed, _roi(_edited(SPEC, value_per_conversion=90.0))) == {}
    treatments = [SPEC.treatments[0].model_copy(update={"value_per_conversion": 90.0}),
                  *SPEC.treatments[1:]]
    assert gates.memory_of(passed, _roi(SPEC.model_copy(update={"treatments": treatments}))) == {}


def test_what_the_roi_gate_does_not_read_keeps_its_evidence() -> None:
    passed = _passed_at_a_cost_of_ten_cents()
    roi = _roi(SPEC)
    for edit in ({"budget": 9000.0}, {"budget_period": "1d"}, {"currency": "EUR"}):
        assert gates.memory_of(passed, _roi(_edited(SPEC, **edit))) == gates.memory_of(passed, roi)
    # A gate judging one treatment reads that treatment's economics only, under a policy
    # whose choice reads none (topFraction ranks by uplift alone) ...
    one = SPEC.model_copy(update={
        "targeting": Targeting(policy="topFraction", top_fraction=0.05),
        "exposure": SPEC.exposure.model_copy(update={"gates": [
            *(g for g in SPEC.exposure.gates if g.type != "roi"),
            CampaignGate(name="roi", type="roi", treatments=["womens-e-mail"])]})})
    other = [SPEC.treatments[0],
             SPEC.treatments[1].model_copy(update={"cost_per_treatment": 3.0})]
    assert (gates.settings_digest(_roi(one))
            == gates.settings_digest(_roi(one.model_copy(update={"treatments": other}))))
    assert (gates.settings_digest(_roi(one))
            != gates.settings_digest(_roi(_edited(one, cost_per_treatment=0.2))))
    # ... while under costAware every treatment's cost decides whom the runtime treats with
    # the one it judges (tests/unit/domain/test_targeting_evidence.py).
    aware = one.model_copy(update={"targeting": Targeting(policy="costAware")})
    assert (gates.settings_digest(_roi(aware))
            != gates.settings_digest(_roi(aware.model_copy(update={"treatments": other}))))
    # The gates that judge no conversions are not bound to the economics.
    bound = exposure.with_economics(_edited(SPEC, cost_per_treatment=4.5)).exposure.gates
    unbound = ("deliveryRate", "drift", "budget", "custom")
    assert [gates.settings_digest(g) for g in bound if g.type in unbound] == [
        gates.settings_digest(g) for g in SPEC.exposure.gates if g.type in unbound]


def test_a_roi_status_written_before_the_binding_keeps_its_evidence() -> None:
    passed = _passed_at_a_cost_of_ten_cents()
    unbound = next(g for g in SPEC.exposure.gates if g.type == "roi")
    stored = passed.model_copy(update={"settings_digest": gates.settings_digest(unbound)})
    roi = _roi(SPEC)
    assert gates.same_settings(roi, stored) and passed_as_set(roi, stored)
    assert gates.memory_of(stored, roi) == gates.memory_of(passed, roi) != {}
    # Rewritten in the bound form at its next analysis.
    again = _look(roi, stored, _measured(4400, 0.10), T0 + dt.timedelta(minutes=10))
    assert again.settings_digest == gates.settings_digest(roi)


def test_the_binding_is_never_on_the_wire_nor_in_the_rollback_digest() -> None:
    bound = exposure.with_economics(SPEC)
    assert bound.to_wire() == SPEC.to_wire()
    assert exposure.spec_digest(bound) == exposure.spec_digest(SPEC)
    assert exposure.with_economics(bound) == bound  # bound again: the same digests
    assert gates.settings_digest(_roi(bound)) == gates.settings_digest(_roi(SPEC))
