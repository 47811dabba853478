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
import hashlib
import json
import logging
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from statistics import NormalDist
from typing import Any, Literal, TypeVar

from uplift_operator.api.v1alpha1.common import (
    MAX_STATE_COUNTS,
    ApiModel,
    GateSpecBase,
    GateStatus,
    GateVerdict,
    SequentialStateStatus,
)
from uplift_operator.domain.measurements import (
    ArmCounts,
    BudgetMeasurement,
    CustomMeasurement,
    DeliveryRateMeasurement,
    DriftMeasurement,
    ErrorRateMeasurement,
    FeatureHistogram,
    IncrementalConversionsMeasurement,
    LatencyMeasurement,
    Measurement,
    MeasurementError,
    NotMeasured,
    OnlineEffectMeasurement,
    QiniEstimate,
    QiniMeasurement,
    RoiMeasurement,
    RoiStratum,
    SplitCounts,
    UpliftSanityMeasurement,
    VersionArms,
    bucket_quantile,
)
from uplift_operator.stats.counts import proportion_bound_test, rate_ratio_test
from uplift_operator.stats.drift import pearson_radius, psi_bounds, psi_drift_evidence
from uplift_operator.stats.results import ArmStats, Decision, SequentialState, TestResult
from uplift_operator.stats.sequential import (
    guarded_decision,
    guarded_non_inferiority_test,
    mean_one_sided_bounds,
    mixing_variance,
)
from uplift_operator.stats.srm import (
    DEFAULT_SRM_ALPHA,
    split_within_test,
    srm_sequential,
)
from uplift_operator.stats.uplift import (
    one_sided_bounds,
    paired_difference_bounds,
    percentile_replicates_needed,
)

_LOG = logging.getLogger(__name__)

__all__ = [
    "BREAK_EVEN_TOLERANCE",
    "DEFAULT_ABSOLUTE_MARGIN",
    "DEFAULT_CAMPAIGN_SAMPLES",
    "DEFAULT_DELIVERY_FLOOR",
    "DEFAULT_EXPECTED_SAMPLES",
    "DEFAULT_PSI_FLOOR",
    "DEFAULT_QINI_FLOOR",
    "DEFAULT_RELATIVE_MARGIN",
    "DEFAULT_SANITY_BAND",
    "DRIFT_MEMORY_BUDGET",
    "DRY_RUN_PREFIX",
    "MIN_OUTCOME_COMPLETENESS",
    "OFFLINE_GATE_TYPES",
    "SPLIT_RECHECK_FACTOR",
    "GateAction",
    "GateMemory",
    "GateOutcome",
    "Suspension",
    "assess",
    "canonical_json",
    "defect_message",
    "defect_outcome",
    "drift_design_samples",
    "drift_fail_samples",
    "evaluate_gate",
    "gathered_in_dry_run",
    "incremental_conversions_count",
    "is_worse",
    "legacy_settings_digest",
    "margin_of",
    "memory_of",
    "next_step",
    "required_action",
    "restart_split_check",
    "same_settings",
    "sanity_design_samples",
    "settings_digest",
    "with_outside_settings",
    "worst",
]

#: ``margin`` when unset and the margin is relative (API: "Default: 0.2 for relative margins").
DEFAULT_RELATIVE_MARGIN = 0.2
#: ``margin`` when unset and the margin is absolute (API: "0.005 for absolute ones").
DEFAULT_ABSOLUTE_MARGIN = 0.005
#: Per-arm size the mixture is tuned to when no design can be derived (no base rate yet).
DEFAULT_EXPECTED_SAMPLES = 5000
#: Live rows at which drift's bounds are tightest when no design can be derived.
DEFAULT_DRIFT_SAMPLES = 2000
#: Power at the margin that the design sample size (designSamples) is computed for.
_DESIGN_POWER = 0.8
#: The drift gate's PSI bound when ``max`` is unset (the 0.1 rule of thumb).
DEFAULT_PSI_FLOOR = 0.1
#: ``qini`` gates' floor when ``min`` is unset: the lower bound must beat a random ranking.
DEFAULT_QINI_FLOOR = 0.0
#: ``upliftSanity`` band when ``min``/``max`` are unset, in training standard deviations.
DEFAULT_SANITY_BAND = 1.0
#: The level of the live sd's upper confidence bound in ``upliftSanity`` (χ² on n − 1 df).
SANITY_SD_LEVEL = 0.01
#: ``deliveryRate`` floor when ``min`` is unset (API: "Default: 0.95").
DEFAULT_DELIVERY_FLOOR = 0.95
#: Campaign units (treated + holdout) the incremental-effect mixture is tuned to when
#: ``expectedSamples`` is unset.
DEFAULT_CAMPAIGN_SAMPLES = 20_000
#: Outcome completeness (reported / expected) below which the conversion gates hold.
MIN_OUTCOME_COMPLETENESS = 0.9

MarginType = Literal["absolute", "relative"]

#: Gates judged on what the version's MLflow run logged, before any traffic moves.
OFFLINE_GATE_TYPES = frozenset({"qini"})

#: Margin type per gate type when ``marginType`` is unset (the API field says the same).
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
    design_samples: int | None = None
    # Holds the ramp without a verdict on the model, never counted towards a limit: a sample
    # ratio mismatch (Error), a source the gate needs unreachable, onlineEffect or a Campaign's
    # conversion gate waiting for the attribution window on its first cohort (Inconclusive).
    holds: bool = False
    suspension: Suspension | None = None  # a Fail that suspends (budget), never a rollback


@dataclass(frozen=True)
class Suspension:
    """A Fail that asks the ramp to stop treating for a while rather than to roll back: the
    budget of the current period is spent. ``until`` is when the period rolls over (None: the
    budget covers the whole campaign, so until the spec changes). ``assess`` does not count
    such a Fail towards ``failureLimit``; the exposure logic withdraws the exposure until then."""

    until: dt.datetime | None
    reason: str


def is_worse(a: GateVerdict, b: GateVerdict) -> bool:
    """Whether verdict ``a`` is worse than ``b`` (Pass < Inconclusive < Error < Fail)."""
    return _ORDER[a] > _ORDER[b]


def worst(verdicts: Iterable[GateVerdict]) -> GateVerdict:
    """The worst verdict; Pass for none (nothing objected)."""
    return max(verdicts, key=_ORDER.__getitem__, default=GateVerdict.PASS)


def margin_of(gate: GateSpecBase) -> tuple[float, MarginType]:
    """The gate's margin and its type, defaults applied: ``marginType`` defaults to relative
    for latency, errorRate and qini and absolute otherwise; ``margin`` to 0.2 when relative and
    0.005 when absolute, as the API fields describe."""
    kind: MarginType = gate.margin_type or _NATURAL_MARGIN.get(gate.type, "absolute")
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
    design_samples: int | None = None
    holds: bool = False
    suspension: Suspension | None = None


_Evaluator = Callable[[GateSpecBase, Any, GateMemory], _Judged]


def evaluate_gate(gate: GateSpecBase,
                  measurement: Measurement | MeasurementError | NotMeasured | None,
                  memory: GateMemory | None, now: dt.datetime) -> GateOutcome:
    """Judge one gate on one measurement.

    One semantics for every statistical gate (docs/statistics.md §Gate semantics): **Pass**
    only when the data show, at level ``alpha``, that the canary is no worse than the stable
    beyond the margin, or within the ``max``/``min`` bound (bounds are tested with anytime-valid
    confidence sequences, never compared raw); **Fail** when they show harm beyond zero (or
    beyond the bound) at ``alpha``; otherwise **Inconclusive**. Each gate's evidence is kept in
    ``memory`` for the version's whole life (carried across steps), so α is spent once.

    * ``latency``: the share of slow requests, from the latency histogram. Against the stable:
      slow = above the bucket the stable's p95 falls in over its bucket counts since the step
      started (frozen at the first look with ``minSamples`` stable requests; never the
      template's p95, NaN over an interval of fewer than two scrapes); Pass shows the canary's
      slow share below (1 + margin) × the stable's, Fail shows it above the stable's. An
      absolute margin (in
      seconds): Pass shows the canary's share above the bucket at or above the stable's
      p95 + margin below the stable's slow share, Fail as a relative one's; a threshold past
      the largest finite bucket (or a stable p95 past it) leaves the comparison Inconclusive.
      ``max``: Pass shows fewer than 5 % of canary requests above ``max`` (p95 ≤ max), Fail
      shows more. ``max`` alone passes only a step of weight 100: while the stable serves (or
      the split is not known), a measurement without ``minSamples`` of its requests is
      Inconclusive unless ``max`` shows harm (the collector gives none: it waits, as
      errorRate's, for the stable's histogram).
    * ``errorRate``: Pass shows the canary's error rate below (1 + margin) × the stable's (and
      below ``max`` if set), Fail shows it above the stable's (or above ``max``). With no errors
      on either side only ``max`` can pass the gate, as with no stable requests. An absolute
      margin is converted with the stable's error rate: while that is 0 only the Fail side of
      the comparison runs.

    At a step of weight 100 (``split.canary_share`` 1) the errorRate and latency gates leave
    the stable out, even the requests it served before the step's 100/0 split reached the
    router, and judge the canary on ``max`` alone (the CRD lets such a step end a ramp only
    when they set it; ``_canary_alone``).
    * ``drift``: per feature (``features``, default all), anytime-valid bounds on the PSI of the
      live distribution against the training reference (one χ² confidence set of the live
      shares, ``stats.drift.psi_bounds``), each holding over all looks. Fail when one feature's
      drift beyond ``max`` (default 0.1) is shown at α split over the features: by its betting
      evidence on the rows since each look (``stats.drift.psi_drift_evidence``, 0.9 of that
      level, counts kept in the memory) or by its lower bound (0.1). Pass when every upper bound
      (each at α: all must hold) is below ``max`` (after ``minSamples`` live samples). Unless
      ``expectedSamples`` is set (then both are tuned to it), the upper bounds' mixture is tuned
      to ``drift_design_samples`` (where no drift passes) and the lower bounds' to
      ``drift_fail_samples`` (where drift of twice ``max`` fails). Betting needs the feature's
      counts in the status: only the features whose memory fits in ``DRIFT_MEMORY_BUDGET``
      (48 KiB of JSON a gate, so 16 drift gates stay well under etcd's 1.5 MiB; taken in the
      order of ``features``, else by name; at most 256 bins) bet, the others show drift by
      their lower bound alone (less power, the same α).
    * ``qini``: offline, evaluated before any traffic moves. Per treatment, the paired bootstrap
      of canary − stable Qini on one shared evaluation set: Pass when its lower bound is above
      −margin (relative to the stable's Qini by default) and the canary's lower bound above
      ``min`` (default 0: a random ranking); Fail when the canary is shown worse than stable, or
      below ``min`` (at α over the treatments); a ``max`` catches leakage-grade scores. A level
      the logged replicates are too few for (α(B + 1) < 1) shows nothing, and the message says
      how many it needs.
    * ``onlineEffect``: sample-ratio checks first (each version's holdout share, the traffic
      split; α = 0.001, kept for the version's life; a mismatch is an Error that holds the ramp).
      Then the treated units' conversion under canary vs under stable (both randomised from one
      population): the guarded non-inferiority test, absolute margin by default (0.005), the
      mixture tuned to the fixed-horizon design at 80 % power unless ``expectedSamples`` is set.
    * ``upliftSanity``: the canary's mean predicted uplift, in training standard deviations
      from the training mean, with anytime-valid one-sided bounds: Pass when both lie within
      [``min``, ``max``] (default [−1, 1]; each bound at α, as both must hold), Fail when one
      lies outside (each at α/2). Tuned to ``sanity_design_samples`` (or ``minSamples``, when
      larger) unless ``expectedSamples`` is set.
    * ``custom``: a threshold on a PromQL scalar (no sampling model): Fail outside [``min``,
      ``max``], Pass inside; ``minSamples`` applies when the adapter reports a sample count.

    Campaign gates (counts of one campaign since the exposure step started, evidence carried
    across steps as above):

    * ``deliveryRate``: delivered / decided-to-treat with the anytime-valid binomial test:
      Pass when its lower bound is ≥ ``min`` (default 0.95), Fail when its upper bound is below.
    * ``incrementalConversions``: the holdout's sample ratio first (as onlineEffect's); then,
      once the outcomes are in (completeness ≥ 0.9, else hold), treated − holdout conversion
      rate with a one-sided confidence sequence pair: Pass when Δ > ``min`` (default 0) is
      shown, Fail when Δ < ``min`` is shown.
    * ``roi``: the same counts and rule on ROI = (value × incremental conversions − spend) /
      spend, i.e. on Δ against the break-even Δ = spend per treated unit × (1 + ``min``) /
      value per conversion (``min`` default 0), both as realized by the treatments sent: Pass
      when the lower bound is ≥ ``min``, Fail when the upper bound is below. The break-even is
      frozen when the evidence starts; one realized clearly (beyond sampling noise) outside
      ``BREAK_EVEN_TOLERANCE`` of it starts the evidence afresh, and a Pass (Fail) not shown
      at the realized break-even is held (``_roi``).
    * ``budget``: spend of the current period (counted, not sampled) against the budget: Fail
      with a ``Suspension`` until the period rolls over once it is reached or what is left
      pays for no treatment (never a rollback), Pass below it.

    ``None`` (no data) and ``NotMeasured`` (no collector) are Inconclusive, never Pass; a
    ``MeasurementError`` is Error (one that ``holds`` when it says so); invalid data (negative
    counts, mismatched bins) is Error. ``memory`` is this gate's memory from its status (None or
    {} to start afresh).
    """
    memory = dict(memory or {})
    judged: _Judged
    if isinstance(measurement, MeasurementError):
        judged = _Judged(GateVerdict.ERROR, f"measurement failed: {measurement.message}",
                         holds=measurement.holds)
    elif measurement is None:
        judged = _Judged(GateVerdict.INCONCLUSIVE, "no data yet")
    elif isinstance(measurement, NotMeasured) or gate.type not in _EVALUATORS:
        why = measurement.why if isinstance(measurement, NotMeasured) else "no evaluator"
        judged = _Judged(GateVerdict.INCONCLUSIVE, f"not measured yet ({why})",
                         holds=isinstance(measurement, NotMeasured) and measurement.holds)
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
            except Exception as error:  # a defect in the gate's own arithmetic, not the data
                # One gate must never crash the pass: the pass also acts on abort and
                # emergency-rollback requests. The Error counts towards
                # consecutiveErrorLimit like a failed measurement; the memory is kept as it was.
                _LOG.exception("gate %s (%s) could not be judged", gate.name, gate.type)
                judged = _Judged(GateVerdict.ERROR, defect_message(gate, error, "judged"))
    return GateOutcome(
        name=gate.name, verdict=judged.verdict, message=_clip(_worded(gate, judged.message)),
        time=now,
        value=_finite(judged.value), lower=_finite(judged.lower), upper=_finite(judged.upper),
        threshold=_finite(judged.threshold), samples=judged.samples,
        memory=memory if judged.memory is None else dict(judged.memory),
        design_samples=judged.design_samples, holds=judged.holds, suspension=judged.suspension)


def _worded(gate: GateSpecBase, message: str) -> str:
    """The outcome's message: a dry-run gate's begins ``DRY_RUN_PREFIX``, and an enforcing
    gate's never does, so that the prefix tells a status judged in dry run
    (``gathered_in_dry_run``) from any other. A message of an enforcing gate that would begin
    so (one beginning with a name the user chose that reads "dry run": a drift feature, a
    Qini treatment, which ``_named`` quotes already) is said as the gate's: "gate g: dry run:
    …" (a gate's name is a DNS label: never "dry run"). Without it, such a gate's every Fail
    was taken as a dry-run gate's: not counted, never acted on."""
    if gate.dry_run:
        return f"{DRY_RUN_PREFIX}{message}"
    if message.startswith(DRY_RUN_PREFIX):
        return f"gate {gate.name}: {message}"
    return message


def _named(name: str) -> str:
    """A name the user chose (a drift feature, a Qini treatment) as a message begins with it
    ("age: PSI …"): in double quotes when the message would then begin as a dry-run gate's
    (``DRY_RUN_PREFIX``: a feature "dry run", or "dry run: x"), so an enforcing gate's reads
    '"dry run": PSI …' and is never taken as judged in dry run (``_worded``)."""
    return json.dumps(name, ensure_ascii=False) if f"{name}: ".startswith(DRY_RUN_PREFIX) else name


def defect_message(gate: GateSpecBase, error: BaseException, failed: str) -> str:
    """What an Error verdict says when ``gate`` could not be ``failed`` (judged, measured) for
    an unexpected exception: an operator defect, not the data's or a source's fault."""
    return (f"gate {gate.name} could not be {failed}: internal error {type(error).__name__}: "
            f"{error} (an operator defect; the operator log has its traceback)")


