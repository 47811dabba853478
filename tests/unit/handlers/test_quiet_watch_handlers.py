"""No INFO line per watch event that wakes a pass; failures and other lines still log."""

from __future__ import annotations

import logging

import pytest

from uplift_operator.handlers.lifecycle import QuietWatchHandlers


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


@pytest.mark.parametrize("name", QuietWatchHandlers.NAMES)
def test_a_routine_wake_up_is_dropped(name: str) -> None:
    assert not QuietWatchHandlers().filter(_record(logging.INFO, f"Handler '{name}' succeeded."))


@pytest.mark.parametrize(("level", "message"), [
    (logging.ERROR, "Handler 'model_changed' failed with an exception. Will retry."),
    (logging.INFO, "Handler 'forget' succeeded."),
    (logging.WARNING, "Handler 'child_changed' succeeded."),
])
def test_everything_else_still_logs(level: int, message: str) -> None:
    assert QuietWatchHandlers().filter(_record(level, message))
