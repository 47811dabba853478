"""One reconcile pass of a Campaign: validate → resolve → observe → measure → decide → status.

1. parse the spec; a schema problem is the invalid-spec path of step 3 for a Campaign the
   campaigns file leaves out (``_unparsed_pass``: the stop requests acted on, on a stand-in
   of the spec, and the message saying the runtime treats no one under it);
2. resolve the referenced UpliftModel (``Cluster.get``): its treatments for validation, its
   status for whether a stable version serves (``domain.exposure.model_observation``, which
   also reads whether the campaign already exposes), and what that served version scores (its
   ``uplift.treatments`` tag, through the models' shared resolver: ``_treatment_not_served``),
   since the runtime rejects a campaign naming a treatment its loaded version lacks;
3. validate against it (``domain.validation``): problems → the invalid-spec path, nothing else
   but the abort and emergency-rollback requests (``domain.exposure.stop_requests``: a kill
   switch works whatever the spec says) and, for a spec without a budget, what the status
   keeps of a removed one dropped as a valid pass drops it (``domain.exposure.forget_budget``;
   the campaigns file renders the refused Campaign as an inactive entry at 0 %, so the runtime
   treats no one under it until the spec is fixed, which the message, Ready and the
   InvalidSpec event then say: ``exposure.refused_consequence``, which says no one is treated
   only once the file is written while it cannot be; ``SettingsDelivered`` and
   ``HoldoutShared`` are said as on a valid pass, and named in the message past their grace:
   ``_refused_pass``; the status keeps the step and
   exposure the ramp resumes at, and the first valid pass after it, told so by
   ``InvalidSpec`` True in the status it reads, starts that step over:
   ``Observed.spec_was_refused``);
4. when an analysis is due, measure the exposure gates (every one while a step is underway,
   the budget gates once the ramp completed: ``domain.exposure.gates_to_measure``) from the
   runtime's counters of this campaign (``services.measurements.collect_campaign``) and judge it with the same
   ``domain.gates.evaluate_gate`` as the UpliftModel; no data is Inconclusive, never Pass. A
   drift gate's training reference is the MLflow run of the stable version the model serves,
   resolved as the model's own pass does (``services.upliftmodel.version_run``: its
   credentials, its tracking URI), only when the campaign has a drift gate to measure; MLflow
   out of reach holds that gate Inconclusive, never an Error towards a rollback;
5. the exposure ramp decides (``domain.exposure.decide``): the whole new status, conditions
   included, the exposure percent and the events (a spent budget suspends, never rolls back);
6. apply: nothing here. The exposure percent and phase are in status; the model's campaigns
   file (``handlers.campaigns_file``) carries them to the runtime, and ``SettingsDelivered``
   says when it could not; the phase published is Degraded once that, or its UpliftModel not
   found (``ModelServing`` ``ModelNotFound``), has held longer than a grace
   (``domain.stuck``). While the file is not written the ramp does not advance
   (``Observed.undelivered``) and its deadline does not run; once the file is written its
   step starts over, unless the file there carried its entry all along
   (``Observed.carried_since``); before the model's first file pass in this process (a
   restart) whether it can is not known, and the stored condition stands for it
   (``exposure.undelivered``); a step whose exposure the first write of the file in this
   process delivered (a predecessor decided it and stopped before its file pass) starts over
   too (``Observed.delivered_at``).

Beside the ramp, a warning that never acts: other Campaigns of its model drawing with the same
salt expose and hold out the same units (``domain.shared_draws``), said by ``HoldoutShared``
and an event when it turns True or False; the handler gives the pass the draws of its model's
Campaigns.

The handler turns the result into one status patch and events. Nothing here sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from uplift_operator.adapters.mlflow_registry import RegistryError
from uplift_operator.api.v1alpha1 import API_VERSION
from uplift_operator.api.v1alpha1.campaign import BudgetLedgers, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import Condition, Phase, clamp_durations
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure, gates, shared_draws, steps, stuck, validation
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.budget import remembered
from uplift_operator.domain.measurements import BudgetMeasurement, CampaignUnits, NotMeasured
from uplift_operator.domain.requests import is_handled, parse_requests
from uplift_operator.services import measurements, upliftmodel
from uplift_operator.services.campaigns_file import NotCarried
from uplift_operator.services.common import (
    Event,
    PassResult,
    ignored_field_events,
    invalid_pass,
    validated,
)
from uplift_operator.services.ports import Cluster, MetricSource, Registry

log = logging.getLogger(__name__)

__all__ = ["CampaignDependencies", "holdout_draw", "measured_gates", "model_inputs", "reconcile"]

MODEL_PLURAL = "upliftmodels"


@dataclass(frozen=True)
class CampaignDependencies:
    """What a Campaign pass needs from the outside world."""

    cluster: Cluster
    prometheus: MetricSource | None
    metric_templates: Mapping[str, str]
    # The UpliftModels' adapters (registry clients, the resolver's cache): where a drift gate's
    # training reference is read. None: no MLflow, the drift gate holds Inconclusive.
    models: upliftmodel.Dependencies | None = None
    # Why the model's campaigns file has no room for a Campaign (namespace, model, campaign),
    # None when it has (``services.campaigns_file.FileDependencies.left_out``).
    left_out: Callable[[str, str, str], NotCarried | None] = (
        lambda namespace, model, campaign: None)
    # Why the model's campaigns file cannot be written (namespace, model), None when it can,
    # ``exposure.NOT_KNOWN_YET`` before the model's file pass in this process
    # (``services.campaigns_file.FileDependencies.undelivered``).
    undelivered: Callable[[str, str], str | exposure.NotKnownYet | None] = (
        lambda namespace, model: None)
    # Since when the model's campaigns file has carried a Campaign's entry (namespace, model,
    # campaign) through its last failure to be written, None when not known or it did not
    # (``services.campaigns_file.FileDependencies.carried_since``): the step then starts
    # over once the file is written again.
    carried_since: Callable[[str, str, str], dt.datetime | None] = (
        lambda namespace, model, campaign: None)
    # When this process's first write of the model's campaigns file delivered a Campaign's
    # entry (namespace, model, campaign), the ConfigMap there not carrying it as its status
    # says; None when not known so (``services.campaigns_file.FileDependencies.delivered_at``):
    # a step started before then starts over.
    delivered_at: Callable[[str, str, str], dt.datetime | None] = (
        lambda namespace, model, campaign: None)


@dataclass(frozen=True)
class _Model:
    treatments: set[str] | None  # None: the UpliftModel was not found
    observation: exposure.ModelObservation
    body: Mapping[str, Any] | None = None
    status: UpliftModelStatus | None = None  # what this release can read of it


def reconcile(body: Mapping[str, Any], deps: CampaignDependencies, now: dt.datetime, *,
              draws: Sequence[shared_draws.Draw] = ()) -> PassResult:
    """One pass; ``draws``: those of the other Campaigns of its model that may share its salt
    (``handlers.campaign`` reads them from what the watch keeps), for ``HoldoutShared``."""
    # Read tolerantly: a status this release cannot read in full must not stop every pass
    # (``services.upliftmodel.read_status``, which names what it could not read).
    read = upliftmodel.read_status(CampaignStatus, body, now, verbatim=STATUS_VERBATIM)
    return read.told(_reconcile(body, deps, now, read.status, draws))


#: Status fields kept as they are when longer than this release allows (``read_status``).
STATUS_VERBATIM = frozenset({"modelVersion", "rolledBackSpec"})


def _reconcile(body: Mapping[str, Any], deps: CampaignDependencies, now: dt.datetime,
               current: CampaignStatus, draws: Sequence[shared_draws.Draw]) -> PassResult:
    meta = body["metadata"]
    namespace = str(meta["namespace"])
    generation = int(meta.get("generation") or 0)

    try:
        spec = CampaignSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        return _unparsed_pass(body, error, deps, current, generation, namespace, now)
    model = _resolve(spec.model_ref.name, namespace, deps, current)
    # An abort or emergency rollback pending is acted on without first asking MLflow for the
    # model's inputs (after a restart, nothing cached, a hanging registry held the kill switch
    # for its request timeout): the drift gates' features are checked from the next pass.
    stopping = _stop_pending(meta, current)
    features = None if stopping else _drift_features(spec, model, namespace, deps)
    problems = validated(lambda: validation.validate_campaign(
        spec, deps.metric_templates, model.treatments, namespace=namespace,
        name=str(meta["name"]), model_features=features), f"Campaign {namespace}/{meta['name']}")
    if problems:
        # A kill switch works whatever the spec says: abort and emergency rollback are acted
        # on (exposure 0 %), the other requests wait for a valid spec; a duration stored
        # before the API server bounded it is read as the longest one meanwhile.
        try:
            stopped, stop_events = exposure.stop_requests(
                clamp_durations(spec), current, exposure.Observed(
                    model=model.observation,
                    requests=parse_requests(meta.get("annotations") or {}),
                    generation=generation, name=str(meta["name"]), namespace=namespace), now)
        except Exception:  # a spec no rule foresaw: its InvalidSpec written, not a pass lost
            log.exception("acting on a stop request of Campaign %s/%s failed", namespace,
                          meta["name"])
            stopped, stop_events = current, ()
        # A budget removed: dropped as a valid pass drops it, since the campaigns file renders
        # the refused entry without it too (each replica drops its ledger); a budget set again
        # is then counted afresh, not with the removed one's spend, which BudgetReset says.
        stop_events = (*stop_events,
                       *_budget_reset(spec, stopped, model.observation, generation, now))
        stopped = exposure.forget_budget(spec, stopped)
        return _refused_pass(spec, stopped, current, model, problems, stop_events, deps,
                             draws, generation, namespace, str(meta["name"]), now)
    # Its conversion gates' evidence is kept only under the targeting (and a roi gate's, the
    # economics) it was gathered under; a status from before that binding keeps it
    # (``gates.same_settings``).
    spec = exposure.with_economics(spec)
    no_room = deps.left_out(namespace, spec.model_ref.name, str(meta["name"]))
    if no_room is not None and not no_room.carried:
        # Not in the file, the runtime cannot treat under it: as no model. One the file
        # carries at its entry from before a spec edit it has no room for is held below instead.
        model = dataclasses.replace(model, observation=dataclasses.replace(
            model.observation, serving=False, degraded=False, why=no_room.message,
            reason=no_room.reason, unheld=None))

    anchor = _budget_anchor(spec, meta, current)
    outcomes: list[gates.GateOutcome] | None = None
    units: CampaignUnits | None = None
    spend_record: BudgetLedgers | None = None
    # The runtime pods' scrape interval (and the query lag), after which a budget period's
    # spend can be read.
    settle = (exposure.budget_settle(deps.models.prometheus_scrape_interval,
                                     deps.models.prometheus_query_lag)
              if deps.models is not None else exposure.budget_settle())
    if exposure.analysis_due(spec, current, now, anchor=anchor, settle=settle):
        try:
            outcomes, units, spend_record = _measure(spec, current, deps, model, namespace,
                                                     str(meta["name"]), anchor, now)
        except Exception as error:  # never lose the pass: it acts on abort/emergency rollback
            log.exception("measuring the gates of Campaign %s/%s failed", namespace,
                          meta["name"])
            previous = {g.name: g for g in current.gates}
            outcomes = [gates.defect_outcome(gate, gates.memory_of(previous.get(gate.name), gate),
                                             error, now)
                        for gate in exposure.gates_to_measure(spec, current)]
    undelivered = _undelivered(deps, namespace, spec.model_ref.name, model)
    observed = exposure.Observed(
        model=model.observation, gate_outcomes=outcomes, budget_anchor=anchor, units=units,
        budget_ledgers=spend_record, requests=parse_requests(meta.get("annotations") or {}),
        generation=generation, name=str(meta["name"]), namespace=namespace,
        treatment_not_served=_treatment_not_served(spec, model, namespace, deps, current),
        # The runtime treats at its exposure on its settings from before an edit the file
        # has no room for: the ramp is held there as for a file not written (stops still act).
        undelivered=(exposure.undelivered(current.conditions, undelivered)
                     or _edit_not_carried(no_room, undelivered, current)),
        # What the file there carried through a failure to write it is no news of an edit it
        # had no room for: released, the step starts over (``exposure.start_step_again``).
        carried_since=None if _edit_held(current) is not None else deps.carried_since(
            namespace, spec.model_ref.name, str(meta["name"])),
        delivered_at=deps.delivered_at(namespace, spec.model_ref.name, str(meta["name"])),
        delivery_not_known=isinstance(undelivered, exposure.NotKnownYet),
        spec_was_refused=_refused(current), budget_settle=settle)
    valid = current.model_copy(update={
        "conditions": status_logic.spec_valid(current.conditions, generation, now)})
    decision = exposure.decide(spec, valid, observed, now)
    problem, reason = _delivery_problem(undelivered, no_room)
    decision.status.conditions = exposure.settings_delivered(
        decision.status.conditions, problem, generation, now, reason=reason,
        model_found=not _file_gone(model))
    # A warning, never a hold: the ramp above decided without it.
    own = shared_draws.draw(namespace, spec.model_ref.name, str(meta["name"]),
                            spec.experiment.salt)
    decision.status.conditions = shared_draws.holdout_shared(
        decision.status.conditions, own, shared_draws.sharing(own, draws), generation, now,
        model_salt=_model_salt(model, namespace, spec.model_ref.name))
    # Degraded while its settings have not reached the runtime for longer than a grace (Argo
    # CD's health passes the phase through); Ready, the exposure and every decision as decided.
    published = stuck.campaign_phase(decision.status.phase, decision.status.message,
                                     decision.status.conditions,
                                     spec.exposure.progress_deadline, now)
    decision.status.phase, decision.status.message = published.phase, published.message
    events = (ignored_field_events(current, generation, validation.ignored_gate_fields(
        spec.exposure.gates, "spec.exposure") + validation.ignored_targeting_fields(
        spec.targeting) + validation.short_progress_deadline(spec.exposure, "spec.exposure"))
              + tuple(Event(e.type, e.reason.value, e.message, e.decision) for e in decision.events)
              + _shared_draw_news(current.conditions, decision.status.conditions))
    requeue = decision.requeue_after.total_seconds() if decision.requeue_after else None
    if published.due is not None:  # a problem's grace ends: the phase turns Degraded then
        grace_ends = (published.due - now).total_seconds()
        requeue = grace_ends if requeue is None else min(requeue, grace_ends)
    return PassResult(decision.status.to_wire(), events, requeue)


def _budget_reset(spec: CampaignSpec, status: CampaignStatus,
                  model: exposure.ModelObservation, generation: int,
                  now: dt.datetime) -> tuple[steps.Event, ...]:
    """The ``BudgetReset`` Warning a valid pass posts as it drops a removed budget's record
    (``warn_budget_reset``: a spend recorded), for the refused spec's pass that drops it."""
    try:
        return exposure.budget_reset_events(clamp_durations(spec), status, exposure.Observed(
            model=model, generation=generation), now)
    except Exception:  # a spec no rule foresaw: its InvalidSpec written, not a pass lost
        log.exception("telling of a budget removed from a refused spec failed")
        return ()


