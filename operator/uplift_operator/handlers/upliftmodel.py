"""UpliftModel handlers: a level-based pass every second, written as one status patch.

Why a timer and not on.create/on.update: the lifecycle depends on things outside the object
(MLflow aliases, Prometheus, the serving graph), and one handler kind per object means kopf
never runs two passes of the same UpliftModel at once. A pass that observes nothing new writes
nothing (status is compared before patching), so the cadence costs reads, not writes.
"""

from __future__ import annotations

import time
from typing import Any

import kopf

from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import status as status_logic
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import now, write_status, written_status
from uplift_operator.services import upliftmodel as service

KIND = "UpliftModel"
PLURAL = "upliftmodels"
PASS_INTERVAL = 1.0


@kopf.timer(GROUP, VERSION, PLURAL, interval=PASS_INTERVAL, sharp=False)
def reconcile(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo,
              **_: Any) -> None:
    deps = memo["uplift_dependencies"]
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    written, uid = written_status(memo, KIND), str(body.metadata.uid)
    if written.behind(uid, status, time.monotonic()):
        return  # our last write is not in this body yet: deciding on it would decide twice
    with observability.reconciling(KIND, namespace, name):
        result = service.reconcile(body, deps, now())
        for event in result.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        observability.count_decisions(namespace, name, [event.reason for event in result.events])
        change = status_logic.status_patch(dict(status), result.status)
        write_status(patch, change)
        if change:
            written.wrote(uid, result.status, time.monotonic())
        phase = result.status.get("phase")
        if phase:
            observability.observe_phase(
                KIND, namespace, name, Phase(phase),
                any(c.get("type") == "InvalidSpec" and c.get("status") == "True"
                    for c in result.status.get("conditions", [])))
            observability.observe_rollout(namespace, name, result.status)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    observability.forget(KIND, namespace, name)
    deps = memo["uplift_dependencies"]
    deps.decision_keys.pop((namespace, name, str(meta.get("uid"))), None)
    written_status(memo, KIND).forget(str(meta.get("uid")))
