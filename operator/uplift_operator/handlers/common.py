"""Glue shared by the handlers: the config from memo, one pass of a resource written as one
status patch (``PassRunner``), never on a body older than its own last write (``OwnWrites``),
and never again for a field the installed CRD prunes (``PrunedFields``)."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import kopf

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import newer, uid_of
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.domain.pruned import pruned_paths, refused_status_paths
from uplift_operator.domain.retry import backoff, spread_of
from uplift_operator.domain.status import status_digest, status_patch
from uplift_operator.handlers import observability
from uplift_operator.handlers.scheduling import (
    ERROR_BACKOFF_SECONDS,
    Key,
    NamedPassError,
    Signatures,
    StuckPassError,
    Wakeups,
)
from uplift_operator.services.common import Event, PassResult
from uplift_operator.settings import OperatorConfig

__all__ = ["CONFLICT_BACKOFF_SECONDS", "CONFLICT_RETRY_SECONDS", "DECISION_FIELDS",
           "PRUNED_RETRY_SECONDS", "STATUS_TOO_LARGE", "UNTOLD_KEPT", "Conflicts", "OwnWrites",
           "PassRunner", "PrunedFields", "config_of", "decision_change", "deleted",
           "exit_to_list_afresh", "now", "runner", "task_ended", "too_large"]

logger = logging.getLogger(__name__)

#: A status write refused because the object changed during the pass (409) is decided again
#: this soon, on the object as a read from the API server found it (``OwnWrites``): the watch
#: may be reconnecting, and kopf's body then stays the old one for a while.
CONFLICT_RETRY_SECONDS = 0.5
#: A status write refused 409 again, with nothing the pass decides on changed since the last
#: refusal (``Conflicts``), is decided again ``CONFLICT_BACKOFF_FIRST_SECONDS`` later, then as
#: long after as the conflicts in a row have lasted (the waits double), at most this, spread by
#: the key (``domain.retry.backoff``). A watch event of the object still wakes its pass at once.
CONFLICT_BACKOFF_SECONDS = 60.0
CONFLICT_BACKOFF_FIRST_SECONDS = 1.0
#: A status field the installed CRD pruned is left out of the writes (and of the comparison
#: that decides whether to write) for this long, then sent again once: a CRD upgraded since
#: keeps it from then on, an outdated one drops it again for as long.
PRUNED_RETRY_SECONDS = 600.0
#: The reason of the Warning event on an object whose status write was refused as too large
#: (``too_large``): its largest status fields, and the events its pass could not tell.
STATUS_TOO_LARGE = "StatusTooLarge"
#: The passes whose status write's answer was lost (status 0, a 5xx) whose events are kept per
#: object, until a pass finds which of their statuses is stored (``PassRunner.untold``).
UNTOLD_KEPT = 4


def config_of(memo: kopf.Memo) -> OperatorConfig:
    config = memo.get("config")
    if not isinstance(config, OperatorConfig):
        raise kopf.PermanentError("operator started without configuration")
    return config


def deleted(**kwargs: Any) -> bool:
    """kopf ``when=`` filter of an event handler: the watch's DELETED event only. A handler
    filtered out neither runs nor logs its "succeeded" line, once per watch event."""
    return kwargs.get("type") == "DELETED"


def now() -> dt.datetime:
    """Wall-clock time, truncated to seconds as metav1.Time stores it (so status compares equal)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class OwnWrites:
    """The object as this process's own last status write left it (the API's answer), per uid,
    until the watch brings a body at least as new.

    A pass reads the body kopf keeps from the watch; right after the pass's own status write,
    or while the watch reconnects after an API server restart, that body predates the write,
    and a pass deciding on it would take the same decision again (a second event and history
    entry) or step back (the graph applied from an older step). So a pass decides on the newer
    of the two, by resourceVersion. A status write refused 409 (the object changed during the
    pass) keeps the object as a read from the API server then found it, the same way."""

    _bodies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def newest(self, uid: str, live: Mapping[str, Any]) -> dict[str, Any]:
        """A private copy of the newer of ``live`` and this process's last write of ``uid``."""
        own = self._bodies.get(uid)
        if own is not None and not newer(live, own):
            return copy.deepcopy(own)
        self._bodies.pop(uid, None)  # the watch caught up (or someone wrote after us)
        return copy.deepcopy(dict(live))

    def wrote(self, uid: str, body: Mapping[str, Any]) -> None:
        # Without managedFields, which no pass reads (as ``adapters.watched`` keeps objects).
        meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
        self._bodies[uid] = copy.deepcopy({**body, "metadata": meta})

    def caught_up(self, uid: str, body: Mapping[str, Any]) -> None:
        """The watch brought ``body`` of ``uid``: the write it is at least as new as is not
        kept (at rest the next pass may be a resync away: a copy per resource meanwhile)."""
        own = self._bodies.get(uid)
        if own is not None and newer(body, own):
            del self._bodies[uid]

    def forget(self, uid: str) -> None:
        self._bodies.pop(uid, None)


