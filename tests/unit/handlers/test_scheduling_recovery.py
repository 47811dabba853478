"""handlers.scheduling: after an outage that made every pass raise (the API server unreachable),
the first pass that succeeds after raising wakes every other task in error back-off
(``Wakeups.passed``): they pass within seconds of the recovery, not up to ~6 min later. A
resource whose writes stay refused is not retried each time another one recovers, and the
number of tasks in error back-off is told by kind (the operator's gauge
``uplift_operator_passes_in_error_backoff``).

On the virtual clock of ``test_scheduling_backoff`` (a sleep advances it at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from tests.unit.handlers.test_scheduling_backoff import _VirtualLoop

from uplift_operator.domain.retry import JITTER
from uplift_operator.handlers import observability, scheduling
from uplift_operator.handlers.scheduling import Key, Wakeups, run_passes

OnePass = Callable[[], Awaitable[float | None]]


def _on_virtual_clock(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop = _VirtualLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


async def _run(wakeups: Wakeups, passes: dict[Key, OnePass], seconds: float) -> None:
    tasks = [asyncio.create_task(run_passes(key, wakeups, one_pass, uid=f"u-{key[2]}"))
             for key, one_pass in passes.items()]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _recovery_latencies(resources: int, outage: float, *, wake: bool = True) -> list[float]:
    """Seconds from the end of an ``outage`` (every pass raises) to each resource's first
    successful pass. ``wake=False``: as before, nothing woke the others."""
    recovered: dict[Key, float] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeups = Wakeups()
        if not wake:
            wakeups.passed = lambda flag: wakeups._settle(flag) and 0  # type: ignore[method-assign]

        def one_pass(key: Key) -> OnePass:
            async def run() -> float | None:
                if loop.time() < outage:
                    raise scheduling.NamedPassError("status write: connection refused")
                recovered.setdefault(key, loop.time())
                return None
            return run

        keys = [("UpliftModel", "ns", f"model-{index}") for index in range(resources)]
        await _run(wakeups, {key: one_pass(key) for key in keys}, outage + 1000)

    _on_virtual_clock(main)
    assert len(recovered) == resources
    return sorted(at - outage for at in recovered.values())


@pytest.mark.parametrize("outage", [60.0, 600.0])
def test_the_first_pass_that_succeeds_after_an_outage_wakes_every_failing_one(
        outage: float) -> None:
    latencies = _recovery_latencies(100, outage)
    # The first retry after the outage (of 100 spread over the capped wait) comes within a few
    # seconds; it wakes the others, which pass right after it (the coalescing pause).
    assert latencies[-1] - latencies[0] <= 1.0, latencies
    assert latencies[-1] <= 15.0, latencies
    # Without the wake-up each waited out its own back-off: up to ~cap * 1.25 after a long one.
    alone = _recovery_latencies(100, outage, wake=False)
    assert alone[-1] > outage / 4, alone


def test_a_resource_whose_writes_stay_refused_is_not_retried_at_each_recovery() -> None:
    """A webhook refuses some resources' writes for good; others fail now and then and recover
    (an overloaded API server): each recovery wakes the refused ones only if their own back-off
    ran out since a recovery last woke them, so they retry at most about twice as often as
    their back-off alone, not once per recovery."""
    attempts: dict[Key, list[float]] = {}
    seconds = 3600.0

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeups = Wakeups()

        def refused(key: Key) -> OnePass:
            async def run() -> float | None:
                attempts.setdefault(key, []).append(loop.time())
                raise scheduling.NamedPassError("status write refused: 403 by a webhook")
            return run

        def flaky(index: int) -> OnePass:
            count = [index]

            async def run() -> float | None:  # raises every other pass, next due in 10 s
                count[0] += 1
                if count[0] % 2:
                    raise scheduling.NamedPassError("status write: timeout")
                return 10.0
            return run

        passes = {("UpliftModel", "ns", f"refused-{index}"): refused(
            ("UpliftModel", "ns", f"refused-{index}")) for index in range(20)}
        passes |= {("Campaign", "ns", f"flaky-{index}"): flaky(index) for index in range(20)}
        await _run(wakeups, passes, seconds)

    _on_virtual_clock(main)
    cap = scheduling.ERROR_BACKOFF_SECONDS
    for key, times in attempts.items():
        # Alone: 1 s, then doubling to the cap: about log2(cap) + (seconds - cap) / cap retries.
        late = [at for at in times if at >= 1200]
        assert len(late) <= 2 * (seconds - 1200) / cap + 2, (key, len(late))
        # ... and it was woken at all (more than its back-off alone gives): the recoveries
        # still reach it after each of its own retries.
        assert len(late) > (seconds - 1200) / (cap * (1 + JITTER)) + 1, (key, len(late))


def test_a_pass_that_never_failed_wakes_nobody() -> None:
    """Passes with nothing to write succeed even while the API server is down (they read
    memory): their success says nothing of a recovery."""
    attempts: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeups = Wakeups()

        async def refused() -> float | None:
            attempts.append(loop.time())
            raise scheduling.NamedPassError("status write: connection refused")

        async def at_rest() -> float | None:
            return 1.0

        await _run(wakeups, {("UpliftModel", "ns", "refused"): refused,
                             **{("UpliftModel", "ns", f"rest-{index}"): at_rest
                                for index in range(10)}}, 600.0)

    _on_virtual_clock(main)
    # 1 s, then doubling: 0, 1, 2, 4, ... 256, then at the cap: a dozen, not hundreds.
    assert len(attempts) <= 12, attempts


def test_the_tasks_in_error_back_off_are_told_by_kind() -> None:
    told: list[tuple[str, int]] = []
    seen: dict[str, list[int]] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeups = Wakeups(observe_error_backoff=lambda kind, count: told.append((kind, count)))

        def failing_until(until: float) -> OnePass:
            async def run() -> float | None:
                if loop.time() < until:
                    raise scheduling.NamedPassError("status write: 503")
                return None
            return run

        async def watch() -> None:
            while True:
                for kind, count in wakeups.in_error_backoff().items():
                    seen.setdefault(kind, []).append(count)
                await asyncio.sleep(10.0)

        watcher = asyncio.create_task(watch())
        await _run(wakeups, {("UpliftModel", "ns", "a"): failing_until(100.0),
                             ("UpliftModel", "ns", "b"): failing_until(100.0),
                             ("Campaign", "ns", "c"): failing_until(0.0),
                             ("CampaignsFile", "ns", "a"): failing_until(10_000.0)}, 500.0)
        watcher.cancel()
        assert wakeups.in_error_backoff() == {"UpliftModel": 0, "Campaign": 0, "CampaignsFile": 0}

    _on_virtual_clock(main)
    assert max(seen["UpliftModel"][1:5]) == 2  # both failing at first
    assert seen["UpliftModel"][-1] == 0  # passed once the outage ended
    assert set(seen["Campaign"]) == {0}  # never failed: its series is there, at 0
    assert seen["CampaignsFile"][-1] == 1  # still failing
    # Told at every change: 0 for each kind as its first task starts, 0 again as they end.
    first: dict[str, int] = {}
    for kind, count in told:
        first.setdefault(kind, count)
    assert first == {"UpliftModel": 0, "Campaign": 0, "CampaignsFile": 0}
    assert dict(told) == {"UpliftModel": 0, "Campaign": 0, "CampaignsFile": 0}
    assert ("UpliftModel", 2) in told and ("CampaignsFile", 1) in told


def test_the_gauge_follows_the_tasks_in_error_back_off() -> None:
    """What the operator wires (``lifecycle.configure``): the gauge per kind, 0 from the kind's
    first task, 1 while one waits to retry, 0 again once it passed."""
    kind = "GaugeTestKind"  # a label no other test uses: the registry is the process's

    def sample() -> float | None:
        return observability.REGISTRY.get_sample_value(
            "uplift_operator_passes_in_error_backoff", {"kind": kind})

    seen: list[float | None] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeups = Wakeups(observe_error_backoff=observability.passes_in_error_backoff)

        async def one_pass() -> float | None:
            seen.append(sample())
            if loop.time() < 30.0:
                raise scheduling.NamedPassError("status write: 503")
            return None

        await _run(wakeups, {(kind, "ns", "a"): one_pass}, 120.0)

    assert sample() is None
    _on_virtual_clock(main)
    assert seen[0] == 0 and seen[1] == 1 and seen[-1] == 1  # the last: the retry that passed
    assert sample() == 0
