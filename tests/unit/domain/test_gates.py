"""Gate judgement, table-driven in the style of Argo Rollouts' TestAssessMetricStatus*.

Each gate type is checked for Pass, Fail, Inconclusive and Error; then minSamples, the verdict
order, the counters against failureLimit / inconclusiveLimit / consecutiveErrorLimit, and dry run.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from uplift_operator.api.v1alpha1.common import GateStatus, GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain.gates import (
    GateAction,
    GateOutcome,
    assess,
    evaluate_gate,
    sanity_design_samples,
    worst,
)
from uplift_operator.domain.measurements import (
    ArmCounts,
    CustomMeasurement,
    DriftMeasurement,
    ErrorRateMeasurement,
    FeatureHistogram,
    LatencyMeasurement,
    Measurement,
    MeasurementError,
    NotMeasured,
    OnlineEffectMeasurement,
    QiniEstimate,
    QiniMeasurement,
    SplitCounts,
    UpliftSanityMeasurement,
    VersionArms,
)
from uplift_operator.stats.drift import psi_bounds
from uplift_operator.stats.results import SequentialState

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
P, INC, E, F = (GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.ERROR, GateVerdict.FAIL)


def gate(type_: str, **fields: Any) -> ModelGate:
    """A gate as the handler parses it from the wire (so unset fields stay unset)."""
    return ModelGate.model_validate({"name": "g", "type": type_, **fields})


def arms(holdout: int, holdout_conv: int, treated: int, treated_conv: int) -> VersionArms:
    return VersionArms(ArmCounts(holdout, holdout_conv), ArmCounts(treated, treated_conv))


def effect(n: int, treated_rate: float, *, holdout_share: float = 0.1,
           holdout_rate: float = 0.1) -> VersionArms:
    h = int(n * holdout_share)
    return arms(h, int(h * holdout_rate), n - h, int((n - h) * treated_rate))


REF = (1000, 2000, 4000, 2000, 1000)
SHIFTED = (100, 400, 2000, 4000, 3500)
BOUNDS = (0.05, 0.1, 0.2, 0.5, math.inf)


def histogram(n: int, shares: tuple[float, ...]) -> tuple[int, ...]:
    """Cumulative bucket counts of ``n`` requests with ``shares`` per bucket of ``BOUNDS``."""
    counts, total = [], 0.0
    for share in shares:
        total += share
        counts.append(round(n * total))
    counts[-1] = n
    return tuple(counts)


FAST = (0.5, 0.45, 0.04, 0.01, 0.0)  # p95 in (0.05, 0.1]: 5 % slower than 0.1 s
SLOW = (0.3, 0.55, 0.1, 0.05, 0.0)  # 15 % slower than 0.1 s


def lat(canary: tuple[float, ...], n_canary: int, stable: tuple[float, ...] | None = FAST,
        n_stable: int = 0) -> LatencyMeasurement:
    return LatencyMeasurement(
        0.1, n_canary, 0.1 if stable is not None and n_stable else None, n_stable,
        bucket_bounds=BOUNDS, canary_buckets=histogram(n_canary, canary),
        stable_buckets=histogram(n_stable, stable) if stable is not None and n_stable else ())


def replicates(mean: float, seed: int = 1, sd: float = 0.02) -> tuple[float, ...]:
    rng = np.random.default_rng(seed)
    return tuple(float(x) for x in rng.normal(mean, sd, 400))


def qini(mean: float, reps: tuple[float, ...] | None, evaluation_set: str = "e1") -> QiniEstimate:
    return QiniEstimate(mean, None, None, 12808, replicates=reps, evaluation_set=evaluation_set)


_BASE = replicates(0.15)
_SHIFT = tuple(x + 0.003 * math.sin(i) for i, x in enumerate(_BASE))  # paired: tiny differences


CASES: list[tuple[str, ModelGate, Measurement, GateVerdict, str]] = [
    # latency: the share of slow requests, against the stable's and against max
    ("latency equal to stable", gate("latency"), lat(FAST, 50_000, FAST, 100_000), P,
     "ratio < 1.2 shown"),
    ("latency slower than stable", gate("latency"), lat(SLOW, 5_000, FAST, 50_000), F,
     "harm shown"),
    ("latency within max, weight 100", gate("latency", max=0.2),
     replace(lat(FAST, 5_000, None), split=SplitCounts(0, 5_000, 1.0)), P,
     "canary p95 ≤ 0.2 shown"),
    # max alone passes a step of weight 100 only: while the stable serves, a canary far slower
    # than it but under max passed on it alone.
    ("latency within max, no stable while it serves", gate("latency", max=0.2),
     replace(lat(FAST, 5_000, None), split=SplitCounts(45_000, 5_000, 0.1)), INC,
     "max alone passes only a step of weight 100"),
    ("latency within max, stable below minSamples", gate("latency", max=0.2),
     lat(FAST, 5_000, FAST, 99), INC,
     "no stable p95 from ≥ 100 requests (only 99) to compare with, and max alone passes"),
    ("latency above max", gate("latency", max=0.1), lat(SLOW, 5_000, None), F, "harm shown"),
    ("latency from few requests", gate("latency"), lat(FAST, 20, FAST, 5000), INC,
     "only 20 requests"),
    ("latency no histogram yet", gate("latency"),
     LatencyMeasurement(math.nan, 500, 0.10, 5000), INC, "no canary latency histogram"),
    ("latency no stable, no max", gate("latency"), lat(FAST, 500, None), INC, "no stable p95"),
    ("latency at the margin, little data", gate("latency"),
     lat((0.45, 0.49, 0.05, 0.01, 0.0), 300, FAST, 3000), INC,
     "not shown yet"),
    # errorRate: pass shows ratio < 1 + margin (or < max), fail shows ratio > 1 (or > max)
    ("errors: equal rates, much data", gate("errorRate"),
     ErrorRateMeasurement(1000, 100_000, 9000, 900_000), P, "ratio < 1.2 shown"),
    ("errors: at the margin is not a pass", gate("errorRate"),
     ErrorRateMeasurement(120, 10_000, 900, 90_000), INC, "not shown yet"),
    ("errors: ratio 2.7, harm shown", gate("errorRate"),
     ErrorRateMeasurement(60, 1000, 200, 9000), F, "harm shown"),
    ("errors: none anywhere, no max", gate("errorRate"),
     ErrorRateMeasurement(0, 5000, 0, 45_000), INC, "set max"),
    ("errors: none anywhere, within max", gate("errorRate", max=0.01),
     ErrorRateMeasurement(0, 5000, 0, 45_000), P, "≤ 0.01 shown"),
    ("errors: above the max ceiling", gate("errorRate", max=0.01),
     ErrorRateMeasurement(40, 1000, 180, 9000), F, "harm shown"),
    ("errors: too few canary requests", gate("errorRate", max=0.01, minSamples=10_000),
     ErrorRateMeasurement(0, 5000, 0, 45_000), INC, "5000 of 10000"),
    ("errors: no canary requests", gate("errorRate"),
     ErrorRateMeasurement(0, 0, 0, 900), INC, "no canary requests"),
    ("errors: impossible counts", gate("errorRate"),
     ErrorRateMeasurement(5, 4, 0, 900), E, "invalid measurement"),
    ("effect: traffic split off the weight", gate("onlineEffect"),
     OnlineEffectMeasurement(effect(10000, 0.15), effect(10000, 0.15), 0.1,
                             split=SplitCounts(10000, 10000, 0.2)),
     E, "sample ratio mismatch in the traffic split"),
    ("effect: traffic split as weighted", gate("onlineEffect", margin=0.02),
     OnlineEffectMeasurement(effect(50000, 0.15), effect(50000, 0.15), 0.1,
                             split=SplitCounts(25000, 25000, 0.5)),
     P, "no worse than the margin"),
    ("errors: traffic split 52/48 on 50/50", gate("errorRate"),
     ErrorRateMeasurement(10, 20_000, 10, 20_000, split=SplitCounts(52_000, 48_000, 0.5)), E,
     "sample ratio mismatch in the traffic split"),
    ("latency: traffic split off the weight", gate("latency"),
     LatencyMeasurement(0.1, 5000, 0.1, 5000, bucket_bounds=BOUNDS,
                        canary_buckets=histogram(5000, FAST), stable_buckets=histogram(5000, FAST),
                        split=SplitCounts(5000, 5000, 0.1)), E, "sample ratio mismatch"),
    # drift: anytime-valid PSI bounds per feature, α split over features
    ("drift: same distribution", gate("drift"),
     DriftMeasurement({"x": FeatureHistogram(REF, REF), "y": FeatureHistogram(REF, REF)}), P,
     "no drift in 2 features"),
    ("drift: one feature shifted", gate("drift"),
     DriftMeasurement({"x": FeatureHistogram(REF, REF), "y": FeatureHistogram(REF, SHIFTED)}), F,
     "y: PSI"),
    ("drift: only listed features count", gate("drift", features=["x"]),
     DriftMeasurement({"x": FeatureHistogram(REF, REF), "y": FeatureHistogram(REF, SHIFTED)}), P,
     "no drift in 1 features"),
    ("drift: few live samples", gate("drift"),
     DriftMeasurement({"x": FeatureHistogram(REF, (10, 20, 40, 20, 10))}), INC, "not shown yet"),
    ("drift: listed feature not measured", gate("drift", features=["z"]),
     DriftMeasurement({"x": FeatureHistogram(REF, REF)}), INC, "no histograms for z"),
    ("drift: mismatched bins", gate("drift"),
     DriftMeasurement({"x": FeatureHistogram(REF, (1, 2))}), E, "invalid measurement"),
    # qini: offline, a paired bootstrap of canary − stable on one evaluation set
    ("qini: as good as stable", gate("qini"),
     QiniMeasurement({"w": qini(0.15, _SHIFT)}, {"w": qini(0.15, _BASE)}), P,
     "no worse than stable"),
    ("qini: worse than stable", gate("qini"),
     QiniMeasurement({"w": qini(0.12, tuple(x - 0.03 for x in _SHIFT))},
                     {"w": qini(0.15, _BASE)}), F, "worse than stable"),
    ("qini: worse than a random ranking", gate("qini"),
     QiniMeasurement({"m": qini(-0.01, replicates(-0.01, sd=0.002))}), F, "random ranking"),
    ("qini: too good to be true", gate("qini", max=0.5),
     QiniMeasurement({"w": qini(0.9, replicates(0.9))}), F, "leakage"),
    ("qini: small evaluation set", gate("qini"),
     QiniMeasurement({"w": QiniEstimate(0.2, 0.1, 0.3, 50, replicates=_BASE)}), INC,
     "only 50 rows"),
    ("qini: no replicates logged", gate("qini"),
     QiniMeasurement({"w": QiniEstimate(0.2, 0.1, 0.3, 5000)}), INC, "no bootstrap"),
    ("qini: different evaluation sets", gate("qini"),
     QiniMeasurement({"w": qini(0.15, _SHIFT, "e2")}, {"w": qini(0.15, _BASE)}), INC,
     "different sets"),
    ("qini: treatment not logged", gate("qini", treatments=["w", "m"]),
     QiniMeasurement({"w": qini(0.15, _BASE)}), INC, "m: no Qini"),
    # onlineEffect: SRM first, then treated conversion under canary vs under stable
    ("effect: non-inferior", gate("onlineEffect", margin=0.02),
     OnlineEffectMeasurement(effect(50000, 0.15), effect(50000, 0.15), 0.1), P,
     "no worse than the margin"),
    ("effect: canary converts worse", gate("onlineEffect"),
     OnlineEffectMeasurement(effect(10000, 0.10), effect(10000, 0.15), 0.1), F, "worse than 0"),
    ("effect: too early to tell", gate("onlineEffect"),
     OnlineEffectMeasurement(effect(2000, 0.15), effect(2000, 0.15), 0.1), INC, "no conclusion"),
    ("effect: sample ratio mismatch", gate("onlineEffect"),
     OnlineEffectMeasurement(effect(10000, 0.15, holdout_share=0.25), effect(10000, 0.15), 0.1),
     E, "sample ratio mismatch in the canary"),
    ("effect: arm below minSamples", gate("onlineEffect", minSamples=20000),
     OnlineEffectMeasurement(effect(10000, 0.15), effect(10000, 0.15), 0.1), INC,
     "smallest treated arm has 9000 units whose attribution window closed"),
    ("effect: the step's cohorts not closed yet", gate("onlineEffect"),
     OnlineEffectMeasurement(effect(0, 0.15), effect(0, 0.15), 0.1,
                             pending="compared once their attribution window (1h) closes"),
     INC, "(1h) closes"),
    # upliftSanity: the mean predicted uplift's confidence sequence within the band
    ("sanity: near training mean", gate("upliftSanity"),
     UpliftSanityMeasurement(0.05, 1000, 0.04, 0.03), P, "within [-1, 1]"),
    ("sanity: far above", gate("upliftSanity"),
     UpliftSanityMeasurement(0.5, 1000, 0.04, 0.03), F, "above 1"),
    ("sanity: below a custom min", gate("upliftSanity", min=-0.5),
     UpliftSanityMeasurement(0.01, 1000, 0.04, 0.03), F, "below -0.5"),
    ("sanity: few requests", gate("upliftSanity"),
     UpliftSanityMeasurement(0.05, 10, 0.04, 0.03), INC, "not shown"),
    ("sanity: inside a narrow band, past its design size", gate("upliftSanity", min=-0.1, max=0.1),
     UpliftSanityMeasurement(0.04, 2000, 0.04, 0.03), P, "within [-0.1, 0.1]"),
    ("sanity: exactly at the band's edge never passes", gate("upliftSanity", min=-0.1, max=0.1),
     UpliftSanityMeasurement(0.043, 1_000_000, 0.04, 0.03), INC, "not shown"),
    ("sanity: zero training std", gate("upliftSanity"),
     UpliftSanityMeasurement(0.05, 1000, 0.04, 0.0), E, "training std"),
    # custom: min/max on one scalar
    ("custom: within bounds", gate("custom", query="x", min=1, max=2),
     CustomMeasurement(1.5), P, "within [1, 2]"),
    ("custom: below min", gate("custom", query="x", min=1), CustomMeasurement(0.5), F, "< min"),
    ("custom: above max", gate("custom", query="x", max=2), CustomMeasurement(3.0), F, "> max"),
    ("custom: NaN", gate("custom", query="x", max=2), CustomMeasurement(math.nan), INC, "no finite"),
    ("custom: few samples reported", gate("custom", query="x", max=2),
     CustomMeasurement(1.0, samples=5), INC, "only 5 samples"),
]


@pytest.mark.parametrize(("gate_", "measurement", "verdict", "says"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluate_gate(gate_: ModelGate, measurement: Measurement, verdict: GateVerdict,
                       says: str) -> None:
    out = evaluate_gate(gate_, measurement, None, NOW)
    assert out.verdict is verdict, out.message
    assert says in out.message
    assert out.name == "g" and out.time == NOW
    if verdict in (P, F):
        # A decided gate says on what: value and threshold, for kubectl describe.
        assert out.value is not None and out.threshold is not None


def test_upliftsanity_designs_for_the_nearer_edge_of_its_band() -> None:
    # Both edges at once (TOST): (z₀.₉₅ + z₀.₉)² / d² for a symmetric band, 8.57 at d = 1
    # (the default) and 856.5 at 0.1; → (z₀.₉₅ + z₀.₈)² / d² = 618.3 as the far edge recedes.
    at_mean = UpliftSanityMeasurement(0.04, 50, 0.04, 0.03)
    assert evaluate_gate(gate("upliftSanity"), at_mean, None, NOW).design_samples == 9
    assert sanity_design_samples(-0.1, 0.1, 0.05) == 857
    narrow = gate("upliftSanity", min=-0.5, max=0.1)
    assert evaluate_gate(narrow, at_mean, None, NOW).design_samples == 619
    assert sanity_design_samples(0.5, 1.5, 0.05) == 25  # off the mean: its half-width, 0.5
    with pytest.raises(ValueError, match="min < max"):
        sanity_design_samples(0.2, 0.1, 0.05)
    inverted = evaluate_gate(gate("upliftSanity", min=2.0), at_mean, None, NOW)
    assert inverted.verdict is E and "min < max" in inverted.message


@pytest.mark.parametrize("type_", ["latency", "errorRate", "drift", "qini", "onlineEffect",
                                   "upliftSanity", "custom"])
def test_no_data_is_inconclusive_and_fetch_errors_are_errors(type_: str) -> None:
    g = gate(type_, query="x", max=1) if type_ == "custom" else gate(type_)
    missing = evaluate_gate(g, None, None, NOW)
    assert missing.verdict is INC and "no data" in missing.message
    failed = evaluate_gate(g, MeasurementError("prometheus: connection refused"), None, NOW)
    assert failed.verdict is E and "connection refused" in failed.message


def test_a_measurement_of_the_wrong_kind_is_an_error() -> None:
    out = evaluate_gate(gate("latency"), CustomMeasurement(1.0), None, NOW)
    assert out.verdict is E and "CustomMeasurement" in out.message


# Every type's passing measurement, with too few samples for the gate's minSamples.
MIN_SAMPLES_CASES: list[tuple[ModelGate, Measurement]] = [
    (gate("latency", minSamples=100_000), lat(FAST, 50_000, FAST, 100_000)),
    (gate("errorRate", max=0.01, minSamples=10_000), ErrorRateMeasurement(0, 5000, 0, 45_000)),
    (gate("drift", minSamples=20000), DriftMeasurement({"x": FeatureHistogram(REF, REF)})),
    (gate("qini", minSamples=20000),
     QiniMeasurement({"w": qini(0.15, _SHIFT)}, {"w": qini(0.15, _BASE)})),
    (gate("onlineEffect", margin=0.02, minSamples=50000),
     OnlineEffectMeasurement(effect(50000, 0.15), effect(50000, 0.15), 0.1)),
    (gate("upliftSanity", minSamples=2000), UpliftSanityMeasurement(0.05, 1000, 0.04, 0.03)),
    (gate("custom", query="x", max=2, minSamples=200), CustomMeasurement(1.0, samples=100)),
]


@pytest.mark.parametrize(("gate_", "measurement"), MIN_SAMPLES_CASES,
                         ids=[g.type for g, _ in MIN_SAMPLES_CASES])
def test_min_samples_before_any_pass(gate_: ModelGate, measurement: Measurement) -> None:
    assert evaluate_gate(gate_, measurement, None, NOW).verdict is INC
    relaxed = gate_.model_copy(update={"min_samples": 2})
    assert evaluate_gate(relaxed, measurement, None, NOW).verdict is P


def test_custom_gate_without_a_sample_count_skips_min_samples() -> None:
    out = evaluate_gate(gate("custom", query="x", max=2, minSamples=10_000),
                        CustomMeasurement(1.0), None, NOW)
    assert out.verdict is P


def test_sequential_memory_is_carried_between_looks() -> None:
    g = gate("errorRate")
    first = evaluate_gate(g, ErrorRateMeasurement(5, 1000, 40, 9000), None, NOW)
    assert set(first.memory) == {"rateRatio"}
    assert first.memory["rateRatio"].looks == 1
    second = evaluate_gate(g, ErrorRateMeasurement(10, 2000, 80, 18000), first.memory, NOW)
    assert second.memory["rateRatio"].looks == 2
    # The confidence sequence is a running intersection: never wider than the last look's.
    assert second.memory["rateRatio"].upper <= first.memory["rateRatio"].upper


def test_effect_memory_holds_srm_and_effect_states() -> None:
    m = OnlineEffectMeasurement(effect(10000, 0.15), effect(10000, 0.15), 0.1)
    out = evaluate_gate(gate("onlineEffect"), m, None, NOW)
    assert set(out.memory) == {"srmCanary", "srmStable", "effect", "effectFail", "effectEstimate"}
    shared = OnlineEffectMeasurement(effect(10000, 0.15), effect(10000, 0.15), 0.1,
                                     split=SplitCounts(10000, 10000, 0.5))
    both = evaluate_gate(gate("onlineEffect"), shared, None, NOW)
    assert set(both.memory) == {"srmCanary", "srmStable", "srmTraffic", "splitWithin",
                                "holdoutWithin", "effect", "effectFail", "effectEstimate"}


def test_online_effect_judges_harm_with_the_variances_at_no_effect() -> None:
    # A canary that converted little (32 of 2,000, 1.6 %) against a stable at 3 %: with the
    # plug-in variances p̂(1 − p̂) its small variance would add to its low Δ̂ and show harm;
    # at Δ = 0 both arms have the pooled rate's variance, and harm is not shown yet.
    from uplift_operator.stats.results import ArmStats
    from uplift_operator.stats.sequential import guarded_non_inferiority_test, mixing_variance

    stable, canary = arms(5_556, 167, 50_000, 1_500), arms(222, 7, 2_000, 32)
    g = gate("onlineEffect", margin=0.001, marginType="absolute")
    out = evaluate_gate(g, OnlineEffectMeasurement(canary, stable, 0.1), None, NOW)
    tau2 = out.memory["effect"].reference * mixing_variance(1.0, 0.05)
    plug_in, _ = guarded_non_inferiority_test(ArmStats.proportion(1_500, 50_000),
                                              ArmStats.proportion(32, 2_000), margin=0.001,
                                              tau2=tau2, min_samples=2)
    assert plug_in.decision.value == "fail"  # what the plug-in variances would have done
    assert out.verdict is GateVerdict.INCONCLUSIVE
    assert out.memory["effectFail"].p_fail > 0.05
    # The estimate shown is the plug-in one, Δ where it is; its bounds, on variances floored
    # at the pooled rate's, do not show the harm the verdict does not (plug-in: upper < 0).
    assert out.value == pytest.approx(32 / 2_000 - 0.03)
    assert out.lower is not None and out.upper is not None and out.value is not None
    assert out.lower <= out.value <= 0 <= out.upper


def test_missing_data_keeps_the_memory() -> None:
    memory = {"effect": SequentialState(looks=3, lower=-0.1, upper=0.1)}
    out = evaluate_gate(gate("onlineEffect"), None, memory, NOW)
    assert out.memory == memory


def test_memory_wire_round_trip() -> None:
    state = SequentialState(looks=2, lower=-0.01, upper=math.inf, p_pass=0.2,
                            carried_info=3.0, log_fail=-1.5, reference=0.25)
    wire = state.to_dict()
    assert wire["upper"] is None  # JSON has no infinity
    assert SequentialState.from_dict(wire) == state


@pytest.mark.parametrize(("fields", "expected"), [
    ({"type": "errorRate"}, (0.2, "relative")),
    ({"type": "latency"}, (0.2, "relative")),
    ({"type": "qini"}, (0.2, "relative")),
    ({"type": "onlineEffect"}, (0.005, "absolute")),
    ({"type": "onlineEffect", "marginType": "relative"}, (0.2, "relative")),
    ({"type": "errorRate", "marginType": "absolute"}, (0.005, "absolute")),
    ({"type": "latency", "margin": 0.5}, (0.5, "relative")),
])
def test_margin_defaults_match_the_api(fields: dict[str, Any],
                                       expected: tuple[float, str]) -> None:
    assert gates.margin_of(ModelGate.model_validate({"name": "g", **fields})) == expected


def test_non_finite_evidence_is_reported_as_none() -> None:
    # canary errors but none in stable: the rate ratio is infinite
    out = evaluate_gate(gate("errorRate"), ErrorRateMeasurement(19, 1000, 0, 1000), None, NOW)
    assert out.value is None and out.threshold == pytest.approx(1.2)


def test_dry_run_is_reported_as_such() -> None:
    out = evaluate_gate(gate("latency", dryRun=True), lat(SLOW, 5_000, FAST, 50_000), None, NOW)
    assert out.verdict is F and out.message.startswith("dry run:")


def test_latency_slow_threshold_is_frozen_for_the_version() -> None:
    g = gate("latency")
    first = evaluate_gate(g, lat(FAST, 5_000, FAST, 50_000), None, NOW)
    assert first.memory["slowRatio"].reference == pytest.approx(0.1)
    # A later, slower stable does not move the threshold the canary is judged by.
    later = LatencyMeasurement(0.3, 6000, 0.3, 60_000, bucket_bounds=BOUNDS,
                               canary_buckets=histogram(6000, FAST),
                               stable_buckets=histogram(60_000, (0.0, 0.1, 0.85, 0.05, 0.0)))
    second = evaluate_gate(g, later, first.memory, NOW)
    assert second.memory["slowRatio"].reference == pytest.approx(0.1)


def test_a_sample_ratio_mismatch_holds_without_counting_towards_rollback() -> None:
    g = gate("onlineEffect", consecutiveErrorLimit=0)
    m = OnlineEffectMeasurement(effect(10000, 0.15, holdout_share=0.25), effect(10000, 0.15), 0.1)
    out = evaluate_gate(g, m, None, NOW)
    assert out.verdict is E and out.holds
    assert "the canary's holdout" in out.message and "next 40000 units" in out.message
    status = assess(g, None, out)
    assert status.consecutive_errors == 0
    assert gates.required_action(g, status) is GateAction.NONE


def _holdout_looks(sizes: list[int], shares: list[float]) -> list[GateOutcome]:
    """onlineEffect looks on cumulative counts of one step: the canary's holdout gets
    ``shares[i]`` of the units added since look i − 1 (designed: 0.1)."""
    g = gate("onlineEffect")
    memory, out = None, []
    holdout, treated = 0, 0
    for total, share in zip(sizes, shares, strict=True):
        added = total - holdout - treated
        holdout += round(added * share)
        treated = total - holdout
        canary = arms(holdout, holdout // 10, treated, treated // 10)
        outcome = evaluate_gate(g, OnlineEffectMeasurement(canary, effect(total, 0.1), 0.1),
                                memory, NOW)
        memory = outcome.memory
        out.append(outcome)
    return out


def test_one_skewed_look_at_a_holdout_holds_until_a_fresh_check_clears_it() -> None:
    # The first look read the arms from different scrapes: 2,000 units, a fifth of them in the
    # 10 % holdout; then the split as designed.
    looks = _holdout_looks([2000 * k for k in range(1, 12)], [0.2] + [0.1] * 10)
    assert looks[0].verdict is E and "next 8000 units" in looks[0].message
    assert all(o.verdict is E and o.holds for o in looks[1:4])
    assert "the canary's holdout checked again" in looks[3].message
    assert "none in 6000 of the 8000" in looks[3].message
    # 8,000 fresh units without a mismatch: judged again, the units before it left out.
    assert all(o.verdict is not E for o in looks[4:])


def test_a_lasting_holdout_mismatch_keeps_holding() -> None:
    sizes = list(range(2000, 200_000, 2000))
    looks = _holdout_looks(sizes, [0.12] * len(sizes))  # 12 % where 10 % is designed
    flagged = [o for o in looks if "sample ratio mismatch" in o.message]
    assert len(flagged) >= 2  # shown, checked again, shown again
    assert all(o.verdict is E for o in looks[looks.index(flagged[0]):])


def test_a_new_step_ends_a_holdout_re_check_but_not_a_split_re_application() -> None:
    g = gate("onlineEffect")
    m = OnlineEffectMeasurement(effect(10000, 0.15, holdout_share=0.25), effect(10000, 0.15), 0.1)
    status = assess(g, None, evaluate_gate(g, m, None, NOW))
    assert "srmCanaryRecheck" in status.sequential_state
    assert "srmCanaryRecheck" not in gates.next_step(status).sequential_state
    # Re-applying the split restarts the split's counts only: the holdout's go on.
    assert "srmCanaryRecheck" in gates.restart_split_check(status).sequential_state


def _looks(g: ModelGate, splits: list[tuple[int, int]], share: float = 0.5,
           memory: Any = None) -> list[GateOutcome]:
    """errorRate looks on cumulative (stable, canary) counts of one step, memory carried."""
    out = []
    for stable, canary in splits:
        m = ErrorRateMeasurement(0, canary, 0, stable, split=SplitCounts(stable, canary, share))
        outcome = evaluate_gate(g, m, memory, NOW)
        memory = outcome.memory
        out.append(outcome)
    return out


def test_a_transient_split_mismatch_holds_until_a_fresh_check_clears_it() -> None:
    # 2,000 requests at the old 30 % split counted in a 50 % step (a router late with the new
    # weights), then the split as weighted.
    g = gate("errorRate", max=0.01)
    looks = _looks(g, [(1400, 600), *((1400 + k * 1000, 600 + k * 1000) for k in range(1, 12))])
    first = looks[0]
    assert first.verdict is E and first.holds and "checked again on the next 8000" in first.message
    assert all(o.verdict is E and o.holds for o in looks[1:4])  # 2,000 … 6,000 fresh requests
    assert "none in 6000 of the 8000" in looks[3].message
    # 8,000 fresh requests without a mismatch: cleared, and the requests before the mismatch
    # stay left out of the step's check.
    assert all(o.verdict is P for o in looks[4:])


def test_a_lasting_split_mismatch_is_shown_again_and_keeps_holding() -> None:
    g = gate("errorRate", max=0.01)
    looks = _looks(g, [(n * 52 // 100, n * 48 // 100) for n in range(2000, 400_000, 2000)])
    flagged = [o for o in looks if "sample ratio mismatch" in o.message]
    assert len(flagged) >= 2  # shown, checked again, shown again
    assert all(o.verdict is E for o in looks[looks.index(flagged[0]):])


def test_a_new_step_or_the_split_applied_again_ends_a_re_check() -> None:
    g = gate("errorRate", max=0.01)
    [flagged] = _looks(g, [(1400, 600)])
    status = assess(g, None, flagged)
    assert "srmTrafficRecheck" in status.sequential_state
    assert "srmTrafficRecheck" not in gates.next_step(status).sequential_state
    assert "srmTrafficRecheck" not in gates.restart_split_check(status).sequential_state


def _late_looks(g: ModelGate, splits: list[tuple[int, int]], share: float,
                late: tuple[str, ...], promotes: bool = False) -> list[GateOutcome]:
    out, memory = [], None
    for stable, canary in splits:
        split = SplitCounts(stable, canary, share, promotes, scraped_late=late)
        outcome = evaluate_gate(g, ErrorRateMeasurement(0, canary, 0, stable, split=split),
                                memory, NOW)
        memory = outcome.memory
        out.append(outcome)
    return out


def test_a_version_scraped_late_is_judged_on_the_counts_since_it_was_seen() -> None:
    # The demo's harm step: 30 %, the canary's counters first scraped inside the settled
    # window, so its first look read 123 of 575 (21 %); then 30 % of every later request.
    g = gate("errorRate", max=0.01)
    splits = [(452, 123), *((452 + 700 * k, 123 + 300 * k) for k in range(1, 30))]
    as_counted = _late_looks(g, splits, 0.3, late=())
    assert as_counted[0].verdict is E and "sample ratio mismatch" in as_counted[0].message
    looks = _late_looks(g, splits, 0.3, late=("canary",))
    assert not any(o.verdict is E for o in looks), [o.message for o in looks]
    assert looks[-1].verdict is P
    assert looks[0].memory["splitBaseline"].info == 452
    assert looks[0].memory["splitBaseline"].score == 123
    # The counts since are judged: a real mismatch after the first look is still shown.
    skewed = [(452, 123), *((452 + 800 * k, 123 + 200 * k) for k in range(1, 30))]
    shown = _late_looks(g, skewed, 0.3, late=("canary",))
    assert any("sample ratio mismatch" in o.message for o in shown)
    # The promoting step's Pass waits for the split shown within tolerance on those counts.
    last = _late_looks(g, splits[:1], 0.3, late=("canary",), promotes=True)
    assert last[0].verdict is INC and "traffic split within" in last[0].message
    assert "(0/0)" in last[0].message


def test_the_late_scrape_baseline_belongs_to_the_step() -> None:
    g = gate("errorRate", max=0.01)
    [look] = _late_looks(g, [(452, 123)], 0.3, late=("canary",))
    status = assess(g, None, look)
    assert "splitBaseline" in status.sequential_state
    assert "splitBaseline" not in gates.next_step(status).sequential_state
    assert "splitBaseline" not in gates.restart_split_check(status).sequential_state
    # Counts below the baseline are a new window's: counted from there.
    [again] = _late_looks(g, [(45, 12)], 0.3, late=("canary",))
    assert again.memory["splitBaseline"].info == 45


def test_the_promoting_pass_waits_until_the_canary_holdout_is_shown_within_tolerance() -> None:
    # A canary three margins better, on 4,000 units a version at a 10 % holdout: its effect is
    # shown, but an 11.2 % holdout (52/48 on 50/50, standardised) could not be told from 10 %
    # on them yet.
    g = gate("onlineEffect", margin=0.01)

    def look(n: int, promotes: bool) -> OnlineEffectMeasurement:
        return OnlineEffectMeasurement(effect(n, 0.25), effect(n, 0.15), 0.1,
                                       split=SplitCounts(n, n, 0.5, promotes))

    assert evaluate_gate(g, look(4000, promotes=False), None, NOW).verdict is P
    waiting = evaluate_gate(g, look(4000, promotes=True), None, NOW)
    assert waiting.verdict is INC
    assert "the canary's holdout share within 0.088–0.112 (400/4000)" in waiting.message
    # Enough units for the share to be shown within 10 ± 1.2 %: promoted.
    assert evaluate_gate(g, look(400_000, promotes=True), None, NOW).verdict is P
    # Without the tolerance (splitTolerance 0), no wait.
    off = OnlineEffectMeasurement(effect(4000, 0.25), effect(4000, 0.15), 0.1,
                                  split=SplitCounts(4000, 4000, 0.5, True, tolerance=0.0))
    assert evaluate_gate(g, off, None, NOW).verdict is P


def test_the_promoting_pass_waits_until_the_split_is_shown_within_tolerance() -> None:
    g = gate("errorRate", max=0.01)
    early = ErrorRateMeasurement(0, 1000, 0, 1000, split=SplitCounts(1000, 1000, 0.5))
    # An earlier step's Pass only moves traffic on: it does not wait for the split.
    assert evaluate_gate(g, early, None, NOW).verdict is P
    # The last step's Pass promotes: 2,000 requests cannot show the split within ±4 % yet.
    last = ErrorRateMeasurement(0, 1000, 0, 1000, split=SplitCounts(1000, 1000, 0.5, True))
    waiting = evaluate_gate(g, last, None, NOW)
    assert waiting.verdict is INC and "traffic split within 0.48–0.52" in waiting.message
    enough = ErrorRateMeasurement(0, 25_000, 0, 25_000,
                                  split=SplitCounts(25_000, 25_000, 0.5, True))
    assert evaluate_gate(g, enough, waiting.memory, NOW).verdict is P


def test_the_split_applied_again_folds_both_split_tests_and_keeps_their_evidence() -> None:
    g = gate("errorRate", max=0.01)
    first = evaluate_gate(g, ErrorRateMeasurement(0, 1500, 0, 1500,
                                                  split=SplitCounts(1500, 1500, 0.5, True)),
                          None, NOW)
    restarted = gates.restart_split_check(assess(g, None, first))
    memory = gates.memory_of(restarted)
    for key in ("srmTraffic", "splitWithin"):
        assert memory[key].log_pass == 0.0 and memory[key].log_fail == 0.0  # a new stratum
    assert memory["splitWithin"].carried_log_pass == first.memory["splitWithin"].log_pass
    # The counts start again from the re-apply, and the split has to be shown within on them:
    # the earlier window's evidence that it was within says nothing of the split since.
    again = ErrorRateMeasurement(0, 1500, 0, 1500, split=SplitCounts(1500, 1500, 0.5, True))
    assert evaluate_gate(g, again, None, NOW).verdict is INC
    assert evaluate_gate(g, again, memory, NOW).verdict is INC
    enough = ErrorRateMeasurement(0, 25_000, 0, 25_000,
                                  split=SplitCounts(25_000, 25_000, 0.5, True))
    assert evaluate_gate(g, enough, memory, NOW).verdict is P


def test_a_split_tolerance_of_zero_does_not_wait_for_the_split() -> None:
    g = gate("errorRate", max=0.01)
    last = ErrorRateMeasurement(0, 1000, 0, 1000,
                                split=SplitCounts(1000, 1000, 0.5, promotes=True, tolerance=0.0))
    out = evaluate_gate(g, last, None, NOW)
    assert out.verdict is P and "splitWithin" not in out.memory
    # A wider tolerance is shown on fewer requests.
    wide = ErrorRateMeasurement(0, 1000, 0, 1000,
                                split=SplitCounts(1000, 1000, 0.5, promotes=True, tolerance=0.2))
    assert evaluate_gate(g, wide, None, NOW).verdict is P


def test_the_split_shown_within_at_an_earlier_step_does_not_show_the_last_steps() -> None:
    g = gate("errorRate", max=0.01)
    at_10 = evaluate_gate(g, ErrorRateMeasurement(0, 10_000, 0, 90_000,
                                                  split=SplitCounts(90_000, 10_000, 0.1)),
                          None, NOW)
    assert at_10.verdict is P and at_10.memory["splitWithin"].p_pass < 0.01
    carried = gates.memory_of(gates.next_step(assess(g, None, at_10)))
    # The last step's first analysis has no settled requests yet: nothing shown, no Pass ...
    for errors in ((0, 0, 0, 0), (0, 1500, 0, 1500)):
        first = ErrorRateMeasurement(*errors, split=SplitCounts(0, 0, 0.5, True))
        unsettled = evaluate_gate(g, first, carried, NOW)
        assert unsettled.verdict is INC and "(0/0) shown" not in unsettled.message
    # The last step's split is the one a promotion needs shown: too few requests ...
    last = ErrorRateMeasurement(0, 1500, 0, 1500, split=SplitCounts(1500, 1500, 0.5, True))
    assert evaluate_gate(g, last, carried, NOW).verdict is INC
    # ... or a mismatch only at the promoting step (47.5 %, outside 48–52 %, too small for the
    # α = 0.001 SRM check on 4,000 requests) holds, however well the 10 % step was split.
    off = ErrorRateMeasurement(0, 1900, 0, 2100, split=SplitCounts(2100, 1900, 0.5, True))
    held = evaluate_gate(g, off, carried, NOW)
    assert held.verdict is INC and "not shown yet: traffic split within 0.48–0.52" in held.message
    enough = ErrorRateMeasurement(0, 25_000, 0, 25_000,
                                  split=SplitCounts(25_000, 25_000, 0.5, True))
    assert evaluate_gate(g, enough, carried, NOW).verdict is P


def test_online_effect_promotes_only_with_the_split_shown() -> None:
    g = gate("onlineEffect", margin=0.02)
    m = OnlineEffectMeasurement(effect(50000, 0.15), effect(50000, 0.15), 0.1,
                                split=SplitCounts(1000, 1000, 0.5, True))
    out = evaluate_gate(g, m, None, NOW)
    assert out.verdict is INC and "not shown yet: traffic split" in out.message


def test_online_effect_reports_its_design_size() -> None:
    m = OnlineEffectMeasurement(effect(5000, 0.15), effect(5000, 0.15), 0.1,
                                split=SplitCounts(5000, 5000, 0.5))
    out = evaluate_gate(gate("onlineEffect", margin=0.01), m, None, NOW)
    # (z.95 + z.8)² · p(1−p) · 2 / m² ≈ 6.18 · 0.1275 · 2 / 1e-4 ≈ 15,770 canary units at 50 %
    assert out.design_samples is not None and 14_000 < out.design_samples < 17_500
    explicit = evaluate_gate(gate("onlineEffect", margin=0.01, expectedSamples=1234), m, None,
                             NOW)
    assert explicit.design_samples == 1234


def test_error_rate_reports_the_fixed_horizon_size_of_its_margin() -> None:
    # 1 % errors on both sides, margin 0.2: z² · 2 · 0.99/0.01 / ln²(1.2) ≈ 36,815 canary
    # requests at 50 % (bench/gate_decisions.py's N for this design: 36,826 at z rounded).
    even = ErrorRateMeasurement(100, 10_000, 100, 10_000, split=SplitCounts(10_000, 10_000, 0.5))
    out = evaluate_gate(gate("errorRate"), even, None, NOW)
    assert out.design_samples is not None and 36_700 < out.design_samples < 36_900
    # At 10 % the stable's nine-fold share carries the comparison: (1 + 1/9)/2 of it.
    tenth = ErrorRateMeasurement(100, 10_000, 900, 90_000, split=SplitCounts(90_000, 10_000, 0.1))
    at_tenth = evaluate_gate(gate("errorRate"), tenth, None, NOW).design_samples
    assert at_tenth == pytest.approx(out.design_samples * (1 + 1 / 9) / 2, rel=1e-3)
    # A wider margin needs fewer; no stable errors, no base rate: nothing to show.
    wide = evaluate_gate(gate("errorRate", margin=0.5), even, None, NOW).design_samples
    assert wide is not None and wide < out.design_samples / 4
    clean = ErrorRateMeasurement(0, 10_000, 0, 10_000, split=SplitCounts(10_000, 10_000, 0.5))
    assert evaluate_gate(gate("errorRate", max=0.01), clean, None, NOW).design_samples is None


def test_latency_reports_the_fixed_horizon_size_of_a_relative_margin() -> None:
    # Slow = above the stable's p95 bucket (0.1 s): 5 % of the stable's requests.
    m = lat(FAST, 5_000, FAST, 5_000)
    out = evaluate_gate(gate("latency"), m, None, NOW)
    z2 = (1.6449 + 0.8416) ** 2
    assert out.design_samples == pytest.approx(z2 * 2 * 0.95 / 0.05 / math.log(1.2) ** 2,
                                               rel=1e-3)
    # An absolute margin moves the canary's threshold: no single base rate to size it by.
    absolute = evaluate_gate(gate("latency", margin=0.05, marginType="absolute"), m, None, NOW)
    assert absolute.design_samples is None


def test_online_effect_tunes_its_mixture_at_half_its_design_size() -> None:
    # Treated conversion 17 % against 15 %, margin 1 pp: three margins from the boundary, so
    # the canary should decide long before the design size (≈ 15,770 canary units). Tuned at
    # half of it, the mixture is narrower there than one tuned at the design size itself.
    m = OnlineEffectMeasurement(effect(3000, 0.17), effect(3000, 0.15), 0.1)
    tuned = evaluate_gate(gate("onlineEffect", margin=0.01), m, None, NOW)
    assert tuned.design_samples is not None and 14_000 < tuned.design_samples < 17_500
    at_design = evaluate_gate(
        gate("onlineEffect", margin=0.01, expectedSamples=tuned.design_samples), m, None, NOW)
    assert tuned.verdict is P and at_design.verdict is INC
    assert tuned.lower is not None and at_design.lower is not None
    assert tuned.lower > at_design.lower


def test_qini_says_how_many_evaluation_rows_its_margin_needs() -> None:
    noisy = tuple(x + d for x, d in zip(_BASE, replicates(0.0, seed=2, sd=0.02), strict=True))
    m = QiniMeasurement({"w": qini(0.15, noisy)}, {"w": qini(0.15, _BASE)})
    out = evaluate_gate(gate("qini"), m, None, NOW)
    # rows·((z.95 + z.8)·SE/margin)², SE ≈ 0.02, margin 0.2 × 0.15: ≈ 12,808 × 2.75 ≈ 35,000.
    assert out.verdict is INC and out.design_samples is not None
    assert 30_000 < out.design_samples < 40_000
    assert f"this margin needs ≈ {out.design_samples}" in out.message
    assert "larger set or widen the margin" in out.message
    # A set already large enough for its margin says nothing of the kind.
    wide = evaluate_gate(gate("qini", margin=0.5), m, None, NOW)
    assert wide.design_samples is not None and wide.design_samples < 12_808
    assert "larger set" not in wide.message


def test_drift_reports_its_design_size_and_passes_near_it() -> None:
    rng = np.random.default_rng(5)
    shares = np.full(10, 0.1)
    reference = tuple(int(x) for x in rng.multinomial(50_000, shares))

    def measured(rows: int) -> DriftMeasurement:
        return DriftMeasurement({f"f{i}": FeatureHistogram(
            reference, tuple(int(x) for x in rng.multinomial(rows, shares))) for i in range(7)})

    out = evaluate_gate(gate("drift"), measured(300), None, NOW)
    # (√q + √(n·R at n*))² / 0.1, n·R ≈ 24.7 at α (each feature's pass at α: all must hold),
    # q ≈ 14.9 the median of the largest of seven χ²₉: ≈ 760 live rows.
    design = gates.drift_design_samples(0.1, 10, 0.05, features=7)
    assert out.verdict is INC and out.design_samples == design
    assert 720 < design < 800 and gates.drift_design_samples(0.1, 10, 0.05) < design - 100
    # Without drift, a few times the design size passes all seven features.
    assert evaluate_gate(gate("drift"), measured(3 * design), None, NOW).verdict is P
    explicit = evaluate_gate(gate("drift", expectedSamples=4000), measured(300), None, NOW)
    assert explicit.design_samples == 4000


@pytest.mark.parametrize("dims", [3, 9, 19, 49])
def test_drift_design_uses_chi2_quantiles_of_the_largest_feature(dims: int) -> None:
    from scipy import stats

    for features in (1, 7, 30):
        p = 0.5 ** (1 / features)
        assert gates._chi2_quantile(p, dims) == pytest.approx(stats.chi2.ppf(p, dims), rel=0.01)


def test_drift_passes_on_each_feature_at_alpha_and_fails_on_alpha_split_over_features() -> None:
    rng = np.random.default_rng(11)
    shares = np.full(10, 0.1)
    reference = tuple(int(x) for x in rng.multinomial(50_000, shares))
    live = {f"f{i}": tuple(int(x) for x in rng.multinomial(700, shares)) for i in range(7)}
    out = evaluate_gate(gate("drift"), DriftMeasurement(
        {name: FeatureHistogram(reference, counts) for name, counts in live.items()}), None, NOW)
    pass_design = gates.drift_design_samples(0.1, 10, 0.05, features=7)
    fail_design = gates.drift_fail_samples(0.1, 10, 0.1 * 0.05 / 7)
    each = {name: psi_bounds(reference, counts, alpha=0.05, alpha_lower=0.1 * 0.05 / 7,
                             n_star=pass_design, n_star_lower=fail_design)
            for name, counts in live.items()}
    widest = max(each.values(), key=lambda b: b[2])
    # Intersection-union: a false pass needs the drifted feature's own upper bound wrong, so
    # each upper bound is at α; a false fail may come from any feature, so lower ones at α/7,
    # of which the confidence set has a tenth (the betting evidence the rest).
    assert out.upper == pytest.approx(widest[2])
    assert out.lower == pytest.approx(widest[1])
    at_alpha_over_7 = max(psi_bounds(reference, counts, alpha=0.05 / 7, n_star=pass_design)[2]
                          for counts in live.values())
    assert widest[2] < at_alpha_over_7
    assert (out.verdict is P) is (widest[2] <= 0.1)


def test_drift_lower_bounds_are_tuned_where_twice_the_bound_fails() -> None:
    level = 0.1 * 0.05 / 7  # the confidence set's share of one feature's Fail α
    fail_at = gates.drift_fail_samples(0.1, 10, level)
    # (√(2·0.1 + 9/n) − √0.1)² · n = n·R at n*: ≈ 1,940 rows, 2.5 × the pass design.
    assert 1850 < fail_at < 2050 and fail_at > 2 * gates.drift_design_samples(0.1, 10, level)
    shares = np.full(10, 0.1)
    lo, hi = 0.0, 3.0  # the tilt along the bins that makes PSI = 0.2
    for _ in range(60):
        beta = (lo + hi) / 2
        drifted = np.exp(beta * np.linspace(-1, 1, 10)) / np.exp(beta * np.linspace(-1, 1, 10)).sum()
        lo, hi = (beta, hi) if np.sum((drifted - shares) * np.log(drifted / shares)) < 0.2 else (lo, beta)
    reference = tuple(int(x) for x in np.round(shares * 50_000))

    def measured(rows: int) -> DriftMeasurement:
        live = tuple(int(x) for x in np.round(drifted * rows))
        return DriftMeasurement({"f0": FeatureHistogram(reference, live)} | {
            f"f{i}": FeatureHistogram(reference, tuple(int(x) for x in np.round(shares * rows)))
            for i in range(1, 7)})

    # At the fail design, drift of twice the bound is about to be shown (lower bound ≈ bound).
    at_design = evaluate_gate(gate("drift"), measured(fail_at), None, NOW)
    assert at_design.lower == pytest.approx(0.1, abs=0.01)
    # A little later it fails; with one mixture for both bounds (tuned at the pass design, as
    # an explicit expectedSamples of that size does) the same rows are not enough.
    later = evaluate_gate(gate("drift"), measured(int(1.22 * fail_at)), None, NOW)
    pass_tuned = gates.drift_design_samples(0.1, 10, 0.05, features=7)
    one_mixture = evaluate_gate(gate("drift", expectedSamples=pass_tuned),
                                measured(int(1.22 * fail_at)), None, NOW)
    assert later.verdict is F and "f0: PSI" in later.message
    assert one_mixture.verdict is INC and (one_mixture.lower or 0) < 0.1 < (later.lower or 0)


def test_drift_fails_on_betting_evidence_carried_through_status_before_the_set_shows_it() -> None:
    rng = np.random.default_rng(21)
    shares = np.full(10, 0.1)
    drifted = np.exp(0.9 * np.linspace(-1, 1, 10))
    drifted /= drifted.sum()  # PSI ≈ 0.28
    reference = tuple(int(x) for x in np.round(shares * 50_000))
    live = np.zeros((7, 10), dtype=np.int64)
    status: GateStatus | None = None
    outcome = None
    for look in range(1, 80):
        for f in range(7):
            live[f] += rng.multinomial(25, drifted if f == 0 else shares)
        measured = DriftMeasurement({f"f{f}": FeatureHistogram(
            reference, tuple(int(x) for x in live[f])) for f in range(7)})
        outcome = evaluate_gate(gate("drift"), measured, gates.memory_of(status), NOW)
        status = GateStatus(name="g", verdict=outcome.verdict, message=outcome.message, time=NOW,
                            sequential_state=gates._state_status(outcome.memory))
        assert status.sequential_state["drift:f0"].counts == list(live[0])
        assert status.sequential_state["drift:f3"].looks == look
        if outcome.verdict is not INC:
            break
    assert outcome is not None and outcome.verdict is F
    assert "f0: PSI" in outcome.message and "betting evidence" in outcome.message
    # Shown by the evidence while the confidence set's lower bound is still below the bound.
    assert (outcome.lower or 0) < 0.1 and (outcome.samples or 0) < 1500
    # The same rows at one look, with no evidence carried: not shown (156 = 1/(0.9 · α/7)).
    once = evaluate_gate(gate("drift"), measured, None, NOW)
    assert once.verdict is INC and "drift evidence 1 of 156 needed" in once.message


# -- order -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("verdicts", "expected"), [
    ([], P), ([P, P], P), ([P, INC], INC), ([INC, E], E), ([E, F, P], F), ([F, INC], F), ([E, INC, P], E),
])
def test_worst(verdicts: list[GateVerdict], expected: GateVerdict) -> None:
    assert worst(verdicts) is expected


def test_is_worse_is_a_strict_order() -> None:
    order = [P, INC, E, F]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert gates.is_worse(a, b) is (i > j)


# -- counters and limits -------------------------------------------------------------------------

def _run(g: ModelGate, verdicts: list[GateVerdict]) -> list[tuple[GateStatus, GateAction]]:
    status: GateStatus | None = None
    seen = []
    for k, verdict in enumerate(verdicts):
        outcome = GateOutcome(name=g.name, verdict=verdict, message=verdict.value,
                              time=NOW + dt.timedelta(minutes=k))
        status = assess(g, status, outcome)
        seen.append((status, gates.required_action(g, status)))
    return seen


N, PA, RB = GateAction.NONE, GateAction.PAUSE, GateAction.ROLLBACK

LIMIT_CASES: list[tuple[str, dict[str, Any], list[GateVerdict], list[GateAction]]] = [
    ("first Fail rolls back by default", {}, [P, F], [N, RB]),
    ("failureLimit tolerates that many Fails", {"failureLimit": 2}, [F, P, F, F], [N, N, N, RB]),
    ("Fails count at the step, not in a row", {"failureLimit": 1}, [F, P, P, F], [N, N, N, RB]),
    ("fifth Error in a row rolls back by default", {}, [E, E, E, E, E], [N, N, N, N, RB]),
    ("an Error streak resets on any other verdict", {"consecutiveErrorLimit": 1},
     [E, INC, E, P, E, E], [N, N, N, N, N, RB]),
    ("consecutiveErrorLimit 0: first Error acts", {"consecutiveErrorLimit": 0}, [E], [RB]),
    ("inconclusiveLimit 0 never pauses", {}, [INC] * 10, [N] * 10),
    ("beyond inconclusiveLimit pauses", {"inconclusiveLimit": 2}, [INC, P, INC, INC], [N, N, N, PA]),
    # As its description says: that many tolerated at one step, one more pauses.
    ("inconclusiveLimit 3 tolerates 3, the 4th pauses", {"inconclusiveLimit": 3}, [INC] * 4,
     [N, N, N, PA]),
    ("Fail outranks the pause", {"inconclusiveLimit": 1}, [INC, INC, F], [N, PA, RB]),
    ("dry run never acts", {"dryRun": True, "inconclusiveLimit": 1}, [F, E, INC, INC, F],
     [N, N, N, N, N]),
]


@pytest.mark.parametrize(("fields", "verdicts", "actions"), [c[1:] for c in LIMIT_CASES],
                         ids=[c[0] for c in LIMIT_CASES])
def test_limits(fields: dict[str, Any], verdicts: list[GateVerdict],
                actions: list[GateAction]) -> None:
    assert [a for _, a in _run(gate("latency", **fields), verdicts)] == actions


def test_counters_and_evidence_in_status() -> None:
    g = gate("errorRate")
    outcome = evaluate_gate(g, ErrorRateMeasurement(60, 1000, 200, 9000), None, NOW)
    status = assess(g, None, outcome)
    assert (status.verdict, status.failures, status.inconclusives, status.consecutive_errors) == (
        F, 1, 0, 0)
    # A Fail reports the boundary its test showed the ratio beyond (1), not the pass one.
    assert status.value == pytest.approx(2.7) and status.threshold == pytest.approx(1.0)
    assert status.samples == 1000 and status.time == NOW and "harm shown" in status.message
    again = assess(g, status, outcome)
    assert again.failures == 2
    assert gates.next_step(again).failures == 0
    assert gates.next_step(again).value == again.value


def test_previous_status_of_another_gate_is_not_counted() -> None:
    other = GateStatus(name="other", verdict=F, time=NOW, failures=7)
    out = GateOutcome(name="g", verdict=F, message="", time=NOW)
    assert assess(gate("latency"), other, out).failures == 1


def test_long_messages_fit_the_status_field() -> None:
    out = GateOutcome(name="g", verdict=F, message="x" * 5000, time=NOW)
    assert len(assess(gate("latency"), None, out).message) <= 1024


def test_sequential_memory_lives_in_the_gate_status() -> None:
    g = gate("errorRate")
    first = evaluate_gate(g, ErrorRateMeasurement(5, 1000, 40, 9000), None, NOW)
    status = assess(g, None, first)
    assert set(status.sequential_state) == {"rateRatio"}
    # Read back (e.g. after a restart, from JSON), it continues the same test.
    restored = GateStatus.model_validate(status.to_wire())
    assert gates.memory_of(restored) == first.memory
    second = evaluate_gate(g, ErrorRateMeasurement(10, 2000, 80, 18000),
                           gates.memory_of(restored), NOW)
    assert second.memory["rateRatio"].looks == 2
    # A new step keeps the evidence, moved to a new stratum (α is spent once per version).
    carried = gates.memory_of(gates.next_step(status))["rateRatio"]
    assert carried.looks == 1 and carried.log_pass == 0.0
    assert carried.carried_log_pass == pytest.approx(first.memory["rateRatio"].log_pass)
    assert gates.memory_of(None) == {}


def test_unbounded_state_is_stored_as_absent_bounds() -> None:
    out = GateOutcome(name="g", verdict=INC, message="", time=NOW,
                      memory={"effect": SequentialState(looks=1)})
    stored = assess(gate("onlineEffect"), None, out).sequential_state["effect"]
    assert (stored.lower, stored.upper) == (None, None)
    assert gates.memory_of(assess(gate("onlineEffect"), None, out)) == out.memory


@pytest.mark.parametrize("holds", [True, False])
def test_a_gate_held_by_an_unreachable_source_keeps_its_evidence_and_counts_no_inconclusive(
        holds: bool) -> None:
    """MLflow unreachable (``NotMeasured`` that holds) says nothing about the canary: the
    version's evidence is kept and no inconclusiveLimit moves nearer; a gate nothing measures
    (no collector) is counted, so a limit still shows it."""
    g = gate("drift", inconclusiveLimit=1)
    memory = {"drift": SequentialState(looks=4, log_pass=2.0)}
    outcome = evaluate_gate(g, NotMeasured("holding: MLflow unavailable", holds=holds), memory,
                            NOW)
    assert outcome.verdict is GateVerdict.INCONCLUSIVE and outcome.holds is holds
    assert outcome.memory == memory
    status = gates.assess(g, None, outcome)
    assert status.inconclusives == (0 if holds else 1)
    assert gates.memory_of(status) == memory


def test_a_gate_whose_settings_were_edited_starts_its_evidence_afresh() -> None:
    """Evidence against a loose margin is no evidence against a tight one: carried over, a
    canary 1.15 × the stable's error rate passed a 5 % margin on the p-value it earned
    against 100 %. The limits and dryRun test nothing: editing them keeps the evidence."""
    loose = gate("errorRate", margin=1.0, marginType="relative")
    tight = gate("errorRate", margin=0.05, marginType="relative")
    first = ErrorRateMeasurement(canary_errors=115, canary_requests=10_000, stable_errors=100,
                                 stable_requests=10_000)
    status = assess(loose, None, evaluate_gate(loose, first, {}, NOW))
    assert status.settings_digest == gates.settings_digest(loose)
    assert gates.memory_of(status, loose) and gates.memory_of(status, tight) == {}
    later = ErrorRateMeasurement(canary_errors=230, canary_requests=20_000, stable_errors=200,
                                 stable_requests=20_000)
    tightened = evaluate_gate(tight, later, gates.memory_of(status, tight),
                              NOW + dt.timedelta(minutes=1))
    assert tightened.verdict is not GateVerdict.PASS
    assert assess(tight, status.model_copy(update={"inconclusives": 3}),
                  tightened).inconclusives == (tightened.verdict is GateVerdict.INCONCLUSIVE)
    relimited = gate("errorRate", margin=1.0, marginType="relative", inconclusiveLimit=4,
                     dryRun=True)
    assert gates.settings_digest(relimited) == gates.settings_digest(loose)
    assert gates.memory_of(status, relimited) == gates.memory_of(status)
    legacy = status.model_copy(update={"settings_digest": None})  # written before the digest
    assert gates.memory_of(legacy, tight) == gates.memory_of(status)


def test_online_effect_waiting_for_its_first_cohort_holds_uncounted() -> None:
    """Before any cohort of the step has closed nothing is known about the canary: the wait
    holds the ramp without counting towards inconclusiveLimit (a 1h window with a 1m interval
    and inconclusiveLimit 3 would otherwise pause the canary for a human after four looks);
    a real Inconclusive (cohorts closed, too few units) still counts."""
    g = gate("onlineEffect").model_copy(update={"inconclusive_limit": 1})
    waiting = evaluate_gate(g, OnlineEffectMeasurement(
        effect(0, 0.15), effect(0, 0.15), 0.1,
        pending="compared once their attribution window (1h) closes"), None, NOW)
    held = assess(g, assess(g, None, waiting), waiting)
    assert waiting.verdict is INC and waiting.holds and held.inconclusives == 0
    assert gates.required_action(g, held) is GateAction.NONE
    gone = evaluate_gate(g, OnlineEffectMeasurement(
        effect(0, 0.15), effect(0, 0.15), 0.1, missing="no cohort counts yet (…)"), None, NOW)
    assert gone.verdict is INC and "no cohort counts yet" in gone.message and not gone.holds
    few = evaluate_gate(g.model_copy(update={"min_samples": 20000}), OnlineEffectMeasurement(
        effect(10000, 0.15), effect(10000, 0.15), 0.1), None, NOW)
    counted = assess(g, assess(g, None, few), few)
    assert few.verdict is INC and not few.holds and counted.inconclusives == 2
    assert gates.required_action(g, counted) is not GateAction.NONE
