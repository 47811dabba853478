"""The kept pieces of a long count range end far enough back to hold two answered scrapes.

``PiecewiseIncreases`` answers a long ``increase()`` as the kept pieces up to a cut point at
least ``settle`` back plus the rest, asked each time. With ``settle`` (``--prometheus-ingest-
delay``) under two scrape intervals the rest could hold one scrape or none: Prometheus answers no
increase for it, and its counts were missing (0.13 % short at a 10 s delay and a 30 s scrape, at
every analysis that fell so); raised only to two scrapes, it was still short with samples up to
the delay late (0.24 % at 5 s). The settings add two ``--prometheus-scrape-interval``s to a delay
under two. The fake Prometheus extrapolates as Prometheus does
(``extrapolatedRate``) over a counter scraped every 30 s.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from datetime import datetime

import pytest

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases
from uplift_operator.handlers.lifecycle import metric_source
from uplift_operator.settings import parse_args

SCRAPE = 30.0
RATE = 2.0  # per second
PHASE = 27.0  # the first scrape's second
DAYS = 2
TIMES = [PHASE + i * SCRAPE for i in range(int(DAYS * 86400 / SCRAPE))]
VALUES = [RATE * (t - PHASE) for t in TIMES]
_RANGE = re.compile(r"\[(\d+)(ms|s)\]")


def _increase(start: float, end: float, seen: float | None = None) -> float | None:
    """Prometheus' ``increase`` over (start, end] of the scraped counter, with only the samples
    scraped up to ``seen`` answered yet (a remote-write backend's ingest lag, asked at
    ``seen`` + lag):
    None with fewer than two samples; else their difference extrapolated to the range's edges
    (by at most half an interval past 1.1 intervals, and not below zero at the start)."""
    newest = end if seen is None else min(end, seen)
    first, last = bisect.bisect_right(TIMES, start), bisect.bisect_right(TIMES, newest) - 1
    if last - first < 1:
        return None
    result = VALUES[last] - VALUES[first]
    interval = TIMES[last] - TIMES[first]
    average = interval / (last - first)
    to_start, to_end = TIMES[first] - start, end - TIMES[last]
    if result > 0 and VALUES[first] >= 0:
        to_start = min(to_start, interval * VALUES[first] / result)
    threshold = average * 1.1
    extended = (interval + (to_start if to_start < threshold else average / 2)
                + (to_end if to_end < threshold else average / 2))
    return result * extended / interval


class Extrapolating:
    def __init__(self, lag: float = 0.0) -> None:
        self.lag = lag
        self.now = 0.0  # when it is asked: what was scraped by now - lag is answered

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]:
        assert isinstance(time, float)
        found = _RANGE.search(promql)
        assert found is not None
        seconds = int(found[1]) / (1000 if found[2] == "ms" else 1)
        value = _increase(time - seconds, time, self.now - self.lag)
        return [] if value is None else [Sample({}, value, time)]


def _worst_shortfall(settle: float, lag: float = 0.0, step: float = 61.3,
                     analyses: int = 300) -> float:
    """The largest relative shortfall of the pieces' answer against the whole range's, over
    analyses ``step`` s apart of a 7 h range, on the second day, samples ``lag`` s late."""
    source = Extrapolating(lag)
    pieces = PiecewiseIncreases(source, settle=settle)
    worst = 0.0
    for k in range(analyses):
        now = source.now = 86400 + 7 * 3600 + k * step
        got = pieces.query('sum(increase(m{a="b"}[25200s]))', now)
        want = _increase(now - 25200, now, now - lag)
        assert want
        worst = max(worst, (want - got[0].value) / want if got else 1.0)
    return worst


def test_a_delay_under_two_scrapes_is_raised_by_two() -> None:
    config = parse_args(["-A", "--prometheus-url", "http://prometheus:9090",
                         "--prometheus-ingest-delay", "10"])
    assert config.prometheus_ingest_delay == 10 + 2 * config.prometheus_scrape_interval == 70
    source = metric_source(config)
    assert source is not None and source.settle == 70
    slow = parse_args(["-A", "--prometheus-scrape-interval", "200"])  # the default 300: 700
    assert slow.prometheus_ingest_delay == 700
    assert parse_args(["-A", "--prometheus-ingest-delay", "900"]).prometheus_ingest_delay == 900
    assert parse_args(["-A"]).prometheus_ingest_delay == 300
    assert parse_args(["-A", "--prometheus-ingest-delay", "599", "--prometheus-scrape-interval",
                       "300"]).prometheus_ingest_delay == 1199  # within the 3600 s bound


def test_the_kept_parts_end_at_least_the_query_lag_and_two_scrapes_back() -> None:
    """A backend answers no sample sooner than ``--prometheus-query-lag``: a kept part cut
    within it would miss its last scrapes for good (it is never asked again), and the rest
    after the cut needs two answered scrapes for an ``increase()``."""
    assert parse_args(["-A", "--prometheus-query-lag", "900"]).prometheus_ingest_delay == 960
    assert parse_args(["-A", "--prometheus-ingest-delay", "10", "--prometheus-query-lag",
                       "20"]).prometheus_ingest_delay == 20 + 2 * 30
    assert parse_args(["-A", "--prometheus-ingest-delay", "600", "--prometheus-query-lag",
                       "120"]).prometheus_ingest_delay == 600
    assert parse_args(["-A", "--prometheus-query-lag", "0"]).prometheus_ingest_delay == 300
    assert parse_args(["-A", "--prometheus-query-lag", "3540"]).prometheus_ingest_delay == 3600
    with pytest.raises(SystemExit):  # past the kept parts' hour
        parse_args(["-A", "--prometheus-query-lag", "3541"])
    config = parse_args(["-A", "--prometheus-ingest-delay", "10", "--prometheus-query-lag",
                         "100", "--prometheus-scrape-interval", str(int(SCRAPE))])
    # Samples the query lag late, as the lag says they are; 70 s (the delay alone) and 100 s
    # (the lag alone) fell short.
    assert config.prometheus_ingest_delay == 160
    assert _worst_shortfall(config.prometheus_ingest_delay, 100.0,
                            step=4.3, analyses=1500) == pytest.approx(0, abs=1e-9)
    assert _worst_shortfall(70.0, 100.0, step=4.3, analyses=1500) > 1e-3
    assert _worst_shortfall(100.0, 100.0, step=4.3, analyses=1500) > 1e-3


@pytest.mark.parametrize("lag", [0.0, 5.0, 10.0])
def test_the_pieces_built_from_the_settings_add_up_to_the_whole_range(lag: float) -> None:
    """Samples up to the delay (10 s) late, as the delay says they may be."""
    config = parse_args(["-A", "--prometheus-ingest-delay", "10",
                         "--prometheus-scrape-interval", str(int(SCRAPE))])
    assert _worst_shortfall(config.prometheus_ingest_delay, lag,
                            step=4.3, analyses=1500) == pytest.approx(0, abs=1e-9)


def test_why() -> None:
    # The rest after a cut point 10 s back held one scrape at times, and counted nothing;
    # two scrapes back, it held one answered scrape when samples came 5 s late.
    assert _worst_shortfall(10.0) > 1e-3
    assert _worst_shortfall(60.0, 5.0, step=4.3, analyses=1500) > 1e-3
