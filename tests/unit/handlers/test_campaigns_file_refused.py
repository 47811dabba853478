"""A campaigns file the API server refuses is visible, not only logged: each pass is counted in
``uplift_operator_reconciles_total{kind="CampaignsFile"}``, a Warning event on the UpliftModel
says why once per new cause (not at every retry), and a Normal event says when it is written
again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers import observability, scheduling
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)

FORBIDDEN = 'apply configmaps/hillstrom-uplift-campaigns: 403 configmaps is forbidden'
WEBHOOK = 'apply configmaps/hillstrom-uplift-campaigns: 422 denied by webhook'


class Refusing(FakeCluster):
    """Refuses the applies with these errors, one per attempt, then takes them."""

    def __init__(self, errors: list[KubeError]) -> None:
        super().__init__()
        self.errors, self.attempts = errors, 0

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        self.attempts += 1
        if self.attempts <= len(self.errors):
            raise self.errors[self.attempts - 1]
        return super().apply(manifest, plural)


@contextlib.asynccontextmanager
async def running_file_task(model: kopf.Body, index: Mapping[Any, Any],
                            files: service.FileDependencies,
                            wakeups: Wakeups) -> AsyncIterator[None]:
    """The model's campaigns-file task running on ``index`` (kopf's Campaign index), its passes
    in a thread of their own; cancelled when the block ends."""
    with ThreadPoolExecutor(1) as pool:
        memo = kopf.Memo(pass_executor=pool, wakeups=wakeups, campaigns_file_dependencies=files)
        logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
        task = asyncio.create_task(_campaigns_file(body=model, memo=memo, logger=logger,
                                                   campaigns_by_model=index))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _passes(result: str) -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_reconciles_total", {"kind": handler.FILE_KIND, "result": result}) or 0.0


def _run(cluster: Refusing, posted: list[tuple[str, str, str]], until: int) -> None:
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body())]}

    async def go() -> None:
        async with running_file_task(model, index, service.FileDependencies(cluster), Wakeups()):
            started = time.monotonic()
            while len(posted) < until or KEY not in cluster.objects:
                assert time.monotonic() - started < 20, f"{cluster.attempts}: {posted}"
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # nothing more comes

    asyncio.run(go())


def test_a_refused_write_is_counted_and_said_once_per_cause_then_its_recovery(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 0.01)  # retries at once
    posted: list[tuple[str, str, str]] = []

    def event(obj: Any, *, type: str, reason: str, message: str = "") -> None:
        assert obj["metadata"]["name"] == OWNER.name  # on the owning UpliftModel
        posted.append((type, reason, message))

    monkeypatch.setattr(kopf, "event", event)
    errors, ok = _passes("error"), _passes("ok")
    cluster = Refusing([KubeError(FORBIDDEN, 403)] * 3 + [KubeError(WEBHOOK, 422)] * 2)

    _run(cluster, posted, until=3)

    assert cluster.attempts == 6
    assert [(t, r) for t, r, _ in posted] == [
        ("Warning", "CampaignsFileNotWritten"),  # three refusals, one event
        ("Warning", "CampaignsFileNotWritten"),  # a new cause: said again
        ("Normal", "CampaignsFileWritten")]
    assert posted[0][2] == ("campaigns file not written to ConfigMap hillstrom-uplift-campaigns "
                            "(the pods keep its previous content, if any); retrying: "
                            + FORBIDDEN)
    assert posted[1][2].endswith("retrying: " + WEBHOOK)
    assert posted[2][2] == ("campaigns file written to ConfigMap hillstrom-uplift-campaigns "
                            "again, after: " + WEBHOOK)
    assert _passes("error") - errors == 5
    assert _passes("ok") - ok == 1
    # Counted by kind only: no per-model last-pass series (that one is the resources' own).
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_last_pass_timestamp_seconds",
        {"kind": handler.FILE_KIND, "namespace": OWNER.namespace, "name": OWNER.name}) is None


def test_a_write_that_never_failed_posts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[tuple[str, str, str]] = []
    monkeypatch.setattr(kopf, "event", lambda *a, **k: posted.append(("", "", "")))
    ok = _passes("ok")
    cluster = Refusing([])
    _run(cluster, posted, until=0)
    assert posted == [] and cluster.attempts == 1
    assert _passes("ok") - ok == 1
