"""A model's campaigns file that cannot be written says so per model
(``uplift_operator_campaigns_file_undelivered{namespace, model}``), from the refused pass until a
pass writes it: a Campaign deleted meanwhile stays in the file the pods read, treating at its last
exposure, while its own ``uplift_operator_campaign_settings_undelivered`` series went with it (its
DELETED event: ``observability.forget``), so nothing else would page. The series goes with the
model, and with the task (a replica paused by peering)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Mapping
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
_forget_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.forget_file)

CAMPAIGN = "spring-email"
POLICY = ('apply configmaps/hillstrom-uplift-campaigns: 403 configmaps "hillstrom-uplift-'
          'campaigns" is forbidden: ValidatingAdmissionPolicy denied request')


def _file_gauge() -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaigns_file_undelivered",
        {"namespace": OWNER.namespace, "model": OWNER.name})


def _campaign_gauge() -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_settings_undelivered",
        {"namespace": OWNER.namespace, "name": CAMPAIGN, "model": OWNER.name})


def _carried(cluster: FakeCluster) -> dict[str, float]:
    """The Campaigns the file the pods read carries, with their exposure."""
    doc = json.loads(cluster.objects[KEY]["data"]["campaigns.json"])
    return {name: entry["exposurePercent"] for name, entry in doc["campaigns"].items()}


class Counting(FakeCluster):
    """Counts the applies; refuses them while ``apply_error`` is set (the fake's own)."""

    attempts = 0

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        self.attempts += 1
        return super().apply(manifest, plural)


async def _until(check: Callable[[], bool], what: str) -> None:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < 20, what
        await asyncio.sleep(0.01)


def test_a_deleted_campaign_left_in_an_unwritable_file_keeps_the_model_undelivered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 0.05)  # retries at once
    monkeypatch.setattr(kopf, "event", lambda *a, **k: None)
    cluster = Counting()
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    campaign = campaign_body(CAMPAIGN, percent=25)
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign)]}
    wakeups = Wakeups()
    files = service.FileDependencies(cluster)
    key = handler.file_key(OWNER.namespace, OWNER.name)

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(pass_executor=pool, wakeups=wakeups,
                             campaigns_file_dependencies=files)
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(_campaigns_file(body=model, memo=memo, logger=logger,
                                                       campaigns_by_model=index))
            try:
                await _until(lambda: KEY in cluster.objects and _file_gauge() == 0,
                             "the first file written")
                assert _carried(cluster) == {CAMPAIGN: 25}
                # The Campaign is treating; its pass said its settings delivered.
                observability.observe_campaign(OWNER.namespace, CAMPAIGN, {}, {}, OWNER.name)
                assert _campaign_gauge() == 0

                # The ConfigMaps policy now refuses the operator's writes, and the Campaign is
                # deleted: its DELETED event drops it from kopf's index and its series.
                cluster.apply_error = KubeError(POLICY, 403)
                index[(OWNER.namespace, OWNER.name)] = []
                observability.forget("Campaign", OWNER.namespace, CAMPAIGN)
                wakeups.wake(key)
                await _until(lambda: _file_gauge() == 1, "the refused write said")
                assert _campaign_gauge() is None  # nothing of the Campaign is left to page
                attempts = cluster.attempts
                await _until(lambda: cluster.attempts >= attempts + 2, "retried")
                # Retried, still refused: the pods still read the deleted Campaign's entry.
                assert _file_gauge() == 1 and _carried(cluster) == {CAMPAIGN: 25}

                cluster.apply_error = None  # the policy fixed
                await _until(lambda: _file_gauge() == 0, "written again")
                assert _carried(cluster) == {}

                # The model deleted: its series goes at its DELETED event, and stays gone
                # once its task ends.
                await _forget_file(meta=model.metadata, memo=memo)
                assert _file_gauge() is None
                await asyncio.wait_for(task, timeout=10)
                assert _file_gauge() is None
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_a_task_that_stops_drops_its_models_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paused by peering (kopf cancels the task): the replica that acts exports the model's
    series; one left at 1 here would page after the acting replica wrote the file."""
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(kopf, "event", lambda *a, **k: None)
    cluster = Counting()
    cluster.apply_error = KubeError(POLICY, 403)
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index = {(OWNER.namespace, OWNER.name): [service.snapshot(campaign_body(CAMPAIGN))]}

    async def go() -> None:
        with ThreadPoolExecutor(1) as pool:
            memo = kopf.Memo(pass_executor=pool, wakeups=Wakeups(),
                             campaigns_file_dependencies=service.FileDependencies(cluster))
            logger = kopf.ObjectLogger(body=model, settings=kopf.OperatorSettings())
            task = asyncio.create_task(_campaigns_file(body=model, memo=memo, logger=logger,
                                                       campaigns_by_model=index))
            try:
                await _until(lambda: _file_gauge() == 1, "the refused write said")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert _file_gauge() is None

    asyncio.run(go())