def defect_outcome(gate: GateSpecBase, memory: GateMemory | None, error: BaseException,
                   now: dt.datetime) -> GateOutcome:
    """The Error outcome of ``gate`` when measuring it raised unexpectedly (the caller logs the
    traceback): counted towards ``consecutiveErrorLimit`` as a failed measurement, the gate's
    evidence so far (``memory``) kept. A pass whose measuring failed still acts on the rest
    (abort and emergency-rollback requests first)."""
    message = defect_message(gate, error, "measured")
    return GateOutcome(name=gate.name, verdict=GateVerdict.ERROR, time=now,
                       message=_clip(_worded(gate, message)),
                       memory=dict(memory or {}))


# -- shared rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Test:
    """One sequential test's running p-values, for the pass/fail rule of ``_rule``."""

    what: str  # what a Pass shows, e.g. "error-rate ratio < 1.2"
    p_pass: float
    p_fail: float
    can_pass: bool = True  # False: this test may only fail (e.g. the far side of a bound)
    can_fail: bool = True
    #: What a Fail shows, e.g. "error-rate ratio > 1"; a Fail's message states it, and the pass
    #: condition too when its boundary differs (``passing_differs``), never the pass condition
    #: alone (which read as a passing value next to the Fail).
    fails: str = ""
    passing_differs: bool = False


def _failed(tests: list[_Test], alpha: float) -> _Test | None:
    """The first test that shows harm at α split over the tests that may fail (Bonferroni)."""
    failing = [t for t in tests if t.can_fail]
    return next((t for t in failing if t.p_fail <= alpha / len(failing)), None)


def _rule(tests: list[_Test], alpha: float) -> tuple[GateVerdict, str]:
    """The gate semantics: Fail when any test shows harm (at α split over the tests that may
    fail: Bonferroni), Pass when every test that may pass shows acceptability at α (an
    intersection of rejections needs no correction), otherwise Inconclusive."""
    t = _failed(tests, alpha)
    if t is not None:
        needs = f"; passing needs {t.what}" if t.passing_differs else ""
        return GateVerdict.FAIL, (f"harm shown: {t.fails or t.what} (always-valid p = "
                                  f"{t.p_fail:.3g}){needs}")
    passing = [t for t in tests if t.can_pass]
    if passing and all(t.p_pass <= alpha for t in passing):
        return GateVerdict.PASS, " and ".join(f"{t.what} shown (p = {t.p_pass:.3g})"
                                              for t in passing)
    waiting = [t for t in passing if t.p_pass > alpha]
    return GateVerdict.INCONCLUSIVE, "not shown yet: " + ", ".join(
        f"{t.what} (p = {t.p_pass:.3g})" for t in waiting or passing)


def _srm(key: str, counts: tuple[int, int], shares: tuple[float, float], what: str,
         memory: GateMemory, new_memory: dict[str, SequentialState]) -> str | None:
    """Sequential sample-ratio check, its evidence kept across the analyses (and, carried, the
    steps); the mismatch message, or None. ``counts``/``shares`` are (first arm, second arm)."""
    result, new_memory[key] = srm_sequential(list(counts), list(shares), alpha=DEFAULT_SRM_ALPHA,
                                             state=memory.get(key))
    if result.decision is not Decision.FAIL:
        return None
    total = max(sum(counts), 1)
    return (f"sample ratio mismatch in {what}: share {counts[1] / total:.4g}, expected "
            f"{shares[1] / sum(shares):.4g} (always-valid p = {result.p_value:.3g})")


#: After a sample-ratio mismatch the check starts afresh on the units (requests) since, and the
#: gate holds until it has seen this many times the units the mismatch was shown on without
#: one. A transient mismatch (a router late with new weights, a replica killed between its
#: apply and its status write, counts read from different scrapes) clears; a lasting one is
#: shown again long before: it was shown on a quarter of them, and the test's power grows with
#: the units. Without it one bad look held the gate for the rest of the step.
SPLIT_RECHECK_FACTOR = 4


def _recheck_key(key: str) -> str:
    """The memory key of ``key``'s re-check after a mismatch: ``info`` and ``score`` hold the
    two arms' counts at the mismatch (left out of the step's check from then on),
    ``reference`` the units since that the re-check needs before the hold ends."""
    return f"{key}Recheck"


@dataclass(frozen=True)
class _SrmCheck:
    hold: str | None  # why the gate holds (a mismatch, or its re-check), None: no hold
    shown: bool  # a mismatch was shown at this analysis
    counts: tuple[int, int]  # the counts judged: the step's, less those before a mismatch


def _srm_rechecked(key: str, counts: tuple[int, int], shares: tuple[float, float], what: str,
                   memory: GateMemory, new_memory: dict[str, SequentialState]) -> _SrmCheck:
    """``_srm`` over the step's counts (cumulative since the step started) that holds on a
    mismatch, then checks afresh on the counts since (``SPLIT_RECHECK_FACTOR``)."""
    recheck_key = _recheck_key(key)
    first, second = counts
    recheck = memory.get(recheck_key)
    if recheck is not None and (first < recheck.info or second < recheck.score):
        recheck = None  # the counts started again (a new step, the split applied again)
    if recheck is not None:
        first, second = first - round(recheck.info), second - round(recheck.score)
    mismatch = _srm(key, (first, second), shares, what, memory, new_memory)
    if mismatch is not None:
        needed = SPLIT_RECHECK_FACTOR * (first + second)
        new_memory[recheck_key] = SequentialState(info=counts[0], score=counts[1],
                                                  reference=needed)
        new_memory[key] = SequentialState()
        return _SrmCheck(f"{mismatch}; no verdict until it is checked again on the next "
                         f"{needed} units", True, (first, second))
    if recheck is None:
        new_memory.pop(recheck_key, None)
        return _SrmCheck(None, False, (first, second))
    # The step's check goes on from the mismatch: the units before it stay left out.
    new_memory[recheck_key] = recheck
    if first + second < recheck.reference:
        return _SrmCheck(f"{what} checked again after a sample ratio mismatch: none in "
                         f"{first + second} of the {round(recheck.reference)} units it needs; "
                         "no verdict until then", False, (first, second))
    return _SrmCheck(None, False, (first, second))


#: The memory key of the traffic-split check (restarted by ``restart_split_check``).
_TRAFFIC_SRM = "srmTraffic"
#: The memory key of the test that the split is within tolerance (a Pass needs it).
_SPLIT_WITHIN = "splitWithin"
#: The memory keys of the sample-ratio checks that may hold on a re-check; each re-check's
#: counts belong to the step (the split's: to the split's application) that saw the mismatch.
_RECHECKS = frozenset(_recheck_key(key) for key in
                      (_TRAFFIC_SRM, "srmHoldout", "srmCanary", "srmStable"))
#: The memory key of the split's counts (``info`` stable, ``score`` canary) at the first
#: analysis of a step that saw a version scraped late (``SplitCounts.scraped_late``): the
#: step's split is judged on the counts since. They belong to the step's window, as a
#: re-check's do.
_SPLIT_BASELINE = "splitBaseline"
#: Memory that belongs to one step's counting window: dropped at a new step.
_WINDOW_BOUND = _RECHECKS | {_SPLIT_BASELINE}


def _counted_since_scraped(split: SplitCounts, memory: GateMemory,
                           new_memory: dict[str, SequentialState]) -> tuple[int, int]:
    """The split's (stable, canary) counts to judge. A version whose counters were first
    scraped after the split settled has lost what it served before that scrape (``increase``
    starts at a series' first sample) while the other version has not: in the demo a canary
    at a 30 % step, scraped 2 s into its settled window, read a 21 % share, and the SRM check
    held the gate on a mismatch that was not there. Such a step's split is judged on the
    counts since the first analysis that saw both versions, as a re-check is, without the
    hold."""
    counts = (split.stable, split.canary)
    if not split.scraped_late:
        new_memory.pop(_SPLIT_BASELINE, None)
        return counts
    base = memory.get(_SPLIT_BASELINE)
    if base is None or counts[0] < base.info or counts[1] < base.score:
        base = SequentialState(info=counts[0], score=counts[1])
    new_memory[_SPLIT_BASELINE] = base
    return counts[0] - round(base.info), counts[1] - round(base.score)


def _traffic_srm(split: SplitCounts | None, memory: GateMemory,
                 new_memory: dict[str, SequentialState]) -> tuple[str | None, _Test | None]:
    """The realised split since the step settled against the step's weight: the mismatch
    message (or None) of the exact sequential SRM test, and, on the step whose Pass promotes
    (``split.promotes``), the test that Pass also needs: the split shown within
    ``split.tolerance`` of the weight (``spec.rollout.splitTolerance``;
    ``stats.srm.split_within_test``).

    Both tests run at every analysis. The SRM test's evidence multiplies across steps, whose
    weights differ; the within-tolerance test is judged on the step's own requests (of earlier
    steps only evidence against is carried: ``split_within_test``), since a split within at 10 %
    says nothing of the promoting step's. Without the second, a gate whose own test decides
    quickly could promote before the SRM test had the requests to see a 52/48 split; with it,
    the promotion waits for the requests that would have shown one. Earlier steps' Passes only
    move traffic to the next step, so they do not wait. A mismatch holds, and the check starts
    afresh on the requests since (``_srm_rechecked``)."""
    if split is None or not 0 < split.canary_share < 1:
        return None, None
    w = split.canary_share
    check = _srm_rechecked(_TRAFFIC_SRM, _counted_since_scraped(split, memory, new_memory),
                           (1 - w, w),
                           "the traffic split (stable, canary)", memory, new_memory)
    if check.shown:
        new_memory[_SPLIT_WITHIN] = SequentialState()  # a broken window shows nothing
    if check.hold is not None:
        return check.hold, None
    stable, canary = check.counts
    within = None
    if split.tolerance > 0:
        p_within, new_memory[_SPLIT_WITHIN] = split_within_test(
            stable, canary, w, tolerance=split.tolerance,
            state=_within_state(memory.get(_SPLIT_WITHIN), split.tolerance))
        if split.promotes:
            within = _Test(f"traffic split within {w * (1 - split.tolerance):.4g}–"
                           f"{w * (1 + split.tolerance):.4g} ({canary}/{stable + canary})",
                           p_within, 1.0, can_fail=False)
    return None, within


def _within_state(state: SequentialState | None, tolerance: float) -> SequentialState:
    """The within-tolerance test's state to go on from, its tolerance in ``reference``: afresh
    when the evidence was gathered against another tolerance (``spec.rollout.splitTolerance``
    or ``spec.exposure.splitTolerance`` edited; neither is in a gate's settings digest). Its
    p-value is a running minimum against the bounds of the tolerance it was computed for, so
    evidence that a 47 % share is within 37.5–62.5 % would otherwise go on showing it within
    48–52 % once the tolerance is tightened. A state written before the tolerance was kept
    (``reference`` NaN) is taken to be against the current one, so the upgrade keeps it."""
    if state is None or (math.isfinite(state.reference)
                         and not math.isclose(state.reference, tolerance, rel_tol=1e-9)):
        return SequentialState(reference=tolerance)
    return replace(state, reference=tolerance)


def _waiting_for(verdict: GateVerdict, reason: str, tests: tuple[_Test | None, ...],
                 alpha: float) -> tuple[GateVerdict, str]:
    """A Pass that decides (promotes the canary, completes the exposure ramp) also needs
    ``tests`` (a split or holdout share within tolerance) shown at ``alpha``: until then it is
    Inconclusive, and says what it waits for."""
    waiting = [t for t in tests if t is not None and t.p_pass > alpha]
    if verdict is not GateVerdict.PASS or not waiting:
        return verdict, reason
    return GateVerdict.INCONCLUSIVE, reason + "; not shown yet: " + ", ".join(
        f"{t.what} (p = {t.p_pass:.3g})" for t in waiting)


def _needed(test: _Test | None) -> list[_Test]:
    return [] if test is None else [test]


def _ratio_tests(gate: GateSpecBase, what: str, stable_events: int, stable_n: int,
                 canary_events: int, canary_n: int, margin: float, key: str,
                 memory: GateMemory, new_memory: dict[str, SequentialState]) -> tuple[_Test, Any]:
    """Canary's event rate against (1 + margin) × stable's (pass) and against 1 × (fail)."""
    result, new_memory[key] = rate_ratio_test(
        stable_events, canary_events, control_exposure=stable_n, treatment_exposure=canary_n,
        margin=margin, fail_margin=0.0, alpha=gate.alpha, min_events=1, state=memory.get(key))
    state = new_memory[key]
    return _Test(f"{what} ratio < {1 + margin:.4g}", state.p_pass, state.p_fail,
                 fails=f"{what} ratio > 1", passing_differs=True), result


def _ratio_design_samples(base_rate: float, margin: float, alpha: float,
                          split: SplitCounts | None) -> int | None:
    """Canary requests at which a fixed-horizon one-sided test of log(canary / stable rate) has
    80 % power at ``1 + margin``, both rates at ``base_rate`` and the stable taking the rest of
    the traffic at this split: n = z²·(1 − p)/p·(1 + w/(1 − w))/ln²(1 + m), bench/gate_decisions'
    fixed-horizon N at w = ½. None without a base rate or a finite margin. The rate-ratio test's
    Beta mixture has a fixed concentration, so this is shown (progress), never used to decide."""
    if not 0 < base_rate < 1 or not 0 < margin < math.inf:
        return None
    w = split.canary_share if split is not None and 0 < split.canary_share < 1 else 0.5
    variance = (1 - base_rate) / base_rate * (1 + w / (1 - w))
    return math.ceil(variance * (_Z_POWER_SUM(alpha) / math.log1p(margin)) ** 2)


def _ceiling_tests(what: str, events_pass: int, events_fail: int, n: int, ceiling: float,
                   share: float, memory: GateMemory,
                   new_memory: dict[str, SequentialState], alpha: float,
                   prefix: str = "ceiling", n_pass: int | None = None) -> list[_Test]:
    """The share of events ≤ ``share`` tested with the anytime-valid binomial test: a pass count
    and a fail count let a histogram bucket below/above the ceiling be used for each side
    (``n_pass``: the pass side's own trials, when it judges other units than the fail's)."""
    out = []
    for key, events, trials, side in ((f"{prefix}Pass", events_pass,
                                       n if n_pass is None else n_pass, "pass"),
                                      (f"{prefix}Fail", events_fail, n, "fail")):
        _, new_memory[key] = proportion_bound_test(events, trials, share, alpha=alpha,
                                                   state=memory.get(key))
        st = new_memory[key]
        out.append(_Test(f"{what} ≤ {ceiling:.4g}", st.p_pass, st.p_fail,
                         can_pass=side == "pass", can_fail=side == "fail",
                         fails=f"{what} > {ceiling:.4g}"))
    return out


# -- evaluators --------------------------------------------------------------------------------


#: The latency gate judges p95: a request above the bound counts as slow, at most 5 % may be.
_SLOW_SHARE = 0.05
#: The latency comparison's memory: slow-share ratio at the stable's frozen p95 (its
#: ``reference``); with an absolute margin, its Fail side only, and the Pass side's at the
#: stable's p95 + margin in ``_SLOW_MARGIN``.
_SLOW_RATIO, _SLOW_MARGIN = "slowRatio", "slowRatioMargin"


def _canary_alone(split: SplitCounts | None) -> bool:
    """A step at weight 100 (``split.canary_share`` 1): the errorRate and latency gates leave
    the stable's side of their measurement out and judge the canary on ``max`` alone (the
    CRD's rule for such a step). The step's window starts before its 100/0 split reached the
    router, so the stable served some of its first requests; compared with those few, the gate
    could never pass. The collector leaves them out already (``services.measurements``); this
    holds for any measurement."""
    return split is not None and split.canary_share >= 1


