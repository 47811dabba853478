"""Gate judgement as pure functions: one measurement in, one verdict with its evidence out.

Role: the shape of Argo Rollouts' ``analysis.assessMetricStatus``: the adapters only measure
(``domain.measurements``), this module judges, and ``domain.ramp`` acts. Three steps:

1. ``evaluate_gate(gate, measurement, memory, now)`` → ``GateOutcome``: verdict, value, bounds,
   threshold, samples, a human message, and the sequential-test memory to carry to the next look.
2. ``assess(gate, previous, outcome)`` → ``GateStatus``: the outcome plus the counters of the
   current step (Fail, Inconclusive, consecutive Error), as written to ``status.gates``.
3. ``required_action(gate, status)`` → ``GateAction``: whether the counters now demand a rollback
   or a pause. A dry-run gate is evaluated and reported but never acts.

Verdicts are ordered Pass < Inconclusive < Error < Fail (``worst``). Missing data is Inconclusive,
never Pass; a source that could not be asked is Error. Statistics come from ``stats``.
No I/O and no clock: ``now`` is an argument.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from uplift_operator.api.v1alpha1.common import GateStatus, GateVerdict, SequentialStateStatus
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.measurements import (
    CustomMeasurement,
    DriftMeasurement,
    ErrorRateMeasurement,
    LatencyMeasurement,
    Measurement,
    MeasurementError,
    OnlineEffectMeasurement,
    QiniMeasurement,
    UpliftSanityMeasurement,
    VersionArms,
)
from uplift_operator.stats.counts import rate_ratio_test
from uplift_operator.stats.drift import psi
from uplift_operator.stats.results import ArmStats, Decision, SequentialState
from uplift_operator.stats.sequential import non_inferiority_test
from uplift_operator.stats.srm import DEFAULT_SRM_ALPHA, srm_sequential

__all__ = [
    "DEFAULT_ABSOLUTE_MARGIN",
    "DEFAULT_EXPECTED_SAMPLES",
    "DEFAULT_PSI_FLOOR",
    "DEFAULT_QINI_FLOOR",
    "DEFAULT_RELATIVE_MARGIN",
    "DEFAULT_SANITY_BAND",
    "GateAction",
    "GateMemory",
    "GateOutcome",
    "assess",
    "evaluate_gate",
    "is_worse",
    "margin_of",
    "memory_from_wire",
    "memory_of",
    "memory_to_wire",
    "required_action",
    "reset_counters",
    "worst",
]

#: ``margin`` when unset and the margin is relative (API: "Default: 0.2 for relative margins").
DEFAULT_RELATIVE_MARGIN = 0.2
#: ``margin`` when unset and the margin is absolute (API: "0.005 for absolute ones").
DEFAULT_ABSOLUTE_MARGIN = 0.005
#: ``expectedSamples`` when unset (API: "Default: 5000"), per arm.
DEFAULT_EXPECTED_SAMPLES = 5000
#: PSI never counts as drift below this, whatever the sample size (the 0.1 rule of thumb).
DEFAULT_PSI_FLOOR = 0.1
#: ``qini`` gates' floor when ``min`` is unset: the lower bound must beat a random ranking.
DEFAULT_QINI_FLOOR = 0.0
#: ``upliftSanity`` band when ``min``/``max`` are unset, in training standard deviations.
DEFAULT_SANITY_BAND = 1.0

MarginType = Literal["absolute", "relative"]

#: Natural margin type per gate type, used when ``marginType`` was not written in the spec.
_NATURAL_MARGIN: Mapping[str, MarginType] = {
    "latency": "relative", "errorRate": "relative", "qini": "relative", "onlineEffect": "absolute",
}
_MESSAGE_MAX = 1024  # GateStatus.message max_length

_ORDER = {GateVerdict.PASS: 0, GateVerdict.INCONCLUSIVE: 1, GateVerdict.ERROR: 2,
          GateVerdict.FAIL: 3}

#: What the sequential tests of one gate remember between looks, by test name.
GateMemory = Mapping[str, SequentialState]


class GateAction(StrEnum):
    """What a gate's counters demand of the ramp."""

    NONE = "None"
    PAUSE = "Pause"  # Inconclusive beyond a non-zero inconclusiveLimit: wait for a human
    ROLLBACK = "Rollback"  # Fail beyond failureLimit, or Error beyond consecutiveErrorLimit


