"""``bench/runtime_campaigns_leaving.py`` at 4 campaigns: the tick it times is the one that
removes the leaving campaigns' series. Its timings are the bench's output (docs/runtime.md
"What campaigns leaving in one tick cost"), never asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench import runtime_campaigns_leaving as leaving  # noqa: E402


@pytest.mark.parametrize("case", leaving.CASES)
def test_the_timed_tick_removes_the_leaving_campaigns_series(case: str, tmp_path: Path) -> None:
    result = leaving.measure(4, case, tmp_path)

    assert result.own >= 4 * 50 and result.series > result.own   # each one's series at zero
    # After the tick: deleted, nothing of them is left; ended, a campaign of the file keeps
    # its two gauges (generation, exposure) and loses every counter.
    assert result.counters_left == 0
    assert result.gauges_left == (0 if case == "delete" else 2 * 4)