def _decided_on(body: Mapping[str, Any] | None) -> tuple[object, str]:
    """What of an object, besides its status, a pass decides on: its spec (generation) and its
    annotations (manual requests)."""
    meta = (body or {}).get("metadata") or {}
    return meta.get("generation"), repr(sorted((meta.get("annotations") or {}).items()))


#: The status fields that name what a pass decides (a rollback, an abort, a promotion, a step,
#: a weight), of an UpliftModel or a Campaign: a refused write that would change one of them
#: is retried soon even in a streak of conflicts (``Conflicts.refused``).
DECISION_FIELDS = ("phase", "stableVersion", "canaryVersion", "canaryWeight", "currentStep",
                   "abortedVersion", "emergencyRolledBackVersion", "desiredVersion",
                   "modelVersion", "exposurePercent", "suspendedExposurePercent",
                   "rolledBackGeneration")


def decision_change(current: Mapping[str, Any], decided: Mapping[str, Any]) -> str | None:
    """The decision ``decided`` (a status a pass would write) records (all its
    ``DECISION_FIELDS``), as a comparable string, when it changes any of what ``current`` (the
    status it decided on) records; None when it changes none of it (gate verdicts, times,
    messages only). All of them, not only those that differ: another writer flipping one of
    them (the phase) in the status read back must not make the same decision read as another
    one at every other pass (``Conflicts.refused`` times how long the same one is refused)."""
    if all(decided.get(name) == current.get(name) for name in DECISION_FIELDS):
        return None
    return repr([(name, decided.get(name)) for name in DECISION_FIELDS])


@dataclass
class _Conflicting:
    since: float  # when the conflicts in a row began (the clock of ``Conflicts.refused``)
    count: int
    seen: tuple[object, str] | None  # ``_decided_on`` of the last read-back (None: unread)
    last: float  # when the last of them was refused
    told: float  # the wait it was given
    #: The decision change the last of them would have written (``decision_change``), and since
    #: when the same one has been refused.
    decision: str | None = None
    decision_since: float = 0.0
    backoffs: int = 0  # the waits given that backed off (not ``first``)
    #: The ``first`` waits given to decision changes in the streak, summed (at most ``cap``).
    fast: float = 0.0


@dataclass
class Conflicts:
    """The status writes refused 409 in a row, per object uid, and how soon each is decided
    again.

    A 409 says the object changed while its pass decided: the first is decided again in
    ``first`` seconds, on the object as a read found it (``OwnWrites``), as is one whose
    read-back shows a change of what the pass decides on (its spec or annotations: someone
    edited it meanwhile; counted as a first one again), and one that ends no streak: the last
    refusal longer ago than the wait it was given plus ``cap`` (the passes between raised, an
    API server outage: a lone 409 an hour later is not "again"). A refused write that would
    change the decision itself (``decision_change``: a rollback, an abort, a promotion, a step)
    is retried in ``first`` seconds too, in a streak as well, for up to ``cap`` seconds after
    that same decision was first refused, and for at most ``cap`` seconds of such waits in the
    whole streak whatever the decisions (a refused rollback is not held for a minute by someone
    else's writes to labels or finalizers once refused; but a decision refused whatever happens
    backs off after that, and so does one that another writer's status edits make come and go).
    A pass already backing off when a decision falls due runs at its back-off time: only its
    retries after that decision's first refusal are soon. Any other conflict in a row (another
    writer that keeps changing the status, a write refused whatever it decides) backs off as a
    pass that raised does
    (``domain.retry.backoff``, from ``backoff_first`` up to ``cap``): each retry is a whole
    decision, its Prometheus and MLflow reads, a read and a write, and at 0.5 s for ever that
    was two of each a second per resource. A write that succeeds (or a pass with nothing to
    write) ends the count (``cleared``). Time is passed in."""

    first: float = CONFLICT_RETRY_SECONDS
    backoff_first: float = CONFLICT_BACKOFF_FIRST_SECONDS
    cap: float = CONFLICT_BACKOFF_SECONDS
    _by_uid: dict[str, _Conflicting] = field(default_factory=dict)

    def refused(self, uid: str, live: Mapping[str, Any] | None, at: float,
                spread: float, decision: str | None = None) -> tuple[float, int]:
        """A status write of ``uid`` was refused 409 at ``at`` (seconds, any monotonic
        clock), and read back as ``live`` (None: not read); ``decision``: what it would have
        changed of the decision (``decision_change``; None: nothing). (Seconds until the pass
        decides again, conflicts in a row with nothing changed: 1 for a first one.)"""
        seen = None if live is None else _decided_on(live)
        known = self._by_uid.get(uid)
        if (known is None or (None not in (seen, known.seen) and seen != known.seen)
                or at - known.last > known.told + self.cap):
            self._by_uid[uid] = _Conflicting(at, 1, seen, at, self.first, decision, at)
            return self.first, 1
        known.count += 1
        known.seen = seen or known.seen
        if decision is not None and decision != known.decision:
            # A pass whose decision another writer's status already records (None) is no new
            # decision: the same one refused again after it is timed from its first refusal.
            known.decision, known.decision_since = decision, at
        if (decision is not None and at - known.decision_since < self.cap
                and known.fast < self.cap):
            delay = self.first
            known.fast += delay
        else:
            delay = backoff(at - known.since, spread, first=self.backoff_first, cap=self.cap)
            known.backoffs += 1
        known.last, known.told = at, delay
        return delay, known.count

    def backoffs(self, uid: str) -> int:
        """How many of the conflicts in a row of ``uid`` were given a back-off (1: the last
        one began it)."""
        known = self._by_uid.get(uid)
        return 0 if known is None else known.backoffs

    def cleared(self, uid: str) -> None:
        """A pass of ``uid`` wrote its status, or had nothing to write: no conflict in a row."""
        self._by_uid.pop(uid, None)

    def __len__(self) -> int:
        return len(self._by_uid)