@dataclass(frozen=True)
class GateOutcome:
    """One gate's verdict at one analysis, with the evidence a human needs to read why.

    ``value``/``lower``/``upper``/``threshold`` are on the scale the message names (seconds, a
    rate ratio, a PSI, a difference in conversion rates…); non-finite numbers are None.
    ``memory`` is the sequential-test state to pass to the next ``evaluate_gate`` of this gate.
    """

    name: str
    verdict: GateVerdict
    message: str
    time: dt.datetime
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    threshold: float | None = None
    samples: int | None = None
    memory: GateMemory = field(default_factory=dict)


def is_worse(a: GateVerdict, b: GateVerdict) -> bool:
    """Whether verdict ``a`` is worse than ``b`` (Pass < Inconclusive < Error < Fail)."""
    return _ORDER[a] > _ORDER[b]


def worst(verdicts: Iterable[GateVerdict]) -> GateVerdict:
    """The worst verdict; Pass for none (nothing objected)."""
    return max(verdicts, key=_ORDER.__getitem__, default=GateVerdict.PASS)


def margin_of(gate: ModelGate) -> tuple[float, MarginType]:
    """The gate's margin and its type, defaults applied.

    ``marginType`` defaults to the gate type's natural scale when the spec does not set it
    (relative for latency, errorRate and qini; absolute for onlineEffect); ``margin`` defaults to
    0.2 when relative and 0.005 when absolute, as the API field describes.
    """
    explicit = "margin_type" in gate.model_fields_set
    kind: MarginType = gate.margin_type if explicit else _NATURAL_MARGIN.get(gate.type, "absolute")
    default = DEFAULT_RELATIVE_MARGIN if kind == "relative" else DEFAULT_ABSOLUTE_MARGIN
    return (gate.margin if gate.margin is not None else default), kind


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class _Judged:
    verdict: GateVerdict
    message: str
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    threshold: float | None = None
    samples: int | None = None
    memory: GateMemory | None = None  # None: unchanged


_Evaluator = Callable[[ModelGate, Any, GateMemory], _Judged]


