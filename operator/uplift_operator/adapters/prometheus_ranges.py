"""Long ``increase()`` ranges answered from cached pieces: an analysis on a step's fourteenth day
reads about as many samples as one on its first.

Role: a ``MetricSource`` in front of ``PrometheusClient``. The gates' counts are cumulative
since a fixed start (the step's, the ramp's, the canary's, a budget period's, a cohort
window's), and Prometheus reads every sample in a range: a Campaign's first step lasts at least
its attribution window (14 days by default), and its drift query over 7 features x 10 bins
x 2 replicas at a 30 s scrape then reads 5.7 M samples (0.3 s of Prometheus) at every analysis
of every campaign, against 9,800 (4 ms) through this class (``bench/prometheus_ranges.py``);
past ``--query.max-samples`` (50 M by default: about 1,240 such series over 14 days)
Prometheus refuses the whole-range query and the gate holds on an Error (``OverLimits``: not
counted towards ``consecutiveErrorLimit``).

A count query of the one shape the collectors write,
``sum [by (labels)] (increase(metric{selector}[<n>s] [offset <m>s])) [or vector(0)]``, whose
range is at least ``min_range`` long, is answered as the sum of two increases: from the range's
start to a cut point (the latest multiple of ``piece`` seconds at least ``settle`` before the
range's end), kept per (query, offset, start) and extended by a query of the pieces that
closed when the cut point moves; and from the cut point to the range's end, asked each time.
The cut point is at least ``settle`` in the past, so no scrape still lands in what was kept.
A gauge's ``last_over_time(metric{selector}[<n>s])`` over such a range (the budget gate's
spend per ledger, whose ended ledgers must still count) is answered the same way, exactly: the
kept pieces' last value of each series, replaced by the rest's where the series has a sample
since. Any other query, and a shorter range, goes to Prometheus unchanged.

Exactness: ``increase()`` extrapolates each range's first and last sample to its edges, so at
each joint the two increases estimate the scrape interval around it from their own rates
instead of counting it: zero-mean, about one interval's counts' standard deviation per series
and joint. Over 14 days of hourly joints (335) the bench's 70 label sets differ by +2.1 counts
on average (standard error 2.5) with a standard deviation of 21, on counts near 40,300: a
tenth of their own Poisson noise. A counter reset exactly at a joint loses what its series
counted before its first scrape in the next piece, as a series first scraped inside a range
always does. Every piece, and the rest after the cut point, is at least ``settle`` long, so each
holds two answered scrapes only when ``settle`` is at least the ingest lag plus two scrape
intervals: a part with one answered scrape or none has no ``increase()`` at all, and its counts
were missing from the sum (0.13 % short with ``settle`` 10 s at a 30 s scrape; with ``settle``
two scrapes, 60 s, 0.24 % with samples answered 5 s late, at the analyses whose rest fell so).
This class does not know the scrape interval: the operator's settings make ``settle`` the
``--prometheus-ingest-delay``, plus two ``--prometheus-scrape-interval``s when it is under two
(``settings.parse_args``).

Only complete answers are kept: a query that fails raises before its answer is kept, and the
client refuses a partial answer (``warnings``: a store or a remote-read endpoint that did not
answer, ``adapters.prometheus.PARTIAL``), whose counts, kept, would have been short for the
rest of the step; the next analysis asks that piece again.

A just-started operator (or a standby taking over) has nothing kept: it asks what closed in
queries of at most ``longest`` (a day), each within Prometheus's sample limit where the whole
range might not be, and keeps the sum so far after each (``_kept_until``): a query that fails
part-way through loses only itself, and the next analysis goes on from the last one answered.

Memory: one entry per (query, offset, start), each one value per label set, least recently used
dropped first past ``max_size``, counting each entry as 1 plus its values (an answer with no
series is an entry too: counted as 0 values, those were never dropped). Each entry carries its
selector's text: measured with ``tracemalloc`` (Python 3.11) over the Campaign collectors' own
query texts, an entry of one value (most counts are a ``sum``) holds 0.8-1.0 KB, one of no
series 0.6 KB, each further labelled value 0.3 KB; at the default 200,000 that is at most about
120 MB (200,000 entries of no series; 100,000 of one value: 86 MB; 2,816 of 70 labelled
values: 66 MB). Thread-safe: the handlers call it from worker threads; two threads asking the
same piece at once both ask Prometheus, and the entry keeps the later cut point.
"""

from __future__ import annotations

import math
import re
import threading
import time as clock
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from uplift_operator.adapters.prometheus import Sample, StorageRetention, single_value