def _refused_pass(spec: CampaignSpec, stopped: CampaignStatus, current: CampaignStatus,
                  model: _Model, problems: list[str], stop_events: Sequence[steps.Event],
                  deps: CampaignDependencies, draws: Sequence[shared_draws.Draw],
                  generation: int, namespace: str, name: str, now: dt.datetime) -> PassResult:
    """The invalid-spec path's result (the spec parsed, validation refused it): the refusal
    (``invalid_pass``) with what the file side says as on a valid pass, since the campaigns
    file still carries the Campaign (an inactive entry): ``SettingsDelivered`` (an abort acted
    on meanwhile, or the inactive entry itself, has not reached the runtime while the file
    cannot be written; and it turns True once it is), ``HoldoutShared``, and the phase's
    message naming them past their grace (``stuck.campaign_phase``). The consequence says no one
    is treated only once the file is written while it cannot be."""
    undelivered = _undelivered(deps, namespace, spec.model_ref.name, model)
    # As a valid pass says it: a file with no room for the Campaign leaves it out whatever its
    # spec (without it, False CampaignsFileFull flipped True on a refused pass and back once
    # the spec was fixed, restarting the condition's grace and its alert's ``for``).
    problem, reason = _delivery_problem(
        undelivered, deps.left_out(namespace, spec.model_ref.name, name))
    conditions = exposure.settings_delivered(stopped.conditions, problem, generation, now,
                                             reason=reason, model_found=not _file_gone(model))
    own = shared_draws.draw(namespace, spec.model_ref.name, name, spec.experiment.salt)
    conditions = shared_draws.holdout_shared(
        conditions, own, shared_draws.sharing(own, draws), generation, now,
        model_salt=_model_salt(model, namespace, spec.model_ref.name))
    consequence = exposure.refused_consequence(
        stopped, exposure.undelivered(stopped.conditions, undelivered))
    # Whether the refusal is news is judged on its own words, not on the problems
    # ``stuck.campaign_phase`` named after them (or each pass would post its Warning again).
    said = status_logic.invalid_said(stopped.conditions, stopped.message)
    invalid = invalid_pass(stopped.model_copy(update={"conditions": conditions, "message": said}),
                           generation, problems, now, consequence=consequence)
    try:
        deadline = clamp_durations(spec).exposure.progress_deadline
        stuck.grace(deadline)
    except ValueError:  # refused, maybe for this very field: the default grace
        deadline = None
    published = stuck.campaign_phase(Phase.DEGRADED, str(invalid.status["message"]),
                                     conditions, deadline, now)
    status = {**invalid.status, "phase": (published.phase or Phase.DEGRADED).value,
              "message": published.message}
    events = (tuple(Event(e.type, e.reason.value, e.message, e.decision) for e in stop_events)
              + invalid.events + _shared_draw_news(current.conditions, conditions))
    return PassResult(status, events, None)


