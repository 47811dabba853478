"""The Kubernetes adapter against the real API server, as the operator's identity.

``CoreReads`` replaces ``client.CoreV1Api`` (≈ 70 MB resident to import) for the two GETs the
operator makes, so it must behave like it: the client's models back, ``ApiException`` with the
HTTP status on failure. ``KubeCluster.patch_status`` writes a pass's status only on the
resourceVersion the pass decided on: the API server refuses a stale one with 409.
``KubeCluster.apply`` answers the object as stored whether the server-side apply created it
(201) or updated it (200): a created graph's resourceVersion is what its roll is tracked by.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import config
from kubernetes.client.exceptions import ApiException
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import CoreReads, KubeCluster, KubeError
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.render.disruption import desired_budgets
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

pytestmark = pytest.mark.integration


def test_core_reads_a_secret_and_the_namespaces_as_the_operator(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    admin.run("create", "secret", "generic", "mlflow-creds", "-n", namespace,
              "--from-literal=token=s3cr3t")
    kubeconfig = str(controlplane.operator_kubeconfig)
    core = CoreReads(config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]

    secret = core.read_namespaced_secret("mlflow-creds", namespace)
    assert secret.data is not None
    assert base64.b64decode(secret.data["token"]) == b"s3cr3t"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("absent", namespace)
    assert missing.value.status == 404
    names = []
    for item in core.list_namespace().items:
        assert item.metadata is not None
        names.append(item.metadata.name)
    assert namespace in names


SAMPLE_CAMPAIGN = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"


def test_a_status_write_on_a_stale_resource_version_is_refused(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    admin.run("apply", "-n", namespace, "-f", str(SAMPLE_CAMPAIGN))
    name = "spring-email"
    seen = admin.get("campaign", name, namespace)["metadata"]["resourceVersion"]
    cluster = KubeCluster(config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig)))

    written = cluster.patch_status("uplift.dev/v1alpha1", "campaigns", namespace, name,
                                   {"message": "decided on what was seen"},
                                   resource_version=seen)
    assert written["status"]["message"] == "decided on what was seen"
    # The object moved on (here: our own write); a pass decided on ``seen`` may not write.
    with pytest.raises(KubeError) as stale:
        cluster.patch_status("uplift.dev/v1alpha1", "campaigns", namespace, name,
                             {"message": "decided on a stale object"}, resource_version=seen)
    assert stale.value.status == 409
    assert admin.get("campaign", name, namespace)["status"]["message"] == "decided on what was seen"
    # Without a precondition (a caller that has none) the write goes through.
    cluster.patch_status("uplift.dev/v1alpha1", "campaigns", namespace, name,
                         {"message": "unconditional"})
    assert admin.get("campaign", name, namespace)["status"]["message"] == "unconditional"


SAMPLE_MODEL = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "upliftmodel.yaml"


def test_apply_answers_the_object_it_created_as_the_one_it_updated(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    """A SeldonDeployment (custom object) and a PodDisruptionBudget (the policy group) applied
    anew: the API server answers 201, and apply answers the object stored (its uid and
    resourceVersion), as it does for the next apply's 200."""
    sample = yaml.safe_load(SAMPLE_MODEL.read_text())
    admin.apply({**sample, "metadata": {"name": "fresh"}}, namespace)
    uid = admin.get("upliftmodel", "fresh", namespace)["metadata"]["uid"]
    owner = Owner(name="fresh", namespace=namespace, uid=uid)
    cluster = KubeCluster(config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig)))
    backend = SeldonV1Backend()
    graph = backend.render(owner, RuntimeSettings(image="ghcr.io/uplift-dev/uplift-runtime:0.1",
                                                  registered_model="fresh",
                                                  tracking_uri="http://mlflow:5000"),
                           TrafficSplit("1"))
    [budget] = desired_budgets(owner, {"maxUnavailable": 1}, ["1"])
    manifests: list[tuple[dict[str, Any], str, str]] = [
        (graph, backend.plural, "seldondeployment"), (budget, "poddisruptionbudgets", "pdb")]
    for manifest, plural, kind in manifests:
        created = cluster.apply(manifest, plural)
        stored = admin.get(kind, manifest["metadata"]["name"], namespace)["metadata"]
        assert created["metadata"]["uid"] == stored["uid"]
        assert created["metadata"]["resourceVersion"] == stored["resourceVersion"]
        again = cluster.apply(manifest, plural)  # there now: 200
        stored = admin.get(kind, manifest["metadata"]["name"], namespace)["metadata"]
        assert again["metadata"]["uid"] == stored["uid"]
        assert again["metadata"]["resourceVersion"] == stored["resourceVersion"]