def evaluate_gate(gate: ModelGate, measurement: Measurement | MeasurementError | None,
                  memory: GateMemory | None, now: dt.datetime) -> GateOutcome:
    """Judge one gate on one measurement. Defaults, per ``gate.type``:

    * ``latency``: Fail when the canary p95 exceeds ``max`` (if set) or the stable p95 plus the
      margin (relative by default: stable × 1.2; absolute margins are seconds); both apply when
      both are known. Below ``minSamples`` canary requests: Inconclusive (a p95 of few requests
      is noise); the stable comparison needs ``minSamples`` stable requests too.
    * ``errorRate``: a guardrail. Fail when the anytime-valid one-sided rate-ratio test shows the
      canary's error rate above (1 + margin) × stable's (relative margin, default 0.2), or above
      ``max`` (an absolute error-rate ceiling, if set). Pass after ``minSamples`` canary requests
      when the test shows it below, or without evidence of harm and an observed ratio within
      1 + margin; a ratio above it that is not yet significant holds the step (Inconclusive).
    * ``drift``: PSI of every feature (``features``, default all measured) against its training
      reference; Fail when one exceeds max(floor, (1/n + 1/m)·χ²₀.₉₉) with floor = ``max``
      (default 0.1); Inconclusive while a feature has fewer than ``minSamples`` live counts.
    * ``qini``: offline, so never Inconclusive for lack of evidence. Per treatment (``treatments``,
      default all): Pass when the canary's lower bound exceeds ``min`` (default 0: better than a
      random ranking) and its estimate is at least the stable's minus the margin (relative,
      default 20 %); a ``max`` catches leakage-grade scores.
    * ``onlineEffect``: first the sequential sample-ratio check of each version's holdout share
      (α = 0.001; mismatch → Error). Then the anytime-valid non-inferiority test of the canary's
      incremental effect (treated − holdout conversion rate) against the stable's, margin
      absolute by default (0.005), ``alpha``, ``expectedSamples`` (default 5000 per arm) tuning
      the mixture; every arm needs ``minSamples`` units. Pass / Fail / Inconclusive = the test's
      promote / roll back / continue.
    * ``upliftSanity``: (canary mean predicted uplift − training mean) / training std must lie
      in [``min``, ``max``], default [−1, 1]; Inconclusive below ``minSamples`` requests.
    * ``custom``: Fail outside [``min``, ``max``]; ``minSamples`` applies when the adapter
      reports a sample count.

    ``None`` (no data) is Inconclusive; a ``MeasurementError`` is Error; invalid data (negative
    counts, mismatched bins) is Error. ``memory`` is the previous outcome's ``memory`` for this
    gate at this step (None or {} to start afresh).
    """
    memory = dict(memory or {})
    judged: _Judged
    if isinstance(measurement, MeasurementError):
        judged = _Judged(GateVerdict.ERROR, f"measurement failed: {measurement.message}")
    elif measurement is None:
        judged = _Judged(GateVerdict.INCONCLUSIVE, "no data yet")
    else:
        expected, evaluator = _EVALUATORS[gate.type]
        if not isinstance(measurement, expected):
            judged = _Judged(GateVerdict.ERROR, f"a {gate.type} gate got a "
                                                f"{type(measurement).__name__}")
        else:
            try:
                judged = evaluator(gate, measurement, memory)
            except ValueError as error:  # the stats reject impossible data; say which
                judged = _Judged(GateVerdict.ERROR, f"invalid measurement: {error}")
    message = f"dry run: {judged.message}" if gate.dry_run else judged.message
    return GateOutcome(
        name=gate.name, verdict=judged.verdict, message=_clip(message), time=now,
        value=_finite(judged.value), lower=_finite(judged.lower), upper=_finite(judged.upper),
        threshold=_finite(judged.threshold), samples=judged.samples,
        memory=memory if judged.memory is None else dict(judged.memory))


def _latency(gate: ModelGate, m: LatencyMeasurement, _: GateMemory) -> _Judged:
    value, n = m.canary_p95_seconds, m.canary_requests
    if not math.isfinite(value):
        return _Judged(GateVerdict.INCONCLUSIVE, "no canary latency yet", samples=n)
    if n < gate.min_samples:
        return _Judged(GateVerdict.INCONCLUSIVE, f"canary p95 {value:.4g}s from only {n} requests "
                                                 f"(minSamples {gate.min_samples})",
                       value=value, samples=n)
    if gate.min is not None and value < gate.min:
        return _Judged(GateVerdict.FAIL, f"canary p95 {value:.4g}s < min {gate.min:.4g}s",
                       value=value, threshold=gate.min, samples=n)
    limits: list[tuple[float, str]] = []
    if gate.max is not None:
        limits.append((gate.max, f"max {gate.max:.4g}s"))
    stable = m.stable_p95_seconds
    if stable is not None and math.isfinite(stable) and m.stable_requests >= gate.min_samples:
        margin, kind = margin_of(gate)
        if kind == "relative":
            limits.append((stable * (1 + margin), f"stable p95 {stable:.4g}s × {1 + margin:.4g}"))
        else:
            limits.append((stable + margin, f"stable p95 {stable:.4g}s + {margin:.4g}s"))
    if not limits:
        return _Judged(GateVerdict.INCONCLUSIVE,
                       f"canary p95 {value:.4g}s, but no stable p95 from ≥ {gate.min_samples} "
                       "requests to compare with and no max", value=value, samples=n)
    threshold, what = min(limits)
    if value > threshold:
        return _Judged(GateVerdict.FAIL, f"canary p95 {value:.4g}s > {what} = {threshold:.4g}s",
                       value=value, threshold=threshold, samples=n)
    return _Judged(GateVerdict.PASS, f"canary p95 {value:.4g}s ≤ {what} = {threshold:.4g}s",
                   value=value, threshold=threshold, samples=n)


