"""Prometheus metrics of the uplift runtime — the contract the operator's gates read.

All live in prometheus_client's default registry, which MLServer serves on its metrics port
(``/metrics``) when ``parallel_workers`` is 0 (the runtime's required setting). Collectors are
created lazily and once per process, so a model reload re-uses them.

Every series has ``model`` (model-settings name) and ``version`` (model version label):

| metric | type | extra labels |
|---|---|---|
| ``uplift_request_duration_seconds`` | histogram | ``endpoint`` = infer / deliveries / outcomes |
| ``uplift_rows_scored_total`` | counter | ``campaign`` |
| ``uplift_assignments_total`` | counter | ``arm``, ``treatment``, ``campaign`` |
| ``uplift_deliveries_total`` | counter | ``arm``, ``treatment``, ``campaign``, ``status`` = ok / failed |
| ``uplift_outcomes_total`` | counter | ``arm``, ``treatment``, ``campaign`` |
| ``uplift_conversions_total`` | counter | ``arm``, ``treatment``, ``campaign`` |
| ``uplift_outcome_value_total`` | counter | ``arm``, ``treatment``, ``campaign`` |
| ``uplift_late_outcomes_total`` | counter | ``arm``, ``treatment``, ``campaign``: outcomes after the window |
| ``uplift_outcomes_expected_total`` | counter | ``arm``, ``treatment``, ``campaign``: windows closed |
| ``uplift_outcomes_received_total`` | counter | ``arm``, ``treatment``, ``campaign``: in-window outcomes |
| ``uplift_outcomes_converted_total`` | counter | ``arm``, ``treatment``, ``campaign``: their conversions |
| ``uplift_windowed_decisions_total`` | counter | ``arm``, ``treatment``, ``campaign``: when decided |
| ``uplift_campaign_decisions_total`` | counter | ``campaign``, ``campaign_arm`` |
| ``uplift_campaign_spend_total`` | counter | ``campaign``: cost of the treatments given |
| ``uplift_campaign_period_spend`` | gauge | ``campaign``, ``ledger``: a ledger's spend in its period |
| ``uplift_campaign_period_start_seconds`` | gauge | ``campaign``, ``ledger``: that period's start (unix s) |
| ``uplift_campaign_generation`` | gauge | ``campaign``: metadata.generation applied |
| ``uplift_campaign_exposure_percent`` | gauge | ``campaign``: exposure applied |
| ``uplift_campaigns_reloads_total`` | counter | ``result`` = ok / partial / error |
| ``uplift_campaigns_file_refused`` | gauge | (none): 1 while the file's version, or its split, is rejected |
| ``uplift_campaign_entry_refused`` | gauge | ``campaign``: 1 while its entry is rejected (else none) |
| ``uplift_report_tokens`` | gauge | (none): report tokens accepted now; 0 = endpoints open |
| ``uplift_report_token_reloads_total`` | counter | ``result`` = ok / error (token file versions) |
| ``uplift_report_token_file_refused`` | gauge | (none): 1 while the token file's current version is refused |
| ``uplift_feature_bin_total`` | counter | ``feature``, ``bin`` (index into the reference counts) |
| ``uplift_predicted_uplift`` | histogram | ``treatment`` (buckets = ``UPLIFT_BUCKETS``) |
| ``uplift_predicted_uplift_positive_total`` | counter | ``treatment``: sum of the positive predictions |
| ``uplift_predicted_uplift_negative_total`` | counter | ``treatment``: sum of |negative predictions| |
| ``uplift_predicted_uplift_squares_total`` | counter | ``treatment``: sum of the squared predictions |
| ``uplift_request_errors_total`` | counter | ``endpoint``, ``reason`` |
| ``uplift_rows_without_unit_total`` | counter | (none): rows decided under a random unit id |
| ``uplift_duplicate_reports_total`` | counter | ``endpoint``, ``campaign``: acknowledged, not counted again |
| ``uplift_report_conflicts_total`` | counter | ``endpoint``, ``campaign``: disagree with the counted |
| ``uplift_predecessor_reports_total`` | counter | ``endpoint``, ``campaign``: a predecessor's, not counted |
| ``uplift_model_info`` | gauge (=1) | ``uri``, ``learner``, ``salt``, ``holdout_fraction`` |

``campaign`` is the campaign a decision was made for, ``""`` for requests that named none; its
values are the names in the campaigns file (requests naming another are refused; a report's
comes from its decision id, signed when that name was in the file), so the label is bounded by
the Campaigns of the model: a campaign that left the file has its series removed
(:meth:`RuntimeMetrics.forget`) once nothing of it is pending (docs/runtime.md), and one that
treats no one its counters, a window after it stopped.
Request duration and errors, feature bins and predicted uplift have
no ``campaign``: docs/runtime.md "Metrics" says why.

A series first created by its first count is born inside the gates' PromQL ranges, and
``increase()`` loses that count. So every family with a ``campaign`` label says, where it is
defined, which of its series a replica exports at zero before any count (``zeros``, per
:class:`Scope`: the replica's own version or another version of the split, the model's own
decisions or a campaign's); :meth:`RuntimeMetrics.export_zeros` creates them from that alone,
so a family cannot be added without saying (``_family`` refuses it), nor left out of them. A
campaign's are exported while it may treat (``UpliftRuntime._export_campaign_zeros``).

No counter, histogram or summary exports a ``_created`` series beside it: one more line per
labelled counter, which nothing reads, doubled a scrape at thousands of campaigns (119 MB,
24–34 s of CPU at 4,096, past the chart's 10 s ``scrapeTimeout``). This process serves
prometheus_client's default registry, so that holds for MLServer's own series too.
"""

