"""The Kubernetes adapter's core/v1 reads against the real API server, as the operator's identity.

``CoreReads`` replaces ``client.CoreV1Api`` (≈ 70 MB resident to import) for the two GETs the
operator makes, so it must behave like it: the client's models back, ``ApiException`` with the
HTTP status on failure.
"""

from __future__ import annotations

import base64

import pytest
from kubernetes import config
from kubernetes.client.exceptions import ApiException
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import CoreReads
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
