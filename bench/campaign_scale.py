"""Campaign scale: N Campaigns on one UpliftModel — apply → every Campaign decided, the campaigns
file's writes, its size, and who is left out when it is full.

    .venv/bin/python bench/campaign_scale.py [--count 2500] [--timeout 900] [--settle 20]

One stack (``bench/campaign_stack.py``: the real control plane, a real MLflow, the Seldon
stand-in, the operator under its own identity) with one Healthy UpliftModel; then N Campaigns
of the sample's shape (one treatment, a 10 % holdout, two exposure steps, a deliveryRate gate;
no Prometheus: the gate waits for data, the first step is taken) are created by 8 threads, and
the bench polls the Campaigns until each has a phase. After ``--settle`` s it reports the
ConfigMap requests the API server counted over the window (``apiserver_request_total``), the
campaigns file's bytes and entries, how many Campaigns expose and how many say the file is
full, and the model's ``CampaignsFileFull`` events. A model's file holds at most 1,000,000
bytes and 4,096 entries (docs/runtime.md, "How many Campaigns a model's file holds").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from bench.campaign_stack import serve_model  # noqa: E402
from kubernetes import client as kube_client  # noqa: E402

from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.devenv.mlflow_server import MlflowServer  # noqa: E402
from uplift_operator.render import campaigns, naming  # noqa: E402

NS, MODEL = "campaign-scale", "scale-model"


def campaign(i: int) -> dict[str, Any]:
    return {"apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
            "metadata": {"name": f"c-{i:05d}", "namespace": NS},
            "spec": {"modelRef": {"name": MODEL}, "treatments": [{"name": "womens-e-mail"}],
                     "economics": {"valuePerConversion": 100.0, "costPerTreatment": 0.1},
                     "experiment": {"holdoutFraction": 0.1},
                     "exposure": {"analysisInterval": "30s",
                                  "steps": [{"percent": 10, "pause": "1h"}, {"percent": 100}],
                                  "gates": [{"name": "delivery", "type": "deliveryRate",
                                             "min": 0.95}]}}}


def listed(custom: kube_client.CustomObjectsApi) -> list[dict[str, Any]]:
    body = custom.list_namespaced_custom_object("uplift.dev", "v1alpha1", NS, "campaigns")
    return cast(list[dict[str, Any]], cast(dict[str, Any], body)["items"])


def config_map_requests(api: kube_client.ApiClient) -> dict[str, float]:
    method, url, headers, _, _ = api.param_serialize("GET", "/metrics",
                                                     auth_settings=["BearerToken"])
    response = api.call_api(method, url, headers, _request_timeout=30)
    response.read()  # type: ignore[no-untyped-call]
    counts: dict[str, float] = {}
    for line in cast(bytes, response.data).decode().splitlines():
        if line.startswith("apiserver_request_total{") and 'resource="configmaps"' in line:
            verb = re.search(r'verb="(\w+)"', line)
            if verb:
                counts[verb.group(1)] = counts.get(verb.group(1), 0) + float(line.rsplit()[-1])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2500)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--settle", type=float, default=20)
    args = parser.parse_args()
    with ControlPlane() as plane, MlflowServer() as mlflow:
        served = serve_model(plane, mlflow, NS, MODEL)
        try:
            api, custom = served.api_client, served.custom
            before = config_map_requests(api)
            began = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: custom.create_namespaced_custom_object(
                    "uplift.dev", "v1alpha1", NS, "campaigns", campaign(i)), range(args.count)))
            created = time.monotonic() - began
            deadline = began + args.timeout
            items: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                items = listed(custom)
                if all((c.get("status") or {}).get("phase") for c in items):
                    break
                time.sleep(1)
            decided = time.monotonic() - began
            time.sleep(args.settle)
            after = config_map_requests(api)
            items = listed(custom)
            config_map = kube_client.CoreV1Api(api).read_namespaced_config_map(
                naming.campaigns_config_map(MODEL), NS)
            text = (config_map.data or {}).get(campaigns.DATA_KEY, "")
            held = json.loads(text)["campaigns"] if text else {}
            full = [c for c in items
                    if "is full" in ((c.get("status") or {}).get("message") or "")]
            exposed = [c for c in items
                       if ((c.get("status") or {}).get("exposurePercent") or 0) > 0]
            events = kube_client.CoreV1Api(api).list_namespaced_event(
                NS, field_selector="reason=CampaignsFileFull").items
        finally:
            served.stop()
    writes = {verb: after.get(verb, 0) - before.get(verb, 0) for verb in after}
    print("\n| Campaigns | created | all with a phase | ConfigMap writes (APPLY) | file bytes | "
          "entries | exposing | left out, saying so | CampaignsFileFull events |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.count:,} | {created:.1f} s | {decided:.1f} s | {writes.get('APPLY', 0):.0f} "
          f"| {len(text):,} | {len(held):,} | {len(exposed):,} | {len(full):,} | {len(events)} |")
    if full:
        example = full[0]
        print(f"\n{example['metadata']['name']}: {example['status']['message']}")


if __name__ == "__main__":
    main()
