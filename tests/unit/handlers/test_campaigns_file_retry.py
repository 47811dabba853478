"""The campaigns file's waiting task: a write the API server refused is tried again on its own,
backing off, without waiting for a change to wake it (the write may be a rollback to 0 %)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.adapters.kube import KubeError
from uplift_operator.domain.retry import JITTER, spread_of
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

# kopf types the decorated daemon as its DaemonFn protocol; the tests pass the keywords it reads.
_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)


class RefusingTwice(FakeCluster):
    """Refuses the first two applies (an API server restarting), then takes them."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        self.attempts += 1
        if self.attempts <= 2:
            raise KubeError("the server is currently unable to handle the request", 503)
        return super().apply(manifest, plural)


def test_a_refused_write_is_tried_again_on_its_own_backing_off() -> None:
    cluster = RefusingTwice()
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]}

    async def go() -> float:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(pass_executor=pool, wakeups=Wakeups(),
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            started = time.monotonic()
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(_campaigns_file(body=model, memo=memo, logger=logger,
                                                       campaigns_by_model=index))
            try:
                while KEY not in cluster.objects:  # nothing wakes it: only its own retry
                    assert time.monotonic() - started < 20, f"{cluster.attempts} attempts"
                    await asyncio.sleep(0.05)
            finally:
                task.cancel()
            return time.monotonic() - started

    took = asyncio.run(go())
    assert cluster.attempts == 3
    # 1 s, then as long as it has failed so far (1 s), stretched by the file's own fraction of
    # a quarter (``domain.retry``): backing off, not a hot loop.
    stretch = 1 + JITTER * spread_of("/".join(handler.file_key(OWNER.namespace, OWNER.name)))
    assert took >= 0.95 * (1 + stretch)
