"""What the resync costs at rest: the CPU of one pass of a Healthy UpliftModel with nothing due.

    .venv/bin/python bench/resync_pass_cost.py [--passes 300]

Every resource's pass runs at least once per ``RESYNC_SECONDS`` (10 minutes,
``handlers.scheduling``), with nothing due and nothing to write. ``bench/scale.py``'s at-rest
window (60 s from 10 s after the last Ready) never holds one, so its "CPU at rest" leaves them
out. Here, with no cluster: the unit tests' simulation (``tests/unit/services/test_upliftmodel``:
fake MLflow, Prometheus and cluster) brings one model to Healthy, then its pass is run
``--passes`` times on that body, each a whole decision whose status equals the stored one
(asserted), timed by process CPU time; and the same for its campaigns-file pass (no Campaign,
no canary: no ConfigMap, its absence kept). The figure is the decision alone, in this process:
not the kopf event handling, the thread hand-off or the (absent) write; the fakes answer at no
cost, where the real clients read memory (the watched store, the alias poller's cache).
Prints the mean per pass and what it comes to per ``RESYNC_SECONDS`` at 1,000 and 10,000 models.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.unit.services.fakes import FakeCluster  # noqa: E402
from tests.unit.services.test_upliftmodel import Sim  # noqa: E402

from uplift_operator.adapters.watched import WatchedCluster  # noqa: E402
from uplift_operator.domain.status import status_patch  # noqa: E402
from uplift_operator.handlers.lifecycle import watched_objects  # noqa: E402
from uplift_operator.handlers.scheduling import RESYNC_SECONDS  # noqa: E402
from uplift_operator.render.naming import Owner  # noqa: E402
from uplift_operator.services import campaigns_file as files  # noqa: E402
from uplift_operator.services import upliftmodel  # noqa: E402


def model_pass_seconds(passes: int) -> tuple[float, Sim]:
    """The mean CPU seconds of a Healthy model's pass with nothing to write."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.tick(1)
    assert sim.status["phase"] == "Healthy", sim.status["phase"]
    started = time.process_time()
    for index in range(passes):
        result = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps,
                                       sim.now + dt.timedelta(milliseconds=index))
        change = status_patch(sim.body["status"], result.status)
        assert not change, change  # at rest: nothing to write
    return (time.process_time() - started) / passes, sim


def file_pass_seconds(passes: int, sim: Sim) -> float:
    """The mean CPU seconds of the same model's campaigns-file pass (no Campaign)."""
    deps = files.FileDependencies(cluster=WatchedCluster(FakeCluster(), watched_objects()))
    owner = Owner(name="uplift", namespace="shop", uid="u-1")
    status, spec = sim.body["status"], sim.body["spec"]
    files.sync(owner, [], deps, files.version_split(status, spec), new_model=False)
    started = time.process_time()
    for _ in range(passes):
        synced = files.sync(owner, [], deps, files.version_split(status, spec), new_model=False)
        assert not synced.changed and synced.error is None
    return (time.process_time() - started) / passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=300, help="passes timed, each kind")
    args = parser.parse_args()
    per_model, sim = model_pass_seconds(args.passes)
    per_file = file_pass_seconds(args.passes, sim)
    print(f"Healthy UpliftModel pass, nothing to write: {per_model * 1000:.2f} ms CPU "
          f"(mean of {args.passes}); its campaigns-file pass (no Campaign): "
          f"{per_file * 1000:.3f} ms")
    for count in (1_000, 10_000):
        seconds = count * (per_model + per_file)
        print(f"  {count:>6,} models: {seconds:.1f} CPU-s per RESYNC_SECONDS = "
              f"{RESYNC_SECONDS:.0f} s -> {100 * seconds / RESYNC_SECONDS:.1f} % of a core, "
              f"on average, at rest (the decisions alone)")


if __name__ == "__main__":
    main()
