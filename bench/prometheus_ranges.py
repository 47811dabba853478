"""What a long-lived analysis costs Prometheus: one ``increase()`` over the whole range against
``PiecewiseIncreases`` (kept pieces plus the rest).

Usage (from the repo root; about two minutes on 2 cores, most of it promtool)::

    .venv/bin/python bench/prometheus_ranges.py [--days 14] [--out FILE.md]

A real Prometheus (Debian's 2.42) is backfilled with ``--days`` of a drift gate's counters as
the runtime exports them: 7 features x 10 bins x 2 replicas (140 series), scraped every 30 s,
Poisson counts. For each age of the range (how long since the step, ramp or canary started),
the drift collector's query at that age is asked

* **whole**: as the collectors write it, one ``increase()`` over the range (median of 5);
* **pieces**: through ``PiecewiseIncreases`` (the operator's source), at 12 analyses 5 minutes
  apart, the first with nothing kept (an operator just started: it asks the whole range up
  to the cut point once), then as a running operator asks.

Then one operator keeps the range from its start, an analysis an hour (a joint an hour), and
its answer is compared with the whole range's at each age.

Reported per age: samples Prometheus read (its own ``stats=all`` count), the instant queries
asked (pieces: the kept pieces' queries plus the rest's; the whole range is one) and wall time per
analysis, and the largest relative difference between the two answers over every label set.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "operator"), str(REPO)]

from tests.support.counter_history import write_history  # noqa: E402

from uplift_operator.adapters.prometheus import Sample  # noqa: E402
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases  # noqa: E402
from uplift_operator.devenv.prometheus import PrometheusServer  # noqa: E402

HOUR = 3600
SCRAPE_S = 30
SERIES = [{"namespace": "shop", "model": "uplift", "version": "3", "feature": f"f{f}",
           "bin": str(b), "instance": f"r{r}"} for f in range(7) for b in range(10)
          for r in range(2)]
QUERY = ('sum by (feature, bin) (increase(uplift_feature_bin_total{{namespace="shop", '
         'model="uplift", version="3", campaign=""}}[{seconds}s]))')
AGES_H = (1, 6, 24, 72, 168, 336)
ANALYSES, EVERY_S = 12, 300


class CountingSource:
    """Instant queries with Prometheus's own sample count (``stats=all``) added up, and counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples = 0
        self.queries = 0

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        at = time.timestamp() if isinstance(time, datetime) else time
        body: dict[str, Any] = requests.get(f"{self.url}/api/v1/query", timeout=120, params={
            "query": promql, "time": f"{at:.3f}", "stats": "all"}).json()
        self.queries += 1
        if body.get("status") != "success":
            raise RuntimeError(f"{promql}: {body.get('error')}")
        data = body["data"]
        self.samples += int(data["stats"]["samples"]["totalQueryableSamples"])
        return [Sample(labels=r["metric"], value=float(r["value"][1]), timestamp=float(at or 0))
                for r in data["result"]]


def by_labels(samples: Sequence[Sample]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in samples}


def measure(source: CountingSource, end: float, age_s: int) -> dict[str, float]:
    start = end - age_s - ANALYSES * EVERY_S + 0.4
    instants = [end - (ANALYSES - 1 - i) * EVERY_S + 0.7 for i in range(ANALYSES)]
    ranges = PiecewiseIncreases(source)
    first_samples = first_ms = first_queries = 0.0
    piece_samples, piece_ms, piece_queries, whole_samples, whole_ms = [], [], [], [], []
    worst = worst_count = 0.0
    for index, at in enumerate(instants):
        promql = QUERY.format(seconds=int(at - start))
        before, asked, clock = source.samples, source.queries, time.perf_counter()
        pieces = by_labels(ranges.query(promql, at))
        elapsed, read = (time.perf_counter() - clock) * 1000, source.samples - before
        asked = source.queries - asked
        if index == 0:
            first_samples, first_ms, first_queries = read, elapsed, asked
        else:
            piece_samples.append(read)
            piece_ms.append(elapsed)
            piece_queries.append(asked)
        before, clock = source.samples, time.perf_counter()
        whole = by_labels(source.query(promql, at))
        whole_ms.append((time.perf_counter() - clock) * 1000)
        whole_samples.append(source.samples - before)
        assert whole.keys() == pieces.keys() and whole
        worst = max(worst, max(abs(pieces[k] - v) / v for k, v in whole.items() if v > 0))
        worst_count = max(worst_count, max(abs(pieces[k] - v) for k, v in whole.items()))
    return {"whole_samples": statistics.median(whole_samples),
            "whole_ms": statistics.median(whole_ms[-5:]),
            "first_samples": first_samples, "first_ms": first_ms,
            "first_queries": first_queries,
            "piece_samples": statistics.median(piece_samples),
            "piece_queries": statistics.median(piece_queries),
            "piece_ms": statistics.median(piece_ms), "worst": worst, "worst_count": worst_count}


