"""Give the operator's freed heap back to the system between bursts of passes.

Role: a burst of passes (1,000 resources applied at once) raises the process's RSS to its peak,
and glibc's allocator keeps the freed pages: measured at 1,000 resources, 262–287 MB at rest
against 213 MB once ``malloc_trim`` returned them (docs/operator.md, "Scale"). One daemon
thread calls ``malloc_trim(0)`` every ``interval`` seconds; where the C library has none
(musl, macOS) nothing runs. Started and stopped by ``handlers.lifecycle``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable

__all__ = ["TRIM_INTERVAL_SECONDS", "glibc_trim", "start_trimming"]

#: Often enough that the RSS at rest follows the live heap within a minute; a trim of a
#: 250 MB heap takes a few milliseconds.
TRIM_INTERVAL_SECONDS = 30.0

log = logging.getLogger(__name__)


def glibc_trim() -> Callable[[], object] | None:
    """``malloc_trim(0)`` of the C library, or None where there is none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


def start_trimming(interval: float = TRIM_INTERVAL_SECONDS,
                   trim: Callable[[], object] | None = None) -> threading.Event:
    """Trim every ``interval`` seconds in a daemon thread until the returned event is set
    (``trim`` defaults to ``glibc_trim()``; without one, nothing starts)."""
    stop = threading.Event()
    trim = trim if trim is not None else glibc_trim()
    if trim is None:
        log.debug("no malloc_trim in this C library: the heap is not trimmed")
        return stop
    run = trim

    def loop() -> None:
        while not stop.wait(interval):
            run()

    threading.Thread(target=loop, name="heap-trim", daemon=True).start()
    return stop
