"""Who a watch event wakes, beyond the campaigns file (``test_watch_file_wakes.py``): an
UpliftModel's Campaigns only when what they read of it changed (not at each analysis of its
canary: 1,000 Campaigns were woken, for nothing, by each of the model's status writes), and an
UpliftModel not by the echo of its own SeldonDeployment apply."""

from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace
from typing import Any, cast

import kopf
from tests.unit.handlers.test_watch_file_wakes import NS, _memo, _model

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.domain import conditions as cond
from uplift_operator.handlers import campaign, upliftmodel, watches
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.rolls import Rolls

READY = {"type": "Ready", "status": "True", "reason": cond.STABLE_SERVING, "message": "",
         "lastTransitionTime": "2026-12-01T00:00:00Z"}


def _model_event(kind: str, body: dict[str, Any], memo: kopf.Memo) -> None:
    body = copy.deepcopy(body)
    index = {(NS, "churn"): [{"metadata": {"name": "spring"}}, {"metadata": {"name": "autumn"}}]}
    handler: Any = watches.model_changed  # kopf types it as every keyword kopf passes
    asyncio.run(handler(event={"type": kind, "object": body},
                        body=kopf.Body(cast(kopf.RawBody, body)), memo=memo,
                        campaigns_by_model=index))


def test_a_models_status_write_wakes_its_campaigns_only_when_what_they_read_changed() -> None:
    wakeups = Wakeups()
    spring, autumn = (wakeups.register((campaign.KIND, NS, n)) for n in ("spring", "autumn"))
    memo = _memo(wakeups)
    body = _model()
    body["status"] = {"phase": "Healthy", "stableVersion": "3", "conditions": [READY]}

    def woken() -> bool:
        both = spring.is_set(), autumn.is_set()
        spring.clear()
        autumn.clear()
        assert both[0] == both[1]
        return both[0]

    _model_event("ADDED", body, memo)
    assert woken()  # first seen
    # Its canary's analyses: gates, history, the phase message while the stable serves.
    body["status"].update(phase="Progressing", canaryVersion="4", canaryWeight=10,
                          message="step 1 of 3: errorRate Inconclusive")
    body["status"]["gates"] = [{"name": "errorRate", "verdict": "Inconclusive"}]
    _model_event("MODIFIED", body, memo)
    assert not woken()
    body["status"]["message"] = "step 1 of 3: errorRate Pass"
    _model_event("MODIFIED", body, memo)
    assert not woken()
    for change in ({"stableVersion": "4"},  # promoted: the Campaigns follow the new version
                   {"conditions": [{**READY, "status": "False", "reason": "Degraded",
                                    "message": "nothing serves"}]}):
        body["status"].update(change)
        _model_event("MODIFIED", body, memo)
        assert woken(), change
    body["status"]["message"] = "nothing serves: version 4 failed"  # why, while not serving
    _model_event("MODIFIED", body, memo)
    assert woken()
    body["metadata"]["generation"] = 2  # a spec change (its treatments, its registry)
    _model_event("MODIFIED", body, memo)
    assert woken()
    _model_event("DELETED", body, memo)
    assert woken()


def _seldon_deployment(version: str) -> dict[str, Any]:
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"namespace": NS, "name": "churn", "uid": "sd-1",
                         "resourceVersion": version,
                         "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                              "kind": "UpliftModel", "name": "churn",
                                              "uid": "m-1", "controller": True}]},
            "spec": {"predictors": []}}


def test_the_echo_of_the_operators_own_seldon_apply_wakes_no_model_pass() -> None:
    wakeups = Wakeups()
    model = wakeups.register((upliftmodel.KIND, NS, "churn"))
    objects = WatchedObjects(["seldondeployments"])
    memo = kopf.Memo(watched_objects=objects, wakeups=wakeups,
                     uplift_dependencies=SimpleNamespace(rolls=Rolls()))

    def event(kind: str, body: dict[str, Any]) -> None:
        handler: Any = watches.child_changed
        asyncio.run(handler(event={"type": kind, "object": body},
                            body=kopf.Body(cast(kopf.RawBody, body)), memo=memo))

    objects.observe("seldondeployments", _seldon_deployment("42"))  # the apply's answer
    event("MODIFIED", _seldon_deployment("42"))  # ... and its watch event
    assert not model.is_set()
    event("MODIFIED", _seldon_deployment("43"))  # Seldon's status, someone's edit
    assert model.is_set()
    model.clear()
    event("DELETED", _seldon_deployment("43"))
    assert model.is_set()


def test_the_watch_event_of_a_models_own_write_drops_the_kept_copy() -> None:
    from uplift_operator.handlers.common import runner

    memo = _memo(Wakeups())
    passes = runner(memo, upliftmodel.KIND, upliftmodel.PLURAL)
    body = _model()
    passes.own_writes.wrote("m-1", {**body, "metadata": {**body["metadata"],
                                                          "resourceVersion": "4"}})
    _model_event("MODIFIED", body, memo)  # resourceVersion 3: the watch is behind
    assert "m-1" in passes.own_writes._bodies
    body["metadata"]["resourceVersion"] = "4"
    _model_event("MODIFIED", body, memo)
    assert passes.own_writes._bodies == {}
