"""A model whose re-render waits for a slot among the graphs rolling at once is woken when one
frees for it, through the same wake-ups as every other cause of a pass, and a roll that timed
out is counted (``handlers.upliftmodel.follow_rolls``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace

import kopf

from uplift_operator.handlers import observability, upliftmodel
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.rolls import ROLL_TIMEOUT, Rolls

AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_a_freed_slot_wakes_the_next_queued_model_and_a_timeout_is_counted() -> None:
    first, second = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "b")

    async def scenario() -> tuple[bool, bool, bool]:
        wakeups, rolls = Wakeups(), Rolls(limit=1)
        memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=SimpleNamespace(rolls=rolls))
        upliftmodel.follow_rolls(memo)
        upliftmodel.follow_rolls(memo)  # once per process
        flags = {owner: wakeups.register(owner, "u") for owner in (first, second)}
        rolls.admit(first, AT)
        rolls.admit(second, AT)
        rolls.timed_out(first, AT + ROLL_TIMEOUT)  # the holder's own pass at its deadline
        await asyncio.sleep(0)  # the wake-ups are called soon on the loop
        return (flags[second].is_set(), flags[first].is_set(),
                len(rolls.on_change) == len(rolls.on_timeout) == 1)

    timed_out = observability.REGISTRY.get_sample_value(
        "uplift_operator_graph_rolls_timed_out_total") or 0.0
    woken, told, once = asyncio.run(scenario())
    assert woken and not told and once  # the holder's pass runs now: not woken again
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_graph_rolls_timed_out_total") == timed_out + 1
