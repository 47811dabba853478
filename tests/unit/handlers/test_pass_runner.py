"""PassRunner: a status write that finds its resource deleted ends the pass quietly."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import Executor
from typing import Any

import kopf
import pytest

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.pass_pool import PassPool
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import PassResult


class Cluster:
    def __init__(self, status: int) -> None:
        self.status, self.patches = status, 0

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: dict[str, Any]) -> dict[str, Any]:
        self.patches += 1
        raise KubeError(f"patch {plural}/{name}/status: {self.status}", self.status)


def _run(cluster: Cluster) -> float | None:
    body = kopf.Body({"metadata": {"name": "c", "namespace": "ns", "uid": "u1"}, "status": {}})

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult({"phase": "Progressing"}, (), 5.0)

    async def go() -> float | None:
        with PassPool(1) as pool:
            runner = PassRunner("Campaign", "campaigns", Wakeups(), pool, cluster)
            return await runner.run_once(("Campaign", "ns", "c"), body, decide,
                                         lambda *_: None)

    return asyncio.run(go())


def test_a_resource_deleted_during_the_pass_ends_it_without_a_failure() -> None:
    cluster = Cluster(404)
    assert _run(cluster) is None
    assert cluster.patches == 1


def test_any_other_status_write_error_still_fails_the_pass() -> None:
    with pytest.raises(KubeError, match="500"):
        _run(Cluster(500))


def test_only_a_resource_without_a_status_takes_the_first_pass_queue() -> None:
    class Recording(PassPool):
        def __init__(self) -> None:
            super().__init__(1)
            self.urgent = 0
            recorded = self

            class First(Executor):
                def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
                    recorded.first += 1
                    return recorded.submit(fn, *args, **kwargs)

            self.first = 0
            self.first_passes = First()

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            self.urgent += 1
            return super().submit(fn, *args, **kwargs)

    class Accepting:
        def patch_status(self, *_: Any) -> dict[str, Any]:
            return {"metadata": {"uid": "u1", "resourceVersion": "2"}}

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult({"phase": "Progressing"}, (), None)

    async def go(status: dict[str, Any]) -> tuple[int, int]:
        with Recording() as pool:
            runner = PassRunner("Campaign", "campaigns", Wakeups(), pool, Accepting())
            body = kopf.Body({"metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
                              "status": status})
            await runner.run_once(("Campaign", "ns", "c"), body, decide, lambda *_: None)
            return pool.first, pool.urgent

    # First pass: decided through the first-pass queue (which counts in both), its status write
    # through the pool itself, ahead of other first passes.
    assert asyncio.run(go({})) == (1, 2)
    assert asyncio.run(go({"phase": "Progressing"})) == (0, 1)  # nothing to write: one call
