"""Campaign settings propagation: from a Campaign's status change to the runtime deciding under it.

    .venv/bin/python bench/campaign_propagation.py [--changes 10]

Starts the real control plane, MLflow, the operator under its own identity and the Seldon
stand-in, an UpliftModel serving version 1, and one real MLServer process of our runtime (a small
local model) whose ``UPLIFT_CAMPAIGNS_FILE`` lies in a directory laid out as a ConfigMap volume.
A kubelet stand-in watches ConfigMaps and projects ``<model>-campaigns`` into that directory on
each change as the dev environment's serving agent does (``devenv.serving_agent.project``: a new
``..<time>`` directory, an atomic rename of ``..data``). A Campaign on the model has one
exposure step per 5 % and no step pause; each change is a manual promote (``uplift.dev/promote``)
at a random phase of the runtime's once-a-second file poll, which moves ``status.exposurePercent``
one step up. For each change it times, on one clock:

  t_status: the Campaign's watch event carrying the new exposure (the status write);
  t_cm:     the ConfigMap's watch event carrying it (the operator's render and apply, step 2);
  t_vol:    the new file projected into the volume (step 3, here a watch event and a rename);
  t_dec:    the first response deciding a probe unit under it (step 4: a unit whose exposure
            position lies between the old and the new percent, asked every 20 ms).

The kubelet's own delay in a cluster (its sync period plus its ConfigMap cache) is not played:
docs/dataplane.md gives it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench.campaign_stack import serve_model  # noqa: E402
from kubernetes import client as kube_client  # noqa: E402
from kubernetes import watch  # noqa: E402

from uplift_operator.devenv import process  # noqa: E402
from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.devenv.mlflow_server import MlflowServer  # noqa: E402
from uplift_operator.devenv.mlserver import MlserverProcess  # noqa: E402
from uplift_operator.devenv.serving_agent import project  # noqa: E402
from uplift_operator.model import pyfunc  # noqa: E402
from uplift_operator.model.features import FeatureSchema  # noqa: E402
from uplift_operator.model.learners import BaseSpec, make_learner  # noqa: E402
from uplift_operator.model.scoring import UpliftModel, encode_treatments  # noqa: E402
from uplift_operator.runtime.assignment import exposed  # noqa: E402

NS, MODEL, CAMPAIGN, SALT = "bench", "um", "prop", "propagation"
STEP = 5  # percent per step: 5, 10, … 100, so at most 19 changes


def _train(path: Path) -> None:
    """A small model scoring the UpliftModel's treatment (as Hillstrom names it)."""
    rng = np.random.default_rng(0)
    n = 600
    arms = ("Womens E-Mail",)
    frame = pd.DataFrame({"x": rng.normal(size=n), "arm": rng.choice(["No E-Mail", *arms], n)})
    frame["y"] = (rng.uniform(size=n) < 0.1 + 0.2 * (frame["arm"] != "No E-Mail")).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], [])
    t = encode_treatments(frame["arm"].tolist(), "No E-Mail", arms)
    learner = make_learner("t", BaseSpec(params={"max_iter": 20})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    pyfunc.save_model(UpliftModel(schema, learner, arms, "No E-Mail"), path)


class Watches:
    """The Campaign's exposure and the campaigns ConfigMap's entry, each change with the
    ``time.monotonic()`` its watch event arrived; the ConfigMap projected into ``volume`` at once
    (the kubelet stand-in), with when that was done."""

    def __init__(self, api_client: Any, volume: Path) -> None:
        self.custom = kube_client.CustomObjectsApi(api_client)
        self.core = kube_client.CoreV1Api(api_client)
        self.volume = volume
        self.status: list[tuple[float, float]] = []              # (t, exposurePercent)
        self.config_map: list[tuple[float, float, float]] = []   # (t event, t projected, percent)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._campaigns, daemon=True),
                         threading.Thread(target=self._config_maps, daemon=True)]

    def start(self) -> Watches:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _campaigns(self) -> None:
        while not self._stop.is_set():
            stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
            for event in stream.stream(self.custom.list_namespaced_custom_object, "uplift.dev",
                                       "v1alpha1", NS, "campaigns", timeout_seconds=5):
                now = time.monotonic()
                body = event["object"]
                if body["metadata"]["name"] == CAMPAIGN:
                    percent = (body.get("status") or {}).get("exposurePercent")
                    if percent is not None and (not self.status or self.status[-1][1] != percent):
                        self.status.append((now, float(percent)))
                if self._stop.is_set():
                    stream.stop()

    def _config_maps(self) -> None:
        while not self._stop.is_set():
            stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
            for event in stream.stream(self.core.list_namespaced_config_map, NS,
                                       field_selector=f"metadata.name={MODEL}-campaigns",
                                       timeout_seconds=5):
                now = time.monotonic()
                data = dict(event["object"].data or {})
                if event["type"] != "DELETED" and data:
                    project(self.volume, data)
                    projected = time.monotonic()
                    entry = json.loads(data["campaigns.json"]).get("campaigns", {}).get(CAMPAIGN)
                    percent = (float(entry.get("exposurePercent", 0))
                               if entry is not None and entry.get("active", True) else 0.0)
                    if not self.config_map or self.config_map[-1][2] != percent:
                        self.config_map.append((now, projected, percent))
                if self._stop.is_set():
                    stream.stop()

    def first_status(self, percent: float) -> float:
        return next(t for t, p in self.status if p == percent)

    def first_config_map(self, percent: float) -> tuple[float, float]:
        return next((t, projected) for t, projected, p in self.config_map if p == percent)