@dataclass
class PrunedFields:
    """The status fields the installed CRD of one kind prunes, as this process's writes found
    (paths as ``domain.pruned.pruned_paths`` says them: ``status.gates[].settingsDigest``).

    A field the API server drops is missing from every status the pass reads back, so a pass
    comparing its decision with the status would find it changed and write it again at every
    pass, for ever; and the echo of each write, lacking it, would read as someone else's status
    edit and wake another pass at once (a write loop at rest). So a pass leaves these fields
    out of what it compares and writes: the status it expects is the one the server keeps.
    After ``PRUNED_RETRY_SECONDS`` they are sent again (an operator restart also sends them):
    a CRD upgraded meanwhile keeps them, an outdated one drops them and they are left out again.
    Time is passed in."""

    retry_seconds: float = PRUNED_RETRY_SECONDS
    _paths: set[str] = field(default_factory=set)
    _retry_at: dt.datetime | None = None

    def expected(self, status: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
        """``status`` as the API server would keep it: without the fields found pruned, until
        it is time to send them again (then ``status`` whole)."""
        if self._retry_at is not None and now >= self._retry_at:
            self._paths.clear()
            self._retry_at = None
        kept = dict(status)
        for path in sorted(self._paths):
            kept = _without(kept, path.split(".")[1:])
        return kept

    def found(self, paths: Sequence[str], now: dt.datetime) -> None:
        """A write lost ``paths`` to pruning: left out until ``retry_seconds`` from ``now``."""
        if paths:
            self._paths.update(paths)
            self._retry_at = now + dt.timedelta(seconds=self.retry_seconds)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self._paths)


def _without(value: Mapping[str, Any], segments: Sequence[str]) -> dict[str, Any]:
    """A copy of ``value`` without the field at ``segments`` (``gates[]`` reaching into every
    item of the list ``gates``); ``value`` itself when it has no such field."""
    head, rest = segments[0], segments[1:]
    key = head.removesuffix("[]")
    if key not in value:
        return dict(value)
    out = dict(value)
    if not rest:
        del out[key]
    elif head.endswith("[]") and isinstance(out[key], list):
        out[key] = [_without(item, rest) if isinstance(item, Mapping) else item
                    for item in out[key]]
    elif isinstance(out[key], Mapping):
        out[key] = _without(out[key], rest)
    return out


class _StatusWriter(Protocol):
    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]: ...

    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None: ...


def _untold(told: set[str], fields: Sequence[str]) -> list[str]:
    """``fields`` not in ``told`` yet, added to it: what a once-per-field warning says now."""
    new = [path for path in fields if path not in told]
    told.update(new)
    return new


