"""How long the demo takes: warm start to the first scored request, and each scenario to its decision.

    .venv/bin/python bench/demo_timing.py [--runs 1] [--scenario promote --scenario harm]

Runs ``devenv.demo.DemoStack`` as ``./scripts/dev.sh`` does (warm: the control plane binary and the
demo's trained models cached; run it twice for a warm figure), plays the scenarios and prints
one line per run with the start-up milestones and each scenario's seconds to its decision. The
targets (docs/demo.md) are ≤ 45 s to the first scored request and ≤ 3 min for ``promote``;
nothing here asserts them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from uplift_operator.devenv import demo_models, scenarios  # noqa: E402
from uplift_operator.devenv.demo import HILLSTROM, DemoStack, run_scenario  # noqa: E402


def one_run(names: list[str]) -> dict[str, object]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="uplift-bench-demo-") as tmp, \
            DemoStack(Path(tmp), HILLSTROM, say=lambda _: None) as stack:
        first = stack.wait_first_scored()
        results = {}
        for name in names:
            outcome = run_scenario(stack, scenarios.SCENARIOS[name], say=lambda _: None)
            results[name] = {"decision": outcome.decision, "gate": outcome.gate,
                             "seconds": round(outcome.seconds, 1),
                             "weights": outcome.weights_seen}
        return {"first_scored_s": round(first, 1),
                "milestones_s": {k: round(v, 1) for k, v in stack.timings.items()},
                "scenarios": results, "total_s": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scenario", action="append", default=[])
    args = parser.parse_args()
    names = args.scenario or list(scenarios.DEFAULT)
    for recipe in [scenarios.STABLE_RECIPE, *(scenarios.SCENARIOS[n].recipe for n in names)]:
        demo_models.fit(HILLSTROM, recipe)  # warm the model cache: training is not start-up
    for index in range(args.runs):
        print(json.dumps({"run": index + 1, **one_run(names)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
