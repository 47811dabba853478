"""The Campaign benches' shared set-up: a model served by an UpliftModel, Healthy, on a real stack.

``serve_model`` takes a started control plane and MLflow server, installs the CRDs and the
operator's RBAC, creates the namespace, starts the Seldon stand-in and the operator under its
own identity, registers a model trained on Hillstrom as ``bench-model@champion`` and applies an
UpliftModel serving it, then waits until it is Healthy. Used by ``campaign_propagation.py`` and
``campaign_rollback_latency.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client as kube_client
from kubernetes import config as kube_config
from tests.support.kube import Kubectl, OperatorProcess, install_crds, install_operator_rbac
from tests.support.registry import Versions

from uplift_operator.devenv import process
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.devenv.mlflow_server import MlflowServer
from uplift_operator.devenv.seldon_standin import SeldonStandIn

HILLSTROM = Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom.csv"


@dataclass
class ServedModel:
    """What ``serve_model`` started; ``stop()`` ends the operator and the stand-in."""

    admin: Kubectl
    api_client: Any
    custom: kube_client.CustomObjectsApi
    standin: SeldonStandIn
    operator: OperatorProcess

    def stop(self) -> None:
        self.operator.stop()
        self.standin.stop()


def serve_model(plane: ControlPlane, mlflow: MlflowServer, namespace: str, model: str,
                *operator_args: str, timeout: float = 120) -> ServedModel:
    """UpliftModel ``model`` in ``namespace`` serving ``bench-model@champion``, Healthy (one
    50 % step and an errorRate gate that a first version never runs)."""
    admin = Kubectl(plane.admin_kubeconfig)
    install_crds(admin)
    install_operator_rbac(admin)
    admin.run("create", "namespace", namespace)
    api_client = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(plane.admin_kubeconfig))
    standin = SeldonStandIn(api_client).start()
    custom = kube_client.CustomObjectsApi(api_client)
    operator = OperatorProcess(plane.operator_kubeconfig, Path(mlflow.workdir), "--priority", "10",
                               "--mlflow-tracking-uri", mlflow.url, *operator_args).start()
    versions = Versions(mlflow.url, "bench-model")
    versions.set_alias("champion", versions.train(HILLSTROM, sample=4000))
    admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                 "metadata": {"name": model, "namespace": namespace},
                 "spec": {"model": {"registeredModel": "bench-model", "alias": "champion",
                                    "aliasRefreshInterval": "1s"},
                          "treatments": [{"name": "womens-e-mail"}],
                          "rollout": {"analysisInterval": "5s", "steps": [{"weight": 50}],
                                      "gates": [{"name": "errors", "type": "errorRate",
                                                 "max": 0.05}]}}})

    def phase() -> str:
        body = cast(dict[str, Any], custom.get_namespaced_custom_object(
            "uplift.dev", "v1alpha1", namespace, "upliftmodels", model))
        return str((body.get("status") or {}).get("phase"))

    process.wait_until(lambda: phase() == "Healthy", timeout=timeout, what="model Healthy",
                       interval=0.05)
    return ServedModel(admin, api_client, custom, standin, operator)
