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


def test_the_forget_handlers_run_only_on_deletion() -> None:
    """Filtered by kopf (``when=``), they neither run nor log a line per watch event."""
    import kopf

    from uplift_operator.handlers import campaign, campaigns_file, upliftmodel
    from uplift_operator.handlers.common import deleted

    assert deleted(type="DELETED", event={"type": "DELETED"})
    assert not deleted(type="MODIFIED", event={"type": "MODIFIED"})
    assert not deleted(type=None, event={})  # the initial listing
    forgetting = {upliftmodel.forget, campaign.forget, campaigns_file.forget_file}
    registered = [h for h in kopf.get_default_registry()._watching._handlers  # kopf internals
                  if getattr(h, "fn", None) in forgetting]
    assert len(registered) == 3 and all(h.when is deleted for h in registered)
