"""The operator names itself on every write and every request: each write ``KubeCluster`` sends
carries ``fieldManager=uplift-operator`` (the server-side applies' manager), so the
``managedFields`` of an UpliftModel's or Campaign's status and of a decision-key Secret show
``uplift-operator`` and not ``OpenAPI-Generator`` (the API server's name for a write without
one, taken from the generated client's User-Agent); and ``load_api_client`` sends the User-Agent
``uplift-operator/<version>``, which the API server's audit log shows. The requests are
recorded at the REST client, below the generated client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client, config

from uplift_operator import __version__
from uplift_operator.adapters import kube
from uplift_operator.adapters.kube import FIELD_MANAGER, KubeCluster, KubeError

SEEDED = "machinelearning.seldon.io/v1"
WRITES: dict[str, Callable[[KubeCluster], Any]] = {
    "apply": lambda c: c.apply({"apiVersion": SEEDED, "kind": "SeldonDeployment",
                                "metadata": {"name": "m", "namespace": "ns"}},
                               "seldondeployments"),
    "apply core/v1": lambda c: c.apply({"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "m", "namespace": "ns"}},
                                       "configmaps"),
    "merge_patch": lambda c: c.merge_patch("uplift.dev/v1alpha1", "upliftmodels", "ns", "m",
                                           {"metadata": {"annotations": {"a": "b"}}}),
    "patch_status": lambda c: c.patch_status("uplift.dev/v1alpha1", "upliftmodels", "ns", "m",
                                             {"phase": "Healthy"}, "1"),
    "create_secret": lambda c: c.create_secret({"metadata": {"name": "s", "namespace": "ns"},
                                                "data": {"k": "c2VjcmV0"}}),
}


def _recorded(api: client.ApiClient, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The requests ``api`` sends from now on (method, url, headers), each answered 500."""
    sent: list[dict[str, Any]] = []

    def request(method: str, url: str, headers: Any = None, **_: Any) -> Any:
        sent.append({"method": method, "url": url, "headers": dict(headers or {})})
        raise client.ApiException(status=500, reason="stop here")

    monkeypatch.setattr(api.rest_client, "request", request)
    return sent


@pytest.mark.parametrize("call", sorted(WRITES))
def test_every_write_names_the_operators_field_manager(call: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    api = client.ApiClient(client.Configuration(host="https://api.test"))
    sent = _recorded(api, monkeypatch)
    with pytest.raises(KubeError):
        WRITES[call](KubeCluster(api))
    assert len(sent) == 1
    assert sent[0]["method"] in {"PATCH", "POST"}
    assert parse_qs(urlsplit(sent[0]["url"]).query).get("fieldManager") == [FIELD_MANAGER]


def test_the_field_manager_is_the_server_side_applies_one() -> None:
    assert FIELD_MANAGER == "uplift-operator"
    assert KubeCluster(client.ApiClient()).field_manager == FIELD_MANAGER


def test_the_operators_client_names_the_operator_as_its_user_agent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def load(*_: Any, **__: Any) -> None:
        client.Configuration.set_default(client.Configuration(host="https://loaded.test"))

    monkeypatch.setattr(config, "load_incluster_config", load)
    previous = client.Configuration.get_default_copy()
    try:
        api = kube.load_api_client()
    finally:
        client.Configuration.set_default(previous)
    assert api.user_agent == f"uplift-operator/{__version__}" == kube.USER_AGENT
    sent = _recorded(api, monkeypatch)
    cluster = KubeCluster(api)
    with pytest.raises(KubeError):
        cluster.get(SEEDED, "seldondeployments", "ns", "m")
    with pytest.raises(KubeError):
        WRITES["create_secret"](cluster)
    assert [request["headers"].get("User-Agent") for request in sent] == [kube.USER_AGENT] * 2