from __future__ import annotations

import enum
import itertools
import threading
import weakref
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from uplift_operator.model.features import UPLIFT_BUCKETS
from uplift_operator.runtime.assignment import ARMS, UNEXPOSED
from uplift_operator.runtime.engine import CAMPAIGN_ARMS
from uplift_operator.runtime.events import NONE

# Single-row scoring takes ~1-5 ms; resolve that range finely, keep a tail up to 2.5 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05,
                   0.1, 0.25, 0.5, 1.0, 2.5)

BASE = ("model", "version")
ARM_T = (*BASE, "arm", "treatment", "campaign")
CAMPAIGN = (*BASE, "campaign")
LEDGER = (*CAMPAIGN, "ledger")



class Scope(enum.Enum):
    """Whose series a replica exports at zero: its own version's, or another version's of the
    split (a report counts under the version that decided, and reaches replicas of either), for
    the model's own decisions (``campaign=""``) or for one campaign's."""

    OWN_MODEL = "own version, campaign=''"
    OWN_CAMPAIGN = "own version, a campaign"
    OTHER_MODEL = "another version of the split, campaign=''"
    OTHER_CAMPAIGN = "another version of the split, a campaign"

    @classmethod
    def of(cls, own: bool, campaign: str) -> Scope:
        if own:
            return cls.OWN_CAMPAIGN if campaign else cls.OWN_MODEL
        return cls.OTHER_CAMPAIGN if campaign else cls.OTHER_MODEL


#: Among a label's values in ``Axes``: the treatment keys of the scope (``export_zeros``).
KEYS = "<treatment keys>"
#: The values of each label besides ``model``, ``version`` and ``campaign``, in the family's
#: order: every combination is one series exported at zero.
Axes: TypeAlias = tuple[tuple[str, tuple[str, ...]], ...]
#: Per arm of the test × treatment (a policy's choice, or for a holdout row the one withheld)
#: or ``none``.
ARM_KEYS: Axes = (("arm", ARMS), ("treatment", (KEYS, NONE)))
#: A report's or a closing cohort's count (outcomes, conversions, in-window ones): counted by
#: whichever replica the report reaches, under the version that decided, so at zero for the
#: split's other versions too.
REPORTED: Mapping[Scope, Axes] = dict.fromkeys(Scope, ARM_KEYS)
#: Counted by the deciding replica only, under its own version (decisions, closing counts).
DECIDED: Mapping[Scope, Axes] = {Scope.OWN_MODEL: ARM_KEYS, Scope.OWN_CAMPAIGN: ARM_KEYS}
#: No series at zero: set as a state (gauges), or read by no gate.
NO_ZEROS: Mapping[Scope, Axes] = {}

