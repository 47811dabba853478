"""Glue shared by the handlers: reading the config from memo, writing status in one patch."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from uplift_operator.domain.status import status_patch
from uplift_operator.settings import OperatorConfig

__all__ = ["WrittenStatus", "config_of", "now", "write_status", "written_status"]

#: How long a pass waits for its own last status write to come back through the watch before
#: it acts on what it sees anyway (the write failed, or someone else changed the status).
CATCH_UP_SECONDS = 5.0


def config_of(memo: kopf.Memo) -> OperatorConfig:
    config = memo.get("config")
    if not isinstance(config, OperatorConfig):
        raise kopf.PermanentError("operator started without configuration")
    return config


def now() -> dt.datetime:
    """Wall-clock time, truncated to seconds as metav1.Time stores it (so status compares equal)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def write_status(patch: kopf.Patch, change: dict[str, Any] | None) -> None:
    """Put the whole status change into kopf's single patch of this pass (nothing if None)."""
    if change:
        patch.status.update(change)


@dataclass
class WrittenStatus:
    """The status this process last wrote per object, until the watch brings it back.

    kopf hands a pass the body of its latest watch event; a pass that comes before the event of
    the previous pass's own patch sees the status before that patch and would take the same
    decision again (a second event, MLflow write, history entry). So a pass waits until the
    status it sees holds what was written, or ``CATCH_UP_SECONDS`` have passed."""

    catch_up_seconds: float = CATCH_UP_SECONDS
    _pending: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)

    def behind(self, uid: str, current: Mapping[str, Any], clock: float) -> bool:
        """Whether ``current`` (the status in the body) predates this process's last write."""
        pending = self._pending.get(uid)
        if pending is None:
            return False
        written, at = pending
        if status_patch(dict(current), written) is None or clock - at >= self.catch_up_seconds:
            del self._pending[uid]
            return False
        return True

    def wrote(self, uid: str, status: Mapping[str, Any], clock: float) -> None:
        self._pending[uid] = (copy.deepcopy(dict(status)), clock)

    def forget(self, uid: str) -> None:
        self._pending.pop(uid, None)


def written_status(memo: kopf.Memo, kind: str) -> WrittenStatus:
    """The process's ``WrittenStatus`` of ``kind`` (one per kind, kept in kopf's memo)."""
    key = f"written_status_{kind}"
    found = memo.get(key)
    if found is None:
        found = WrittenStatus()
        memo[key] = found
    assert isinstance(found, WrittenStatus)
    return found
