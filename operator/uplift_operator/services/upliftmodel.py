"""One reconcile pass of an UpliftModel: validate → resolve → observe → measure → decide → apply
→ status, each a named step below that returns a value, read top to bottom in ``reconcile``.

0. ``read_status``: the stored status, read tolerantly (a part this release cannot read is
   repaired and named in ``StatusReadable``; the split is taken from the model's own graph);
1. ``_validate``: parse and validate the spec (``domain.validation``); an invalid spec takes the
   shared invalid-spec path (``services.common``) with the ramp held (``_invalid``): an abort,
   an emergency rollback, a restore's end or a hand edit moves the traffic the status says,
   rendered from the graph's own settings, never from the refused spec, and MLflow is not
   asked (the decisions are owed until a valid pass);
2. ``_resolve``: the version the spec means (``services.resolution``, MLflow, with the
   credentials Secret the spec names, checked first), and whether the spec fits it (the
   version's signature and treatments), and the report token Secret the serving spec names
   (``_report_token``); a misfit takes the invalid-spec path too, so a bad new spec or version
   never takes down the stable one;
3. ``_observe``: the serving graph read back (``render`` backend's ``observe``); one the model
   does not control (kubebuilder's ``IsControlledBy``) is never taken over: the pass decides
   nothing and says why (``_conflicted``: refused, or held while a predecessor's goes);
4. ``_measure``: when an analysis is due, every gate measured (``services.measurements``) and
   judged (``domain.gates``); with MLflow unreachable, held Inconclusive instead;
5. the ramp decides (``domain.ramp.decide``): the whole new status, the traffic split, events;
6. ``_apply``: the decision-key Secret the runtime pods sign with (created once, never
   overwritten; one that exists is used only if the model controls it, or already serves
   with it: ``_decision_key_conflict``), then the split, by server-side apply, only when it
   differs from what is there (a re-render, the split unchanged, waits for a slot among the
   graphs rolling at once: ``services.rolls``); a first version whose graph was just created
   waits for Seldon's first report on it before its first status is written
   (``first_status_wait``);
   then the MLflow tags / alias the decision implies are queued once the status recording it
   is written (``_write_backs``, submitted by the pass runner through ``PassResult.after_write``:
   a status write refused leaves MLflow as it was; applied off the pass by
   ``services.writeback``; ``RegistryWrittenBack`` Unknown until they went through),
   preceded, on a resource's first pass in a process while its ``RegistryWrittenBack`` says
   False or Unknown (the writes were lost with the process before), by the registry state its
   status implies (``_registry_state``); all of them
   withheld while an older UpliftModel moves the same promotion alias
   (``services.writeback.AliasClaims``: ``RegistryWrittenBack`` False, ``PromotionAliasShared``),
   and that state submitted again once the alias is the model's alone, or once an edit of its
   own made it the holder of an alias (a younger model may have moved it);
7. ``_status``: the pass's own conditions (ModelResolved, ServingApplied, InvalidSpec,
   RegistryWrittenBack), set by ``domain.status`` from what resolving, applying and the
   write-back queue found, then ServingFailed; the phase published is Degraded while one of
   them has said for longer than a grace that the spec has not taken effect
   (``domain.stuck``: a version not found, an apply refused, a graph failed).

The handler turns the result into one status patch and events. Nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError

from uplift_operator import report_token_format
from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    CredentialsRefused,
    RegistryError,
    RegistryNotFound,
    RegistryNotMlflow,
    RegistryUnavailable,
)
from uplift_operator.adapters.watched import WatchedCluster
from uplift_operator.api.v1alpha1.common import (
    Condition,
    DecisionRecord,
    GateVerdict,
    Phase,
    SecretCredentials,
    StatusBase,
    clamp_durations,
    parse_duration,
)
from uplift_operator.api.v1alpha1.upliftmodel import (
    TRACKING_URI_RULE,
    ModelGate,
    ModelReference,
    UpliftModelSpec,
    UpliftModelStatus,
)
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import gates, ramp, serving_split, stuck, validation
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.alias_sweep import AliasListing
from uplift_operator.domain.canary import (
    SPEC_WITHDREW,
    STOPPING_REQUESTS,
    read_canary_of_stable,
    removed_canaries,
    restored_by,
    rollback_entry,
)
from uplift_operator.domain.requests import is_handled
from uplift_operator.domain.retry import retry_after, spread_of
from uplift_operator.domain.status import MAX_MESSAGE, Applied, Conflict, Unreadable
from uplift_operator.model.keys import treatment_key
from uplift_operator.render import decision_key, naming
from uplift_operator.render import disruption as render_disruption
from uplift_operator.render.naming import Owner
from uplift_operator.render.serving import RuntimeSettings, ServingBackend, TrafficSplit
from uplift_operator.services import campaigns_file, disruption, measurements
from uplift_operator.services.common import (
    Event,
    PassResult,
    TimedCache,
    ignored_field_events,
    invalid_pass,
    ownership_conflict,
    validated,
)
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.ports import Cluster, ListsAliases, MetricSource, Registry
from uplift_operator.services.resolution import (
    AliasKey,
    Resolution,
    Resolver,
    Scope,
    VersionKey,
)
from uplift_operator.services.rolls import Rolls
from uplift_operator.services.run_cache import ReadsVersionTags
from uplift_operator.services.writeback import (
    TAG_DELETE_PERMISSION,
    AliasClaims,
    AliasTarget,
    Holding,
    Write,
    WriteBack,
)
from uplift_operator.services.writeback import Owner as WriterOwner
from uplift_operator.userinfo import has_userinfo, shown_url

__all__ = ["FIRST_STATUS_GRACE", "KIND", "VERSION_FIELDS", "Dependencies", "Event", "PassResult",
           "StatusRead", "Unasked", "first_status_wait", "measured_gates", "read_status",
           "reconcile", "version_run"]

#: What the write-back queue knows a resource's writes by (with namespace and name).
KIND = "UpliftModel"

log = logging.getLogger(__name__)

#: A decision-key Secret known to exist is made sure of again (one create, answered 409) only
#: while the graph is being changed or Seldon reports it not serving (new pods need the key; a
#: pod stuck on a Secret deleted by hand keeps the graph from serving), at most this often. A
#: serving graph left as it is costs nothing at rest, nor on a process's first pass (its pods
#: hold the key: ``_ensure_decision_key``; at 5,000 models every start made 5,000 creates
#: answered 409 and 5,000 GETs), nor does one Seldon has not reported on yet (nothing says a
#: pod waits for the key; at 10,000 new models such passes made 3,373 creates answered 409).
DECISION_KEY_RECHECK = dt.timedelta(seconds=30)
#: The Warning's reason when a model's decision-key Secret is created anew under its graph.
DECISION_KEY_RECREATED = "DecisionKeyRecreated"
#: The annotation such a Secret is created with: when (UTC), so that the roll of every
#: predictor onto the new key outlives a restart or failover before the graph carries it.
DECISION_KEY_CREATED_UNDER_GRAPH = "uplift.dev/created-under-graph"

#: A first version's first status waits for Seldon's first word on its new serving graph (its
#: status: Creating, Available, Failed), at most this long after the graph was created (its
#: ``creationTimestamp``; ``first_status_wait``). A graph Seldon reports Available at once costs
#: one status write (Healthy) instead of two (Progressing, then Healthy); one it reports
#: Creating shows Progressing at that report. Only a Seldon that says nothing for this long
#: (a controller down, or far behind) leaves the status unwritten until then.
FIRST_STATUS_GRACE = dt.timedelta(seconds=30)

#: A credentials (or report token) Secret read serves every pass naming it (any resource) for
#: this long: a pass due every analysis interval, times the resources naming one Secret, is not
#: a read each. Longer than the resync (``handlers.scheduling.RESYNC_SECONDS``, 600 s) and
#: shorter than two, so a model at rest reads each Secret at every other resync pass, not at
#: each (at 30 s, every pass read both: 16 GETs/s at rest for 5,000 models). A credential
#: rotated while the old one still works is used within this; one MLflow refuses is read again
#: at once (``CREDENTIALS_REFUSED_REREAD``).
CREDENTIALS_TTL_SECONDS = 900.0

#: MLflow's answers that refuse the credentials a client was built with (rotated, revoked):
#: the Secret's read is dropped so that the next pass reads it again, unless it was read less
#: than ``CREDENTIALS_REFUSED_REREAD`` seconds ago (a Secret that holds refused credentials is
#: read at most that often, however many resources name it and retry).
REFUSED_CREDENTIALS_STATUS = frozenset({401, 403})
CREDENTIALS_REFUSED_REREAD = 30.0

#: The key of a Secret's values in ``Dependencies.credential_reads``: (namespace, name, keys)
#: as ``spec.model.credentials`` reads it, and with the field whose check the values passed
#: (``spec.serving.runtimeCredentials``, ``spec.serving.reportCredentials``) for the others: a
#: read one check kept never lets another skip its own (a report token's rule is not a
#: password's).
SecretRead = tuple[str, str, tuple[str, ...]] | tuple[str, str, tuple[str, ...], str]

ROLE_TAG = "uplift.dev/role"
ROLE_TIME_TAG = "uplift.dev/role-since"
REASON_TAG = "uplift.dev/reason"
#: How the reason of a canary ``retired`` by its UpliftModel's deletion starts
#: (``retire_deleted_canary``): a status-less pass ramps such a version as a canary again.
DELETED_MID_RAMP = "its UpliftModel was deleted mid-ramp"


#: How many models' applies with their status write outstanding ``Dependencies.unwritten``
#: keeps: one is forgotten as soon as a status write of its model goes through, so only models
#: whose writes keep failing stay (a forgotten one is stepped back once, as before it was kept).
UNWRITTEN_KEPT = 1024


@dataclass
class Dependencies:
    """What a pass needs from the outside world; built once at start-up (handlers/lifecycle)."""

    cluster: Cluster
    backend: ServingBackend
    # The registry client for a model reference, with the credentials read from its Secret.
    registry_for: Callable[[ModelReference, Credentials | None], Registry]
    prometheus: MetricSource | None
    metric_templates: Mapping[str, str]
    runtime_image: str
    default_tracking_uri: str | None
    # A stopping runtime replica's wait for a scrape after it counts what it holds pending.
    runtime_drain_wait: int = 35
    # Seconds between Prometheus's scrapes of the runtime pods (--prometheus-scrape-interval,
    # passed by handlers.lifecycle; the default is the setting's): the gates read their counts
    # as those scrapes observed them (``measurements.observed_share``).
    prometheus_scrape_interval: float = 30.0
    # Seconds before Prometheus answers a scrape's samples (--prometheus-query-lag: a
    # remote-write backend's ingestion lag): the counts' scaling leaves the range's last
    # this many seconds out of its scrapes (``measurements.observed_share``).
    prometheus_query_lag: float = 0.0
    # Seconds after a change of the canary's percent until every pod has the campaigns file's
    # new copy (--split-propagation-grace): the file's split carries it (the runtime counts the
    # band between the percents for neither version that long) and the onlineEffect gate's
    # cohorts of a step begin that long after its start (``GateContext.cohort_window``).
    split_propagation_grace: int = 120
    resolver: Resolver = field(default_factory=Resolver)
    # MLflow write-backs, applied off the pass by one worker (started by the handlers).
    write_back: WriteBack = field(default_factory=WriteBack)
    # Since when each model's reference has not resolved, for the reason it has now: what its
    # retries back off from (``_unresolved_retry``).
    unresolved: FailingSince = field(default_factory=FailingSince)
    # Who moves which promotion alias (fed by the watch): the younger ones' writes withheld.
    alias_claims: AliasClaims = field(default_factory=AliasClaims)
    # Credentials Secrets as last read and checked, shared by every resource naming one
    # (CREDENTIALS_TTL): by (namespace, Secret, keys) for model.credentials, with the check's
    # field appended for the others (``SecretRead``), as each checks the values its own way.
    credential_reads: TimedCache[SecretRead, dict[str, bytes]] = field(
        default_factory=lambda: TimedCache(CREDENTIALS_TTL_SECONDS))
    # When each model's decision-key Secret (by namespace, name, uid) was last made sure of.
    decision_keys: dict[tuple[str, str, str], dt.datetime] = field(default_factory=dict)
    new_decision_key: Callable[[], str] = field(default=lambda: secrets.token_hex(32))
    # A decision key created anew under a model's graph (by namespace, name, uid) → when: its
    # ``RuntimeSettings.decision_key_created``, rendered until the graph carries it.
    decision_keys_recreated: dict[tuple[str, str, str], str] = field(default_factory=dict)
    first_status_grace: dt.timedelta = FIRST_STATUS_GRACE
    # What the operator's administrator allows a spec to choose (``--allowed-*``).
    policy: validation.ServingPolicy = field(default_factory=validation.ServingPolicy)
    # The graphs re-rendering at once, process-wide (``--max-concurrent-graph-rolls``).
    rolls: Rolls = field(default_factory=Rolls)
    # What this process applied of each model's PodDisruptionBudgets (``services.disruption``).
    disruption_budgets: disruption.DisruptionBudgets = field(
        default_factory=disruption.DisruptionBudgets)
    # By model uid: the resourceVersion a pass of this process applied the graph on, and the
    # status it read then (``domain.status.status_digest``), until a status write of the model
    # goes through (``_decided_here``: a status write refused 409 after the apply). At most
    # ``UNWRITTEN_KEPT``, the oldest dropped first; dropped too when the model is deleted (its
    # task's end, its DELETED event: ``forget_unwritten``; kept through a pause by peering, as
    # the status its last pass left is). Changed under ``unwritten_lock``: passes of
    # different models run in threads of the pass pool at once.
    unwritten: dict[str, tuple[str, str]] = field(default_factory=dict)
    unwritten_lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                           compare=False)


def reconcile(body: Mapping[str, Any], deps: Dependencies, now: dt.datetime, *,
              budget_epoch: int | None = None) -> PassResult:
    """One pass of the UpliftModel ``body``. ``budget_epoch``: its task's epoch of the model's
    PodDisruptionBudgets (``DisruptionBudgets.begin``; None: the model's current one)."""
    # Before any return: the follow_versions after this pass puts back only a client its own
    # resolve left, not one of an earlier pass on this thread that raised after resolving.
    deps.resolver.pass_begins()
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    owner = Owner(name=name, namespace=namespace, uid=str(meta["uid"]))
    generation = int(meta.get("generation") or 0)
    if meta.get("deletionTimestamp"):
        # Being deleted: nothing applied or created (a foreground deletion waits for its
        # children; applying them again would fight the garbage collector). Held by another
        # tool's finalizer, the canary's traffic is withdrawn by the model's watch events
        # (``handlers.upliftmodel.withdraw_held``, ``withdraw_held_canary``), not here: a pass
        # of the task kopf is stopping would race it, and one patch of the two be refused.
        return PassResult(dict(body.get("status") or {}), (), None)
    # Before anything reads the graph: ``read_status`` may (``_split_from_graph``,
    # ``_stable_as_served``), and a 404 this pass reads is remembered from then on, but is no
    # absence remembered from an earlier pass (``_apply`` would read it again before the create).
    remembered = _graph_absence_remembered(owner, deps)
    read = read_status(UpliftModelStatus, body, now, verbatim=VERSION_FIELDS,
                       versions=MODEL_VERSION_FIELDS,
                       repair=lambda status, parts: _split_from_graph(status, parts, owner, deps,
                                                                      now),
                       check=lambda status: _checked(status, owner, meta, deps))
    current = read.status

    spec, problems = _validate(body, deps)
    if spec is None or problems:
        # Held until its spec is edited, not retried: the unresolved retries' back-off starts
        # over after it (else the first retry of a reference still failing for the same
        # reason would wait as long as it had failed before the detour, up to the cap).
        deps.unresolved.cleared(_model_key(owner))
        return read.told(_invalid(body, spec, current, owner, problems, deps, now,
                                  absence_remembered=remembered))
    registry, resolution, problems, credentials_fit = _resolve(spec, owner, deps, now)
    report_token, report_problems, report_unread = _report_token(spec, owner.namespace, deps)
    runtime_env, runtime_problems, runtime_unread = _runtime_credential_env(
        spec, owner.namespace, deps)
    problems = [*problems, *report_problems, *runtime_problems]
    if problems:  # a credentials Secret or the resolved version does not fit the spec,
        # which a Secret fixed by hand (not watched) or a new version may change: looked at
        # again, backing off while the same problems stay
        held = _invalid(body, spec, current, owner, problems, deps, now,
                        absence_remembered=remembered)
        again = _unresolved_retry(owner, f"{cond.INVALID_SPEC}: {'; '.join(problems)}", deps,
                                  now)
        return read.told(replace(held, requeue_after=min(held.requeue_after or again, again)))
    desired = resolution.desired.version if resolution.desired and resolution.ok else None
    recorded, roles_unread = _recorded_roles(spec, registry, current, desired, owner, deps)
    if roles_unread is not None:  # not known whether the version may serve: nothing decided
        resolution, desired = roles_unread, None
    resolved = status_logic.Resolved(spec.model.registered_model, resolution.reason,
                                     resolution.message, desired)
    retry = None if resolved.ok else _unresolved_retry(owner, resolved.reason, deps, now)
    if resolved.ok:
        deps.unresolved.cleared(_model_key(owner))
    child, ready, serves, split_as_status = _observe(current, owner, deps, desired)
    failure = _serving_failure(child, current, deps, serves)
    conflict = ownership_conflict(child, owner, f"{deps.backend.kind} {namespace}/{name}")
    if conflict is not None:  # someone else's graph: not taken over, nothing decided
        return read.told(_conflicted(current, conflict, generation, now))
    if _decided_on_newer(child, meta):
        return _behind(body)
    unread = [m for m in (report_unread, runtime_unread) if m is not None]
    if unread:  # the API server's failure (unreachable, 5xx, 429), not the spec's: waited for
        log.warning("UpliftModel %s/%s: %s", namespace, name, "; ".join(unread))
        retry = min(retry or UNRESOLVED_RETRY_SECONDS, UNRESOLVED_RETRY_SECONDS)
    # No graph to keep them from: none is created with a report token or credentials
    # unchecked, nor without them (its report endpoints open, its pods unable to load the
    # model), until they are read: said as an apply the API server failed (ServingApplied
    # False ApplyFailed: Progressing within the grace, Degraded past it), not InvalidSpec (the
    # spec is not at fault; Argo CD reads InvalidSpec Degraded at once).
    not_created = (f"{deps.backend.kind} {namespace}/{name} is not there and is not created "
                   f"until it is read: {'; '.join(unread)}" if unread and child is None
                   else None)
    if report_unread is not None:
        report_token = deps.backend.report_token(child)  # as the graph has it
    # The pods' own credentials (spec.serving.runtimeCredentials) when the spec names them,
    # checked above; else model.credentials'. While the spec's Secret cannot be read (the API
    # server's failure: RegistryUnavailable for model.credentials, waited for), as the graph
    # has them: rendered, a Secret not there would hold every new pod, the stable's and a
    # rollback's included, in CreateContainerConfigError.
    credential_env = (runtime_env if runtime_env is not None
                      else deps.backend.credential_env(child) if runtime_unread is not None
                      else _spec_credential_env(spec) if credentials_fit
                      else deps.backend.credential_env(child))
    try:
        outcomes = _measure(spec, current, owner, deps, registry, resolution, split_as_status,
                            now)
    except Exception as error:  # never lose the pass: it acts on abort/emergency rollback
        log.exception("measuring the gates of UpliftModel %s/%s failed", namespace, name)
        outcomes = _unmeasured(spec, current, error, now)
    decision = ramp.decide(spec, current, ramp.Observed(
        desired_version=resolved.desired,
        # Nothing stable yet: the version the pass makes stable (the registry's recorded
        # stable, else the first version) is the one to serve.
        stable_ready=(current.stable_version or (recorded.stable if recorded else None)
                      or desired or "") in serves,
        recorded=recorded,
        canary_ready=current.canary_version in ready if current.canary_version else False,
        gate_outcomes=outcomes, requests=ramp.parse_requests(meta.get("annotations") or {}),
        generation=generation, split_as_status=split_as_status,
        split_refused=_split_refused(current, split_as_status), ready_versions=serves,
        decided_here=_decided_here(child, meta, current, split_as_status, deps,
                                   body.get("status")),
        serving_failure=failure, graph_short=_graph_short(child, current, deps),
        partial_versions=_partial_versions(child, deps, serves), name=name,
        namespace=namespace), now)
    recreated: list[Event] = []  # a decision key created anew under the graph (a Warning)
    try:
        if not_created is not None:
            applied: status_logic.Applied | None = status_logic.Applied(
                f"{deps.backend.kind} {owner.name}",
                _describe(decision.traffic) if decision.traffic else "", error=not_created)
        else:
            applied = _apply(decision.traffic, child, ready, spec, owner, deps, now,
                             decided_on=meta.get("resourceVersion"), report_token=report_token,
                             credential_env=credential_env, told=recreated,
                             edit_rolling=_edit_rolling(current.conditions),
                             absence_remembered=remembered)
    except _ChildMovedError:
        return _behind(body)
    except _ConflictError as error:  # its decision-key Secret is someone else's
        return read.told(_conflicted(current, error.conflict, generation, now))
    decision = replace(decision, status=_split_stamped_once_applied(decision.status, current,
                                                                    applied, now))
    # The serving pods' PodDisruptionBudgets, one per version the graph runs: never in the way
    # of serving (a failure is a condition and a Warning of their own).
    budgets = deps.disruption_budgets.sync(deps.cluster, owner, render_disruption.desired_budgets(
        owner, (spec.serving.disruption_budget.to_wire() if spec.serving.disruption_budget
                else None),
        disruption.served_versions(decision.traffic, child, applied, deps.backend)), now,
        epoch=budget_epoch)
    stable = decision.status.stable_version
    wait = first_status_wait(current, decision.status, stable in ready if stable else False,
                             child, applied, now, deps.first_status_grace)
    if wait is not None:  # nothing written, emitted or queued: the next pass decides it again
        following = _next_pass(decision, retry)
        return PassResult(dict(body.get("status") or {}), (),
                          wait if following is None else min(wait, following))
    writer = (KIND, namespace, name)
    # An older UpliftModel moves the same promotion alias: its decisions are the ones the
    # registry holds; this one's are withheld (serving is not affected), and its registry state
    # submitted again once the alias is its alone (``_alias_freed``). One that became the
    # holder of an alias by an edit of its own, or holds one a second resource claims from now
    # on (a younger one may have moved it: an earlier release let both) submits it too.
    holding = deps.alias_claims.holding(writer, now)
    shared_with = holding.owner if holding is not None else None
    freed = shared_with is None and _alias_freed(current.conditions)
    target = promotion_alias_target(body, deps.default_tracking_uri)
    became_holder = shared_with is None and deps.alias_claims.became_holder(writer, target)
    if registry is not None:
        writes = (_write_backs(spec, decision, now, current.canary_version)
                  if shared_with is None else [])
        # Its write-backs failed, or were queued and never known to go through, as the stored
        # condition says, and this process holds none of them (an operator restart lost
        # them): the state the status implies, again.
        # Decisions taken while the spec was invalid (MLflow not asked) are owed too. So are
        # those of a pass whose status write failed after it decided writes (``undelivered``):
        # an API server that applied the status and lost its answer (a timeout, a reset, a 504)
        # left the decision in the status, unwritten, and no later pass decides it again; the
        # condition would have turned True with nothing written.
        replay = shared_with is None and (
            freed or became_holder or status_logic.owes_registry_state(current.conditions) or (
                (not deps.write_back.knows(writer) or deps.write_back.undelivered(writer))
                and status_logic.write_back_unconfirmed(current.conditions)))
        if replay:
            writes = [*_registry_state(spec, decision.status, {w.what for w in writes}, now),
                      *writes]
        if writes:  # owed until submitted: a status write failing leaves them undelivered
            deps.write_back.decided(writer)
        # Submitted only once the status recording the decision is written (the pass runner
        # calls ``after_write``): a status write refused (409: an abort annotated meanwhile)
        # leaves MLflow as it was, and the next pass decides, and writes, again. The status
        # says what the submission will make of the write-back (``WriteBack.preview``).
        scope = registry_scope(spec.model, namespace, deps)
        waiting, write_failure = deps.write_back.preview(writer, scope,
                                                         spec.model.registered_model, writes)
        pending = waiting
        after_write: Callable[[], None] | None = functools.partial(
            _submit_write_backs, deps, writer, registry, scope, spec.model.registered_model,
            writes, tell=replay or bool(writes), expected=waiting,
            holder_of=target if became_holder else None)
    else:
        freed = False  # owed still: the stored condition says so until a pass can submit it
        waiting, write_failure = (deps.write_back.waiting(writer),
                                  deps.write_back.failure(writer))
        pending = (waiting or not deps.write_back.knows(writer)
                   or deps.write_back.undelivered(writer))
        after_write = None
    status = _status(decision.status, current, resolved, applied, write_failure, pending,
                     waiting, owner, generation, now)
    status.conditions = _alias_shared(status.conditions, current.conditions, spec, holding,
                                      freed, waiting, generation, now)
    status.conditions = status_logic.serving_failed(status.conditions, failure, generation, now)
    status.conditions = disruption.budget_condition(status.conditions, budgets, generation, now)
    status.serving_split = _serving_split(child, decision.traffic, applied, deps)
    # Degraded while a condition has said for longer than a grace that the spec has not taken
    # effect (Argo CD's health passes the phase through); Ready and every decision as decided.
    published = stuck.model_phase(status.phase, status.message, status.conditions,
                                  spec.rollout.progress_deadline, now)
    status.phase, status.message = published.phase, published.message

    events = [Event("Warning", resolved.reason, resolved.message[:MAX_MESSAGE])
              ] if status_logic.resolution_warning(current.conditions, resolved) else []
    events += ignored_field_events(current, generation, validation.ignored_gate_fields(
        spec.rollout.gates, "spec.rollout") + validation.short_progress_deadline(
        spec.rollout, "spec.rollout"))
    events += [Event(e.type, e.reason.value, e.message, e.decision) for e in decision.events]
    events += _apply_failed(current.conditions, status.conditions, applied)
    events += recreated
    if budgets.news:
        assert budgets.failure is not None
        events.append(Event("Warning", disruption.BUDGET_FAILED, budgets.failure[:MAX_MESSAGE]))
    events += _write_back_news(current.conditions, status.conditions)
    if status_logic.serving_failure_news(current.conditions, failure):
        assert failure is not None
        events.append(Event("Warning", cond.SERVING_FAILED, failure[:MAX_MESSAGE]))
    following = _next_pass(decision, retry)
    reapply = status_logic.apply_retry_seconds(status.conditions, now)
    if reapply is not None:  # the graph is behind the status: try again soon, backing off
        following = reapply if following is None else min(following, reapply)
    if budgets.retry_after is not None:  # a budget not applied: tried again then
        following = (budgets.retry_after if following is None
                     else min(following, budgets.retry_after))
    if _apply_went_through(current.conditions, status.conditions):
        following = 0.0  # this pass's words read the refusal: decided again, said at once
    roll = deps.rolls.due((KIND, namespace, name), now)
    if roll is not None:  # a re-render rolling: looked at when it may be done, or timed out
        following = roll if following is None else min(following, roll)
    if holding is not None and holding.gone_until is not None:  # the alias is its then
        grace_ends = max(0.0, (holding.gone_until - now).total_seconds())
        following = grace_ends if following is None else min(following, grace_ends)
    if published.due is not None:  # a problem's grace ends: the phase turns Degraded then
        grace_ends = (published.due - now).total_seconds()
        following = grace_ends if following is None else min(following, grace_ends)
    if applied is not None and applied.roll_timed_out is not None:
        deps.rolls.said((KIND, namespace, name))  # its event is in this pass's result
    after_write = _unwritten(deps, owner.uid, meta, body.get("status"), applied, after_write)
    return read.told(PassResult(status.to_wire(), tuple(events), following, after_write))


def _unwritten(deps: Dependencies, uid: str, meta: Mapping[str, Any], read: Any,
               applied: status_logic.Applied | None,
               after_write: Callable[[], None] | None) -> Callable[[], None] | None:
    """A pass that applied the graph (stamped with the resourceVersion it read) remembers it,
    with the status it read, in ``Dependencies.unwritten`` until a status write of the model
    goes through (``after_write``, which the pass runner calls then and only then): a write
    refused 409 (a label, an annotation or a finalizer changed meanwhile) leaves the graph
    stamped on a body older than the next pass reads, the status as it was, and the next pass
    finds it its own decision all the same (``_decided_here``)."""
    version = str(meta.get("resourceVersion") or "")
    if applied is not None and applied.changed and applied.error is None and version:
        digest = status_logic.status_digest(read)
        # Under the lock: another model's pass evicting at once took the same oldest entry
        # (a KeyError after the graph was applied) or changed the dict under the iteration.
        with deps.unwritten_lock:
            deps.unwritten.pop(uid, None)
            deps.unwritten[uid] = (version, digest)
            while len(deps.unwritten) > UNWRITTEN_KEPT:
                deps.unwritten.pop(next(iter(deps.unwritten)))
    if uid not in deps.unwritten:
        return after_write
    return functools.partial(_written, deps, uid, after_write)


def _written(deps: Dependencies, uid: str, after_write: Callable[[], None] | None) -> None:
    """The pass's status is written: nothing of the model's is unwritten any more."""
    forget_unwritten(deps, uid)
    if after_write is not None:
        after_write()


def forget_unwritten(deps: Dependencies, uid: str) -> None:
    """Nothing of the model ``uid`` is kept as unwritten (``_unwritten``): its status was
    written, or it was deleted (``handlers.upliftmodel``: not when its task is paused by
    peering, whose next pass here matches the entry only if no replica wrote a status or
    applied a graph since)."""
    with deps.unwritten_lock:
        deps.unwritten.pop(uid, None)


def _submit_write_backs(deps: Dependencies, writer: WriterOwner, registry: Registry,
                        scope: Sequence[str], model: str, writes: Sequence[Write], *,
                        tell: bool, expected: bool, holder_of: AliasTarget | None) -> None:
    """A pass's MLflow write-backs, submitted once its status is written (``after_write``).
    Told when they are through (``tell``), so the condition they made Unknown turns True at
    once; and at once when the status said writes pending (``expected``) that went through
    between the pass and its status write (nothing else would wake it)."""
    deps.write_back.submit(writer, registry, scope, model, writes, tell_when_written=tell)
    if holder_of is not None:
        deps.alias_claims.wrote_as_holder(writer, holder_of)
    if expected and not deps.write_back.waiting(writer):
        deps.write_back.tell([writer])


#: The status fields naming versions (and the graph) of what serves: text longer than this
#: release allows (a newer release's) is kept as it is, not dropped (``status.readable``).
VERSION_FIELDS = frozenset({"stableVersion", "canaryVersion", "previousStableVersion",
                            "desiredVersion", "abortedVersion", "emergencyRolledBackVersion",
                            "stableServedVersion", "seldonDeployment"})
#: Those naming a model version: each renders a predictor (``v<version>``, after which Seldon
#: names Services and Deployments) or goes into the gates' queries, so one that is not the
#: digits of a positive integer, as MLflow numbers versions (a hand edit of the status: anyone
#: who may patch ``upliftmodels/status``), is dropped as unreadable (``read_status``), the split
#: then taken from the serving graph (``_split_from_graph``) as for any field that does not
#: parse. Its length is left to the CRD and ``status.readable`` (a newer release's longer one is
#: kept as it is).
MODEL_VERSION_FIELDS = VERSION_FIELDS - {"seldonDeployment"}
_VERSION_DIGITS = re.compile(r"[1-9][0-9]*")
#: How soon a pass that dropped parts of the status it could not read runs again: it finds the
#: status it wrote read in full, and says so (``StatusReadable`` True).
UNREADABLE_RECHECK_SECONDS = 1.0

S = TypeVar("S", bound=StatusBase)


@dataclass(frozen=True)
class StatusRead(Generic[S]):
    """The stored status as this release read it (``read_status``): ``status`` with its
    ``StatusReadable`` condition, the Warning ``events`` that say what it could not read (when
    that is news), and whether something was ``dropped``."""

    status: S
    events: tuple[Event, ...] = ()
    dropped: bool = False

    def told(self, result: PassResult) -> PassResult:
        """``result`` (a pass that writes its status) with the events first, and a pass again
        soon after one that dropped something."""
        if not self.events and not self.dropped:
            return result
        again = result.requeue_after
        if self.dropped:
            again = min(again, UNREADABLE_RECHECK_SECONDS) if again is not None else (
                UNREADABLE_RECHECK_SECONDS)
        return replace(result, events=(*self.events, *result.events), requeue_after=again)


def read_status(model: type[S], body: Mapping[str, Any], now: dt.datetime, *,
                verbatim: frozenset[str] = frozenset(), versions: frozenset[str] = frozenset(),
                repair: Callable[[S, tuple[Unreadable, ...]],
                                 tuple[S, tuple[Unreadable, ...]]] | None = None,
                check: Callable[[S], tuple[S, tuple[Unreadable, ...]]] | None = None,
                ) -> StatusRead[S]:
    """The status of ``body`` as ``model``, read tolerantly (``domain.status.readable``): a
    status this release cannot read in full (written by a newer release, kept by the API server
    after a rollback, or edited by hand) no longer makes every pass fail, which froze the
    resource, its aborts and emergency rollbacks included. What could not be read is named in
    the ``StatusReadable`` condition and a Warning event (``StatusUnreadable``, once per new
    finding); ``repair`` may make more of the dropped fields (the UpliftModel takes its split
    from the serving graph), and ``check`` drops what parses but no pass could act on (the
    UpliftModel's canary that names its stable version), named the same way. A top-level
    field named in ``versions`` whose text is not a model version (``_not_versions``) is
    dropped as one that does not parse is, before ``repair``. A time later than ``now`` by
    more than the clocks may differ (``status_logic.future_times``: a hand edit, a replica whose
    clock runs ahead) is taken as ``now`` (the last analysis dropped: the next is due at once),
    named the same way: counted from, it held every gate analysis, deadline and grace, and one
    near year 9999 overflowed the pass's arithmetic. Both kinds' passes read their status
    here."""
    meta = body["metadata"]
    raw, screened = _not_versions(body.get("status"), versions)
    status, unreadable = status_logic.readable(model, raw, verbatim=verbatim)
    unreadable = (*screened, *unreadable)
    if unreadable and repair is not None:
        status, unreadable = repair(status, unreadable)
    status, ahead = status_logic.future_times(status, now)
    unreadable = (*unreadable, *ahead)
    if check is not None:
        status, contradictions = check(status)
        unreadable = (*unreadable, *contradictions)
    conditions = status_logic.status_readable(status.conditions, unreadable,
                                              int(meta.get("generation") or 0), now)
    news = status_logic.unreadable_news(status.conditions, conditions)
    if news:  # once per new finding, as the event (a part kept as it is is read every pass)
        log.warning("%s/%s: parts of the stored status could not be read: %s",
                    meta.get("namespace"), meta.get("name"), "; ".join(map(str, unreadable)))
    events = (Event("Warning", status_logic.STATUS_UNREADABLE, news),) if news else ()
    return StatusRead(status.model_copy(update={"conditions": conditions}), events,
                      any(not part.kept for part in unreadable))


def _not_versions(raw: Any, fields: frozenset[str]) -> tuple[Any, tuple[Unreadable, ...]]:
    """``raw`` (a stored status) without its ``fields`` whose text is not the digits of a
    positive integer, and those drops: no pass writes one (MLflow's versions are refused
    otherwise, ``adapters.mlflow_registry``), and rendered it would name a predictor or go into
    a gate's query. Not quoted: a hand edit's text may be anything."""
    if not fields or not isinstance(raw, Mapping):
        return raw, ()
    wrong = sorted(key for key in fields if isinstance(raw.get(key), str)
                   and not _VERSION_DIGITS.fullmatch(raw[key]))
    if not wrong:
        return raw, ()
    return {key: value for key, value in raw.items() if key not in wrong}, tuple(
        Unreadable(key, "dropped", f"not a model version: {len(raw[key])} characters, not the "
                   "digits of a positive integer, as MLflow numbers versions; not shown", key)
        for key in wrong)


def _checked(status: UpliftModelStatus, owner: Owner, meta: Mapping[str, Any],
             deps: Dependencies) -> tuple[UpliftModelStatus, tuple[Unreadable, ...]]:
    """``read_status``'s ``check`` of an UpliftModel: a stable version the serving graph
    contradicts (``_stable_as_served``), then a canary that names the stable version
    (``_canary_of_stable``)."""
    status, stable = _stable_as_served(status, owner, meta, deps)
    status, canary = _canary_of_stable(status)
    return status, (*stable, *canary)


#: The history's actions that make their version stable (``_stable_as_served``); an emergency
#: rollback of the stable makes the version it restores stable (``restored_by``).
_MAKES_STABLE = frozenset({ramp.Reason.PROMOTED.value, ramp.Reason.RESTORE_WITHDRAWN.value})


def _made_stable(status: UpliftModelStatus) -> str | None:
    """The version the history's newest decision that changed the stable version made stable
    (a promotion, a first version, a withdrawn restore: its entry's version; an emergency
    rollback of the stable: the version it restored); None when no such entry is left in the
    bounded history."""
    for entry in reversed(status.history):
        if entry.action in _MAKES_STABLE and entry.version is not None:
            return entry.version
        restored = restored_by(entry)
        if restored is not None:
            return restored
    return None


def _stable_as_served(status: UpliftModelStatus, owner: Owner, meta: Mapping[str, Any],
                      deps: Dependencies) -> tuple[UpliftModelStatus, tuple[Unreadable, ...]]:
    """``status`` with the version the operator's own history made stable in place of a
    ``stableVersion`` that no decision explains while the model's own serving graph serves that
    version as its stable (``ServingBackend.rendered_roles``), and that drop, for
    ``StatusReadable``. Such a version (a hand edit of the status: any digits parse) was
    rendered as the stable predictor, moving the traffic off the version that serves onto one
    that may not exist, and MLflow's role tags followed it.

    The graph decides nothing here: whoever may edit SeldonDeployments may write any version
    and role into its annotations, and a version taken from them would move the traffic and
    MLflow's tags (docs/security.md). The version taken is the one the status' own history
    says the operator made stable most recently (``_made_stable``: the newest promotion, first
    version, withdrawn restore, or the version an emergency rollback restored); the graph only
    confirms it serves. Every decision that changes ``stableVersion`` writes that entry in the
    same status write, so a status whose stable differs from it was not written so by a pass.
    Nothing is taken when the history holds no such entry (trimmed from the bounded history:
    the status is followed, and the next apply renders it), when the graph's stable is another
    version (a graph edited, or behind a decision: the next apply renders the status' stable),
    nor when the graph's stable is a version the status names — the previous stable, the
    canary, the version an emergency rollback replaced (``abortedVersion`` in a status of an
    operator before ``emergencyRolledBackVersion``): a graph behind a decision, or a decision
    whose status write was lost. Nothing is checked without a graph of the model's own or one
    with no stable role (a first version, a graph of an earlier operator, someone else's), nor
    on a graph decided on a newer body than this pass's (the pass decides nothing:
    ``_decided_on_newer``). MLflow is not asked: its role tags follow the status."""
    stable = status.stable_version
    if stable is None:
        return status, ()
    made = _made_stable(status)
    if made is None or made == stable:
        return status, ()
    graph = deps.cluster.get(deps.backend.api_version, deps.backend.plural, owner.namespace,
                             owner.name)
    if (graph is None or ownership_conflict(graph, owner, "") is not None
            or _decided_on_newer(graph, meta)):
        return status, ()
    served = deps.backend.rendered_roles(graph).get("stable")
    if served is None or served[0] != made or made in (status.previous_stable_version,
                                                       status.canary_version,
                                                       status.emergency_rolled_back_version,
                                                       status.aborted_version):
        return status, ()
    return status.model_copy(update={"stable_version": made}), (Unreadable(
        "stableVersion", f"dropped; taken from the history: {made}, which its newest decision "
        f"made stable and {deps.backend.kind} {owner.namespace}/{owner.name} serves as stable",
        f"{_shown_version(stable)} is not the version the serving graph serves as stable, and "
        "no decision of the operator made it stable (a hand edit?)", "stableVersion"),)


def _shown_version(version: str) -> str:
    """A model version (digits, ``_not_versions``) as a message quotes it: short enough."""
    return version if len(version) <= 16 else version[:15] + "…"


def _canary_of_stable(status: UpliftModelStatus) -> tuple[UpliftModelStatus,
                                                           tuple[Unreadable, ...]]:
    """``status`` without a canary that names its stable version (a hand edit: no pass writes
    one), and that drop, for ``StatusReadable``: a version cannot be split against itself, so
    every pass raised, and an abort or an emergency rollback was never acted on
    (``domain.canary.read_canary_of_stable``, which the ramp applies too)."""
    read = read_canary_of_stable(status)
    if read is status:
        return status, ()
    return read, (Unreadable(
        "canaryVersion", f"dropped ({status.canary_version}), with its weight "
        f"({status.canary_weight}%) and step: the stable version serves all traffic",
        f"it names the stable version {status.stable_version}, and no version is its own "
        "canary", "canaryVersion"),)


#: What the serving graph is rendered from, in the status: when the status' own cannot be read,
#: the graph's is taken (it is the ground truth of what serves).
SPLIT_FIELDS = frozenset({"stableVersion", "canaryVersion", "canaryWeight"})


def _split_from_graph(status: UpliftModelStatus, unreadable: tuple[Unreadable, ...],
                      owner: Owner, deps: Dependencies,
                      now: dt.datetime) -> tuple[UpliftModelStatus, tuple[Unreadable, ...]]:
    """``status`` with the parts of its traffic split that could not be read taken from the
    model's own serving graph (its versions' roles and their predictors' traffic), so that a pass
    never takes an unreadable stable version for none (and deploys the spec's version in its
    place) nor a canary's weight for 0. A canary whose step start was lost starts its step over
    (its pause and analysis from now: later, never sooner). Each part taken says so."""
    lost = {part.field for part in unreadable if not part.kept}
    taken: dict[str, Any] = {}
    if lost & SPLIT_FIELDS:
        graph = deps.cluster.get(deps.backend.api_version, deps.backend.plural, owner.namespace,
                                 owner.name)
        if graph is not None and ownership_conflict(graph, owner, "") is None:
            taken = _graph_split(deps.backend.rendered_roles(graph), status, lost)
    source = f"taken from {deps.backend.kind} {owner.namespace}/{owner.name}"
    parts = [replace(part, done=f"dropped; {source}: {taken[part.field]}")
             if part.field in taken and not part.kept else part for part in unreadable]
    update = {_STATUS_NAMES[key]: value for key, value in taken.items()}
    canary = update.get("canary_version", status.canary_version)
    if canary is not None and update.get("stable_version", status.stable_version) is None:
        # No graph of its own says what is stable: a canary compared with nothing is no ramp
        # (its analysis needs both). The spec's version is followed as a first version is.
        update.update(canary_version=None, canary_weight=0, current_step=None,
                      step_started_at=None, canary_started_at=None, split_applied_at=None)
        parts.append(Unreadable(
            "canaryVersion", f"dropped ({canary}): no stable version to compare it with",
            "the stable version could not be read, nor taken from a serving graph of this "
            "model", "canaryVersion"))
    elif canary is not None and "stepStartedAt" in lost:
        update["step_started_at"] = now
        parts = [replace(part, done=f"dropped; the step starts over: {now.isoformat()}")
                 if part.field == "stepStartedAt" and not part.kept else part for part in parts]
    if not update:
        return status, unreadable
    return status.model_copy(update=update), tuple(parts)


_STATUS_NAMES = {"stableVersion": "stable_version", "canaryVersion": "canary_version",
                 "canaryWeight": "canary_weight"}


def _graph_split(roles: Mapping[str, tuple[str, int]], status: UpliftModelStatus,
                 lost: set[str]) -> dict[str, Any]:
    """The ``lost`` split fields (wire names) as the serving graph has them: its versions'
    ``roles`` as rendered (``ServingBackend.rendered_roles``) and their traffic. A version
    rolled back (kept at weight 0 after a rollback, or with the traffic while an emergency
    rollback's restored version starts) is no canary."""
    taken: dict[str, Any] = {}
    if "stableVersion" in lost and "stable" in roles:
        taken["stableVersion"] = roles["stable"][0]
    if ("canaryVersion" in lost and "canary" in roles
            and roles["canary"][0] not in (status.aborted_version,
                                           status.emergency_rolled_back_version)):
        taken["canaryVersion"] = roles["canary"][0]
    canary = taken.get("canaryVersion", status.canary_version)
    if "canaryWeight" in lost and canary is not None:
        weights = {version: traffic for version, traffic in roles.values()}
        if canary in weights:
            taken["canaryWeight"] = weights[canary]
    return taken


def _apply_failed(before: Sequence[Condition], after: Sequence[Condition],
                  applied: Applied | None) -> list[Event]:
    """A Warning for a refused apply of the serving graph when the refusal is news: the
    ``ServingApplied`` condition turns False or says something new. A refusal that persists
    (RBAC, an admission webhook, Seldon's CRD missing) is retried every few seconds, backing
    off: one event per retry buried ``kubectl describe`` under copies of the same words. And
    one for a re-render that did not serve within the roll timeout (``services.rolls``)."""
    if applied is not None and applied.roll_timed_out is not None:
        return [Event("Warning", cond.ROLL_TIMED_OUT, applied.roll_timed_out, decision=False),
                *_apply_failed(before, after, replace(applied, roll_timed_out=None))]
    if applied is None or applied.error is None:
        return []
    old, new = cond.find(before, cond.SERVING_APPLIED), cond.find(after, cond.SERVING_APPLIED)
    if (old is not None and new is not None and old.status == new.status
            and old.message == new.message):
        return []
    return [Event("Warning", cond.APPLY_FAILED, applied.error)]


def _split_refused(current: UpliftModelStatus, split_as_status: bool) -> str | None:
    """``ramp.Observed.split_refused``: the graph does not split traffic as ``current`` says,
    and the last pass's apply was refused (``ServingApplied`` False, ``ApplyFailed``, as that
    pass recorded it): its message. The ramp holds its step meanwhile, so it neither advances
    nor promotes on a split the traffic never got."""
    applied = cond.find(current.conditions, cond.SERVING_APPLIED)
    if (split_as_status or applied is None or applied.status != "False"
            or applied.reason != cond.APPLY_FAILED):
        return None
    return applied.message or "the serving graph's apply was refused"


def _apply_went_through(before: Sequence[Condition], after: Sequence[Condition]) -> bool:
    """Whether this pass applied the serving graph after the last pass's apply was refused
    (``ServingApplied`` False, ``ApplyFailed``, now True). The ramp decides before the graph is
    applied, so its words read the refusal as the last pass recorded it (a rolled-back
    model's "the serving graph's last apply was refused": ``canary._CanaryPass.split_refused``):
    one more pass at once says what is in effect, rather than the next analysis, a resync or
    nothing at all."""
    old, new = cond.find(before, cond.SERVING_APPLIED), cond.find(after, cond.SERVING_APPLIED)
    return (old is not None and old.status == "False" and old.reason == cond.APPLY_FAILED
            and new is not None and new.status == "True")


def _write_back_news(before: Sequence[Condition], after: Sequence[Condition]) -> list[Event]:
    """A Warning when the MLflow write-back of the model's decisions turns failing, or fails
    in new words (``RegistryWrittenBack`` False: failing and retried, held behind another
    resource's failing write, or dropped), and a Normal when it is through again (False, then
    True). Said on the change, not once per pass: the write-back words a failure the same on
    every retry, and a promotion's ``Promoted`` event alone made the alias and the role tags
    look moved while MLflow had not heard of them. Not decisions. Withheld because an older
    UpliftModel moves the same promotion alias (``PromotionAliasShared``): a Warning under
    that reason when it starts or names another model, a Normal ``PromotionAliasNotShared``
    when it ends."""
    old = cond.find(before, cond.REGISTRY_WRITTEN_BACK)
    new = cond.find(after, cond.REGISTRY_WRITTEN_BACK)
    if new is None or old == new:
        return []
    was_shared = old is not None and old.reason == cond.PROMOTION_ALIAS_SHARED
    if new.reason == cond.PROMOTION_ALIAS_SHARED:
        if was_shared and old is not None and old.message == new.message:
            return []
        return [Event("Warning", cond.PROMOTION_ALIAS_SHARED, new.message, decision=False)]
    if was_shared:
        told = [Event("Normal", cond.PROMOTION_ALIAS_NOT_SHARED,
                      f"no older UpliftModel moves its promotionAlias any more: its MLflow "
                      f"write-back resumes ({new.message})"[:MAX_MESSAGE], decision=False)]
        if new.status == "False":
            told.append(Event("Warning", cond.WRITE_BACK_FAILED, new.message, decision=False))
        return told
    if new.status == "False" and (old is None or old.status != "False"
                                  or old.message != new.message):
        return [Event("Warning", cond.WRITE_BACK_FAILED, new.message, decision=False)]
    if new.status == "True" and old is not None and old.status == "False":
        return [Event("Normal", cond.WRITTEN_BACK, new.message, decision=False)]
    return []


def _invalid(body: Mapping[str, Any], spec: UpliftModelSpec | None, current: UpliftModelStatus,
             owner: Owner, problems: list[str], deps: Dependencies,
             now: dt.datetime, *, absence_remembered: bool = False) -> PassResult:
    """A pass on an invalid spec: the ramp held where it stands under the InvalidSpec status
    (``ramp.decide_stopping_requests``, every such pass): an abort or an emergency rollback
    pending is still acted on (taking traffic off a canary needs no valid gate), an emergency
    rollback's restore still ends (or passes its deadline), a rolled-back version still leaves
    after its scale-down delay, and the split the status says is applied again over a hand
    edit or a deleted graph. Only the traffic moves: the graph is rendered from the settings
    it has (``_held_runtime``), never from the refused spec. Nothing is written back to MLflow
    (its tracking URI may be the one refused): a decision taken makes ``RegistryWrittenBack``
    owe the registry state, submitted at the first pass with a valid spec. A spec that does
    not parse acts on nothing (no rollout, no delay is known): its message says so of a stop
    request pending. ``absence_remembered``: ``reconcile``'s ``_graph_absence_remembered``,
    asked before it read the status (``_apply``)."""
    meta = body["metadata"]
    generation = int(meta.get("generation") or 0)
    requests = ramp.parse_requests(meta.get("annotations") or {})
    if spec is None:
        pending = [r for r in requests if r.kind in STOPPING_REQUESTS and not is_handled(
            r, current.handled_requests, current.earlier_handled_requests or {})]
        return invalid_pass(current, generation, problems, now, consequence=(
            f"{', '.join(r.key for r in pending)} not acted on: the spec does not parse"
            if pending and current.stable_version is not None else None))
    if current.stable_version is None:  # nothing serves: nothing to stop or to hold
        return invalid_pass(current, generation, problems, now)
    # A duration stored before the API server bounded it (a scale-down delay of a million
    # days) read as the longest one: the stop still acts, where its time could not be computed.
    spec = clamp_durations(spec)
    child, ready, serves, split_as_status = _observe(current, owner, deps,
                                                     current.desired_version)
    if ownership_conflict(child, owner, deps.backend.kind) is not None:  # not ours to act on
        return invalid_pass(current, generation, problems, now)
    if _decided_on_newer(child, meta):
        return _behind(body)
    recreated: list[Event] = []  # a decision key created anew under the graph (a Warning)
    try:
        decision = ramp.decide_stopping_requests(spec, current, ramp.Observed(
            desired_version=current.desired_version,
            stable_ready=current.stable_version in serves,
            canary_ready=current.canary_version in ready if current.canary_version else False,
            requests=requests, generation=generation, split_as_status=split_as_status,
            split_refused=_split_refused(current, split_as_status), ready_versions=serves,
            serving_failure=_serving_failure(child, current, deps, serves),
            partial_versions=_partial_versions(child, deps, serves),
            name=meta.get("name"), namespace=owner.namespace), now)
    except Exception:  # a spec no rule foresaw: its InvalidSpec written, not a pass lost
        log.exception("acting on a stop request of UpliftModel %s/%s failed",
                      owner.namespace, owner.name)
        return invalid_pass(current, generation, problems, now)
    runtime = _held_runtime(spec, child, owner, deps)
    try:
        if isinstance(runtime, str):  # no graph, and none is created: said as a refusal
            applied: status_logic.Applied | None = status_logic.Applied(
                f"{deps.backend.kind} {owner.name}",
                _describe(decision.traffic) if decision.traffic else "", error=runtime)
        else:
            applied = _apply(decision.traffic, child, ready, spec, owner, deps, now,
                             decided_on=meta.get("resourceVersion"), runtime=runtime,
                             told=recreated,
                             edit_rolling=_edit_rolling(current.conditions),
                             absence_remembered=absence_remembered)
    except _ChildMovedError:
        return _behind(body)
    except _ConflictError:  # a predecessor's decision key still there: held, as invalid
        return invalid_pass(current, generation, problems, now)
    conditions = status_logic.serving_applied(decision.status.conditions, applied, generation,
                                              now)
    if _registry_roles(decision.status) != _registry_roles(current):
        conditions = status_logic.write_back_owed(conditions, current.conditions, generation,
                                                  now)
    # Ready, the phase and the message as stored: the InvalidSpec ones are set over them (the
    # ramp's own would move Ready's lastTransitionTime and tell InvalidSpec again).
    stored_ready = cond.find(current.conditions, cond.READY)
    conditions = [c for c in conditions if c.type != cond.READY] + (
        [stored_ready] if stored_ready is not None else [])
    decided = decision.status.model_copy(update={
        "conditions": conditions, "phase": current.phase, "message": current.message,
        "serving_split": _serving_split(child, decision.traffic, applied, deps)})
    held = invalid_pass(decided, generation, problems, now)
    events = [Event(e.type, e.reason.value, e.message, e.decision) for e in decision.events]
    events += _apply_failed(current.conditions, decided.conditions, applied)
    events += recreated
    following = decision.requeue_after.total_seconds() if decision.requeue_after else None
    retry = status_logic.apply_retry_seconds(decided.conditions, now)
    if retry is not None:
        following = retry if following is None else min(following, retry)
    roll = deps.rolls.due((KIND, owner.namespace, owner.name), now)
    if roll is not None:  # a re-render rolling (an earlier operator's graph): looked at again
        following = roll if following is None else min(following, roll)
    if applied is not None and applied.roll_timed_out is not None:
        deps.rolls.said((KIND, owner.namespace, owner.name))  # its event is in this result
    return PassResult(held.status, (*events, *held.events), following)


def _registry_roles(status: UpliftModelStatus) -> tuple[str | None, ...]:
    """The status fields the registry state is written from (``_registry_state``)."""
    return (status.stable_version, status.canary_version, status.previous_stable_version,
            status.aborted_version, status.emergency_rolled_back_version)


def _held_runtime(spec: UpliftModelSpec, child: Mapping[str, Any] | None, owner: Owner,
                  deps: Dependencies) -> RuntimeSettings | str:
    """What the graph is rendered from while the spec is invalid: the settings the graph
    there was rendered with (``ServingBackend.runtime_settings``: its image, ServiceAccount,
    tracking URI, credentials and report token references, replicas, resources, holdout), so
    that only the traffic moves. A refused spec's image, ServiceAccount or tracking URI never
    reaches a pod, and nothing the spec changed rolls the stable's pods; only a placement the
    policy now refuses (``ServingPolicy.admitted_placement``) is left out of the graph's.

    Without a graph to read (deleted by hand), the spec's, but for what the operator's policy
    refuses (its defaults then: ``ServingPolicy.within``), the MLflow credentials when their
    Secret is read and fits (else none: ``spec.serving.runtimeCredentials`` when set, never
    the operator's ``model.credentials`` in their place), and the report token when it checks
    out; a report
    token the spec asks for that does not check out is why the graph is not created (str: its
    endpoints would be open), retried as a refused apply is, and so is a report token or
    runtime credentials Secret whose read failed on the API server's side (not checked yet)."""
    allowed = deps.policy.within(spec)
    found = deps.backend.runtime_settings(child, _runtime(allowed, deps, owner.namespace,
                                                          owner.name, None, ()))
    if found is not None:
        # Its placement but what the policy now refuses (a graph rendered before the policy, or
        # before its pull-Secret list was narrowed): else every apply, the abort's included, is
        # refused by the SeldonDeployments admission policy. Dropping it rolls the pods.
        return replace(found, placement=deps.policy.admitted_placement(found.placement))
    report_token, report_problems, report_unread = _report_token(allowed, owner.namespace, deps)
    runtime_env, _problems, runtime_unread = _runtime_credential_env(allowed, owner.namespace,
                                                                     deps)
    unread = [m for m in (report_unread, runtime_unread) if m is not None]
    if report_problems or unread:
        return (f"{deps.backend.kind} {owner.namespace}/{owner.name} is not there and is not "
                f"created while the spec is invalid: {'; '.join([*report_problems, *unread])}")
    if allowed.serving.runtime_credentials is not None:
        credential_env = runtime_env or ()
    else:
        _read, credential_problems, unreadable = _credentials(allowed.model,
                                                              owner.namespace, deps)
        credential_env = (() if credential_problems or unreadable is not None
                          else _spec_credential_env(allowed))
    fallback = _runtime(allowed, deps, owner.namespace, owner.name, None, credential_env)
    return replace(fallback, report_token=report_token)


#: The UpliftModel resourceVersion the serving graph was decided on, stamped on the child.
DECIDED_ON = "uplift.dev/decided-on"
#: How soon a pass that found its body behind the serving graph looks again.
BEHIND_RETRY_SECONDS = 1.0


class _ChildMovedError(Exception):
    """The serving graph changed since this pass read it (the apply's precondition failed)."""


def _decided_on_newer(child: Mapping[str, Any] | None, meta: Mapping[str, Any]) -> bool:
    """Whether the serving graph was decided on a newer UpliftModel than this pass sees: another
    replica acted on a later status (the window after an API outage in which two replicas may
    act), or this process's watch is behind. Deciding on the older body would step the graph
    back, so the pass decides nothing until its body catches up. resourceVersions are compared
    as etcd's integers (``adapters.watched.newer``); anything else is not compared."""
    stamped = str(((child or {}).get("metadata") or {}).get("annotations", {}).get(DECIDED_ON, ""))
    seen = str(meta.get("resourceVersion", ""))
    return stamped.isdigit() and seen.isdigit() and int(stamped) > int(seen)


def _decided_here(child: Mapping[str, Any] | None, meta: Mapping[str, Any],
                  current: UpliftModelStatus, split_as_status: bool,
                  deps: Dependencies, read: Any = None) -> frozenset[tuple[str, int]]:
    """``ramp.Observed.decided_here``: the versions with traffic of a serving graph that does
    not split traffic as ``current`` says and was last applied by a pass on this very status:
    its ``DECIDED_ON`` stamp is this pass's resourceVersion (as etcd's integers), or the one
    a pass of this process applied it on when the status as read (``read``) is still the one
    that pass read (``Dependencies.unwritten``: its status write refused 409, a label or an
    annotation changed meanwhile). A pass that moved the traffic and wrote its status moved
    the resourceVersion on, so such a graph is usually the decision of a pass whose status
    write was lost (a replica killed between its apply and its status write). Not always: a
    pass that applies the status's own split again or re-renders the graph writes no status
    when nothing else changed, and stamps the graph all the same, so a hand edit after it
    that keeps the annotation reads as that pass's decision too (taken for a lost advance or
    rollback when it is at exactly the next step's, the promotion's or the rollback's
    weights). A refused apply leaves the graph's stamp as it was, and a hand edit or another
    controller's revert finds it older than the body once a status has been written since
    (empty then)."""
    split = _split_of(current)
    if split_as_status or child is None or split is None:
        return frozenset()
    stamped = str(((child.get("metadata") or {}).get("annotations") or {}).get(DECIDED_ON, ""))
    seen = str(meta.get("resourceVersion", ""))
    here = stamped.isdigit() and seen.isdigit() and int(stamped) == int(seen)
    unwritten = deps.unwritten.get(str(meta.get("uid", "")))
    if not here and (unwritten is None or unwritten[0] != stamped
                     or unwritten[1] != status_logic.status_digest(read)):
        return frozenset()
    return frozenset((v, w) for v, w in deps.backend.observe(child, split).weights if w)


def first_status_wait(current: UpliftModelStatus, decided: UpliftModelStatus, stable_ready: bool,
                      child: Mapping[str, Any] | None, applied: status_logic.Applied | None,
                      now: dt.datetime, grace: dt.timedelta) -> float | None:
    """Seconds this pass's status should wait for Seldon's first report on a first version's
    serving graph; None: write it now.

    A first version (nothing stable in ``current``, shown as nothing yet or Progressing) whose
    graph was applied without error and does not serve yet would be written Progressing, then
    Healthy a moment later. Until Seldon has reported on the graph (``child``, read before the
    apply, has a ``status.state``), within ``grace`` of its creation (this pass's own create
    when ``child`` was absent; else its ``creationTimestamp``), the pass writes, emits and
    queues nothing and returns the time left: Seldon's report (a watch event) or the grace's
    end runs the next pass, which decides again from the same status and writes Healthy
    (Available), Progressing (Creating: what Seldon says is worth showing at once), or
    Progressing once the grace has run out. A graph without a creation time is not waited
    for."""
    if (current.stable_version is not None or current.phase not in (None, Phase.PROGRESSING)
            or decided.stable_version is None or stable_ready
            or applied is None or applied.error is not None):
        return None
    if child is not None and ((child.get("status") or {}).get("state")):
        return None  # Seldon has reported on it (not serving yet): show that now
    if child is None:
        created = now
    else:
        stamp = str((child.get("metadata") or {}).get("creationTimestamp") or "")
        try:
            created = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        if created.tzinfo is None:
            return None
    left = (created + grace - now).total_seconds()
    return left if left > 0 else None


#: The garbage collector's own finalizers: ``foregroundDeletion`` (it deletes the children
#: first) and ``orphan`` (it takes their owner references off). A model being deleted with one
#: of them writes no child: the collector is at work on them.
GC_FINALIZERS = frozenset({"foregroundDeletion", "orphan"})
#: The Warning of a model being deleted, held by another tool's finalizer, whose canary's
#: traffic was withdrawn (or could not: ``CANARY_NOT_WITHDRAWN``).
CANARY_WITHDRAWN = "CanaryWithdrawn"
CANARY_NOT_WITHDRAWN = "CanaryNotWithdrawn"
#: How soon a withdrawal that may succeed at another try (the graph changed meanwhile: 409;
#: no answer, or the API server's failure: 0, 5xx, 429) is tried again.
WITHDRAW_RETRY_SECONDS = 5.0


@runtime_checkable
class _MergePatches(Protocol):
    """A cluster that can JSON-merge-patch an object (``adapters.kube.KubeCluster``, through the
    watched cluster): unlike a server-side apply, a merge patch never creates the object."""

    def merge_patch(self, api_version: str, plural: str, namespace: str, name: str,
                    patch: Mapping[str, Any]) -> dict[str, Any]: ...


def held_by_other_finalizers(body: Mapping[str, Any]) -> bool:
    """Whether ``body`` is being deleted (``deletionTimestamp`` set) and held only by
    finalizers other than the garbage collector's own (``GC_FINALIZERS``): a background
    deletion another tool's finalizer holds, whose children the collector leaves as they are
    for as long as it does (``withdraw_held_canary``)."""
    meta = body.get("metadata") or {}
    finalizers = frozenset(str(f) for f in meta.get("finalizers") or ())
    return bool(meta.get("deletionTimestamp")) and bool(finalizers) and not (
        finalizers & GC_FINALIZERS)


def withdraw_held_canary(body: Mapping[str, Any], deps: Dependencies) -> PassResult:
    """What a model being deleted (``deletionTimestamp`` set) is owed. Nothing is applied,
    created, measured or written to MLflow. With the garbage collector's own finalizer among
    its finalizers (``GC_FINALIZERS``: a foreground or orphan deletion), or none left, nothing
    at all: the collector is at work on the children. Held by other finalizers only (Argo CD's
    ``resources-finalizer.argocd.argoproj.io``, a backup tool's) under a background deletion,
    the collector leaves the children as they are for as long as the hold lasts, and the
    ramp is over: a canary the graph gives traffic is withdrawn, as an abort would (the stable
    takes 100 %), by a JSON merge patch of the graph's predictors' ``traffic`` only — never a
    create (a graph gone stays gone), preconditioned on the graph's resourceVersion as read (a
    graph changed or re-created meanwhile is refused, 409, read again and looked at again in
    ``WITHDRAW_RETRY_SECONDS``, as is a patch unanswered or failed by the API server: 0, 5xx,
    429; one refused otherwise, 403 or 422, is not looked at again soon), and only on the
    model's own graph (its controller), not itself being deleted, whose stable version
    serves. The patched graph goes into the watch's store
    (as an apply's answer does), so that the next look sees it. The status says so
    (``canaryWeight`` 0, ``servingSplit``, ``message``), with one Warning ``CanaryWithdrawn``;
    its ``canaryVersion`` stays, so that the DELETED event still tags it ``retired`` in MLflow
    (``retire_deleted_canary``). A graph whose canary has no traffic while the status still
    gives it some (the status write after the patch was refused) gets the status said the
    same way. Done once: a later call finds no canary traffic, a status saying so, and returns
    the status as it is, with no event.

    Called at each watch event of a model so held, a re-list's included, and at each event
    of its graph, by ``handlers.upliftmodel.withdraw_held`` and ``withdraw_held_at_graph``:
    kopf stops the model's waiting task once ``deletionTimestamp`` is set and starts none for
    an object being deleted, so ``reconcile`` (which returns the status as it is for such a
    model) never gets here (docs/lifecycle.md, "Deleting an UpliftModel")."""
    meta, status = body["metadata"], dict(body.get("status") or {})
    owner = Owner(name=str(meta["name"]), namespace=str(meta["namespace"]), uid=str(meta["uid"]))
    finalizers = frozenset(str(f) for f in meta.get("finalizers") or ())
    left = PassResult(status, (), None)
    if not held_by_other_finalizers(body):
        return left
    child = deps.cluster.get(deps.backend.api_version, deps.backend.plural, owner.namespace,
                             owner.name)
    what = f"{deps.backend.kind} {owner.namespace}/{owner.name}"
    if (child is None or (child.get("metadata") or {}).get("deletionTimestamp")
            or ownership_conflict(child, owner, what) is not None):
        return left
    roles = deps.backend.rendered_roles(child)
    stable, canary = roles.get("stable"), roles.get("canary")
    held = ", ".join(sorted(finalizers))
    if stable is None or (canary is not None and stable[0] == canary[0]):
        return left
    if canary is None or canary[1] <= 0:  # no canary traffic to withdraw
        said = status.get("canaryWeight")
        if not isinstance(said, int | float) or said <= 0 or not status.get("canaryVersion"):
            return left  # and the status says so
        message = (f"being deleted, held by finalizer(s) {held}: canary "
                   f"{status['canaryVersion']} has no traffic ({said}% → 0%), stable "
                   f"{stable[0]} takes 100%")
        status.update(canaryWeight=0, message=message[:MAX_MESSAGE],
                      servingSplit=_serving_split(child, None, None, deps))
        return PassResult(status, (Event("Warning", CANARY_WITHDRAWN, message[:MAX_MESSAGE]),),
                          None)
    split = TrafficSplit(stable[0], canary[0], canary[1])
    serving = deps.backend.observe(child, split)
    serves = (serving.ready_versions if serving.ready else frozenset()) | (
        serving.serving_versions)
    if stable[0] not in serves:
        why = (f"being deleted, held by finalizer(s) {held}: canary {canary[0]} keeps its "
               f"{canary[1]}% of the traffic: stable {stable[0]} does not serve")
        return PassResult(status, (Event("Warning", CANARY_NOT_WITHDRAWN, why[:MAX_MESSAGE]),),
                          None)
    predictors = []
    for predictor in (child.get("spec") or {}).get("predictors") or []:
        version = str((predictor.get("annotations") or {}).get("version") or "")
        predictors.append({**predictor, "traffic": 100 if version == stable[0] else 0}
                          if not predictor.get("shadow") else predictor)
    patch = {"metadata": {"resourceVersion": str((child.get("metadata") or {}).get(
        "resourceVersion") or "")}, "spec": {"predictors": predictors}}
    try:
        if not isinstance(deps.cluster, _MergePatches):
            raise KubeError("this cluster client cannot patch without applying")
        patched = deps.cluster.merge_patch(deps.backend.api_version, deps.backend.plural,
                                           owner.namespace, owner.name, patch)
    except KubeError as error:
        if error.status == 409:
            _read_child_again(owner, deps)
        why = (f"being deleted, held by finalizer(s) {held}: canary {canary[0]}'s "
               f"{canary[1]}% of the traffic not withdrawn yet: {error}")
        log.warning("UpliftModel %s/%s %s", owner.namespace, owner.name, why)
        # Tried again soon only when another try may succeed: the graph changed meanwhile
        # (409, read again above), no answer (0) or the API server's failure (5xx, 429); not
        # a refusal that the same patch meets again (403, 422: an admission policy).
        again = error.status in (0, 409, 429) or error.status >= 500
        return PassResult(status, (Event("Warning", CANARY_NOT_WITHDRAWN, why[:MAX_MESSAGE]),),
                          WITHDRAW_RETRY_SECONDS if again else None)
    if (isinstance(deps.cluster, WatchedCluster) and patched
            and deps.backend.plural in deps.cluster.objects.plurals):
        # The next look (the echo of the status write below is the next watch event) sees
        # the patch, not the graph as the watch last brought it: else it patched again on
        # that older resourceVersion, was refused 409 and warned CanaryNotWithdrawn.
        deps.cluster.objects.observe(deps.backend.plural, patched)
    message = (f"being deleted, held by finalizer(s) {held}: canary {canary[0]}'s traffic "
               f"withdrawn ({canary[1]}% → 0%), stable {stable[0]} takes 100%")
    status.update(canaryWeight=0, message=message[:MAX_MESSAGE],
                  servingSplit=_serving_split(patched, None, None, deps))
    return PassResult(status, (Event("Warning", CANARY_WITHDRAWN, message[:MAX_MESSAGE]),),
                      None)


def _behind(body: Mapping[str, Any]) -> PassResult:
    """A pass that decides nothing (its body is behind the serving graph): the status as it is,
    no event, and a look again shortly."""
    log.info("UpliftModel %s/%s: the serving graph was decided on a newer body than this pass "
             "sees; deciding again once the watch catches up", body["metadata"].get("namespace"),
             body["metadata"].get("name"))
    return PassResult(dict(body.get("status") or {}), (), BEHIND_RETRY_SECONDS)


#: How soon a pass whose model reference did not resolve asks MLflow again the first time; the
#: wait then doubles up to ``UNRESOLVED_RETRY_CAP_SECONDS`` (``domain.retry``, each model
#: stretched by up to a quarter of its own) for as long as it fails for the same reason.
UNRESOLVED_RETRY_SECONDS = 10.0
UNRESOLVED_RETRY_CAP_SECONDS = 300.0


def _model_key(owner: Owner) -> tuple[str, str, str]:
    return (KIND, owner.namespace, owner.name)


def _unresolved_retry(owner: Owner, reason: str, deps: Dependencies, now: dt.datetime) -> float:
    """Seconds until the pass of a model whose reference does not resolve, for ``reason``, asks
    again: ``UNRESOLVED_RETRY_SECONDS`` after the first such pass, doubling to
    ``UNRESOLVED_RETRY_CAP_SECONDS`` while the reason stays (a new reason, or a pass that
    resolves, starts over: ``deps.unresolved``). Every 10 s for ever, 10,000 models held
    through an MLflow outage made 1,000 passes a second, ahead of every rollback pass on the
    pool. An alias follower is woken sooner by the shared poller when its alias's read stops
    failing or moves (``Resolver._tell``); the phase turns Degraded when its grace ends
    whatever the backoff (``stuck``: its own due time)."""
    key = _model_key(owner)
    since = deps.unresolved.failing(key, reason, now)
    return retry_after(since, now, spread_of("/".join(key)), first=UNRESOLVED_RETRY_SECONDS,
                       cap=UNRESOLVED_RETRY_CAP_SECONDS)


def _next_pass(decision: ramp.Decision, retry: float | None) -> float | None:
    """When the next pass is due (seconds; None: only when something changes): the ramp's
    next time, and ``retry``, that of an unresolved reference (``_unresolved_retry``). An
    alias is not re-read here: the shared poller reads it and wakes the pass when it moved
    (``handlers.registry_polling``)."""
    due = [decision.requeue_after.total_seconds()] if decision.requeue_after else []
    if retry is not None:
        due.append(retry)  # serving is untouched meanwhile
    return min(due, default=None)


def _validate(body: Mapping[str, Any], deps: Dependencies) -> tuple[UpliftModelSpec | None, list[str]]:
    """The typed spec and what is wrong with it (schema, then what only the operator knows).
    A spec whose only schema errors are string patterns an earlier release did not have, on a
    value the API server kept (``_stored_before_patterns``), is typed all the same, with those
    problems: its pass holds it as InvalidSpec and still acts on an abort or an emergency
    rollback, as the other checks' problems do."""
    raw = body.get("spec") or {}
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    canary = bool((body.get("status") or {}).get("canaryVersion"))

    def said(problems: list[str]) -> list[str]:
        """While a canary runs the API server refuses any change of spec.experiment."""
        return validation.while_a_canary_runs(problems, namespace, name) if canary else problems

    try:
        spec = UpliftModelSpec.model_validate(raw)
    except ValidationError as error:
        stored = _stored_before_patterns(raw, error)
        if stored is None:
            return None, said(validation.schema_problems(error))
        checked, spec, refused = stored
    else:
        checked, refused = spec, []
    return spec, said([*refused, *validated(lambda: validation.validate_upliftmodel(
        checked, deps.metric_templates, namespace=namespace, name=name, policy=deps.policy),
        f"{KIND} {namespace}/{name}")])


def _tracking_uri_stand_in(value: str) -> tuple[str | None, str]:
    """A tracking URI with userinfo (refused since the CRD's rule on it): the URL without it,
    and the problem, which never quotes the URL (it holds the credentials)."""
    return (shown_url(value) if has_userinfo(value) else None,
            f"spec.{_TRACKING_URI_REFUSED}")


def _registered_model_stand_in(value: str) -> tuple[str | None, str]:
    """A registered model name with control characters, ``?`` or ``/`` (refused since the
    CRD's pattern on it): the name with each replaced, and the problem, which does not quote
    the name (it would drive the reader's terminal)."""
    return (re.sub(NOT_IN_A_REGISTERED_MODEL, "_", value),
            "spec.model.registeredModel: must not hold control characters (it is printed in "
            "status messages, events and by kubectl uplift), ? or / (the serving pods load "
            "models:/<name>/<version>, which cannot carry them); the name is immutable, so "
            "create an UpliftModel under a new name for a registered model without them, then "
            "delete this one")


#: The fields of ``spec.model`` whose string pattern this release added or narrowed, each with
#: the stand-in the rest of the spec is checked with and the problem it is. An object stored
#: before keeps its value (the API server does not check an unchanged value again), and its
#: serving pods were rendered from it: the pass holds it as InvalidSpec, and renders the value
#: as stored, so that an abort or an emergency rollback acts and the stable serves as it did.
_PATTERNS_ADDED: dict[str, tuple[str, Callable[[str], tuple[str | None, str]]]] = {
    "trackingUri": ("tracking_uri", _tracking_uri_stand_in),
    "registeredModel": ("registered_model", _registered_model_stand_in),
}
NOT_IN_A_REGISTERED_MODEL = re.compile(r"[\x00-\x1f\x7f-\x9f?/]")
#: What the CRD's rule says of a tracking URI with userinfo ("model.trackingUri must not hold
#: credentials ... name it in model.credentials").
_TRACKING_URI_REFUSED = str(TRACKING_URI_RULE["message"]) if isinstance(TRACKING_URI_RULE,
                                                                        dict) else ""


def _stored_before_patterns(raw: Mapping[str, Any], error: ValidationError) -> tuple[
        UpliftModelSpec, UpliftModelSpec, list[str]] | None:
    """When ``error``'s only refusals are patterns of ``_PATTERNS_ADDED`` on values an earlier
    release stored: the spec checked with their stand-ins (what the operator's checks read: no
    check quotes the stored value), the same spec with the stored values (what is rendered),
    and the problems. None for any other schema error (the spec is not typed: as before)."""
    model = raw.get("model")
    if not isinstance(model, Mapping):
        return None
    stand_ins: dict[str, Any] = dict(model)
    stored: dict[str, str] = {}
    problems: list[str] = []
    for refusal in error.errors(include_input=False):
        where = tuple(refusal["loc"])
        added = (_PATTERNS_ADDED.get(str(where[1])) if len(where) == 2 and where[0] == "model"
                 else None)
        value = model.get(str(where[1])) if added is not None else None
        if (added is None or refusal["type"] != "string_pattern_mismatch"
                or not isinstance(value, str)):
            return None
        field_name, stand_in_for = added
        stand_in, problem = stand_in_for(value)
        if stand_in is None:
            return None
        stand_ins[str(where[1])] = stand_in
        stored[field_name] = value
        problems.append(problem)
    try:
        checked = UpliftModelSpec.model_validate({**raw, "model": stand_ins})
    except ValidationError:
        return None
    served = checked.model_copy(update={"model": checked.model.model_copy(update=stored)})
    return checked, served, problems


def _resolve(spec: UpliftModelSpec, owner: Owner, deps: Dependencies,
             now: dt.datetime) -> tuple[Registry | None, Resolution, list[str], bool]:
    """The version the spec means now (MLflow, cached by the resolver), what does not fit
    the context it resolves in: the credentials Secret the spec names, the signature and the
    treatments of that version (problems, each naming the field), and whether the credentials
    the spec names, if any, were read and fit (the pods may be given them)."""
    registry, problems, unavailable, credentials_fit = _registry(spec.model, owner.namespace,
                                                                 deps)
    scope = registry_scope(spec.model, owner.namespace, deps)
    if registry is None:
        if spec.model.alias is not None:  # nor may the poller read it with revoked credentials
            deps.resolver.forget_client((scope, spec.model.registered_model, spec.model.alias))
        unasked = unavailable or Unasked(cond.REGISTRY_UNAVAILABLE, "")
        return (None, Resolution(None, unasked.reason, unasked.message), problems,
                credentials_fit)
    resolution = deps.resolver.resolve(scope, spec.model, registry, now)
    if not resolution.ok or resolution.desired is None:
        return registry, _whose(resolution, spec.model, owner.namespace), [], True
    try:
        contract = deps.resolver.contract(scope, spec.model.registered_model,
                                          resolution.desired, registry)
    except RegistryError as error:  # not judged, so not deployed
        return registry, _whose(Resolution(
            resolution.desired, _contract_reason(error, deps.resolver.not_serving(scope, error)),
            f"reading what version {resolution.desired.version} takes and scores: {error}"),
            spec.model, owner.namespace), [], True
    return registry, resolution, validation.validate_against_model(spec, contract), True


def _whose(resolution: Resolution, ref: ModelReference, namespace: str) -> Resolution:
    """``resolution``, its message saying whose credentials MLflow refused when it did
    (``CredentialsRefused``): the Secret the spec names, namespace/name and keys, else that
    none were given. The resolver keeps its answer per scope and does not know the namespace."""
    if resolution.reason != cond.CREDENTIALS_REFUSED:
        return resolution
    secret = ref.credentials
    if secret is None:
        whose = ("no credentials were given: spec.model.credentials names no Secret, so MLflow "
                 "was asked anonymously")
    else:
        keys = ", ".join(f"{field} {key}" for field, key in (
            ("tokenKey", secret.token_key), ("usernameKey", secret.username_key),
            ("passwordKey", secret.password_key)) if key)
        whose = (f"the credentials are Secret {namespace}/{secret.name}'s ({keys}): fix them "
                 "there, or grant their user the permission in MLflow")
    return replace(resolution, message=f"{resolution.message}; {whose}")


def _recorded_roles(spec: UpliftModelSpec, registry: Registry | None,
                    current: UpliftModelStatus, desired: str | None, owner: Owner,
                    deps: Dependencies | None = None,
                    ) -> tuple[ramp.RecordedRoles | None, Resolution | None]:
    """On a pass with nothing stable or ramping in the status (a first version, or an object
    whose status was lost: deleted and applied again, replaced, restored without status), what
    the role tags this operator wrote to MLflow say (``ramp.RecordedRoles``): the desired
    version's role, and the version the promotion alias points at if it is tagged ``stable``
    and ready. Two reads, on such passes only (every later pass has a stable version), and
    none without a promotion alias (no answer could be made of them). The desired version's
    tags are shared by every pass asking for them with the same registry identity
    (``run_cache.VersionTagReads``: read once per ``VERSION_TAGS_TTL_SECONDS``, and again
    after this process writes one of that version's tags): a thousand UpliftModels applied on
    one version read it about once, not each at each of its first passes. A
    version ``retired`` by its UpliftModel's deletion mid-ramp (its reason starts with
    ``DELETED_MID_RAMP``: ``retire_deleted_canary``) counts as the ``canary`` it was: the
    object deleted and applied again ramps it from step 1, as before that retirement existed;
    so does one ``retired`` when the spec withdrew it (its reason starts with
    ``SPEC_WITHDREW``), as it would with the status kept (a new canary).
    None when the desired version is no rolled-back or canary one, the spec names no promotion
    alias (the one place the operator keeps the stable's number in MLflow; without it the
    desired version is served as a first version, as ever), or MLflow says there is no such
    alias (``RegistryNotFound`` of the alias read: nothing recorded as stable). Any other
    failure of either read leaves the roles unknown: then the second value, the resolution the
    pass reports instead of the desired version's (``_roles_unknown``), retried with the
    unresolved back-off, so that nothing is decided of that version (taken as a first
    version, a rolled-back one would serve at 100 % and be tagged ``stable``, its reason
    deleted and the promotion alias moved onto it) until MLflow answers: MLflow's answer that
    the desired version does not exist (deleted since it resolved: the resolver may still
    hold its facts) is ``ModelNotFound``; an outage (a 5xx, a timeout, a request the breaker
    failed fast) ``RegistryUnavailable``, waited for; a 401/403 ``CredentialsRefused``;
    another refusal ``InvalidModel``, as for its contract (``_contract_reason``); an answer
    not MLflow's (``RegistryNotMlflow``: a wrong URI, an MLflow before 2.3 with no alias
    endpoint) as the resolver takes it (``Resolver.not_serving``): an outage at a tracking
    URI that answered as MLflow before in this process, else ``InvalidModel``."""
    alias = spec.model.promotion_alias
    if (registry is None or desired is None or alias is None
            or current.stable_version is not None or current.canary_version is not None):
        return None, None
    model = spec.model.registered_model
    try:
        tags = _version_tags(registry, model, desired)
    except RegistryError as error:  # not found too: the version, gone since it resolved
        return None, _roles_unknown(spec, desired, "its role tags", error, owner, deps)
    role = tags.get(ROLE_TAG)
    if role == "retired" and str(tags.get(REASON_TAG, "")).startswith(
            (DELETED_MID_RAMP, SPEC_WITHDREW)):
        role = ramp.ROLE_CANARY
    if role not in (ramp.ROLE_ROLLED_BACK, ramp.ROLE_CANARY):
        return None, None
    try:
        stable = registry.resolve(model, alias=alias)
    except RegistryNotFound:  # MLflow's answer: no such alias, so nothing recorded as stable
        return None, None
    except RegistryError as error:
        return None, _roles_unknown(spec, desired, f"the version promotionAlias {alias} names",
                                    error, owner, deps)
    version = str(stable.version)
    if version == desired or stable.tags.get(ROLE_TAG) != "stable" or not stable.ready:
        return None, None
    return ramp.RecordedRoles(desired_role=str(role), stable=version,
                              reason=str(tags.get(REASON_TAG, ""))), None


def _roles_unknown(spec: UpliftModelSpec, desired: str, read: str, error: RegistryError,
                   owner: Owner, deps: Dependencies | None) -> Resolution:
    """The resolution a status-less pass reports when reading ``read`` (the desired version's
    role tags, or the version its promotion alias names) failed with ``error``
    (``_recorded_roles``): its reason, and a message saying what holds version ``desired``
    and until when, worded by that reason (MLflow answered a refusal: no wait clears it). The
    pass's message reads "waiting for the model reference to resolve to a version: <reason>:
    <message>" (``_status``): the version is held unresolved."""
    not_mlflow = isinstance(error, RegistryNotMlflow)
    if isinstance(error, RegistryNotFound):
        return Resolution(None, cond.MODEL_NOT_FOUND, (
            f"version {desired} is held unresolved: MLflow says it does not exist (deleted "
            f"since it resolved?) when asked for {read}: {error}; nothing is served or "
            f"decided of it until it is there again or the spec names another version"))
    # An answer not MLflow's is an outage only at a URI that answered as MLflow before, as
    # the resolver's reads take it (``_failed_read``, ``_contract_reason``).
    reason = _contract_reason(error, not not_mlflow or (
        deps is not None
        and deps.resolver.not_serving(registry_scope(spec.model, owner.namespace, deps), error)))
    if not_mlflow and reason == cond.INVALID_MODEL:
        until = ("the tracking URI answers as MLflow (a wrong URI, a missing path prefix, or "
                 "an MLflow before 2.3, which has no alias endpoints)")
    else:
        until = {cond.REGISTRY_UNAVAILABLE: "MLflow answers",
                 cond.CREDENTIALS_REFUSED: "MLflow accepts the credentials"}.get(
                     reason, "MLflow no longer refuses the read")
    return _whose(Resolution(None, reason, (
        f"version {desired} is held unresolved until {until}: whether it may serve (was it "
        f"rolled back or ramping before the status was lost?) is not known, reading {read} "
        f"in MLflow failed: {error}; nothing is served or decided of it meanwhile")),
        spec.model, owner.namespace)


def _version_tags(registry: Registry, model: str, version: str) -> Mapping[str, str]:
    """The tags of ``version`` of ``model``: shared across passes by a client that can
    (``run_cache.ReadsVersionTags``), else read (``GET model-versions/get``)."""
    if isinstance(registry, ReadsVersionTags):
        return registry.version_tags(model, version)
    return getattr(registry.resolve(model, version=version), "tags", None) or {}


def _contract_reason(error: RegistryError, not_serving: bool = True) -> str:
    """The ``ModelResolved`` reason of a version whose contract could not be read: MLflow out
    of reach is an outage (``RegistryUnavailable``, waited for); the credentials refused or
    their user denied the read (401/403: e.g. READ on the registered model but not on its
    run's experiment) is ``CredentialsRefused``; the version gone since it resolved is
    ``ModelNotFound``; anything else MLflow answered (an MLmodel that does not parse, one over
    ``MAX_MLMODEL_BYTES``, a request it refused) is the version's own and stays so
    (``InvalidModel``): each but the outage turns Degraded after the grace. An answer not
    MLflow's (``RegistryNotMlflow``: a wrong URI or path prefix, a body that is not MLflow's
    JSON) is an outage only when ``not_serving`` (``Resolver.not_serving``, as the resolver's
    reads take it: a 404 at a URI that answered as MLflow before), else ``InvalidModel``
    (the role reads of ``_roles_unknown`` take it so too)."""
    if isinstance(error, CredentialsRefused):
        return cond.CREDENTIALS_REFUSED
    if isinstance(error, RegistryNotMlflow) and not not_serving:
        return cond.INVALID_MODEL
    if isinstance(error, RegistryUnavailable):
        return cond.REGISTRY_UNAVAILABLE
    if isinstance(error, RegistryNotFound):
        return cond.MODEL_NOT_FOUND
    return cond.INVALID_MODEL


def measured_gates(spec: Mapping[str, Any] | None, status: Mapping[str, Any]) -> dict[str, str]:
    """The UpliftModel's gates its analyses go on measuring, each name with its type (as the spec
    says), in the state ``status`` (wire form) says: while a canary is out beside a stable version
    (``_measure``), the gates an analysis measures (``domain.canary.gates_to_measure``: the offline
    ones before traffic, then the others and any offline gate not passed under its current
    settings); none once the canary is gone (promoted, rolled back, aborted, withdrawn by the spec)
    nor while the spec is invalid (no gate is judged). What the operator's metrics export a gate's
    verdict for (``handlers.observability``), whatever the phase says: a ramp whose spec has not
    taken effect (``domain.stuck``: Degraded) goes on analysing, and a verdict kept in status from
    an ended canary is history, whose Error tickets nobody."""
    if any(c.get("type") == cond.INVALID_SPEC and c.get("status") == "True"
           for c in status.get("conditions") or []):
        return {}
    if not status.get("canaryVersion") or not status.get("stableVersion"):
        return {}
    try:
        parsed_spec = UpliftModelSpec.model_validate(spec or {})
        # Only what decides which gates are measured: not the gates' evidence, nor the history.
        current = UpliftModelStatus.model_validate({
            **{key: status[key] for key in ("canaryVersion", "stableVersion", "canaryWeight")
               if key in status},
            "gates": [{key: gate[key] for key in ("name", "verdict", "time", "settingsDigest")
                       if key in gate} for gate in status.get("gates") or []]})
    except ValidationError:
        return {}
    return {gate.name: gate.type for gate in ramp.gates_to_measure(parsed_spec, current)}


def followed_alias(body: Mapping[str, Any],
                   deps: Dependencies) -> tuple[AliasKey, dt.timedelta] | None:
    """The alias the UpliftModel ``body`` follows, as the shared resolver knows it, and how
    often it wants it re-read (None: a pinned version, or a spec that does not parse)."""
    try:
        spec = UpliftModelSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None
    if spec.model.alias is None:
        return None
    try:
        interval = parse_duration(spec.model.alias_refresh_interval)
    except ValueError:  # longer than any duration (InvalidSpec): nothing resolves it meanwhile
        return None
    scope = registry_scope(spec.model, str(body["metadata"]["namespace"]), deps)
    return (scope, spec.model.registered_model, spec.model.alias), interval


#: The status fields naming the versions whose facts and contract the next passes ask (the
#: desired one's contract, the stable and canary runs of an analysis, a Campaign's stable).
FOLLOWED_VERSION_FIELDS = ("stableVersion", "canaryVersion", "desiredVersion")


def followed_versions(body: Mapping[str, Any], status: Mapping[str, Any],
                      deps: Dependencies) -> frozenset[VersionKey]:
    """The versions the UpliftModel ``body`` follows after a pass that left ``status`` (wire
    form), as the shared resolver knows them: its stable, canary and desired ones, whose facts
    and contracts the resolver keeps while followed (``Resolver.follow_versions``). None for a
    spec that does not parse."""
    try:
        spec = UpliftModelSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return frozenset()
    scope = registry_scope(spec.model, str(body["metadata"]["namespace"]), deps)
    return frozenset((scope, spec.model.registered_model, str(status[field]))
                     for field in FOLLOWED_VERSION_FIELDS if status.get(field))


def registry_scope(ref: ModelReference, namespace: str, deps: Dependencies) -> Scope:
    """Whose answers from the registry this resource may share: the same tracking URI (a
    trailing ``/`` aside, as the client's identity: ``run_cache.identity``) asked anonymously,
    or with the same keys of the same Secret of the same namespace (two keys of one Secret may
    hold two MLflow users, who may read different models)."""
    uri = (ref.tracking_uri or deps.default_tracking_uri or "").rstrip("/")
    secret = ref.credentials
    if secret is None:
        return (uri, "", "")
    keys = (("tokenKey", secret.token_key), ("usernameKey", secret.username_key),
            ("passwordKey", secret.password_key))
    return (uri, namespace, secret.name + "".join(f" {field}={key}" for field, key in keys
                                                  if key))


def _registry(ref: ModelReference, namespace: str,
              deps: Dependencies) -> tuple[Registry | None, list[str], Unasked | None, bool]:
    """The registry client for ``ref`` with the credentials Secret it names: (client, problems
    with the Secret's content, why MLflow cannot be asked: the Secret unreadable, no tracking
    URI; whether the credentials, if any, were read and fit); the client is None unless the
    problems and the why are empty."""
    credentials, problems, unavailable = _credentials(ref, namespace, deps)
    if problems or unavailable is not None:
        return None, problems, unavailable, False
    try:
        registry = deps.registry_for(ref, credentials)
    except ValueError as error:  # no tracking URI: configuration, never cleared by waiting
        return None, [], Unasked(cond.TRACKING_URI_MISSING, str(error)), True
    read = _credentials_read(ref, namespace)
    if read is None:
        return registry, [], None, True
    # Refused (rotated, revoked): the Secret is read again by the next pass, not in 15 min.
    def refused() -> None:
        deps.credential_reads.discard(read, older_than=CREDENTIALS_REFUSED_REREAD)

    if isinstance(registry, ListsAliases):  # the alias poller sweeps with it
        return _RefusalToldLister(registry, registry, refused), [], None, True
    return _RefusalTold(registry, refused), [], None, True


def version_run(model: Mapping[str, Any], version: str,
                deps: Dependencies) -> tuple[Registry, str] | str:
    """The registry client and MLflow run id of ``version`` of the UpliftModel ``model`` (its
    body), read as the model's own pass reads them (the credentials Secret and tracking URI its
    spec names; the version's facts through the shared resolver, cached once READY): what a
    Campaign's drift gate takes its training reference from. Else why they cannot be had now
    (MLflow unreachable, the Secret unreadable or malformed, the version without a run), for
    the caller to hold on; nothing here raises for a source that failed."""
    try:
        spec = UpliftModelSpec.model_validate(model.get("spec") or {})
    except ValidationError:
        return f"the spec of UpliftModel {model['metadata']['name']!r} does not parse"
    registry, problems, unavailable, _fit = _registry(
        spec.model, str(model["metadata"]["namespace"]), deps)
    if registry is None:
        return unavailable.message if unavailable is not None else "; ".join(problems)
    name = spec.model.registered_model
    try:
        scope = registry_scope(spec.model, str(model["metadata"]["namespace"]), deps)
        run_id = deps.resolver.facts(scope, name, version, registry).run_id
    except RegistryError as error:
        return f"reading version {version} of {name} from MLflow: {error}"
    if run_id is None:
        return f"version {version} of {name} has no MLflow run"
    return registry, run_id


_R = TypeVar("_R")


class _RefusalTold:
    """A registry client built with the credentials of a Secret, telling ``refused`` when MLflow
    refuses them (``REFUSED_CREDENTIALS_STATUS``), whatever asked it: the pass, the alias poller
    (which reads with the last pass's client), a gate's reads, the write-back worker. The
    error is raised on as it came."""

    def __init__(self, registry: Registry, refused: Callable[[], object]) -> None:
        self._registry = registry
        self._refused = refused

    @property
    def who(self) -> object:
        """The client's registry identity (``run_cache.CachingRegistry.who``), None if it has
        none: the alias poller shares a sweep by it."""
        return getattr(self._registry, "who", None)

    def _asked(self, call: Callable[[], _R]) -> _R:
        try:
            return call()
        except RegistryError as error:
            if error.status_code in REFUSED_CREDENTIALS_STATUS:
                self._refused()
            raise

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        return self._asked(lambda: self._registry.resolve(name, version=version, alias=alias))

    def version_tags(self, name: str, version: str) -> Mapping[str, str]:
        """The version's tags, through the client's shared reads if it has them
        (``run_cache.VersionTagReads``)."""
        return self._asked(lambda: _version_tags(self._registry, name, version))

    def run_metrics(self, run_id: str) -> Mapping[str, float]:
        return self._asked(lambda: self._registry.run_metrics(run_id))

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        return self._asked(lambda: self._registry.download_artifact_json(run_id, path))

    def run_tags(self, run_id: str) -> Mapping[str, str]:
        return self._asked(lambda: self._registry.run_tags(run_id))

    def model_signature(self, name: str, version: str) -> Mapping[str, Any] | None:
        return self._asked(lambda: self._registry.model_signature(name, version))

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._asked(lambda: self._registry.set_version_tag(name, version, key, value))

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        self._asked(lambda: self._registry.delete_version_tag(name, version, key))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._asked(lambda: self._registry.set_alias(name, alias, version))


class _RefusalToldLister(_RefusalTold):
    """A ``_RefusalTold`` of a client that lists the registry's aliases (``ListsAliases``):
    the alias poller sweeps the aliases followed with credentials too (without it, each was
    read by itself, a request per alias per interval)."""

    def __init__(self, registry: Registry, lister: ListsAliases,
                 refused: Callable[[], object]) -> None:
        super().__init__(registry, refused)
        self._lister = lister  # the same client as ``registry``

    def registered_aliases(self, max_pages: int | None = None) -> AliasListing:
        return self._asked(lambda: self._lister.registered_aliases(max_pages=max_pages))


def _credentials_read(ref: ModelReference,
                      namespace: str) -> tuple[str, str, tuple[str, ...]] | None:
    """What the credentials Secret ``ref`` names is read (and cached) by: (namespace, name,
    keys); None when it names none."""
    secret = ref.credentials
    if secret is None:
        return None
    keys = (secret.token_key, secret.username_key, secret.password_key)
    return namespace, secret.name, tuple(k for k in keys if k)


@dataclass(frozen=True)
class Unasked:
    """Why MLflow cannot be asked in this pass: a ``ModelResolved`` reason and its message."""

    reason: str
    message: str


#: The API server's answers to a credentials Secret's read that do not change by themselves:
#: not there (404) and not readable by the operator (403: its RBAC does not list the name).
_SECRET_ANSWERED = frozenset({403, 404})


def _credentials(ref: ModelReference, namespace: str,
                 deps: Dependencies) -> tuple[Credentials | None, list[str], Unasked | None]:
    """The registry credentials the spec names: (credentials, problems with the Secret's
    content, why the Secret cannot be read). A missing Secret is waited for (GitOps may apply
    it next) as ``CredentialsUnreadable``, which ``domain.stuck`` turns Degraded after its
    grace, as a Secret the operator may not read (403); any other failure to read it (the
    API server unreachable) as ``RegistryUnavailable``. A missing key or a malformed value is
    a problem naming the Secret and key. A good read is kept ``CREDENTIALS_TTL_SECONDS``,
    unless MLflow refuses it first."""
    secret, read = ref.credentials, _credentials_read(ref, namespace)
    if secret is None or read is None:
        return None, [], None
    keys = list(read[2])
    values = deps.credential_reads.get(read)
    if values is None:
        try:
            values = deps.cluster.secret_values(namespace, secret.name, keys)
        except KubeError as error:
            reason = (cond.CREDENTIALS_UNREADABLE if error.status in _SECRET_ANSWERED
                      else cond.REGISTRY_UNAVAILABLE)
            return None, [], Unasked(reason, f"credentials: {error}")
        problems = validation.credential_problems(secret.name, keys, values)
        if problems:
            return None, problems, None  # not kept: the fix is seen at the next retry
        deps.credential_reads.put(read, values)
    text = {key: values[key].decode() for key in keys}
    if secret.token_key:
        return Credentials.bearer(text[secret.token_key]), [], None
    if secret.username_key and secret.password_key:
        return Credentials.basic(text[secret.username_key], text[secret.password_key]), [], None
    # The CRD's rules refuse this; a resource stored under an older CRD may still have it.
    return None, ["spec.model.credentials: set tokenKey, or usernameKey and passwordKey"], None


def _observe(current: UpliftModelStatus, owner: Owner, deps: Dependencies,
             desired: str | None = None) -> tuple[dict[str, Any] | None, frozenset[str],
                                                  frozenset[str], bool]:
    """The serving graph as it is, which versions in it are ready (the whole graph ready: each
    may be given traffic), which serve (their pods available, the graph ready or not: a stable
    version keeps serving while a canary's pods start), and whether it splits traffic
    as the status says (not after a pass that applied a new step and died before its status
    patch, nor while someone's hand edit waits to be reverted). With nothing stable in the
    status yet, the graph is looked at for the ``desired`` first version: a pass after the one
    that created it sees it serve before any status was written (``first_status_wait``)."""
    child = deps.cluster.get(deps.backend.api_version, deps.backend.plural, owner.namespace,
                             owner.name)
    split_now = _split_of(current)
    looked_for = split_now or (TrafficSplit(desired, None, 0) if desired else None)
    serving = deps.backend.observe(child, looked_for) if looked_for else None
    ready = serving.ready_versions if serving and serving.ready else frozenset()
    serves = ready | (serving.serving_versions if serving else frozenset())
    declared = {v: w for v, w in _describe_weights(split_now).items() if w} if split_now else {}
    as_status = (split_now is not None and serving is not None
                 and {v: w for v, w in serving.weights if w} == declared)
    return child, ready, serves, as_status


def _serving_failure(child: dict[str, Any] | None, current: UpliftModelStatus,
                     deps: Dependencies, serves: frozenset[str]) -> str | None:
    """The serving backend's failure of the graph (SeldonDeployment ``Failed`` and its
    description), naming which version of the status's split does not serve (stable, canary),
    or None when the backend reports no failure."""
    split = _split_of(current)
    if child is None or split is None:
        return None
    state = deps.backend.observe(child, split)
    if not state.failed:
        return None
    down = [f"{role} {version}" for role, version in (("stable", split.stable_version),
                                                       ("canary", split.canary_version))
            if version is not None and version not in serves]
    where = " and ".join(down) + " not serving" if down else "every version still serves"
    return f"{where}: {state.message}"


def _graph_short(child: dict[str, Any] | None, current: UpliftModelStatus,
                 deps: Dependencies) -> tuple[str, ...]:
    """The graph's workloads short of their replicas while it serves
    (``ServingState.short``), for the ramp to name while it waits (``graph_not_ready``)."""
    split = _split_of(current)
    if child is None or split is None:
        return ()
    return deps.backend.observe(child, split).short


def _partial_versions(child: Mapping[str, Any] | None, deps: Dependencies,
                      serves: frozenset[str]) -> frozenset[str]:
    """The versions of ``serves`` (their own predictor has an available pod) whose Deployment
    is not whole: a pod of it not available (one replica crash-looping), fewer available than
    its predictor wants, or no status for it yet (``ServingState.unavailable``, read of that
    predictor alone). Seldon Core 1.17.1 moves no route while any Deployment of the graph is
    so (docs/dataplane.md, "Routes follow only a graph whose every Deployment is
    available"): a rolled-back version kept at weight 0 for ``scaleDownDelay`` would keep its
    old share of the traffic meanwhile, so it is not kept (``ramp.Observed.partial_versions``).
    Versions that do not serve at all are not named: ``ready_versions`` says those."""
    if child is None or not serves:
        return frozenset()
    spec = child.get("spec") or {}
    partial: set[str] = set()
    for predictor in spec.get("predictors") or []:
        version = str((predictor.get("annotations") or {}).get("version") or "")
        if not version or version not in serves:
            continue
        alone = {**child, "spec": {**spec, "predictors": [predictor]}}
        if deps.backend.observe(alone, TrafficSplit(version, None, 0)).unavailable:
            partial.add(version)
    return frozenset(partial)


def _describe_weights(split: TrafficSplit) -> dict[str, int]:
    weights = {split.stable_version: 100 - split.canary_weight}
    if split.canary_version is not None:
        weights[split.canary_version] = split.canary_weight
    return weights


def _measure(spec: UpliftModelSpec, current: UpliftModelStatus, owner: Owner, deps: Dependencies,
             registry: Registry | None, resolution: Resolution, split_as_status: bool,
             now: dt.datetime) -> list[gates.GateOutcome] | None:
    """Gate outcomes, only when an analysis is due and every source it needs can be asked.
    A canary with no stable version (a status edited by hand) has nothing to be compared with:
    it is not analysed."""
    if (current.canary_version is None or current.stable_version is None
            or not ramp.analysis_due(spec, current, now)):
        return None
    if registry is not None and resolution.reason not in (cond.REGISTRY_UNAVAILABLE,
                                                          cond.CREDENTIALS_REFUSED):
        return _analyse(spec, current, owner, deps, registry, split_as_status, now)
    # MLflow cannot be asked (unreachable, refusing the credentials, or no client: its
    # credentials Secret unreadable).
    # The gates that read the canary's MLflow run (their collector declares it:
    # ``measurements.Collector.reads``) hold, not judged: no error or inconclusive counted
    # towards a rollback or a pause, the version's evidence kept. The others read Prometheus
    # only and are judged as ever (a Fail still rolls back); the ramp itself neither advances
    # nor promotes while the reference does not resolve (domain.canary).
    due = ramp.gates_to_measure(spec, current)
    held = [gate for gate in due if measurements.Source.MLFLOW in measurements.sources_read(
        gate.type)]
    previous = {g.name: g for g in current.gates}
    said = (f"holding: MLflow unavailable ({resolution.message})"
            if resolution.reason == cond.REGISTRY_UNAVAILABLE
            else f"holding: MLflow cannot be asked ({resolution.reason}: {resolution.message})")
    holds = [gates.GateOutcome(
        name=gate.name, verdict=GateVerdict.INCONCLUSIVE, time=now, message=said[:1000],
        memory=gates.memory_of(previous.get(gate.name), gate), holds=True) for gate in held]
    if len(held) == len(due):
        return holds
    return [*holds, *_analyse(spec, current, owner, deps, None, split_as_status, now,
                              [gate for gate in due if gate not in held])]


def _unmeasured(spec: UpliftModelSpec, current: UpliftModelStatus, error: Exception,
                now: dt.datetime) -> list[gates.GateOutcome]:
    """Each gate due an analysis as an Error naming ``error`` (``gates.defect_outcome``) when
    measuring raised unexpectedly: the ramp still decides, so an abort or an emergency rollback
    is acted on, and the failure shows in the gates' status instead of as a crashed pass."""
    previous = {g.name: g for g in current.gates}
    return [gates.defect_outcome(gate, gates.memory_of(previous.get(gate.name), gate), error, now)
            for gate in ramp.gates_to_measure(spec, current)]


def _apply(traffic: TrafficSplit | None, child: dict[str, Any] | None, ready: frozenset[str],
           spec: UpliftModelSpec, owner: Owner, deps: Dependencies, now: dt.datetime, *,
           decided_on: str | None, report_token: tuple[str, str] | None = None,
           credential_env: tuple[tuple[str, str, str], ...] = (),
           runtime: RuntimeSettings | None = None,
           told: list[Event] | None = None,
           edit_rolling: bool = False,
           absence_remembered: bool = False) -> status_logic.Applied | None:
    """Server-side apply the decided graph when what is there differs (a hand edit included),
    its decision-key Secret first (the pods cannot start without it); ``report_token`` is the
    report token reference to render, one the pass found (``_report_token``), and
    ``credential_env`` the MLflow credentials' (the spec's once read, else the graph's own:
    ``ServingBackend.credential_env``); ``runtime``, when given, is rendered instead of the
    spec's (an invalid spec's pass: ``_held_runtime``). The graph is stamped with
    the UpliftModel resourceVersion it was decided on (``DECIDED_ON``), and applied only over
    the version of it this pass read (the apply's resourceVersion precondition): a pass that
    read an older graph than is there raises ``_ChildMovedError`` and decides again.

    A re-render (the graph there already splits the traffic as decided: the same versions and
    weights; only its rendering differs) waits for a slot among the graphs rolling at once
    (``deps.rolls``), the graph kept as it is meanwhile (``Applied.queued``); it holds the slot
    until its graph serves again. Anything that changes the split goes at once, new rendering
    included: a first graph, a canary's start, a step, a promotion, a rollback, an abort. A
    graph this process finds rolling at the model's first pass (a restart mid-roll) counts as
    a roll from then (``Rolls.found``).

    A decision-key Secret created anew under the graph (``_ensure_decision_key``: deleted by
    hand) is told in ``told`` and rendered into every predictor's pod spec
    (``RuntimeSettings.decision_key_created``), so that all of them roll onto the new key (a
    re-render: the split is the same). ``edit_rolling``: the model's status says its graph
    rolls for a spec edit, its timeout not said (``_edit_rolling``): a roll found rolling at a
    restart is this operator's own, its timeout said (``Rolls.found``'s ``told``).

    ``absence_remembered``: the pass found no graph because the watch's store remembers it
    absent (a 404, and no event or apply since: ``adapters.watched``), not because the API
    server just said so. A graph made since without the labels the watch selects by (someone
    else's, or a copy of the model's own) sent no event, and the forced apply would take it
    over: before anything is created over that absence, the graph is read from the API server
    (one GET); found, the pass decides again on it (``_ChildMovedError``: ``ServingConflict``
    if it is not the model's). One made between that read and the apply is not seen: the apply
    is a server-side apply forced (``KubeCluster.apply``), which the API server turns from a
    create into an update of one created meanwhile (kubernetes PR #64892), not a 409; that
    window remains. A create refused 409 all the same (AlreadyExists) reads the graph the
    same way (``_created_meanwhile``): a safety net, for an API server that answers so."""
    if traffic is None:
        return None
    if child is None and absence_remembered:
        try:
            there = _graph_there(owner, deps)
        except KubeError as error:
            return status_logic.Applied(f"{deps.backend.kind} {owner.name}", _describe(traffic),
                                        error=str(error))
        if there is not None:
            raise _ChildMovedError(f"{deps.backend.kind} {owner.namespace}/{owner.name} is "
                                   "there, though the watch's store had it absent")
    roller = (KIND, owner.namespace, owner.name)
    observed = deps.backend.observe(child, traffic) if child is not None else None
    rolling = bool(observed.rolling) if observed is not None else False
    # What a roll that timed out is said failing for: Deployments with a pod not available, or
    # fewer available than wanted ("N of M replicas"). One that only runs more pods than
    # wanted, all available (scaled up by someone else, or a graph an earlier operator rendered
    # whose replicas-only decrease Seldon may never have applied, until this operator's
    # re-render carries the count: ``render.seldon.REPLICAS_ENV``), serves as it is: it ends the slot at
    # the timeout, and degrades nothing.
    failing = observed.unavailable if observed is not None else ()
    # A graph rolling from before this process (a restart mid-roll) counts, on the model's
    # first pass, before this pass or any other is admitted on the count (``Rolls.found``);
    # a spec edit's roll, as the status says (``edit_rolling``), times out as this process's.
    deps.rolls.found(roller, now, version=_resource_version(child), rolling=rolling,
                     told=edit_rolling)
    short = observed.short if observed is not None else ()
    applied = status_logic.Applied(f"{deps.backend.kind} {owner.name}", _describe(traffic),
                                   roll_timed_out=deps.rolls.timed_out(roller, now),
                                   rolling=failing, short=short)
    if runtime is None:
        runtime = _runtime(spec, deps, owner.namespace, owner.name, report_token, credential_env)
    runtime = replace(runtime, decision_key_created=_decision_key_created(owner, child, deps))
    manifest = deps.backend.render(owner, runtime, traffic)
    # The object's annotations count too (the versions' roles), and what an earlier operator
    # rendered that reaches the pods: left there, the split change that finally removes it
    # (a step, a promotion) would roll the pods, unthrottled.
    same_rendering = (child is not None and _same_spec(child.get("spec") or {}, manifest["spec"])
                      and _contains(_annotations(child), _annotations(manifest))
                      and not deps.backend.retired_rendering(child))
    # Its labels too: the watch selects graphs by them (``handlers.watches.GRAPH_SELECTOR``),
    # so a graph whose labels were edited away sends no more events until they are back.
    unchanged = same_rendering and _contains(_labels(child or {}), _labels(manifest))
    unreported = child is not None and not (child.get("status") or {}).get("state")
    serving = set(_describe_weights(traffic)) <= ready
    # A graph short of its replicas only (Seldon says it serves, every pod counted available)
    # has its pods holding the key as a serving one does: not made sure of every 30 s.
    holds_key = serving or bool(short)
    missing_key = _ensure_decision_key(owner, deps, now, settled=unchanged and (
        unreported or holds_key), serves=unchanged and holds_key, graph=child is not None,
        told=told)
    if missing_key is not None:
        return replace(applied, error=missing_key)
    anew = deps.decision_keys_recreated.get((owner.namespace, owner.name, owner.uid))
    if anew is not None and anew != runtime.decision_key_created:  # created anew this pass
        runtime = replace(runtime, decision_key_created=anew)
        manifest = deps.backend.render(owner, runtime, traffic)
        same_rendering = unchanged = False
    if unchanged:  # a roll it holds a slot for is done once Seldon reports the graph serving
        # Rolled only once the slot is released: the status read right after the apply is the
        # old pods' (Available), and Seldon writes Available between two surge batches too.
        rolled = deps.rolls.settle(roller, now, version=_resource_version(child),
                                   serving=serving, rolled=not rolling)
        return replace(applied, settled=serving and not failing, rolled=rolled)
    # Only the object's labels differ (edited away by hand): nothing reaches the pods, so at
    # once and with no roll slot.
    labels_only = same_rendering
    admitted = None
    if not labels_only:
        rerender = child is not None and dict(deps.backend.observe(child, traffic).weights) == (
            _describe_weights(traffic))
        admitted = deps.rolls.admit(roller, now) if rerender else None
        if admitted is None:  # the split changes: at once (a re-render waiting goes with it)
            deps.rolls.unqueue(roller, now)
        elif not admitted.admitted:
            return replace(applied, queued=admitted.message)
    meta = manifest["metadata"]
    if decided_on:
        meta["annotations"] = {**meta.get("annotations", {}), DECIDED_ON: str(decided_on)}
    read = ((child or {}).get("metadata") or {}).get("resourceVersion")
    if read:
        meta["resourceVersion"] = str(read)
    # Whether the apply changes a pod spec of a predictor kept: its pods roll, so Seldon writes
    # a status, and a roll slot it holds waits for it (no ``SILENT_SETTLE``: its silence is a
    # controller down or lagging, the graph still reading the old pods' numbers).
    pods = child is not None and (
        _kept_predictors_change(child, manifest) or deps.backend.retired_rendering(child))
    try:
        result = deps.cluster.apply(manifest, deps.backend.plural)
    except KubeError as error:
        if not labels_only and _apply_in_doubt(error):
            # It may have landed, its pods rolling: a slot held is kept, the roll unconfirmed
            # until a pass reads the graph (freed, the next pass found the graph as decided
            # with no roll held and the old pods' status: the edit rolled, before a new pod ran).
            # Lost again at the next pass (the graph not as decided: the first did not land),
            # the slot is given back (a webhook down holds no slot from the others).
            deps.rolls.unconfirmed(roller, now, pods=pods)
        elif admitted is not None:  # refused: nothing rolls from it, a slot taken for it frees
            # (a 409 keeps an unconfirmed one: the graph moved, perhaps by the lost apply)
            deps.rolls.refused(roller, now, new=admitted.new, conflict=error.status == 409)
        if error.status == 409 and read:
            _read_child_again(owner, deps)
            raise _ChildMovedError(str(error)) from error
        # A safety net: a forced server-side apply that finds the graph created meanwhile
        # updates it (kubernetes PR #64892) rather than being refused AlreadyExists.
        if error.status == 409 and child is None and _created_meanwhile(owner, deps):
            raise _ChildMovedError(str(error)) from error
        return replace(applied, error=str(error))
    if labels_only:
        return replace(applied, changed=True)
    counted = admitted is None and pods
    if counted:
        deps.rolls.counted(roller, now, _resource_version(result))
    deps.rolls.started(roller, now, _resource_version(result), pods=pods)
    # A re-render admitted, or a split change rolling the kept versions' pods: a new roll.
    return replace(applied, changed=True, rolls=admitted is not None or counted)


def _apply_in_doubt(error: KubeError) -> bool:
    """Whether an apply that raised ``error`` may have been saved all the same: no answer came
    (``adapters.kube``'s status 0: no answer in time, the connection lost; one refused before
    the request went reads the same, and is only tried again in the slot kept), or a 5xx (the
    API server's 504 at its request timeout, a 500 or 503 from it or a proxy: the write may
    have gone to etcd). A 4xx is the API server's refusal: nothing was saved."""
    return error.status == 0 or error.status >= 500


def _edit_rolling(conditions: Sequence[Condition]) -> bool:
    """The status says the model's graph rolls for a spec edit (``stuck.spec_edit_rolling``)
    from an apply that went through (``Applied``), its timeout not said yet (a ``RollTimedOut``
    said before a restart is not said again). Not an edit queued (``RollQueued``) or refused
    (``ApplyFailed``): no apply of this operator started a roll, so a graph found rolling then
    rolls for another reason (a crash-looping pod), whose timeout is not the operator's to
    tell."""
    said = stuck.spec_edit_rolling(conditions)
    return said is not None and said.reason == cond.APPLIED


def _read_child_again(owner: Owner, deps: Dependencies) -> None:
    """The apply over the graph this pass read was refused (409): what the watch's store holds
    of it is read again from the API server (one GET), so that the next pass decides on the
    graph there. A graph deleted while the watch was away stays in the store until the existence
    audit finds it (no DELETED event comes): should the API server refuse an apply carrying its
    resourceVersion (whether such an apply creates the object or is refused differs between
    kinds and releases), each pass would otherwise apply over it again, a second apart, until
    then. A failed read changes nothing (the next 409 reads again)."""
    if isinstance(deps.cluster, WatchedCluster):
        with contextlib.suppress(KubeError):
            deps.cluster.read_live(deps.backend.api_version, deps.backend.plural,
                                   owner.namespace, owner.name)


def _graph_absence_remembered(owner: Owner, deps: Dependencies) -> bool:
    """Whether the watch's store remembers the model's graph absent (``adapters.watched``: a
    404, no event or apply since), so that the pass's ``get`` of it answers from memory. Asked
    at the top of the pass, before anything reads the graph (``read_status`` may:
    ``_split_from_graph``, ``_stable_as_served``): a 404 the pass reads from the API server is
    remembered from then on, and needs no second read before the graph is created (``_apply``'s
    ``absence_remembered``)."""
    return isinstance(deps.cluster, WatchedCluster) and deps.cluster.objects.absent(
        deps.backend.plural, owner.namespace, owner.name)


def _graph_there(owner: Owner, deps: Dependencies) -> dict[str, Any] | None:
    """The model's graph as the API server has it now, the store updated with the answer
    (``WatchedCluster.read_live``); raises ``KubeError``."""
    if isinstance(deps.cluster, WatchedCluster):
        return deps.cluster.read_live(deps.backend.api_version, deps.backend.plural,
                                      owner.namespace, owner.name)
    return deps.cluster.get(deps.backend.api_version, deps.backend.plural, owner.namespace,
                            owner.name)


def _created_meanwhile(owner: Owner, deps: Dependencies) -> bool:
    """An apply that was to create the graph was refused 409 (AlreadyExists: one created
    between the pass's read and its apply; hardly on a real API server, where the forced
    server-side apply updates such a graph instead, ``_apply``): whether a read from the API
    server finds it now (the store updated), for the next pass to decide on. A failed read, or
    none there, says no: the refusal is said as any other."""
    try:
        return _graph_there(owner, deps) is not None
    except KubeError:
        return False


def _kept_predictors_change(child: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    """Whether an apply of ``manifest`` over ``child`` changes the rendering of a predictor
    both have (by name, as its Deployment is named; beyond its ``traffic`` and ``replicas``),
    so that its pods roll: any difference (``_same_spec``), a field edited in by hand
    included, which the apply takes out."""
    def by_name(graph: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        return {str(p.get("name")): {k: v for k, v in p.items() if k not in ("traffic", "replicas")}
                for p in (graph.get("spec") or {}).get("predictors") or []}
    before, after = by_name(child), by_name(manifest)
    return any(before[n] != after[n] for n in before.keys() & after.keys())


def _resource_version(obj: Mapping[str, Any] | None) -> str | None:
    version = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


def _decision_key_created(owner: Owner, child: Mapping[str, Any] | None,
                          deps: Dependencies) -> str | None:
    """The ``RuntimeSettings.decision_key_created`` to render: a key created anew that the graph
    does not carry yet (its apply refused, or queued for a roll slot), else the graph's own."""
    known = (owner.namespace, owner.name, owner.uid)
    pending, carried = deps.decision_keys_recreated.get(known), deps.backend.decision_key_created(
        child)
    if pending is not None and pending == carried:
        del deps.decision_keys_recreated[known]  # the graph carries it: nothing pending
    return pending or carried


def _ensure_decision_key(owner: Owner, deps: Dependencies, now: dt.datetime, *,
                         settled: bool, serves: bool, graph: bool,
                         told: list[Event] | None = None) -> str | None:
    """Create the model's decision-key Secret with a fresh random key unless it exists (an
    existing one is never overwritten: the pods that serve hold its key). None when it exists;
    else why not. Once known to exist, asked again only while the graph is not ``settled``
    (changing, or reported with a version not serving), every ``DECISION_KEY_RECHECK``. The key is
    never logged or put into a message.

    A graph that ``serves`` (the model's own, left as it is, Seldon reporting every version of
    its split available) counts as knowing it, even on a process's first pass: its pods could
    only start with the Secret there, and a model whose own graph is there keeps the one its
    pods hold (below). A restart or failover then asks nothing of the settled models.

    One that exists already is looked at once per process and model (uid) before it counts:
    one an UpliftModel of the same name deleted before this one still controls holds the pass
    (the garbage collector deletes it, and the pods would lose their key with it); someone
    else's, or no one's, refuses it (``_ConflictError``, raised) unless the model's own ``graph``
    is there already, whose pods hold that key (``_decision_key_conflict``).

    One created while the model's ``graph`` is there (the Secret deleted by hand) holds a new
    key that the running pods do not: they read theirs once, at their start, and a replica
    refuses reports for ids another signed. A Warning says so (in ``told``), and
    ``deps.decision_keys_recreated`` keeps when, which ``_apply`` renders into every predictor
    so that Seldon rolls them all onto the new key. The time is kept on the Secret too (the
    ``DECISION_KEY_CREATED_UNDER_GRAPH`` annotation, written with it) and read back at a
    process's first look at a graph not serving (``_roll_left_pending``): a restart or
    failover before the graph carries it loses no roll, unless the graph serves at the new
    process's first pass (its pods settled on the old key; nothing is asked of a serving
    graph's Secret then, above), where the roll waits for the next look at the Secret (the
    graph changed, or reported not serving)."""
    known = (owner.namespace, owner.name, owner.uid)
    checked = deps.decision_keys.get(known)
    if checked is not None and (settled or now - checked < DECISION_KEY_RECHECK):
        return None
    name = naming.decision_key_secret(owner.name)
    if serves:  # (nor can a predecessor's Secret be behind it: the graph would be its too)
        deps.decision_keys[known] = now
        return None
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = decision_key.decision_key_secret(owner, deps.new_decision_key())
    if graph:  # kept on the Secret, so that the roll below outlives this process
        manifest["metadata"]["annotations"] = {DECISION_KEY_CREATED_UNDER_GRAPH: stamp}
    try:
        created = deps.cluster.create_secret(manifest)
    except KubeError as error:
        try:  # e.g. create not granted (an older RBAC): one made by hand serves as well
            present = decision_key.DECISION_KEY in deps.cluster.secret_values(
                owner.namespace, name, [decision_key.DECISION_KEY])
        except KubeError:
            present = False
        if not present:
            return f"decision key Secret {owner.namespace}/{name}: {error}"
        created = False
    if created and graph:
        deps.decision_keys_recreated[known] = stamp
        if told is not None:
            told.append(Event("Warning", DECISION_KEY_RECREATED, (
                f"decision-key Secret {owner.namespace}/{name} was missing and is created "
                "anew with a new key: the serving pods read theirs at their start, so pods "
                "started before sign decision ids with the old key and those started after "
                "with the new one, and a replica refuses reports for ids the other kind "
                "issued until all have restarted; every predictor is rolled onto the new "
                "key")[:MAX_MESSAGE]))
    if not created and checked is None:
        secret = _read_decision_key_secret(owner, deps, name)
        if graph:
            _roll_left_pending(owner, deps, secret)
        conflict = _decision_key_conflict(owner, deps, name, secret, graph=graph)
        if conflict is not None:
            raise _ConflictError(conflict)
    deps.decision_keys[known] = now
    return None


class _Unreadable:
    """A decision-key Secret that could not be read (``_read_decision_key_secret``)."""


def _read_decision_key_secret(owner: Owner, deps: Dependencies,
                              name: str) -> Mapping[str, Any] | _Unreadable | None:
    """The decision-key Secret ``name`` (None: absent), once per process and model: whose it
    is (``_decision_key_conflict``) and whether a roll onto it is pending
    (``_roll_left_pending``). One that cannot be read (``rbac.secretNames`` not naming it)
    is ``_Unreadable``."""
    try:
        return deps.cluster.get("v1", "secrets", owner.namespace, name)
    except KubeError as error:
        log.info("UpliftModel %s/%s: decision-key Secret %s cannot be read (%s)",
                 owner.namespace, owner.name, name, error)
        return _Unreadable()


def _roll_left_pending(owner: Owner, deps: Dependencies,
                       secret: Mapping[str, Any] | _Unreadable | None) -> None:
    """The Secret's ``DECISION_KEY_CREATED_UNDER_GRAPH`` time, if it carries one, becomes the
    pending roll (``deps.decision_keys_recreated``): ``_apply`` renders it unless the graph
    carries it already (``_decision_key_created`` then drops it). So a key created anew under
    the graph whose roll was not applied yet when the process that created it ended (a restart,
    a failover) still rolls every predictor onto it, once."""
    if isinstance(secret, _Unreadable) or secret is None:
        return
    stamp = ((secret.get("metadata") or {}).get("annotations") or {}).get(
        DECISION_KEY_CREATED_UNDER_GRAPH)
    if isinstance(stamp, str) and stamp:
        deps.decision_keys_recreated.setdefault((owner.namespace, owner.name, owner.uid), stamp)


def _decision_key_conflict(owner: Owner, deps: Dependencies, name: str,
                           secret: Mapping[str, Any] | _Unreadable | None, *,
                           graph: bool) -> Conflict | None:
    """Why the decision-key Secret ``name`` that exists (read: ``secret``) must not be used, if
    it must not. A predecessor's (an UpliftModel of the same name, another uid) holds the pass
    whatever the graph: the garbage collector deletes it. Someone else's, or no one's, is
    refused for a new model; a model whose own ``graph`` is there keeps it: its pods sign with
    that key already (users made these Secrets by hand before the operator created them,
    63595dc), the operator never writes it, and refusing would stop that model's rollouts and
    rollbacks. A Secret that cannot be read (``rbac.secretNames`` not naming it) or is gone
    again cannot be judged: it counts as before, present."""
    if isinstance(secret, _Unreadable):
        log.info("UpliftModel %s/%s: whose decision-key Secret %s is cannot be read; "
                 "used as it is", owner.namespace, owner.name, name)
        return None
    conflict = ownership_conflict(secret, owner, f"Secret {owner.namespace}/{name}")
    if conflict is None or conflict.predecessor or not graph:
        return conflict
    log.info("UpliftModel %s/%s: its graph serves with decision-key Secret %s, which it does "
             "not control (%s); kept", owner.namespace, owner.name, name,
             conflict.controller or "no controller")
    return None


class _ConflictError(Exception):
    """An object of the model's names is not the model's (``Conflict``): nothing is applied."""

    def __init__(self, conflict: Conflict) -> None:
        super().__init__(conflict.message)
        self.conflict = conflict


def _conflicted(current: UpliftModelStatus, conflict: Conflict, generation: int,
                now: dt.datetime) -> PassResult:
    """A pass that applies nothing because of ``conflict`` and decides nothing: the status as
    it was (versions, ramp, gates), with ``ServingApplied`` and ``Ready`` False, the phase and
    message saying why (``domain.status.serving_conflict``), one event when that is news (a
    Warning for a refusal, Normal while a predecessor's object goes), and a look again."""
    outcome = status_logic.serving_conflict(current.conditions, conflict, generation, now)
    status = current.model_copy(update={"phase": outcome.phase, "message": outcome.message,
                                        "observed_generation": generation,
                                        "conditions": outcome.conditions})
    before = cond.find(current.conditions, cond.SERVING_APPLIED)
    news = before is None or (before.reason, before.message) != (conflict.reason,
                                                                 outcome.message)
    events = (Event("Normal" if conflict.predecessor else "Warning", conflict.reason,
                    outcome.message),) if news else ()
    return PassResult(status.to_wire(), events,
                      status_logic.conflict_retry_seconds(conflict, outcome.conditions, now))


def _status(decided: UpliftModelStatus, current: UpliftModelStatus,
            resolved: status_logic.Resolved, applied: status_logic.Applied | None,
            write_back_failure: str | None, write_back_pending: bool, write_back_queued: bool,
            owner: Owner, generation: int, now: dt.datetime) -> UpliftModelStatus:
    """The decided status with the pass's own conditions (domain.status) and facts."""
    conditions = status_logic.spec_valid(decided.conditions, generation, now)
    conditions = status_logic.model_resolved(conditions, resolved, generation, now)
    conditions = status_logic.serving_applied(conditions, applied, generation, now)
    conditions = status_logic.written_back(conditions, write_back_failure, generation, now,
                                           pending=write_back_pending,
                                           queued=write_back_queued)
    update: dict[str, Any] = {"conditions": conditions}
    if resolved.desired is not None:
        update["desired_version"] = resolved.desired
    if not resolved.ok:  # the cause where `kubectl get` shows it, not only in a condition
        update["message"] = (f"{decided.message}: {resolved.reason}: "
                             f"{resolved.message}")[:MAX_MESSAGE]
    if applied is not None and applied.changed:
        update["seldon_deployment"] = owner.name
    return decided.model_copy(update=update)


def _split_stamped_once_applied(decided: UpliftModelStatus, current: UpliftModelStatus,
                                applied: Applied | None, now: dt.datetime) -> UpliftModelStatus:
    """``decided`` with ``splitAppliedAt`` as it was when the pass that applies the step's split
    again (``domain.canary``'s resettle) failed to apply it: nothing was applied, and a refusal
    retried with a backoff would otherwise rewrite the status at every retry with nothing new.
    The retry whose apply goes through stamps it."""
    if (applied is None or applied.error is None or decided.split_applied_at != now
            or current.split_applied_at == now):
        return decided
    return decided.model_copy(update={"split_applied_at": current.split_applied_at})


def _serving_split(child: Mapping[str, Any] | None, traffic: TrafficSplit | None,
                   applied: Applied | None, deps: Dependencies) -> str | None:
    """``status.servingSplit``: the split the serving graph carries once the pass is done, in
    words (``domain.serving_split``). The decided ``traffic`` once the graph carries it (this
    pass applied it, or found it there: ``applied`` without an error, nor a re-render queued),
    else the graph's predictors' traffic as this pass read it (an apply refused, no split
    decided), None without a graph. A status at rest says the same at every pass (no write)."""
    if traffic is not None and applied is not None and applied.error is None and (
            applied.queued is None):
        return serving_split.describe(_describe_weights(traffic).items())
    if child is None:
        return None
    # The backend reads the graph's weights whatever split it is asked about.
    return serving_split.describe(
        deps.backend.observe(child, traffic or TrafficSplit("")).weights)


def _split_of(status: UpliftModelStatus) -> TrafficSplit | None:
    if status.stable_version is None:
        return None
    canary = status.canary_version if status.canary_version != status.stable_version else None
    return TrafficSplit(status.stable_version, canary, status.canary_weight if canary else 0)


def _analyse(spec: UpliftModelSpec, status: UpliftModelStatus, owner: Owner,
             deps: Dependencies, registry: Registry | None, split_as_status: bool,
             now: dt.datetime,
             due: Sequence[ModelGate] | None = None) -> list[gates.GateOutcome]:
    """Each gate ``due`` (default: every gate the analysis measures now) measured and judged."""
    assert status.canary_version is not None and status.stable_version is not None
    run_ids: dict[str, str | None] = {}
    # A lookup that failed is carried to the gates that read the run (``GateContext``): MLflow
    # unavailable holds them; as a run id of None it read as a version with no MLflow run (an
    # Error counted towards a rollback; for qini's stable, no comparison at all).
    failed: dict[str, RegistryError] = {}
    for version in (status.canary_version, status.stable_version):
        try:
            run_ids[version] = (deps.resolver.facts(registry_scope(spec.model, owner.namespace,
                                                                   deps),
                                                    spec.model.registered_model, version,
                                                    registry).run_id if registry else None)
        except RegistryError as error:
            run_ids[version] = None
            failed[version] = error
    ctx = measurements.GateContext(
        namespace=owner.namespace, name=owner.name, canary_version=status.canary_version,
        stable_version=status.stable_version, canary_run_id=run_ids[status.canary_version],
        stable_run_id=run_ids[status.stable_version],
        canary_run_error=failed.get(status.canary_version),
        stable_run_error=failed.get(status.stable_version),
        step_started_at=status.step_started_at or now,
        canary_started_at=status.canary_started_at or status.step_started_at or now, now=now,
        # The realised split is judged against the step's weight only while the graph declares
        # that weight; otherwise its counts would be evidence of a mismatch that isn't one.
        canary_share=status.canary_weight / 100 if split_as_status else None,
        split_applied_at=status.split_applied_at,
        promotes=ramp.on_last_step(spec, status),
        split_tolerance=spec.rollout.split_tolerance,
        analysis_interval_s=_seconds(spec.rollout.analysis_interval),
        holdout_fraction=spec.experiment.holdout_fraction,
        attribution_window_s=float(campaigns_file.attribution_window_seconds(
            spec.experiment.attribution_window)),
        metric_templates=deps.metric_templates,
        treatments=tuple((t.name, treatment_key(t.name)) for t in spec.treatments),
        scrape_interval_s=deps.prometheus_scrape_interval,
        query_lag_s=deps.prometheus_query_lag,
        propagation_grace_s=float(deps.split_propagation_grace))
    previous = {g.name: g for g in status.gates}
    outcomes = []
    prometheus = measurements.per_analysis(deps.prometheus, now)
    for gate in ramp.gates_to_measure(spec, status) if due is None else due:
        measured = measurements.collect(gate, ctx, prometheus, registry)
        outcomes.append(gates.evaluate_gate(
            gate, measured, gates.memory_of(previous.get(gate.name), gate), now))
    return outcomes


def _spec_credential_env(spec: UpliftModelSpec) -> tuple[tuple[str, str, str], ...]:
    """The runtime's MLflow credentials as the spec names them: (variable, Secret, key); those
    of ``spec.serving.runtimeCredentials`` when set, else ``spec.model.credentials``'."""
    return _credential_env(spec.serving.runtime_credentials or spec.model.credentials)


def _credential_env(credentials: SecretCredentials | None) -> tuple[tuple[str, str, str], ...]:
    """The MLflow client's environment variables for ``credentials``: (variable, Secret, key)."""
    credential_env: list[tuple[str, str, str]] = []
    if credentials is not None:
        if credentials.token_key:
            credential_env.append(("MLFLOW_TRACKING_TOKEN", credentials.name, credentials.token_key))
        if credentials.username_key and credentials.password_key:
            credential_env += [("MLFLOW_TRACKING_USERNAME", credentials.name,
                                credentials.username_key),
                               ("MLFLOW_TRACKING_PASSWORD", credentials.name,
                                credentials.password_key)]
    return tuple(credential_env)


def _runtime(spec: UpliftModelSpec, deps: Dependencies, namespace: str, name: str,
             report_token: tuple[str, str] | None,
             credential_env: tuple[tuple[str, str, str], ...]) -> RuntimeSettings:
    resources = spec.serving.resources.to_wire() if spec.serving.resources else {}
    return RuntimeSettings(
        image=spec.serving.runtime_image or deps.runtime_image,
        registered_model=spec.model.registered_model,
        tracking_uri=spec.model.tracking_uri or deps.default_tracking_uri or "",
        replicas=spec.serving.replicas, holdout_fraction=spec.experiment.holdout_fraction,
        unit_key=spec.experiment.unit_key, salt=spec.experiment.salt or f"{namespace}/{name}",
        treatments=tuple(t.name for t in spec.treatments), resources=resources,
        credential_env=credential_env,
        service_account_name=spec.serving.service_account_name,
        placement=spec.serving.placement(),
        drain_wait_seconds=deps.runtime_drain_wait, report_token=report_token)


def _runtime_credential_env(spec: UpliftModelSpec, namespace: str, deps: Dependencies,
                            ) -> tuple[tuple[tuple[str, str, str], ...] | None, list[str],
                                       str | None]:
    """The serving pods' own MLflow credentials (``spec.serving.runtimeCredentials``) to
    render, once their Secret is found with every key it names usable (the same checks as
    ``spec.model.credentials``': ``validation.credential_problems``), else the problems, each
    naming the Secret and key, never a value; (None, [], None) when the spec names none (the
    pods get ``model.credentials``). A Secret that is missing (404) or that the operator may
    not read (403) is a problem (InvalidSpec), as the report token's is: rendered, it would
    hold every new serving pod, the stable's included, until it appears; and
    ``model.credentials`` (the operator's write-back user) are never rendered in its place.
    Any other failure to read it (the API server unreachable, 5xx, 429) is the third item, the
    message, not a problem: the pass goes on with the credentials the graph has, as it does
    while ``model.credentials``' Secret cannot be read (RegistryUnavailable). The operator
    reads it (``get``, so ``rbac.secretNames`` names it when set: the SeldonDeployments
    admission policy admits the Secrets of that list), only to check it: it never sends these
    credentials anywhere. Read through the credentials cache (``CREDENTIALS_TTL_SECONDS``,
    under its own key: ``SecretRead``); a problem is not kept, so a fixed Secret is seen at
    the next retry."""
    ref = spec.serving.runtime_credentials
    if ref is None:
        return None, [], None
    field_ = "spec.serving.runtimeCredentials"
    keys = [k for k in (ref.token_key, ref.username_key, ref.password_key) if k]
    if not ref.token_key and not (ref.username_key and ref.password_key):
        # The CRD's rules refuse this; a resource stored under an older CRD may still have it.
        return None, [f"{field_}: set tokenKey, or usernameKey and passwordKey"], None
    problems, transient = _checked_secret(
        namespace, ref.name, keys, field_, deps,
        lambda values: validation.credential_problems(ref.name, keys, values, field_))
    if problems or transient:
        return None, problems, transient
    return _credential_env(ref), [], None


def _checked_secret(namespace: str, name: str, keys: list[str], field_: str,
                    deps: Dependencies,
                    check: Callable[[dict[str, bytes]], list[str]]) -> tuple[list[str], str | None]:
    """Read Secret ``name``'s ``keys`` for ``field_`` through the credentials cache (under the
    field's own key, ``SecretRead``) and ``check`` them: the problems (a Secret missing, 404,
    or that the operator may not read, 403, or values ``check`` refuses: the spec's, named by
    the field, never quoting a value), or the message of a failure to read it on the API
    server's side (no answer, 5xx, 429: not the spec's). Values are cached only once checked,
    so a fixed Secret is seen at the next retry."""
    read: SecretRead = (namespace, name, tuple(keys), field_)
    if deps.credential_reads.get(read) is not None:
        return [], None
    try:
        values = deps.cluster.secret_values(namespace, name, keys)
    except KubeError as error:
        if error.status == 404:
            return [f"{field_}: Secret {name!r} does not exist in namespace {namespace!r}"], None
        if error.status in _SECRET_ANSWERED:
            return [f"{field_}: Secret {name!r} cannot be read: {error}"], None
        return [], f"{field_}: Secret {name!r} cannot be read now: {error}"
    problems = check(values)
    if not problems:
        deps.credential_reads.put(read, values)
    return problems, None


def _report_token(spec: UpliftModelSpec, namespace: str,
                  deps: Dependencies) -> tuple[tuple[str, str] | None, list[str], str | None]:
    """The report token reference to render (``spec.serving.reportCredentials``: Secret name,
    key) once the Secret is found with a usable token under the key, else the problems, each
    naming the Secret and key, never the value. A Secret that is missing (404) or that the
    operator may not read (403) is a problem too (InvalidSpec): rendered, it would hold every
    new serving pod, the stable's included, until it appears. Any other failure to read it
    (the API server unreachable, 5xx, 429) is the third item, the message, not a problem: the
    pass renders the reference the graph has (and creates no graph meanwhile). Read through
    the credentials cache (``CREDENTIALS_TTL_SECONDS``, under its own key: ``SecretRead``); a
    problem is not kept, so a fixed Secret is seen at the next retry."""
    ref = spec.serving.report_credentials
    if ref is None:
        return None, [], None
    field_ = "spec.serving.reportCredentials"
    problems, transient = _checked_secret(
        namespace, ref.name, [ref.key], field_, deps,
        lambda values: _report_token_problems(f"{field_}: Secret {ref.name!r} key {ref.key!r}",
                                              values.get(ref.key)))
    if problems or transient:
        return None, problems, transient
    return (ref.name, ref.key), [], None


def _report_token_problems(where: str, raw: bytes | None) -> list[str]:
    """What makes ``raw`` unusable as the report tokens: absent, or refused by the rule the
    serving pods read it with (``report_token_format.report_tokens``: one token per line, two
    during a rotation, docs/runtime.md; whitespace around a line and blank lines dropped, each
    token at least 16 printable ASCII characters), in the pods' own words, so a value they
    accept is never InvalidSpec and one they refuse always is. Never the value nor its length."""
    if raw is None:
        return [f"{where} does not exist in the Secret"]
    try:
        report_token_format.report_tokens(raw, where)
    except report_token_format.ReportTokenError as error:
        return [str(error)]
    return []


def _write_backs(spec: UpliftModelSpec, decision: ramp.Decision, now: dt.datetime,
                 canary_before: str | None = None) -> list[Write]:
    """The registry writes the decision implies (``services.writeback`` applies them): role
    tags on the versions, the promotion alias on a promotion, a rollback's reason. The canary
    before the pass (``canary_before``) that the decision removed with no role of its own (the
    spec back at the stable: ``retired`` with the reason, ``spec points back at stable …``;
    replaced by a newer version: ``retired``) is tagged too, or MLflow would go on calling it
    the canary; so are a first
    version that never served, replaced as the first version, and a canary removed with it
    (``retired``, with the reason: ``_unserved_replaced``). A version made
    ``canary`` or ``stable`` loses its ``uplift.dev/reason`` (``_role``): a version rolled back,
    then retried and promoted, would otherwise keep its old rollback's reason."""
    model, status, stamp = spec.model.registered_model, decision.status, now.isoformat()
    writes: list[Write] = []
    for event in decision.events:
        if not event.decision:  # an ignored request, told under its own reason: no write
            continue
        if event.reason in (ramp.Reason.CANARY_STARTED, ramp.Reason.CANARY_REPLACED,
                            ramp.Reason.RETRY) and status.canary_version:
            writes += _role(model, status.canary_version, "canary", stamp)
        elif (event.reason in (ramp.Reason.PROMOTED, ramp.Reason.RESTORE_WITHDRAWN)
              and status.stable_version):
            # A withdrawn emergency rollback leaves the registry as before it: the replaced
            # version stable (and the alias on it) again, the restored one retired.
            writes += _role(model, status.stable_version, "stable", stamp)
            if status.previous_stable_version:
                writes += _role(model, status.previous_stable_version, "retired", stamp)
            # This pass's promotion replacing a first version that never served (not an older
            # such entry of the version a withdrawn restore makes stable again).
            made = next((e for e in reversed(status.history)
                         if e.action == ramp.Reason.PROMOTED.value
                         and e.version == status.stable_version), None)
            replaced = (_unserved_replaced(made) if event.reason is ramp.Reason.PROMOTED
                        and "never served" in event.message else {})
            for version, why in replaced.items():
                writes += [*_role(model, version, "retired", stamp),
                           _reason(model, version, why)]
            alias, version = spec.model.promotion_alias, status.stable_version
            if alias:
                writes.append(Write(("alias", alias), version,
                                    _alias_write(model, alias, version)))
        elif event.reason in (ramp.Reason.ROLLED_BACK, ramp.Reason.MANUAL_ABORT,
                              ramp.Reason.EMERGENCY_ROLLBACK):
            # An emergency rollback sets emergencyRolledBackVersion only when it replaces the
            # stable (a canary is none then: starting one clears it); any other, abortedVersion.
            restore = (event.reason is ramp.Reason.EMERGENCY_ROLLBACK
                       and status.emergency_rolled_back_version is not None)
            rolled = (status.emergency_rolled_back_version if restore
                      else status.aborted_version)
            if rolled is None:
                continue
            writes += [*_role(model, rolled, "rolled-back", stamp),
                       _reason(model, rolled, event.message)]
            restored = status.stable_version
            if restore and restored:
                # The previous stable is stable again: its role, and the promotion alias, back.
                writes += _role(model, restored, "stable", stamp)
                alias = spec.model.promotion_alias
                if alias:
                    writes.append(Write(("alias", alias), restored,
                                        _alias_write(model, alias, restored)))
    gone = canary_before
    if (gone is not None
            and gone not in (status.canary_version, status.stable_version, status.aborted_version,
                             status.emergency_rolled_back_version)
            and ("role", gone) not in {w.what for w in writes}):
        removal = next((e for e in decision.events if e.reason is ramp.Reason.ROLLED_BACK), None)
        if removal is not None:
            # The spec pointed back at the stable: no rollback of the version (the status
            # keeps no abortedVersion, the same version in the spec again starts a canary), so
            # not ``rolled-back``, which a status-less pass holds as one (``_recorded_roles``).
            writes += [*_role(model, gone, "retired", stamp),
                       _reason(model, gone, removal.message)]
        elif any(e.reason is ramp.Reason.CANARY_REPLACED for e in decision.events):
            writes += _role(model, gone, "retired", stamp)
    return writes


#: The history entry of a first version that replaced one that never served
#: (``domain.canary``'s ``replace_unserved_first``), with the canary removed with it, if any.
_UNSERVED_FIRST = re.compile(r"first version: replaces version (?P<old>.+?), which never "
                             r"served(?:; canary (?P<canary>.+?) removed)?; serving it as "
                             r"stable, no ramp")


def _unserved_replaced(entry: DecisionRecord | None) -> dict[str, str]:
    """The versions a promotion's history ``entry`` took off when it made its version the
    first version in place of one that never served (that one, and a canary started against
    it), each with the reason its ``retired`` role is written with: left ``stable`` (or
    ``canary``), MLflow would tag two versions stable and the promotion alias on neither
    would tell which one serves. Empty for any other entry."""
    if entry is None or entry.action != ramp.Reason.PROMOTED.value or entry.version is None:
        return {}
    match = _UNSERVED_FIRST.fullmatch(entry.reason)
    if match is None:
        return {}
    new, old, canary = entry.version, match["old"], match["canary"]
    found = {old: f"never served; replaced by version {new} as the first version"}
    if canary is not None and canary not in (old, new):
        found[canary] = (f"canary against version {old}, which never served; removed when "
                         f"version {new} replaced that one as the first version")
    return found


def _registry_state(spec: UpliftModelSpec, status: UpliftModelStatus,
                    covered: set[tuple[str, ...]], now: dt.datetime) -> list[Write]:
    """The registry state the decisions recorded in ``status`` imply: what ``_write_backs``
    wrote for them, as the last write of each tag and alias left it (but what ``covered``, the
    pass's own writes, sets). Submitted again when an operator restart may have lost them.

    Role tags: the canary ``canary``, the stable ``stable`` (neither with a reason: removed,
    as their role's write does), the versions rolled back or
    aborted (``abortedVersion``, ``emergencyRolledBackVersion``) ``rolled-back`` with the reason
    their history entry recorded, the stable one replaced at the last promotion ``retired`` (a
    version in two of these fields holds the role the later decision gave it, in that order),
    a canary no field names any more, as the history shows it removed (``removed_canaries``:
    replaced ``retired``, the spec back at the stable ``retired`` with its reason), a first
    version that never served and a canary removed with it, as the stable's history entry
    shows them replaced (``retired``, with the reason: ``_unserved_replaced``),
    each with the time of that decision when the status still says it. The promotion alias,
    when the spec names one (unset: the operator moves no alias), on the stable version: every
    decision that changes the stable version (a promotion, the first version, an emergency
    rollback restoring the previous one, that rollback withdrawn) moved it there, and none moves
    it elsewhere (a canary rolled back leaves it on the stable)."""
    model, stable = spec.model.registered_model, status.stable_version
    if stable is None:
        return []
    became_stable = next((e for e in reversed(status.history)
                          if (e.action in (ramp.Reason.PROMOTED.value,
                                           ramp.Reason.RESTORE_WITHDRAWN.value)
                              and e.version == stable)
                          or restored_by(e) == stable), None)
    # Canaries removed with no role field of their own (replaced, or the spec back at the
    # stable): their roles as the history says; any role a status field gives wins.
    removed = removed_canaries(status)
    roles: dict[str, tuple[str, dt.datetime | None]] = {
        version: (role, entry.time) for version, (role, entry) in removed.items()}
    # The stable replaced a first version that never served (and a canary started against
    # it): those retired, with the reason (unless a status field gives them a role).
    unserved = _unserved_replaced(became_stable)
    for version in unserved:
        roles[version] = ("retired", became_stable.time if became_stable is not None else None)
    if status.previous_stable_version is not None:
        promoted = (became_stable.time if became_stable is not None
                    and became_stable.action == ramp.Reason.PROMOTED.value else None)
        roles[status.previous_stable_version] = ("retired", promoted)
    rollbacks = {version: rollback_entry(status, version)
                 for version in (status.aborted_version, status.emergency_rolled_back_version)
                 if version is not None}
    for version, rollback in rollbacks.items():
        roles[version] = ("rolled-back", rollback.time if rollback is not None else None)
    roles[stable] = ("stable", became_stable.time if became_stable is not None else None)
    if status.canary_version is not None:
        roles[status.canary_version] = ("canary", status.canary_started_at)
    writes = [write for version, (role, since) in roles.items()
              for write in _role(model, version, role, (since or now).isoformat())]
    for version, rollback in rollbacks.items():
        if rollback is not None and roles[version][0] == "rolled-back":
            writes.append(_reason(model, version, rollback.reason))
    for version, (role, entry) in removed.items():
        if (entry.reason and version not in rollbacks and roles[version][0] == role
                and (role == "rolled-back" or entry.reason.startswith(SPEC_WITHDREW))):
            writes.append(_reason(model, version, entry.reason))
    for version, why in unserved.items():
        if roles[version][0] == "retired" and version != status.previous_stable_version:
            writes.append(_reason(model, version, why))
    alias = spec.model.promotion_alias
    if alias:
        writes.append(Write(("alias", alias), stable, _alias_write(model, alias, stable)))
    return [w for w in writes if w.what not in covered]


def retire_deleted_canary(body: Mapping[str, Any], deps: Dependencies,
                          now: dt.datetime) -> bool:
    """At a deleted UpliftModel's DELETED event (``handlers.upliftmodel.forget``, with the
    object as last seen): its canary, if it had one, tagged ``retired`` in MLflow, with a
    reason starting ``DELETED_MID_RAMP`` (a status-less pass of an UpliftModel applied again
    ramps it as a canary: ``_recorded_roles``), or MLflow would call it the canary for ever.
    The promotion alias is not moved, nor the stable's tags. Best-effort: queued on the
    write-back (never waits for MLflow); the client is built from the credentials Secret as
    the spec names it, and when that cannot be read (deleted with the namespace), nothing is
    written and a line logged. Never raises: deletion never waits for the registry. Whether
    the write was queued."""
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    try:
        canary = (body.get("status") or {}).get("canaryVersion")
        if not canary:
            return False
        try:
            spec = UpliftModelSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:  # its fields only: an input may hold a password
            log.warning("UpliftModel %s/%s deleted: its canary, version %s, stays tagged canary "
                        "in MLflow: its spec does not parse: %s", namespace, name, canary,
                        "; ".join(validation.schema_problems(error)))
            return False
        registry, problems, unavailable, _ = _registry(spec.model, namespace, deps)
        if registry is None:
            why = "; ".join(problems) or (unavailable.message if unavailable else "")
            log.warning("UpliftModel %s/%s deleted: its canary, version %s of %s, stays tagged "
                        "canary in MLflow: %s", namespace, name, canary,
                        spec.model.registered_model, why)
            return False
        version, model = str(canary), spec.model.registered_model
        why = (f"{DELETED_MID_RAMP}: UpliftModel {namespace}/{name} was deleted while version "
               f"{version} was its canary (the ramp did not finish)")
        deps.write_back.submit((KIND, namespace, name), registry,
                               registry_scope(spec.model, namespace, deps), model,
                               [*_role(model, version, "retired", now.isoformat()),
                                _reason(model, version, why)])
        return True
    except Exception:  # never in deletion's way
        log.exception("UpliftModel %s/%s deleted: retiring its canary in MLflow failed",
                      namespace, name)
        return False


def promotion_alias_target(body: Mapping[str, Any],
                           default_tracking_uri: str | None) -> AliasTarget | None:
    """The promotion alias the UpliftModel ``body`` moves, as ``AliasClaims`` knows it
    (tracking URI without a trailing slash, registered model, ``promotionAlias``), read from
    the raw spec at every watch event of every model (no validation: cheap); None without
    one. One registry under two URLs (another host name) is two targets: not told apart."""
    model = (body.get("spec") or {}).get("model") or {}
    if not isinstance(model, Mapping):
        return None
    alias, registered = model.get("promotionAlias"), model.get("registeredModel")
    if not alias or not registered:
        return None
    uri = str(model.get("trackingUri") or default_tracking_uri or "").rstrip("/")
    return uri, str(registered), str(alias)


def _alias_freed(conditions: Sequence[Condition]) -> bool:
    """Whether the stored status says the model's writes were withheld (another UpliftModel
    moved its promotion alias): the registry state its status implies is owed."""
    found = cond.find(conditions, cond.REGISTRY_WRITTEN_BACK)
    return found is not None and found.reason == cond.PROMOTION_ALIAS_SHARED


def _alias_shared(conditions: list[Condition], stored: Sequence[Condition],
                  spec: UpliftModelSpec, holding: Holding | None, freed: bool,
                  waiting: bool, generation: int, now: dt.datetime) -> list[Condition]:
    """``RegistryWrittenBack`` as the sharing of the promotion alias makes it: False
    (``PromotionAliasShared``, naming the older UpliftModel, and, if it was deleted, until when
    the alias stays its in case it is created again) while its writes are withheld;
    once they are not (``freed``: the registry state submitted again this pass), Unknown while
    that is queued; as stored while it could not be submitted (MLflow not asked this pass: it
    is owed still); otherwise as the write-back queue made it (``conditions``)."""
    ref = spec.model
    if holding is not None:
        _, other_namespace, other_name = holding.owner
        if holding.gone_until is None:
            message = (f"UpliftModel {other_namespace}/{other_name}, created earlier, moves the "
                       f"same promotionAlias {ref.promotion_alias} of registered model "
                       f"{ref.registered_model} at the same tracking URI: its decisions are the "
                       f"ones written to MLflow; this one's alias moves and uplift.dev/role and "
                       f"uplift.dev/reason tags are withheld (serving is not affected) until the "
                       f"alias is this one's alone (give it another promotionAlias, or delete "
                       f"one)")
        else:
            until = holding.gone_until.isoformat(timespec="seconds")
            message = (f"UpliftModel {other_namespace}/{other_name}, created earlier, moved the "
                       f"same promotionAlias {ref.promotion_alias} of registered model "
                       f"{ref.registered_model} at the same tracking URI and was deleted: the "
                       f"alias stays its until {until}, in case it is created again (a "
                       f"replace, a re-install); this one's alias moves and uplift.dev/role and "
                       f"uplift.dev/reason tags are withheld until then (serving is not "
                       f"affected)")
        # Set over the stored condition, not over what the write-back queue made of it this
        # pass (nothing of this model pending: True), or its lastTransitionTime would move at
        # every pass, False to False, and every resync write a status with nothing new.
        return cond.set_condition(_as_stored(conditions, stored),
                                  type_=cond.REGISTRY_WRITTEN_BACK, status="False",
                                  reason=cond.PROMOTION_ALIAS_SHARED, message=message[:MAX_MESSAGE],
                                  now=now, observed_generation=generation)
    if not _alias_freed(stored):
        return conditions
    if not freed:  # not submitted this pass: the stored condition keeps it owed
        kept = cond.find(stored, cond.REGISTRY_WRITTEN_BACK)
        assert kept is not None
        return cond.set_condition(_as_stored(conditions, stored), type_=kept.type,
                                  status=kept.status,
                                  reason=kept.reason, message=kept.message, now=now,
                                  observed_generation=generation)
    now_says = cond.find(conditions, cond.REGISTRY_WRITTEN_BACK)
    if waiting and (now_says is None or now_says.reason != cond.WRITE_BACK_FAILED):
        return cond.set_condition(
            conditions, type_=cond.REGISTRY_WRITTEN_BACK, status="Unknown",
            reason=cond.WRITE_BACK_PENDING,
            message=f"no older UpliftModel moves promotionAlias {ref.promotion_alias} any more: "
                    f"the registry state its status implies is submitted again, not yet through",
            now=now, observed_generation=generation)
    return conditions


def _as_stored(conditions: Sequence[Condition], stored: Sequence[Condition]) -> list[Condition]:
    """``conditions`` with ``RegistryWrittenBack`` as ``stored`` has it (absent if absent)."""
    kept = cond.find(stored, cond.REGISTRY_WRITTEN_BACK)
    others = [c for c in conditions if c.type != cond.REGISTRY_WRITTEN_BACK]
    return sorted([*others, kept], key=lambda c: c.type) if kept is not None else others


def _alias_write(model: str, alias: str, version: str) -> Callable[[Registry], None]:
    def apply(registry: Registry) -> None:
        registry.set_alias(model, alias, version)
    return apply


def _tag_write(model: str, version: str, tags: Mapping[str, str]) -> Callable[[Registry], None]:
    def apply(registry: Registry) -> None:
        for key, value in tags.items():
            registry.set_version_tag(model, version, key, value)
    return apply


#: The roles that say nothing went wrong with the version: a reason it kept from an earlier
#: rollback (or retirement by deletion) is removed with the role's write.
_REASONLESS_ROLES = frozenset({"canary", "stable"})


def _role(model: str, version: str, role: str, stamp: str) -> list[Write]:
    """The role tag and its time, as one write (the time means something only with the role);
    for a canary or stable role, the version's reason tag removed after it (its own write,
    ``("reason", version)`` set to "", so that a later rollback's reason, even in the same
    words, is written again, and a thousand resources' removals cost one request pair:
    ``_reason_removal``, which deletes the tag only when the version has it)."""
    role_write = Write(("role", version), role,
                       _tag_write(model, version, {ROLE_TAG: role, ROLE_TIME_TAG: stamp}))
    if role not in _REASONLESS_ROLES:
        return [role_write]
    return [role_write, Write(("reason", version), "", _reason_removal(model, version),
                              permission=TAG_DELETE_PERMISSION)]


def _reason(model: str, version: str, why: str) -> Write:
    """The version's ``uplift.dev/reason`` (a rollback's, a retirement by deletion's)."""
    why = why[:500]
    return Write(("reason", version), why, _tag_write(model, version, {REASON_TAG: why}))


def _reason_removal(model: str, version: str) -> Callable[[Registry], None]:
    """The version's ``uplift.dev/reason`` deleted, if it has one: its tags are read first
    (``GET model-versions/get``, READ). MLflow's basic auth lets only MANAGE delete a version
    tag (``DeleteModelVersionTag``: ``can_delete``) while EDIT sets tags and aliases; a user
    granted EDIT, as the write-back needs, had every canary and stable role followed by a
    deletion of a tag mostly not there, refused (403) and retried for ever at the head of the
    model's queue, holding every write behind it. Read, the deletion is asked only of a
    version rolled back before (and needs MANAGE then: ``TAG_DELETE_PERMISSION``)."""
    def apply(registry: Registry) -> None:
        tags = getattr(registry.resolve(model, version=version), "tags", None) or {}
        if REASON_TAG in tags:
            registry.delete_version_tag(model, version, REASON_TAG)
    return apply


def _annotations(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return dict((manifest.get("metadata") or {}).get("annotations") or {})


def _labels(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return dict((manifest.get("metadata") or {}).get("labels") or {})


def _same_spec(actual: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the graph's spec is the rendered one: its ``predictors`` exactly, the rest as
    ``_contains``. Everything in a predictor reaches its pods (a hand-added toleration,
    ``nodeName``, ``hostNetwork``, a privileged container), and nothing adds to it unasked:
    Seldon Core 1.17.1 has no mutating webhook (its defaulting is in memory, in its
    reconcile), and the CRD's one default there, a container port's ``protocol: TCP``, is
    rendered. The list is atomic in the CRD, so the forced apply replaces it whole, a hand
    edit's fields included. Outside it, a field another manager set stays after the apply:
    compared exactly, it would be applied over at every pass."""
    rest = {key: value for key, value in wanted.items() if key != "predictors"}
    return (actual.get("predictors") == wanted.get("predictors")
            and _contains({k: v for k, v in actual.items() if k != "predictors"}, rest))


def _contains(actual: Any, wanted: Any) -> bool:
    """Whether every field we set is there as we set it (defaults added by others are fine)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _contains(actual[key], value) for key, value in wanted.items())
    if isinstance(wanted, list):
        return (isinstance(actual, list) and len(actual) == len(wanted)
                and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True)))
    return bool(actual == wanted)


def _describe(split: TrafficSplit) -> str:
    if split.canary_version is None:
        return f"v{split.stable_version} 100%"
    return (f"v{split.stable_version} {100 - split.canary_weight}%, "
            f"v{split.canary_version} {split.canary_weight}%")


def _seconds(duration: str) -> float:
    return parse_duration(duration).total_seconds()
