"""The UpliftModel canary ramp as a pure state machine: status + observations + now → decision.

Role: every lifecycle decision of an UpliftModel — first deployment, canary start and
replacement, step advances, promotion, rollback, pauses, the progress deadline and manual
requests — in one function, ``decide``, shaped like Argo Rollouts' reconcile: a snapshot of what
one pass observed (``Observed``), a straight list of steps that build the *whole* new status in
memory, then phase, conditions and requeue computed from it. The state lives in the status only,
so a restarted operator resumes where it was, and ``decide`` is idempotent: run again on its own
output with the same observations, it changes nothing and emits nothing.

Neighbours: ``domain.gates`` (verdicts and counters), ``domain.conditions`` (``Ready``), the
handler (reads annotations with ``parse_requests``, asks ``analysis_due`` before fetching
measurements, applies ``Decision.traffic``, writes ``Decision.status``, emits
``Decision.events``, requeues after ``Decision.requeue_after``). No I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from uplift_operator.api.v1alpha1.common import (
    Condition,
    DecisionRecord,
    GateStatus,
    GateVerdict,
    Phase,
    parse_duration,
)
from uplift_operator.api.v1alpha1.upliftmodel import (
    ModelGate,
    RolloutStep,
    UpliftModelSpec,
    UpliftModelStatus,
)
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.gates import (
    OFFLINE_GATE_TYPES,
    GateAction,
    GateOutcome,
    assess,
    next_step,
    required_action,
)
from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    EMERGENCY_ROLLBACK_ANNOTATION,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    ManualRequest,
    RequestKind,
    parse_requests,
)

__all__ = [
    "ABORT_ANNOTATION",
    "EMERGENCY_ROLLBACK_ANNOTATION",
    "HISTORY_LIMIT",
    "PROMOTE_ANNOTATION",
    "RETRY_ANNOTATION",
    "Decision",
    "Event",
    "ManualRequest",
    "Observed",
    "Reason",
    "RequestKind",
    "TrafficSplit",
    "analysis_due",
    "decide",
    "gates_to_measure",
    "parse_requests",
]

HISTORY_LIMIT = 20
_MIN_REQUEUE = dt.timedelta(seconds=1)  # never ask for a hot loop
_MESSAGE_MAX = 4000


_PRIORITY = {kind: index for index, kind in enumerate(RequestKind)}


class Reason(StrEnum):
    """Event reasons (and DecisionRecord actions)."""

    CANARY_STARTED = "CanaryStarted"
    TRAFFIC_STARTED = "TrafficStarted"
    CANARY_REPLACED = "CanaryReplaced"
    STEP_ADVANCED = "StepAdvanced"
    ANALYSIS_PASSED = "AnalysisPassed"
    GATE_FAILED = "GateFailed"
    GATE_INCONCLUSIVE = "GateInconclusive"
    ROLLED_BACK = "RolledBack"
    PROMOTED = "Promoted"
    PAUSED = "Paused"
    RESUMED = "Resumed"
    MANUAL_PROMOTE = "ManualPromote"
    MANUAL_ABORT = "ManualAbort"
    RETRY = "Retry"
    EMERGENCY_ROLLBACK = "EmergencyRollback"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the UpliftModel."""

    type: Literal["Normal", "Warning"]
    reason: Reason
    message: str


@dataclass(frozen=True)
class TrafficSplit:
    """The desired serving graph: stable gets 100 − ``canary_weight`` percent.

    ``canary_version`` at weight 0 keeps a rolled-back canary deployed for inspection
    (``spec.rollback.scaleDownDelay``). The serving backends (``render``) render exactly this.
    """

    stable_version: str
    canary_version: str | None = None
    canary_weight: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight {self.canary_weight} outside [0, 100]")
        if self.canary_version is None and self.canary_weight:
            raise ValueError("a canary weight without a canary version")
        if self.canary_version == self.stable_version:
            raise ValueError("canary and stable are the same version")


