"""The alias polling task is supervised: an unexpected exception is logged and the polling started
again after a short wait, instead of ending it silently for the process's life (no follower of an
alias would have seen it move again until a restart). Cancelled at shutdown (``stop``), or ended
because its pool shut down, it is not started again."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest

from uplift_operator.handlers import registry_polling


class _Polling:
    """``poll_aliases`` as told: each run raises, returns, or waits until cancelled."""

    def __init__(self, *runs: str) -> None:
        self.runs = list(runs)
        self.started = 0
        self.cancelled = 0

    async def __call__(self, *_: Any, **__: Any) -> None:
        self.started += 1
        run = self.runs.pop(0) if self.runs else "wait"
        if run == "raise":
            raise RuntimeError("a bug in the poller")
        if run == "return":
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _memo() -> kopf.Memo:
    return kopf.Memo(wakeups=set(), alias_executor=None, alias_followers=object(),
                     uplift_dependencies=type("D", (), {"resolver": None})())


@pytest.fixture
def polling(monkeypatch: pytest.MonkeyPatch) -> _Polling:
    fake = _Polling("raise", "raise")
    monkeypatch.setattr(registry_polling, "poll_aliases", fake)
    monkeypatch.setattr(registry_polling, "alias_followers", lambda memo: memo["alias_followers"])
    return fake


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not reached")


def test_a_polling_task_that_raises_is_logged_and_started_again(
        polling: _Polling, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        memo = _memo()
        registry_polling.start(memo, restart_after=0.01)
        task = memo["alias_polling"]
        await _until(lambda: polling.started == 3)  # raised twice, running the third time
        assert not task.done() and memo["alias_polling"] is task  # ``stop`` cancels this one
        stop: Any = registry_polling.stop  # the kopf cleanup handler, as kopf calls it
        await stop(memo=memo)
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and polling.cancelled == 1
        await asyncio.sleep(0.05)
        assert polling.started == 3  # cancelled at shutdown: not started again

    with caplog.at_level(logging.ERROR, logger=registry_polling.__name__):
        asyncio.run(scenario())
    failures = [r for r in caplog.records if "alias polling failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info is not None for r in failures)
    assert "a bug in the poller" in caplog.text


def test_a_restart_waits_its_back_off(polling: _Polling) -> None:
    async def scenario() -> None:
        memo = _memo()
        registry_polling.start(memo, restart_after=60)
        await _until(lambda: polling.started == 1)
        await asyncio.sleep(0.05)
        assert polling.started == 1  # waiting out its back-off, not spinning
        memo["alias_polling"].cancel()
        await asyncio.gather(memo["alias_polling"], return_exceptions=True)

    asyncio.run(scenario())


def test_polling_that_ends_is_not_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """``poll_aliases`` returns when its pool was shut down: the operator is stopping."""
    ends = _Polling("return")
    monkeypatch.setattr(registry_polling, "poll_aliases", ends)
    monkeypatch.setattr(registry_polling, "alias_followers", lambda memo: memo["alias_followers"])

    async def scenario() -> None:
        memo = _memo()
        registry_polling.start(memo, restart_after=0.01)
        await asyncio.wait_for(memo["alias_polling"], 1)
        await asyncio.sleep(0.05)
        assert ends.started == 1

    asyncio.run(scenario())
