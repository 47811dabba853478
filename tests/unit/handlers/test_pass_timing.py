"""A pass's time, as the operator's histograms read it: its buckets reach the minutes a pass
waits for a thread of the pass pool at ten thousand resources (docs/operator.md, "Scale"), and
that wait has its own histogram."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from uplift_operator.handlers import observability
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import PassResult


def _bucket(metric: str, kind: str, le: str) -> float:
    return observability.REGISTRY.get_sample_value(
        f"{metric}_bucket", {"kind": kind, "le": le}) or 0.0


def _count(metric: str, kind: str) -> float:
    return observability.REGISTRY.get_sample_value(f"{metric}_count", {"kind": kind}) or 0.0


def test_a_pass_of_minutes_lands_in_a_bucket_below_ten_minutes_not_only_in_inf() -> None:
    """With the client's default buckets (up to 10 s) a 400 s pass counted in +Inf alone, so
    histogram_quantile said 10 s at most, however long the passes took."""
    metric = "uplift_operator_reconcile_duration_seconds"
    kind = "BucketProbe"  # a kind of its own: the counts start at 0
    observability.RECONCILE_SECONDS.labels(kind).observe(400.0)
    assert _bucket(metric, kind, "300.0") == 0
    assert _bucket(metric, kind, "600.0") == 1
    assert observability.PASS_BUCKETS[-1] == 600.0
    observability.pass_queued(kind, 45.0)
    assert _bucket("uplift_operator_pass_queue_seconds", kind, "30.0") == 0
    assert _bucket("uplift_operator_pass_queue_seconds", kind, "60.0") == 1


class _Cluster:
    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        return None

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace, "uid": name,
                             "resourceVersion": "2"}, "status": dict(patch.get("status") or {})}


def test_a_pass_queued_behind_a_busy_pool_has_its_wait_timed_apart() -> None:
    """One thread in the pool, held by something else for 0.3 s: the pass's decision waits
    that long for it, and the queue histogram says so; the pass duration includes it."""
    kind = "QueueProbe"
    release = threading.Event()

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult({"phase": "Progressing"}, (), None)

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            busy = asyncio.get_running_loop().run_in_executor(pool, release.wait, 5)
            runner = PassRunner(kind, "campaigns", Wakeups(), pool, _Cluster())
            body = kopf.Body({"metadata": {"name": "q", "namespace": "ns", "uid": "q",
                                           "resourceVersion": "1"}, "status": {}})
            passing = asyncio.create_task(runner.run_once((kind, "ns", "q"), body, decide,
                                                          lambda *_: None))
            await asyncio.sleep(0.3)
            release.set()
            await asyncio.gather(busy, passing)

    asyncio.run(go())
    queue = "uplift_operator_pass_queue_seconds"
    assert _count(queue, kind) == 1
    assert _bucket(queue, kind, "0.25") == 0  # waited at least the 0.3 s the pool was held
    assert _bucket(queue, kind, "5.0") == 1
    assert _bucket("uplift_operator_reconcile_duration_seconds", kind, "0.25") == 0
