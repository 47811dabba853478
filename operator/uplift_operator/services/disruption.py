"""The PodDisruptionBudgets of an UpliftModel's serving pods, applied beside its serving graph.

``render.disruption`` says which budgets a model wants (one per served version, with
``spec.serving.disruptionBudget``); ``DisruptionBudgets.sync``, called by the pass that applies
the graph (``services.upliftmodel``), makes the cluster hold exactly those of the model: each
applied (server-side apply, the operator's field manager), and the model's others deleted (a
version that left the graph, the field removed). Only when what is wanted differs from what this
process last applied for the model (by uid): a pass at rest, a resync's included, makes no call.
A process that knows nothing of a model yet (a start, a failover, a resumed peering pause: the
handler drops the memory when the model's task ends, ``forget``) lists its namespace's budgets
of the operator once (metadata only, by label; one LIST at a time per namespace, the other
passes needing it wait for its answer) and takes the model's from there, by owner uid: budgets
left from before the restart are deleted if no longer wanted, and a model without the field
that has none costs that one LIST per namespace, no more (again only once every model of the
namespace that passed here has gone, below).
A model's pass after a peering pause lists its namespace again; a model deleted drops only its
own entries. A namespace's listing is kept while a model of it that passed here (``sync``) has
its task, and dropped with the last one's (``forget``; a LIST still out, when it lands: a pass
waiting for it is of such a model): kept until the process's exit, the listings of short-lived
namespaces (a preview per pull request) grew without bound. Each task of a model has its
epoch (``begin``, which ``forget`` ends), given to the ``sync`` of each of its passes: a
pass of a task that ended (its worker thread outlives the task's cancellation, and may reach
``sync`` only after ``forget``) makes no call there and keeps nothing; one whose task ends
while it is in ``sync`` keeps nothing and sends no LIST from then on. A LIST that fails is
not sent again for the namespace before a backoff (``RETRY_BASE_SECONDS`` doubled up to
``RETRY_CAP_SECONDS``, from the base again after a LIST that succeeds); a model without the
field says nothing of it (no condition, no event, no retry of its own: a debug log), a model
with it fails as below.

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
the name that exists and is not the model's (its controller reference) is not taken over; one
being deleted, or controlled by an UpliftModel of the model's name with another uid (the model
deleted and created again before the garbage collector deleted its budgets), is waited for:
tried again after ``WAIT_BASE_SECONDS`` (doubled up to the cap), the condition False
(``WaitingForGarbageCollector``, at a pass before the retry too), no Warning.

Budgets are not watched: one deleted or edited by hand is put back at the model's next change
of what it wants (a canary's start or end, an edit of the field) or after an operator restart,
not before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
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

__all__ = ["BUDGET_CONDITION", "BUDGET_FAILED", "BUDGET_WAITING", "BudgetOutcome",
           "DisruptionBudgets", "budget_condition", "served_versions"]

log = logging.getLogger(__name__)

#: The condition that says whether the model's budgets are as its spec wants.
BUDGET_CONDITION = "DisruptionBudgetApplied"
#: Its reasons: applied; a budget not applied or not deleted (the Warning event's reason too).
BUDGET_APPLIED = "Applied"
BUDGET_FAILED = "DisruptionBudgetFailed"
#: The condition's reason while a budget of the name is still the model's predecessor's (the
#: model deleted and created again under its name), which the garbage collector deletes.
BUDGET_WAITING = "WaitingForGarbageCollector"
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 600.0
#: The first retry of a budget that waits for the garbage collector (doubled up to the cap).
WAIT_BASE_SECONDS = 5.0
#: How long a pass waits for another pass's LIST of its namespace.
LIST_WAIT_SECONDS = 30.0
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
    ``retry_after``: seconds until it is tried again; ``waiting``: the failure is only a
    budget of the name left by the model's predecessor of the name, which the garbage
    collector deletes (no Warning)."""

    names: tuple[str, ...] = ()
    failure: str | None = None
    news: bool = False
    retry_after: float | None = None
    waiting: bool = False


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
    waiting: bool = False  # the failure is only budgets that wait for the garbage collector


