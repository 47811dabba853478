"""Collect what each gate needs: PromQL over the runtime's counters, MLflow run metrics, artifacts.

One function per gate type turns (gate, context) into a ``domain.measurements`` value: ``None`` when
there is no data yet, ``MeasurementError`` when a source could not be asked. Comparative counts
are taken since the current step started (``increase(...[<seconds since step start>s])``), because
the sequential tests need a fixed traffic split within a stratum (the gates carry the evidence
across steps); the canary's own counts (drift, predicted uplift) since the canary started. Each
count a test reads is scaled from Prometheus's extrapolation to what the range's scrapes observed
(``observed_share``: half of a 60 s range's ``increase`` at 30 s scrapes).
onlineEffect reads cohorts: the decisions whose attribution window closed with their in-window
conversions, since the step's start + the window (``GateContext.cohort_window``): conversions
as the runtime counts them when each window closes, units when decided, a window earlier
(``offset``), or as counted when their windows close where that count is larger, so its units
and conversions are the same decisions, all made at the step's weights.
Metric names and labels are the runtime's contract (``runtime/metrics.py``, ``docs/runtime.md``).
Each collector declares the sources it reads (``Collector.reads``: Prometheus, the MLflow run)
and is handed those only; what holds while MLflow cannot be asked is derived from that
(``gate_types_reading``), not listed again elsewhere.

Campaign gates have their own context and table (``collect_campaign``): one campaign's counters
(``namespace``, ``model``, ``campaign``) since the exposure step started, summed over replicas —
the conversion gates' (incrementalConversions, roi) of the version the campaign follows only
(``CampaignGateContext.followed``: a canary of the model serves the campaign too), their
cohorts not before a window after the campaign began deciding on that version
(``CampaignGateContext.cohort_window``); deliveryRate's and the budget's over every version
(the sender delivers, and the campaign pays for, what any predictor decided), the budget's
spend since its period started, per runtime ledger (the pass merges it with the ledgers its
status recorded: ``domain.budget.remembered``; a spend Prometheus cannot give holds, never an
Error counted towards a rollback: ``_campaign_budget``); drift and custom reuse the UpliftModel collectors on
the stable version the campaign follows (drift's reference from that version's MLflow run;
MLflow unreachable is NotMeasured, which holds, never an Error).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from uplift_operator.adapters.mlflow_registry import (
    CredentialsRefused,
    RegistryError,
    RegistryNotFound,
    RegistryUnavailable,
)
from uplift_operator.adapters.prometheus import (
    PARTIAL,
    BeyondRetention,
    MetricsUnavailable,
    OverLimits,
    PrometheusError,
    QueryError,
    StorageRetention,
    query_reach,
)
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.api.v1alpha1.common import GateSpecBase, parse_duration
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import budget, templates, validation
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import measurements as m
from uplift_operator.model.keys import treatment_key
from uplift_operator.services.ports import MetricSource, Registry

__all__ = ["AnalysisQueries", "CampaignGateContext", "Collector", "GateContext", "Source",
           "collect", "collect_campaign", "gate_types_reading", "per_analysis", "sources_read"]

REFERENCE_HISTOGRAMS = "reference/feature_histograms.json"
REFERENCE_UPLIFT = "reference/uplift_distribution.json"
REFERENCE_QINI_BOOTSTRAP = "reference/qini_bootstrap.json"


@dataclass(frozen=True)
class GateContext:
    """Everything a collector needs to know about the resource at this analysis."""

    namespace: str
    name: str
    canary_version: str
    stable_version: str
    canary_run_id: str | None
    stable_run_id: str | None
    step_started_at: datetime
    canary_started_at: datetime
    now: datetime
    analysis_interval_s: float
    holdout_fraction: float
    metric_templates: Mapping[str, str]
    treatments: tuple[tuple[str, str], ...]  # (name in the spec, key in the model's metrics)
    canary_share: float | None = None  # the step's weight / 100, for the traffic-split check
    split_applied_at: datetime | None = None  # the split applied again mid-step (status field)
    promotes: bool = False  # a Pass at this step promotes the canary (the ramp's last step)
    split_tolerance: float = 0.04  # spec.rollout.splitTolerance
    attribution_window_s: float = 0.0  # spec.experiment.attributionWindow (onlineEffect)
    #: How looking up a version's run failed (its run id is None then): the gates that read
    #: that run raise it (``_run_of``), MLflow unavailable holding them, rather than read a
    #: version with no MLflow run (an Error) or, qini's stable, no stable to compare with.
    canary_run_error: RegistryError | None = None
    stable_run_error: RegistryError | None = None
    #: Seconds between Prometheus's scrapes of the runtime pods (``--prometheus-scrape-
    #: interval``): the counts the tests read are scaled to what the scrapes in their range
    #: observed (``observed_share``). 0: taken as Prometheus extrapolates them.
    scrape_interval_s: float = 0.0
    #: Seconds before a sample can be queried (``--prometheus-query-lag``: a remote-write
    #: backend's ingestion lag): the newest scrapes of a range are not in its answer yet, so
    #: ``observed_share`` counts its scrapes over the range less this. 0: all are.
    query_lag_s: float = 0.0
    #: Seconds after a change of the canary's percent until every pod has the campaigns
    #: file's new copy (``--split-propagation-grace``): the step's cohorts begin that long
    #: after its start (``cohort_window``). 0: at its start.
    propagation_grace_s: float = 0.0

    @property
    def window(self) -> str:
        """Seconds since the step started, as a PromQL range."""
        return _range(self.now - self.step_started_at)

    @property
    def settled_window(self) -> str | None:
        """Since the step's split settled (one analysis interval after the step started, or
        after it was applied again mid-step), as a PromQL range; None while it has not."""
        applied = max(self.step_started_at, self.split_applied_at or self.step_started_at)
        elapsed = (self.now - applied).total_seconds() - self.analysis_interval_s
        return f"{int(elapsed)}s" if elapsed >= 1 else None

    @property
    def cohort_window(self) -> str | None:
        """Since the attribution window closed on the step's first counted decisions (the
        step's start + ``propagation_grace_s`` + the window), as a PromQL range: the runtime
        counts a decision's in-window conversions when its window closes, so this range holds
        those of the step's decisions whose window closed (their units: the same range a window
        earlier), all made at the step's weights. The decisions of the step's first
        ``propagation_grace_s`` are left out: while the split's new copy reaches the pods, a
        pod on the old copy may count a unit between the old and the new percent for the
        version that then owned it, and the same unit, returning after the grace, for the
        other (docs/statistics.md, "Units and rows"). None until it has closed."""
        elapsed = ((self.now - self.step_started_at).total_seconds() - self.propagation_grace_s
                   - self.attribution_window_s)
        return f"{int(elapsed)}s" if elapsed >= 1 else None

    @property
    def canary_window(self) -> str:
        """Seconds since the canary started, as a PromQL range."""
        return _range(self.now - self.canary_started_at)

    def selector(self, version: str, **extra: str) -> str:
        # campaign="": the model's own decisions only. A Campaign's decisions land in the same
        # version's counts, drawn with its own salt and holdout (docs/runtime.md, "With the
        # UpliftModel's gates"); series without the label (latency, drift) match it as well.
        labels = {"namespace": self.namespace, "model": self.name, "version": version,
                  "campaign": "", **extra}
        # Each value escaped (``templates.label_value``), as ``render`` escapes a template's:
        # a hand-edited version stays inside its string, never adds a matcher or an ``or``.
        return "{" + ", ".join(f'{k}="{templates.label_value(v)}"'
                               for k, v in labels.items()) + "}"

    def versions_selector(self, **extra: str) -> str:
        """``selector`` for both versions at once (``version=~"<stable>|<canary>"``): one query
        answers for both, ``sum by (version)``."""
        versions = "|".join(re.escape(v) for v in (self.stable_version, self.canary_version))
        value = templates.label_value
        labels = {"namespace": f'="{value(self.namespace)}"', "model": f'="{value(self.name)}"',
                  "version": f'=~"{value(versions)}"', "campaign": '=""',
                  **{k: f'="{value(v)}"' for k, v in extra.items()}}
        return "{" + ", ".join(f"{k}{v}" for k, v in labels.items()) + "}"

    def variables(self, version: str) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name, "model": self.name,
                "version": version, "predictor": f"v{version}",
                "interval": rate_interval(self.analysis_interval_s, self.scrape_interval_s,
                                          self.query_lag_s)}

    def share(self, window: str | None) -> float:
        """``observed_share`` of ``window`` at this context's scrape interval and query lag."""
        return observed_share(window, self.scrape_interval_s, self.query_lag_s)


Collected = m.Measurement | m.MeasurementError | m.NotMeasured | None
_A = TypeVar("_A")


#: How much nearer than Prometheus' retention a query's start must stay (seconds): Prometheus
#: keeps every sample from its retention back from its own clock on, and the analysis's
#: instant is not quite its clock (a few seconds of skew, the analysis's own duration).
RETENTION_MARGIN = 600.0


@runtime_checkable
class KnowsRetention(Protocol):
    """A metric source that can tell how long Prometheus keeps samples
    (``PrometheusClient.storage_retention``, through ``PiecewiseIncreases``)."""

    def storage_retention(self) -> StorageRetention | None: ...


def beyond_retention(reach: float, retention: StorageRetention | None) -> str | None:
    """Why a query that reads ``reach`` seconds back from the analysis's instant must not be
    judged, or None: Prometheus keeps ``retention`` (None: unknown, no check), and counts from
    before that are gone, so the query's would be short by them. Stable words (a gate's
    status): the reach rounded up (``_reach_text``), and what ends the hold:
    nothing on its own (the step cannot advance; at ``progressDeadline`` the resource is
    Degraded, never rolled back), a longer retention (read again within the hour) or a
    promote or abort by hand."""
    if retention is None or reach <= retention.seconds - RETENTION_MARGIN:
        return None
    return (f"Prometheus keeps {_span_text(retention.seconds)} of samples (storageRetention "
            f"{retention.text!r}) and this gate's counts "
            f"{_reach_text(reach, retention.seconds)}: those from before its retention are "
            "gone, so they are not judged and the step cannot advance (past progressDeadline: "
            "Degraded, not rolled back) — raise Prometheus' --storage.tsdb.retention.time above "
            "the step's length (plus the attribution window for a Campaign's cohorts; read "
            "again within the hour), or promote or abort by hand (kubectl uplift "
            "promote|abort)")


_SPAN_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _span_text(seconds: float) -> str:
    """A retention as a duration: ``15d``, ``1d12h``, ``1h30m`` (whole seconds)."""
    left = max(int(seconds), 0)
    parts = []
    for unit, size in _SPAN_UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _reach_text(reach: float, keep: float) -> str:
    """Where a query's counts start next to a retention of ``keep`` seconds: ``start 17d
    back``, rounded up in the largest unit (whole days from two days up; hours, then minutes)
    that still shows the reach past the retention (``start 15d3h back`` two and a half hours
    past 15 days, not ``15d``); short of it by less than ``RETENTION_MARGIN``, said so (rounded down,
    a reach 9 minutes short of 15 days read ``14d``, as if a day inside it). The text moves at
    most once a day, an hour within a day of the retention, a minute within an hour of it:
    a gate's status is not rewritten at every look."""
    if reach <= keep:
        return f"start less than {_span_text(RETENTION_MARGIN)} inside it"
    for _, size in _SPAN_UNITS[:-1]:
        if (reach >= 2 * size or size == 60) and reach - keep >= size:
            return f"start {_span_text(math.ceil(reach / size) * size)} back"
    return "start less than 1m past it"


