"""Failover time: from a SIGKILL of the acting operator replica to the standby's first reaction.

    .venv/bin/python bench/failover.py [--kills 20] [--baseline 5] [--seed 11] [--lifetime SECONDS]

Starts the real stack (control plane, MLflow, the Seldon stand-in) and two operator replicas
under their own identity with kopf peering and the operator's defaults (the chart's: no
``--peering-lifetime`` unless given), registers a model and waits until its UpliftModel serves.
Per kill, at a random point (seeded) of the replicas' keep-alive cycle: SIGKILL the acting
replica, as a node failure would (its peering entry stays behind), change the UpliftModel's
spec at the same instant, and measure

  reaction: until the standby has acted on the change (``status.observedGeneration`` equals the
            new generation; polled every 50 ms),
  takeover: until kopf in the standby resumed (its log's "Resuming operations" line).

Then a replacement replica (a new name, as a new pod would have) joins as the standby, and the
next kill follows. Before the kills, the same change without a kill (``--baseline`` times)
gives the reaction of a live replica (the baseline). Target (issue #11): median reaction ≤ 10 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from kubernetes import client as kube_client  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from tests.support.kube import Kubectl, install_crds, install_operator_rbac  # noqa: E402
from tests.support.registry import Versions  # noqa: E402
from tests.support.replicas import ReplicaPair  # noqa: E402

from uplift_operator.devenv import process  # noqa: E402
from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.devenv.mlflow_server import MlflowServer  # noqa: E402
from uplift_operator.devenv.seldon_standin import SeldonStandIn  # noqa: E402
from uplift_operator.settings import OperatorConfig  # noqa: E402

HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
NS, NAME = "bench", "um"
# Longer than the longest keep-alive gap kopf leaves at the default lifetime (8 s: kopf 1.45
# sleeps max(1, lifetime - randint(5, 10)) s between touches, so 1-3 s), so a kill falls
# anywhere in the cycle.
KILL_WINDOW = 6.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=5,
                        help="changes without a kill first (the smoke run makes one)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--lifetime", type=int, default=None,
                        help="--peering-lifetime of the replicas (default: the operator's, "
                             f"{OperatorConfig.peering_lifetime} s)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lifetime = args.lifetime or OperatorConfig.peering_lifetime

    with ControlPlane() as plane, MlflowServer() as mlflow, \
            tempfile.TemporaryDirectory(prefix="uplift-failover-") as logdir:
        admin = Kubectl(plane.admin_kubeconfig)
        install_crds(admin)
        install_operator_rbac(admin)
        admin.run("create", "namespace", NS)
        api = kube_config.new_client_from_config(str(plane.admin_kubeconfig))  # type: ignore[no-untyped-call]
        custom = kube_client.CustomObjectsApi(api)
        standin = SeldonStandIn(api).start()
        pair = ReplicaPair(admin, plane.operator_kubeconfig, Path(logdir),
                           "--mlflow-tracking-uri", mlflow.url, lifetime=args.lifetime)
        try:
            pair.start()
            versions = Versions(mlflow.url, "bench-model")
            versions.set_alias("champion", versions.train(HILLSTROM, sample=4000))
            interval = ["2s", "3s"]
            admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                         "metadata": {"name": NAME, "namespace": NS},
                         "spec": {"model": {"registeredModel": "bench-model",
                                            "alias": "champion"},
                                  "treatments": [{"name": "womens-e-mail"}],
                                  "rollout": {"analysisInterval": interval[0],
                                              "steps": [{"weight": 20}, {"weight": 60}],
                                              "gates": [{"name": "errors", "type": "errorRate",
                                                         "max": 0.05}]}}})
            _poll(lambda: _get(custom).get("status", {}).get("phase") == "Healthy", 120)

            def change() -> int:
                """Flip the analysis interval (nothing else moves); the new generation."""
                interval.reverse()
                body = cast(dict[str, Any], custom.patch_namespaced_custom_object(
                    "uplift.dev", "v1alpha1", NS, "upliftmodels", NAME,
                    {"spec": {"rollout": {"analysisInterval": interval[0]}}}))
                return int(body["metadata"]["generation"])

            def observed() -> int:
                return int(_get(custom).get("status", {}).get("observedGeneration") or 0)

            baseline = []
            for _ in range(args.baseline):
                time.sleep(rng.uniform(0, 1))
                start = time.time()
                generation = change()
                baseline.append(_poll(lambda g=generation: observed() >= g, 30) - start)

            reactions, takeovers = [], []
            for kill in range(1, args.kills + 1):
                time.sleep(rng.uniform(0, KILL_WINDOW))
                killed = pair.kill_active()
                generation = change()
                reacted = _poll(lambda g=generation: observed() >= g, 120)
                takeovers.append(pair.wait_takeover() - killed)
                reactions.append(reacted - killed)
                print(f"kill {kill}: reaction {reactions[-1]:.2f} s "
                      f"(kopf resumed after {takeovers[-1]:.2f} s)", flush=True)
                pair.replace_killed()
        finally:
            pair.stop()
            standin.stop()

    print(f"\nlifetime {lifetime} s, {args.kills} kills (seed {args.seed}): reaction median "
          f"{statistics.median(reactions):.2f} s, max {max(reactions):.2f} s, "
          f"min {min(reactions):.2f} s; kopf resumed median {statistics.median(takeovers):.2f} s, "
          f"max {max(takeovers):.2f} s; without a kill median "
          f"{statistics.median(baseline):.2f} s, max {max(baseline):.2f} s. Target median ≤ 10 s: "
          f"{'met' if statistics.median(reactions) <= 10 else 'NOT met'}")
    return 0


def _get(custom: kube_client.CustomObjectsApi) -> dict[str, Any]:
    return cast(dict[str, Any], custom.get_namespaced_custom_object(
        "uplift.dev", "v1alpha1", NS, "upliftmodels", NAME))


def _poll(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """The instant (``time.time()``, as the kills are stamped) ``predicate`` was first seen
    true, polled every 50 ms."""
    process.wait_until(predicate, timeout=timeout, what="bench condition", interval=0.05)
    return time.time()


if __name__ == "__main__":
    sys.exit(main())
