"""A targeting edit mid-step starts the step over on the decisions made from the edit
(``exposure.follow_targeting``, ``status.targetingDigest``/``targetingSince``). Before, only
the conversion gates' settingsDigest moved: their memory reset, but the step was not restarted
and the data window did not move, so the first look after widening ``topFraction: 0.05`` to
``costAware`` read cohorts decided under the old targeting, and a Pass ended the step minutes
after the edit (review-campaign-path probe_targeting; docs/lifecycle.md: a Pass for a narrow
targeting is no evidence about a wide one)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.domain.test_exposure import SPEC

from uplift_operator.api.v1alpha1.campaign import (
    CampaignSpec,
    CampaignStatus,
    ExposureStep,
    Targeting,
)
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")


def _spec(targeting: Targeting) -> CampaignSpec:
    ramp = SPEC.exposure.model_copy(update={
        "steps": [ExposureStep(percent=5, pause="1d"), ExposureStep(percent=100, pause="1h")],
        "gates": [g for g in SPEC.exposure.gates if g.type == "incrementalConversions"],
        "progress_deadline": None})
    return exposure.with_economics(SPEC.model_copy(update={
        "targeting": targeting, "exposure": ramp, "schedule": None}))


NARROW = _spec(Targeting(policy="topFraction", top_fraction=0.05))
WIDE = _spec(Targeting(policy="costAware"))


def _pass(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime,
          verdict: GateVerdict | None = None) -> exposure.Decision:
    outcomes = None
    if verdict is not None and exposure.analysis_due(spec, status, now):
        outcomes = [GateOutcome(name=g.name, verdict=verdict, message="m", time=now)
                    for g in exposure.gates_to_measure(spec, status)]
    decision = exposure.decide(spec, status, exposure.Observed(
        model=SERVING, gate_outcomes=outcomes, budget_anchor=T0, generation=1), now)
    return decision


def _wire(status: CampaignStatus) -> dict[str, Any]:
    return status.to_wire()


def test_a_targeting_edit_mid_step_starts_the_step_over_on_the_decisions_made_since() -> None:
    s = _pass(NARROW, CampaignStatus(), T0).status
    digest = s.targeting_digest
    assert digest is not None and len(digest) == 32 and s.targeting_since is None
    s = _pass(NARROW, s, T0 + 2 * D, GateVerdict.INCONCLUSIVE).status
    assert (s.current_step, s.step_started_at) == (0, T0)
    # The pause (1d) is long over when the targeting widens.
    edit = T0 + 2 * D + H
    edited = _pass(WIDE, s, edit)
    s = edited.status
    assert [e.reason.value for e in edited.events] == ["StepRestarted"]
    assert "spec.targeting or spec.treatments edited" in edited.events[0].message
    assert (s.current_step, s.exposure_percent) == (0, 5)
    assert s.step_started_at == s.targeting_since == edit
    assert s.targeting_digest not in (None, digest)
    assert "incremental" not in {g.name for g in s.gates}  # measured afresh
    # The conversion gates judge only the cohorts decided after the edit.
    assert exposure.decisions_since(s, "3") == edit
    # A Pass at the first look after the edit does not end the step: its pause runs from it.
    s = _pass(WIDE, s, edit + 10 * dt.timedelta(minutes=1), GateVerdict.PASS).status
    s = _pass(WIDE, s, edit + 11 * dt.timedelta(minutes=1)).status
    assert (s.current_step, s.exposure_percent) == (0, 5)
    # Once the step's pause has run on the new targeting, a Pass ends it.
    s = _pass(WIDE, s, edit + D + H, GateVerdict.PASS).status
    s = _pass(WIDE, s, edit + D + 2 * H).status
    assert s.current_step == 1


def test_the_targeting_digest_is_stable_and_restarts_nothing_on_its_own() -> None:
    s = _pass(NARROW, CampaignStatus(), T0).status
    again = _pass(NARROW, s, T0 + dt.timedelta(minutes=1))
    assert not again.events
    assert _wire(again.status) == _wire(s)  # no status write for the digest
    # A status written before the digest was kept records it, restarting nothing.
    legacy = s.model_copy(update={"targeting_digest": None})
    recorded = _pass(WIDE, legacy, T0 + dt.timedelta(minutes=2))
    assert not recorded.events
    assert recorded.status.targeting_digest == exposure.decide(
        WIDE, CampaignStatus(), exposure.Observed(model=SERVING, generation=1),
        T0).status.targeting_digest
    assert (recorded.status.step_started_at, recorded.status.targeting_since) == (T0, None)


def test_a_targeting_edit_after_the_ramp_completed_restarts_nothing() -> None:
    s = _pass(NARROW, CampaignStatus(), T0).status
    s = _pass(NARROW, s, T0 + D + H, GateVerdict.PASS).status
    s = _pass(NARROW, s, T0 + D + 2 * H).status
    s = _pass(NARROW, s, T0 + D + 4 * H, GateVerdict.PASS).status
    s = _pass(NARROW, s, T0 + D + 5 * H).status
    assert (s.current_step, s.exposure_percent) == (None, 100)
    done = _pass(WIDE, s, T0 + 2 * D)
    assert not [e for e in done.events if e.reason.value == "StepRestarted"]
    assert done.status.targeting_since is None
    assert done.status.targeting_digest == _pass(WIDE, CampaignStatus(), T0).status.targeting_digest
