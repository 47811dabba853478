"""Shared registry polling: each followed alias re-read once per refresh interval, however many
UpliftModels follow it, by one sweep of its registry when many of that registry's aliases are
due, and a pass only for the followers of an alias whose answer changed.

The followed aliases are what the followers' last passes found (``handlers.watches.
AliasFollowers``), each with the shortest ``aliasRefreshInterval`` among its followers. One task
looks every ``POLL_TICK_SECONDS`` for those due (``Resolver.next_refresh``) and plans their reads
(``Resolver.plan``, by ``domain.alias_sweep``): the due aliases of one registry identity (its
tracking URI and credentials) go to one sweep of its registered models (``Resolver.sweep``: a
request per 1,000 models, one after the other on one reader) when that is no slower than
reading each on ``ALIAS_READERS`` readers (pages × readers ≤ the aliases it can answer, and
its last sweep no slower than their reads: ``SweepRecord.took``), and
the sweep also answers that registry's aliases due within the next half of their interval
(``early``), so that aliases first read at different moments come to share one sweep after a
round; every other alias is re-read by itself (``Resolver.refresh``, with the client a
follower's pass last used). At 2,000 aliases on one MLflow that is 2 requests a round instead
of 2,000, however staggered their first reads; a registry of 100,000 models followed by a few
aliases keeps its per-alias reads. An alias the sweep shows unchanged is refreshed there; any
other is handed back and read by itself next, so that the read tells and reports as it always
did. The reads and sweeps run on a small
pool of their own (``handlers.lifecycle``, ``ALIAS_READERS`` threads), at most
``ALIAS_READERS`` at a time (a sweep takes one), the most overdue first; a reader that finishes
takes the next read the last look planned at once, not at the next look. They went to the pass
pool, every due alias at once: at 5,000 aliases (83 reads/s at the default 1m) and an MLflow
answering in 100-200 ms, a pass of any resource (a failing gate's rollback) waited 3 to 80 s
for a thread behind them. A poller that falls behind now stretches the aliases' refresh interval
instead (said once in the log, and when it catches up); the passes never wait for it. An alias
no follower's pass left a client for (its credentials Secret missing or unreadable) is not read,
and takes no reader. A read that finds another version, or that starts or stops failing, tells
the resolver's ``moved``, which wakes exactly the followers (``watches.alias_followers``).
Followers themselves are due for nothing at rest (``services.upliftmodel._next_pass``): with
nothing changing, no pass runs. Only aliases with a running waiting task (``Wakeups``) are
read: a replica that peering paused reads nothing.

The versions resources follow (a pinned ``version``, the stable and the canary: ``Resolver.
follow_versions``) are read again too, each once, however many resources follow it
(``Resolver.due_versions``, ``reread_version``): about once an hour (45 to 60 minutes after
its last read, an alias read of it included), a minute after a read MLflow could not answer
(unreachable, or "not now"; one it answered — the version gone, the read refused — waits the
period again: a minute on, a deleted version was read 1,440 times a day). They take
only readers the aliases leave free (planned behind every alias read), and count for nothing
in "fall behind". A read that finds a version deleted, back, or another under its number (the
registered model re-created) wakes that version's followers (``Resolver.versions_moved``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Hashable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import kopf

from uplift_operator.domain.alias_sweep import SWEEP_AHEAD, Sweep
from uplift_operator.handlers.common import now
from uplift_operator.handlers.scheduling import Key
from uplift_operator.handlers.watches import AliasFollowers, alias_followers
from uplift_operator.services.resolution import AliasKey, DueAlias, Resolver, VersionKey

__all__ = ["ALIAS_READERS", "POLL_TICK_SECONDS", "Readers", "due_and_early", "poll_aliases",
           "start"]

logger = logging.getLogger(__name__)

#: How often due aliases are looked for: a refresh comes up to this late.
POLL_TICK_SECONDS = 1.0
#: Alias reads at once (the poller's own threads; a sweep is one), each reader taking the next
#: planned read as soon as its read ends: 80 to 20 reads/s for MLflow answering in 50 to
#: 200 ms, i.e. 4,800 to 1,200 aliases each read once a minute without sweeps; past that the
#: refreshes come later. Measured with the default tick, 2,000 aliases due and a registry
#: answering after a sleep: 78, 40 and 20 reads/s at 50, 100 and 200 ms (a look and its plan
#: at 2,000 due aliases take 3.7 ms of the event loop read one by one, 4.8 ms swept; 10.9 and
#: 12.9 ms at 5,000: ``bench/scale.py --alias-polling``, its ``look_and_plan_ms``). A
#: registry swept answers its unchanged aliases in a request per 1,000 models
#: (docs/operator.md).
ALIAS_READERS = 4
#: After the polling task raised, it is started again after this long (seconds).
RESTART_AFTER_SECONDS = 5.0


@dataclass(frozen=True)
class VersionRead:
    """A followed version to read again (``Resolver.reread_version``)."""

    key: VersionKey


#: What a reader is handed: an alias to read by itself, a sweep of a registry's aliases, or a
#: followed version to read again.
_Job = DueAlias | Sweep[Hashable, DueAlias] | VersionRead


@dataclass(eq=False)
class Readers:
    """What the poller handed to its readers and they have not answered yet, and what their
    answers left to do: it outlives a polling that raised (``_supervised``), whose reads still
    run on the pool and end here. A poller started afresh with none counted handed the aliases
    being read out again and queued up to twice ``ALIAS_READERS`` reads on the pool, stamped
    with the moment they were handed out, not the one MLflow answered them."""

    reading: set[AliasKey] = field(default_factory=set)  # handed out (alone or in a sweep)
    versions: set[VersionKey] = field(default_factory=set)  # followed versions handed out
    busy: int = 0  # readers in use
    handed_back: set[AliasKey] = field(default_factory=set)  # a sweep found them changed
    waiting: list[_Job] = field(default_factory=list)  # planned at the last look, next last
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # a reader is free
    behind: bool = False  # "alias reads fall behind" said, not "caught up" yet


def due_and_early(followed: Mapping[AliasKey, dt.timedelta], resolver: Resolver,
                  at: dt.datetime) -> tuple[list[DueAlias], list[DueAlias]]:
    """The followed aliases whose answer is due to be read again at ``at``, the most overdue
    first (then by key), and those due within the next ``SWEEP_AHEAD`` of their interval
    (readable likewise, the soonest first): a sweep of their registry answers them too. An
    alias the resolver has no client for (its followers' credentials Secret missing or
    unreadable: ``Resolver.forget_client``) is in neither: nothing can read it, and as the most
    overdue it took every reader at every look, so that no other alias was read again; a
    follower's pass that builds a client again brings it back."""
    due, early = [], []
    for alias, interval in followed.items():
        when = resolver.next_refresh(alias, interval)
        if when <= at:
            due.append((when, alias, interval))
        elif when <= at + interval * SWEEP_AHEAD:
            early.append((when, alias, interval))
    return ([(alias, interval) for _, alias, interval in sorted(due)
             if resolver.has_client(alias)],
            [(alias, interval) for _, alias, interval in sorted(early)
             if resolver.has_client(alias)])


