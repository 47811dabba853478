"""MLflow write-back off the pass: the registry writes a decision implies, queued and retried.

A decision (canary started, promoted, rolled back) implies registry writes: role tags on the
versions, the promotion alias, a rollback's reason. The pass only submits them
(``WriteBack.submit``), once the status recording the decision is written (a status write
refused submits nothing: the registry never holds a decision the status does not; the status
says beforehand what the submission makes of the write-back, ``WriteBack.preview``); a few
worker threads apply them (``WORKERS``: one per tracking URI at a time, the queues taking
turns, so a slow or failing MLflow delays no other's writes by more than a request), so a
slow or unreachable MLflow never delays a pass (a
rollback's graph is applied, and its status written, before MLflow hears of it). The writes
are

* **in order per registered model** (a role tag before the alias that follows it): one queue per
  (registry scope, model); a write that fails holds the writes queued behind it. Every pending
  write of a queue is applied with the newest client submitted to it (every pass submits its
  own, even with no write), so credentials rotated in their Secret reach a write that fails
  with the old ones. A resource whose spec names other credentials (another scope, the same
  tracking URI) takes its writes still pending in the other scopes' queues of the model with
  it, ahead of what it submits, and drops those of what it submits anew: nothing of it stays
  behind credentials no one renews, and an old decision never lands after a newer one;
* **deduplicated** across resources: a write of a value this process has queued, or a role
  tag or reason it already wrote, is not queued again (the first version of a thousand
  resources following one model costs one write of each, not a thousand). What was written is
  remembered for the ``MAX_WRITTEN_KEPT`` writes used last, not for every version ever tagged
  (which grew for the life of the process, deleted models included): one forgotten costs a
  write of the same value again, which changes nothing in MLflow. An alias write
  (``what`` ``("alias", name)``) is queued again even so: someone else (a trainer, a human) may
  have moved the alias since, and a rollback must move it back;
* **retried** with a backoff of 1 s doubling to ``MAX_BACKOFF_SECONDS``, for as long as the
  process runs (a write whose every owner was deleted, ``forget``: for ``ORPHAN_RETRY_SECONDS``
  after that, or after a live resource's write it waited behind left the head of its queue,
  then dropped with a warning), unless MLflow refused the write itself
  (``permanent``: the version or model does not exist for an alias write — for a role or
  reason tag that is nothing to write, ``NOTHING_TO_TAG_IF_GONE`` — or another 4xx of
  MLflow's own that is not about credentials, a timeout or throttling): that write is dropped, so it never
  holds the writes behind it; and **visible**: while a resource's writes fail,
  ``failure(owner)`` says why (the pass puts it in the ``RegistryWrittenBack`` condition);
  while they are held behind another resource's failing write of the model (the head of their
  queue), it names that write and its error,
  until none of the resource's writes is pending any more; and once one of them was dropped it
  says so until a write of the resource submitted after the drop goes through. The owners are
  woken (``on_change``) when that changes, so the condition follows without polling.

Two resources that move one promotion alias (the same tracking URI, registered model and
``promotionAlias``, in any namespaces) would each move it to their own stable version and tag
the versions as their own decisions say, the last write winning, again after every restart.
``AliasClaims`` keeps, in memory, who claims which alias (fed by the watch of every
UpliftModel, ``handlers.upliftmodel``): the oldest claimant writes, the others' alias moves and
role and reason tags are withheld (``holder``) until the alias is theirs alone.

A process that stops acting stops writing: kopf's peering pausing it (another replica acts)
ends its resources' tasks, and the handler holds each one's writes, untried (``pause``), until
its next pass here: one that reads the status this process left (nobody acted meanwhile: a
pause of a few seconds) lets them go on (``resume``); one that reads a status this process did
not write (``handlers.common.PassRunner.foreign_status``) drops what is pending and remembered
of it (``superseded``), and its registry state is submitted again from that status — so no
decision queued here lands after the acting replica's newer ones, and no memory of a value
written here skips a write the other replica's decisions made needed again. Held longer than
``PAUSE_HOLD_SECONDS`` they are dropped the same way; deleted resources' writes are dropped at
the pause (no pass of theirs can tell). A process cut off from the API server does not know
another one acts; its first pass of a resource once back fences it the same way. Neither fences
a write already on its way to MLflow, nor the retries a cut-off process makes before that
pass: MLflow has no conditional write to refuse an older one.

Nothing here is persisted. A stopping operator stops its workers (``stop``, at kopf's
cleanup, ``handlers.lifecycle``): no write is tried from then on — kopf runs the cleanup once
this replica left the peering, and a standby acts at once, so a write of this one tried later
(say a promotion alias still retrying) could land after the standby's newer decisions. A write
a worker is sending at that moment (one per worker at most) may still land: MLflow has no
conditional write to refuse it. The writes still pending are lost with the process: a live
resource's are submitted again by the next process from its status (below); a deleted
resource's (a retirement's role tags) are lost for good, and named in the log. What
survives is the resource's ``RegistryWrittenBack`` condition, Unknown from the pass that queued
them until they went through, False while they failed: the first pass of such a resource in a
new process (``knows`` says it submitted nothing here yet), or after a status write that
failed once the pass had decided writes (``undelivered``: the API server may have applied it
and lost the answer, so the status holds the decision and no pass submitted its writes),
re-submits the registry state its
status implies (``services.upliftmodel``), asking to be told when it went through
(``tell_when_written``, which every pass with writes asks, so Unknown turns True at once), and
the condition stays as it is while any write of it is pending (``waiting``) — so it turns True
only once MLflow holds that state. A resource whose condition is True costs nothing on a
restart.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice

from uplift_operator.adapters.mlflow_registry import RegistryNotFound, RegistryRequestError
from uplift_operator.domain.status import DROPPED_WRITE
from uplift_operator.services.ports import Registry

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "MAX_WRITTEN_KEPT",
    "PAUSE_HOLD_SECONDS",
    "RECREATE_GRACE",
    "RETRIED_STATUS",
    "TAG_DELETE_PERMISSION",
    "WRITE_PERMISSION",
    "AliasClaims",
    "AliasTarget",
    "Holding",
    "Owner",
    "Stopped",
    "Write",
    "WriteBack",
    "permanent",
]

log = logging.getLogger(__name__)

#: The longest wait between two tries of a failing write.
MAX_BACKOFF_SECONDS = 300.0

#: The largest exponent of the backoff's doubling: 2**16 s is past ``MAX_BACKOFF_SECONDS``
#: already, and a float's power overflows past 2**1023.
_MAX_BACKOFF_EXPONENT = 16

#: How long a failing write whose every owner was deleted (``forget``) is still retried: no
#: resource's condition shows it and no one fixes it, and retried for ever it kept the backlog
#: (and its alert) up and held the writes of its model behind it. It is dropped, logged, at
#: the first failure after that — counted from when a live resource's write held at the head of
#: its queue left it, if one did (``_orphan_budget_from_now``, for every deleted resource's write
#: up to the next live one): the wait was no try of theirs.
ORPHAN_RETRY_SECONDS = 3600.0

#: How long the writes of a resource whose task kopf's peering paused are held, untried, for
#: its next pass in this process to say whether another process acted on it meanwhile
#: (``pause``, ``resume``). Held longer, they are dropped as ``superseded`` drops them (its
#: registry state is submitted again from its status once a pass of it runs here): a replica
#: that acted exits after a pause of 10 s (``handlers.common.PAUSE_EXIT_GRACE_SECONDS``), so
#: this is for a resource whose task never started again (its namespace's peering kept
#: paused) or whose first pass waited long for a thread.
PAUSE_HOLD_SECONDS = 60.0

#: The deleted resources' writes a stopping operator names in its log (``stop``), at most.
MAX_NAMED_AT_STOP = 20

#: The worker threads (``start``): one tries one tracking URI's writes at a time, so a
#: tracking URI that does not answer holds one of them, and up to this many MLflow servers
#: are written to at once.
WORKERS = 4

#: How long the worker waits after a round that raised before the next one (not a busy loop
#: when the same head raises again).
LOOP_ERROR_PAUSE_SECONDS = 1.0

#: Writes remembered as written (their key and value: ~250 B each), the least recently used
#: forgotten first: enough for every version a few thousand models follow at once.
MAX_WRITTEN_KEPT = 16_384

#: MLflow's answers to a write that a retry may change: credentials refused (401), permission
#: denied (403: a permission granted, or credentials rotated, lets the retry through), a
#: timeout, throttling. Not basic auth's 403 for a registered model that does not exist: the
#: client tells it apart (the user's registered-models search does not list the model) and
#: raises ``RegistryNotFound`` for it, so such a model's role and reason tags are nothing to
#: write (``NOTHING_TO_TAG_IF_GONE``) and its alias write is dropped, not retried for ever.
RETRIED_STATUS = frozenset({401, 403, 408, 429})

#: MLflow's answer when the credentials' user lacks the permission a request needs (basic
#: auth: ``make_forbidden_response``).
PERMISSION_DENIED_STATUS = 403

#: The MLflow (basic-auth) permission on the registered model that a write needs: EDIT sets
#: version tags and aliases (``can_update``); deleting a version tag needs MANAGE
#: (``DeleteModelVersionTag``: ``can_delete``, which only MANAGE has).
WRITE_PERMISSION = "EDIT"
TAG_DELETE_PERMISSION = "MANAGE"

#: The writes (by ``what[0]``) of a version's tags: one MLflow answers "does not exist"
#: (``RegistryNotFound``: the version, or its registered model, deleted, e.g. by retention; with
#: basic auth, the model's 403 when the user's search does not list it)
#: has nothing to write, and counts as done, not as a failure. Not the promotion alias: an
#: alias moved to a version that does not exist is a decision MLflow did not take.
NOTHING_TO_TAG_IF_GONE = frozenset({"role", "reason"})

#: The writes (by ``what[0]``) that are not skipped for a value this process wrote before.
ALWAYS_REWRITTEN = frozenset({"alias"})

#: Who submitted a write (kind, namespace, name): told when its writes start or stop failing.
Owner = tuple[str, str, str]


#: A promotion alias as the registry knows it: (tracking URI, registered model, alias).
AliasTarget = tuple[str, str, str]


@dataclass(frozen=True)
class Write:
    """One registry write: ``what`` (e.g. ``("role", "2")``) set to ``value`` by ``apply`` (a
    tag removed: ``value`` "", what the write is deduplicated by); ``permission``, the MLflow
    permission on the registered model it needs (named when MLflow denies it: 403)."""

    what: tuple[str, ...]
    value: str
    apply: Callable[[Registry], None]
    permission: str = WRITE_PERMISSION


@dataclass
class _Pending:
    key: tuple[str, ...]  # (*scope, model, *what)
    model: str
    write: Write
    registry: Registry  # the newest client submitted to its queue (credentials may rotate)
    owners: set[Owner] = field(default_factory=set)
    seq: int = 0  # the order of submission (a drop is reported until a later write goes through)
    since: float = 0.0  # when it was first queued (the clock's), for the backlog's age
    #: Dropped unapplied (``reset``, ``superseded``): a try of it under way records nothing.
    cancelled: bool = False
    #: When its last owner was forgotten (deleted; the clock's): retried for
    #: ``ORPHAN_RETRY_SECONDS`` from then, not for ever (None: it has an owner).
    orphaned: float | None = None


@dataclass(frozen=True)
class Stopped:
    """What ``WriteBack.stop`` left pending."""

    #: Writes of resources that still exist: the next process submits them again from their
    #: status (their ``RegistryWrittenBack`` condition is not True).
    live: int
    #: Writes whose every owner was deleted (``forget``: a retirement's role tags): lost, no
    #: status is left to submit them again from.
    orphaned: int
    #: The first ``MAX_NAMED_AT_STOP`` of those, named (model, write, tracking URI).
    orphaned_names: tuple[str, ...]
    #: Writes a worker was sending at the stop (counted in the above): each may still land.
    sending: int

    @property
    def total(self) -> int:
        return self.live + self.orphaned


class WriteBack:
    """The write queue of one operator process (see the module's docstring). ``run_due`` does
    the work (the worker threads call it; tests call it directly, with their own clock)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 written_kept: int = MAX_WRITTEN_KEPT) -> None:
        self._clock = clock
        self._written_kept = written_kept
        self._lock = threading.Condition()
        self._queues: dict[tuple[str, ...], deque[_Pending]] = {}
        self._retry_at: dict[tuple[str, ...], float] = {}
        self._attempts: dict[tuple[str, ...], int] = {}
        self._written: OrderedDict[tuple[str, ...], str] = OrderedDict()  # least recent first
        self._failing: dict[Owner, str] = {}
        # The queues whose head fails: what it says to the owners of the head and (held) of the
        # writes behind it; and the owners held behind another's failing write (``_hold``).
        self._blocked: dict[tuple[str, ...], tuple[str, str]] = {}
        self._held: dict[Owner, str] = {}
        self._dropped: dict[Owner, tuple[int, str]] = {}  # the last seq queued then, and why
        # Each owner's pending writes (by identity): what it waits for, found without a scan
        # of every queue (thousands of models' queues through an MLflow outage).
        self._of_owner: dict[Owner, dict[int, _Pending]] = {}
        self._seq = 0
        # The owners that submitted to this process (their writes' fate is known here), and
        # those to tell when none of their writes is pending any more, even if none failed.
        self._known: set[Owner] = set()
        self._awaiting: set[Owner] = set()
        # The owners a pass decided writes for that no submit followed yet (``decided``).
        self._undelivered: set[Owner] = set()
        # The queues each owner submitted to: whose written memory ``superseded`` forgets.
        self._queues_of: dict[Owner, set[tuple[str, ...]]] = {}
        # The owners whose task kopf's peering paused, and since when (the clock's): their
        # writes are held, untried, until their next pass here says whose status it read.
        self._paused: dict[Owner, float] = {}
        self._threads: list[threading.Thread] = []
        self._stopped = False  # ``stop``: no write is tried any more
        # The tracking URIs a worker is trying a write of now (one worker per URI at a time),
        # and when each was last served (``run_due``'s turns).
        self._busy: set[str] = set()
        self._served: dict[str, int] = {}
        self._tick = 0
        #: Called (from the worker) with the owners whose ``failure`` just changed.
        self.on_change: list[Callable[[Sequence[Owner]], None]] = []

    def submit(self, owner: Owner, registry: Registry, scope: Sequence[str], model: str,
               writes: Iterable[Write], *, tell_when_written: bool = False) -> None:
        """Queue ``writes`` of ``model`` in ``scope`` (the tracking URI, then whose credentials)
        (never blocks on MLflow); ``registry``, the client as built from the scope's credentials
        now, is the one every write pending in that queue is tried with from now on (also when
        ``writes`` is empty). ``owner``'s writes of ``model`` pending in other scopes of the same
        tracking URI move to this queue first (``_follow``). With ``tell_when_written``,
        ``owner`` is told (``on_change``) once none of its writes is pending any more, even
        when none of them failed (its condition waits for that, ``waiting``)."""
        writes = list(writes)
        with self._lock:
            self._known.add(owner)
            self._queues_of.setdefault(owner, set()).add((*scope, model))
            self._undelivered.discard(owner)
            self._follow(owner, (*scope, model), registry, {w.what for w in writes})
            for pending in self._queues.get((*scope, model), ()):
                pending.registry = registry
            for write in writes:
                key = (*scope, model, *write.what)
                queue = self._queues.setdefault((*scope, model), deque())
                queued = [p for p in queue if p.key == key]
                if queued and queued[-1].write.value == write.value:
                    self._own(queued[-1], owner)
                    continue
                if (not queued and write.what[0] not in ALWAYS_REWRITTEN
                        and self._written.get(key) == write.value):
                    self._written.move_to_end(key)
                    continue
                self._seq += 1
                pending = _Pending(key, model, write, registry, set(), self._seq, self._clock())
                self._own(pending, owner)
                queue.append(pending)
            if not self._queues.get((*scope, model), True):
                self._drop_queue((*scope, model))
            if owner not in self._of_owner:  # its failing (or held) ones replaced
                self._failing.pop(owner, None)
                self._held.pop(owner, None)
            self._blocked_now(owner)
            if owner not in self._of_owner:  # nothing of it pending: nothing to tell of
                self._awaiting.discard(owner)
            elif tell_when_written:
                self._awaiting.add(owner)
            self._lock.notify_all()

    def preview(self, owner: Owner, scope: Sequence[str], model: str,
                writes: Iterable[Write]) -> tuple[bool, str | None]:
        """What ``waiting`` and ``failure`` of ``owner`` would say once ``writes`` were
        submitted now, without submitting them: a pass writes its status before it submits
        what it decided (``services.upliftmodel``: a status write refused leaves MLflow
        untouched), and that status says what the submission will make of its write-back. A
        write deduplicated away (written already) adds nothing pending; one joining a queue
        whose head fails is held (or failing, being that head). Writes of ``owner`` moved from
        another scope's queue at the submission (``_follow``) are not looked at: they are
        pending already, and stay so."""
        with self._lock:
            queue_key = (*scope, model)
            queue = self._queues.get(queue_key, deque())
            blocked = self._blocked.get(queue_key)
            joins, failing, held = False, None, None
            for write in writes:
                key = (*queue_key, *write.what)
                queued = [p for p in queue if p.key == key]
                if (not queued and write.what[0] not in ALWAYS_REWRITTEN
                        and self._written.get(key) == write.value):
                    continue
                joins = True
                if blocked is not None and queue:
                    if queued and queued[-1].write.value == write.value and queue[0] is queued[-1]:
                        failing = failing or blocked[0]
                    else:
                        held = blocked[1]
            waiting = joins or owner in self._of_owner
            dropped = self._dropped.get(owner)
            if not waiting:  # a submit with nothing pending clears failing and held
                return False, dropped[1] if dropped else None
            return True, (self._failing.get(owner) or failing or held or self._held.get(owner)
                          or (dropped[1] if dropped else None))

    def tell(self, owners: Sequence[Owner]) -> None:
        """Tell ``owners`` (``on_change``) that their write-back may read otherwise than their
        status says: a pass whose status said writes pending found none pending once it
        submitted them (they went through meanwhile), and nothing else would wake it."""
        if owners:
            for listener in self.on_change:
                listener(owners)

    def forget(self, owner: Owner) -> None:
        """``owner`` is gone (deleted): nothing is reported for it any more. Its pending writes
        still land (the decisions were made; the registry keeps their record) — unless its
        task was paused by peering (``pause``): no pass of it says any more whether another
        process acted on it, so they are dropped."""
        with self._lock:
            if owner in self._paused:
                self._supersede(owner)
            self._failing.pop(owner, None)
            self._held.pop(owner, None)
            self._dropped.pop(owner, None)
            self._known.discard(owner)
            self._awaiting.discard(owner)
            self._undelivered.discard(owner)
            self._queues_of.pop(owner, None)
            changed: list[Owner] = []
            for pending in self._of_owner.pop(owner, {}).values():
                pending.owners.discard(owner)
                if pending.owners:
                    continue
                pending.orphaned = self._clock()
                queue_key = pending.key[:len(pending.key) - len(pending.write.what)]
                queue = self._queues.get(queue_key)
                blocked = self._blocked.get(queue_key)
                if blocked is not None and queue and queue[0] is pending:
                    # The writes behind it wait on a deleted resource's write now: say so.
                    behind = _orphan_behind(pending, blocked[1])
                    self._blocked[queue_key] = (blocked[0], behind)
                    changed.extend(self._hold(queue, pending, behind))
        self.tell(sorted(set(changed)))

    def pause(self, owner: Owner) -> None:
        """kopf's peering paused ``owner``'s task: another replica may act on it now. Its
        pending writes are held, untried (a try under way records its outcome), until its next
        pass here reads its status: this process's own, nobody acted meanwhile and they go on
        (``resume``); another's, they are dropped (``superseded``). Not resumed within
        ``PAUSE_HOLD_SECONDS``, they are dropped. A write it shares with a resource not paused
        waits too (the decision may be overtaken). Submissions of it meanwhile (a pass that
        was under way) are held the same way. At the first pause (none held yet), the writes
        of deleted resources are dropped: no pass of theirs can fence them."""
        with self._lock:
            if not self._paused:
                for queue_key, queue in list(self._queues.items()):
                    for pending in [p for p in queue if not p.owners]:
                        pending.cancelled = True
                        self._unqueue(queue_key, pending)
            self._paused.setdefault(owner, self._clock())
            self._lock.notify_all()

    def resume(self, owner: Owner) -> None:
        """A pass of ``owner`` read the status this process left (nobody acted on it while its
        task was paused): its held writes go on."""
        with self._lock:
            if self._paused.pop(owner, None) is not None:
                self._lock.notify_all()

    def paused(self, owner: Owner) -> bool:
        """Whether ``owner``'s writes are held since its task was paused (``pause``)."""
        with self._lock:
            return owner in self._paused

    def stop(self) -> Stopped:
        """The operator stops (kopf's cleanup: this replica left the peering already, and a
        standby may act from now on): no write is tried any more — the workers (``start``)
        end, ``run_due`` tries nothing, and a submission from a pass still under way is
        queued, untried. A write a worker is sending now is not called back (MLflow has no
        conditional write): it may still land, at most one per worker (``Stopped.sending``).
        What is left pending, by whose it is."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
            live = orphaned = 0
            names: list[str] = []
            for queue in self._queues.values():
                for pending in queue:
                    if pending.owners:
                        live += 1
                        continue
                    orphaned += 1
                    if len(names) < MAX_NAMED_AT_STOP:
                        names.append(f"{pending.model} ({' '.join(pending.write.what)} = "
                                     f"{pending.write.value[:80]!r}, at {pending.key[0]})")
            return Stopped(live, orphaned, tuple(names), len(self._busy))

    def stopped(self) -> bool:
        """Whether ``stop`` was called: no write is tried any more."""
        with self._lock:
            return self._stopped

    def reset(self) -> None:
        """Drop everything: every pending write (a try under way records nothing when it
        ends), and every memory of writes, submissions and failures, as if this process had
        stopped acting for good: its queued writes are decisions another replica may have
        overtaken (an emergency rollback after the promotion still retrying here), and what it
        remembers as written may have been overwritten since (a pause of kopf's peering holds
        and fences each resource's writes instead: ``pause``). The
        owners that had writes pending are woken (``on_change``): a resource this process
        still acts on (a pause of one namespace's peering) finds its write-back unknown here
        (``knows``) and its condition unconfirmed, and submits its registry state again."""
        with self._lock:
            woken = sorted(self._of_owner)
            for queue in self._queues.values():
                for pending in queue:
                    pending.cancelled = True
            for kept in (self._queues, self._retry_at, self._attempts, self._written,
                         self._failing, self._blocked, self._held, self._dropped,
                         self._of_owner, self._queues_of):
                kept.clear()
            self._known.clear()
            self._awaiting.clear()
            self._undelivered.clear()
            self._paused.clear()
            self._lock.notify_all()
        self.tell(woken)

    def superseded(self, owner: Owner) -> None:
        """Another process acted on ``owner`` (its pass read a status this process did not
        write: a replica that took over while this one was cut off, or paused and resumed):
        its pending writes are dropped (one others wait for too stays for them), and what this
        process remembers of it and of its registered models' writes is forgotten — the status
        read says what the registry holds now, not this process's memory. Its pass then finds
        it unknown here (``knows``) and, the condition unconfirmed, submits the registry state
        that status implies; a write the other process made since is not skipped as written
        (a role this process wrote before, overwritten by the other's rollback)."""
        with self._lock:
            self._supersede(owner)

    def _supersede(self, owner: Owner) -> None:
        """``superseded``, the lock held."""
        self._paused.pop(owner, None)
        queues = self._queues_of.pop(owner, set())
        for pending in list(self._of_owner.get(owner, {}).values()):
            self._disown(pending, owner)
            queue_key = pending.key[:len(pending.key) - len(pending.write.what)]
            queues.add(queue_key)
            if not pending.owners:
                pending.cancelled = True
                self._unqueue(queue_key, pending)
        self._of_owner.pop(owner, None)
        for dropped in (self._failing, self._held, self._dropped):
            dropped.pop(owner, None)
        self._known.discard(owner)
        self._awaiting.discard(owner)
        self._undelivered.discard(owner)
        # By tracking URI and model: the same model under other credentials too.
        models = {(queue_key[0], queue_key[-1], len(queue_key)) for queue_key in queues}
        for key in [k for k in self._written
                    if any(len(k) > size and (k[0], k[size - 1]) == (uri, model)
                           for uri, model, size in models)]:
            del self._written[key]
        # A failing head dropped lets the writes held behind it through now, not at its
        # next try: the worker, asleep until then, is woken (as by ``reset``).
        self._lock.notify_all()

    def backlog(self) -> tuple[int, float | None]:
        """How many writes are pending, and how long (seconds) the oldest of them has been
        (None: none pending): what ``uplift_operator_registry_write_back_pending`` and
        ``uplift_operator_registry_write_back_oldest_age_seconds`` (0 when none) export."""
        with self._lock:
            since = [p.since for queue in self._queues.values() for p in queue]
            if not since:
                return 0, None
            return len(since), max(0.0, self._clock() - min(since))

    def failure(self, owner: Owner) -> str | None:
        """Why ``owner``'s write-back is failing now, or behind which other resource's failing
        write its writes are held (until none of them is pending), or which write of it was
        dropped (until a write of it submitted after the drop goes through); None when nothing
        of it fails. O(1): every pass of every resource asks."""
        with self._lock:
            return self._report(owner)

    def knows(self, owner: Owner) -> bool:
        """Whether ``owner`` submitted to this process (no: its first pass since the operator
        started, or since it was forgotten; what an earlier process queued for it is lost)."""
        with self._lock:
            return owner in self._known

    def decided(self, owner: Owner) -> None:
        """A pass of ``owner`` decided writes, to submit once its status is written: until a
        submit of ``owner`` follows, ``undelivered`` says so."""
        with self._lock:
            self._undelivered.add(owner)

    def undelivered(self, owner: Owner) -> bool:
        """Whether a pass of ``owner`` decided writes (``decided``) and no submit of it
        followed: its status write failed. Refused (a 409), the status does not hold the
        decision and the next pass decides it again; but applied by the API server with its
        answer lost (a timeout, a reset, a 504 after the commit), the status holds the decision
        and ``RegistryWrittenBack`` Unknown, and no later pass decides it again: its writes
        are owed, as after a restart (``services.upliftmodel`` submits the registry state the
        status implies)."""
        with self._lock:
            return owner in self._undelivered

    def waiting(self, owner: Owner) -> bool:
        """Whether a write of ``owner`` is pending (queued, failing or not yet tried)."""
        with self._lock:
            return owner in self._of_owner

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def run_due(self) -> float | None:
        """Apply every write that is due, each queue in order; the seconds until the next
        retry is due (None: nothing is pending, or every queue due is being tried by another
        worker). The queues take turns: the next write tried is the head of a due queue of
        the tracking URI served least recently, the queue tried longest ago first among them,
        so a slow or failing MLflow with many queues delays another MLflow's writes by one
        request at most, not by a round of all its queues. A tracking URI is tried by one
        worker at a time (``start`` runs ``WORKERS``): a queue's writes stay in order, and a
        server that does not answer holds one worker, not all of them."""
        while True:
            with self._lock:
                if self._stopped:  # the operator stops: nothing is tried any more
                    return None
                now = self._clock()
                self._end_long_pauses(now)
                due = [k for k in self._queues
                       if k[0] not in self._busy and self._retry_at.get(k, 0.0) <= now
                       and not self._held_head(k)]
                if not due:
                    return self._next_due(now)
                # min() keeps the first of equals: the queue that waited longest of its URI.
                queue_key = min(due, key=lambda k: self._served.get(k[0], 0))
                self._tick += 1
                self._served[queue_key[0]] = self._tick
                self._queues[queue_key] = self._queues.pop(queue_key)  # to the back of the turn
                pending = self._queues[queue_key][0]
                self._busy.add(queue_key[0])
            try:
                try:  # MLflow is asked outside the lock: passes keep submitting meanwhile
                    pending.write.apply(pending.registry)
                    error: Exception | None = None
                except Exception as failed:  # retried unless permanent (then shown); not raised
                    error = failed
                try:
                    changed = self._settle(queue_key, pending, error)
                except Exception:  # a bug: that head waits, the other queues go on
                    log.exception("MLflow write-back of %s: recording the outcome of a try "
                                  "failed; its queue is tried again in %.0f s", pending.model,
                                  MAX_BACKOFF_SECONDS)
                    with self._lock:
                        if queue_key in self._queues:
                            self._retry_at[queue_key] = self._clock() + MAX_BACKOFF_SECONDS
                    continue
            finally:
                with self._lock:
                    self._busy.discard(queue_key[0])
                    self._lock.notify_all()  # a worker waiting on this URI's queues
            for listener in self.on_change:
                if changed:
                    listener(changed)

    def start(self) -> None:
        """Run ``run_due`` on ``WORKERS`` daemon threads, waking for new writes and retries."""
        if not self._threads:
            for number in range(WORKERS):
                thread = threading.Thread(target=self._loop, daemon=True,
                                          name=f"mlflow-write-back-{number}")
                self._threads.append(thread)
                thread.start()

    def _loop(self) -> None:
        while self._iterate():
            pass

    def _iterate(self) -> bool:
        """One round of the worker: the writes due, then a wait for the next one (or for a
        submit); False once the operator stops (``stop``: the worker ends). An exception (a
        listener's, a bug) is logged and the worker goes on after
        ``LOOP_ERROR_PAUSE_SECONDS``: uncaught, it would end the thread silently, and no write
        would be tried again until the process restarts while every condition said pending."""
        try:
            delay = self.run_due()
            with self._lock:
                if self._stopped:
                    return False
                if self._next_due(self._clock()) != 0.0:  # a write submitted since is due now
                    self._lock.wait(timeout=delay)
                return not self._stopped
        except Exception:
            log.exception("MLflow write-back worker: a round failed; going on in %.0f s",
                          LOOP_ERROR_PAUSE_SECONDS)
            with self._lock:
                if not self._stopped:
                    self._lock.wait(timeout=LOOP_ERROR_PAUSE_SECONDS)
                return not self._stopped

    def _follow(self, owner: Owner, queue_key: tuple[str, ...], registry: Registry,
                replaced: set[tuple[str, ...]]) -> None:
        """Move ``owner``'s writes pending in the queues of the same model and tracking URI
        under other credentials to ``queue_key``'s, in their order, ahead of what it submits
        now: its spec names other credentials, and the old ones (rotated out, a Secret
        deleted) may fail them for ever. A write of a ``what`` it submits now is not moved but
        dropped (an old decision is not written before the newer one). A write others wait for
        too stays for them as well."""
        moved: list[_Pending] = []
        for pending in list(self._of_owner.get(owner, {}).values()):
            other = pending.key[:len(pending.key) - len(pending.write.what)]
            if other == queue_key or (other[0], other[-1]) != (queue_key[0], queue_key[-1]):
                continue
            self._disown(pending, owner)
            if pending.write.what not in replaced:
                moved.append(_Pending((*queue_key, *pending.write.what), pending.model,
                                      pending.write, registry, set(), pending.seq,
                                      pending.since))
            if not pending.owners:
                self._unqueue(other, pending)
        for pending in moved:
            self._own(pending, owner)
        if moved:
            self._queues.setdefault(queue_key, deque()).extend(sorted(moved, key=lambda p: p.seq))

    def _own(self, pending: _Pending, owner: Owner) -> None:
        pending.owners.add(owner)
        self._of_owner.setdefault(owner, {})[id(pending)] = pending

    def _disown(self, pending: _Pending, owner: Owner) -> None:
        pending.owners.discard(owner)
        waits = self._of_owner.get(owner)
        if waits is not None:
            waits.pop(id(pending), None)
            if not waits:
                del self._of_owner[owner]

    def _unqueue(self, queue_key: tuple[str, ...], pending: _Pending) -> None:
        """Take ``pending`` (no owner left) off its queue; a head taken off takes its backoff
        and failure with it."""
        queue = self._queues.get(queue_key)
        if queue is None or not any(p is pending for p in queue):
            return
        head = queue[0] is pending
        if head:
            self._retry_at.pop(queue_key, None)
            self._attempts.pop(queue_key, None)
            self._blocked.pop(queue_key, None)
        kept = deque(p for p in queue if p is not pending)
        if kept:
            self._queues[queue_key] = kept
            if head:  # a live resource's write (``superseded``, ``_follow``) left the head
                self._orphan_budget_from_now(kept)
        else:
            self._drop_queue(queue_key)

    def _orphan_budget_from_now(self, queue: deque[_Pending]) -> None:
        """A write of a live resource left the head of ``queue``: the deleted resources'
        writes from the head up to the next live resource's write have their
        ``ORPHAN_RETRY_SECONDS`` of retries from now. The time they waited behind the live
        write (failing for hours through an MLflow outage) was no try of theirs: counted, each
        was dropped at its first failure, a blip — not only the head: a second write of the
        deleted resource, reaching the head once the first went through, kept the deletion
        time. From now on they share that budget (one deletion, one hour), until a live
        write they wait behind leaves the head again."""
        now = self._clock()
        for pending in queue:
            if pending.owners:
                break
            if pending.orphaned is not None:
                pending.orphaned = max(pending.orphaned, now)

    def _drop_queue(self, queue_key: tuple[str, ...]) -> None:
        self._queues.pop(queue_key, None)
        self._retry_at.pop(queue_key, None)
        self._attempts.pop(queue_key, None)
        self._blocked.pop(queue_key, None)

    def _blocked_now(self, owner: Owner) -> None:
        """At ``owner``'s submit (O(its pending writes)): a write of it in a queue whose head
        fails is held behind it, or is that head (joined as it failed: failing too)."""
        for pending in self._of_owner.get(owner, {}).values():
            queue_key = pending.key[:len(pending.key) - len(pending.write.what)]
            blocked = self._blocked.get(queue_key)
            if blocked is None:
                continue
            queue = self._queues.get(queue_key)
            if not queue:
                continue
            if queue[0] is pending:
                self._failing.setdefault(owner, blocked[0])
            else:
                self._held[owner] = blocked[1]

    def _hold(self, queue: deque[_Pending], head: _Pending, message: str) -> list[Owner]:
        """The head of ``queue`` started failing: the owners of the writes behind it (but its
        own) are held, saying ``message``; those whose ``failure`` changed. O(queue), once per
        head that fails, not per retry nor per pass."""
        changed: list[Owner] = []
        for pending in islice(queue, 1, None):
            for owner in pending.owners - head.owners:
                if self._held.get(owner) == message:
                    continue
                was = self._report(owner)
                self._held[owner] = message
                if self._report(owner) != was:
                    changed.append(owner)
        return changed

    def _settle(self, queue_key: tuple[str, ...], pending: _Pending,
                error: Exception | None) -> list[Owner]:
        """Record the outcome of ``pending``'s try; the owners whose ``failure`` changed."""
        with self._lock:
            if pending.cancelled:  # dropped while tried (``reset``, ``superseded``)
                return []
            before = {owner: self._report(owner) for owner in pending.owners}
            queue = self._queues.get(queue_key)
            # Else it moved to another queue while it was tried (``_follow``): no owner left.
            current = queue is not None and bool(queue) and queue[0] is pending
            described = (f"MLflow write-back of {pending.model} "
                         f"({' '.join(pending.write.what)} = {pending.write.value[:80]!r})")
            gone = (isinstance(error, RegistryNotFound)
                    and pending.write.what[0] in NOTHING_TO_TAG_IF_GONE)
            if gone:  # a version deleted from MLflow (retention): no tag of it to write
                log.info("%s: nothing to write, MLflow has no such version: %s", described, error)
                error = None
            given_up = (error is not None and current and not pending.owners
                        and pending.orphaned is not None
                        and self._clock() - pending.orphaned >= ORPHAN_RETRY_SECONDS)
            if error is not None and not permanent(error) and not given_up:
                if not current:
                    return []
                attempts = self._attempts[queue_key] = self._attempts.get(queue_key, 0) + 1
                # The exponent capped: 2.0 ** 1024 overflows (a 403 retried for ~85 h).
                delay = min(2.0 ** min(attempts - 1, _MAX_BACKOFF_EXPONENT), MAX_BACKOFF_SECONDS)
                self._retry_at[queue_key] = self._clock() + delay
                # The same words on every try, so a pass has no new status to write per retry.
                message = (f"{described} failing, retried with backoff: "
                           f"{_why(error, pending)}")[:500]
                held: list[Owner] = []
                if attempts == 1:
                    log.warning("%s", message)
                    behind = (f"MLflow write-back of {pending.model} held behind another "
                              f"resource's write ({' '.join(pending.write.what)} = "
                              f"{pending.write.value[:80]!r}) failing, retried with backoff: "
                              f"{_why(error, pending)}")[:500]
                    if not pending.owners:  # left by a deleted resource
                        behind = _orphan_behind(pending, behind)
                    self._blocked[queue_key] = (message, behind)
                    held = self._hold(queue, pending, behind) if queue is not None else []
                started = [o for o in pending.owners if o not in self._failing]
                for owner in pending.owners:
                    self._failing[owner] = message
                # Told when it starts failing (or they are held), not on every retry.
                return [*started, *held]
            owners = set(pending.owners)
            if current and queue is not None:
                queue.popleft()
                self._retry_at.pop(queue_key, None)
                self._attempts.pop(queue_key, None)
                self._blocked.pop(queue_key, None)
                if not queue:
                    del self._queues[queue_key]
                elif owners:
                    self._orphan_budget_from_now(queue)
                for owner in owners:
                    self._disown(pending, owner)
            if error is None:
                if not gone:
                    self._written[pending.key] = pending.write.value
                    self._written.move_to_end(pending.key)
                while len(self._written) > self._written_kept:
                    self._written.popitem(last=False)
            elif given_up:  # no owner, failing for an hour: dropped, the rest let through
                log.warning("%s dropped, not retried: its resource was deleted %.0f s ago and "
                            "it still fails: %s", described,
                            self._clock() - (pending.orphaned or 0.0),
                            _why(error, pending) if error is not None else "")
            else:  # MLflow refused this write for good: drop it, let the rest through
                message = f"{described} {DROPPED_WRITE}: MLflow refused it: {error}"[:500]
                log.warning("%s", message)
                for owner in owners:
                    self._dropped[owner] = (self._seq, message)
            done: list[Owner] = []  # nothing of theirs pending any more, and they asked
            for owner in owners:
                if owner not in self._of_owner:
                    self._failing.pop(owner, None)
                    self._held.pop(owner, None)
                    if owner in self._awaiting:
                        self._awaiting.discard(owner)
                        done.append(owner)
                dropped = self._dropped.get(owner)
                if error is None and dropped is not None and dropped[0] < pending.seq:
                    del self._dropped[owner]
            return [owner for owner, was in before.items()
                    if self._report(owner) != was or owner in done]

    def _report(self, owner: Owner) -> str | None:
        dropped = self._dropped.get(owner)
        return (self._failing.get(owner) or self._held.get(owner)
                or (dropped[1] if dropped else None))

    def _next_due(self, now: float) -> float | None:
        """The seconds until a queue no worker is trying is due, or a pause's hold ends
        (None: none is pending, or every one is held)."""
        free = [self._retry_at.get(k, now) for k in self._queues
                if k[0] not in self._busy and not self._held_head(k)]
        if self._paused:
            free.append(min(self._paused.values()) + PAUSE_HOLD_SECONDS)
        if not free:
            return None
        return max(0.0, min(free) - now)

    def _held_head(self, queue_key: tuple[str, ...]) -> bool:
        """Whether the head of the queue is a write of a resource whose task is paused."""
        if not self._paused:
            return False
        queue = self._queues.get(queue_key)
        return queue is not None and bool(queue) and any(o in self._paused
                                                         for o in queue[0].owners)

    def _end_long_pauses(self, now: float) -> None:
        """The writes held for a pause longer than ``PAUSE_HOLD_SECONDS`` are dropped (an
        owner with none pending is let go: its next pass fences it by its status all the
        same, and its models' memory of values written is kept)."""
        for owner, since in list(self._paused.items()):
            if now - since < PAUSE_HOLD_SECONDS:
                continue
            if owner not in self._of_owner:
                del self._paused[owner]
            else:
                log.info("MLflow write-back of %s %s/%s: paused by peering %.0f s ago and no "
                         "pass of it since; its pending writes are dropped (its next pass "
                         "submits its registry state from its status)", *owner, now - since)
                self._supersede(owner)


#: How long the seniority of a promotion alias's holder outlives its object (``AliasClaims``):
#: an object of its namespace and name created within it (``kubectl replace --force``, Argo
#: CD's replace, a Helm uninstall and install) holds the alias as the deleted one did, and the
#: younger claimants stay withheld meanwhile. Two minutes covers a delete and create by hand
#: or by a tool, and is all a real deletion delays the next claimant's writes.
RECREATE_GRACE = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class _Claim:
    uid: str
    created: str  # metadata.creationTimestamp (RFC 3339 in UTC: sorts as text, oldest first)
    #: The creation time it ranks by: its own, or that of the object of its name it replaced.
    seniority: str
    target: AliasTarget | None  # None: it moves no promotion alias
    #: Its object was deleted while it held the alias for others too: its seniority kept
    #: until then for an object of its name (``RECREATE_GRACE``).
    gone_until: dt.datetime | None = None


@dataclass(frozen=True)
class Holding:
    """The resource that holds the promotion alias a withheld one claims."""

    owner: Owner
    #: Its object was deleted: the alias stays its until then, in case an object of its name is
    #: created again, and is the next claimant's after (None: it runs).
    gone_until: dt.datetime | None = None


class AliasClaims:
    """Which resources move which promotion alias, and which of them may (thread-safe: the
    watch's events claim on the event loop, the passes ask from the pass pool).

    The oldest claimant of an alias (by ``creationTimestamp``, then namespace and name) holds
    it; ``holding`` names it to every other one, whose registry writes are withheld. A resource
    claims at each event of its object (``claim``: its target, or None while it has no
    ``promotionAlias``; an object being deleted still claims, as it has no finalizer and its
    DELETED event follows at once) and its claim ends at its DELETED event (``release``).

    A name is one claimant across its objects, so that re-creating the holder does not hand
    the alias to a younger claimant, which would move it at once and keep it, the new object
    being the youngest for ever: an object of the name created while the earlier one's claim
    stands (its DELETED event not handled yet), or within ``RECREATE_GRACE`` after it ended,
    ranks by the earlier one's creation time. The holder's claim, if others claim the alias
    too, outlives its DELETED event by that grace (``Holding.gone_until``: the younger ones
    are still withheld, and their passes come back when it ends). A late event of the earlier
    object claims nothing.

    ``on_change`` is told, outside the lock, of the resources whose holding changed (one that
    started or stopped being withheld, or is withheld by another one now, or by one whose
    object was deleted or created again), so that their pass says so, and a resource no longer
    withheld submits its registry state again at once; and of one that became the holder of an
    alias it did not hold before (its ``promotionAlias`` or tracking URI edited, an alias
    added), or holds an alias that two or more resources claim from now on, as this process
    sees them (at start-up, the second claimant's first event), which submits its registry
    state for it (``became_holder``, ``wrote_as_holder``): the younger one withheld from now
    on may have moved it (an earlier release let each one move it; a process that did not see
    both)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._of: dict[Owner, _Claim] = {}
        self._by_target: dict[AliasTarget, set[Owner]] = {}
        self._gone: dict[Owner, dt.datetime] = {}  # the claims outliving their object
        self._became: dict[Owner, AliasTarget] = {}  # holders owing their registry state
        #: Called with the resources whose ``holding`` just changed, or that became holders.
        self.on_change: list[Callable[[Sequence[Owner]], None]] = []

    def claim(self, owner: Owner, uid: str, created: str, target: AliasTarget | None,
              now: dt.datetime) -> None:
        """``owner`` (object ``uid``, created at ``created``) moves ``target`` (None: none)."""
        with self._lock:
            self._end_grace(now)
            known = self._of.get(owner)
            if known is not None and known.uid != uid and created < known.created:
                return  # an event of the object its name's newer object replaced
            if known is not None and known.uid == uid and known.gone_until is not None:
                return  # a late event of the deleted object
            seniority = (min(known.seniority, created)
                         if known is not None and known.uid != uid else created)
            claim = _Claim(uid, created, seniority, target)
            if known == claim:
                return  # as it was (every status write of every resource comes here)
            touched = {t for t in (known.target if known else None, target) if t is not None}
            before = self._holdings(touched, now)
            shared_before = self._shared(touched, now)
            self._unclaim(owner)
            self._of[owner] = claim
            if target is not None:
                self._by_target.setdefault(target, set()).add(owner)
            after = self._holdings(touched, now)
            changed = set(self._changed(before, after))
            if (target is not None and owner in after and after[owner] is None
                    and known is not None and known.uid == uid and known.target != target):
                self._became[owner] = target  # its edit made it the holder of this alias
                changed.add(owner)
            for shared in self._shared(touched, now) - shared_before:
                # Claimed by two or more now, as this process sees it (at start-up, the
                # second claimant's first event): a younger one may have moved the alias
                # before (an earlier release moved it for each; a process that did not see
                # both), so its holder writes its registry state for it once.
                holder = self._first(shared, now)
                if holder is not None and self._of[holder].gone_until is None:
                    self._became[holder] = shared
                    changed.add(holder)
            self._forget_became(now)
        self._tell(sorted(changed))

    def release(self, owner: Owner, uid: str, now: dt.datetime) -> None:
        """Object ``uid`` of ``owner`` is gone: its claim ends (not one of a newer object of
        the same name), after ``RECREATE_GRACE`` if it held an alias others claim too."""
        with self._lock:
            self._end_grace(now)
            known = self._of.get(owner)
            if known is None or known.uid != uid or known.gone_until is not None:
                return
            self._became.pop(owner, None)
            if known.target is None:
                del self._of[owner]
                return
            touched = {known.target}
            before = self._holdings(touched, now)
            if before.get(owner, False) is None and len(before) > 1:  # held it, for others
                until = now + RECREATE_GRACE
                self._of[owner] = _Claim(known.uid, known.created, known.seniority,
                                         known.target, until)
                self._gone[owner] = until
            else:
                self._unclaim(owner)
            changed = self._changed(before, self._holdings(touched, now))
        self._tell(changed)

    def holding(self, owner: Owner, now: dt.datetime) -> Holding | None:
        """The older resource that moves ``owner``'s promotion alias, whose decisions are the
        ones written (None: ``owner`` holds it, or claims none)."""
        with self._lock:
            known = self._of.get(owner)
            if known is None or known.target is None or known.gone_until is not None:
                return None
            first = self._first(known.target, now)
            if first is None or first == owner:
                return None
            return Holding(first, self._of[first].gone_until)

    def holder(self, owner: Owner, now: dt.datetime) -> Owner | None:
        """``holding``'s resource alone."""
        found = self.holding(owner, now)
        return found.owner if found is not None else None

    def target(self, owner: Owner) -> AliasTarget | None:
        """The promotion alias ``owner`` claims (None: none, or its object is gone)."""
        with self._lock:
            known = self._of.get(owner)
            return known.target if known is not None and known.gone_until is None else None

    def became_holder(self, owner: Owner, target: AliasTarget | None) -> bool:
        """Whether ``owner`` became the holder of ``target`` by an edit of its own, or holds it
        since a second resource claimed it, and has not submitted its registry state for it
        since (``wrote_as_holder``)."""
        with self._lock:
            return target is not None and self._became.get(owner) == target

    def wrote_as_holder(self, owner: Owner, target: AliasTarget | None) -> None:
        """``owner``'s registry state for ``target`` was submitted."""
        with self._lock:
            if target is not None and self._became.get(owner) == target:
                del self._became[owner]

    def __len__(self) -> int:
        with self._lock:
            return len(self._of)

    def _first(self, target: AliasTarget, now: dt.datetime) -> Owner | None:
        claimants = [o for o in self._by_target.get(target, ()) if self._standing(o, now)]
        if not claimants:
            return None
        return min(claimants, key=lambda o: (self._of[o].seniority, o[1], o[2]))

    def _shared(self, targets: set[AliasTarget], now: dt.datetime) -> set[AliasTarget]:
        """Those of ``targets`` that two or more standing resources claim."""
        return {t for t in targets
                if sum(self._standing(o, now) for o in self._by_target.get(t, ())) > 1}

    def _standing(self, owner: Owner, now: dt.datetime) -> bool:
        until = self._of[owner].gone_until
        return until is None or until > now

    def _holdings(self, targets: set[AliasTarget],
                  now: dt.datetime) -> dict[Owner, Holding | None]:
        """Each running claimant of ``targets`` and what holds its alias (None: itself)."""
        found: dict[Owner, Holding | None] = {}
        for target in targets:
            first = self._first(target, now)
            for owner in self._by_target.get(target, ()):
                if self._of[owner].gone_until is not None:
                    continue
                found[owner] = (None if owner == first or first is None
                                else Holding(first, self._of[first].gone_until))
        return found

    @staticmethod
    def _changed(before: dict[Owner, Holding | None],
                 after: dict[Owner, Holding | None]) -> list[Owner]:
        """The claimants whose holding changed (one that claims no more is not told: its spec
        edit or its deletion is news to its pass already)."""
        return sorted(owner for owner, holding in after.items()
                      if before.get(owner) != holding)

    def _end_grace(self, now: dt.datetime) -> None:
        """Claims whose grace ended are dropped. Who they withheld is not told here: their
        passes asked to come back then (``Holding.gone_until``)."""
        for owner, until in list(self._gone.items()):
            if until <= now:
                del self._gone[owner]
                self._unclaim(owner)

    def _forget_became(self, now: dt.datetime) -> None:
        """A holder owing its registry state that is withheld now, or claims another alias,
        owes it no more (it is owed again, by its status, once freed)."""
        for owner, target in list(self._became.items()):
            known = self._of.get(owner)
            if (known is None or known.target != target
                    or self._first(target, now) != owner):
                del self._became[owner]

    def _unclaim(self, owner: Owner) -> None:
        known = self._of.pop(owner, None)
        self._gone.pop(owner, None)
        if known is None or known.target is None:
            return
        claimants = self._by_target.get(known.target)
        if claimants is not None:
            claimants.discard(owner)
            if not claimants:
                del self._by_target[known.target]

    def _tell(self, changed: Sequence[Owner]) -> None:
        if changed:
            for listener in self.on_change:
                listener(changed)


def _orphan_behind(pending: _Pending, behind: str) -> str:
    """What the owners held behind ``pending`` read once its resource was deleted."""
    why = behind.split(" failing, retried with backoff: ", 1)[-1]
    return (f"MLflow write-back of {pending.model} held behind a write left by a deleted "
            f"resource ({' '.join(pending.write.what)} = {pending.write.value[:80]!r}) failing, "
            f"retried for at most {ORPHAN_RETRY_SECONDS / 60:.0f} min after the deletion (or "
            f"after a live resource's write it waited behind): "
            f"{why}")[:500]


def _why(error: Exception, pending: _Pending) -> str:
    """Why a retried write fails, in the condition's words: MLflow's 403 is a permission the
    credentials' user lacks, named with the permission this write needs (not "credentials
    refused": the credentials were accepted, and rotating them changes nothing)."""
    if getattr(error, "status_code", None) != PERMISSION_DENIED_STATUS:
        return str(error)
    needed = pending.write.permission
    kind = "deleting a version tag" if needed == TAG_DELETE_PERMISSION else "this write"
    return (f"{kind} needs permission {needed} on registered model {pending.model}, which "
            f"the credentials' user lacks: {error}")


def permanent(error: Exception) -> bool:
    """Whether MLflow refused the write itself, so that no retry can make it go through: the
    model or version does not exist (``RegistryNotFound``), or another request error MLflow
    answered (``RegistryRequestError``: a 4xx with its error code), unless its status is one
    that a retry may change (``RETRIED_STATUS``). Anything else is retried: MLflow unreachable,
    a 5xx, credentials refused, and a 4xx that is not MLflow's own (a proxy, a wrong path: the
    adapter counts those as ``RegistryUnavailable``)."""
    return (isinstance(error, (RegistryNotFound, RegistryRequestError))
            and error.status_code not in RETRIED_STATUS)
