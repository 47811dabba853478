"""The operator's own Prometheus metrics (not the models' metrics, which the gates read)."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import RestrictedRegistry

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import stuck
from uplift_operator.domain.canary import says_stable_down
from uplift_operator.domain.status import SERVING_CONFLICT
from uplift_operator.domain.steps import IGNORED_PREFIX, Reason
from uplift_operator.services.disruption import BUDGET_CONDITION, BUDGET_FAILED
from uplift_operator.services.rolls import Rolls
from uplift_operator.services.writeback import WriteBack

__all__ = ["PASS_BUCKETS", "REGISTRY", "PassOutcome", "campaigns_file_undelivered",
           "count_decisions", "deadline_exceeded", "forget", "forget_campaigns_file", "ghost",
           "ghosts_audited", "graph_roll_timed_out", "last_abort", "last_rollback",
           "observe_campaign", "observe_gates", "observe_phase", "observe_rollout",
           "observe_rolls", "observe_status", "pass_queued", "passes_in_error_backoff",
           "paused_by_inconclusive_gate", "process_started", "pruned", "reconciling", "refused",
           "resources",
           "rollback_pending", "scrapes", "serve", "spec_stuck", "stable_awaited_since",
           "watches_paused"]

log = logging.getLogger(__name__)

# No ``<counter>_created`` series: one more per labelled counter (three per resource), which
# nothing here reads, and the exposition at ten thousand resources is heavy enough.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()


class _Served(CollectorRegistry):
    """``REGISTRY`` as /metrics serves it, counting the scrapes that began (``scrapes``): the
    count moves before the scrape reads any metric, so a scrape counted after a counter's
    increment has that increment in its exposition. A scrape of some metrics alone
    (``name[]``) is not counted: it may not read the counter."""

    def __init__(self) -> None:
        super().__init__(auto_describe=False)
        self._count_lock = threading.Lock()
        self.count = 0

    def collect(self) -> Iterator[Metric]:
        with self._count_lock:
            self.count += 1
        yield from REGISTRY.collect()

    def restricted_registry(self, names: Iterable[str]) -> RestrictedRegistry:
        return REGISTRY.restricted_registry(names)


_SERVED = _Served()

RECONCILES = Counter("uplift_operator_reconciles_total",
                     "Reconcile passes by kind and result (ok, error, conflict, gone). Kind "
                     "CampaignsFile counts the passes writing each UpliftModel's <model>-campaigns "
                     "ConfigMap: result error is a write the API server refused (RBAC, quota, a "
                     "webhook), so the pods may still treat at an old exposure; it is retried "
                     "with backoff, and a Warning CampaignsFileNotWritten event on the "
                     "UpliftModel says why.",
                     ["kind", "result"], registry=REGISTRY)
#: Buckets of the pass histograms, up to 10 minutes: a pass waits for a thread of the pass pool
#: (``--pass-workers``) first, and at ten thousand new resources a first pass waited 233 to
#: 554 s for one (docs/operator.md, "Scale"); the client's default buckets end at 10 s, so a
#: p95 read from them could never say more than 10 s.
PASS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                300.0, 600.0)
RECONCILE_SECONDS = Histogram("uplift_operator_reconcile_duration_seconds",
                              "Time of one reconcile pass, from its start to its end: the wait "
                              "for a thread of the pass pool included (that wait alone: "
                              "uplift_operator_pass_queue_seconds).", ["kind"],
                              buckets=PASS_BUCKETS, registry=REGISTRY)
PASS_QUEUE_SECONDS = Histogram("uplift_operator_pass_queue_seconds",
                               "How long a pass's decision waited for a thread of the pass pool "
                               "(--pass-workers) before it began, by kind (UpliftModel, "
                               "Campaign).", ["kind"], buckets=PASS_BUCKETS, registry=REGISTRY)
PHASE = Gauge("uplift_operator_resource_phase",
              "1 for the current phase of each resource (one series per resource).",
              ["kind", "namespace", "name", "phase"], registry=REGISTRY)
INVALID = Gauge("uplift_operator_invalid_spec", "1 when the resource's spec is invalid.",
                ["kind", "namespace", "name"], registry=REGISTRY)
CANARY_WEIGHT = Gauge("uplift_operator_canary_weight",
                      "Percent of traffic on the canary, as the UpliftModel's status decided it "
                      "(status.canaryWeight): while uplift_operator_serving_apply_failing is 1 "
                      "the serving graph still carries the split it had (a canary rolled back "
                      "to 0 may keep its traffic).",
                      ["namespace", "name"], registry=REGISTRY)
#: The labels of every per-gate series: ``type`` is the gate's type as its spec says
#: (``ModelGate.type``, ``CampaignGate.type``: latency, errorRate, drift, ..., custom), so the
#: alerts and dashboards select drift gates by what they measure, not by their names. A gate has
#: one type at a time: the label adds no series.
GATE_LABELS = ("kind", "namespace", "name", "gate", "type")
GATE_VERDICT = Gauge("uplift_operator_gate_verdict",
                     "1 for each gate's last verdict (Pass, Inconclusive, Error, Fail), of an "
                     "UpliftModel's or a Campaign's gates (kind), with the gate's type as its "
                     "spec says (type: latency, errorRate, drift, qini, onlineEffect, "
                     "upliftSanity, deliveryRate, incrementalConversions, roi, budget, custom): "
                     "one series per gate, its verdict's, none for the others (read it with == 1, "
                     "not == 0).",
                     [*GATE_LABELS, "verdict"], registry=REGISTRY)
GATE_VALUE = Gauge("uplift_operator_gate_value",
                   "Each gate's last measured value and its bounds, as status.gates reports them, "
                   "with the gate's type (as uplift_operator_gate_verdict).",
                   [*GATE_LABELS, "bound"], registry=REGISTRY)
GATE_INCONCLUSIVE_PAST_LIMIT = Gauge(
    "uplift_operator_gate_inconclusive_past_limit",
    "1 while the resource's ramp is paused because this gate (of the type type) was "
    "Inconclusive past its inconclusiveLimit (waiting for a promote or an abort; an "
    "UpliftModel also takes a retry); no series otherwise; a ramp held by its "
    "spec's paused field is not.", GATE_LABELS, registry=REGISTRY)
PAUSED = Gauge(
    "uplift_operator_paused",
    "1 while kopf's peering holds every watch of this process paused (another replica acts: a "
    "healthy stand-by; or a peering object is missing, or a peer of the same priority), else "
    "0; exported from the process's start, before any pass. With every replica at 1 nothing is "
    "reconciled (UpliftOperatorNotReconciling).", registry=REGISTRY)
RESOURCES = Gauge(
    "uplift_operator_resources",
    "Resources this process has a reconcile task for now, by kind (UpliftModel, Campaign, "
    "CampaignsFile: a model's campaigns file), whether or not a pass of theirs ever completed: "
    "each kind's series at 0 from the process's start; 0 on a replica paused by peering (kopf "
    "stops its tasks). Above 0 while uplift_operator_reconciles_total stays still, a hung "
    "process, since its start too (UpliftOperatorNotReconciling).", ["kind"],
    registry=REGISTRY)
LAST_PASS = Gauge("uplift_operator_last_pass_timestamp_seconds",
                  "When the last completed pass of each resource began (Unix time); a value that "
                  "stops moving means nothing reconciles the resource.",
                  ["kind", "namespace", "name"], registry=REGISTRY)
LAST_PASS_END = Gauge(
    "uplift_operator_last_pass_end_timestamp_seconds",
    "When this process last ended a reconcile pass of any resource and kind, whatever its "
    "result (ok, error, conflict, gone), Unix time; the process's start time until its first "
    "pass ends, so it exists from the start. At rest every resource passes at least every "
    "10 minutes (the resync): far older while uplift_operator_resources is above 0, a hung "
    "process, since its start too (UpliftOperatorNotReconciling).", registry=REGISTRY)
CAMPAIGN_BUDGET_EXHAUSTED = Gauge(
    "uplift_operator_campaign_budget_exhausted",
    "1 while a Campaign is suspended because its budget period's spend reached its budget "
    "(exposure 0 until the period rolls over; Ready reason BudgetExhausted, whatever phase is "
    "published over Suspended), else 0.", ["namespace", "name"], registry=REGISTRY)
CAMPAIGN_BUDGET_UNREADABLE = Gauge(
    "uplift_operator_campaign_budget_unreadable",
    "1 while a Campaign is suspended because its spend could not be read under "
    "spec.economics.budgetUnreadable.action Suspend (from the first reading that failed at or "
    "after status.budgetUnreadableSince + after, so between after and after + one "
    "analysisInterval; exposure 0 until a reading shows the spend under the budget; Ready "
    "reason BudgetUnreadable, whatever phase is published over Suspended), else 0.",
    ["namespace", "name"], registry=REGISTRY)
CAMPAIGN_BUDGET_UNREADABLE_SINCE = Gauge(
    "uplift_operator_campaign_budget_unreadable_since_timestamp_seconds",
    "Since when (Unix time) a Campaign's budget gates that enforce the budget (not dryRun) "
    "have not been able to read its spend (status.budgetUnreadableSince: their readings "
    "Errors or Inconclusives, Prometheus down or not configured, the query failing, no spend "
    "series, with none since showing the spend) while it exposes, whatever "
    "spec.economics.budgetUnreadable's action: exposing meanwhile, each replica stops only at "
    "the whole budget on its own; under Suspend the campaign is suspended at the first "
    "reading that fails at or after this time + after, so between after and after + one "
    "analysisInterval later (uplift_operator_campaign_budget_unreadable). No series "
    "otherwise.", ["namespace", "name"], registry=REGISTRY)
CAMPAIGN_HOLDOUT_SHARED = Gauge(
    "uplift_operator_campaign_holdout_shared",
    "1 while a Campaign's holdout draw is shared with other Campaigns of its model or its "
    "UpliftModel's own holdout (condition HoldoutShared True: the same effective salt, whatever "
    "the unitKey, so the same units are held out and treated in each, and each reports their "
    "joint effect as its own), else 0.",
    ["namespace", "name"], registry=REGISTRY)
CAMPAIGN_BUDGET_SPEND = Gauge(
    "uplift_operator_campaign_budget_spend",
    "A Campaign's spend in its current budget period summed over its replicas, past ones "
    "included, as its budget gate last measured it (status.spend); only with a budget gate.",
    ["namespace", "name"], registry=REGISTRY)
# A Campaign's results as its status reports them, each with bound = estimate, lower, upper
# (the gate's confidence bounds; a bound the status lacks has no series).
CAMPAIGN_ROI = Gauge(
    "uplift_operator_campaign_roi",
    "A Campaign's return on investment, (value per conversion x incremental conversions - "
    "spend) / spend, as status.roi reports it (from its roi gate).",
    ["namespace", "name", "bound"], registry=REGISTRY)
CAMPAIGN_INCREMENTAL_EFFECT = Gauge(
    "uplift_operator_campaign_incremental_effect",
    "A Campaign's incremental conversion rate, treated minus holdout, as "
    "status.incrementalEffect reports it (from its incrementalConversions gate).",
    ["namespace", "name", "bound"], registry=REGISTRY)
CAMPAIGN_INCREMENTAL_CONVERSIONS = Gauge(
    "uplift_operator_campaign_incremental_conversions",
    "A Campaign's incremental conversions among the cohorts its incrementalConversions gate "
    "judged (the followed version's decisions whose attribution window closed, over the steps "
    "its effect pools), the sum over the steps of C_treated - C_holdout x n_treated / "
    "n_holdout, as status.incrementalConversions reports it.",
    ["namespace", "name", "bound"], registry=REGISTRY)
ESTIMATE_BOUNDS = ("estimate", "lower", "upper")
DECISIONS = Counter("uplift_operator_decisions_total",
                    "Ramp decisions (StepAdvanced, Promoted, RolledBack, ManualAbort, ...), "
                    "each series from its first increment in this process (none at 0: read "
                    "rollbacks from uplift_operator_last_rollback_timestamp_seconds, which the "
                    "alerts use). A canary the spec withdrew (its version pointed back at the "
                    "stable) is no RolledBack here.",
                    ["kind", "namespace", "name", "action"], registry=REGISTRY)
PROGRESS_DEADLINE_EXCEEDED = Gauge(
    "uplift_operator_progress_deadline_exceeded",
    "1 while the resource's ramp is stuck past its progressDeadline (status: phase Degraded, "
    "message ProgressDeadlineExceeded: ...), else 0. A state, not an event: it stays 1 for as "
    "long as the ramp stays stuck, across operator restarts.",
    ["kind", "namespace", "name"], registry=REGISTRY)
MODEL_STABLE_NOT_SERVING = Gauge(
    "uplift_operator_model_stable_not_serving",
    "1 while an UpliftModel's stable version, which served, does not serve (status: Ready False "
    "WaitingForServing, message 'stable version N does not serve any more: ...', with the "
    "serving backend's failure), else 0. Not while a first version waits to serve, nor while "
    "an emergency rollback restores its stable (the version it replaced serves).",
    ["namespace", "name"], registry=REGISTRY)
MODEL_STABLE_AWAITED_SINCE = Gauge(
    "uplift_operator_model_stable_awaited_since_timestamp_seconds",
    "Since when (Unix time) an UpliftModel's stable version has been awaited: made stable and "
    "not seen serving since (status: Ready False WaitingForServing, no stableServedVersion "
    "naming it; phase Progressing, 'waiting for stable version N to serve'): a first version, "
    "or a promoted one, whose pods never become available (an image that does not pull, a "
    "model that does not load, pods that cannot be scheduled) while the serving backend "
    "reports no failure. The later of when Ready turned False and when the version was made "
    "stable (its Promoted history entry). No series otherwise: not once it served (a stable "
    "that served and stopped is uplift_operator_model_stable_not_serving), nor while an "
    "emergency rollback restores its stable (that restore has its own deadline, "
    "ProgressDeadlineExceeded). One series per resource, whatever the version.",
    ["namespace", "name"], registry=REGISTRY)
SERVING_APPLY_FAILING = Gauge(
    "uplift_operator_serving_apply_failing",
    "1 while an UpliftModel's ServingApplied condition is False with reason ApplyFailed: the "
    "API server refuses the serving graph (SeldonDeployment) its status decided (an admission "
    "webhook, RBAC, a quota, an invalid object), so the graph keeps the split it had and a "
    "rollback, promotion or step the status shows is not in effect (retried with backoff); "
    "else 0 (applied, or a re-render queued for a slot, RollQueued, while the graph serves as "
    "it is).", ["namespace", "name"], registry=REGISTRY)
CAMPAIGN_SETTINGS_UNDELIVERED = Gauge(
    "uplift_operator_campaign_settings_undelivered",
    "1 while a Campaign's SettingsDelivered condition is False: its model's campaigns file "
    "cannot be written (FileNotWritten), has no room for it (CampaignsFileFull) or does not "
    "carry it as its spec says (CampaignNotCarried), so the serving pods keep its previous "
    "settings and an exposure the status decided (a rollback's 0 % included) is not in "
    "effect; else 0. model: the UpliftModel its spec.modelRef names (an Alertmanager inhibit "
    "rule can mute its alert while that model's UpliftCampaignsFileNotWritten fires).",
    ["namespace", "name", "model"], registry=REGISTRY)
#: The model each Campaign's ``CAMPAIGN_SETTINGS_UNDELIVERED`` series names, by (namespace,
#: name): a Campaign moved to another model drops the series of the one before.
_SETTINGS_MODEL: dict[tuple[str, str], str] = {}
CAMPAIGNS_FILE_UNDELIVERED = Gauge(
    "uplift_operator_campaigns_file_undelivered",
    "1 while an UpliftModel's campaigns file (its <model>-campaigns ConfigMap) was not written "
    "at its last pass: the API server refused it (RBAC, a quota, a webhook, the ConfigMaps "
    "admission policy), another owner's ConfigMap holds the name, or a deleted predecessor's "
    "is still there; else 0. The serving pods keep the file's previous content, so no change "
    "of the model's Campaigns reaches them, a deleted Campaign's removal included: the pods "
    "go on treating under it at its last exposure, and no Campaign is left to say "
    "SettingsDelivered False (uplift_operator_campaign_settings_undelivered). Per model "
    "(model: the UpliftModel's name), from its first file pass in this process until it is "
    "deleted (or the replica paused by peering).", ["namespace", "model"], registry=REGISTRY)
ROLLBACK_PENDING = Gauge(
    "uplift_operator_rollback_pending",
    "1 while a gate demands a rollback that rollback.mode: Manual leaves to a human (status: "
    "phase Paused, Ready False RollbackPending): the canary keeps its weight (a Campaign its "
    "exposure) until an abort or a promote, and no progressDeadline runs meanwhile; else 0.",
    ["kind", "namespace", "name"], registry=REGISTRY)
REGISTRY_WRITE_BACK_FAILING = Gauge(
    "uplift_operator_registry_write_back_failing",
    "1 while an UpliftModel's RegistryWrittenBack condition is False: an MLflow write-back of "
    "its decisions (role tags, the promotion alias, a rollback's reason) keeps failing and is "
    "retried, waits behind another resource's failing write, or was dropped (MLflow refused it "
    "for good); or they are withheld on purpose, not retried, while an older UpliftModel moves "
    "the same promotion alias (reason PromotionAliasShared: one of them needs another "
    "promotionAlias); else 0 (True, Unknown while queued, or never written back).",
    ["namespace", "name"], registry=REGISTRY)
MODEL_UNRESOLVED_SINCE = Gauge(
    "uplift_operator_model_unresolved_since_timestamp_seconds",
    "Since when (Unix time) an UpliftModel's model reference has not resolved to a version: "
    "its ModelResolved condition False, from its lastTransitionTime (which a new reason moves "
    "too), under the condition's reason. RegistryUnavailable (MLflow could not be asked: an "
    "outage) and VersionNotReady (the version PENDING_REGISTRATION) clear by themselves and "
    "turn no phase Degraded: a model whose stable version serves stays Healthy (\"the model "
    "reference does not resolve now\"), a first version waits Progressing, a canary's ramp "
    "neither steps nor is promoted, however long it lasts; the other reasons (ModelNotFound, "
    "VersionFailed, ...) are uplift_operator_spec_stuck's too past their grace. One series per "
    "resource while False, its current reason's; none otherwise.",
    ["namespace", "name", "reason"], registry=REGISTRY)
#: The reason each UpliftModel's ``MODEL_UNRESOLVED_SINCE`` series has now, by (namespace,
#: name): a new reason replaces the series of the one before.
_UNRESOLVED_SERIES: dict[tuple[str, str], str] = {}
DISRUPTION_BUDGET_FAILING = Gauge(
    "uplift_operator_disruption_budget_failing",
    "1 while an UpliftModel's DisruptionBudgetApplied condition is False with reason "
    "DisruptionBudgetFailed: a PodDisruptionBudget its spec.serving.disruptionBudget wants could "
    "not be applied, or one no longer wanted deleted (RBAC without poddisruptionbudgets, an "
    "admission webhook, a budget of the name that is not the model's), retried with backoff. "
    "Serving is not held back, but a node drain may evict every serving pod of a version at "
    "once. No series otherwise (applied, no budget wanted, or a predecessor's budget waiting "
    "for the garbage collector, WaitingForGarbageCollector).",
    ["namespace", "name"], registry=REGISTRY)
SPEC_STUCK = Gauge(
    "uplift_operator_spec_stuck",
    "1 while the resource is Degraded because its spec cannot take effect and will not by "
    "itself, with the reason of the condition that says why (domain/stuck.py's problems held "
    "past their grace: an UpliftModel's ModelResolved False ModelNotFound, VersionFailed, "
    "InvalidModel, CredentialsUnreadable, CredentialsRefused or TrackingUriMissing, "
    "ServingFailed True ServingBackendFailed, ServingApplied False ApplyFailed or RollTimedOut; "
    "a Campaign's "
    "ModelServing False ModelNotFound, its modelRef naming no UpliftModel, or SettingsDelivered "
    "False; and, Degraded at once, an UpliftModel's ServingApplied False ServingConflict, a "
    "Campaign's Ready False TreatmentNotServed). One series per resource, the first such "
    "reason's; none otherwise: not for a rollback (RolledBack, left as it is), a model's stable "
    "version that stopped serving, nor a Campaign whose model serves nothing.",
    ["kind", "namespace", "name", "reason"], registry=REGISTRY)

#: The decisions the rollback alerts page on (a human's ManualAbort is not an incident).
ALERTED_ROLLBACKS = frozenset({Reason.ROLLED_BACK.value, Reason.EMERGENCY_ROLLBACK.value})
#: The history actor of what the spec itself did: a canary withdrawn because the spec points
#: back at the stable version (a git revert, an alias moved back) is deliberate, not an incident.
SPEC_ACTOR = "spec"
#: The history actor of what a status-less pass re-states from the registry's role tags
#: (``domain.canary``'s ``recover_recorded_roles``: the object re-created or restored without
#: its status): a ``RolledBack`` entry timed at that pass tells a rollback decided long before,
#: already alerted on, not a new one.
REGISTRY_ACTOR = "registry"
STATUS_FIELDS_PRUNED = Counter(
    "uplift_operator_status_fields_pruned_total",
    "Status writes from which the API server dropped a field its CRD does not declare (the "
    "installed CRD is older than the operator: docs/install.md, upgrading the CRDs), by kind "
    "and field path (list items as [], map keys as <key>).", ["kind", "field"],
    registry=REGISTRY)
STATUS_WRITES_REFUSED = Counter(
    "uplift_operator_status_writes_refused_total",
    "Status writes the API server refused (422) naming a status field its CRD declares "
    "otherwise (a phase its enum lacks: the installed CRD and the operator are of different "
    "releases), by kind and field path (list items as [], map keys as <key>). The resource's "
    "status stays as it was.",
    ["kind", "field"], registry=REGISTRY)
LAST_ROLLBACK = Gauge(
    "uplift_operator_last_rollback_timestamp_seconds",
    "When the resource's latest rollback (RolledBack or EmergencyRollback, not a canary the "
    "spec withdrew, nor one re-stated from the registry's tags after the object was "
    "re-created or restored without its status) in status.history was decided (Unix time); "
    "no series while its history holds none. Read from the status, "
    "so an operator restart neither loses nor repeats it, unlike a counter born with it.",
    ["kind", "namespace", "name"], registry=REGISTRY)
LAST_ABORT = Gauge(
    "uplift_operator_last_abort_timestamp_seconds",
    "When the resource's latest ManualAbort (a human's abort, kubectl uplift abort) in "
    "status.history was decided (Unix time); no series while its history holds none. Read "
    "from the status, as uplift_operator_last_rollback_timestamp_seconds: an abort handled in "
    "the first pass after an operator start or a failover is there, which the decision "
    "counter, born at 1, reads as no increase.",
    ["kind", "namespace", "name"], registry=REGISTRY)

GHOSTS = Counter(
    "uplift_operator_ghosts_total",
    "Deleted objects this process still reconciled, found by the existence audit (absent from "
    "two LISTs in a row, their DELETED event never came: a watch listed again after a gap); "
    "each ends the process so that its restart lists every object afresh. Its series exist at 0 "
    "while the audit runs; the increment is on /metrics for a scrape before the exit.",
    ["kind"], registry=REGISTRY)

GRAPH_ROLLS = Gauge(
    "uplift_operator_graph_rolls",
    "Serving graphs re-rendered (the same traffic split, a new rendering: an operator upgrade "
    "or setting, a spec.serving edit) whose pods are rolling now: each holds one of the "
    "--max-concurrent-graph-rolls slots from its apply until Seldon reports it serving again, "
    "or the roll timeout.", registry=REGISTRY)
GRAPH_ROLLS_WAITING = Gauge(
    "uplift_operator_graph_rolls_waiting",
    "UpliftModels whose re-render waits for a slot among the graphs rolling at once (their "
    "ServingApplied False, RollQueued); their graphs keep serving as they are.",
    registry=REGISTRY)
GRAPH_ROLL_LIMIT = Gauge(
    "uplift_operator_graph_roll_limit",
    "Serving graphs that may re-render at once (--max-concurrent-graph-rolls; 0: no limit).",
    registry=REGISTRY)
GRAPH_ROLLS_TIMED_OUT = Counter(
    "uplift_operator_graph_rolls_timed_out_total",
    "Re-rendered serving graphs that did not serve again within the roll timeout: their slot "
    "was freed for the next (a Warning RollTimedOut event on the UpliftModel).",
    registry=REGISTRY)


def observe_rolls(rolls: Rolls) -> None:
    """The graph roll gauges read ``rolls`` at each scrape (the process has one)."""
    GRAPH_ROLLS.set_function(rolls.rolling)
    GRAPH_ROLLS_WAITING.set_function(rolls.waiting)
    GRAPH_ROLL_LIMIT.set(rolls.limit)


REGISTRY_WRITE_BACK_PENDING = Gauge(
    "uplift_operator_registry_write_back_pending",
    "MLflow write-backs (role tags, promotion aliases, reasons) this process has queued and "
    "not yet seen through: failing and retried, held behind a failing write of their model, or "
    "not tried yet, or held untried while peering pauses their resource (up to 60 s, then "
    "dropped unless this replica's own status is found again).", registry=REGISTRY)
REGISTRY_WRITE_BACK_OLDEST_AGE = Gauge(
    "uplift_operator_registry_write_back_oldest_age_seconds",
    "How long the oldest MLflow write-back still pending in this process has been queued "
    "(seconds; 0 when none is): it grows while a write fails and is retried, or while the "
    "write-back worker is stuck and tries nothing (each resource's RegistryWrittenBack then "
    "stays Unknown, which no other alert reads).", registry=REGISTRY)


def observe_write_back(write_back: WriteBack) -> None:
    """The write-back backlog gauges read ``write_back`` at each scrape (the process has one)."""
    REGISTRY_WRITE_BACK_PENDING.set_function(lambda: write_back.backlog()[0])
    REGISTRY_WRITE_BACK_OLDEST_AGE.set_function(lambda: write_back.backlog()[1] or 0.0)


PASSES_IN_ERROR_BACKOFF = Gauge(
    "uplift_operator_passes_in_error_backoff",
    "Resources (by kind: UpliftModel, Campaign, CampaignsFile) whose last reconcile pass raised "
    "an error (its status or campaigns file write refused, the API server unreachable) and that "
    "wait to retry it: 1 s, then as long as it has failed in a row, at most 5 min. 0 once a "
    "pass of each succeeds; 0 on a replica paused by peering.", ["kind"], registry=REGISTRY)


def passes_in_error_backoff(kind: str, count: int) -> None:
    """``count`` tasks of ``kind`` wait to retry a pass that raised (``Wakeups``)."""
    PASSES_IN_ERROR_BACKOFF.labels(kind).set(count)


def resources(kind: str, count: int) -> None:
    """This process has ``count`` waiting tasks of ``kind`` (``Wakeups``)."""
    RESOURCES.labels(kind).set(count)


#: The results a pass ends with (``reconciling``): each kind's counter series exist at 0 from
#: the process's start (``process_started``), as a series born at 1 reads as no ``rate()``.
RESULTS = ("ok", "error", "conflict", "gone")


def process_started(kinds: Iterable[str], now: float) -> None:
    """The process started at ``now`` (Unix time) and passes ``kinds``: the last pass's end is
    its start until a pass ends, and the reconcile counters of each kind and result are 0."""
    LAST_PASS_END.set(now)
    for kind in kinds:
        for result in RESULTS:
            RECONCILES.labels(kind, result)


def graph_roll_timed_out() -> None:
    GRAPH_ROLLS_TIMED_OUT.inc()


def ghosts_audited(kinds: list[str]) -> None:
    """The kinds the existence audit counts ghosts of: their series exist at 0 from its start
    (a series born at 1 reads as no ``increase()``)."""
    for kind in kinds:
        GHOSTS.labels(kind)


def ghost(kind: str) -> None:
    GHOSTS.labels(kind).inc()


def watches_paused(paused: bool) -> None:
    """kopf paused this process's watches (``True``: a watch-stream said it pauses) or resumed
    them (a watch-stream said it resumes); ``handlers.readiness`` reads kopf's lines."""
    PAUSED.set(1 if paused else 0)


