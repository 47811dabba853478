"""A Campaign whose UpliftModel does not exist (yet): its passes ask the API server for the
model once, not at every pass (``adapters.watched`` remembers the 404); the model's watch event
ends that, and the next pass finds it in memory."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from tests.unit.services.fakes import FakeCluster, FakeMetrics

from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import campaign

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
NS = "shop"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_a_missing_model_is_asked_for_once_and_its_creation_is_seen_in_memory() -> None:
    cluster = FakeCluster()
    gets: list[str] = []
    original_get = cluster.get

    def get(api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        gets.append(f"{plural}/{name}")
        return original_get(api_version, plural, namespace, name)

    cluster.get = get  # type: ignore[method-assign]
    objects = WatchedObjects(["upliftmodels"])
    deps = campaign.CampaignDependencies(cluster=WatchedCluster(cluster, objects),
                                         prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES)
    body: dict[str, Any] = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    body["metadata"].update(namespace=NS, generation=1, annotations={})
    for _ in range(4):  # its passes: events, requeues, resyncs
        body["status"] = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    assert body["status"]["conditions"] and "not found" in body["status"]["message"]
    assert gets == ["upliftmodels/hillstrom-uplift"]
    model: dict[str, Any] = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    model["metadata"].update(namespace=NS, resourceVersion="9")
    model["status"] = {"stableVersion": "3", "phase": "Healthy", "conditions": [
        {"type": "Ready", "status": "True", "reason": "StableServing",
         "lastTransitionTime": "2026-12-01T00:00:00Z"}]}
    cluster.put("upliftmodels", model)
    objects.observe("upliftmodels", model)  # its ADDED event (handlers.watches.model_changed)
    body["status"] = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    assert body["status"]["exposurePercent"] == 5
    assert gets == ["upliftmodels/hillstrom-uplift"]
