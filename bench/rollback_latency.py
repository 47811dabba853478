"""Rollback latency: from a failing gate's metric being visible in Prometheus to weight 0 in Seldon.

    .venv/bin/python bench/rollback_latency.py [--trials 5] [--interval 5]
        [--background 1000 --ramping 50]

Starts the real stack (control plane, MLflow, Prometheus, the operator under its own identity,
the Seldon stand-in), registers a model, and per trial: rolls a canary out to its first step,
flips a custom gate's metric to a failing value, and measures two instants —
t_visible: the first time Prometheus' HTTP API returns the failing value (polled every 50 ms);
t_rolled_back: the first time the SeldonDeployment's spec gives the canary no traffic (polled
every 50 ms: a GET through the Python kubernetes client, a few ms; until 2026-12-07 each poll
ran ``kubectl get -o json``, 0.1–0.3 s, so the rows before read it every ~0.15–0.35 s). Target
(issue 3): t_rolled_back − t_visible ≤ analysis interval + 2 s.

Under load (issue #10): ``--background 1000 --ramping 50`` first makes 1,000 other UpliftModels
Healthy, 50 of them mid-ramp with a gate analysed every interval, and measures the same.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from kubernetes import client as kube_client  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from prometheus_client import Gauge  # noqa: E402
from tests.support.kube import Kubectl, OperatorProcess, install_crds, install_operator_rbac  # noqa: E402
from tests.support.metrics_endpoint import MetricsEndpoint  # noqa: E402
from tests.support.registry import Versions  # noqa: E402

from uplift_operator.adapters.prometheus import PrometheusClient  # noqa: E402
from uplift_operator.devenv import process  # noqa: E402
from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.devenv.mlflow_server import MlflowServer  # noqa: E402
from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget  # noqa: E402
from uplift_operator.devenv.seldon_standin import SeldonStandIn  # noqa: E402

HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
NS, NAME = "bench", "um"


def _poll(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """The instant (``time.monotonic()``) ``predicate`` was first seen true, polled every 50 ms."""
    return process.wait_until(predicate, timeout=timeout, what="bench condition", interval=0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--interval", type=int, default=5, help="analysisInterval in seconds")
    parser.add_argument("--background", type=int, default=0,
                        help="other UpliftModels managed meanwhile (issue #10: 1000)")
    parser.add_argument("--ramping", type=int, default=0,
                        help="of which this many are mid-ramp, analysing every interval (50)")
    args = parser.parse_args()

    endpoint = MetricsEndpoint().start()
    signal = Gauge("bench_canary_signal", "1 when the canary is bad", ["namespace", "version"],
                   registry=endpoint.registry)
    with ControlPlane() as plane, MlflowServer() as mlflow, PrometheusServer(
            [ScrapeTarget(endpoint.target, job="bench")]) as prometheus:
        admin = Kubectl(plane.admin_kubeconfig)
        install_crds(admin)
        install_operator_rbac(admin)
        admin.run("create", "namespace", NS)
        api = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            str(plane.admin_kubeconfig))
        standin = SeldonStandIn(api).start()
        custom = kube_client.CustomObjectsApi(api)
        logdir = Path(mlflow.workdir)
        operator = OperatorProcess(plane.operator_kubeconfig, logdir, "--priority", "10",
                                   "--mlflow-tracking-uri", mlflow.url,
                                   *prometheus.operator_args()).start()
        versions = Versions(mlflow.url, "bench-model")
        versions.set_alias("champion", versions.train(HILLSTROM, sample=4000))
        query = 'max(bench_canary_signal{namespace="{{namespace}}", version="{{version}}"})'
        admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                     "metadata": {"name": NAME, "namespace": NS},
                     "spec": {"model": {"registeredModel": "bench-model", "alias": "champion",
                                        "aliasRefreshInterval": "1s"},
                              "treatments": [{"name": "womens-e-mail"}],
                              "rollout": {"analysisInterval": f"{args.interval}s",
                                          "steps": [{"weight": 20}, {"weight": 60}],
                                          "gates": [{"name": "signal", "type": "custom",
                                                     "query": query, "max": 0.5}]}}})
        client = PrometheusClient(prometheus.url)
        if args.background:
            _background(admin, versions, args.background, args.ramping, args.interval)

        # Read through the client, not kubectl (a process per poll, 0.1-0.3 s): an error
        # raises, which the poll takes as "not yet" (a failed kubectl read as weight 0).
        def split() -> dict[str, int]:
            sdep = cast(dict[str, Any], custom.get_namespaced_custom_object(
                "machinelearning.seldon.io", "v1", NS, "seldondeployments", NAME))
            return {p["annotations"]["version"]: p["traffic"]
                    for p in sdep.get("spec", {}).get("predictors", [])}

        def status() -> dict[str, object]:
            body = cast(dict[str, Any], custom.get_namespaced_custom_object(
                "uplift.dev", "v1alpha1", NS, "upliftmodels", NAME))
            return dict(body.get("status") or {})

        def diagnose(what: str) -> str:
            """What the operator and the API server showed when a wait timed out."""
            log = operator.logs().splitlines()[-40:]
            try:
                seen = f"split: {split()}\nstatus: {json.dumps(status())}"
            except Exception as error:  # the API server not answering: say so
                seen = f"split and status not read: {type(error).__name__}: {error}"
            return (f"{what}\n{seen}"
                    f"\noperator log (last {len(log)} lines):\n" + "\n".join(log))

        def wait(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
            try:
                return _poll(predicate, timeout)
            except TimeoutError:
                print(diagnose(f"timed out after {timeout:.0f} s: {what}"), flush=True)
                raise

        def phase() -> str:
            return str(status().get("phase"))

        # The stable serves before the first canary, so that a trial times only its rollback.
        wait(lambda: phase() == "Healthy", 120, "the stable version Healthy")
        latencies = []
        stable = "1"
        for trial in range(args.trials):
            canary = versions.clone()
            signal.labels(NS, canary).set(0)
            versions.set_alias("champion", canary)
            wait(lambda c=canary: split().get(c, 0) > 0, 90, f"canary {canary} given traffic")
            time.sleep(args.interval * 1.5)  # at least one passing analysis at this step
            promql = f'max(bench_canary_signal{{namespace="{NS}", version="{canary}"}})'
            signal.labels(NS, canary).set(1)
            t_visible = wait(lambda q=promql: client.scalar(q) == 1.0, 30,
                             "the failing value visible in Prometheus")
            t_rolled_back = wait(lambda c=canary: split().get(c, 0) == 0, 60,
                                 f"canary {canary} rolled back to weight 0")
            latencies.append(t_rolled_back - t_visible)
            print(f"trial {trial + 1}: {latencies[-1]:.2f} s", flush=True)
            versions.set_alias("champion", stable)  # back to stable for the next trial
            wait(lambda: phase() == "Healthy", 60, "Healthy again on the stable version")
        operator.stop()
        standin.stop()
    endpoint.stop()
    target = args.interval + 2
    print(f"\nanalysisInterval {args.interval}s, {args.trials} trials: "
          f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
          f"(target ≤ {target} s): {'met' if max(latencies) <= target else 'NOT met'}")
    return 0


def _background(admin: Kubectl, versions: Versions, count: int, ramping: int,
                interval: int) -> None:
    """``count`` UpliftModels in namespace ``background``, all Healthy, then ``ramping`` of them
    mid-ramp: they follow the alias ``ramp`` of another registered model, moved to a second
    version, and stay at their first step (a 1 h pause) with a custom gate analysed every
    ``interval`` (no data: Inconclusive, which holds), the others following ``rest``."""
    import concurrent.futures

    admin.run("create", "namespace", "background")
    model = "background-model"
    first = versions.clone(name=model)
    versions.set_alias("rest", first, name=model)
    versions.set_alias("ramp", first, name=model)
    query = 'max(bench_canary_signal{namespace="{{namespace}}", version="{{version}}"})'

    def create(i: int) -> None:
        alias = "ramp" if i < ramping else "rest"
        admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                     "metadata": {"name": f"bg-{i:05d}", "namespace": "background"},
                     "spec": {"model": {"registeredModel": model, "alias": alias,
                                        "aliasRefreshInterval": "30s"},
                              "treatments": [{"name": "womens-e-mail"}],
                              "rollout": {"analysisInterval": f"{interval}s",
                                          "steps": [{"weight": 20, "pause": "1h"}],
                                          "gates": [{"name": "signal", "type": "custom",
                                                     "query": query, "max": 0.5}]}}})

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))

    def healthy() -> int:
        listing = json.loads(admin.run("get", "upliftmodels", "-n", "background", "-o",
                                       "json").stdout)
        return sum(1 for item in listing["items"]
                   if (item.get("status") or {}).get("phase") == "Healthy")

    _poll(lambda: healthy() == count, 1800)
    print(f"{count} background UpliftModels Healthy after {time.monotonic() - started:.0f} s",
          flush=True)
    if ramping:
        versions.set_alias("ramp", versions.clone(name=model), name=model)

        def canaries() -> int:
            listing = json.loads(admin.run("get", "upliftmodels", "-n", "background", "-o",
                                           "json").stdout)
            return sum(1 for item in listing["items"]
                       if (item.get("status") or {}).get("canaryWeight") == 20)

        _poll(lambda: canaries() == ramping, 600)
        print(f"{ramping} of them mid-ramp (canary at 20 %, analysed every {interval} s)",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