@dataclass
class PassRunner:
    """Runs one pass of a resource of ``kind``: decide on a snapshot of the live body in the
    thread pool, write what changed of the status in one merge patch, then emit the events."""

    kind: str
    plural: str
    wakeups: Wakeups
    executor: ThreadPoolExecutor
    cluster: _StatusWriter
    signatures: Signatures = field(default_factory=Signatures)
    own_writes: OwnWrites = field(default_factory=OwnWrites)
    #: The status fields pruned that were logged already (once per field and process).
    pruned_told: set[str] = field(default_factory=set)
    #: The status fields a refused write named that were logged already (the same).
    refused_told: set[str] = field(default_factory=set)
    #: The status fields the installed CRD prunes: neither compared nor written for a while.
    pruned: PrunedFields = field(default_factory=PrunedFields)
    #: Whether a status write answered 404 on an object that exists was logged already.
    status_missing_told: bool = False
    #: Each object's status as this process's last pass left it (written, or found as
    #: decided), by uid: a status read otherwise was written by another process
    #: (``foreign_status``).
    own_statuses: dict[str, str] = field(default_factory=dict)
    #: The status a write sent whose answer was lost (a read timeout, a 5xx: the API server
    #: may have applied it), by uid: own too, until a pass's write is confirmed again.
    sent_statuses: dict[str, str] = field(default_factory=dict)
    #: The events of the passes whose status write's answer was lost (``sent_statuses``), by uid
    #: (at most ``UNTOLD_KEPT`` each, oldest first), with the digest of the status each sent:
    #: the retry decides on the status stored, and where a lost write was applied it records
    #: that decision already, so nothing would tell them. A later pass finding one's status
    #: stored tells its events then (``_tell_applied``); a pass's write that succeeds shows
    #: that none was (the status it was conditional on is none of theirs): they are dropped.
    untold: dict[str, list[tuple[str, tuple[Event, ...]]]] = field(default_factory=dict)
    #: The status writes refused 409 in a row, by uid: how soon each is decided again.
    conflicts: Conflicts = field(default_factory=Conflicts)
    #: The clock the conflicts in a row are timed by (seconds).
    clock: Callable[[], float] = time.monotonic

    def foreign_status(self, uid: str, status: Mapping[str, Any] | None) -> bool:
        """Whether ``status`` of object ``uid`` is not the one this process's last pass of it
        left (nor the one a write whose answer was lost sent: ``sent_statuses``): another
        process wrote it (a replica that acted while this one was paused or cut off). False
        before this process's first pass of it."""
        known = self.own_statuses.get(uid)
        if known is None:
            return False
        digest = status_digest(status)
        return digest != known and digest != self.sent_statuses.get(uid)

    async def run_once(self, key: Key, body: kopf.Body,
                       decide: Callable[[dict[str, Any], dt.datetime], PassResult],
                       observe: Callable[[str, str, dict[str, Any]], None], *,
                       per_resource: bool = True) -> float | None:
        """One pass; when the next is due (seconds, None: nothing due). Counted and timed as a
        whole: a pass whose status write is refused (403, 422, ...) is a failed pass.
        ``per_resource=False``: counted and timed by kind only, no series of the resource
        (its decision counters, its last pass: ``observability.reconciling``'s
        ``last_pass=False``), for a pass of a resource this process runs no task of (an
        UpliftModel being deleted, whose series its task's end dropped)."""
        _, namespace, name = key
        with observability.reconciling(self.kind, namespace, name,
                                       last_pass=per_resource) as outcome:
            return await self._run_once(key, body, decide, observe, outcome, per_resource)

    async def _run_once(self, key: Key, body: kopf.Body,
                        decide: Callable[[dict[str, Any], dt.datetime], PassResult],
                        observe: Callable[[str, str, dict[str, Any]], None],
                        outcome: observability.PassOutcome,
                        per_resource: bool = True) -> float | None:
        uid = str(body.metadata.uid)
        snapshot = self.own_writes.newest(uid, body)
        current = dict(snapshot.get("status") or {})
        _, namespace, name = key
        self._tell_applied(key, uid, body, current, per_resource)
        asked = time.monotonic()

        def decide_now() -> PassResult | None:
            # ``now`` when the pass gets a thread, not when it was queued for one.
            observability.pass_queued(self.kind, time.monotonic() - asked)
            # Deleted while the pass waited for a thread (the pool's queue is every resource's,
            # FIFO: a namespace of thousands deleted at once): not decided on the snapshot from
            # before the deletion, which would apply its children again (``Wakeups.finished``).
            # A deletion during ``decide`` itself is not seen: that pass acts as one that
            # decided just before the deletion (its task's end drops what it kept in memory).
            if self.wakeups.finished(key, uid):
                return None
            return decide(snapshot, now())

        # Kept by key (``Wakeups.in_pool``): a task of this object started again after this
        # one's cancellation waits for it (kopf's cancellation leaves the thread running).
        decided = await self.wakeups.in_pool(key, self.executor, decide_now)
        if decided is None:
            logger.debug("%s %s/%s: deleted while its pass waited for the pass pool: not "
                         "decided", *key)
            self.conflicts.cleared(uid)
            outcome.result = "gone"
            return None
        result = decided
        # What the API server would keep of the decision: a field it prunes is neither written
        # again at each pass nor, missing from the echo, read as someone else's status edit.
        expected = self.pruned.expected(result.status, now())
        change = status_patch(current, expected)
        self.signatures.produced(key, expected)
        if change:
            # Written only if the object is still the one decided on: a status decided on a
            # snapshot that someone changed meanwhile (a spec edit, a request annotation,
            # another writer) is refused, and the pass decides again on the new object.
            version = str((snapshot.get("metadata") or {}).get("resourceVersion") or "")
            try:
                written = await self.wakeups.in_pool(
                    key, self.executor, functools.partial(
                        self.cluster.patch_status, f"{GROUP}/{VERSION}", self.plural,
                        namespace, name, change, resource_version=version or None))
            except KubeError as error:
                if too_large(error):
                    # Not applied (the store refused it), and the next decision, as large, is
                    # refused the same way: said on the object, retried at the back-off's cap.
                    raise self._too_large(body, expected, result, error) from error
                if error.status == 422:
                    self._check_refused(error)
                if error.status == 0 or error.status >= 500:
                    # No answer, or one that does not say the write was refused: it may have
                    # been applied (a 504 after the commit). Its echo is this process's own,
                    # not another's (``foreign_status``: read as another replica's, it dropped
                    # this process's pending MLflow write-back).
                    self.sent_statuses[uid] = status_digest(expected)
                    if result.events:  # told if a later pass finds it applied
                        kept = self.untold.setdefault(uid, [])
                        kept.append((status_digest(expected), result.events))
                        del kept[:-UNTOLD_KEPT]
                if error.status not in (404, 409):
                    raise
                # Deleted while the pass decided (404), or deleted and its name taken by a new
                # object (409: this task's resourceVersion is another object's past): nothing to
                # write, no failure to report. Normally its DELETED event ends the task; a
                # watch that re-lists after a gap never sees that event, so a read that confirms
                # it ends it here (else a 409 would be decided again, and refused, for ever).
                # Only that event drops it from kopf's indexes (a Campaign from its model's
                # campaigns file, an UpliftModel's alias claim): until it comes, the existence
                # audit still compares it with its LISTs (``Wakeups.gone``), and one never
                # coming makes the process exit to list afresh.
                answered, live = await self.wakeups.in_pool(
                    key, self.executor, functools.partial(self._read_live, key))
                if answered and (live is None or uid_of(live) != uid):
                    self.conflicts.cleared(uid)
                    outcome.result = "gone"
                    self.wakeups.gone(key, uid)
                    return None
                if error.status == 404:
                    # The object is there (or could not be read): its status endpoint is
                    # not, e.g. a CRD without the status subresource. A failed pass, retried
                    # with back-off, not "gone" until the resync.
                    self._check_missing_status(error, confirmed=live is not None)
                    raise NamedPassError(
                        f"status write answered 404 ({error}): "
                        + ("status subresource not found: apply this release's CRDs"
                           if live is not None else "the object could not be read back")) from error
                if live is not None:
                    # The next pass decides on the object as it is now, not on kopf's body,
                    # which a watch that reconnects leaves behind for a while: else it would
                    # decide again on the same old body (its Prometheus and MLflow reads
                    # included), refused again, twice a second until the watch caught up.
                    self.own_writes.wrote(uid, live)
                outcome.result = "conflict"
                return self._conflict(key, uid, live, decision_change(current, expected))
            self.conflicts.cleared(uid)
            self.own_writes.wrote(uid, written)
            self.own_statuses[uid] = status_digest((written or {}).get("status"))
            self.sent_statuses.pop(uid, None)
            self._drop_untold(key, uid)
            # The status as kept is this pass's own (a field pruned for the first time, or
            # again after ``PRUNED_RETRY_SECONDS``, is missing from it and from its echo).
            self.signatures.produced(key, (written or {}).get("status") or {})
            self._check_kept(change, written)
        else:
            self.conflicts.cleared(uid)
            self.own_statuses[uid] = status_digest(current)
            self.sent_statuses.pop(uid, None)
        # The gauges follow the status as soon as it is written: an MLflow write-back below
        # may wait out its timeout, and dashboards must not lag the status by that long.
        observe(namespace, name, result.status)
        # What the decision implies beyond the status (an UpliftModel's MLflow write-backs),
        # only now that the status records it (or already did): a write refused above leaves
        # it undone, and the next pass, deciding again, does what it decides.
        if result.after_write is not None:
            try:
                result.after_write()
            except Exception:  # the status is written: the pass's events are told still
                logger.exception("%s %s/%s: what its pass does after its status write failed",
                                 *key)
        # Events only once the status that records the decision is written: a failed write
        # fails the pass, and the retry decides (and tells) again, once; one whose answer was
        # lost is told by the pass that finds it applied (``untold``).
        for event in result.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        if per_resource:
            observability.count_decisions(
                self.kind, namespace, name,
                [event.reason for event in result.events if event.decision])
        return result.requeue_after

    def _tell_applied(self, key: Key, uid: str, body: kopf.Body, current: Mapping[str, Any],
                      per_resource: bool) -> None:
        """Before a pass of ``uid`` decides on ``current`` (its status as stored, as far as
        this process knows): if that is the status a write whose answer was lost sent
        (``untold``), the write was applied and the decision it records was never told: its
        events are told now (before this pass's own), and its decisions counted, once. Kept
        otherwise: ``current`` may be a body the watch has not brought up to date yet (after a
        5xx, ``OwnWrites`` holds no answer), until this pass's write succeeds."""
        kept = self.untold.get(uid)
        if not kept:
            return
        digest = status_digest(current)
        # The latest of them that sent this status (a later pass may have sent the same).
        found = next((events for sent, events in reversed(kept) if sent == digest), None)
        if found is None:
            return
        del self.untold[uid]
        logger.info("%s %s/%s: its status write whose answer was lost was applied: telling "
                    "its events now (%s)", *key, ", ".join(event.reason for event in found))
        for event in found:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        if per_resource:
            _, namespace, name = key
            observability.count_decisions(
                self.kind, namespace, name, [event.reason for event in found if event.decision])

    def _drop_untold(self, key: Key, uid: str) -> None:
        """A pass of ``uid`` wrote its status, conditional on one that none of the writes
        whose answer was lost sent (``_tell_applied`` found none stored): none was applied,
        and their events, which this pass decided again, are dropped untold."""
        if dropped := self.untold.pop(uid, None):
            logger.info("%s %s/%s: %d status write(s) whose answer was lost were not applied: "
                        "their events are not told (this pass decided again)", *key,
                        len(dropped))

    def _conflict(self, key: Key, uid: str, live: Mapping[str, Any] | None,
                  decision: str | None) -> float:
        """The status write of ``uid`` was refused 409 (``live``: the object as read back, or
        None; ``decision``: what it would have changed of the decision, ``decision_change``):
        when its pass decides again (``Conflicts``), said once when the passes back off, since
        a status that stays unwritten shows nothing else."""
        delay, in_a_row = self.conflicts.refused(uid, live, self.clock(),
                                                 spread_of("/".join(key)), decision)
        if delay != self.conflicts.first and self.conflicts.backoffs(uid) == 1:  # it began
            logger.warning("%s %s/%s: its status write was refused 409 again (the object keeps "
                           "changing while its pass decides, with neither its spec nor its "
                           "annotations changed: another writer of its status?); deciding "
                           "again in %.1f s, then backing off up to %.0f s until a write "
                           "succeeds (a watch event that changes what it decides on still "
                           "wakes it at once)",
                           *key, delay, self.conflicts.cap)
        elif in_a_row >= 2 and decision is not None and delay == self.conflicts.first:
            logger.info("%s %s/%s changed while its pass decided (%d in a row); its decision "
                        "changes (%s): deciding again in %.1f s", *key, in_a_row, decision,
                        delay)
        else:
            logger.info("%s %s/%s changed while its pass decided (%d in a row); deciding "
                        "again in %.1f s", *key, in_a_row, delay)
        return delay

    def _too_large(self, body: kopf.Body, status: Mapping[str, Any], result: PassResult,
                   error: KubeError) -> StuckPassError:
        """The status write of ``body`` was refused as too large (``too_large``): a Warning
        event ``STATUS_TOO_LARGE`` says so on the object, naming the largest top-level fields of
        ``status`` (the status the pass decided) and the events the pass does not tell, since
        nothing else would (the status stays as it was; each retry logs the same). The error
        the pass raises: retried at the back-off's cap (``StuckPassError``)."""
        sizes = sorted(((name, _json_size(value)) for name, value in status.items()),
                       key=lambda item: -item[1])
        told = sorted({event.reason for event in result.events})
        message = (
            f"status write refused as too large ({_clipped(str(error), 160)}): the status "
            f"decided is {_shown_size(_json_size(status))} in JSON, largest fields "
            + ", ".join(f"{name} {_shown_size(size)}" for name, size in sizes[:3])
            + ". The status stays as it was"
            + (f", and this pass's events ({', '.join(told)}) are not told" if told else "")
            + f"; retried every {ERROR_BACKOFF_SECONDS / 60:.0f} min or when the object "
            "changes. Etcd stores an object of at most 1.5 MiB by default, its spec, "
            "annotations (kubectl's last-applied-configuration) and managedFields included: "
            "make the object smaller (fewer features or drift gates, a shorter spec)")
        kopf.event(body, type="Warning", reason=STATUS_TOO_LARGE, message=message)
        return StuckPassError(message)

    def _check_kept(self, sent: Mapping[str, Any], written: Mapping[str, Any] | None) -> None:
        """Count the status fields the API server dropped (an outdated CRD), and say so once
        per field: the write succeeded, so nothing else would show it. The passes then leave
        them out for a while (``PrunedFields``)."""
        fields = pruned_paths(sent, (written or {}).get("status"))
        if not fields:
            return
        self.pruned.found(fields, now())
        observability.pruned(self.kind, fields)
        if new := _untold(self.pruned_told, fields):
            logger.warning("the API server dropped %s from a %s status write: the installed "
                           "CRD is older than this operator and prunes what it does not "
                           "declare; apply this release's CRDs (docs/install.md)",
                           ", ".join(new), self.kind)

    def _check_refused(self, error: KubeError) -> None:
        """Count a status write refused (422) over status fields, and say so once per field.

        An installed CRD of another release refuses what it declares differently (a phase
        added to the enum since: every write setting it fails) where it prunes what it does not
        declare. The pass still fails and is retried, but only this names the cause: the
        status is frozen, and no event follows a write that failed."""
        fields = refused_status_paths(error.fields)
        if not fields:
            return
        observability.refused(self.kind, fields)
        if new := _untold(self.refused_told, fields):
            logger.warning("the API server refused a %s status write over %s (%s): the "
                           "installed CRD does not accept what this operator writes, most "
                           "likely an older release's; the status stays as it was until this "
                           "release's CRDs are applied (docs/install.md)",
                           self.kind, ", ".join(new), error)

    def _check_missing_status(self, error: KubeError, *, confirmed: bool) -> None:
        """Say once per process and kind that a status write found no status endpoint on an
        object that is there: nothing else names the cause (each failed pass is logged)."""
        if confirmed and not self.status_missing_told:
            self.status_missing_told = True
            logger.warning("a %s status write was answered 404 while the object exists (%s): "
                           "the installed CRD has no status subresource, most likely an older "
                           "release's; no status is written until this release's CRDs are "
                           "applied (docs/install.md)", self.kind, error)

    def _read_live(self, key: Key) -> tuple[bool, dict[str, Any] | None]:
        """(whether the API server answered, the object of ``key`` it holds), read from it
        (never the watched store, which would still hold an object whose DELETED event was
        missed): no object of the name, or another uid, shows the pass's object gone. A read
        that fails says nothing: (False, None)."""
        _, namespace, name = key
        try:
            return True, self.cluster.read_live(f"{GROUP}/{VERSION}", self.plural, namespace,
                                                name)
        except KubeError:
            return False, None

    def forget(self, key: Key, uid: str, *, name_free: bool = True, paused: bool = False) -> None:
        """Drop what is kept of object ``uid``; of its name too unless another object took it
        (``name_free``: ``Wakeups.finish``'s answer). A task paused by peering keeps the events
        of its passes whose status write's answer was lost (``untold``): the next pass here
        tells them if it finds that status stored (the replica that acted meanwhile decided on
        that status, which records their decision, and told none of them)."""
        if name_free:
            self.signatures.forget(key)
        self.own_writes.forget(uid)
        self.own_statuses.pop(uid, None)
        self.sent_statuses.pop(uid, None)
        if not paused:
            self.untold.pop(uid, None)
        self.conflicts.cleared(uid)


