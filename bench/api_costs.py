"""What each kind of request costs the control plane: CPU per request, by kind, no watchers.

    .venv/bin/python bench/api_costs.py [--count 1000] [--threads 8] [--pause 1]

Issue #10's scale bench (``bench/scale.py``) compares the apply of N UpliftModels with the raw
create of their children on one 2-core machine, where the control plane and the operator share
the cores. This bench says how much of the apply's time is the control plane's own work, per
request: a fresh control plane (etcd, kube-apiserver, kube-controller-manager) with the CRDs,
then ``--count`` requests of each kind below from ``--threads`` threads (a plain kubernetes
client, one request per object), one kind after the other, each in its own namespace or on the
objects an earlier kind created. Per kind: the time until the last request returned and the
control plane's CPU (utime + stime from /proc) over it, in ms per request. Nothing watches
the objects (no operator, no stand-in), so watch fan-out is not in these figures; the
kube-controller-manager's garbage collector, which follows every object, is.

Kinds, shaped as the operator and Seldon make them (``bench/scale.py``'s objects):

  POST SD / SSA SD (new) / SSA SD (same again): a SeldonDeployment created, server-side applied
      as a new object, and applied again unchanged (the operator's apply);
  PATCH SD status: the status Seldon writes when the predictor is Available (merge patch);
  POST UM / PATCH UM status: an UpliftModel created (``kubectl apply``'s share) and its status
      written by the operator (a merge patch of five conditions and the versions);
  POST Secret / POST ConfigMap / SSA ConfigMap (new) / POST Event: the operator's other writes.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from bench.scale import (  # noqa: E402
    SELDON,
    UPLIFT,
    Usage,
    api_client,
    create_all,
    name_of,
    namespace,
    seldon_deployment,
    upliftmodel,
)
from kubernetes import client as kube_client  # noqa: E402
from tests.support.kube import Kubectl, install_crds  # noqa: E402

from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
UM_STATUS = {"status": {
    "phase": "Healthy", "observedGeneration": 1, "stableVersion": "1", "desiredVersion": "1",
    "canaryWeight": 0, "message": "version 1 serves all traffic",
    "conditions": [{"type": kind, "status": "True", "reason": "Ok",
                    "message": "version 1 serves all traffic, nothing is due",
                    "lastTransitionTime": "2026-12-02T10:00:00Z", "observedGeneration": 1}
                   for kind in ("Ready", "SpecValid", "ModelResolved", "Serving",
                                "RegistryWrittenBack")]}}
SD_STATUS = {"status": {"state": "Available", "replicas": 1,
                        "deploymentStatus": {"v1": {"replicas": 1, "availableReplicas": 1}}}}


def kinds(api: kube_client.ApiClient, names: list[str],
          uri: str) -> list[tuple[str, list[Callable[[], object]]]]:
    custom, core = kube_client.CustomObjectsApi(api), kube_client.CoreV1Api(api)
    sd_group, sd_version, sd_plural = SELDON
    um_group, um_version, um_plural = UPLIFT

    def sd(ns: str, name: str) -> dict[str, Any]:
        body = seldon_deployment(name, uri)
        body["metadata"]["namespace"] = ns
        return body

    def um(ns: str, name: str) -> dict[str, Any]:
        body = upliftmodel(name)
        body["metadata"]["namespace"] = ns
        return body

    def apply_sd(name: str) -> object:
        return custom.patch_namespaced_custom_object(
            sd_group, sd_version, "applied", sd_plural, name, sd("applied", name),
            field_manager="bench", force=True, _content_type=APPLY)

    def event(name: str) -> kube_client.CoreV1Event:
        return kube_client.CoreV1Event(
            metadata=kube_client.V1ObjectMeta(generate_name=f"{name}."),
            involved_object=kube_client.V1ObjectReference(
                kind="UpliftModel", name=name, namespace="created",
                api_version=f"{um_group}/{um_version}"),
            reason="Healthy", message="version 1 is Healthy and serves all traffic",
            type="Normal", source=kube_client.V1EventSource(component="uplift-operator"),
            first_timestamp="2026-12-02T10:00:00Z", last_timestamp="2026-12-02T10:00:00Z",
            count=1)

    key = base64.b64encode(os.urandom(32)).decode()
    file = {"campaigns.json": '{"campaigns": []}'}
    return [
        ("POST SD", [partial(custom.create_namespaced_custom_object, sd_group, sd_version,
                             "created", sd_plural, sd("created", m)) for m in names]),
        ("SSA SD (new)", [partial(apply_sd, m) for m in names]),
        ("SSA SD (same again)", [partial(apply_sd, m) for m in names]),
        ("PATCH SD status", [partial(custom.patch_namespaced_custom_object_status, sd_group,
                                     sd_version, "created", sd_plural, m, SD_STATUS,
                                     _content_type=MERGE) for m in names]),
        ("POST UM", [partial(custom.create_namespaced_custom_object, um_group, um_version,
                             "created", um_plural, um("created", m)) for m in names]),
        ("PATCH UM status", [partial(custom.patch_namespaced_custom_object_status, um_group,
                                     um_version, "created", um_plural, m, UM_STATUS,
                                     _content_type=MERGE) for m in names]),
        ("POST Secret", [partial(core.create_namespaced_secret, "created", kube_client.V1Secret(
            metadata=kube_client.V1ObjectMeta(name=f"{m}-decision-key"), type="Opaque",
            data={"key": key})) for m in names]),
        ("POST ConfigMap", [partial(core.create_namespaced_config_map, "created",
                                    kube_client.V1ConfigMap(metadata=kube_client.V1ObjectMeta(
                                        name=f"{m}-campaigns"), data=file)) for m in names]),
        ("SSA ConfigMap (new)", [partial(
            core.patch_namespaced_config_map, f"{m}-campaigns", "applied",
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"{m}-campaigns", "namespace": "applied"}, "data": file},
            field_manager="bench", force=True, _content_type=APPLY) for m in names]),
        ("POST Event", [partial(core.create_namespaced_event, "created", event(m))
                        for m in names]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="requests of each kind")
    parser.add_argument("--threads", type=int, default=8, help="requesting threads")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between two kinds (the smoke run needs none)")
    args = parser.parse_args()
    plane = ControlPlane()
    try:
        plane.start()
        install_crds(Kubectl(plane.admin_kubeconfig))
        api = api_client(plane.admin_kubeconfig, args.threads + 4)
        core = kube_client.CoreV1Api(api)
        for ns in ("created", "applied"):
            core.create_namespace(namespace(ns))
        parts = [Usage(pid) for pid in plane.pids.values()]
        names = [name_of(i) for i in range(args.count)]
        print(f"| request ({args.count:,} each, {args.threads} threads) | wall | control plane CPU "
              "| per request |\n|---|---|---|---|", flush=True)
        for label, calls in kinds(api, names, "http://127.0.0.1:5000"):
            before = sum(part.cpu_seconds() for part in parts)
            seconds, failed = create_all(calls, args.threads)
            used = sum(part.cpu_seconds() for part in parts) - before
            failures = f" ({failed} failed)" if failed else ""
            print(f"| {label} | {seconds:.2f} s | {used:.2f} s "
                  f"| {1000 * used / args.count:.2f} ms{failures} |", flush=True)
            time.sleep(args.pause)  # the tail of one kind (etcd's compaction, the GC) not in the next
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
