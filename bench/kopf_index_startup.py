"""kopf's start-up gate for indexes: how long a restarted operator holds every handler, as kopf
1.45 ships the gate and with ``handlers.kopf_toggles`` installed.

    .venv/bin/python bench/kopf_index_startup.py [--counts 1000,2000,4000] [--stock-max 4000]

An index on a kind makes kopf hold every handler at start until each object its watch listed
is indexed. The operator indexes Campaigns (``handlers.campaigns_file.campaigns_by_model``) and,
since ``a122c2f``, UpliftModels (``handlers.upliftmodel.promotion_alias_claims``). This bench
starts the real control plane once, installs two scratch kinds shaped as the operator's pair —
``widgets`` indexed as Campaigns are (a thread-pool function keyed by namespace and owner),
``gadgets`` indexed as UpliftModels are (a coroutine on the event loop keyed by tracking URI,
registered model and alias, returning the object's ``namespace/name``, after recording its
claim in a dictionary as ``AliasClaims`` does) — and creates N of each, every gadget with an
alias of its own. For each N it then runs real kopf (``kopf run``, standalone, all namespaces)
on a module with both indexes and one event handler per kind, twice: with kopf's gate as
shipped, and with ``kopf_toggles.install()`` (as ``handlers.main`` does). Timed from kopf's
startup handler until the event handler has run for all 2N objects: that is how long a
restarted operator reconciles nothing, rollbacks included. The operator's own handlers add
their work to this; the gate's share is what differs between the two columns.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from kubernetes import client as kube_client  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402

from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402

GROUP = "bench.uplift.dev"
KINDS = {"widgets": "Widget", "gadgets": "Gadget"}
NAMESPACE = "startup"

OPERATOR = textwrap.dedent('''
    import os, time
    import kopf
    if os.environ.get("BENCH_PATCH") == "1":
        from uplift_operator.handlers import kopf_toggles
        assert kopf_toggles.install()
    EXPECTED = int(os.environ["BENCH_EXPECTED"])
    seen = set()
    started = []

    @kopf.on.startup()
    def begin(settings, **_):
        settings.peering.standalone = True
        settings.posting.enabled = False
        started.append(time.monotonic())

    @kopf.index("bench.uplift.dev", "v1", "widgets")
    def by_owner(spec, namespace, **_):
        return {(namespace, spec.get("owner")): 1}

    claims = {}

    @kopf.index("bench.uplift.dev", "v1", "gadgets")
    async def alias_claims(body, **_):
        model = (body.get("spec") or {}).get("model") or {}
        alias, registered = model.get("promotionAlias"), model.get("registeredModel")
        namespace, name = body.metadata.namespace, body.metadata.name
        target = ((model.get("trackingUri") or "").rstrip("/"), registered, alias)
        claims[(namespace, name)] = target
        return {target: f"{namespace}/{name}"} if alias and registered else {}

    def count(uid):
        seen.add(uid)
        if len(seen) == EXPECTED:
            elapsed = time.monotonic() - started[0]
            with open(os.environ["BENCH_OUT"], "w") as out:  # the gate let none through early
                out.write(f"{elapsed:.3f}" if len(claims) == EXPECTED // 2
                          else f"only {len(claims)} gadgets indexed")

    @kopf.on.event("bench.uplift.dev", "v1", "widgets")
    def widget(uid, **_):
        count(uid)

    @kopf.on.event("bench.uplift.dev", "v1", "gadgets")
    def gadget(uid, **_):
        count(uid)
''')


def crd(plural: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]}}


def spec(plural: str, i: int) -> dict[str, Any]:
    """A widget names its owner (as a Campaign its model); a gadget the promotion alias it
    moves, one of its own (as an UpliftModel its registered model's)."""
    if plural == "widgets":
        return {"owner": f"g-{i:05d}"}
    return {"model": {"trackingUri": "http://mlflow.mlflow:5000/",
                      "registeredModel": f"model-{i:05d}", "promotionAlias": "champion"}}


def create(api: kube_client.ApiClient, upto: int, have: int) -> None:
    custom = kube_client.CustomObjectsApi(api)

    def one(args: tuple[str, int]) -> None:
        plural, i = args
        custom.create_namespaced_custom_object(GROUP, "v1", NAMESPACE, plural, {
            "apiVersion": f"{GROUP}/v1", "kind": KINDS[plural],
            "metadata": {"name": f"{plural[:-1]}-{i:05d}"}, "spec": spec(plural, i)})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, [(p, i) for p in KINDS for i in range(have, upto)]))


def run_kopf(kubeconfig: Path, module: Path, expected: int, patch: bool,
             timeout: float) -> float | None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "elapsed"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "BENCH_EXPECTED": str(expected),
               "BENCH_OUT": str(out), "BENCH_PATCH": "1" if patch else "0",
               "PYTHONPATH": str(REPO / "operator")}
        proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "-A",
                                 "--quiet", str(module)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not out.exists():
                time.sleep(0.2)
            time.sleep(0.2)
            told = out.read_text() if out.exists() else ""
            if told.startswith("only"):
                raise SystemExit(f"the handlers ran before every object was indexed: {told}")
            return float(told) if told else None
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000,2000,4000")
    parser.add_argument("--stock-max", type=int, default=4000,
                        help="skip kopf's gate as shipped above this N")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    rows = []
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as scratch:
        config = kube_client.Configuration()
        kube_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(plane.admin_kubeconfig), client_configuration=config)
        config.connection_pool_maxsize = 8
        api = kube_client.ApiClient(config)
        extensions = kube_client.ApiextensionsV1Api(api)
        for plural, kind in KINDS.items():
            extensions.create_custom_resource_definition(cast(Any, crd(plural, kind)))
        kube_client.CoreV1Api(api).create_namespace(
            kube_client.V1Namespace(metadata=kube_client.V1ObjectMeta(name=NAMESPACE)))
        time.sleep(3)  # the CRDs established
        module = Path(scratch) / "gate_operator.py"
        module.write_text(OPERATOR)
        have = 0
        for n in (int(c) for c in args.counts.split(",")):
            began = time.monotonic()
            create(api, n, have)
            have = n
            print(f"N={n:,}: {2 * n:,} objects created ({time.monotonic() - began:.0f} s)",
                  flush=True)
            patched = run_kopf(plane.admin_kubeconfig, module, 2 * n, True, args.timeout)
            stock = (run_kopf(plane.admin_kubeconfig, module, 2 * n, False, args.timeout)
                     if n <= args.stock_max else None)
            rows.append((n, stock, patched))
            print(f"  as shipped {stock}, kopf_toggles {patched}", flush=True)
    print("\n| indexed as Campaigns | indexed as UpliftModels | kopf 1.45 as shipped | "
          "with kopf_toggles |")
    print("|---|---|---|---|")
    for n, stock, patched in rows:
        def show(value: float | None, ran: bool) -> str:
            return ("not run" if not ran else f"> {args.timeout:.0f} s" if value is None
                    else f"{value:.1f} s")
        print(f"| {n:,} | {n:,} | {show(stock, n <= args.stock_max)} | {show(patched, True)} |")


if __name__ == "__main__":
    main()
