"""Every benchmark the docs cite runs after the README's two commands (issue #12 item 8).

The list is every ``bench/X.py`` the README or a page of docs/ names (the README's table, and
the figures cited in docs/*.md): each must have a smoke configuration here (or in
tests/integration/bench/ when it needs the real components, or its own test module), or be
exempt with a reason; each bench's third-party imports must be installed by the set-up (the
``bench`` extra, part of dev), and each smoke run must produce its report. Figures are never
asserted: they are the benches' output, in the docs.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from uplift_operator.stats.drift import _BET_STAKE

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
#: Every bench cited: ``bench/X.py`` in the README or docs/*.md (not ``tests/unit/bench/X.py``).
DOC_BENCHES = sorted({name for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
                      for name in re.findall(r"(?<![\w/.-])bench/(\w+)\.py", page.read_text())})

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
    # docs/operator.md "Operator metrics"; about 0.6 CPU-s
    "metrics_exposition": (["--count", "100"], False, ["N=100 UpliftModels: ", " per scrape"]),
    # docs/runtime.md: the runtime loaded in-process with a small model; about 8 CPU-s, most
    # of it importing the runtime (15-29 s on 2 cores shared with other work)
    "runtime_scrape": (["--campaigns", "20", "--repeats", "1"], False,
                       ["20 campaigns, 2 treating, a canary split: "]),
    # docs/runtime.md "Late outcomes, completeness and cohorts"; about 6 CPU-s, nearly all of
    # it importing the runtime (for ``_pending_groups``)
    "runtime_due_counts": (["--campaigns", "2"], False,
                           ["2 campaigns, 14-day window filled", "last_due of a campaign:",
                            "one slot due (", "the drain ("]),
}
#: A second mode of a bench whose figures the docs cite too: id -> (bench, as SMOKE's value).
MORE_SMOKE: dict[str, tuple[str, list[str], bool, list[str]]] = {
    # docs/operator.md's Campaign series and the heap (``--heap``); about 0.6 CPU-s
    "metrics_exposition --kind Campaign --heap": (
        "metrics_exposition", ["--count", "100", "--kind", "Campaign", "--heap"], False,
        ["N=100 Campaigns: ", "heap held by the series"]),
    # docs/runtime.md, the review's measure; about 6 CPU-s (the same imports)
    "runtime_scrape --zeros-only": ("runtime_scrape", ["--zeros-only", "--campaigns", "20",
                                                       "--repeats", "1"], False,
                                    ["20 campaigns' series at zero: "]),
}
# Need MLServer processes, the control plane or Prometheus: smoke-run in tests/integration/bench/.
INTEGRATION_SMOKE = {"serving_latency", "rollback_latency", "campaign_rollback_latency",
                     "operator_footprint", "failover", "scale", "plugin_startup",
                     "campaign_propagation", "api_costs", "prometheus_ranges",
                     "kopf_index_startup", "campaign_scale"}
#: Smoke-run by their own module in tests/unit/bench/.
OWN_MODULE = {"runtime_campaigns_leaving": "test_runtime_campaigns_leaving.py"}
#: Cited, with no smoke run; why.
EXEMPT = {
    "demo_timing": "a whole demo stack (control plane, MLflow, Prometheus, the operator, MLServer "
                   "processes): 45 s to the first scored request and up to 3 min a scenario, "
                   "more than a smoke run's share of CI; the stack and the scenarios it times "
                   "are tests/integration/demo/test_demo.py's, and its own lines run below on a "
                   "stand-in of the stack",
}
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


def test_every_cited_bench_has_a_smoke_run() -> None:
    assert len(DOC_BENCHES) > 20, DOC_BENCHES  # the README's table alone names more
    assert "metrics_exposition" in DOC_BENCHES  # cited in docs/operator.md only
    assert not [b for b in DOC_BENCHES if not (BENCH / f"{b}.py").exists()], DOC_BENCHES
    covered = set(SMOKE) | INTEGRATION_SMOKE | set(OWN_MODULE) | set(EXEMPT)
    missing = set(DOC_BENCHES) - covered
    assert not missing, f"cited benches without a smoke configuration: {sorted(missing)}"
    assert all((Path(__file__).parent / module).exists() for module in OWN_MODULE.values())
    assert {bench for bench, *_ in MORE_SMOKE.values()} <= set(SMOKE)


@pytest.mark.parametrize("bench", DOC_BENCHES)
def test_bench_dependencies_are_installed(bench: str) -> None:
    for module in sorted(_third_party_imports(BENCH / f"{bench}.py")):
        importlib.import_module(module)  # ModuleNotFoundError names the missing peer


@pytest.mark.parametrize("module", SUBMODULES)
def test_bench_peers_imported_lazily_are_installed(module: str) -> None:
    importlib.import_module(module)


RUNS = {**{bench: (bench, *SMOKE[bench]) for bench in SMOKE if bench in DOC_BENCHES},
        **MORE_SMOKE}


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(RUNS))
def test_smallest_configuration_runs(run: str, tmp_path: Path) -> None:
    bench, args, needs_data, expected = RUNS[run]
    if needs_data and not HILLSTROM.exists():
        pytest.skip(f"{HILLSTROM} is absent (../shared is not laid out here)")
    extra = ["--data", str(HILLSTROM)] if needs_data else []
    if bench == "reference_uplift_metrics":
        extra += ["--out", str(tmp_path / "out.json")]  # never the pinned reference file
    done = subprocess.run([sys.executable, str(BENCH / f"{bench}.py"), *args, *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TMPDIR": str(tmp_path)})  # what a bench leaves
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + (tmp_path / "out.json").read_text() if bench == "reference_uplift_metrics" \
        else done.stdout
    for text in expected:
        assert text in output, f"{bench}: {text!r} missing from its report:\n{output[-2000:]}"
    assert "failed:" not in done.stderr, done.stderr[-3000:]  # learners swallows competitor errors


def test_demo_timing_reports_each_scenario_on_a_stand_in_stack(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # demo_timing has no smoke run (EXEMPT): its own lines run here, on stand-ins of the demo's
    # stack, scenario runner and model fitting whose calls are checked against their signatures.
    from uplift_operator.devenv import demo, demo_models, scenarios

    demo_timing = importlib.import_module("bench.demo_timing")
    stack = mock.create_autospec(demo.DemoStack, instance=True)
    stack.__enter__.return_value = stack
    stack.wait_first_scored.return_value = 12.34
    stack.timings = {"first scored request": 12.34}
    stand_in = mock.create_autospec(demo.DemoStack, return_value=stack)

    def decided(_: demo.DemoStack, scenario: scenarios.Scenario, **__: object) -> demo.Outcome:
        return demo.Outcome(scenario.name, "2", "Promoted", "", "online-effect", 61.04, True,
                            [30, 60])

    fit = mock.create_autospec(demo_models.fit)
    monkeypatch.setattr(demo_timing, "DemoStack", stand_in)
    monkeypatch.setattr(demo_timing, "run_scenario",
                        mock.create_autospec(demo.run_scenario, side_effect=decided))
    monkeypatch.setattr(demo_models, "fit", fit)
    monkeypatch.setattr(sys, "argv", ["demo_timing.py", "--runs", "1"])

    assert demo_timing.main() == 0

    report = json.loads(capsys.readouterr().out)
    assert report["run"] == 1 and report["first_scored_s"] == 12.3
    assert report["milestones_s"] == {"first scored request": 12.3}
    assert list(report["scenarios"]) == list(scenarios.DEFAULT)
    assert report["scenarios"][scenarios.DEFAULT[0]] == {
        "decision": "Promoted", "gate": "online-effect", "seconds": 61.0, "weights": [30, 60]}
    assert stand_in.call_args.args[1] == demo.HILLSTROM
    assert fit.call_count == 1 + len(scenarios.DEFAULT)  # the stable's recipe and each scenario's