def too_large(error: KubeError) -> bool:
    """Whether a write was refused as too large: etcd's "request is too large", which the API
    server answers 500 (kubernetes/kubernetes#112152), its own 413 "Request entity too large"
    (a request body over its limit), or a 500 "rpc error: code = ResourceExhausted desc =
    trying to send message larger than max (N vs. 2097152)": the object, stored as protobuf,
    over the API server's etcd client's send limit (2 MiB), refused before it was sent. Not
    every ResourceExhausted: etcd's "database space exceeded" and "too many requests" are
    too, and say nothing of this object's size."""
    text = str(error).lower()
    return error.status == 413 or (error.status >= 500 and (
        "request is too large" in text or "entity too large" in text
        or "message larger than max" in text))


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def _shown_size(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.2f} MiB"
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} B"


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def task_ended(key: Key, wakeups: Wakeups, stopped: kopf.DaemonStopped | None,
               uid: str = "") -> bool:
    """The waiting task of ``key`` ended (kopf stopped it: its resource deleted, the operator
    exiting, or paused by peering because another replica acts). Unless another task of the
    name runs (re-used), this replica no longer reconciles the resource and exports nothing of
    it: a paused replica's last phases, gate verdicts and deadline states stayed on its
    /metrics, and every replica is scraped, so the alerts' ``max by (...)`` kept firing on them
    after the acting replica had cleared them. A replica paused keeps only when it last
    reconciled each resource (``uplift_operator_last_pass_timestamp_seconds``), until it exits
    or resumes. That is not what pages when every replica is paused: one that acted exits (below),
    and its restart, paused from its start, completes no pass and has no such series; each
    process says it is paused from its start (``uplift_operator_paused``, set from kopf's
    watch-stream lines by ``handlers.readiness``), which UpliftOperatorNotReconciling reads.

    Paused by peering for longer than ``PAUSE_EXIT_GRACE_SECONDS``, a replica that acted exits
    (``exit_to_list_afresh``). A shorter pause is remembered per object (``uid``,
    ``Wakeups.paused_out``): one deleted meanwhile gets no task again and no DELETED event, and
    the existence audit finds it. Whether it was paused by peering."""
    reason = stopped.reason if stopped is not None else None
    paused = reason is not None and kopf.DaemonStoppingReason.OPERATOR_PAUSING in reason
    if paused:
        wakeups.paused_out(key, uid)
        _exit_if_still_paused(wakeups)
    if key in wakeups:
        return paused
    kind, namespace, name = key
    observability.forget(kind, namespace, name, keep_last_pass=paused)
    return paused


