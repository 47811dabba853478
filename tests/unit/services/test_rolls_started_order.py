"""Rolls time out in the order they started, whatever order the passes added them in: passes
run on several threads, each with the ``now`` it began at, so a slow pass may add a roll that
started before one a faster pass added (``services.rolls.Rolls._add``)."""

from __future__ import annotations

import datetime as dt

from uplift_operator.services.rolls import ROLL_TIMEOUT, Rolls

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
X, Y = ("UpliftModel", "ns", "x"), ("UpliftModel", "ns", "y")


def test_a_roll_added_behind_a_newer_one_times_out_at_its_own_timeout() -> None:
    rolls = Rolls(limit=5)
    rolls.admit(X, T0 + dt.timedelta(seconds=8))  # a pass that began later, applied first
    rolls.started(X, T0 + dt.timedelta(seconds=8), "1", pods=False)
    rolls.admit(Y, T0)  # a slow pass that began earlier, applied second
    rolls.started(Y, T0, "1", pods=False)

    past = T0 + ROLL_TIMEOUT + dt.timedelta(seconds=1)
    assert rolls.due(Y, past) == 0.0  # its model is told to look now ...
    assert rolls.timed_out(Y, past) is not None  # ... and the look frees it
    assert rolls.rolling() == 1
    assert rolls.due(Y, past) is None  # not due again at once, pass after pass
    assert rolls.timed_out(X, past) is None  # the newer roll still holds its slot


def test_a_found_or_counted_roll_older_than_the_last_is_freed_in_its_turn() -> None:
    rolls = Rolls(limit=1)
    rolls.counted(X, T0 + dt.timedelta(seconds=30), "1")
    rolls.found(Y, T0, version="1", rolling=True)  # found rolling by a pass that began earlier
    rolls.timed_out(X, T0 + ROLL_TIMEOUT)
    assert rolls.rolling() == 1  # Y, found at T0, freed quietly; X still holds its slot
    assert rolls.timed_out(X, T0 + ROLL_TIMEOUT + dt.timedelta(seconds=30)) is not None
    assert rolls.rolling() == 0
