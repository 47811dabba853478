"""Campaign handlers: thin glue around ``services.campaign``: pass → events → one status patch.

A Campaign may be applied before its UpliftModel (GitOps syncs in any order): it then waits,
Progressing at 0 % exposure, and the level-based timer re-checks it, so it follows its model
(appeared, serving, gone) without another edit. A pass that observes nothing new writes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import kopf

from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status as status_logic
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import config_of, now, write_status, written_status
from uplift_operator.services import campaign as service

KIND = "Campaign"
PLURAL = "campaigns"
#: The pass runs every second, as the UpliftModel's: an analysis is due at ``analysisInterval``
#: and a failing gate sets exposure 0 within it (+ a pass), which a longer or idle-gated timer
#: (reset by each status patch) would delay.
RECHECK_SECONDS = 1.0


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo,
              **_: Any) -> None:
    _reconcile(body, status, patch, memo)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RECHECK_SECONDS, sharp=False)
def recheck(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo,
            **_: Any) -> None:
    """Level-based re-check: the referenced model may have appeared, changed or gone, and the
    exposure ramp's analyses and steps are due with time."""
    _reconcile(body, status, patch, memo)


def _reconcile(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo) -> None:
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    written, uid = written_status(memo, KIND), str(body.metadata.uid)
    if written.behind(uid, status, time.monotonic()):
        return  # our last write is not in this body yet: deciding on it would decide twice
    with observability.reconciling(KIND, namespace, name):
        result = service.reconcile(body, _dependencies(memo), now())
        for event in result.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        observability.count_decisions(namespace, name, [event.reason for event in result.events])
        change = status_logic.status_patch(dict(status), result.status)
        write_status(patch, change)
        if change:
            written.wrote(uid, result.status, time.monotonic())
        observability.observe_campaign(namespace, name, result.status)
        phase = result.status.get("phase")
        if phase:
            observability.observe_phase(
                KIND, namespace, name, Phase(phase),
                any(c.get("type") == cond.INVALID_SPEC and c.get("status") == "True"
                    for c in result.status.get("conditions", [])))


def _dependencies(memo: kopf.Memo) -> service.CampaignDependencies:
    """The Campaign pass's adapters: the UpliftModel's, shared (built once at start-up), its
    registry clients and resolver cache included (a drift gate's training reference)."""
    deps = memo.get("campaign_dependencies")
    if deps is None:
        uplift = memo["uplift_dependencies"]
        deps = service.CampaignDependencies(
            cluster=uplift.cluster, prometheus=uplift.prometheus,
            metric_templates=config_of(memo).metric_templates, models=uplift)
        memo["campaign_dependencies"] = deps
    assert isinstance(deps, service.CampaignDependencies)
    return deps


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    observability.forget(KIND, str(meta.get("namespace")), str(meta.get("name")))
    written_status(memo, KIND).forget(str(meta.get("uid")))