async def poll_aliases(followers: AliasFollowers, resolver: Resolver, executor: Executor,
                       live: Callable[[Key], bool], *, tick: float = POLL_TICK_SECONDS,
                       clock: Callable[[], dt.datetime] = now,
                       in_flight: int = ALIAS_READERS, readers: Readers | None = None) -> None:
    """Re-read every due followed alias, each at most once at a time and at most ``in_flight``
    reads at once (the most overdue first), until cancelled. The due aliases are looked for
    every ``tick`` and planned (``Resolver.plan``): a registry's due aliases go to one sweep
    when it is no slower than their reads on ``in_flight`` readers (one reader; it answers the
    registry's aliases due within ``SWEEP_AHEAD`` of their interval too; the aliases it hands
    back are read next, each by itself, early or not), the others are each read by itself. A
    reader that finishes takes the next read of the last look at once, not at the next look (one look per tick
    handed out at most ``in_flight`` reads a tick: 4 a second, however fast MLflow answered).
    Never more than ``in_flight`` are handed to ``executor``, and each read is stamped with the
    moment it is handed out: a read queued there would be stamped with the time it was due at,
    not the moment MLflow answered it. ``readers``: the reads a previous run (one that raised)
    left running, counted against ``in_flight`` until they end."""
    loop = asyncio.get_running_loop()
    state = readers if readers is not None else Readers()
    reading, handed_back, finished, waiting = (state.reading, state.handed_back, state.finished,
                                               state.waiting)
    next_look = loop.time()
    while True:
        if loop.time() >= next_look:
            next_look = loop.time() + tick
            at = clock()
            due, early = due_and_early(followers.intervals(live), resolver, at)
            due = [job for job in due if job[0] not in reading]
            early = [job for job in early if job[0] not in reading]
            handed_back.intersection_update(alias for alias, _ in (*due, *early))
            plan = resolver.plan(due, at, handed_back, early=early, readers=in_flight)
            waiting[:] = reversed([*plan.sweeps, *plan.reads])
            room = max(0, in_flight - state.busy)
            # Behind every alias read (taken last): a version is read with a reader to spare.
            versions = [VersionRead(key) for key in resolver.due_versions(at, live)
                        if key not in state.versions]
            waiting[:0] = reversed(versions)
            if (len(waiting) - len(versions) > room) != state.behind:
                state.behind = not state.behind
                if state.behind:
                    logger.warning("alias reads fall behind: %d due aliases wait for one of %d "
                                   "readers, so they are read later than their "
                                   "aliasRefreshInterval (a slow MLflow, or more aliases than "
                                   "the readers can read in an interval)",
                                   sum(_size(job) for job in
                                       waiting[len(versions):len(waiting) - room]),
                                   in_flight)
                else:
                    logger.info("alias reads caught up")
        finished.clear()
        while waiting and state.busy < in_flight:
            job = waiting.pop()
            done = partial(_read_done, state, job)
            read: asyncio.Future[Any]
            try:
                if isinstance(job, Sweep):
                    read = loop.run_in_executor(executor, resolver.sweep, job, clock())
                    done = partial(_sweep_done, state, done)
                elif isinstance(job, VersionRead):
                    read = loop.run_in_executor(executor, resolver.reread_version, job.key,
                                                clock())
                    state.versions.add(job.key)
                else:
                    # A handed-back alias may have been answered early: read it all the same.
                    ahead = job[1] * SWEEP_AHEAD if job[0] in handed_back else dt.timedelta(0)
                    read = loop.run_in_executor(executor, resolver.refresh, *job, clock(),
                                                ahead)
                    handed_back.discard(job[0])
            except RuntimeError:  # the pool was shut down: the operator is stopping
                return
            state.busy += 1
            reading.update(alias for alias, _ in _aliases(job))
            read.add_done_callback(done)
        # Not ``asyncio.wait_for``: on Python 3.11 a cancel that came as a reader finished was
        # lost (it returned the finished wait), and a cancelled poller went on looking.
        woken = asyncio.ensure_future(finished.wait())
        try:
            await asyncio.wait({woken}, timeout=max(0.0, next_look - loop.time()))
        finally:
            woken.cancel()


