"""What the I/O layer observed for one gate at one analysis: plain, frozen value types.

Role: the contract between the adapters (Prometheus, MLflow, the runtime's counters), which fill
these, and ``domain.gates``, which judges them. Adapters never judge; gates never fetch.
Neighbours: ``domain.gates`` (``evaluate_gate`` takes one of these, ``None`` or a
``MeasurementError``), ``domain.ramp`` (acts on the verdicts).

Conventions every adapter follows:

* ``None`` instead of a measurement means "no data yet" (an empty PromQL vector, a metric not
  logged yet): the gate is Inconclusive, never Pass.
* ``MeasurementError`` means the source could not be asked (unreachable, bad query, HTTP 5xx):
  the gate is Error, which counts against ``consecutiveErrorLimit``.
* Comparative counts (canary vs stable) are cumulative since ``status.stepStartedAt``: the
  traffic split is fixed within a step, which the count and sequential tests need; the gates
  carry each step's evidence into the next (``SequentialState.next_stratum``), so α is spent
  once per version. ``onlineEffect``'s arms are the step's decisions whose attribution window
  has closed, with their in-window conversions (counted since the step's start + the
  window). Counts of the canary alone (drift, upliftSanity) are cumulative since the canary
  started: they do not depend on the split.
* ``split`` (comparative gates) holds the versions' counts *after the step's split settled*
  (the step's first analysis interval left out: routers apply new weights with a delay and
  scrapes lag) and the expected canary share (the step's weight / 100); the realised split is
  checked against it before any verdict. A version whose counters were first scraped after
  that (``scraped_late``) is counted from the first analysis that saw it.
* NaN is allowed where PromQL produces it (``histogram_quantile`` over no requests) and is read
  as "no data".
* Canary = the version being rolled out, stable = the version serving the rest of the traffic.

Campaign gates (``deliveryRate``, ``incrementalConversions``, ``roi``, ``budget``) read the
runtime's counters of one campaign (``docs/runtime.md`` "What the Campaign gates read"), summed
over replicas, since the exposure step started (each step is a stratum, as for the canary's
steps): the conversion gates' (``incrementalConversions``, ``roi``: arms, spend) of the version
the campaign follows only (a canary of the model serving the campaign is left out), the
delivery and budget gates' over every version of the model (the sender delivers, and the
campaign pays for, what any predictor decided). The arms are cohorts: the decisions whose
attribution window closed in the step's window, with their in-window conversions (late
outcomes are the runtime's own counter and never enter ``ArmCounts.conversions``);
``OutcomeCompleteness`` says whether the outcomes of those decisions are in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ArmCounts",
    "BudgetMeasurement",
    "CampaignArms",
    "CustomMeasurement",
    "DeliveryRateMeasurement",
    "DriftMeasurement",
    "ErrorRateMeasurement",
    "FeatureHistogram",
    "IncrementalConversionsMeasurement",
    "LatencyMeasurement",
    "Measurement",
    "MeasurementError",
    "NotMeasured",
    "OnlineEffectMeasurement",
    "OutcomeCompleteness",
    "QiniEstimate",
    "QiniMeasurement",
    "RoiMeasurement",
    "RoiStratum",
    "SplitCounts",
    "UpliftSanityMeasurement",
    "VersionArms",
    "bucket_quantile",
]


@dataclass(frozen=True)
class MeasurementError:
    """The source could not be queried; ``message`` says which source and why (shown in status).
    ``holds``: the failure says nothing about what the gate judges (a Campaign's budget gate
    whose Prometheus is down: the spend is the period's money, not the model's doing), so the
    gate's Error holds the ramp without counting towards ``consecutiveErrorLimit``."""

    message: str
    holds: bool = False


@dataclass(frozen=True)
class SplitCounts:
    """Requests (or units) per version since the step's split settled, and the canary's
    expected share of them (the step's weight / 100)."""

    stable: int
    canary: int
    canary_share: float
    #: A Pass at this analysis promotes the canary (the ramp's last step): it then also needs
    #: the split shown within ``tolerance`` of the weight (``domain.gates``; 0: it does not).
    promotes: bool = False
    tolerance: float = 0.04  # ``spec.rollout.splitTolerance``
    #: The roles ("stable", "canary") whose counters had no scraped sample when the split
    #: settled: their counts miss what they served before their first scrape (PromQL's
    #: ``increase`` cannot count a series' first sample), so the split is judged on the
    #: requests from the first analysis that saw them on (``domain.gates``).
    scraped_late: tuple[str, ...] = ()