# Before any collector of the runtime's exists (the flag is read at each scrape): the module
# docstring says why.
disable_created_metrics()  # type: ignore[no-untyped-call]

_lock = threading.Lock()
# Per registry, weakly: keyed by ``id(registry)``, a registry allocated where a collected one
# was got that one's collectors (registered in the dead registry) and exported nothing.
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Any]] = (
    weakref.WeakKeyDictionary())


def _get(registry: CollectorRegistry, kind: type[Any], name: str, doc: str,
         labels: Sequence[str], **kw: Any) -> Any:
    with _lock:
        own = _collectors.setdefault(registry, {})
        if name not in own:
            own[name] = kind(name, doc, labelnames=list(labels), registry=registry, **kw)
        return own[name]


class RuntimeMetrics:
    """The runtime's collectors, bound to one registry (default: the process-wide one)."""

    def observe_uplift(self, model: str, version: str, treatment: str,
                       values: Sequence[float]) -> None:
        """Count predicted uplifts in the histogram, the signed-sum counters and the sum of
        squares."""
        hist = self.predicted_uplift.labels(model, version, treatment)
        positive = sum(v for v in values if v > 0)
        negative = -sum(v for v in values if v < 0)
        for value in values:
            hist.observe(value)
        self.uplift_positive.labels(model, version, treatment).inc(positive)
        self.uplift_negative.labels(model, version, treatment).inc(negative)
        self.uplift_squares.labels(model, version, treatment).inc(sum(v * v for v in values))

    def zero_label_sets(self, collector: Any, scope: Scope, keys: Sequence[str]
                        ) -> Iterator[dict[str, str]]:
        """The labels (besides ``model``, ``version`` and ``campaign``) of each series of
        ``collector`` exported at zero in ``scope``, ``keys`` standing for ``KEYS``."""
        axes = self.zeros.get(collector, {}).get(scope)
        if axes is None:
            return
        names = [name for name, _ in axes]
        values = [[v for value in vs for v in (keys if value == KEYS else (value,))]
                  for _, vs in axes]
        for combination in itertools.product(*values):
            yield dict(zip(names, combination, strict=True))

    def export_zeros(self, scope: Scope, model: str, version: str, campaign: str,
                     keys: Sequence[str]) -> int:
        """Create at zero the series of every family that says so for ``scope`` (``zeros``),
        for ``model``, ``version`` and ``campaign``, ``keys`` the treatment keys; how many
        label sets were asked (an existing series keeps its value)."""
        asked = 0
        for collector in self.zeros:
            for labels in self.zero_label_sets(collector, scope, keys):
                collector.labels(model=model, version=version, campaign=campaign, **labels)
                asked += 1
        return asked

    def forget(self, model: str, label: str, value: str, *, gauges: bool = True) -> int:
        """Remove the series of ``model`` whose ``label`` is ``value`` (:meth:`forget_many`);
        how many were removed."""
        return self.forget_many(model, label, (value,), gauges=gauges)[value]

    def forget_many(self, model: str, label: str, values: Collection[str], *,
                    gauges: bool = True, counters: bool = True) -> dict[str, int]:
        """Remove the series of ``model`` whose ``label`` is one of ``values``, from every
        collector with ``model`` and that label (``gauges=False``: but the gauges;
        ``counters=False``: the gauges only, no counter or histogram); how many were removed
        per value. ``campaign``: campaigns that left the file (any version), or, their
        counters only, ones of the file that treat no one; ``version``: versions that left the
        split (the report and cohort counters their decisions reach this replica's through),
        or that an unloaded instance of the model served and the loaded one does not (every
        family, campaign label or not: ``UpliftRuntime._hand_over``), never the replica's own.
        One pass over each collector's series, however many values: a pass per value, for
        each of 2,048 campaigns leaving in one tick, blocked the event loop 38 s
        (``series_scanned`` counts the series looked at)."""
        wanted = set(values)
        removed = dict.fromkeys(wanted, 0)
        if not wanted:
            return removed
        for collector in vars(self).values():
            names = getattr(collector, "_labelnames", ())
            if not {"model", label} <= set(names):
                continue
            if not (gauges if isinstance(collector, Gauge) else counters):
                continue
            if collector is self.campaign_entry_refused:
                # Follows the file's entries, not the campaign's decisions: set and removed as
                # its entry is rejected or taken (``UpliftRuntime._export_refused_entries``).
                continue
            at_model, at_label = names.index("model"), names.index(label)
            # Deleted under the collector's lock as ``remove`` does, without its look at the
            # environment per series (two-thirds of the time at 157,696 series).
            with collector._lock:
                series = collector._metrics
                self.series_scanned += len(series)
                doomed = [key for key in series
                          if key[at_model] == model and key[at_label] in wanted]
                for key in doomed:
                    del series[key]
                    removed[key[at_label]] += 1
        return removed

    def _family(self, kind: type[Any], name: str, doc: str, labels: Sequence[str], *,
                zeros: Mapping[Scope, Axes] | None = None, **kw: Any) -> Any:
        """The collector ``name`` of this registry, and which of its series are exported at
        zero (``zeros``), which a family with a ``campaign`` label must say (``NO_ZEROS`` for
        none), each scope naming exactly its labels besides model, version and campaign."""
        collector = _get(self._registry, kind, name, doc, labels, **kw)
        if "campaign" in labels:
            if zeros is None:
                raise ValueError(f"{name} has a campaign label: say which of its series are "
                                 "exported at zero (zeros=..., NO_ZEROS for none)")
            rest = [label for label in labels if label not in CAMPAIGN]
            for scope, axes in zeros.items():
                if [label for label, _ in axes] != rest:
                    raise ValueError(f"{name}: its zeros for {scope.name} name "
                                     f"{[label for label, _ in axes]}, its labels are {rest}")
            self.zeros[collector] = zeros
        return collector

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else REGISTRY
        self._registry = r
        #: Per family with a ``campaign`` label, its series exported at zero per scope.
        self.zeros: dict[Any, Mapping[Scope, Axes]] = {}
        #: Series :meth:`forget_many` has looked at, in all (what removing series costs).
        self.series_scanned = 0
        family = self._family
        self.request_duration = _get(
            r, Histogram, "uplift_request_duration_seconds",
            "Time spent in the uplift runtime per request (decode, score, decide, encode).",
            (*BASE, "endpoint"), buckets=LATENCY_BUCKETS)
        self.rows_scored = family(Counter, "uplift_rows_scored_total",
                                  "Rows scored by the uplift model.", CAMPAIGN,
                                  zeros={Scope.OWN_MODEL: (), Scope.OWN_CAMPAIGN: ()})
        self.assignments = family(
            Counter, "uplift_assignments_total",
            "Decisions per arm and treatment (for holdout rows: the treatment withheld).", ARM_T,
            zeros={Scope.OWN_MODEL: ARM_KEYS,
                   Scope.OWN_CAMPAIGN: (("arm", (*ARMS, UNEXPOSED)), ("treatment", (KEYS, NONE)))})
        # Only a campaign's are read (deliveryRate, over every version: the other versions' a
        # report reaches here, of a treated decision with a treatment).
        self.deliveries = family(
            Counter, "uplift_deliveries_total", "Reported treatment deliveries by result.",
            (*ARM_T, "status"),
            zeros={Scope.OWN_CAMPAIGN: (*ARM_KEYS, ("status", ("ok", "failed"))),
                   Scope.OTHER_CAMPAIGN: (("arm", ("treated",)), ("treatment", (KEYS,)),
                                          ("status", ("ok", "failed")))})
        self.outcomes = family(Counter, "uplift_outcomes_total",
                               "Reported outcomes (converted or not).", ARM_T, zeros=REPORTED)
        self.conversions = family(Counter, "uplift_conversions_total",
                                  "Reported outcomes with converted=true.", ARM_T,
                                  zeros=REPORTED)
        # Read by no gate (roi takes the value per conversion from the Campaign's spec).
        self.outcome_value = family(Counter, "uplift_outcome_value_total",
                                    "Sum of reported outcome values.", ARM_T, zeros=NO_ZEROS)
        self.feature_bins = _get(
            r, Counter, "uplift_feature_bin_total",
            "Scored rows per feature bin, in the binning of reference/feature_histograms.json.",
            (*BASE, "feature", "bin"))
        self.predicted_uplift = _get(r, Histogram, "uplift_predicted_uplift",
                                     "Predicted uplift per treatment of every scored row.",
                                     (*BASE, "treatment"), buckets=UPLIFT_BUCKETS)
        # prometheus_client omits a histogram's _sum when buckets go below zero (OpenMetrics), so
        # the mean predicted uplift (the upliftSanity gate) needs these two monotonic counters:
        # mean = (increase(positive) - increase(negative)) / increase(uplift_predicted_uplift_count)
        self.uplift_positive = _get(r, Counter, "uplift_predicted_uplift_positive",
                                    "Sum of positive predicted uplifts.", (*BASE, "treatment"))
        self.uplift_negative = _get(r, Counter, "uplift_predicted_uplift_negative",
                                    "Sum of the absolute values of negative predicted uplifts.",
                                    (*BASE, "treatment"))
        # The live variance, so upliftSanity's bounds need not take the training sd for it.
        self.uplift_squares = _get(r, Counter, "uplift_predicted_uplift_squares",
                                   "Sum of the squared predicted uplifts.", (*BASE, "treatment"))
        self.errors = _get(r, Counter, "uplift_request_errors_total",
                           "Rejected requests by endpoint and reason.", (*BASE, "endpoint",
                                                                          "reason"))
        # No campaign label: a campaign's request without its unit key is refused
        # (bad_unit_id); only the model's own decisions are made under a random unit id.
        self.rows_without_unit = _get(
            r, Counter, "uplift_rows_without_unit",
            "Rows of requests without the unit key input (UPLIFT_UNIT_KEY), each decided under "
            "a fresh random unit id: no sticky arm, no unit-only report.", BASE)
        self.duplicates = family(Counter, "uplift_duplicate_reports_total",
                                 "Reports for a decision already counted (acknowledged, not "
                                 "counted again).", (*BASE, "endpoint", "campaign"),
                                 zeros={Scope.OWN_CAMPAIGN: (("endpoint", ("deliveries",
                                                                           "outcomes")),)})
        self.conflicts = family(
            Counter, "uplift_report_conflicts_total",
            "Duplicate reports that say otherwise than the one counted for their decision "
            "(another converted or value): acknowledged, not counted; the first report stands.",
            (*BASE, "endpoint", "campaign"),
            zeros={Scope.OWN_MODEL: (("endpoint", ("outcomes",)),),
                   Scope.OWN_CAMPAIGN: (("endpoint", ("outcomes",)),)})
        self.predecessor_reports = family(
            Counter, "uplift_predecessor_reports",
            "Reports for a decision made under an earlier Campaign of the name, deleted and "
            "created again since (acknowledged, counted nowhere else).",
            (*BASE, "endpoint", "campaign"), zeros=NO_ZEROS)
        self.info = _get(r, Gauge, "uplift_model_info", "The loaded uplift model (value 1).",
                         (*BASE, "uri", "learner", "salt", "holdout_fraction"))
        # Campaigns (docs/runtime.md, "Campaigns").
        # A campaign's only (its completeness); the model's own are read by no gate.
        self.late_outcomes = family(
            Counter, "uplift_late_outcomes_total",
            "Outcomes reported after the attribution window of their decision (not counted as "
            "outcomes or conversions).", ARM_T,
            zeros={Scope.OWN_CAMPAIGN: ARM_KEYS, Scope.OTHER_CAMPAIGN: ARM_KEYS})
        self.outcomes_expected = family(
            Counter, "uplift_outcomes_expected",
            "Decisions (holdout and treated arms) whose attribution window has closed: a "
            "campaign's, and the model's own during a canary.", ARM_T, zeros=DECIDED)
        self.outcomes_received = family(
            Counter, "uplift_outcomes_received",
            "In-window outcomes of the decisions whose attribution window has closed.", ARM_T,
            zeros=REPORTED)
        self.outcomes_converted = family(
            Counter, "uplift_outcomes_converted",
            "In-window conversions of the decisions whose attribution window has closed.", ARM_T,
            zeros=REPORTED)
        self.windowed_decisions = family(
            Counter, "uplift_windowed_decisions",
            "Decisions (holdout and treated arms) that carry an attribution window, counted when "
            "decided: a cohort's units read a window later, which a replica's restart does not "
            "lose.", ARM_T, zeros=DECIDED)
        self.campaign_decisions = family(
            Counter, "uplift_campaign_decisions",
            "Campaign decisions by what decided them (the response's campaign_arm).",
            (*CAMPAIGN, "campaign_arm"),
            zeros={Scope.OWN_CAMPAIGN: (("campaign_arm", CAMPAIGN_ARMS),)})
        self.campaign_spend = family(
            Counter, "uplift_campaign_spend",
            "Cost of the treatments this replica decided to send, per campaign.", CAMPAIGN,
            zeros={Scope.OWN_CAMPAIGN: ()})
        # Exact where increase() over a short budget period is not: Prometheus extrapolates a
        # range's increase past its samples (5 spent read as 7 seconds into a 30 s period).
        # ``ledger`` tells a restarted replica's spend from its earlier one's (same pod, same
        # target): the budget gate sums each ledger's last value in the period.
        self.campaign_period_spend = family(
            Gauge, "uplift_campaign_period_spend",
            "This replica's spend in the campaign's current budget period (what it enforces), "
            "per ledger (a new one on each restart or model load).", LEDGER, zeros=NO_ZEROS)
        self.campaign_period_start = family(
            Gauge, "uplift_campaign_period_start_seconds",
            "Start of the budget period uplift_campaign_period_spend counts (unix seconds).",
            LEDGER, zeros=NO_ZEROS)
        self.campaign_generation = family(
            Gauge, "uplift_campaign_generation",
            "metadata.generation of the Campaign whose settings this replica applies.", CAMPAIGN,
            zeros=NO_ZEROS)
        self.campaign_exposure = family(
            Gauge, "uplift_campaign_exposure_percent",
            "Exposure percent of the campaign this replica applies (0 when it may not treat).",
            CAMPAIGN, zeros=NO_ZEROS)
        self.campaign_reloads = _get(
            r, Counter, "uplift_campaigns_reloads",
            "New versions of the campaigns file: ok, partial (some entries, or the version "
            "split, kept their last good version), error (the whole file kept the last good "
            "version).", (*BASE, "result"))
        # States, not counts (as uplift_report_token_file_refused): each version is counted
        # once above, so an alert on the counter's increase cleared while the file, or the
        # entry, stayed rejected and the replica kept treating on its last good settings.
        self.campaigns_file_refused = _get(
            r, Gauge, "uplift_campaigns_file_refused",
            "1 while the campaigns file's current version is rejected whole (not JSON, another "
            "format, too many entries, unreadable, or gone after a version was read: every "
            "campaign keeps its last good settings) or its split is (malformed: the last version "
            "split kept); 0 since a version with a valid split, or none, was taken.", BASE)
        self.campaign_entry_refused = family(
            Gauge, "uplift_campaign_entry_refused",
            "1 while the campaign's current entry in the campaigns file is rejected (malformed, "
            "or treating with a treatment this version lacks: it keeps its last good settings, "
            "or is not served); no series once an entry of it is taken or it leaves the file.",
            CAMPAIGN, zeros=NO_ZEROS)
        # Sender authentication (docs/runtime.md, "Rotating the report token").
        self.report_tokens = _get(
            r, Gauge, "uplift_report_tokens",
            "Report tokens the report endpoints accept now (two during a rotation; 0: no token "
            "configured, the endpoints answer anyone who reaches them).", BASE)
        self.report_token_reloads = _get(
            r, Counter, "uplift_report_token_reloads",
            "New versions of the report token file: ok (taken), error (missing, unreadable or "
            "invalid: the last valid tokens kept).", (*BASE, "result"))
        # A state, not a count: it stays 1 for as long as the bad version is the file's (an
        # alert on the counter's increase cleared after its window, the Secret still broken).
        self.report_token_file_refused = _get(
            r, Gauge, "uplift_report_token_file_refused",
            "1 while the report token file's current version is refused (missing, unreadable or "
            "invalid: the last valid tokens kept, senders on a new token refused); 0 since a "
            "valid version was read.", BASE)
