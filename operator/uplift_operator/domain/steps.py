"""The step machine both ramps run on: steps, pauses, analyses, gate limits, deadline, requests.

Role: what an UpliftModel's canary ramp (``domain.canary``) and a Campaign's exposure ramp
(``domain.exposure``) have in common, written once: the current step (clamped when the spec
lost steps), when a step may end, whether its gates passed *during* it, applying an analysis to
the gate counters (``domain.gates.assess``), acting on them (``required_action``: roll back, or
pause with ``rollback.mode: Manual``), the progress deadline, advancing, manual requests
(abort, retry, promote step/full; each once per token; a stop supersedes a retry or promote
pending with it), pause/resume events, the bounded history and the requeue time. The state
lives in ``RampStatus`` only, so a restarted operator resumes where it was, and a pass run
again on its own output changes nothing.

A kind supplies what differs (``StepPass``'s abstract hooks): the level of a step (traffic
weight or exposure percent), whether a ramp is underway, what rolling back and completing mean,
where the ramp stands in words, and whether anything keeps it from advancing besides the gates.
No I/O, no clock.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Generic, Literal, Protocol, TypeVar, cast

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from uplift_operator.api.v1alpha1.common import (
    DecisionRecord,
    GateSpecBase,
    GateStatus,
    GateVerdict,
    Phase,
    RampStatus,
    parse_duration,
)
from uplift_operator.domain.gates import (
    OFFLINE_GATE_TYPES,
    GateAction,
    GateOutcome,
    assess,
    next_step,
    required_action,
    same_settings,
)
from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    HANDLED_TOKENS_KEPT,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    ManualRequest,
    RequestKind,
    handled_after,
    is_handled,
    is_replayed,
)

__all__ = [
    "HISTORY_LIMIT",
    "IGNORED_PREFIX",
    "MESSAGE_MAX",
    "REQUEST_VALUES",
    "ROUTINE_ACTIONS",
    "STOP_REQUESTS",
    "TOKEN",
    "DeadlineBasis",
    "Event",
    "ObservedBase",
    "RampSpec",
    "Reason",
    "StepPass",
    "analysis_base",
    "analysis_due",
    "clip",
    "evidence",
    "is_rollback",
    "passed_as_set",
    "trimmed_history",
]

#: The verbs a message offers a human, each as what ``kubectl uplift <verb>`` writes
#: (``plugin.kubectl_uplift.patch_for``) and so what to annotate without the plugin: the key and
#: a value ``domain.requests.parse_requests`` acts on. The token is ``$(date +%s)``, as the
#: runbooks write it: pasted into a shell it is a fresh timestamp, so asking again is a new
#: request, and the message that offers it stays the same text every pass. "promote --full"
#: asks again for a full promote (a superseded one, ``supersede``), not for one step.
Verb = Literal["promote", "promote --full", "abort", "retry"]
TOKEN = "$(date +%s)"
REQUEST_VALUES: dict[Verb, tuple[str, str]] = {
    "promote": (PROMOTE_ANNOTATION, f"step:{TOKEN}"),
    "promote --full": (PROMOTE_ANNOTATION, f"full:{TOKEN}"),
    "abort": (ABORT_ANNOTATION, TOKEN),
    "retry": (RETRY_ANNOTATION, TOKEN),
}

HISTORY_LIMIT = 20
MESSAGE_MAX = 4000  # StatusBase.message max_length (4096), with room to spare
MIN_REQUEUE = dt.timedelta(seconds=1)  # never ask for a hot loop
_RECORD_REASON_MAX = 1024  # DecisionRecord.reason max_length

_PRIORITY = {kind: index for index, kind in enumerate(RequestKind)}


class Reason(StrEnum):
    """Event reasons (and DecisionRecord actions) of both kinds."""

    CANARY_STARTED = "CanaryStarted"
    TRAFFIC_STARTED = "TrafficStarted"
    CANARY_REPLACED = "CanaryReplaced"
    CANARY_HELD = "CanaryHeld"
    STEP_ADVANCED = "StepAdvanced"
    #: The spec's level for the current step was raised mid-ramp (``spec.rollout.steps``
    #: edited): the canary is set to it and the step starts over (``follow_step_level``).
    STEP_RESTARTED = "StepRestarted"
    ANALYSIS_PASSED = "AnalysisPassed"
    GATE_FAILED = "GateFailed"
    #: A gate that could not be measured (an Error verdict): an outage, not a Fail, so it is
    #: not filed under GateFailed.
    GATE_ERRORED = "GateErrored"
    GATE_INCONCLUSIVE = "GateInconclusive"
    #: A sample ratio mismatch (the traffic split or a holdout off its design): the experiment
    #: is broken, not the model; the gate holds the ramp, not counted towards any limit.
    SAMPLE_RATIO_MISMATCH = "SampleRatioMismatch"
    #: Any other outcome that holds the ramp without counting (MLflow unreachable, a
    #: conversion gate waiting for its first cohort's attribution window): said once.
    GATE_HELD = "GateHeld"
    ROLLED_BACK = "RolledBack"
    PROMOTED = "Promoted"
    PAUSED = "Paused"
    RESUMED = "Resumed"
    MANUAL_PROMOTE = "ManualPromote"
    MANUAL_ABORT = "ManualAbort"
    RETRY = "Retry"
    EMERGENCY_ROLLBACK = "EmergencyRollback"
    STABLE_RESTORED = "StableRestored"
    #: A retry during an emergency rollback's restore: the replaced version, which kept the
    #: traffic, is stable again and the restored one leaves (``domain.canary``).
    RESTORE_WITHDRAWN = "RestoreWithdrawn"
    #: Told (Warning, then Normal), not decided: the stable version that served stopped serving,
    #: and serves again (``domain.canary``).
    STABLE_NOT_SERVING = "StableNotServing"
    STABLE_SERVING = "StableServing"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    UNRECOGNISED_REQUEST = "UnrecognisedRequest"
    REQUEST_IGNORED = "RequestIgnored"  # history only: its event keeps the request's reason
    #: A Warning only (history: ``RequestIgnored``): a request token handled before the last
    #: one of its key, put back (``StepPass.replayed``); nothing is done.
    REQUEST_REPLAYED = "RequestReplayed"
    # Campaign
    EXPOSURE_STARTED = "ExposureStarted"
    EXPOSURE_WITHDRAWN = "ExposureWithdrawn"
    RAMP_COMPLETED = "RampCompleted"
    CAMPAIGN_COMPLETED = "CampaignCompleted"
    BUDGET_EXHAUSTED = "BudgetExhausted"
    #: A spend unreadable for spec.economics.budgetUnreadable.after suspends (action Suspend).
    BUDGET_UNREADABLE = "BudgetUnreadable"
    BUDGET_RENEWED = "BudgetRenewed"
    #: A Warning only: a budget removed after spending, counted afresh if set again
    #: (``domain.exposure`` ``warn_budget_reset``).
    BUDGET_RESET = "BudgetReset"
    MODEL_VERSION_CHANGED = "ModelVersionChanged"
    TREATMENT_NOT_SERVED = "TreatmentNotServed"  # a Warning only: nothing is decided


#: The requests that only stop a ramp: acted on under an invalid spec too
#: (``handle_requests(stops_only=True)``), and, pending, they supersede a retry or a promote
#: pending with them.
STOP_REQUESTS = frozenset({RequestKind.EMERGENCY_ROLLBACK, RequestKind.ABORT})
#: The requests a stop pending in the same pass supersedes, with the verb that asks again for
#: the same (a full promote for a full one) and its words.
_SUPERSEDED: dict[RequestKind, tuple[Verb, Reason, str]] = {
    RequestKind.RETRY: ("retry", Reason.RETRY, "retry"),
    RequestKind.PROMOTE_FULL: ("promote --full", Reason.MANUAL_PROMOTE, "promote in full"),
    RequestKind.PROMOTE: ("promote", Reason.MANUAL_PROMOTE, "promote"),
}
_STOP_NAMES = {RequestKind.EMERGENCY_ROLLBACK: "emergency rollback", RequestKind.ABORT: "abort"}
#: The verb that asks again for what a replayed request asked (``StepPass.replayed``).
_REPLAYED_VERBS: dict[RequestKind, Verb] = {
    RequestKind.ABORT: "abort", RequestKind.RETRY: "retry",
    RequestKind.PROMOTE_FULL: "promote --full", RequestKind.PROMOTE: "promote"}
_TOKEN_SHOWN_MAX = 64  # as ``ManualRequest.actor`` clips it

#: History actions that end a ramp by rolling it back.
ROLLBACK_ACTIONS = frozenset({Reason.ROLLED_BACK.value, Reason.MANUAL_ABORT.value,
                              Reason.EMERGENCY_ROLLBACK.value})
#: How the history reason of a request that was ignored begins.
IGNORED_PREFIX = "ignored: "


#: History actions that record no decision on the ramp: dropped first when the history is full,
#: so they never push out what the ramp reads back (the last rollback, an emergency rollback
#: still restoring its stable, a ramp's start). A request refused for a value that asks for
#: nothing (``UnrecognisedRequest``, ``refuse``) is an ignored request too: a script writing a
#: new such value every minute must not erase them either.
ROUTINE_ACTIONS = frozenset({Reason.REQUEST_IGNORED.value, Reason.UNRECOGNISED_REQUEST.value,
                             Reason.BUDGET_RENEWED.value})


def trimmed_history(history: list[DecisionRecord]) -> list[DecisionRecord]:
    """``history`` cut to its last ``HISTORY_LIMIT`` entries, the oldest routine ones (ignored
    requests, unrecognised ones included, budget renewals) dropped before any decision: twenty
    requests ignored while an emergency rollback waits for its stable must not erase the
    rollback the wait is read from. So a routine entry arriving when every other entry is a
    decision is the one dropped: its event (``RequestIgnored``, ``UnrecognisedRequest``,
    ``BudgetRenewed``) still says it. Decisions go oldest first, as one block: what the
    history holds is always every decision since its oldest entry, which its readers rely on
    (the MLflow roles replayed from it, the version its newest decision made stable; keeping an
    old rollback past the entries after it made them read a stale one). How many were dropped in
    all: ``status.historyTrimmed`` (``StepPass.record``)."""
    excess = len(history) - HISTORY_LIMIT
    if excess <= 0:
        return history
    routine = [i for i, e in enumerate(history) if e.action in ROUTINE_ACTIONS][:excess]
    dropped = set(routine)
    kept = [e for i, e in enumerate(history) if i not in dropped]
    return kept[-HISTORY_LIMIT:]


def is_rollback(entry: DecisionRecord) -> bool:
    """Whether a history entry records a rollback. A request that was ignored is none: it is
    recorded as ``RequestIgnored``, but operators before that recorded it under the request's
    own action (``ManualAbort``, ``EmergencyRollback``), which a status may still hold."""
    return entry.action in ROLLBACK_ACTIONS and not entry.reason.startswith(IGNORED_PREFIX)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the resource. ``decision``: whether it tells a decision
    (counted in ``uplift_operator_decisions_total``); a request that was ignored is told under
    the request's reason, but nothing was decided."""

    type: Literal["Normal", "Warning"]
    reason: Reason
    message: str
    decision: bool = True