def _error_rate(gate: ModelGate, m: ErrorRateMeasurement, memory: GateMemory) -> _Judged:
    for who, errors, requests in (("canary", m.canary_errors, m.canary_requests),
                                  ("stable", m.stable_errors, m.stable_requests)):
        if not 0 <= errors <= requests:
            raise ValueError(f"{who}: need 0 ≤ errors ≤ requests, got {errors}/{requests}")
    n = m.canary_requests
    if n == 0:
        return _Judged(GateVerdict.INCONCLUSIVE, "no canary requests yet", samples=0)
    rate = m.canary_errors / n
    rates = f"canary {m.canary_errors}/{n} errors"
    if gate.max is not None and n >= gate.min_samples and rate > gate.max:
        return _Judged(GateVerdict.FAIL, f"{rates} = {rate:.4g} > max {gate.max:.4g}",
                       value=rate, threshold=gate.max, samples=n)
    if m.stable_requests == 0:
        if gate.max is not None and n >= gate.min_samples:
            return _Judged(GateVerdict.PASS, f"{rates} = {rate:.4g} ≤ max {gate.max:.4g} "
                                             "(no stable traffic to compare with)",
                           value=rate, threshold=gate.max, samples=n)
        return _Judged(GateVerdict.INCONCLUSIVE, f"{rates}; no stable traffic to compare with",
                       value=rate, samples=n)
    stable_rate = m.stable_errors / m.stable_requests
    rates += f" vs stable {m.stable_errors}/{m.stable_requests}"
    margin, kind = margin_of(gate)
    if kind == "absolute":
        # The rate-ratio test has a relative null; convert with the stable rate (plug-in).
        if stable_rate == 0:
            return _Judged(GateVerdict.INCONCLUSIVE, f"{rates}: an absolute margin needs stable "
                                                     "errors to convert; use a relative margin",
                           value=rate, samples=n)
        margin /= stable_rate
    result, state = rate_ratio_test(
        m.stable_errors, m.canary_errors, control_exposure=m.stable_requests,
        treatment_exposure=n, margin=margin, alpha=gate.alpha, min_events=1,
        state=memory.get("rateRatio"))
    r0 = 1 + margin
    common: dict[str, Any] = {"value": result.estimate, "lower": result.lower,
                              "upper": result.upper, "threshold": r0, "samples": n,
                              "memory": {"rateRatio": state}}
    ratio = f"rate ratio {result.estimate:.4g}"
    if result.decision is Decision.FAIL:
        return _Judged(GateVerdict.FAIL, f"{rates}: {ratio} > {r0:.4g} "
                                         f"(always-valid p = {result.p_value:.3g})", **common)
    if n < gate.min_samples:
        return _Judged(GateVerdict.INCONCLUSIVE,
                       f"{rates}: {n} of {gate.min_samples} canary requests needed", **common)
    if result.decision is Decision.PASS:
        return _Judged(GateVerdict.PASS, f"{rates}: {ratio}, shown below {r0:.4g}", **common)
    if m.canary_errors == 0 or result.estimate <= r0:
        return _Judged(GateVerdict.PASS, f"{rates}: {ratio} ≤ {r0:.4g}, no evidence of harm",
                       **common)
    return _Judged(GateVerdict.INCONCLUSIVE, f"{rates}: {ratio} > {r0:.4g}, not yet "
                                             "significant; holding the step", **common)