def _unparsed_pass(body: Mapping[str, Any], error: ValidationError,
                   deps: CampaignDependencies, current: CampaignStatus, generation: int,
                   namespace: str, now: dt.datetime) -> PassResult:
    """The schema-error path: the spec does not parse (a value stored before this release
    narrowed its schema, since the API server does not check an unchanged value again), so
    the model's campaigns file leaves the Campaign out (``services.campaigns_file``: the
    runtime forgets it). As for a spec that parses but validation refuses (``_refused_pass``):
    the status keeps the step and exposure the ramp resumes at, and its message, Ready and the
    InvalidSpec event begin with what the runtime does meanwhile (``_unparsed_consequence``:
    treating no one under the Campaign, only once the file is written while it cannot be);
    ``SettingsDelivered`` is said as there and named in the phase's message past the default
    grace (the spec's ``progressDeadline`` is not known); an abort or an emergency rollback
    is acted on (``exposure.stop_requests``, on ``_stand_in``), the other requests wait for a
    spec that parses. ``HoldoutShared`` is left as it was: no draw is made under a Campaign
    the file leaves out."""
    meta = body["metadata"]
    name = str(meta["name"])
    raw = body.get("spec")
    model_name = _raw_model_name(raw)
    model = (_resolve(model_name, namespace, deps, current) if model_name is not None
             else _Model(None, exposure.model_observation("", None)))
    stopped: CampaignStatus = current
    stop_events: tuple[steps.Event, ...] = ()
    stand_in = _stand_in(raw, current)
    if stand_in is not None:
        try:
            stopped, stop_events = exposure.stop_requests(
                clamp_durations(stand_in), current, exposure.Observed(
                    model=model.observation,
                    requests=parse_requests(meta.get("annotations") or {}),
                    generation=generation, name=name, namespace=namespace), now)
        except Exception:  # its InvalidSpec written, not a pass lost
            log.exception("acting on a stop request of Campaign %s/%s failed", namespace, name)
    conditions = stopped.conditions
    undelivered = None
    if model_name is not None:  # the file it would be in (``modelRef`` is immutable)
        undelivered = _undelivered(deps, namespace, model_name, model)
        conditions = exposure.settings_delivered(
            conditions, undelivered, generation, now, reason=cond.FILE_NOT_WRITTEN,
            model_found=not _file_gone(model))
    consequence = _unparsed_consequence(
        stopped, exposure.undelivered(stopped.conditions, undelivered))
    said = status_logic.invalid_said(stopped.conditions, stopped.message)
    invalid = invalid_pass(stopped.model_copy(update={"conditions": conditions, "message": said}),
                           generation, validation.schema_problems(error), now,
                           consequence=consequence)
    published = stuck.campaign_phase(Phase.DEGRADED, str(invalid.status["message"]),
                                     conditions, None, now)
    status = {**invalid.status, "phase": (published.phase or Phase.DEGRADED).value,
              "message": published.message}
    events = (tuple(Event(e.type, e.reason.value, e.message, e.decision) for e in stop_events)
              + invalid.events)
    return PassResult(status, events, None)


