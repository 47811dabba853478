"""At rest each resource's pass comes again ``RESYNC_SECONDS`` less its key's own fraction of
``RESYNC_SPREAD`` of it (``scheduling.resync_wait``): resources whose first passes came
together (a restart, a failover: 10,000 in its first minutes) drift apart at each resync
instead of passing again in the same second every 10 minutes for the life of the process; none
waits longer than ``RESYNC_SECONDS``. The existence audit's first four runs (5 to 35 minutes
after the start: ``existence.FIRST_AUDIT_SECONDS``) fall between the first rounds of those
resyncs; from the fifth on, the rounds, a minute wider each, meet the audits.

Time here is the tasks' own: each wait ``run_passes`` asks for is recorded and runs out at once,
so a round is the sum of a task's waits, exactly, whatever the machine's load."""

from __future__ import annotations

import asyncio
import collections
import types
from typing import Any

import pytest

from uplift_operator.handlers import existence, scheduling
from uplift_operator.handlers.scheduling import (
    RESYNC_SECONDS,
    RESYNC_SPREAD,
    Key,
    Wakeups,
    resync_wait,
    run_passes,
)

MODELS = 1_000
ROUNDS = 4


def _at_rest_waits(monkeypatch: pytest.MonkeyPatch, keys: list[Key],
                   rounds: int) -> dict[Key, list[float]]:
    """The waits each key's task asks for with nothing due, over ``rounds`` resyncs; every
    task starts at once (all first passes at the same moment: the worst start)."""
    waits: dict[Key, list[float]] = collections.defaultdict(list)
    current: list[Key] = []

    async def ran_out(awaitable: Any, timeout: float) -> None:  # asyncio.wait_for's
        awaitable.close()
        waits[current[-1]].append(timeout)
        raise TimeoutError

    names = {name: getattr(asyncio, name) for name in dir(asyncio) if not name.startswith("_")}
    monkeypatch.setattr(scheduling, "asyncio", types.SimpleNamespace(**{**names,
                                                                        "wait_for": ran_out}))

    async def scenario() -> None:
        wakeups = Wakeups()

        def one_pass(key: Key) -> Any:
            async def run() -> float | None:
                current.append(key)
                if len(waits[key]) == rounds:
                    raise asyncio.CancelledError  # the operator stops
                return None  # nothing due
            return run

        await asyncio.gather(*(run_passes(key, wakeups, one_pass(key)) for key in keys),
                             return_exceptions=True)

    asyncio.run(scenario())
    return waits


def test_resyncs_of_resources_started_together_drift_apart_at_each_round(
        monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [("UpliftModel", f"team-{i % 7}", f"model-{i}") for i in range(MODELS)]
    waits = _at_rest_waits(monkeypatch, keys, ROUNDS)
    assert all(len(waits[key]) == ROUNDS for key in keys)
    for key in keys:  # each key its own wait, the same at every round; never past the resync
        assert waits[key] == [resync_wait(key)] * ROUNDS
        assert RESYNC_SECONDS * (1 - RESYNC_SPREAD) <= waits[key][0] <= RESYNC_SECONDS
    for round_ in range(1, ROUNDS + 1):
        at = [sum(waits[key][:round_]) for key in keys]
        # Spread over a window that widens by about a minute at each round...
        assert max(at) - min(at) >= 0.95 * round_ * RESYNC_SPREAD * RESYNC_SECONDS
        # ... evenly: no second of it holds more than a few percent of the resources (all of
        # them, in one burst, when every wait was RESYNC_SECONDS exactly).
        per_second = collections.Counter(int(t) for t in at)
        assert max(per_second.values()) <= 0.04 * MODELS / round_, round_


def test_the_first_four_audits_fall_between_the_first_rounds_of_resyncs() -> None:
    """A start's first passes, within its first ``startup`` seconds (1,000 models were all
    Healthy within a minute, docs/operator.md "Scale"), pass again k-th between k intervals
    less ``RESYNC_SPREAD`` of k, and k intervals and ``startup``: the first four audits (5, 15,
    25 and 35 minutes after the start) come between those rounds, for any start's first passes
    within 4 minutes. Not the fifth (45 minutes), nor any after: the k-th round is k minutes
    wide plus the start's, and from the fifth on it reaches the audit of its interval. (After
    about ten rounds they cover the whole interval: spread thin.)"""
    startup = 240.0
    audits = [existence.FIRST_AUDIT_SECONDS + n * existence.AUDIT_SECONDS for n in range(6)]
    assert audits[0] + existence.AUDIT_SECONDS <= 2 * RESYNC_SECONDS  # ghosts: two intervals

    def in_round(k: int, audit: float) -> bool:
        earliest = k * RESYNC_SECONDS * (1 - RESYNC_SPREAD)
        return earliest <= audit <= k * RESYNC_SECONDS + startup

    for k in range(1, 7):
        assert not any(in_round(k, audit) for audit in audits[:4]), (k, audits)
    assert in_round(5, audits[4]) and in_round(6, audits[5])  # what the docs do not claim
