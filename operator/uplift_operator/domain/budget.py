"""A Campaign's budget period: where the current one starts and ends, as the runtime counts it.

Role: one formula shared by the budget gate's collector (the PromQL range of the period's
spend) and the exposure logic (how long a campaign whose budget is spent stays suspended).
The runtime computes the same (``docs/runtime.md`` "Budget"): periods of ``budgetPeriod`` from
``spec.schedule.start`` (else ``metadata.creationTimestamp``),
``[anchor + k·period, anchor + (k+1)·period)``; without ``budgetPeriod`` the whole campaign is
one period. No I/O, no clock.

And the operator's memory of a period's spend (``status.budgetLedgers``, ``merge_ledgers``):
Prometheus keeps a ledger's series only for its retention, so the spend of a replica that
restarted long ago in a campaign-wide (or long) period, or of every ledger once Prometheus lost
its TSDB, would otherwise leave the sum, and the budget open again. A budget removed and set
again counts from when it was set again (``counted_from``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping

from uplift_operator.api.v1alpha1.campaign import (
    BUDGET_LEDGERS_FOLDED_MAX,
    BUDGET_LEDGERS_MAX,
    BudgetLedgers,
    FoldedLedger,
)
from uplift_operator.api.v1alpha1.common import parse_duration
from uplift_operator.domain.measurements import BudgetMeasurement

__all__ = ["counted_from", "current_period", "merge_ledgers", "recorded_spend", "remembered"]


def current_period(budget_period: str | None, anchor: dt.datetime,
                   now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """(start, end) of the budget period containing ``now``; end None without ``budgetPeriod``.
    ``anchor`` is the campaign's schedule start or creation time (UTC when it has no zone)."""
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=dt.UTC)
    if budget_period is None:
        return anchor, None
    length = parse_duration(budget_period)
    if length <= dt.timedelta(0):
        raise ValueError(f"budgetPeriod must be positive, got {budget_period!r}")
    k = math.floor((now - anchor) / length)
    start = anchor + k * length
    return start, start + length


def counted_from(period_start: dt.datetime, since: dt.datetime | None) -> dt.datetime:
    """From when the budget gates read the current period's spend: the period's start, or
    ``since`` when later (``status.budgetSince``: when the budget was set, recorded with
    ``status.budgetAnchor``). A budget removed and set again within a period is counted afresh:
    the removed budget's ledgers ended when the replicas applied its removal, before it was set
    again, and Prometheus' last values of them (kept for the rest of the period) are left out,
    whatever the new budget's period (a longer one starts before the old one did, so their
    period start alone would not tell them apart)."""
    if since is None:
        return period_start
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return max(period_start, since)


def recorded_spend(record: BudgetLedgers | None, period_start: dt.datetime) -> float:
    """What ``record`` holds of the period starting at ``period_start`` (0: another period's,
    or none)."""
    if record is None or record.period_start != period_start:
        return 0.0
    return math.fsum([*record.ledgers.values(), record.carried])


