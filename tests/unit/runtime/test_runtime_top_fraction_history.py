"""The topFraction history (``engine.RecentUplifts``): the last 10,000 uplifts of a campaign in
a float32 ring, each rounded down, ~40 KB per campaign (a deque of Python floats held 316 KiB:
1.23 GiB at 4,096 campaigns), the threshold the same order statistic as before, rounded down."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift_operator.runtime import policy
from uplift_operator.runtime.engine import TOP_FRACTION_HISTORY, CampaignLedger, RecentUplifts


def test_a_full_history_holds_about_40_kb_per_campaign() -> None:
    rng = np.random.default_rng(0)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        ledgers = []
        for _ in range(50):
            ledger = CampaignLedger()
            for _ in range(3):   # more than it keeps: the oldest go
                ledger.recent_uplift.extend(rng.normal(size=TOP_FRACTION_HISTORY // 2))
            ledgers.append(ledger)
        per_campaign = (tracemalloc.get_traced_memory()[0] - base) / len(ledgers)
    finally:
        tracemalloc.stop()
    assert all(len(ledger.recent_uplift) == TOP_FRACTION_HISTORY for ledger in ledgers)
    assert per_campaign < 44_000   # 40,000 B of float32 and the ledger around them


def test_a_campaign_that_never_ranks_holds_no_history() -> None:
    assert CampaignLedger().recent_uplift.nbytes == 0


@settings(max_examples=150, deadline=None)
@given(size=st.integers(1, 40),
       chunks=st.lists(st.lists(st.floats(-1, 1, allow_nan=False), max_size=60), max_size=8),
       fraction=st.floats(0.01, 1.0))
def test_the_history_keeps_the_last_uplifts_rounded_down(
        size: int, chunks: list[list[float]], fraction: float) -> None:
    history = RecentUplifts(size)
    every: list[float] = []
    for chunk in chunks:
        history.extend(np.array(chunk, dtype=np.float64))
        every += chunk
    last = np.array(every[-size:] if every else [], dtype=np.float64)
    kept = np.sort(history.values().astype(np.float64))
    assert len(history) == len(last)
    # Each kept value is its uplift rounded down to float32: at most one float32 step below.
    exact = np.sort(last)
    assert (kept <= exact).all()
    assert (kept >= np.nextafter(exact.astype(np.float32), np.float32(-np.inf))).all()
    if len(last):
        threshold = policy.top_fraction_threshold(history.values(), fraction)
        before = policy.top_fraction_threshold(last.tolist(), fraction)   # the deque's
        assert threshold <= before
        assert threshold == pytest.approx(before, abs=1e-7)
        # A unit at the threshold the deque gave is still treated.
        assert (last >= threshold).sum() >= (last >= before).sum()
