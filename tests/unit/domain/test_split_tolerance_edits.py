"""An edit of the split tolerance mid-ramp (``spec.rollout.splitTolerance``,
``spec.exposure.splitTolerance``) starts the within-tolerance test afresh: its p-value is a
running minimum against the bounds of the tolerance it was computed for, and neither field is
in a gate's settings digest. Before, evidence that a 47 % share was within 37.5–62.5 % went on
showing it "within 48–52 %" once the tolerance was tightened to 0.04, and the canary promoted."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import (
    ArmCounts,
    CampaignArms,
    ErrorRateMeasurement,
    IncrementalConversionsMeasurement,
    OnlineEffectMeasurement,
    OutcomeCompleteness,
    SplitCounts,
    VersionArms,
)
from uplift_operator.stats.results import SequentialState

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
P, INC = GateVerdict.PASS, GateVerdict.INCONCLUSIVE
COMPLETE = OutcomeCompleteness(expected=1000, received=1000)


def _model_gate(type_: str, **fields: Any) -> ModelGate:
    return ModelGate.model_validate({"name": "g", "type": type_, **fields})


def _error_rate(n: int, tolerance: float) -> ErrorRateMeasurement:
    """``n`` requests split 53/47 on a 50 % last step (``promotes``), no errors anywhere."""
    stable, canary = int(0.53 * n), int(0.47 * n)
    split = SplitCounts(stable=stable, canary=canary, canary_share=0.5, promotes=True,
                        tolerance=tolerance)
    return ErrorRateMeasurement(canary_errors=0, canary_requests=canary, stable_errors=0,
                                stable_requests=stable, split=split)


def _looks(g: Any, measurements: list[Any]) -> list[gates.GateOutcome]:
    """Each measurement judged in turn, its memory carried through the gate's status (the
    round trip a restarted operator reads back)."""
    status, out = None, []
    for minute, m in enumerate(measurements):
        outcome = evaluate_gate(g, m, gates.memory_of(status, g),
                                T0 + dt.timedelta(minutes=minute))
        status = gates.assess(g, status, outcome)
        out.append(outcome)
    return out


def test_a_tightened_split_tolerance_starts_the_within_test_afresh() -> None:
    g = _model_gate("errorRate", max=0.05)
    looks = _looks(g, [_error_rate(n, 0.25) for n in (800, 1600, 2400)]
                   + [_error_rate(n, 0.04) for n in (2500, 2600)])
    assert [o.verdict for o in looks[:3]] == [P, P, P]  # 47 % is within 37.5–62.5 %
    for tightened in looks[3:]:
        # 47 % is outside 48–52 %: what was shown against 0.25 shows nothing against 0.04.
        assert tightened.verdict is INC, tightened.message
        assert "not shown yet: traffic split within 0.48–0.52" in tightened.message
        assert tightened.memory["splitWithin"].reference == 0.04


def test_an_unchanged_split_tolerance_keeps_the_within_evidence() -> None:
    g = _model_gate("errorRate", max=0.05)
    looks = _looks(g, [_error_rate(n, 0.25) for n in (800, 1600, 2400, 2500)])
    within = [o.memory["splitWithin"] for o in looks]
    assert [o.verdict for o in looks] == [P, P, P, P]
    assert within[-1].reference == 0.25
    assert within[-1].looks == 4  # one test, four looks: not restarted at each
    assert within[-1].p_pass <= within[-2].p_pass  # its running minimum goes on


def test_a_loosened_split_tolerance_starts_afresh_too() -> None:
    g = _model_gate("errorRate", max=0.05)
    looks = _looks(g, [_error_rate(n, 0.25) for n in (800, 1600)] + [_error_rate(1700, 0.3)])
    assert looks[-1].memory["splitWithin"].looks == 1
    assert looks[-1].memory["splitWithin"].reference == 0.3


def test_a_within_state_written_before_the_tolerance_was_kept_keeps_its_evidence() -> None:
    # A status from before this release carries no tolerance: the upgrade keeps its evidence,
    # taken to be against the tolerance set now (an edit before that look cannot be told).
    g = _model_gate("errorRate", max=0.05)
    first = evaluate_gate(g, _error_rate(2400, 0.25), None, T0)
    legacy = {**first.memory, "splitWithin": SequentialState.from_dict(
        {k: v for k, v in first.memory["splitWithin"].to_dict().items() if k != "reference"})}
    assert math.isnan(legacy["splitWithin"].reference)
    later = evaluate_gate(g, _error_rate(2500, 0.25), legacy, T0 + dt.timedelta(minutes=1))
    assert later.verdict is P
    assert later.memory["splitWithin"].looks == 2
    assert later.memory["splitWithin"].reference == 0.25


def _online(units: int, holdout_share: float, tolerance: float) -> OnlineEffectMeasurement:
    """Equal versions on a promoting 50 % step; the canary's holdout at ``holdout_share`` of
    a 10 % holdoutFraction's units."""
    def version(n: int, share: float) -> VersionArms:
        h = int(n * share)
        return VersionArms(ArmCounts(h, int(h * 0.1)), ArmCounts(n - h, int((n - h) * 0.15)))

    split = SplitCounts(stable=units, canary=units, canary_share=0.5, promotes=True,
                        tolerance=tolerance)
    return OnlineEffectMeasurement(version(units, holdout_share), version(units, 0.1), 0.1,
                                   split=split)


def test_online_effect_restarts_the_holdout_within_test_on_a_tolerance_edit() -> None:
    g = _model_gate("onlineEffect", margin=0.08)
    # An 11.5 % holdout: within 10 ± 5 % (tolerance 0.2, standardised and capped), not within
    # 10 ± 1.2 % (0.04); too few units for the SRM check to see it.
    looks = _looks(g, [_online(n, 0.115, 0.2) for n in (2_000, 4_000)]
                   + [_online(n, 0.115, 0.04) for n in (4_200, 4_400)])
    assert looks[1].verdict is P, looks[1].message
    for tightened in looks[2:]:
        assert tightened.verdict is INC, tightened.message
        assert "the canary's holdout share within 0.088–0.112" in tightened.message
        assert tightened.memory["holdoutWithin"].looks == looks.index(tightened) - 1


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_a_campaign_restarts_the_holdout_within_test_on_a_tolerance_edit(type_: str) -> None:
    from uplift_operator.domain.measurements import RoiMeasurement

    g = CampaignGate.model_validate({"name": "g", "type": type_})

    def look(units: int, tolerance: float) -> Any:
        holdout = int(units * 0.115)  # within 10 ± 5 %, not within 10 ± 1.2 %
        a = CampaignArms(ArmCounts(units - holdout, int((units - holdout) * 0.2)),
                         ArmCounts(holdout, int(holdout * 0.1)))
        if type_ == "roi":
            return RoiMeasurement(arms=a, holdout_fraction=0.1, value_per_conversion=10.0,
                                  spend=0.2 * a.treated.units, completeness=COMPLETE,
                                  completes=True, split_tolerance=tolerance)
        return IncrementalConversionsMeasurement(arms=a, holdout_fraction=0.1,
                                                 completeness=COMPLETE, completes=True,
                                                 split_tolerance=tolerance)

    looks = _looks(g, [look(n, 0.2) for n in (2_000, 4_000)]
                   + [look(n, 0.04) for n in (4_200, 4_400)])
    assert looks[1].verdict is P, looks[1].message
    for tightened in looks[2:]:
        assert tightened.verdict is INC, tightened.message
        assert "not shown yet: the campaign's holdout share within 0.088–0.112" in tightened.message
