"""One reconcile pass of an UpliftModel: validate → resolve → observe → measure → decide → apply
→ status, each a named step below that returns a value, read top to bottom in ``reconcile``.

1. ``_validate``: parse and validate the spec (``domain.validation``); an invalid spec takes the
   shared invalid-spec path (``services.common``) and changes nothing that serves;
2. ``_resolve``: the version the spec means (``services.resolution``, MLflow, with the
   credentials Secret the spec names, checked first), and whether the spec fits it (the
   version's signature and treatments), and the report token Secret the serving spec names
   (``_report_token``); a misfit takes the invalid-spec path too, so a bad new spec or version
   never takes down the stable one;
3. ``_observe``: the serving graph read back (``render`` backend's ``observe``);
4. ``_measure``: when an analysis is due, every gate measured (``services.measurements``) and
   judged (``domain.gates``); with MLflow unreachable, held Inconclusive instead;
5. the ramp decides (``domain.ramp.decide``): the whole new status, the traffic split, events;
6. ``_apply``: the decision-key Secret the runtime pods sign with (created once, never
   overwritten), then the split, by server-side apply, only when it differs from what is
   there; a first version whose graph was just created waits for Seldon's first report on
   it before its first status is written (``first_status_wait``); then the MLflow tags / alias
   the decision implies are queued (``_write_backs``, applied off the pass by
   ``services.writeback``);
7. ``_status``: the pass's own conditions (ModelResolved, ServingApplied, InvalidSpec,
   RegistryWrittenBack), set by ``domain.status`` from what resolving, applying and the
   write-back queue found.

The handler turns the result into one status patch and events. Nothing here sleeps.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.mlflow_registry import Credentials, RegistryError
from uplift_operator.api.v1alpha1.common import Condition, GateVerdict, Phase, parse_duration
from uplift_operator.api.v1alpha1.upliftmodel import (
    ModelReference,
    UpliftModelSpec,
    UpliftModelStatus,
)
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import gates, ramp, validation
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.canary import STOPPING_REQUESTS
from uplift_operator.domain.status import MAX_MESSAGE, Applied
from uplift_operator.model.keys import treatment_key
from uplift_operator.render import decision_key, naming
from uplift_operator.render.naming import Owner
from uplift_operator.render.serving import RuntimeSettings, ServingBackend, TrafficSplit
from uplift_operator.services import campaigns_file, measurements
from uplift_operator.services.common import (
    Event,
    PassResult,
    TimedCache,
    ignored_field_events,
    invalid_pass,
)
from uplift_operator.services.ports import Cluster, MetricSource, Registry
from uplift_operator.services.resolution import AliasKey, Resolution, Resolver, Scope
from uplift_operator.services.writeback import Write, WriteBack

__all__ = ["FIRST_STATUS_GRACE", "KIND", "Dependencies", "Event", "PassResult",
           "first_status_wait", "reconcile", "version_run"]

#: What the write-back queue knows a resource's writes by (with namespace and name).
KIND = "UpliftModel"

log = logging.getLogger(__name__)

#: A decision-key Secret known to exist is made sure of again (one create, answered 409) only
#: while the graph is being changed or Seldon reports it not serving (new pods need the key; a
#: pod stuck on a Secret deleted by hand keeps the graph from serving), at most this often. A
#: serving graph left as it is costs nothing at rest, nor does one Seldon has not reported on
#: yet (nothing says a pod waits for the key; at 10,000 new models such passes made 3,373
#: creates answered 409).
DECISION_KEY_RECHECK = dt.timedelta(seconds=30)

#: A first version's first status waits for Seldon's first word on its new serving graph (its
#: status: Creating, Available, Failed), at most this long after the graph was created (its
#: ``creationTimestamp``; ``first_status_wait``). A graph Seldon reports Available at once costs
#: one status write (Healthy) instead of two (Progressing, then Healthy); one it reports
#: Creating shows Progressing at that report. Only a Seldon that says nothing for this long
#: (a controller down, or far behind) leaves the status unwritten until then.
FIRST_STATUS_GRACE = dt.timedelta(seconds=30)

#: A credentials Secret read serves every pass naming it (any resource) for this long: a pass
#: due every analysis interval, times the resources naming one Secret, is not a read each; a
#: rotated credential is used within this.
CREDENTIALS_TTL_SECONDS = 30.0

ROLE_TAG = "uplift.dev/role"
ROLE_TIME_TAG = "uplift.dev/role-since"
REASON_TAG = "uplift.dev/reason"


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
    resolver: Resolver = field(default_factory=Resolver)
    # MLflow write-backs, applied off the pass by one worker (started by the handlers).
    write_back: WriteBack = field(default_factory=WriteBack)
    # Credentials Secrets as last read, shared by every resource naming one (CREDENTIALS_TTL).
    credential_reads: TimedCache[tuple[str, str, tuple[str, ...]], dict[str, bytes]] = field(
        default_factory=lambda: TimedCache(CREDENTIALS_TTL_SECONDS))
    # When each model's decision-key Secret (by namespace, name, uid) was last made sure of.
    decision_keys: dict[tuple[str, str, str], dt.datetime] = field(default_factory=dict)
    new_decision_key: Callable[[], str] = field(default=lambda: secrets.token_hex(32))
    first_status_grace: dt.timedelta = FIRST_STATUS_GRACE
    # What the operator's administrator allows a spec to choose (``--allowed-*``).
    policy: validation.ServingPolicy = field(default_factory=validation.ServingPolicy)


def reconcile(body: Mapping[str, Any], deps: Dependencies, now: dt.datetime) -> PassResult:
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    owner = Owner(name=name, namespace=namespace, uid=str(meta["uid"]))
    generation = int(meta.get("generation") or 0)
    current = UpliftModelStatus.model_validate(body.get("status") or {})
    if meta.get("deletionTimestamp"):
        # Being deleted (a foreground deletion waits for its children): the garbage collector
        # removes the graph and the Secret; applying them again would fight it.
        return PassResult(dict(body.get("status") or {}), (), None)

    spec, problems = _validate(body, deps)
    if spec is None or problems:
        return _invalid(body, spec, current, owner, problems, deps, now)
    registry, resolution, problems = _resolve(spec, owner, deps, now)
    report_token, report_problems = _report_token(spec, owner.namespace, deps)
    problems = [*problems, *report_problems]
    if problems:  # a credentials Secret or the resolved version does not fit the spec,
        # which a Secret fixed by hand (not watched) or a new version may change: looked at again
        held = _invalid(body, spec, current, owner, problems, deps, now)
        return replace(held, requeue_after=min(held.requeue_after or UNRESOLVED_RETRY_SECONDS,
                                               UNRESOLVED_RETRY_SECONDS))
    desired = resolution.desired.version if resolution.desired and resolution.ok else None
    resolved = status_logic.Resolved(spec.model.registered_model, resolution.reason,
                                     resolution.message, desired)
    child, ready, serves, split_as_status = _observe(current, owner, deps, desired)
    if _decided_on_newer(child, meta):
        return _behind(body)
    outcomes = _measure(spec, current, owner, deps, registry, resolution, split_as_status, now)
    decision = ramp.decide(spec, current, ramp.Observed(
        desired_version=resolved.desired,
        # Nothing stable yet: the first version, if the pass makes it stable, is the one to serve.
        stable_ready=(current.stable_version or desired or "") in serves,
        canary_ready=current.canary_version in ready if current.canary_version else False,
        gate_outcomes=outcomes, requests=ramp.parse_requests(meta.get("annotations") or {}),
        generation=generation, split_as_status=split_as_status, ready_versions=ready), now)
    try:
        applied = _apply(decision.traffic, child, ready, spec, owner, deps, now,
                         decided_on=meta.get("resourceVersion"), report_token=report_token)
    except _ChildMovedError:
        return _behind(body)
    stable = decision.status.stable_version
    wait = first_status_wait(current, decision.status, stable in ready if stable else False,
                             child, applied, now, deps.first_status_grace)
    if wait is not None:  # nothing written, emitted or queued: the next pass decides it again
        following = _next_pass(decision, resolved)
        return PassResult(dict(body.get("status") or {}), (),
                          wait if following is None else min(wait, following))
    if registry is not None:
        deps.write_back.submit((KIND, namespace, name), registry,
                               registry_scope(spec.model, namespace, deps),
                               spec.model.registered_model, _write_backs(spec, decision, now))
    status = _status(decision.status, current, resolved, applied,
                     deps.write_back.failure((KIND, namespace, name)), owner, generation, now)

    events = [Event("Warning", resolved.reason, resolved.message[:MAX_MESSAGE])
              ] if status_logic.resolution_warning(current.conditions, resolved) else []
    events += ignored_field_events(current, generation, validation.ignored_gate_fields(
        spec.rollout.gates, "spec.rollout"))
    events += [Event(e.type, e.reason.value, e.message) for e in decision.events]
    events += _apply_failed(current.conditions, status.conditions, applied)
    following = _next_pass(decision, resolved)
    retry = status_logic.apply_retry_seconds(status.conditions, now)
    if retry is not None:  # the graph is behind the status: try again soon, backing off
        following = retry if following is None else min(following, retry)
    return PassResult(status.to_wire(), tuple(events), following)


def _apply_failed(before: Sequence[Condition], after: Sequence[Condition],
                  applied: Applied | None) -> list[Event]:
    """A Warning for a refused apply of the serving graph when the refusal is news: the
    ``ServingApplied`` condition turns False or says something new. A refusal that persists
    (RBAC, an admission webhook, Seldon's CRD missing) is retried every few seconds, backing
    off: one event per retry buried ``kubectl describe`` under copies of the same words."""
    if applied is None or applied.error is None:
        return []
    old, new = cond.find(before, cond.SERVING_APPLIED), cond.find(after, cond.SERVING_APPLIED)
    if (old is not None and new is not None and old.status == new.status
            and old.message == new.message):
        return []
    return [Event("Warning", cond.APPLY_FAILED, applied.error)]


def _invalid(body: Mapping[str, Any], spec: UpliftModelSpec | None, current: UpliftModelStatus,
             owner: Owner, problems: list[str], deps: Dependencies,
             now: dt.datetime) -> PassResult:
    """A pass on an invalid spec: the ramp held where it stands under the InvalidSpec status,
    but an abort or an emergency rollback pending is still acted on and applied
    (``ramp.decide_stopping_requests``): taking traffic off a canary needs no valid gate.
    Nothing is written back to MLflow then (the registry was not resolved)."""
    meta = body["metadata"]
    generation = int(meta.get("generation") or 0)
    requests = ramp.parse_requests(meta.get("annotations") or {})
    pending = [r for r in requests if r.kind in STOPPING_REQUESTS
               and current.handled_requests.get(r.key) != r.token]
    if spec is None or not pending or current.stable_version is None:
        return invalid_pass(current, generation, problems, now)
    child, ready, serves, split_as_status = _observe(current, owner, deps,
                                                     current.desired_version)
    if _decided_on_newer(child, meta):
        return _behind(body)
    decision = ramp.decide_stopping_requests(spec, current, ramp.Observed(
        desired_version=current.desired_version, stable_ready=current.stable_version in serves,
        canary_ready=current.canary_version in ready if current.canary_version else False,
        requests=requests, generation=generation, split_as_status=split_as_status,
        ready_versions=ready), now)
    # The report token as the graph has it unless the spec's checks out: a Secret that is not
    # there would hold every new pod, the stable's included, in CreateContainerConfigError.
    report_token, report_problems = _report_token(spec, owner.namespace, deps)
    if report_problems:
        report_token = deps.backend.report_token(child)
    try:
        applied = _apply(decision.traffic, child, ready, spec, owner, deps, now,
                         decided_on=meta.get("resourceVersion"), report_token=report_token)
    except _ChildMovedError:
        return _behind(body)
    decided = decision.status.model_copy(update={"conditions": status_logic.serving_applied(
        decision.status.conditions, applied, generation, now)})
    held = invalid_pass(decided, generation, problems, now)
    events = [Event(e.type, e.reason.value, e.message) for e in decision.events]
    events += _apply_failed(current.conditions, decided.conditions, applied)
    following = decision.requeue_after.total_seconds() if decision.requeue_after else None
    retry = status_logic.apply_retry_seconds(decided.conditions, now)
    if retry is not None:
        following = retry if following is None else min(following, retry)
    return PassResult(held.status, (*events, *held.events), following)


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


def _behind(body: Mapping[str, Any]) -> PassResult:
    """A pass that decides nothing (its body is behind the serving graph): the status as it is,
    no event, and a look again shortly."""
    log.info("UpliftModel %s/%s: the serving graph was decided on a newer body than this pass "
             "sees; deciding again once the watch catches up", body["metadata"].get("namespace"),
             body["metadata"].get("name"))
    return PassResult(dict(body.get("status") or {}), (), BEHIND_RETRY_SECONDS)


#: How soon a pass whose model reference did not resolve asks MLflow again.
UNRESOLVED_RETRY_SECONDS = 10.0


def _next_pass(decision: ramp.Decision, resolved: status_logic.Resolved) -> float | None:
    """When the next pass is due (seconds; None: only when something changes): the ramp's
    next time, and a retry of an unresolved reference. An alias is not re-read here: the shared
    poller reads it and wakes the pass when it moved (``handlers.registry_polling``)."""
    due = [decision.requeue_after.total_seconds()] if decision.requeue_after else []
    if not resolved.ok:
        due.append(UNRESOLVED_RETRY_SECONDS)  # serving is untouched meanwhile
    return min(due, default=None)


def _validate(body: Mapping[str, Any], deps: Dependencies) -> tuple[UpliftModelSpec | None, list[str]]:
    """The typed spec and what is wrong with it (schema, then what only the operator knows)."""
    try:
        spec = UpliftModelSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        return None, validation.schema_problems(error)
    meta = body["metadata"]
    return spec, validation.validate_upliftmodel(spec, deps.metric_templates,
                                                 namespace=str(meta["namespace"]),
                                                 name=str(meta["name"]), policy=deps.policy)


def _resolve(spec: UpliftModelSpec, owner: Owner, deps: Dependencies,
             now: dt.datetime) -> tuple[Registry | None, Resolution, list[str]]:
    """The version the spec means now (MLflow, cached by the resolver), and what does not fit
    the context it resolves in: the credentials Secret the spec names, the signature and the
    treatments of that version (problems, each naming the field)."""
    registry, problems, unavailable = _registry(spec.model, owner.namespace, deps)
    scope = registry_scope(spec.model, owner.namespace, deps)
    if registry is None:
        if spec.model.alias is not None:  # nor may the poller read it with revoked credentials
            deps.resolver.forget_client((scope, spec.model.registered_model, spec.model.alias))
        return None, Resolution(None, "RegistryUnavailable", unavailable or ""), problems
    resolution = deps.resolver.resolve(scope, spec.model, registry, now)
    if not resolution.ok or resolution.desired is None:
        return registry, resolution, []
    try:
        contract = deps.resolver.contract(scope, spec.model.registered_model,
                                          resolution.desired, registry)
    except RegistryError as error:  # not judged, so not deployed: held as unavailable
        return registry, Resolution(resolution.desired, "RegistryUnavailable",
                                    f"reading what version {resolution.desired.version} takes "
                                    f"and scores: {error}"), []
    return registry, resolution, validation.validate_against_model(spec, contract)


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
    scope = registry_scope(spec.model, str(body["metadata"]["namespace"]), deps)
    return ((scope, spec.model.registered_model, spec.model.alias),
            parse_duration(spec.model.alias_refresh_interval))


def registry_scope(ref: ModelReference, namespace: str, deps: Dependencies) -> Scope:
    """Whose answers from the registry this resource may share: the same tracking URI asked
    anonymously, or with the same Secret of the same namespace."""
    uri = ref.tracking_uri or deps.default_tracking_uri or ""
    if ref.credentials is None:
        return (uri, "", "")
    return (uri, namespace, ref.credentials.name)


def _registry(ref: ModelReference, namespace: str,
              deps: Dependencies) -> tuple[Registry | None, list[str], str | None]:
    """The registry client for ``ref`` with the credentials Secret it names: (client, problems
    with the Secret's content, why MLflow cannot be asked: the Secret unreadable, no tracking
    URI); the client is None unless both are empty."""
    credentials, problems, unavailable = _credentials(ref, namespace, deps)
    if problems or unavailable is not None:
        return None, problems, unavailable
    try:
        return deps.registry_for(ref, credentials), [], None
    except ValueError as error:  # no tracking URI
        return None, [], str(error)


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
    registry, problems, unavailable = _registry(spec.model, str(model["metadata"]["namespace"]),
                                                deps)
    if registry is None:
        return unavailable or "; ".join(problems)
    name = spec.model.registered_model
    try:
        scope = registry_scope(spec.model, str(model["metadata"]["namespace"]), deps)
        run_id = deps.resolver.facts(scope, name, version, registry).run_id
    except RegistryError as error:
        return f"reading version {version} of {name} from MLflow: {error}"
    if run_id is None:
        return f"version {version} of {name} has no MLflow run"
    return registry, run_id


def _credentials(ref: ModelReference, namespace: str,
                 deps: Dependencies) -> tuple[Credentials | None, list[str], str | None]:
    """The registry credentials the spec names: (credentials, problems with the Secret's
    content, why the Secret cannot be read). A missing Secret is waited for (GitOps may apply
    it next); a missing key or a malformed value is a problem naming the Secret and key."""
    secret = ref.credentials
    if secret is None:
        return None, [], None
    keys = [k for k in (secret.token_key, secret.username_key, secret.password_key) if k]
    read = (namespace, secret.name, tuple(keys))
    values = deps.credential_reads.get(read)
    if values is None:
        try:
            values = deps.cluster.secret_values(namespace, secret.name, keys)
        except KubeError as error:
            return None, [], f"credentials: {error}"
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


def _describe_weights(split: TrafficSplit) -> dict[str, int]:
    weights = {split.stable_version: 100 - split.canary_weight}
    if split.canary_version is not None:
        weights[split.canary_version] = split.canary_weight
    return weights


def _measure(spec: UpliftModelSpec, current: UpliftModelStatus, owner: Owner, deps: Dependencies,
             registry: Registry | None, resolution: Resolution, split_as_status: bool,
             now: dt.datetime) -> list[gates.GateOutcome] | None:
    """Gate outcomes, only when an analysis is due and every source it needs can be asked."""
    if current.canary_version is None or not ramp.analysis_due(spec, current, now):
        return None
    if resolution.reason == "RegistryUnavailable":
        # Hold, don't judge: with MLflow unreachable no step may advance and no gate may
        # accumulate errors or inconclusives towards a rollback or a pause, nor lose the
        # version's evidence so far; serving stays exactly as it is.
        previous = {g.name: g for g in current.gates}
        return [gates.GateOutcome(
            name=gate.name, verdict=GateVerdict.INCONCLUSIVE, time=now,
            message=f"holding: MLflow unavailable ({resolution.message})"[:1000],
            memory=gates.memory_of(previous.get(gate.name), gate), holds=True)
            for gate in ramp.gates_to_measure(spec, current)]
    return _analyse(spec, current, owner, deps, registry, split_as_status, now)


def _apply(traffic: TrafficSplit | None, child: dict[str, Any] | None, ready: frozenset[str],
           spec: UpliftModelSpec, owner: Owner, deps: Dependencies, now: dt.datetime, *,
           decided_on: str | None,
           report_token: tuple[str, str] | None) -> status_logic.Applied | None:
    """Server-side apply the decided graph when what is there differs (a hand edit included),
    its decision-key Secret first (the pods cannot start without it); ``report_token`` is the
    report token reference to render, one the pass found (``_report_token``). The graph is stamped with
    the UpliftModel resourceVersion it was decided on (``DECIDED_ON``), and applied only over
    the version of it this pass read (the apply's resourceVersion precondition): a pass that
    read an older graph than is there raises ``_ChildMovedError`` and decides again."""
    if traffic is None:
        return None
    applied = status_logic.Applied(f"{deps.backend.kind} {owner.name}", _describe(traffic))
    manifest = deps.backend.render(owner, _runtime(spec, deps, owner.namespace, owner.name,
                                                   report_token), traffic)
    unchanged = child is not None and _contains(child.get("spec") or {}, manifest["spec"])
    unreported = child is not None and not (child.get("status") or {}).get("state")
    missing_key = _ensure_decision_key(owner, deps, now, settled=unchanged and (
        unreported or set(_describe_weights(traffic)) <= ready))
    if missing_key is not None:
        return replace(applied, error=missing_key)
    if unchanged:
        return applied
    meta = manifest["metadata"]
    if decided_on:
        meta["annotations"] = {**meta.get("annotations", {}), DECIDED_ON: str(decided_on)}
    read = ((child or {}).get("metadata") or {}).get("resourceVersion")
    if read:
        meta["resourceVersion"] = str(read)
    try:
        deps.cluster.apply(manifest, deps.backend.plural)
    except KubeError as error:
        if error.status == 409 and read:
            raise _ChildMovedError(str(error)) from error
        return replace(applied, error=str(error))
    return replace(applied, changed=True)


def _ensure_decision_key(owner: Owner, deps: Dependencies, now: dt.datetime, *,
                         settled: bool) -> str | None:
    """Create the model's decision-key Secret with a fresh random key unless it exists (an
    existing one is never overwritten: the pods that serve hold its key). None when it exists;
    else why not. Once known to exist, asked again only while the graph is not ``settled``
    (changing, or reported with a version not serving), every ``DECISION_KEY_RECHECK``. The key is
    never logged or put into a message."""
    known = (owner.namespace, owner.name, owner.uid)
    checked = deps.decision_keys.get(known)
    if checked is not None and (settled or now - checked < DECISION_KEY_RECHECK):
        return None
    manifest = decision_key.decision_key_secret(owner, deps.new_decision_key())
    try:
        deps.cluster.create_secret(manifest)
    except KubeError as error:
        name = naming.decision_key_secret(owner.name)
        try:  # e.g. create not granted (an older RBAC): one made by hand serves as well
            present = decision_key.DECISION_KEY in deps.cluster.secret_values(
                owner.namespace, name, [decision_key.DECISION_KEY])
        except KubeError:
            present = False
        if not present:
            return f"decision key Secret {owner.namespace}/{name}: {error}"
    deps.decision_keys[known] = now
    return None


def _status(decided: UpliftModelStatus, current: UpliftModelStatus,
            resolved: status_logic.Resolved, applied: status_logic.Applied | None,
            write_back_failure: str | None, owner: Owner, generation: int,
            now: dt.datetime) -> UpliftModelStatus:
    """The decided status with the pass's own conditions (domain.status) and facts."""
    conditions = status_logic.spec_valid(decided.conditions, generation, now)
    conditions = status_logic.model_resolved(conditions, resolved, generation, now)
    conditions = status_logic.serving_applied(conditions, applied, generation, now)
    conditions = status_logic.written_back(conditions, write_back_failure, generation, now)
    update: dict[str, Any] = {"conditions": conditions}
    if resolved.desired is not None:
        update["desired_version"] = resolved.desired
    if not resolved.ok:  # the cause where `kubectl get` shows it, not only in a condition
        update["message"] = (f"{decided.message}: {resolved.reason}: "
                             f"{resolved.message}")[:MAX_MESSAGE]
    if applied is not None and applied.changed:
        update["seldon_deployment"] = owner.name
    return decided.model_copy(update=update)


def _split_of(status: UpliftModelStatus) -> TrafficSplit | None:
    if status.stable_version is None:
        return None
    canary = status.canary_version if status.canary_version != status.stable_version else None
    return TrafficSplit(status.stable_version, canary, status.canary_weight if canary else 0)


def _analyse(spec: UpliftModelSpec, status: UpliftModelStatus, owner: Owner,
             deps: Dependencies, registry: Registry | None, split_as_status: bool,
             now: dt.datetime) -> list[gates.GateOutcome]:
    assert status.canary_version is not None and status.stable_version is not None
    run_ids: dict[str, str | None] = {}
    for version in (status.canary_version, status.stable_version):
        try:
            run_ids[version] = (deps.resolver.facts(registry_scope(spec.model, owner.namespace,
                                                                   deps),
                                                    spec.model.registered_model, version,
                                                    registry).run_id if registry else None)
        except RegistryError:
            run_ids[version] = None
    ctx = measurements.GateContext(
        namespace=owner.namespace, name=owner.name, canary_version=status.canary_version,
        stable_version=status.stable_version, canary_run_id=run_ids[status.canary_version],
        stable_run_id=run_ids[status.stable_version],
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
        treatments=tuple((t.name, treatment_key(t.name)) for t in spec.treatments))
    previous = {g.name: g for g in status.gates}
    outcomes = []
    prometheus = measurements.per_analysis(deps.prometheus, now)
    for gate in ramp.gates_to_measure(spec, status):
        measured = measurements.collect(gate, ctx, prometheus, registry)
        outcomes.append(gates.evaluate_gate(
            gate, measured, gates.memory_of(previous.get(gate.name), gate), now))
    return outcomes


def _runtime(spec: UpliftModelSpec, deps: Dependencies, namespace: str, name: str,
             report_token: tuple[str, str] | None = None) -> RuntimeSettings:
    credentials = spec.model.credentials
    credential_env: list[tuple[str, str, str]] = []
    if credentials is not None:
        if credentials.token_key:
            credential_env.append(("MLFLOW_TRACKING_TOKEN", credentials.name, credentials.token_key))
        if credentials.username_key and credentials.password_key:
            credential_env += [("MLFLOW_TRACKING_USERNAME", credentials.name,
                                credentials.username_key),
                               ("MLFLOW_TRACKING_PASSWORD", credentials.name,
                                credentials.password_key)]
    resources = spec.serving.resources.to_wire() if spec.serving.resources else {}
    return RuntimeSettings(
        image=spec.serving.runtime_image or deps.runtime_image,
        registered_model=spec.model.registered_model,
        tracking_uri=spec.model.tracking_uri or deps.default_tracking_uri or "",
        replicas=spec.serving.replicas, holdout_fraction=spec.experiment.holdout_fraction,
        unit_key=spec.experiment.unit_key, salt=spec.experiment.salt or f"{namespace}/{name}",
        treatments=tuple(t.name for t in spec.treatments), resources=resources,
        credential_env=tuple(credential_env),
        service_account_name=spec.serving.service_account_name,
        drain_wait_seconds=deps.runtime_drain_wait, report_token=report_token)


#: The shortest report token the serving pods accept (``runtime.config``): a bearer token is
#: guessed online otherwise.
REPORT_TOKEN_MIN_LENGTH = 16


def _report_token(spec: UpliftModelSpec, namespace: str,
                  deps: Dependencies) -> tuple[tuple[str, str] | None, list[str]]:
    """The report token reference to render (``spec.serving.reportCredentials``: Secret name,
    key) once the Secret is found with a usable token under the key, else the problems, each
    naming the Secret and key, never the value. A Secret that is missing or unreadable is a
    problem too (InvalidSpec): rendered, it would hold every new serving pod, the stable's
    included, until it appears. Read through the credentials cache (``CREDENTIALS_TTL_SECONDS``);
    a problem is not kept, so a fixed Secret is seen at the next retry."""
    ref = spec.serving.report_credentials
    if ref is None:
        return None, []
    field_ = "spec.serving.reportCredentials"
    read = (namespace, ref.name, (ref.key,))
    values = deps.credential_reads.get(read)
    if values is None:
        try:
            values = deps.cluster.secret_values(namespace, ref.name, [ref.key])
        except KubeError as error:
            if error.status == 404:
                return None, [f"{field_}: Secret {ref.name!r} does not exist in namespace "
                              f"{namespace!r}"]
            return None, [f"{field_}: Secret {ref.name!r} cannot be read: {error}"]
        problems = _report_token_problems(f"{field_}: Secret {ref.name!r} key {ref.key!r}",
                                          values.get(ref.key))
        if problems:
            return None, problems
        deps.credential_reads.put(read, values)
    return (ref.name, ref.key), []


def _report_token_problems(where: str, raw: bytes | None) -> list[str]:
    """What makes ``raw`` unusable as a report token: absent, not printable ASCII (it travels
    in an HTTP header), whitespace around it (refused rather than stripped, as for the MLflow
    credentials: senders and the runtime read one value), shorter than the runtime accepts."""
    if raw is None:
        return [f"{where} does not exist in the Secret"]
    if raw != raw.strip():
        return [f"{where} has whitespace or a trailing newline around the value (as `echo … | "
                "base64` writes); recreate it without (`echo -n …`, or `kubectl create secret "
                "generic --from-literal`)"]
    if not all(0x21 <= b <= 0x7E for b in raw):
        return [f"{where} holds characters other than printable ASCII (a bearer token travels "
                "in an HTTP header)"]
    if len(raw) < REPORT_TOKEN_MIN_LENGTH:
        return [f"{where} holds {len(raw)} characters; a report token needs at least "
                f"{REPORT_TOKEN_MIN_LENGTH}"]
    return []


def _write_backs(spec: UpliftModelSpec, decision: ramp.Decision,
                 now: dt.datetime) -> list[Write]:
    """The registry writes the decision implies (``services.writeback`` applies them): role
    tags on the versions, the promotion alias on a promotion, a rollback's reason."""
    model, status, stamp = spec.model.registered_model, decision.status, now.isoformat()
    writes: list[Write] = []
    for event in decision.events:
        if event.reason in (ramp.Reason.CANARY_STARTED, ramp.Reason.CANARY_REPLACED,
                            ramp.Reason.RETRY) and status.canary_version:
            writes.append(_role(model, status.canary_version, "canary", stamp))
        elif event.reason is ramp.Reason.PROMOTED and status.stable_version:
            writes.append(_role(model, status.stable_version, "stable", stamp))
            if status.previous_stable_version:
                writes.append(_role(model, status.previous_stable_version, "retired", stamp))
            alias, version = spec.model.promotion_alias, status.stable_version
            if alias:
                writes.append(Write(("alias", alias), version,
                                    _alias_write(model, alias, version)))
        elif event.reason in (ramp.Reason.ROLLED_BACK, ramp.Reason.MANUAL_ABORT,
                              ramp.Reason.EMERGENCY_ROLLBACK) and status.aborted_version:
            aborted, why = status.aborted_version, event.message[:500]
            writes.append(_role(model, aborted, "rolled-back", stamp))
            writes.append(Write(("reason", aborted), why,
                                _tag_write(model, aborted, {REASON_TAG: why})))
            restored = status.stable_version
            if (event.reason is ramp.Reason.EMERGENCY_ROLLBACK and restored
                    and status.canary_version is None and status.history
                    and status.history[-1].version == restored):
                # The previous stable is stable again: its role, and the promotion alias, back.
                writes.append(_role(model, restored, "stable", stamp))
                alias = spec.model.promotion_alias
                if alias:
                    writes.append(Write(("alias", alias), restored,
                                        _alias_write(model, alias, restored)))
    return writes


def _alias_write(model: str, alias: str, version: str) -> Callable[[Registry], None]:
    def apply(registry: Registry) -> None:
        registry.set_alias(model, alias, version)
    return apply


def _tag_write(model: str, version: str, tags: Mapping[str, str]) -> Callable[[Registry], None]:
    def apply(registry: Registry) -> None:
        for key, value in tags.items():
            registry.set_version_tag(model, version, key, value)
    return apply


def _role(model: str, version: str, role: str, stamp: str) -> Write:
    """The role tag and its time, as one write (the time means something only with the role)."""
    return Write(("role", version), role,
                 _tag_write(model, version, {ROLE_TAG: role, ROLE_TIME_TAG: stamp}))


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