@dataclass(frozen=True)
class LatencyMeasurement:
    """``latency`` gate: each predictor's request-latency histogram since the step started.

    ``bucket_bounds`` are the histogram's upper bounds in seconds (ascending, the last +inf;
    only those both versions' histograms have, when their layouts differ);
    ``canary_buckets``/``stable_buckets`` the cumulative counts per bound (the last is the request
    count). The gate judges the share of slow requests, a count the sequential tests handle
    exactly; the p95s are for humans: the canary's from the gate's template (over the last
    analysis interval; from its bucket counts when that query failed), the stable's from its
    bucket counts since the step started (``bucket_quantile``), the counts its slow threshold
    is frozen from. ``stable_p95_seconds`` is None when the stable predictor served nothing (a
    100 % step: the gate then judges by its ``max`` alone).
    """

    canary_p95_seconds: float
    canary_requests: int
    stable_p95_seconds: float | None
    stable_requests: int
    bucket_bounds: tuple[float, ...] = ()
    canary_buckets: tuple[int, ...] = ()
    stable_buckets: tuple[int, ...] = ()
    split: SplitCounts | None = None


def bucket_quantile(q: float, bounds: tuple[float, ...], cumulative: tuple[int, ...]) -> float:
    """The ``q`` quantile of a classic histogram's cumulative bucket counts, as PromQL's
    ``histogram_quantile`` interpolates it within the bucket its rank falls in (from 0 below
    the first bucket), except that a rank in the +Inf bucket is +Inf (above the largest finite
    bucket: no bound to count a request above), where PromQL answers that bucket's bound. NaN
    without a request."""
    if not cumulative or not bounds or cumulative[-1] <= 0:
        return math.nan
    rank = q * cumulative[-1]
    for i, (bound, count) in enumerate(zip(bounds, cumulative, strict=True)):
        if count >= rank:
            if not math.isfinite(bound):
                return math.inf
            lower, below = (bounds[i - 1], cumulative[i - 1]) if i else (0.0, 0)
            if bound <= 0 or count <= below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
    return math.inf


@dataclass(frozen=True)
class ErrorRateMeasurement:
    """``errorRate`` gate: failed and total requests of each predictor (cumulative in the step)."""

    canary_errors: int
    canary_requests: int
    stable_errors: int
    stable_requests: int
    split: SplitCounts | None = None


@dataclass(frozen=True)
class FeatureHistogram:
    """One feature on fixed bins: training-reference counts and live counts, bin for bin.

    ``reference`` comes from the version's training reference artifact, ``live`` from the
    runtime's per-bin counters; both use the bin edges stored with the model.
    """

    reference: tuple[int, ...]
    live: tuple[int, ...]


@dataclass(frozen=True)
class DriftMeasurement:
    """``drift`` gate: one histogram pair per feature, by feature name."""

    features: Mapping[str, FeatureHistogram]


@dataclass(frozen=True)
class QiniEstimate:
    """An offline Qini score with its confidence bounds, as logged in the version's MLflow run.

    ``lower``/``upper`` are None when the run logged no interval; ``samples`` is the evaluation
    set's size, None when not logged. ``replicates`` are the Qini on the trainer's bootstrap
    resamples; two versions evaluated on the same ``evaluation_set`` (a fingerprint of the rows
    and the resampling seed) share their resamples, so their replicates pair up.
    """

    estimate: float
    lower: float | None = None
    upper: float | None = None
    samples: int | None = None
    replicates: tuple[float, ...] | None = None
    evaluation_set: str | None = None


@dataclass(frozen=True)
class QiniMeasurement:
    """``qini`` gate: per treatment, the canary's and the stable version's offline Qini.

    ``stable`` may lack a treatment (or be empty) when the stable version's run did not log it;
    the gate then judges the canary by the absolute floor alone.
    """

    canary: Mapping[str, QiniEstimate]
    stable: Mapping[str, QiniEstimate] = field(default_factory=dict)


@dataclass(frozen=True)
class ArmCounts:
    """Units assigned to one arm of one version, and how many of them converted."""

    units: int
    conversions: int


@dataclass(frozen=True)
class VersionArms:
    """One version's randomized arms: the holdout (never treated) and the treated units."""

    holdout: ArmCounts
    treated: ArmCounts