class AnalysisQueries:
    """One analysis's Prometheus source: every query is evaluated at the analysis's instant,
    and each distinct query is asked once, however many of the analysis's gates read it
    (errorRate and latency check the same traffic split). Built per analysis, so nothing
    outlives the instant it was asked at; a query that fails on its own (Prometheus refused
    it) is not kept (the next gate asks again, and gets its own Error). A query that got no
    answer at all (``MetricsUnavailable.unanswered``: refused, timed out), or whose error came
    only after its evaluation timeout (``MetricsUnavailable.overloaded``: an overloaded
    Prometheus answers each query so, 8 s at the client's 10 s timeout), is kept for the rest
    of the analysis: every query after it fails at once, without holding a pass thread for
    one timeout per query (a Campaign's analysis asked four in a row: 40 s at the client's
    10 s timeout). After an unanswered one, with the same error: the server's failure, so each
    gate that reads Prometheus is an Error, as when each asked. After an overloaded one, as
    not asked (``asked`` False), naming the slow query: that query's gate is the counted Error;
    the gates after it, whose own queries may be cheap, hold (``_guarded``), whatever order
    the gates come in.

    The common instant matters: the ranges (``[<seconds since the step started>s]``) are
    computed from ``at``, and counts that are compared from different queries (deliveryRate's
    decisions against its reports; a holdout's arms are one ``sum by (arm)`` query) must come
    from the same scrapes. Evaluated at Prometheus's own "now", a scrape
    landing between two queries gave one arm a second more of traffic than the other: at
    the first look of a step, a few seconds into it, a mismatch the SRM check holds on.

    A query that reaches further back than Prometheus keeps samples (its range, plus its
    ``offset``: ``adapters.prometheus.query_reach``, from the analysis's instant) is not sent
    where the source knows Prometheus' retention (``KnowsRetention``: read at most hourly,
    unknown for a retention by size only, Thanos' querier, a ``remote_read``): it raises
    ``BeyondRetention`` (``beyond_retention``), on which the gate holds (``_guarded``), rather
    than judge counts short by what Prometheus deleted (a step longer than the retention, a
    Campaign's cohorts read an attribution window back). ``past_retention`` is the same source
    without that check, for the reads that stand in for what Prometheus lost (the budget's
    ledgers, remembered in the status; the ramp's units, which keep their larger count) and
    for the counts since the canary or the ramp started (``lifetime``: kept in pieces)."""

    def __init__(self, source: MetricSource, at: datetime | None = None) -> None:
        self._source = source
        self._at = at
        self._answers: dict[tuple[str, Any], Sequence[Any]] = {}
        self._scalars: dict[tuple[str, Any], float | None] = {}
        self._unanswered: MetricsUnavailable | None = None
        self._slow_query = ""
        self._retention: StorageRetention | None = None
        self._retention_read = False

    def query(self, promql: str, time: datetime | float | None = None, *,
              checked: bool = True) -> Sequence[Any]:
        key = (promql, time or self._at)
        if checked:
            self._within_retention(promql, key[1])
        if key not in self._answers:
            self._answers[key] = self._ask(self._source.query, promql, key[1])
        return self._answers[key]

    def scalar(self, promql: str, time: datetime | float | None = None, *,
               checked: bool = True) -> float | None:
        key = (promql, time or self._at)
        if checked:
            self._within_retention(promql, key[1])
        if key not in self._scalars:
            self._scalars[key] = self._ask(self._source.scalar, promql, key[1])
        return self._scalars[key]

    def past_retention(self) -> MetricSource:
        """This analysis's queries without the retention check."""
        return _PastRetention(self)

    def _within_retention(self, promql: str, time: Any) -> None:
        """Raise ``BeyondRetention`` for a query that reaches past Prometheus' retention."""
        reach = query_reach(promql)
        if not reach:
            return
        at, instant = _epoch(self._at), _epoch(time)
        if at is not None and instant is not None:
            reach += max(0.0, at - instant)  # evaluated earlier than the analysis
        if not self._retention_read:  # once per analysis, on its first query reaching back
            self._retention_read = True
            if isinstance(self._source, KnowsRetention):
                self._retention = self._source.storage_retention()
        why = beyond_retention(reach, self._retention)
        if why is not None:
            raise BeyondRetention(why)

    def _ask(self, ask: Callable[[str, Any], _A], promql: str, time: Any) -> _A:
        if self._unanswered is not None:
            down = self._unanswered
            if not down.unanswered:
                # Overloaded: the server answers, only too slowly for that one query. This
                # query was never sent, so it says nothing of its gate: not asked, held
                # (``_guarded``), naming the slow one; that one's gate keeps its counted Error.
                raise MetricsUnavailable(
                    f"not asked: an earlier query of this analysis was answered only after "
                    f"Prometheus' evaluation timeout ({down.message}): {self._slow_query}",
                    status_code=down.status_code, error_type=down.error_type,
                    overloaded=True, asked=False)
            raise type(down)(down.message, status_code=down.status_code,
                             error_type=down.error_type, unanswered=down.unanswered,
                             overloaded=down.overloaded)
        try:
            return ask(promql, time)
        except MetricsUnavailable as error:
            if error.unanswered or error.overloaded:
                self._unanswered = error
                self._slow_query = _shortened(promql)
            raise


class _PastRetention:
    """``AnalysisQueries.past_retention``."""

    def __init__(self, queries: AnalysisQueries) -> None:
        self._queries = queries

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Any]:
        return self._queries.query(promql, time, checked=False)

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return self._queries.scalar(promql, time, checked=False)


def past_retention(source: MetricSource) -> MetricSource:
    """``source`` without the retention check (``AnalysisQueries.past_retention``)."""
    return source.past_retention() if isinstance(source, AnalysisQueries) else source


def lifetime(source: MetricSource) -> MetricSource:
    """``source`` for a count since the canary (or a Campaign's exposure ramp) started: drift's
    live histogram and upliftSanity's counters (``GateContext.canary_window``), read past
    Prometheus' retention (``past_retention``) rather than held on it. Their range grows with
    the canary's age, not the step's: checked, a canary or a ramp older than the retention
    (the sample Campaign's past its first 14-day step, at Prometheus' default 15 days) held
    every such gate at every look, for good, whatever its step's length, until the progress
    deadline.

    What Prometheus no longer holds is not lost while the operator runs: ``PiecewiseIncreases``
    answers the range from pieces it read while Prometheus held them. After a restart it reads
    what Prometheus still holds, and the counts restart short, once: drift's betting takes only
    rows above each bin's highest count remembered (``domain.gates._drift_evidence``), its
    bounds and upliftSanity's rest on the rows still held, all since one instant (the fewer,
    the wider). Not clamped to the retention instead: a range whose start moves with every
    analysis is a window that drops rows as it takes new ones, so drift's "rows since the last
    look" (a bin's count minus its highest so far) would be new minus dropped rows, not the
    rows to bet on; the bounds' time-uniform coverage rests on a sample that only grows; and
    ``PiecewiseIncreases`` keeps nothing for a start that moves: it would read the whole
    retention again at every analysis."""
    return past_retention(source)


def _epoch(moment: datetime | float | None) -> float | None:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return None if moment is None else float(moment)


def _shortened(promql: str, at_most: int = 120) -> str:
    """A query as a message names it: one line, at most ``at_most`` characters."""
    text = " ".join(promql.split())
    return text if len(text) <= at_most else text[: at_most - 1] + "…"


def per_analysis(source: MetricSource | None, at: datetime | None = None) -> MetricSource | None:
    """``source`` for one analysis at instant ``at`` (``AnalysisQueries``), None staying
    None."""
    return None if source is None else AnalysisQueries(source, at)


def _range(elapsed: Any) -> str:
    # Never reach back before the step (or canary) started: earlier counts belong to another
    # split. A range shorter than two scrapes yields no data, which the gates read as
    # Inconclusive.
    return f"{max(int(elapsed.total_seconds()), 1)}s"


_G = TypeVar("_G", bound=GateSpecBase)
_C = TypeVar("_C")


class _SourceDownError(Exception):
    """A source failed; converted to a MeasurementError at the boundary."""


class Source(StrEnum):
    """A source a gate's collector reads."""

    PROMETHEUS = "Prometheus"
    #: The canary's (or a Campaign's stable version's) MLflow run: its metrics and artifacts.
    MLFLOW = "MLflow"


@dataclass(frozen=True)
class Collector(Generic[_G, _C]):
    """A gate type's collector (``collect``) and the sources it reads (``reads``): the one
    place that says what a gate type needs. ``_guarded`` hands it those sources only (the
    others as None), so a collector that reads a source it does not declare fails at every
    measurement, not just while that source is down; and the gates held while MLflow cannot
    be asked (``services.upliftmodel``) are the ones whose collector declares it
    (``gate_types_reading``), so a new gate type that reads MLflow cannot be left out."""

    collect: Callable[[_G, _C, MetricSource | None, Registry | None], Collected]
    reads: frozenset[Source]


_PROMETHEUS = frozenset({Source.PROMETHEUS})
_MLFLOW = frozenset({Source.MLFLOW})
_PROMETHEUS_AND_MLFLOW = frozenset({Source.PROMETHEUS, Source.MLFLOW})


def collect(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
            registry: Registry | None) -> Collected:
    """The measurement for ``gate``; never raises for an unreachable source."""
    return _guarded(_COLLECTORS.get(gate.type), gate, ctx, prometheus, registry)


def sources_read(gate_type: str) -> frozenset[Source]:
    """What an UpliftModel gate of ``gate_type`` reads, as its collector declares it (nothing
    for a type without a collector: it is never measured)."""
    collector = _COLLECTORS.get(gate_type)
    return collector.reads if collector is not None else frozenset()


def gate_types_reading(source: Source) -> frozenset[str]:
    """The UpliftModel gate types whose collector reads ``source``."""
    return frozenset(type_ for type_, collector in _COLLECTORS.items()
                     if source in collector.reads)


def _guarded(collector: Collector[_G, _C] | None, gate: _G, ctx: _C,
             prometheus: MetricSource | None, registry: Registry | None) -> Collected:
    """Run ``collector`` at the boundary where a source failure becomes the gate's Error,
    given the sources it declares only."""
    if collector is None:  # a gate type without a collector is never judged on no evidence
        return m.NotMeasured(f"no collector for {gate.type} gates")
    try:
        return collector.collect(
            gate, ctx, prometheus if Source.PROMETHEUS in collector.reads else None,
            registry if Source.MLFLOW in collector.reads else None)
    except CredentialsRefused as error:
        # 401/403 (e.g. READ on the model but not on its run's experiment): held alike, never
        # an Error towards a rollback, but named by the reason ModelResolved gives a refusal.
        return m.NotMeasured(f"holding: {cond.CREDENTIALS_REFUSED} ({error})", holds=True)
    except RegistryUnavailable as error:
        # MLflow out of reach says nothing about the traffic: hold, as a pass whose version
        # lookup failed does, never an Error counted towards a rollback (the lookup may have
        # come from the cache a moment before MLflow went away).
        return m.NotMeasured(f"holding: MLflow unavailable ({error})", holds=True)
    except _SourceDownError as error:
        return m.MeasurementError(str(error))
    except QueryError as error:
        # Prometheus' own words (the adapter keeps them short; the query is in its log).
        return m.MeasurementError(f"bad query: {error}")
    except PrometheusError as error:
        # The adapter's short, stable text: the server and the cause class (refused, timed
        # out, HTTP 5xx with Prometheus' error); no class name, no client library internals.
        # A partial answer (a store that did not answer) and a query refused for the server's
        # limits (too many samples, HTTP 429) hold: Prometheus answered, and what it could not
        # give is its capacity's matter, not the model's doing, so no count towards a rollback
        # (consecutiveErrorLimit).
        # So does a query never sent because an earlier one of the analysis was answered only
        # after its evaluation timeout (``AnalysisQueries``): the slow one's gate is the Error
        # counted, not every gate after it whose own query may be cheap.
        # And a query never sent because it reaches past Prometheus' retention
        # (``BeyondRetention``): its counts would be short by what Prometheus deleted, a
        # matter of its configuration.
        not_asked = (isinstance(error, MetricsUnavailable) and error.overloaded
                     and not error.asked)
        return m.MeasurementError(str(error), holds=(error.error_type == PARTIAL
                                                      or isinstance(error, OverLimits
                                                                    | BeyondRetention)
                                                      or not_asked))
    except Exception as error:  # any source failure is the gate's Error, never a crash
        return m.MeasurementError(f"{type(error).__name__}: {error}")


