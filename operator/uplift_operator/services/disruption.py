"""The PodDisruptionBudgets of an UpliftModel's serving pods, applied beside its serving graph.

``render.disruption`` says which budgets a model wants (one per served version, with
``spec.serving.disruptionBudget``); ``DisruptionBudgets.sync``, called by the pass that applies
the graph (``services.upliftmodel``), makes the cluster hold exactly those of the model: each
applied (server-side apply, the operator's field manager), and the model's others deleted (a
version that left the graph, the field removed). Only when what is wanted differs from what this
process last applied for the model (by uid): a pass at rest, a resync's included, makes no call.
A process that knows nothing of a model yet (a start, a failover, a resumed peering pause: the
handler drops the memory when the model's task ends, ``forget``) lists its namespace's budgets
of the operator once (metadata only, by label) and takes the model's from there, by owner uid:
budgets left from before the restart are deleted if no longer wanted, and a model without the
field that has none costs that one LIST per namespace, no more.

A delete names the budget's uid (``preconditions.uid``: the listing's, or the apply's answer):
a budget of the name deleted and created again by someone else since (not the one this process
knows) is refused by the API server (409) and left as it is, never deleted by name alone. A
budget whose uid this process does not know is read first, and deleted only if the model
controls it. (The admission policy manifests/poddisruptionbudgets-policy.yaml lets the
operator's identity delete only budgets labelled and owned as the operator's.)

A budget is never what decides serving: a failure to apply or delete one (RBAC without
``poddisruptionbudgets``, an admission webhook, an API server away) is logged, said once as a
Warning, and kept in the ``DisruptionBudgetApplied`` condition, and tried again at the next pass
due after a backoff (``RETRY_BASE_SECONDS`` doubled up to ``RETRY_CAP_SECONDS``). A budget of
the name that exists and is not the model's (its controller reference) is not taken over.

Budgets are not watched: one deleted or edited by hand is put back at the model's next change
of what it wants (a canary's start or end, an edit of the field) or after an operator restart,
not before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1.common import Condition
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.status import MAX_MESSAGE, Applied
from uplift_operator.render import disruption
from uplift_operator.render.naming import MANAGED_BY, MANAGED_BY_LABEL, MODEL_LABEL, Owner
from uplift_operator.render.serving import ServingBackend, TrafficSplit

__all__ = ["BUDGET_CONDITION", "BUDGET_FAILED", "BudgetOutcome", "DisruptionBudgets",
           "budget_condition", "served_versions"]

log = logging.getLogger(__name__)

#: The condition that says whether the model's budgets are as its spec wants.
BUDGET_CONDITION = "DisruptionBudgetApplied"
#: Its reasons: applied; a budget not applied or not deleted (the Warning event's reason too).
BUDGET_APPLIED = "Applied"
BUDGET_FAILED = "DisruptionBudgetFailed"
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 600.0
#: The operator's budgets, of any model, as a LIST selects them.
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY},{MODEL_LABEL}"


class BudgetCluster(Protocol):
    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]: ...

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None: ...

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool: ...


@runtime_checkable
class ListsMetadata(Protocol):
    def list_metadata(self, api_version: str, plural: str, namespace: str | None = None, *,
                      label_selector: str = "") -> list[dict[str, Any]]: ...


@runtime_checkable
class DeletesByUid(Protocol):
    def delete_uid(self, api_version: str, plural: str, namespace: str, name: str,
                   uid: str | None) -> bool: ...


@dataclasses.dataclass(frozen=True)
class BudgetOutcome:
    """What a model's budgets are after ``sync``: ``names`` wanted; ``failure``, why they are
    not as wanted (None: they are); ``news``: the failure is new (a Warning to post);
    ``retry_after``: seconds until it is tried again."""

    names: tuple[str, ...] = ()
    failure: str | None = None
    news: bool = False
    retry_after: float | None = None


@dataclasses.dataclass
class _Known:
    signature: str | None  # of what was last applied in full; None: to be applied again
    # The model's budgets there, as far as this process knows, by name: their uids (None: not
    # known, read before a delete); None: not listed yet.
    budgets: dict[str, str | None] | None
    failure: str | None = None
    attempts: int = 0
    next_try: dt.datetime | None = None
    tried: str | None = None  # the signature that failed: a new one is tried at once


class DisruptionBudgets:
    """What this process applied of each model's budgets (by uid), and its namespaces'
    budgets listed once (``sync``). Thread-safe: passes of different models run at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        self._listed: dict[str, dict[str, dict[str, str | None]]] = {}

    def forget(self, uid: str, namespace: str) -> None:
        """The model's task ended (deleted, or paused by peering: another replica may act on
        it): what is known of it is dropped, and its namespace's listing with it, so that the
        next pass here reads what is there."""
        with self._lock:
            self._known.pop(uid, None)
            self._listed.pop(namespace, None)

    def sync(self, cluster: BudgetCluster, owner: Owner, desired: Sequence[Mapping[str, Any]],
             now: dt.datetime) -> BudgetOutcome:
        """Make the cluster hold exactly ``desired`` of ``owner``'s budgets
        (``render.disruption.desired_budgets``); see the module docstring. Never raises."""
        wanted = {str(m["metadata"]["name"]): m for m in desired}
        names = tuple(sorted(wanted))
        signature = json.dumps(list(desired), sort_keys=True)
        with self._lock:
            known = self._known.get(owner.uid)
        if known is not None and known.signature == signature:
            return BudgetOutcome(names)
        if (known is not None and known.failure is not None and known.tried == signature
                and known.next_try is not None and now < known.next_try):
            return BudgetOutcome(names, known.failure, False,
                                 (known.next_try - now).total_seconds())
        previous_failure = known.failure if known is not None else None
        attempts = known.attempts if known is not None and known.tried == signature else 0
        errors: list[str] = []
        there: dict[str, str | None]
        if known is not None and known.budgets is not None:
            there = dict(known.budgets)
        else:
            try:
                there = dict(self._listing(cluster, owner.namespace).get(owner.uid, {}))
            except KubeError as error:
                errors.append(f"listing PodDisruptionBudgets: {error}")
                there = {}
        listed = not errors
        if not errors:
            for name, manifest in wanted.items():
                problem, uid = self._apply(cluster, owner, name, manifest, ours=name in there)
                if problem is None:
                    there[name] = uid or there.get(name)
                else:
                    errors.append(problem)
            for name in sorted(there.keys() - wanted.keys()):
                problem = self._delete(cluster, owner, name, there[name])
                if problem is None:
                    del there[name]
                else:
                    errors.append(problem)
        if not errors:
            with self._lock:
                self._known[owner.uid] = _Known(signature, there)
            if previous_failure is not None:
                log.info("UpliftModel %s/%s: its PodDisruptionBudgets are as wanted again (%s)",
                         owner.namespace, owner.name, ", ".join(names) or "none")
            return BudgetOutcome(names)
        failure = "; ".join(errors)
        attempts += 1
        wait = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
        with self._lock:
            self._known[owner.uid] = _Known(None, there if listed else None, failure, attempts,
                                            now + dt.timedelta(seconds=wait), signature)
        log.warning("UpliftModel %s/%s: PodDisruptionBudgets not as wanted (serving is not "
                    "affected; tried again in %.0f s): %s", owner.namespace, owner.name, wait,
                    failure)
        return BudgetOutcome(names, failure, failure != previous_failure, wait)

    def _listing(self, cluster: BudgetCluster,
                 namespace: str) -> dict[str, dict[str, str | None]]:
        """The operator's budgets in ``namespace`` by their controller's uid (each its uid by
        name), listed once per namespace (until a ``forget``); none from a cluster that cannot
        list (a test's)."""
        with self._lock:
            known = self._listed.get(namespace)
        if known is not None:
            return known
        if not isinstance(cluster, ListsMetadata):
            return {}
        listed: dict[str, dict[str, str | None]] = {}
        for meta in cluster.list_metadata(disruption.API_VERSION, disruption.PLURAL, namespace,
                                          label_selector=SELECTOR):
            uid = _controller_uid(meta)
            if uid is not None and meta.get("name"):
                listed.setdefault(uid, {})[str(meta["name"])] = (
                    str(meta["uid"]) if meta.get("uid") else None)
        with self._lock:
            self._listed[namespace] = listed
        return listed

    @staticmethod
    def _apply(cluster: BudgetCluster, owner: Owner, name: str, manifest: Mapping[str, Any], *,
               ours: bool) -> tuple[str | None, str | None]:
        """Apply one budget: why not (None: applied), and its uid (None: not known). One not
        known to be the model's is read first: a budget of that name someone else controls is
        not taken over. The uid is the apply's answer's, or, when the answer says none (the
        client decodes no body from a creation's 201), read back once."""
        try:
            if not ours:
                live = cluster.get(disruption.API_VERSION, disruption.PLURAL, owner.namespace,
                                   name)
                if live is not None and _controller_uid(live.get("metadata") or {}) != owner.uid:
                    return (f"PodDisruptionBudget {owner.namespace}/{name} exists and is not "
                            f"this UpliftModel's: not taken over (delete it, or remove "
                            f"spec.serving.disruptionBudget)"), None
            answer = cluster.apply(manifest, disruption.PLURAL)
            uid = _uid(answer)
            if uid is None:
                live = cluster.get(disruption.API_VERSION, disruption.PLURAL, owner.namespace,
                                   name)
                if live is not None and _controller_uid(live.get("metadata") or {}) == owner.uid:
                    uid = _uid(live)
        except KubeError as error:
            return str(error), None
        return None, uid

    @staticmethod
    def _delete(cluster: BudgetCluster, owner: Owner, name: str,
                uid: str | None) -> str | None:
        """Delete the model's budget ``name`` of uid ``uid`` (the API server's precondition);
        why not, or None (deleted, gone, or no longer the model's: left as it is). A budget of
        unknown uid is read first and deleted only if the model controls it (so is any, on a
        cluster that cannot delete by uid: a test's)."""
        by_uid = isinstance(cluster, DeletesByUid)
        try:
            if uid is None or not by_uid:
                live = cluster.get(disruption.API_VERSION, disruption.PLURAL, owner.namespace,
                                   name)
                meta = (live or {}).get("metadata") or {}
                if live is None or _controller_uid(meta) != owner.uid or not meta.get("uid"):
                    return None
                uid = str(meta["uid"])
            if isinstance(cluster, DeletesByUid):
                cluster.delete_uid(disruption.API_VERSION, disruption.PLURAL, owner.namespace,
                                   name, uid)
            else:
                cluster.delete(disruption.API_VERSION, disruption.PLURAL, owner.namespace, name)
        except KubeError as error:
            if error.status == 409:
                # The precondition: another object of the name now, not the one this process
                # knew (deleted and created again by someone else). Theirs: left as it is.
                log.info("UpliftModel %s/%s: PodDisruptionBudget %s is another object than "
                         "its own now (uid %s gone): not deleted", owner.namespace, owner.name,
                         name, uid)
                return None
            return str(error)
        return None


