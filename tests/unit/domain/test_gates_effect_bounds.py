"""The bounds a conversion gate shows (status lower/upper, its message) with rare conversions:
the look's interval on variances floored at the pooled rate's, so never empty and never at odds
with the verdict. The plug-in running intersection shown before excluded Δ = 0 in 26–30 % of
equal-version runs at 0.5 % conversion and came out empty; after 120 looks, 60 of 200 Passes
showed an upper bound below 0."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import (
    ArmCounts,
    CampaignArms,
    IncrementalConversionsMeasurement,
    OnlineEffectMeasurement,
    SplitCounts,
    VersionArms,
)
from uplift_operator.stats.results import Decision

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
P, F = GateVerdict.PASS, GateVerdict.FAIL


def _online_effect_runs(canary_treated: float, **spec: float) -> tuple[int, int, float]:
    """12 runs of up to 120 looks of 2,000 units, the canary at a 10 % step, holdout 10 %, the
    stable's arms and the canary's holdout converting 0.5 %, the canary's treated
    ``canary_treated``; an onlineEffect gate with ``spec``; the bounds checked at every look.
    Returns the Passes, the Fails (each ends its run) and the margin read from a Pass's
    message threshold."""
    g = ModelGate.model_validate({"name": "g", "type": "onlineEffect", **spec})
    rng = np.random.default_rng(7)
    rates = [canary_treated, 0.005, 0.005, 0.005]
    margin = 0.0  # the absolute margin, read from the first Pass's message threshold
    passes = fails = 0
    for _ in range(12):
        memory = None
        counts, units = np.zeros(4, int), np.zeros(4, int)  # canary t/h, stable t/h
        for _ in range(120):
            drawn = rng.multinomial(2000, [0.09, 0.01, 0.81, 0.09])
            units += drawn
            counts += rng.binomial(drawn, rates)
            m = OnlineEffectMeasurement(
                canary=VersionArms(ArmCounts(int(units[1]), int(counts[1])),
                                   ArmCounts(int(units[0]), int(counts[0]))),
                stable=VersionArms(ArmCounts(int(units[3]), int(counts[3])),
                                   ArmCounts(int(units[2]), int(counts[2]))),
                holdout_fraction=0.1,
                split=SplitCounts(int(units[2] + units[3]), int(units[0] + units[1]), 0.1,
                                  tolerance=0.0))
            out = evaluate_gate(g, m, memory, NOW)
            memory = out.memory
            if out.lower is None or out.upper is None:
                continue
            assert out.lower <= out.upper, out.message
            if out.verdict is F:
                assert out.upper <= 0, out.message  # harm shown: the whole interval below 0
                fails += 1
                break
            assert out.upper >= 0, out.message  # harm not shown, nor displayed
            if out.verdict is P:
                assert out.threshold is not None
                margin = -out.threshold
                assert out.lower >= -margin, out.message
                passes += 1
    return passes, fails, margin


def test_online_effect_shows_the_deciding_bounds_with_rare_conversions() -> None:
    # Equal versions converting 0.5 %.
    passes, fails, margin = _online_effect_runs(0.005)
    assert passes > 0 and margin > 0 and fails == 0


def test_online_effect_shows_a_fail_s_bounds_below_zero_with_rare_conversions() -> None:
    # The canary's treated converting 0.2 % against the stable's 0.5 %, margin 0.1 pp: harm
    # three times the margin (the default 0.5 pp margin is the whole stable's rate here), which
    # the gate must show; a Fail's upper bound must be at or below 0 when it does.
    passes, fails, _ = _online_effect_runs(0.002, margin=0.001)
    assert fails > 0 and passes == 0


@pytest.mark.parametrize(("treated", "theta", "decides"),
                         [(0.005, 0.0, False), (0.009, 0.0, True), (0.005, 0.003, True)])
def test_incremental_conversions_shows_the_deciding_bounds_with_rare_conversions(
        treated: float, theta: float, decides: bool) -> None:
    # The holdout (10 %) converting 0.5 %, the treated ``treated``, against min = θ: 12 runs of
    # up to 120 looks of 1,000 units.
    g = CampaignGate.model_validate({"name": "g", "type": "incrementalConversions",
                                     "min": theta})
    rng = np.random.default_rng(3)
    decided = 0
    for _ in range(12):
        memory = None
        counts, units = np.zeros(2, int), np.zeros(2, int)  # treated, holdout
        for _ in range(120):
            drawn = rng.multinomial(1000, [0.9, 0.1])
            units += drawn
            counts += rng.binomial(drawn, [treated, 0.005])
            m = IncrementalConversionsMeasurement(
                arms=CampaignArms(ArmCounts(int(units[0]), int(counts[0])),
                                  ArmCounts(int(units[1]), int(counts[1]))),
                holdout_fraction=0.1, split_tolerance=0.0)
            out = evaluate_gate(g, m, memory, NOW)
            memory = out.memory
            if out.lower is None or out.upper is None:
                continue
            assert out.lower <= out.upper, out.message
            if out.verdict is F:
                assert out.upper <= theta, out.message
                decided += 1
                break
            assert out.upper >= theta, out.message
            if out.verdict is P:
                assert out.lower >= theta, out.message
                decided += 1
                break
    assert (decided > 0) is decides


def test_the_shown_variances_are_floored_at_the_pooled_rate() -> None:
    # 0/900 vs 2/100: the plug-in variance of the treated arm is 0; floored at p̄ = 2/1000.
    treated, holdout = gates._floored_arms(ArmCounts(900, 0), ArmCounts(100, 2))
    assert treated.mean == 0.0 and treated.variance == pytest.approx(0.002 * 0.998)
    assert holdout.mean == 0.02 and holdout.variance == pytest.approx(0.02 * 0.98)


def test_a_pass_held_from_an_earlier_look_shows_its_estimate_inside_its_interval() -> None:
    # 15 % vs 10 % shows Δ > 0; later the look's Δ̂ falls to −0.28 pp while the running p-value
    # still holds the Pass. Narrowed to [0, …] the interval would exclude its own estimate: the
    # look's interval is shown, and the message says the Pass was shown at an earlier look.
    g = CampaignGate.model_validate({"name": "g", "type": "incrementalConversions", "min": 0.0})

    def look(t: int, tc: int, h: int, hc: int) -> IncrementalConversionsMeasurement:
        return IncrementalConversionsMeasurement(
            arms=CampaignArms(ArmCounts(t, tc), ArmCounts(h, hc)), holdout_fraction=0.1,
            split_tolerance=0.0)

    first = evaluate_gate(g, look(9_000, 1_350, 1_000, 100), None, NOW)
    assert first.verdict is P and "earlier look" not in first.message
    assert first.lower is not None and first.lower >= 0.0
    later = evaluate_gate(g, look(90_000, 9_050, 10_000, 1_000), first.memory, NOW)
    after = evaluate_gate(g, look(180_000, 17_500, 20_000, 2_000), later.memory, NOW)
    assert after.verdict is P and after.value is not None and after.value < 0
    assert after.lower is not None and after.upper is not None
    assert after.lower <= after.value <= after.upper, after.message
    assert "above 0 shown at an earlier look" in after.message


@pytest.mark.parametrize(("decision", "estimate", "shown"), [
    ("pass", 0.01, (0.0, 0.03)), ("pass", -0.01, (-0.02, 0.03)),
    ("fail", -0.01, (-0.03, 0.0)), ("fail", 0.01, (-0.03, 0.02))])
def test_shown_bounds_narrow_only_where_the_estimate_agrees_with_the_verdict(
        decision: str, estimate: float, shown: tuple[float, float]) -> None:
    look = (-0.02, 0.03) if decision == "pass" else (-0.03, 0.02)
    d = Decision.PASS if decision == "pass" else Decision.FAIL
    assert gates._shown_bounds(*look, d, 0.0, 0.0, estimate) == shown
