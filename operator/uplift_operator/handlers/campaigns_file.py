"""The campaigns file of each UpliftModel: an index of Campaigns, a pass per model every second.

``campaigns_by_model`` keeps every Campaign (its spec, generation, phase and exposure) in memory,
keyed by (namespace, ``spec.modelRef.name``), updated by kopf from the watch it already has, so
no pass lists Campaigns. ``campaigns_file`` runs per UpliftModel: it renders the file of that
model's Campaigns, with the model's version split from its status, and writes the
``<model>-campaigns`` ConfigMap only when its content changed (``services.campaigns_file``).
Level-based, so a Campaign's spec change, its new exposure or phase (written by its own pass), a
Campaign moving to another model, deleted, a model recreated or its canary weight changed all
reach the ConfigMap within a second, with no API call when nothing changed.

A timer of its own beside the UpliftModel pass (``handlers.upliftmodel``): it never patches the
UpliftModel, so the two never write the same object.
"""

from __future__ import annotations

from typing import Any

import kopf

from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.handlers.common import now
from uplift_operator.render.naming import Owner
from uplift_operator.services import campaigns_file as service

PASS_INTERVAL = 1.0

Key = tuple[str, str]  # (namespace, UpliftModel name)


@kopf.index(GROUP, VERSION, "campaigns")
def campaigns_by_model(body: kopf.Body, namespace: str | None, spec: kopf.Spec,
                       **_: Any) -> dict[Key, dict[str, Any]]:
    model = (spec.get("modelRef") or {}).get("name")
    if not model or not namespace:
        return {}
    return {(namespace, str(model)): service.snapshot(body)}


@kopf.timer(GROUP, VERSION, "upliftmodels", interval=PASS_INTERVAL, sharp=False)
def campaigns_file(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger,
                   **kwargs: Any) -> None:
    index: kopf.Index[Key, dict[str, Any]] = kwargs["campaigns_by_model"]  # kopf passes it
    owner = Owner(name=str(body.metadata.name), namespace=str(body.metadata.namespace),
                  uid=str(body.metadata.uid))
    found = list(index.get((owner.namespace, owner.name), []))
    synced = service.sync(owner, found, _dependencies(memo), now(),
                          service.version_split(body.get("status")))
    if synced.error is not None:
        logger.warning("campaigns file of %s/%s not written: %s", owner.namespace, owner.name,
                       synced.error)
    elif synced.changed:
        logger.info("campaigns file of %s/%s written: campaigns %s, active %s", owner.namespace,
                    owner.name, list(synced.campaigns), list(synced.active))


@kopf.on.delete(GROUP, VERSION, "upliftmodels", optional=True)
def forget_file(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    owner = Owner(name=str(meta.get("name")), namespace=str(meta.get("namespace")),
                  uid=str(meta.get("uid")))
    service.forget(owner, _dependencies(memo))


def _dependencies(memo: kopf.Memo) -> service.FileDependencies:
    """Built once from the UpliftModel pass's cluster adapter (handlers.lifecycle)."""
    deps = memo.get("campaigns_file_dependencies")
    if deps is None:
        deps = service.FileDependencies(cluster=memo["uplift_dependencies"].cluster)
        memo["campaigns_file_dependencies"] = deps
    assert isinstance(deps, service.FileDependencies)
    return deps
