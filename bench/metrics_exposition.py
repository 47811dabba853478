"""The operator's own /metrics at N resources at rest: series per resource, exposition size,
time to render one scrape (best of 3), and, with ``--heap``, the heap the series hold.

    .venv/bin/python bench/metrics_exposition.py --count 10000 [--heap] [--kind Campaign]

Every resource as a pass leaves it (no decision counter series: none is created at 0 since
2026-12-07): a completed pass (its last-pass time), its status observed (phase, invalid spec,
deadline, canary weight). An UpliftModel at rest (no canary: no gate measured): 9 series (12
with the three rollback counters at 0 each). A Campaign (``--kind Campaign``) at rest as a
completed ramp with a budget leaves it: its budget gate still measured (its verdict's series
alone, and its four values), its spend and its results with their bounds: 21 series (24 with
the rollback counters; before that, one series per verdict, three of them at 0, and the
past-limit gauge at 0: four more). The figures are in docs/operator.md ("Operator metrics")."""

from __future__ import annotations

import argparse
import time
import tracemalloc

from prometheus_client import generate_latest

from uplift_operator.handlers import observability

STATUS = {"phase": "Healthy", "conditions": [{"type": "Ready", "status": "True"}],
          "canaryWeight": 0}
_ESTIMATE = {"estimate": 0.01, "lower": 0.002, "upper": 0.02}
#: A Campaign whose ramp completed, with a budget: its budget gate is measured still.
CAMPAIGN_STATUS = {
    "phase": "Healthy", "conditions": [{"type": "Ready", "status": "True", "reason": "Exposing"}],
    "gates": [{"name": "budget", "verdict": "Pass", "value": 10.0, "threshold": 100.0,
               "lower": 9.0, "upper": 11.0}],
    "spend": 10.0, "budgetRemaining": 90.0, "incrementalEffect": _ESTIMATE, "roi": _ESTIMATE,
    "treatedUnits": 1000, "exposurePercent": 100}


def _observe(kind: str, namespace: str, name: str) -> None:
    """One resource of ``kind`` as its passes leave it at rest."""
    with observability.reconciling(kind, namespace, name):
        pass
    if kind == "Campaign":
        observability.observe_status(kind, namespace, name, CAMPAIGN_STATUS)
        observability.observe_campaign(namespace, name, CAMPAIGN_STATUS, measured={"budget": "budget"})
    else:
        observability.observe_status(kind, namespace, name, STATUS)
        observability.observe_rollout(namespace, name, STATUS, measured={})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--heap", action="store_true", help="trace the heap (slows rendering)")
    parser.add_argument("--kind", choices=["UpliftModel", "Campaign"], default="UpliftModel")
    args = parser.parse_args()
    if args.heap:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if args.heap else 0
    for i in range(args.count):
        _observe(args.kind, f"team-{i % 100:03d}", f"r-{i:05d}")
    held = tracemalloc.get_traced_memory()[0] - before if args.heap else None
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        text = generate_latest(observability.REGISTRY)
        timings.append(time.perf_counter() - began)
    series = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
    heap = f", heap held by the series {held / 1e6:.1f} MB" if held is not None else ""
    print(f"N={args.count} {args.kind}s: {series} series ({series / args.count:.1f} per resource), "
          f"exposition {len(text) / 1e6:.1f} MB, render {min(timings) * 1000:.0f} ms per scrape"
          f"{heap}")


if __name__ == "__main__":
    main()