@dataclass(frozen=True)
class DeadlineBasis:
    """From when a step's ``progressDeadline`` runs (``at``) and why from then (``why``, the
    words a ``ProgressDeadlineExceeded`` message gives after "when"): the page's first fact is
    how long the step has been stuck, and the deadline may have started long after the step's
    pause ended (a resume, a first cohort's attribution window)."""

    at: dt.datetime
    why: str

    def later(self, at: dt.datetime | None, why: str) -> DeadlineBasis:
        """This basis, or ``at`` for ``why`` when it is later."""
        return DeadlineBasis(at, why) if at is not None and at > self.at else self


@dataclass(frozen=True, kw_only=True)
class ObservedBase:
    """What every kind's pass observed for the step machine.

    ``gate_outcomes``: this pass's analysis (None: none ran; see ``analysis_due``).
    ``requests``: manual requests present (``domain.requests.parse_requests``).
    ``generation``: metadata.generation, for observedGeneration.
    ``name``, ``namespace``: metadata.name and .namespace, for the commands a message tells a
    human to run (name None: unknown, the command then reads ``NAME``; namespace "": unknown,
    the command then names none, and kubectl uses its context's).
    """

    gate_outcomes: Sequence[GateOutcome] | None = None
    requests: Sequence[ManualRequest] = ()
    generation: int | None = None
    name: str | None = None
    namespace: str = ""


class _Step(Protocol):
    @property
    def pause(self) -> str | None: ...


class RampSpec(Protocol):
    """The ramp part of a spec: UpliftModel ``spec.rollout`` or Campaign ``spec.exposure``."""

    @property
    def steps(self) -> Sequence[_Step]: ...

    @property
    def analysis_interval(self) -> str: ...

    @property
    def gates(self) -> Sequence[GateSpecBase]: ...

    @property
    def paused(self) -> bool: ...

    @property
    def progress_deadline(self) -> str | None: ...


def passed_as_set(gate: GateSpecBase, status: GateStatus | None) -> bool:
    """Whether ``status`` is a Pass of ``gate`` as the spec sets it now: one measured under
    other settings (its ``settingsDigest``; a gate tightened mid-step) is no Pass of this gate,
    as ``assess`` and ``memory_of`` already treat it as another gate. A status written before
    the digest existed, or in its legacy form, counts as measured under these settings."""
    return (status is not None and status.verdict is GateVerdict.PASS
            and same_settings(gate, status))


def analysis_base(status: RampStatus) -> dt.datetime | None:
    """The later of the step start and the last analysis."""
    times = [t for t in (status.step_started_at, status.last_analysis_at) if t is not None]
    return max(times, default=None)


def analysis_due(ramp: RampSpec, status: RampStatus, now: dt.datetime, *, active: bool,
                 pre_traffic: bool = False) -> bool:
    """Whether gates should be measured now: a ramp is underway and an analysis interval has
    passed since the later of the step start and the last analysis (so a step's first analysis
    sees one interval of data at its level). ``pre_traffic`` gates (offline) are judged at once,
    then once an interval."""
    if not active:
        return False
    interval = parse_duration(ramp.analysis_interval)
    if pre_traffic:
        last, start = status.last_analysis_at, status.step_started_at
        return last is None or (start is not None and last <= start) or now >= last + interval
    base = analysis_base(status)
    return base is None or now >= base + interval


S = TypeVar("S", bound=RampStatus)
M = TypeVar("M", bound=BaseModel)

#: Values a status copy shares with the original: immutable, as ``copy.deepcopy`` treats them
#: (a datetime or an enum member cannot change in place).
_SHARED = frozenset({str, int, float, bool, type(None), bytes, dt.datetime, dt.date, dt.time,
                     dt.timedelta, dt.timezone})


def _copied(value: object) -> object:
    kind = type(value)
    if kind in _SHARED:
        return value
    if kind is list:
        return [item if type(item) in _SHARED else _copied(item)
                for item in cast(list[object], value)]
    if kind is dict:
        return {key: item if type(item) in _SHARED else _copied(item)
                for key, item in cast(dict[object, object], value).items()}
    if isinstance(value, BaseModel):
        return status_copy(value)
    if isinstance(value, Enum):
        return value
    if kind is tuple:
        return tuple(_copied(item) for item in cast(tuple[object, ...], value))
    return copy.deepcopy(value)


