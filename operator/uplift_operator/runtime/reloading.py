"""Watching the campaigns file for a new version (file I/O only: ``stat`` and ``read``).

``UPLIFT_CAMPAIGNS_FILE`` is normally a key of a ConfigMap mounted as a volume:
``<mount>/campaigns.json`` → ``..data/campaigns.json`` → ``..<timestamp>/campaigns.json``. The
kubelet writes a new timestamped directory and swaps the ``..data`` symlink atomically, so the
file reached through the path is a different file (device, inode) after an update. ``os.stat``
follows the links; an editor or ``cp`` that rewrites the file in place shows as a new
modification time or size instead. :meth:`FileWatch.poll` compares that signature with the one
last seen and reads the file only when it differs, so calling it once a second costs one
``stat`` (a few µs) when nothing changed. A version that failed to apply is not retried until
the file changes again: an error is reported once per version of the file. A version that could
not be read is read again at every poll until it is (its error reported once). A read that finds
no file where the ``stat`` just before found one is the kubelet's update racing the poll (the
``..data`` link swapped, the directory the stat saw removed): it is read again at the next poll
without a word, and reported only when the next poll's read finds none either.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Signature = tuple[int, int, int, int] | str   # (device, inode, mtime ns, size), or why missing
_MISSING = "is not there"


@dataclass(frozen=True)
class Change:
    """A new version of the file: its content, or why it cannot be read (``missing``: it is not
    there at all, as in a ConfigMap volume mounted ``optional`` before the ConfigMap exists)."""

    text: bytes | None
    error: str | None = None
    missing: bool = False


class FileWatch:
    """Reports each new version of the file at ``path``."""

    def __init__(self, path: str, stat: Callable[[str], os.stat_result] = os.stat,
                 read: Callable[[str], bytes] = lambda p: Path(p).read_bytes()) -> None:
        self.path = path
        self._stat, self._read = stat, read
        self._seen: Signature | None = None
        self._unread: Signature | None = None   # a version whose read failed (reported)
        #: The last poll's read found no file after its stat found one (not reported).
        self._vanished = False

    def _signature(self) -> Signature:
        try:
            st = self._stat(self.path)
        except FileNotFoundError:
            return _MISSING
        except OSError as exc:
            return f"cannot be read: {exc.strerror or exc}"
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def poll(self) -> Change | None:
        """The file's new version since the last poll, ``None`` when it has not changed."""
        signature = self._signature()
        if signature == self._seen:
            return None
        self._seen = signature
        if isinstance(signature, str):
            # The file is gone (or cannot be stat'ed): a race seen before is over, so the next
            # race, once it is back, is read again silently as the first was.
            self._vanished = False
            return Change(None, f"{self.path} {signature}", missing=signature == _MISSING)
        try:
            text = self._read(self.path)
        except OSError as exc:
            # Not seen: the next poll reads it again (a transient error must not leave the
            # runtime on the old settings until the file changes again); reported once.
            self._seen = None
            if isinstance(exc, FileNotFoundError) and not self._vanished:
                # The stat saw a file the read did not: the kubelet swapped ``..data`` and
                # removed the directory the stat followed in between. Nothing is wrong: read
                # again at the next poll, and reported only if that read finds none either.
                self._vanished = True
                return None
            self._vanished = False
            if signature == self._unread:
                return None
            self._unread = signature
            return Change(None, f"{self.path} cannot be read: {exc.strerror or exc}")
        self._unread, self._vanished = None, False
        # Read what the stat saw: a writer that replaced the file in between is read again at
        # the next poll (its signature differs from the one recorded here).
        if self._signature() != signature:
            self._seen = None
        return Change(text)
