"""Event-driven passes: one waiting task per resource, woken by what it depends on or by time.

Each UpliftModel, Campaign and campaigns file has one kopf daemon (an asyncio task) that runs a
pass, then sleeps until the pass's next due time (``PassResult.requeue_after``: the next
analysis, a step's end, the deadline) or until something it depends on wakes
it: its own spec or annotations (``Signatures``), its child or its model changed (watch events,
``handlers.watches``). Nothing is polled at rest: a resource with nothing due sleeps until
``RESYNC_SECONDS`` (shortened by a fraction fixed by its key, ``resync_wait``), when its pass
runs again (what it reads of the watched kinds still comes from memory: a deletion the watch
missed is the existence audit's to find, ``handlers.existence``). Passes run in a bounded
thread pool, since the services are blocking code; one task per resource, and a task started
again for a resource (kopf cancels a daemon when peering pauses the operator, or at the
object's deletion or the operator's exit, and starts it again on resume) waiting first for
the pool work its cancelled predecessor left running (``Wakeups.settled``, up to
``PREDECESSOR_WAIT_SECONDS``), mean two passes of one resource do not run at once. Past that
bound the new pass runs anyway: its status write, on the resourceVersion it decided on, is
refused if the old pass wrote first (409, decided again), and the old pass's write is refused
the same way if the new one wrote first.

A pass that raised backs off (``ERROR_BACKOFF_SECONDS``); the first pass of any resource that
succeeds after raising wakes every other task in error back-off (``Wakeups.passed``): after an
API-server outage nothing else would (kopf's re-list brings the same bodies, which wake
nothing), and a rollback decided during the outage would wait up to ~6 min after it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kopf

from uplift_operator.domain.retry import backoff, spread_of
from uplift_operator.domain.status import status_digest

__all__ = ["ERROR_BACKOFF_SECONDS", "ERROR_FIRST_RETRY_SECONDS", "FINISHED_KEPT",
           "PREDECESSOR_WAIT_SECONDS", "RESYNC_SECONDS", "RESYNC_SPREAD", "Flag", "Key",
           "NamedPassError", "Signatures", "StuckPassError", "Wakeups", "resync_wait",
           "run_passes", "waiting_task"]

logger = logging.getLogger(__name__)

_DaemonFn = TypeVar("_DaemonFn", bound=Callable[..., Any])
_T = TypeVar("_T")

#: (kind, namespace, name): what a waiting task is known by.
Key = tuple[str, str, str]

#: With nothing due, a pass still runs this often, as controller-runtime's SyncPeriod: for a
#: wake-up that was lost, and for what the pass reads from outside memory (MLflow, Prometheus,
#: its own status); never the way anything the operator depends on is noticed. It is no safety
#: net for a watched child deleted while its watch was away (kopf lists again after a gap but
#: sends no DELETED event for it): the pass reads its SeldonDeployment and campaigns ConfigMap
#: from the watch's store (``adapters.watched``), which still holds the deleted one, so nothing
#: is applied. The existence audit (``handlers.existence``, at this same interval) lists those
#: kinds, drops such ghosts from the store and wakes the passes that read them.
RESYNC_SECONDS = 600.0
#: ... less this fraction of it at most, by a fraction fixed by each resource's key
#: (``resync_wait``): resources whose passes came together (a restart's first passes, a
#: failover's) drift apart by up to a minute more at each resync, until their resyncs spread
#: over the whole interval. Waited exactly ``RESYNC_SECONDS``, 10,000 resources started
#: together passed again together every 10 minutes for the life of the process. Shortened,
#: not stretched: a resource still passes at least every ``RESYNC_SECONDS``.
RESYNC_SPREAD = 0.1
#: After a pass that raised (its status write refused: 403, 422, 500; the API server
#: unreachable), the next comes ``ERROR_FIRST_RETRY_SECONDS`` later, then as long after as the
#: failures in a row have lasted (the waits double), at most this, each resource's wait
#: stretched by up to ``domain.retry.JITTER`` (a quarter) by a fraction fixed by its key: the
#: MLflow-outage policy (``domain.retry``). Capped at 30 s without jitter, 2,000 resources whose
#: writes a webhook or a full etcd refused all retried in the same 100 ms every 30 s, each
#: retry a whole decision (its Prometheus queries again: the status that would say the analysis
#: was done is never stored).
ERROR_BACKOFF_SECONDS = 300.0
#: The first retry of a pass that raised (or the cap, if lower).
ERROR_FIRST_RETRY_SECONDS = 1.0
#: The most recently finished objects (by key and uid) a task started late still finds finished
#: (``Wakeups.finish``): about 100 bytes each.
FINISHED_KEPT = 10_000
#: Wake-ups closer together than this are taken by one pass (a burst of watch events).
COALESCE_SECONDS = 0.05
#: A task started again for a resource waits at most this long, before its first pass, for the
#: pool work (a decision, a status write) of its cancelled predecessor's last pass: a cancelled
#: task's thread runs on (kopf's cancellation ends the awaiting, not the thread).
PREDECESSOR_WAIT_SECONDS = 60.0


class NamedPassError(RuntimeError):
    """A pass failed for a reason its message names in full (the API server refused a write,
    and said why): logged without a traceback, which would only show where it was raised. A
    namespace being deleted refuses every write in it for a while, and each was logged with a
    stack, as if the operator had a bug."""


class StuckPassError(NamedPassError):
    """A pass failed in a way its retries do not mend: its status write refused as too large
    for the API server's store (``handlers.common``), which the next decision, as large, meets
    again. Retried at the back-off's cap (``ERROR_BACKOFF_SECONDS``, spread) from its first
    failure, not 1 s, 2 s, 4 s ... after it (each retry is a whole decision: its Prometheus and
    MLflow reads, its serving graph applied, then the same refusal), and not woken by another
    task's recovery (``Wakeups.passed``); its own object (an edit that may make its status
    smaller) and what it depends on still wake it."""


class Flag(asyncio.Event):
    """A waiting task's wake-up flag; ``finished`` once its resource is gone."""

    finished: bool = False