def _latency(gate: GateSpecBase, m: LatencyMeasurement, memory: GateMemory) -> _Judged:
    if _canary_alone(m.split):
        m = replace(m, stable_p95_seconds=None, stable_requests=0, stable_buckets=())
    value, n = m.canary_p95_seconds, m.canary_requests
    shown = value if math.isfinite(value) else None
    if not m.bucket_bounds or not m.canary_buckets or n == 0:
        return _Judged(GateVerdict.INCONCLUSIVE, "no canary latency histogram yet", samples=n)
    if n < gate.min_samples:
        return _Judged(GateVerdict.INCONCLUSIVE, f"canary p95 {_s(value)} from only {n} requests "
                                                 f"(minSamples {gate.min_samples})",
                       value=shown, samples=n)
    bounds, canary = m.bucket_bounds, m.canary_buckets
    new_memory = dict(memory)
    srm, split_within = _traffic_srm(m.split, memory, new_memory)
    if srm is not None:
        return _Judged(GateVerdict.ERROR, srm, value=shown, samples=n, memory=new_memory,
                       holds=True)
    tests: list[_Test] = []
    ceiling: list[_Test] = []
    threshold: float | None = None
    design: int | None = None
    unmeasurable: str | None = None  # why the comparison with the stable can never pass
    previous = memory.get(_SLOW_RATIO)
    frozen = previous.reference if previous is not None else math.nan
    # The slow threshold is the bucket the stable's p95 falls in over its bucket counts since
    # the step started, the counts the comparison reads: never the template's p95 over the
    # last interval, NaN whenever that interval holds fewer than two scrapes (an
    # analysisInterval at or below the scrape interval: every look), which left the
    # comparison out and the gate passing on ``max`` alone.
    comparable = bool(m.stable_buckets) and m.stable_requests >= gate.min_samples
    if comparable:
        # Slow = above the stable's p95, frozen at the version's first comparable look so the
        # counts of later looks and steps measure one fixed event.
        if not math.isfinite(frozen):
            frozen = _bucket_at_or_above(
                bounds, bucket_quantile(1 - _SLOW_SHARE, bounds, m.stable_buckets))
        index = bounds.index(frozen) if frozen in bounds else len(bounds) - 1
        state = previous or SequentialState()
        if not math.isfinite(state.reference):
            state = replace(state, reference=frozen)
        margin, kind = margin_of(gate)
        stable_slow = _above(m.stable_buckets, index)
        canary_slow = _above(canary, index)
        if kind == "relative":  # an absolute margin moves the threshold: no one base rate
            design = _ratio_design_samples(stable_slow / m.stable_requests, margin, gate.alpha,
                                           m.split)
        if not math.isfinite(frozen):
            shown_p95 = (f" ({_s(m.stable_p95_seconds)})" if m.stable_p95_seconds is not None
                         and math.isfinite(m.stable_p95_seconds) else "")
            unmeasurable = (f"the stable's p95{shown_p95} is above the "
                            f"histogram's largest finite bucket ({_top_bucket(bounds)}): no "
                            "request can be counted as slower than it")
        elif stable_slow + canary_slow == 0 and (previous is None or previous.looks == 0):
            # A coarse histogram: nothing above the stable's p95 bucket on either side yet, so
            # no ratio to test; the canary passes by showing its p95 within that bucket.
            new_memory[_SLOW_RATIO] = state
            tests += _ceiling_tests(f"canary p95 within the stable's ({frozen:.4g}s)", 0, 0, n,
                                    frozen, _SLOW_SHARE, memory, new_memory, gate.alpha,
                                    prefix="withinStable")[:1]
        else:
            test, _ = _ratio_tests(
                gate, f"requests slower than {frozen:.4g}s", stable_slow, m.stable_requests,
                canary_slow, n, margin if kind == "relative" else 0.0, _SLOW_RATIO,
                {**memory, _SLOW_RATIO: state}, new_memory)
            if kind == "relative":
                tests.append(test)
            else:
                # Fail shows harm beyond zero, as a relative margin's: the canary's share above
                # the stable's own threshold above the stable's. Pass shows the canary's share
                # above the stable's p95 + margin (at a bucket) below the stable's share above
                # its p95, i.e. the canary's p95 within the margin.
                tests.append(replace(test, can_pass=False, passing_differs=False))
                passing, unmeasurable = _latency_within_absolute(
                    gate, m, frozen, margin, stable_slow, memory, new_memory)
                tests += _needed(passing)
                if passing is not None:
                    threshold = _bucket_at_or_above(bounds, frozen + margin)
        threshold = frozen if threshold is None else threshold
    if gate.max is not None:
        below = [b for b in bounds if b <= gate.max]
        above = _bucket_at_or_above(bounds, gate.max)
        events_pass = _above(canary, bounds.index(below[-1])) if below else canary[-1]
        events_fail = _above(canary, bounds.index(above))
        ceiling = _ceiling_tests("canary p95", events_pass if below else n, events_fail, n,
                                 gate.max, _SLOW_SHARE, memory, new_memory, gate.alpha)
        tests += ceiling
        threshold = gate.max if threshold is None else threshold
    if not tests and unmeasurable is None:
        return _Judged(GateVerdict.INCONCLUSIVE,
                       f"canary p95 {_s(value)}, but {_no_stable(gate, m)} to compare with and "
                       "no max", value=shown, samples=n, memory=new_memory)
    verdict, why = _rule(tests + _needed(split_within), gate.alpha)
    if verdict is GateVerdict.PASS and not comparable and not _canary_alone(m.split):
        # ``max`` alone passes a step of weight 100 only: while the stable serves (or the
        # split is not known), a canary far slower than it but under ``max`` is no Pass.
        verdict = GateVerdict.INCONCLUSIVE
        why = (f"{_no_stable(gate, m)} to compare with, and max alone passes only a step of "
               f"weight 100 ({why})")
    failed = _failed(tests, gate.alpha) if verdict is GateVerdict.FAIL else None
    if failed is not None and failed in ceiling:
        threshold = gate.max  # the bound the Fail showed the p95 above
    elif failed is not None:
        threshold = frozen  # the harm shown is above the stable's own threshold
    elif unmeasurable is not None:
        # Whatever the other tests show, the comparison the gate asks for can never pass.
        verdict = GateVerdict.INCONCLUSIVE
        why = f"{unmeasurable}, so the comparison with the stable cannot pass"
        for t in tests:
            if t.can_fail and t not in ceiling:
                why += f"; harm ({t.fails}) not shown yet (p = {t.p_fail:.3g})"
    if m.stable_p95_seconds is not None and math.isinf(m.stable_p95_seconds):
        stable = f" vs stable above {_top_bucket(bounds).split(' of ')[0]}"
    elif m.stable_p95_seconds is not None:
        stable = f" vs stable {_s(m.stable_p95_seconds)}"
    elif comparable:
        stable = f" (stable's slow threshold {_s(frozen)}, from its bucket counts)"
    else:
        stable = ""
    return _Judged(verdict, f"canary p95 {_s(value)}{stable}: {why}", value=shown,
                   threshold=threshold, samples=n, memory=new_memory, design_samples=design)


def _latency_within_absolute(gate: GateSpecBase, m: LatencyMeasurement, frozen: float,
                             margin: float, stable_slow: int, memory: GateMemory,
                             new_memory: dict[str, SequentialState]
                             ) -> tuple[_Test | None, str | None]:
    """An absolute latency margin's Pass side: the canary's share of requests above the bucket
    at or above the stable's p95 + ``margin`` shown below the stable's share above its p95
    (``frozen``), a rate-ratio test's pass side (its Fail side is the harm test's). None and
    why when that bucket is +Inf: no request can be counted above it, so the canary's slow
    count would be 0 by construction and any canary would pass."""
    bounds, canary = m.bucket_bounds, m.canary_buckets
    at = _bucket_at_or_above(bounds, frozen + margin)
    if not math.isfinite(at):
        return None, (f"the canary's slow threshold, the stable's p95 {frozen:.4g}s + margin "
                      f"{margin:.4g}s = {frozen + margin:.4g}s, is above the histogram's largest "
                      f"finite bucket ({_top_bucket(bounds)}): no canary request can be counted "
                      "as slower than it (add a bucket at or above it to the histogram, or use "
                      "a relative margin)")
    canary_slow = _above(canary, bounds.index(at))
    _, new_memory[_SLOW_MARGIN] = rate_ratio_test(
        stable_slow, canary_slow, control_exposure=m.stable_requests,
        treatment_exposure=m.canary_requests, margin=0.0, alpha=gate.alpha, min_events=1,
        state=memory.get(_SLOW_MARGIN))
    state = new_memory[_SLOW_MARGIN]
    return _Test(f"canary requests slower than {at:.4g}s (the stable's p95 {frozen:.4g}s + "
                 f"margin {margin:.4g}s, at a bucket) fewer than the stable's slower than "
                 f"{frozen:.4g}s", state.p_pass, state.p_fail, can_fail=False), None


def _above(cumulative: tuple[int, ...], index: int) -> int:
    """The requests above bucket ``index`` of a cumulative histogram: the total (its +Inf
    bucket) less that bucket's count, within [0, total]. The collector repairs bucket counts
    that are not monotone (``services.measurements``: each ``le`` series' increase is
    extrapolated on its own, so a lower bucket can read above +Inf); a measurement that still
    holds one must not reach the tests as a negative count (an Error, "invalid measurement")."""
    total = cumulative[-1]
    return min(max(total - cumulative[index], 0), max(total, 0))


def _top_bucket(bounds: tuple[float, ...]) -> str:
    finite = [b for b in bounds if math.isfinite(b)]
    return f"{finite[-1]:.4g}s of le {', '.join(f'{b:.4g}' for b in finite)}" if finite else (
        "the histogram has none")


def _no_stable(gate: GateSpecBase, m: LatencyMeasurement) -> str:
    """Why the canary has no stable to compare with."""
    if not m.stable_buckets or m.stable_requests == 0:
        return "no stable p95 (no stable requests)"
    return (f"no stable p95 from ≥ {gate.min_samples} requests (only "
            f"{m.stable_requests})")


def _bucket_at_or_above(bounds: tuple[float, ...], x: float) -> float:
    return next((b for b in bounds if b >= x), bounds[-1])


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None or not math.isfinite(seconds) else f"{seconds:.4g}s"


def _error_rate(gate: GateSpecBase, m: ErrorRateMeasurement, memory: GateMemory) -> _Judged:
    if _canary_alone(m.split):
        m = replace(m, stable_errors=0, stable_requests=0)
    for who, errors, requests in (("canary", m.canary_errors, m.canary_requests),
                                  ("stable", m.stable_errors, m.stable_requests)):
        if not 0 <= errors <= requests:
            raise ValueError(f"{who}: need 0 ≤ errors ≤ requests, got {errors}/{requests}")
    n = m.canary_requests
    if n == 0:
        return _Judged(GateVerdict.INCONCLUSIVE, "no canary requests yet", samples=0)
    rate = m.canary_errors / n
    rates = f"canary {m.canary_errors}/{n} errors"
    new_memory = dict(memory)
    srm, split_within = _traffic_srm(m.split, memory, new_memory)
    if srm is not None:
        return _Judged(GateVerdict.ERROR, srm, value=rate, samples=n, memory=new_memory,
                       holds=True)
    tests: list[_Test] = []
    value, lower, upper, threshold = rate, None, None, gate.max
    design: int | None = None
    ratio: _Test | None = None
    unconverted: str | None = None  # why the ratio's Pass side is left out
    if m.stable_requests > 0:
        rates += f" vs stable {m.stable_errors}/{m.stable_requests}"
        margin, kind = margin_of(gate)
        if kind == "absolute":
            # The rate-ratio test has a relative null; convert with the stable rate (plug-in).
            stable_rate = m.stable_errors / m.stable_requests
            if stable_rate == 0:
                unconverted = ("the comparison with the stable tests harm only until the "
                               f"stable has errors (the absolute margin {margin:.4g} is "
                               "converted to a rate ratio with the stable's error rate)")
            margin = margin / stable_rate if stable_rate > 0 else math.inf
        if m.stable_errors + m.canary_errors > 0:
            # Fail (harm beyond zero: ratio > 1) does not depend on the margin, so it is tested
            # even when the margin cannot be converted; only the Pass side is left out then.
            test, result = _ratio_tests(gate, "error-rate", m.stable_errors, m.stable_requests,
                                        m.canary_errors, n, margin if math.isfinite(margin)
                                        else 0.0, "rateRatio", memory, new_memory)
            if unconverted is not None:
                test = replace(test, can_pass=False, passing_differs=False)
            tests.append(test)
            ratio = test
            value, lower, upper, threshold = (result.estimate, result.lower, result.upper,
                                              1 + margin if unconverted is None else 1.0)
        design = _ratio_design_samples(m.stable_errors / m.stable_requests, margin, gate.alpha,
                                       m.split)
    if gate.max is not None:
        tests += _ceiling_tests("canary error rate", m.canary_errors, m.canary_errors, n,
                                gate.max, gate.max, memory, new_memory, gate.alpha)
    if not tests:
        why = ("no errors on either side yet: a ratio needs errors to compare; set max (an "
               "error-rate ceiling) to let an error-free canary pass" if m.stable_requests else
               "no stable requests to compare with; set max (an error-rate ceiling) to let the "
               "canary pass without them")
        return _Judged(GateVerdict.INCONCLUSIVE, f"{rates}: {why}", value=rate, samples=n,
                       memory=new_memory, design_samples=design)
    verdict, why = _rule(tests + _needed(split_within), gate.alpha)
    if unconverted is not None and ratio is not None and verdict is not GateVerdict.FAIL:
        shown = f"{unconverted}: harm ({ratio.fails}) not shown yet (p = {ratio.p_fail:.3g})"
        why = shown if gate.max is None else f"{why}; {shown}"
        if gate.max is not None:  # only max can pass: its value and bound are the ones to read
            value, lower, upper, threshold = rate, None, None, gate.max
    if verdict is GateVerdict.PASS and n < gate.min_samples:
        verdict, why = GateVerdict.INCONCLUSIVE, f"{n} of {gate.min_samples} canary requests needed"
    if verdict is GateVerdict.FAIL:
        # A Fail reports the boundary its test showed the value beyond: the ratio's 1 (not the
        # pass boundary 1 + margin, which a failing ratio may lie below), or the max ceiling.
        failed = _failed(tests, gate.alpha)
        if failed is ratio:
            threshold = 1.0
        elif gate.max is not None:
            value, lower, upper, threshold = rate, None, None, gate.max
    return _Judged(verdict, f"{rates}: {why}", value=value, lower=lower, upper=upper,
                   threshold=threshold, samples=n, memory=new_memory, design_samples=design)


def _drift(gate: GateSpecBase, m: DriftMeasurement, memory: GateMemory) -> _Judged:
    names = list(gate.features) if gate.features else sorted(m.features)
    if not names:
        return _Judged(GateVerdict.INCONCLUSIVE, "no feature histograms measured")
    unmeasured = [name for name in names if name not in m.features]
    if unmeasured:
        return _Judged(GateVerdict.INCONCLUSIVE, f"no histograms for {', '.join(unmeasured)}")
    bound = gate.max if gate.max is not None else DEFAULT_PSI_FLOOR
    # As ``_rule``: Fail needs one feature's drift shown, at α split over the features
    # (Bonferroni); Pass needs every feature's absence of drift shown, each at α (a false pass
    # needs the drifted feature's own upper bound wrong). Each feature's α for Fail is split
    # again between its betting evidence (most) and its confidence set's lower bound, which
    # alone can show drift at the first look. Everything holds at every look.
    fail_level = gate.alpha / len(names)
    bet_level, set_level = (1 - _DRIFT_SET_SHARE) * fail_level, _DRIFT_SET_SHARE * fail_level
    bins = max(len(m.features[name].reference) for name in names)
    design = gate.expected_samples or drift_design_samples(bound, bins, gate.alpha, len(names))
    fail_design = gate.expected_samples or drift_fail_samples(bound, bins, set_level)
    bounds = {name: psi_bounds(m.features[name].reference, m.features[name].live,
                               alpha=gate.alpha, alpha_lower=set_level, n_star=float(design),
                               n_star_lower=float(fail_design))
              for name in names}
    # Only the features within the memory budget bet (``_drift_betting``); the others keep no
    # memory and show drift by their lower bound alone (evidence 1: no bet; power lost, never
    # validity). A state left by a feature that does not bet is dropped: its test stops.
    betting = _drift_betting(names, m)
    bets = {name: _drift_evidence(m.features[name], bound, memory.get(_DRIFT_KEY + name))
            for name in betting}
    evidence = {name: bets[name][0] if name in bets else 1.0 for name in names}
    new_memory = {_DRIFT_KEY + name: state for name, (_, state) in bets.items()}
    samples = min(sum(m.features[name].live) for name in names)
    common: dict[str, Any] = {"samples": samples, "design_samples": design, "threshold": bound,
                              "memory": new_memory}
    need = 1.0 / bet_level
    shown = sorted((k for k in names if bounds[k][1] > bound or evidence[k] >= need),
                   key=lambda k: (-evidence[k], -bounds[k][1]))
    if shown:
        name = shown[0]
        value, low, high = bounds[name]
        how = (f"betting evidence {evidence[name]:.3g} ≥ {need:.3g}" if evidence[name] >= need
               else f"lower bound {low:.4g} > {bound:.4g}")
        also = f" (also {', '.join(shown[1:])})" if shown[1:] else ""
        return _Judged(GateVerdict.FAIL,
                       f"{_named(name)}: PSI {value:.4g}, {how}: drift shown{also}",
                       value=value, lower=low, upper=high, **common)
    widest = max(bounds, key=lambda k: bounds[k][2])
    value, low, high = bounds[widest]
    if high <= bound and samples >= gate.min_samples:
        return _Judged(GateVerdict.PASS, f"no drift in {len(names)} features: every PSI upper "
                                         f"bound ≤ {bound:.4g} (largest {widest} {high:.4g})",
                       value=value, lower=low, upper=high, **common)
    strongest = max(names, key=lambda k: evidence[k])
    unbet = len(names) - len(betting)
    alone = (f"; {unbet} of {len(names)} features by their bounds alone, past the memory "
             f"budget or {MAX_STATE_COUNTS} bins" if unbet else "")
    return _Judged(GateVerdict.INCONCLUSIVE, f"{_named(widest)}: PSI {value:.4g} in "
                                             f"[{low:.4g}, {high:.4g}], bound {bound:.4g}: not "
                                             f"shown yet ({samples} live samples; drift "
                                             f"evidence {evidence[strongest]:.3g} of "
                                             f"{need:.3g} needed, {strongest}{alone})",
                   value=value, lower=low, upper=high, **common)


