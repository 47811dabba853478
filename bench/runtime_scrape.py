"""What one /metrics scrape of a runtime replica costs with a campaigns file of many campaigns,
some treating, during a canary: the series, the exposition's size and the time to render it.

    .venv/bin/python bench/runtime_scrape.py [--campaigns 4096] [--treating 10] [--repeats 3]
    .venv/bin/python bench/runtime_scrape.py --zeros-only [--campaigns 4096]

A small model (two treatments) is loaded in this process as MLServer loads it
(``UpliftRuntime.load``) as the stable version of a canary split, with a campaigns file of
``--campaigns`` entries of the sample's shape, ``--treating`` percent of them active at exposure
100, the others at exposure 0 (held, rolled back, completed: in the file, treating no one). It
reports the series of the process-wide registry (the one MLServer's metrics port serves, with
MLServer's own absent here), the exposition's lines and bytes, the render time
(``generate_latest``, the best of ``--repeats``) and the resident memory the load added.

``--zeros-only`` is the review's measure (review-runtime ``scrape_cost.py`` and
``series_memory.py``): no runtime, no model, only ``RuntimeMetrics.export_zeros`` on a private
registry for each campaign's own version and the split's other, as if every campaign treated,
then the same render. The figures are in docs/runtime.md ("What a file of thousands of
campaigns costs")."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))
sys.path.insert(0, str(REPO))  # tests.support

from mlserver.settings import ModelParameters, ModelSettings  # noqa: E402
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest  # noqa: E402
from tests.support.small_model import train_small_model  # noqa: E402

from uplift_operator.runtime.metrics import RuntimeMetrics, Scope  # noqa: E402
from uplift_operator.runtime.runtime import UpliftRuntime  # noqa: E402


def _entry(i: int, treating: bool) -> dict[str, Any]:
    return {"generation": 1, "salt": f"bench/c{i}", "unitKey": "customer_id",
            "holdoutFraction": 0.1, "exposurePercent": 100 if treating else 0,
            "treatments": {"womens-e-mail": {"cost": 0.1, "value": 1.0}},
            "policy": {"type": "costAware"}, "attributionWindowSeconds": 86400, "active": True}


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _render(registry: CollectorRegistry, repeats: int) -> tuple[bytes, list[float]]:
    renders = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        body = generate_latest(registry)
        renders.append(time.perf_counter() - t0)
    return body, renders


def _zeros_only(campaigns: int, repeats: int) -> None:
    registry = CollectorRegistry()
    metrics = RuntimeMetrics(registry)
    keys = ("womens_e_mail", "mens_e_mail")
    before = _rss_mb()
    t0 = time.perf_counter()
    series = sum(metrics.export_zeros(Scope.OWN_CAMPAIGN, "uplift", "3", f"campaign-{i}", keys)
                 + metrics.export_zeros(Scope.OTHER_CAMPAIGN, "uplift", "4", f"campaign-{i}",
                                        keys)
                 for i in range(campaigns))
    created, added = time.perf_counter() - t0, _rss_mb() - before
    body, renders = _render(registry, repeats)
    lines = len(body.splitlines())
    print(f"{campaigns} campaigns' series at zero: {series} series created in {created:.1f} s, "
          f"+{added:.0f} MB resident; {lines} lines, {len(body) / 1e6:.0f} MB; "
          f"render {min(renders):.2f} s (best of {repeats}, worst {max(renders):.2f} s); load "
          f"average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=4096)
    parser.add_argument("--treating", type=float, default=10.0,
                        help="percent of the campaigns that treat (the others at exposure 0)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--zeros-only", action="store_true",
                        help="only every campaign's series at zero, on a private registry")
    args = parser.parse_args()
    if args.zeros_only:
        _zeros_only(args.campaigns, args.repeats)
        return
    logging.getLogger("uplift_operator.runtime").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="runtime-scrape-"))
    train_small_model(root / "model")
    treating = round(args.campaigns * args.treating / 100)
    document = {"format": "uplift-operator/campaigns/v1",
                "campaigns": {f"c{i}": _entry(i, i < treating) for i in range(args.campaigns)},
                "split": {"stable": "3", "canary": "4", "canaryPercent": 10,
                          "attributionWindowSeconds": 3600}}
    path = root / "campaigns.json"
    path.write_text(json.dumps(document))
    os.environ.update({"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_MODEL_VERSION": "3",
                       "UPLIFT_DECISION_KEY": "bench-decision-key-0123456789abcdef",
                       "UPLIFT_DRAIN_TOKEN_FILE": str(root / "drain-token")})
    loop = asyncio.new_event_loop()
    runtime = UpliftRuntime(ModelSettings(
        name="bench", implementation=UpliftRuntime,
        parameters=ModelParameters(uri=str(root / "model"))))
    before = _rss_mb()
    t0 = time.perf_counter()
    loop.run_until_complete(runtime.load())
    load = time.perf_counter() - t0
    added = _rss_mb() - before
    body, renders = _render(REGISTRY, args.repeats)
    lines = body.decode().splitlines()
    series = sum(1 for line in lines if line and not line.startswith("#"))
    created = sum(1 for line in lines if "_created{" in line or "_created " in line)
    print(f"{args.campaigns} campaigns, {treating} treating, a canary split: {series} series "
          f"({created} _created), {len(lines)} lines, {len(body) / 1e6:.1f} MB; render "
          f"{min(renders):.2f} s (best of {args.repeats}, worst {max(renders):.2f} s); load "
          f"{load:.1f} s, +{added:.0f} MB resident; load average "
          f"{os.getloadavg()[0]:.1f}")
    loop.run_until_complete(runtime.unload())
    loop.close()


if __name__ == "__main__":
    main()
