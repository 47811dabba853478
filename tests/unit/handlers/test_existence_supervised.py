"""The existence audit task is supervised (``handlers.existence.start``): an unexpected exception
is logged and the audit started again after a short wait, with what it found so far; it was a
bare task, and one exception ended it silently for the process's life (no ghost found again
until a restart). Cancelled at shutdown (``stop``), or returned (the process exits), it is not
started again."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import existence
from uplift_operator.handlers.scheduling import Wakeups


class _Auditing:
    """``audit_forever`` as told: each run raises, returns, or waits until cancelled."""

    def __init__(self, *runs: str) -> None:
        self.runs = list(runs)
        self.started: list[list[Any]] = []
        self.cancelled = 0

    async def __call__(self, audits: list[Any], *_: Any, **__: Any) -> None:
        self.started.append(audits)
        run = self.runs.pop(0) if self.runs else "wait"
        if run == "raise":
            raise RuntimeError("a bug in the audit")
        if run == "return":
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _memo() -> kopf.Memo:
    return kopf.Memo(config=settings.parse_args(["--namespace", "team-a"]), wakeups=Wakeups(),
                     pass_executor=None, watched_objects=WatchedObjects([]),
                     uplift_dependencies=SimpleNamespace(cluster=object()))


def test_an_audit_that_raises_is_logged_and_started_again(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    auditing = _Auditing("raise", "raise")
    monkeypatch.setattr(existence, "audit_forever", auditing)
    memo = _memo()

    async def go() -> None:
        existence.start(memo, restart_after=0.01)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(auditing.started) == 3:
                break
        task = memo["existence_audit"]
        assert not task.done()  # the third run waits
        stop: Any = existence.stop  # the kopf cleanup handler, as kopf calls it
        await stop(memo=memo)
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="uplift_operator.handlers.existence"):
        asyncio.run(go())
    assert len(auditing.started) == 3 and auditing.cancelled == 1
    # The same audits each time: what they found missing so far is kept across a restart.
    assert auditing.started[0] is auditing.started[1] is auditing.started[2]
    failed = [r for r in caplog.records if "the existence audit failed" in r.getMessage()]
    assert len(failed) == 2 and failed[0].exc_info is not None


def test_an_audit_that_returns_is_not_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    auditing = _Auditing("return")
    monkeypatch.setattr(existence, "audit_forever", auditing)
    memo = _memo()

    async def go() -> None:
        existence.start(memo, restart_after=0.01)
        await asyncio.wait_for(memo["existence_audit"], timeout=5)
        await asyncio.sleep(0.05)

    asyncio.run(go())
    assert len(auditing.started) == 1
