"""How many serving graphs roll their pods at once: a re-render is applied only while fewer than
``limit`` graphs are rolling, process-wide.

A re-render is an apply of a model's serving graph that keeps the traffic split the graph
already has (the same versions, the same weights) and changes only how it is rendered: an
operator setting that goes into every predictor (``runtimeImage``, ``mlflow.trackingUri``,
``prometheus.scrapeInterval``), an operator release that renders the predictors differently,
a ``spec.serving`` edit. Seldon rolls every predictor's Deployment of such a graph, so after an
upgrade every serving pod of every model would be replaced at about the same time. What
changes the split (a first graph, a canary start, a step, a promotion, a rollback, an abort,
an emergency rollback) never asks here: it goes at once (``services.upliftmodel._apply``);
one that rolls the pods of versions it keeps too (their rendering changed with it, as on an
upgrade's first step) is ``counted`` as a roll from then, above the limit if it must be.

The bar is a Deployment's ``maxSurge``/``maxUnavailable``, across resources:

* **a slot per rolling graph**: ``admit`` gives one while fewer than ``limit`` are held (0: no
  limit, the rolls are still counted); the model keeps it from its apply (``started``) until
  its graph serves again with the new rendering (``settle``: Available, every version of the
  split ready, and Seldon has reported on the graph since the apply with numbers that show
  every Deployment done rolling (``rolled``: Seldon also writes Available between two surge
  batches, old pods still there; ``render.seldon.rolling_deployments``), or, when the apply
  changed no predictor's pod spec (``started``'s ``pods``), said nothing for
  ``SILENT_SETTLE``), or ``timeout`` passes (a roll that never serves, a model that stopped
  passing): then the slot is freed, the model is told once (``timed_out``) and counted
  (``on_timeout``), so a stuck roll cannot hold the fleet. An apply the API server refused
  gives a slot taken for it back (``abandon``); one whose answer was lost (a timeout, a 5xx:
  it may have landed) keeps it, unconfirmed (``unconfirmed``), for one pass: the next one
  finds the graph as decided (it landed: ``settle``), or applies again, and a second apply
  whose answer is lost, or that is refused, while the roll is still unconfirmed gives the slot
  back (neither landed: a webhook or an API server down for long holds no slot from the
  others). A roll whose apply was never confirmed (its resourceVersion taken from a read:
  ``settle``) and on which Seldon has written nothing since ends at ``timeout`` quietly, as a
  ``found`` one: no ``RollTimedOut`` for a roll the operator cannot tell it started; once
  Seldon writes after that read, the roll is the apply's and its timeout is told;
* **a queue for the others**: a model refused a slot is queued, in the order it first asked,
  and keeps its graph as it is (its ``ServingApplied`` says so, ``RollQueued``). When slots
  free, as many queued models as there are free slots are woken (``on_change``, as the MLflow
  write-back wakes its owners): no pass polls the API server to find a free slot. A slot
  freed for a woken model is kept for it until it asks: another model asking meanwhile (its
  own pass due for something else) is queued behind it. A woken model that does not ask within
  ``WAKE_ANSWER`` (its spec turned invalid, its pass stuck) leaves the queue, so it cannot hold
  the slot from the ones behind it; asking later, it is queued anew.

Time is what the passes pass in (``now``): nothing here reads a clock or sleeps. Nothing is
persisted: the graphs still rolling from before a restart (an upgrade is when every graph is
re-rendered; a failover to the standby replica) are read from the graphs themselves. A model's
first look in this process at its graph (``found``: the graph's watch event, as kopf lists
every graph at start, or the model's first pass that reads it) counts it as a roll from then when
Seldon's numbers show it rolling (``render.seldon.rolling_deployments``: pods not replaced yet,
not all available, a Deployment Seldon has not reported on), whatever rolled it (a re-render, a
first graph, a canary's start; a crash-looping or Pending pod reads the same), above the limit
if it must, done by ``settle`` as any roll, or at ``timeout`` from then quietly (not this
process's roll: no ``RollTimedOut``, not counted; whether the graph serves is the model's
status), unless a re-render of the model's went in its slot: the slots given after it wait
for it. The process has seen every roll it started (``started``, ``counted``), so only a model's
first look finds one. The
listing's events and the passes after a start come in no set order, so a re-render may be
admitted before a graph rolling from before was looked at: the graphs rolling at once are at most
``limit`` + the rolls from before found after slots were given to others (no more than those
from before: ``limit`` + the split changes ``counted`` above it, as before this counting), and
at most ``limit`` once each such model has had its first pass and those rolls end.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMIT", "ROLL_TIMEOUT", "SILENT_SETTLE", "WAKE_ANSWER", "Admission", "Owner",
           "Rolls"]

#: Graphs that may roll at once by default (``--max-concurrent-graph-rolls``).
DEFAULT_LIMIT = 5
#: How long a roll holds its slot at most: past it the graph no longer counts as rolling.
ROLL_TIMEOUT = dt.timedelta(minutes=10)
#: How long a queued model woken for a free slot has to ask for it before it leaves the queue.
WAKE_ANSWER = dt.timedelta(minutes=2)
#: A re-rendered graph Seldon still reports serving, with no status written since the apply,
#: counts as rolled this long after the apply, when the apply changed no predictor's pod spec
#: (``Rolls.started``'s ``pods``: only the object's annotations, or a field outside the
#: predictors): Seldon writes its status only when it changes, and such an apply rolls
#: nothing, so no status may come. Not when a pod spec changed (nearly every re-render: an
#: image, a setting, ``spec.serving``, whose replicas are in the pod spec too,
#: ``render.seldon.REPLICAS_ENV``): its Deployments roll, so Seldon writes a status, and its
#: silence is a controller down or lagging (a long reconcile queue after an upgrade
#: re-rendered the fleet), the graph still reading the old pods' numbers. Freeing the slot then
#: would admit the next re-renders, all rolling at once when Seldon catches up: the slot is
#: held until Seldon reports, or the timeout says the roll did not get there.
SILENT_SETTLE = dt.timedelta(minutes=1)

#: Who asks for a slot (kind, namespace, name): the key the passes are woken by.
Owner = tuple[str, str, str]


@dataclass(frozen=True)
class Admission:
    """What ``admit`` answered: ``admitted`` (the model holds a slot; ``new``: taken now), else
    queued, with the slots taken now (``rolling``: graphs rolling, and slots kept for queued
    models woken to take them), the ``limit`` and the models ``waiting``."""

    admitted: bool
    new: bool
    rolling: int
    limit: int
    waiting: int

    @property
    def message(self) -> str:
        """What a queued model's ``ServingApplied`` says (the same words while it waits, so a
        pass of a waiting model has no new status to write)."""
        return (f"re-render of the serving graph queued: {self.rolling} graphs rolling "
                f"(limit {self.limit})")


@dataclass
class _Roll:
    started: dt.datetime  # the apply it was taken for: the timeout counts from it
    version: str | None = None  # the graph's resourceVersion the last apply left (None: unknown)
    applied: dt.datetime | None = None  # the last apply (None: ``started``'s)
    # Rolling from before this process, nothing applied to it since: ``started`` is when it was
    # found, and its timeout frees the slot quietly (no ``RollTimedOut``, not counted).
    found: bool = False
    # Rolling from before this process, the model's status saying it rolls for a spec edit
    # (``Rolls.found``'s ``told``): its timeout is told, counted from when it was found.
    resumed: bool = False
    # An apply in it changed a predictor's pod spec: done only once Seldon reports since the
    # last apply (no ``SILENT_SETTLE``).
    pods: bool = False
    # Seldon reported on the graph since the last apply (its resourceVersion moved): what a
    # timeout says differs (a controller that wrote nothing since).
    heard: bool = False
    # The last apply in it failed with no answer saying whether the API server saved it (a
    # timeout, a 5xx, the connection lost: ``Rolls.unconfirmed``): the graph's resourceVersion
    # the next ``settle`` reads is taken as the apply's, so only a later write ends the roll.
    unconfirmed: bool = False
    # No apply in it since was answered (``started``) and Seldon has not written on the graph
    # since the read that confirmed it (``settle``): whether it rolled anything is unknown (it
    # may not have landed; or Seldon finished before the next pass read the graph, and writes
    # nothing more), so its timeout frees the slot quietly, as a ``found`` one's.
    doubted: bool = False

    @property
    def last_apply(self) -> dt.datetime:
        return self.applied or self.started


class Rolls:
    """The graphs rolling in this process and the re-renders waiting (see the module's
    docstring). Thread-safe: passes run on a pool of threads. Every call costs O(1) but for
    what it frees or wakes (thousands of models ask on an upgrade's first passes). Listeners
    are called outside the lock, from the pass that changed something."""

    def __init__(self, limit: int = DEFAULT_LIMIT, timeout: dt.timedelta = ROLL_TIMEOUT) -> None:
        if limit < 0:
            raise ValueError("the limit of graphs rolling at once is 0 (none) or more")
        self.limit = limit
        self.timeout = timeout
        self._lock = threading.Lock()
        # In the order they started (``_add``), the oldest first: they time out in that order.
        self._rolls: dict[Owner, _Roll] = {}
        # Queued, in the order they first asked; and those woken for a slot freed for them.
        self._queue: dict[Owner, None] = {}
        self._woken: dict[Owner, dt.datetime] = {}
        self._timed_out: dict[Owner, str] = {}
        # The models whose graph this process applied or read (``found``): a roll of theirs it
        # did not start, it would have seen start. Dropped when the model is (``forget``).
        self._seen: set[Owner] = set()
        #: Called with the owners to wake: queued ones a slot freed for, rolls that timed out.
        self.on_change: list[Callable[[Sequence[Owner]], None]] = []
        #: Called once per roll that timed out (the operator counts them).
        self.on_timeout: list[Callable[[Owner], None]] = []

    def found(self, owner: Owner, now: dt.datetime, *, version: str | None,
              rolling: bool, told: bool = False) -> None:
        """``owner``'s pass read its graph (its resourceVersion: ``version``), before asking
        for anything; ``rolling``: Seldon's numbers show a Deployment of it not done rolling
        (``render.seldon.rolling_deployments`` not empty). The first time this process hears
        of ``owner`` (a restart: the roll, if any, is from before it), a rolling graph counts
        as a roll holding a slot from ``now`` (above the limit if it must: it rolls already),
        done as any roll is (``settle``: Seldon reports on it past ``version``, serving and
        rolled) or at ``timeout`` from ``now``, quietly unless this process applied to it
        since; a re-render the model asks for next holds that slot. Later calls change
        nothing: a roll this process started it counts already. Called by the model's pass and
        by the graph's watch event (``handlers.watches``), whichever comes first.

        ``told`` (the model's pass): the model's status says its graph rolls for a spec edit
        (``status.Applied``'s ``cond.SPEC_EDIT_ROLLING``), so the roll found is the operator's
        own, from before the restart: its timeout is told (``timed_out``, counted) as the
        process that applied it would have, or the status would say the edit rolls for good.
        A roll found quietly already (the graph's event came first) is turned so."""
        with self._lock:
            first = owner not in self._seen
            self._seen.add(owner)
            roll = self._rolls.get(owner)
            if first and rolling and roll is None:
                self._queue.pop(owner, None)
                self._woken.pop(owner, None)
                self._add(owner, _Roll(now, version, found=not told, resumed=told))
            elif told and roll is not None and roll.found:
                roll.found, roll.resumed = False, True

    def admit(self, owner: Owner, now: dt.datetime) -> Admission:
        """A slot for ``owner``'s re-render: one it holds, a free one, or none (queued)."""
        with self._lock:
            self._seen.add(owner)
            wake, expired = self._expire(now)
            # Slots the expiry freed go to the queue first, in its order: a model that was not
            # queued must not take one ahead of those waiting.
            wake += self._offer(now)
            held = owner in self._rolls
            woken = self._woken.pop(owner, None) is not None
            # A slot freed for a woken model is kept for it until it asks.
            free = self.limit == 0 or len(self._rolls) + len(self._woken) < self.limit
            if not held and free:
                self._queue.pop(owner, None)
                self._add(owner, _Roll(now))
            elif not held and woken:  # its kept slot taken meanwhile (a counted roll)
                self._queue = {owner: None, **self._queue}  # first again: its place kept
            elif not held and owner not in self._queue:  # queued: its place kept
                self._queue[owner] = None  # the last one
            wake += self._offer(now)
            # The slots taken, kept ones included: a queued model reads the same words at every
            # pass while it waits (the limit), not a count that dips while a slot is kept.
            # Capped at the limit: counted rolls above it do not change the words either.
            taken = len(self._rolls) + len(self._woken)
            answer = Admission(owner in self._rolls, not held and owner in self._rolls,
                               min(taken, self.limit) if self.limit else taken, self.limit,
                               len(self._queue) + len(self._woken))
        self._tell(wake, expired, owner)
        return answer

    def started(self, owner: Owner, now: dt.datetime, version: str | None, *,
                pods: bool) -> None:
        """``owner``'s graph was applied (its resourceVersion now: ``version``): a roll it
        holds a slot for is done once Seldon has reported on that graph; its timeout still
        counts from the apply the slot was taken for (a ramp stepping more often than the
        timeout cannot hold a slot for ever). ``pods`` (required: no safe default): the apply
        changed a predictor's pod spec, so the roll is done only once Seldon reports (no
        ``SILENT_SETTLE``), kept for the roll's later applies (a step applied before Seldon
        reported rolls the same pods); False: a pod-spec-free apply (traffic, replicas)."""
        with self._lock:
            self._seen.add(owner)
            roll = self._rolls.get(owner)
            if roll is not None:
                roll.version, roll.applied = version, now
                roll.found = roll.resumed = False  # this process rolls it now: a timeout is told
                roll.pods = roll.pods or pods
                roll.heard = roll.unconfirmed = roll.doubted = False

    def unconfirmed(self, owner: Owner, now: dt.datetime, *, pods: bool) -> None:
        """The apply ``owner`` holds a slot for failed with no answer saying whether the API
        server saved it (no answer in time, a 5xx such as the 504 of its request timeout, the
        connection lost after the request went): the slot is kept, not given back as for a
        refusal (``abandon``), as the apply may have landed and the pods roll. Its
        resourceVersion unknown, the roll is unconfirmed: the next ``settle`` (the graph found
        as decided: it landed) takes the resourceVersion it reads as the apply's, as
        ``started`` would have (``pods`` as ``started``'s), so the roll is done only once Seldon
        writes the graph's status after that; not at once because the status read, the old
        pods' (Available, every replica), was written before the apply. An apply that did not
        land is tried again in the slot (the graph found not as decided), whose ``started``
        confirms it; lost again while the roll is still unconfirmed (a webhook down, the API
        server failing for longer than a pass), neither landed: the slot is given back
        (``abandon``), so an outage holds no slot from the others, and the model asks again at
        its next pass, behind the models queued. A slot not held (none was asked for: a change
        of the split) is left so."""
        with self._lock:
            roll = self._rolls.get(owner)
            again = roll is not None and roll.unconfirmed
            if roll is not None and not again:
                roll.applied = now
                roll.found = roll.resumed = False  # this process applied to it: not found
                roll.pods = roll.pods or pods
                roll.heard = False
                roll.unconfirmed = roll.doubted = True
        if again:
            self._release(owner, now)

    def refused(self, owner: Owner, now: dt.datetime, *, new: bool,
                conflict: bool = False) -> None:
        """The API server refused (a 4xx) the apply ``owner`` holds a slot for: nothing of it
        was saved. A slot taken for it (``new``) is given back (``abandon``), and so is one
        kept for an apply whose answer was lost (``unconfirmed``): the graph read not as
        decided, that one did not land either. A slot held for a roll an earlier apply
        started is kept, and so is an unconfirmed one on a ``conflict`` (409: the graph moved
        since it was read, which is what the lost apply landing does when the graph read was
        a watch store's from before it): the pass reads the graph again, and the next one
        confirms the roll (``settle``) or applies again in the slot."""
        with self._lock:
            roll = self._rolls.get(owner)
            free = new or (roll is not None and roll.unconfirmed and not conflict)
        if free:
            self._release(owner, now)

    def counted(self, owner: Owner, now: dt.datetime, version: str | None) -> None:
        """``owner``'s graph was applied with a change of its split that rolls pods of the
        versions it keeps too (their rendering changed with it): it went at once, as a split
        change does, but counts as rolling from now, above the limit if it must, so the
        re-renders queued wait for it as for any roll. A slot it holds already is kept (its
        timeout counts on); ``started`` records the apply either way."""
        with self._lock:
            self._seen.add(owner)
            self._queue.pop(owner, None)
            self._woken.pop(owner, None)
            if owner not in self._rolls:
                self._add(owner, _Roll(now, version, pods=True))
            else:
                self._rolls[owner].pods = True

    def abandon(self, owner: Owner, now: dt.datetime) -> None:
        """The apply ``owner`` was admitted for did not go through: nothing rolls."""
        self._release(owner, now)

    def unqueue(self, owner: Owner, now: dt.datetime) -> None:
        """``owner`` has no re-render waiting any more (its graph is as decided, or the new
        rendering went with a change of its split); a slot it holds is kept."""
        with self._lock:
            wake, expired = self._expire(now)
            self._queue.pop(owner, None)
            self._woken.pop(owner, None)
            wake += self._offer(now)
        self._tell(wake, expired, owner)

    def settle(self, owner: Owner, now: dt.datetime, *, version: str | None,
               serving: bool, rolled: bool = True) -> bool:
        """``owner``'s graph is as decided; ``version``: its resourceVersion as read,
        ``serving``: Seldon reports it Available with every version of the split ready,
        ``rolled``: the numbers Seldon wrote show every Deployment of it done rolling (as many
        pods as wanted, all available; ``render.seldon.rolling_deployments`` empty). A roll it
        holds is done once it serves and Seldon has reported on the graph since the apply (its
        resourceVersion moved: the status read right after the apply is the previous graph's)
        with numbers that show it rolled (Seldon writes Available between two surge batches
        too: the new batch up, the old pods it replaces not gone yet), or, when no apply in it
        changed a predictor's pod spec (``started``'s ``pods``), once it serves, its numbers
        show nothing rolling and Seldon has said nothing since the last apply for
        ``SILENT_SETTLE`` (nothing of it rolled: Seldon writes only what changed). A roll that
        changed a pod spec Seldon says nothing about (its controller down or lagging: the
        numbers read are the old pods') is held until Seldon reports or the ``timeout``, which
        says so. Rolled in both cases: a step applied mid-surge, about which Seldon says
        nothing, does not end the surge. (A Deployment scaled up by hand, which Seldon leaves
        so, by no more pods than a surge, reads as one: held until the timeout, and ``found``
        so after each restart.)

        Answers whether ``owner`` holds no roll now (done by this call, or none held): what
        says that a spec edit's graph has rolled (``status.Applied.rolled``), not the graph's
        status as read, which right after the apply is the previous graph's (Available, every
        pod of the old rendering), and Available between two surge batches too. A roll whose
        last apply is ``unconfirmed`` is not done at this call: the resourceVersion read is
        taken as the apply's, and Seldon's next write is waited for."""
        with self._lock:
            roll = self._rolls.get(owner)
            confirming = roll is not None and roll.unconfirmed
            if roll is not None and roll.unconfirmed:
                # The apply whose answer was lost landed (the graph is as decided): what is
                # read now is taken as its resourceVersion, the status read as written before it
                # (``doubted`` stays until Seldon writes: if it wrote its last status before
                # this read, no write comes, and the slot frees quietly at the timeout).
                roll.version, roll.applied, roll.unconfirmed = version, now, False
            reported = roll is not None and (roll.version is None or version != roll.version)
            if roll is not None and reported:
                roll.heard = True
                if not confirming:
                    # Seldon wrote after the read that confirmed the apply: the roll is its, and
                    # one that does not end in time is told (``RollTimedOut``), not quiet.
                    roll.doubted = False
            silent = (roll is not None and not roll.pods
                      and now - roll.last_apply >= SILENT_SETTLE)
            done = roll is not None and serving and rolled and (reported or silent)
        if done:
            self._release(owner, now)
        else:
            self.unqueue(owner, now)
        return roll is None or done

    def forget(self, owner: Owner, now: dt.datetime) -> None:
        """``owner`` is gone (deleted): its slot and its place in the queue are freed."""
        with self._lock:
            self._timed_out.pop(owner, None)
            self._seen.discard(owner)
        self._release(owner, now)

    def timed_out(self, owner: Owner, now: dt.datetime) -> str | None:
        """Why ``owner``'s roll no longer holds a slot, when it timed out, until ``said``: a
        pass that ends early (a graph moved under it, a conflict) says it at the next one."""
        with self._lock:
            wake, expired = self._expire(now)
            wake += self._offer(now)
            told = self._timed_out.get(owner)
        self._tell(wake, expired, owner)
        return told

    def said(self, owner: Owner) -> None:
        """``owner``'s pass that said its roll timed out is done: said once."""
        with self._lock:
            self._timed_out.pop(owner, None)

    def due(self, owner: Owner, now: dt.datetime) -> float | None:
        """Seconds until ``owner``'s pass should look again (None: nothing to look at): the
        roll it holds at ``SILENT_SETTLE`` after the apply when it changed no pod spec (Seldon
        may write nothing), then at the timeout (Seldon's status write wakes the pass before);
        the first queued model when a slot may free without anyone's pass to free it (a roll's
        timeout, a woken model's ``WAKE_ANSWER``: a model that stopped
        passing, its spec turned invalid, holds a slot until someone looks), so the queue
        moves in a quiet fleet too. Only the first queued model: one pass, not thousands."""
        with self._lock:
            roll = self._rolls.get(owner)
            if roll is not None:
                settle = roll.last_apply + SILENT_SETTLE
                silent = not roll.pods and now < settle
                until = settle if silent else roll.started + self.timeout
                return max(0.0, (until - now).total_seconds())
            if not self._queue or next(iter(self._queue)) != owner:
                return None
            frees = [woken + WAKE_ANSWER for woken in self._woken.values()]
            frees += [r.started + self.timeout for r in list(self._rolls.values())[:1]]
            if not frees:
                return None
            return max(0.0, (min(frees) - now).total_seconds())

    def rolling(self) -> int:
        with self._lock:
            return len(self._rolls)

    def waiting(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._woken)

    def _release(self, owner: Owner, now: dt.datetime) -> None:
        with self._lock:
            wake, expired = self._expire(now)
            self._rolls.pop(owner, None)
            self._queue.pop(owner, None)
            self._woken.pop(owner, None)
            wake += self._offer(now)
        self._tell(wake, expired, owner)

    def _add(self, owner: Owner, roll: _Roll) -> None:
        """Hold a slot for ``owner`` (under the lock), keeping ``_rolls`` in the order the rolls
        started: ``_expire`` stops at the first roll not timed out, and ``due`` asks the first
        one when the queue's next slot frees. Passes run on several threads, each with the
        ``now`` its pass began at, so a slow pass may add a roll that started before the last
        one added: it is put in its place (rare, so the rebuild costs nothing that counts).
        Added at the end only, a roll behind a newer one was not freed at its timeout while
        ``due`` told its model to look again at once: its passes ran back to back until the
        newer roll timed out too."""
        last = next(reversed(self._rolls.values()), None)
        self._rolls[owner] = roll
        if last is not None and roll.started < last.started:
            self._rolls = dict(sorted(self._rolls.items(), key=lambda item: item[1].started))

    def _expire(self, now: dt.datetime) -> tuple[list[Owner], list[Owner]]:
        """Free the slots of rolls older than the timeout, and drop the woken models that did
        not ask within ``WAKE_ANSWER`` (under the lock): the owners to wake (each timed out
        told why) and to count."""
        for owner in [o for o, woken in self._woken.items() if now - woken >= WAKE_ANSWER]:
            del self._woken[owner]
        expired: list[Owner] = []
        for owner, roll in self._rolls.items():  # the oldest first (``_add``)
            if now - roll.started < self.timeout:
                break
            expired.append(owner)
        told: list[Owner] = []
        for owner in expired:
            roll = self._rolls.pop(owner)
            if roll.found or roll.doubted:
                # Not a roll of this process (a crash-looping or Pending pod reads as rolling
                # too), or one whose apply was never answered (it may not have landed; or
                # Seldon was done before the pass that read the graph, and has written nothing
                # since): its slot frees quietly; whether the graph serves is the model's
                # status.
                continue
            told.append(owner)
            limit = (f"against the limit of {self.limit} graphs rolling at once, and the next "
                     "queued re-render may go" if self.limit else "as rolling")
            silent = (" (Seldon wrote no status on it since the operator's last apply: is its "
                      "controller running, and keeping up?)"
                      if roll.version is not None and not roll.heard else "")
            since = ("this process finding it rolling (an operator restart during the roll)"
                     if roll.resumed else "the apply that started its roll")
            self._timed_out[owner] = (
                f"the serving graph did not serve, every version of its split ready and its "
                f"pods rolled, within {_words(self.timeout)} of {since}{silent}: it no longer "
                f"counts {limit}")
        return told, list(told)

    def _offer(self, now: dt.datetime) -> list[Owner]:
        """Wake as many queued models, first asked first, as there are free slots not yet
        kept for a woken one (under the lock)."""
        if self.limit == 0:
            return []
        wake: list[Owner] = []
        while self._queue and len(self._rolls) + len(self._woken) < self.limit:
            owner = next(iter(self._queue))
            del self._queue[owner]
            self._woken[owner] = now
            wake.append(owner)
        return wake

    def _tell(self, wake: list[Owner], expired: list[Owner], caller: Owner) -> None:
        """Count the rolls that timed out; wake the owners to wake but ``caller``, whose pass
        runs now."""
        for owner in expired:
            for counted in self.on_timeout:
                counted(owner)
        wake = [owner for owner in wake if owner != caller]
        if wake:
            for listener in self.on_change:
                listener(wake)


def _words(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
