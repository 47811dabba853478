"""domain.budget's memory of a period's spend per runtime ledger (``status.budgetLedgers``):
each reading merged with the record, so spend Prometheus no longer holds (past its retention,
a Prometheus replaced) still counts, and the record stays bounded without ever lowering the
spend judged."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from uplift_operator.api.v1alpha1.campaign import BudgetLedgers, CampaignGate, FoldedLedger
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain.budget import merge_ledgers, recorded_spend, remembered
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import BudgetMeasurement

START = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)
NEXT = START + dt.timedelta(days=7)


def record(ledgers: dict[str, float], carried: float = 0.0,
           start: dt.datetime = START) -> BudgetLedgers:
    return BudgetLedgers(period_start=start, ledgers=ledgers, carried=carried)


def folds(*entries: tuple[str, float]) -> list[FoldedLedger]:
    """``status.budgetLedgers.folded``: (ledger, figure counted in carried), oldest first."""
    return [FoldedLedger(ledger=ledger, spend=spend) for ledger, spend in entries]


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
    # A non-finite figure is no reading; a negative one counts as nothing, and nothing is not
    # recorded.
    (record({"a": 10.0}), START, {"a": float("nan"), "b": -1.0}, {"a": 10.0}, 0.0, 10.0),
    # A ledger read at 0 (an idle replica's) takes no room: absent means 0; a 0 recorded
    # before goes too; a recorded ledger read at 0 keeps its figure.
    (record({"a": 0.0, "b": 3.0}), START, {"b": 0.0, "c": 0.0, "d": 2.0}, {"b": 3.0, "d": 2.0},
     0.0, 5.0),
])
def test_merge(before: BudgetLedgers | None, start: dt.datetime, read: dict[str, float],
               ledgers: dict[str, float], carried: float, spend: float) -> None:
    merged, judged = merge_ledgers(before, start, read)
    assert merged == BudgetLedgers(period_start=start, ledgers=ledgers, carried=carried)
    assert judged == pytest.approx(spend)


def test_over_the_bound_the_smallest_gone_from_prometheus_are_folded_into_carried() -> None:
    before = BudgetLedgers(period_start=START, carried=2.0, folded=folds(("f", 2.0)),
                           ledgers={"old0": 1.0, "old1": 1.5, "old2": 1.0, "live": 4.0})
    merged, judged = merge_ledgers(before, START, {"live": 5.0, "new": 0.5}, most=4)
    # Five ledgers > 4: one absent one is folded (the smallest, then by id), with its figure.
    assert merged == BudgetLedgers(period_start=START, carried=3.0,
                                   folded=folds(("f", 2.0), ("old0", 1.0)),
                                   ledgers={"old1": 1.5, "old2": 1.0, "live": 5.0, "new": 0.5})
    assert judged == pytest.approx(2.0 + 1.0 + 1.5 + 1.0 + 5.0 + 0.5)
    # Within the bound nothing is folded.
    within, _ = merge_ledgers(before, START, {"live": 5.0}, most=4)
    assert within.carried == 2.0 and within.folded == folds(("f", 2.0))
    assert len(within.ledgers) == 4


def test_idle_ledgers_never_bring_the_record_to_the_bound() -> None:
    # Every live replica exports a ledger per budgeted campaign, idle or not.
    read = {f"idle{i}": 0.0 for i in range(10)} | {"a": 1.0, "b": 2.0}
    merged, judged = merge_ledgers(None, START, read, most=2)
    assert merged == record({"a": 1.0, "b": 2.0})
    assert judged == 3.0


def test_a_ledger_prometheus_holds_is_never_folded_so_nothing_is_counted_again() -> None:
    # Prometheus alone holds more than the bound: no ledger read is folded (the smallest are
    # counted, not recorded), so passes that read the same figures judge the same spend
    # (folding one it still holds would add it again at every pass).
    read = {f"r{i}": 1.0 for i in range(6)}
    first, spent = merge_ledgers(None, START, read, most=4)
    again, spent_again = merge_ledgers(first, START, read, most=4)
    assert spent == spent_again == pytest.approx(6.0)
    assert again == first and again.carried == 0.0 and again.folded == []


def test_beyond_the_crds_bound_the_smallest_are_counted_not_recorded() -> None:
    read = {"big": 9.0, "mid": 5.0, "small": 1.0}
    merged, judged = merge_ledgers(None, START, read, most=2)
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
        rec, judged = merge_ledgers(rec, START, read, most=3)
        assert judged >= last
        assert judged == pytest.approx(sum(float(i + 1) for i in range(n + 1)))
        assert len(rec.ledgers) <= 3
        last = judged


def test_a_folded_ledger_read_again_is_not_counted_again() -> None:
    folded = BudgetLedgers(period_start=START, ledgers={"live": 1.0}, carried=7.0,
                           folded=folds(("gone", 7.0)))
    merged, judged = merge_ledgers(folded, START, {"live": 1.0, "gone": 7.0}, most=1)
    assert judged == pytest.approx(8.0) and merged == folded
    merged, judged = merge_ledgers(folded, START, {"live": 1.0, "gone": 6.0}, most=1)
    assert judged == pytest.approx(8.0) and merged == folded  # a lower reading: nothing


def test_a_folded_ledger_that_grew_has_its_growth_counted_once() -> None:
    # Folded while still live (a partial answer left it out), it comes back with 9 > 7: the
    # 2 more go to carried and its figure is raised, so the same reading again adds nothing,
    # and a later growth adds only itself (the budget stopped late without it).
    folded = BudgetLedgers(period_start=START, ledgers={"live": 1.0}, carried=7.0,
                           folded=folds(("gone", 7.0)))
    grown, judged = merge_ledgers(folded, START, {"live": 1.0, "gone": 9.0}, most=1)
    assert judged == pytest.approx(10.0)
    assert grown == BudgetLedgers(period_start=START, ledgers={"live": 1.0}, carried=9.0,
                                  folded=folds(("gone", 9.0)))
    again, judged = merge_ledgers(grown, START, {"live": 1.0, "gone": 9.0}, most=1)
    assert judged == pytest.approx(10.0) and again == grown
    left_out, judged = merge_ledgers(again, START, {"live": 1.5}, most=1)
    assert judged == pytest.approx(10.5) and left_out.carried == 9.0
    _, judged = merge_ledgers(left_out, START, {"live": 1.5, "gone": 12.0}, most=1)
    assert judged == pytest.approx(13.5)


def test_a_folded_ledger_that_grew_is_the_newest_and_dropped_last() -> None:
    # It is evidently still shown now and then: dropped from folded, it would be counted
    # again in full at its next showing.
    rec = BudgetLedgers(period_start=START, ledgers={"live": 1.0}, carried=3.0,
                        folded=folds(("a", 1.0), ("b", 1.0), ("c", 1.0)))
    rec, _ = merge_ledgers(rec, START, {"live": 1.0, "a": 2.0}, most=2, folded_most=3)
    assert rec.folded == folds(("b", 1.0), ("c", 1.0), ("a", 2.0)) and rec.carried == 4.0
    rec, _ = merge_ledgers(rec, START, {"live": 1.0, "d": 1.0}, most=2, folded_most=3)
    rec, judged = merge_ledgers(rec, START, {"live": 1.0, "e": 1.0}, most=2, folded_most=3)
    assert rec.folded == folds(("c", 1.0), ("a", 2.0), ("d", 1.0))  # b dropped, not a
    assert rec.carried == 5.0 and judged == pytest.approx(5.0 + 1.0 + 1.0)


def test_folded_order_survives_the_api_servers_json() -> None:
    # The API server re-encodes a map with its keys sorted; a list keeps its order, so the
    # oldest entry is still the one dropped after a round trip through the Campaign's status.
    rec = BudgetLedgers(period_start=START, folded=folds(("z", 1.0), ("a", 2.0)), carried=3.0)
    wire = json.loads(json.dumps(rec.model_dump(mode="json", by_alias=True), sort_keys=True))
    assert wire["folded"] == [{"ledger": "z", "spend": 1.0}, {"ledger": "a", "spend": 2.0}]
    assert BudgetLedgers.model_validate(wire) == rec


@pytest.mark.parametrize("passes", [2, 3, 8, 21])
def test_ledgers_missing_again_and_again_never_grow_the_spend_past_the_true_one(
        passes: int) -> None:
    # Past the bound, ended ledgers that a partial answer (a Thanos querier's, an HA pair's
    # member that lost its data) shows on some readings and not on others: x on even passes,
    # y on odd ones, while four live ledgers grow. Each is folded once at most, and the spend
    # judged at every pass is the true one: the live ledgers' and the ended ones' seen so far.
    rec: BudgetLedgers | None = None
    dead = {"x": 10.0, "y": 3.0}
    seen: set[str] = set()
    for n in range(passes):
        live = {f"l{i}": float(n + i + 1) for i in range(4)}
        shown = "x" if n % 2 == 0 else "y"
        seen.add(shown)
        rec, judged = merge_ledgers(rec, START, live | {shown: dead[shown]}, most=5)
        true = sum(live.values()) + sum(dead[d] for d in seen)
        assert judged == pytest.approx(true)
        assert rec.carried <= sum(dead.values())
        assert len(rec.ledgers) <= 5
    assert rec is not None and rec.carried == 10.0 and rec.folded == folds(("x", 10.0))


def test_folded_ids_are_bounded_the_oldest_dropped_first() -> None:
    rec: BudgetLedgers | None = record({"live": 1.0})
    for n in range(4):  # one ledger more each pass, the one before gone: folded
        rec, _ = merge_ledgers(rec, START, {"live": 1.0, f"e{n}": 1.0}, most=2, folded_most=2)
    assert rec is not None
    assert rec.folded == folds(("e1", 1.0), ("e2", 1.0)) and rec.carried == 3.0
    assert rec.ledgers == {"live": 1.0, "e3": 1.0}
    # Beyond it, an id dropped from folded that Prometheus shows again is counted once more
    # (an over-count, which stops treating early): said in merge_ledgers' docstring.
    _, judged = merge_ledgers(rec, START, {"live": 1.0, "e3": 1.0, "e0": 1.0}, most=3,
                              folded_most=2)
    assert judged == pytest.approx(3.0 + 1.0 + 1.0 + 1.0)


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
    assert measured == dataclasses.replace(_measured(64.0, {"b": 4.0}), remembered=60.0)
    assert rec == record({"a": 60.0, "b": 4.0})


def test_the_budget_gate_says_how_much_of_the_spend_prometheus_no_longer_shows() -> None:
    """On-call compares the message with Prometheus: the record's share is named."""
    gate = CampaignGate.model_validate({"name": "budget", "type": "budget"})
    measured, _ = remembered(_measured(40.0, {"b": 40.0}), record({"a": 60.0, "b": 3.0}))
    outcome = evaluate_gate(gate, measured, None, NEXT - dt.timedelta(days=1))
    assert outcome.verdict is GateVerdict.FAIL
    assert ("spent 100 of 100 (100.0%) in the period 2026-03-08T00:00:00+00:00 – "
            "2026-03-15T00:00:00+00:00 (60 of it from status.budgetLedgers: spend Prometheus "
            "no longer shows, 40 as it shows now)") in outcome.message
    plain, _ = remembered(_measured(40.0, {"b": 40.0}), record({"b": 3.0}))
    assert "budgetLedgers" not in evaluate_gate(gate, plain, None, NEXT).message


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
    assert measured.remembered == judged - counter
    assert rec is kept  # no ledgers read: the record is left as it is
