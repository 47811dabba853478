"""A replica that acted and is paused by peering exits (once), so that its restart lists every
object afresh: kopf's index and the watched store would keep objects deleted while it was
paused, whose DELETED events never come. Other ends of a task do not stop the process."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import cast

import kopf
import pytest

from uplift_operator.handlers.common import task_ended
from uplift_operator.handlers.scheduling import Wakeups

Reason = kopf.DaemonStoppingReason


def _stopped(reason: Reason) -> kopf.DaemonStopped:
    """What ``task_ended`` reads of kopf's stop flag: its reason."""
    return cast(kopf.DaemonStopped, SimpleNamespace(reason=reason))


def test_paused_by_peering_the_replica_exits_once(terminations: list[str],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    wakeups = Wakeups()
    with caplog.at_level(logging.WARNING):
        for name in ("a", "b", "c"):  # every task of the replica stops at once
            task_ended(("UpliftModel", "ns", name), wakeups, _stopped(Reason.OPERATOR_PAUSING))
    assert terminations == ["SIGTERM"]
    assert "paused by peering after acting: exiting" in caplog.text


@pytest.mark.parametrize("reason", [Reason.RESOURCE_DELETED, Reason.OPERATOR_EXITING,
                                    Reason.DAEMON_SIGNALLED, Reason.DAEMON_CANCELLED])
def test_other_ends_of_a_task_do_not_stop_the_process(reason: Reason,
                                                      terminations: list[str]) -> None:
    task_ended(("Campaign", "ns", "c"), Wakeups(), _stopped(reason))
    task_ended(("Campaign", "ns", "d"), Wakeups(), None)
    assert terminations == []


def test_a_name_reused_by_a_running_task_still_exits_on_pause(terminations: list[str]) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "c"), uid="new")
    task_ended(("Campaign", "ns", "c"), wakeups, _stopped(Reason.OPERATOR_PAUSING))
    assert terminations == ["SIGTERM"]