def _prom(prometheus: MetricSource | None) -> MetricSource:
    if prometheus is None:
        raise _SourceDownError("no Prometheus configured (--prometheus-url)")
    return prometheus


def _reg(registry: Registry | None) -> Registry:
    if registry is None:
        raise _SourceDownError("no MLflow registry reachable")
    return registry


def _run_of(run_id: str | None, failed: RegistryError | None, version: str) -> str | None:
    """``run_id``, or, when it is None because looking the version up failed (``failed``),
    that failure: MLflow unavailable is ``RegistryUnavailable`` (the gate holds, as when the
    read itself fails), any other a ``_SourceDownError`` naming it. None only for a version
    MLflow says has no run."""
    if run_id is not None or failed is None:
        return run_id
    if isinstance(failed, RegistryUnavailable):  # its kind kept: CredentialsRefused says so
        raise type(failed)(failed.message, status_code=failed.status_code,
                           error_code=failed.error_code)
    raise _SourceDownError(f"version {version}'s MLflow run could not be looked up: {failed}")


def _canary_reference(ctx: GateContext, registry: Registry | None, path: str) -> Any:
    """A reference artifact the trainer logged in the canary version's MLflow run."""
    run_id = _run_of(ctx.canary_run_id, ctx.canary_run_error, ctx.canary_version)
    if run_id is None:
        raise _SourceDownError(f"version {ctx.canary_version} has no MLflow run")
    return _reg(registry).download_artifact_json(run_id, path)


#: Scrape intervals a ``{{interval}}`` range holds at least: Prometheus advises a ``rate()``
#: range of at least four scrapes, so that a missed or late scrape still leaves two samples.
RATE_SCRAPES = 4


def rate_interval(analysis_interval_s: float, scrape_interval_s: float,
                  query_lag_s: float = 0.0) -> str:
    """``{{interval}}`` as a gate query gets it: the analysis interval, but at least
    ``RATE_SCRAPES`` scrape intervals (``--prometheus-scrape-interval``) plus the query lag
    (``--prometheus-query-lag``). A ``rate()`` over a range of fewer than two samples has no
    value: an analysisInterval at or below the scrape interval left a custom gate (and the
    latency p95 shown) with no data at every look, an Inconclusive for ever; one of two or
    three scrapes had a value only while no scrape was missed or late. A backend that answers
    a sample only the lag after its scrape leaves the range's last lag seconds empty, so the
    range holds the scrapes of its first range − lag seconds: four of them only when it is
    the lag longer."""
    least = RATE_SCRAPES * scrape_interval_s + max(0.0, query_lag_s)
    return f"{int(max(analysis_interval_s, least))}s"


def _int_or_none(value: float | None) -> int | None:
    return None if value is None or not math.isfinite(value) else int(value)


def observed_share(window: str | None, scrape_interval_s: float,
                   query_lag_s: float = 0.0) -> float:
    """φ = max(0, (⌊(w − L)/s⌋ − 1) · s) / w: the share of ``increase(metric[w])`` that is never
    more than what the scrapes in its range observed, ``w`` the range in seconds (``window``,
    ``"<n>s"``; None: no range yet, 0), ``s`` the scrape interval and ``L`` the query lag
    (``--prometheus-query-lag``, 0 by default; below). Every count a sequential
    test reads is multiplied by it (``_per_version``, ``_count``, ``_by_label``, the collectors
    that read their own rows), then rounded.

    Why: Prometheus extrapolates each series' increase from its first and last sample in the
    range towards the range's edges, so a 60 s range at 30 s scrapes reports twice what its two
    samples counted. The tests take their counts as observed events: 7 errors seen among 30
    requests, read as 14 among 60, carried twice the evidence, and decided a step's first
    looks on it. A regularly scraped series has at least ⌊w/s⌋ samples in the range, so they
    span at least (⌊w/s⌋ − 1) · s, and Prometheus extrapolates that span to at most ``w``:
    φ · increase is at most what the scrapes counted, for every series and every alignment of
    the scrapes with the range (max(0, w − s)/w, right on average over the alignments, read a
    look 1.67 × what it observed at w = 80 s with two samples in the range). It equals
    (w − s)/w when ``w`` is a multiple of ``s`` (0.5 at 60 s, 0.75 at 120 s of 30 s scrapes)
    and is a little lower between them: at most s/w of the evidence is given up, barely any
    on long ranges (0.99 at an hour of 30 s scrapes). A range shorter than two scrape
    intervals is 0: nothing observed yet, and the collectors do not ask. One factor for every
    series and arm of a test (never a series' own last − first, which would shift a split by
    up to one scrape interval per series at the first looks), so the shares a split or
    sample-ratio check compares are unbiased as before; a gate whose counts come from ranges
    of different lengths (deliveryRate) scales them all by its step range's, so their ratios
    hold. The bound is a series scraped through the range's: one first scraped inside it (a
    pod started mid-range) has fewer samples, Prometheus extrapolates it back to its zero (what
    it counted before its first scrape, rightly) and forward to the range's end, and that last
    part, up to about a scrape interval of its events, may be read above what it counted.
    Not for exact figures (the budget's ledgers and spend) nor for values that are ratios (a
    custom gate's, a rate, a mean, roi's spend per decision), and only as good as
    ``--prometheus-scrape-interval`` is true: set too long it understates the evidence (slower
    decisions), too short it may leave some of the extrapolation in; a missed scrape (fewer
    samples than ⌊w/s⌋) may too, by one scrape interval's share.

    The query lag: a backend that answers a sample only some seconds after its scrape (a
    remote-write one: Thanos Receive, Mimir, Cortex; their ingestion lag) leaves the range's
    newest scrapes out of its answer, and Prometheus extrapolates the fewer samples to the
    whole range: ⌊w/s⌋ counted the missing ones, and read up to twice what the scrapes in the
    answer observed (a 61 s range at 30 s scrapes with one missing). The samples it answers
    lie in the range's first w − L seconds, at least ⌊(w − L)/s⌋ of them, so the bound holds
    with w − L in their count when L is at least the backend's lag. It gives up at most
    ⌈L/s⌉ scrape intervals of the range's evidence (s·⌈L/s⌉/w), and a range shorter than
    L + 2·s is 0."""
    if window is None or scrape_interval_s <= 0:
        return 0.0 if window is None else 1.0
    seconds = float(window.removesuffix("s"))
    if seconds <= 0:
        return 0.0
    answered = seconds - max(0.0, query_lag_s)
    return max(0.0, (math.floor(answered / scrape_interval_s) - 1) * scrape_interval_s) / seconds


def too_short(window: str, scrape_interval_s: float, query_lag_s: float = 0.0) -> str:
    """Why a range whose ``observed_share`` is 0 is not asked: fewer than two scrapes in it
    (that Prometheus answers already: ``query_lag_s``)."""
    lag = (f" plus the query lag (--prometheus-query-lag {query_lag_s:g}s)" if query_lag_s > 0
           else "")
    return (f"the range {window} is shorter than two scrape intervals "
            f"(--prometheus-scrape-interval {scrape_interval_s:g}s){lag}: its scrapes have "
            f"observed nothing to count yet, and Prometheus is not asked")


def _count(prometheus: MetricSource, promql: str, share: float = 1.0) -> int | None:
    """The one value of ``promql`` (None: no data), times ``share`` (``observed_share``), as a
    count (``_observed``)."""
    return _observed(prometheus.scalar(promql), share)


def _observed(value: float | None, share: float = 1.0) -> int | None:
    """A count read from Prometheus, times ``share``: None (no data) for none, NaN or ±Inf, as
    ``_per_version`` leaves a non-finite row out (an infinite value, e.g. a division by 0 in a
    recording rule, counts nothing: ``round`` raised OverflowError, and the collection failed
    as an operator defect); a negative value (no count is; an extrapolation around a counter's
    reset) is 0, as the spend read is clamped at 0."""
    if value is None or not math.isfinite(value):
        return None
    return max(0, round(value * share))


def _per_version(prom: MetricSource, ctx: GateContext, metric: str, window: str, *,
                 by: tuple[str, ...] = (), labels: Mapping[str, str] | None = None,
                 offset: str = "", unless: Mapping[str, str] | None = None
                 ) -> dict[tuple[str, ...], int]:
    """``increase(metric[window])`` (``offset`` back in time, when given) summed per (version,
    *by) for both versions in one query (one round trip instead of one per version and label
    value), as observed (``observed_share``: a range no longer than a scrape interval observed
    nothing, and is not asked); a key without data (no series, or NaN) is absent, as the
    single-version query's empty result was. ``unless``: label → a regex of values left out."""
    share = ctx.share(window)
    if share <= 0:
        return {}
    shifted = f" offset {offset}" if offset and offset != "0s" else ""
    selector = ctx.versions_selector(**(labels or {}))
    if unless:
        selector = selector[:-1] + "".join(f', {k}!~"{v}"' for k, v in unless.items()) + "}"
    rows = prom.query(f"sum by ({', '.join(('version', *by))}) "
                      f"(increase({metric}{selector}"
                      f"[{window}]{shifted}))")
    out = {}
    for row in rows:
        count = _observed(row.value, share)
        if count is not None:
            out[tuple(str(row.labels.get(k, "")) for k in ("version", *by))] = count
    return out


def _split(prom: MetricSource, ctx: GateContext, metric: str, failed: str | None = None,
           **labels: str) -> m.SplitCounts | None:
    """Counts of ``metric`` per version since the step's split settled (see ``settled_window``),
    plus those of ``failed`` (requests the runtime refused, which ``metric`` does not count):
    the router split every request, answered or not, so a canary failing most of its requests
    must read as failing, not as a broken split."""
    if ctx.canary_share is None:
        return None
    window = ctx.settled_window
    counts: list[int | None] = [None, None]
    if window is not None:
        found = _per_version(prom, ctx, metric, window, labels=labels)
        if failed is not None:
            found = _added(found, _per_version(prom, ctx, failed, window, labels=labels))
        counts = [found.get((ctx.stable_version,)), found.get((ctx.canary_version,))]
    stable, canary = counts
    late: tuple[str, ...] = ()
    if stable is None or canary is None:
        # One side has too few scrapes in the window yet: a 0 there would read as a broken
        # split. Nothing to check this time.
        stable, canary = 0, 0
    elif window is not None:
        late = _scraped_late(prom, ctx, metric, window, labels)
    return m.SplitCounts(stable=stable, canary=canary, canary_share=ctx.canary_share,
                         promotes=ctx.promotes, tolerance=ctx.split_tolerance,
                         scraped_late=late)


