"""What a campaigns file of many campaigns costs the runtime's event loop: the load, the
once-a-second tick, and a new version of the file with one entry changed.

    .venv/bin/python bench/runtime_campaigns_file.py [--campaigns 4096] [--repeats 5]

A small model is trained (one numeric and one categorical feature, two treatments) and the
runtime loaded in this process as MLServer loads it (``UpliftRuntime.load``), with a campaigns
file of ``--campaigns`` entries of the sample's shape (one treatment, a 10 % holdout, a budget
with a period). It reports the load, the tick (``_campaign_tick``: the gauges, the period spend,
the cohorts due; the file unchanged), a new version of the file with one entry's exposure
changed (``_apply_campaigns``), the first version with a canary ``split`` (the other version's
series exported at zero), and one entry changed again under that split: the minimum and the
maximum of ``--repeats`` runs of each, in wall time on the event loop. The figures are in
docs/runtime.md ("Reload without a restart")."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))
sys.path.insert(0, str(REPO))  # tests.support

from mlserver.settings import ModelParameters, ModelSettings  # noqa: E402
from tests.support.small_model import train_small_model  # noqa: E402

from uplift_operator.runtime.runtime import UpliftRuntime  # noqa: E402


def _entry(i: int) -> dict[str, Any]:
    return {"generation": 1, "salt": f"bench/c{i}", "unitKey": "customer_id",
            "holdoutFraction": 0.1, "exposurePercent": 100,
            "treatments": {"womens-e-mail": {"cost": 0.1, "value": 1.0}},
            "policy": {"type": "costAware"}, "attributionWindowSeconds": 86400, "active": True,
            "budget": {"amount": 100, "periodSeconds": 86400,
                       "periodStart": "2026-01-01T00:00:00Z"}}


def _timed(repeats: int, run: Callable[[int], None]) -> tuple[float, float]:
    """(min, max) seconds of ``repeats`` runs."""
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - t0)
    return min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("uplift_operator.runtime").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="runtime-campaigns-file-"))
    train_small_model(root / "model")
    document: dict[str, Any] = {"format": "uplift-operator/campaigns/v1",
                                "campaigns": {f"c{i}": _entry(i) for i in range(args.campaigns)}}
    path = root / "campaigns.json"
    path.write_text(json.dumps(document))
    os.environ.update({"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_MODEL_VERSION": "3",
                       "UPLIFT_DECISION_KEY": "bench-decision-key-0123456789abcdef",
                       "UPLIFT_DRAIN_TOKEN_FILE": str(root / "drain-token")})
    loop = asyncio.new_event_loop()
    runtime = UpliftRuntime(ModelSettings(
        name="bench", implementation=UpliftRuntime,
        parameters=ModelParameters(uri=str(root / "model"))))
    t0 = time.perf_counter()
    loop.run_until_complete(runtime.load())
    rows: list[tuple[str, float, float | None]] = [
        ("load (the first file applied)", time.perf_counter() - t0, None)]
    rows.append(("tick, nothing changed", *_timed(args.repeats,
                                                   lambda i: runtime._campaign_tick(time.time()))))

    def one_changed(i: int) -> None:
        document["campaigns"]["c7"]["exposurePercent"] = 50 - i % 2 * 25
        runtime._apply_campaigns(json.dumps(document).encode(), None)

    rows.append(("new version, one entry changed", *_timed(args.repeats, one_changed)))
    document["split"] = {"stable": "3", "canary": "4", "canaryPercent": 10,
                         "attributionWindowSeconds": 3600}
    t0 = time.perf_counter()
    runtime._apply_campaigns(json.dumps(document).encode(), None)
    rows.append(("first version with a canary split", time.perf_counter() - t0, None))
    rows.append(("under the split, one entry changed", *_timed(args.repeats, one_changed)))
    rows.append(("tick under the split", *_timed(args.repeats,
                                                  lambda i: runtime._campaign_tick(time.time()))))
    loop.run_until_complete(runtime.unload())
    loop.close()
    print(f"{args.campaigns} campaigns, {args.repeats} runs each (min – max, seconds)")
    for name, low, high in rows:
        print(f"  {name:<36} {low:8.3f}" + (f" – {high:.3f}" if high is not None else ""))


if __name__ == "__main__":
    main()
