"""``uplift-operator dev``: the whole stack on this machine, with what is happening visible.

Starts, in order: a real control plane (etcd, kube-apiserver, kube-controller-manager), a real
MLflow tracking server (sqlite), a real Prometheus, trains an uplift model on the Hillstrom data
and registers it with alias ``champion``, runs the operator under its own RBAC identity, plays
Seldon's status updates (its controller cannot run without a kubelet), applies
``manifests/samples/`` into namespace ``demo``, and then shows ``kubectl get uplift`` and the
latest events until Ctrl-C (or ``--duration``). Everything is stopped on the way out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from uplift_operator.devenv import process

ROOT = Path(__file__).resolve().parents[3]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
DEMO_NAMESPACE = "demo"


def _say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def _kubectl(kubeconfig: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args],
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="uplift-operator dev", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=0,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where data and logs go (default: a new temporary directory)")
    parser.add_argument("--sample", type=int, default=16000,
                        help="Hillstrom rows to train on (default: 16000)")
    parser.add_argument("--refresh", type=float, default=2.0, help="seconds between views")
    args = parser.parse_args(list(argv or []))

    from uplift_operator.devenv.controlplane import ControlPlane
    from uplift_operator.devenv.mlflow_server import MlflowServer
    from uplift_operator.devenv.prometheus import PrometheusServer

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="uplift-dev-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    cleanups: list[tuple[str, Callable[[], None]]] = []
    try:
        _say(f"Kubernetes control plane (workdir {workdir})")
        plane = ControlPlane(workdir / "controlplane").start()
        cleanups.append(("control plane", plane.stop))
        admin = plane.admin_kubeconfig
        _kubectl(admin, "apply", "--server-side", "-f", str(ROOT / "crds"))
        _kubectl(admin, "apply", "--server-side", "-f",
                 str(ROOT / "manifests" / "dev" / "seldon-standin-crd.yaml"))
        for name in ("namespace.yaml", "rbac.yaml", "kopf-peering.yaml"):
            _kubectl(admin, "apply", "-f", str(ROOT / "manifests" / name))
        _kubectl(admin, "wait", "--for=condition=Established", "--timeout=30s",
                 "crd/upliftmodels.uplift.dev", "crd/campaigns.uplift.dev")

        _say("MLflow tracking server (sqlite)")
        mlflow = MlflowServer(workdir / "mlflow").start()
        cleanups.append(("MLflow", mlflow.stop))
        _say("Prometheus")
        prometheus = PrometheusServer(workdir=workdir / "prometheus").start()
        cleanups.append(("Prometheus", prometheus.close))

        _say("Training an uplift model on Hillstrom and registering it as hillstrom-uplift@champion")
        from uplift_operator.model import trainer

        train_args = ["--tracking-uri", mlflow.url, "--model-name", "hillstrom-uplift",
                      "--alias", "champion", "--sample", str(args.sample), "--learner", "t",
                      "--base", "logistic", "--n-bootstrap", "50"]
        if HILLSTROM.exists():
            train_args += ["--data", str(HILLSTROM)]
        if trainer.main(train_args) != 0:
            raise RuntimeError("training failed")

        _say("Operator (under ServiceAccount uplift-system/uplift-operator)")
        liveness, metrics = process.free_port(), process.free_port()
        operator_log = workdir / "operator.log"
        operator = process.start(
            [sys.executable, "-m", "uplift_operator", "run", "--all-namespaces",
             "--mlflow-tracking-uri", mlflow.url, "--prometheus-url", prometheus.url,
             "--liveness-port", str(liveness), "--metrics-port", str(metrics),
             "--log-format", "plain"],
            log=operator_log, env={"KUBECONFIG": str(plane.operator_kubeconfig)})
        cleanups.append(("operator", lambda: process.stop(operator, grace=15)))
        process.wait_until(lambda: process.http_ok(f"http://127.0.0.1:{liveness}/healthz"),
                           timeout=60, what="operator", proc=operator, log=operator_log)

        from kubernetes import config as kube_config

        from uplift_operator.devenv.seldon_standin import SeldonStandIn

        api_client = kube_config.new_client_from_config(str(admin))  # type: ignore[no-untyped-call]
        standin = SeldonStandIn(api_client).start()
        cleanups.append(("Seldon stand-in", standin.stop))

        _say(f"Samples into namespace {DEMO_NAMESPACE}")
        _kubectl(admin, "create", "namespace", DEMO_NAMESPACE)
        _kubectl(admin, "apply", "-n", DEMO_NAMESPACE, "-f", str(ROOT / "manifests" / "samples"))
        print(f"\nReady in {time.monotonic() - started:.0f}s. From another terminal:\n"
              f"  export KUBECONFIG={admin}\n"
              f"  kubectl get uplift -n {DEMO_NAMESPACE}; "
              f"kubectl uplift status hillstrom-uplift -n {DEMO_NAMESPACE}\n"
              f"  MLflow {mlflow.url}   Prometheus {prometheus.url}   "
              f"operator metrics http://127.0.0.1:{metrics}/metrics   logs {operator_log}\n")
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stopping and (deadline is None or time.monotonic() < deadline):
            view = _kubectl(admin, "get", "uplift", "-n", DEMO_NAMESPACE, check=False)
            events = _kubectl(admin, "get", "events", "-n", DEMO_NAMESPACE,
                              "--sort-by=.lastTimestamp", check=False).splitlines()[-6:]
            if sys.stdout.isatty():
                print("\033[2J\033[H", end="")
            print(time.strftime("%H:%M:%S"), "kubectl get uplift -n", DEMO_NAMESPACE)
            print(view.rstrip())
            print("\nlatest events:\n" + "\n".join(events), flush=True)
            time.sleep(args.refresh)
        return 0
    finally:
        _say("Stopping")
        for what, stop in reversed(cleanups):
            try:
                stop()
            except Exception as error:  # keep stopping the rest
                print(f"stopping {what}: {error}", file=sys.stderr)
        if os.environ.get("UPLIFT_DEV_KEEP") != "1" and args.workdir is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
