"""Serving latency: our uplift runtime vs stock MLServer + ``mlserver-mlflow`` on the same model.

Trains the default model (T-learner, HGB depth 3 / 200 iterations, two treatments) on the
Hillstrom training split, saves it as an MLflow pyfunc directory, and serves that directory
with each runtime in turn — a real ``mlserver start`` on loopback, ``parallel_workers: 0`` for
both (pass ``--stock-workers 1`` for MLServer's default of one worker process). The client is a
keep-alive ``requests`` session in this process, timing each call end to end:

- single row: ``--single`` sequential one-row requests (after a warm-up) → p50 / p95 / p99 ms;
- batched: ``--batches`` sequential requests of ``--batch-size`` rows → rows/s.

Both runtimes get the same V2 body (features + ``unit_id``); ours also decides (arm, policy,
decision id) and updates its metrics, the stock one runs the pyfunc through MLflow's schema
enforcement. Rounds alternate the runtimes so background load hits both alike.

    .venv/bin/python bench/serving_latency.py [--rounds 2] [--single 1000] [--batches 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from uplift_operator.devenv.mlserver import MLFLOW_RUNTIME, UPLIFT_RUNTIME, MlserverProcess
from uplift_operator.model import pyfunc
from uplift_operator.model.trainer import TrainConfig, fit, prepare, reference_documents

FEATURES = ["recency", "history", "mens", "womens", "newbie", "zip_code", "channel"]


def v2(frame: pd.DataFrame, units: list[str]) -> dict[str, Any]:
    inputs = []
    for name in FEATURES:
        col = frame[name]
        if not pd.api.types.is_numeric_dtype(col):
            datatype, data = "BYTES", col.astype(str).tolist()
        elif col.dtype.kind == "f":
            datatype, data = "FP64", col.tolist()
        else:
            datatype, data = "INT64", col.tolist()
        inputs.append({"name": name, "shape": [len(frame)], "datatype": datatype, "data": data})
    inputs.append({"name": "unit_id", "shape": [len(units)], "datatype": "BYTES", "data": units})
    return {"inputs": inputs}


def measure(srv: MlserverProcess, test: pd.DataFrame, single: int, batches: int,
            batch_size: int) -> dict[str, float]:
    bodies = [v2(test.iloc[[i % len(test)]], [f"u{i}"]) for i in range(single + 50)]
    for body in bodies[:50]:  # warm-up: first calls pay lazy imports and allocator growth
        srv.infer(body).raise_for_status()
    lat = []
    for body in bodies[50:]:
        t0 = time.perf_counter()
        r = srv.infer(body)
        lat.append(time.perf_counter() - t0)
        r.raise_for_status()
    big = [v2(test.iloc[np.arange(b * batch_size, (b + 1) * batch_size) % len(test)],
              [f"b{b}-{i}" for i in range(batch_size)]) for b in range(batches)]
    srv.infer(big[0]).raise_for_status()
    rows = 0
    t0 = time.perf_counter()
    for body in big:
        r = srv.infer(body)
        r.raise_for_status()
        rows += len(body["inputs"][0]["data"])
    elapsed = time.perf_counter() - t0
    ms = np.asarray(lat) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()),
            "rows_per_s": rows / elapsed}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=TrainConfig().data)
    p.add_argument("--learner", default="t")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--single", type=int, default=1000)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--stock-workers", type=int, default=0)
    p.add_argument("--sample", type=int, default=0,
                   help="train on this many rows (seed 0) instead of all; the smoke test uses it")
    a = p.parse_args(argv)
    cfg = TrainConfig(data=a.data, learner=a.learner)
    frame = pd.read_csv(a.data)
    if a.sample:
        frame = frame.sample(n=min(a.sample, len(frame)), random_state=0)
    prep = prepare(frame, cfg)
    print(f"training {cfg.learner}-learner on {len(prep.train)} rows …", file=sys.stderr)
    model = fit(prep, cfg)
    reference_documents(model, prep.train, cfg.n_bins)
    with tempfile.TemporaryDirectory(prefix="uplift-bench-") as tmp:
        model_dir = Path(tmp) / "model"
        pyfunc.save_model(model, model_dir)
        runtimes = {"uplift runtime": (UPLIFT_RUNTIME, 0),
                    "stock mlserver-mlflow": (MLFLOW_RUNTIME, a.stock_workers)}
        results: dict[str, list[dict[str, float]]] = {k: [] for k in runtimes}
        for rnd in range(a.rounds):
            for label, (impl, workers) in runtimes.items():
                with MlserverProcess(str(model_dir), name="bench", implementation=impl,
                                     parallel_workers=workers) as srv:
                    res = measure(srv, prep.test, a.single, a.batches, a.batch_size)
                results[label].append(res)
                print(f"round {rnd + 1} {label}: p50 {res['p50']:.2f} ms, p95 {res['p95']:.2f} "
                      f"ms, p99 {res['p99']:.2f} ms, batched {res['rows_per_s']:.0f} rows/s",
                      file=sys.stderr, flush=True)
    print("| runtime | single-row p50 ms | p95 ms | p99 ms | batched rows/s "
          f"({a.batch_size}-row requests) |")
    print("|---|---|---|---|---|")
    for label, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {label} | {med['p50']:.2f} | {med['p95']:.2f} | {med['p99']:.2f} | "
              f"{med['rows_per_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