def running(source: CountingSource, end: float, age_s: int,
            checks_h: Sequence[int]) -> list[tuple[int, float, float, float, float]]:
    """One operator running for the whole range: an analysis each hour (the kept part grows by
    one joint each time), compared with the whole range at ``checks_h`` hours of age."""
    start = end - age_s + 0.4
    ranges = PiecewiseIncreases(source)
    out = []
    for hours in range(1, age_s // HOUR + 1):
        at = start + hours * HOUR + 0.3
        promql = QUERY.format(seconds=int(at - start))
        pieces = by_labels(ranges.query(promql, at))
        if hours in checks_h:
            whole = by_labels(source.query(promql, at))
            signed = [pieces[k] - v for k, v in whole.items()]
            out.append((hours, statistics.mean(signed), statistics.pstdev(signed),
                        max(abs(d) for d in signed), statistics.mean(whole.values())))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    end = 1_788_000_000 - 1_788_000_000 % (2 * HOUR)
    start = end - args.days * 24 * HOUR - ANALYSES * EVERY_S - 2 * HOUR
    ages = [h for h in AGES_H if h <= args.days * 24]
    with tempfile.TemporaryDirectory(prefix="uplift-ranges-") as tmp:
        clock = time.perf_counter()
        files = write_history(Path(tmp) / "om", "uplift_feature_bin", SERIES, start=start + 11,
                              end=end, scrape_s=SCRAPE_S, events_per_scrape=0.5, seed=3)
        server = PrometheusServer(workdir=Path(tmp) / "server", retention="3650d")
        server.backfill(*files)
        backfilled = time.perf_counter() - clock
        with server:
            source = CountingSource(server.url)
            rows = [(h, measure(source, end, h * HOUR)) for h in ages]
            joined = running(source, end, args.days * 24 * HOUR, ages)
    lines = [
        f"# Prometheus cost of long count ranges ({len(SERIES)} series, {SCRAPE_S} s scrapes, "
        f"{args.days} days backfilled in {backfilled:.0f} s)", "",
        "| range age | whole: samples | whole: ms | pieces, first analysis: samples | queries "
        "| ms | pieces, running: samples | queries | ms | largest difference: relative "
        "| counts |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for hours, r in rows:
        lines.append(
            f"| {hours} h | {r['whole_samples']:,.0f} | {r['whole_ms']:.1f} "
            f"| {r['first_samples']:,.0f} | {r['first_queries']:.0f} | {r['first_ms']:.1f} "
            f"| {r['piece_samples']:,.0f} | {r['piece_queries']:.0f} | {r['piece_ms']:.1f} "
            f"| {r['worst']:.1e} | {r['worst_count']:.1f} |")
    lines += ["", "Kept by one operator since the range began (an analysis each hour, a joint "
              "each hour), against the whole range:", "",
              "| range age | joints | mean count | difference: mean | sd | largest |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {h} h | {max(h - 1, 0)} | {count:,.0f} | {mean:+.2f} | {sd:.1f} | {big:.1f} |"
              for h, mean, sd, big, count in joined]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
