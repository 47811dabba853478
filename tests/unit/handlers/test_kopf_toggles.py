"""kopf's start-up gate for indexes wakes its waiters once, not once per object indexed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles

from uplift_operator.handlers import kopf_toggles


@pytest.fixture
def patched() -> Iterator[None]:
    assert kopf_toggles.install()
    yield
    kopf_toggles.uninstall()


def test_the_replaced_methods_are_the_audited_ones() -> None:
    # Fails when kopf changes ToggleSet: read the new methods, then update AUDITED.
    assert kopf_toggles.source_digests() == kopf_toggles.AUDITED


class Counting:
    """``all`` or ``any``, counting how often the set's answer is computed."""

    def __init__(self, fn: Callable[[Iterable[bool]], bool]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, states: Iterable[bool]) -> bool:
        self.calls += 1
        return self.fn(states)


async def _start_up(objects: int, waiters: int, fn: Counting) -> list[bool]:
    """kopf's start: a blocker toggle, one toggle per listed object, workers waiting on the set
    while the objects are indexed one by one (each worker gets to run between two)."""
    gate = aiotoggles.ToggleSet(fn)
    blocker = await gate.make_toggle(name="orchestration blocker")
    toggles = [await gate.make_toggle(name=f"object {i}") for i in range(objects)]
    released: list[bool] = []

    async def worker() -> None:
        await gate.wait_for(True)
        released.append(gate.is_on())

    workers = [asyncio.create_task(worker()) for _ in range(waiters)]
    await asyncio.sleep(0)
    for toggle in toggles:
        await gate.drop_toggle(toggle)
        await asyncio.sleep(0)
        assert not released, "a worker passed while objects were still being indexed"
    await gate.drop_toggle(blocker)
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    return released


@pytest.mark.usefixtures("patched")
def test_the_workers_pass_once_every_object_is_indexed_and_wake_once() -> None:
    fn = Counting(all)
    released = asyncio.run(_start_up(objects=200, waiters=300, fn=fn))
    assert released == [True] * 300
    # Each add and each drop (the blocker's too) computes the answer twice, before and after;
    # each worker once when it starts waiting, once when woken and once in ``released``:
    # linear, where kopf as shipped computes it ~ objects × waiters times.
    assert fn.calls <= 2 * 2 * (200 + 1) + 3 * 300


def test_kopf_as_shipped_wakes_every_worker_per_object() -> None:
    # What the replacement removes (and the measure of the test above).
    assert not kopf_toggles.installed()
    fn = Counting(all)
    released = asyncio.run(_start_up(objects=200, waiters=300, fn=fn))
    assert released == [True] * 300
    assert fn.calls > 200 * 300


@pytest.mark.usefixtures("patched")
def test_an_any_set_wakes_its_waiters_when_its_answer_flips() -> None:
    # kopf's pause set (peering): on while any toggle is on.
    async def scenario() -> list[str]:
        paused = aiotoggles.ToggleSet(any)
        seen: list[str] = []

        async def wait(state: bool) -> None:
            await paused.wait_for(state)
            seen.append(f"{state}")

        resumed = asyncio.create_task(wait(False))
        await asyncio.sleep(0)
        assert seen == ["False"]  # an empty any-set is off
        pausing = asyncio.create_task(wait(True))
        await asyncio.sleep(0)
        peer = await paused.make_toggle(True, name="a peer with a higher priority")
        await asyncio.wait_for(pausing, 1)
        resuming = asyncio.create_task(wait(False))
        await asyncio.sleep(0)
        other = await paused.make_toggle(False, name="a peer that left")
        await asyncio.sleep(0)
        assert not resuming.done()  # still on: one toggle on
        await paused.drop_toggles([peer, other])
        await asyncio.wait_for(resuming, 1)
        await resumed
        return seen

    assert asyncio.run(scenario()) == ["False", "True", "False"]


@pytest.mark.usefixtures("patched")
def test_a_member_toggle_turned_still_wakes_its_own_waiters() -> None:
    async def scenario() -> bool:
        gate = aiotoggles.ToggleSet(all)
        toggle = await gate.make_toggle(False)
        waiting = asyncio.create_task(toggle.wait_for(True))
        await asyncio.sleep(0)
        await toggle.turn_to(True)
        await asyncio.wait_for(waiting, 1)
        return gate.is_on()

    assert asyncio.run(scenario())


def test_a_kopf_that_differs_is_left_alone(monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(kopf_toggles, "AUDITED", {**kopf_toggles.AUDITED, "drop_toggle": "0"})
    with caplog.at_level(logging.WARNING, logger=kopf_toggles.__name__):
        assert not kopf_toggles.install()
    assert not kopf_toggles.installed()
    assert "not the one audited" in caplog.text


def test_the_operator_installs_it_before_kopf_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from uplift_operator.handlers import main as entry

    at_run: list[bool] = []
    monkeypatch.setattr(kopf, "run", lambda **_: at_run.append(kopf_toggles.installed()))
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    try:
        assert entry.main(["--all-namespaces", "--standalone"]) == 0
    finally:
        kopf_toggles.uninstall()
    assert at_run == [True]


def test_a_kopf_installed_without_its_sources_is_left_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_source(_: object) -> str:
        raise OSError("could not get source code")

    monkeypatch.setattr("uplift_operator.handlers.kopf_toggles.inspect.getsource", no_source)
    assert set(kopf_toggles.source_digests().values()) == {""}
    assert not kopf_toggles.install()
    assert not kopf_toggles.installed()
