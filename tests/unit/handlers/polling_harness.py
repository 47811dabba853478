"""The alias poller (``handlers.registry_polling.poll_aliases``) run by a test that decides on
what the poller did, never on how long the wall clock ran: its ``Readers`` (the reads in
flight and waiting) and its looks (counted at ``Resolver.plan``, called once a look) say when
it is idle, and a clock of the test's moves on only once the poller looked at its reading and
went idle. A harness that waited for MLflow to be asked nothing for 0.15 s, or ran the
poller's clock at 100 times the wall's, decided a round's requests by the machine's load: on
a busy CI runner the reads a failed sweep handed back had not started within the quiet window.

The resolver's stopwatch (``time.monotonic`` in ``services.resolution``: how long a sweep or
a read took) stands still too: a sweep that a loaded machine stalled past
``SWEEP_ALWAYS_FAST`` was found slower than the reads it replaces and not planned for an hour
(``domain.alias_sweep.plan_round``), and a read stalled past a second was stamped a second
late."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

from uplift_operator.handlers.registry_polling import Readers
from uplift_operator.services import resolution
from uplift_operator.services.resolution import Resolver

#: How long a harness waits for the poller at most (``until_idle``: for it to make any
#: progress): it bounds a failing run only.
DEADLINE_SECONDS = 20.0
#: How long ``until_idle`` waits for a poller that keeps asking and never goes idle (a broken
#: one): a round of 2,000 reads takes ~5 s on a loaded CI runner.
BUSY_LIMIT_SECONDS = 120.0


class Looks:
    """The poller's looks for due aliases: how many, and its clock's reading at the last."""

    def __init__(self) -> None:
        self.count = 0
        self.at: dt.datetime | None = None


@contextlib.contextmanager
def watched(resolver: Resolver) -> Iterator[Looks]:
    """Count the looks of a poller planning with ``resolver`` (one ``plan`` a look), with the
    resolver's stopwatch standing still (every read and sweep took no time)."""
    looks, plan = Looks(), resolver.plan

    def counted(due: Any, at: dt.datetime, *args: Any, **kwargs: Any) -> Any:
        looks.count += 1
        looks.at = at
        return plan(due, at, *args, **kwargs)

    with mock.patch.object(resolver, "plan", counted), \
            mock.patch.object(resolution, "time", SimpleNamespace(monotonic=lambda: 0.0)):
        yield looks


def _idle(readers: Readers) -> bool:
    """No read in flight on the poller's pool, none waiting for a reader (a sweep's hand-back
    is queued before its reader is freed: ``registry_polling._sweep_done``)."""
    return readers.busy == 0 and not readers.waiting


async def until_idle(readers: Readers, looks: Looks, asked: Callable[[], int], *,
                     quiet_looks: int = 3, after: int = 0,
                     deadline: float = DEADLINE_SECONDS) -> None:
    """Return once the poller has looked after its ``after``-th look, is idle and has looked
    ``quiet_looks`` more times since it was last seen busy or asking MLflow anything
    (``asked``: the requests made so far); ``quiet_looks`` 0: as soon as it is seen idle
    after such a look, asking nothing since it was last seen. A look plans and hands out its
    reads before the poller awaits anything, so a look that found work is seen busy, or
    asking. Raises AssertionError once it made no progress (a request, a read ended or handed
    out) for ``deadline`` seconds (a slow machine slows a round of 2,000 reads down, it does
    not fail it), or was not idle after ``BUSY_LIMIT_SECONDS``."""
    loop = asyncio.get_running_loop()
    mark, calls = -1, None
    seen, progressed = None, loop.time()
    give_up = progressed + BUSY_LIMIT_SECONDS
    while True:
        await asyncio.sleep(0.002)
        if looks.count > after and _idle(readers) and asked() == calls:
            if looks.count - mark >= quiet_looks:
                return
        else:
            mark, calls = looks.count, asked()
        now = (asked(), readers.busy, len(readers.waiting))
        if now != seen:
            seen, progressed = now, loop.time()
        if loop.time() - progressed > deadline or loop.time() > give_up:
            raise AssertionError(f"the poller not idle: {readers.busy} reads in flight, "
                                 f"{len(readers.waiting)} waiting, {looks.count} looks, "
                                 f"{loop.time() - progressed:.1f}s without progress")


async def step_clock(clock: list[dt.datetime], end: dt.datetime, step: dt.timedelta,
                     readers: Readers, looks: Looks, asked: Callable[[], int]) -> None:
    """Move ``clock[0]`` on by ``step`` until ``end`` (included), each time once the poller
    looked at its reading and went idle: a look each step, whatever the machine's load, and
    every read of a step over (MLflow answers at once on the poller's clock) before the
    next."""
    while True:
        await until_idle(readers, looks, asked, quiet_looks=0, after=looks.count)
        if clock[0] >= end:
            return
        clock[0] += step
