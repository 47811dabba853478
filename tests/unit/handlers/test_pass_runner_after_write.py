"""PassRunner: what a pass does beyond its status (an UpliftModel's MLflow write-backs,
``PassResult.after_write``) is done only once that status is written, or when there was
nothing to write; never after the write was refused (404, 409) or failed."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from tests.unit.handlers.test_pass_runner import Cluster

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import Event, PassResult


def _run(cluster: Cluster, status: dict[str, Any], done: list[str]) -> float | None:
    body = kopf.Body({"metadata": {"name": "m", "namespace": "ns", "uid": "u1",
                                   "resourceVersion": "1"}, "status": {"phase": "Healthy"}})

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult(status, (Event("Normal", "Promoted", "v2 stable"),), 5.0,
                          lambda: done.append("submitted"))

    async def go() -> float | None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
            return await runner.run_once(("UpliftModel", "ns", "m"), body, decide,
                                         lambda *_: None)

    return asyncio.run(go())


@pytest.mark.parametrize(("status", "after"), [(200, ["submitted"]), (404, []), (409, []),
                                                (500, [])])
def test_after_write_runs_only_once_the_status_is_written(
        monkeypatch: pytest.MonkeyPatch, status: int, after: list[str]) -> None:
    told: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **event: told.append("event"))
    cluster = Cluster(status, {"metadata": {"uid": "u1"}} if status == 409 else None)
    done: list[str] = []
    if status == 500:
        with pytest.raises(KubeError):
            _run(cluster, {"phase": "Progressing"}, done)
    else:
        _run(cluster, {"phase": "Progressing"}, done)
    assert cluster.patches == 1 and done == after
    assert told == (["event"] if status == 200 else [])


def test_after_write_runs_when_the_status_is_as_decided_already(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "event", lambda _body, **_event: None)
    cluster, done = Cluster(409), list[str]()  # would refuse a write: none is sent
    _run(cluster, {"phase": "Healthy"}, done)
    assert cluster.patches == 0 and done == ["submitted"]


def test_a_failing_after_write_still_tells_the_pass_events(
        monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **event: told.append(event["reason"]))
    body = kopf.Body({"metadata": {"name": "m", "namespace": "ns", "uid": "u1",
                                   "resourceVersion": "1"}, "status": {}})

    def broken() -> None:
        raise RuntimeError("boom")

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult({"phase": "Healthy"}, (Event("Normal", "Promoted", "v2"),), 5.0,
                          broken)

    async def go() -> float | None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, Cluster(200))
            return await runner.run_once(("UpliftModel", "ns", "m"), body, decide,
                                         lambda *_: None)

    assert asyncio.run(go()) == 5.0 and told == ["Promoted"]


@pytest.mark.parametrize("write", [200, None], ids=["status written", "status unchanged"])
def test_the_gauges_follow_the_status_before_the_after_write_runs(
        monkeypatch: pytest.MonkeyPatch, write: int | None) -> None:
    # An MLflow write-back may wait out its timeout: the phase/gate gauges must not lag the
    # status written just before it by that long.
    order: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **_event: order.append("event"))
    body = kopf.Body({"metadata": {"name": "m", "namespace": "ns", "uid": "u1",
                                   "resourceVersion": "1"}, "status": {"phase": "Healthy"}})
    decided = {"phase": "Progressing" if write else "Healthy"}

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult(decided, (Event("Normal", "Promoted", "v2"),), 5.0,
                          lambda: order.append("after_write"))

    def observe(namespace: str, name: str, status: dict[str, Any]) -> None:
        order.append(f"observe {namespace}/{name} {status['phase']}")

    async def go() -> float | None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool,
                                Cluster(write or 409))
            return await runner.run_once(("UpliftModel", "ns", "m"), body, decide, observe)

    asyncio.run(go())
    assert order == [f"observe ns/m {decided['phase']}", "after_write", "event"]