def status_copy(model: M) -> M:
    """A deep copy of a status (any pydantic model): what ``model.model_copy(deep=True)``
    returns (the fields, the extra fields, which fields are set and the private attributes,
    none shared with the original but the immutable values), without ``copy.deepcopy``'s
    generic dispatch, which was a tenth of a pass's time. Values of other types than the API's
    (models, lists, dicts, tuples, scalars, times, enums) still go through ``copy.deepcopy``."""
    kind = type(model)
    new = kind.__new__(kind)
    extra = model.__pydantic_extra__
    private = getattr(model, "__pydantic_private__", None)
    object.__setattr__(new, "__dict__", {key: value if type(value) in _SHARED else _copied(value)
                                         for key, value in model.__dict__.items()})
    object.__setattr__(new, "__pydantic_extra__", None if extra is None else _copied(extra))
    object.__setattr__(new, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    object.__setattr__(new, "__pydantic_private__", None if private is None else {
        key: _copied(value) for key, value in private.items() if value is not PydanticUndefined})
    return new


class StepPass(ABC, Generic[S]):
    """Builds the new status of one pass; each step reads and updates ``self.status`` in order.

    Subclasses (one per kind) implement the hooks below and a ``run`` that calls the shared
    steps in this order: requests → the kind's own changes → ``apply_analysis`` →
    ``act_on_gates`` → ``check_deadline`` → ``advance`` → phase and conditions.
    """

    paused_field = "spec paused"  # how messages name the kind's ``paused`` field
    ramp_steps_field = "spec steps"  # how messages name the kind's ``steps`` field
    # How ``kubectl uplift`` names the resource before its name ("campaign/" for a Campaign),
    # and what an abort does, for the messages that tell a human what to do.
    plugin_prefix = ""
    abort_does = "the canary's traffic goes back to stable"
    # Whether a retry request restarts a ramp paused on an inconclusive gate (an UpliftModel's
    # canary does; a Campaign's retry acts on a rollback only), so messages offer only what works.
    retry_restarts_paused = True

    def __init__(self, ramp: RampSpec, rollback_mode: str, status: S, observed: ObservedBase,
                 now: dt.datetime) -> None:
        self.ramp, self.rollback_mode, self.observed, self.now = ramp, rollback_mode, observed, now
        self.previous = status
        self.status: S = status_copy(status)
        self.events: list[Event] = []
        self.restarted = False  # the ramp (re)started this pass: outcomes measured the old one
        self.pause_reason: str | None = None
        self.rollback_pending = False  # a gate demands rollback, but rollback.mode is Manual
        self.deadline_exceeded = False
        if observed.generation is not None:
            self.status.observed_generation = observed.generation

    # -- what a kind supplies -----------------------------------------------------------------

    @abstractmethod
    def active(self) -> bool:
        """Whether a ramp is underway (a canary is out; a campaign is between steps)."""

    @abstractmethod
    def level(self) -> float:
        """The current level: the canary's traffic weight, the campaign's exposure percent."""

    @abstractmethod
    def set_level(self, value: float) -> None: ...

    @abstractmethod
    def step_level(self, index: int) -> float:
        """The level of step ``index`` in the spec."""

    @abstractmethod
    def subject(self) -> str | None:
        """The version the history entries concern."""

    @abstractmethod
    def where(self) -> str:
        """Where the ramp stands, in words, for messages and events."""

    @abstractmethod
    def not_serving(self) -> str | None:
        """Why the ramp cannot advance besides its gates (e.g. the canary does not serve)."""

    @abstractmethod
    def roll_back(self, reason: Reason, why: str, actor: str = "operator") -> None:
        """End the ramp at once (the canary removed; the exposure back to 0)."""

    @abstractmethod
    def complete(self, actor: str = "operator", why: str = "all steps passed", *,
                 over: str = "") -> None:
        """The last step passed (the canary promoted; the exposure stays at the last step).
        ``over``: what a promote by hand went over (``gates_overridden``), recorded last."""

    @abstractmethod
    def retry(self, request: ManualRequest) -> None: ...

    @abstractmethod
    def emergency_rollback(self, request: ManualRequest) -> None: ...

    @abstractmethod
    def record_level(self) -> dict[str, float | int | None]:
        """The level fields of a history entry (``weight`` or ``percent``)."""

    def pre_traffic(self) -> bool:
        """Whether the ramp is judging its offline gates before any traffic (canary only)."""
        return False

    def promote_refused(self) -> str | None:
        """Why a manual promote must not be done now (None: it may): a canary that does not
        serve would be given traffic, or made stable with nothing serving."""
        return None

    def rollback_held(self) -> str | None:
        """Why a rollback the gates demand must wait although ``rollback.mode`` is Automatic
        (None: it is done now): it would move the traffic onto what does not serve. It is
        pending meanwhile, as with ``rollback.mode: Manual``, and done once this says None; a
        human abort acts at once."""
        return None

    def deadline_held(self) -> bool:
        """Whether ``progressDeadline`` does not run now, besides a pause: the ramp is held by
        what is not its own lack of progress (a Campaign whose campaigns file cannot be
        written). As after Paused, it runs again from when the hold ends, which the kind's
        ``deadline_counts_from`` then names."""
        return False

    def judged_since(self) -> dt.datetime | None:
        """Since when the step's gates must have passed: its start, or later when the level
        had to be applied again mid-step (canary)."""
        return self.status.step_started_at

    def start_traffic(self, actor: str = "operator", why: str | None = None) -> None:
        """The offline gates passed, or a one-step promote by hand (``actor``, ``why``): move
        to the first step's level (canary only)."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------

    @property
    def steps(self) -> Sequence[_Step]:
        return self.ramp.steps

    def step_index(self) -> int:
        # Clamped: the spec may have lost steps mid-ramp (``keep_step_in_spec`` writes it back).
        return min(self.status.current_step or 0, len(self.steps) - 1)

    def keep_step_in_spec(self) -> None:
        """A ramp underway whose stored step index is past the spec's last step (the spec lost
        steps mid-ramp) has it written back as the last step, held or not: read as the last
        step everywhere already (``step_index``), it was published as it was, so the CRD's step
        column showed 2 for a 2-step ramp and ``kubectl uplift status`` "step 3/2" until the
        ramp ended. The status before the pass is read with the same index: the index moved,
        but no step changed in this pass, so what compares the two (a canary's split that the
        graph does not carry, ``domain.canary``) still sees the same step. Called from
        ``follow_step_level``, so not in a pass on an invalid spec, whose step count is not
        trusted (an UpliftModel's ``decide_stopping_requests``: the ramp held where it stands)."""
        last = len(self.steps) - 1
        current = self.status.current_step
        if not self.active() or current is None or last < 0 or current <= last:
            return
        self.status.current_step = last
        before = self.previous.current_step
        if before is not None and before > last:
            self.previous = self.previous.model_copy(update={"current_step": last})

    def emit(self, type_: Literal["Normal", "Warning"], reason: Reason, message: str, *,
             decision: bool = True) -> None:
        self.events.append(Event(type_, reason, message, decision))

    def record(self, action: Reason, version: str | None, reason: str,
               actor: str = "operator") -> None:
        """A history entry, the history trimmed (``trimmed_history``), ``historyTrimmed``
        counting the entries it dropped."""
        entry = DecisionRecord.model_validate({
            "time": self.now, "action": action.value, "version": version,
            "reason": clip(reason, _RECORD_REASON_MAX), "actor": actor, **self.record_level()})
        history = [*self.status.history, entry]
        kept = trimmed_history(history)
        if len(kept) < len(history):
            self.status.history_trimmed = ((self.status.history_trimmed or 0)
                                           + len(history) - len(kept))
        self.status.history = kept

    def start_ramp(self) -> None:
        """Step 0 afresh: sequential tests start over (a new version or a new exposure)."""
        self.status.current_step = 0
        self.status.step_started_at = self.now
        self.status.resumed_at = None
        self.status.paused_at = None
        self.status.passed_while_held_at = None
        self.status.gates = []
        self.restarted = True

    def end_ramp(self) -> None:
        self.status.current_step = None
        self.status.step_started_at = None
        self.status.resumed_at = None
        self.status.paused_at = None
        self.status.passed_while_held_at = None
        self.restarted = True

    def advance_step(self, actor: str = "operator", why: str = "gates passed, pause elapsed", *,
                     over: str = "") -> None:
        """The next step; ``over``: what a promote by hand went over (``gates_overridden``),
        recorded after ``why``, not told by the event."""
        index = self.step_index() + 1
        self.status.current_step = index
        # Never backwards, even if the spec's levels were edited mid-ramp.
        self.set_level(max(self.level(), self.step_level(index)))
        self.status.step_started_at = self.now
        self.status.passed_while_held_at = None
        # The level changed: each test starts a new stratum, its evidence so far carried.
        self.status.gates = [next_step(g) for g in self.status.gates]
        self.record(Reason.STEP_ADVANCED, self.subject(), f"{why}{over}", actor)
        self.emit("Normal", Reason.STEP_ADVANCED, f"{self.where()} ({why})")

    def follow_step_level(self) -> None:
        """The spec's steps edited mid-ramp: the current step (its index, the last step when the
        spec now has fewer) is served at no less than the level the spec gives it. When the
        spec's is higher than the level served, it is set in this pass and the step starts
        over: its pause and deadline run from now, and each gate's sequential evidence moves to
        a new stratum (``next_step``, as at a step change), its Inconclusives counted afresh but
        its Fails and Errors in a row kept (an edit is no evidence against them). So the ramp
        never completes below a level its spec lists: before, a ramp at 25 % whose steps became
        [10, 75] stood at "step 2/2 (25%)" and completed from 25 %, and a level raised for the
        current step waited for the next step. A lower level is not followed: the ramp never
        goes backwards (``advance_step``), and the step served more than it asks (an abort or
        the spec's ``paused`` takes traffic off or holds it). Not while the ramp is held
        (Paused: the spec's ``paused``, a gate's pause or pending rollback; ``not_serving``):
        the level is set once the hold lifts. Not before traffic (the first step's level comes
        with ``start_traffic``), nor in a pass that (re)started the ramp. Called after
        ``act_on_gates``: this pass's outcomes, measured at the level served, count first. A
        stored index past the spec's steps is written back as its last first, whatever holds
        the ramp (``keep_step_in_spec``)."""
        self.keep_step_in_spec()
        if (not self.active() or self.restarted or self.pre_traffic()
                or self.pause_reason is not None or self.ramp.paused
                or self.not_serving() is not None):
            return
        index = self.step_index()
        was, level = self.level(), self.step_level(index)
        if level <= was:
            return
        self.status.current_step = index
        self.set_level(level)
        self.status.step_started_at = self.now
        self.status.passed_while_held_at = None
        self.status.gates = [next_step(g).model_copy(update={
            "failures": g.failures, "consecutive_errors": g.consecutive_errors})
            for g in self.status.gates]
        why = (f"{self.ramp_steps_field} edited: this step is at {level:g}% in the spec, "
               f"{was:g}% was served; the step starts over")
        self.record(Reason.STEP_RESTARTED, self.subject(), why, "spec")
        self.emit("Normal", Reason.STEP_RESTARTED, f"{self.where()} ({why})")

    def gates_passed_at_step(self) -> bool:
        """Every acting gate's last verdict is Pass, under its current settings, and was
        measured during this step (offline gates: passed in the pre-traffic analysis; before
        traffic, only they count)."""
        s = self.status
        start = self.judged_since()
        pre_traffic = self.pre_traffic()
        if pre_traffic and not any(g.type in OFFLINE_GATE_TYPES and not g.dry_run
                                   for g in self.ramp.gates):
            return True  # nothing to judge before traffic: waiting only for the canary to serve
        if start is None or s.last_analysis_at is None or s.last_analysis_at <= start:
            return False
        by_name = {g.name: g for g in s.gates}
        for gate in self.ramp.gates:
            offline = gate.type in OFFLINE_GATE_TYPES
            if gate.dry_run or (pre_traffic and not offline):
                continue
            st = by_name.get(gate.name)
            if st is None or not passed_as_set(gate, st):
                return False
            if st.time <= start and not offline:
                return False
        return True

    # -- the shared steps of a pass -----------------------------------------------------------

    def handle_requests(self, *, stops_only: bool = False) -> None:
        """All pending requests, most drastic first, each on the status the previous one left:
        an abort followed by a promote finds no ramp, deterministically, in one pass.

        Stopping wins: when an abort or an emergency rollback is pending (acted on, or ignored
        for having nothing to stop), a retry or promote pending with it is not acted on but
        marked handled and said superseded (``supersede``). The tokens are any text (the
        plugin writes a timestamp, the runbooks ``$(date +%s)``, a script anything), so which
        was asked last cannot be told; acted on in priority order, a retry written before the
        abort restarted the canary the abort had just stopped (the operator down, two
        engineers acting within seconds).

        Not when ``stops_supersede`` says no stop can act in this pass (an UpliftModel's
        emergency rollback restoring its stable: the retry that withdraws it is the one request
        the stops' own messages offer then): each request is then answered on its own.

        ``stops_only`` (a pass on an invalid spec): only the stops are acted on; a retry or
        promote pending with one is superseded all the same (it would otherwise fire once the
        spec is fixed, undoing the stop), every other request waits for a valid spec (its
        token not used up)."""
        last, earlier = self.status.handled_requests, self.status.earlier_handled_requests or {}
        for request in self.observed.requests:
            if is_replayed(request, last, earlier):
                self.mark_handled(request)
                self.replayed(request)
        pending = sorted((r for r in self.observed.requests if not is_handled(r, last, earlier)),
                         key=lambda r: _PRIORITY[r.kind])
        stop = (next((r for r in pending if r.kind in STOP_REQUESTS), None)
                if self.stops_supersede() else None)
        for request in pending:
            superseded = stop is not None and request.kind in _SUPERSEDED
            if stops_only and request.kind not in STOP_REQUESTS and not superseded:
                continue
            self.mark_handled(request)
            if stop is not None and superseded:
                self.supersede(request, stop)
                continue
            {
                RequestKind.EMERGENCY_ROLLBACK: self.emergency_rollback,
                RequestKind.ABORT: self.abort,
                RequestKind.RETRY: self.retry,
                RequestKind.PROMOTE_FULL: self.manual_promote,
                RequestKind.PROMOTE: self.manual_promote,
                RequestKind.UNRECOGNISED: self.refuse,
            }[request.kind](request)

    def mark_handled(self, request: ManualRequest) -> None:
        """``request``'s token the last handled of its key, the one before it remembered among
        the earlier ones (``domain.requests.handled_after``): neither is acted on again."""
        last, earlier = handled_after(request, self.status.handled_requests,
                                      self.status.earlier_handled_requests or {})
        self.status.handled_requests, self.status.earlier_handled_requests = last, earlier or None

    def replayed(self, request: ManualRequest) -> None:
        """A request whose token was handled before the last one of its key
        (``domain.requests.is_replayed``): put back, not asked. Git holding a request
        annotation (``uplift.dev/retry: git-1``), an on-call engineer asks again with a new
        token, and Argo CD's self-heal or its next sync restores Git's value: acted on, that
        restarted a canary rolled back since, or promoted a Campaign twice. Or by hand: a
        bare ``step`` after ``step:2``, a retry ``1`` after ``2`` after ``1``. Ignored instead,
        in any pass (nothing is acted on, so nothing waits for a valid spec), said once (its
        token is now the last handled) under its own reason ``RequestReplayed``, and taking
        no part in a stop superseding a retry or promote (``handle_requests``)."""
        verb = _REPLAYED_VERBS.get(request.kind)
        again = f": {self.ask(verb)}" if verb is not None else ""
        # The token it replaced, now the newest of the earlier ones (``mark_handled``).
        before = ((self.status.earlier_handled_requests or {}).get(request.key) or ["?"])[0]
        self.ignore(request, Reason.REQUEST_REPLAYED,
                    f"this token was handled already, before {request.key}="
                    f"{clip(before, _TOKEN_SHOWN_MAX)}: a value put back (by a GitOps sync "
                    f"or by hand; keep request annotations out of Git) is not a new request, "
                    f"nor is any of the last {HANDLED_TOKENS_KEPT} of its key; annotate with a "
                    f"new token to ask again{again}")

    def stops_supersede(self) -> bool:
        """Whether a stop pending in this pass supersedes a retry or promote pending with it
        (``handle_requests``): yes, unless the kind knows no stop can act in this pass and
        offers another request instead."""
        return True

    def supersede(self, request: ManualRequest, stop: ManualRequest) -> None:
        """A retry or promote pending in the pass of a stop (``handle_requests``): ignored,
        its token used up, saying which stop won and how to ask again."""
        verb, reason, words = _SUPERSEDED[request.kind]
        token = clip(stop.token, _TOKEN_SHOWN_MAX)
        self.ignore(request, reason,
                    f"superseded by the {_STOP_NAMES[stop.kind]} ({stop.key}={token}) handled "
                    f"in the same pass: a stop wins over a retry or promote pending with it; "
                    f"annotate again to {words}: {self.ask(verb)}")

    def refuse(self, request: ManualRequest) -> None:
        """A request annotation with a value that asks for nothing: said once, nothing done."""
        self.ignore(request, Reason.UNRECOGNISED_REQUEST, request.problem,
                    recorded_as=Reason.UNRECOGNISED_REQUEST)

    def ignore(self, request: ManualRequest, reason: Reason, why: str, *,
               recorded_as: Reason = Reason.REQUEST_IGNORED) -> None:
        """A request not acted on: a Warning under the request's own reason, and a history
        entry that is not the request's action (``RequestIgnored``, its actor naming the
        annotation): an ignored abort or rollback recorded as one would read as the model's
        last rollback, and end the wait of an emergency rollback for its restored version."""
        asked = f" (asked{request.note})" if request.note else ""
        self.record(recorded_as, None, f"{IGNORED_PREFIX}{why}{asked}", request.actor)
        self.emit("Warning", reason, f"{request.actor}{request.note} ignored: {why}",
                  decision=False)

    def abort(self, request: ManualRequest) -> None:
        if not self.active():
            self.ignore(request, Reason.MANUAL_ABORT, "no ramp to abort")
            return
        self.roll_back(Reason.MANUAL_ABORT,
                       request.said("aborted by hand") + self.gates_overridden(), request.actor)

    def gates_overridden(self) -> str:
        """The acting gates not passing at this step when a human promotes or aborts it, with
        their evidence as a gate's rollback records it (``evidence``; the limit a gate went
        past, ``tripped``, when it demands a rollback: a Manual rollback pending, which a
        promote overrides): "; gates not passed: gate lat Fail: value 0.31, … (2 failures,
        failureLimit 1 exceeded) — …". Nothing when every one passes. Before traffic, the
        offline gates only (a canary's ``start_traffic`` names those a promote skips); none
        without a ramp underway."""
        if not self.active():
            return ""
        statuses = {g.name: g for g in self.status.gates}
        pre_traffic = self.pre_traffic()
        blocking = set(self.blocking_gates())
        said: list[str] = []
        for gate in self.ramp.gates:
            if gate.dry_run or (pre_traffic and gate.type not in OFFLINE_GATE_TYPES):
                continue
            st = statuses.get(gate.name)
            demand = required_action(gate, st) if st is not None else GateAction.NONE
            if st is not None and demand is GateAction.ROLLBACK:
                verdict = (GateVerdict.FAIL if st.failures > gate.failure_limit
                           else GateVerdict.ERROR)
                said.append(f"gate {gate.name} {verdict.value}: {evidence(st, tripped(gate, st))}")
            elif gate.name not in blocking and demand is GateAction.NONE:
                continue
            elif st is None:
                said.append(f"gate {gate.name} not judged yet")
            elif demand is GateAction.NONE and passed_as_set(gate, st):
                said.append(f"gate {gate.name} not judged at this step yet")
            else:
                said.append(f"gate {gate.name} {st.verdict.value}: {evidence(st)}")
        return f"; gates not passed: {'; '.join(said)}" if said else ""

    def manual_promote(self, request: ManualRequest) -> None:
        if not self.active():
            self.ignore(request, Reason.MANUAL_PROMOTE, "no ramp to promote")
            return
        refused = self.promote_refused()
        if refused is not None:
            self.ignore(request, Reason.MANUAL_PROMOTE, refused)
            return
        full = request.kind is RequestKind.PROMOTE_FULL
        self.emit("Normal", Reason.MANUAL_PROMOTE,
                  f"{'full' if full else 'one-step'} promote of {self.where()} "
                  f"({request.actor}{request.note})")
        why = request.said("promoted by hand")
        if self.pre_traffic() and not full:  # one step from no traffic is the first step
            self.start_traffic(request.actor, why)  # it names the offline gates not passed
            return
        over = self.gates_overridden()
        if full or self.step_index() >= len(self.steps) - 1:
            self.complete(request.actor, why, over=over)
        else:
            self.advance_step(request.actor, why, over=over)

    def apply_analysis(self) -> None:
        """This pass's analysis, applied to the gates of the current step. Outcomes measured
        before the step started — this very pass advanced, completed or restarted the ramp (a
        promote by hand, a new version) — are not the step's evidence and are dropped here,
        as is an analysis already applied (a pass is idempotent). A kind applies after this
        what outlives the step: a Campaign's budget Fail (``domain.exposure``), which must
        suspend the exposure in the same pass whatever the ramp did.

        ``AnalysisPassed`` is said once of a step whose gates pass, at the first pass where
        they pass and nothing else holds the step (``not_serving``: a canary held while its
        model reference does not resolve, MLflow unreachable included, or not serving; a
        Campaign's exposure withdrawn, suspended or not delivered), as Flagger says no success
        of a canary it halts and Argo Rollouts' passed analysis is a step completed: "passed"
        of a step that does not move is read as one that will. An analysis that makes them
        pass while held says nothing then (the hold is said by its own event and the phase
        message) and leaves ``passedWhileHeldAt``; the pass where the hold lifts with them
        still passing says it (``tell_passed_after_hold``), whether or not the step then moves
        (a step without a pause waits for a promote: nothing else would say it)."""
        outcomes = self.observed.gate_outcomes
        if not self.active() or self.restarted:
            return
        if outcomes is not None:
            self.apply_outcomes(outcomes)
        self.tell_passed_after_hold()

    def apply_outcomes(self, outcomes: Sequence[GateOutcome]) -> None:
        """``apply_analysis``'s outcomes on the step's gates, unless measured before the step
        or applied already; ``AnalysisPassed`` when they make every gate pass and nothing
        holds the step, else ``passedWhileHeldAt`` when they make them pass while held."""
        s = self.status
        # An analysis with nothing to measure (every acting gate is offline and passed before
        # any traffic) is still the step's analysis: without it no step could end.
        latest = max((o.time for o in outcomes), default=self.now)
        start = s.step_started_at
        if ((s.last_analysis_at is not None and latest <= s.last_analysis_at)
                or (start is not None and latest <= start)):
            return  # already applied (a pass is idempotent), or measured before this step
        was_passing = self.gates_passed_at_step()
        self.record_outcomes({o.name: o for o in outcomes}, latest)
        if self.gates_passed_at_step() and not was_passing:
            if self.not_serving() is None and not self.stays_paused():
                self.emit("Normal", Reason.ANALYSIS_PASSED, f"every gate passed for {self.where()}")
            else:
                s.passed_while_held_at = latest

    def stays_paused(self) -> bool:
        """Whether the ramp is held Paused whatever this analysis says: the spec's ``paused``,
        or a gate whose counters at this step demand a pause or a rollback (an
        ``inconclusiveLimit`` passed, a Fail past ``failureLimit`` under ``rollback.mode:
        Manual``): a Fail's or an Inconclusive's count only grows within a step, so a Pass
        after it does not move the step, and ``AnalysisPassed`` is not said of it (an Error
        streak's demand ends at the gate's next other verdict, which this analysis's counters
        already show; ``act_on_gates`` decides the pause itself, after the analysis)."""
        if self.ramp.paused:
            return True
        statuses = {g.name: g for g in self.status.gates}
        return any(required_action(gate, statuses[gate.name])
                   in (GateAction.ROLLBACK, GateAction.PAUSE)
                   for gate in self.ramp.gates if gate.name in statuses)

    def tell_passed_after_hold(self) -> None:
        """``AnalysisPassed`` for a step whose gates passed while it was held
        (``passedWhileHeldAt``), in the first pass where nothing holds it and they still pass
        at this step; the mark is dropped then, and as soon as they no longer pass or the step
        is another (started, restarted or its split applied again since: ``judged_since``)."""
        s = self.status
        held_at, since = s.passed_while_held_at, self.judged_since()
        if held_at is None:
            return
        if since is None or held_at <= since or not self.gates_passed_at_step():
            s.passed_while_held_at = None
            return
        if self.not_serving() is not None or self.stays_paused():
            return  # still held
        s.passed_while_held_at = None
        self.emit("Normal", Reason.ANALYSIS_PASSED, f"every gate passed for {self.where()}")

    def record_outcomes(self, outcomes: Mapping[str, GateOutcome], at: dt.datetime) -> None:
        """Each measured gate's status after its outcome (``assess``), announced; a gate not
        measured keeps its last; the analysis is the one of ``at``."""
        s = self.status
        previous = {g.name: g for g in s.gates}
        updated: list[GateStatus] = []
        for gate in self.ramp.gates:
            outcome = outcomes.get(gate.name)
            if outcome is None:
                if gate.name in previous:
                    updated.append(previous[gate.name])
                continue
            gate_status = assess(gate, previous.get(gate.name), outcome)
            updated.append(gate_status)
            self.announce(gate, gate_status, previous.get(gate.name), held=outcome.holds)
        s.gates = updated
        s.last_analysis_at = at

    def announce(self, gate: GateSpecBase, st: GateStatus, before: GateStatus | None, *,
                 held: bool = False) -> None:
        """The event a gate's new status calls for, if any. A counted Error or Inconclusive
        is said when its counter moved to 1 (the first of a row, of the step): ``assess`` counts
        it, so a counted outcome that leaves the counter at 1 cannot happen. A Fail is said
        while it moves the step's failure count towards the rollback (each one up to the one
        past ``failureLimit``: what the ramp does next changed), and after that only at the
        first Fail of a row (``_fail_is_news``): with ``rollback.mode: Manual`` the canary is
        held at its step until a human decides, and a Fail at every analysis meanwhile said
        nothing new (a Warning every analysis, each counted as a decision). Such a later Fail
        is told but decides nothing (``decision=False``): the rollback it asks for is pending
        already. A ``held`` outcome counts nothing (``assess``), so its counter says nothing
        about it: it is said when the gate enters the hold or the hold's words change
        (``_hold_changed``), under its own reason, never as the counted kind it is not. A
        dry-run gate's: ``announce_dry_run``."""
        if gate.dry_run:
            self.announce_dry_run(gate, st, before, held=held)
        elif held:
            if _hold_changed(before, st):
                self.announce_hold(gate, st, "")
        elif st.verdict is GateVerdict.FAIL:
            towards_rollback = st.failures <= gate.failure_limit + 1
            if not towards_rollback and not _fail_is_news(before):
                return
            failures = f"{st.failures} failure{'' if st.failures == 1 else 's'}"
            limit = against_limit(failures, "failureLimit", gate.failure_limit,
                                  st.failures > gate.failure_limit)
            self.emit("Warning", Reason.GATE_FAILED,
                      f"gate {gate.name} failed ({limit}): {evidence(st)}",
                      decision=towards_rollback)
        elif st.verdict is GateVerdict.ERROR and st.consecutive_errors == 1:
            limit = against_limit("1 error in a row", "consecutiveErrorLimit",
                                  gate.consecutive_error_limit, gate.consecutive_error_limit < 1)
            self.emit("Warning", Reason.GATE_ERRORED,
                      f"gate {gate.name} could not be measured ({limit}): {st.message}")
        elif st.verdict is GateVerdict.INCONCLUSIVE and st.inconclusives == 1:
            self.emit("Normal", Reason.GATE_INCONCLUSIVE,
                      f"gate {gate.name} inconclusive, holding {self.where()}: {st.message}")

    def announce_dry_run(self, gate: GateSpecBase, st: GateStatus, before: GateStatus | None,
                         *, held: bool) -> None:
        """A dry-run gate's new verdict, said when it changes (it acts on nothing, so a repeat
        is no news), under the reason its kind has, as "(dry run, not counted, no action)":
        it counts nothing (``assess``: its counters stay 0, so no limit is quoted) and holds
        no step. Told but decides nothing (``decision=False``): a gate flapping between Pass
        and Fail adds nothing to ``uplift_operator_decisions_total``."""
        if before is not None and before.verdict is st.verdict:
            return
        dry = " (dry run, not counted, no action)"
        if held:
            self.announce_hold(gate, st, dry)
        elif st.verdict is GateVerdict.FAIL:
            self.emit("Warning", Reason.GATE_FAILED,
                      f"gate {gate.name} failed{dry}: {evidence(st)}", decision=False)
        elif st.verdict is GateVerdict.ERROR:
            self.emit("Warning", Reason.GATE_ERRORED,
                      f"gate {gate.name} could not be measured{dry}: {st.message}",
                      decision=False)
        elif st.verdict is GateVerdict.INCONCLUSIVE:
            self.emit("Normal", Reason.GATE_INCONCLUSIVE,
                      f"gate {gate.name} inconclusive{dry}: {st.message}", decision=False)

    def announce_hold(self, gate: GateSpecBase, st: GateStatus, dry: str) -> None:
        """A held outcome, said once: a sample ratio mismatch as ``SampleRatioMismatch`` (a
        Warning: the experiment is broken), anything else as ``GateHeld`` (a Warning for an
        Error, Normal for a wait), each saying it holds the ramp and which limit it does not
        count towards; a dry-run gate's (``dry``: its words) holds nothing and says so, and
        decides nothing (``decision=False``)."""
        limit = ("consecutiveErrorLimit" if st.verdict is GateVerdict.ERROR
                 else "inconclusiveLimit")
        message = (f"gate {gate.name} {st.verdict.value}{dry}: {st.message}" if dry else
                   f"gate {gate.name} {st.verdict.value} holds {self.where()}, not counted "
                   f"towards {limit}: {st.message}")
        if _SRM_WORDS in st.message:
            self.emit("Warning", Reason.SAMPLE_RATIO_MISMATCH, message, decision=not dry)
        else:
            self.emit("Warning" if st.verdict is GateVerdict.ERROR else "Normal",
                      Reason.GATE_HELD, message, decision=not dry)

    def act_on_gates(self) -> None:
        if not self.active():
            return
        statuses = {g.name: g for g in self.status.gates}
        demands = [(gate, statuses[gate.name], required_action(gate, statuses[gate.name]))
                   for gate in self.ramp.gates if gate.name in statuses]
        rollbacks = [(g, st) for g, st, action in demands if action is GateAction.ROLLBACK]
        if rollbacks:
            gate, st = rollbacks[0]
            # The verdict whose count demands it, not the latest: after a step restart that
            # kept the counts (a promotion, a budget renewal), the pause is recorded again at
            # the new step, where the gate may have said Pass since; "gate g Pass: …" would
            # neither read right nor be found as this pause's entry by the passes after it.
            verdict = (GateVerdict.FAIL if st.failures > gate.failure_limit
                       else GateVerdict.ERROR)
            why = f"gate {gate.name} {verdict.value}: {evidence(st, tripped(gate, st))}"
            held = self.rollback_held() if self.rollback_mode == "Automatic" else None
            if self.rollback_mode == "Automatic" and held is None:
                self.roll_back(Reason.ROLLED_BACK, why)
            else:
                self.rollback_pending = True
                why = self.paused_on(gate, GateAction.ROLLBACK, why,
                                     (f"gate {gate.name} {GateVerdict.FAIL.value}: ",
                                      f"gate {gate.name} {GateVerdict.ERROR.value}: "))
                self.pause_reason = (
                    f"{why}; rollback.mode is Manual: roll back or go on with "
                    f"{self.ask('abort', 'promote')}" if held is None
                    else f"{why}; rollback pending: {held}; roll back now with "
                         f"{self.ask('abort')}")
            return
        pauses = [(g, st) for g, st, action in demands if action is GateAction.PAUSE]
        if pauses:
            gate, st = pauses[0]
            times = f"{st.inconclusives} time{'' if st.inconclusives == 1 else 's'}"
            limit = against_limit(times, "inconclusiveLimit", gate.inconclusive_limit, True)
            ways = (f"go on, restart or roll back with {self.ask('promote', 'retry', 'abort')}"
                    if self.retry_restarts_paused
                    else f"go on or roll back with {self.ask('promote', 'abort')}")
            why = self.paused_on(gate, GateAction.PAUSE,
                                 f"gate {gate.name} inconclusive ({limit}): {st.message}",
                                 (f"gate {gate.name} inconclusive (",))
            self.pause_reason = f"{why}; {ways}"

    def paused_on(self, gate: GateSpecBase, action: GateAction, why: str,
                  kind: tuple[str, ...]) -> str:
        """The evidence ``gate``'s pause of this step (``action``: a pending Manual rollback, an
        ``inconclusiveLimit``) was tripped on, which every pass of the pause says: its
        counters keep the step paused whatever the gate says since (a Pass leaves a failure
        count as it is), so its latest verdict is not why the step is paused, and "paused:
        gate lat Pass: … — lat said Pass" read as a contradiction. The pass that trips it
        records ``why`` as a ``Paused`` history entry (its words begin with one of ``kind``);
        the passes after it, while the gate's counters as the status before them left them
        still demanded ``action`` (the same pause, not one that ended, an Error streak broken,
        and tripped again), quote that entry. None found since the step started (it has left
        the bounded history, or an operator before the entry paused it): ``why`` is recorded
        now. One recorded in this very pass is quoted whatever (a kind that acts on its gates
        twice in a pass: a Campaign's budget renewal)."""
        before = next((g for g in self.previous.gates if g.name == gate.name), None)
        ongoing = before is not None and required_action(gate, before) is action
        if action is GateAction.ROLLBACK:
            # Whatever verdict the words name (one recorded when the entry had gone, or at a
            # step that restarted keeping the counts, may have named the latest): an entry
            # this lookup does not find would be recorded again at every pass.
            kind = tuple(f"gate {gate.name} {verdict.value}: " for verdict in GateVerdict)
        start, subject = self.status.step_started_at, self.subject()
        for entry in reversed(self.status.history):
            if start is not None and entry.time < start:
                break
            if (entry.action == Reason.PAUSED.value and entry.version == subject
                    and entry.reason.startswith(kind) and (ongoing or entry.time >= self.now)):
                return entry.reason
        self.record(Reason.PAUSED, subject, why)
        return why

    def step_could_end(self) -> dt.datetime | None:
        """When the step's pause ends (its start without one). Before traffic there is no
        pause to wait for: the first step's runs from ``start_traffic``, so it is the start."""
        start = self.status.step_started_at
        if start is None:
            return None
        pause = self.steps[self.step_index()].pause
        if pause is None or self.pre_traffic():
            return start
        return start + parse_duration(pause)

    def deadline_counts_from(self) -> DeadlineBasis | None:
        """From when ``progressDeadline`` runs, and why: the end of the step's pause (its start
        without one; before traffic, when the pre-traffic analysis began: the canary was
        deployed, and the first step's pause has not begun), or the ramp's resume from Paused
        within the step if later, unless a kind's gates cannot be conclusive before a later
        time (its override)."""
        end = self.step_could_end()
        if end is None:
            return None
        pause = self.steps[self.step_index()].pause
        if self.pre_traffic():
            why = "the pre-traffic analysis began"
        elif pause is not None and parse_duration(pause) > dt.timedelta(0):
            why = "the step's pause ended"
        else:
            why = "the step started"
        basis = DeadlineBasis(end, why)
        resumed, start = self.status.resumed_at, self.status.step_started_at
        if resumed is not None and start is not None and resumed >= start:
            return basis.later(resumed, "the ramp resumed")
        return basis

    def blocked_by(self) -> str | None:
        """Why the step cannot advance on its own now, or None when only time/a human is due."""
        not_serving = self.not_serving()
        if not_serving is not None:
            return not_serving
        if self.gates_passed_at_step():
            return None
        waiting = [f"{g.name} {g.verdict.value}" for g in self.status.gates
                   if g.verdict is not GateVerdict.PASS]
        return "gates: " + ", ".join(waiting) if waiting else "waiting for an analysis"

    def note_resume(self) -> None:
        """Keep ``pausedAt`` while the ramp is held Paused (the spec's ``paused``, a gate's
        pause or pending rollback) and, in the pass that leaves it, remember when
        (``resumedAt``), for the deadline. Read from the ramp's own ``pausedAt``, not the
        published phase: a pass that refused the spec or found the serving graph someone
        else's writes its own phase over Paused and leaves the ramp's fields as they are, so a
        ramp resumed after one was not seen to resume, and its deadline counted the time
        paused. A status written before ``pausedAt`` says Paused by its phase alone."""
        s = self.status
        if not self.active():
            s.paused_at = None
            return
        if self.pause_reason is not None or self.ramp.paused:
            if s.paused_at is None:
                s.paused_at = self.now
            return
        if self.previous.paused_at is not None or self.previous.phase is Phase.PAUSED:
            s.resumed_at = self.now
        s.paused_at = None

    def check_deadline(self) -> None:
        self.note_resume()
        deadline = self.ramp.progress_deadline
        if (not self.active() or deadline is None or self.pause_reason is not None
                or self.ramp.paused or self.deadline_held()):
            return
        basis = self.deadline_counts_from()
        blocked = self.blocked_by()
        if basis is None or blocked is None or self.now <= basis.at + parse_duration(deadline):
            return
        self.deadline_exceeded = True
        # Once per deadline, so a re-run adds no duplicate: a deadline that runs again from a
        # later time (a resume, a campaigns file written again) and is exceeded again is a new
        # one, said and recorded.
        if not self.deadline_said_since(basis.at):
            why = (f"{self.where()} could not advance for {deadline} since "
                   f"{basis.at.isoformat()}, when {basis.why} ({blocked}); "
                   f"{self.deadline_next_step()}")
            self.record(Reason.PROGRESS_DEADLINE_EXCEEDED, self.subject(), why)
            self.emit("Warning", Reason.PROGRESS_DEADLINE_EXCEEDED, why)

    def deadline_said_since(self, at: dt.datetime) -> bool:
        """Whether the history records a ``ProgressDeadlineExceeded`` of the version the ramp
        concerns at or after ``at``: the deadline that runs from ``at`` (no earlier than the
        step's start) was said exceeded."""
        subject = self.subject()
        return any(r.action == Reason.PROGRESS_DEADLINE_EXCEEDED.value
                   and r.version == subject and r.time >= at for r in self.status.history)

    def blocking_gates(self) -> list[str]:
        """The acting gates that keep the step from ending, each as ``gates_passed_at_step``
        judges it: not passed under their current settings, or not measured during the step
        (before traffic, the offline gates only; dry-run gates never block)."""
        start = self.judged_since()
        pre_traffic = self.pre_traffic()
        by_name = {g.name: g for g in self.status.gates}
        blocking = []
        for gate in self.ramp.gates:
            offline = gate.type in OFFLINE_GATE_TYPES
            if gate.dry_run or (pre_traffic and not offline):
                continue
            st = by_name.get(gate.name)
            if (st is None or not passed_as_set(gate, st)
                    or (not offline and start is not None and st.time <= start)):
                blocking.append(gate.name)
        return blocking

    def command(self, verb: Verb) -> str:
        """The ``kubectl uplift`` command for ``verb`` on this object, as pasted into a shell:
        its namespace named (the plugin otherwise uses the kubeconfig context's, where the name
        may be missing or another object's), e.g. "`kubectl uplift abort -n ns1 campaign/c1`"."""
        namespace = f"-n {self.observed.namespace} " if self.observed.namespace else ""
        return (f"`kubectl uplift {verb} {namespace}"
                f"{self.plugin_prefix}{self.observed.name or 'NAME'}`")

    def ask(self, *verbs: Verb) -> str:
        """How a human asks for ``verbs`` (alternatives, in the order a message offers them):
        each ``command``, then the annotation it writes with a value the operator acts on, e.g.
        "`kubectl uplift abort -n ns1 m1` (or annotate --overwrite uplift.dev/abort=$(date +%s))";
        several: "`kubectl uplift abort -n ns1 m1` or `kubectl uplift promote -n ns1 m1` (or
        annotate --overwrite uplift.dev/abort=$(date +%s) or uplift.dev/promote=step:$(date +%s))".
        The same words every pass (no time, no count): a message is written only when it
        changes."""
        commands = [self.command(v) for v in verbs]
        asked = [f"{key}={value}" for key, value in (REQUEST_VALUES[v] for v in verbs)]
        return (f"{_alternatives(commands)} "
                f"(or annotate --overwrite {_alternatives(asked)})")

    def deadline_next_step(self) -> str:
        """What on-call can do about a step past its ``progressDeadline``, in the commands the
        project documents (``kubectl uplift``, or the request annotations it writes;
        docs/lifecycle.md "Manual control", runbook UpliftProgressDeadlineExceeded): the gates
        that must pass, else promote when the evidence suffices (not offered when the kind
        would refuse it) or abort."""
        # Not ``ask``'s words: each command shares its parenthesis with what the verb does.
        abort = (f"abort ({self.command('abort')}, or annotate --overwrite "
                 f"{'='.join(REQUEST_VALUES['abort'])}: {self.abort_does})")
        refused = self.promote_refused()
        if refused is not None:
            return f"next: {abort}, or resolve what refuses a promote now ({refused})"
        gates = self.blocking_gates()
        listed = [g.name for g in self.status.gates if g.verdict is not GateVerdict.PASS]
        if not gates:
            must = ""
        elif gates == listed:  # ``blocked_by`` named them already, with their verdicts
            must = f"{'these gates' if len(gates) > 1 else 'this gate'} must pass at this step, or "
        else:
            must = (f"gate{'s' if len(gates) > 1 else ''} {', '.join(gates)} must pass at this "
                    "step, or ")
        return (f"next: {must}promote if the evidence suffices ({self.command('promote')}, or "
                f"annotate --overwrite {'='.join(REQUEST_VALUES['promote'])}; `--full` or "
                f"full:{TOKEN} completes the ramp), or {abort}; runbook "
                f"UpliftProgressDeadlineExceeded")

    def advance(self) -> None:
        if (not self.active() or self.pause_reason is not None or self.ramp.paused
                or self.blocked_by() is not None):
            return
        if self.pre_traffic():
            self.start_traffic()
            return
        pause = self.steps[self.step_index()].pause
        could_end = self.step_could_end()
        if pause is None or could_end is None or self.now < could_end:
            return  # no pause: waits for a manual promote
        if self.step_index() >= len(self.steps) - 1:
            self.complete()
        else:
            self.advance_step()

    # -- phase, events, requeue ---------------------------------------------------------------

    def ramp_phase(self) -> tuple[Phase, str]:
        """The phase while a ramp is underway."""
        if self.pause_reason is not None:
            return Phase.PAUSED, f"{self.where()} paused: {self.pause_reason}"
        if self.deadline_exceeded:
            return Phase.DEGRADED, (f"ProgressDeadlineExceeded: {self.where()} could not "
                                    f"advance ({self.blocked_by()}); "
                                    f"{self.deadline_next_step()}")
        if self.ramp.paused:
            return Phase.PAUSED, (f"{self.where()} held by {self.paused_field}; gates are still "
                                  "evaluated")
        return Phase.PROGRESSING, f"{self.where()}: {self.waiting_for()}"

    def waiting_for(self) -> str:
        blocked = self.blocked_by()
        if blocked is not None:
            return f"waiting ({blocked})"
        pause = self.steps[self.step_index()].pause
        could_end = self.step_could_end()
        if pause is None or could_end is None:
            return f"gates passed; this step has no pause: go on with {self.ask('promote')}"
        return f"gates passed; step ends at {could_end.isoformat()}"

    def set_phase(self, phase: Phase, message: str) -> str:
        """Write phase and message; Paused/Resumed events on a transition. Returns the message.
        Paused before is the published phase, or the ramp's own ``pausedAt`` when a pass that
        refused the spec or found the graph someone else's published its own phase over it
        (``note_resume``): neither a pause that outlived it nor its resume is missed or said
        twice. ``Resumed`` only of a ramp still underway after the pass: one a full promote
        completed while paused, or that ended otherwise, resumed nothing (its own event says
        what happened; before, "Resumed: version 2 serves all traffic" with the spec still
        paused)."""
        message = clip(message, MESSAGE_MAX)
        self.status.phase, self.status.message = phase, message
        was_paused = (self.previous.phase is Phase.PAUSED
                      or self.previous.paused_at is not None)
        if phase is Phase.PAUSED and not was_paused:
            self.emit("Normal", Reason.PAUSED, message)
            if self.pause_reason is None and self.ramp.paused and not self.paused_by_spec():
                self.record(Reason.PAUSED, self.subject(), f"held by {self.paused_field}",
                            "spec")
        elif (was_paused and phase in (Phase.PROGRESSING, Phase.HEALTHY) and self.active()
              and self.resumes()):
            self.emit("Normal", Reason.RESUMED, message)
            if self.paused_by_spec():
                self.record(Reason.RESUMED, self.subject(), f"{self.paused_field} set to false",
                            "spec")
        return message

    def resumes(self) -> bool:
        """Whether a ramp paused before and no longer resumed anything (``set_phase``)."""
        return True

    def paused_by_spec(self) -> bool:
        """Whether the pause this pass lifts was the spec's (``set_phase``): the history's last
        ``Paused``/``Resumed`` entry is a ``Paused`` of the spec. A gate's pause records its
        own entry, and the promote or retry that lifts it records theirs."""
        last = next((e for e in reversed(self.status.history)
                     if e.action in (Reason.PAUSED.value, Reason.RESUMED.value)), None)
        return last is not None and last.action == Reason.PAUSED.value and last.actor == "spec"

    def ramp_times(self) -> list[dt.datetime]:
        """When the ramp needs a pass: the next analysis, the step's end, the deadline. Before
        traffic, with offline gates to judge, an analysis due now (``analysis_due``: they are
        judged at once) is asked for now, the requeue floor aside: asked for an interval from
        the canary's start, their verdict, and the traffic it lets in, came up to an interval
        late. Without any, there is nothing to measure before traffic: the ramp waits only for
        the canary to serve."""
        if not self.active():
            return []
        base = analysis_base(self.status)
        interval = parse_duration(self.ramp.analysis_interval)
        if (self.pre_traffic() and any(g.type in OFFLINE_GATE_TYPES for g in self.ramp.gates)
                and analysis_due(self.ramp, self.status, self.now, active=True,
                                 pre_traffic=True)):
            times = [self.now]
        else:
            times = [self.now if base is None else base + interval]
        could_end = self.step_could_end()
        if could_end is not None and could_end > self.now:
            times.append(could_end)
        deadline = self.ramp.progress_deadline
        counts_from = self.deadline_counts_from()
        if (counts_from is not None and deadline is not None and not self.deadline_exceeded
                and not self.deadline_held()):
            # Only a deadline still to come: one that passed without being exceeded (a step
            # waiting for a promote, a pause, gates that passed) is checked again at the next
            # analysis; asked for now, it would requeue the pass every second.
            due = counts_from.at + parse_duration(deadline) + MIN_REQUEUE
            if due > self.now:
                times.append(due)
        return times

    def requeue(self, extra: Sequence[dt.datetime] = ()) -> dt.timedelta | None:
        times = [*self.ramp_times(), *extra]
        if not times:
            return None
        return max(min(times) - self.now, MIN_REQUEUE)

    def last_rollback(self, subject: str | None = None) -> DecisionRecord | None:
        """The latest rollback in the history (of ``subject`` when given)."""
        for entry in reversed(self.status.history):
            if is_rollback(entry) and (subject is None or entry.version == subject):
                return entry
        return None


#: The words every sample-ratio hold's message has (``domain.gates``: the mismatch, and the
#: re-check that follows it), which tell an SRM from the other holds.
_SRM_WORDS = "sample ratio mismatch"
#: A number in a message: a held gate's words keep their shape while its numbers move.
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def _hold_changed(before: GateStatus | None, status: GateStatus) -> bool:
    """Whether a held ``status`` is news after ``before``: the gate had no status at the step,
    another verdict, or a message of another shape (its numbers aside: an SRM's share and
    p-value, a re-check's units, move at every analysis of one hold). A counted outcome before
    it has other words, so a hold that follows one is said."""
    if before is None or before.verdict is not status.verdict:
        return True
    return _NUMBER.sub("#", before.message) != _NUMBER.sub("#", status.message)


def _fail_is_news(before: GateStatus | None) -> bool:
    """Whether a Fail past the one that tripped ``failureLimit`` begins a row of Fails: the
    gate had no status at the step, or its last verdict was another (a Pass, an Inconclusive,
    an Error, a hold between them), so the gate failed again after it had stopped failing."""
    return before is None or before.verdict is not GateVerdict.FAIL


def evidence(status: GateStatus, limit: str | None = None) -> str:
    """A gate's evidence in one line: value, threshold, bounds, samples, the limit it went
    past (``tripped``, when given: before the message, which may be clipped), why."""
    parts = [f"{label} {value:.4g}" for label, value in
             (("value", status.value), ("threshold", status.threshold), ("lower", status.lower),
              ("upper", status.upper)) if value is not None]
    if status.samples is not None:
        parts.append(f"samples {status.samples}")
    past = f" ({limit})" if limit else ""
    return f"{', '.join(parts) or 'no value'}{past} — {status.message}"


def tripped(gate: GateSpecBase, status: GateStatus) -> str:
    """The counter that demands the gate's rollback, against its limit: "2 failures,
    failureLimit 1 exceeded" or "5 errors in a row, consecutiveErrorLimit 4 exceeded"
    (``required_action``'s order: Fails first)."""
    if status.failures > gate.failure_limit:
        n = status.failures
        return against_limit(f"{n} failure{'' if n == 1 else 's'}", "failureLimit",
                             gate.failure_limit, True)
    n = status.consecutive_errors
    return against_limit(f"{n} error{'' if n == 1 else 's'} in a row", "consecutiveErrorLimit",
                         gate.consecutive_error_limit, n > gate.consecutive_error_limit)


def against_limit(count: str, field: str, limit: int, exceeded: bool) -> str:
    """A counter read against its spec limit in the spec's own words: "1 failure,
    failureLimit 0 exceeded" once past it (the gate acts), "1 failure,
    within failureLimit 2" before."""
    return f"{count}, {field} {limit} exceeded" if exceeded else f"{count}, within {field} {limit}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alternatives(items: Sequence[str]) -> str:
    """``items`` as alternatives: "a", "a or b", "a, b or c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
