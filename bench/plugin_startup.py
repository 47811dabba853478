"""``kubectl uplift status`` wall time, end to end, against the real control plane.

    .venv/bin/python bench/plugin_startup.py [--runs 20]

Packs the plugin as its single-file install (``uplift_operator.plugin.bundle``), puts it on PATH
as ``kubectl-uplift``, starts the real control plane with the CRDs and the sample UpliftModel and
Campaign, and times ``kubectl uplift status hillstrom-uplift`` (kubectl's plugin dispatch + Python
start + the plugin's own ``kubectl get``) ``--runs`` times, the same for ``status`` and ``pause``
(a merge patch) of the Campaign, plus ``kubectl uplift --help`` (no API call), a bare
``kubectl get`` of the same object for reference, and the import of the plugin against the import
of ``domain.ramp`` (what the plugin imported before: scipy). ``python3`` on PATH is the real
interpreter (a pyenv shim alone costs about a second). Wall time depends on the machine's load,
so the CPU time of the child processes (user + sys) and the load average are reported too.
Target (issue #12): ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.support.kube import Kubectl, install_crds  # noqa: E402

from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.plugin import bundle  # noqa: E402

SAMPLES = [ROOT / "manifests" / "samples" / f"{kind}.yaml" for kind in ("upliftmodel", "campaign")]


def _time(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """(wall seconds, child CPU seconds) per run."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="uplift-plugin-") as tmp, ControlPlane() as plane:
        bundle.build(Path(tmp) / "kubectl-uplift")
        (Path(tmp) / "python3").symlink_to(Path(sys.executable).resolve())
        admin = Kubectl(plane.admin_kubeconfig)
        install_crds(admin)
        admin.run("create", "namespace", "bench")
        admin.apply([yaml.safe_load(sample.read_text()) for sample in SAMPLES], "bench")
        env = {**os.environ, "PATH": f"{tmp}:{os.environ['PATH']}",
               "KUBECONFIG": str(plane.admin_kubeconfig)}
        cases = {
            "kubectl uplift status hillstrom-uplift -n bench":
                ["kubectl", "uplift", "status", "hillstrom-uplift", "-n", "bench"],
            "kubectl uplift status campaign/spring-email -n bench":
                ["kubectl", "uplift", "status", "campaign/spring-email", "-n", "bench"],
            "kubectl uplift pause campaign/spring-email -n bench (a merge patch)":
                ["kubectl", "uplift", "pause", "campaign/spring-email", "-n", "bench"],
            "kubectl uplift --help": ["kubectl", "uplift", "--help"],
            "kubectl get upliftmodel hillstrom-uplift -n bench -o json (reference)":
                ["kubectl", "get", "upliftmodel", "hillstrom-uplift", "-n", "bench", "-o", "json"],
            "python3 -c 'import uplift_operator.plugin.kubectl_uplift' (the plugin's imports)":
                ["python3", "-c", "import uplift_operator.plugin.kubectl_uplift"],
            "python3 -c 'import uplift_operator.domain.ramp' (what it imported before)":
                ["python3", "-c", "import uplift_operator.domain.ramp"],
        }
        env["PYTHONPATH"] = str(ROOT / "operator")
        site = subprocess.run([sys.executable, "-c", "import numpy, os; print(os.path.dirname("
                               "os.path.dirname(numpy.__file__)))"], capture_output=True,
                              text=True, check=True).stdout.strip()
        env["PYTHONPATH"] += os.pathsep + site  # numpy/scipy/pydantic for the ramp row
        load = os.getloadavg()[0]
        results = {label: _time(cmd, env, args.runs) for label, cmd in cases.items()}
    print(f"load average at start: {load:.1f} ({os.cpu_count()} cores)\n")
    print(f"| command ({args.runs} runs) | median s | p95 s | max s | median CPU s |")
    print("|---|---|---|---|---|")
    for label, (wall, cpu) in results.items():
        ordered = sorted(wall)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"| `{label}` | {statistics.median(wall):.3f} | {p95:.3f} | {max(wall):.3f} "
              f"| {statistics.median(cpu):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
