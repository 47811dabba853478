"""No INFO line per routine timer tick, for any kind; failures and other lines still log."""

from __future__ import annotations

import logging

import pytest

from uplift_operator.handlers.lifecycle import QuietTimers


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


@pytest.mark.parametrize("message", ["Timer 'reconcile' succeeded.", "Timer 'recheck' succeeded.",
                                     "Timer 'reconcile/spec' succeeded."])
def test_routine_timer_success_is_dropped(message: str) -> None:
    assert not QuietTimers().filter(_record(logging.INFO, message))


@pytest.mark.parametrize(("level", "message"), [
    (logging.ERROR, "Timer 'reconcile' failed with an exception. Will retry."),
    (logging.INFO, "Handler 'create_fn' succeeded."),
    (logging.WARNING, "Timer 'reconcile' succeeded."),
])
def test_everything_else_still_logs(level: int, message: str) -> None:
    assert QuietTimers().filter(_record(level, message))
