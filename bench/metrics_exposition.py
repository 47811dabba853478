"""The operator's own /metrics at N resources at rest: series per resource, exposition size,
time to render one scrape (best of 3), and, with ``--heap``, the heap the series hold.

    .venv/bin/python bench/metrics_exposition.py --count 10000 [--heap]

Every resource as a pass leaves it: ``started`` (its rollback counters at 0), a completed pass
(its last-pass time), its status observed (phase, invalid spec, deadline, canary weight). The
figures are in docs/operator.md ("Operator metrics")."""

from __future__ import annotations

import argparse
import time
import tracemalloc

from prometheus_client import generate_latest

from uplift_operator.handlers import observability

STATUS = {"phase": "Healthy", "conditions": [{"type": "Ready", "status": "True"}],
          "canaryWeight": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--heap", action="store_true", help="trace the heap (slows rendering)")
    args = parser.parse_args()
    if args.heap:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if args.heap else 0
    for i in range(args.count):
        namespace, name = f"team-{i % 100:03d}", f"um-{i:05d}"
        observability.started("UpliftModel", namespace, name)
        with observability.reconciling("UpliftModel", namespace, name):
            pass
        observability.observe_status("UpliftModel", namespace, name, STATUS)
        observability.observe_rollout(namespace, name, STATUS, measured=())
    held = tracemalloc.get_traced_memory()[0] - before if args.heap else None
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        text = generate_latest(observability.REGISTRY)
        timings.append(time.perf_counter() - began)
    series = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
    heap = f", heap held by the series {held / 1e6:.1f} MB" if held is not None else ""
    print(f"N={args.count}: {series} series ({series / args.count:.1f} per resource), "
          f"exposition {len(text) / 1e6:.1f} MB, render {min(timings) * 1000:.0f} ms per scrape"
          f"{heap}")


if __name__ == "__main__":
    main()