def _unparsed_consequence(status: CampaignStatus, undelivered: str | None) -> str | None:
    """What a spec that does not parse stops (``exposure.refused_consequence``'s words for a
    Campaign the campaigns file leaves out, not renders inactive): the runtime treats no one
    under it once the file is written, the status keeping the exposure and step the ramp
    resumes at once the spec is fixed. None when it treated no one anyway (0 %)."""
    if status.exposure_percent <= 0 or undelivered is not None:
        return exposure.refused_consequence(status, undelivered)
    where = (f" at step {status.current_step + 1}" if status.current_step is not None
             else " (ramp complete)")
    return (f"treating no one under this Campaign until its spec is fixed (its spec does not "
            f"parse, so its campaigns file leaves it out; exposure "
            f"{status.exposure_percent:g}%{where} resumes then)")


def _raw_model_name(raw: object) -> str | None:
    """``spec.modelRef.name`` as stored, whether or not the spec parses (the CRD keeps it
    immutable: the model whose campaigns file carried the Campaign); None when not a name."""
    ref = raw.get("modelRef") if isinstance(raw, Mapping) else None
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return name if isinstance(name, str) and name else None


#: The sections the schema requires, each as ``_stand_in`` reads one that does not parse.
_STAND_IN_SECTIONS: dict[str, Any] = {
    "modelRef": {"name": "unparsed"},
    "treatments": [{"name": "unparsed"}],
    "economics": {"valuePerConversion": 0, "costPerTreatment": 0},
    "experiment": {"holdoutFraction": 0.5},
    "exposure": {"steps": [], "gates": [{"name": "unparsed", "type": "deliveryRate"}]},
}