@dataclass
class Wakeups:
    """The waiting tasks' wake-up flags by key and object uid; called from the event loop.

    A key (kind, namespace, name) may have two tasks for a moment: a name deleted and created
    again. kopf hands each uid's events to its own worker, so the old object's DELETED event
    may be handled after the new object's task started; finishing by key alone then ended
    the new task after its first pass and left the old one running."""

    _flags: dict[Key, dict[str, Flag]] = field(default_factory=dict)
    #: Tasks started in this process (kopf starts them again when a paused operator resumes).
    started: int = 0
    #: Objects whose task a peering pause ended (uid → key), until their task starts again
    #: (kopf lists on resume and starts one per object) or their DELETED event comes. One that
    #: stays was deleted while the replica was paused: no DELETED event comes for it, and kopf's
    #: Campaign index keeps it. The existence audit (``handlers.existence``) looks for these too.
    _paused_out: dict[str, Key] = field(default_factory=dict)
    #: Objects a pass read back from the API server and found gone (``gone``: its status write
    #: answered 404, or 409 with its name taken by another uid), by (key, uid), until their
    #: DELETED event comes (``finish``). Their task ended at once, but only the DELETED event's
    #: handlers drop them from kopf's indexes (a Campaign from ``campaigns_by_model``, an
    #: UpliftModel's promotion-alias claim): one deleted during a watch gap gets no such event,
    #: and without this the existence audit, seeing no task of it, never found it.
    _read_gone: dict[tuple[Key, str], None] = field(default_factory=dict)
    #: The same objects (uid → key), kept until their DELETED event whatever the audit does
    #: with them (``forget_unlistable``): a reader of kopf's indexes, which still hold them,
    #: leaves them out (``read_gone``; the campaigns file a Campaign found gone).
    _known_gone: dict[str, Key] = field(default_factory=dict)
    #: Told (key, uid) of each object a pass finds gone, as it is (``listen_gone``).
    _gone_listeners: dict[int, Callable[[Key, str], None]] = field(default_factory=dict)
    #: The pool work of each key's pass, until it ends (``in_pool``, ``settled``): dropped as
    #: it completes, so that the result of one whose task was cancelled and never followed (its
    #: object deleted meanwhile) is not kept for good.
    _in_pool: dict[Key, concurrent.futures.Future[Any]] = field(default_factory=dict)
    #: The objects lately finished (key, uid), oldest first, at most ``FINISHED_KEPT``: kopf
    #: may start an object's task after its DELETED event was handled (it spawns daemons on
    #: every event it processes, DELETED included, and a task created in the ADDED event's
    #: handling may first run after the DELETED one's, as Python 3.12's task start allows):
    #: ``finish`` found nothing to end, and the task registered after it ran for good.
    _finished: OrderedDict[tuple[Key, str], None] = field(default_factory=OrderedDict)
    #: Told the number of tasks of a kind in error back-off whenever it changes, and 0 for each
    #: kind as its first task starts (the operator's gauge,
    #: ``uplift_operator_passes_in_error_backoff``).
    observe_error_backoff: Callable[[str, int], None] | None = None
    #: The tasks whose last pass raised and that wait to retry (``failed``), until a pass of
    #: theirs succeeds or they end; and how many by kind.
    _erring: dict[Flag, Key] = field(default_factory=dict)
    _erring_by_kind: dict[str, int] = field(default_factory=dict)
    #: Those of them that another task's recovery still wakes (``passed``): not one whose pass
    #: a recovery woke and that raised again, until its own back-off ran out.
    _wakeable: set[Flag] = field(default_factory=set)
    #: Told the number of waiting tasks of a kind whenever it changes (the operator's gauge,
    #: ``uplift_operator_resources``: what the process has to reconcile, whether or not any
    #: pass of it completed). Counted on the event loop, so a scrape's thread reads a number,
    #: never the task tables while they change.
    observe_tasks: Callable[[str, int], None] | None = None
    _tasks_by_kind: dict[str, int] = field(default_factory=dict)
    #: The objects finished (``finish``) whose task is still registered, ending after the pass
    #: it is in (by key and uid): ``finished`` answers for them whatever ``FINISHED_KEPT``
    #: dropped of ``_finished`` meanwhile (a namespace of thousands deleted while their passes
    #: wait for the pool).
    _ending: set[tuple[Key, str]] = field(default_factory=set)
    #: Guards ``_finished`` and ``_ending``, which ``finished`` reads from the pool's threads.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def in_pool(self, key: Key, executor: concurrent.futures.Executor,
                      fn: Callable[[], _T]) -> _T:
        """``fn``, blocking work of a pass of ``key``, in ``executor``; kept until it ends, for
        a task of ``key`` started while it still runs (its own cancelled) to wait for, and
        dropped on the event loop as it completes (``_drop``): a task cancelled while its work
        ran, its key never getting a task again, kept the result (status, events, the write's
        closure) for the process's life."""
        loop = asyncio.get_running_loop()
        work = executor.submit(fn)
        self._in_pool[key] = work

        def completed(done: concurrent.futures.Future[Any]) -> None:  # in the pool's thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to drop
                loop.call_soon_threadsafe(self._drop, key, done)

        work.add_done_callback(completed)
        try:
            return await asyncio.wrap_future(work)
        finally:  # cancelled: not started yet, it is cancelled too; started, it stays kept
            if work.done() and self._in_pool.get(key) is work:
                del self._in_pool[key]

    def _drop(self, key: Key, work: concurrent.futures.Future[Any]) -> None:
        """``work`` completed: no longer kept, unless a later pass of ``key`` replaced it."""
        if self._in_pool.get(key) is work:
            del self._in_pool[key]

    async def settled(self, key: Key, timeout: float) -> bool:
        """Wait, up to ``timeout`` seconds, for the pool work of ``key`` that a cancelled task
        left running; whether none runs now."""
        work = self._in_pool.get(key)
        if work is not None and not work.done():
            await asyncio.wait([asyncio.wrap_future(work)], timeout=timeout)
        if work is not None and work.done() and self._in_pool.get(key) is work:
            del self._in_pool[key]
        return work is None or work.done()

    def register(self, key: Key, uid: str = "") -> Flag:
        """The flag of a task of object ``uid`` starting; one ``finished`` already, and not
        registered, when that object's end was handled before (``_finished``)."""
        flag = Flag()
        with self._lock:
            ended = bool(uid) and (key, uid) in self._finished
        if ended:
            flag.finished = True
            return flag
        flags = self._flags.setdefault(key, {})
        if uid not in flags:  # one replaced (started again before its end) counts once
            self._count_tasks(key[0], 1)
        flags[uid] = flag
        self._paused_out.pop(uid, None)
        self.started += 1
        if key[0] not in self._erring_by_kind:
            self._count_erring(key[0], 0)
        return flag

    def paused_out(self, key: Key, uid: str) -> None:
        """A peering pause ended the task of object ``uid`` (after it unregistered): kept until
        the object's task starts again or its DELETED event comes. Not when a task of that
        object already runs again (kopf resumed before this task's end was handled)."""
        if uid and uid not in self._flags.get(key, {}):
            self._paused_out[uid] = key

    def unregister(self, key: Key, flag: Flag) -> None:
        self._settle(flag)
        flags = self._flags.get(key, {})
        for uid, registered in list(flags.items()):
            if registered is flag:
                del flags[uid]
                self._count_tasks(key[0], -1)
                with self._lock:
                    self._ending.discard((key, uid))
        if not flags:
            self._flags.pop(key, None)

    def wake(self, key: Key) -> None:
        for flag in self._flags.get(key, {}).values():
            flag.set()

    def failed(self, key: Key, flag: Flag, *, wakeable: bool) -> None:
        """A pass of the task of ``flag`` raised; it waits to retry. ``wakeable``: another
        task's recovery wakes it (``passed``); not after a retry that such a wake (or a watch
        event) caused raised again, until its own back-off ran out: else, while a webhook kept
        refusing its writes, every other resource's recovery retried it at once."""
        if flag not in self._erring:
            self._erring[flag] = key
            self._count_erring(key[0], self._erring_by_kind.get(key[0], 0) + 1)
        if wakeable:
            self._wakeable.add(flag)
        else:
            self._wakeable.discard(flag)

    def passed(self, flag: Flag) -> int:
        """A pass of the task of ``flag`` succeeded. If it had raised before (its task was in
        error back-off), whatever refused it may be gone for the others too (the API server
        is back, a webhook answers again): every other task in error back-off that may be
        woken runs its pass now, as ``Resolver._tell`` wakes the followers of an alias once
        MLflow answers. The pass pool bounds the burst. Returns how many it woke."""
        if not self._settle(flag):
            return 0
        woken = list(self._wakeable)
        self._wakeable.clear()
        for other in woken:
            other.set()
        return len(woken)

    def in_error_backoff(self) -> dict[str, int]:
        """How many tasks of each kind wait to retry a pass that raised (a copy)."""
        return dict(self._erring_by_kind)

    def _settle(self, flag: Flag) -> bool:
        """The task of ``flag`` is no longer in error back-off; whether it was."""
        self._wakeable.discard(flag)
        key = self._erring.pop(flag, None)
        if key is None:
            return False
        self._count_erring(key[0], self._erring_by_kind[key[0]] - 1)
        return True

    def _count_tasks(self, kind: str, change: int) -> None:
        count = self._tasks_by_kind[kind] = self._tasks_by_kind.get(kind, 0) + change
        if self.observe_tasks is not None:
            self.observe_tasks(kind, count)

    def _count_erring(self, kind: str, count: int) -> None:
        self._erring_by_kind[kind] = count
        if self.observe_error_backoff is not None:
            self.observe_error_backoff(kind, count)

    def finish(self, key: Key, uid: str = "") -> bool:
        """The object ``uid`` of ``key`` is gone (its DELETED watch event): its task ends after
        the pass it may be in. Without kopf's finalizer (``waiting_task``), this is what stops
        it; another object's task under the same key (the name re-used) is not affected.
        Returns whether the key is free of such a task, i.e. whether what is kept by name may
        be dropped too. A task of ``uid`` not started yet ends at its start (``register``)."""
        self._paused_out.pop(uid, None)
        self._read_gone.pop((key, uid), None)
        if self._known_gone.get(uid) == key:
            del self._known_gone[uid]
        flags = self._flags.get(key, {})
        flag = flags.get(uid)
        with self._lock:
            if uid:  # a task of it started after this ends at once (``register``)
                self._finished[(key, uid)] = None
                self._finished.move_to_end((key, uid))
                while len(self._finished) > FINISHED_KEPT:
                    self._finished.popitem(last=False)
            if flag is not None:
                self._ending.add((key, uid))
        if flag is not None:
            flag.finished = True
            flag.set()
        return all(other == uid for other in flags)

    def finished(self, key: Key, uid: str) -> bool:
        """Whether object ``uid`` of ``key`` is gone as far as this process knows: its DELETED
        event handled (``finish``), or a pass read it back gone (``gone``). Thread-safe: a pass
        asks from the pool's thread right before it decides (``handlers.common.PassRunner``,
        the campaigns file's ``write``). A pass queued in the pool (FIFO, behind every other
        resource's: a namespace of thousands deleted at once) when its object's DELETED event
        came would otherwise decide on its snapshot from before the deletion, and act on it:
        apply the serving graph again with an owner reference to the deleted uid (the garbage
        collector deleting it again once Seldon started its pods), create a decision-key
        Secret or a campaigns ConfigMap again, take a roll slot none frees but the timeout,
        remember absences nothing drops. A deletion that comes while the pass decides is not
        seen by it (the residual window: what it does then is what a pass that decided just
        before the deletion does; its task's end drops what it left in memory)."""
        with self._lock:
            return (key, uid) in self._ending or (bool(uid) and (key, uid) in self._finished)

    def gone(self, key: Key, uid: str) -> None:
        """A pass of object ``uid`` read it back from the API server and found it gone (no
        object of the name, or another uid): its task ends after this pass, as at its DELETED
        event (``finish``). Unless that event was handled already, the object stays audited
        (``audited``) until it comes: a watch that listed again after a gap never sends it, and
        kopf's indexes keep the object until the process lists afresh (the existence audit
        finds it absent from two LISTs and exits). Not this event's handlers run from here:
        kopf's indexes can be corrected only by a watch event."""
        heard = (key, uid) in self._finished  # its DELETED event came during the pass
        self.finish(key, uid)
        if uid and not heard:
            self._read_gone[(key, uid)] = None
            self._known_gone[uid] = key
            for listener in list(self._gone_listeners.values()):
                try:
                    listener(key, uid)
                except Exception:  # one reader's, never the pass's
                    logger.exception("a listener of %s %s/%s found gone failed", *key)

    def read_gone(self, kind: str) -> frozenset[str]:
        """The uids of the objects of ``kind`` a pass found gone (``gone``) whose DELETED event
        has not come: kopf's indexes still hold them (a Campaign in ``campaigns_by_model``), and
        a reader of those leaves them out."""
        return frozenset(uid for uid, key in self._known_gone.items() if key[0] == kind)

    def listen_gone(self, listener: Callable[[Key, str], None]) -> Callable[[], None]:
        """Tell ``listener`` (key, uid) of each object a pass finds gone from now on (on the
        event loop, as ``gone`` is called); returns what stops it."""
        token = max(self._gone_listeners, default=0) + 1
        self._gone_listeners[token] = listener

        def stop() -> None:
            self._gone_listeners.pop(token, None)
        return stop

    def tasks(self, kind: str) -> dict[str, Key]:
        """The running waiting tasks of ``kind``, by object uid (a copy; tasks registered
        without a uid and tasks finished, ending after their pass, are left out)."""
        return {uid: key for key, flags in self._flags.items() if key[0] == kind
                for uid, flag in flags.items() if uid and not flag.finished}

    def forget_unlistable(self, kind: str, namespace: str) -> None:
        """Stop keeping what a pause ended, or a pass found gone, in ``namespace`` (the audit
        cannot list it)."""
        self._paused_out = {uid: key for uid, key in self._paused_out.items()
                            if key[0] != kind or key[1] != namespace}
        self._read_gone = {(key, uid): None for key, uid in self._read_gone
                           if key[0] != kind or key[1] != namespace}

    def audited(self, kind: str) -> dict[str, Key]:
        """What the existence audit compares with a LIST of ``kind``: the running tasks, the
        objects whose task a peering pause ended and that have neither a task again nor a
        DELETED event, and those a pass found gone whose DELETED event has not come (``gone``)
        (by object uid; a copy)."""
        paused = {uid: key for uid, key in self._paused_out.items() if key[0] == kind}
        read_gone = {uid: key for key, uid in self._read_gone if key[0] == kind}
        return {**paused, **read_gone, **self.tasks(kind)}

    def __len__(self) -> int:
        """Waiting tasks registered (a re-used name may have two for a moment)."""
        return sum(len(flags) for flags in self._flags.values())

    def __contains__(self, key: object) -> bool:
        """Whether a waiting task of ``key`` runs."""
        return key in self._flags


