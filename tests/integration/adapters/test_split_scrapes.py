"""The traffic-split collector against a real Prometheus: a canary whose target is first scraped
inside the step's settled window is named (``SplitCounts.scraped_late``), since PromQL's
``increase`` misses what a series served before its first scrape; one scraped before the
window started is not.

Two test-controlled endpoints export the runtime's request histogram (its ``_count`` is what
the split reads), one per version; Prometheus scrapes the stable's from the start and the
canary's only from a few seconds into the step.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from tests.integration.adapters.conftest import _require_prometheus
from tests.support.metrics_endpoint import MetricsEndpoint

from uplift_operator.adapters.prometheus import PrometheusClient
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.devenv import process
from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements

pytestmark = pytest.mark.integration

NAMESPACE, MODEL = "shop", "uplift"
LABELS = ("model", "version", "endpoint", "campaign")


class Version:
    """One version's runtime metrics: requests served at ``rate`` per second until closed."""

    def __init__(self, version: str, rate: float) -> None:
        self.endpoint = MetricsEndpoint().start()
        self.histogram = self.endpoint.histogram("uplift_request_duration_seconds", LABELS)
        self.child = self.histogram.labels(MODEL, version, "infer", "")
        self.rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.wait(1 / self.rate):
            self.child.observe(0.01)

    @property
    def target(self) -> ScrapeTarget:
        return ScrapeTarget(self.endpoint.target, job="seldon", metrics_path="/prometheus",
                            labels={"namespace": NAMESPACE})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.endpoint.stop()


@pytest.fixture
def versions() -> Iterator[tuple[Version, Version]]:
    _require_prometheus()
    pair = (Version("1", 70.0), Version("2", 30.0))
    yield pair
    for version in pair:
        version.close()


def _split(client: PrometheusClient, step_started: dt.datetime) -> m.SplitCounts | None:
    gate = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})
    now = dt.datetime.now(dt.UTC)
    ctx = measurements.GateContext(
        namespace=NAMESPACE, name=MODEL, canary_version="2", stable_version="1",
        canary_run_id=None, stable_run_id=None, step_started_at=step_started,
        canary_started_at=step_started, now=now, analysis_interval_s=2, holdout_fraction=0.1,
        metric_templates=BUILTIN_TEMPLATES, treatments=(), canary_share=0.3)
    measured = measurements.collect(gate, ctx, measurements.per_analysis(client, now), None)
    assert isinstance(measured, m.ErrorRateMeasurement), measured
    return measured.split


def test_a_canary_first_scraped_inside_the_settled_window_is_named(
        versions: tuple[Version, Version]) -> None:
    stable, canary = versions
    with PrometheusServer([stable.target]) as server:
        client = PrometheusClient(server.url, timeout=5)
        query = 'sum(uplift_request_duration_seconds_count{version="1"})'
        process.wait_until(lambda: (client.scalar(query) or 0) > 0, timeout=30,
                           what="the stable's first scrape", interval=0.25)
        time.sleep(2)  # two samples of the stable before the step starts
        step_started = dt.datetime.now(dt.UTC)
        time.sleep(4)  # the split settles at +2 s; the canary is not scraped yet
        server.set_targets([stable.target, canary.target])
        canary_query = 'sum(uplift_request_duration_seconds_count{version="2"})'
        process.wait_until(lambda: (client.scalar(canary_query) or 0) > 0, timeout=30,
                           what="the canary's first scrape", interval=0.25)
        canary_seen = dt.datetime.now(dt.UTC)
        time.sleep(4)  # a few samples of both in the window

        late = _split(client, step_started)
        assert late is not None and late.scraped_late == ("canary",), late
        assert late.stable > 0 and late.canary > 0

        # A step that settled after the canary's first scrape: both counted in full.
        time.sleep(3)
        on_time = _split(client, canary_seen)
        assert on_time is not None and on_time.scraped_late == (), on_time
        assert on_time.stable > 0 and on_time.canary > 0
