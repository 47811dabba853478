"""handlers.scheduling: resources whose passes keep raising (a webhook refusing every status
write, etcd out of space, the API server unreachable) retry spread apart and at most every
``ERROR_BACKOFF_SECONDS`` (stretched by up to ``JITTER``), not all in the same instant.

Run on an event loop whose clock is virtual (a sleep advances it at once): 20 minutes of
back-off of hundreds of resources in a fraction of a second."""

from __future__ import annotations

import asyncio
import itertools
import selectors
from collections import Counter
from typing import Any

import pytest

from uplift_operator.domain.retry import JITTER
from uplift_operator.handlers import scheduling
from uplift_operator.handlers.scheduling import Key, Wakeups, run_passes

RESOURCES = 300
MINUTES = 20


class _VirtualSelector(selectors.DefaultSelector):
    """Waiting for I/O with a timeout advances the loop's clock instead of waiting."""

    def __init__(self, loop: _VirtualLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            self.loop.now += timeout
        return super().select(0)


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(selectors.DefaultSelector())
        self._selector = _VirtualSelector(self)

    def time(self) -> float:
        return self.now


def _attempts(resources: int, seconds: float) -> dict[Key, list[float]]:
    """When each of ``resources`` failing resources' passes ran, over ``seconds`` (virtual)."""
    attempts: dict[Key, list[float]] = {}

    async def main() -> None:
        loop, wakeups = asyncio.get_running_loop(), Wakeups()

        def failing(key: Key) -> Any:
            async def one_pass() -> float | None:
                attempts.setdefault(key, []).append(loop.time())
                raise scheduling.NamedPassError("status write refused: 500 etcdserver: mvcc: "
                                                "database space exceeded")
            return one_pass

        keys = [("UpliftModel", "ns", f"model-{index}") for index in range(resources)]
        tasks = [asyncio.create_task(run_passes(key, wakeups, failing(key), uid=f"u{index}"))
                 for index, key in enumerate(keys)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop = _VirtualLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return attempts


@pytest.fixture(scope="module")
def attempts() -> dict[Key, list[float]]:
    return _attempts(RESOURCES, MINUTES * 60.0)


def test_resources_failing_together_do_not_retry_together(
        attempts: dict[Key, list[float]]) -> None:
    assert len(attempts) == RESOURCES
    late = [at for times in attempts.values() for at in times if at >= 600]
    # Every resource retries in the last 10 minutes, none more often than the cap allows.
    assert RESOURCES * 600 / (scheduling.ERROR_BACKOFF_SECONDS * (1 + JITTER)) - RESOURCES \
        <= len(late) <= RESOURCES * 600 / scheduling.ERROR_BACKOFF_SECONDS + RESOURCES
    # Without jitter all of them retried in the same 100 ms; spread, a handful at most.
    in_step = Counter(int(at * 10) for at in late)
    assert max(in_step.values()) <= RESOURCES // 50, in_step.most_common(3)
    # ... from the second retry on (the first, 1 s after the failure, is the same for all).
    second = Counter(round(times[2], 3) for times in attempts.values())
    assert max(second.values()) <= RESOURCES // 50, second.most_common(3)


def test_the_waits_double_up_to_the_cap_stretched_by_at_most_the_jitter(
        attempts: dict[Key, list[float]]) -> None:
    cap = scheduling.ERROR_BACKOFF_SECONDS
    assert cap == 300
    for key, times in attempts.items():
        gaps = [after - before for before, after in itertools.pairwise(times)]
        assert gaps[0] == pytest.approx(scheduling.ERROR_FIRST_RETRY_SECONDS, abs=0.01), key
        assert all(gap <= cap * (1 + JITTER) + 0.01 for gap in gaps), (key, gaps)
        growing = gaps[:gaps.index(max(gaps))]
        assert growing == sorted(growing), (key, gaps)  # doubling until the cap
        assert gaps[-1] >= cap, (key, gaps)  # reached it within the 20 minutes
    # The stretch at the cap is the key's own: spread across the whole quarter.
    at_cap = sorted(times[-1] - times[-2] for times in attempts.values())
    assert at_cap[0] < cap * (1 + JITTER / 10) and at_cap[-1] > cap * (1 + JITTER * 0.9)
