"""The README benchmarks that need real components run in their smallest configuration
(issue #12 item 8; the others are in tests/unit/bench/test_benches.py). Figures are not asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
SMOKE = {
    # two MLServer processes (ours, stock mlserver-mlflow), a few requests each
    "serving_latency": (["--data", str(HILLSTROM), "--sample", "3000", "--rounds", "1",
                         "--single", "20", "--batches", "1", "--batch-size", "50"],
                        ["| uplift runtime |", "| stock mlserver-mlflow |"]),
    # control plane + MLflow + Prometheus + operator, one rollback
    "rollback_latency": (["--trials", "1", "--interval", "2"], ["trial 1:"]),
    # the same stack, one Campaign rolled back by its delivery gate
    "campaign_rollback_latency": (["--trials", "1", "--interval", "2"], ["c1: status "]),
    # control plane + MLflow + operator + one runtime process, two exposure changes timed
    "campaign_propagation": (["--changes", "2"], ["| status → decided (end to end, local) |"]),
    # control plane + the operator idling 1 s, from the dev virtualenv (the image's is built
    # from the lock by the bench itself when --venv is not given: minutes on a cold cache)
    "operator_footprint": (["--idle", "1", "--venv", sys.prefix], ["| RSS after 1 s idle MB |"]),
    # control plane + MLflow + two operator replicas, one change without a kill, then one
    # SIGKILL of the acting replica
    "failover": (["--kills", "1", "--baseline", "1"], ["kill 1: reaction"]),
    # control plane + MLflow + the operator, 5 UpliftModels, 1 s at rest (1 s settling before
    # the idle reading and before the rest window, instead of 10 s each)
    "scale": (["--counts", "5", "--rest", "1", "--settle", "1"], ["| 5 |"]),
    # a control plane alone, 5 requests of each kind, no pause between two kinds
    "api_costs": (["--count", "5", "--threads", "2", "--pause", "0"], ["| POST Event |"]),
    # a real Prometheus backfilled with one day of a drift gate's counters
    "prometheus_ranges": (["--days", "1"], ["| 24 h | 23 |"]),
    # control plane + the samples, the plugin packed as one file, 2 runs of each command
    "plugin_startup": (["--runs", "2"], ["| `kubectl uplift status hillstrom-uplift"]),
    # a control plane and kopf twice (its start-up gate as shipped and replaced), 20 + 20 objects
    "kopf_index_startup": (["--counts", "20", "--stock-max", "20", "--timeout", "120"],
                           ["| 20 | 20 | "]),
    # control plane + MLflow + the operator, one model and 5 Campaigns (all fit)
    "campaign_scale": (["--count", "5", "--settle", "2"], ["| 5 | "]),
}


def test_the_integration_smoke_list_matches_the_unit_one() -> None:
    from tests.unit.bench.test_benches import INTEGRATION_SMOKE

    assert set(SMOKE) == INTEGRATION_SMOKE


#: Run by this module; the rest by test_bench_smoke_operator.py, so that the parallel test
#: workers (one module each, ``--dist loadfile``) share the ~4 minutes of stacks.
HERE = ("serving_latency", "campaign_rollback_latency", "plugin_startup", "campaign_propagation",
        "api_costs", "prometheus_ranges", "kopf_index_startup", "campaign_scale")


def test_every_smoke_configuration_runs_in_one_of_the_two_modules() -> None:
    from tests.integration.bench.test_bench_smoke_operator import THERE

    assert sorted((*HERE, *THERE)) == sorted(SMOKE)


@pytest.mark.parametrize("bench", HERE)
def test_smallest_configuration_runs(bench: str) -> None:
    run_smoke(bench)


def run_smoke(bench: str) -> None:
    """Run ``bench`` as the README does, in its smallest configuration; check what it prints."""
    if not HILLSTROM.exists():
        pytest.skip(f"{HILLSTROM} is absent (../shared is not laid out here)")
    args, expected = SMOKE[bench]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{bench}.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    output = done.stdout + done.stderr
    for text in expected:
        assert text in output, f"{bench}: {text!r} missing:\n{output[-3000:]}"