def _added(first: Mapping[tuple[str, ...], int],
           second: Mapping[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """Two per-version counts summed; a key either has is there."""
    return {key: first.get(key, 0) + second.get(key, 0) for key in {*first, *second}}


#: The requests the runtime answered (it times a request once it answered it) and those it
#: refused: every request is in one of them, none in both.
_ANSWERED, _REFUSED = "uplift_request_duration_seconds_count", "uplift_request_errors_total"


def _scraped_late(prom: MetricSource, ctx: GateContext, metric: str, window: str,
                  labels: Mapping[str, str]) -> tuple[str, ...]:
    """The roles whose ``metric`` had no sample at the window's start (``offset``: the latest
    sample at most the lookback before it). Their ``increase`` over the window starts at their
    first scrape and misses what they served before it: a new canary's target is scraped some
    seconds after its first traffic (service discovery, the scrape interval)."""
    rows = prom.query(f"sum by (version) ({metric}{ctx.versions_selector(**labels)} "
                      f"offset {window})")
    present = {str(row.labels.get("version", "")) for row in rows if math.isfinite(row.value)}
    return tuple(role for role, version in (("stable", ctx.stable_version),
                                            ("canary", ctx.canary_version))
                 if version not in present)


def _canary_alone(ctx: GateContext) -> bool:
    """A step at weight 100 (the graph declares it): the errorRate and latency gates judge the
    canary on its own, against ``max`` (the CRD's rule for such a step), and the collector
    leaves the stable's counts out. The step's window starts at ``step_started_at``, before
    the 100/0 split reached the router, so the stable served some of the step's first requests:
    compared with those few, the gate could never pass (its Pass needs the comparison's too)
    and the ramp sat Inconclusive until ``inconclusiveLimit`` paused it. The evaluator judges
    any measurement of such a step so (``domain.gates._canary_alone``); the collector does not
    ask for what it would leave out, and the measurement shows no stable counts."""
    return ctx.canary_share is not None and ctx.canary_share >= 1


def _latency(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
             registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    name = gate.template_ref or templates.DEFAULT_LATENCY_TEMPLATE
    template = ctx.metric_templates[name]
    queries = {version: _bucket_query(template, ctx, version)
               for version in (ctx.canary_version, ctx.stable_version)}
    if any(query is None for query in queries.values()):  # InvalidSpec: never measured so
        return m.MeasurementError(templates.LATENCY_NEEDS_BUCKETS)
    if ctx.canary_version != ctx.stable_version and len(set(queries.values())) == 1:
        # Both versions' bucket counts from one query: the comparison of the traffic with
        # itself sees no difference, and a slow canary passed on ``max`` alone. Validation
        # refuses such a template (InvalidSpec); one that reaches a measurement (the
        # operator's templates changed under a spec) is an Error, never a Pass.
        return m.MeasurementError(f"template {name!r}: {validation.LATENCY_NEEDS_VERSION}")
    buckets = {version: query for version, query in queries.items() if query is not None}
    share = ctx.share(ctx.window)  # the bucket counts as observed (``observed_share``)
    if share <= 0:  # nothing observed yet: not asked
        return None
    # The canary's p95 from the template is shown only, never judged: its query failing (a
    # refused or partial answer) must not fail the gate, which judges the bucket counts; the
    # p95 is then computed from the canary's own counts. Prometheus not answering (or only
    # after the evaluation timeout) is the server's failure: the gate's Error, as any query's.
    try:
        canary: float | None = prom.scalar(
            templates.render(template, ctx.variables(ctx.canary_version)))
        shown_failed = False
    except PrometheusError as error:
        if isinstance(error, MetricsUnavailable) and (error.unanswered or error.overloaded
                                                      or not error.asked):
            raise
        canary, shown_failed = None, True
    # At weight 100 the canary is judged on its own (``max``), as for errorRate below.
    alone = _canary_alone(ctx)

    def histogram(version: str, *, stable: bool) -> dict[float, int]:
        return _monotone(_bucket_counts(prom.query(buckets[version]), share), stable=stable)

    canary_h = histogram(ctx.canary_version, stable=False)
    stable_h = {} if alone else histogram(ctx.stable_version, stable=True)
    canary_n = canary_h.get(math.inf, 0)
    if not canary_h or not canary_n:
        return None
    if shown_failed:
        own = tuple(sorted(canary_h))
        canary = m.bucket_quantile(0.95, own, tuple(canary_h[b] for b in own))
    stable_n = stable_h.get(math.inf, 0)
    if not alone and not stable_n:
        # A step that gives the stable traffic: no stable histogram is data not in yet (its
        # scrapes to come, or failing), not a comparison to leave out: judged on ``max``
        # alone, a canary far slower than the stable passed. As errorRate's.
        return None
    # Judged on the bounds both versions' histograms have only: a cumulative count is exact at
    # each of its own bounds, but a bound one side lacks has no count there (a 0 filled in
    # read every canary request as slower than the stable's p95 there: a false Fail at the
    # first look). The stable's p95, and so the slow threshold frozen from it, is on them too.
    bounds = tuple(sorted(set(canary_h) & set(stable_h) if stable_n else canary_h))
    if not any(math.isfinite(b) for b in bounds) and any(
            math.isfinite(b) for b in (*canary_h, *stable_h)):
        return m.NotMeasured("the canary's and the stable's bucket layouts differ: no bucket "
                             "bound in common to compare them on")
    stable_buckets = tuple(stable_h.get(b, 0) for b in bounds) if stable_n else ()
    # The stable's p95 from the bucket counts the gate compares (since the step started), not
    # the template's over the last interval: NaN over fewer than two scrapes (an
    # analysisInterval at or below the scrape interval), so never there to compare with.
    return m.LatencyMeasurement(
        canary_p95_seconds=canary if canary is not None else math.nan, canary_requests=canary_n,
        stable_p95_seconds=(m.bucket_quantile(0.95, bounds, stable_buckets) if stable_n
                            else None),
        stable_requests=stable_n, bucket_bounds=bounds,
        canary_buckets=tuple(canary_h.get(b, 0) for b in bounds), stable_buckets=stable_buckets,
        split=_split(prom, ctx, _ANSWERED, failed=_REFUSED, endpoint="infer"))


def _bucket_counts(rows: Sequence[Any], share: float) -> dict[float, int]:
    """A ``sum by (le)`` answer as bucket counts by bound (``observed_share``), the rows of one
    bound summed: a bucket may come under two spellings of its ``le`` (``"1"`` and ``"1.0"``:
    Prometheus 3 normalises ``le`` at ingestion, 2.x when it scrapes the protobuf format, so
    across such a change, or between two scrape jobs, one bound's series carry both), and
    ``sum by (le)`` keeps them apart. Keeping the last row only dropped the other's requests
    from that bucket, and the repair (``_monotone``) then read them as slow on the canary's
    side and fast on the stable's: a healthy canary failed. A row without a finite value (NaN,
    ±Inf) counts nothing, as ``_per_version`` leaves one out."""
    raw: dict[float, float] = {}
    for row in rows:
        if not math.isfinite(row.value):
            continue
        bound = float(row.labels.get("le", "+Inf"))
        raw[bound] = raw.get(bound, 0.0) + row.value
    counts = {bound: _observed(value, share) for bound, value in raw.items()}
    return {bound: count for bound, count in counts.items() if count is not None}


def _monotone(histogram: Mapping[float, int], *, stable: bool) -> dict[float, int]:
    """Cumulative bucket counts made non-decreasing in ``le``, the +Inf bucket (the request
    count the tests take as their trials) kept as observed. ``sum by (le) (increase(...))``
    extrapolates each ``le`` series on its own (and each pod's), so a lower bucket can read a
    count or two above a higher one, even above +Inf; a slow count (+Inf less a bucket) was
    then negative and the gate an Error ("invalid measurement") that counted towards
    consecutiveErrorLimit.

    Each side is repaired against the canary, the disputed requests read as slow on the
    canary's side and fast on the stable's:

    - the canary's: each bucket capped at the count of the one above it, from +Inf down (the
      lowest counts the raw ones allow, so the most canary requests above every bound: for
      ``max``, the canary's own p95 and its side of the comparison);
    - the stable's: a running maximum from the lowest bucket up (PromQL's
      ``histogram_quantile`` repair), capped at its +Inf count (the highest counts, so the
      fewest stable requests above every bound).

    The gate (``domain.gates._latency``) reads the stable's histogram for its p95, the slow
    threshold frozen at the first comparable look, and its slow count above that threshold.
    Higher stable counts give a p95, so a threshold, no higher (the absolute margin's pass
    threshold, the stable's p95 + margin, and the coarse histogram's "canary p95 within the
    stable's" no easier to meet) and, at any threshold, a stable slow count no higher (the
    canary's slow rate compared with a stable rate no higher). Capping the stable from the top
    as well, as before, raised its slow counts and could push its p95 up a bucket: both for a
    canary Pass. With the same extrapolation on both sides this tilts towards a false Fail by
    the disputed requests only (a count or two a bucket), never towards a Pass."""
    out: dict[float, int] = {}
    if stable:
        total = histogram.get(math.inf)
        floor = -math.inf
        for bound in sorted(histogram):
            floor = max(floor, histogram[bound])
            out[bound] = int(floor if total is None else min(floor, total))
        return out
    ceiling = math.inf
    for bound in sorted(histogram, reverse=True):
        ceiling = min(ceiling, histogram[bound])
        out[bound] = int(ceiling)
    return dict(sorted(out.items()))


def _bucket_query(template: str, ctx: GateContext, version: str) -> str | None:
    """Bucket counts since the step started from the histogram the gate's p95 template reads
    (so ``templateRef`` picks what the gate judges, e.g. Seldon's executor latency); None when
    it reads none (``templates.LATENCY_NEEDS_BUCKETS``: validation refuses such a template, so
    the gate never judges another histogram than the p95 it shows)."""
    selector = templates.bucket_selector(templates.render(template, ctx.variables(version)))
    return None if selector is None else f"sum by (le) (increase({selector}[{ctx.window}]))"


#: Refusals that are not the version's doing, left out of the errorRate gate's errors and
#: requests (still counted under their reason, and in the traffic split): a request naming a
#: Campaign the campaigns file has not brought to the pod yet, or took away already (a
#: ConfigMap reaches pods 60–90 s apart), is refused ``unknown_campaign`` by whichever
#: version's pods lag, and during a canary that Campaign's share of requests read as the
#: lagging version's error rate (docs/runtime.md "Errors").
NOT_THE_VERSIONS = ("unknown_campaign",)


def _error_rate(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
                registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    infer = {"endpoint": "infer"}
    errors = _per_version(prom, ctx, _REFUSED, ctx.window, labels=infer,
                          unless={"reason": "|".join(NOT_THE_VERSIONS)})
    # A refused request is not timed: requests are the answered ones plus the refused ones (a
    # canary refusing all it gets has errors and no answered request).
    requests = _added(_per_version(prom, ctx, _ANSWERED, ctx.window, labels=infer), errors)
    counts = {role: (errors.get((version,), 0), requests.get((version,)))
              for role, version in (("canary", ctx.canary_version),
                                    ("stable", ctx.stable_version))}
    if not counts["canary"][1]:
        return None
    if _canary_alone(ctx):
        counts["stable"] = (0, 0)
    elif not counts["stable"][1]:
        # A step that gives the stable traffic: no stable count is data not in yet (a scrape
        # to come), not a comparison to leave out.
        return None
    return m.ErrorRateMeasurement(
        canary_errors=counts["canary"][0], canary_requests=counts["canary"][1] or 0,
        stable_errors=counts["stable"][0], stable_requests=counts["stable"][1] or 0,
        split=_split(prom, ctx, _ANSWERED, failed=_REFUSED, endpoint="infer"))


def _drift(gate: GateSpecBase, ctx: GateContext, prometheus: MetricSource | None,
           registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    reference = _canary_reference(ctx, registry, REFERENCE_HISTOGRAMS)
    features: Mapping[str, Any] = reference.get("features", {})
    wanted = gate.features or sorted(features)
    share = ctx.share(ctx.canary_window)  # the bins as observed (``observed_share``)
    if share <= 0:  # nothing observed yet: not asked
        return None
    # Since the canary (a Campaign's ramp) started, past Prometheus' retention too
    # (``lifetime``): never held on its age.
    live = lifetime(prom).query("sum by (feature, bin) (increase(uplift_feature_bin_total"
                                f"{ctx.selector(ctx.canary_version)}[{ctx.canary_window}]))")
    # Each bin's count as observed (``_observed``): a bin Prometheus answers as NaN or ±Inf
    # has no count, so its feature has no histogram yet (Inconclusive): ``round`` raised on it,
    # an Error counted towards a rollback; a negative one (an extrapolation around a counter's
    # reset) is 0, where it was passed on and the gate refused it as an invalid measurement (an
    # Error). A row whose ``bin`` label is not a whole number is no bin of the histogram: left
    # out (``int`` raised on it).
    by_feature: dict[str, dict[int, int | None]] = {}
    for sample in live:
        labels = sample.labels
        try:
            index = int(labels.get("bin", -1))
        except ValueError:
            continue
        by_feature.setdefault(labels.get("feature", ""), {})[index] = _observed(sample.value,
                                                                                share)
    histograms = {}
    for name in wanted:
        if name not in features:
            return m.MeasurementError(f"feature {name!r} is not in {REFERENCE_HISTOGRAMS}")
        ref_counts = tuple(int(c) for c in features[name]["counts"])
        bins = by_feature.get(name, {})
        observed = [bins.get(i, 0) for i in range(len(ref_counts))]
        live_counts = tuple(c for c in observed if c is not None)
        if len(live_counts) < len(observed) or sum(live_counts) == 0:
            return None
        histograms[name] = m.FeatureHistogram(reference=ref_counts, live=live_counts)
    return m.DriftMeasurement(features=histograms)


def _qini(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
          registry: Registry | None) -> Collected:
    reg = _reg(registry)
    wanted = [(name, key) for name, key in ctx.treatments
              if not gate.treatments or name in gate.treatments]

    def estimates(run_id: str | None) -> dict[str, m.QiniEstimate]:
        """Per treatment (by its spec name) as the trainer logged it (by treatment key), with
        the bootstrap replicates when the run has them (older runs do not). Only MLflow saying
        the artifact is not there means the run has none: a read that failed otherwise (MLflow
        unavailable: a timeout, the breaker open, a 429 or 5xx) raises, and the gate holds. Read
        as absent, a stable's failed read judged the canary on its floor alone (a worse canary
        passed), a canary's read as a run to retrain."""
        if run_id is None:
            return {}
        metrics = reg.run_metrics(run_id)
        try:
            bootstrap = reg.download_artifact_json(run_id, REFERENCE_QINI_BOOTSTRAP)
        except RegistryNotFound:  # a run without the artifact: judged on what it has
            bootstrap = {}
        evaluation_set = bootstrap.get("evaluationSet") if isinstance(bootstrap, dict) else None
        per_key = bootstrap.get("treatments", {}) if isinstance(bootstrap, dict) else {}
        found = {}
        for name, key in wanted:
            if f"qini.{key}" in metrics:
                reps = per_key.get(key, {}).get("replicates") if isinstance(per_key, dict) else None
                found[name] = m.QiniEstimate(
                    estimate=metrics[f"qini.{key}"], lower=metrics.get(f"qini_lower.{key}"),
                    upper=metrics.get(f"qini_upper.{key}"),
                    samples=_int_or_none(metrics.get(f"n_test.{key}")),
                    replicates=tuple(float(x) for x in reps) if reps else None,
                    evaluation_set=evaluation_set)
        return found

    canary = estimates(_run_of(ctx.canary_run_id, ctx.canary_run_error, ctx.canary_version))
    if not canary:
        return None
    stable = estimates(_run_of(ctx.stable_run_id, ctx.stable_run_error, ctx.stable_version))
    return m.QiniMeasurement(canary=canary, stable=stable)


def _online_effect(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
                   registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    split = _split(prom, ctx, "uplift_assignments_total")  # when decided: checked at once
    closes = _utc_text(ctx.step_started_at + timedelta(
        seconds=ctx.propagation_grace_s + ctx.attribution_window_s))
    attribution = f"attribution window ({_seconds_text(ctx.attribution_window_s)})"

    def pending(why: str, *, ends: bool = True) -> m.OnlineEffectMeasurement:
        none = m.VersionArms(holdout=m.ArmCounts(0, 0), treated=m.ArmCounts(0, 0))
        return m.OnlineEffectMeasurement(canary=none, stable=none, split=split,
                                         pending=why if ends else "",
                                         missing="" if ends else why,
                                         holdout_fraction=ctx.holdout_fraction)

    window = ctx.cohort_window
    if window is None:
        return pending(f"the step's decisions are compared once their {attribution} closes, "
                       f"from {closes}")
    if ctx.share(window) <= 0:  # nothing observed yet (``observed_share``): not asked
        return pending(f"the step's decisions whose {attribution} closed since {closes}: "
                       + too_short(window, ctx.scrape_interval_s, ctx.query_lag_s))
    # Cohorts (docs/runtime.md "Cohorts"), three queries for both versions and arms: the
    # units when decided, a window earlier (the step's decisions that carry a window, made
    # before now − the window: a replica killed mid-window does not lose them); the same
    # decisions counted when their windows close (a stopping replica's preStop drain counts
    # them early, with the conversions it holds; a new replica's decisions before its first
    # scrape are not lost there); and their conversions, counted when each window closes.
    decided = _per_version(prom, ctx, "uplift_windowed_decisions_total", window, by=("arm",),
                           offset=f"{int(ctx.attribution_window_s)}s")
    closed = _per_version(prom, ctx, "uplift_outcomes_expected_total", window, by=("arm",))
    converted = _per_version(prom, ctx, "uplift_outcomes_converted_total", window, by=("arm",))

    def arms(version: str) -> m.VersionArms | None:
        # Per version, the count with the larger total over both arms (each can only lose
        # some), so the version's holdout share is one counter's, as for a Campaign.
        sources = [[source.get((version, arm)) for arm in ("holdout", "treated")]
                   for source in (decided, closed)]
        whole = [[n for n in units if n is not None] for units in sources]
        complete = [units for units in whole if len(units) == 2]
        if not complete:
            return None
        holdout, treated = max(complete, key=sum)
        return m.VersionArms(
            holdout=_cohort(holdout, converted.get((version, "holdout"), 0)),
            treated=_cohort(treated, converted.get((version, "treated"), 0)))

    canary, stable = arms(ctx.canary_version), arms(ctx.stable_version)
    if canary is None or stable is None:
        # A range of two scrapes or more (a shorter one is not asked, above) with no count:
        # a runtime that never got the window (no campaigns file) stays here, so say which
        # series is missing.
        # Not a wait with an end (a model whose traffic all comes through Campaigns stays
        # here): counted towards inconclusiveLimit as any Inconclusive.
        return pending(f"no cohort counts yet (uplift_windowed_decisions_total, "
                       f"uplift_outcomes_expected_total) for the step's decisions whose "
                       f"{attribution} closed since {closes}", ends=False)
    return m.OnlineEffectMeasurement(canary=canary, stable=stable,
                                     holdout_fraction=ctx.holdout_fraction, split=split)


def _cohort(units: int, conversions: int) -> m.ArmCounts:
    """A cohort's arm. Its units and conversions come from different series (replicas scraped
    at different moments, decisions and their windows' closing a second or a slot apart), so a
    small arm can read more conversions than units for a look; the gates would call that
    invalid data (an Error). Capped at the units: the excess is a boundary's, not a sample."""
    return m.ArmCounts(units=units, conversions=min(max(conversions, 0), units))


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_text(seconds: float) -> str:
    """``3600`` → ``1h``, ``90`` → ``90s``: the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _uplift_sanity(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
                   registry: Registry | None) -> Collected:
    """The canary's mean predicted uplift per request, averaged over the treatments.

    Each request scores every treatment, so the T values of a request are correlated and count
    as one sample: ``requests`` is the fewest any treatment counted (not their sum). The
    average's per-request sd is at most the treatments' average sd whatever their correlation
    (sd of a sum ≤ sum of sds), each from its Σx² counter; a runtime without that counter
    leaves it unknown (``live_std`` None)."""
    prom = _prom(prometheus)
    reference = _canary_reference(ctx, registry, REFERENCE_UPLIFT)
    sel = ctx.selector(ctx.canary_version)
    # The histogram has negative buckets, so it exports no _sum: the runtime keeps signed sums.
    w = ctx.canary_window
    share = ctx.share(w)  # the requests as observed (``observed_share``)
    if share <= 0:  # nothing observed yet: not asked
        return None

    def per_treatment(metric: str) -> dict[str, float]:
        # Since the canary started, past Prometheus' retention too (``lifetime``).
        rows = lifetime(prom).query(f"sum by (treatment) (increase({metric}{sel}[{w}]))")
        return {str(row.labels.get("treatment", "")): float(row.value) for row in rows
                if math.isfinite(row.value)}

    counts = {t: round(n) for t, n in per_treatment("uplift_predicted_uplift_count").items()
              if n >= 1}
    positive = per_treatment("uplift_predicted_uplift_positive_total")
    negative = per_treatment("uplift_predicted_uplift_negative_total")
    treatments = [t for t in counts if t in positive and t in negative]
    if not treatments:
        return None
    # Pool the treatments: the guard looks for a version whose scores left their training range.
    stats = [v for v in reference.get("treatments", reference).values() if isinstance(v, dict)]
    if not stats:
        return m.MeasurementError(f"{REFERENCE_UPLIFT} has no per-treatment mean/std")
    mean = sum(float(s["mean"]) for s in stats) / len(stats)
    std = math.sqrt(sum(float(s["std"]) ** 2 for s in stats) / len(stats))
    means = {t: (positive[t] - negative[t]) / counts[t] for t in treatments}
    squares = per_treatment("uplift_predicted_uplift_squares_total")
    live_std = None
    if all(t in squares for t in treatments) and min(counts[t] for t in treatments) > 1:
        live_std = sum(math.sqrt(max(squares[t] - counts[t] * means[t] ** 2, 0.0)
                                 / (counts[t] - 1)) for t in treatments) / len(treatments)
    # The means and sd are ratios of counts from one range (the extrapolation cancels); the
    # requests the bounds rest on are those the scrapes observed (``observed_share``).
    requests = round(min(counts[t] for t in treatments) * share)
    if requests < 1:
        return None
    return m.UpliftSanityMeasurement(
        canary_mean_uplift=sum(means.values()) / len(means),
        requests=requests, training_mean=mean, training_std=std,
        live_std=live_std)


def _custom(gate: ModelGate, ctx: GateContext, prometheus: MetricSource | None,
            registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    query = gate.query if gate.query is not None else ctx.metric_templates[gate.template_ref or ""]
    value = prom.scalar(templates.render(query, ctx.variables(ctx.canary_version)))
    if value is None or math.isnan(value):
        return None
    return m.CustomMeasurement(value=value)


#: Each UpliftModel gate type's collector and what it reads (``Collector``).
_COLLECTORS: dict[str, Collector[ModelGate, GateContext]] = {
    "latency": Collector(_latency, _PROMETHEUS),
    "errorRate": Collector(_error_rate, _PROMETHEUS),
    "drift": Collector(_drift, _PROMETHEUS_AND_MLFLOW),  # its reference histograms
    "qini": Collector(_qini, _MLFLOW),  # the runs' qini metrics and bootstrap
    "onlineEffect": Collector(_online_effect, _PROMETHEUS),
    "upliftSanity": Collector(_uplift_sanity, _PROMETHEUS_AND_MLFLOW),  # its reference uplift
    "custom": Collector(_custom, _PROMETHEUS),
}


# ---------------------------------------------------------------------------------------------
# Campaign gates: the runtime's counters of one campaign (docs/runtime.md "What the Campaign
# gates read"), summed over replicas; the conversion gates' of the stable version the campaign
# follows, deliveryRate's and the budget's over every version (a report counts under the
# version that decided).


@dataclass(frozen=True)
class CampaignGateContext:
    """Everything a Campaign gate's collector needs at this analysis.

    ``model`` is the UpliftModel's name, ``stable_version``/``stable_run_id`` the version the
    campaign follows (its drift reference); ``ramp_started_at`` when the exposure ramp started
    (drift counts since then, as the canary's since the canary started); ``budget_anchor`` the
    start of the first budget period (``status.budgetAnchor``, else ``spec.schedule.start``,
    else the creation time); ``budget_since`` when the budget was set (``status.budgetSince``;
    None: it counts from the period's start), from which its gates read the spend
    (``domain.budget.counted_from``);
    ``completes``: a Pass now completes the exposure ramp (the last step, with a pause);
    ``decisions_since`` when the campaign began deciding on ``stable_version`` (the ramp's
    start, or the model's promotion of that version, whichever is later): the conversion
    gates judge only cohorts of decisions made since (``cohort_window``). None: every cohort
    that closed in the step."""

    namespace: str
    name: str
    model: str
    spec: CampaignSpec
    step_started_at: datetime
    ramp_started_at: datetime
    now: datetime
    budget_anchor: datetime
    stable_version: str | None = None
    stable_run_id: str | None = None
    metric_templates: Mapping[str, str] = field(default_factory=dict)
    completes: bool = False
    decisions_since: datetime | None = None
    budget_since: datetime | None = None
    scrape_interval_s: float = 0.0  # as ``GateContext``'s
    query_lag_s: float = 0.0  # as ``GateContext``'s

    @property
    def window(self) -> str:
        """Seconds since the step started, as a PromQL range."""
        return _range(self.now - self.step_started_at)

    @property
    def attribution_window_s(self) -> float:
        return parse_duration(self.spec.experiment.attribution_window).total_seconds()

    def share(self, window: str | None) -> float:
        """``observed_share`` of ``window`` at this context's scrape interval and query lag."""
        return observed_share(window, self.scrape_interval_s, self.query_lag_s)

    @property
    def cohorts_close_from(self) -> datetime:
        """From when the step's cohorts count: the step's start, but not before the window
        closed on the first decisions made on this version (``decisions_since`` + the window).
        Both arms share every exposure, so within a version a cohort decided in an earlier
        step compares them as well as the step's own; a cohort decided before the ramp
        (re)started, or by the version the model promoted away from, is another policy's."""
        if self.decisions_since is None:
            return self.step_started_at
        first = self.decisions_since + timedelta(seconds=self.attribution_window_s)
        return max(self.step_started_at, first)

    @property
    def cohort_window(self) -> str | None:
        """Since ``cohorts_close_from``, as a PromQL range; None until then."""
        elapsed = (self.now - self.cohorts_close_from).total_seconds()
        return f"{int(elapsed)}s" if elapsed >= 1 else None

    @property
    def followed(self) -> str:
        """The matcher of the version the campaign follows (``stable_version``): the conversion
        gates judge its decisions only. Every predictor of the model serves the campaign, so a
        canary at w % makes w % of the campaign's decisions, labelled with the canary's version;
        mixed in, a canary being ramped (or rolled back) would move the campaign's effect and
        ROI, and a promotion would not start the campaign's evidence afresh on N+1 alone
        (docs/lifecycle.md, "Its UpliftModel"). Only asked with a stable version."""
        return f'version="{templates.label_value(str(self.stable_version))}"'

    def selector(self, *matchers: str) -> str:
        """The campaign's series (its values escaped: ``templates.label_value``) and
        ``matchers``, which the collectors build from constants, ``followed`` and treatment
        keys (``_key``: of ``[a-z0-9_]``)."""
        value = templates.label_value
        labels = [f'namespace="{value(self.namespace)}"', f'model="{value(self.model)}"',
                  f'campaign="{value(self.name)}"', *matchers]
        return "{" + ", ".join(labels) + "}"


def campaign_units(ctx: CampaignGateContext,
                   prometheus: MetricSource | None) -> m.CampaignUnits | None:
    """Decisions per arm since the exposure ramp started, on every version (both arms in one
    query): decisions, not distinct units (a unit decided again counts again); the status
    keeps the larger of this and its count for the ramp (``record_units``). None without data
    (an arm without a series) or source."""
    if prometheus is None:
        return None
    window = _range(ctx.now - ctx.ramp_started_at)
    try:
        # Past Prometheus' retention too: the status keeps the larger count (``record_units``).
        rows = _by_label(past_retention(prometheus), _increase(ctx, "uplift_assignments_total", _BOTH_ARMS,
                                               window=window, by="arm"), "arm")
        treated, holdout = (_count_in(rows, arm) for arm in _ARMS)
    except Exception:  # an unreachable source: the results stay as they were
        return None
    if treated is None or holdout is None:
        return None
    return m.CampaignUnits(treated=treated, holdout=holdout)


def collect_campaign(gate: CampaignGate, ctx: CampaignGateContext, prometheus: MetricSource | None,
                     registry: Registry | None) -> Collected:
    """The measurement for a Campaign ``gate``; never raises for an unreachable source."""
    return _guarded(_CAMPAIGN_COLLECTORS.get(gate.type), gate, ctx, prometheus, registry)


def _increase(ctx: CampaignGateContext, metric: str, *matchers: str, window: str | None = None,
              by: str = "", offset: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    shifted = f" offset {offset}" if offset else ""
    return (f"sum{grouping}(increase({metric}{ctx.selector(*matchers)}"
            f"[{window or ctx.window}]{shifted}))")


#: The arms the Campaign gates compare, and the matcher of both: each count the collectors
#: read per arm is one query ``sum by (arm)`` over both (``_by_label``), not one per arm.
_ARMS = ("treated", "holdout")
_BOTH_ARMS = 'arm=~"treated|holdout"'


def _by_label(prom: MetricSource, promql: str, label: str,
              share: float = 1.0) -> dict[str, float]:
    """The rows of a ``sum by (label)`` query, by their ``label`` value, times ``share``
    (``observed_share``; 0: nothing observed yet, not asked: no row) (NaN kept: ``_count_in``
    reads it); a row without the label (none of this shape has one) is left out."""
    if share <= 0:
        return {}
    out: dict[str, float] = {}
    for row in prom.query(promql):
        value = row.labels.get(label)
        if value is not None:
            out[str(value)] = row.value * share
    return out


def _count_in(rows: Mapping[str, float], value: str, *, absent: int | None = None) -> int | None:
    """The count of ``label=value`` in a grouped answer (``_by_label``), as ``_count`` read the
    query of that value alone: NaN or ±Inf is no data (None), a negative value 0
    (``_observed``); no row is ``absent``: None (no data) as for that query alone, or 0 where
    that query ended ``or vector(0)`` (no series yet counts nothing). A source that could not
    answer raised before: never read as either."""
    if value not in rows:
        return absent
    return _observed(rows[value])


#: How long a sender may take to report a delivery when the gate does not say.
DEFAULT_REPORT_DELAY = parse_duration("5m")


def _campaign_delivery_rate(gate: CampaignGate, ctx: CampaignGateContext,
                            prometheus: MetricSource | None, registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    # Every version's decisions and reports (no ``version`` matcher): the gate judges the
    # sender, which delivers every treatment the campaign decided, whichever predictor (the
    # stable or a canary of the model) decided it; a report counts under the version that
    # decided, so both sides count the same decisions. Its evidence carries over a promotion
    # for the same reason (docs/lifecycle.md), and a canary's share adds samples, not bias.
    # Reports come after their decision: judging this window's decisions against this
    # window's reports would read every delivery still in flight as a failure. So the step's
    # decisions are counted in two parts, those older than reportDelay (``decided``: a
    # missing report is a missing delivery) and the younger ones (``recent``: not due yet);
    # a report says nothing of its decision's age, so the gate judges a Fail on the older
    # ones and a Pass on them all (``DeliveryRateMeasurement``): the reports of the younger
    # ones no longer make up for the deliveries of the older ones a sender silently dropped.
    delay = parse_duration(gate.report_delay) if gate.report_delay else DEFAULT_REPORT_DELAY
    age = ctx.now - ctx.step_started_at
    settled = age - delay
    # Every count as observed, by the step range's share (``observed_share``): the decisions'
    # two parts too, so that decided + recent and the reports keep their ratio.
    share = ctx.share(ctx.window)
    if share <= 0:  # nothing observed yet: none of its counts is asked
        return None

    def decisions(window: timedelta, offset: str = "") -> int | None:
        if window.total_seconds() < 1:
            return 0
        return _count(prom, _increase(ctx, "uplift_assignments_total", 'arm="treated"',
                                      _treatments(gate), window=_range(window),
                                      offset=offset) + " or vector(0)", share)

    decided = decisions(settled, offset=_range(delay))
    recent = decisions(min(age, delay))
    # Both statuses in one query. The runtime exports both report series at zero with the
    # campaign: no "ok" row is no data; no "failed" row none failed.
    reports = _by_label(prom, _increase(ctx, "uplift_deliveries_total", 'arm="treated"',
                                        'status=~"ok|failed"', _treatments(gate),
                                        by="status"), "status", share)
    delivered = _count_in(reports, "ok")
    failed = _count_in(reports, "failed", absent=0)
    if decided is None or recent is None or delivered is None or failed is None:
        return None
    return m.DeliveryRateMeasurement(delivered=delivered, decided=decided,
                                     reported=delivered + failed, recent=recent)


#: What a treatment key is made of (``model.keys.treatment_key``): nothing a PromQL regex or
#: string literal would read as anything but itself.
_KEY = re.compile(r"[a-z0-9_]+")


def _key(name: str) -> str:
    """The ``treatment`` label value the runtime exports for a treatment named ``name`` in the
    spec: its key (``"mens-e-mail"`` → ``"mens_e_mail"``), never the name."""
    key = treatment_key(name)
    if not _KEY.fullmatch(key):  # treatment_key's contract; a label matcher relies on it
        raise ValueError(f"treatment {name!r}: key {key!r} is not of [a-z0-9_]")
    return key


def _treatments(gate: CampaignGate, default: str = 'treatment!="none"') -> str:
    """The label matcher of the treatments a gate checks (``gate.treatments``, names the
    validation checked against the Campaign's, matched by their keys: the runtime labels its
    series with the key), else ``default``."""
    if not gate.treatments:
        return default
    return 'treatment=~"' + "|".join(_key(t) for t in gate.treatments) + '"'


def _campaign_arms(prom: MetricSource, ctx: CampaignGateContext,
                   gate: CampaignGate) -> m.CampaignArms | None:
    """Cohorts per arm: the decisions whose attribution window closed in the step's window
    (``uplift_outcomes_expected_total``) and their in-window conversions
    (``uplift_outcomes_converted_total``), which the runtime counts together when the window
    closes; of the units the policy gave (treated arm) or would have given (holdout) one of
    ``gate.treatments`` when the gate names some. Counting the step's units when decided and
    its conversions when reported divided conversions of earlier decisions, made at a smaller
    exposure, by the step's units: both arms' rates shrank alike, and an effect measured
    against a bound above zero (``min``, roi's break-even) read below it. Both arms share
    every exposure, so a cohort decided in an earlier step compares them as well as the
    step's own (unlike the canary's versions, whose split changes with the step) — within the
    version the campaign follows and since its ramp (re)started (``ctx.cohort_window``).

    The units are the larger of two counts of the same decisions, each of which can only lose
    some: the closing count, which a replica holds for its own decisions until their windows
    close (a stopping replica's preStop hook counts them early; one killed without it — SIGKILL,
    OOM, a lost node — takes them along while the conversions reported to the others are still
    counted, so the rates read high: up to 1.5 × at 2 replicas), and the windowed decisions
    counted when decided, read a window earlier (``offset``), which a stop does not lose but
    which misses what Prometheus no longer keeps (a window plus the range: past the default
    15-day retention for a 14-day window and a step over a day) and a new replica's decisions
    before its first scrape. Both arms take the count whose total is larger, so the holdout
    share is one counter's.

    Each count is one query for both arms (``sum by (arm)``, ``_by_label``), from the same
    scrapes: an arm without a row has no units yet (no data), and no conversions (0)."""
    only = [ctx.followed, *([_treatments(gate)] if gate.treatments else [])]
    window = ctx.cohort_window
    arms = _ARMS
    share = ctx.share(window)  # every count of the cohorts as observed (``observed_share``)

    def per_arm(metric: str, offset: str = "") -> dict[str, float]:
        return _by_label(prom, _increase(ctx, metric, *only, _BOTH_ARMS, window=window,
                                         offset=offset, by="arm"), "arm", share)

    def units(metric: str, offset: str = "") -> list[int | None]:
        rows = per_arm(metric, offset)
        return [_count_in(rows, arm) for arm in arms]

    closed = units("uplift_outcomes_expected_total")
    decided = units("uplift_windowed_decisions_total", f"{int(ctx.attribution_window_s)}s")
    closed_n = [n for n in closed if n is not None]
    decided_n = [n for n in decided if n is not None]
    if len(closed_n) < len(arms):
        return None
    # One source for both arms (the larger in total), so the holdout share is one counter's.
    larger = (decided_n if len(decided_n) == len(arms) and sum(decided_n) > sum(closed_n)
              else closed_n)
    converted = per_arm("uplift_outcomes_converted_total")
    counts: dict[str, m.ArmCounts] = {}
    for arm, n in zip(arms, larger, strict=True):
        counts[arm] = _cohort(n, _count_in(converted, arm, absent=0) or 0)
    return m.CampaignArms(treated=counts["treated"], holdout=counts["holdout"])


def _completeness(prom: MetricSource, ctx: CampaignGateContext) -> m.OutcomeCompleteness:
    """Reported / expected outcomes of the decisions whose attribution window closed in the
    step's window (the followed version's, as the cohorts); expected 0 (no series yet) until a
    window has closed. The late outcomes are those of the arms the cohorts count (treated,
    holdout): a late conversion outside the exposure (``arm="unexposed"``) is no cohort's."""
    def count(metric: str, *matchers: str) -> int:
        return _count(prom, _increase(ctx, metric, ctx.followed, *matchers,
                                      window=ctx.cohort_window) + " or vector(0)") or 0

    return m.OutcomeCompleteness(expected=count("uplift_outcomes_expected_total"),
                                 received=count("uplift_outcomes_received_total"),
                                 late=count("uplift_late_outcomes_total",
                                            'arm=~"treated|holdout"'))


def _cohorts_pending(ctx: CampaignGateContext) -> str | None:
    """Why the conversion gates have no cohort to judge yet (None once they have): the window
    has not closed on any decision made on this version since the ramp (re)started, or it has
    for less than two scrape intervals (``observed_share`` 0: not asked)."""
    window = ctx.cohort_window
    if window is not None:
        if ctx.share(window) > 0:
            return None
        return (f"the cohorts whose attribution window closed since "
                f"{_utc_text(ctx.cohorts_close_from)}: "
                + too_short(window, ctx.scrape_interval_s, ctx.query_lag_s))
    since = _utc_text(ctx.decisions_since or ctx.step_started_at)
    return (f"the decisions made on version {ctx.stable_version or '(none)'} since {since} are "
            f"judged once their attribution window ({_seconds_text(ctx.attribution_window_s)}) "
            f"closes, from {_utc_text(ctx.cohorts_close_from)}")


_NO_COHORT = m.CampaignArms(treated=m.ArmCounts(0, 0), holdout=m.ArmCounts(0, 0))


def _campaign_incremental(gate: CampaignGate, ctx: CampaignGateContext,
                          prometheus: MetricSource | None, registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    pending = _cohorts_pending(ctx)
    if pending is not None:
        return m.IncrementalConversionsMeasurement(
            arms=_NO_COHORT, holdout_fraction=ctx.spec.experiment.holdout_fraction,
            completes=ctx.completes, split_tolerance=ctx.spec.exposure.split_tolerance,
            pending=pending)
    if ctx.stable_version is None:
        return None  # no version to judge
    arms = _campaign_arms(prom, ctx, gate)
    if arms is None:
        return None
    return m.IncrementalConversionsMeasurement(
        arms=arms, holdout_fraction=ctx.spec.experiment.holdout_fraction,
        completeness=_completeness(prom, ctx), completes=ctx.completes,
        split_tolerance=ctx.spec.exposure.split_tolerance)


def _decisions_of_cohorts(ctx: CampaignGateContext) -> dict[str, str]:
    """The range of the cohorts' own decisions, as ``_increase`` reads a counter counted when
    decided: the cohort window (``ctx.cohort_window``) an attribution window back
    (``offset``), as the windowed decisions are read (``_campaign_arms``)."""
    return {"window": ctx.cohort_window or ctx.window,
            "offset": f"{int(ctx.attribution_window_s)}s"}


def _treatment_spend(prom: MetricSource, ctx: CampaignGateContext,
                     gate: CampaignGate) -> float | None:
    """The cost of the treatments the gate names given in the cohorts' decisions: treated-arm
    units per treatment × that treatment's cost (the spend counter has no treatment label), by
    key (the ``treatment`` label)."""
    economics = ctx.spec.economics
    costs = {_key(t.name): (t.cost_per_treatment if t.cost_per_treatment is not None
                            else economics.cost_per_treatment) for t in ctx.spec.treatments}
    rows = prom.query(_increase(ctx, "uplift_assignments_total", ctx.followed, 'arm="treated"',
                                _treatments(gate), by="treatment", **_decisions_of_cohorts(ctx)))
    units = [_spent(r.value) for r in rows]
    if not rows or None in units:
        return None  # a treatment's units unknown: the sum is (leaving them out understates it)
    return float(sum(costs.get(r.labels.get("treatment", ""), economics.cost_per_treatment)
                     * (u or 0.0) for r, u in zip(rows, units, strict=True)))


def _spent(value: float | None) -> float | None:
    """A spend (or the treated units it is counted from) read from Prometheus: None (no data)
    for none, NaN or ±Inf, as a count (``_observed``): an infinite spend passed as a figure, +Inf
    exhausting a budget (a Campaign suspended on it) and -Inf read as 0, an roi gate's treatments
    free; a negative one (no spend is; an extrapolation around a counter's reset) is 0, not
    rounded (money, not events)."""
    if value is None or not math.isfinite(value):
        return None
    return max(value, 0.0)


def _treatment_values(ctx: CampaignGateContext, gate: CampaignGate) -> dict[str, float]:
    """The value of a conversion of each treatment the gate judges, by key (the ``treatment``
    label): its own ``valuePerConversion``, else the economics'."""
    economics = ctx.spec.economics
    return {_key(t.name): (t.value_per_conversion if t.value_per_conversion is not None
                           else economics.value_per_conversion) for t in ctx.spec.treatments
            if not gate.treatments or t.name in gate.treatments}


def _value_scale(ctx: CampaignGateContext, values: Mapping[str, float]) -> float:
    """The value per conversion an roi gate shows: the one its treatments share, else the mean
    of theirs (fixed for the spec, never weighted by what converted), never the economics'
    when each of them overrides it (it may then be 0: ``validation``'s ROI_VALUE rule)."""
    if len(set(values.values())) <= 1:
        return next(iter(values.values()), ctx.spec.economics.value_per_conversion)
    return sum(values.values()) / len(values)


def _roi_strata(prom: MetricSource, ctx: CampaignGateContext, gate: CampaignGate,
                values: Mapping[str, float]) -> tuple[m.RoiStratum, ...] | None:
    """The cohorts per treatment in both arms (``m.RoiStratum``), for an roi gate whose
    treatments differ in value: as ``_campaign_arms`` counts them, summed ``by (arm,
    treatment)`` (a holdout row carries the treatment the policy withheld, the cap and the
    budget binding both arms alike, so each treatment has its own holdout), the units from the
    closing count or the windowed decisions a window back, whichever is larger in total (one
    source for every treatment and arm). A treatment the gate does not value (``none``, the
    rows given nothing; a key the spec no longer has) at the economics' value. None: no data
    (an arm without a row, a count that is not a figure)."""
    only = [ctx.followed, *([_treatments(gate)] if gate.treatments else [])]
    window = ctx.cohort_window
    share = ctx.share(window)
    if share <= 0:
        return None

    def rows(metric: str, offset: str = "") -> dict[tuple[str, str], int | None]:
        out: dict[tuple[str, str], int | None] = {}
        for row in prom.query(_increase(ctx, metric, *only, _BOTH_ARMS, window=window,
                                        offset=offset, by="arm, treatment")):
            arm, key = row.labels.get("arm"), row.labels.get("treatment")
            if arm in _ARMS and key is not None:
                out[(str(arm), str(key))] = _observed(row.value, share)
        return out

    def usable(counts: dict[tuple[str, str], int | None]) -> dict[tuple[str, str], int] | None:
        if any(n is None for n in counts.values()) or {a for a, _ in counts} != set(_ARMS):
            return None
        return {k: n or 0 for k, n in counts.items()}

    closed = usable(rows("uplift_outcomes_expected_total"))
    decided = usable(rows("uplift_windowed_decisions_total", f"{int(ctx.attribution_window_s)}s"))
    if closed is None:
        return None
    units = (decided if decided is not None and sum(decided.values()) > sum(closed.values())
             else closed)
    converted = rows("uplift_outcomes_converted_total")
    default = ctx.spec.economics.value_per_conversion
    strata = []
    for key in sorted({k for _, k in units}):
        arms = [_cohort(units.get((arm, key), 0), converted.get((arm, key)) or 0)
                for arm in _ARMS]
        strata.append(m.RoiStratum(treatment=key, value_per_conversion=values.get(key, default),
                                   treated=arms[0], holdout=arms[1]))
    return tuple(strata)


def _campaign_roi(gate: CampaignGate, ctx: CampaignGateContext, prometheus: MetricSource | None,
                  registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    values = _treatment_values(ctx, gate)
    scale = _value_scale(ctx, values)
    pending = _cohorts_pending(ctx)
    if pending is not None:
        return m.RoiMeasurement(
            arms=_NO_COHORT, holdout_fraction=ctx.spec.experiment.holdout_fraction,
            value_per_conversion=scale, spend=0.0,
            completes=ctx.completes, split_tolerance=ctx.spec.exposure.split_tolerance,
            pending=pending)
    if ctx.stable_version is None:
        return None  # no version to judge
    strata: tuple[m.RoiStratum, ...] = ()
    if len(set(values.values())) > 1:
        # Values that differ: each treatment's incremental conversions at its own value.
        read = _roi_strata(prom, ctx, gate, values)
        if read is None:
            return None
        strata = read
        arms: m.CampaignArms | None = m.CampaignArms(
            treated=m.ArmCounts(sum(s.treated.units for s in strata),
                                sum(s.treated.conversions for s in strata)),
            holdout=m.ArmCounts(sum(s.holdout.units for s in strata),
                                sum(s.holdout.conversions for s in strata)))
    else:
        arms = _campaign_arms(prom, ctx, gate)
    if arms is None:
        return None
    # Spend is counted when decided: the cost per treated-arm unit of the cohorts' own
    # decisions (made an attribution window before their windows closed, ``offset``: not the
    # step's, whose cost per decision differs once the cap, the budget or a warm-up leave
    # later decisions untreated), applied to the cohorts' treated units (counted when their
    # windows close); the followed version's, as its cohorts (a canary's policy may treat at
    # another cost per unit).
    cohorts = _decisions_of_cohorts(ctx)
    spend = (_treatment_spend(prom, ctx, gate) if gate.treatments
             else _spent(prom.scalar(_increase(ctx, "uplift_campaign_spend_total",
                                               ctx.followed, **cohorts))))
    decided = _count(prom, _increase(ctx, "uplift_assignments_total", ctx.followed,
                                     'arm="treated"',
                                     *([_treatments(gate)] if gate.treatments else []),
                                     **cohorts))
    # Not compared with the cohorts' treated units: a drained replica counts its pending
    # decisions into the closing count at once and closing counts arrive in slot bursts, so a
    # shortfall is normal. A Prometheus retention short of the attribution window plus the
    # cohorts' range is not detected: the cost per decision is then that of the decisions it
    # still keeps, the most recent ones (docs/statistics.md, the roi row).
    if spend is None or not decided:
        return None
    return m.RoiMeasurement(arms=arms, holdout_fraction=ctx.spec.experiment.holdout_fraction,
                            value_per_conversion=scale,
                            spend=spend / decided * arms.treated.units,
                            completeness=_completeness(prom, ctx), completes=ctx.completes,
                            split_tolerance=ctx.spec.exposure.split_tolerance, strata=strata)


def _campaign_budget(gate: CampaignGate, ctx: CampaignGateContext, prometheus: MetricSource | None,
                     registry: Registry | None) -> Collected:
    """The period's spend summed over replicas. A spend that cannot be read says nothing about
    the model: Prometheus not configured, out of reach or refusing the query is an Error that
    holds (``MeasurementError.holds``: shown, alerted on, never counted towards
    ``consecutiveErrorLimit``, so a budget gate, declared or implied, never rolls a campaign
    back), and no spend series yet an Inconclusive that holds (not counted towards
    ``inconclusiveLimit``). A suspension it finds in place stays (``domain.exposure``)."""
    economics = ctx.spec.economics
    if economics.budget is None:
        return m.MeasurementError("a budget gate needs spec.economics.budget")
    if prometheus is None:
        return m.MeasurementError("no Prometheus configured (--prometheus-url)", holds=True)
    try:
        # Past Prometheus' retention too: the ledgers it no longer holds are remembered in the
        # status (``domain.budget.remembered``), merged with this reading.
        return _budget_spend(ctx, past_retention(prometheus), economics.budget)
    except QueryError as error:
        return m.MeasurementError(f"bad query: {error}", holds=True)
    except PrometheusError as error:
        return m.MeasurementError(str(error), holds=True)


def _budget_spend(ctx: CampaignGateContext, prom: MetricSource, amount: float) -> Collected:
    economics = ctx.spec.economics
    start, end = budget.current_period(economics.budget_period, ctx.budget_anchor, ctx.now)
    # Every version's (no ``version`` matcher): money is spent by whichever predictor decided,
    # a canary of the model as well as the stable version the campaign follows.
    # The period's spend summed over replicas (each knows, and enforces, only its own): each
    # ledger's last figure in the period, so a replica that restarted (a new ledger, its old
    # series stale) still counts what it spent before, skipping a ledger whose last scrape is
    # from the previous period; the pass merges this reading with the ledgers the status
    # recorded (``domain.budget.remembered``), so one past Prometheus' retention still counts.
    # Else the counter's increase, which Prometheus extrapolates past the samples (over, never
    # under: a budget gate that errs stops early). Both from when the budget was set, when
    # later than the period's start (``budget.counted_from``): a budget removed and set again
    # does not count the ledgers of the one removed.
    since = budget.counted_from(start, ctx.budget_since)
    ledgers = _ledgers_read(prom, ctx, start, since)
    spend = math.fsum(ledgers.values()) if ledgers is not None else None
    if spend is None:
        spend = prom.scalar(_increase(ctx, "uplift_campaign_spend_total",
                                      window=_range(ctx.now - since)))
    if spend is None or math.isnan(spend):
        return m.NotMeasured("holding: no spend series in Prometheus for this campaign yet",
                             holds=True)
    spent = _spent(spend)
    if spent is None:  # ±Inf (a recording rule's division by 0): no figure to suspend on
        return m.NotMeasured(f"holding: Prometheus answered the period's spend as {spend}, "
                             f"not a figure (no data)", holds=True)
    return m.BudgetMeasurement(spend=spent, budget=amount, period_start=start,
                               period_end=end, cheapest=_cheapest(ctx.spec), ledgers=ledgers)


def _cheapest(spec: CampaignSpec) -> float:
    """The cost of the campaign's cheapest treatment, as the campaigns file gives the runtime
    each one's (its own ``costPerTreatment``, else the economics'): what a replica must have
    left to treat at all."""
    return min(spec.economics.cost_per_treatment if t.cost_per_treatment is None
               else t.cost_per_treatment for t in spec.treatments)


def _ledgers_read(prom: MetricSource, ctx: CampaignGateContext, start: datetime,
                  since: datetime | None = None) -> dict[str, float] | None:
    """Every ledger's last period spend since ``since`` (default ``start``: a ledger whose
    series ended before it is left out) whose period is the one that began at ``start``, by
    ledger (``_ledger_key``); ``None`` when no ledger exported any (a runtime without the
    gauges), empty when none is of this period. Series of one ledger are the same money
    scraped more than once (two monitors, a job relabelled within the period, a querier that
    does not deduplicate), so the ledger's spend is their largest; a series without a ledger
    label is one of its own (``_ledger_key``). Two queries joined here rather than one
    ``and``: the operator's source keeps their long ranges in pieces
    (``adapters.prometheus_ranges``).

    A replica whose clock runs ahead rolls over early: from then its series are of the next
    period, left out here. A check in the seconds its clock is ahead, at the period's end,
    counts its ledger at the figure of the check before (``status.budgetLedgers``): what it
    spent between that check and its early rollover is counted in no period, not in this one
    nor in the next (its ledger there counts from its rollover). The replica still enforces
    the budget on its own spend."""
    period = _range(ctx.now - (start if since is None else since))
    spends = prom.query(f"last_over_time(uplift_campaign_period_spend{ctx.selector()}[{period}])")
    starts = {_series(s.labels): s.value for s in prom.query(
        f"last_over_time(uplift_campaign_period_start_seconds{ctx.selector()}[{period}])")}
    if not spends and not starts:
        return None
    read: dict[str, float] = {}
    for s in spends:
        # This period's start, to the half second the gauge's float may round it by: neither
        # the period before (a ledger whose last scrape predates the rollover) nor the one
        # after (a replica whose clock runs ahead already counts it, around the rollover: its
        # spend is the next period's; its figure of this one, read before, stays in
        # ``status.budgetLedgers``, merged with this reading).
        if (abs(starts.get(_series(s.labels), -math.inf) - start.timestamp()) < 0.5
                and math.isfinite(s.value)):
            key = _ledger_key(s.labels)
            read[key] = max(read.get(key, 0.0), s.value, 0.0)
    return read


def _ledger_key(labels: Mapping[str, str]) -> str:
    """How ``status.budgetLedgers`` names a ledger: its ``ledger`` label (the runtime's random
    id, new per replica process and campaign entry, so unique across replicas); a series
    without one (not this runtime's) by a digest of its labels, as short and as stable."""
    ledger = labels.get("ledger")
    if ledger and len(ledger) <= 63:
        return ledger
    text = "\n".join(f"{k}={v}" for k, v in _series(labels))
    return "series-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _series(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def _model_context(ctx: CampaignGateContext) -> GateContext:
    """The campaign's model as the UpliftModel collectors see it, the stable version in the
    canary's place (what the campaign's units are scored by), counted since the ramp started."""
    version = ctx.stable_version or ""
    return GateContext(
        namespace=ctx.namespace, name=ctx.model, canary_version=version, stable_version=version,
        canary_run_id=ctx.stable_run_id, stable_run_id=ctx.stable_run_id,
        step_started_at=ctx.step_started_at, canary_started_at=ctx.ramp_started_at, now=ctx.now,
        analysis_interval_s=parse_duration(ctx.spec.exposure.analysis_interval).total_seconds(),
        holdout_fraction=ctx.spec.experiment.holdout_fraction,
        metric_templates=ctx.metric_templates, treatments=(),
        scrape_interval_s=ctx.scrape_interval_s, query_lag_s=ctx.query_lag_s)


def _campaign_drift(gate: CampaignGate, ctx: CampaignGateContext, prometheus: MetricSource | None,
                    registry: Registry | None) -> Collected:
    if ctx.stable_version is None:
        return None  # nothing serves: no traffic to compare
    return _drift(gate, _model_context(ctx), prometheus, registry)  # MLflow down: _guarded


def _campaign_custom(gate: CampaignGate, ctx: CampaignGateContext, prometheus: MetricSource | None,
                     registry: Registry | None) -> Collected:
    prom = _prom(prometheus)
    query = gate.query if gate.query is not None else ctx.metric_templates[gate.template_ref or ""]
    # {{name}} is the Campaign's (as validation fills it), {{model}} the UpliftModel's (what the
    # built-in templates read), {{version}} the stable version's.
    version = ctx.stable_version or ""
    variables = {**_model_context(ctx).variables(version), "name": ctx.name}
    value = prom.scalar(templates.render(query, variables))
    if value is None or math.isnan(value):
        return None
    return m.CustomMeasurement(value=value)


#: Each Campaign gate type's collector and what it reads (``Collector``).
_CAMPAIGN_COLLECTORS: dict[str, Collector[CampaignGate, CampaignGateContext]] = {
    "deliveryRate": Collector(_campaign_delivery_rate, _PROMETHEUS),
    "incrementalConversions": Collector(_campaign_incremental, _PROMETHEUS),
    "roi": Collector(_campaign_roi, _PROMETHEUS),
    "budget": Collector(_campaign_budget, _PROMETHEUS),
    "drift": Collector(_campaign_drift, _PROMETHEUS_AND_MLFLOW),  # the stable's reference
    "custom": Collector(_campaign_custom, _PROMETHEUS),
}