def merge_ledgers(record: BudgetLedgers | None, period_start: dt.datetime,
                  read: Mapping[str, float], *, most: int = BUDGET_LEDGERS_MAX,
                  folded_most: int = BUDGET_LEDGERS_FOLDED_MAX) -> tuple[BudgetLedgers, float]:
    """The record of the period after a reading of its ledgers (``read``: ledger → its last
    spend in the period, as Prometheus holds it now), and the spend to judge.

    A ledger's spend in a period only grows (the runtime starts a new ledger, never resets
    one), so each ledger keeps the larger of its recorded and read figure, and a ledger absent
    from the reading (its series past Prometheus' retention, or a Prometheus that lost them)
    keeps its recorded one: the period's spend never goes down for what Prometheus forgot. A
    ledger read at 0 (every idle replica exports one) is not recorded: absent means 0, so it
    takes no room. A record of another period (``period_start`` differs: the period rolled
    over) is not this one's money: the record starts afresh.

    Exact up to ``most`` ledgers (the CRD's bound, far past any real period: a ledger is one
    replica process × one load of the entry). Beyond it, the smallest ledgers absent from the
    reading are folded into ``carried``, as many as the bound needs, each kept in ``folded``
    with the figure folded (the newest ``folded_most``, oldest first). A later reading of a
    folded ledger adds to ``carried`` only what it reads above that figure, and raises the
    figure (the ledger then the newest): a ledger that a partial answer (a Thanos querier's, an
    HA pair's member that lost its data) leaves out now and then is counted once however often
    it is left out (without the entries it would be folded again at each absence, and the
    spend judged would grow without limit), and one folded while still live has its later
    spend counted: never twice, never lost. ``folded`` is a list, not a map: the API server
    keeps a list's order (a map's keys come back sorted), so the oldest entry is the one
    dropped. What remains inexact, past ``folded_most`` folded ledgers in a period only: one
    dropped from ``folded`` that Prometheus shows again is counted again (an over-count: stops
    treating early, never late). A ledger Prometheus holds is never folded. Beyond ``most``
    ledgers read at once, the smallest are left out of the record: counted, as before this
    record, while Prometheus holds them. The spend returned is the record's total plus
    those."""
    base = (record if record is not None and record.period_start == period_start
            else BudgetLedgers(period_start=period_start))
    folded = {entry.ledger: entry.spend for entry in base.folded}  # oldest first
    merged = {ledger: spend for ledger, spend in base.ledgers.items() if spend > 0}
    growth: list[float] = []
    for ledger, spend in read.items():
        if not (math.isfinite(spend) and spend > 0):
            continue
        counted = folded.get(ledger)
        if counted is None:
            merged[ledger] = max(merged.get(ledger, 0.0), spend)
        elif spend > counted:  # folded while still live: its growth, counted once
            growth.append(spend - counted)
            del folded[ledger]
            folded[ledger] = spend
    carried = math.fsum([base.carried, *growth])
    if len(merged) > most:
        gone = sorted((ledger for ledger in merged if ledger not in read),
                      key=lambda ledger: (merged[ledger], ledger))[:len(merged) - most]
        for ledger in gone:
            folded.pop(ledger, None)
            folded[ledger] = merged.pop(ledger)
        carried = math.fsum([carried, *(folded[ledger] for ledger in gone)])
    kept = list(folded.items())[-folded_most:] if folded_most > 0 else []
    unrecorded = 0.0
    if len(merged) > most:
        by_spend = sorted(merged, key=lambda ledger: (-merged[ledger], ledger))
        unrecorded = math.fsum(merged.pop(ledger) for ledger in by_spend[most:])
    merged_record = BudgetLedgers(
        period_start=period_start, ledgers=merged, carried=carried,
        folded=[FoldedLedger(ledger=ledger, spend=spend) for ledger, spend in kept])
    return merged_record, recorded_spend(merged_record, period_start) + unrecorded


def remembered(measured: BudgetMeasurement,
               record: BudgetLedgers | None) -> tuple[BudgetMeasurement, BudgetLedgers | None]:
    """A budget gate's reading merged with the record of the period (``merge_ledgers``): the
    measurement to judge, its spend the merged one, and the record to keep. A reading without
    ledgers (the counter's increase: a runtime without the period gauges) leaves the record as
    it is, and its spend is judged at no less than the record holds of the period. The
    measurement's ``remembered`` is what the record adds to the reading."""
    if measured.ledgers is None:
        floor = recorded_spend(record, measured.period_start)
        spend = max(measured.spend, floor)
        return dataclasses.replace(measured, spend=spend,
                                   remembered=spend - measured.spend), record
    merged, spend = merge_ledgers(record, measured.period_start, measured.ledgers)
    return dataclasses.replace(measured, spend=spend,
                               remembered=max(0.0, spend - measured.spend)), merged
