"""Whether the due aliases of one registry are read together, by one sweep of its registered
models, or each by itself: whichever asks MLflow fewer requests.

Reading an alias by itself costs one request. A sweep (``MlflowRegistry.registered_aliases``)
costs one request per page of the registry's registered models (1,000 a page), however many
aliases it answers; an alias whose version it shows unchanged needs nothing more, and an alias
that moved, went or was failing is then read by itself, as without a sweep. 2,000 aliases on a
registry of 2,500 models cost 3 requests a round instead of 2,000; a registry of 100,000
models followed by 30 aliases keeps its 30 reads (a sweep would take 100).

What a sweep costs is known from the registry's last one (``SweepRecord``). Before any, or once
that record is old (the registry may have grown or shrunk), a sweep is tried only for at least
``FIRST_SWEEP_AT`` due aliases. A sweep never costs more requests than the reads it replaces:
it stops after one page fewer than its due aliases (``Sweep.budget``), and a registry it could
not list within that is then known to take at least one page more. A sweep that failed is not
tried again for ``SWEEP_RETRY_AFTER``: its aliases are read one by one meanwhile.

Pure: the time is passed in; the registry key and the alias are whatever the caller uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["FIRST_SWEEP_AT", "SWEEP_RECORD_KEPT", "SWEEP_RETRY_AFTER", "Round", "Sweep",
           "SweepRecord", "plan_round", "recorded"]

#: Due aliases of one registry before a sweep of it is tried with no page count known.
FIRST_SWEEP_AT = 8
#: How long what a sweep found out about a registry's size is believed.
SWEEP_RECORD_KEPT = dt.timedelta(hours=1)
#: After a sweep failed, its registry's aliases are read one by one for this long.
SWEEP_RETRY_AFTER = dt.timedelta(minutes=5)

R = TypeVar("R", bound=Hashable)
A = TypeVar("A")


@dataclass(frozen=True)
class SweepRecord:
    """What the last sweep of a registry found out, ``at`` when: the requests a sweep of it
    takes (``pages``; at least that many when the sweep stopped at its budget), or that it
    failed."""

    at: dt.datetime
    pages: int = 0
    failed: bool = False


@dataclass(frozen=True)
class Sweep(Generic[R, A]):
    """One sweep of ``registry`` answering ``aliases`` (the most overdue first), in at most
    ``budget`` requests: one fewer than reading them one by one."""

    registry: R
    aliases: tuple[A, ...]
    budget: int


@dataclass(frozen=True)
class Round(Generic[R, A]):
    """The due aliases' reads: ``sweeps`` (in the order of their most overdue alias), then
    ``reads``, the aliases read one by one (in the order they came)."""

    sweeps: tuple[Sweep[R, A], ...]
    reads: tuple[A, ...]


def recorded(pages: int, complete: bool, at: dt.datetime) -> SweepRecord:
    """The record of a sweep that took ``pages`` requests: when it stopped at its budget with
    more to list (not ``complete``), the registry takes at least one request more."""
    return SweepRecord(at, pages if complete else pages + 1)


def plan_round(due: Sequence[tuple[R | None, A]], records: Mapping[R, SweepRecord],
               at: dt.datetime, *, first_sweep_at: int = FIRST_SWEEP_AT) -> Round[R, A]:
    """How to read the ``due`` aliases at ``at``: each comes with its registry, or None when it
    is to be read by itself whatever its registry's (its client cannot sweep, or a sweep just
    handed it back as moved). A registry's due aliases go to one sweep when it costs fewer
    requests than reading them (its last known page count below their number, or, with none
    known, at least ``first_sweep_at`` of them); every other alias is read by itself."""
    grouped: dict[R, list[A]] = {}
    for registry, alias in due:
        if registry is not None:
            grouped.setdefault(registry, []).append(alias)
    swept = {registry: aliases for registry, aliases in grouped.items()
             if _sweep_pays(len(aliases), _current(records.get(registry), at), first_sweep_at)}
    sweeps = tuple(Sweep(registry, tuple(aliases), len(aliases) - 1)
                   for registry, aliases in swept.items())
    reads = tuple(alias for registry, alias in due if registry is None or registry not in swept)
    return Round(sweeps, reads)


def _current(record: SweepRecord | None, at: dt.datetime) -> SweepRecord | None:
    """``record`` while it is still believed at ``at``."""
    if record is None:
        return None
    kept = SWEEP_RETRY_AFTER if record.failed else SWEEP_RECORD_KEPT
    return record if at - record.at < kept else None


def _sweep_pays(due: int, record: SweepRecord | None, first_sweep_at: int) -> bool:
    if record is None:
        return due >= max(first_sweep_at, 2)
    return not record.failed and record.pages < due
