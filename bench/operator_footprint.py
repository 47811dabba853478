"""Operator footprint: resident memory of an idle operator installed from the image's lock only.

    .venv/bin/python bench/operator_footprint.py [--idle 20] [--venv DIR]

Builds (once, cached outside the repo in ~/.cache/uplift-operator/) a virtualenv from
requirements/operator.lock exactly as the operator image's builder stage does (uv, hashes
required), starts the real control plane with the CRDs and the operator's RBAC, runs
``python -m uplift_operator run --all-namespaces`` from that virtualenv under the operator's own
identity, waits for /healthz, lets it idle ``--idle`` seconds with nothing to manage, then reads
VmRSS and VmHWM from /proc. It also reports whether any data-plane library is importable in that
virtualenv (it must not be: the image does not carry them). Target (issue #12): RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.support.kube import Kubectl, install_crds, install_operator_rbac  # noqa: E402

from uplift_operator.devenv import process  # noqa: E402
from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402

LOCK = ROOT / "requirements" / "operator.lock"
DATA_PLANE = ("pandas", "pyarrow", "sklearn", "mlflow", "matplotlib", "mlserver")


def image_venv(target: Path | None) -> Path:
    """The operator image's virtualenv, from the lock with hashes (cached by the lock's hash)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    venv = target or Path.home() / ".cache" / "uplift-operator" / f"operator-image-venv-{digest}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(["uv", "pip", "sync", "--quiet", "--require-hashes", "--python", str(python),
                        str(LOCK)], check=True)
    return venv


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=20.0, help="seconds to idle before reading")
    parser.add_argument("--venv", type=Path, default=None)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the operator (e.g. MALLOC_ARENA_MAX=2)")
    args = parser.parse_args(argv)
    venv = image_venv(args.venv)
    python = venv / "bin" / "python"
    probe = ("import importlib.util as u; "
             f"print(','.join(m for m in {DATA_PLANE!r} if u.find_spec(m)) or '-')")
    present = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                             check=True).stdout.strip()
    with ControlPlane() as plane:
        admin = Kubectl(plane.admin_kubeconfig)
        install_crds(admin)
        install_operator_rbac(admin)
        port, metrics = process.free_port(), process.free_port()
        log = Path(plane.workdir) / "operator-footprint.log"
        env = {"KUBECONFIG": str(plane.operator_kubeconfig), "PYTHONPATH": str(ROOT / "operator"),
               **dict(e.split("=", 1) for e in args.env)}
        proc = process.start([str(python), "-m", "uplift_operator", "run", "--all-namespaces",
                              "--liveness-port", str(port), "--metrics-port", str(metrics),
                              "--log-format", "json"], log=log, env={**os.environ, **env})
        try:
            t0 = time.monotonic()
            process.wait_until(lambda: process.http_ok(f"http://127.0.0.1:{port}/healthz"),
                               timeout=120, what="operator liveness", proc=proc, log=log)
            ready_s = time.monotonic() - t0
            time.sleep(args.idle)
            rss, hwm = _status_kb(proc.pid, "VmRSS"), _status_kb(proc.pid, "VmHWM")
        finally:
            process.stop(proc)
    print(f"environment: {' '.join(args.env) or '(image defaults)'}; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| operator installed from | data-plane libraries importable | start → /healthz s "
          f"| RSS after {args.idle:.0f} s idle MB | peak RSS MB |")
    print("|---|---|---|---|---|")
    source = str(args.venv) if args.venv else "requirements/operator.lock"
    print(f"| {source} | {present} | {ready_s:.1f} | {rss / 1024:.0f} "
          f"| {hwm / 1024:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
