"""Shared registry polling: one MLflow read per followed alias and refresh interval, however many
UpliftModels follow it, and a pass only for the followers of an alias whose answer changed.

The followed aliases are what the followers' last passes found (``handlers.watches.
AliasFollowers``), each with the shortest ``aliasRefreshInterval`` among its followers. One task
looks every ``POLL_TICK_SECONDS`` for those due (``Resolver.next_refresh``) and re-reads them
in the pass pool (``Resolver.refresh``, with the client a follower's pass last used). A read
that finds another version, or that starts or stops failing, tells the resolver's ``moved``,
which wakes exactly the followers (``watches.alias_followers``). Followers themselves are due
for nothing at rest (``services.upliftmodel._next_pass``): with nothing changing, no pass runs.
Only aliases with a running waiting task (``Wakeups``) are read: a replica that peering paused
reads nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from functools import partial
from typing import Any

import kopf

from uplift_operator.handlers.common import now
from uplift_operator.handlers.scheduling import Key
from uplift_operator.handlers.watches import AliasFollowers, alias_followers
from uplift_operator.services.resolution import AliasKey, Resolver

__all__ = ["POLL_TICK_SECONDS", "due_aliases", "poll_aliases", "start"]

logger = logging.getLogger(__name__)

#: How often due aliases are looked for: a refresh comes up to this late.
POLL_TICK_SECONDS = 1.0


def due_aliases(followed: Mapping[AliasKey, dt.timedelta], resolver: Resolver,
                at: dt.datetime) -> list[tuple[AliasKey, dt.timedelta]]:
    """The followed aliases whose answer is due to be read again at ``at``."""
    return [(alias, interval) for alias, interval in sorted(followed.items())
            if resolver.next_refresh(alias, interval) <= at]


async def poll_aliases(followers: AliasFollowers, resolver: Resolver, executor: Executor,
                       live: Callable[[Key], bool], *, tick: float = POLL_TICK_SECONDS,
                       clock: Callable[[], dt.datetime] = now) -> None:
    """Re-read every due followed alias, each at most once at a time, until cancelled."""
    loop = asyncio.get_running_loop()
    reading: set[AliasKey] = set()
    while True:
        followed = followers.intervals(live)
        at = clock()
        for alias, interval in due_aliases(followed, resolver, at):
            if alias in reading:
                continue
            try:
                read = loop.run_in_executor(executor, resolver.refresh, alias, interval, at)
            except RuntimeError:  # the pool was shut down: the operator is stopping
                return
            reading.add(alias)
            read.add_done_callback(partial(_read_done, reading, alias))
        await asyncio.sleep(tick)


def _read_done(reading: set[AliasKey], alias: AliasKey, done: asyncio.Future[Any]) -> None:
    reading.discard(alias)
    if not done.cancelled() and done.exception() is not None:
        # The resolver turns MLflow's failures into answers; anything else is a bug to see.
        logger.error("re-reading alias %s of %s failed", alias[2], alias[1],
                     exc_info=done.exception())


def start(memo: kopf.Memo) -> None:
    """Once, at start-up, on the event loop (``handlers.lifecycle.share_process_state``): the
    polling task runs."""
    if memo.get("alias_polling") is not None:
        return
    deps = memo["uplift_dependencies"]
    memo["alias_polling"] = asyncio.create_task(poll_aliases(
        alias_followers(memo), deps.resolver, memo["pass_executor"],
        memo["wakeups"].__contains__), name="alias-polling")


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("alias_polling")
    if isinstance(task, asyncio.Task):
        task.cancel()