def _drift(gate: ModelGate, m: DriftMeasurement, _: GateMemory) -> _Judged:
    names = list(gate.features) if gate.features else sorted(m.features)
    if not names:
        return _Judged(GateVerdict.INCONCLUSIVE, "no feature histograms measured")
    unmeasured = [name for name in names if name not in m.features]
    if unmeasured:
        return _Judged(GateVerdict.INCONCLUSIVE, f"no histograms for {', '.join(unmeasured)}")
    floor = gate.max if gate.max is not None else DEFAULT_PSI_FLOOR
    results = {name: psi(m.features[name].reference, m.features[name].live, floor=floor,
                         min_samples=max(gate.min_samples, 1)) for name in names}
    samples = min(r.samples[1] for r in results.values())
    drifted = {k: r for k, r in results.items() if r.decision is Decision.FAIL}
    if drifted:
        name, r = max(drifted.items(), key=lambda kv: kv[1].estimate / kv[1].details["threshold"])
        others = f" (also {', '.join(sorted(set(drifted) - {name}))})" if len(drifted) > 1 else ""
        return _Judged(GateVerdict.FAIL, f"{name}: {r.reason}{others}", value=r.estimate,
                       threshold=r.details["threshold"], samples=r.samples[1])
    waiting = [k for k, r in results.items() if r.decision is Decision.CONTINUE]
    if waiting:
        return _Judged(GateVerdict.INCONCLUSIVE, f"fewer than {gate.min_samples} live samples "
                                                 f"for {', '.join(waiting)}", samples=samples)
    name, r = max(results.items(), key=lambda kv: kv[1].estimate)
    return _Judged(GateVerdict.PASS, f"no drift in {len(names)} features; largest {name}: "
                                     f"{r.reason}", value=r.estimate,
                   threshold=r.details["threshold"], samples=samples)


def _qini(gate: ModelGate, m: QiniMeasurement, _: GateMemory) -> _Judged:
    names = list(gate.treatments) if gate.treatments else sorted(m.canary)
    if not names:
        return _Judged(GateVerdict.INCONCLUSIVE, "the canary's run logged no Qini")
    return _worst_of([_qini_one(gate, name, m) for name in names])


def _qini_one(gate: ModelGate, name: str, m: QiniMeasurement) -> _Judged:
    c = m.canary.get(name)
    if c is None:
        return _Judged(GateVerdict.INCONCLUSIVE, f"{name}: no Qini logged")

    def judged(verdict: GateVerdict, message: str, threshold: float | None = None) -> _Judged:
        return _Judged(verdict, f"{name}: {message}", value=c.estimate, lower=c.lower,
                       upper=c.upper, threshold=threshold, samples=c.samples)

    if c.samples is not None and c.samples < gate.min_samples:
        return judged(GateVerdict.INCONCLUSIVE,
                      f"Qini from only {c.samples} rows (minSamples {gate.min_samples})")
    floor = gate.min if gate.min is not None else DEFAULT_QINI_FLOOR
    low = c.lower if c.lower is not None else c.estimate
    bound = "lower bound" if c.lower is not None else "estimate (no interval logged)"
    if low <= floor:
        return judged(GateVerdict.FAIL, f"Qini {bound} {low:.4g} ≤ {floor:.4g}", floor)
    if gate.max is not None and c.estimate > gate.max:
        return judged(GateVerdict.FAIL, f"Qini {c.estimate:.4g} > max {gate.max:.4g} (leakage?)",
                      gate.max)
    s = m.stable.get(name)
    if s is None:
        return judged(GateVerdict.PASS, f"Qini {bound} {low:.4g} > {floor:.4g}", floor)
    margin, kind = margin_of(gate)
    least = s.estimate - (margin * abs(s.estimate) if kind == "relative" else margin)
    if c.estimate < least:
        return judged(GateVerdict.FAIL, f"Qini {c.estimate:.4g} < stable {s.estimate:.4g} − "
                                        f"margin = {least:.4g}", least)
    return judged(GateVerdict.PASS, f"Qini {c.estimate:.4g} (lower {low:.4g} > {floor:.4g}) ≥ "
                                    f"stable {s.estimate:.4g} − margin = {least:.4g}", least)


