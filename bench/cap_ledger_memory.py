"""Memory of the runtime's cap ledger (``UPLIFT_CAP_LEDGER_SIZE``): bytes per (campaign, unit)
entry, traced while the real ledger class is filled to its bound.

    .venv/bin/python bench/cap_ledger_memory.py [--entries 100000] [--campaigns 5] \
        [--unit-length 18] [--churn 5]

``engine.TreatedUnits`` is filled as a replica's decisions fill it: one treatment each for
``--entries`` distinct units spread over ``--campaigns`` campaigns, each unit id a new string
of ``--unit-length`` characters (as decoded from a request), each campaign's name one shared
string (as the campaigns file gives it). The heap it holds is measured with tracemalloc, the
unit ids included (the ledger keeps them alive after their request), then after ``--churn``
ledgers' worth of further units, the least recently decided evicted: that is what a replica holds at
its bound (the dict under the LRU grows its table as entries come and go), with the highest
the heap reached meanwhile (a table resize holds the old and the new table for a moment). The
figures are in docs/runtime.md ("Configuration", ``cap_ledger_size``)."""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from uplift_operator.runtime.engine import TreatedUnits


def _unit(n: int, length: int) -> str:
    """A distinct unit id of ``length`` characters, e.g. ``cust-0000000012345``."""
    return ("cust-" + str(n).rjust(max(length - 5, 1), "0"))[-length:]


def held(entries: int, campaigns: int, unit_length: int, churn: int) -> tuple[int, int, int, int]:
    """(bytes held after filling, bytes held after ``churn`` × ``entries`` more, the peak
    meanwhile, entries kept)."""
    names = [f"campaign-{i:03d}" for i in range(campaigns)]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    ledger = TreatedUnits(entries)
    for n in range(entries):
        ledger.add(names[n % campaigns], _unit(n, unit_length))
    gc.collect()
    filled = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.reset_peak()
    for n in range(entries, (1 + churn) * entries):   # the oldest evicted
        ledger.add(names[n % campaigns], _unit(n, unit_length))
    gc.collect()
    bounded, peak = (value - base for value in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    return filled, bounded, peak, len(ledger)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="the ledger's size")
    parser.add_argument("--campaigns", type=int, default=5)
    parser.add_argument("--unit-length", type=int, default=18)
    parser.add_argument("--churn", type=int, default=5,
                        help="units added after filling, in ledgers' worth (evicting as many)")
    args = parser.parse_args()
    filled, bounded, peak, kept = held(args.entries, args.campaigns, args.unit_length,
                                       args.churn)
    print("| entries | campaigns | unit id | filled once | at the bound (after the churn) | "
          "per entry at the bound | peak |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {kept:,} | {args.campaigns} | {args.unit_length} characters | "
          f"{filled / 1e6:.1f} MB ({filled / kept:.0f} B each) | {bounded / 1e6:.1f} MB | "
          f"{bounded / kept:.0f} B | {peak / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