def _probe(old: float, new: float) -> str:
    """A unit exposed at ``new`` percent and not at ``old``."""
    return next(u for u in (f"probe-{i}" for i in itertools.count())
                if exposed(u, SALT, new) and not exposed(u, SALT, old))


def _arm(server: MlserverProcess, unit: str) -> str:
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [0.5]},
                       {"name": "customer_id", "datatype": "BYTES", "shape": [1],
                        "data": [unit]}],
            "parameters": {"campaign": CAMPAIGN}}
    r = server.infer(body)
    if r.status_code != 200:  # 404 until the campaign is in the file
        return "absent"
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    return str(outputs["campaign_arm"][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=10,
                        help=f"exposure changes to time (at most {100 // STEP - 1})")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    changes = min(args.changes, 100 // STEP - 1)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="uplift-propagation-"))
    volume = work / "volume"
    _train(work / "model")

    with ControlPlane() as plane, MlflowServer() as mlflow:
        served = serve_model(plane, mlflow, NS, MODEL)
        admin, api_client, custom = served.admin, served.api_client, served.custom
        watches = Watches(api_client, volume).start()
        steps = [{"percent": STEP * (i + 1)} for i in range(changes + 1)]
        admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
                     "metadata": {"name": CAMPAIGN, "namespace": NS},
                     "spec": {"modelRef": {"name": MODEL},
                              "treatments": [{"name": "womens-e-mail"}],
                              "economics": {"valuePerConversion": 10, "costPerTreatment": 0.1},
                              "experiment": {"holdoutFraction": 0.1, "salt": SALT,
                                             "unitKey": "customer_id"},
                              # No pause: each step waits for a promote; the gate never acts.
                              "exposure": {"analysisInterval": "1h", "steps": steps,
                                           "gates": [{"name": "delivery", "type": "deliveryRate",
                                                      "dryRun": True}]}}})
        process.wait_until(lambda: (volume / "campaigns.json").exists(), timeout=60,
                           what="the campaigns file projected")
        env = {"UPLIFT_DECISION_KEY": "propagation-bench-decision-key-0123456789",
               "UPLIFT_MODEL_VERSION": "1", "UPLIFT_CAMPAIGNS_FILE": str(volume / "campaigns.json")}
        server = MlserverProcess(str(work / "model"), name=MODEL, env=env,
                                 workdir=work / "mlserver").start()
        first = _probe(0, STEP)
        process.wait_until(lambda: _arm(server, first) not in ("absent", "unexposed"),
                           timeout=60, what=f"exposure {STEP}% applied by the runtime")

        rows = []
        for i in range(changes):
            old, new = STEP * (i + 1), STEP * (i + 2)
            probe = _probe(old, new)
            assert _arm(server, probe) == "unexposed", probe
            time.sleep(rng.uniform(0, 1))  # a random phase of the runtime's file poll
            custom.patch_namespaced_custom_object(
                "uplift.dev", "v1alpha1", NS, "campaigns", CAMPAIGN,
                {"metadata": {"annotations": {"uplift.dev/promote": f"step:bench-{i}"}}})
            asked = time.monotonic()
            t_dec = process.wait_until(lambda p=probe: _arm(server, p) != "unexposed",  # type: ignore[misc]
                                       timeout=60, what=f"exposure {new}% decided", interval=0.02)
            process.wait_until(lambda n=new: any(p == n for *_, p in watches.config_map),  # type: ignore[misc]
                               timeout=10, what="the ConfigMap event")
            t_status = watches.first_status(new)
            t_cm, t_vol = watches.first_config_map(new)
            row = (t_status - asked, t_cm - t_status, t_vol - t_cm, t_dec - t_vol, t_dec - t_status)
            rows.append(row)
            print(f"change {i + 1}: {old}% → {new}%: promote → status {row[0]:.3f} s; status → "
                  f"ConfigMap {row[1]:.3f} s; → volume {row[2]:.3f} s; → decided {row[3]:.3f} s; "
                  f"status → decided {row[4]:.3f} s", flush=True)
        watches.stop()
        server.stop()
        served.stop()

    legs = ("promote → status (the pass)", "status → ConfigMap (steps 1–2)",
            "ConfigMap → volume (step 3, local stand-in)", "volume → decided (step 4)",
            "status → decided (end to end, local)")
    print(f"\n{changes} exposure changes, seconds:\n\n| leg | median | max |\n|---|---|---|")
    for k, leg in enumerate(legs):
        values = [r[k] for r in rows]
        print(f"| {leg} | {statistics.median(values):.2f} | {max(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
