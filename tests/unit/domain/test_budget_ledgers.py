"""domain.budget's memory of a period's spend per runtime ledger (``status.budgetLedgers``):
each reading merged with the record, so spend Prometheus no longer holds (past its retention,
a Prometheus replaced) still counts, and the record stays bounded without ever lowering the
spend judged."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift_operator.api.v1alpha1.campaign import BudgetLedgers
from uplift_operator.domain.budget import merge_ledgers, recorded_spend, remembered
from uplift_operator.domain.measurements import BudgetMeasurement

START = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)
NEXT = START + dt.timedelta(days=7)


def record(ledgers: dict[str, float], carried: float = 0.0,
           start: dt.datetime = START) -> BudgetLedgers:
    return BudgetLedgers(period_start=start, ledgers=ledgers, carried=carried)


@pytest.mark.parametrize(("before", "start", "read", "ledgers", "carried", "spend"), [
    # First reading: the record is what was read.
    (None, START, {"a": 10.0, "b": 5.0}, {"a": 10.0, "b": 5.0}, 0.0, 15.0),
    # A ledger's spend grows: the larger figure.
    (record({"a": 10.0}), START, {"a": 12.5}, {"a": 12.5}, 0.0, 12.5),
    # A lower reading of the same ledger (a partial answer) lowers nothing.
    (record({"a": 10.0}), START, {"a": 7.0}, {"a": 10.0}, 0.0, 10.0),
    # A ledger gone from Prometheus keeps its recorded figure; a new one is added.
    (record({"a": 10.0, "b": 5.0}), START, {"b": 6.0, "c": 1.0},
     {"a": 10.0, "b": 6.0, "c": 1.0}, 0.0, 17.0),
    # Nothing of this period in Prometheus any more: the record alone.
    (record({"a": 10.0}, carried=3.0), START, {}, {"a": 10.0}, 3.0, 13.0),
    # A new period starts afresh: last period's ledgers and carried are not its money.
    (record({"a": 10.0, "b": 5.0}, carried=3.0), NEXT, {"c": 2.0}, {"c": 2.0}, 0.0, 2.0),
    # A non-finite figure is no reading; a negative one counts as nothing.
    (record({"a": 10.0}), START, {"a": float("nan"), "b": -1.0}, {"a": 10.0, "b": 0.0}, 0.0,
     10.0),
])
def test_merge(before: BudgetLedgers | None, start: dt.datetime, read: dict[str, float],
               ledgers: dict[str, float], carried: float, spend: float) -> None:
    merged, judged = merge_ledgers(before, start, read)
    assert merged == BudgetLedgers(period_start=start, ledgers=ledgers, carried=carried)
    assert judged == pytest.approx(spend)


def test_over_the_bound_the_ledgers_gone_from_prometheus_are_folded_into_carried() -> None:
    before = record({f"old{i}": 1.0 for i in range(3)} | {"live": 4.0}, carried=2.0)
    merged, judged = merge_ledgers(before, START, {"live": 5.0, "new": 0.5}, kept=4)
    # Five ledgers > 4: the three absent ones go into carried, those read stay.
    assert merged.ledgers == {"live": 5.0, "new": 0.5}
    assert merged.carried == pytest.approx(5.0)
    assert judged == pytest.approx(3.0 + 2.0 + 5.0 + 0.5)
    # Within the bound nothing is folded.
    within, _ = merge_ledgers(before, START, {"live": 5.0}, kept=4)
    assert within.carried == 2.0 and len(within.ledgers) == 4


def test_a_ledger_prometheus_holds_is_never_folded_so_nothing_is_counted_again() -> None:
    # Prometheus alone holds more than the bound: every ledger read stays in the record, so
    # passes that read the same figures judge the same spend (folding one it still holds would
    # add it again at every pass).
    read = {f"r{i}": 1.0 for i in range(6)}
    first, spent = merge_ledgers(None, START, read, kept=4)
    again, spent_again = merge_ledgers(first, START, read, kept=4)
    assert spent == spent_again == pytest.approx(6.0)
    assert again == first and again.carried == 0.0


def test_beyond_the_crds_bound_the_smallest_are_counted_not_recorded() -> None:
    read = {"big": 9.0, "mid": 5.0, "small": 1.0}
    merged, judged = merge_ledgers(None, START, read, kept=1, most=2)
    assert merged.ledgers == {"big": 9.0, "mid": 5.0}
    assert judged == pytest.approx(15.0)  # still counted while Prometheus holds it


@pytest.mark.parametrize("passes", range(1, 6))
def test_folding_never_lowers_the_sum(passes: int) -> None:
    # Ledgers come and go (a new replica each pass, the oldest leaving Prometheus): the spend
    # judged never drops, and each ledger's latest figure is in it exactly once while read.
    rec: BudgetLedgers | None = None
    last = 0.0
    for n in range(passes * 4):
        read = {f"l{i}": float(i + 1) for i in range(max(0, n - 2), n + 1)}
        rec, judged = merge_ledgers(rec, START, read, kept=3)
        assert judged >= last
        assert judged == pytest.approx(sum(float(i + 1) for i in range(n + 1)))
        assert len(rec.ledgers) <= 3
        last = judged


def test_a_folded_ledger_read_again_is_counted_twice_an_over_count() -> None:
    folded = record({"live": 1.0}, carried=7.0)  # "gone" (7.0) folded earlier
    _, judged = merge_ledgers(folded, START, {"live": 1.0, "gone": 7.0}, kept=1)
    assert judged == pytest.approx(15.0)  # over, never under: stops treating early


def test_recorded_spend_is_of_the_period_asked_only() -> None:
    rec = record({"a": 10.0, "b": 5.0}, carried=1.5)
    assert recorded_spend(rec, START) == 16.5
    assert recorded_spend(rec, NEXT) == 0.0
    assert recorded_spend(None, START) == 0.0


def _measured(spend: float, ledgers: dict[str, float] | None) -> BudgetMeasurement:
    return BudgetMeasurement(spend=spend, budget=100.0, period_start=START, period_end=NEXT,
                             cheapest=0.1, ledgers=ledgers)


def test_remembered_judges_the_merged_spend_and_returns_the_record() -> None:
    measured, rec = remembered(_measured(4.0, {"b": 4.0}), record({"a": 60.0, "b": 3.0}))
    assert measured == _measured(64.0, {"b": 4.0})
    assert rec == record({"a": 60.0, "b": 4.0})


@pytest.mark.parametrize(("counter", "kept", "judged"), [
    (20.0, record({"a": 60.0}), 60.0),  # the counter's increase below the record: the record
    (75.0, record({"a": 60.0}), 75.0),  # above it: the counter
    (20.0, record({"a": 60.0}, start=START - dt.timedelta(days=7)), 20.0),  # a past period's
    (20.0, None, 20.0),
])
def test_without_ledgers_the_spend_is_never_below_the_record(
        counter: float, kept: BudgetLedgers | None, judged: float) -> None:
    measured, rec = remembered(_measured(counter, None), kept)
    assert measured.spend == judged
    assert rec is kept  # no ledgers read: the record is left as it is