@dataclasses.dataclass(eq=False)
class _Listing:
    """One namespace's LIST of the operator's budgets: in flight until ``done`` is set (a pass
    that needs it meanwhile waits for it: one LIST at a time per namespace), then ``owners``
    (the budgets by their controller's uid, each its uid by name), or ``failure``, not listed
    again before ``next_try`` (``attempts``: the LISTs failed in a row, none since one that
    succeeded)."""

    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    owners: dict[str, dict[str, str | None]] | None = None
    failure: str | None = None
    attempts: int = 0
    next_try: dt.datetime | None = None
    # Models forgotten since the LIST was sent: a paused one's entries are not trusted, its next
    # pass lists again (``stale``, until the namespace is listed again); a deleted one's dropped
    # when the LIST lands (``gone``).
    stale: set[str] = dataclasses.field(default_factory=set)
    gone: set[str] = dataclasses.field(default_factory=set)


class _EndedError(Exception):
    """The pass's epoch ended (its model's task ended): no LIST is sent for it."""


class _UnlistedError(Exception):
    """The namespace's budgets could not be listed (now, or lately: ``retry_at``)."""

    def __init__(self, failure: str, retry_at: dt.datetime) -> None:
        super().__init__(failure)
        self.failure = failure
        self.retry_at = retry_at