#: Memory key prefix of one feature's betting evidence (``stats.drift.psi_drift_evidence``).
_DRIFT_KEY = "drift:"
#: etcd's default limit on one stored object (``--max-request-bytes``, 1.5 MiB): a status
#: patch making the object larger fails, at every pass.
_ETCD_OBJECT_BYTES = 3 * 2**20 // 2
#: Most gates a spec lists (both kinds' ``gates``, ``StatusBase.gates``), all of them drift
#: gates at worst.
_MAX_GATES = 16
#: Bytes of JSON one drift gate's memory (``status.gates[].sequentialState``) may take: half of
#: etcd's object limit shared by 16 drift gates (48 KiB), the other half left for the spec, the
#: metadata and the rest of the status. Without it one gate on 1024 features of 256 bins
#: (128-character names) wrote 1.9 MiB, on 1024 features of 10 bins 265 KiB (docs/statistics.md
#: §8). Changing it changes which features bet (``_drift_betting``).
DRIFT_MEMORY_BUDGET = _ETCD_OBJECT_BYTES // 2 // _MAX_GATES
#: Most JSON bytes of one drift feature's state but its key and counts: ``looks`` (10 digits),
#: ``pPass``, ``pFail``, ``carriedLogFail`` and ``logFail`` (24 characters each, the longest
#: float), the punctuation (a unit test builds the longest one).
_DRIFT_STATE_BYTES = 192
#: Most JSON bytes of one kept count: 11 digits and a comma (fewer than 10^11 rows in one bin
#: since the canary started: a thousand a second for three years).
_DRIFT_COUNT_BYTES = 12
#: Share of a feature's Fail α given to its confidence set's lower bound; the rest goes to the
#: betting evidence, which shows moderate drift with fewer rows (docs/statistics.md §5) but
#: cannot bet before it has seen rows.
_DRIFT_SET_SHARE = 0.1
#: The smallest p-value (1 / the largest evidence) a drift feature's betting keeps: the evidence
#: stays finite however long drift goes on (the e-process's log keeps growing; only its
#: reported value stops at 1e300).
_MIN_DRIFT_P = 1e-300


def _drift_betting(names: list[str], m: DriftMeasurement) -> frozenset[str]:
    """The features whose betting evidence the gate keeps, in the gate's order (``features``
    as listed, else by name): each of at most ``MAX_STATE_COUNTS`` bins whose state, counts
    included, fits in what is left of ``DRIFT_MEMORY_BUDGET`` (``_drift_state_bytes``, an
    upper bound). The bins are the version's reference's, so the choice is the same at every
    look of the gate's evidence (a new version or new settings start it afresh): a feature
    bets at every look or at none, and one that never bets shows drift by its confidence set's
    lower bound alone, at the level it has anyway. Dropping a bet loses power, never validity:
    a look without a bet multiplies the wealth by 1."""
    left = DRIFT_MEMORY_BUDGET
    kept = []
    for name in names:
        bins = len(m.features[name].reference)
        cost = _drift_state_bytes(name, bins)
        if bins <= MAX_STATE_COUNTS and cost <= left:
            kept.append(name)
            left -= cost
    return frozenset(kept)


def _drift_state_bytes(name: str, bins: int) -> int:
    """Most JSON bytes the memory of feature ``name`` with ``bins`` kept counts takes: its key
    (escaped, at least its UTF-8), the state's fields and the counts at their longest."""
    return len(json.dumps(_DRIFT_KEY + name)) + _DRIFT_STATE_BYTES + bins * _DRIFT_COUNT_BYTES


def _drift_evidence(histogram: FeatureHistogram, bound: float,
                    state: SequentialState | None) -> tuple[float, SequentialState]:
    """The feature's betting evidence against "PSI ≤ bound" so far (its running maximum), the
    bet on the rows since the last look added, and the state to remember (with this look's
    counts; a betting feature has at most ``MAX_STATE_COUNTS`` bins, ``_drift_betting``)."""
    state = state or SequentialState()
    live = tuple(int(c) for c in histogram.live)
    previous = state.counts if len(state.counts) == len(live) else ()
    step = psi_drift_evidence(histogram.reference, previous, live, bound) if previous else 0.0
    log_fail = state.log_fail + step
    total = state.carried_log_fail + log_fail
    # Floored at _MIN_DRIFT_P: past ~745 the log-evidence's exp(−total) underflows to 0 (after
    # ~28 minutes of moderate drift at 600 rows a minute, for a gate still measured after its
    # Fail) and 1/p_fail divided by zero. Evidence is capped at 1e300, far past any 1/α, so no
    # decision moves.
    p_fail = max(min(state.p_fail, math.exp(-total) if total > 0 else 1.0), _MIN_DRIFT_P)
    # Counts read from Prometheus's increase() wobble: a bin that went down keeps its highest
    # count, so rows already bet on are not bet on again.
    seen = tuple(max(a, b) for a, b in zip(previous, live, strict=True)) if previous else live
    remembered = replace(state, looks=state.looks + 1, log_fail=log_fail, p_fail=p_fail,
                         counts=seen)
    return 1.0 / p_fail, remembered


def drift_design_samples(bound: float, bins: int, alpha: float, features: int = 1) -> int:
    """Live rows at which ``features`` features without drift are expected to show, all of
    them, their PSI below ``bound``.

    With no drift n·PSÎ ≈ χ²_{B−1}, and the PSI's upper bound is about (√PSÎ + √R)² with n·R
    the Pearson radius (``stats.drift.pearson_radius``) at its narrowest (n = n*): the n where
    that reaches ``bound`` for the median of the largest of ``features`` such χ² (14.9 for
    seven features of 10 bins, 8.3 for one). The drift gate's mixture is tuned to it unless
    ``expectedSamples`` is set (the bounds change little with the tuning point around it).
    """
    if not bound > 0 or bins < 2:
        return DEFAULT_DRIFT_SAMPLES
    dims = bins - 1
    radius = pearson_radius(1.0, alpha=alpha, dims=dims, n_star=1.0)  # n·R at n = n*
    largest = _chi2_quantile(0.5 ** (1.0 / max(features, 1)), dims)
    return math.ceil((math.sqrt(largest) + math.sqrt(radius)) ** 2 / bound)


def _sd_upper_factor(n: int, level: float) -> float:
    """√((n − 1)/χ²_{level}(n − 1)): the factor that takes a sample sd on ``n`` normal
    observations to its upper confidence bound at ``level`` (inf below 2 observations). Exact
    (the regularised lower incomplete gamma by its series, bisected) below 30 df, where
    Wilson–Hilferty is off; Wilson–Hilferty above (scipy stays unloaded)."""
    df = n - 1
    if df < 1:
        return math.inf
    if df >= 30:
        return math.sqrt(df / _chi2_quantile(level, df))
    a = df / 2.0

    def cdf(x: float) -> float:  # P(χ²_df ≤ x) = P(a, x/2)
        y = x / 2.0
        term = total = 1.0 / a
        i = 1
        while term > total * 1e-15:
            term *= y / (a + i)
            total += term
            i += 1
        return math.exp(-y + a * math.log(y) - math.lgamma(a)) * total

    lo, hi = 0.0, float(df)
    for _ in range(100):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if cdf(mid) < level else (lo, mid)
    return math.sqrt(df / hi)


def _chi2_quantile(p: float, dims: int) -> float:
    """χ²_dims quantile by Wilson–Hilferty (within 1 % for dims ≥ 3; scipy stays unloaded)."""
    z = NormalDist().inv_cdf(p)
    k = 2.0 / (9.0 * dims)
    return dims * (1.0 - k + z * math.sqrt(k)) ** 3


def drift_fail_samples(bound: float, bins: int, alpha: float) -> int:
    """Live rows at which a feature drifted to twice ``bound`` is expected to show its PSI above
    ``bound``: the lower bound is about (√PSÎ − √R)² with PSÎ ≈ 2·bound + (B − 1)/n (the
    estimate's bias) and n·R the Pearson radius at n = n*; the n where that reaches ``bound``.
    The lower bounds' mixture is tuned to it (each bound holds on its own at α), 2.2–2.4 ×
    ``drift_design_samples``: shown drift needs more rows than shown absence, and a mixture
    tuned there narrows the lower bound where it decides (docs/statistics.md §5).
    """
    if not bound > 0 or bins < 2:
        return DEFAULT_DRIFT_SAMPLES
    dims = bins - 1
    radius = pearson_radius(1.0, alpha=alpha, dims=dims, n_star=1.0)  # n·R at n = n*
    n = radius / (bound * (math.sqrt(2.0) - 1.0) ** 2)
    for _ in range(50):  # fixed point of n = n·R / (√(2·bound + d/n) − √bound)²
        n = radius / (math.sqrt(2.0 * bound + dims / n) - math.sqrt(bound)) ** 2
    return math.ceil(n)


def _qini(gate: GateSpecBase, m: QiniMeasurement, _: GateMemory) -> _Judged:
    names = list(gate.treatments) if gate.treatments else sorted(m.canary)
    if not names:
        return _Judged(GateVerdict.INCONCLUSIVE, "the canary's run logged no Qini")
    # Pass needs every treatment's tests shown (no correction); Fail needs one of the Fail
    # tests that can fail, over every treatment: α split over all of them (Bonferroni), each
    # treatment's α/T over its own (``_qini_fail_tests``).
    fail_alphas = {name: gate.alpha / len(names) / _qini_fail_tests(gate, name, m)
                   for name in names}
    judged = _worst_of([_qini_one(gate, name, m, fail_alphas[name]) for name in names])
    short = _too_few_replicates(_qini_replicates(names, m), gate.alpha,
                                min(fail_alphas.values()))
    # First, so that the message's clipping (many treatments) keeps it.
    return replace(judged, message=f"{short}; {judged.message}") if short else judged


def _qini_fail_tests(gate: GateSpecBase, name: str, m: QiniMeasurement) -> int:
    """How many tests can Fail treatment ``name``: the canary's upper bound below ``min`` (the
    floor, always), its lower bound above ``max`` (leakage; when set), and the paired
    difference's upper bound below 0 (when the stable logged replicates on the same evaluation
    set). Each runs at the treatment's α/T over this many, so a version at the floor and equal
    to the stable is failed with probability ≤ α in all; at α/T each, as before, it was up to
    2α, 3α with ``max``."""
    c, s = m.canary.get(name), m.stable.get(name)
    paired = (c is not None and s is not None and bool(s.replicates)
              and c.evaluation_set is not None and c.evaluation_set == s.evaluation_set)
    return 1 + (gate.max is not None) + paired


def _qini_replicates(names: list[str], m: QiniMeasurement) -> int | None:
    """The fewest replicates a bound of the treatments ``names`` is read off: the finite
    canary − stable pairs where the two share an evaluation set, else the canary's finite
    replicates; None when no treatment logged any."""
    counts = []
    for name in names:
        c, s = m.canary.get(name), m.stable.get(name)
        if c is None or not c.replicates:
            continue
        if (s is not None and s.replicates and c.evaluation_set is not None
                and c.evaluation_set == s.evaluation_set):
            counts.append(sum(math.isfinite(a) and math.isfinite(b)
                              for a, b in zip(c.replicates, s.replicates, strict=False)))
        else:
            counts.append(sum(math.isfinite(a) for a in c.replicates))
    return min(counts) if counts else None


def _qini_one(gate: GateSpecBase, name: str, m: QiniMeasurement, fail_alpha: float) -> _Judged:
    c = m.canary.get(name)
    if c is None:
        return _Judged(GateVerdict.INCONCLUSIVE, f"{_named(name)}: no Qini logged")

    def judged(verdict: GateVerdict, message: str, threshold: float | None = None,
               lower: float | None = None, upper: float | None = None) -> _Judged:
        return _Judged(verdict, f"{_named(name)}: {message}", value=c.estimate, lower=lower,
                       upper=upper, threshold=threshold, samples=c.samples)

    if c.samples is not None and c.samples < gate.min_samples:
        return judged(GateVerdict.INCONCLUSIVE,
                      f"Qini from only {c.samples} rows (minSamples {gate.min_samples})")
    if not c.replicates:
        return judged(GateVerdict.INCONCLUSIVE, "the canary's run logged no bootstrap "
                                                "replicates (reference/qini_bootstrap.json); "
                                                "retrain it with this operator's trainer")
    floor = gate.min if gate.min is not None else DEFAULT_QINI_FLOOR
    low, _ = one_sided_bounds(c.replicates, alpha=gate.alpha, exact=True)
    fail_low, high = one_sided_bounds(c.replicates, alpha=fail_alpha, exact=True)
    if high < floor:
        return judged(GateVerdict.FAIL, f"Qini {c.estimate:.4g}, upper bound {high:.4g} < "
                                        f"{floor:.4g}: no better than a random ranking",
                      floor, low, high)
    if gate.max is not None and fail_low > gate.max:
        return judged(GateVerdict.FAIL, f"Qini {c.estimate:.4g}, lower bound {fail_low:.4g} > "
                                        f"max {gate.max:.4g} (leakage?)", gate.max, fail_low,
                      high)
    s = m.stable.get(name)
    floor_shown = low > floor
    if s is None or not s.replicates:
        verdict = GateVerdict.PASS if floor_shown else GateVerdict.INCONCLUSIVE
        return judged(verdict, f"Qini {c.estimate:.4g}, lower bound {low:.4g} vs {floor:.4g} "
                               "(no stable replicates to compare with)", floor, low, high)
    if c.evaluation_set is None or c.evaluation_set != s.evaluation_set:
        return judged(GateVerdict.INCONCLUSIVE, "canary and stable were evaluated on different "
                                                "sets; their Qinis cannot be paired", floor,
                      low, high)
    margin, kind = margin_of(gate)
    allowed = margin * abs(s.estimate) if kind == "relative" else margin
    diff, d_low, _, _ = paired_difference_bounds(c.replicates, s.replicates, alpha=gate.alpha,
                                                 exact=True)
    _, _, d_high, pairs = paired_difference_bounds(c.replicates, s.replicates, alpha=fail_alpha,
                                                   exact=True)
    what = (f"Qini {c.estimate:.4g} vs stable {s.estimate:.4g}: paired difference {diff:+.4g} "
            f"in [{d_low:+.4g}, {d_high:+.4g}] over {pairs} resamples")
    design = _qini_design_rows(gate, c, s, allowed)
    if d_high < 0:
        return _Judged(GateVerdict.FAIL, f"{_named(name)}: {what}: worse than stable", value=diff,
                       lower=d_low, upper=d_high, threshold=0.0, samples=c.samples,
                       design_samples=design)
    verdict = (GateVerdict.PASS if d_low > -allowed and floor_shown
               else GateVerdict.INCONCLUSIVE)
    why = (f"no worse than stable − {allowed:.4g}" if verdict is GateVerdict.PASS else
           f"not shown no worse than stable − {allowed:.4g} and above {floor:.4g}")
    if verdict is GateVerdict.INCONCLUSIVE and design and c.samples and design > c.samples:
        # Offline, another look brings no new rows: say what would decide it.
        why += (f"; the evaluation set has {c.samples} rows, this margin needs ≈ {design} "
                "(80 % power): evaluate both versions on a larger set or widen the margin")
    return _Judged(verdict, f"{_named(name)}: {what}: {why}", value=diff, lower=d_low, upper=d_high,
                   threshold=-allowed, samples=c.samples, design_samples=design)


def _too_few_replicates(replicates: int | None, alpha: float, fail_alpha: float) -> str:
    """What the qini gate cannot show from ``replicates`` bootstrap replicates ("" when
    nothing): a percentile bound at level α needs α(B + 1) ≥ 1
    (``stats.uplift.percentile_replicates_needed``), else it is unbounded. The Fail level is
    α over the treatments judged and each one's Fail tests (``_qini_fail_tests``): the
    trainer's default 600 replicates give it for up to 30 such tests at α = 0.05 (10
    treatments with ``max`` and paired with the stable); past that harm cannot be shown,
    only no Pass."""
    need_pass = percentile_replicates_needed(alpha)
    need_fail = percentile_replicates_needed(fail_alpha)
    if replicates is None or replicates >= need_fail:
        return ""
    retrain = "retrain both versions with more bootstrap resamples (the trainer's --n-bootstrap)"
    if replicates < need_pass:
        return (f"{replicates} bootstrap replicates show nothing at alpha {alpha:.3g} (a "
                f"percentile bound at it needs ≥ {need_pass}, at the Fail level {fail_alpha:.3g} "
                f"≥ {need_fail}): {retrain}")
    return (f"harm cannot be shown at the Fail level {fail_alpha:.3g} (alpha over the "
            f"treatments judged and their Fail tests) from {replicates} bootstrap replicates, it needs ≥ "
            f"{need_fail}: {retrain}")


