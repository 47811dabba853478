"""Since when each resource's wait has failed, for the reason it fails now: what its retries
back off from (``domain.retry``).

Kept in the process, not in the status: a condition's transition time moves only with its
status, so a new reason (MLflow back, the model now not found) would not start the backoff
over. A restart starts every backoff over, at its first retry. Entries go when the resource's
wait succeeds (``cleared``) or the resource is deleted (``cleared`` too, by its handler), so
they are bounded by the resources failing now.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Hashable

__all__ = ["FailingSince"]


class FailingSince:
    """Per resource key: (reason, since when it has failed for that reason). Safe from several
    pass threads (each resource's passes run one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[Hashable, tuple[str, dt.datetime]] = {}

    def failing(self, key: Hashable, reason: str, now: dt.datetime) -> dt.datetime:
        """Since when ``key`` has failed for ``reason``: ``now`` when it did not fail before,
        or failed for another reason."""
        with self._lock:
            known = self._since.get(key)
            if known is None or known[0] != reason:
                self._since[key] = (reason, now)
                return now
            return known[1]

    def cleared(self, key: Hashable) -> None:
        """``key``'s wait succeeded, or it is gone: the next failure starts over."""
        with self._lock:
            self._since.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._since)
