"""``KubeCluster`` against an API server that does not answer: every call gives up after its
request timeout and fails as ``KubeError`` (status 0), as a refused connection does, instead of
holding a pass-pool thread for ever or escaping the callers' ``except KubeError`` as urllib3's
own error. The server is a real socket that accepts connections and never answers; the timeouts
are cut short so that the tests stay fast."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config

from uplift_operator.adapters import kube
from uplift_operator.adapters.kube import KubeCluster, KubeError

SHORT = (0.5, 0.3)
SEEDED = "machinelearning.seldon.io/v1"
CALLS: dict[str, Callable[[KubeCluster], Any]] = {
    "get": lambda c: c.get(SEEDED, "seldondeployments", "ns", "m"),
    "get core/v1": lambda c: c.get("v1", "configmaps", "ns", "m"),
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
    "delete": lambda c: c.delete(SEEDED, "seldondeployments", "ns", "m"),
    "create_secret": lambda c: c.create_secret({"metadata": {"name": "s", "namespace": "ns"},
                                                "data": {"k": "c2VjcmV0"}}),
    "secret_values": lambda c: c.secret_values("ns", "s", ["k"]),
    "list_uids": lambda c: c.list_uids("uplift.dev/v1alpha1", "upliftmodels", "ns"),
}


def _cluster(port: int) -> KubeCluster:
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    return KubeCluster(client.ApiClient(kube.configured(configuration)), request_timeout=SHORT)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections are accepted (by the kernel, into the backlog) and never
    answered: an API server replica lost behind a proxy that still accepts."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        yield silent.getsockname()[1]
    finally:
        silent.close()


@pytest.fixture
def refused_port() -> int:
    """A port nothing listens on: the connection is refused."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = int(closed.getsockname()[1])
    closed.close()
    return port


#: A call that hangs (the defect) fails its test here rather than after pytest's 600 s.
HUNG = pytest.mark.timeout(30)


@HUNG
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_call_without_an_answer_fails_as_a_kube_error(call: str, silent_port: int) -> None:
    with pytest.raises(KubeError) as failed:
        CALLS[call](_cluster(silent_port))
    assert failed.value.status == 0
    assert str(failed.value).endswith("API server not reached (no answer in time)")


#: The requests each call sends to a server that never answers: a read (GET) twice, the second
#: on a new connection; a write once, DELETE too: its first try may have landed, and a second
#: would be answered 404, "already gone", for an object the operator deleted itself.
SENT_UNANSWERED = {"get": 2, "get core/v1": 2, "secret_values": 2, "list_uids": 2,
                   "apply": 1, "apply core/v1": 1, "merge_patch": 1, "patch_status": 1,
                   "delete": 1, "create_secret": 1}


@HUNG
@pytest.mark.parametrize("call", sorted(CALLS))
def test_only_a_read_is_sent_again_after_no_answer(call: str) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    accepted: list[socket.socket] = []
    try:
        with pytest.raises(KubeError):
            CALLS[call](_cluster(silent.getsockname()[1]))
        silent.settimeout(0.2)  # the kernel took every connection into the backlog meanwhile
        with contextlib.suppress(TimeoutError):
            while True:
                accepted.append(silent.accept()[0])
    finally:
        for connection in accepted:
            connection.close()
        silent.close()
    assert len(accepted) == SENT_UNANSWERED[call]


@pytest.mark.parametrize("call", ["get", "apply", "patch_status", "create_secret",
                                  "secret_values"])
def test_a_refused_connection_fails_as_a_kube_error(call: str, refused_port: int) -> None:
    with pytest.raises(KubeError) as failed:
        CALLS[call](_cluster(refused_port))
    assert failed.value.status == 0
    assert str(failed.value).endswith("API server not reached (connection refused)")


@HUNG
def test_the_message_is_the_same_on_every_call(silent_port: int) -> None:
    """urllib3's text names the connection pool's address in memory: a message holding it
    would rewrite a condition on every pass."""
    cluster = _cluster(silent_port)
    messages = set()
    for _ in range(2):
        with pytest.raises(KubeError) as failed:
            cluster.apply({"apiVersion": SEEDED, "kind": "SeldonDeployment",
                           "metadata": {"name": "m", "namespace": "ns"}}, "seldondeployments")
        messages.add(str(failed.value))
    assert messages == {"apply seldondeployments/m: API server not reached (no answer in time)"}


def test_every_call_is_given_the_request_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the call, the request carries ``REQUEST_TIMEOUT_SECONDS`` by default."""
    api = client.ApiClient(client.Configuration(host="https://api.test"))
    timeouts: list[Any] = []

    def request(*_: Any, _request_timeout: Any = None, **__: Any) -> Any:
        timeouts.append(_request_timeout)
        raise client.ApiException(status=500, reason="stop here")

    monkeypatch.setattr(api.rest_client, "request", request)
    cluster = KubeCluster(api)
    for call in CALLS.values():
        with pytest.raises(KubeError):
            call(cluster)
    assert timeouts == [kube.REQUEST_TIMEOUT_SECONDS] * len(CALLS)


def test_the_operators_client_keeps_connections_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_api_client``: the loaded credentials, TCP keep-alive on and bounded retries."""
    def load(*_: Any, **__: Any) -> None:
        client.Configuration.set_default(client.Configuration(host="https://loaded.test"))

    monkeypatch.setattr(config, "load_incluster_config", load)
    previous = client.Configuration.get_default_copy()
    try:
        api = kube.load_api_client()
    finally:
        client.Configuration.set_default(previous)
    assert api.configuration.host == "https://loaded.test"
    assert api.configuration.keep_alive
    assert api.configuration.retries is kube.REQUEST_RETRIES
    options = api.rest_client.pool_manager.connection_pool_kw["socket_options"]
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
