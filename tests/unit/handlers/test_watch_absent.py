"""What the watched store remembers as absent (``adapters.watched``) is dropped when nothing
looks for it any more: a deleted model's campaigns ConfigMap and SeldonDeployment, the model a
deleted (or moved) Campaign named. Otherwise each would stay for the life of the process."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import campaign, upliftmodel, watches
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups


def _memo(objects: WatchedObjects) -> kopf.Memo:
    wakeups = Wakeups()
    executor = ThreadPoolExecutor(1)
    return kopf.Memo(
        watched_objects=objects, wakeups=wakeups,
        **{f"pass_runner_{kind}": PassRunner(kind, plural, wakeups, executor,
                                             cluster=None)  # type: ignore[arg-type]
           for kind, plural in ((upliftmodel.KIND, upliftmodel.PLURAL),
                                (campaign.KIND, campaign.PLURAL))})


def _run(handler: Any, kind: str, body: dict[str, Any], memo: kopf.Memo) -> None:
    asyncio.run(handler(event={"type": kind, "object": body},
                        body=kopf.Body(cast(kopf.RawBody, body)), memo=memo,
                        campaigns_by_model={}))


def _body(kind: str, name: str, model: str = "") -> dict[str, Any]:
    return {"apiVersion": "uplift.dev/v1alpha1", "kind": kind,
            "metadata": {"namespace": "ns", "name": name, "uid": f"u-{name}",
                         "resourceVersion": "3", "generation": 1},
            "spec": {"modelRef": {"name": model}} if model else {}}


def test_a_deleted_model_forgets_that_its_children_were_absent() -> None:
    objects = WatchedObjects(["upliftmodels", "seldondeployments", "configmaps"])
    for plural, name in (("seldondeployments", "um"), ("configmaps", "um-campaigns"),
                         ("configmaps", "other-campaigns")):
        objects.mark_absent(plural, "ns", name)
    memo = _memo(objects)
    _run(watches.model_changed, "MODIFIED", _body("UpliftModel", "um"), memo)
    assert objects.absent("configmaps", "ns", "um-campaigns")  # still looked for
    _run(watches.model_changed, "DELETED", _body("UpliftModel", "um"), memo)
    assert not objects.absent("seldondeployments", "ns", "um")
    assert not objects.absent("configmaps", "ns", "um-campaigns")
    assert objects.absent("configmaps", "ns", "other-campaigns")


def test_a_campaign_deleted_or_moved_forgets_that_its_model_was_absent() -> None:
    objects = WatchedObjects(["upliftmodels"])
    for model in ("typo", "later", "kept"):
        objects.mark_absent("upliftmodels", "ns", model)
    memo = _memo(objects)
    _run(watches.campaign_changed, "ADDED", _body("Campaign", "c", "typo"), memo)
    assert objects.absent("upliftmodels", "ns", "typo")
    _run(watches.campaign_changed, "MODIFIED", _body("Campaign", "c", "later"), memo)  # fixed
    assert not objects.absent("upliftmodels", "ns", "typo")
    assert objects.absent("upliftmodels", "ns", "later")
    _run(watches.campaign_changed, "DELETED", _body("Campaign", "c", "later"), memo)
    assert not objects.absent("upliftmodels", "ns", "later")
    assert objects.absent("upliftmodels", "ns", "kept")