def scrapes() -> int:
    """How many scrapes of /metrics began so far in this process: one begun after a counter's
    increment has that increment in its exposition (``existence.audit_forever``)."""
    return _SERVED.count


#: What ``listening_socket`` takes for "this host has no IPv6": the kernel refuses an AF_INET6
#: socket (built without IPv6, or ``ipv6.disable=1``), or has no ``::`` to bind.
_NO_IPV6_SOCKET = frozenset({errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT})
_NO_IPV6_BIND = frozenset({errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL})


def listening_socket(port: int) -> socket.socket:
    """A TCP socket listening on ``port`` of every address, IPv6 and IPv4 alike: ``::`` with
    ``IPV6_V6ONLY`` off (the kubelet's probes and Prometheus reach the pod's IP of either family:
    an IPv6-only cluster, a dual-stack one whichever family comes first); ``0.0.0.0`` on a host
    without IPv6 alone (the kernel refuses an AF_INET6 socket, or has no ``::`` to bind), with a
    WARNING saying so. Any other failure on ``::`` (the port in use, even by an IPv6-only socket;
    no permission) is raised, not hidden behind an IPv4 socket an IPv6 cluster cannot reach. The
    liveness, readiness and metrics servers all listen on one. (``::`` given to asyncio or
    aiohttp as a host is IPv6 only: asyncio sets ``IPV6_V6ONLY``.)"""
    try:
        dual = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError as error:
        if error.errno not in _NO_IPV6_SOCKET:
            raise
        why = f"the kernel refuses IPv6 sockets ({error})"
    else:
        try:
            dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            dual.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            dual.bind(("::", port))
            dual.listen(128)
            return dual
        except OSError as error:
            dual.close()
            if error.errno not in _NO_IPV6_BIND:
                raise
            why = f"binding [::]:{port} failed ({error})"
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("0.0.0.0", port))
        v4.listen(128)
    except OSError:
        v4.close()
        raise
    log.warning("Listening on port %d over IPv4 alone (0.0.0.0), not IPv6: %s; "
                "an IPv6 address of this pod is not served", port, why)
    return v4


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape (prometheus_client's own server logs none either)."""


class _MetricsServer(ThreadingWSGIServer):
    """prometheus_client's server (a thread per scrape, daemon threads), on a socket of
    ``listening_socket``'s rather than one it binds to a single family."""

    def __init__(self, sock: socket.socket) -> None:
        self.address_family = sock.family
        super().__init__(sock.getsockname()[:2], _Quiet, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        self.setup_environ()


def serve(port: int) -> ThreadingWSGIServer:
    """Serve ``/metrics`` (any path: prometheus_client's app) on ``port``, both families, in a
    daemon thread."""
    server = _MetricsServer(listening_socket(port))
    server.set_app(make_wsgi_app(_SERVED))
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


@dataclass
class PassOutcome:
    """How a pass that raised nothing ended: ``ok`` (its status written, or nothing to write),
    ``conflict`` (the object changed meanwhile: decided again at once) or ``gone`` (deleted
    meanwhile). Only an ``ok`` pass counts as completed."""

    result: str = "ok"


@contextmanager
def reconciling(kind: str, namespace: str, name: str, *,
                last_pass: bool = True) -> Iterator[PassOutcome]:
    """Count and time one whole pass (decision, status write, events); once it completes,
    record when it began (tests use that to prove a pass ran in a window where nothing was
    expected to change). A pass that raised (a refused status write too) counts as an error.
    However it ended, the process's last pass end is now (``LAST_PASS_END``).
    ``last_pass=False``: counted and timed only, no per-resource series (a model's campaigns
    file: ``uplift_operator_last_pass_timestamp_seconds`` is the UpliftModels' and Campaigns')."""
    began, started = time.time(), time.monotonic()
    outcome = PassOutcome()
    try:
        yield outcome
    except Exception:
        RECONCILES.labels(kind, "error").inc()
        raise
    else:
        RECONCILES.labels(kind, outcome.result).inc()
        if outcome.result == "ok" and last_pass:
            LAST_PASS.labels(kind, namespace, name).set(began)
    finally:
        RECONCILE_SECONDS.labels(kind).observe(time.monotonic() - started)
        LAST_PASS_END.set(time.time())


def pass_queued(kind: str, seconds: float) -> None:
    """A pass's decision of ``kind`` got a thread of the pass pool ``seconds`` after it asked."""
    PASS_QUEUE_SECONDS.labels(kind).observe(seconds)


def observe_phase(kind: str, namespace: str, name: str, phase: Phase, invalid: bool) -> None:
    """One series per resource, its current phase at 1 (not one per phase with the others at
    0: at ten thousand resources that was 60,000 series of /metrics, most of them zeros)."""
    for candidate in Phase:
        if candidate != phase:
            with suppress(KeyError):
                PHASE.remove(kind, namespace, name, candidate.value)
    PHASE.labels(kind, namespace, name, phase.value).set(1)
    INVALID.labels(kind, namespace, name).set(1 if invalid else 0)


def deadline_exceeded(status: dict[str, Any]) -> bool:
    """Whether the status says the ramp is stuck past its progress deadline: Degraded with the
    ProgressDeadlineExceeded message (``domain.steps``' ``ramp_phase``), as long as it lasts."""
    return (status.get("phase") == Phase.DEGRADED.value and str(status.get("message") or "")
            .startswith(f"{Reason.PROGRESS_DEADLINE_EXCEEDED.value}:"))


def observe_status(kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    """What both kinds' status says: the phase, an invalid spec, a ramp past its deadline, a
    spec held back (``spec_stuck``) (nothing before the status has a phase)."""
    phase = status.get("phase")
    if not phase:
        return
    observe_phase(kind, namespace, name, Phase(phase),
                  any(c.get("type") == cond.INVALID_SPEC and c.get("status") == "True"
                      for c in status.get("conditions", [])))
    PROGRESS_DEADLINE_EXCEEDED.labels(kind, namespace, name).set(
        1 if deadline_exceeded(status) else 0)
    ROLLBACK_PENDING.labels(kind, namespace, name).set(1 if rollback_pending(status) else 0)
    for gauge, when in ((LAST_ROLLBACK, last_rollback(status)),
                        (LAST_ABORT, last_abort(status))):
        if when is None:
            with suppress(KeyError):
                gauge.remove(kind, namespace, name)
        else:
            gauge.labels(kind, namespace, name).set(when)
    _observe_stuck(kind, namespace, name, spec_stuck(kind, status))


#: What holds each kind's spec back (``uplift_operator_spec_stuck``), in the order its reason is
#: told: ``domain.stuck``'s problems (Degraded past their grace), then what its pass makes
#: Degraded at once: another's object of the UpliftModel's names (``domain.status``'
#: ``serving_conflict``; not while a predecessor's goes, Progressing), a Campaign whose model's
#: version does not score its treatments once its ramp completed (``domain.exposure``). Not a
#: Campaign's model whose stable version stopped serving (``ModelServing`` False
#: ``StableNotServing``, Degraded past the grace all the same): no spec of the Campaign's is
#: held back, and the model's UpliftModelNotServing pages it, as a model serving nothing
#: (``ModelNotServing``) is the model's to report.
_HELD_BACK: dict[str, tuple[stuck.Problem, ...]] = {
    "UpliftModel": (*stuck.MODEL_PROBLEMS,
                    stuck.Problem(cond.SERVING_APPLIED, "False", frozenset({SERVING_CONFLICT}))),
    "Campaign": (*(p for p in stuck.CAMPAIGN_PROBLEMS
                   if cond.MODEL_STABLE_NOT_SERVING not in p.reasons),
                 stuck.Problem(cond.READY, "False", frozenset({cond.TREATMENT_NOT_SERVED}))),
}
#: The reason each resource's ``SPEC_STUCK`` series has now (only that one is exported).
_STUCK_SERIES: dict[tuple[str, str, str], str] = {}


def spec_stuck(kind: str, status: dict[str, Any]) -> str | None:
    """Why the status says the spec of a resource of ``kind`` is held back, or None: Degraded
    (``domain.stuck`` publishes it once a problem has held past its grace) with a condition
    that says so (``_HELD_BACK``), the reason of the first; or Paused, the phase kept, with a
    problem that outranks a pause, which the message names (``stuck.names``: a paused
    canary's graph failed or its roll timed out, its traffic kept), whatever holds the pause.
    Not Degraded for anything else: a
    rollback (the ramp's Degraded, the stable version serving: UpliftModelRolledBack and
    UpliftCampaignRolledBack tell it once), a stable version that stopped serving, a Campaign
    whose UpliftModel serves nothing (``ModelServing`` False ``ModelNotServing``: the model's
    own status and alerts say why), a ramp past its progress deadline."""
    phase = status.get("phase")
    if phase not in (Phase.DEGRADED.value, Phase.PAUSED.value):
        return None
    message = str(status.get("message") or "")
    conditions = status.get("conditions") or []
    for problem in _HELD_BACK.get(kind, ()):
        if phase == Phase.PAUSED.value and not problem.outranks_pause:
            continue
        for c in conditions:
            type_, state, reason = c.get("type"), c.get("status"), c.get("reason")
            if problem.says(type_, state, reason) and (
                    phase == Phase.DEGRADED.value or stuck.names(message, type_, state, reason)):
                return str(reason or type_)
    return None


def _observe_stuck(kind: str, namespace: str, name: str, reason: str | None) -> None:
    key = (kind, namespace, name)
    before = _STUCK_SERIES.pop(key, None)
    if before is not None and before != reason:
        with suppress(KeyError):
            SPEC_STUCK.remove(kind, namespace, name, before)
    if reason is not None:
        SPEC_STUCK.labels(kind, namespace, name, reason).set(1)
        _STUCK_SERIES[key] = reason


def rollback_pending(status: dict[str, Any]) -> bool:
    """Whether the status says a gate's rollback waits for a human (``rollback.mode: Manual``):
    ``Ready`` False with reason ``RollbackPending``, as both kinds' ramps write it."""
    ready = _condition(status, cond.READY)
    return ready.get("status") == "False" and ready.get("reason") == cond.ROLLBACK_PENDING


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    """The condition of ``type_`` in a status as the API server returns it (none: empty)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def last_rollback(status: dict[str, Any]) -> float | None:
    """The Unix time of the latest ``ALERTED_ROLLBACKS`` entry of ``status.history`` (an ignored
    request that an older operator recorded under the request's action is none, nor a rollback
    the registry's tags re-state in a re-created or restored object's first pass, timed then:
    ``REGISTRY_ACTOR``)."""
    return _latest(status, ALERTED_ROLLBACKS)


def last_abort(status: dict[str, Any]) -> float | None:
    """The Unix time of the latest ``ManualAbort`` entry of ``status.history``: a human's abort
    that ended a ramp (an ignored one, as an older operator recorded it, is none)."""
    return _latest(status, frozenset({Reason.MANUAL_ABORT.value}))


def _latest(status: dict[str, Any], actions: frozenset[str]) -> float | None:
    """The Unix time of the latest entry of ``status.history`` with one of ``actions`` that
    decided something: not a canary the spec withdrew, nor an ignored request, nor what the
    registry's tags re-state of a decision taken before the status was lost."""
    times = [_unix(entry["time"]) for entry in status.get("history") or []
             if entry.get("action") in actions and entry.get("time")
             and entry.get("actor") not in (SPEC_ACTOR, REGISTRY_ACTOR)
             and not str(entry.get("reason") or "").startswith(IGNORED_PREFIX)]
    return max(times, default=None)


def _unix(when: dt.datetime | str) -> float:
    if isinstance(when, str):  # as the API server returns it: RFC 3339, "Z" for UTC
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    return when.timestamp()


#: The gates (name: type) and the decision actions a resource (kind, namespace, name) has
#: series for: a gate that leaves the spec or changes its type, or a deleted resource, leaves no
#: ghost series behind.
_GATE_SERIES: dict[tuple[str, str, str], dict[str, str]] = {}
_DECISION_SERIES: dict[tuple[str, str, str], set[str]] = {}
_VERDICTS = ("Pass", "Inconclusive", "Error", "Fail")
_GATE_BOUNDS = ("value", "lower", "upper", "threshold")


def observe_rollout(namespace: str, name: str, status: dict[str, Any],
                    measured: Mapping[str, str]) -> None:
    """Weight of an UpliftModel's canary, whether its stable version stopped serving, since
    when a stable version that never served is awaited (``stable_awaited_since``), whether
    the API server refuses its serving graph, whether its MLflow write-back fails, why and
    since when its model reference does not resolve (``model_unresolved``) and whether its
    PodDisruptionBudgets fail to apply, as its status says; the verdicts of the gates its
    canary's analyses go on ``measured``-ing (``services.upliftmodel.measured_gates``: each
    name with its type), not
    the phase: the alerts on them (UpliftGateErroring, UpliftFeatureDrift) read "measured"
    from these series alone. A ramp whose spec has not taken effect (``domain.stuck``:
    Degraded) is still analysed, and its Error must ticket; a verdict its status keeps from
    an ended canary (rolled back, promoted) must not, with nothing left to measure it again."""
    CANARY_WEIGHT.labels(namespace, name).set(status.get("canaryWeight", 0))
    observe_gates("UpliftModel", namespace, name, status, measured)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get(cond.READY) or {}
    MODEL_STABLE_NOT_SERVING.labels(namespace, name).set(1 if says_stable_down(
        status.get("stableVersion"), ready.get("reason"), ready.get("message")) else 0)
    awaited = stable_awaited_since(status)
    if awaited is None:
        with suppress(KeyError):
            MODEL_STABLE_AWAITED_SINCE.remove(namespace, name)
    else:
        MODEL_STABLE_AWAITED_SINCE.labels(namespace, name).set(awaited)
    applied = conditions.get(cond.SERVING_APPLIED) or {}
    SERVING_APPLY_FAILING.labels(namespace, name).set(
        1 if applied.get("status") == "False" and applied.get("reason") == cond.APPLY_FAILED
        else 0)
    written_back = conditions.get(cond.REGISTRY_WRITTEN_BACK) or {}
    REGISTRY_WRITE_BACK_FAILING.labels(namespace, name).set(
        1 if written_back.get("status") == "False" else 0)
    _observe_unresolved(namespace, name, model_unresolved(status))
    budget = conditions.get(BUDGET_CONDITION) or {}
    if budget.get("status") == "False" and budget.get("reason") == BUDGET_FAILED:
        DISRUPTION_BUDGET_FAILING.labels(namespace, name).set(1)
    else:
        with suppress(KeyError):
            DISRUPTION_BUDGET_FAILING.remove(namespace, name)


def model_unresolved(status: dict[str, Any]) -> tuple[str, float] | None:
    """Why and since when (Unix time) the status says an UpliftModel's model reference does not
    resolve: its ``ModelResolved`` condition False, its reason and ``lastTransitionTime`` (which
    moves on a new reason too: ``domain.status.model_resolved``); None otherwise. Read from the
    status alone: the same across operator restarts and failovers."""
    resolved = _condition(status, cond.MODEL_RESOLVED)
    if resolved.get("status") != "False" or not resolved.get("lastTransitionTime"):
        return None
    return str(resolved.get("reason") or cond.MODEL_RESOLVED), _unix(resolved["lastTransitionTime"])


def _observe_unresolved(namespace: str, name: str, unresolved: tuple[str, float] | None) -> None:
    key = (namespace, name)
    before = _UNRESOLVED_SERIES.pop(key, None)
    if before is not None and (unresolved is None or unresolved[0] != before):
        with suppress(KeyError):
            MODEL_UNRESOLVED_SINCE.remove(namespace, name, before)
    if unresolved is not None:
        reason, since = unresolved
        MODEL_UNRESOLVED_SINCE.labels(namespace, name, reason).set(since)
        _UNRESOLVED_SERIES[key] = reason


def stable_awaited_since(status: dict[str, Any]) -> float | None:
    """Since when (Unix time) the status says an UpliftModel's stable version has been awaited:
    made stable and not seen serving since (``Ready`` False ``WaitingForServing``, no
    ``stableServedVersion`` naming it, not a stable that served and stopped:
    ``says_stable_down``), nor an emergency rollback's restore (an ``emergencyRolledBackVersion``
    other than the stable without a canary: the version it replaced keeps the traffic, and
    the restore has its own deadline); None otherwise. The later of ``Ready``'s
    ``lastTransitionTime`` and the version's latest ``Promoted`` history entry (a first
    version's, a promotion's; a version promoted while ``Ready`` was already False, e.g.
    ``RollbackPending``, is awaited from its promotion). A state, read from the status alone:
    the same across operator restarts. Nothing else alerts on such a version: without a ramp
    no ``progressDeadline`` runs, and its Campaigns wait (``ModelServing`` False
    ``ModelNotServing``), which ``spec_stuck`` leaves to the model's alerts."""
    stable = status.get("stableVersion")
    ready = _condition(status, cond.READY)
    if (stable is None or ready.get("status") != "False"
            or ready.get("reason") != cond.WAITING_FOR_SERVING
            or status.get("stableServedVersion") == stable
            or says_stable_down(stable, ready.get("reason"), ready.get("message"))):
        return None
    if (status.get("canaryVersion") is None
            and status.get("emergencyRolledBackVersion") not in (None, stable)):
        return None
    times = [_unix(entry["time"]) for entry in status.get("history") or []
             if entry.get("action") == Reason.PROMOTED.value and entry.get("version") == stable
             and entry.get("time")]
    if ready.get("lastTransitionTime"):
        times.append(_unix(ready["lastTransitionTime"]))
    return max(times, default=None)


def observe_gates(kind: str, namespace: str, name: str, status: dict[str, Any],
                  measured: Mapping[str, str]) -> None:
    """Each gate's verdict, value and bounds, as ``status.gates`` of either kind says, of the
    gates ``measured`` names (the others' series leave), each labelled with the type
    ``measured`` gives it (its spec's). A gate whose type changed (its spec edited under the
    same name) leaves its old type's series: its label set is another."""
    gates = [gate for gate in status.get("gates", []) if gate["name"] in measured]
    current = {gate["name"]: measured[gate["name"]] for gate in gates}
    for gone, type_ in _GATE_SERIES.get((kind, namespace, name), {}).items():
        if current.get(gone) != type_:
            _forget_gate(kind, namespace, name, gone, type_)
    _GATE_SERIES[(kind, namespace, name)] = current
    for gate in gates:
        labels = (kind, namespace, name, gate["name"], current[gate["name"]])
        # Its current verdict alone, at 1 (no series at 0 for the three others: at rest they
        # were most of a resource's series); a verdict that changed leaves no series behind.
        for verdict in _VERDICTS:
            if gate.get("verdict") == verdict:
                GATE_VERDICT.labels(*labels, verdict).set(1)
            else:
                with suppress(KeyError):
                    GATE_VERDICT.remove(*labels, verdict)
        if paused_by_inconclusive_gate(status, gate["name"]):
            GATE_INCONCLUSIVE_PAST_LIMIT.labels(*labels).set(1)
        else:
            with suppress(KeyError):
                GATE_INCONCLUSIVE_PAST_LIMIT.remove(*labels)
        for bound in _GATE_BOUNDS:
            if gate.get(bound) is not None:
                GATE_VALUE.labels(*labels, bound).set(gate[bound])
            else:
                with suppress(KeyError):
                    GATE_VALUE.remove(*labels, bound)


def paused_by_inconclusive_gate(status: dict[str, Any], gate: str) -> bool:
    """Whether the status says the ramp is paused because ``gate`` was Inconclusive past its
    inconclusiveLimit (``domain.steps``: "... paused: gate G inconclusive (N times, ...)"), not
    held by the spec's paused field ("... held by spec.rollout.paused ...")."""
    return (status.get("phase") == Phase.PAUSED.value
            and f" paused: gate {gate} inconclusive (" in str(status.get("message") or ""))


def _forget_gate(kind: str, namespace: str, name: str, gate: str, type_: str) -> None:
    labels = (kind, namespace, name, gate, type_)
    with suppress(KeyError):
        GATE_INCONCLUSIVE_PAST_LIMIT.remove(*labels)
    for verdict in _VERDICTS:
        with suppress(KeyError):
            GATE_VERDICT.remove(*labels, verdict)
    for bound in _GATE_BOUNDS:
        with suppress(KeyError):
            GATE_VALUE.remove(*labels, bound)


def observe_campaign(namespace: str, name: str, status: dict[str, Any],
                     measured: Mapping[str, str], model: str = "") -> None:
    """Whether a Campaign's budget is exhausted, or its spend unreadable past
    ``spec.economics.budgetUnreadable.after``, as its Ready condition says, since when its spend
    has been unreadable (``status.budgetUnreadableSince``), whether it
    shares its holdout draw (its HoldoutShared condition) and whether its settings have not
    reached the serving pods (its SettingsDelivered condition False); its period's
    spend, ROI, incremental effect and incremental conversions with their bounds, as its status
    says; the gates its analyses go on ``measured``-ing (``services.campaign.measured_gates``:
    each name with its type),
    not the phase (a Campaign whose settings are not delivered is Degraded, ``domain.stuck``,
    and still analysed): a verdict its status keeps from an ended ramp, or from the steps of a
    ramp completed by hand while a gate was in Error, would keep UpliftGateErroring firing
    with nothing left to measure it again."""
    observe_gates("Campaign", namespace, name, status, measured)
    # Ready's reason, not the phase: once SettingsDelivered is False past its grace the
    # published phase is Degraded over Suspended (``domain.stuck``) while the budget is spent
    # all the same, and Ready still says BudgetExhausted.
    exhausted = any(c.get("type") == "Ready" and c.get("reason") == "BudgetExhausted"
                    for c in status.get("conditions", []))
    CAMPAIGN_BUDGET_EXHAUSTED.labels(namespace, name).set(1 if exhausted else 0)
    # The same for a spend unreadable past budgetUnreadable.after (Ready's reason again), and
    # since when it has been unreadable, from the status: an operator restart or a failover
    # neither delays nor repeats what an alert counts from it.
    CAMPAIGN_BUDGET_UNREADABLE.labels(namespace, name).set(
        1 if _condition(status, cond.READY).get("reason") == cond.BUDGET_UNREADABLE else 0)
    unreadable_since = status.get("budgetUnreadableSince")
    if unreadable_since:
        CAMPAIGN_BUDGET_UNREADABLE_SINCE.labels(namespace, name).set(_unix(unreadable_since))
    else:
        with suppress(KeyError):
            CAMPAIGN_BUDGET_UNREADABLE_SINCE.remove(namespace, name)
    shared = any(c.get("type") == cond.HOLDOUT_SHARED and c.get("status") == "True"
                 for c in status.get("conditions", []))
    CAMPAIGN_HOLDOUT_SHARED.labels(namespace, name).set(1 if shared else 0)
    # By its model (spec.modelRef.name) too: one before a move to another model goes.
    if _SETTINGS_MODEL.get((namespace, name), model) != model:
        _forget_settings_undelivered(namespace, name)
    _SETTINGS_MODEL[(namespace, name)] = model
    CAMPAIGN_SETTINGS_UNDELIVERED.labels(namespace, name, model).set(
        1 if _condition(status, cond.SETTINGS_DELIVERED).get("status") == "False" else 0)
    if status.get("budgetRemaining") is None:  # no budget gate measured: no spend to show
        with suppress(KeyError):
            CAMPAIGN_BUDGET_SPEND.remove(namespace, name)
    else:
        CAMPAIGN_BUDGET_SPEND.labels(namespace, name).set(status.get("spend") or 0.0)
    _observe_estimate(CAMPAIGN_ROI, namespace, name, status.get("roi"))
    _observe_estimate(CAMPAIGN_INCREMENTAL_EFFECT, namespace, name,
                      status.get("incrementalEffect"))
    # The gate's own cohorts' count (its Δ times their treated-arm decisions), never the
    # rate times status.treatedUnits: those are every version's decisions since the ramp
    # started, another population (after a promotion, version N+1's Δ times the decisions
    # version N made; 2.5 x the true count with repeat decisions).
    _observe_estimate(CAMPAIGN_INCREMENTAL_CONVERSIONS, namespace, name,
                      status.get("incrementalConversions"))


def _forget_settings_undelivered(namespace: str, name: str) -> None:
    model = _SETTINGS_MODEL.pop((namespace, name), None)
    if model is not None:
        with suppress(KeyError):
            CAMPAIGN_SETTINGS_UNDELIVERED.remove(namespace, name, model)


def _observe_estimate(gauge: Gauge, namespace: str, name: str,
                      estimate: dict[str, Any] | None) -> None:
    for bound in ESTIMATE_BOUNDS:
        value = (estimate or {}).get(bound)
        if value is None:
            with suppress(KeyError):
                gauge.remove(namespace, name, bound)
        else:
            gauge.labels(namespace, name, bound).set(value)


def count_decisions(kind: str, namespace: str, name: str, actions: list[str]) -> None:
    """A pass's decisions (its events' reasons that are decisions: ``Event.decision``), once
    its status is written. Each series is born at its first increment, none at 0 (no alert
    reads this counter: the rollback alerts read ``LAST_ROLLBACK``). A canary the spec withdrew
    (its version pointed back at the stable) is told as ``RolledBack`` but is no decision
    (``domain.canary``), so not counted here."""
    key = (kind, namespace, name)
    for action in actions:
        DECISIONS.labels(kind, namespace, name, action).inc()
        _DECISION_SERIES.setdefault(key, set()).add(action)


def forget(kind: str, namespace: str, name: str, *, keep_last_pass: bool = False) -> None:
    """Drop the series of a resource this process no longer reconciles (deleted, or its task
    stopped), so dashboards and alerts see no ghosts; ``keep_last_pass``: all but when its last
    pass began (a replica paused by peering, ``common.task_ended``)."""
    for candidate in Phase:
        with suppress(KeyError):
            PHASE.remove(kind, namespace, name, candidate.value)
    with suppress(KeyError):
        INVALID.remove(kind, namespace, name)
    with suppress(KeyError):
        PROGRESS_DEADLINE_EXCEEDED.remove(kind, namespace, name)
    for series in (LAST_ROLLBACK, LAST_ABORT, ROLLBACK_PENDING):
        with suppress(KeyError):
            series.remove(kind, namespace, name)
    _observe_stuck(kind, namespace, name, None)
    if kind == "Campaign":
        for series in (CAMPAIGN_BUDGET_EXHAUSTED, CAMPAIGN_BUDGET_UNREADABLE,
                       CAMPAIGN_BUDGET_UNREADABLE_SINCE, CAMPAIGN_BUDGET_SPEND,
                       CAMPAIGN_HOLDOUT_SHARED):
            with suppress(KeyError):
                series.remove(namespace, name)
        _forget_settings_undelivered(namespace, name)
        for gauge in (CAMPAIGN_ROI, CAMPAIGN_INCREMENTAL_EFFECT, CAMPAIGN_INCREMENTAL_CONVERSIONS):
            _observe_estimate(gauge, namespace, name, None)
    if not keep_last_pass:
        with suppress(KeyError):
            LAST_PASS.remove(kind, namespace, name)
    if kind == "UpliftModel":
        for series in (CANARY_WEIGHT, MODEL_STABLE_NOT_SERVING, MODEL_STABLE_AWAITED_SINCE,
                       SERVING_APPLY_FAILING, REGISTRY_WRITE_BACK_FAILING,
                       DISRUPTION_BUDGET_FAILING):
            with suppress(KeyError):
                series.remove(namespace, name)
        _observe_unresolved(namespace, name, None)
    for gate, type_ in _GATE_SERIES.pop((kind, namespace, name), {}).items():
        _forget_gate(kind, namespace, name, gate, type_)
    for action in _DECISION_SERIES.pop((kind, namespace, name), set()):
        with suppress(KeyError):
            DECISIONS.remove(kind, namespace, name, action)


def pruned(kind: str, fields: list[str]) -> None:
    """A status write of ``kind`` lost ``fields`` to the API server's pruning."""
    for path in fields:
        STATUS_FIELDS_PRUNED.labels(kind, path).inc()


def refused(kind: str, fields: list[str]) -> None:
    """A status write of ``kind`` was refused over ``fields`` (a schema that disagrees)."""
    for path in fields:
        STATUS_WRITES_REFUSED.labels(kind, path).inc()


def campaigns_file_undelivered(namespace: str, model: str, undelivered: bool) -> None:
    """Whether the last pass of ``model``'s campaigns file left it unwritten (refused, or held
    by a ConfigMap not the model's): kept at 1 until a pass writes it, whichever Campaigns
    come and go meanwhile (one deleted has no series of its own left to say so)."""
    CAMPAIGNS_FILE_UNDELIVERED.labels(namespace, model).set(1 if undelivered else 0)


def forget_campaigns_file(namespace: str, model: str) -> None:
    """The model is gone, or this process no longer runs its file's task (paused by peering):
    its file's series go (the acting replica exports its own)."""
    with suppress(KeyError):
        CAMPAIGNS_FILE_UNDELIVERED.remove(namespace, model)