def served_versions(traffic: TrafficSplit | None, child: Mapping[str, Any] | None,
                    applied: Applied | None, backend: ServingBackend) -> frozenset[str]:
    """The versions whose pods the model's graph runs after the pass's apply: the split decided
    (a canary at weight 0 too: its pods run), and, unless the graph was applied as decided (or
    was so already), the versions the graph read has still (an apply refused or queued leaves
    them running)."""
    decided = set()
    if traffic is not None:
        decided.add(traffic.stable_version)
        if traffic.canary_version is not None:
            decided.add(traffic.canary_version)
    through = applied is not None and applied.error is None and applied.queued is None
    if child is not None and not through:
        decided |= {version for version, _ in backend.rendered_roles(child).values()}
    return frozenset(decided)


def _uid(answer: object) -> str | None:
    meta = answer.get("metadata") if isinstance(answer, Mapping) else None
    uid = meta.get("uid") if isinstance(meta, Mapping) else None
    return str(uid) if uid else None


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller") and ref.get("uid"):
            return str(ref["uid"])
    return None


def budget_condition(conditions: Sequence[Condition], outcome: BudgetOutcome, generation: int,
                     now: dt.datetime) -> list[Condition]:
    """``conditions`` with ``DisruptionBudgetApplied``: True while the budgets wanted are there,
    False (``DisruptionBudgetFailed``, why) while they are not; absent when none is wanted and
    none is left to delete. Not a problem ``domain.stuck`` counts: the phase is serving's."""
    if outcome.failure is not None:
        return cond.set_condition(conditions, type_=BUDGET_CONDITION, status="False",
                                  reason=BUDGET_FAILED, message=_clip(outcome.failure), now=now,
                                  observed_generation=generation)
    if not outcome.names:
        return [c for c in conditions if c.type != BUDGET_CONDITION]
    return cond.set_condition(conditions, type_=BUDGET_CONDITION, status="True",
                              reason=BUDGET_APPLIED,
                              message=_clip("PodDisruptionBudgets applied: "
                                            + ", ".join(outcome.names)),
                              now=now, observed_generation=generation)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"
