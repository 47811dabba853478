"""Campaign handlers: thin glue around ``services.campaign``: pass → events → one status patch.

One waiting task per Campaign (``handlers.scheduling``): a pass runs when the Campaign's spec
or annotations change, when its UpliftModel changes (``handlers.watches`` wakes the Campaigns
that follow a model), and when something becomes due (an analysis, a step's end, the
schedule's start or end, a budget period's rollover). A Campaign may be applied before its
UpliftModel (GitOps syncs in any order): it waits, Progressing at 0 % exposure, and the model's
creation wakes it. A pass that observes nothing new writes nothing.

Each pass is given the draws of the other Campaigns of its model that draw with its salt
(``SaltBook``, kept by ``handlers.watches.campaign_changed``), for ``HoldoutShared``
(``domain.shared_draws``); a Campaign created, moved or deleted with that salt wakes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kopf

from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.domain.shared_draws import Draw
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import PassRunner, config_of, deleted, runner, task_ended
from uplift_operator.handlers.scheduling import run_passes, waiting_task
from uplift_operator.services import campaign as service
from uplift_operator.services.common import PassResult

KIND = "Campaign"
PLURAL = "campaigns"


@waiting_task(GROUP, VERSION, PLURAL, cancellation_timeout=5.0)
async def reconcile(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped | None = None,
                    **_: Any) -> None:
    passes: PassRunner = runner(memo, KIND, PLURAL)
    meta = body.metadata
    key = (KIND, str(meta.namespace), str(meta.name))
    deps = campaign_dependencies(memo)
    book = salt_book(memo)

    async def one_pass() -> float | None:
        # On the event loop, where the watch keeps the book: the pool gets plain values.
        own = service.holdout_draw(body)
        draws = book.drawing_with(own) if own is not None else ()

        def decide(snapshot: dict[str, Any], now: Any) -> PassResult:
            return service.reconcile(snapshot, deps, now, draws=draws)

        return await passes.run_once(key, body, decide, _observer(body))

    try:
        await run_passes(key, passes.wakeups, one_pass, uid=str(meta.uid))
    finally:
        paused = task_ended(key, passes.wakeups, stopped, str(meta.uid))
        # A pass that ran while the object was deleted recorded its status signature and its
        # own write after ``forget``: dropped here, or kept for a uid that never comes back.
        # Paused by peering, the events of a pass whose status write's answer was lost stay.
        passes.forget(key, str(meta.uid), name_free=key not in passes.wakeups, paused=paused)
        reason = stopped.reason if stopped is not None else None
        exiting = reason is not None and kopf.DaemonStoppingReason.OPERATOR_EXITING in reason
        if key not in passes.wakeups and not paused and not exiting:
            # A pass running when its DELETED event came may have found its model absent after
            # ``handlers.watches.campaign_changed`` dropped that (a namespace deleted: the model
            # goes too): kept for the process's life, nothing else would drop it. (A pass
            # queued in the pool then decides nothing: ``Wakeups.finished``.) Paused (kopf
            # pauses the whole operator for a moment at each namespace newly matching a
            # ``--namespace`` pattern) or exiting, the absence is kept: it still holds.
            model = str(((body.get("spec") or {}).get("modelRef") or {}).get("name") or "")
            objects = memo.get("watched_objects")
            if model and objects is not None:
                objects.forget_absent("upliftmodels", str(meta.namespace), model)


def _observer(body: kopf.Body) -> Callable[[str, str, dict[str, Any]], None]:
    """The metrics of a pass's status, with the Campaign's spec as it is then (which of its
    gates are budget gates, still measured once the ramp completed)."""
    return lambda namespace, name, status: _observe(namespace, name, status,
                                                    dict(body.get("spec") or {}))


def _observe(namespace: str, name: str, status: dict[str, Any], spec: dict[str, Any]) -> None:
    observability.observe_campaign(namespace, name, status,
                                   service.measured_gates(spec, status),
                                   str((spec.get("modelRef") or {}).get("name") or ""))
    observability.observe_status(KIND, namespace, name, status)


def campaign_dependencies(memo: kopf.Memo) -> service.CampaignDependencies:
    """The Campaign pass's adapters: the UpliftModel's, shared (built once at start-up), its
    registry clients and resolver cache included (a drift gate's training reference), and
    which Campaigns the models' campaigns files have no room for."""
    salt_book(memo)  # made here, at start-up, in the memo every object's copy shares
    deps = memo.get("campaign_dependencies")
    if deps is None:
        uplift = memo["uplift_dependencies"]
        files = memo["campaigns_file_dependencies"]  # made first (handlers.lifecycle)
        deps = service.CampaignDependencies(
            cluster=uplift.cluster, prometheus=uplift.prometheus,
            metric_templates=config_of(memo).metric_templates, models=uplift,
            left_out=files.left_out, undelivered=files.undelivered,
            carried_since=files.carried_since, delivered_at=files.delivered_at)
        memo["campaign_dependencies"] = deps
    assert isinstance(deps, service.CampaignDependencies)
    return deps


@dataclass
class SaltBook:
    """Which Campaigns draw with which salt, by namespace and model: kept by the Campaign watch
    (``handlers.watches.campaign_changed``: every event, deletions included) and read by each
    pass before it goes to the pool, both on the event loop. Finding the Campaigns that share
    one's salt costs O(those): a scan of the model's Campaigns in the index, at each pass and
    each event, would be quadratic in them (a model's file holds up to 4,096)."""

    _members: dict[tuple[str, str, str], dict[str, Draw]] = field(default_factory=dict)
    _of: dict[tuple[str, str], Draw] = field(default_factory=dict)

    def place(self, namespace: str, name: str, found: Draw | None) -> tuple[Draw, ...]:
        """Record the draw of Campaign ``namespace/name`` (None: deleted, or naming no model);
        the draws whose Campaigns it joined or left: none when it stays where it was."""
        before = self._of.get((namespace, name))
        if before == found:
            return ()
        if before is not None:
            group = (before.namespace, before.model, before.salt)
            members = self._members[group]
            del members[name], self._of[(namespace, name)]
            if not members:
                del self._members[group]
        if found is not None:
            self._members.setdefault((found.namespace, found.model, found.salt),
                                     {})[name] = found
            self._of[(namespace, name)] = found
        return tuple(draw for draw in (before, found) if draw is not None)

    def drawing_with(self, draw: Draw) -> tuple[Draw, ...]:
        """The draws recorded of ``draw``'s namespace, model and salt, its own included."""
        return tuple(self._members.get((draw.namespace, draw.model, draw.salt), {}).values())


def salt_book(memo: kopf.Memo) -> SaltBook:
    """The process's book, made with the pass's dependencies (``campaign_dependencies``, at
    start-up, before kopf copies the memo per object: one made later would be one object's)."""
    book = memo.get("salt_book")
    if book is None:
        book = memo["salt_book"] = SaltBook()
    assert isinstance(book, SaltBook)
    return book


@kopf.on.event(GROUP, VERSION, PLURAL, when=deleted)
async def forget(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """Drop what this process keeps of a deleted Campaign (on the watch's DELETED event, on the
    event loop: see ``handlers.upliftmodel.forget``)."""
    namespace, name, uid = str(meta.get("namespace")), str(meta.get("name")), str(meta.get("uid"))
    key = (KIND, namespace, name)
    # First: whether a Campaign of the same name already runs (created again before this
    # event was handled), whose name-keyed state must stay.
    name_free = memo["wakeups"].finish(key, uid)
    runner(memo, KIND, PLURAL).forget(key, uid, name_free=name_free)
    if name_free:
        observability.forget(KIND, namespace, name)
