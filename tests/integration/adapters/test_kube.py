"""The Kubernetes adapter against the real API server, as the operator's identity.

``CoreReads`` replaces ``client.CoreV1Api`` (≈ 70 MB resident to import) for the two GETs the
operator makes, so it must behave like it: the client's models back, ``ApiException`` with the
HTTP status on failure. ``KubeCluster.patch_status`` writes a pass's status only on the
resourceVersion the pass decided on: the API server refuses a stale one with 409.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.client.exceptions import ApiException
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import CoreReads, KubeCluster, KubeError
from uplift_operator.devenv.controlplane import ControlPlane

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
