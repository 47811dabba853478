"""The graphs still rolling when the operator restarts count against the limit of the process
that follows (``services.rolls``, ``Rolls.found``): nothing is persisted, the new process reads
them from the graphs, at each model's first pass. Before: a fresh ``Rolls`` counted none of them,
so a restart mid-roll (a second upgrade, a failover to the standby replica) admitted ``limit``
re-renders on top of the ``limit`` graphs still rolling: twice the limit at once.

The fleet and its fake cluster are ``test_graph_rolls``'s; "Seldon" reports on request."""

from __future__ import annotations

import datetime as dt

from tests.unit.services.test_graph_rolls import SELDON, T0, Fleet, key, upgraded

from uplift_operator.render.seldon import rolling_deployments
from uplift_operator.services.rolls import ROLL_TIMEOUT, SILENT_SETTLE, Rolls

NAMES = ["a", "b", "c", "d", "e", "f"]


def restarted(fleet: Fleet, limit: int) -> None:
    """The operator process replaced: a fresh ``Rolls`` (and none of the old process's
    memory); the cluster, its graphs and their statuses as they were."""
    fleet.rolls = Rolls(limit)
    fleet.woken, fleet.timed_out = [], []
    fleet.rolls.on_change.append(fleet.woken.extend)
    fleet.rolls.on_timeout.append(fleet.timed_out.append)
    fleet.deps.rolls = fleet.rolls
    fleet.deps.decision_keys.clear()


def mid_roll(limit: int) -> Fleet:
    """Six models upgraded to ``runtime:2`` with ``limit`` 2: a and b applied, their pods
    rolling (Seldon says ``Creating``), c to f queued; then the process restarts, with the same
    settings (a failover): c to f still have a re-render to do."""
    fleet = upgraded(NAMES, limit)
    for name in NAMES:
        fleet.tick(name, 1)
    assert [n for n in NAMES if fleet.images(n) == {"runtime:2"}] == ["a", "b"]
    for name in ("a", "b"):
        fleet.seldon(name, "Creating")
        assert rolling_deployments(fleet.cluster.objects[(*SELDON, name)])
    restarted(fleet, limit)
    return fleet


def test_a_restart_mid_roll_counts_the_graphs_still_rolling_before_admitting_others() -> None:
    fleet = mid_roll(limit=2)
    rolling = {"a", "b"}  # the pods really rolling: from before the restart
    for name in NAMES:  # the new process's first passes, the rolling graphs' models first
        before = fleet.images(name)
        fleet.tick(name, 1)
        if fleet.images(name) != before:
            rolling.add(name)
    # Before: a and b were not counted; c and d took the two slots, four graphs rolling.
    assert rolling == {"a", "b"} and fleet.rolls.rolling() == 2
    for name in ("c", "d", "e", "f"):
        queued = fleet.condition(name)
        assert queued["reason"] == "RollQueued" and fleet.images(name) == {"runtime:1"}
        assert queued["message"].endswith("queued: 2 graphs rolling (limit 2)")

    # The rolls from before end as any roll: once Seldon reports the graph rolled, serving.
    fleet.tick("a", 30)  # still Creating: held
    assert fleet.rolls.rolling() == 2 and fleet.woken == []
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 1 and fleet.woken == [key("c")]
    fleet.tick("c", 1)  # woken: its re-render goes
    assert fleet.images("c") == {"runtime:2"} and fleet.rolls.rolling() == 2
    fleet.tick("d", 1)
    assert fleet.images("d") == {"runtime:1"}


def test_a_rolling_graph_whose_model_passes_late_is_counted_above_the_limit_then_waited_for(
        ) -> None:
    """The bound when passes come in another order: a re-render admitted before the pass of a
    model whose graph was rolling from before has found it rolls with it, limit + the rolls
    found late; nothing more is admitted until the count is below the limit again."""
    fleet = mid_roll(limit=2)
    fleet.tick("c", 1)  # first: a free slot, as far as this process knows
    assert fleet.images("c") == {"runtime:2"} and fleet.rolls.rolling() == 1
    fleet.tick("a", 1)
    fleet.tick("b", 1)  # found rolling: counted, above the limit
    assert fleet.rolls.rolling() == 3
    for name in ("d", "e", "f"):
        fleet.tick(name, 1)
        assert fleet.condition(name)["reason"] == "RollQueued"
    fleet.seldon("c")
    fleet.tick("c", 1)  # c's roll done: still two rolling, at the limit
    assert fleet.rolls.rolling() == 2 and fleet.woken == []
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 1 and fleet.woken == [key("d")]


def test_a_second_upgrade_mid_roll_re_renders_a_rolling_graph_in_the_slot_it_was_found_in(
        ) -> None:
    """An upgrade is when the restart happens: the graphs rolling from before have a
    re-render to do too. The model holds the slot its graph was found rolling in, so its new
    rendering goes at once, in that one slot; the others wait."""
    fleet = mid_roll(limit=2)
    fleet.deps.runtime_image = "runtime:3"
    for name in NAMES:
        fleet.tick(name, 1)
    assert [n for n in NAMES if fleet.images(n) == {"runtime:3"}] == ["a", "b"]
    assert (fleet.rolls.rolling(), fleet.rolls.waiting()) == (2, 4)
    fleet.tick("a", 1)  # Seldon has not reported on the new graph yet: held
    assert fleet.rolls.rolling() == 2
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 1 and fleet.woken == [key("c")]