__all__ = ["CountSource", "PiecewiseIncreases"]

_COUNT_QUERY = re.compile(
    r"sum(?P<by> by \([\w, ]*\))? ?\(increase\((?P<series>[A-Za-z_:][\w:]*\{[^{}]*\})"
    r"\[(?P<range>\d+)s\](?: offset (?P<offset>\d+)s)?\)\)(?P<zero> or vector\(0\))?")

# A gauge's last value over a range, per series (the budget gate's per-ledger spend): the last
# piece that holds a sample of a series has its last value, so kept pieces merge exactly.
_LAST_QUERY = re.compile(
    r"last_over_time\((?P<series>[A-Za-z_:][\w:]*\{[^{}]*\})\[(?P<range>\d+)s\]\)")
_LAST = "last_over_time"

#: How far apart two starts may be and still be the same (query, start): the collectors write
#: whole seconds since a fixed instant, so the start they imply moves by under a second.
_SAME_START_S = 1.5

_Labels = tuple[tuple[str, str], ...]
# (" by (…)" or "" for a count, _LAST for a last value; metric{selector}; offset seconds)
_Query = tuple[str, str, int]


class CountSource(Protocol):
    """What ``PiecewiseIncreases`` needs from the client (``PrometheusClient`` is one)."""

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Sample]: ...


@dataclass(slots=True)
class _Kept:
    """The summed increase of one query from ``start`` to ``until`` (epoch seconds), or each
    series' last value there for a ``last_over_time`` query."""

    start: float
    until: float
    totals: dict[_Labels, float]