def _stand_in(raw: object, current: CampaignStatus) -> CampaignSpec | None:
    """The spec an abort or an emergency rollback of a Campaign whose spec does not parse is
    acted on with (``_unparsed_pass``): the stored spec, each top-level section that does not
    parse replaced (a required one: ``_STAND_IN_SECTIONS``, its steps as many as the stored
    ones, or as the status's step, at 100 %) or dropped (an optional one, read as its
    default: a schedule so, the stop acts whatever its end). Nothing but the stop reads it:
    the exposure to 0 %, the rollback held for its digest (``rolledBackSpec``), which the fix
    changes, so the ramp restarts at step 1 then as after any rollback and edit. None when no
    section can be told apart (a problem of the spec as a whole)."""
    spec: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
    replaced: set[str] = set()
    while True:
        try:
            return CampaignSpec.model_validate(spec)
        except ValidationError as error:
            broken = {str(e["loc"][0]) if e["loc"] else "" for e in error.errors()}
        changed = False
        for section in broken - replaced:
            if section in _STAND_IN_SECTIONS:
                spec[section] = _stand_in_section(section, spec.get(section), current)
                replaced.add(section)
                changed = True
            elif section in spec:
                del spec[section]
                changed = True
        if not changed:
            return None


def _stand_in_section(section: str, stored: object, current: CampaignStatus) -> Any:
    """``_STAND_IN_SECTIONS``' ``section``; the exposure's steps as many as ``stored``'s, or
    as reach the status's step, so that a stop names the step as a valid pass would."""
    value = _STAND_IN_SECTIONS[section]
    if section != "exposure":
        return value
    steps = stored.get("steps") if isinstance(stored, Mapping) else None
    count = max(len(steps) if isinstance(steps, list) else 0,
                (current.current_step or 0) + 1)
    return {**value, "steps": [{"percent": 100}] * count}


def _delivery_problem(undelivered: str | exposure.NotKnownYet | None,
                      no_room: NotCarried | None) -> tuple[str | exposure.NotKnownYet | None, str]:
    """What ``SettingsDelivered`` says of the file (``exposure.settings_delivered``'s problem
    and reason): a file that cannot be written first, else one that leaves the Campaign out
    (known, as the file is now)."""
    if not isinstance(undelivered, str) and no_room is not None:
        return no_room.message, no_room.reason
    return undelivered, cond.FILE_NOT_WRITTEN


def _edit_not_carried(no_room: NotCarried | None, undelivered: str | exposure.NotKnownYet | None,
                      current: CampaignStatus) -> str | None:
    """Why the ramp is held for a spec edit the model's campaigns file has no room for: it
    carries the Campaign's entry from before the edit (``NotCarried.carried``), so the runtime
    treats at its exposure on its previous settings. Before the model's first file pass in
    this process (a restart: ``left_out`` judges only room for newcomers then), what
    ``SettingsDelivered`` last said of such a hold, so a restart does not release it."""
    if no_room is not None:
        return no_room.message if no_room.carried else None
    return _edit_held(current) if isinstance(undelivered, exposure.NotKnownYet) else None


def _edit_held(status: CampaignStatus) -> str | None:
    """The message of ``SettingsDelivered`` False ``CampaignsFileFull`` for a Campaign the
    file carries at its entry from before a spec edit (its model served it, unlike one left
    out, whose ``ModelServing`` says ``CampaignsFileFull`` too); None for any other."""
    delivered = cond.find(status.conditions, cond.SETTINGS_DELIVERED)
    serving = cond.find(status.conditions, cond.MODEL_SERVING)
    if (delivered is None or delivered.status != "False"
            or delivered.reason != cond.CAMPAIGNS_FILE_FULL
            or (serving is not None and serving.reason == cond.CAMPAIGNS_FILE_FULL)):
        return None
    return delivered.message


def _undelivered(deps: CampaignDependencies, namespace: str, model: str,
                 resolved: _Model) -> str | exposure.NotKnownYet | None:
    """Why the model's campaigns file cannot be written (``CampaignDependencies.undelivered``);
    None for a model that is not found, whatever its last file pass in this process found: the
    file goes with it (its owner), and the runtime that read it with its predictors, so nothing
    is left undelivered (its file pass will not run, to say so; ``SettingsDelivered`` is
    dropped: ``exposure.settings_delivered``). The same for a model being deleted: see
    ``_file_gone``."""
    if _file_gone(resolved):
        return None
    return deps.undelivered(namespace, model)


def _file_gone(resolved: _Model) -> bool:
    """Whether the model's campaigns file is going with the model, so ``SettingsDelivered``
    is dropped (``model_found`` False: not False, nothing is owed to pods that are going; not
    True, nothing was delivered): a model not found, or one the garbage collector is deleting
    (``deletionTimestamp`` set, and no finalizer left or one of its own among them:
    ``upliftmodel.GC_FINALIZERS``, a foreground or orphan deletion), whatever its last file
    pass found (kept until its DELETED event, which a foreground deletion holds back; not
    known after a restart meanwhile). No pass writes the file of a model being deleted
    (``handlers.campaigns_file``, which drops its ``uplift_operator_campaigns_file_undelivered``
    series then, the source of the inhibit rule of docs/install.md), and the file and the pods
    go with it, so a ``SettingsDelivered`` False ``FileNotWritten`` kept would page on,
    unmuted, through the deletion. Not a background deletion another tool's finalizer holds
    (``upliftmodel.held_by_other_finalizers``): its children stay, possibly for hours, the
    pods treating at the last file no pass writes any more, so the last refusal is said on
    (the model's series is kept too) and the condition is kept as for a model found."""
    if resolved.body is None:
        return True
    return bool((resolved.body.get("metadata") or {}).get("deletionTimestamp")) and not (
        upliftmodel.held_by_other_finalizers(resolved.body))