def waiting_task(group: str, version: str, plural: str,
                 **options: Any) -> Callable[[_DaemonFn], _DaemonFn]:
    """``kopf.daemon``, without the finalizer kopf puts on every object that has a daemon.

    kopf's finalizer exists to stop a daemon before its object goes; ours end on the object's
    DELETED event (``Wakeups.finish``) and write nothing it would protect. Without it an object
    costs one write less at creation and one at deletion, and deleting it (or its namespace)
    never waits for a running operator: with kopf's finalizer, a namespace deleted while the
    operator is stopped or uninstalled hangs in Terminating (kopf discussion #942). An object
    still carrying the finalizer from an older version has it removed by kopf on its next
    event. kopf has no option for this: the handler it registers is replaced by a copy with
    ``requires_finalizer=False`` (its registry's internals; pinned by a unit test)."""
    def decorate(fn: _DaemonFn) -> _DaemonFn:
        kopf.daemon(group, version, plural, **options)(fn)
        spawning = kopf.get_default_registry()._spawning  # kopf internals: see the docstring
        spawning._handlers = [
            dataclasses.replace(h, requires_finalizer=False)
            if getattr(h, "fn", None) is fn else h for h in spawning._handlers]
        return fn
    return decorate


@dataclass
class Signatures:
    """What of a resource its own pass depends on, as last seen: a watch event wakes the pass
    only when that changed — the spec (generation), annotations (manual requests), deletion,
    or a status that is not the one this process's last pass produced (edited by someone else).
    The events of the pass's own status writes wake nothing."""

    _seen: dict[Key, tuple[object, ...]] = field(default_factory=dict)
    _produced: dict[Key, str] = field(default_factory=dict)

    def changed(self, key: Key, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        digest = status_digest(body.get("status"))
        ours = self._produced.get(key) == digest
        signature = (meta.get("generation"), json.dumps(meta.get("annotations") or {},
                                                        sort_keys=True),
                     bool(meta.get("deletionTimestamp")), ours or digest)
        before = self._seen.get(key)
        self._seen[key] = signature
        return before != signature

    def produced(self, key: Key, status: Mapping[str, Any]) -> None:
        """The status the last pass of ``key`` decided (written, or already there)."""
        self._produced[key] = status_digest(status)
        seen = self._seen.get(key)
        if seen is not None:  # the event of this write carries nothing new
            self._seen[key] = (*seen[:3], True)

    def forget(self, key: Key) -> None:
        self._seen.pop(key, None)
        self._produced.pop(key, None)


def resync_wait(key: Key, resync: float = RESYNC_SECONDS) -> float:
    """How long ``key``'s task waits with nothing due: ``resync`` less ``key``'s own fraction
    (``domain.retry.spread_of``, the same in every process) of ``RESYNC_SPREAD`` of it."""
    return resync * (1 - RESYNC_SPREAD * spread_of("/".join(key)))


async def run_passes(key: Key, wakeups: Wakeups, one_pass: Callable[[], Awaitable[float | None]],
                     *, uid: str = "", resync: float = RESYNC_SECONDS) -> None:
    """Run ``one_pass`` now and then whenever it is due (its return value, in seconds; None:
    nothing due, at the latest ``resync_wait(key, resync)`` after it) or woken, until its
    resource (object ``uid``) is gone (``Wakeups.finish``) or it is cancelled (kopf cancels
    a daemon when the operator stops or is paused by peering). Its first pass waits for the
    pool work of a cancelled predecessor (``Wakeups.settled``); none runs when the object's
    end was handled before the task started. A pass that raised is run again after
    ``ERROR_FIRST_RETRY_SECONDS``, then backing off to ``ERROR_BACKOFF_SECONDS``, spread by
    the key (``domain.retry.backoff``), or when woken: by its resource or what it depends on,
    or by another task's pass that succeeds after raising (``Wakeups.passed``; not one after
    which its object is gone). One that raised ``StuckPassError`` waits the cap at once, and
    no other task's recovery wakes it."""
    flag = wakeups.register(key, uid)
    if flag.finished:  # its object was gone before the task started: nothing to pass
        return
    failures, failing_since, spread = 0, 0.0, spread_of("/".join(key))
    at_rest = resync_wait(key, resync)
    timed = True  # this pass runs because its wait ran out (not woken)
    loop = asyncio.get_running_loop()
    try:
        if not await wakeups.settled(key, PREDECESSOR_WAIT_SECONDS):
            logger.warning("a pass of %s %s/%s cancelled earlier still runs after %.0f s; "
                           "passing anyway (a status write on an older object is refused)",
                           *key, PREDECESSOR_WAIT_SECONDS)
        while not flag.finished:
            flag.clear()  # a wake-up during the pass runs another one right after it
            try:
                delay = await one_pass()
                failures = 0
                if flag.finished:
                    # Its object is gone (its DELETED event handled, or this pass read it
                    # back gone): the pass decided nothing (``Wakeups.finished``) or found no
                    # object to write to, which says nothing of what refused the others'. Out
                    # of error back-off, waking none: else each failing model of a namespace
                    # deleted during an outage woke every failing pass, "succeeded after
                    # failing". (A pass that wrote as its DELETED event came is not taken as a
                    # recovery either: the others wait out their own back-off.)
                    wakeups._settle(flag)
                elif woken := wakeups.passed(flag):
                    logger.info("pass of %s %s/%s succeeded after failing: %d other passes "
                                "failing meanwhile run again now", *key, woken)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if failures == 0:
                    failing_since = loop.time()
                failures += 1
                stuck = isinstance(error, StuckPassError)
                wakeups.failed(key, flag, wakeable=(failures == 1 or timed) and not stuck)
                delay = backoff(ERROR_BACKOFF_SECONDS if stuck else loop.time() - failing_since,
                                spread,
                                first=min(ERROR_FIRST_RETRY_SECONDS, ERROR_BACKOFF_SECONDS),
                                cap=ERROR_BACKOFF_SECONDS)
                logger.warning("pass of %s %s/%s failed (%s in a row); next in %.0f s: %s",
                               *key, failures, delay, error,
                               exc_info=failures == 1 and not isinstance(error, NamedPassError))
            timeout = at_rest if delay is None else min(max(delay, 0.0), at_rest)
            try:
                await asyncio.wait_for(flag.wait(), timeout=timeout)
                timed = False
                await asyncio.sleep(COALESCE_SECONDS)
            except TimeoutError:
                timed = True
    finally:
        wakeups.unregister(key, flag)
