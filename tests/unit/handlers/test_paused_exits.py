"""A replica that acted and stays paused by peering exits (once), so that its restart lists
every object afresh: kopf's index and the watched store would keep objects deleted while it was
paused, whose DELETED events never come. A pause the operator resumes from within the grace
(kopf's check of a namespace newly matching a pattern) and other ends of a task do not stop
the process."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import cast

import kopf
import pytest

from uplift_operator.handlers import common
from uplift_operator.handlers.common import task_ended
from uplift_operator.handlers.scheduling import Wakeups

Reason = kopf.DaemonStoppingReason
GRACE = 0.05


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "PAUSE_EXIT_GRACE_SECONDS", GRACE)


def _stopped(reason: Reason) -> kopf.DaemonStopped:
    """What ``task_ended`` reads of kopf's stop flag: its reason."""
    return cast(kopf.DaemonStopped, SimpleNamespace(reason=reason))


def _run(scenario: object) -> None:
    async def go() -> None:
        await scenario  # type: ignore[misc]
        await asyncio.sleep(3 * GRACE)

    asyncio.run(go())


def test_a_replica_still_paused_after_the_grace_exits_once(
        terminations: list[str], caplog: pytest.LogCaptureFixture) -> None:
    wakeups = Wakeups()
    for name in ("a", "b", "c"):
        wakeups.register(("UpliftModel", "ns", name))

    async def pause() -> None:
        for name in ("a", "b", "c"):  # every task of the replica stops at once
            task_ended(("UpliftModel", "ns", name), wakeups, _stopped(Reason.OPERATOR_PAUSING))
        await asyncio.sleep(GRACE / 5)
        assert terminations == []  # not before the grace

    with caplog.at_level(logging.WARNING):
        _run(pause())
    assert terminations == ["SIGTERM"]
    assert "paused by peering after acting: exiting" in caplog.text


def test_a_pause_the_operator_resumes_from_within_the_grace_keeps_it(
        terminations: list[str]) -> None:
    wakeups = Wakeups()

    async def pause_and_resume() -> None:
        task_ended(("UpliftModel", "ns", "a"), wakeups, _stopped(Reason.OPERATOR_PAUSING))
        await asyncio.sleep(GRACE / 5)
        wakeups.register(("UpliftModel", "ns", "a"))  # kopf starts the task again

    _run(pause_and_resume())
    assert terminations == []


@pytest.mark.parametrize("reason", [Reason.RESOURCE_DELETED, Reason.OPERATOR_EXITING,
                                    Reason.DAEMON_SIGNALLED, Reason.DAEMON_CANCELLED])
def test_other_ends_of_a_task_do_not_stop_the_process(reason: Reason,
                                                      terminations: list[str]) -> None:
    async def end() -> None:
        task_ended(("Campaign", "ns", "c"), Wakeups(), _stopped(reason))
        task_ended(("Campaign", "ns", "d"), Wakeups(), None)

    _run(end())
    assert terminations == []


def test_a_name_reused_by_a_running_task_still_exits_on_pause(terminations: list[str]) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "c"), uid="new")

    async def pause() -> None:
        task_ended(("Campaign", "ns", "c"), wakeups, _stopped(Reason.OPERATOR_PAUSING))

    _run(pause())
    assert terminations == ["SIGTERM"]