@dataclass(frozen=True)
class OnlineEffectMeasurement:
    """``onlineEffect`` gate: holdout and treated counts per version, and the configured split.

    ``holdout_fraction`` is ``spec.experiment.holdoutFraction``: the expected share of each
    version's units in its holdout, checked (sample ratio) before any effect is compared. The
    effect test compares the treated (policy-applied) units of the two versions, both drawn at
    random from the same population; the holdouts give each version's incremental effect.

    The arms count **cohorts**: the step's decisions whose attribution window has closed, with
    the conversions reported within it (``spec.experiment.attributionWindow``). Counting units
    when decided and conversions when reported mixed each step's units with the conversions of
    earlier steps' decisions, made at other weights: equal versions were rolled back in every
    run once conversions lagged a few analysis intervals (``bench/conversion_lag.py``).
    ``pending`` says, while no cohort of the step has closed yet, from when one will (a wait
    with an end: it holds, counted towards no ``inconclusiveLimit``); ``missing`` why there are
    no cohort counts although the window has closed (which may last: counted as usual).
    """

    canary: VersionArms
    stable: VersionArms
    holdout_fraction: float
    split: SplitCounts | None = None
    pending: str = ""
    missing: str = ""


@dataclass(frozen=True)
class UpliftSanityMeasurement:
    """``upliftSanity`` gate: the canary's mean predicted uplift vs its training distribution.

    ``training_mean``/``training_std`` describe the predicted uplift over the training (or
    validation) set, as logged in the version's MLflow run. With several treatments the mean is
    the request's average over them and ``requests`` counts requests, not values.
    ``live_std``: an upper estimate of the per-request sd of that average on the canary's
    traffic (None: the runtime does not export it, the training sd stands in).
    """

    canary_mean_uplift: float
    requests: int
    training_mean: float
    training_std: float
    live_std: float | None = None


@dataclass(frozen=True)
class CustomMeasurement:
    """``custom`` gate: one scalar from PromQL; ``samples`` when the query can say (else None)."""

    value: float
    samples: int | None = None


@dataclass(frozen=True)
class DeliveryRateMeasurement:
    """``deliveryRate`` gate: treatments delivered (sender reported ``status="ok"``) and the
    delivery reports received (ok or failed) in the step's window; treatments decided (the
    campaign's treated-arm rows with a treatment) in the step's window up to the gate's
    ``reportDelay`` ago (``decided``), and since then (``recent``). A report carries no
    decision time, so the reports cannot be split the same way: those of the recent decisions
    are among ``delivered``. The two sides of the test therefore judge two sets of decisions,
    each only in the direction its counts cannot mislead (``trials``, ``pass_trials``).
    ``reported`` None: the source counts no reports."""

    delivered: int
    decided: int
    reported: int | None = None
    recent: int = 0

    @property
    def trials(self) -> int:
        """The decisions a Fail is judged on: every reported one, and at least every one old
        enough that a missing report means a missing delivery. ``delivered`` may include
        reports of recent decisions, so it can only overstate their deliveries: a sender that
        drops a share p of them silently reads about p·(T − d)/T delivered at a step's age T,
        never failed for what is in flight."""
        return max(self.decided, self.reported or 0)

    @property
    def pass_trials(self) -> int:
        """The decisions a Pass is judged on: every one of the step, a recent one delivered
        only once reported. ``delivered`` can then only understate their deliveries (a report
        in flight reads as none), but for the reports of decisions taken before the step (at
        most a ``reportDelay``'s worth, at the previous step's lower exposure). So a sender
        that silently drops a share of its deliveries does not pass on the reports of the
        decisions it kept (judged against ``decided`` alone, it read as delivering them all at
        a step's first analyses), and an honest one passes once its deliveries in flight (its
        delay over the step's age) are a small share."""
        return max(self.decided + self.recent, self.reported or 0)


@dataclass(frozen=True)
class OutcomeCompleteness:
    """Outcomes reported in their attribution window over outcomes expected, for the decisions
    whose window closed in the step's window (``uplift_outcomes_received_total`` /
    ``uplift_outcomes_expected_total``); ``late`` outcomes arrived after their window and are
    counted nowhere else. ``expected`` 0: no window has closed yet, so completeness is unknown."""

    expected: int
    received: int
    late: int = 0

    @property
    def ratio(self) -> float | None:
        return self.received / self.expected if self.expected > 0 else None


@dataclass(frozen=True)
class CampaignUnits:
    """Decisions of a campaign in each arm since its exposure ramp started, on every model
    version (the status's ``treatedUnits`` and ``holdoutUnits``), whatever the gates count: a
    unit decided again counts again."""

    treated: int
    holdout: int


@dataclass(frozen=True)
class CampaignArms:
    """A campaign's exposed units: the treated arm (the policy applied) and the persistent
    holdout, with their in-window conversions (intention to treat: rows the policy left
    untreated stay in the treated arm, as holdout rows stay in the holdout)."""

    treated: ArmCounts
    holdout: ArmCounts


