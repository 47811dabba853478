"""The Campaign's count results: ``incrementalConversions`` is the effect's gate's own cohorts'
(its Δ times their treated-arm decisions, C_T − C_H·n_T/n_H), never Δ times ``treatedUnits``
(every version's decisions since the ramp started); ``incrementalEffect`` is the campaign's, not
a subgroup's (a gate naming ``treatments``); ``treatedUnits``/``holdoutUnits`` never go down
within a ramp (a range past Prometheus' retention, its kept pieces lost in a restart) and
start at 0 with each ramp."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.domain.test_exposure import (
    PROMOTION_SPEC,
    T0,
    TYPES,
    _at_step_two,
    _promotion_pass,
    _serving,
)

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.measurements import CampaignUnits
from uplift_operator.domain.requests import parse_requests

INC = GateVerdict.INCONCLUSIVE


def _look(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime, *,
          values: dict[str, tuple[float, float, float, int]] | None = None,
          units: CampaignUnits | None = None, version: str = "3",
          requests: dict[str, str] | None = None) -> CampaignStatus:
    """A pass whose analysis measured every gate (Inconclusive), the named ones with
    (value, lower, upper, samples), and counted ``units`` since the ramp started."""
    outcomes = []
    for gate in spec.exposure.gates:
        value, lower, upper, samples = (values or {}).get(gate.name, (None, None, None, 0))
        outcomes.append(GateOutcome(name=gate.name, verdict=INC, message="m", time=now,
                                    value=value, lower=lower, upper=upper, threshold=0.0,
                                    samples=samples))
    return exposure.decide(spec, status, exposure.Observed(
        model=_serving(version), gate_outcomes=outcomes, budget_anchor=T0, generation=1,
        units=units, requests=parse_requests(requests or {})), now).status


def _with_gates(*extra: dict[str, object], first: bool = False) -> CampaignSpec:
    gates = [CampaignGate.model_validate(g) for g in extra]
    rest = list(PROMOTION_SPEC.exposure.gates)
    return PROMOTION_SPEC.model_copy(update={"exposure": PROMOTION_SPEC.exposure.model_copy(
        update={"gates": [*gates, *rest] if first else [*rest, *gates]})})


def _lift() -> str:
    return next(n for n, t in TYPES.items() if t == "incrementalConversions")


def test_incremental_conversions_are_the_gates_cohorts_not_the_rate_times_treated_units() -> None:
    before, now = _at_step_two()
    now += dt.timedelta(minutes=6)
    # The gate judged 1,200 treated-arm decisions of its cohorts at Δ 0.02 [0.005, 0.035];
    # 50,000 treated-arm decisions were made since the ramp started (repeat and capped rows,
    # cohorts not closed yet, a version promoted away from).
    s = _look(PROMOTION_SPEC, before, now, values={_lift(): (0.02, 0.005, 0.035, 1200)},
              units=CampaignUnits(treated=50_000, holdout=5_500))
    assert s.incremental_effect is not None and s.incremental_effect.estimate == 0.02
    assert s.treated_units == 50_000
    conversions = s.incremental_conversions
    assert conversions is not None
    assert (conversions.estimate, conversions.lower, conversions.upper) == pytest.approx(
        (24.0, 6.0, 42.0))
    assert conversions.display == "+24 [+6, +42]"


def test_incremental_conversions_are_cleared_with_the_effect_on_a_promotion() -> None:
    before, now = _at_step_two()
    now += dt.timedelta(minutes=6)
    measured = _look(PROMOTION_SPEC, before, now, values={_lift(): (0.02, 0.005, 0.035, 1200)},
                     units=CampaignUnits(treated=50_000, holdout=5_500))
    assert measured.incremental_conversions is not None
    promoted = _promotion_pass(measured, now + dt.timedelta(minutes=1), version="4",
                               analysis=False).status
    assert (promoted.incremental_effect, promoted.incremental_conversions) == (None, None)
    # The decisions since the ramp started stay: the promotion did not restart it.
    assert promoted.treated_units == 50_000


def test_the_campaigns_effect_is_never_a_subgroups() -> None:
    """A gate naming treatments judges the units given one of them: its Δ is the subgroup's,
    which neither status.incrementalEffect nor the conversions count it scales may show."""
    subgroup: dict[str, object] = {"name": "mens", "type": "incrementalConversions",
                                   "treatments": ["mens-e-mail"]}
    before, now = _at_step_two()
    now += dt.timedelta(minutes=6)
    spec = _with_gates(subgroup, first=True)
    both = _look(spec, before, now, values={"mens": (0.09, 0.05, 0.13, 300),
                                            _lift(): (0.02, 0.005, 0.035, 1200)})
    effect = both.incremental_effect
    assert effect is not None and effect.estimate == 0.02
    assert both.incremental_conversions is not None
    assert both.incremental_conversions.estimate == pytest.approx(24.0)
    # Only the subgroup's gate has a value (the campaign's holds): the results stay as they
    # were, never the subgroup's shown as the campaign's.
    later = _look(spec, both, now + dt.timedelta(minutes=6),
                  values={"mens": (0.11, 0.07, 0.15, 400)})
    assert later.incremental_effect == effect
    # A campaign whose only effect gate names treatments shows no campaign effect.
    only = PROMOTION_SPEC.model_copy(update={"exposure": PROMOTION_SPEC.exposure.model_copy(
        update={"gates": [CampaignGate.model_validate(subgroup),
                          *(g for g in PROMOTION_SPEC.exposure.gates
                            if g.type != "incrementalConversions")]})})
    fresh = _promotion_pass(CampaignStatus(), T0, analysis=False).status
    alone = _look(only, fresh, T0 + dt.timedelta(minutes=5),
                  values={"mens": (0.09, 0.05, 0.13, 300)})
    assert (alone.incremental_effect, alone.incremental_conversions) == (None, None)


def test_the_decisions_since_the_ramp_started_never_go_down_within_it() -> None:
    """Counted over the whole ramp, a range older than Prometheus' retention reads from the
    retention's edge once the operator's kept pieces are lost (a restart): the status keeps
    the larger count for the ramp; a retry starts the count at 0."""
    before, now = _at_step_two()
    first = _look(PROMOTION_SPEC, before, now + dt.timedelta(minutes=6),
                  units=CampaignUnits(treated=90_000, holdout=10_000))
    assert (first.treated_units, first.holdout_units) == (90_000, 10_000)
    # The operator restarted; Prometheus holds the last 15 days of a 20-day ramp.
    shrunk = _look(PROMOTION_SPEC, first, now + dt.timedelta(minutes=12),
                   units=CampaignUnits(treated=70_000, holdout=7_800))
    assert (shrunk.treated_units, shrunk.holdout_units) == (90_000, 10_000)
    grown = _look(PROMOTION_SPEC, shrunk, now + dt.timedelta(minutes=18),
                  units=CampaignUnits(treated=95_000, holdout=9_900))
    assert (grown.treated_units, grown.holdout_units) == (95_000, 10_000)


def test_a_new_ramp_counts_its_own_decisions_from_zero() -> None:
    started = _promotion_pass(CampaignStatus(), T0, analysis=False).status
    measured = _look(PROMOTION_SPEC, started, T0 + dt.timedelta(minutes=5),
                     units=CampaignUnits(treated=9_000, holdout=1_000))
    assert (measured.treated_units, measured.holdout_units) == (9_000, 1_000)
    rolled_back = exposure.decide(PROMOTION_SPEC, measured, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=1,
        requests=parse_requests({"uplift.dev/abort": "a1"})), T0 + dt.timedelta(minutes=6)).status
    assert rolled_back.exposure_percent == 0
    # Retried in a pass whose analysis applies (its budget gate found the budget spent, which
    # takes effect in the pass that measured it): the counts it read are the rolled-back
    # ramp's, read from its start, not the new ramp's.
    now = T0 + dt.timedelta(minutes=10)
    retried = exposure.decide(PROMOTION_SPEC, rolled_back, exposure.Observed(
        model=_serving("3"), budget_anchor=T0, generation=1,
        gate_outcomes=[GateOutcome(name="budget", verdict=GateVerdict.FAIL, message="spent",
                                   time=now, value=6000.0, threshold=5000.0,
                                   suspension=Suspension(None, "spent"))],
        units=CampaignUnits(treated=9_100, holdout=1_010),
        requests=parse_requests({"uplift.dev/abort": "a1", "uplift.dev/retry": "r1"})),
        now).status
    assert (retried.ramp_started_at, retried.last_analysis_at) == (now, now)
    assert (retried.treated_units, retried.holdout_units) == (0, 0)
    # The new ramp's own counts, smaller than the last ramp's, are taken as they are.
    again = _look(PROMOTION_SPEC, retried, now + dt.timedelta(minutes=5),
                  units=CampaignUnits(treated=300, holdout=30))
    assert (again.treated_units, again.holdout_units) == (300, 30)


def test_the_campaigns_roi_is_never_a_subgroups() -> None:
    """An roi gate naming treatments judges the units given one of them: status.roi (and its
    gauge) shows the first roi gate without treatments, or none."""
    subgroup: dict[str, object] = {"name": "mens-roi", "type": "roi",
                                   "treatments": ["mens-e-mail"]}
    roi = next(n for n, t in TYPES.items() if t == "roi")
    before, now = _at_step_two()
    now += dt.timedelta(minutes=6)
    spec = _with_gates(subgroup, first=True)
    both = _look(spec, before, now, values={"mens-roi": (3.5, 1.0, 6.0, 300),
                                            roi: (0.4, 0.1, 0.7, 1200)})
    assert both.roi is not None and both.roi.estimate == 0.4
    later = _look(spec, both, now + dt.timedelta(minutes=6),
                  values={"mens-roi": (4.0, 2.0, 6.0, 400)})
    assert later.roi == both.roi
    only = PROMOTION_SPEC.model_copy(update={"exposure": PROMOTION_SPEC.exposure.model_copy(
        update={"gates": [CampaignGate.model_validate(subgroup),
                          *(g for g in PROMOTION_SPEC.exposure.gates if g.type != "roi")]})})
    fresh = _promotion_pass(CampaignStatus(), T0, analysis=False).status
    alone = _look(only, fresh, T0 + dt.timedelta(minutes=5),
                  values={"mens-roi": (3.5, 1.0, 6.0, 300)})
    assert alone.roi is None
