"""One reconcile pass of a Campaign: validate → resolve → observe → measure → decide → status.

1. parse the spec; a schema problem is the shared invalid-spec path (``services.common``);
2. resolve the referenced UpliftModel (``Cluster.get``): its treatments for validation, its
   status for whether a stable version serves (``domain.exposure.model_observation``);
3. validate against it (``domain.validation``): problems → the invalid-spec path, nothing else;
4. when an analysis is due, measure every exposure gate and judge it with the same
   ``domain.gates.evaluate_gate`` as the UpliftModel. No Campaign gate type has a collector yet
   (``_COLLECTORS`` is empty): each is ``NotMeasured``, so Inconclusive, never Pass, and the
   ramp holds its first step instead of growing exposure on no evidence;
5. the exposure ramp decides (``domain.exposure.decide``): the whole new status, conditions
   included, the exposure percent and the events;
6. apply: nothing yet. The exposure percent is in status; carrying it, the holdout and the
   economics to the runtime is the data-plane part of issue #9.

The handler turns the result into one status patch and events. Nothing here sleeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from uplift_operator.api.v1alpha1 import API_VERSION
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import exposure, gates, validation
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.measurements import Measurement, MeasurementError, NotMeasured
from uplift_operator.domain.requests import parse_requests
from uplift_operator.services.common import Event, PassResult, invalid_pass
from uplift_operator.services.ports import Cluster, MetricSource

__all__ = ["CampaignDependencies", "reconcile"]

MODEL_PLURAL = "upliftmodels"


@dataclass(frozen=True)
class CampaignDependencies:
    """What a Campaign pass needs from the outside world."""

    cluster: Cluster
    prometheus: MetricSource | None
    metric_templates: Mapping[str, str]


@dataclass(frozen=True)
class _Model:
    treatments: set[str] | None  # None: the UpliftModel was not found
    observation: exposure.ModelObservation


_Collected = Measurement | MeasurementError | NotMeasured | None
#: Campaign gate type → collector; the Campaign data plane (issue #9) fills this.
_COLLECTORS: dict[str, Callable[[CampaignGate, CampaignDependencies], _Collected]] = {}


def reconcile(body: Mapping[str, Any], deps: CampaignDependencies, now: dt.datetime) -> PassResult:
    meta = body["metadata"]
    namespace = str(meta["namespace"])
    generation = int(meta.get("generation") or 0)
    current = CampaignStatus.model_validate(body.get("status") or {})

    try:
        spec = CampaignSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        return invalid_pass(current, generation, validation.schema_problems(error), now)
    model = _resolve(spec, namespace, deps)
    problems = validation.validate_campaign(spec, deps.metric_templates, model.treatments,
                                            namespace=namespace, name=str(meta["name"]))
    if problems:
        return invalid_pass(current, generation, problems, now)

    outcomes = _measure(spec, current, deps, now) if exposure.analysis_due(spec, current, now) else None
    observed = exposure.Observed(
        model=model.observation, gate_outcomes=outcomes,
        requests=parse_requests(meta.get("annotations") or {}), generation=generation)
    valid = current.model_copy(update={
        "conditions": status_logic.spec_valid(current.conditions, generation, now)})
    decision = exposure.decide(spec, valid, observed, now)
    events = tuple(Event(e.type, e.reason.value, e.message) for e in decision.events)
    requeue = decision.requeue_after.total_seconds() if decision.requeue_after else None
    return PassResult(decision.status.to_wire(), events, requeue)


def _resolve(spec: CampaignSpec, namespace: str, deps: CampaignDependencies) -> _Model:
    name = spec.model_ref.name
    body = deps.cluster.get(API_VERSION, MODEL_PLURAL, namespace, name)
    if body is None:
        return _Model(None, exposure.model_observation(name, None))
    treatments = {str(t.get("name", "")) for t in (body.get("spec") or {}).get("treatments", [])}
    try:
        status = UpliftModelStatus.model_validate(body.get("status") or {})
    except ValidationError:  # a status this operator did not write: trust nothing in it
        status = UpliftModelStatus()
    return _Model(treatments, exposure.model_observation(name, status))


def _measure(spec: CampaignSpec, status: CampaignStatus, deps: CampaignDependencies,
             now: dt.datetime) -> list[gates.GateOutcome]:
    previous = {g.name: g for g in status.gates}
    outcomes = []
    for gate in exposure.gates_to_measure(spec):
        collector = _COLLECTORS.get(gate.type)
        measured: _Collected
        if collector is None:
            measured = NotMeasured(f"no collector for {gate.type} gates yet")
        else:
            try:
                measured = collector(gate, deps)
            except Exception as error:  # a source failure is the gate's Error, never a crash
                measured = MeasurementError(f"{type(error).__name__}: {error}")
        outcomes.append(gates.evaluate_gate(gate, measured,
                                            gates.memory_of(previous.get(gate.name)), now))
    return outcomes
