"""A GET answered 429 with a long Retry-After: urllib3 sends it again after at most
``RETRY_AFTER_MAX_SECONDS``, not after what the header says (urllib3 waits up to 6 hours), and
the refusals end as ``KubeError`` for the caller's backoff. The server is a real local HTTP
server; urllib3's sleep is recorded instead of slept."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from kubernetes import client

from uplift_operator.adapters import kube
from uplift_operator.adapters.kube import KubeCluster, KubeError


class _Throttling(http.server.BaseHTTPRequestHandler):
    gets = 0

    def do_GET(self) -> None:
        type(self).gets += 1
        body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":429}'
        self.send_response(429)
        self.send_header("Retry-After", "3600")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def throttling_port() -> Iterator[int]:
    _Throttling.gets = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_long_retry_after_is_waited_at_most_the_cap(throttling_port: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    configuration = client.Configuration(host=f"http://127.0.0.1:{throttling_port}")
    cluster = KubeCluster(client.ApiClient(kube.configured(configuration)),
                          request_timeout=(2.0, 2.0))
    with pytest.raises(KubeError) as raised:
        cluster.get("v1", "configmaps", "ns", "m")
    assert raised.value.status == 429
    assert _Throttling.gets == 1 + int(kube.REQUEST_RETRIES.total or 0)  # tried again each time
    assert slept and all(0 < wait <= kube.RETRY_AFTER_MAX_SECONDS for wait in slept)


def test_a_short_retry_after_is_waited_as_said() -> None:
    """The cap only shortens: API Priority and Fairness's 1 s is kept."""
    class _Response:
        headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}

    assert kube.REQUEST_RETRIES.get_retry_after(_Response()) == 1
    assert kube.REQUEST_RETRIES.new(total=1).get_retry_after(_Response()) == 1
