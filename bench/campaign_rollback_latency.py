"""Campaign rollback latency: from failing delivery data visible in Prometheus to exposure 0.

    .venv/bin/python bench/campaign_rollback_latency.py [--trials 5] [--interval 5]

Starts the real stack (control plane, MLflow, Prometheus, the operator under its own identity,
the Seldon stand-in), registers a model served by an UpliftModel, and per trial applies a fresh
Campaign (one indefinite 20 % exposure step, gate ``deliveryRate`` with ``min: 0.95``). The
campaign's decisions are the runtime's own counters (``tests.support.campaign_traffic``) at the
exposure of its entry in the ``<model>-campaigns`` ConfigMap; the trial waits for two analyses
without data (the gate Inconclusive: passes are running), then the decisions start with half of
the treated units' deliveries reported failed, and it measures —
t_visible: the first time Prometheus' HTTP API returns a failed delivery of the campaign (polled
every 50 ms); t_status: the first time the Campaign's ``status.exposurePercent`` is 0; t_file:
the first time its ConfigMap entry says exposure 0 or inactive (what the runtime reloads).
Target (issue 9): t_status − t_visible ≤ analysis interval + 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from bench.campaign_stack import serve_model  # noqa: E402
from kubernetes import client as kube_client  # noqa: E402
from tests.support.campaign_traffic import (  # noqa: E402
    CampaignProfile,
    CampaignTraffic,
    ConfigMapExposure,
)
from tests.support.kube import Kubectl  # noqa: E402
from tests.support.metrics_endpoint import MetricsEndpoint  # noqa: E402

from uplift_operator.adapters.prometheus import PrometheusClient  # noqa: E402
from uplift_operator.devenv import process  # noqa: E402
from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.devenv.mlflow_server import MlflowServer  # noqa: E402
from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget  # noqa: E402
from uplift_operator.runtime.metrics import RuntimeMetrics  # noqa: E402

NS, MODEL = "bench", "um"


def _poll(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """The instant (``time.monotonic()``) ``predicate`` was first seen true, polled every 50 ms."""
    return process.wait_until(predicate, timeout=timeout, what="bench condition", interval=0.05)


def _trial(name: str, interval: int, metrics: RuntimeMetrics, custom: Any, core: Any,
           admin: Kubectl, prom: PrometheusClient) -> tuple[float, float]:
    """One fresh Campaign to its first step, then failing deliveries: (to status, to file)."""
    def campaign_status() -> dict[str, Any]:
        body = custom.get_namespaced_custom_object("uplift.dev", "v1alpha1", NS, "campaigns", name)
        return dict(body.get("status") or {})

    exposure = ConfigMapExposure(core, NS, MODEL, name)
    traffic = CampaignTraffic(metrics, MODEL, name, exposure).start()
    admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
                 "metadata": {"name": name, "namespace": NS},
                 "spec": {"modelRef": {"name": MODEL}, "treatments": [{"name": "womens-e-mail"}],
                          "economics": {"valuePerConversion": 10, "costPerTreatment": 0.1},
                          "experiment": {"holdoutFraction": 0.1},
                          "exposure": {"analysisInterval": f"{interval}s",
                                       "steps": [{"percent": 20}],
                                       "gates": [{"name": "delivery", "type": "deliveryRate",
                                                  "min": 0.95, "minSamples": 50}]}}})
    # Exposed, and two analyses without data behind it (the passes are running).
    _poll(lambda: exposure() == 20, 60)
    _poll(lambda: any(g.get("inconclusives", 0) >= 2 for g in campaign_status().get("gates", [])),
          6 * interval + 30)
    traffic.set(CampaignProfile(rps=2000, holdout_fraction=0.1, delivery_rate=0.5))
    promql = f'sum(uplift_deliveries_total{{namespace="{NS}", campaign="{name}", status="failed"}})'
    t_visible = _poll(lambda: (prom.scalar(promql) or 0) > 0, 30)
    seen: dict[str, float] = {}

    def withdrawn() -> bool:
        now = time.monotonic()
        if "status" not in seen and campaign_status().get("exposurePercent") == 0:
            seen["status"] = now
        exposure.read_at = 0.0  # read the ConfigMap now, not the cached value
        if "file" not in seen and exposure() == 0:
            seen["file"] = time.monotonic()
        return len(seen) == 2

    _poll(withdrawn, 60)
    status = campaign_status()
    gate = next(g for g in status["gates"] if g["name"] == "delivery")
    assert status["phase"] == "Degraded" and gate["verdict"] == "Fail", status
    result = (seen["status"] - t_visible, seen["file"] - t_visible)
    print(f"{name}: status {result[0]:.2f} s, campaigns file {result[1]:.2f} s (delivery "
          f"{gate['value']:.3g}, upper {gate['upper']:.3g}, {gate['samples']} samples)",
          flush=True)
    traffic.stop()
    admin.run("delete", "campaign", name, "-n", NS)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--interval", type=int, default=5, help="analysisInterval in seconds")
    args = parser.parse_args()

    endpoint = MetricsEndpoint().start()
    metrics = RuntimeMetrics(endpoint.registry)
    with ControlPlane() as plane, MlflowServer() as mlflow, PrometheusServer(
            [ScrapeTarget(endpoint.target, job="runtime", labels={"namespace": NS})]) as prometheus:
        served = serve_model(plane, mlflow, NS, MODEL, *prometheus.operator_args())
        admin, custom = served.admin, served.custom
        core = kube_client.CoreV1Api(served.api_client)
        prom = PrometheusClient(prometheus.url)
        latencies = [_trial(f"c{trial + 1}", args.interval, metrics, custom, core, admin, prom)
                     for trial in range(args.trials)]
        served.stop()
    endpoint.stop()
    target = args.interval + 2
    to_status = [s for s, _ in latencies]
    to_file = [f for _, f in latencies]
    print(f"\nanalysisInterval {args.interval}s, {args.trials} trials: status exposure 0 median "
          f"{statistics.median(to_status):.2f} s, max {max(to_status):.2f} s (target ≤ {target} "
          f"s): {'met' if max(to_status) <= target else 'NOT met'}; campaigns file median "
          f"{statistics.median(to_file):.2f} s, max {max(to_file):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