def _aliases(job: _Job) -> tuple[DueAlias, ...]:
    if isinstance(job, VersionRead):
        return ()
    return job.aliases if isinstance(job, Sweep) else (job,)


def _size(job: _Job) -> int:
    return len(_aliases(job))


def _read_done(state: Readers, job: _Job, done: asyncio.Future[Any]) -> None:
    state.reading.difference_update(alias for alias, _ in _aliases(job))
    state.busy -= 1
    state.finished.set()
    if isinstance(job, VersionRead):
        state.versions.discard(job.key)
        if not done.cancelled() and done.exception() is not None:
            logger.error("re-reading version %s of %s failed", job.key[2], job.key[1],
                         exc_info=done.exception())
        return
    if not done.cancelled() and done.exception() is not None:
        # The resolver turns MLflow's failures into answers; anything else is a bug to see.
        first, _ = _aliases(job)[0]
        logger.error("re-reading alias %s of %s%s failed", first[2], first[1],
                     f" and {_size(job) - 1} more in one sweep" if _size(job) > 1 else "",
                     exc_info=done.exception())


def _sweep_done(state: Readers, then: Callable[[asyncio.Future[Any]], None],
                done: asyncio.Future[Any]) -> None:
    """The aliases a sweep hands back (moved, gone, failing, or all of them: the sweep failed)
    are read next, each by itself, before the next look."""
    if not done.cancelled() and done.exception() is None:
        back: list[DueAlias] = done.result()
        state.handed_back.update(alias for alias, _ in back)
        state.waiting.extend(reversed(back))
    then(done)


def start(memo: kopf.Memo, *, restart_after: float = RESTART_AFTER_SECONDS) -> None:
    """Once, at start-up, on the event loop (``handlers.lifecycle.share_process_state``): the
    polling task runs, its reads on the alias readers' pool (``handlers.lifecycle.configure``)."""
    if memo.get("alias_polling") is not None:
        return
    deps = memo["uplift_dependencies"]
    readers = Readers()  # across restarts: a failed run's reads still end there
    # A followed version's read found it changed: its followers' passes say so (they run no
    # pass at rest), woken on the event loop from the reader's thread.
    loop, wakeups = asyncio.get_running_loop(), memo.get("wakeups")
    if isinstance(deps.resolver, Resolver) and wakeups is not None:
        def wake(follower: Hashable) -> None:
            loop.call_soon_threadsafe(wakeups.wake, follower)

        deps.resolver.versions_moved.append(wake)
    memo["alias_polling"] = asyncio.create_task(_supervised(
        lambda: poll_aliases(alias_followers(memo), deps.resolver, memo["alias_executor"],
                             memo["wakeups"].__contains__, readers=readers),
        restart_after), name="alias-polling")


async def _supervised(polling: Callable[[], Coroutine[Any, Any, None]],
                      restart_after: float) -> None:
    """Run ``polling`` until it returns (its pool shut down) or is cancelled (``stop``); one
    that raises is logged and started again after ``restart_after`` seconds, with the reads
    it left running still counted (``Readers``). Unsupervised, an unexpected exception ended
    alias polling, silently, for the rest of the process's life: no follower of an alias saw
    it move again until a restart."""
    while True:
        try:
            await polling()
            return
        except Exception:
            logger.exception("alias polling failed; it starts again in %gs", restart_after)
        await asyncio.sleep(restart_after)


@kopf.on.cleanup(id="stop_alias_polling")  # kopf runs one handler per id and activity
async def stop(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("alias_polling")
    if isinstance(task, asyncio.Task):
        task.cancel()
