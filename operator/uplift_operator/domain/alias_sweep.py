"""Whether the due aliases of one registry are read together, by one sweep of its registered
models, or each by itself.

Reading an alias by itself costs one request, and the poller reads ``readers`` (4) of them at
once. A sweep (``MlflowRegistry.registered_aliases``) costs one request per page of the
registry's registered models (1,000 a page), listed one after the other on one reader, however
many aliases it answers; an alias whose version it shows unchanged needs nothing more, and one
it cannot vouch for (moved, gone, failing, its model re-created) is then read by itself, as
without a sweep. A registry is swept when that is no slower than the reads it replaces and asks
fewer requests: pages × readers ≤ the aliases it can answer, and pages below them, and its
last sweep's wall time (``SweepRecord.took``) no longer than their reads would take on the
readers (the caller's measured read time × aliases / readers: search pages can be much
slower than alias reads); a sweep
never lists more pages than that allows (its ``budget``), nor ``MAX_SWEEP_PAGES``. 2,000
aliases on a registry of 2,500 models cost 3 requests a round instead of 2,000; a registry of
100,000 models followed by 30 aliases keeps its 30 reads.

Aliases the sweep can answer are the caller's to tell (``Resolver.plan`` leaves out those a
sweep always hands back: failing, not READY, MLflow's built-in ``latest``, or handed back by a
sweep and found unchanged by their own read): they alone count. When a registry is swept, its
answerable aliases due within the next ``SWEEP_AHEAD`` of their interval (``early``) are
answered too and count too: aliases first read at different moments (start-up, new followers)
would otherwise stay in as many groups, each swept on its own at its own second; after one
round they share one sweep, and a registry is swept at most about twice per interval.

What a sweep costs is known from the registry's last one (``SweepRecord``). Before any, or once
that record is old (the registry may have grown or shrunk), a sweep is tried from
``FIRST_SWEEP_AT`` answerable aliases on. A sweep that stops at its budget with more to list
answered nothing: its pages come on top of the reads (at most budget = answerable / readers
pages, a quarter more requests that round), and the registry is then known to take at least a
page more, which rules a sweep out until the aliases grow or the record is forgotten. A sweep
that failed is not tried again for ``SWEEP_RETRY_AFTER``: its aliases are read one by one
meanwhile.

A sweep sees only what the search reply carries (each model's aliases, their version numbers,
the model's creation time): a version's run id or status changing without its number moving,
or an older model renamed onto the followed name with the alias on the same version number,
is never seen by it. So a sweep vouches for an alias for at most ``SWEEP_VOUCH_LIMIT`` after
the alias's own last read (``own_read_due``); past that the alias is read by itself, which sees
them, and vouching starts again from that read.

Pure: the time is passed in; the registry key and the alias are whatever the caller uses.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["FIRST_SWEEP_AT", "MAX_SWEEP_PAGES", "SWEEP_AHEAD", "SWEEP_ALWAYS_FAST",
           "SWEEP_RECORD_KEPT",
           "SWEEP_RETRY_AFTER", "SWEEP_VOUCH_LIMIT", "AliasListing", "Round", "Sweep",
           "SweepRecord", "own_read_due", "phase_of", "plan_round", "recorded"]

#: Answerable aliases of one registry before a sweep of it is tried with no page count known.
FIRST_SWEEP_AT = 8
#: The most pages one sweep lists (1,000 models each): a bigger registry is read alias by alias.
MAX_SWEEP_PAGES = 50
#: A sweep also answers the aliases due within this part of their interval, so that aliases
#: due at different moments come to share one sweep.
SWEEP_AHEAD = 0.5
#: How long what a sweep found out about a registry's size is believed.
SWEEP_RECORD_KEPT = dt.timedelta(hours=1)
#: A sweep that took no longer than this is never too slow (the poller looks once a second):
#: only a longer one is compared with the reads it replaces.
SWEEP_ALWAYS_FAST = dt.timedelta(seconds=1)
#: After a sweep failed, its registry's aliases are read one by one for this long.
SWEEP_RETRY_AFTER = dt.timedelta(minutes=5)
#: The longest sweeps vouch for an alias without a read of its own. A sweep sees version
#: numbers only: a run id or status changed under the same number (or an older model renamed
#: onto the name, its alias on the same number) shows only to the alias's own read. An hour
#: bounds how long such a change goes unseen, at about one read per alias an hour (each
#: after 45 to 60 minutes, ``own_read_due``, so that they spread): 5,000 aliases cost ~1.6
#: reads/s, against 83/s without sweeps at the default 1m refresh.
SWEEP_VOUCH_LIMIT = dt.timedelta(hours=1)

R = TypeVar("R", bound=Hashable)
A = TypeVar("A")


@dataclass(frozen=True)
class AliasListing:
    """Every registered model's aliases as one sweep of the registry listed them: model name →
    {alias: version}; ``created``: model name → when MLflow created the registered model
    (its ``creation_timestamp``, ms; absent when it gave none). ``pages``: the requests it
    took. ``complete`` is False when it stopped after its page budget with more models to list:
    ``aliases`` then holds only those listed."""

    aliases: Mapping[str, Mapping[str, str]]
    pages: int
    complete: bool = True
    created: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepRecord:
    """What the last sweep of a registry found out, ``at`` when: the requests a sweep of it
    takes (``pages``; at least that many when the sweep stopped at its budget), how long it
    took (``took``, wall time: its pages are listed one after the other), or that it
    failed."""

    at: dt.datetime
    pages: int = 0
    failed: bool = False
    took: dt.timedelta = dt.timedelta(0)


@dataclass(frozen=True)
class Sweep(Generic[R, A]):
    """One sweep of ``registry`` answering ``aliases`` (its due ones, the most overdue first,
    then those due soon), in at most ``budget`` requests."""

    registry: R
    aliases: tuple[A, ...]
    budget: int


@dataclass(frozen=True)
class Round(Generic[R, A]):
    """The due aliases' reads: ``sweeps`` (in the order of their most overdue alias), then
    ``reads``, the aliases read one by one (in the order they came)."""

    sweeps: tuple[Sweep[R, A], ...]
    reads: tuple[A, ...]


def recorded(pages: int, complete: bool, at: dt.datetime,
             took: dt.timedelta = dt.timedelta(0)) -> SweepRecord:
    """The record of a sweep that took ``pages`` requests and ``took`` long: when it stopped
    at its budget with more to list (not ``complete``), the registry takes at least one
    request more."""
    return SweepRecord(at, pages if complete else pages + 1, took=took)


def phase_of(name: str) -> float:
    """A fraction in [0, 1) fixed by ``name`` (the same in every process and replica): how
    early in its last quarter of ``SWEEP_VOUCH_LIMIT`` the alias so named gets its own read."""
    return zlib.crc32(name.encode()) / 2**32


def own_read_due(read_at: dt.datetime, phase: float,
                 limit: dt.timedelta = SWEEP_VOUCH_LIMIT) -> dt.datetime:
    """When an alias last read by itself at ``read_at`` must be read by itself again, sweeps
    vouching for it meanwhile: between three quarters of ``limit`` and ``limit`` after
    ``read_at``, ``phase`` of the way back from ``limit``. With ``limit`` alone the reads
    would come due as bunched as the last own reads were, and those come in a burst at
    start-up, when every follower's first pass reads its alias: 5,000 reads in the same
    minute every hour. Spread over the last quarter, that burst's reads come over 15 minutes
    (~6 a second at 5,000 aliases, a fraction of what the readers take), and as each alias
    keeps its own period the reads spread further each hour. An alias is read about 1.15
    times a ``limit`` (the mean of 1 / (1 - phase / 4)), and never soon after a read of its
    own."""
    return read_at + limit * (1 - phase / 4)


def plan_round(due: Sequence[tuple[R | None, A]], records: Mapping[R, SweepRecord],
               at: dt.datetime, *, early: Sequence[tuple[R, A]] = (), readers: int = 1,
               first_sweep_at: int = FIRST_SWEEP_AT,
               max_pages: int = MAX_SWEEP_PAGES,
               read_takes: Mapping[R, dt.timedelta] | None = None) -> Round[R, A]:
    """How to read the ``due`` aliases at ``at``: each comes with its registry, or None when it
    is to be read by itself whatever its registry's (its client cannot sweep, or a sweep could
    not answer it). ``early``: aliases a sweep could answer that are due soon (never read
    here). A registry with a due alias is swept when its answerable aliases (due and early)
    number at least ``readers`` × its last known page count and more than that count (with
    none known, at least ``first_sweep_at``), in at most that number / ``readers`` pages
    (and fewer than that number), never over ``max_pages``; every other due alias is read by
    itself. ``read_takes``: how long one alias read of a registry takes (as last measured):
    a registry whose last sweep took longer than its answerable aliases' reads on ``readers``
    would (slow search pages) is not swept while that record is believed: its aliases,
    in flight for the whole sweep, would be told a move only once its last page came."""
    grouped: dict[R, list[A]] = {}
    for registry, alias in due:
        if registry is not None:
            grouped.setdefault(registry, []).append(alias)
    coming: dict[R, list[A]] = {}
    for registry, alias in early:
        if registry in grouped:
            coming.setdefault(registry, []).append(alias)
    sweeps: list[Sweep[R, A]] = []
    for registry, aliases in grouped.items():
        answerable = [*aliases, *coming.get(registry, ())]
        budget = min(len(answerable) // max(readers, 1), len(answerable) - 1, max_pages)
        record = _current(records.get(registry), at)
        read_takes_ = (read_takes or {}).get(registry)
        if (record is not None and read_takes_ is not None
                and record.took > max(SWEEP_ALWAYS_FAST,
                                      read_takes_ * len(answerable) / max(readers, 1))):
            continue  # slower than the reads it replaces
        if _sweep_pays(len(answerable), budget, record, first_sweep_at):
            sweeps.append(Sweep(registry, tuple(answerable), budget))
    swept = {sweep.registry for sweep in sweeps}
    reads = tuple(alias for registry, alias in due if registry is None or registry not in swept)
    return Round(tuple(sweeps), reads)


def _current(record: SweepRecord | None, at: dt.datetime) -> SweepRecord | None:
    """``record`` while it is still believed at ``at``."""
    if record is None:
        return None
    kept = SWEEP_RETRY_AFTER if record.failed else SWEEP_RECORD_KEPT
    return record if at - record.at < kept else None


def _sweep_pays(answerable: int, budget: int, record: SweepRecord | None,
                first_sweep_at: int) -> bool:
    if budget < 1:
        return False
    if record is None:
        return answerable >= max(first_sweep_at, 2)
    return not record.failed and record.pages <= budget
