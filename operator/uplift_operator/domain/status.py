"""Status as a pure function of what was observed in one pass.

The services collect observations (spec problems, the resolved model reference, what applying
the serving graph did), call these functions with ``now``, and the handler writes the result in
one patch only when it differs from the current status. Every condition the services report is
set here or in the ramps (``domain.canary``, ``domain.exposure``), with the reasons of
``domain.conditions``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from uplift_operator.api.v1alpha1.common import Condition, Phase, StatusBase
from uplift_operator.domain import conditions as cond

__all__ = ["BUDGET_SINCE_TAKEN_AS_NOW", "CLOCK_SKEW_ALLOWED", "EDIT_ROLLING_REASONS",
           "FEWER_REPLICAS", "STATUS_READABLE", "Applied", "Conflict", "Observation",
           "Resolved", "Unreadable", "apply_retry_seconds", "conflict_retry_seconds",
           "future_times", "model_resolved", "readable", "resolution_warning",
           "serving_applied", "serving_conflict", "spec_valid", "status_digest", "status_patch",
           "status_readable", "validation_outcome", "write_back_unconfirmed", "written_back"]

MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Observation:
    """What one reconcile pass saw, reduced to what status depends on."""

    generation: int
    problems: tuple[str, ...]
    waiting_for: str | None = None  # e.g. the referenced model is missing


@dataclass(frozen=True)
class Outcome:
    phase: Phase
    message: str
    conditions: list[Condition]


def validation_outcome(previous: list[Condition], observed: Observation,
                       now: dt.datetime) -> Outcome:
    """Phase, message and conditions once the spec was validated (and its references looked up)."""
    gen = observed.generation
    if observed.problems:
        message = _clip("invalid spec: " + "; ".join(observed.problems))
        conditions = cond.set_condition(previous, type_=cond.INVALID_SPEC, status="True",
                                        reason="InvalidSpec", message=message, now=now,
                                        observed_generation=gen)
        conditions = cond.set_condition(conditions, type_=cond.READY, status="False",
                                        reason="InvalidSpec", message=message, now=now,
                                        observed_generation=gen)
        return Outcome(Phase.DEGRADED, message, conditions)
    conditions = cond.set_condition(previous, type_=cond.INVALID_SPEC, status="False",
                                    reason="SpecValid", message="spec is valid", now=now,
                                    observed_generation=gen)
    if observed.waiting_for is not None:
        conditions = cond.set_condition(conditions, type_=cond.READY, status="False",
                                        reason="Waiting", message=observed.waiting_for, now=now,
                                        observed_generation=gen)
        return Outcome(Phase.PROGRESSING, observed.waiting_for, conditions)
    message = "spec is valid and accepted"
    conditions = cond.set_condition(conditions, type_=cond.READY, status="True",
                                    reason="Accepted", message=message, now=now,
                                    observed_generation=gen)
    return Outcome(Phase.HEALTHY, message, conditions)


def invalid_said(conditions: Sequence[Condition], message: str) -> str:
    """What the last pass that refused the spec said of it (``Ready`` False ``InvalidSpec``: its
    message before ``domain.stuck`` named the problems held past their grace after it), else
    ``message`` as stored: for whether a refusal says something new (its Warning), which the
    words ``domain.stuck`` adds after it are not."""
    ready = cond.find(conditions, cond.READY)
    if ready is not None and (ready.status, ready.reason) == ("False",
                                                              cond.INVALID_SPEC_REASON):
        return ready.message
    return message


def spec_valid(previous: list[Condition], generation: int, now: dt.datetime) -> list[Condition]:
    """``InvalidSpec=False``: the spec passed validation (both kinds, every valid pass)."""
    return cond.set_condition(previous, type_=cond.INVALID_SPEC, status="False",
                              reason=cond.SPEC_VALID, message="spec is valid", now=now,
                              observed_generation=generation)


@dataclass(frozen=True)
class Resolved:
    """What resolving the model reference found: ``reason`` is Resolved, or why not:
    RegistryUnavailable (waited for), VersionNotReady (PENDING_REGISTRATION: waited for), or
    one that does not clear by itself (``stuck.UNRESOLVED_PROBLEMS``: ModelNotFound,
    VersionFailed, InvalidModel, CredentialsUnreadable); ``desired`` the version when
    Resolved."""

    model: str
    reason: str
    message: str
    desired: str | None

    @property
    def ok(self) -> bool:
        return self.reason == "Resolved"

    @property
    def text(self) -> str:
        return _clip(f"{self.model} resolves to version {self.desired}" if self.ok
                     else self.message)


def model_resolved(previous: list[Condition], resolved: Resolved, generation: int,
                   now: dt.datetime) -> list[Condition]:
    """``ModelResolved``: whether the spec's model reference resolves to a version now. Its
    ``lastTransitionTime`` moves on a new reason too (``moves_on_reason``): each reason is a
    problem of its own, and ``domain.stuck`` times its grace and says "since" from it, so an
    alias deleted after an hour of ``RegistryUnavailable`` (an outage, no problem) is not
    Degraded at its first pass as stuck "since" the outage began."""
    return cond.set_condition(previous, type_=cond.MODEL_RESOLVED,
                              status="True" if resolved.ok else "False", reason=resolved.reason,
                              message=resolved.text, now=now, observed_generation=generation,
                              moves_on_reason=True)


def resolution_warning(previous: list[Condition], resolved: Resolved) -> bool:
    """Whether a stuck reference has a new cause, worth one Warning event (not one per pass)."""
    before = cond.find(previous, cond.MODEL_RESOLVED)
    return not resolved.ok and (before is None or before.status != "False"
                                or before.message != resolved.text)


@dataclass(frozen=True)
class Applied:
    """What applying the serving graph did: ``changed`` (it was applied this pass), ``error``
    (the API server refused it), ``what`` (e.g. "SeldonDeployment x") and ``split`` in words;
    ``queued``: why a re-render of the graph was not applied yet (it waits for one of the
    slots of the graphs rolling at once, ``services.rolls``); ``roll_timed_out``: why the
    model's last roll stopped counting as rolling (said once, as an event; ``ServingApplied``
    keeps saying it while a pod fails). ``rolling``: the graph's Deployments with a pod not
    available, as this pass read the graph (``render.seldon.unavailable_deployments``: not one
    that only runs more pods than wanted, all available, e.g. a Deployment scaled up by hand,
    which Seldon leaves as it is); ``settled``: nothing was applied and the graph serves as decided, every
    version of its split ready, no pod unavailable; ``rolls``: the
    apply started a roll of the pods the graph keeps (a re-render, or a split change that
    renders them anew), which the roll timeout counts anew; ``rolled``: no roll of the graph
    holds a slot (``services.rolls``: done once Seldon has reported on the graph since the apply
    with every Deployment done rolling, or timed out, or none started), what says that a spec
    edit's graph has rolled: ``settled`` alone is judged from the graph's status as read, which
    right after the apply is still the previous graph's (Available, every old pod available),
    and Available between two surge batches too."""

    what: str
    split: str
    changed: bool = False
    error: str | None = None
    queued: str | None = None
    roll_timed_out: str | None = None
    rolling: tuple[str, ...] = ()
    settled: bool = False
    rolls: bool = False
    rolled: bool = True
    #: the graph serves, every pod counted available, but Deployments of it run fewer than
    #: wanted (``render.serving.ServingState.short``: ``<name>: N of M replicas available``)
    short: tuple[str, ...] = ()


#: What ``serving_applied`` says of a graph short of its replicas (``Applied.short``).
FEWER_REPLICAS = "with fewer replicas than wanted"


#: How the write-back names a write MLflow refused for good (``services.writeback``).
DROPPED_WRITE = "dropped, not retried"


def written_back(previous: list[Condition], failure: str | None, generation: int,
                 now: dt.datetime, *, pending: bool = False,
                 queued: bool = False) -> list[Condition]:
    """``RegistryWrittenBack``: False while MLflow write-backs of the resource's decisions keep
    failing (``failure`` says why; they are retried), or are held behind another resource's
    failing write of the same model (``failure`` names it), or after one MLflow refused was
    dropped (``failure`` names it); Unknown (``WriteBackPending``) while writes of its decisions
    are ``queued`` in this process and not yet through, so that an operator stopping before
    they land leaves a status that says so, and the next process replays them
    (``write_back_unconfirmed``); True once they went through. Absent while none was ever
    queued. A False or Unknown one stays as it is while writes of the resource are ``pending``
    (not yet tried), or while this process does not know what became of them (``pending``
    too: an operator restart lost them, and the state they were to write is submitted again):
    it turns True only once they went through. One left as it is still moves to a new
    generation (a spec edit), once (``cond.restamped``). Owed (``WriteBackOwed``: decisions
    taken while the spec was invalid, ``write_back_owed``) it stays until the pass that
    submits the registry state, whose writes make it ``WriteBackPending``."""
    before = cond.find(previous, cond.REGISTRY_WRITTEN_BACK)
    if failure is not None:
        return cond.set_condition(previous, type_=cond.REGISTRY_WRITTEN_BACK, status="False",
                                  reason=cond.WRITE_BACK_FAILED, message=_clip(failure),
                                  now=now, observed_generation=generation)
    owed = before is not None and before.reason == cond.WRITE_BACK_OWED
    if queued and (before is None or before.status == "True" or owed):
        return cond.set_condition(
            previous, type_=cond.REGISTRY_WRITTEN_BACK, status="Unknown",
            reason=cond.WRITE_BACK_PENDING,
            message="the MLflow write-backs of its latest decisions are queued, not yet through",
            now=now, observed_generation=generation)
    if before is None or before.status == "True" or pending or owed:
        return cond.restamped(previous, cond.REGISTRY_WRITTEN_BACK, generation)
    message = "every MLflow write-back of its decisions went through"
    if DROPPED_WRITE in before.message:  # a later write went through; that one never will
        message = _clip(f"the MLflow write-backs submitted since went through; not written: "
                        f"{before.message}")
    return cond.set_condition(previous, type_=cond.REGISTRY_WRITTEN_BACK, status="True",
                              reason=cond.WRITTEN_BACK, message=message, now=now,
                              observed_generation=generation)


def write_back_owed(conditions: Sequence[Condition], previous: Sequence[Condition],
                    generation: int, now: dt.datetime) -> list[Condition]:
    """``conditions`` with ``RegistryWrittenBack`` Unknown (``WriteBackOwed``): a pass acted on
    an abort or an emergency rollback while the spec was invalid and asked MLflow nothing (the
    tracking URI may be the refused one). The first pass with a valid spec submits the
    registry state the status implies (``owes_registry_state``), whatever this process
    submitted before. One withheld because another UpliftModel moves the promotion alias
    (``PromotionAliasShared``) is owed already, and says why: left as it is."""
    before = cond.find(previous, cond.REGISTRY_WRITTEN_BACK)
    if before is not None and before.reason == cond.PROMOTION_ALIAS_SHARED:
        return list(conditions)
    return cond.set_condition(
        conditions, type_=cond.REGISTRY_WRITTEN_BACK, status="Unknown",
        reason=cond.WRITE_BACK_OWED,
        message="a decision taken while the spec is invalid (an abort, an emergency rollback) "
                "is not written to MLflow yet: the registry state the status implies is "
                "submitted at the first pass with a valid spec",
        now=now, observed_generation=generation)


def owes_registry_state(conditions: Sequence[Condition]) -> bool:
    """Whether the stored ``RegistryWrittenBack`` says a decision taken while the spec was
    invalid is not written to MLflow yet (``write_back_owed``)."""
    found = cond.find(conditions, cond.REGISTRY_WRITTEN_BACK)
    return found is not None and found.reason == cond.WRITE_BACK_OWED


def write_back_unconfirmed(conditions: Sequence[Condition]) -> bool:
    """Whether ``RegistryWrittenBack`` says False or Unknown: writes of the resource's
    decisions failed, were dropped, or were queued and not known to have gone through, as the
    process that wrote it knew (one that stopped meanwhile lost them)."""
    found = cond.find(conditions, cond.REGISTRY_WRITTEN_BACK)
    return found is not None and found.status != "True"


def serving_applied(previous: list[Condition], applied: Applied | None, generation: int,
                    now: dt.datetime) -> list[Condition]:
    """``ServingApplied``: the serving graph is as decided (or why not: refused, a re-render
    queued behind the graphs rolling at once while the graph there keeps serving, or a roll
    that did not serve within the roll timeout). Unchanged when nothing was applied and the
    condition already says so, so a quiet pass writes nothing; but for its
    ``observedGeneration``, moved to a new generation (a spec edit) once (``cond.restamped``).
    No graph decided (``applied`` None): as it was, generation included, since nothing was
    checked against the new spec.

    A roll that timed out (``RollTimedOut``: new pods that never become ready, an image that
    does not pull, while Seldon's ``maxUnavailable`` 0 keeps the old ones serving) is said,
    while a pod of the graph is not available (``rolling``: a Deployment scaled up by hand,
    which Seldon leaves so, runs more pods than wanted, all serving, and says nothing), from the pass
    that tells it until the graph serves with every pod available (``settled``) or an apply starts
    a new roll (``rolls``: a fixed ``spec.serving``, timed anew); an apply that starts none (a
    step, a canary's start over the stuck Deployment) leaves it. It counts as a spec that has
    not taken effect (``domain.stuck``). Its ``lastTransitionTime`` moves on a new reason
    too (``moves_on_reason``): ``domain.stuck``'s grace and "since", and the backoff of a
    failed apply's retries (``apply_retry_seconds``), run from when the current problem began,
    not from an earlier one (a refusal after an hour of ``RollQueued`` is not Degraded at once,
    nor retried only every minute).

    A refusal (``ApplyFailed``) turns True at the first pass that has nothing to apply (the
    graph there is as decided: the refused edit reverted, an apply whose answer was lost though
    the API server carried it out, the decision-key Secret created by hand), saying it serves
    (``settled``; a spec edit's graph still said rolling until its roll slot is released,
    which an apply whose answer was lost keeps: ``services.rolls.Rolls.unconfirmed``) or is as
    decided with not all of it serving yet; not only at an apply that
    changes something, or it would stay False for good (Degraded, paged, retried every minute).
    A refused re-render queued again for a roll slot (the refusal freed the slot it had) at the
    generation it was refused at stays ``ApplyFailed`` as it is, time and words: not
    ``RollQueued`` then ``ApplyFailed`` anew at every refusal, which restarted the grace, the
    alert's ``for`` and the backoff and posted a Warning each time. At a new generation (the
    spec edited since) the re-render queued is a new one: ``RollQueued``.

    The graph of a spec edit (the condition last said an earlier generation) queued, refused
    (``ApplyFailed``), or applied with a roll (``rolls``), is said so (``cond.SPEC_EDIT_ROLLING``
    at the end of the message), and kept so while it waits, while its pods roll (passes that
    apply nothing, or apply a split change over the roll: a step), while an apply is refused
    and at the retry that goes through (before, the refusal's words dropped it and the retry
    read as no edit's: Healthy while the pods rolled), while the graph is short of its replicas
    (a replicas increase Seldon has not rolled out yet reads so: the status it wrote before the
    apply), and while a roll that timed out is said (``RollTimedOut``), until the graph serves
    as decided with every pod available (``settled``) and its roll holds no slot any more
    (``rolled``: Seldon has reported on the new graph, every Deployment done rolling; a pass
    before that reads the status Seldon wrote of the old pods), or the roll is no longer needed
    (queued, then the graph found as decided): the edit has not taken effect meanwhile, which
    the published phase says (``domain.stuck``: Progressing, not Healthy; a refusal or a roll
    timed out Degraded past the grace, as any). A re-render no edit asked for (an operator
    setting or release) is not: the spec there took effect, and the graph serves as it is."""
    if applied is None:
        return list(previous)
    before = cond.find(previous, cond.SERVING_APPLIED)
    # A spec edit's graph, queued or rolling: the condition says so already (``marked``), or
    # said an earlier generation.
    marked = before is not None and before.reason in EDIT_ROLLING_REASONS and (
        cond.SPEC_EDIT_ROLLING in before.message)
    edit = marked or (before is not None and before.observed_generation is not None
                      and before.observed_generation < generation)
    if applied.error is not None:
        # A spec edit's apply refused, or an apply refused while its graph rolls: said so
        # still, or the retry that goes through reads as no edit's (Healthy while it rolls).
        return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="False",
                                  reason=cond.APPLY_FAILED,
                                  message=_edit_said(applied.error, edit),
                                  now=now, observed_generation=generation, moves_on_reason=True)
    refused = before is not None and (before.status, before.reason) == ("False",
                                                                        cond.APPLY_FAILED)
    # The edit's graph has rolled: it serves as decided, every pod available, and its roll slot
    # is released (Seldon reported on the new pods), not only read so.
    rolled = applied.settled and applied.rolled
    if applied.queued is not None:
        if refused and before is not None and before.observed_generation == generation:
            # The re-render refused is queued again (its slot freed by the refusal): still
            # not applied, and refused when last tried. Left as it is, not RollQueued then
            # ApplyFailed again, each moving lastTransitionTime (the stuck grace, the alert's
            # ``for``, the retries' backoff) and each refusal posting a Warning anew.
            return list(previous)
        return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="False",
                                  reason=cond.ROLL_QUEUED,
                                  message=_edit_said(f"{applied.what} serves {applied.split} as "
                                                     f"it is: {applied.queued}", edit),
                                  now=now, observed_generation=generation, moves_on_reason=True)
    timed_out = before is not None and (before.status, before.reason) == (
        "False", cond.ROLL_TIMED_OUT)
    if (applied.roll_timed_out is not None and applied.rolling and not applied.rolls
            and not applied.settled):
        rolling = f" (not rolled: {'; '.join(applied.rolling)})"
        return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="False",
                                  reason=cond.ROLL_TIMED_OUT,
                                  message=_edit_said(f"{applied.what}: "
                                                     f"{applied.roll_timed_out}{rolling}", marked),
                                  now=now, observed_generation=generation, moves_on_reason=True)
    if timed_out and not applied.rolls and not applied.settled:
        return cond.restamped(previous, cond.SERVING_APPLIED, generation)
    if applied.changed:
        # An edit's roll: the apply that starts it, or one that changes the split over it (a
        # step: the edit's pods roll on).
        return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="True",
                                  reason=cond.APPLIED,
                                  message=_edit_said(f"{applied.what} applied: {applied.split}",
                                                     edit and (applied.rolls or marked)),
                                  now=now, observed_generation=generation)
    if before is None or before.reason in (cond.ROLL_QUEUED, cond.ROLL_TIMED_OUT) or (
            refused and applied.settled):
        # queued, then not needed; or the roll that timed out served at last; or the graph
        # whose apply was refused is as decided and serves (the refused edit reverted, the
        # refused apply's answer lost though the API server applied it, the decision-key
        # Secret created by hand): nothing to apply, nothing refused any more (an edit's graph
        # whose roll still holds its slot: still rolling; the lost answer's apply keeps its
        # slot, ``services.rolls.Rolls.unconfirmed``, until Seldon writes after this pass)
        message = _edit_said(f"{applied.what} serves {applied.split}", marked and not rolled)
    elif refused:  # as decided, nothing to apply; not every version serving yet
        message = _edit_said(f"{applied.what} is as decided ({applied.split}); not all of it "
                             f"serves yet", marked)
    elif applied.short:  # applied, serving, and short of its replicas: said, not degraded
        # (an edit's graph short, e.g. its replicas increase not rolled out yet: still rolling)
        message = _edit_said(f"{applied.what} serves {applied.split} {FEWER_REPLICAS}: "
                             f"{'; '.join(applied.short)}", marked)
    elif before is not None and FEWER_REPLICAS in before.message:  # no longer short
        message = _edit_said(f"{applied.what} serves {applied.split}", marked and not rolled)
    elif marked and rolled:  # the edit's graph serves, every pod available, its roll done
        message = f"{applied.what} serves {applied.split}"
    else:
        return cond.restamped(previous, cond.SERVING_APPLIED, generation)
    return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="True",
                              reason=cond.APPLIED, message=_clip(message), now=now,
                              observed_generation=generation)


#: The ``ServingApplied`` reasons a spec edit's graph is said under while queued or rolling
#: (``cond.SPEC_EDIT_ROLLING``; ``domain.stuck.spec_edit_rolling`` reads them), its apply
#: refused included (``ApplyFailed``: Progressing within the grace, Degraded past it).
EDIT_ROLLING_REASONS = frozenset({cond.ROLL_QUEUED, cond.APPLIED, cond.ROLL_TIMED_OUT,
                                  cond.APPLY_FAILED})


def _edit_said(message: str, edit: bool) -> str:
    """``ServingApplied``'s message, ending with ``cond.SPEC_EDIT_ROLLING`` for a spec edit's
    graph queued or rolling (kept whole however long the rest is)."""
    if not edit:
        return _clip(message)
    tail = f"; {cond.SPEC_EDIT_ROLLING}"
    return f"{_clip_to(message, MAX_MESSAGE - len(tail))}{tail}"


def _clip_to(text: str, bound: int) -> str:
    return text if len(text) <= bound else text[: bound - 1] + "…"


def serving_failed(previous: list[Condition], failure: str | None, generation: int,
                   now: dt.datetime) -> list[Condition]:
    """``ServingFailed``: True with the backend's failure (which version does not serve and
    the backend's description) while the serving graph reports failed, False once it no longer
    does; never added to a model whose graph never failed (nothing for a quiet pass to write).
    A False one moves to a new generation (a spec edit), once (``cond.restamped``)."""
    before = cond.find(previous, cond.SERVING_FAILED)
    if failure is not None:
        return cond.set_condition(previous, type_=cond.SERVING_FAILED, status="True",
                                  reason=cond.SERVING_BACKEND_FAILED, message=_clip(failure),
                                  now=now, observed_generation=generation)
    if before is None or before.status == "False":
        return cond.restamped(previous, cond.SERVING_FAILED, generation)
    return cond.set_condition(previous, type_=cond.SERVING_FAILED, status="False",
                              reason=cond.SERVING_RECOVERED,
                              message="the serving graph no longer reports a failure", now=now,
                              observed_generation=generation)


def serving_failure_news(previous: list[Condition], failure: str | None) -> bool:
    """Whether ``failure`` is news: a failure the ``ServingFailed`` condition does not already
    say (a Warning event once per new failure text, not once per pass)."""
    if failure is None:
        return False
    before = cond.find(previous, cond.SERVING_FAILED)
    return before is None or before.status != "True" or before.message != _clip(failure)


#: How soon a failed apply of the serving graph is tried again: the time it has been failing
#: (so the retries back off, doubling), within these bounds.
APPLY_RETRY_MIN_SECONDS = 2.0
APPLY_RETRY_MAX_SECONDS = 60.0


def apply_retry_seconds(conditions: Sequence[Condition], now: dt.datetime) -> float | None:
    """When to apply the serving graph again (None: it was applied). A failed apply leaves the
    graph behind the status (a rollback written while the canary still takes traffic): it
    must not wait for a resync or the next analysis."""
    applied = cond.find(conditions, cond.SERVING_APPLIED)
    if applied is None or applied.reason != cond.APPLY_FAILED:
        return None
    failing = (now - applied.last_transition_time).total_seconds()
    return min(max(failing, APPLY_RETRY_MIN_SECONDS), APPLY_RETRY_MAX_SECONDS)


def status_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON merge patch (RFC 7386) turning ``current`` status into ``desired``, or None when
    equal.

    Keys absent from ``desired`` are removed (set to None in the merge patch) at any depth: a
    nested key that disappeared (``incrementalEffect.lower`` once a look has no bounds; the
    wire form drops None values) would otherwise stay in the stored status forever, and every
    pass would find it different and patch again. So the status stays a function of the last
    observation rather than an accumulation of old fields. Objects are diffed key by key; any
    other value (lists included) is replaced whole, as a merge patch does.
    """
    patch = _merge_diff(current, desired)
    return patch or None


def _merge_diff(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The merge patch from ``current`` to ``desired`` (empty when equal). A None in ``desired``
    means absent, which is what a merge patch makes of it."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if value is None:
            continue
        old = current.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            nested = _merge_diff(old, value)
            if nested:
                patch[key] = nested
        elif old != value:
            # A merge patch merges an object sent for a key that held something else into
            # nothing (a None in it is dropped), and replaces a list or a scalar whole.
            patch[key] = _without_none(value)
    patch.update({key: None for key, value in current.items()
                  if desired.get(key) is None and value is not None})
    return patch


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# -- an object of the UpliftModel's names that it does not control ---------------------------------

#: Reason (``ServingApplied`` and ``Ready`` False): an object the UpliftModel would apply or
#: have its pods read (its SeldonDeployment, its decision-key Secret) exists under its name and
#: is controlled by someone else, or by no one: nothing is applied and the object is left as it
#: is (kubebuilder's ``IsControlledBy`` rule).
SERVING_CONFLICT = "ServingConflict"
#: Reason (``ServingApplied`` and ``Ready`` False, phase Progressing): such an object is still
#: controlled by an UpliftModel of the same name deleted before this one was created (another
#: uid), which the garbage collector is removing; the pass holds and looks again.
PREDECESSOR_BEING_DELETED = "PredecessorBeingDeleted"

#: How soon a pass held by a predecessor's object looks again: the time it has been held (so
#: the looks back off, doubling), within these bounds. The garbage collector usually takes
#: seconds; a SeldonDeployment's DELETED event wakes the pass at once in any case.
PREDECESSOR_RETRY_MIN_SECONDS = 2.0
PREDECESSOR_RETRY_MAX_SECONDS = 30.0
#: How soon a refused pass looks again: deleting someone else's object sends this UpliftModel
#: no event (the watch wakes a model only for the objects it owns).
SERVING_CONFLICT_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Conflict:
    """An object of the UpliftModel's names that it does not control: ``what`` (e.g.
    "SeldonDeployment shop/uplift"), its ``controller`` in words (None: it has none),
    ``predecessor`` when that controller is an UpliftModel of the same name with another uid,
    ``uid`` the UpliftModel's own (named in the refusal, as the way to hand the object over)."""

    what: str
    controller: str | None
    predecessor: bool = False
    uid: str = ""

    @property
    def reason(self) -> str:
        return PREDECESSOR_BEING_DELETED if self.predecessor else SERVING_CONFLICT

    @property
    def message(self) -> str:
        if self.predecessor:
            return _clip(f"waiting for {self.what} to go: it is controlled by {self.controller}, "
                         "deleted before this UpliftModel of the same name was created, and the "
                         "garbage collector is removing it; applied once it is gone")
        owner = f"controller: {self.controller}" if self.controller else "no controller"
        return _clip(f"{self.what} exists and is not controlled by this UpliftModel ({owner}): "
                     "nothing applied, and it is left as it is; delete it (the operator creates "
                     f"its own), or make this UpliftModel (uid {self.uid}) its controller")


def serving_conflict(previous: list[Condition], conflict: Conflict, generation: int,
                     now: dt.datetime) -> Outcome:
    """Phase, message and conditions of a pass that applies nothing because of ``conflict``:
    ``ServingApplied`` and ``Ready`` False with its reason; Degraded when refused (a human must
    act), Progressing while a predecessor's object goes (the garbage collector acts)."""
    message = conflict.message
    # Timed from when this reason began, as ``serving_applied``'s own (``conflict_retry_seconds``
    # backs off from it).
    conditions = cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="False",
                                    reason=conflict.reason, message=message, now=now,
                                    observed_generation=generation, moves_on_reason=True)
    conditions = cond.set_condition(conditions, type_=cond.READY, status="False",
                                    reason=conflict.reason, message=message, now=now,
                                    observed_generation=generation)
    phase = Phase.PROGRESSING if conflict.predecessor else Phase.DEGRADED
    return Outcome(phase, message, conditions)


def conflict_retry_seconds(conflict: Conflict, conditions: Sequence[Condition],
                           now: dt.datetime) -> float:
    """When a pass that applied nothing because of ``conflict`` looks again (``conditions``: as
    that pass set them)."""
    if not conflict.predecessor:
        return SERVING_CONFLICT_RETRY_SECONDS
    applied = cond.find(conditions, cond.SERVING_APPLIED)
    held = (now - applied.last_transition_time).total_seconds() if applied is not None else 0.0
    return min(max(held, PREDECESSOR_RETRY_MIN_SECONDS), PREDECESSOR_RETRY_MAX_SECONDS)


# -- a stored status this release cannot read in full ---------------------------------------------

#: Condition type: whether this release of the operator read the stored status in full. False
#: (reason ``StatusUnreadable``) names what it could not read and what it did with each part
#: (``readable``); True again (reason ``StatusRead``) once a pass reads it in full, the message
#: keeping what was lost; absent while every status was read in full.
STATUS_READABLE = "StatusReadable"
STATUS_UNREADABLE = "StatusUnreadable"
STATUS_READ = "StatusRead"

#: Free text: longer than this release allows, it is shortened rather than dropped.
_FREE_TEXT = frozenset({"message", "reason", "actor", "display"})
#: Each repair removes or shortens something, so this bounds only a pathological status; past
#: it the whole status is dropped.
_MAX_REPAIRS = 1000

S = TypeVar("S", bound=StatusBase)


@dataclass(frozen=True)
class Unreadable:
    """One part of a stored status this release could not read: ``where`` (its path, a gate or
    condition by name), what was ``done`` with it, ``why`` (the parser's words), ``field``
    (the top-level field it is in, wire name), ``kept`` when it was kept as it is."""

    where: str
    done: str
    why: str
    field: str
    kept: bool = False

    def __str__(self) -> str:
        return f"{self.where} {self.done} ({self.why})"


def readable(model: type[S], raw: Any, *,
             verbatim: frozenset[str] = frozenset()) -> tuple[S, tuple[Unreadable, ...]]:
    """The stored status ``raw`` as ``model``, keeping whatever this release can read, and what
    it could not (empty when all of it parses: the usual case, one ``model_validate``).

    A status written by a newer release (a value of an enum this one does not know, a limit it
    raised, a number where this one has an integer: Helm never downgrades the CRDs, so after a
    rollback the API server keeps accepting what the newer release wrote), or edited by hand,
    must not make every pass fail: that would freeze the resource, manual aborts and emergency
    rollbacks included. Each part that does not parse is repaired, the smallest first:

    - a gate's ``sequentialState``: dropped, that gate's evidence starts afresh (conservative:
      it must be gathered again before the gate passes);
    - anything else of a gate: the gate's entry is dropped (its counters and evidence go
      together), measured again at the next analysis;
    - a free text (message, reason, actor) longer than allowed: shortened;
    - a list longer than allowed: cut (``history`` loses its oldest entries);
    - a top-level field named in ``verbatim`` (the versions the serving graph is rendered from)
      whose text breaks only a length limit: kept as it is, and written back so;
    - a handled request's token that is a number: read as text (dropped, the request it
      answered would be acted on again);
    - anything else: the smallest part that can go — an optional field, else the list or map
      entry that holds it, else the top-level field (its default).

    The caller decides what a dropped top-level field means (``services.upliftmodel`` takes the
    traffic split from the serving graph, which is the ground truth of what serves)."""
    if not raw:
        return model(), ()
    if not isinstance(raw, Mapping):
        return model(), (Unreadable("status", "dropped", f"not an object: {_shown(raw)}", ""),)
    try:
        return model.model_validate(raw), ()
    except ValidationError as error:
        errors = error.errors()
    data: dict[str, Any] = copy.deepcopy(dict(raw))
    found: list[Unreadable] = []
    aside: dict[str, Any] = {}
    for _ in range(_MAX_REPAIRS):
        repaired = next((r for r in (_repair(model, data, e, verbatim, aside) for e in errors)
                         if r is not None), None)
        if repaired is None:
            break
        found.append(repaired)
        try:
            status = model.model_validate(data)
        except ValidationError as error:
            errors = error.errors()
            continue
        update = {_field(model, key)[0]: value for key, value in aside.items()}
        return (status.model_copy(update=update) if update else status), tuple(found)
    return model(), (*found, Unreadable("status", "dropped", "beyond repair", ""))


def status_readable(previous: Sequence[Condition], unreadable: Sequence[Unreadable],
                    generation: int, now: dt.datetime) -> list[Condition]:
    """``StatusReadable`` after a pass read the stored status (``readable``): False naming
    every part it could not read; True once one reads it in full after that; else as it was,
    but for its ``observedGeneration``, moved to a new generation once (``cond.restamped``)."""
    before = cond.find(previous, STATUS_READABLE)
    if unreadable:
        message = _clip("this release of the operator could not read all of the stored status "
                        "(written by a newer release, or by hand): "
                        + "; ".join(str(part) for part in unreadable))
        return cond.set_condition(previous, type_=STATUS_READABLE, status="False",
                                  reason=STATUS_UNREADABLE, message=message, now=now,
                                  observed_generation=generation)
    if before is None or before.status == "True":
        return cond.restamped(previous, STATUS_READABLE, generation)
    return cond.set_condition(previous, type_=STATUS_READABLE, status="True", reason=STATUS_READ,
                              message=_clip(f"read in full since; before: {before.message}"),
                              now=now, observed_generation=generation)


def unreadable_news(previous: Sequence[Condition], after: Sequence[Condition]) -> str | None:
    """The ``StatusReadable`` message worth a Warning event: False now, and it was not, or it
    says something new (a part kept as it is is found again at every pass: said once)."""
    new = cond.find(after, STATUS_READABLE)
    if new is None or new.status != "False":
        return None
    old = cond.find(previous, STATUS_READABLE)
    if old is not None and old.status == "False" and old.message == new.message:
        return None
    return new.message


#: How far ahead of the pass's clock a stored status time may be and still be read as it is:
#: the replicas' clocks differ a little (a leader's times, read by the next one after a
#: failover, may be seconds ahead of its clock); past this a time is one no pass of a sane
#: clock wrote (``future_times``).
CLOCK_SKEW_ALLOWED = dt.timedelta(minutes=5)
#: The times later than ``CLOCK_SKEW_ALLOWED`` ahead dropped rather than taken as the pass's
#: ``now``: the last analysis (the next is due at once: taken as now, it would keep a stale
#: verdict judging the step for another interval), a passed-while-held mark (only an event
#: waits on it).
_FUTURE_DROPPED = frozenset({"lastAnalysisAt", "passedWhileHeldAt"})
#: How ``StatusReadable`` names a Campaign's ``budgetSince`` taken as now (``future_times``),
#: which ``domain.exposure`` looks for to say why a spend is counted from then.
BUDGET_SINCE_TAKEN_AS_NOW = "budgetSince taken as now"
#: Times that may be later than now as written: a Campaign's ``budgetAnchor`` is the spec's
#: ``schedule.start`` (one edited to a later date, then a budget set), its budget record's
#: ``periodStart`` follows it.
_FUTURE_ALLOWED = frozenset({"budgetAnchor", "budgetLedgers"})


def future_times(status: S, now: dt.datetime,
                 allowed: dt.timedelta = CLOCK_SKEW_ALLOWED) -> tuple[S, tuple[Unreadable, ...]]:
    """``status`` without the times later than ``now`` + ``allowed``, and what was done with
    each, for ``StatusReadable``. Such a time (a hand edit, a replica whose clock runs ahead)
    parses, but every decision that counts from it waited for it: a step start or a last
    analysis a year ahead kept the gates from ever being measured again (a failing canary never
    rolled back, a Campaign's exposure advanced on a stale Pass), and one near year 9999 made
    the pass's arithmetic overflow at every pass (an abort never acted on). Each is taken as
    ``now`` (a step starting now, a deadline or grace counting from now: later, never sooner),
    but the last analysis and a passed-while-held mark, which are dropped
    (``_FUTURE_DROPPED``); in a list, the entry's time (a gate's verdict, a condition, a
    history entry) is taken as now and the entry kept.

    A Campaign's ``budgetSince`` (when its budget was set: its spend is counted from then) is
    taken as now too, and said so. Dropped, the spend was counted from the period's start, and
    a budget removed and set again in the period counted the removed one's ledgers again
    (``keep_budget_anchor`` records it only with ``budgetAnchor``, so it stayed so): a false
    ``BudgetExhausted``, the campaign suspended at 0 % for the rest of the period. The status
    holds no earlier time it was surely set after (no history entry records a budget set or
    removed; the removal drops everything of the removed budget, ``forget_budget``), and any
    time before it may count the removed budget's ledgers, so now is the one safe bound. What
    it leaves out: what ledgers of this budget that ended before now spent and no reading
    recorded in ``budgetLedgers`` (a live ledger's gauge holds its whole period's spend, read
    at any later reading), and, for a runtime without the ledger gauges, the spend counter's
    increase from when the budget was set until now."""
    limit, ahead = now + allowed, f"more than {_said(allowed)} ahead"
    found: list[Unreadable] = []
    update: dict[str, Any] = {}
    for name, info in type(status).model_fields.items():
        wire = info.alias or name
        if wire in _FUTURE_ALLOWED:
            continue
        value = getattr(status, name)
        if isinstance(value, dt.datetime):
            if value > limit:
                dropped = wire in _FUTURE_DROPPED
                update[name] = None if dropped else now
                done = "dropped" if dropped else f"taken as now ({now.isoformat()})"
                if wire == "budgetSince":
                    done += (": the budget's spend is counted from then (from the period's "
                             "start it would count again a budget removed before it was set)")
                found.append(Unreadable(
                    wire, done,
                    f"{value.isoformat()} is later than the operator's clock ({ahead})", wire))
        elif isinstance(value, list) and any(isinstance(item, BaseModel) for item in value):
            items = [_entry_now(item, f"{wire}[{_label(item, i)}]", wire, now, limit, ahead,
                                found)
                     for i, item in enumerate(value)]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                update[name] = items
    return (status.model_copy(update=update) if update else status), tuple(found)


def _entry_now(item: Any, where: str, top: str, now: dt.datetime, limit: dt.datetime,
               ahead: str, found: list[Unreadable]) -> Any:
    """``item`` (an entry of a status list) with its times later than ``limit`` as ``now``."""
    if not isinstance(item, BaseModel):
        return item
    update: dict[str, Any] = {}
    for name, info in type(item).model_fields.items():
        value = getattr(item, name)
        if isinstance(value, dt.datetime) and value > limit:
            update[name] = now
            found.append(Unreadable(
                f"{where}.{info.alias or name}", f"taken as now ({now.isoformat()})",
                f"{value.isoformat()} is later than the operator's clock ({ahead})", top))
    return item.model_copy(update=update) if update else item


def _label(item: BaseModel, index: int) -> str:
    label = getattr(item, "name", None) or getattr(item, "type", None)
    return label if isinstance(label, str) and label else str(index)


def _said(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} s"


_MISSING = object()


def _repair(model: type[BaseModel], data: dict[str, Any], error: Any, verbatim: frozenset[str],
            aside: dict[str, Any]) -> Unreadable | None:
    """Repair ``data`` where ``error`` (one of pydantic's) is, as ``readable`` says; None when
    nothing could be done there."""
    loc = tuple(error.get("loc") or ())
    if not loc or _at(data, loc[:1]) is _MISSING:
        return None
    kind, top = str(error.get("type")), str(loc[0])
    why = str(error.get("msg", ""))
    if "input" in error and not isinstance(error["input"], (dict, list)):
        why += f": {_shown(error['input'])}"
    value = _at(data, loc)
    if len(loc) == 1 and top in verbatim and kind == "string_too_long":
        aside[top] = data.pop(top)
        return Unreadable(top, "kept as it is", why, top, kept=True)
    if top == "gates" and len(loc) >= 2 and isinstance(loc[1], int):
        within = ".".join(str(p) for p in loc[2:])
        if len(loc) >= 3 and loc[2] == "sequentialState":
            where = _where(data, loc[:3])
            _remove(data, loc[:3])
            return Unreadable(where, "dropped: the gate's evidence starts afresh",
                              f"{within}: {why}", top)
        where = _where(data, loc[:2])
        _remove(data, loc[:2])
        return Unreadable(where, "dropped: the gate starts afresh (verdict, counters, "
                                 "evidence), measured again at the next analysis",
                          f"{within}: {why}" if within else why, top)
    limit = int((error.get("ctx") or {}).get("max_length") or 0)
    if kind == "string_too_long" and loc[-1] in _FREE_TEXT and isinstance(value, str) and limit:
        _set(data, loc, value[: limit - 1] + "…")
        return Unreadable(_where(data, loc), "shortened", why, top)
    if kind == "too_long" and isinstance(value, list) and limit:
        oldest = loc[-1] == "history"
        _set(data, loc, value[-limit:] if oldest else value[:limit])
        return Unreadable(_where(data, loc), f"cut to {limit} entries"
                          + (" (the oldest dropped)" if oldest else ""), why, top)
    if (top == "handledRequests" and len(loc) == 2 and isinstance(value, (int, float))
            and not isinstance(value, bool)):
        _set(data, loc, str(value))
        return Unreadable(_where(data, loc), "read as text", why, top)
    path = _removable(model, loc)
    if path is None or _at(data, path) is _MISSING:
        return None
    where = _where(data, path)
    _remove(data, path)
    within = ".".join(str(p) for p in loc[len(path):])
    return Unreadable(where, "dropped", f"{within}: {why}" if within else why, top)


def _removable(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The deepest part of ``loc`` that can go: an optional field of a model, a list entry or a
    map entry (a required field goes with what holds it)."""
    annotation: Any = model
    deepest: tuple[Any, ...] | None = None
    for i, part in enumerate(loc):
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(part, str) or _field(annotation, part)[1] is None:
                break
            _, info = _field(annotation, part)
            assert info is not None
            if not info.is_required():
                deepest = loc[: i + 1]
            annotation = info.annotation
        elif origin in (list, tuple) and isinstance(part, int):
            deepest = loc[: i + 1]
            annotation = (get_args(annotation) or (Any,))[0]
        elif origin is dict and isinstance(part, str):
            deepest = loc[: i + 1]
            annotation = (get_args(annotation) or (Any, Any))[-1]
        else:
            break
    return deepest


def _unwrap(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, …]`` and of ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _field(model: type[BaseModel], key: str) -> tuple[str, Any]:
    """The Python name and field info of ``model``'s field called ``key`` on the wire."""
    for name, info in model.model_fields.items():
        if key in (info.alias, name):
            return name, info
    return key, None


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        held = (part in data if isinstance(data, dict)
                else isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data))
        if not held:
            return _MISSING
        data = data[part]
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    _at(data, path[:-1])[path[-1]] = value


def _remove(data: Any, path: tuple[Any, ...]) -> None:
    parent = _at(data, path[:-1])
    if isinstance(parent, list):
        del parent[path[-1]]
    else:
        parent.pop(path[-1], None)


def _where(data: Any, path: tuple[Any, ...]) -> str:
    """``path`` in words: ``gates[probe].sequentialState``, ``conditions[Ready]``,
    ``history[3].weight``, ``handledRequests[uplift.dev/abort]``."""
    text, node, before = "", data, None
    for part in path:
        if isinstance(part, int):
            entry = _at(node, (part,))
            label = (entry.get("name") or entry.get("type")) if isinstance(entry, dict) else None
            text += f"[{label if isinstance(label, str) and label else part}]"
        elif before in _MAPS:
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
        node, before = _at(node, (part,)), part
    return text


#: The status' map fields: their keys are named in brackets.
_MAPS = frozenset({"handledRequests", "earlierHandledRequests", "sequentialState"})


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def status_digest(status: Mapping[str, Any] | None) -> str:
    """A short fingerprint of a status, equal for equal JSON content: equal numbers are equal
    whatever their type. The API server serves a whole-number float back as an integer (the
    operator writes ``exposurePercent: 5.0``, the watch brings ``5``: apimachinery's JSON
    decoding), so a status is fingerprinted with its whole-number floats as integers; otherwise
    the echo of the pass's own write would read as someone else's edit and wake a pass."""
    text = json.dumps(_numbers_normalised(status or {}), sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _numbers_normalised(value: Any) -> Any:
    """``value`` with every whole-number float (at any depth) as an int: 5.0 → 5, -0.0 → 0."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {key: _numbers_normalised(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_numbers_normalised(item) for item in value]
    return value