@dataclass(frozen=True)
class IncrementalConversionsMeasurement:
    """``incrementalConversions`` gate: treated vs holdout conversions of one campaign.

    ``holdout_fraction`` is ``spec.experiment.holdoutFraction``, checked (sample ratio) before
    the effect; ``completeness`` None when the source exports no completeness counters;
    ``completes``: a Pass at this analysis completes the exposure ramp (its last step, with a
    pause), so it also needs the holdout share shown within ``split_tolerance``
    (``spec.exposure.splitTolerance``, standardised as ``domain.gates.holdout_tolerance``; 0:
    no wait); ``pending`` why no cohort can be judged yet (the arms are then empty)."""

    arms: CampaignArms
    holdout_fraction: float
    completeness: OutcomeCompleteness | None = None
    completes: bool = False
    split_tolerance: float = 0.04
    pending: str | None = None


@dataclass(frozen=True)
class RoiStratum:
    """The cohorts of one treatment in both arms, for an roi gate whose treatments differ in
    value: the treated-arm units the policy gave ``treatment`` (its key, the runtime's
    ``treatment`` label; ``none`` for the rows given nothing), the holdout units it would
    have given it (a holdout row carries its withheld treatment), their in-window conversions,
    and what one of its conversions is worth."""

    treatment: str
    value_per_conversion: float
    treated: ArmCounts
    holdout: ArmCounts


@dataclass(frozen=True)
class RoiMeasurement:
    """``roi`` gate: the same counts as ``incrementalConversions`` plus the economics.

    ``value_per_conversion`` is the campaign's (``spec.economics``, or the treatments' own when
    they all share one); ``spend`` what the arms' treated units cost: the spend per treated-arm
    unit decided over the cohorts' own decisions (``uplift_campaign_spend_total``, known
    exactly, not sampled) times the cohorts' treated units.

    ``strata``: when the treatments the gate judges differ in value, the cohorts per treatment
    (``RoiStratum``; ``arms`` their sums), so the incremental value is each treatment's value
    times its own incremental conversions, Σ_k v_k·(C_T,k − C_H,k·n_T,k/n_H,k), and
    ``value_per_conversion`` the scale it is shown at (the mean of those values, fixed for the
    spec). Empty: one value, times the arms' incremental conversions.
    ``completes``, ``split_tolerance`` and ``pending`` as ``IncrementalConversionsMeasurement``'s."""

    arms: CampaignArms
    holdout_fraction: float
    value_per_conversion: float
    spend: float
    completeness: OutcomeCompleteness | None = None
    completes: bool = False
    split_tolerance: float = 0.04
    pending: str | None = None
    strata: tuple[RoiStratum, ...] = ()


@dataclass(frozen=True)
class BudgetMeasurement:
    """``budget`` gate: spend in the current budget period summed over replicas, against
    ``spec.economics.budget``. ``period_end`` None: the budget covers the whole campaign.
    ``cheapest``: the cost of the campaign's cheapest treatment: a replica treats only while a
    treatment's cost fits what is left (``runtime.policy.apply_budget``), so one replica stops
    just short of the budget, once what is left pays for no treatment (0, a free treatment:
    it always fits, so the spend alone counts). ``ledgers``: the reading it was summed from,
    each runtime ledger's last spend in the period as Prometheus holds it (None: the spend
    counter's increase, a runtime without the period gauges); the pass merges it with the
    status' record of the period (``domain.budget.remembered``) before the gate judges;
    ``remembered``: how much of ``spend`` the record adds to what Prometheus shows now (the
    spend of ledgers it no longer holds, or held higher before), said in the gate's message."""

    spend: float
    budget: float
    period_start: datetime
    period_end: datetime | None = None
    cheapest: float = 0.0
    ledgers: Mapping[str, float] | None = None
    remembered: float = 0.0


@dataclass(frozen=True)
class NotMeasured:
    """Nothing measures this gate yet (no collector for the gate type in this kind): the gate is
    Inconclusive, never Pass, so a ramp cannot advance on no evidence. ``holds``: a source it
    needs is unreachable for now (MLflow): the ramp holds, not counted towards a pause."""

    why: str
    holds: bool = False


Measurement = (
    LatencyMeasurement
    | ErrorRateMeasurement
    | DriftMeasurement
    | QiniMeasurement
    | OnlineEffectMeasurement
    | UpliftSanityMeasurement
    | CustomMeasurement
    | DeliveryRateMeasurement
    | IncrementalConversionsMeasurement
    | RoiMeasurement
    | BudgetMeasurement
)
