"""Days of scraped counters written as OpenMetrics files for ``PrometheusServer.backfill``.

``write_history`` plays what Prometheus would have scraped: each series is a counter that
grows by a Poisson number of events per scrape interval, optionally restarting from zero at
given instants (a replica replaced), and one file holds each two-hour block (promtool reads a
whole file once per block it writes). Used by the piecewise-range test and
``bench/prometheus_ranges.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

BLOCK_S = 2 * 3600


def write_history(directory: Path, metric: str, series: Sequence[Mapping[str, str]], *,
                  start: int, end: int, scrape_s: int, events_per_scrape: float,
                  resets: Mapping[int, Sequence[int]] | None = None, seed: int = 0) -> list[Path]:
    """Files under ``directory`` holding ``metric`` (``<metric>_total`` samples) for each label
    set in ``series`` from ``start`` to ``end`` (epoch seconds, multiples of ``scrape_s``);
    ``resets`` maps a series' index to the instants its counter restarts from zero."""
    rng = np.random.default_rng(seed)
    times = np.arange(start, end + 1, scrape_s)
    values = []
    for index in range(len(series)):
        counts = rng.poisson(events_per_scrape, size=len(times)).astype(np.int64)
        counts[0] = 0
        value = np.cumsum(counts)
        for at in sorted((resets or {}).get(index, ())):
            after = times >= at
            value[after] -= value[after][0]  # from zero at the first scrape after the restart
        values.append(value)
    labels = [",".join(f'{k}="{v}"' for k, v in s.items()) for s in series]
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for block_start in range(start - start % BLOCK_S, end + 1, BLOCK_S):
        inside = np.nonzero((times >= block_start) & (times < block_start + BLOCK_S))[0]
        if len(inside) == 0:
            continue
        path = directory / f"{metric}-{block_start}.om"
        with path.open("w") as out:
            out.write(f"# HELP {metric} synthetic history\n# TYPE {metric} counter\n")
            for label_text, value in zip(labels, values, strict=True):
                out.writelines(f"{metric}_total{{{label_text}}} {value[i]} {times[i]}\n"
                               for i in inside)
            out.write("# EOF\n")
        files.append(path)
    return files