class PiecewiseIncreases:
    """``PiecewiseIncreases(PrometheusClient(url))``: the client's ``query`` and ``scalar``,
    long count ranges answered from kept pieces (see the module docstring). ``settle`` must be
    at least the ingest lag plus two scrape intervals (each piece, and the rest after the cut
    point, must hold two answered scrapes to have an ``increase()``)."""

    def __init__(self, source: CountSource, *, piece: float = 3600.0, settle: float = 300.0,
                 min_range: float = 6 * 3600.0, longest: float = 86400.0,
                 max_size: int = 200_000, now: Callable[[], float] = clock.time) -> None:
        if not 0 < settle <= piece <= min_range <= longest:
            raise ValueError("need 0 < settle <= piece <= min_range <= longest")
        self._source = source
        self.piece = piece
        self.settle = settle
        self.min_range = min_range
        self.longest = longest
        self.max_size = max_size
        self._now = now
        self._kept: OrderedDict[tuple[_Query, int], _Kept] = OrderedDict()
        self._size = 0  # the entries, plus their values
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PiecewiseIncreases({self._source!r}, piece={self.piece:g}s)"

    def query(self, promql: str, time: datetime | float | None = None) -> list[Sample]:
        at = (time.timestamp() if isinstance(time, datetime)
              else float(time) if time is not None else self._now())
        last = _LAST_QUERY.fullmatch(promql)
        if last is not None:
            return self._last_over_time(promql, time, last["series"], at - int(last["range"]),
                                        at)
        match = _COUNT_QUERY.fullmatch(promql)
        if match is None:
            return list(self._source.query(promql, time))
        end = at - int(match["offset"] or 0)
        start = end - int(match["range"])
        cut = math.floor((end - self.settle) / self.piece) * self.piece
        if end - start < self.min_range or cut - start < self.settle:
            return list(self._source.query(promql, time))
        by, series = match["by"] or "", match["series"]
        # Per offset as well: two queries of one series from one start but ends an offset
        # apart would otherwise take turns discarding each other's kept part.
        totals = dict(self._kept_until((by, series, int(match["offset"] or 0)), start, cut))
        for labels, value in self._increase(by, series, cut, end).items():
            totals[labels] = totals.get(labels, 0.0) + value
        if not totals and match["zero"]:
            totals[()] = 0.0
        return [Sample(labels=dict(labels), value=value, timestamp=at)
                for labels, value in totals.items()]

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        return single_value(self.query(promql, time))

    def storage_retention(self) -> StorageRetention | None:
        """The source's ``storage_retention`` (``PrometheusClient``'s), None if it has none:
        what it keeps is what Prometheus answered while it held the samples, but after a
        restart the same query reads only what Prometheus still holds, so the gates' check
        of a step's range against the retention is the same with or without kept pieces. The
        counts since the canary or the ramp started (``services.measurements.lifetime``) are
        not checked: they read past the retention, from kept pieces while this process runs
        and short by what Prometheus deleted after a restart."""
        read = getattr(self._source, "storage_retention", None)
        retention = read() if callable(read) else None
        return retention if isinstance(retention, StorageRetention) else None

    def _last_over_time(self, promql: str, time: datetime | float | None, series: str,
                        start: float, end: float) -> list[Sample]:
        """Each series' last value in [start, end]: the kept pieces' up to the cut point, each
        replaced by the rest's where the series has a sample since."""
        cut = math.floor((end - self.settle) / self.piece) * self.piece
        if end - start < self.min_range or cut - start < self.settle:
            return list(self._source.query(promql, time))
        values = dict(self._kept_until((_LAST, series, 0), start, cut))
        values.update(self._last(series, cut, end))
        return [Sample(labels=dict(labels), value=value, timestamp=end)
                for labels, value in values.items()]

    def _kept_until(self, query: _Query, start: float, cut: float) -> dict[_Labels, float]:
        """The increase (or the last values) from ``start`` to ``cut``: what is kept, extended
        to ``cut``."""
        by, series, _ = query
        with self._lock:
            key, kept = self._find(query, start)
        if kept is not None and kept.until == cut:
            return kept.totals
        if kept is None or kept.until > cut:
            kept = _Kept(start=start, until=start, totals={})
        totals = dict(kept.totals)
        # What closed since, in queries of at most ``longest`` (on the pieces' grid): the first
        # analysis after a start asks weeks, which one query could read past --query.max-samples.
        ends, at = [], kept.until
        while cut - at > self.longest:
            at = math.floor((at + self.longest) / self.piece) * self.piece
            ends.append(at)
        # Each query's answer is kept as it comes (the entry extended to its end): a later
        # query that fails (an overloaded Prometheus's 503, the breaker, the analysis stopping
        # at its first slow query) loses only itself, and the next analysis asks from there.
        # Kept at the end only, a cold start of weeks under load asked the same first days
        # again at every analysis and might never get past them.
        for begin, end in zip([kept.until, *ends], [*ends, cut], strict=True):
            if by == _LAST:  # a later piece's last value replaces an earlier one's
                totals.update(self._last(series, begin, end))
            else:
                for labels, value in self._increase(by, series, begin, end).items():
                    totals[labels] = totals.get(labels, 0.0) + value
            self._keep(key, _Kept(start=kept.start, until=end, totals=dict(totals)))
        return totals

    def _keep(self, key: tuple[_Query, int], entry: _Kept) -> None:
        """Keep ``entry`` unless one reaching further is kept already (another thread's)."""
        with self._lock:
            current = self._kept.get(key)
            if current is None or current.until <= entry.until:
                self._size += _size(entry.totals) - (_size(current.totals) if current else 0)
                self._kept[key] = entry
                self._kept.move_to_end(key)
                self._drop_oldest()

    def _find(self, query: _Query, start: float) -> tuple[tuple[_Query, int], _Kept | None]:
        nearest = round(start)
        for second in (nearest, nearest - 1, nearest + 1):
            kept = self._kept.get((query, second))
            if kept is not None and abs(kept.start - start) <= _SAME_START_S:
                self._kept.move_to_end((query, second))
                return (query, second), kept
        return (query, nearest), None

    def _drop_oldest(self) -> None:
        while self._size > self.max_size and len(self._kept) > 1:
            _, dropped = self._kept.popitem(last=False)
            self._size -= _size(dropped.totals)

    def _increase(self, by: str, series: str, start: float, end: float) -> dict[_Labels, float]:
        """``increase`` of ``series`` over [start, end], summed ``by``, evaluated at ``end``."""
        return self._over(f"sum{by} (increase({{}}))", series, start, end)

    def _last(self, series: str, start: float, end: float) -> dict[_Labels, float]:
        """``last_over_time`` of each series over (start, end], evaluated at ``end``."""
        return self._over("last_over_time({})", series, start, end)

    def _over(self, function: str, series: str, start: float,
              end: float) -> dict[_Labels, float]:
        """``function`` (its ``{}`` the range selector) of ``series`` over [start, end],
        evaluated at ``end``, per label set."""
        milliseconds = round((end - start) * 1000)
        if milliseconds <= 0:
            return {}
        rows = self._source.query(function.format(f"{series}[{milliseconds}ms]"), end)
        return {tuple(sorted(row.labels.items())): row.value for row in rows
                if math.isfinite(row.value)}


def _size(totals: dict[_Labels, float]) -> int:
    """What an entry counts towards ``max_size``: itself (its key, its selector's text) and its
    values, so entries of no series are dropped as well."""
    return 1 + len(totals)