def _qini_design_rows(gate: GateSpecBase, canary: QiniEstimate, stable: QiniEstimate,
                      allowed: float) -> int | None:
    """Evaluation rows at which equal models pass at 80 % power: the paired difference's
    bootstrap SE shrinks as 1/√rows, so rows·(z₁₋α + z₀.₈)²·SE²/margin². None when the set's
    size or the margin is unknown (``expectedSamples`` when set)."""
    if gate.expected_samples:
        return gate.expected_samples
    if not canary.samples or not allowed > 0 or not canary.replicates or not stable.replicates:
        return None
    pairs = [a - b for a, b in zip(canary.replicates, stable.replicates, strict=False)
             if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 2:
        return None
    se = statistics.stdev(pairs)
    return math.ceil(canary.samples * (_Z_POWER_SUM(gate.alpha) * se / allowed) ** 2)


#: The memory key of the test that the canary's holdout share is within tolerance.
_HOLDOUT_WITHIN = "holdoutWithin"


def _holdout_within(counts: tuple[int, int], h: float, split: SplitCounts | None,
                    memory: GateMemory, new_memory: dict[str, SequentialState]) -> _Test | None:
    """On the step whose Pass promotes, the test that Pass also needs: the canary's holdout
    share (``counts``: treated, holdout units) shown within ``holdout_tolerance`` of
    ``holdoutFraction``, as the traffic split's (``_traffic_srm``). Without it a canary whose
    effect test decides on fewer units than the SRM check needs to see a 52/48 holdout could be
    promoted unflagged (the general gate bench: 24–44 % of runs with rare conversions or wide
    margins). The evidence runs at every analysis and, unlike the split's, is carried across
    steps in full: the holdout fraction is the same at every step, so an earlier step's units
    show the same share (``split_within_test(restart=False)``; a changed tolerance starts it
    afresh, ``_within_state``)."""
    if split is None:
        return None
    return _holdout_within_test(counts, h, split.tolerance, split.promotes,
                                "the canary's holdout", memory, new_memory)


def _holdout_within_test(counts: tuple[int, int], h: float, split_tolerance: float,
                         decides: bool, what: str, memory: GateMemory,
                         new_memory: dict[str, SequentialState]) -> _Test | None:
    """The within-tolerance test of a holdout share (``counts``: treated, holdout units), its
    evidence updated at every analysis; the test a Pass needs when that Pass ``decides`` (it
    promotes, or completes the exposure ramp), else None. A tolerance of 0 turns the wait off:
    no test, no evidence kept."""
    if split_tolerance <= 0:
        return None
    treated, holdout = counts
    tolerance = holdout_tolerance(h, split_tolerance)
    p_within, new_memory[_HOLDOUT_WITHIN] = split_within_test(
        treated, holdout, h, tolerance=tolerance,
        state=_within_state(memory.get(_HOLDOUT_WITHIN), tolerance), restart=False)
    if not decides:
        return None
    return _Test(f"{what} share within {h * (1 - tolerance):.4g}–{h * (1 + tolerance):.4g} "
                 f"({holdout}/{treated + holdout})", p_within, 1.0, can_fail=False)


def holdout_tolerance(h: float, split_tolerance: float) -> float:
    """The holdout share's tolerance, relative to ``h``, that is as easy to show as
    ``split_tolerance`` on a 50/50 split: the same standardised departure (Cohen's w, the
    departure over √(h(1 − h))), so ± split_tolerance × √(h(1 − h)) in share: 52/48 on 50/50
    is 10 ± 1.2 % on a 10 % holdout. Held to 10 ± 0.4 % (the same relative tolerance), a small
    holdout would need (1 − h)/h times the units (9× at 10 %) and slow every promotion for a
    departure no larger in the test's terms. Capped so the band stays inside (h/2, (1 + h)/2)."""
    return min(split_tolerance * math.sqrt((1 - h) / h), 0.5, (1 - h) / (2 * h))


def _online_effect(gate: GateSpecBase, m: OnlineEffectMeasurement, memory: GateMemory) -> _Judged:
    h = m.holdout_fraction
    if not 0 < h < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {h}")
    new_memory = dict(memory)
    for version, arms in (("canary", m.canary), ("stable", m.stable)):
        for arm in (arms.holdout, arms.treated):
            if not 0 <= arm.conversions <= arm.units:
                raise ValueError(f"{version}: need 0 ≤ conversions ≤ units, got "
                                 f"{arm.conversions}/{arm.units}")
    canary_units = m.canary.holdout.units + m.canary.treated.units
    # SRM first, at every analysis, its evidence carried across steps: a broken split
    # invalidates every comparison, so it holds the ramp and is never a verdict on the model.
    holdouts = [_srm_rechecked(f"srm{version.capitalize()}",
                               (arms.treated.units, arms.holdout.units), (1 - h, h),
                               f"the {version}'s holdout", memory, new_memory)
                for version, arms in (("canary", m.canary), ("stable", m.stable))]
    traffic, split_within = _traffic_srm(m.split, memory, new_memory)
    checks = [check.hold for check in holdouts] + [traffic]
    if holdouts[0].shown:
        new_memory[_HOLDOUT_WITHIN] = SequentialState()  # a broken window shows nothing
    mismatch = next((c for c in checks if c is not None), None)
    if mismatch is not None:
        return _Judged(GateVerdict.ERROR, mismatch, samples=canary_units, memory=new_memory,
                       holds=True)
    holdout_within = _holdout_within(holdouts[0].counts, h, m.split, memory, new_memory)
    t_canary, t_stable = m.canary.treated, m.stable.treated
    least = min(t_canary.units, t_stable.units)
    effects = _effects_text(m)
    if least < max(gate.min_samples, 2):
        waiting = m.pending or m.missing or (
            f"smallest treated arm has {least} units whose attribution window closed "
            f"(minSamples {gate.min_samples})")
        # No cohort of the step closed yet (``pending``): nothing is known about the canary,
        # so it holds as an unreachable source does, counted towards no inconclusiveLimit (a
        # long attribution window must not pause a canary for a human for waiting).
        return _Judged(GateVerdict.INCONCLUSIVE, f"{effects}; {waiting}", samples=least,
                       memory=new_memory, holds=bool(m.pending))
    stable_arm = ArmStats.proportion(t_stable.conversions, t_stable.units)
    margin, kind = margin_of(gate)
    absolute = margin * stable_arm.mean if kind == "relative" else margin
    previous = memory.get("effect") or SequentialState()
    tuned = previous.reference
    if not math.isfinite(tuned) and 0 < stable_arm.mean < 1:
        # Frozen at the first look: the mixture must stay one fixed mixture for the version.
        tuned = _mixture_variance(gate, absolute, stable_arm.variance)
        previous = replace(previous, reference=tuned)
    tau2 = mixing_variance(1.0, gate.alpha) * tuned if tuned > 0 else None
    result = _treated_comparison(t_stable, t_canary, absolute, gate.alpha, tau2, previous,
                                 memory, new_memory)
    verdict = _VERDICT_OF[result.decision]
    verdict, reason = _waiting_for(verdict, result.reason, (split_within, holdout_within),
                                   gate.alpha)
    design_samples = (gate.expected_samples
                      or _design_samples(tuned * _MIXTURE_AT, stable_arm.variance,
                                         m.split.canary_share if m.split else None))
    threshold = -absolute
    if verdict is GateVerdict.FAIL:  # harm is Δ < 0: its boundary, not the margin's
        threshold = 0.0
        reason += f"; passing needs Δ > {-absolute:.4g}"
    return _Judged(verdict, f"{effects}; treated conversion canary − stable: {reason}",
                   value=result.estimate, lower=result.lower, upper=result.upper,
                   threshold=threshold, samples=t_canary.units, memory=new_memory,
                   design_samples=design_samples)


def _treated_comparison(stable: ArmCounts, canary: ArmCounts, margin: float, alpha: float,
                        tau2: float | None, previous: SequentialState, memory: GateMemory,
                        new_memory: dict[str, SequentialState]) -> TestResult:
    """Δ = canary − stable treated conversion rate: Pass shows Δ > −margin, Fail shows Δ < 0,
    each at α, with one fixed mixture (``tau2``) for the version.

    Each side is decided with the arms' variances at its own boundary (``_restricted_arms``: Δ =
    −margin for Pass, memory ``effect``; Δ = 0 for Fail, ``effectFail``), as a score test does
    and as the Campaign gates do. With the plug-in variances p̂(1 − p̂) a canary that converted
    little by chance showed both a lower Δ̂ and a smaller variance: equal versions at 2 %/3 %
    conversion were rolled back in 0.064 [0.050, 0.081] of 1,000 runs (bench/gate_general.py,
    rare events). The estimate and the bounds shown are those of a third test (memory
    ``effectEstimate``), which describe Δ where it is: the observed rates, each arm's variance
    floored at the pooled rate's (``_floored_arms``), the bounds of the look (``_look_bounds``),
    narrowed to agree with the verdict (``_shown_bounds``)."""
    for key, theta in (("effect", -margin), ("effectFail", 0.0)):
        canary_arm, stable_arm = _restricted_arms(canary, stable, theta)
        state = previous if key == "effect" else memory.get(key) or SequentialState()
        _, new_memory[key] = guarded_non_inferiority_test(
            stable_arm, canary_arm, margin=margin, relative=False, alpha=alpha,
            n_star=2.0 * DEFAULT_EXPECTED_SAMPLES, tau2=tau2, min_samples=2, state=state)
    canary_shown, stable_shown = _floored_arms(canary, stable)
    shown, new_memory["effectEstimate"] = guarded_non_inferiority_test(
        stable_shown, canary_shown, margin=margin, relative=False,
        alpha=alpha, n_star=2.0 * DEFAULT_EXPECTED_SAMPLES, tau2=tau2, min_samples=2,
        state=_look_bounds(memory.get("effectEstimate")))
    decision, p, why = guarded_decision(new_memory["effect"].p_pass,
                                        new_memory["effectFail"].p_fail, alpha, -margin,
                                        shown.lower, shown.upper)
    lower, upper = _shown_bounds(shown.lower, shown.upper, decision, -margin, 0.0,
                                 shown.estimate)
    if _earlier(decision, shown.estimate, -margin, 0.0):
        why += f" (shown{_AT_AN_EARLIER_LOOK}: {shown.estimate:+.4g} in [{lower:+.4g}, " \
               f"{upper:+.4g}])"
    return replace(shown, decision=decision, p_value=p, lower=lower, upper=upper,
                   reason=f"non-inferiority: {why}")


def _shown_bounds(lower: float, upper: float, decision: Decision, pass_at: float,
                  fail_at: float, estimate: float) -> tuple[float, float]:
    """The bounds shown with a verdict: the look's interval (``_floored_arms``), narrowed by
    what the deciding tests showed (a Pass shows Δ > ``pass_at``, a Fail Δ < ``fail_at``: the
    score tests' inversion, on the variances at their boundary, which the floored interval
    need not match), so they never say otherwise than the verdict. Where the interval lies on
    the far side of the shown boundary (at most α of runs) the boundary is shown as a point.

    Where the look's ``estimate`` itself lies on the far side (a verdict held by the running
    p-value from an earlier look while Δ̂ moved back), narrowing would show an interval that
    excludes its own estimate: the look's interval is shown as it is, and the message says the
    verdict was shown at an earlier look (``_earlier``)."""
    if _earlier(decision, estimate, pass_at, fail_at):
        return lower, upper
    if decision is Decision.PASS:
        lower = max(lower, pass_at)
        upper = max(upper, lower)
    elif decision is Decision.FAIL:
        upper = min(upper, fail_at)
        lower = min(lower, upper)
    return lower, upper


def _earlier(decision: Decision, estimate: float, pass_at: float, fail_at: float) -> bool:
    """A verdict whose look's estimate lies on the far side of what it showed: held by the
    running p-value of an earlier look (``_shown_bounds``)."""
    return ((decision is Decision.PASS and estimate < pass_at)
            or (decision is Decision.FAIL and estimate > fail_at))


#: Said of a verdict held from an earlier look while this look's estimate is past its boundary.
_AT_AN_EARLIER_LOOK = " at an earlier look; this look's estimate is on the other side"


def _Z_POWER_SUM(alpha: float) -> float:  # noqa: N802 - a formula's name
    return float(NormalDist().inv_cdf(1 - alpha) + NormalDist().inv_cdf(_DESIGN_POWER))


#: Without ``expectedSamples`` the mixture is tuned at this share of the fixed-horizon N. Its
#: width is flat around the tuning point, so a canary at the margin's distance (which decides
#: near N) loses little, while one further from it (a better canary, N/4 at twice the
#: distance) gains: bench/gate_decisions.py, 300 runs, null 1.14 × N either way, better
#: 1.28 → 1.18 × N (docs/statistics.md §8).
_MIXTURE_AT = 0.5


def _mixture_variance(gate: GateSpecBase, margin: float, variance: float) -> float:
    """The variance of Δ̂ the mixture is tuned to (τ² = c_α·V*, fixed for the version, which
    the anytime-valid guarantee needs).

    ``expectedSamples`` set: V* = 2σ²/n with n units in each arm. Unset: the fixed-horizon
    design (m/(z₁₋α + z₀.₈))², at which a one-sided fixed-sample test has 80 % power at the
    margin, over ``_MIXTURE_AT``. NaN when neither can be derived (no margin, no variance
    yet)."""
    if gate.expected_samples:
        return 2.0 * variance / gate.expected_samples if variance > 0 else math.nan
    return (margin / _Z_POWER_SUM(gate.alpha)) ** 2 / _MIXTURE_AT if margin > 0 else math.nan


def _design_samples(design: float, variance: float, canary_share: float | None) -> int | None:
    """Canary units at which Δ̂'s variance reaches the design variance at this split."""
    if not math.isfinite(design) or design <= 0 or variance <= 0:
        return None
    w = canary_share if canary_share is not None and 0 < canary_share < 1 else 0.5
    return math.ceil(variance / design * (1 + w / (1 - w)))


def _effects_text(m: OnlineEffectMeasurement) -> str:
    def effect(arms: VersionArms) -> str:
        if not arms.treated.units or not arms.holdout.units:
            return "n/a"
        value = (arms.treated.conversions / arms.treated.units
                 - arms.holdout.conversions / arms.holdout.units)
        return f"{value:+.4g}"

    return f"incremental effect vs holdout: canary {effect(m.canary)}, stable {effect(m.stable)}"


def sanity_design_samples(low: float, high: float, alpha: float) -> int:
    """Requests at which a canary at the training mean shows it lies within [low, high] (in
    training standard deviations) with 80 % power, by the fixed-n test the gate's Pass is: one
    one-sided test per edge at α, both to pass (two one-sided tests, TOST).

    Its power at n is Φ(a√n − z₁₋α) + Φ(b√n − z₁₋α) − 1 with a, b the distances to the edges:
    (z₁₋α + z₀.₉)²/a² for a symmetric band, → (z₁₋α + z₀.₈)²/a² as the far edge recedes. A band
    that does not hold the training mean (its canary should fail) takes its half-width.
    """
    if not low < high:
        raise ValueError(f"an upliftSanity band needs min < max, got [{low:g}, {high:g}]")
    if not low < 0 < high:
        return math.ceil((_Z_POWER_SUM(alpha) / ((high - low) / 2)) ** 2)
    normal, z = NormalDist(), NormalDist().inv_cdf(1 - alpha)

    def power(n: float) -> float:
        root = math.sqrt(n)
        return normal.cdf(-low * root - z) + normal.cdf(high * root - z) - 1

    # Between the one-sided n of the nearer edge and the symmetric band's: bisect (monotone).
    nearer = min(-low, high)
    lo_n = (_Z_POWER_SUM(alpha) / nearer) ** 2
    hi_n = ((z + normal.inv_cdf(1 - (1 - _DESIGN_POWER) / 2)) / nearer) ** 2
    for _ in range(60):
        mid = (lo_n + hi_n) / 2
        lo_n, hi_n = (mid, hi_n) if power(mid) < _DESIGN_POWER else (lo_n, mid)
    return math.ceil(hi_n)


def _uplift_sanity(gate: GateSpecBase, m: UpliftSanityMeasurement, _: GateMemory) -> _Judged:
    if not (math.isfinite(m.training_std) and m.training_std > 0):
        raise ValueError(f"training std must be > 0, got {m.training_std}")
    low = gate.min if gate.min is not None else -DEFAULT_SANITY_BAND
    high = gate.max if gate.max is not None else DEFAULT_SANITY_BAND
    design = sanity_design_samples(low, high, gate.alpha)
    n = m.requests
    if not math.isfinite(m.canary_mean_uplift) or n <= 0:
        return _Judged(GateVerdict.INCONCLUSIVE, "no predicted uplift yet", samples=n,
                       design_samples=design)
    sd = m.training_std
    z = (m.canary_mean_uplift - m.training_mean) / sd
    # The band is in training sds; the bounds need the live per-request sd, which may be wider
    # (taken as 1 training sd, a canary spread 2× wider passed or failed at its band's edge in
    # 31-33 % of runs at α = 0.05). Never below the training sd: a live estimate on few requests
    # can be small by chance, and a narrower live spread only makes the bounds conservative.
    live = m.live_std / sd if m.live_std is not None and math.isfinite(m.live_std) else 1.0
    # The live sd is an estimate on n requests: a plug-in one is small by chance on few (a
    # canary 3× as spread, 2 requests a look, failed at its band's edge in 6-8 % of runs, not
    # α/2 = 2.5 %) and under skewed predictions (a centred lognormal 2× as spread passed at the
    # edge in 9 % at α = 0.05). The bounds use its upper confidence bound on n − 1 df at
    # SANITY_SD_LEVEL instead: × 1.2 at 100 requests, × 1.06 at 1,000, × 80 at 2 (a hold).
    live_upper = (_sd_upper_factor(n, SANITY_SD_LEVEL) * live
                  if m.live_std is not None and math.isfinite(m.live_std) else 1.0)
    sigma = max(1.0, live_upper)
    # Tuned where a canary at the training mean passes, never before minSamples allows it.
    n_star = float(gate.expected_samples or max(design, gate.min_samples, 1))
    # Within the band needs both bounds (each at α); outside it needs either (each at α/2).
    pass_lo, pass_hi = mean_one_sided_bounds(z, n, sigma, alpha=gate.alpha, n_star=n_star)
    fail_lo, fail_hi = mean_one_sided_bounds(z, n, sigma, alpha=gate.alpha / 2, n_star=n_star)
    spread = ("" if m.live_std is None else
              f", live sd {live:.3g} training std (upper bound {live_upper:.3g})"
              if live_upper > 1.0 else "")
    what = (f"mean predicted uplift {m.canary_mean_uplift:.4g} is {z:+.3g} training std from "
            f"{m.training_mean:.4g}{spread}")
    common: dict[str, Any] = {"value": z, "samples": n, "design_samples": design}
    if fail_hi < low:
        return _Judged(GateVerdict.FAIL, f"{what}: below {low:.4g} (upper bound {fail_hi:+.3g} "
                       f"at α/2)", threshold=low, lower=fail_lo, upper=fail_hi, **common)
    if fail_lo > high:
        return _Judged(GateVerdict.FAIL, f"{what}: above {high:.4g} (lower bound {fail_lo:+.3g} "
                       f"at α/2)", threshold=high, lower=fail_lo, upper=fail_hi, **common)
    within = f"[{pass_lo:+.3g}, {pass_hi:+.3g}] (each bound at α)"
    if low <= pass_lo and pass_hi <= high and n >= gate.min_samples:
        nearest = high if z >= 0 else low
        return _Judged(GateVerdict.PASS, f"{what}: {within} within [{low:.4g}, {high:.4g}]",
                       threshold=nearest, lower=pass_lo, upper=pass_hi, **common)
    return _Judged(GateVerdict.INCONCLUSIVE, f"{what}: {within} not shown within [{low:.4g}, "
                                             f"{high:.4g}] yet", lower=pass_lo, upper=pass_hi,
                   **common)


def _custom(gate: GateSpecBase, m: CustomMeasurement, _: GateMemory) -> _Judged:
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


# -- campaign evaluators -----------------------------------------------------------------------


def _delivery_rate(gate: GateSpecBase, m: DeliveryRateMeasurement, memory: GateMemory) -> _Judged:
    if m.decided < 0 or m.delivered < 0 or (m.reported or 0) < 0:
        raise ValueError(f"need counts ≥ 0, got {m.delivered} delivered, {m.reported} reported "
                         f"of {m.decided}")
    floor = gate.min if gate.min is not None else DEFAULT_DELIVERY_FLOOR
    if not 0 < floor < 1:
        raise ValueError(f"a deliveryRate min must be in (0, 1), got {floor:g}")
    # Each side judges the decisions its counts cannot mislead it on (the measurement's
    # ``trials`` and ``pass_trials``): a Fail those older than reportDelay, against every
    # report received (a report of a younger decision only makes a Fail less likely); a Pass
    # every decision of the step, the younger ones delivered only once reported (a report in
    # flight only makes a Pass less likely). Judged against the older decisions alone, a
    # sender that silently drops some of its deliveries passed on the reports of the younger
    # ones. Equal unless the measurement counts ``recent`` decisions.
    n, n_pass = m.trials, m.pass_trials
    if n_pass == 0:
        return _Judged(GateVerdict.INCONCLUSIVE, "no delivery reported and no treatment decided "
                       "yet", threshold=floor, samples=0)
    # A report may count a decision taken before the window: never more than judged.
    delivered, passed = min(m.delivered, n), min(m.delivered, n_pass)
    new_memory = dict(memory)
    # The undelivered share against the ceiling 1 − min, as errorRate's max: the same exact
    # Beta-binomial mixture, evidence multiplied across steps.
    tests = _ceiling_tests("undelivered share", n_pass - passed, n - delivered, n, 1 - floor,
                           1 - floor, memory, new_memory, gate.alpha, prefix="undelivered",
                           n_pass=n_pass)
    verdict, why = _rule(tests, gate.alpha)
    # Each bound from the side whose counts it can trust: at least the pass side's share
    # (in flight counted undelivered), at most the fail side's.
    # (0 and 1 while a side has no trials: the fail's, before any decision is reportDelay old.)
    low = max(0.0, 1 - new_memory["undeliveredPass"].upper)
    high = min(1.0, 1 - new_memory["undeliveredFail"].lower)
    if verdict is GateVerdict.PASS and n_pass < gate.min_samples:
        verdict, why = (GateVerdict.INCONCLUSIVE,
                        f"{n_pass} of {gate.min_samples} decisions needed")
    older = (f"; {delivered}/{n} older than reportDelay (or reported), for a Fail"
             if (delivered, n) != (passed, n_pass) else "")
    return _Judged(verdict, f"delivered {passed}/{n_pass} ({passed / n_pass:.4g}, CS "
                            f"[{low:.4g}, {high:.4g}]){older} vs min {floor:.4g}: {why}",
                   value=passed / n_pass, lower=low, upper=high, threshold=floor,
                   samples=n_pass, memory=new_memory)


def _campaign_hold(gate: GateSpecBase, m: IncrementalConversionsMeasurement | RoiMeasurement,
                   memory: GateMemory, new_memory: dict[str, SequentialState],
                   ) -> tuple[_Judged | None, _Test | None]:
    """What holds a conversion gate before any verdict: no cohort of the version's decisions
    closed yet (``pending``: an Inconclusive that ``holds``, not counted), no units, a broken
    holdout split (an Error that holds, as onlineEffect's), outcomes not in yet, too few units
    (None: judge); and, when a Pass ``completes`` the exposure ramp, the holdout-share test it also needs:
    else a campaign whose effect is shown on fewer units than the SRM check needs could
    complete on a 52/48-like holdout unflagged (the general gate bench: 41–63 % of runs on one
    step or with rare conversions). The share's tolerance is ``spec.exposure.splitTolerance``
    in standardised terms (``holdout_tolerance``); 0 turns the wait off."""
    arms, h, completeness = m.arms, m.holdout_fraction, m.completeness
    if not 0 < h < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {h}")
    for name, arm in (("treated", arms.treated), ("holdout", arms.holdout)):
        if not 0 <= arm.conversions <= arm.units:
            raise ValueError(f"{name}: need 0 ≤ conversions ≤ units, got "
                             f"{arm.conversions}/{arm.units}")
    t, c = arms.treated, arms.holdout
    if m.pending is not None:
        # Waiting for the window to close on the first cohort: nothing is known yet, about the
        # model or the campaign. It holds, as an unreachable source does, and counts towards no
        # inconclusiveLimit: a long window must not pause a campaign for a human for waiting.
        return _Judged(GateVerdict.INCONCLUSIVE, m.pending, samples=0, holds=True), None
    if t.units == 0 or c.units == 0:
        return _Judged(GateVerdict.INCONCLUSIVE, f"no exposed units in both arms yet (treated "
                                                 f"{t.units}, holdout {c.units})",
                       samples=t.units + c.units), None
    check = _srm_rechecked("srmHoldout", (t.units, c.units), (1 - h, h),
                           "the campaign's holdout", memory, new_memory)
    if check.shown:
        new_memory[_HOLDOUT_WITHIN] = SequentialState()  # a broken window shows nothing
    if check.hold is not None:
        return _Judged(GateVerdict.ERROR, check.hold, samples=t.units + c.units,
                       memory=new_memory, holds=True), None
    within = _holdout_within_test(check.counts, h, m.split_tolerance, m.completes,
                                  "the campaign's holdout", memory, new_memory)
    rates = (f"treated {t.conversions}/{t.units}, holdout {c.conversions}/{c.units} "
             "converted")
    if completeness is not None:
        ratio = completeness.ratio
        late = f", {completeness.late} late outcomes not counted" if completeness.late else ""
        if ratio is None:
            return _Judged(GateVerdict.INCONCLUSIVE,
                           f"{rates}; outcomes incomplete: no attribution window has closed yet"
                           f"{late}; holding rather than judging partial outcomes",
                           samples=t.units, memory=new_memory), within
        if ratio < MIN_OUTCOME_COMPLETENESS:
            return _Judged(GateVerdict.INCONCLUSIVE,
                           f"{rates}; outcomes incomplete: {completeness.received} of "
                           f"{completeness.expected} expected outcomes reported ({ratio:.3g} < "
                           f"{MIN_OUTCOME_COMPLETENESS:g}){late}; holding rather than judging "
                           "partial outcomes", samples=t.units, memory=new_memory), within
    least = min(t.units, c.units)
    if least < max(gate.min_samples, 2):
        return _Judged(GateVerdict.INCONCLUSIVE, f"{rates}; smallest arm has {least} units "
                                                 f"(minSamples {gate.min_samples})",
                       samples=t.units, memory=new_memory), within
    return None, within


def _floored_arms(treated: ArmCounts, holdout: ArmCounts) -> tuple[ArmStats, ArmStats]:
    """Both arms with their observed rates and variances, each floored at the pooled rate's
    p̄(1 − p̄) (and at that of half a conversion, as ``_restricted_arms``): the bounds a gate
    shows. With rare conversions an arm that converted little by chance has a plug-in variance
    far too small; its bounds, a running intersection, excluded Δ = 0 in 26–30 % of
    equal-version runs at 0.5 % conversion and came out empty (lower > upper). At Δ = 0 the
    floor is the variance the Fail test takes, so the shown upper bound is below 0 only where
    that test shows harm."""
    n_t, n_h = treated.units, holdout.units
    eps = 0.5 / max(n_t + n_h, 1)
    pooled = min(max((treated.conversions + holdout.conversions) / max(n_t + n_h, 1), eps),
                 1 - eps)
    floor = pooled * (1 - pooled)

    def arm(counts: ArmCounts) -> ArmStats:
        observed = ArmStats.proportion(counts.conversions, counts.units)
        return replace(observed, variance=max(observed.variance, floor))

    return arm(treated), arm(holdout)


def _look_bounds(state: SequentialState | None) -> SequentialState:
    """The shown test's state with its bounds reset, so it returns the look's own confidence
    interval (anytime-valid at every look) rather than a running intersection of intervals
    whose variances are estimates, which can come out empty."""
    state = state or SequentialState()
    return replace(state, lower=-math.inf, upper=math.inf)


def _restricted_arms(treated: ArmCounts, holdout: ArmCounts,
                     theta: float) -> tuple[ArmStats, ArmStats]:
    """Both arms with their observed rates and the Bernoulli variances they would have at the
    boundary Δ = θ (the pooled rate, shifted by θ for the treated arm), as a score test uses.
    The plug-in variances p̂(1 − p̂) make the test anti-conservative on a small holdout: a
    holdout that converted little by chance shows both a larger Δ̂ and a smaller variance
    (false pass 0.053 [0.033, 0.085] at zero effect in the gate bench)."""
    n_t, n_h = treated.units, holdout.units
    p_h = (treated.conversions + holdout.conversions - theta * n_t) / (n_t + n_h)
    eps = 0.5 / (n_t + n_h)  # keep a variance where nothing (or everything) converted yet
    if not -1 + 2 * eps < theta < 1 - 2 * eps:  # no rates differ by θ: the plug-in ones
        return (ArmStats.proportion(treated.conversions, n_t),
                ArmStats.proportion(holdout.conversions, n_h))
    p_h = min(max(p_h, eps, eps - theta), 1 - eps, 1 - eps - theta)
    p_t = p_h + theta
    return (ArmStats(n_t, treated.conversions / n_t, p_t * (1 - p_t)),
            ArmStats(n_h, holdout.conversions / n_h, p_h * (1 - p_h)))


def _effect_against(gate: GateSpecBase, treated: ArmCounts, holdout: ArmCounts, theta: float,
                    memory: GateMemory, new_memory: dict[str, SequentialState], *,
                    strata: tuple[tuple[ArmStats, ArmStats], tuple[ArmStats, ArmStats]]
                    | None = None) -> TestResult:
    """Δ = treated − holdout conversion rate against θ, anytime-valid, strata pooled: the
    guarded test of Δ − θ against 0 (the treated mean shifted by θ; its variance unchanged),
    so Pass shows Δ > θ and Fail shows Δ < θ, each at α. The mixture is frozen at the first
    look (τ² = ρ²(N*)·N·V, N* = ``expectedSamples`` or DEFAULT_CAMPAIGN_SAMPLES units), one
    fixed mixture for the ramp.

    The decision is the test's with the variances at the boundary (``_restricted_arms``, a score
    test); the estimate and its confidence interval, returned on Δ's scale, are those of the
    same test with the observed rates, their variances floored at the pooled rate's
    (``_floored_arms``), at this look (``_look_bounds``), which describe Δ where it is rather
    than where the test puts it (memory ``effect`` and ``effectEstimate``). ``strata``: the
    (test, shown) arms to use in place of the counts' (an roi gate's value-weighted treatments,
    ``_value_arms``)."""
    tested, described = strata if strata is not None else (
        _restricted_arms(treated, holdout, theta), _floored_arms(treated, holdout))
    test = _sequential_effect(gate, *tested, theta, memory, new_memory, "effect")
    shown = _sequential_effect(gate, *described, theta,
                               {**memory, "effectEstimate": _look_bounds(
                                   memory.get("effectEstimate"))},
                               new_memory, "effectEstimate")
    lower, upper = _shown_bounds(shown.lower, shown.upper, test.decision, 0.0, 0.0,
                                 shown.estimate)
    return replace(test, estimate=shown.estimate + theta, lower=lower + theta,
                   upper=upper + theta)


def _sequential_effect(gate: GateSpecBase, t: ArmStats, c: ArmStats, theta: float,
                       memory: GateMemory, new_memory: dict[str, SequentialState],
                       key: str) -> TestResult:
    """One guarded test of Δ − θ on ``t`` (treated) and ``c`` (holdout), its state in ``key``."""
    previous = memory.get(key) or SequentialState()
    tau2 = previous.reference
    variance = t.variance / t.n + c.variance / c.n
    if not math.isfinite(tau2) and variance > 0:
        n_star = float(gate.expected_samples or DEFAULT_CAMPAIGN_SAMPLES)
        tau2 = mixing_variance(n_star, gate.alpha) * (t.n + c.n) * variance
        previous = replace(previous, reference=tau2)
    shifted = ArmStats(t.n, t.mean - theta, t.variance)
    result, new_memory[key] = guarded_non_inferiority_test(
        c, shifted, margin=0.0, alpha=gate.alpha, tau2=tau2 if math.isfinite(tau2) else None,
        min_samples=2, state=previous)
    return result


_VERDICT_OF = {Decision.PASS: GateVerdict.PASS, Decision.FAIL: GateVerdict.FAIL,
               Decision.CONTINUE: GateVerdict.INCONCLUSIVE}


def _campaign_design(gate: GateSpecBase, holdout_fraction: float) -> int:
    """The treated-arm units (the unit of ``samples``) at which the conversion gates' mixture is
    tuned: ``expectedSamples`` or DEFAULT_CAMPAIGN_SAMPLES units in both arms, times the
    treated share. A Campaign states no expected effect, so no fixed-horizon size is derived."""
    n_star = gate.expected_samples or DEFAULT_CAMPAIGN_SAMPLES
    return math.ceil(n_star * (1 - holdout_fraction)) if 0 < holdout_fraction < 1 else n_star


def _incremental_conversions(gate: GateSpecBase, m: IncrementalConversionsMeasurement,
                             memory: GateMemory) -> _Judged:
    new_memory = dict(memory)
    design = _campaign_design(gate, m.holdout_fraction)
    hold, within = _campaign_hold(gate, m, memory, new_memory)
    if hold is not None:
        return replace(hold, design_samples=design)
    t, c = m.arms.treated, m.arms.holdout
    theta = gate.min if gate.min is not None else 0.0
    result = _effect_against(gate, t, c, theta, memory, new_memory)
    verdict = _VERDICT_OF[result.decision]
    state = new_memory["effect"]
    earlier = _AT_AN_EARLIER_LOOK if _earlier(result.decision, result.estimate, theta,
                                              theta) else ""
    shown = {GateVerdict.PASS: f"above {theta:.4g} shown{earlier} (p = {state.p_pass:.3g})",
             GateVerdict.FAIL: f"below {theta:.4g} shown{earlier} (p = {state.p_fail:.3g})"}.get(
        verdict, f"not shown above or below {theta:.4g} yet (p = {state.p_pass:.3g})")
    verdict, shown = _waiting_for(verdict, shown, (within,), gate.alpha)
    _count_conversions(t, c, result, memory, new_memory)
    return _Judged(verdict, f"treated {t.conversions}/{t.units}, holdout {c.conversions}/"
                            f"{c.units}: incremental conversion rate {result.estimate:+.4g} in "
                            f"[{result.lower:+.4g}, {result.upper:+.4g}], {shown}",
                   value=result.estimate, lower=result.lower, upper=result.upper,
                   threshold=theta, samples=t.units, memory=new_memory, design_samples=design)


#: The incrementalConversions gate's memory key for the incremental conversions of the cohorts
#: it judged, summed over the version's strata (steps) as the effect's evidence is pooled over
#: them: ``score`` C_T − C_H·n_T/n_H of the current stratum's cohorts at the last look, ``info``
#: its variance, ``units`` their treated-arm decisions (``carried_*``: the earlier strata's,
#: ``next_stratum``), ``lower``/``upper`` the count's bounds at the last look.
_CONVERSIONS = "conversions"


def _count_conversions(t: ArmCounts, c: ArmCounts, result: TestResult, memory: GateMemory,
                       new_memory: dict[str, SequentialState]) -> None:
    """The incremental conversions of every cohort the gate judged in this version, into
    ``_CONVERSIONS``: Σ_s (C_T,s − C_H,s·n_T,s/n_H,s) over the strata (each step's own holdout
    as its baseline), not the pooled Δ̂ times the current step's decisions (after a step, the
    earlier steps' cohorts dropped out of that product while their evidence stayed in Δ̂). Its
    bounds take the shown interval's half-widths in units of the pooled Δ̂'s standard error
    (the same multipliers, anytime-valid) times the sum's standard error, Σ_s n_T,s²·V_s on
    the shown arms (``_floored_arms``): on one stratum, the bounds times n_T. Without the key
    (memory of an older operator) the sum starts at the current stratum."""
    previous = memory.get(_CONVERSIONS) or SequentialState()
    shown_t, shown_c = _floored_arms(t, c)
    count = t.conversions - c.conversions * t.units / c.units
    variance = t.units ** 2 * (shown_t.variance / t.units + shown_c.variance / c.units)
    state = replace(previous, score=count, info=variance, units=float(t.units))
    total, spread = state.carried_score + count, state.carried_info + variance
    pooled = new_memory.get("effectEstimate")
    info = pooled.carried_info + pooled.info if pooled is not None else 0.0
    lower = upper = math.nan
    if info > 0 and spread > 0:
        scale = math.sqrt(spread * info)  # the sum's standard error / the pooled Δ̂'s
        lower = total - max(result.estimate - result.lower, 0.0) * scale
        upper = total + max(result.upper - result.estimate, 0.0) * scale
    new_memory[_CONVERSIONS] = replace(state, lower=lower, upper=upper)


def incremental_conversions_count(status: GateStatus) -> tuple[float, float | None,
                                                               float | None] | None:
    """An incrementalConversions gate's incremental conversions with their bounds, at its
    last look: over every cohort it judged since the version's evidence started
    (``_count_conversions``). Memory without them (written by an older operator): the gate's
    value and bounds times its ``samples``, the current stratum's cohorts. None without a
    value or count."""
    if status.value is None or not status.samples:
        return None
    kept = status.sequential_state.get(_CONVERSIONS)
    if kept is None:
        n = status.samples
        return (status.value * n, None if status.lower is None else status.lower * n,
                None if status.upper is None else status.upper * n)
    state = SequentialState.from_dict(kept.to_wire())
    return (state.carried_score + state.score, _finite(state.lower), _finite(state.upper))


#: The roi gate's memory key for the break-even Δ* its evidence is tested against (``reference``;
#: ``counts``: the treated conversions and units it was realized over).
_BREAK_EVEN = "breakEven"
#: How far (relative) the realized break-even may move from the one the evidence started with
#: before that evidence is dropped (``_roi``).
BREAK_EVEN_TOLERANCE = 0.1
#: The coefficient of variation assumed for one conversion's value (and one treated unit's
#: cost) when judging whether the break-even moved: the value per conversion is a mean over the
#: treated conversions of the treatments' values (when they differ), so its relative standard
#: error is at most this over √conversions while a conversion's value varies by no more than
#: its mean (two treatments of values a < b: CV ≤ (b − a)/(2√(ab))).
BREAK_EVEN_VALUE_CV = 1.0


def _value_arms(strata: tuple[RoiStratum, ...], scale: float,
                theta: float | None = None) -> tuple[ArmStats, ArmStats]:
    """The arms of an roi gate whose treatments differ in value, as one test of Δ reads them:
    the incremental value per treated-arm unit, in conversions worth ``scale``,
    D = Σ_k a_k·(p_T,k − p_H,k) with a_k = r_k·π_k, r_k = v_k/``scale`` and π_k = n_T,k/n_T,
    i.e. Σ_k v_k·(C_T,k − C_H,k·n_T,k/n_H,k)/(n_T·``scale``): each treatment's conversions
    compared with its own holdout's, at its own value (weighting one value by the treated
    arm's conversions mixed the baseline into it). The treated arm's mean is Σ_k a_k·p_T,k,
    the holdout's Σ_k a_k·p_H,k (reweighted to the treated arm's mix), with the variances of
    those sums (π_k as observed), per unit of each arm: so V is
    Σ_k a_k²·(σ²_T,k/n_T,k + σ²_H,k/n_H,k) and one treatment of ``scale``'s value gives the
    counts' own arms. σ² per treatment: for the estimate and bounds (``theta`` None) the
    observed, floored at the treatment's pooled rate (``_floored_arms``); for the decision
    (``theta``) at the point of the null D = θ nearest the estimate (a score test's restricted
    point), each treatment's δ_k = δ̂_k + (θ − D̂)·a_k·V_k/Σ_j a_j²·V_j (δ̂_k its observed
    difference, V_k its floored variance of it), each at its δ_k (``_restricted_arms``), so
    Σ_k a_k·δ_k = θ. Restricting each treatment at its own break-even θ/r_k instead is one
    point of the null only, far from the estimate when the effect sits in one treatment: at
    the boundary (values 100/10, baselines 0.5 %/5 %, effects 0/+8 pp) it passed 9.2 % and
    failed 13.3 % at α 5 %. A treatment worth nothing has a_k = 0: it adds treated units
    (π_k's denominator) only, to D, V and the null alike. Every treatment worth something with
    treated units has holdout units (``_roi``)."""
    n_t = sum(s.treated.units for s in strata)
    n_h = sum(s.holdout.units for s in strata)
    valued = []  # (stratum, a_k, its floored arms)
    for s in strata:
        r = s.value_per_conversion / scale
        if s.treated.units == 0 or r == 0:
            continue
        valued.append((s, r * s.treated.units / n_t, _floored_arms(s.treated, s.holdout)))
    if theta is not None and len(valued) == 1:  # δ = θ/a, exactly (the counts' own arms)
        s, a, _ = valued[0]
        valued = [(s, a, _restricted_arms(s.treated, s.holdout, theta / a))]
    elif theta is not None:
        estimate = sum(a * (t.mean - c.mean) for _, a, (t, c) in valued)
        spread = [t.variance / t.n + c.variance / c.n for _, _, (t, c) in valued]
        total = sum(a * a * v for (_, a, _), v in zip(valued, spread, strict=True))
        valued = [(s, a, _restricted_arms(s.treated, s.holdout, t.mean - c.mean + (
            (theta - estimate) * a * v / total if total > 0 else 0.0)))
            for (s, a, (t, c)), v in zip(valued, spread, strict=True)]
    mean_t = mean_h = var_t = var_h = 0.0
    for _, a, (t, c) in valued:
        mean_t += a * t.mean
        mean_h += a * c.mean
        var_t += a * a * t.variance / t.n
        var_h += a * a * c.variance / c.n
    return ArmStats(n_t, mean_t, var_t * n_t), ArmStats(n_h, mean_h, var_h * n_h)


def _unmatched_stratum(strata: tuple[RoiStratum, ...]) -> str | None:
    """Why an roi gate's value-weighted strata cannot be compared yet: a treatment worth
    something with treated-arm units but no holdout unit (its own baseline unknown); or a
    value that is none (validation rules it out: an Error)."""
    for s in strata:
        if s.value_per_conversion < 0 or not math.isfinite(s.value_per_conversion):
            raise ValueError(f"treatment {s.treatment}: a value per conversion must be ≥ 0, "
                             f"got {s.value_per_conversion}")
        for name, arm in (("treated", s.treated), ("holdout", s.holdout)):
            if not 0 <= arm.conversions <= arm.units:
                raise ValueError(f"treatment {s.treatment}, {name}: need 0 ≤ conversions ≤ "
                                 f"units, got {arm.conversions}/{arm.units}")
    missing = [s.treatment for s in strata
               if s.treated.units > 0 and s.holdout.units == 0 and s.value_per_conversion > 0]
    if not missing:
        return None
    return (f"no holdout units yet of the treatment(s) {', '.join(sorted(missing))}, which "
            f"treated-arm units got: their incremental conversions have no baseline to be "
            f"valued against")


def _break_even_basis(state: SequentialState | None) -> tuple[int, int]:
    """The treated conversions and units the frozen break-even was realized over (0, 0: not
    known, a status written before they were kept)."""
    if state is None or len(state.counts) != 2:
        return 0, 0
    return state.counts[0], state.counts[1]


def _break_even_relative_variance(conversions: int, units: int) -> float:
    """The (log-scale) variance of a break-even c̄(1 + min)/v realized over ``conversions``
    treated conversions and ``units`` treated units, at ``BREAK_EVEN_VALUE_CV`` (0: not known)."""
    if conversions <= 0 or units <= 0:
        return 0.0
    return BREAK_EVEN_VALUE_CV ** 2 * (1 / conversions + 1 / units)


def _break_even_moved(frozen: float, realized: float, *, spread: float = 0.0,
                      z: float = 0.0) -> bool:
    """Whether the realized break-even left the band of ±``BREAK_EVEN_TOLERANCE`` (relative)
    around the frozen one, clearly: the interval realized · exp(±z·√spread) (``spread`` the
    log-scale variance of realized/frozen) lies entirely outside the band. A NaN ``frozen``
    (none frozen yet) or a zero one (``min`` = −1) has not moved; nor has one whose sign
    differs, which no realized costs produce."""
    if not (math.isfinite(frozen) and math.isfinite(realized)) or frozen == 0:
        return False
    ratio = realized / frozen
    if ratio <= 0:
        return False
    shift, half = math.log(ratio), z * math.sqrt(spread)
    return (shift - half > math.log1p(BREAK_EVEN_TOLERANCE)
            or (BREAK_EVEN_TOLERANCE < 1 and shift + half < math.log1p(-BREAK_EVEN_TOLERANCE)))


def _roi(gate: GateSpecBase, m: RoiMeasurement, memory: GateMemory) -> _Judged:
    """The incremental gate's test against the break-even Δ* = c̄(1 + min)/v, both c̄ (spend per
    treated-arm unit) and v (value per conversion) as realized by the treatments sent.

    Δ* is frozen in the memory (``breakEven``) at the look the evidence starts, as the mixture's
    τ² is: the running p-values, bounds and carried strata are evidence against that null only.
    While the realized Δ* is not clearly beyond ±``BREAK_EVEN_TOLERANCE`` of it (the mix of
    treatments moves a little look to look, and c̄ is realized over the cohorts' treated
    units, v once over their conversions, so a few dozen of them moved it by chance) the test goes on
    against the frozen one; once an interval at α around the realized one (its noise and the
    frozen one's, ``BREAK_EVEN_VALUE_CV``) lies outside the band (a shift from cheap e-mails to
    costly coupons) the evidence is dropped and the look is Inconclusive, the new Δ* frozen for
    the evidence that starts at the next look. A Pass (Fail) shown against the frozen Δ* is
    held Inconclusive while the realized one is dearer (cheaper) and the look's bound on Δ
    does not clear it: the ROI shown at the realized costs is not past ``min`` yet. The value
    and spend are read only once the holds are passed: a measurement that waits for its first
    cohort (``pending``) carries no economics to judge.

    Treatments of different values (``m.strata``): Δ is the incremental value per treated-arm
    unit in conversions worth v (v then the mean of their values, fixed: Δ* moves with c̄
    only), each treatment's incremental conversions against its own holdout at its own value
    (``_value_arms``); Inconclusive while a treatment given to treated units has no holdout
    unit to compare them with."""
    new_memory = dict(memory)
    design = _campaign_design(gate, m.holdout_fraction)
    hold, within = _campaign_hold(gate, m, memory, new_memory)
    if hold is not None:
        return replace(hold, design_samples=design)
    if m.value_per_conversion <= 0 or not math.isfinite(m.value_per_conversion):
        raise ValueError(f"an ROI needs a value per conversion > 0, got {m.value_per_conversion}")
    if m.spend < 0 or not math.isfinite(m.spend):
        raise ValueError(f"spend must be ≥ 0, got {m.spend}")
    t, c = m.arms.treated, m.arms.holdout
    floor = gate.min if gate.min is not None else 0.0
    if m.spend == 0:
        return _Judged(GateVerdict.INCONCLUSIVE, f"nothing spent on {t.units} treated-arm units "
                                                 "yet: no ROI to judge", threshold=floor,
                       samples=t.units, memory=new_memory, design_samples=design)
    # ROI = (v·n_T·Δ − spend)/spend = v·Δ/ c̄ − 1 with c̄ = spend per treated-arm unit (known, as
    # in stats.economics), so ROI ≥ min ⟺ Δ ≥ c̄(1 + min)/v: the same test as the
    # incremental gate, against the break-even Δ.
    unmatched = _unmatched_stratum(m.strata)
    if unmatched is not None:
        return _Judged(GateVerdict.INCONCLUSIVE, unmatched, threshold=floor, samples=t.units,
                       memory=new_memory, design_samples=design)
    v, per_unit = m.value_per_conversion, m.spend / t.units
    realized = per_unit * (1 + floor) / v
    # Treatments of different values: Δ is the incremental value per treated-arm unit in
    # conversions worth v (``_value_arms``), each treatment against its own holdout.
    weighted = _value_arms(m.strata, v) if m.strata else None
    observed = (weighted[0].mean - weighted[1].mean if weighted is not None
                else t.conversions / t.units - c.conversions / c.units)

    def roi(delta: float) -> float:
        return v * delta / per_unit - 1

    kept = memory.get(_BREAK_EVEN)
    frozen = (kept or SequentialState()).reference
    # The realized break-even rests on this look's treated conversions (v, a mean of the
    # treatments' values over them) and units (c̄, the mix sent): a look of a few dozen
    # conversions moves it by tens of per cent by chance alone. It has moved only once an
    # interval at the gate's α around it lies outside the band, the frozen one's noise counted.
    spread = (_break_even_relative_variance(t.conversions, t.units)
              + _break_even_relative_variance(*_break_even_basis(kept)))
    if t.conversions <= 0:
        spread = math.inf
    z = NormalDist().inv_cdf(1 - gate.alpha / 2)
    basis = (t.conversions, t.units)
    if _break_even_moved(frozen, realized, spread=spread, z=z):
        for key in ("effect", "effectEstimate"):
            new_memory.pop(key, None)
        new_memory[_BREAK_EVEN] = SequentialState(reference=realized, counts=basis)
        return _Judged(GateVerdict.INCONCLUSIVE,
                       f"the break-even moved from {frozen:.4g} to {realized:.4g} (realized "
                       f"spend per unit {per_unit:.4g}, value per conversion {v:.4g} over "
                       f"{t.conversions} treated conversions; more than "
                       f"{BREAK_EVEN_TOLERANCE:.0%} from the one the evidence was gathered "
                       f"against, beyond sampling noise): ROI evidence starts afresh (ROI "
                       f"{roi(observed):+.4g} at this look; treated {t.conversions}/{t.units}, "
                       f"holdout {c.conversions}/{c.units})", value=roi(observed),
                       threshold=floor, samples=t.units, memory=new_memory,
                       design_samples=design)
    # A gate whose memory has no break-even yet (its first look, or a status written before it
    # was kept) takes this look's: the evidence so far is judged against it from now on.
    theta = frozen if math.isfinite(frozen) else realized
    new_memory[_BREAK_EVEN] = (kept if kept is not None and math.isfinite(frozen)
                               and len(kept.counts) == 2
                               else SequentialState(reference=theta, counts=basis))
    against = (f"; judged against the break-even {theta:.4g} the evidence started with "
               f"(realized {realized:.4g}, not clearly more than {BREAK_EVEN_TOLERANCE:.0%} "
               f"from it)" if f"{theta:.4g}" != f"{realized:.4g}" else "")
    result = _effect_against(gate, t, c, theta, memory, new_memory, strata=(
        (_value_arms(m.strata, v, theta), weighted) if weighted is not None else None))
    verdict = _VERDICT_OF[result.decision]
    state = new_memory["effect"]
    value, low, high = roi(result.estimate), roi(result.lower), roi(result.upper)
    earlier = _AT_AN_EARLIER_LOOK if _earlier(result.decision, result.estimate, theta,
                                              theta) else ""
    shown = {GateVerdict.PASS: f"ROI ≥ {floor:.4g} shown{earlier} (p = {state.p_pass:.3g})",
             GateVerdict.FAIL: f"ROI < {floor:.4g} shown{earlier} (p = {state.p_fail:.3g})"}.get(
        verdict, f"not shown above or below {floor:.4g} yet (p = {state.p_pass:.3g})")
    if (verdict is GateVerdict.PASS and theta < realized and result.lower < realized) or (
            verdict is GateVerdict.FAIL and theta > realized and result.upper > realized):
        # Shown against the frozen break-even, but not at the costs realized now (the bound
        # does not clear their break-even): the ROI shown at them is not yet past min.
        bound = (f"lower bound {result.lower:+.4g}" if verdict is GateVerdict.PASS
                 else f"upper bound {result.upper:+.4g}")
        verdict = GateVerdict.INCONCLUSIVE
        shown = (f"{shown.split(' (p = ')[0]} against the break-even {theta:.4g} the evidence "
                 f"started with, not yet at the realized costs (break-even {realized:.4g}, the "
                 f"incremental conversion rate's {bound}): held")
    verdict, shown = _waiting_for(verdict, shown, (within,), gate.alpha)
    effect = (f"incremental value {v * result.estimate:+.4g} per treated unit, each "
              f"treatment's incremental conversions at its own value ({result.estimate:+.4g} "
              f"conversions at {v:.4g})" if weighted is not None else
              f"incremental conversion rate {result.estimate:+.4g} at {v:.4g} per conversion")
    return _Judged(verdict, f"ROI {value:+.4g} in [{low:+.4g}, {high:+.4g}] ({effect}, "
                            f"spend {m.spend:.4g} = {per_unit:.4g} per treated unit; treated "
                            f"{t.conversions}/{t.units}, holdout {c.conversions}/{c.units}): "
                            f"{shown}{against}", value=value, lower=low, upper=high,
                   threshold=floor, samples=t.units, memory=new_memory, design_samples=design)


def _budget(gate: GateSpecBase, m: BudgetMeasurement, _: GateMemory) -> _Judged:
    if not (m.budget > 0 and math.isfinite(m.budget)):
        raise ValueError(f"budget must be > 0, got {m.budget}")
    if m.spend < 0 or not math.isfinite(m.spend):
        raise ValueError(f"spend must be ≥ 0, got {m.spend}")
    if m.cheapest < 0 or not math.isfinite(m.cheapest):
        raise ValueError(f"the cheapest treatment's cost must be ≥ 0, got {m.cheapest}")
    # The spend is counted, not sampled (every replica counts what it decided to send), so it
    # is compared with the budget directly: there is no error rate to control.
    period = (f"the period {m.period_start.isoformat()} – {m.period_end.isoformat()}"
              if m.period_end is not None else "the campaign (no budgetPeriod)")
    spent = f"spent {m.spend:.6g} of {m.budget:.6g} ({m.spend / m.budget:.1%}) in {period}"
    if m.remembered > 1e-9 * max(1.0, m.spend):
        # More than Prometheus shows now: say where the rest comes from (on-call compares).
        spent += (f" ({m.remembered:.6g} of it from status.budgetLedgers: spend Prometheus "
                  f"no longer shows, {m.spend - m.remembered:.6g} as it shows now)")
    common: dict[str, Any] = {"value": m.spend, "threshold": m.budget}
    left = m.budget - m.spend
    # The runtime's own rule (``runtime.policy.apply_budget``): a treatment is sent while its
    # cost fits what is left, within the same slack. A replica alone stops just short of the
    # budget (its last treatment did not fit): exhausted there too, not only at the amount.
    nothing_fits = m.cheapest > left + 1e-9 * max(1.0, left)
    if m.spend >= m.budget or nothing_fits:
        until = (f"suspended until the period rolls over at {m.period_end.isoformat()}"
                 if m.period_end is not None else "suspended until the budget is raised")
        short = (f"; the {left:.6g} left pays for no treatment (the cheapest costs "
                 f"{m.cheapest:.6g})" if m.spend < m.budget else "")
        why = f"budget exhausted: {spent}{short}; {until}"
        return _Judged(GateVerdict.FAIL, why, suspension=Suspension(m.period_end, why), **common)
    return _Judged(GateVerdict.PASS, f"within budget: {spent}", **common)


_EVALUATORS: Mapping[str, tuple[type, _Evaluator]] = {
    "latency": (LatencyMeasurement, _latency),
    "errorRate": (ErrorRateMeasurement, _error_rate),
    "drift": (DriftMeasurement, _drift),
    "qini": (QiniMeasurement, _qini),
    "onlineEffect": (OnlineEffectMeasurement, _online_effect),
    "upliftSanity": (UpliftSanityMeasurement, _uplift_sanity),
    "custom": (CustomMeasurement, _custom),
    # Campaign gates (drift and custom are shared with the UpliftModel's).
    "deliveryRate": (DeliveryRateMeasurement, _delivery_rate),
    "incrementalConversions": (IncrementalConversionsMeasurement, _incremental_conversions),
    "roi": (RoiMeasurement, _roi),
    "budget": (BudgetMeasurement, _budget),
}


def _worst_of(judged: list[_Judged]) -> _Judged:
    # Report the worst sub-verdict's evidence, and every sub-message so nothing is hidden.
    pick = max(judged, key=lambda j: _ORDER[j.verdict])
    message = "; ".join(j.message for j in sorted(judged, key=lambda j: -_ORDER[j.verdict]))
    designs = [j.design_samples for j in judged if j.design_samples is not None]
    return _Judged(pick.verdict, message, pick.value, pick.lower, pick.upper, pick.threshold,
                   pick.samples, design_samples=max(designs) if designs else None)


# ---------------------------------------------------------------------------------------------
# Counters and actions


#: What a dry-run gate's outcome message, and so its status message, begins with
#: (``evaluate_gate``, ``defect_outcome``): the status was judged while the gate was dryRun.
DRY_RUN_PREFIX = "dry run: "

#: Gate fields that change what is done with a verdict, not what the evidence tests.
_NOT_TESTED = frozenset({"name", "dry_run", "failure_limit", "inconclusive_limit",
                         "consecutive_error_limit"})


def canonical_json(spec: ApiModel, exclude: Any = None) -> str:
    """What the user set in ``spec`` that means something, as one string to fingerprint: its
    wire (camelCase) form without the fields equal to their defaults, at every depth, and
    without ``exclude`` (Python names, as ``model_dump``'s). A field set to its default and an
    unset one mean the same and give the same text; a field a later release adds with a default
    adds nothing to it, so a release does not change the fingerprints statuses carry. Floats
    that are whole numbers are written as integers (a ``1`` and a ``1.0`` are one setting)."""
    wire = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude=exclude)
    return json.dumps(_whole_floats_as_ints(wire), sort_keys=True, separators=(",", ":"))


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # also -0.0 → 0
    return value


