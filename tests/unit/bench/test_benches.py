"""Every benchmark in the README runs after the README's two commands (issue #12 item 8).

The README's table is the list: each bench there must have a smoke configuration here (or in
tests/integration/bench/ when it needs the real components), each bench's third-party imports
must be installed by the set-up (the ``bench`` extra, part of dev), and each smoke run must
produce its report. Figures are never asserted: they are the benches' output, in the docs.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from uplift_operator.stats.drift import _BET_STAKE

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
README_BENCHES = sorted(set(re.findall(r"python bench/(\w+)\.py", (ROOT / "README.md").read_text())))

# bench -> (smallest arguments, needs the Hillstrom data, what its output must contain)
SMOKE: dict[str, tuple[list[str], bool, list[str]]] = {
    "stats_simulation": (["--runs", "20", "--check-runs", "2"], False, ["| design |"]),
    "reference_uplift_metrics": (["--sample", "3000"], True, ['"sklift"', '"causalml"']),
    "learners": (["--sample", "3000", "--n-bootstrap", "2"], True,
                 ["| ours |", "| sklift 0.5.1 |", "| causalml 0.18.0 |"]),
    "gate_decisions": (["--quick", "--gates", "errorRate", "--jobs", "1", "--no-naive"], False,
                       ["errorRate"]),
    "gate_general": (["--runs", "2", "--jobs", "1", "--cases", "one step 50",
                      "--gates", "errorRate,roi,drift,upliftSanity,deliveryRate"], False,
                     ["| one step 50 | errorRate | margin | 2 |", "| one step 50 | roi |",
                      "| one step 50 | drift | at the bound | 2 |",
                      "| one step 50 | upliftSanity | at the band's edge | 2 |",
                      "| one step 50 | deliveryRate | above | 2 |"]),
    "conversion_lag": (["--runs", "2", "--jobs", "1", "--lags", "2",
                        "--scenarios", "null,at the bound (ROI 0)"], False,
                       ["| onlineEffect | 2 | 6 | when reported | null | 2 |",
                        "| onlineEffect | 2 | 6 | cohorts | null | 2 |",
                        "| roi | 2 | 6 | cohorts | at the bound (ROI 0) | 2 |"]),
    "drift_bounds": (["--paths", "3", "--stakes", "0.5", "--general"], False,
                     ["| Fail: betting evidence at α/7, stake 0.5 × Kelly | PSI 0.2, a tilt |",
                      f"| Fail: betting evidence at α/7, the gate's stake ({_BET_STAKE} × Kelly) | "
                      "PSI 0.2, one bin grows |",
                      "| Fail: betting evidence at α/7, stake 0.5 × Kelly on the uncorrected "
                      "gain | PSI 0.2, a tilt |", "| 30 | skewed | 0.2 | 3 |",
                      "stake 0.5 × Kelly, the truth's direction (no bet can know it) | PSI 0.2"]),
    "cap_ledger_memory": (["--entries", "1000", "--churn", "1"], False,
                          ["| 1,000 | 5 | 18 characters |"]),
    "runtime_campaigns_file": (["--campaigns", "20", "--repeats", "2"], False,
                               ["20 campaigns, 2 runs each", "tick, nothing changed",
                                "first version with a canary split"]),
    "resync_pass_cost": (["--passes", "3"], False,
                         ["Healthy UpliftModel pass, nothing to write:", "10,000 models:"]),
}
# Need MLServer processes, the control plane or Prometheus: smoke-run in tests/integration/bench/.
INTEGRATION_SMOKE = {"serving_latency", "rollback_latency", "campaign_rollback_latency",
                     "operator_footprint", "failover", "scale", "plugin_startup",
                     "campaign_propagation", "api_costs", "prometheus_ranges",
                     "kopf_index_startup", "campaign_scale"}
# Imports a bench makes only inside functions, named explicitly so a missing peer fails here.
SUBMODULES = ["sklift.models", "sklift.metrics", "causalml.inference.meta", "causalml.metrics",
              "mlserver_mlflow"]


def _third_party_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names
            and n not in {"uplift_operator", "tests", "bench", "__future__"}}


def test_every_readme_bench_has_a_smoke_run() -> None:
    assert README_BENCHES, "no `python bench/X.py` command found in README.md"
    missing = set(README_BENCHES) - set(SMOKE) - INTEGRATION_SMOKE
    assert not missing, f"README benches without a smoke configuration: {sorted(missing)}"


@pytest.mark.parametrize("bench", README_BENCHES)
def test_bench_dependencies_are_installed(bench: str) -> None:
    for module in sorted(_third_party_imports(BENCH / f"{bench}.py")):
        importlib.import_module(module)  # ModuleNotFoundError names the missing peer


@pytest.mark.parametrize("module", SUBMODULES)
def test_bench_peers_imported_lazily_are_installed(module: str) -> None:
    importlib.import_module(module)


@pytest.mark.slow
@pytest.mark.parametrize("bench", sorted(set(SMOKE) & set(README_BENCHES)))
def test_smallest_configuration_runs(bench: str, tmp_path: Path) -> None:
    args, needs_data, expected = SMOKE[bench]
    if needs_data and not HILLSTROM.exists():
        pytest.skip(f"{HILLSTROM} is absent (../shared is not laid out here)")
    extra = ["--data", str(HILLSTROM)] if needs_data else []
    if bench == "reference_uplift_metrics":
        extra += ["--out", str(tmp_path / "out.json")]  # never the pinned reference file
    done = subprocess.run([sys.executable, str(BENCH / f"{bench}.py"), *args, *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + (tmp_path / "out.json").read_text() if bench == "reference_uplift_metrics" \
        else done.stdout
    for text in expected:
        assert text in output, f"{bench}: {text!r} missing from its report:\n{output[-2000:]}"
    assert "failed:" not in done.stderr, done.stderr[-3000:]  # learners swallows competitor errors
