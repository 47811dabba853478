"""``KubeCluster.apply`` answers the object the API server returns whether the server-side apply
updated it (200) or created it (201). The generated ``patch_namespaced_custom_object`` decodes
only a 200 and answered None for a created SeldonDeployment or PodDisruptionBudget: the caller
lost its resourceVersion (a roll started without the version it applied)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes.client.rest import RESTResponse
from tests.support.fake_kube_api import cluster_answered_by, response

from uplift_operator.adapters.kube import FIELD_MANAGER, KubeCluster

SELDON = "machinelearning.seldon.io/v1"
MANIFESTS = {
    "seldondeployments": {"apiVersion": SELDON, "kind": "SeldonDeployment",
                          "metadata": {"name": "m", "namespace": "ns"}, "spec": {"name": "m"}},
    "poddisruptionbudgets": {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                             "metadata": {"name": "m", "namespace": "ns"},
                             "spec": {"maxUnavailable": 1}},
    "configmaps": {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "m", "namespace": "ns"}, "data": {"k": "v"}},
}
PATHS = {"seldondeployments": "/apis/machinelearning.seldon.io/v1/namespaces/ns/"
                              "seldondeployments/m",
         "poddisruptionbudgets": "/apis/policy/v1/namespaces/ns/poddisruptionbudgets/m",
         "configmaps": "/api/v1/namespaces/ns/configmaps/m"}


class _Server:
    """Answers every request ``status`` with the manifest sent, as stored (a resourceVersion)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []

    def call_api(self, method: str, url: str, header_params: dict[str, str] | None = None,
                 body: Any = None, post_params: Any = None,
                 _request_timeout: Any = None) -> RESTResponse:
        self.requests.append({"method": method, "url": url, "headers": dict(header_params or {}),
                              "body": body, "timeout": _request_timeout})
        stored = json.loads(body if isinstance(body, str) else json.dumps(body))
        stored["metadata"] |= {"resourceVersion": "41", "uid": "u-1"}
        return response(self.status, stored)


@pytest.mark.parametrize("status", [201, 200])
@pytest.mark.parametrize("plural", sorted(MANIFESTS))
def test_apply_answers_the_object_created_as_the_object_updated(
        plural: str, status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Server(status)
    cluster: KubeCluster = cluster_answered_by(server.call_api, monkeypatch)
    applied = cluster.apply(MANIFESTS[plural], plural)
    assert applied["metadata"]["resourceVersion"] == "41"
    assert applied["metadata"]["uid"] == "u-1"
    [sent] = server.requests
    url = urlsplit(sent["url"])
    assert (sent["method"], url.path) == ("PATCH", PATHS[plural])
    assert parse_qs(url.query) == {"fieldManager": [FIELD_MANAGER], "force": ["true"]}
    assert sent["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert sent["timeout"] == cluster.request_timeout
