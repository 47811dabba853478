"""The topFraction history (``engine.RecentUplifts``): the last 10,000 uplifts of a campaign in
a float32 ring, each rounded down, ~40 KB per campaign (a deque of Python floats held 316 KiB:
1.23 GiB at 4,096 campaigns), the threshold an order statistic of it, rounded down: the
k-th largest of n, k = ⌊topFraction · n⌋, none treated while k is 0."""

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


@settings(max_examples=300, deadline=None)
@given(uplifts=st.lists(st.floats(-1, 1, allow_nan=False), min_size=0, max_size=80,
                        unique=True),
       fraction=st.floats(0.01, 1.0))
def test_the_threshold_lets_at_most_the_top_fraction_reach_it(uplifts: list[float],
                                                               fraction: float) -> None:
    """Of n distinct uplifts exactly ⌊fraction · n⌋ reach the threshold, so a unit whose own
    uplift is one of them is treated with a chance of at most ``fraction``: none while n is
    below 1/fraction (a history that has just started). Before, 1 + ⌊fraction · (n − 1)⌋
    reached it (the ``higher`` quantile): the first uplift of a history always."""
    threshold = policy.top_fraction_threshold(uplifts, fraction)
    reach = sum(u >= threshold for u in uplifts)
    assert reach == int(np.floor(fraction * len(uplifts) + 1e-9)) <= fraction * len(uplifts) + 1e-9
    if len(uplifts) < 1 / fraction - 1e-9:
        assert threshold == np.inf


def test_a_history_that_has_just_started_treats_no_more_than_the_fraction() -> None:
    """The review's topfraction_warmup.py: single-row decisions after a (re)start, each row's
    uplift added to the history before the threshold is taken (as the engine does). The share
    treated stays at most topFraction over the first rows; before, 29.6 % of the first 10 and
    18.3 % of the first 30 were treated at topFraction 0.1."""
    rng = np.random.default_rng(1)
    fraction = 0.1
    for rows, at_most in ((9, 0.0), (10, 0.1), (30, 0.1), (300, 0.1)):
        treated = 0   # expected shares: 0, 0.010, 0.055, 0.092
        for _ in range(200):
            history = RecentUplifts()
            for u in rng.normal(size=rows):
                history.extend([u])
                treated += bool(u >= policy.top_fraction_threshold(history.values(), fraction))
        assert treated / (200 * rows) <= at_most, rows