def _online_effect(gate: ModelGate, m: OnlineEffectMeasurement, memory: GateMemory) -> _Judged:
    h = m.holdout_fraction
    if not 0 < h < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {h}")
    new_memory = dict(memory)
    for version, arms in (("canary", m.canary), ("stable", m.stable)):
        for arm in (arms.holdout, arms.treated):
            if not 0 <= arm.conversions <= arm.units:
                raise ValueError(f"{version}: need 0 ≤ conversions ≤ units, got "
                                 f"{arm.conversions}/{arm.units}")
        key = f"srm{version.capitalize()}"
        srm, new_memory[key] = srm_sequential(
            [arms.holdout.units, arms.treated.units], [h, 1 - h], alpha=DEFAULT_SRM_ALPHA,
            state=memory.get(key))
        if srm.decision is Decision.FAIL:
            # A broken split invalidates every comparison: not a verdict on the model.
            share = arms.holdout.units / max(arms.holdout.units + arms.treated.units, 1)
            return _Judged(GateVerdict.ERROR, f"sample ratio mismatch in the {version}: holdout "
                                              f"share {share:.4g}, expected {h:.4g} "
                                              f"(always-valid p = {srm.p_value:.3g})",
                           samples=arms.holdout.units + arms.treated.units, memory=new_memory)
    cells = (m.canary.holdout.units, m.canary.treated.units, m.stable.holdout.units,
             m.stable.treated.units)
    least = min(cells)
    if least < max(gate.min_samples, 2):
        return _Judged(GateVerdict.INCONCLUSIVE, f"smallest arm has {least} units "
                                                 f"(minSamples {gate.min_samples})",
                       samples=least, memory=new_memory)
    margin, kind = margin_of(gate)
    expected = gate.expected_samples or DEFAULT_EXPECTED_SAMPLES
    result, new_memory["effect"] = non_inferiority_test(
        _effect_arm(m.stable), _effect_arm(m.canary), margin=margin, relative=kind == "relative",
        alpha=gate.alpha, n_star=2.0 * expected, min_samples=2, state=memory.get("effect"))
    theta0 = result.details.get("theta0")
    verdict = {Decision.PASS: GateVerdict.PASS, Decision.FAIL: GateVerdict.FAIL,
               Decision.CONTINUE: GateVerdict.INCONCLUSIVE}[result.decision]
    effects = (f"incremental effect canary {_effect(m.canary):.4g} vs stable "
               f"{_effect(m.stable):.4g}")
    return _Judged(verdict, f"{effects}; {result.reason}", value=result.estimate,
                   lower=result.lower, upper=result.upper, threshold=theta0, samples=least,
                   memory=new_memory)


def _effect(arms: VersionArms) -> float:
    return (arms.treated.conversions / arms.treated.units
            - arms.holdout.conversions / arms.holdout.units)


def _effect_arm(arms: VersionArms) -> ArmStats:
    """One version's incremental effect as an 'arm' whose variance/n is the effect's variance.

    The mSPRT only needs Δ̂ and V = Σ Var/n; n (the version's units) scales its mixing variance.
    """
    t = ArmStats.proportion(arms.treated.conversions, arms.treated.units)
    c = ArmStats.proportion(arms.holdout.conversions, arms.holdout.units)
    n = t.n + c.n
    variance = t.variance / t.n + c.variance / c.n
    return ArmStats(n=n, mean=t.mean - c.mean, variance=variance * n)