G = TypeVar("G", bound=GateSpecBase)


def with_outside_settings(gate: G, settings: str) -> G:
    """A copy of ``gate`` that tests ``settings`` too (canonical text of what it reads outside
    its own fields: a Campaign's roi gate, the costs and values its break-even is computed
    from), so its ``settings_digest`` covers them: an edit of them starts its evidence afresh
    (``memory_of``), its counters zeroed and its Pass no longer one as set (``assess``,
    ``same_settings``), as an edit of its own fields does. A release that binds more appends
    it as a line of its own (``settings`` one line per binding, oldest first, each without a
    line break), so the forms operators before it wrote are the leading lines
    (``same_settings`` takes them)."""
    bound = gate.model_copy()
    bound._outside_settings = settings
    return bound


def settings_digest(gate: GateSpecBase) -> str:
    """A fingerprint of what ``gate`` tests (``GateStatus.settingsDigest``): the fields it was
    given that are tested, defaults left out (``canonical_json``), so only an edit of them
    changes it, never an operator release; and what it was bound to test outside them
    (``with_outside_settings``)."""
    return _bound_digest(gate, gate._outside_settings)


def _bound_digest(gate: GateSpecBase, outside: str | None) -> str:
    """The digest of the gate's tested fields and ``outside`` (None: its fields alone)."""
    text = canonical_json(gate, exclude=set(_NOT_TESTED))
    if outside is not None:
        text += "\n" + outside
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _earlier_bound_digests(gate: GateSpecBase) -> list[str]:
    """``settings_digest`` as operators wrote it before the later of the settings outside the
    gate's fields were bound: bound to each leading part of them, line by line
    (``with_outside_settings``), its fields alone first — every gate's form before any binding,
    then a roi gate's of its fields and economics, written before the targeting was bound.
    None for a gate bound to nothing."""
    if gate._outside_settings is None:
        return []
    lines = gate._outside_settings.split("\n")
    return [_bound_digest(gate, "\n".join(lines[:n]) if n else None) for n in range(len(lines))]


