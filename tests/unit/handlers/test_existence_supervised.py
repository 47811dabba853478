"""The existence audit task is supervised (``handlers.existence.start``): an unexpected exception
is logged and the audit started again after a short wait, with what it found so far; it was a
bare task, and one exception ended it silently for the process's life (no ghost found again
until a restart). Cancelled at shutdown (``stop``), or returned (the process exits), it is not
started again.

Restarted, it audits at once: it slept a whole interval first, so the first audit after a
restart came 5 s + 10 minutes later; raising again at once, it waits twice as long each time,
up to the interval. Each audit runs under its own guard: one child audit raising at every run
blocked the audits after it for good."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from tests.unit.handlers.scripted_runs import ScriptedRuns

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import existence
from uplift_operator.handlers.existence import audit_forever
from uplift_operator.handlers.scheduling import Key, Wakeups


class _Auditing(ScriptedRuns):
    """``audit_forever`` as told: each run raises, returns, or waits until cancelled; the
    audits and ``first_delay`` of each run kept."""

    def __init__(self, *runs: str) -> None:
        super().__init__(*runs, bug="a bug in the audit")
        self.audits: list[list[Any]] = []
        self.first_delays: list[float | None] = []

    async def __call__(self, audits: list[Any], *_: Any, first_delay: float | None = None,
                       **__: Any) -> None:
        self.audits.append(audits)
        self.first_delays.append(first_delay)
        await self.run()


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
            if auditing.started == 3:
                break
        task = memo["existence_audit"]
        assert not task.done()  # the third run waits
        stop: Any = existence.stop  # the kopf cleanup handler, as kopf calls it
        await stop(memo=memo)
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="uplift_operator.handlers.existence"):
        asyncio.run(go())
    assert auditing.started == 3 and auditing.cancelled == 1
    # The first run waits half an interval (the resyncs of the start's first passes come about
    # an interval after them: test_scheduling_resync_spread.py); a restart audits at once.
    assert auditing.first_delays == [existence.FIRST_AUDIT_SECONDS, 0.0, 0.0]
    assert existence.FIRST_AUDIT_SECONDS == existence.AUDIT_SECONDS / 2
    # The same audits each time: what they found missing so far is kept across a restart.
    assert auditing.audits[0] is auditing.audits[1] is auditing.audits[2]
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
    assert auditing.started == 1


def test_a_restart_waiting_an_interval_first_waits_no_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Through ``audit_forever`` itself: the run a restart starts audits before any interval
    (an hour here) has passed; the first run of the process does not."""
    audited: list[str] = []

    class Child:
        kind = "SeldonDeployment"
        not_served = None  # no LIST answered 404

        async def run(self, pool: object) -> dict[str, tuple[str, str]]:
            audited.append("child")
            return {}

    async def go(first_delay: float | None) -> None:
        task = asyncio.create_task(audit_forever(
            [], None,  # type: ignore[arg-type]
            interval=3600.0, children=[Child()],  # type: ignore[list-item]
            first_delay=first_delay))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go(None))
    assert audited == []
    asyncio.run(go(0.0))
    assert audited == ["child"]


def test_a_child_audit_that_raises_does_not_block_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    order: list[str] = []

    class Broken:
        kind = "SeldonDeployment"
        not_served = None  # no LIST answered 404

        async def run(self, pool: object) -> dict[str, tuple[str, str]]:
            order.append("broken")
            raise RuntimeError("a bug in one audit")

    class Child:
        kind = "ConfigMap"
        not_served = None  # no LIST answered 404

        async def run(self, pool: object) -> dict[str, tuple[str, str]]:
            order.append("child")
            return {}

    class Kind:
        kind = "UpliftModel"
        not_served = None  # no LIST answered 404

        async def run(self, pool: object) -> dict[str, Key]:
            order.append("kind")
            if len(order) <= 3:
                raise RuntimeError("a bug in a kind's audit")
            return {}

    async def go() -> None:
        task = asyncio.create_task(audit_forever(
            [Kind(), Kind()], None, interval=0.01,  # type: ignore[list-item, arg-type]
            children=[Broken(), Child()]))  # type: ignore[list-item]
        for _ in range(500):
            if len(order) >= 8:
                break
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()

    with caplog.at_level(logging.ERROR, logger="uplift_operator.handlers.existence"):
        asyncio.run(go())
    assert order[:8] == ["broken", "child", "kind", "kind"] * 2
    failed = [r.getMessage() for r in caplog.records]
    assert "the existence audit of SeldonDeployment failed; the other audits go on" in failed[0]
    assert any("the existence audit of UpliftModel failed" in m for m in failed)


def test_raising_again_at_once_the_restarts_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit that raises as soon as it starts is not restarted every 5 s for ever (each
    restart audits at once: every kind listed every few seconds): the wait doubles up to
    ``most``."""
    waits: list[float] = []
    restarts: list[bool] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    async def auditing(restarted: bool) -> None:
        restarts.append(restarted)
        if len(restarts) == 6:
            return
        raise RuntimeError("a bug in the audit")

    monkeypatch.setattr(asyncio, "sleep", sleep)
    asyncio.run(existence._supervised(auditing, 5.0, most=600.0))
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert restarts == [False, True, True, True, True, True]