def _uplift_sanity(gate: ModelGate, m: UpliftSanityMeasurement, _: GateMemory) -> _Judged:
    if not (math.isfinite(m.training_std) and m.training_std > 0):
        raise ValueError(f"training std must be > 0, got {m.training_std}")
    n = m.requests
    if not math.isfinite(m.canary_mean_uplift):
        return _Judged(GateVerdict.INCONCLUSIVE, "no predicted uplift yet", samples=n)
    z = (m.canary_mean_uplift - m.training_mean) / m.training_std
    what = (f"mean predicted uplift {m.canary_mean_uplift:.4g} is {z:+.3g} training std from "
            f"{m.training_mean:.4g}")
    if n < gate.min_samples:
        return _Judged(GateVerdict.INCONCLUSIVE, f"{what}, over only {n} requests "
                                                 f"(minSamples {gate.min_samples})",
                       value=z, samples=n)
    low = gate.min if gate.min is not None else -DEFAULT_SANITY_BAND
    high = gate.max if gate.max is not None else DEFAULT_SANITY_BAND
    if z < low:
        return _Judged(GateVerdict.FAIL, f"{what}: below {low:.4g}", value=z, threshold=low,
                       samples=n)
    if z > high:
        return _Judged(GateVerdict.FAIL, f"{what}: above {high:.4g}", value=z, threshold=high,
                       samples=n)
    nearest = high if z >= 0 else low
    return _Judged(GateVerdict.PASS, f"{what}: within [{low:.4g}, {high:.4g}]", value=z,
                   threshold=nearest, samples=n)


def _custom(gate: ModelGate, m: CustomMeasurement, _: GateMemory) -> _Judged:
    value, n = m.value, m.samples
    if not math.isfinite(value):
        return _Judged(GateVerdict.INCONCLUSIVE, "query returned no finite value", samples=n)
    if n is not None and n < gate.min_samples:
        return _Judged(GateVerdict.INCONCLUSIVE, f"value {value:.4g} from only {n} samples "
                                                 f"(minSamples {gate.min_samples})",
                       value=value, samples=n)
    if gate.min is None and gate.max is None:
        return _Judged(GateVerdict.ERROR, "a custom gate needs min or max", value=value, samples=n)
    if gate.min is not None and value < gate.min:
        return _Judged(GateVerdict.FAIL, f"value {value:.4g} < min {gate.min:.4g}", value=value,
                       threshold=gate.min, samples=n)
    if gate.max is not None and value > gate.max:
        return _Judged(GateVerdict.FAIL, f"value {value:.4g} > max {gate.max:.4g}", value=value,
                       threshold=gate.max, samples=n)
    bounds = f"[{_fmt(gate.min, '−∞')}, {_fmt(gate.max, '+∞')}]"
    threshold = gate.max if gate.max is not None else gate.min
    return _Judged(GateVerdict.PASS, f"value {value:.4g} within {bounds}", value=value,
                   threshold=threshold, samples=n)


_EVALUATORS: Mapping[str, tuple[type, _Evaluator]] = {
    "latency": (LatencyMeasurement, _latency),
    "errorRate": (ErrorRateMeasurement, _error_rate),
    "drift": (DriftMeasurement, _drift),
    "qini": (QiniMeasurement, _qini),
    "onlineEffect": (OnlineEffectMeasurement, _online_effect),
    "upliftSanity": (UpliftSanityMeasurement, _uplift_sanity),
    "custom": (CustomMeasurement, _custom),
}


def _worst_of(judged: list[_Judged]) -> _Judged:
    # Report the worst sub-verdict's evidence, and every sub-message so nothing is hidden.
    pick = max(judged, key=lambda j: _ORDER[j.verdict])
    message = "; ".join(j.message for j in sorted(judged, key=lambda j: -_ORDER[j.verdict]))
    return _Judged(pick.verdict, message, pick.value, pick.lower, pick.upper, pick.threshold,
                   pick.samples)