def _refused(status: CampaignStatus) -> bool:
    """Whether the pass that wrote ``status`` refused the spec (``InvalidSpec`` True: the
    invalid-spec path, schema or validation), so its campaigns-file entry was inactive."""
    refused = cond.find(status.conditions, cond.INVALID_SPEC)
    return refused is not None and refused.status == "True"


def _shared_draw_news(before: Sequence[Condition], after: Sequence[Condition]) -> tuple[Event, ...]:
    """A Warning ``SaltShared`` when the condition turns True (other Campaigns of the model
    start drawing with this one's salt; the message names them), a Normal ``SaltNotShared``
    when it turns False (none does any more): said on the turn, from the condition kept in
    status, so neither a quiet pass nor a restart says it again. Not when only who shares
    changes (the condition's message follows): n Campaigns with one salt, created one by one,
    would otherwise post about n²/2 Warnings. Not decisions."""
    old = cond.find(before, cond.HOLDOUT_SHARED)
    new = cond.find(after, cond.HOLDOUT_SHARED)
    was = old is not None and old.status == "True"
    if new is None or (new.status == "True") == was:
        return ()
    if new.status == "True":
        return (Event("Warning", cond.SALT_SHARED, new.message, decision=False),)
    return (Event("Normal", cond.SALT_NOT_SHARED, new.message, decision=False),)


def _model_salt(model: _Model, namespace: str, name: str) -> str | None:
    """The salt the UpliftModel's own holdout is drawn with (its ``spec.experiment.salt``, else
    ``<namespace>/<name>``, as ``services.upliftmodel`` renders it), read from its body
    unparsed; None when the model was not found (deleted: it holds out no one any more; a read
    that failed raised in ``_resolve``, the pass lost and the status kept as it was). Its
    ``unitKey`` does not count: the runtime hashes the unit id's value with the salt, not the
    name of the input it was read by."""
    if model.body is None:
        return None
    experiment = (model.body.get("spec") or {}).get("experiment") or {}
    salt = experiment.get("salt") if isinstance(experiment, Mapping) else None
    return shared_draws.effective_salt(namespace, name, salt if isinstance(salt, str) else None)


