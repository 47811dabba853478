"""One reconcile pass of an UpliftModel: observe → decide → apply → status.

1. parse and validate the spec (``domain.validation``); an invalid spec changes nothing that serves;
2. resolve the version the spec means (``services.resolution``, MLflow);
3. read the serving graph back (``render`` backend's ``observe``);
4. when an analysis is due, measure every gate (``services.measurements``) and judge it
   (``domain.gates``);
5. let the ramp decide (``domain.ramp.decide``) — the whole new status, the traffic split, events;
6. apply the split (server-side apply, only when it differs from what is there) and write the
   MLflow tags / alias the decision implies.

The handler turns the result into one status patch, events and a requeue. Nothing here sleeps.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.mlflow_registry import RegistryError
from uplift_operator.api.v1alpha1.common import Condition, GateVerdict, parse_duration
from uplift_operator.api.v1alpha1.upliftmodel import (
    ModelReference,
    UpliftModelSpec,
    UpliftModelStatus,
)
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import gates, ramp, validation
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.status import MAX_MESSAGE
from uplift_operator.model.keys import treatment_key
from uplift_operator.render.naming import Owner
from uplift_operator.render.serving import RuntimeSettings, ServingBackend, TrafficSplit
from uplift_operator.services import measurements
from uplift_operator.services.common import Event, PassResult, invalid_pass
from uplift_operator.services.ports import Cluster, MetricSource, Registry
from uplift_operator.services.resolution import Resolution, Resolver

__all__ = ["Dependencies", "Event", "PassResult", "reconcile"]

log = logging.getLogger(__name__)

MODEL_RESOLVED = cond.MODEL_RESOLVED
SERVING_APPLIED = cond.SERVING_APPLIED
ROLE_TAG = "uplift.dev/role"
ROLE_TIME_TAG = "uplift.dev/role-since"
REASON_TAG = "uplift.dev/reason"


@dataclass
class Dependencies:
    """What a pass needs from the outside world; built once at start-up (handlers/lifecycle)."""

    cluster: Cluster
    backend: ServingBackend
    registry_for: Callable[[ModelReference, str], Registry]
    prometheus: MetricSource | None
    metric_templates: Mapping[str, str]
    runtime_image: str
    default_tracking_uri: str | None
    resolver: Resolver = field(default_factory=Resolver)


def reconcile(body: Mapping[str, Any], deps: Dependencies, now: dt.datetime) -> PassResult:
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    generation = int(meta.get("generation") or 0)
    current = UpliftModelStatus.model_validate(body.get("status") or {})

    try:
        spec = UpliftModelSpec.model_validate(body.get("spec") or {})
        problems = validation.validate_upliftmodel(spec, deps.metric_templates)
    except ValidationError as error:
        problems = validation.schema_problems(error)
    if problems:
        return invalid_pass(current, generation, problems, now)

    conditions = status_logic.spec_valid(current.conditions, generation, now)
    events: list[Event] = []

    # 2. the desired version
    registry: Registry | None
    try:
        registry = deps.registry_for(spec.model, namespace)
        resolution = deps.resolver.resolve((namespace, name), spec.model, registry, now)
    except (KubeError, ValueError) as error:  # credentials Secret missing or malformed
        registry = None
        resolution = Resolution(None, "RegistryUnavailable", str(error))
    desired = resolution.desired.version if resolution.desired and resolution.ok else None
    unresolved_before = cond.find(current.conditions, MODEL_RESOLVED)
    if not resolution.ok and (unresolved_before is None or unresolved_before.status != "False"
                              or unresolved_before.message != resolution.message[:MAX_MESSAGE]):
        # A new cause of a stuck reference: one Warning event (not one per pass).
        events.append(Event("Warning", resolution.reason, resolution.message[:MAX_MESSAGE]))
    conditions = cond.set_condition(
        conditions, type_=MODEL_RESOLVED, status="True" if resolution.ok else "False",
        reason=resolution.reason,
        message=(f"{spec.model.registered_model} resolves to version {desired}" if resolution.ok
                 else resolution.message)[:MAX_MESSAGE], now=now, observed_generation=generation)

    # 3. what serves
    owner = Owner(name=name, namespace=namespace, uid=str(meta["uid"]))
    child = deps.cluster.get(deps.backend.api_version, deps.backend.plural, namespace, name)
    split_now = _split_of(current)
    serving = deps.backend.observe(child, split_now) if split_now else None
    ready = serving.ready_versions if serving and serving.ready else frozenset()

    # 4. gates, only when an analysis is due and every source it needs can be asked
    outcomes = None
    if current.canary_version is not None and ramp.analysis_due(spec, current, now):
        if resolution.reason == "RegistryUnavailable":
            # Hold, don't judge: with MLflow unreachable no step may advance and no gate may
            # accumulate errors towards a rollback; serving stays exactly as it is.
            outcomes = [gates.GateOutcome(
                name=gate.name, verdict=GateVerdict.INCONCLUSIVE, time=now,
                message=f"holding: MLflow unavailable ({resolution.message})"[:1000])
                for gate in ramp.gates_to_measure(spec, current)]
        else:
            outcomes = _analyse(spec, current, owner, deps, registry, now)

    # 5. the decision
    requests = ramp.parse_requests(meta.get("annotations") or {})
    observed = ramp.Observed(
        desired_version=desired,
        stable_ready=current.stable_version in ready if current.stable_version else False,
        canary_ready=current.canary_version in ready if current.canary_version else False,
        gate_outcomes=outcomes, requests=requests, generation=generation)
    decision = ramp.decide(spec, current.model_copy(update={"conditions": conditions}),
                           observed, now)
    status = decision.status  # gate verdicts and their sequential state included (gates.assess)
    if desired is not None:
        status = status.model_copy(update={"desired_version": desired})
    if not resolution.ok:  # the cause where `kubectl get` shows it, not only in a condition
        status = status.model_copy(update={"message": (
            f"{status.message}: {resolution.reason}: {resolution.message}")[:MAX_MESSAGE]})
    events += [Event(e.type, e.reason.value, e.message) for e in decision.events]

    # 6. apply
    if decision.traffic is not None:
        target = decision.traffic
        manifest = deps.backend.render(owner, _runtime(spec, deps, namespace, name), target)
        if child is None or not _contains(child.get("spec") or {}, manifest["spec"]):
            try:
                deps.cluster.apply(manifest, deps.backend.plural)
                status = status.model_copy(update={"seldon_deployment": name})
                status = _set(status, SERVING_APPLIED, "True", cond.APPLIED,
                              f"{deps.backend.kind} {name} applied: {_describe(target)}", now,
                              generation)
            except KubeError as error:
                status = _set(status, SERVING_APPLIED, "False", cond.APPLY_FAILED, str(error), now,
                              generation)
                events.append(Event("Warning", cond.APPLY_FAILED, str(error)))
        elif cond.find(status.conditions, SERVING_APPLIED) is None:
            status = _set(status, SERVING_APPLIED, "True", cond.APPLIED,
                          f"{deps.backend.kind} {name} serves {_describe(target)}", now,
                          generation)
    if registry is not None:
        _write_back(spec, decision, registry, now)

    requeue = decision.requeue_after.total_seconds() if decision.requeue_after else None
    if not resolution.ok and requeue is None:
        requeue = 10.0  # retry MLflow with the timer's cadence; serving is untouched meanwhile
    return PassResult(status.to_wire(), tuple(events), requeue)


def _split_of(status: UpliftModelStatus) -> TrafficSplit | None:
    if status.stable_version is None:
        return None
    canary = status.canary_version if status.canary_version != status.stable_version else None
    return TrafficSplit(status.stable_version, canary, status.canary_weight if canary else 0)


def _analyse(spec: UpliftModelSpec, status: UpliftModelStatus, owner: Owner,
             deps: Dependencies, registry: Registry | None, now: dt.datetime) -> list[gates.GateOutcome]:
    assert status.canary_version is not None and status.stable_version is not None
    run_ids: dict[str, str | None] = {}
    for version in (status.canary_version, status.stable_version):
        try:
            run_ids[version] = (deps.resolver.facts(spec.model.registered_model, version,
                                                    registry).run_id if registry else None)
        except RegistryError:
            run_ids[version] = None
    ctx = measurements.GateContext(
        namespace=owner.namespace, name=owner.name, canary_version=status.canary_version,
        stable_version=status.stable_version, canary_run_id=run_ids[status.canary_version],
        stable_run_id=run_ids[status.stable_version],
        step_started_at=status.step_started_at or now,
        canary_started_at=status.canary_started_at or status.step_started_at or now, now=now,
        canary_share=status.canary_weight / 100,
        analysis_interval_s=_seconds(spec.rollout.analysis_interval),
        holdout_fraction=spec.experiment.holdout_fraction,
        metric_templates=deps.metric_templates,
        treatments=tuple((t.name, treatment_key(t.name)) for t in spec.treatments))
    previous = {g.name: g for g in status.gates}
    outcomes = []
    for gate in ramp.gates_to_measure(spec, status):
        measured = measurements.collect(gate, ctx, deps.prometheus, registry)
        outcomes.append(gates.evaluate_gate(gate, measured, gates.memory_of(previous.get(gate.name)),
                                            now))
    return outcomes


def _runtime(spec: UpliftModelSpec, deps: Dependencies, namespace: str,
             name: str) -> RuntimeSettings:
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
        service_account_name=spec.serving.service_account_name)


def _write_back(spec: UpliftModelSpec, decision: ramp.Decision, registry: Registry,
                now: dt.datetime) -> None:
    """Tag versions with their role, and move the promotion alias, as the decision implies.

    Best effort: a failed write is logged and retried by the next decision of the same kind; it
    never blocks serving.
    """
    model = spec.model.registered_model
    stamp = now.isoformat()
    status = decision.status
    for event in decision.events:
        try:
            if event.reason in (ramp.Reason.CANARY_STARTED, ramp.Reason.CANARY_REPLACED,
                                ramp.Reason.RETRY) and status.canary_version:
                _tag(registry, model, status.canary_version, "canary", stamp)
            elif event.reason is ramp.Reason.PROMOTED and status.stable_version:
                _tag(registry, model, status.stable_version, "stable", stamp)
                if status.previous_stable_version:
                    _tag(registry, model, status.previous_stable_version, "retired", stamp)
                if spec.model.promotion_alias:
                    registry.set_alias(model, spec.model.promotion_alias, status.stable_version)
            elif event.reason in (ramp.Reason.ROLLED_BACK, ramp.Reason.MANUAL_ABORT,
                                  ramp.Reason.EMERGENCY_ROLLBACK) and status.aborted_version:
                _tag(registry, model, status.aborted_version, "rolled-back", stamp)
                registry.set_version_tag(model, status.aborted_version, REASON_TAG,
                                         event.message[:500])
        except RegistryError as error:
            log.warning("MLflow write-back for %s failed: %s", model, error)


def _tag(registry: Registry, model: str, version: str, role: str, stamp: str) -> None:
    registry.set_version_tag(model, version, ROLE_TAG, role)
    registry.set_version_tag(model, version, ROLE_TIME_TAG, stamp)


def _set(status: UpliftModelStatus, type_: str, value: cond.ConditionStatus, reason: str,
         message: str, now: dt.datetime, generation: int) -> UpliftModelStatus:
    conditions: list[Condition] = cond.set_condition(
        status.conditions, type_=type_, status=value, reason=reason, message=message[:4000],
        now=now, observed_generation=generation)
    return status.model_copy(update={"conditions": conditions})


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