# ---------------------------------------------------------------------------------------------
# Counters and actions


def assess(gate: ModelGate, previous: GateStatus | None, outcome: GateOutcome) -> GateStatus:
    """The gate's status after ``outcome``: its evidence, updated step counters, and the
    sequential-test memory (``sequentialState``) for the next look.

    ``previous`` is this gate's status at the *current step* (None at a fresh step). Fail and
    Inconclusive verdicts are counted; Error counts in a row and any other verdict resets it,
    as Argo Rollouts' MetricResult does.
    """
    prev = previous if previous is not None and previous.name == gate.name else None
    verdict = outcome.verdict
    errors = (prev.consecutive_errors if prev else 0) + 1 if verdict is GateVerdict.ERROR else 0
    return GateStatus(
        name=gate.name, verdict=verdict, value=outcome.value, lower=outcome.lower,
        upper=outcome.upper, threshold=outcome.threshold, samples=outcome.samples,
        message=_clip(outcome.message), time=outcome.time,
        failures=(prev.failures if prev else 0) + (verdict is GateVerdict.FAIL),
        inconclusives=(prev.inconclusives if prev else 0) + (verdict is GateVerdict.INCONCLUSIVE),
        consecutive_errors=errors, sequential_state=_state_status(outcome.memory))


def required_action(gate: ModelGate, status: GateStatus) -> GateAction:
    """What the counters demand: Rollback beyond ``failureLimit`` Fails (default 0: the first
    Fail) or ``consecutiveErrorLimit`` Errors in a row (default 4: the fifth); Pause beyond a
    non-zero ``inconclusiveLimit`` (default 0: never, the step just holds). Dry run: never."""
    if gate.dry_run:
        return GateAction.NONE
    if (status.failures > gate.failure_limit
            or status.consecutive_errors > gate.consecutive_error_limit):
        return GateAction.ROLLBACK
    if gate.inconclusive_limit > 0 and status.inconclusives > gate.inconclusive_limit:
        return GateAction.PAUSE
    return GateAction.NONE


def reset_counters(status: GateStatus) -> GateStatus:
    """The status at a new step: counters zeroed and sequential tests restarted (the traffic
    split changed), the last evidence kept for humans."""
    return status.model_copy(update={"failures": 0, "inconclusives": 0, "consecutive_errors": 0,
                                     "sequential_state": {}})


def memory_of(status: GateStatus | None) -> dict[str, SequentialState]:
    """The memory to pass to ``evaluate_gate``, read back from the gate's status."""
    if status is None:
        return {}
    return {key: SequentialState(
        looks=st.looks, lower=-math.inf if st.lower is None else st.lower,
        upper=math.inf if st.upper is None else st.upper,
        p_pass=1.0 if st.p_pass is None else st.p_pass,
        p_fail=1.0 if st.p_fail is None else st.p_fail)
        for key, st in status.sequential_state.items()}


def _state_status(memory: GateMemory) -> dict[str, SequentialStateStatus]:
    return {key: SequentialStateStatus(looks=st.looks, lower=_finite(st.lower),
                                       upper=_finite(st.upper), p_pass=_finite(st.p_pass),
                                       p_fail=_finite(st.p_fail))
            for key, st in sorted(memory.items())}


def memory_to_wire(memory: GateMemory) -> dict[str, dict[str, Any]]:
    """JSON-able form of a gate's memory (for a status field or an annotation)."""
    return {key: state.to_dict() for key, state in sorted(memory.items())}


def memory_from_wire(data: Mapping[str, Mapping[str, Any]] | None) -> dict[str, SequentialState]:
    """Inverse of ``memory_to_wire``; None gives an empty memory."""
    return {key: SequentialState.from_dict(value) for key, value in (data or {}).items()}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _fmt(x: float | None, unbounded: str) -> str:
    return unbounded if x is None else f"{x:.4g}"


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"