class DisruptionBudgets:
    """What this process applied of each model's budgets (by uid), and its namespaces'
    budgets listed once (``sync``). Thread-safe: passes of different models run at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        self._listed: dict[str, _Listing] = {}
        # The models of each namespace whose task runs (an epoch) and that passed here
        # (``sync``): its listing is dropped with the last of them (``_drop_unused``).
        self._members: dict[str, set[str]] = {}
        # The epoch of each model's task (``begin``); none once its task ended (``forget``).
        self._epochs: dict[str, int] = {}
        self._counter = itertools.count(1)

    def begin(self, uid: str) -> int:
        """A task of the model starts: its epoch, for the ``sync`` of each of its passes. Read
        on the event loop before any pass of the task is queued; a pass of an earlier task of
        the model, still running, keeps nothing from then on."""
        with self._lock:
            epoch = self._epochs[uid] = next(self._counter)
            return epoch

    def forget(self, uid: str, namespace: str, *, paused: bool = True,
               epoch: int | None = None) -> None:
        """The model's task (of ``epoch``, ``begin``'s: None, whichever) ended: its epoch ends,
        so a pass of it still to reach ``sync`` (its worker thread outlives the task's
        cancellation) makes no call there, and one in ``sync`` sends no LIST from now on; neither
        keeps anything. What is known of the model is dropped, and its entries of its
        namespace's listing (the other models' are kept). ``paused`` (by peering: another
        replica may act on it), its next pass here lists the namespace again rather than trust
        what was listed before. A newer task of the model already begun keeps its epoch. The
        namespace's listing goes with the last model of it that passed here (``_drop_unused``)."""
        with self._lock:
            if epoch is None or self._epochs.get(uid) == epoch:
                self._epochs.pop(uid, None)
            self._known.pop(uid, None)
            if uid not in self._epochs:  # else a newer task of the model runs on
                members = self._members.get(namespace)
                if members is not None:
                    members.discard(uid)
            listing = self._listed.get(namespace)
            if listing is not None:
                if not listing.done.is_set():
                    listing.gone.add(uid)
                    if paused:
                        listing.stale.add(uid)
                elif listing.owners is not None:
                    listing.owners.pop(uid, None)
                    if paused:
                        listing.stale.add(uid)
                # else not listed: the next pass lists anyway
            self._drop_unused(namespace)

    def _drop_unused(self, namespace: str) -> None:
        """Under the lock: drop the namespace's listing once no model of it whose task runs
        has passed here, unless its LIST is still out (it is dropped when it lands: a pass
        waiting for it is of a model that passed, so it is not dropped under that pass)."""
        if self._members.get(namespace):
            return
        self._members.pop(namespace, None)
        listing = self._listed.get(namespace)
        if listing is not None and listing.done.is_set():
            del self._listed[namespace]

    def sync(self, cluster: BudgetCluster, owner: Owner, desired: Sequence[Mapping[str, Any]],
             now: dt.datetime, *, epoch: int | None = None) -> BudgetOutcome:
        """Make the cluster hold exactly ``desired`` of ``owner``'s budgets
        (``render.disruption.desired_budgets``); see the module docstring. ``epoch``: the
        pass's task's (``begin``); None, the model's current one (begun if none is). A pass
        whose epoch ended makes no call and keeps nothing: its outcome, names only, is not
        used (its task ended). Never raises."""
        wanted = {str(m["metadata"]["name"]): m for m in desired}
        names = tuple(sorted(wanted))
        signature = json.dumps(list(desired), sort_keys=True)
        with self._lock:
            current = self._epochs.get(owner.uid)
            if epoch is None:
                epoch = current
                if epoch is None:
                    epoch = self._epochs[owner.uid] = next(self._counter)
            elif epoch != current:
                log.debug("UpliftModel %s/%s: a pass of a task ended: its PodDisruptionBudgets "
                          "are left to the next task's", owner.namespace, owner.name)
                return BudgetOutcome(names)
            self._members.setdefault(owner.namespace, set()).add(owner.uid)
            known = self._known.get(owner.uid)
            if known is not None and known.signature == signature:
                return BudgetOutcome(names)
        try:
            return self._sync(cluster, owner, wanted, signature, known, epoch, now)
        except _EndedError:
            return BudgetOutcome(names)

    def _remember(self, epoch: int, uid: str, known: _Known) -> None:
        with self._lock:
            if self._epochs.get(uid) == epoch:  # else the model's task ended meanwhile
                self._known[uid] = known

    def _sync(self, cluster: BudgetCluster, owner: Owner, wanted: Mapping[str, Mapping[str, Any]],
              signature: str, known: _Known | None, epoch: int,
              now: dt.datetime) -> BudgetOutcome:
        names = tuple(sorted(wanted))
        if (known is not None and known.failure is not None and known.tried == signature
                and known.next_try is not None and now < known.next_try):
            return BudgetOutcome(names, known.failure, False,
                                 (known.next_try - now).total_seconds(), waiting=known.waiting)
        previous_failure = known.failure if known is not None else None
        attempts = known.attempts if known is not None and known.tried == signature else 0
        errors: list[str] = []
        waiting: list[str] = []  # a budget of the name the model's predecessor left, for the GC
        listed_again: dt.datetime | None = None  # the namespace's LIST failed: tried then
        there: dict[str, str | None]
        if known is not None and known.budgets is not None:
            there = dict(known.budgets)
        else:
            try:
                there = self._listing(cluster, owner.namespace, owner.uid, epoch, now)
            except _UnlistedError as unlisted:
                if not wanted:
                    # Nothing wanted: nothing to say of it (docs: no condition without the
                    # field); any budget left from before is deleted at a pass after a LIST.
                    log.debug("UpliftModel %s/%s wants no PodDisruptionBudget; its namespace's "
                              "are not listed (%s)", owner.namespace, owner.name,
                              unlisted.failure)
                    return BudgetOutcome(names)
                errors.append(unlisted.failure)
                listed_again = unlisted.retry_at
                there = {}
        listed = not errors
        if not errors:
            for name, manifest in wanted.items():
                problem, uid, gc = self._apply(cluster, owner, name, manifest,
                                               ours=name in there)
                if problem is None:
                    there[name] = uid or there.get(name)
                else:
                    (waiting if gc else errors).append(problem)
            for name in sorted(there.keys() - wanted.keys()):
                problem = self._delete(cluster, owner, name, there[name])
                if problem is None:
                    del there[name]
                else:
                    errors.append(problem)
        if not errors and not waiting:
            self._remember(epoch, owner.uid, _Known(signature, there))
            if previous_failure is not None:
                log.info("UpliftModel %s/%s: its PodDisruptionBudgets are as wanted again (%s)",
                         owner.namespace, owner.name, ", ".join(names) or "none")
            return BudgetOutcome(names)
        failure = "; ".join(errors + waiting)
        attempts += 1
        base = RETRY_BASE_SECONDS if errors else WAIT_BASE_SECONDS
        wait = min(RETRY_CAP_SECONDS, base * 2 ** (attempts - 1))
        if listed_again is not None:
            wait = max(wait, (listed_again - now).total_seconds())
        self._remember(epoch, owner.uid,
                       _Known(None, there if listed else None, failure, attempts,
                              now + dt.timedelta(seconds=wait), signature, not errors))
        if errors:
            log.warning("UpliftModel %s/%s: PodDisruptionBudgets not as wanted (serving is not "
                        "affected; tried again in %.0f s): %s", owner.namespace, owner.name,
                        wait, failure)
            return BudgetOutcome(names, failure, failure != previous_failure, wait)
        log.info("UpliftModel %s/%s: PodDisruptionBudgets wait for the garbage collector "
                 "(tried again in %.0f s): %s", owner.namespace, owner.name, wait, failure)
        return BudgetOutcome(names, failure, False, wait, waiting=True)

    def _listing(self, cluster: BudgetCluster, namespace: str, uid: str, epoch: int,
                 now: dt.datetime) -> dict[str, str | None]:
        """The budgets of the model ``uid`` (their uids by name) in the operator's budgets of
        ``namespace``, listed once per namespace: a pass that needs the LIST while another
        pass sends it waits for its answer; listed again for a model paused since (``forget``)
        and after a failure, not before its backoff (``_UnlistedError`` meanwhile). Never sent
        for a pass whose epoch ended (``_EndedError``): sent during a peering pause, it would
        be taken as what the namespace holds after it. Empty from a cluster that cannot list
        (a test's)."""
        if not isinstance(cluster, ListsMetadata):
            return {}
        for _ in range(2):
            with self._lock:
                listing = self._listed.get(namespace)
                sends = False
                if listing is None or listing.done.is_set():
                    if (listing is not None and listing.owners is not None
                            and uid not in listing.stale):
                        return dict(listing.owners.get(uid, {}))
                    if (listing is not None and listing.failure is not None
                            and listing.next_try is not None and now < listing.next_try):
                        raise _UnlistedError(listing.failure, listing.next_try)
                    if self._epochs.get(uid) != epoch:
                        raise _EndedError
                    attempts = listing.attempts if listing is not None else 0
                    listing = _Listing(attempts=attempts)
                    self._listed[namespace] = listing
                    sends = True
            if sends:
                return self._list(cluster, namespace, uid, listing, now)
            listing.done.wait(LIST_WAIT_SECONDS)  # another pass's LIST of the namespace
        raise _UnlistedError(f"listing PodDisruptionBudgets of {namespace}: another pass's LIST "
                        f"still unanswered after {LIST_WAIT_SECONDS:.0f} s",
                        now + dt.timedelta(seconds=RETRY_BASE_SECONDS))

    def _list(self, cluster: ListsMetadata, namespace: str, uid: str, listing: _Listing,
              now: dt.datetime) -> dict[str, str | None]:
        """Send the namespace's LIST for ``listing`` (in flight), keep its answer or its
        failure, and let the passes waiting for it go on."""
        try:
            metas = cluster.list_metadata(disruption.API_VERSION, disruption.PLURAL, namespace,
                                          label_selector=SELECTOR)
        except Exception as error:
            wait = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** listing.attempts)
            failure = f"listing PodDisruptionBudgets: {error}"
            with self._lock:
                listing.failure = failure
                listing.attempts += 1
                listing.next_try = now + dt.timedelta(seconds=wait)
                listing.done.set()
                self._drop_unused(namespace)
            if not isinstance(error, KubeError):
                raise
            log.info("PodDisruptionBudgets of namespace %s not listed (listed again at a "
                     "model's pass after %.0f s): %s", namespace, wait, error)
            raise _UnlistedError(failure, listing.next_try) from error
        owners: dict[str, dict[str, str | None]] = {}
        for meta in metas:
            controller = _controller_uid(meta)
            if controller is not None and meta.get("name"):
                owners.setdefault(controller, {})[str(meta["name"])] = (
                    str(meta["uid"]) if meta.get("uid") else None)
        mine = dict(owners.get(uid, {}))
        with self._lock:
            for forgotten in listing.gone:  # forgotten while the LIST was out
                owners.pop(forgotten, None)
            listing.gone.clear()
            listing.owners = owners
            listing.attempts = 0  # a later failure backs off from the base again
            listing.done.set()
            self._drop_unused(namespace)
        return mine

    @staticmethod
    def _apply(cluster: BudgetCluster, owner: Owner, name: str, manifest: Mapping[str, Any], *,
               ours: bool) -> tuple[str | None, str | None, bool]:
        """Apply one budget: why not (None: applied), its uid (None: not known), and whether it
        waits for the garbage collector. One not known to be the model's is read first: a
        budget of that name someone else controls is not taken over; one being deleted, or
        controlled by an UpliftModel of the model's name deleted since (another uid: the model
        deleted and created again), is waited for. The uid is the apply's answer's (the object
        stored, created or updated), or, from an answer without one, read back once."""
        try:
            if not ours:
                live = cluster.get(disruption.API_VERSION, disruption.PLURAL, owner.namespace,
                                   name)
                meta = (live or {}).get("metadata") or {}
                if live is not None and _controller_uid(meta) != owner.uid:
                    if meta.get("deletionTimestamp") or _predecessor(meta, owner):
                        return (f"PodDisruptionBudget {owner.namespace}/{name} is still the "
                                f"previous UpliftModel {owner.name}'s (or being deleted): "
                                f"waiting for the garbage collector to delete it"), None, True
                    return (f"PodDisruptionBudget {owner.namespace}/{name} exists and is not "
                            f"this UpliftModel's: not taken over (delete it, or remove "
                            f"spec.serving.disruptionBudget)"), None, False
            answer = cluster.apply(manifest, disruption.PLURAL)
            uid = _uid(answer)
            if uid is None:
                live = cluster.get(disruption.API_VERSION, disruption.PLURAL, owner.namespace,
                                   name)
                if live is not None and _controller_uid(live.get("metadata") or {}) == owner.uid:
                    uid = _uid(live)
        except KubeError as error:
            return str(error), None, False
        return None, uid, False

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


def _predecessor(meta: Mapping[str, Any], owner: Owner) -> bool:
    """The budget's controller is an UpliftModel of ``owner``'s name and namespace that is not
    ``owner`` (another uid): one deleted, whose budgets the garbage collector deletes."""
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return (ref.get("kind") == owner.kind and ref.get("name") == owner.name
                    and str(ref.get("apiVersion") or "").split("/")[0]
                    == owner.api_version.split("/")[0]
                    and bool(ref.get("uid")) and ref.get("uid") != owner.uid)
    return False


def budget_condition(conditions: Sequence[Condition], outcome: BudgetOutcome, generation: int,
                     now: dt.datetime) -> list[Condition]:
    """``conditions`` with ``DisruptionBudgetApplied``: True while the budgets wanted are there,
    False (``DisruptionBudgetFailed``, why) while they are not; absent when none is wanted and
    none is left to delete. Not a problem ``domain.stuck`` counts: the phase is serving's."""
    if outcome.failure is not None:
        return cond.set_condition(conditions, type_=BUDGET_CONDITION, status="False",
                                  reason=BUDGET_WAITING if outcome.waiting else BUDGET_FAILED,
                                  message=_clip(outcome.failure), now=now,
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
