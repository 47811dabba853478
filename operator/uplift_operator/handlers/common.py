"""Glue shared by the handlers: reading the config from memo, writing status in one patch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf

from uplift_operator.settings import OperatorConfig

__all__ = ["config_of", "now", "write_status"]


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
