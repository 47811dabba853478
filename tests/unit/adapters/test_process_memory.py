"""The heap trimmer: runs its trim on the interval until stopped; nothing without a trim."""

from __future__ import annotations

import sys
import threading

import pytest

from uplift_operator.adapters import process_memory


def test_trims_on_the_interval_until_stopped() -> None:
    calls = threading.Semaphore(0)
    stop = process_memory.start_trimming(0.01, trim=calls.release)
    assert all(calls.acquire(timeout=5) for _ in range(3))  # it keeps trimming
    stop.set()
    while calls.acquire(timeout=0.1):  # drain what ran before the stop was seen
        pass
    assert not calls.acquire(timeout=0.1)  # and then no more


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_trim_is_callable_here() -> None:
    trim = process_memory.glibc_trim()
    assert trim is not None
    trim()