def holdout_draw(body: Mapping[str, Any]) -> shared_draws.Draw | None:
    """The draw of a Campaign as the watch brings it (a body, or its snapshot in
    ``campaigns_by_model``), read as the campaigns file reads its salt; None without a model or
    a name. Unparsed: a spec the pass refuses still has its entry, salt and holdout, in the
    file (``render.campaigns``)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    model = (spec.get("modelRef") or {}).get("name")
    name, namespace = meta.get("name"), meta.get("namespace")
    if not model or not name or not namespace:
        return None
    salt = (spec.get("experiment") or {}).get("salt")
    return shared_draws.draw(str(namespace), str(model), str(name),
                             salt if isinstance(salt, str) else None)


def _resolve(name: str, namespace: str, deps: CampaignDependencies,
             current: CampaignStatus) -> _Model:
    """The Campaign's UpliftModel as its pass judges it. A model being deleted
    (``deletionTimestamp`` set) serves nothing the campaign can treat with, whatever its status
    says: a foreground deletion (Argo CD's prune) keeps it, Healthy as its last pass left it
    (its pass writes nothing then), until the garbage collector has removed its
    SeldonDeployment and pods, so the exposure is withdrawn now (``ModelNotServing``), as it
    would be a moment later on ``ModelNotFound``."""
    body = deps.cluster.get(API_VERSION, MODEL_PLURAL, namespace, name)
    if body is None:
        return _Model(None, exposure.model_observation(name, None))
    treatments = {str(t.get("name", "")) for t in (body.get("spec") or {}).get("treatments", [])}
    # What this release can read of it (its own pass names the rest, and rewrites it).
    status, _ = status_logic.readable(UpliftModelStatus, body.get("status"),
                                      verbatim=upliftmodel.VERSION_FIELDS)
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return _Model(treatments, exposure.ModelObservation(
            name, found=True, stable_version=status.stable_version, serving=False,
            why=f"UpliftModel {name!r} is being deleted"), body, status)
    return _Model(treatments,
                  exposure.model_observation(name, status, exposing=exposure.exposing(current)),
                  body, status)


def _stop_pending(meta: Mapping[str, Any], current: CampaignStatus) -> bool:
    """Whether an abort or an emergency rollback (``steps.STOP_REQUESTS``) is asked and not yet
    handled (``status.handledRequests`` does not hold its token, nor
    ``status.earlierHandledRequests``: ``domain.requests.is_handled``)."""
    return any(r.kind in steps.STOP_REQUESTS and not is_handled(
        r, current.handled_requests, current.earlier_handled_requests or {})
               for r in parse_requests(meta.get("annotations") or {}))


def _drift_features(spec: CampaignSpec, model: _Model, namespace: str,
                    deps: CampaignDependencies) -> validation.ModelFeatures | None:
    """The features the campaign's drift gates may name (``validation.validate_campaign``):
    the UpliftModel's ``spec.features``, else the inputs of the version it serves (its stable
    version: the one whose training reference the gate reads, ``services.measurements``), read
    as ``_treatment_not_served`` reads what it scores. None when not known (no model, no
    stable version, no MLflow, no signature, MLflow out of reach): not checked then. Read only
    for a campaign whose drift gates name features, and not while a stop is pending
    (``_stop_pending``)."""
    if model.body is None or not any(gate.features for gate in spec.exposure.gates):
        return None
    name = model.observation.name
    declared = (model.body.get("spec") or {}).get("features")
    if isinstance(declared, list):
        return validation.ModelFeatures(
            frozenset(str(f.get("name", "")) for f in declared if isinstance(f, Mapping)),
            f"spec.features of UpliftModel {name!r}")
    stable = model.observation.stable_version
    if deps.models is None or stable is None:
        return None
    try:
        contract = _served_contract(model.body, stable, namespace, deps.models)
    except Exception as error:  # not known: not checked (the gate says so when measured)
        log.debug("the inputs of version %s of %s are not known: %s", stable, name, error)
        return None
    inputs = None if isinstance(contract, str) else contract.inputs
    if inputs is None:
        return None
    return validation.ModelFeatures(frozenset(inputs),
                                    f"the inputs of version {stable} of UpliftModel {name!r}")


def _treatment_not_served(spec: CampaignSpec, model: _Model, namespace: str,
                          deps: CampaignDependencies, current: CampaignStatus) -> str | None:
    """Why the version the model serves cannot serve the campaign's treatments
    (``domain.exposure.missing_treatments``), from what that version scores: its treatments
    tag, read as the model's own pass reads a version's contract (its credentials and tracking
    URI, the shared resolver, cached once per READY version, so usually already read by the
    model's pass). The model's validation checks its spec against the version the spec
    resolves to, not against an older stable version that still serves (a canary underway, a
    canary rolled back, the model's spec refused), so only this tells; a version the model's
    pass validated its spec against (``_validated_against``) is not read again. None when it
    scores them all, or when that cannot be known (no MLflow, MLflow out of reach, no tag, a
    version without a run): nothing is held on what is not known, and the pass goes on
    whatever this check meets. Except a campaign this check held on the same version: MLflow
    out of reach does not release it (``_still_unserved``), so an outage cannot let it grow and
    then hold it again, flapping its Ready condition."""
    stable = model.observation.stable_version
    if (deps.models is None or model.body is None or not model.observation.serving
            or stable is None or _validated_against(model, stable)):
        return None
    try:
        contract = _served_contract(model.body, stable, namespace, deps.models)
        if isinstance(contract, str):
            return _still_unserved(current, model.observation.name, stable, contract)
        scored = contract.treatments
    except RegistryError as error:
        log.debug("what version %s of %s scores is not known: %s", stable, model.observation.name,
                  error)
        return _still_unserved(current, model.observation.name, stable, str(error))
    except Exception as error:  # never lose the pass: it acts on abort and emergency rollback
        log.exception("reading what version %s of UpliftModel %s/%s scores failed", stable,
                      namespace, model.observation.name)
        return _still_unserved(current, model.observation.name, stable, repr(error))
    if scored is None:
        return None
    return exposure.missing_treatments(spec, model.observation.name, stable, scored)


def _served_contract(body: Mapping[str, Any], version: str, namespace: str,
                     models: upliftmodel.Dependencies) -> validation.ModelContract | str:
    """The contract (inputs, treatments) of ``version`` of the UpliftModel ``body``, read as
    the model's own pass reads a version's: its credentials and tracking URI, the shared
    resolver (cached once per READY version, so usually already read by the model's pass).
    Why not, as text, when the version has no run to read; raises what MLflow raises."""
    reference = upliftmodel.version_run(body, version, models)
    if isinstance(reference, str):
        return reference
    registry, _ = reference
    model_spec = UpliftModelSpec.model_validate(body.get("spec") or {})
    scope = upliftmodel.registry_scope(model_spec.model, namespace, models)
    registered = model_spec.model.registered_model
    facts = models.resolver.facts(scope, registered, version, registry)
    return models.resolver.contract(scope, registered, facts, registry)


def _still_unserved(current: CampaignStatus, model: str, version: str, error: str) -> str | None:
    """Why a campaign held for a treatment ``version`` did not score stays held while what that
    version scores cannot be read (None: it was not held so)."""
    ready = next((c for c in current.conditions if c.type == cond.READY), None)
    if (ready is None or ready.reason != cond.TREATMENT_NOT_SERVED
            or current.model_version != version):
        return None
    return (f"version {version} of UpliftModel {model!r} did not score every treatment of the "
            f"campaign when last read, and cannot be read now ({error[:200]}): held until it "
            "can")


def _validated_against(model: _Model, version: str) -> bool:
    """Whether the model's own pass already checked its spec's treatments against ``version``
    (``validation.validate_against_model``): its spec resolves to that version (its
    ``desiredVersion``) and its last pass, of this generation, found the spec valid. The
    Campaign's treatments are validated against that spec, so the version scores them: no
    MLflow read is needed, as for a model at rest."""
    status = model.status
    if status is None or model.body is None:
        return False
    ready = cond.find(status.conditions, cond.READY)
    generation = (model.body.get("metadata") or {}).get("generation")
    return (status.desired_version == version and ready is not None
            and ready.reason != cond.INVALID_SPEC_REASON
            and status.observed_generation == generation)


def model_inputs(model: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a Campaign's pass reads of its UpliftModel (``_resolve``): its spec (treatments,
    registry, by its generation), whether it is being deleted, and how ``model_observation``
    judges its status, exposing or not. A model's status write that leaves these as they were
    (each analysis of its canary: gates, history, message while it serves) changes nothing
    for its Campaigns, so their passes need not be woken for it."""
    meta = model.get("metadata") or {}
    status, _ = status_logic.readable(UpliftModelStatus, model.get("status"),
                                      verbatim=upliftmodel.VERSION_FIELDS)
    name = str(meta.get("name", ""))
    return (meta.get("generation"), bool(meta.get("deletionTimestamp")),
            exposure.model_observation(name, status, exposing=False),
            exposure.model_observation(name, status, exposing=True))


def _budget_anchor(spec: CampaignSpec, meta: Mapping[str, Any],
                   current: CampaignStatus) -> dt.datetime | None:
    """Where the budget periods start, as the runtime counts them (the campaigns file's
    ``periodStart``): ``status.budgetAnchor`` once recorded (``domain.exposure`` records it
    when the campaign first exposes with a budget, so an edit of the schedule moves nothing,
    and drops it once the spec has no budget, refused or not: ``forget_budget``, so a budget
    set again is recorded again), else ``spec.schedule.start``, else the Campaign's creation
    time (None for a body that has none of them)."""
    if current.budget_anchor is not None:
        return current.budget_anchor
    if spec.schedule is not None and spec.schedule.start is not None:
        start = spec.schedule.start
        return start if start.tzinfo is not None else start.replace(tzinfo=dt.UTC)
    created = meta.get("creationTimestamp")
    if isinstance(created, dt.datetime):
        return created if created.tzinfo is not None else created.replace(tzinfo=dt.UTC)
    if created:
        return dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    return None


def _measure(spec: CampaignSpec, status: CampaignStatus, deps: CampaignDependencies,
             model: _Model, namespace: str, name: str, anchor: dt.datetime | None,
             now: dt.datetime) -> tuple[list[gates.GateOutcome], CampaignUnits | None,
                                        BudgetLedgers | None]:
    """The gates' outcomes of this analysis, the units exposed since the ramp started, and the
    record of the budget period's spend per ledger after this analysis' budget gates read it
    (``domain.budget.remembered``: what they judge is the reading merged with the record in
    status, so a ledger Prometheus no longer holds still counts; None: none was read)."""
    step_started = status.step_started_at or now
    ramp_started = exposure.ramp_started_at(status) or step_started
    stable = model.observation.stable_version if model.observation.serving else None
    to_measure = exposure.gates_to_measure(spec, status)
    # The drift gate's reference (one Secret read, MLflow once per READY version): only when
    # a drift gate is to be measured on a version that serves.
    registry: Registry | None = None
    run_id: str | None = None
    unresolved: str | None = None
    if stable is not None and any(gate.type == "drift" for gate in to_measure):
        reference = _stable_run(model, stable, deps)
        if isinstance(reference, str):
            unresolved = reference
        else:
            registry, run_id = reference
    ctx = measurements.CampaignGateContext(
        namespace=namespace, name=name, model=spec.model_ref.name, spec=spec,
        step_started_at=step_started, ramp_started_at=ramp_started, now=now,
        budget_anchor=anchor or ramp_started, stable_version=stable, stable_run_id=run_id,
        metric_templates=deps.metric_templates, completes=exposure.completes(spec, status),
        decisions_since=exposure.decisions_since(status, stable),
        # From when the budget counts: status.budgetSince once the anchor is recorded (None
        # where it was recorded before budgetSince existed: the period's start); a budget whose
        # anchor is not recorded yet (set again, or first set) from now, as this pass records.
        budget_since=status.budget_since if status.budget_anchor is not None else now,
        # The runtime pods' scrape interval, which the counts are scaled by (the models').
        scrape_interval_s=(deps.models.prometheus_scrape_interval
                           if deps.models is not None else 0.0),
        query_lag_s=deps.models.prometheus_query_lag if deps.models is not None else 0.0)
    previous = {g.name: g for g in status.gates}
    outcomes = []
    prometheus = measurements.per_analysis(deps.prometheus, now)
    record, read = status.budget_ledgers, False
    for gate in to_measure:
        measured: measurements.Collected
        if gate.type == "drift" and unresolved is not None:
            # Without its training reference the gate cannot judge: hold (Inconclusive), as the
            # UpliftModel's gates hold with MLflow unavailable; never an Error that would roll
            # the campaign back for an outage.
            measured = NotMeasured(f"holding: the training reference of version {stable} "
                                   f"cannot be read: {unresolved}", holds=True)
        else:
            measured = measurements.collect_campaign(gate, ctx, prometheus, registry)
        if isinstance(measured, BudgetMeasurement):
            measured, record = remembered(measured, record)
            read = read or measured.ledgers is not None
        outcomes.append(gates.evaluate_gate(gate, measured,
                                            gates.memory_of(previous.get(gate.name), gate), now))
    return (outcomes, measurements.campaign_units(ctx, prometheus),
            record if read else None)


def _stable_run(model: _Model, version: str,
                deps: CampaignDependencies) -> tuple[Registry, str] | str:
    """The registry client and run id of ``version`` of the campaign's UpliftModel, else why
    not (``services.upliftmodel.version_run``)."""
    if deps.models is None:
        return "no MLflow registry configured"
    if model.body is None:
        return "the UpliftModel is not found"
    return upliftmodel.version_run(model.body, version, deps.models)


def measured_gates(spec: Mapping[str, Any] | None, status: Mapping[str, Any]) -> dict[str, str]:
    """The Campaign's gates its analyses go on measuring, each name with its type (as the spec
    says), in the state ``status`` (wire form) says: every gate while a step is underway, the budget
    gates of a ramp that completed or that its budget suspends, none once the exposure ended (rolled
    back, withdrawn by the schedule or by a model with nothing serving, the campaign completed) nor
    while the spec is invalid (no gate is judged). What the operator's metrics export a gate's
    verdict for (``handlers.observability``): a verdict kept in status from an ended ramp, or from
    the steps of a ramp completed by hand, is history, and an Error of it tickets nobody."""
    if any(c.get("type") == cond.INVALID_SPEC and c.get("status") == "True"
           for c in status.get("conditions") or []):
        return {}
    try:
        parsed_spec = CampaignSpec.model_validate(spec or {})
        # Only what decides which gates are measured: not the gates' evidence, nor the history.
        ramp = CampaignStatus.model_validate({
            key: status[key] for key in ("currentStep", "exposurePercent",
                                         "suspendedExposurePercent") if key in status})
    except ValidationError:
        return {}
    if not exposure.exposing(ramp):
        return {}
    return {gate.name: gate.type for gate in exposure.gates_to_measure(parsed_spec, ramp)}
