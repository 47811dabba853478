"""Pins of gate judgements that no other test held: each one fails on a small change to
``domain.gates`` (a flipped bound, a dropped α split, state not carried) that the rest of the
suite let through."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from tests.unit.domain.test_gates import BOUNDS, FAST, effect, gate, histogram, lat

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import gates
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import (
    CustomMeasurement,
    DeliveryRateMeasurement,
    ErrorRateMeasurement,
    LatencyMeasurement,
    OnlineEffectMeasurement,
    QiniEstimate,
    QiniMeasurement,
    SplitCounts,
    UpliftSanityMeasurement,
)
from uplift_operator.stats.results import SequentialState

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
P, INC, E, F = (GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.ERROR, GateVerdict.FAIL)


def _replicates(mean: float, sd: float = 0.02) -> tuple[float, ...]:
    rng = np.random.default_rng(1)
    return tuple(float(x) for x in rng.normal(mean, sd, 400))


def _qini(mean: float, reps: tuple[float, ...]) -> QiniEstimate:
    return QiniEstimate(mean, None, None, 12808, replicates=reps, evaluation_set="e1")


# -- the rule ------------------------------------------------------------------------------------

def test_fail_splits_alpha_over_the_tests_that_may_fail() -> None:
    tests = [gates._Test("a", 1.0, 0.04), gates._Test("b", 1.0, 1.0)]
    assert gates._rule(tests, 0.05)[0] is INC  # 0.04 > 0.05 / 2
    assert gates._rule(tests[:1], 0.05)[0] is F


def test_no_test_that_may_pass_is_never_a_pass() -> None:
    only_fail_side = [gates._Test("ceiling", 0.0, 0.5, can_pass=False)]
    assert gates._rule(only_fail_side, 0.05)[0] is INC


# -- latency ---------------------------------------------------------------------------------------

def test_latency_below_min_samples_by_one_is_not_judged() -> None:
    out = evaluate_gate(gate("latency", minSamples=100), lat(FAST, 99, FAST, 5000), None, NOW)
    assert out.verdict is INC and "only 99 requests" in out.message


def test_latency_judges_by_the_frozen_threshold_not_the_later_stable_p95() -> None:
    g = gate("latency")
    first = evaluate_gate(g, lat(FAST, 5_000, FAST, 50_000), None, NOW)
    later = LatencyMeasurement(0.3, 6000, 0.3, 60_000, bucket_bounds=BOUNDS,
                               canary_buckets=histogram(6000, FAST),
                               stable_buckets=histogram(60_000, (0.0, 0.1, 0.85, 0.05, 0.0)))
    second = evaluate_gate(g, later, first.memory, NOW)
    assert second.threshold == pytest.approx(0.1)
    assert "slower than 0.1s" in second.message


# -- errorRate -------------------------------------------------------------------------------------

def test_error_rate_absolute_margin_is_read_against_the_stable_rate() -> None:
    g = gate("errorRate", marginType="absolute", margin=0.005)
    out = evaluate_gate(g, ErrorRateMeasurement(1000, 100_000, 9000, 900_000), None, NOW)
    assert out.threshold == pytest.approx(1.5)  # 1 + 0.005 / 0.01
    assert "ratio < 1.5" in out.message


def test_a_step_at_full_weight_has_no_split_to_check() -> None:
    g = gate("errorRate", max=0.01)
    m = ErrorRateMeasurement(0, 5000, 0, 0, split=SplitCounts(0, 5000, 1.0))
    out = evaluate_gate(g, m, None, NOW)
    assert out.verdict is not E and not out.holds
    assert "sample ratio" not in out.message and "invalid" not in out.message


def test_a_re_check_whose_counts_went_back_on_one_arm_starts_over() -> None:
    g = gate("errorRate", max=0.01)
    m = ErrorRateMeasurement(0, 600, 0, 1400, split=SplitCounts(1400, 600, 0.5))
    flagged = evaluate_gate(g, m, None, NOW)
    assert flagged.verdict is E and "srmTrafficRecheck" in flagged.memory
    # The stable's counter went back (below the count at the mismatch), the canary's did not.
    again = ErrorRateMeasurement(0, 1300, 0, 1300, split=SplitCounts(1300, 1300, 0.5))
    out = evaluate_gate(g, again, flagged.memory, NOW)
    assert out.verdict is not E and "invalid" not in out.message
    assert "srmTrafficRecheck" not in out.memory


# -- custom ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1.0, 2.0])
def test_custom_bounds_are_inclusive(value: float) -> None:
    out = evaluate_gate(gate("custom", query="x", min=1, max=2), CustomMeasurement(value), None,
                        NOW)
    assert out.verdict is P


# -- deliveryRate ----------------------------------------------------------------------------------

def test_delivery_rate_does_not_pass_below_min_samples() -> None:
    g = CampaignGate.model_validate({"name": "g", "type": "deliveryRate", "min": 0.95,
                                     "minSamples": 2000})
    out = evaluate_gate(g, DeliveryRateMeasurement(delivered=990, decided=1000), None, NOW)
    assert out.verdict is INC and "1000 of 2000 decisions needed" in out.message


# -- onlineEffect ----------------------------------------------------------------------------------

def test_online_effect_waits_for_the_smaller_treated_arm() -> None:
    g = gate("onlineEffect", minSamples=10_000)
    m = OnlineEffectMeasurement(effect(50_000, 0.15), effect(5000, 0.15), 0.1)
    out = evaluate_gate(g, m, None, NOW)
    assert out.verdict is INC and "smallest treated arm has 4500 units" in out.message


def test_online_effect_relative_margin_is_a_share_of_the_stable_rate() -> None:
    g = gate("onlineEffect", marginType="relative", margin=0.2)
    m = OnlineEffectMeasurement(effect(50_000, 0.15), effect(50_000, 0.15), 0.1)
    out = evaluate_gate(g, m, None, NOW)
    assert out.threshold == pytest.approx(-0.03)


def test_online_effect_harm_evidence_is_carried_to_the_next_step() -> None:
    g = gate("onlineEffect")
    m = OnlineEffectMeasurement(effect(4000, 0.13), effect(4000, 0.15), 0.1)
    first = evaluate_gate(g, m, None, NOW)
    assert first.verdict is INC
    carried = {key: state.next_stratum() for key, state in first.memory.items()}
    # The same evidence again at the next step: pooled with the first, harm is shown.
    second = evaluate_gate(g, m, carried, NOW)
    assert second.verdict is F
    assert second.memory["effectFail"].p_fail < first.memory["effectFail"].p_fail


def test_a_holdout_mismatch_discards_the_holdout_share_evidence() -> None:
    g = gate("onlineEffect")
    split = SplitCounts(25_000, 25_000, 0.5, promotes=True)
    good = OnlineEffectMeasurement(effect(50_000, 0.15), effect(50_000, 0.15), 0.1, split=split)
    first = evaluate_gate(g, good, None, NOW)
    assert first.memory["holdoutWithin"].looks >= 1
    skewed = OnlineEffectMeasurement(effect(50_000, 0.15, holdout_share=0.25),
                                     effect(50_000, 0.15), 0.1, split=split)
    out = evaluate_gate(g, skewed, first.memory, NOW)
    assert out.verdict is E and out.holds
    assert out.memory["holdoutWithin"] == SequentialState()


# -- upliftSanity ----------------------------------------------------------------------------------

def test_uplift_sanity_fails_only_at_half_alpha_per_side() -> None:
    # 1.1 training std above the mean: its lower bound at α is above the band's edge (1), at
    # α/2 it is not, so outside the band is not shown yet (and inside is not either).
    out = evaluate_gate(gate("upliftSanity"), UpliftSanityMeasurement(0.073, 1000, 0.04, 0.03),
                        None, NOW)
    assert out.verdict is INC


@pytest.mark.parametrize(("z", "verdict"), [(0.7, "Pass"), (1.3, "Fail")])
def test_uplift_sanity_bounds_take_the_live_sd_when_it_is_wider(z: float, verdict: str) -> None:
    # 200 requests: at 1 training sd the bounds are ±0.20 (α) and ±0.22 (α/2), so +0.7 passes
    # and +1.3 fails; live predictions spread 2× as wide double them: neither is shown.
    g = gate("upliftSanity")
    mean = 0.04 + z * 0.03
    assert evaluate_gate(g, UpliftSanityMeasurement(mean, 200, 0.04, 0.03), None,
                         NOW).verdict.value == verdict
    assert evaluate_gate(g, UpliftSanityMeasurement(mean, 200, 0.04, 0.03, live_std=0.03),
                         None, NOW).verdict.value == verdict
    wide = evaluate_gate(g, UpliftSanityMeasurement(mean, 200, 0.04, 0.03, live_std=0.06),
                         None, NOW)
    assert wide.verdict is INC and "live sd 2 training std" in wide.message
    # A narrower live spread does not narrow them (a small estimate may be chance).
    narrow = evaluate_gate(g, UpliftSanityMeasurement(mean, 200, 0.04, 0.03, live_std=0.01),
                           None, NOW)
    trained = evaluate_gate(g, UpliftSanityMeasurement(mean, 200, 0.04, 0.03), None, NOW)
    assert (narrow.lower, narrow.upper) == (trained.lower, trained.upper)


def test_uplift_sanity_live_sd_factor_is_the_chi2_upper_confidence_bound() -> None:
    from scipy import stats

    for n in (2, 3, 10, 30, 31, 100, 10_000):
        exact = math.sqrt((n - 1) / stats.chi2.ppf(0.01, n - 1))
        # exact below 30 df; Wilson–Hilferty above, on the wide side by < 0.2 %
        assert exact * (1 - 1e-9) <= gates._sd_upper_factor(n, 0.01) <= exact * 1.002
    assert gates._sd_upper_factor(1, 0.01) == math.inf


def test_uplift_sanity_does_not_trust_a_live_sd_taken_on_few_requests() -> None:
    # +4 training sd on 5 requests with a live sd equal to the training sd: the sd of 5 requests
    # could be 3.7× larger (its upper bound at 1 %), so neither side is shown yet; on 40 the
    # bound is 1.35× and the Fail is shown.
    g = gate("upliftSanity")
    few = evaluate_gate(g, UpliftSanityMeasurement(4.0, 5, 0.0, 1.0, live_std=1.0), None, NOW)
    assert few.verdict is INC and "upper bound 3.67" in few.message
    more = evaluate_gate(g, UpliftSanityMeasurement(4.0, 40, 0.0, 1.0, live_std=1.0), None, NOW)
    assert more.verdict is GateVerdict.FAIL


def test_uplift_sanity_passes_a_canary_at_the_training_mean_at_min_samples() -> None:
    # The bound's factor is 1.2 at 100 requests: a canary at the training mean with the
    # training spread (or 1.3× it) still passes at minSamples.
    g = gate("upliftSanity")
    for live in (1.0, 1.3):
        out = evaluate_gate(g, UpliftSanityMeasurement(0.0, 100, 0.0, 1.0, live_std=live), None,
                            NOW)
        assert out.verdict is P, out.message


# -- qini ------------------------------------------------------------------------------------------

def test_qini_as_good_as_stable_but_not_above_the_floor_does_not_pass() -> None:
    base = _replicates(0.0)
    shifted = tuple(x + 0.001 * math.sin(i) for i, x in enumerate(base))
    m = QiniMeasurement({"w": _qini(0.0, shifted)}, {"w": _qini(0.0, base)})
    out = evaluate_gate(gate("qini", marginType="absolute", margin=0.01), m, None, NOW)
    assert out.verdict is INC and "above 0" in out.message


def test_qini_fails_a_treatment_at_alpha_split_over_the_treatments() -> None:
    m = QiniMeasurement({"w": _qini(0.15, _replicates(0.15)),
                         "m": _qini(-0.034, _replicates(-0.034))})
    assert evaluate_gate(gate("qini", treatments=["m"]), m, None, NOW).verdict is F
    assert evaluate_gate(gate("qini"), m, None, NOW).verdict is INC


def test_qini_leakage_needs_the_lower_bound_above_max() -> None:
    m = QiniMeasurement({"w": _qini(0.49, _replicates(0.49))})
    out = evaluate_gate(gate("qini", max=0.5), m, None, NOW)
    assert out.verdict is P and "leakage" not in out.message

