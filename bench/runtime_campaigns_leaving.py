"""What the tick that removes the series of many campaigns leaving at once costs a runtime
replica: how long it blocks the event loop, and what of their series is left after it.

    .venv/bin/python bench/runtime_campaigns_leaving.py --campaigns N --case delete
    .venv/bin/python bench/runtime_campaigns_leaving.py --campaigns N --case ended

A small model (two treatments) is loaded in this process as MLServer loads it
(``UpliftRuntime.load``) with a campaigns file of ``--campaigns`` entries that treat, of
``bench/runtime_scrape.py``'s shape (no version split), so that each has its series at zero
(~79). Then a new version of the file either deletes them all (``delete``: one new version, as
``kubectl delete campaigns -l ...`` gives) or ends them all (``ended``: each past its schedule
``end``, still in the file). The runtime's tick (``_campaign_tick``) runs at ``now`` (the new
version applied), at ``now + 1`` (idle) and then once their attribution window and
``FORGET_AFTER_SECONDS`` have passed: that tick removes their series (deleted: all of them;
ended: their counters, a campaign of the file keeps its gauges). It reports the series of the
families exported at zero before (the review's count, model series included), the time of the
removing tick (the event loop answers nothing meanwhile) and the leaving campaigns' series left
after it. The review's measure (review-runtime r3 ``retire_tick.py``) did the same; the figures
are in docs/runtime.md ("What campaigns leaving in one tick cost")."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))
sys.path.insert(0, str(REPO))  # tests.support, bench

from bench.runtime_scrape import _entry  # noqa: E402
from prometheus_client import Gauge  # noqa: E402
from tests.support.runtime_in_process import loaded_runtime  # noqa: E402
from tests.support.small_model import train_small_model  # noqa: E402

from uplift_operator.runtime import drain  # noqa: E402
from uplift_operator.runtime.metrics import RuntimeMetrics  # noqa: E402
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS  # noqa: E402

CASES = ("delete", "ended")
#: Past the window and FORGET_AFTER_SECONDS: the seconds the load and the first ticks take.
MARGIN_SECONDS = 5.0
DAY = 86400.0


@dataclass(frozen=True)
class Leaving:
    """One measure: ``series`` of the families exported at zero before (model's included),
    ``own`` of them the leaving campaigns', the removing tick's ``seconds``, and the leaving
    campaigns' series left after it (``counters_left``: all but gauges; ``gauges_left``)."""

    campaigns: int
    case: str
    series: int
    own: int
    seconds: float
    counters_left: int
    gauges_left: int


def _document(campaigns: dict[str, Any]) -> str:
    return json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": campaigns})


def _rewrite(path: Path, text: str) -> None:
    """A new version of the file, whatever the file system's time resolution."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _left(metrics: RuntimeMetrics, names: set[str]) -> tuple[int, int]:
    """The series of campaigns ``names`` in every family with a ``campaign`` label: counters
    (every kind but gauges) and gauges."""
    counters = gauges = 0
    for collector in vars(metrics).values():
        labels = getattr(collector, "_labelnames", ())
        if "campaign" not in labels:
            continue
        at = labels.index("campaign")
        n = sum(1 for key in list(collector._metrics) if key[at] in names)
        if isinstance(collector, Gauge):
            gauges += n
        else:
            counters += n
    return counters, gauges


def measure(campaigns: int, case: str, root: Path) -> Leaving:
    """Load the runtime with ``campaigns`` treating, make them all leave (``case``) and time
    the tick that removes their series; ``root`` holds the model and the file."""
    if case not in CASES:
        raise ValueError(f"case {case!r}: one of {CASES}")
    train_small_model(root / "model")
    entries = {f"c{i}": _entry(i, True) for i in range(campaigns)}
    window = max(float(e["attributionWindowSeconds"]) for e in entries.values())
    path = root / "campaigns.json"
    path.write_text(_document(entries))
    env = {"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_MODEL_VERSION": "3",
           "UPLIFT_DECISION_KEY": "bench-decision-key-0123456789abcdef",
           drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime("bench", root / "model", env) as (runtime, _):
        metrics = runtime._m
        series = sum(len(collector._metrics) for collector in metrics.zeros)
        own = sum(_left(metrics, set(entries)))
        now = time.time()
        if case == "delete":
            _rewrite(path, _document({}))
        else:   # every one past its schedule end, still in the file
            iso = "%Y-%m-%dT%H:%M:%SZ"
            schedule = {"start": time.strftime(iso, time.gmtime(now - 2 * DAY)),
                        "end": time.strftime(iso, time.gmtime(now - DAY))}
            _rewrite(path, _document({k: {**e, **schedule} for k, e in entries.items()}))
        runtime._campaign_tick(now)        # the new version applied
        runtime._campaign_tick(now + 1)    # idle: nothing due yet
        later = now + window + FORGET_AFTER_SECONDS + MARGIN_SECONDS
        t0 = time.perf_counter()
        runtime._campaign_tick(later)      # removes their series
        seconds = time.perf_counter() - t0
        counters_left, gauges_left = _left(metrics, set(entries))
    return Leaving(campaigns, case, series, own, seconds, counters_left, gauges_left)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1024)
    parser.add_argument("--case", choices=CASES, default="delete",
                        help="delete: one new version without them; ended: all past their end")
    args = parser.parse_args()
    logging.getLogger("uplift_operator.runtime").setLevel(logging.ERROR)
    result = measure(args.campaigns, args.case,
                     Path(tempfile.mkdtemp(prefix="runtime-campaigns-leaving-")))
    print(f"{result.case}: {result.campaigns} campaigns, {result.series} series of the families "
          f"exported at zero ({result.own} of these campaigns); the tick that removes them: "
          f"{result.seconds:.2f} s (event loop blocked); their series left: "
          f"{result.counters_left} counters, {result.gauges_left} gauges; load average "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