def test_a_first_graph_or_a_canary_start_found_rolling_after_a_restart_counts_too() -> None:
    """What rolled it is not in the graph: a first graph or a new canary predictor whose pods
    start is counted as any roll found."""
    fleet = Fleet(["a", "b", "c"], limit=1)
    fleet.serving("a")
    fleet.serving("b")
    fleet.tick("c")  # c's first graph: applied, never counted, Seldon not reporting yet
    assert fleet.rolls.rolling() == 0
    fleet.registry.aliases[("hillstrom", "champion-b")] = "2"
    fleet.tick("b", 30)  # b's canary starts: its predictor's pods starting
    fleet.seldon("b", "Creating")
    assert fleet.rolls.rolling() == 0
    restarted(fleet, limit=1)
    fleet.deps.runtime_image = "runtime:2"
    fleet.tick("c", 1)  # no status from Seldon yet: a roll
    fleet.tick("b", 1)  # its canary's Deployment not available yet: a roll
    assert fleet.rolls.rolling() == 2
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "RollQueued" and fleet.images("a") == {"runtime:1"}


def test_a_graph_found_rolling_that_never_serves_frees_its_slot_quietly_after_the_timeout(
        ) -> None:
    """Not this process's roll (a crash-looping pod reads as rolling as well): the slot frees,
    but no RollTimedOut and no count, which say a re-render of the operator's did not serve."""
    fleet = mid_roll(limit=2)
    fleet.seldon("a", "Failed")
    first_look = fleet.now + dt.timedelta(seconds=1)
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    fleet.seldon("b")
    fleet.tick("b", 1)  # b's roll done
    fleet.tick("c", 1)
    assert fleet.rolls.rolling() == 2 and fleet.images("c") == {"runtime:2"}
    fleet.now = first_look + ROLL_TIMEOUT
    assert [e for e in fleet.tick("a").events if e.reason == "RollTimedOut"] == []
    assert fleet.timed_out == [] and fleet.rolls.rolling() == 1
    fleet.tick("a", 1)  # still not serving: not found again, not counted again
    assert fleet.rolls.rolling() == 1


# -- the component alone ---------------------------------------------------------------------------

def test_only_a_first_look_finds_a_roll() -> None:
    """A roll this process started it counts already (or, a first graph or a step that rolls
    nothing of what it keeps, does not count on purpose); one it looked at serving and rolled
    is not from before it."""
    rolls = Rolls(limit=2)
    a, b, c = key("a"), key("b"), key("c")
    rolls.started(a, T0, "5", pods=False)  # a first graph this process applied, its pods starting
    rolls.found(a, T0, version="5", rolling=True)
    rolls.found(b, T0, version="7", rolling=False)  # b serving and rolled at its first look
    rolls.found(b, T0 + dt.timedelta(seconds=5), version="8", rolling=True)
    assert rolls.rolling() == 0
    rolls.found(c, T0, version="9", rolling=True)
    rolls.found(c, T0 + dt.timedelta(seconds=5), version="9", rolling=True)
    assert rolls.rolling() == 1
    rolls.forget(c, T0 + dt.timedelta(seconds=6))  # deleted: one of that name is new again
    rolls.found(c, T0 + dt.timedelta(seconds=7), version="3", rolling=True)
    assert rolls.rolling() == 1


def test_a_found_roll_settles_once_seldon_reports_past_what_was_read() -> None:
    rolls = Rolls(limit=1)
    woken: list[tuple[str, str, str]] = []
    rolls.on_change.append(woken.extend)
    rolls.found(key("a"), T0, version="10", rolling=True)
    assert not rolls.admit(key("b"), T0).admitted
    assert rolls.due(key("a"), T0) == SILENT_SETTLE.total_seconds()
    # What was read, served and rolled by then, is not a report since: held by its numbers
    # alone for a minute, as a roll whose apply Seldon said nothing about.
    rolls.settle(key("a"), T0 + dt.timedelta(seconds=5), version="10", serving=True, rolled=True)
    assert rolls.rolling() == 1
    rolls.settle(key("a"), T0 + dt.timedelta(seconds=6), version="11", serving=True, rolled=True)
    assert rolls.rolling() == 0 and woken == [key("b")]


def test_a_found_roll_counts_without_a_limit_too() -> None:
    rolls = Rolls(limit=0)
    rolls.found(key("a"), T0, version="1", rolling=True)
    assert rolls.rolling() == 1 and rolls.admit(key("b"), T0).admitted
    assert rolls.rolling() == 2


def test_a_found_roll_the_model_re_rendered_into_is_told_when_it_times_out() -> None:
    """Once this process applied its own re-render in the found slot, the roll is its own: a
    timeout is told (RollTimedOut) and counted as any roll's; a found roll alone frees quietly."""
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rolls, counted = Rolls(limit=1), list[tuple[str, str, str]]()
    rolls.on_timeout.append(counted.append)
    a, b = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "b")
    rolls.found(a, start, version="5", rolling=True)
    rolls.found(b, start, version="5", rolling=True)
    assert rolls.admit(a, start).admitted  # the slot it holds
    rolls.started(a, start, "6", pods=False)
    later = start + ROLL_TIMEOUT
    assert rolls.timed_out(b, later) is None
    told = rolls.timed_out(a, later)
    assert told is not None and "the apply that started its roll" in told
    assert counted == [a] and rolls.rolling() == 0
