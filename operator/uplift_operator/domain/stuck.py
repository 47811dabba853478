"""Degraded while the spec has not taken effect for longer than a grace, as the operator's own
conditions say: the published phase of each kind, from the phase its ramp implies.

Why: Argo CD's health check (``argocd/.../health.lua``) passes ``status.phase`` through, and
the ramps compute the phase from versions, traffic and gates only. A spec naming a version
MLflow does not have (or one whose registration failed, whose MLmodel cannot be read, a
credentials Secret that is not there, or credentials MLflow refuses), a serving graph the
API server refuses to apply (an admission policy, a 403), a graph the serving backend reports
failed, a campaigns file that cannot be written, or a Campaign's UpliftModel that is not found
each set a condition, while the phase stayed Healthy (the stable version serves on) or
Progressing (a canary or a first version waiting, a Campaign waiting for its model): Argo CD
showed Synced and Healthy, or an endless Progressing, and a pipeline waiting for Healthy went
on. Here such a condition, held longer than the grace, makes the phase Degraded, the message
naming the condition, its reason, since when and why, then what the ramp says (what serves);
the phase the ramp implies returns at the first pass after the condition clears.

The grace (``grace``) is 5 minutes, or the ramp's ``progressDeadline`` when shorter: long
enough for what clears by itself (a failed apply is tried again within seconds, backing off to
a minute: five minutes are at least five tries; a backend reporting Failed for a moment while
pods roll; an alias moved a moment late), as long as the operator's UpliftModelNotServing alert
waits, and never longer than the user's own bound on a step that does not advance.

Output only: the phase and message change, nothing else. ``Ready`` (what a Campaign reads of its
UpliftModel, and what a Campaign's campaigns-file entry reads of the Campaign besides the
phase), the conditions, the ramp, the traffic and the history are as the pass decided them, so
no decision changes. A Degraded phase stays Degraded (already a human's to act on), but a
problem held past the grace is named after its own words, which stay first (e.g.
``ProgressDeadlineExceeded: …``, which the deadline metric reads): a rollback whose serving
graph the API server refuses is Degraded by the ramp, and its message, "stable N serves", was
all there was to read while the rolled-back canary kept its traffic. Paused stays Paused (a
human's decision is awaited; the ramps' Paused/Resumed events and the inconclusiveLimit alert
read the phase), but an outage outranks a pause (``Problem.outranks_pause``: a graph the
backend reports failed, a roll that did not serve, a Campaign's model whose stable version
stopped serving): it is named after the pause's words while it holds, with no grace (Argo
CD's health check, which cannot tell time, reads the condition as Degraded at once, as it
reads a paused model's stable outage; the spec-stuck metric reads the words, ``names``, its
alert waiting its own ``for``); before, a canary taking a step's traffic and failing showed
Suspended for as long as the pause lasted. A Campaign's Suspended and Completed are
overridden too: its exposure is 0 % then, and a file that was not written means the runtime
still treats (the ramps read Completed only through ``Ready``'s ``ScheduleEnded``,
``domain.exposure.end_campaign``). Pure: the condition's ``lastTransitionTime`` and ``now`` are
all it reads of time. Each problem condition's ``lastTransitionTime`` moves on a new reason as
well as a new status (``cond.set_condition``'s ``moves_on_reason``), so the grace and the
"since" run from when the current problem began: ``ModelNotFound`` after an hour of
``RegistryUnavailable`` (an outage, no problem here) is not Degraded at its first pass.

A spec edit whose serving graph waits for a roll slot, or rolls its pods, has not taken effect
either (``ServingApplied``'s message ending with ``cond.SPEC_EDIT_ROLLING``, under
``RollQueued``, ``Applied``, ``ApplyFailed`` or ``RollTimedOut``: ``status.serving_applied``,
``status.EDIT_ROLLING_REASONS``): an UpliftModel
whose ramp says Healthy is published Progressing meanwhile, as Argo Rollouts says of a rollout
under way, the message naming the queue or the roll first, with no grace (a queue or a roll is
no problem: it waits its turn, which may take long in a fleet's upgrade, then rolls); Healthy
again at the first pass after the graph serves with every pod available. A roll that timed out
is a problem as any (``RollTimedOut``), and so is an apply refused meanwhile (``ApplyFailed``,
the message keeping its ending): Degraded past the grace, Progressing within it, not Healthy
(before, a pipeline waiting for Healthy went on in that window). A re-render no edit
asked for (an operator setting or release) leaves Healthy: the spec there took effect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from uplift_operator.api.v1alpha1.common import Condition, Phase, parse_duration
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.status import EDIT_ROLLING_REASONS
from uplift_operator.domain.steps import MESSAGE_MAX, clip

__all__ = ["CAMPAIGN_PROBLEMS", "DEFAULT_GRACE", "MODEL_PROBLEMS", "UNRESOLVED_PROBLEMS", "Problem",
           "Published", "campaign_phase", "grace", "model_phase", "names", "spec_edit_rolling"]

#: How long a problem condition may hold before the phase is Degraded (``grace``).
DEFAULT_GRACE = dt.timedelta(minutes=5)

#: How much of a problem condition's message the phase message quotes (the condition has it
#: whole), so that the ramp's words after it (what serves) survive the message's bound.
_QUOTED = 1000


@dataclass(frozen=True)
class Problem:
    """A condition state that says the spec has not taken effect: ``type`` at ``status``, with
    one of ``reasons`` (empty: any reason)."""

    type: str
    status: cond.ConditionStatus
    reasons: frozenset[str] = frozenset()
    #: The phases it turns Degraded past the grace; None: every one its kind's problems do.
    #: A Degraded phase names it whatever this says.
    phases: frozenset[Phase] | None = None
    #: Named in a Paused phase's message while it holds, the phase kept (module note).
    outranks_pause: bool = False

    def held_by(self, condition: Condition) -> bool:
        return self.says(condition.type, condition.status, condition.reason)

    def says(self, type_: object, status: object, reason: object) -> bool:
        """Whether a condition of ``type_`` at ``status`` with ``reason`` is this problem (as
        ``held_by``, of a condition as the API server returns it: the operator's metrics)."""
        return (type_ == self.type and status == self.status
                and (not self.reasons or reason in self.reasons))

    def counts_in(self, phase: Phase | None) -> bool:
        if phase is Phase.PAUSED:
            return self.outranks_pause
        return self.phases is None or phase in self.phases or phase in _ALREADY_DEGRADED


#: The ``ModelResolved`` reasons that do not clear by themselves: a model, version or alias
#: MLflow does not have, a version whose registration failed (a final status), a version whose
#: MLmodel or tags cannot be read as a model, a credentials Secret the API server says is not
#: there or not readable (GitOps applying it a moment late is within the grace), credentials
#: MLflow refuses (401) or whose user it denies a read (403: a rotation racing the Secret's
#: re-read is within the grace), no MLflow named by the spec or the operator. Not
#: ``RegistryUnavailable`` nor ``VersionNotReady`` (PENDING_REGISTRATION): an outage and an
#: upload, which clear by themselves. Each holds a running ramp alike (``domain.canary``).
UNRESOLVED_PROBLEMS = frozenset({cond.MODEL_NOT_FOUND, cond.VERSION_FAILED, cond.INVALID_MODEL,
                                 cond.CREDENTIALS_UNREADABLE, cond.CREDENTIALS_REFUSED,
                                 cond.TRACKING_URI_MISSING})

#: An UpliftModel's, in the order the message names them: the graph the backend reports
#: failed (a canary's, or a first version's: a stable version that served is already Degraded,
#: ``StableNotServing``), a graph the API server refused, or whose roll did not serve within
#: the roll timeout (``RollTimedOut``: new pods that never become ready while the old ones
#: serve on; not ``RollQueued``, which waits for a slot while the graph serves as it is: a
#: spec edit's is Progressing, ``spec_edit_rolling``), and a model reference that does not
#: resolve for a reason that does not clear by itself (``UNRESOLVED_PROBLEMS``). A failed
#: graph and a roll that did not serve outrank a pause: a paused canary keeps its traffic.
MODEL_PROBLEMS = (
    Problem(cond.SERVING_FAILED, "True", outranks_pause=True),
    Problem(cond.SERVING_APPLIED, "False", frozenset({cond.APPLY_FAILED})),
    Problem(cond.SERVING_APPLIED, "False", frozenset({cond.ROLL_TIMED_OUT}), outranks_pause=True),
    Problem(cond.MODEL_RESOLVED, "False", UNRESOLVED_PROBLEMS),
)
#: The phases a problem held past the grace turns Degraded, by kind (see the module's note);
#: a Degraded one stays so, the problem named after the ramp's words (``_ALREADY_DEGRADED``).
_MODEL_OVERRIDDEN = frozenset({Phase.PROGRESSING, Phase.HEALTHY})
_CAMPAIGN_OVERRIDDEN = frozenset({Phase.PROGRESSING, Phase.HEALTHY, Phase.SUSPENDED,
                                  Phase.COMPLETED})
_ALREADY_DEGRADED = frozenset({Phase.DEGRADED})

#: A Campaign's: its settings have not reached the runtime (the campaigns file cannot be
#: written, has no room for it, or does not carry it as its spec says); its ``modelRef`` names
#: no UpliftModel (``ModelServing`` False ``ModelNotFound``: a typo in Git, or the model
#: deleted), which no pass of its own clears, as an UpliftModel's version that does not resolve
#: (``ModelResolved``) — but not once its schedule ended (Completed: nothing treats under it,
#: nothing needs fixing), nor a model that exists and serves nothing yet (``ModelNotServing``:
#: its own UpliftModel's phase says why). While the model is not found ``SettingsDelivered`` is
#: absent (``domain.exposure.settings_delivered``), so without this a Campaign naming a model
#: that never comes stayed Progressing for good. Nor its model's stable version that served
#: and does not any more while the campaign exposes (``ModelServing`` False
#: ``StableNotServing``): the exposure is held at its step (no rollback for the model's
#: outage), so the ramp says Healthy or Progressing while no one's treatment is served; an
#: outage outranks a pause.
CAMPAIGN_PROBLEMS = (
    Problem(cond.SETTINGS_DELIVERED, "False"),
    Problem(cond.MODEL_SERVING, "False", frozenset({cond.MODEL_NOT_FOUND}),
            _CAMPAIGN_OVERRIDDEN - {Phase.COMPLETED}),
    Problem(cond.MODEL_SERVING, "False", frozenset({cond.MODEL_STABLE_NOT_SERVING}),
            _CAMPAIGN_OVERRIDDEN - {Phase.COMPLETED}, outranks_pause=True),
)


@dataclass(frozen=True)
class Published:
    """The phase and message to publish, and ``due``: when a problem now held within its grace
    will have held past it (a pass is due then, or the phase would wait for an unrelated
    event); None when none is."""

    phase: Phase | None
    message: str
    due: dt.datetime | None = None


def grace(progress_deadline: str | None) -> dt.timedelta:
    """How long a problem condition may hold before the phase is Degraded: ``DEFAULT_GRACE``,
    or the ramp's ``progressDeadline`` when shorter."""
    if progress_deadline is None:
        return DEFAULT_GRACE
    return min(DEFAULT_GRACE, parse_duration(progress_deadline))


def model_phase(phase: Phase | None, message: str, conditions: Sequence[Condition],
                progress_deadline: str | None, now: dt.datetime) -> Published:
    """An UpliftModel's published phase and message (``MODEL_PROBLEMS``); ``phase`` and
    ``message`` are what its ramp and pass decided (no phase yet: left so). Healthy while a
    spec edit's graph is queued or rolling (``spec_edit_rolling``) is Progressing."""
    published = _published(phase, message, conditions, MODEL_PROBLEMS, _MODEL_OVERRIDDEN,
                           grace(progress_deadline), now)
    rolling = spec_edit_rolling(conditions)
    if published.phase is not Phase.HEALTHY or rolling is None:
        return published
    said = f"{rolling.type} {rolling.status} ({rolling.reason}): {clip(rolling.message, _QUOTED)}"
    return Published(Phase.PROGRESSING, clip(f"{said}; {message}", MESSAGE_MAX), published.due)


def spec_edit_rolling(conditions: Sequence[Condition]) -> Condition | None:
    """``ServingApplied`` when it says that the graph a spec edit asks for waits for a roll
    slot (``RollQueued``), rolls (``Applied``: until its roll slot is released, Seldon having
    written a status since the apply with every Deployment done rolling), was refused
    (``ApplyFailed``, an apply whose answer was lost included: within its grace), or did not
    roll within the roll timeout (``RollTimedOut``, within its grace)
    (``cond.SPEC_EDIT_ROLLING``; ``status.EDIT_ROLLING_REASONS``), else None."""
    applied = cond.find(conditions, cond.SERVING_APPLIED)
    if (applied is None or applied.reason not in EDIT_ROLLING_REASONS
            or cond.SPEC_EDIT_ROLLING not in applied.message):
        return None
    return applied



def campaign_phase(phase: Phase | None, message: str, conditions: Sequence[Condition],
                   progress_deadline: str | None, now: dt.datetime) -> Published:
    """A Campaign's published phase and message (``CAMPAIGN_PROBLEMS``); ``phase`` and
    ``message`` are what its exposure ramp decided."""
    return _published(phase, message, conditions, CAMPAIGN_PROBLEMS, _CAMPAIGN_OVERRIDDEN,
                      grace(progress_deadline), now)


def names(message: str, type_: object, status: object, reason: object) -> bool:
    """Whether a published message names a problem condition of ``type_`` at ``status`` with
    ``reason`` (``_named``): held past its grace, or an outage that outranks a pause held at
    all, which the spec-stuck metric reads of a Paused phase."""
    return f"{type_} {status} ({reason}) since " in message


def _published(phase: Phase | None, message: str, conditions: Sequence[Condition],
               problems: Sequence[Problem], overridden: frozenset[Phase], allowed: dt.timedelta,
               now: dt.datetime) -> Published:
    paused = phase is Phase.PAUSED
    if phase not in overridden | _ALREADY_DEGRADED and not paused:
        return Published(phase, message)
    held = [c for problem in problems if problem.counts_in(phase) for c in conditions
            if problem.held_by(c)]
    # A pause has no grace to wait out: the problem is named while it holds, as Argo CD's
    # health check reads it (Degraded, as a paused model's stable outage, at once).
    past = held if paused else [c for c in held if now - c.last_transition_time >= allowed]
    # No pass asked for a Degraded phase's grace: its phase stays, only its words grow, which
    # the next pass says (a refused apply is retried within a minute); the passes and their
    # times are as the ramp and the serving side ask, as before.
    due = None if phase in _ALREADY_DEGRADED else min(
        (c.last_transition_time + allowed for c in held if c not in past), default=None)
    if not past:
        return Published(phase, message, due)
    said = "; ".join(_named(c, message) for c in past)
    kept = Phase.PAUSED if paused else Phase.DEGRADED
    if not message:
        return Published(kept, clip(said, MESSAGE_MAX), due)
    if phase in _ALREADY_DEGRADED or paused:
        # The ramp's words first (what a reader and the deadline metric look for first; what
        # holds a pause, which the inconclusiveLimit metric reads), then the problem; the
        # ramp's clipped, up to half the bound, so that the problem is said.
        room = max(MESSAGE_MAX - len(said) - 2, MESSAGE_MAX // 2)
        return Published(kept, clip(f"{clip(message, room)}; {said}", MESSAGE_MAX), due)
    return Published(Phase.DEGRADED, clip(f"{said}; {message}", MESSAGE_MAX), due)


def _named(condition: Condition, message: str) -> str:
    """The condition in the phase message: type, status, reason, since when, and its message
    unless the ramp's message already quotes it (an unresolved reference's cause)."""
    since = condition.last_transition_time.isoformat()
    said = f"{condition.type} {condition.status} ({condition.reason}) since {since}"
    if not condition.message or condition.message in message:
        return said
    return f"{said}: {clip(condition.message, _QUOTED)}"
