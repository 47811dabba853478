"""A metrics endpoint the test controls: Prometheus text format from its own registry, on loopback.

Tests create counters, gauges and histograms on ``endpoint.registry`` (or through the
helpers below), point a ``PrometheusServer`` at ``endpoint.target`` and change the values
while Prometheus scrapes. Every path answers with the same exposition, so any
``metrics_path`` works (e.g. Seldon's executor uses ``/prometheus``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from http.server import ThreadingHTTPServer
from types import TracebackType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler


class MetricsEndpoint:
    """``with MetricsEndpoint() as ep: Counter(..., registry=ep.registry)``; scrape ``ep.target``."""

    def __init__(self, registry: CollectorRegistry | None = None, port: int = 0) -> None:
        self.registry = registry or CollectorRegistry()
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    def start(self) -> MetricsEndpoint:
        handler = MetricsHandler.factory(self.registry)
        # Reuse the port across stop/start so a scrape target stays valid.
        server = ThreadingHTTPServer(("127.0.0.1", self.port or self._requested_port), handler)
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name=f"metrics-{self.port}",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def counter(self, name: str, labelnames: Sequence[str] = (), doc: str = "test counter") -> Counter:
        return Counter(name, doc, labelnames=list(labelnames), registry=self.registry)

    def gauge(self, name: str, labelnames: Sequence[str] = (), doc: str = "test gauge") -> Gauge:
        return Gauge(name, doc, labelnames=list(labelnames), registry=self.registry)

    def histogram(self, name: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = (
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            doc: str = "test histogram") -> Histogram:
        return Histogram(name, doc, labelnames=list(labelnames), buckets=list(buckets),
                         registry=self.registry)

    def __enter__(self) -> MetricsEndpoint:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
