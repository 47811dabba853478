"""A campaigns-file pass renders every Campaign of its model; it is woken only when what the
file reads changed: of a Campaign, its snapshot in the index (spec, generation, phase,
exposure, Ready condition, deletion); of the model, its version split. A Campaign's or the
model's status write that touches none of it (a gate's analysis, a condition's message, the
model's own step bookkeeping) wakes no file pass."""

from __future__ import annotations

import asyncio
import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import campaign, upliftmodel, watches
from uplift_operator.handlers.campaigns_file import file_key
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups

NS = "shop"


def _memo(wakeups: Wakeups) -> kopf.Memo:
    executor = ThreadPoolExecutor(1)
    return kopf.Memo(
        watched_objects=WatchedObjects(["upliftmodels"]), wakeups=wakeups,
        **{f"pass_runner_{kind}": PassRunner(kind, plural, wakeups, executor,
                                             cluster=None)  # type: ignore[arg-type]
           for kind, plural in ((upliftmodel.KIND, upliftmodel.PLURAL),
                                (campaign.KIND, campaign.PLURAL))})


def _event(handler: Any, kind: str, body: dict[str, Any], memo: kopf.Memo) -> None:
    body = copy.deepcopy(body)
    asyncio.run(handler(event={"type": kind, "object": body},
                        body=kopf.Body(cast(kopf.RawBody, body)), memo=memo,
                        campaigns_by_model={}))


def _campaign(model: str = "churn") -> dict[str, Any]:
    return {
        "apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
        "metadata": {"namespace": NS, "name": "spring", "uid": "c-1", "generation": 1,
                     "resourceVersion": "5", "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"modelRef": {"name": model}, "exposure": {"steps": [5, 25, 100]}},
        "status": {"phase": "Progressing", "exposurePercent": 5, "currentStep": 0,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Exposing",
                                   "message": "step 1 of 3", "lastTransitionTime": "t0"}]}}


def test_a_campaign_status_write_the_file_does_not_read_wakes_no_file_pass() -> None:
    wakeups = Wakeups()
    churn, other = (wakeups.register(file_key(NS, m)) for m in ("churn", "other"))
    memo = _memo(wakeups)
    body = _campaign()
    _event(watches.campaign_changed, "ADDED", body, memo)
    assert churn.is_set()  # first seen: what the file read of it is not known
    churn.clear()
    # its pass's analysis: a gate's figures, the Ready message, an integral exposure echoed
    body["status"]["lastAnalysis"] = {"time": "t1", "gates": {"roi": 1.4}}
    body["status"]["conditions"][0]["message"] = "step 1 of 3: 212 conversions so far"
    body["status"]["exposurePercent"] = 5.0
    _event(watches.campaign_changed, "MODIFIED", body, memo)
    assert not churn.is_set()
    for change in ({"exposurePercent": 25}, {"phase": "Suspended"},
                   {"conditions": [{"type": "Ready", "status": "False", "reason": "Suspended",
                                    "lastTransitionTime": "t2"}]}):
        body["status"].update(change)
        _event(watches.campaign_changed, "MODIFIED", body, memo)
        assert churn.is_set(), change
        churn.clear()
    body["spec"]["exposure"]["steps"] = [10, 100]  # a spec change: the generation moves
    body["metadata"]["generation"] = 2
    _event(watches.campaign_changed, "MODIFIED", body, memo)
    assert churn.is_set() and not other.is_set()
    churn.clear()
    body["spec"]["modelRef"]["name"] = "other"  # moved: both files
    _event(watches.campaign_changed, "MODIFIED", body, memo)
    assert churn.is_set() and other.is_set()
    churn.clear()
    other.clear()
    _event(watches.campaign_changed, "DELETED", body, memo)
    assert other.is_set() and not churn.is_set()
    assert memo["campaign_files"] == {}


def _model() -> dict[str, Any]:
    return {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
            "metadata": {"namespace": NS, "name": "churn", "uid": "m-1", "generation": 1,
                         "resourceVersion": "3"},
            "spec": {"experiment": {"attributionWindow": "1h"}}}


def test_a_model_status_write_that_leaves_the_split_wakes_no_file_pass() -> None:
    wakeups = Wakeups()
    flag = wakeups.register(file_key(NS, "churn"))
    memo = _memo(wakeups)
    body = _model()
    _event(watches.model_changed, "ADDED", body, memo)
    assert flag.is_set()
    flag.clear()
    body["status"] = {"phase": "Healthy", "stableVersion": "3"}  # its first status
    _event(watches.model_changed, "MODIFIED", body, memo)
    assert flag.is_set()
    flag.clear()
    body["status"]["lastAnalysis"] = {"time": "t1"}  # its own pass's bookkeeping
    body["status"]["message"] = "version 3 serves all traffic"
    _event(watches.model_changed, "MODIFIED", body, memo)
    assert not flag.is_set()
    body["status"].update(canaryVersion="4", canaryWeight=10)  # a canary: the split changed
    _event(watches.model_changed, "MODIFIED", body, memo)
    assert flag.is_set()
    flag.clear()
    body["spec"]["experiment"]["attributionWindow"] = "2h"
    _event(watches.model_changed, "MODIFIED", body, memo)
    assert flag.is_set()