def legacy_settings_digest(gate: GateSpecBase) -> str:
    """``settingsDigest`` as operators before ``canonical_json`` wrote it: every tested field,
    defaults included (Python names), so any release adding a gate field changed it. Accepted
    (never written) so that the upgrade that brought ``settings_digest`` keeps the gates'
    evidence and counters. Delete it (and its use in ``same_settings``) once upgrades from
    those operators (0.1.x) are no longer supported: by then ``assess`` has rewritten every
    gate it analysed; a status still carrying it then (a ramp paused since) starts its gate
    afresh, as an edit of its settings would."""
    tested = gate.model_dump(mode="json", exclude=set(_NOT_TESTED))
    text = json.dumps(tested, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def same_settings(gate: GateSpecBase, status: GateStatus) -> bool:
    """Whether ``status`` was gathered under ``gate``'s settings: its digest is ``gate``'s, in
    the current form or the legacy one (a status written before the fingerprint existed is
    taken to be). A gate bound to settings outside its fields also takes the digests operators
    wrote before the later of them were bound (``_earlier_bound_digests``: its fields alone,
    and a roi gate's fields and economics before its targeting), so the upgrade keeps its
    evidence; ``assess`` rewrites it in the current form at the next analysis. A settings edit
    made before that analysis within what the older form does not cover (a targeting edit
    under a digest written before the targeting was bound) cannot be told from none: the
    evidence is kept. Delete that once upgrades from those operators are no longer
    supported."""
    stored = status.settings_digest
    return (stored is None or stored == settings_digest(gate)
            or stored == legacy_settings_digest(gate)
            or stored in _earlier_bound_digests(gate))


def assess(gate: GateSpecBase, previous: GateStatus | None, outcome: GateOutcome) -> GateStatus:
    """The gate's status after ``outcome``: its evidence, updated step counters, and the
    sequential-test memory (``sequentialState``) for the next look.

    ``previous`` is this gate's status at the *current step* (None at a fresh step). Fail and
    Inconclusive verdicts are counted; Error counts in a row and any other verdict resets it,
    as Argo Rollouts' MetricResult does — except an outcome that ``holds`` (a sample ratio
    mismatch, an unreachable source, a conversion gate's first cohort still to close), which
    holds the ramp without counting towards a rollback or a pause (it says nothing about the
    model), and a Fail with a ``Suspension`` (the budget), which asks for a pause of
    treatment, not a rollback.

    A ``dryRun`` gate counts nothing: its counters stay 0 (its verdict, evidence and message,
    "dry run: …", are shown, and its sequential memory goes on), so that turning ``dryRun``
    off enforces from the flip on: the gate's next Fail is its first counted, never one of
    those seen while it was watched only. Counters of a status judged in dry run
    (``gathered_in_dry_run``: one an operator before this rule wrote with its dry-run
    verdicts counted) are not carried either.
    """
    prev = (previous if previous is not None and previous.name == gate.name
            and same_settings(gate, previous) else None)
    counts = prev if prev is not None and not gathered_in_dry_run(prev) else None
    verdict = outcome.verdict
    errors = counts.consecutive_errors if counts else 0
    if not outcome.holds:
        errors = errors + 1 if verdict is GateVerdict.ERROR else 0
    # A suspending Fail (budget spent) stops treating until the period rolls over: not a
    # rollback, so not counted towards failureLimit.
    counted_fail = verdict is GateVerdict.FAIL and outcome.suspension is None
    failures = (counts.failures if counts else 0) + counted_fail
    inconclusives = ((counts.inconclusives if counts else 0)
                     + (verdict is GateVerdict.INCONCLUSIVE and not outcome.holds))
    if gate.dry_run:
        failures = inconclusives = errors = 0
    return GateStatus(
        name=gate.name, verdict=verdict, value=outcome.value, lower=outcome.lower,
        upper=outcome.upper, threshold=outcome.threshold, samples=outcome.samples,
        message=_clip(outcome.message), time=outcome.time,
        failures=failures, inconclusives=inconclusives,
        consecutive_errors=errors, design_samples=outcome.design_samples,
        sequential_state=_state_status(outcome.memory), settings_digest=settings_digest(gate))


def gathered_in_dry_run(status: GateStatus) -> bool:
    """Whether ``status`` was judged while its gate was ``dryRun`` (its message says so:
    ``DRY_RUN_PREFIX``). Its counters count nothing: ``assess`` keeps them at 0, but an
    operator before that rule counted a dry-run gate's verdicts, and a gate whose ``dryRun``
    was turned off before its next analysis would have rolled back on them at once. The prefix
    is the dry-run gate's alone: an enforcing gate's message never begins with it (``_worded``,
    ``_named``: a drift feature called "dry run" is quoted). An operator before that rule wrote
    an enforcing gate's message beginning with it for such a feature (never quoted): that
    status is taken as judged in dry run, so the gate acts from its next analysis."""
    return status.message.startswith(DRY_RUN_PREFIX)


def required_action(gate: GateSpecBase, status: GateStatus) -> GateAction:
    """What the counters demand: Rollback beyond ``failureLimit`` Fails (default 0: the first
    Fail) or ``consecutiveErrorLimit`` Errors in a row (default 4: the fifth); Pause beyond a
    non-zero ``inconclusiveLimit`` (default 0: never, the step just holds). Dry run: never;
    nor on a status judged in dry run (``gathered_in_dry_run``), whose counters count nothing:
    a gate whose ``dryRun`` was turned off acts from its next analysis on."""
    if gate.dry_run or gathered_in_dry_run(status):
        return GateAction.NONE
    if (status.failures > gate.failure_limit
            or status.consecutive_errors > gate.consecutive_error_limit):
        return GateAction.ROLLBACK
    if gate.inconclusive_limit > 0 and status.inconclusives > gate.inconclusive_limit:
        return GateAction.PAUSE
    return GateAction.NONE


def next_step(status: GateStatus) -> GateStatus:
    """The status at a new step: counters zeroed, the last evidence kept for humans, and each
    sequential test moved to a new stratum (the traffic split changed): its evidence so far is
    carried, so α is spent once per version rather than once per step."""
    carried = {key: SequentialStateStatus.model_validate(state.next_stratum().to_dict())
               for key, state in memory_of(status).items() if key not in _WINDOW_BOUND}
    return status.model_copy(update={"failures": 0, "inconclusives": 0, "consecutive_errors": 0,
                                     "sequential_state": carried})


def restart_split_check(status: GateStatus) -> GateStatus:
    """The status once the traffic split was applied again mid-step: the split's tests (the
    SRM check and the within-tolerance test) count afresh from then, their evidence so far
    carried, as at a new step; every other test goes on counting since the step started, so its
    state is left as it is."""
    folded = {key: SequentialStateStatus.model_validate(
                  SequentialState.from_dict(state.to_wire()).next_stratum().to_dict())
              for key, state in status.sequential_state.items()
              if key in (_TRAFFIC_SRM, _SPLIT_WITHIN)}
    if not folded:
        return status
    kept = {key: value for key, value in status.sequential_state.items()
            if key not in (_recheck_key(_TRAFFIC_SRM), _SPLIT_BASELINE)}  # the window ended
    return status.model_copy(update={"sequential_state": {**kept, **folded}})


def memory_of(status: GateStatus | None,
              gate: GateSpecBase | None = None) -> dict[str, SequentialState]:
    """The memory to pass to ``evaluate_gate``, read back from the gate's status; none when it
    was gathered under other settings than ``gate``'s (given: the operator's passes)."""
    if status is None or (gate is not None and not same_settings(gate, status)):
        return {}
    return {key: SequentialState.from_dict(st.to_wire())
            for key, st in status.sequential_state.items()}


def _state_status(memory: GateMemory) -> dict[str, SequentialStateStatus]:
    return {key: SequentialStateStatus.model_validate(state.to_dict())
            for key, state in sorted(memory.items())}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _fmt(x: float | None, unbounded: str) -> str:
    return unbounded if x is None else f"{x:.4g}"


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"
