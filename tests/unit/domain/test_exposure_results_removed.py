"""A Campaign's results (``roi``; ``incrementalEffect`` and ``incrementalConversions``) go with
the campaign-wide gate that gave them: removed from the spec, its type changed, or narrowed to
some ``treatments`` (a subgroup's figures, not the campaign's), the pass that reads the edit
clears them, with their gauges, rather than shows the last figures of a gate that no longer
exists for good (only such a gate ever sets or replaces them). An ended campaign's are final
and stay. A status gathered under other settings (a gate retyped under its name) gives none."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure import PROMOTION_SPEC, T0, _at_step_two, _serving
from tests.unit.domain.test_exposure_results_restart import _measured

from uplift_operator.api.v1alpha1.campaign import (
    CampaignGate,
    CampaignSpec,
    CampaignStatus,
    Schedule,
)
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.requests import parse_requests
from uplift_operator.domain.status import status_patch
from uplift_operator.handlers import observability


def _results() -> tuple[CampaignStatus, dt.datetime]:
    """A ramp at step 2 whose analysis measured an effect and an ROI."""
    before, now = _at_step_two()
    later = now + dt.timedelta(minutes=6)
    measured = _measured(before, later, roi_verdict=GateVerdict.PASS)
    assert measured.roi is not None and measured.roi.display == "-0.4 [-0.6, -0.2]"
    assert measured.incremental_effect is not None
    assert measured.incremental_conversions is not None
    return measured, later


def _with_gates(gates: list[CampaignGate]) -> CampaignSpec:
    return PROMOTION_SPEC.model_copy(update={
        "exposure": PROMOTION_SPEC.exposure.model_copy(update={"gates": gates})})


def _without(*types: str) -> CampaignSpec:
    return _with_gates([g for g in PROMOTION_SPEC.exposure.gates if g.type not in types])


def _edited(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime) -> CampaignStatus:
    """The pass that reads an edit of the spec: no analysis in it."""
    return exposure.decide(spec, status, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=2,
        requests=parse_requests({})), now).status


def test_a_removed_roi_gate_takes_the_roi_with_it_and_leaves_the_effect() -> None:
    measured, now = _results()
    edited = _edited(_without("roi"), measured, now + dt.timedelta(seconds=30))
    assert "roi" not in [g.name for g in edited.gates]
    assert edited.roi is None
    assert edited.incremental_effect == measured.incremental_effect
    assert edited.incremental_conversions == measured.incremental_conversions
    # And it stays gone in the passes after it, analyses or not.
    again = _edited(_without("roi"), edited, now + dt.timedelta(minutes=20))
    assert again.roi is None


def test_a_removed_incremental_conversions_gate_takes_the_effect_and_count_with_it() -> None:
    measured, now = _results()
    edited = _edited(_without("incrementalConversions"), measured,
                     now + dt.timedelta(seconds=30))
    assert (edited.incremental_effect, edited.incremental_conversions) == (None, None)
    assert edited.roi == measured.roi


def test_a_gate_narrowed_to_some_treatments_no_longer_shows_as_the_campaigns() -> None:
    measured, now = _results()
    narrowed = _with_gates([
        g.model_copy(update={"treatments": ["womens-e-mail"]})
        if g.type in ("roi", "incrementalConversions") else g
        for g in PROMOTION_SPEC.exposure.gates])
    edited = _edited(narrowed, measured, now + dt.timedelta(seconds=30))
    assert (edited.roi, edited.incremental_effect, edited.incremental_conversions) == (
        None, None, None)


def test_a_gate_of_another_type_under_the_same_name_clears_its_results() -> None:
    measured, now = _results()
    retyped = _with_gates([
        CampaignGate.model_validate({"name": "roi", "type": "deliveryRate"})
        if g.type == "roi" else g for g in PROMOTION_SPEC.exposure.gates])
    edited = _edited(retyped, measured, now + dt.timedelta(seconds=30))
    assert edited.roi is None
    assert edited.incremental_effect == measured.incremental_effect


def test_an_ended_campaigns_final_results_stay_when_its_gates_are_tidied_up() -> None:
    """Past ``schedule.end`` the results are the campaign's outcome: a spec tidied up after
    the end (the roi gate removed, the incrementalConversions gate narrowed) keeps them, as
    it keeps the history. Before, the edit cleared them for good, nothing saying what they
    were."""
    measured, now = _results()
    end = now + dt.timedelta(minutes=1)

    def ended(spec: CampaignSpec) -> CampaignSpec:
        return spec.model_copy(update={"schedule": Schedule(end=end)})

    final = _edited(ended(PROMOTION_SPEC), measured, end + dt.timedelta(minutes=1))
    assert final.phase is Phase.COMPLETED
    assert final.roi == measured.roi  # no analysis runs any more: final
    tidied = ended(_with_gates([
        g.model_copy(update={"treatments": ["womens-e-mail"]})
        if g.type == "incrementalConversions" else g
        for g in PROMOTION_SPEC.exposure.gates if g.type != "roi"]))
    edited = _edited(tidied, final, end + dt.timedelta(hours=1))
    assert edited.phase is Phase.COMPLETED
    assert "roi" not in [g.name for g in edited.gates]
    assert (edited.roi, edited.incremental_effect, edited.incremental_conversions) == (
        measured.roi, measured.incremental_effect, measured.incremental_conversions)
    assert edited.history == final.history
    later = _edited(tidied, edited, end + dt.timedelta(days=3))
    assert (later.roi, later.incremental_effect) == (measured.roi, measured.incremental_effect)


def test_a_gate_retyped_under_its_name_gives_no_result_until_measured_as_such() -> None:
    """A roi gate retyped incrementalConversions keeps its name, and so its status, measured
    as a roi gate, until it is measured again, which a completed ramp never does (it measures
    its budget gates only). That status is another gate's: its ROI is never taken as the
    campaign's effect (``record_results`` reads only statuses measured under the gate's
    settings now). Before, the completed ramp's next budget analysis showed roi's −0.4 as
    ``incrementalEffect``."""
    measured, later = _results()
    completed = exposure.decide(PROMOTION_SPEC, measured, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=1,
        requests=parse_requests({"uplift.dev/promote": "full"})),
        later + dt.timedelta(seconds=10)).status
    assert completed.current_step is None and completed.exposure_percent == 100
    assert completed.incremental_effect == measured.incremental_effect
    retyped = _with_gates([
        CampaignGate.model_validate({"name": "roi", "type": "incrementalConversions"})
        if g.type == "roi" else g
        for g in PROMOTION_SPEC.exposure.gates if g.type != "incrementalConversions"])
    edited = _edited(retyped, completed, later + dt.timedelta(seconds=30))
    assert edited.roi is None
    at = later + dt.timedelta(minutes=10)
    budget_only = exposure.decide(retyped, edited, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=2, requests=parse_requests({}),
        gate_outcomes=[GateOutcome(name="budget", verdict=GateVerdict.PASS, message="m",
                                   time=at, value=12.0, threshold=5000.0)]), at).status
    assert budget_only.last_analysis_at == at and budget_only.spend == 12.0
    assert budget_only.incremental_effect == completed.incremental_effect
    assert budget_only.incremental_conversions == completed.incremental_conversions
    assert budget_only.roi is None


def test_kept_gates_keep_their_results_between_analyses() -> None:
    measured, now = _results()
    # A campaign-wide gate among narrowed ones still gives the campaign's figure.
    extra = CampaignGate.model_validate({"name": "roi-women", "type": "roi",
                                         "treatments": ["womens-e-mail"]})
    edited = _edited(_with_gates([*PROMOTION_SPEC.exposure.gates, extra]), measured,
                     now + dt.timedelta(seconds=30))
    assert edited.roi == measured.roi
    assert edited.incremental_effect == measured.incremental_effect
    assert edited.incremental_conversions == measured.incremental_conversions


def test_the_cleared_results_leave_the_stored_status_and_their_gauges() -> None:
    measured, now = _results()
    edited = _edited(_without("roi", "incrementalConversions"), measured,
                     now + dt.timedelta(seconds=30))
    patch = status_patch(measured.to_wire(), edited.to_wire())
    assert patch is not None
    assert {k: patch.get(k) for k in ("roi", "incrementalEffect", "incrementalConversions")} \
        == {"roi": None, "incrementalEffect": None, "incrementalConversions": None}
    assert {"roi", "incrementalEffect", "incrementalConversions"} <= set(patch)

    def gauges() -> dict[str, float | None]:
        return {f"{metric}/{bound}": observability.REGISTRY.get_sample_value(
            f"uplift_operator_campaign_{metric}",
            {"namespace": "ns", "name": "removed-results", "bound": bound})
            for metric in ("roi", "incremental_effect", "incremental_conversions")
            for bound in observability.ESTIMATE_BOUNDS}

    try:
        observability.observe_campaign("ns", "removed-results", measured.to_wire(), {})
        assert gauges()["roi/estimate"] == -0.4
        assert gauges()["incremental_effect/estimate"] == -0.2
        observability.observe_campaign("ns", "removed-results", edited.to_wire(), {})
        assert set(gauges().values()) == {None}
    finally:
        observability.forget("Campaign", "ns", "removed-results")
