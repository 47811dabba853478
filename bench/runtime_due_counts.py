"""What the pending cohort counts (``windows.DueCounts``) hold on one replica once a 14-day
attribution window has filled with steady traffic, and what reading them costs the event loop.

    .venv/bin/python bench/runtime_due_counts.py [--campaigns 100]

Each campaign's decisions, in-window outcomes and conversions are counted in every slot (1/1,000
of the window) for both arms and three treatments (two and ``none``), under one version, each
with a fresh key tuple as ``UpliftRuntime._hold`` makes them: 18 keys per campaign. It reports
the heap they hold (tracemalloc), what one retired campaign's last due time costs
(``last_due``, as ``_forget_retired`` asks it), one tick's hand-over of the counts due in one
slot, and the drain's of all. The figures are in docs/runtime.md ("Late outcomes, completeness
and cohorts")."""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from uplift_operator.runtime.runtime import _pending_groups
from uplift_operator.runtime.windows import SLOTS_PER_WINDOW, DueCounts

WINDOW = 14 * 86400
START = 1_780_000_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=100)
    args = parser.parse_args()
    n = args.campaigns
    names = [f"campaign-{c}" for c in range(n)]   # one string per campaign, as c.name is
    width = WINDOW / SLOTS_PER_WINDOW
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    due: DueCounts[tuple[str, str, str, str, str]] = DueCounts(groups=_pending_groups)
    began = time.perf_counter()
    for slot in range(SLOTS_PER_WINDOW):
        closes = START + slot * width
        for name in names:
            for kind in ("expected", "received", "converted"):
                for arm in ("holdout", "treated"):
                    for key in ("womens_e_mail", "mens_e_mail", "none"):
                        due.add(closes, WINDOW, (kind, name, arm, key, "7"))
    filled = time.perf_counter() - began
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    adds = n * 18 * SLOTS_PER_WINDOW
    print(f"{n} campaigns, 14-day window filled ({adds} counts): {held / 1e6:.1f} MB held, "
          f"{held / n / 1e3:.0f} KB per campaign (x4096 = {held / n * 4096 / 1e9:.2f} GB); "
          f"add {filled / adds * 1e6:.1f} us each under tracemalloc")

    began = time.perf_counter()
    for _ in range(100):
        due.last_due(("campaign", "gone-campaign"))
        due.last_due(("campaign", names[-1]))
    print(f"last_due of a campaign: {(time.perf_counter() - began) / 200 * 1e6:.0f} us")
    began = time.perf_counter()
    due.last_due(("version", "7"))
    print(f"last_due of the version every count is of: "
          f"{(time.perf_counter() - began) * 1e3:.1f} ms")
    began = time.perf_counter()
    one = due.pop_due(math.ceil(START / width) * width)
    print(f"one slot due ({len(one)} keys): {(time.perf_counter() - began) * 1e3:.1f} ms")
    began = time.perf_counter()
    rest = due.pop_due(math.inf)
    print(f"the drain ({sum(rest.values()):.0f} counts): "
          f"{(time.perf_counter() - began) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