_exiting = False
_exit_check: asyncio.TimerHandle | None = None

#: A pause this long is another replica acting, not kopf's moment of checking the peering of
#: a namespace that newly matches a ``--namespace`` pattern (a pause too, but of a second or
#: less, which must not restart the operator at every new namespace).
PAUSE_EXIT_GRACE_SECONDS = 10.0


def _exit_if_still_paused(wakeups: Wakeups) -> None:
    """Exit unless the operator resumes within the grace: a resumed operator starts its
    resources' tasks again (``Wakeups.started`` grows)."""
    global _exit_check
    if _exiting or _exit_check is not None:
        return
    started = wakeups.started

    def check() -> None:
        global _exit_check
        _exit_check = None
        if wakeups.started == started:
            exit_to_list_afresh()

    _exit_check = asyncio.get_running_loop().call_later(PAUSE_EXIT_GRACE_SECONDS, check)


def exit_to_list_afresh(why: str = "paused by peering after acting") -> None:
    """This replica acted and peering paused it (another replica outranks it, or the peering
    object is gone): end the process, once, as controller-runtime does when a leader loses its
    lease. Paused, kopf stops the watches, and on resume it lists again, but what it kept stays:
    an object deleted meanwhile has no DELETED event to come, so kopf's Campaign index (the
    campaigns file's source) and the watched store would keep it, and a deleted Campaign would
    be treated under again. The container's restart lists every kind afresh and joins as the
    standby (a later start is a lower priority: ``settings.seniority_priority``).

    The existence audit (``handlers.existence``) exits the same way, ``why`` saying so, when
    a watch that listed again after a gap (410 Gone, an API server restart) left a deleted
    object behind."""
    global _exiting
    if _exiting:
        return
    _exiting = True
    logger.warning("%s: exiting, so that the restarted process lists every object afresh "
                   "(objects deleted meanwhile sent no event)", why)
    _terminate()


def _terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # kopf's own graceful stop


def runner(memo: kopf.Memo, kind: str, plural: str) -> PassRunner:
    """The process's ``PassRunner`` of ``kind`` (one per kind, kept in kopf's memo)."""
    key = f"pass_runner_{kind}"
    found = memo.get(key)
    if found is None:
        found = PassRunner(kind, plural, memo["wakeups"], memo["pass_executor"],
                           memo["uplift_dependencies"].cluster)
        memo[key] = found
    assert isinstance(found, PassRunner)
    return found