@dataclass(frozen=True)
class Observed:
    """What the I/O layer saw in this pass.

    ``desired_version``: the version the spec resolves to now (None: unresolved).
    ``stable_ready``/``canary_ready``: whether that predictor serves.
    ``gate_outcomes``: this pass's analysis of ``status.canaryVersion`` (None: none ran; see
    ``analysis_due``). ``requests``: manual requests present (``parse_requests``).
    ``generation``: metadata.generation, for observedGeneration.
    """

    desired_version: str | None
    stable_ready: bool = False
    canary_ready: bool = False
    gate_outcomes: Sequence[GateOutcome] | None = None
    requests: Sequence[ManualRequest] = ()
    generation: int | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of one pass.

    ``status``: the complete new status, the gates' sequential-test memory included
    (``status.gates[].sequentialState``). ``traffic``: the serving graph to apply (None: nothing
    to serve yet). ``events``: to emit, in order. ``requeue_after``: when to run again (next
    analysis, step end, deadline), None when nothing is scheduled.
    """

    status: UpliftModelStatus
    traffic: TrafficSplit | None
    events: tuple[Event, ...]
    requeue_after: dt.timedelta | None


def analysis_due(spec: UpliftModelSpec, status: UpliftModelStatus, now: dt.datetime) -> bool:
    """Whether gates should be measured now: a canary is out and an analysis interval has passed
    since the later of the step start and the last analysis (so a step's first analysis sees
    one interval of data at its weight)."""
    if status.canary_version is None:
        return False
    interval = parse_duration(spec.rollout.analysis_interval)
    if _pre_traffic(status):
        # The offline gates need no traffic: judge them at once, then once an interval.
        last = status.last_analysis_at
        start = status.step_started_at
        return last is None or (start is not None and last <= start) or now >= last + interval
    base = _analysis_base(status)
    return base is None or now >= base + interval


def gates_to_measure(spec: UpliftModelSpec, status: UpliftModelStatus) -> list[ModelGate]:
    """The gates an analysis measures now: before any traffic moves (Argo Rollouts'
    prePromotionAnalysis), only the offline ones; on the ramp, the others, plus any offline
    gate that has not passed yet (a canary started before its offline gates were judged)."""
    if _pre_traffic(status):
        return [g for g in spec.rollout.gates if g.type in OFFLINE_GATE_TYPES]
    passed = {g.name for g in status.gates if g.verdict is GateVerdict.PASS}
    return [g for g in spec.rollout.gates
            if g.type not in OFFLINE_GATE_TYPES or g.name not in passed]


def _pre_traffic(status: UpliftModelStatus) -> bool:
    """A canary is deployed but gets no traffic until its offline gates pass (weight 0; every
    ramp step has a weight above 0)."""
    return status.canary_version is not None and status.canary_weight == 0


def decide(spec: UpliftModelSpec, status: UpliftModelStatus, observed: Observed,
           now: dt.datetime) -> Decision:
    """One reconcile pass of the ramp, in this order:

    1. pending manual requests (emergency rollback, abort, retry, promote full, promote step),
       each once per token, recorded in ``handledRequests``;
    2. the desired version: the first version becomes stable at once; a new one starts (or
       replaces) the canary at step 0; back at stable removes the canary; the aborted version
       does nothing until a retry or a newer version;
    3. this pass's gate outcomes (only if measured during the current step and not applied
       yet) update the gate counters;
    4. counters beyond a limit roll back (or pause, with ``rollback.mode: Manual``), also while
       ``spec.rollout.paused``; Inconclusive beyond a non-zero ``inconclusiveLimit`` pauses;
    5. a step blocked past its pause + ``progressDeadline`` is Degraded, not rolled back;
    6. a step whose acting gates last passed during it, and whose pause has elapsed, advances
       one step (or promotes after the last); a step without a pause waits for a promote.
    """
    return _Pass(spec, status, observed, now).run()


def _analysis_base(status: UpliftModelStatus) -> dt.datetime | None:
    times = [t for t in (status.step_started_at, status.last_analysis_at) if t is not None]
    return max(times, default=None)


class _Pass:
    """Builds the new status of one pass; each step reads and updates ``self.s`` in order."""

    def __init__(self, spec: UpliftModelSpec, status: UpliftModelStatus, observed: Observed,
                 now: dt.datetime) -> None:
        self.spec, self.previous, self.observed, self.now = spec, status, observed, now
        self.s = status.model_copy(deep=True)
        self.events: list[Event] = []
        self.canary_changed = False  # outcomes measured the previous canary: drop them
        self.pause_reason: str | None = None
        self.rollback_pending = False  # a gate demands rollback, but rollback.mode is Manual
        self.deadline_exceeded = False

    def run(self) -> Decision:
        self.s.desired_version = self.observed.desired_version
        if self.observed.generation is not None:
            self.s.observed_generation = self.observed.generation
        self.handle_requests()
        self.follow_desired_version()
        self.apply_analysis()
        self.act_on_gates()
        self.check_deadline()
        self.advance()
        return self.finish()

    # -- helpers ----------------------------------------------------------------------------

    @property
    def steps(self) -> list[RolloutStep]:
        return self.spec.rollout.steps

    def step_index(self) -> int:
        # Clamped: the spec may have lost steps mid-ramp.
        return min(self.s.current_step or 0, len(self.steps) - 1)

    def where(self) -> str:
        if _pre_traffic(self.s):
            return f"canary {self.s.canary_version} in pre-traffic analysis (0%)"
        return (f"canary {self.s.canary_version} at step {self.step_index() + 1}/"
                f"{len(self.steps)} ({self.s.canary_weight}%)")

    def offline_gates(self) -> list[ModelGate]:
        return [g for g in self.spec.rollout.gates
                if g.type in OFFLINE_GATE_TYPES and not g.dry_run]

    def emit(self, type_: Literal["Normal", "Warning"], reason: Reason, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def record(self, action: Reason, version: str | None, reason: str,
               actor: str = "operator") -> None:
        weight = self.s.canary_weight if self.s.canary_version is not None else 0
        entry = DecisionRecord(time=self.now, action=action.value, version=version,
                               weight=weight, reason=_clip(reason, 1024), actor=actor)
        self.s.history = [*self.s.history, entry][-HISTORY_LIMIT:]

    def start_canary(self, version: str) -> None:
        self.s.canary_version = version
        self.s.current_step = 0
        # Offline gates first, before any request reaches the canary.
        self.s.canary_weight = 0 if self.offline_gates() else self.steps[0].weight
        self.s.step_started_at = self.now
        self.s.canary_started_at = self.now
        self.s.gates = []
        self.s.aborted_version = None  # a new attempt supersedes the old rollback
        self.canary_changed = True

    def remove_canary(self) -> None:
        self.s.canary_version = None
        self.s.current_step = None
        self.s.canary_weight = 0
        self.s.step_started_at = None
        self.s.canary_started_at = None
        self.canary_changed = True

    def roll_back(self, reason: Reason, why: str, actor: str = "operator") -> None:
        version = self.s.canary_version
        text = f"rolled back {self.where()} to stable {self.s.stable_version}: {why}"
        self.remove_canary()
        self.s.aborted_version = version
        self.record(reason, version, why, actor)
        self.emit("Warning", reason, text)

    def promote(self, actor: str = "operator", why: str = "all steps passed") -> None:
        version = self.s.canary_version
        old = self.s.stable_version
        self.s.previous_stable_version = old
        self.s.stable_version = version
        self.remove_canary()
        self.record(Reason.PROMOTED, version, f"{why}; previous stable {old}", actor)
        self.emit("Normal", Reason.PROMOTED, f"version {version} promoted to stable ({why}); "
                                             f"previous stable {old}")

    def advance_step(self, actor: str = "operator", why: str = "gates passed, pause elapsed") -> None:
        index = self.step_index() + 1
        self.s.current_step = index
        # Never backwards, even if the spec's weights were edited mid-ramp.
        self.s.canary_weight = max(self.s.canary_weight, self.steps[index].weight)
        self.s.step_started_at = self.now
        # The split changed: each test starts a new stratum, its evidence so far carried.
        self.s.gates = [next_step(g) for g in self.s.gates]
        self.record(Reason.STEP_ADVANCED, self.s.canary_version, why, actor)
        self.emit("Normal", Reason.STEP_ADVANCED, f"{self.where()} ({why})")

    def gates_passed_at_step(self) -> bool:
        """Every acting gate's last verdict is Pass and was measured during this step (offline
        gates: passed in the pre-traffic analysis; before traffic, only they count)."""
        start = self.s.step_started_at
        if start is None or self.s.last_analysis_at is None or self.s.last_analysis_at <= start:
            return False
        by_name = {g.name: g for g in self.s.gates}
        pre_traffic = _pre_traffic(self.s)
        for gate in self.spec.rollout.gates:
            offline = gate.type in OFFLINE_GATE_TYPES
            if gate.dry_run or (pre_traffic and not offline):
                continue
            st = by_name.get(gate.name)
            if st is None or st.verdict is not GateVerdict.PASS:
                return False
            if st.time <= start and not offline:
                return False
        return True

    def start_traffic(self) -> None:
        """The offline gates passed: the canary gets the first step's weight."""
        self.s.canary_weight = self.steps[0].weight
        self.s.step_started_at = self.now
        self.s.gates = [next_step(g) for g in self.s.gates]
        why = "offline gates passed before any traffic"
        self.record(Reason.TRAFFIC_STARTED, self.s.canary_version, why)
        self.emit("Normal", Reason.TRAFFIC_STARTED, f"{self.where()} ({why})")

    # -- the steps of a pass ----------------------------------------------------------------

    def handle_requests(self) -> None:
        # All pending requests, most drastic first, each on the status the previous one left:
        # an abort followed by a promote finds no canary, deterministically, in one pass.
        handled = self.s.handled_requests
        pending = [r for r in self.observed.requests if handled.get(r.key) != r.token]
        for request in sorted(pending, key=lambda r: _PRIORITY[r.kind]):
            self.s.handled_requests = {**self.s.handled_requests, request.key: request.token}
            {
                RequestKind.EMERGENCY_ROLLBACK: self.emergency_rollback,
                RequestKind.ABORT: self.abort,
                RequestKind.RETRY: self.retry,
                RequestKind.PROMOTE_FULL: self.manual_promote,
                RequestKind.PROMOTE: self.manual_promote,
            }[request.kind](request)

    def ignore(self, request: ManualRequest, reason: Reason, why: str) -> None:
        self.record(reason, None, f"ignored: {why}", request.actor)
        self.emit("Warning", reason, f"{request.actor} ignored: {why}")

    def emergency_rollback(self, request: ManualRequest) -> None:
        if self.s.canary_version is not None:
            self.roll_back(Reason.EMERGENCY_ROLLBACK, "emergency rollback requested",
                           request.actor)
        elif self.s.previous_stable_version is not None:
            bad, good = self.s.stable_version, self.s.previous_stable_version
            self.s.stable_version = good
            # The spec still names the bad version: marking it aborted keeps it from re-rolling
            # out, and forgetting the previous stable keeps a second request from flipping back.
            self.s.aborted_version = bad
            self.s.previous_stable_version = None
            self.record(Reason.EMERGENCY_ROLLBACK, good, f"stable {bad} replaced by previous "
                                                         f"stable {good} at once", request.actor)
            self.emit("Warning", Reason.EMERGENCY_ROLLBACK,
                      f"emergency rollback: stable {bad} replaced by previous stable {good} at "
                      f"once, skipping any ramp ({request.actor})")
        else:
            self.ignore(request, Reason.EMERGENCY_ROLLBACK,
                        "no canary and no previous stable version to roll back to")

    def abort(self, request: ManualRequest) -> None:
        if self.s.canary_version is None:
            self.ignore(request, Reason.MANUAL_ABORT, "no canary to abort")
            return
        self.roll_back(Reason.MANUAL_ABORT, "aborted by hand", request.actor)

    def retry(self, request: ManualRequest) -> None:
        version = self.s.desired_version
        if version is None or version == self.s.stable_version:
            self.ignore(request, Reason.RETRY, "the spec's version is already stable or "
                                               "does not resolve")
            return
        self.start_canary(version)
        self.record(Reason.RETRY, version, "canary restarted at step 1", request.actor)
        self.emit("Normal", Reason.RETRY, f"retrying version {version}: {self.where()} "
                                          f"({request.actor})")

    def manual_promote(self, request: ManualRequest) -> None:
        if self.s.canary_version is None:
            self.ignore(request, Reason.MANUAL_PROMOTE, "no canary to promote")
            return
        full = request.kind is RequestKind.PROMOTE_FULL
        self.emit("Normal", Reason.MANUAL_PROMOTE,
                  f"{'full' if full else 'one-step'} promote of {self.where()} ({request.actor})")
        if full or self.step_index() >= len(self.steps) - 1:
            self.promote(request.actor, "promoted by hand")
        elif _pre_traffic(self.s):
            self.start_traffic()
        else:
            self.advance_step(request.actor, "promoted by hand")

    def follow_desired_version(self) -> None:
        desired, s = self.s.desired_version, self.s
        if desired is None or desired == s.canary_version:
            return
        if s.stable_version is None:
            # First version ever: nothing to compare it with, so no ramp.
            s.stable_version = desired
            self.record(Reason.PROMOTED, desired, "first version: serving it as stable, no ramp",
                        "spec")
            self.emit("Normal", Reason.PROMOTED, f"version {desired} is the first version: "
                                                 "serving it as stable without a ramp")
        elif desired == s.stable_version:
            if s.canary_version is not None:
                text = f"spec points back at stable {desired}: canary {s.canary_version} removed"
                version = s.canary_version
                self.remove_canary()
                self.record(Reason.ROLLED_BACK, version, text, "spec")
                self.emit("Normal", Reason.ROLLED_BACK, text)
        elif desired == s.aborted_version:
            return  # stays Degraded until a retry or a new version
        elif s.canary_version is not None:
            old = s.canary_version
            self.start_canary(desired)
            self.record(Reason.CANARY_REPLACED, desired, f"replaces canary {old}", "spec")
            self.emit("Normal", Reason.CANARY_REPLACED, f"version {desired} replaces canary "
                                                        f"{old}: {self.where()}")
        else:
            self.start_canary(desired)
            self.record(Reason.CANARY_STARTED, desired, f"new version; stable {s.stable_version}",
                        "spec")
            self.emit("Normal", Reason.CANARY_STARTED, f"{self.where()}, stable "
                                                       f"{s.stable_version}")

    def apply_analysis(self) -> None:
        outcomes = self.observed.gate_outcomes
        if not outcomes or self.s.canary_version is None or self.canary_changed:
            return
        latest = max(o.time for o in outcomes)
        start = self.s.step_started_at
        if ((self.s.last_analysis_at is not None and latest <= self.s.last_analysis_at)
                or (start is not None and latest <= start)):
            return  # already applied (decide is idempotent), or measured before this step
        by_name = {o.name: o for o in outcomes}
        previous = {g.name: g for g in self.s.gates}
        was_passing = self.gates_passed_at_step()
        updated: list[GateStatus] = []
        for gate in self.spec.rollout.gates:
            outcome = by_name.get(gate.name)
            if outcome is None:
                if gate.name in previous:
                    updated.append(previous[gate.name])
                continue
            status = assess(gate, previous.get(gate.name), outcome)
            updated.append(status)
            self.announce(gate, status)
        self.s.gates = updated
        self.s.last_analysis_at = latest
        if self.gates_passed_at_step() and not was_passing:
            self.emit("Normal", Reason.ANALYSIS_PASSED, f"every gate passed for {self.where()}")

    def announce(self, gate: ModelGate, status: GateStatus) -> None:
        dry = " (dry run, no action)" if gate.dry_run else ""
        if status.verdict is GateVerdict.FAIL:
            self.emit("Warning", Reason.GATE_FAILED,
                      f"gate {gate.name} failed ({status.failures} of {gate.failure_limit} "
                      f"tolerated){dry}: {_evidence(status)}")
        elif status.verdict is GateVerdict.ERROR and status.consecutive_errors == 1:
            self.emit("Warning", Reason.GATE_FAILED,
                      f"gate {gate.name} could not be measured (error 1 of "
                      f"{gate.consecutive_error_limit} tolerated in a row){dry}: {status.message}")
        elif status.verdict is GateVerdict.INCONCLUSIVE and status.inconclusives == 1:
            self.emit("Normal", Reason.GATE_INCONCLUSIVE,
                      f"gate {gate.name} inconclusive, holding {self.where()}{dry}: "
                      f"{status.message}")

    def act_on_gates(self) -> None:
        if self.s.canary_version is None:
            return
        statuses = {g.name: g for g in self.s.gates}
        demands = [(gate, statuses[gate.name], required_action(gate, statuses[gate.name]))
                   for gate in self.spec.rollout.gates if gate.name in statuses]
        rollbacks = [(g, st) for g, st, action in demands if action is GateAction.ROLLBACK]
        if rollbacks:
            gate, st = rollbacks[0]
            why = f"gate {gate.name} {st.verdict.value}: {_evidence(st)}"
            if self.spec.rollback.mode == "Automatic":
                self.roll_back(Reason.ROLLED_BACK, why)
            else:
                self.rollback_pending = True
                self.pause_reason = (f"{why}; rollback.mode is Manual: annotate "
                                     f"{ABORT_ANNOTATION} to roll back or {PROMOTE_ANNOTATION} "
                                     "to go on")
            return
        pauses = [(g, st) for g, st, action in demands if action is GateAction.PAUSE]
        if pauses:
            gate, st = pauses[0]
            self.pause_reason = (f"gate {gate.name} inconclusive {st.inconclusives} times "
                                 f"(limit {gate.inconclusive_limit}): {st.message}; annotate "
                                 f"{PROMOTE_ANNOTATION}, {RETRY_ANNOTATION} or {ABORT_ANNOTATION}")

    def step_could_end(self) -> dt.datetime | None:
        start = self.s.step_started_at
        if start is None:
            return None
        pause = self.steps[self.step_index()].pause
        return start + (parse_duration(pause) if pause is not None else dt.timedelta(0))

    def blocked_by(self) -> str | None:
        """Why the step cannot advance on its own now, or None when only time/a human is due."""
        if not self.observed.canary_ready and not _pre_traffic(self.s):
            return "canary is not serving"
        if self.gates_passed_at_step():
            return None
        waiting = [f"{g.name} {g.verdict.value}" for g in self.s.gates
                   if g.verdict is not GateVerdict.PASS]
        return "gates: " + ", ".join(waiting) if waiting else "waiting for an analysis"

    def check_deadline(self) -> None:
        deadline = self.spec.rollout.progress_deadline
        if (self.s.canary_version is None or deadline is None or self.pause_reason is not None
                or self.spec.rollout.paused):
            return
        could_end = self.step_could_end()
        blocked = self.blocked_by()
        if could_end is None or blocked is None or self.now <= could_end + parse_duration(deadline):
            return
        self.deadline_exceeded = True
        start = self.s.step_started_at
        seen = any(r.action == Reason.PROGRESS_DEADLINE_EXCEEDED.value
                   and r.version == self.s.canary_version and start is not None and r.time >= start
                   for r in self.s.history)
        if not seen:  # once per step, so a re-run adds no duplicate
            why = f"{self.where()} could not advance for {deadline} past its pause ({blocked})"
            self.record(Reason.PROGRESS_DEADLINE_EXCEEDED, self.s.canary_version, why)
            self.emit("Warning", Reason.PROGRESS_DEADLINE_EXCEEDED, why)

    def advance(self) -> None:
        if (self.s.canary_version is None or self.pause_reason is not None
                or self.spec.rollout.paused or self.blocked_by() is not None):
            return
        if _pre_traffic(self.s):
            self.start_traffic()
            return
        pause = self.steps[self.step_index()].pause
        could_end = self.step_could_end()
        if pause is None or could_end is None or self.now < could_end:
            return  # no pause: waits for a manual promote
        if self.step_index() >= len(self.steps) - 1:
            self.promote()
        else:
            self.advance_step()

    # -- phase, conditions, traffic, requeue --------------------------------------------------

    def finish(self) -> Decision:
        phase, message = self.phase()
        s = self.s
        s.phase, s.message = phase, _clip(message, _MESSAGE_MAX)
        previous = self.previous.phase
        if phase is Phase.PAUSED and previous is not Phase.PAUSED:
            self.emit("Normal", Reason.PAUSED, message)
        elif previous is Phase.PAUSED and phase in (Phase.PROGRESSING, Phase.HEALTHY):
            self.emit("Normal", Reason.RESUMED, message)
        s.conditions = self.ready_condition(message)
        return Decision(status=s, traffic=self.traffic(), events=tuple(self.events),
                        requeue_after=self.requeue())

    def phase(self) -> tuple[Phase, str]:
        s = self.s
        if s.stable_version is None:
            return Phase.PROGRESSING, "waiting for the model reference to resolve to a version"
        if s.canary_version is not None:
            if self.pause_reason is not None:
                return Phase.PAUSED, f"{self.where()} paused: {self.pause_reason}"
            if self.deadline_exceeded:
                return Phase.DEGRADED, (f"ProgressDeadlineExceeded: {self.where()} could not "
                                        f"advance ({self.blocked_by()})")
            if self.spec.rollout.paused:
                return Phase.PAUSED, (f"{self.where()} held by spec.rollout.paused; gates are "
                                      "still evaluated")
            return Phase.PROGRESSING, f"{self.where()}: {self.waiting_for()}"
        if s.aborted_version is not None and s.desired_version == s.aborted_version:
            return Phase.DEGRADED, (f"version {s.aborted_version} was rolled back "
                                    f"({self.last_rollback_reason()}); stable {s.stable_version} "
                                    f"serves. Set a new version or annotate {RETRY_ANNOTATION}")
        if not self.observed.stable_ready:
            return Phase.PROGRESSING, f"waiting for stable version {s.stable_version} to serve"
        unresolved = ("; the model reference does not resolve now"
                      if s.desired_version is None else "")
        return Phase.HEALTHY, f"version {s.stable_version} serves all traffic{unresolved}"

    def waiting_for(self) -> str:
        blocked = self.blocked_by()
        if blocked is not None:
            return f"waiting ({blocked})"
        pause = self.steps[self.step_index()].pause
        could_end = self.step_could_end()
        if pause is None or could_end is None:
            return (f"gates passed; this step has no pause: annotate {PROMOTE_ANNOTATION}=step "
                    "to go on")
        return f"gates passed; step ends at {could_end.isoformat()}"

    def last_rollback_reason(self) -> str:
        actions = {Reason.ROLLED_BACK.value, Reason.MANUAL_ABORT.value,
                   Reason.EMERGENCY_ROLLBACK.value}
        for entry in reversed(self.s.history):
            if entry.action in actions:
                return entry.reason
        return "reason no longer in history"

    def ready_condition(self, message: str) -> list[Condition]:
        s = self.s
        status: cond.ConditionStatus
        if s.stable_version is None:
            status, reason = "False", "NoVersion"
        elif not self.observed.stable_ready:
            status, reason = "False", "WaitingForServing"
        elif self.rollback_pending:
            status, reason = "False", "RollbackPending"
        else:
            status, reason = "True", "StableServing"
        generation = self.observed.generation
        return cond.set_condition(s.conditions, type_=cond.READY,
                                  status=status, reason=reason,
                                  message=_clip(message, _MESSAGE_MAX), now=self.now,
                                  observed_generation=generation)

    def rollback_time(self) -> dt.datetime | None:
        actions = {Reason.ROLLED_BACK.value, Reason.MANUAL_ABORT.value,
                   Reason.EMERGENCY_ROLLBACK.value}
        for entry in reversed(self.s.history):
            if entry.action in actions and entry.version == self.s.aborted_version:
                return entry.time
        return None

    def scale_down_until(self) -> dt.datetime | None:
        """Until when a rolled-back canary stays deployed at weight 0, if it still should."""
        s = self.s
        if s.canary_version is not None or s.aborted_version in (None, s.stable_version):
            return None
        when = self.rollback_time()
        if when is None:
            return None
        until = when + parse_duration(self.spec.rollback.scale_down_delay)
        return until if self.now < until else None

    def traffic(self) -> TrafficSplit | None:
        s = self.s
        if s.stable_version is None:
            return None
        if s.canary_version is not None:
            return TrafficSplit(s.stable_version, s.canary_version, s.canary_weight)
        if self.scale_down_until() is not None:
            return TrafficSplit(s.stable_version, s.aborted_version, 0)
        return TrafficSplit(s.stable_version, None, 0)

    def requeue(self) -> dt.timedelta | None:
        times: list[dt.datetime] = []
        if self.s.canary_version is not None:
            base = _analysis_base(self.s)
            interval = parse_duration(self.spec.rollout.analysis_interval)
            times.append(self.now if base is None else base + interval)
            could_end = self.step_could_end()
            if could_end is not None and could_end > self.now:
                times.append(could_end)
            deadline = self.spec.rollout.progress_deadline
            if could_end is not None and deadline is not None and not self.deadline_exceeded:
                times.append(could_end + parse_duration(deadline) + _MIN_REQUEUE)
        until = self.scale_down_until()
        if until is not None:
            times.append(until)
        if not times:
            return None
        return max(min(times) - self.now, _MIN_REQUEUE)


def _evidence(status: GateStatus) -> str:
    parts = [f"{label} {value:.4g}" for label, value in
             (("value", status.value), ("threshold", status.threshold), ("lower", status.lower),
              ("upper", status.upper)) if value is not None]
    if status.samples is not None:
        parts.append(f"samples {status.samples}")
    return f"{', '.join(parts) or 'no value'} — {status.message}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
