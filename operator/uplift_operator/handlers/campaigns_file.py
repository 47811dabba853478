"""The campaigns file of each UpliftModel: an index of Campaigns, a waiting task per model.

``campaigns_by_model`` keeps every Campaign (its spec, generation, phase, exposure and Ready
condition) in memory, keyed by (namespace, ``spec.modelRef.name``), updated by kopf from the
watch it already has, so no pass lists Campaigns. ``campaigns_file`` is one waiting task per
UpliftModel (``handlers.scheduling``): it renders the file of that model's Campaigns, with the
model's version split from its status, and writes the ``<model>-campaigns`` ConfigMap only when
its content changed (``services.campaigns_file``). ``handlers.watches`` wakes it when what it
reads changed: a Campaign's snapshot (of a Campaign that names the model, or named it before),
the model's version split, so a Campaign's spec change, its new exposure or phase (written by
its own pass), a Campaign moving to another model or deleted, a model recreated or its canary
weight changed reach the ConfigMap at once, with no API call when nothing changed, and a status
write that changes none of it (a gate's analysis) runs no pass. The operator also watches its
own campaigns ConfigMaps (selected by label on the API server: ``CAMPAIGNS_FILE_SELECTOR``, set
in ``handlers.lifecycle``): a pass compares with them in memory (one that is not there is read
once, then known absent: ``adapters.watched``; read again before the pass writes over that
absence), and a hand edit or deletion wakes the model's task, which undoes it at once. Nothing
is read back at the resync; one deleted while the watch was away is found by the existence
audit (``handlers.existence``), which wakes the task. A Campaign its own pass read back gone (its
status write answered 404, or 409 with the name another uid's: ``Wakeups.gone``) is left out of
the file at once, its model's task woken, although kopf's index keeps it until its DELETED
event, which a watch gap never brings (the audit then makes the process list afresh, two
audits later). One deleted in a gap whose pass writes nothing stays until then: the audit's
findings are not read here.

A Campaign the file does not carry as its spec says (its spec holds a value the runtime would
reject or that cannot be rendered: carried as refused, treating no one; its name is not one
the runtime serves a campaign under: left out) is said once per change: a Warning
``CampaignsNotRendered`` event on the UpliftModel naming each and why, a log line, and a pass
of the Campaign, whose status then says so (``services.campaigns_file.FileDependencies.
left_out``); a Normal ``CampaignsRendered`` when the file carries them all again.

A task of its own beside the UpliftModel pass (``handlers.upliftmodel``): it never patches the
UpliftModel, so the two never write the same object.

A write the API server refuses (RBAC, quota, a webhook) is retried, backing off, and made
visible: each pass is counted in ``uplift_operator_reconciles_total{kind="CampaignsFile"}``
(result ``error`` when refused), a Warning ``CampaignsFileNotWritten`` event on the UpliftModel
says why, once per new error text rather than at every retry, and a Normal
``CampaignsFileWritten`` event says when the file is written again. The model's
``uplift_operator_campaigns_file_undelivered`` is 1 from such a pass (or one held by a ConfigMap
not the model's) until a pass writes the file (the page UpliftCampaignsFileNotWritten): a
Campaign deleted meanwhile stays in the file the pods read, treating at its last exposure, while
its own series (``SettingsDelivered``'s) went with it. Its series goes with the model, or with
this task (a replica paused by peering).

A ``<model>-campaigns`` ConfigMap the model does not control is never written (the rule of the
UpliftModel pass for its graph and decision key): someone else's, or no one's, is refused the
same way (one Warning ``CampaignsFileNotWritten`` naming it and its controller, retried backing
off to every 5 min (``run_passes``), ``CampaignsFileWritten`` once it is gone or handed over); a predecessor's
(an UpliftModel of the same name, deleted, whose ConfigMap the garbage collector is removing)
holds the file without an error: one Normal ``PredecessorBeingDeleted`` event, a look again
in 2..30 s, backing off, and at once on its DELETED event. Not in the model's status: this task
never writes the UpliftModel.

A model being deleted (``deletionTimestamp`` set: a foreground deletion waits for its children)
gets no write: the garbage collector deletes its ConfigMap, whose DELETED event wakes the pass,
and applying it again (owned by the model, ``blockOwnerDeletion``) would fight the collector;
the UpliftModel pass stands aside the same way (``services.upliftmodel.reconcile``). When the
garbage collector deletes it (no finalizer left, or ``foregroundDeletion``/``orphan`` among
them: ``collected``), its ``uplift_operator_campaigns_file_undelivered`` series goes then: when
kopf stops this task (it runs no waiting task of an object being deleted), or at a pass still
running. Under a background deletion another tool's finalizer holds, its ConfigMap and pods
stay, treating at the last file, so the series stays at what the last pass found.

A ``<model>-campaigns`` ConfigMap not the model's is said (event, ``ReconcileErrors``) but
leaves the model's series at 0 while nothing is kept from the pods: the model has no Campaign
and no canary split, and that ConfigMap carries no campaigns file
(``services.campaigns_file.Synced.nothing_to_deliver``).
"""

from __future__ import annotations

import enum
import functools
import time
from typing import Any

import kopf

from uplift_operator.adapters.watched import label_selector
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.exposure import NotKnownYet
from uplift_operator.handlers import campaign, observability
from uplift_operator.handlers.common import deleted
from uplift_operator.handlers.common import now as wall_clock
from uplift_operator.handlers.scheduling import NamedPassError, run_passes, waiting_task
from uplift_operator.render import naming
from uplift_operator.render.naming import Owner
from uplift_operator.services import campaigns_file as service
from uplift_operator.services.upliftmodel import held_by_other_finalizers

FILE_KIND = "CampaignsFile"
#: The events on the UpliftModel when its campaigns file is refused, and written again after.
NOT_WRITTEN = "CampaignsFileNotWritten"
WRITTEN_AGAIN = "CampaignsFileWritten"
#: ... when its file has no room for some of its Campaigns, and when it holds all again.
FILE_FULL = "CampaignsFileFull"
FILE_FITS = "CampaignsFileFits"
#: ... when its file does not carry some of its Campaigns as their specs say (carried as
#: refused, or left out: ``render.campaigns.unfit``), and when it carries all of them again.
NOT_RENDERED = "CampaignsNotRendered"
RENDERED = "CampaignsRendered"
#: The labels of the operator's campaigns files (``render.campaigns.config_map`` labels them;
#: None: any value), which its watch of ConfigMaps selects by, and the store keeps
#: (``adapters.watched``, ``handlers.lifecycle``).
CAMPAIGNS_FILE_LABELS: dict[str, str | None] = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY,
                                                naming.MODEL_LABEL: None}
#: ``CAMPAIGNS_FILE_LABELS`` as the label selector of that watch, applied by the API server: its
#: own campaigns files, no other ConfigMap.
CAMPAIGNS_FILE_SELECTOR = label_selector(CAMPAIGNS_FILE_LABELS)

Key = tuple[str, str]  # (namespace, UpliftModel name)
_clock = time.monotonic  # how long a predecessor's ConfigMap has held a file


class _Skipped(enum.Enum):
    """A file pass that decided nothing: its model deleted while it waited for the pool."""

    GONE = "gone"


class FileNotWrittenError(NamedPassError):
    """The campaigns file's ConfigMap could not be written (the API server said why: ``cause``),
    or was not, being someone else's (``refused``: ``cause`` says whose)."""

    def __init__(self, message: str, cause: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.refused = refused


@kopf.index(GROUP, VERSION, "campaigns")
def campaigns_by_model(body: kopf.Body, namespace: str | None, spec: kopf.Spec,
                       **_: Any) -> dict[Key, dict[str, Any]]:
    model = (spec.get("modelRef") or {}).get("name")
    if not model or not namespace:
        return {}
    return {(namespace, str(model)): service.snapshot(body)}


@waiting_task(GROUP, VERSION, "upliftmodels", cancellation_timeout=5.0)
async def campaigns_file(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger,
                         **kwargs: Any) -> None:
    index: kopf.Index[Key, dict[str, Any]] = kwargs["campaigns_by_model"]  # kopf passes it
    meta = body.metadata
    owner = Owner(name=str(meta.name), namespace=str(meta.namespace), uid=str(meta.uid))

    config_map = naming.campaigns_config_map(owner.name)
    failing: str | None = None  # the error of the last pass, while the writes are refused
    held_since: float | None = None  # when a predecessor's ConfigMap began to hold the file
    left_out: tuple[str, ...] = ()  # the Campaigns the file had no room for, at the last pass
    unfit: tuple[tuple[str, str], ...] = ()  # those it did not carry as their spec says, why
    stale: tuple[str, ...] = ()  # those it carried at their entry from before an edit

    def write(gone: frozenset[str]) -> service.Synced | _Skipped | None:
        if memo["wakeups"].finished(file_key(owner.namespace, owner.name), owner.uid):
            # The model's DELETED event came while this pass waited for a thread of the pool
            # (``Wakeups.finished``): its ConfigMap is not written again (an owner reference to
            # the deleted uid: the garbage collector's to delete again), nor its absence read
            # and remembered after ``handlers.watches`` dropped it. One that came while
            # ``sync`` runs is not seen (the task's end drops what it remembered).
            return _Skipped.GONE
        if body.metadata.get("deletionTimestamp"):
            # Being deleted (a foreground deletion waits for its children): the garbage
            # collector removes the ConfigMap, whose DELETED event wakes this pass; applying it
            # again would fight the collector (the model's own pass stands aside the same way).
            return None
        # A Campaign a pass found deleted (read back 404: ``Wakeups.gone``) is left out, as its
        # DELETED event would: one deleted during a watch gap gets no such event, and kopf's
        # index keeps it until the process lists afresh (the existence audit's exit).
        found = [snapshot for snapshot in index.get((owner.namespace, owner.name), [])
                 if str((snapshot.get("metadata") or {}).get("uid")) not in gone]
        status = body.get("status")
        split = service.version_split(status, body.get("spec"))
        synced = service.sync(owner, found, file_dependencies(memo), split, new_model=not status,
                              now=wall_clock())
        if synced.error is not None:
            # A failed pass is run again soon, backing off (``run_passes``): the write may be
            # what stops the pods treating (a rollback to 0 %, a suspension), and nothing else
            # need change to wake it.
            raise FileNotWrittenError(f"campaigns file of {owner.namespace}/{owner.name} not "
                                      f"written: {synced.error}", synced.error,
                                      refused=synced.conflict is not None)
        if synced.changed:
            logger.info("campaigns file of %s/%s written: %d campaigns (%s), %d active%s",
                        owner.namespace, owner.name, len(synced.campaigns),
                        _some(synced.campaigns), len(synced.active),
                        f", {len(synced.left_out)} left out (no room)" if synced.left_out
                        else "")
        return synced

    def held(conflict: status_logic.Conflict, now: float) -> float:
        """A predecessor's ConfigMap holds the file: said once; looked at again after as long
        as it has held (2..30 s), and at once when its DELETED event wakes the pass
        (``handlers.watches``)."""
        nonlocal held_since
        if held_since is None:
            held_since = now
            logger.info("campaigns file of %s/%s held: %s", owner.namespace, owner.name,
                        conflict.message)
            kopf.event(body, type="Normal", reason=conflict.reason,
                       message=f"campaigns file not written yet: {conflict.message}")
        return min(max(now - held_since, status_logic.PREDECESSOR_RETRY_MIN_SECONDS),
                   status_logic.PREDECESSOR_RETRY_MAX_SECONDS)

    # Why the file was not written, as the Campaigns were told.
    undelivered: str | NotKnownYet | None = None

    def tell_campaigns() -> None:
        """The file's reach changed (written again, or not), or a Campaign's pass ran before
        the model's first file pass in this process, not knowing it (a restart): each
        Campaign's pass says so (``SettingsDelivered``)."""
        nonlocal undelivered
        files = file_dependencies(memo)
        now = files.undelivered(owner.namespace, owner.name)
        first = files.first_told(owner.namespace, owner.name)
        if now != undelivered or first:
            undelivered = now
            for snapshot in index.get((owner.namespace, owner.name), []):
                memo["wakeups"].wake((campaign.KIND, owner.namespace,
                                      str(snapshot["metadata"]["name"])))

    async def one_pass() -> float | None:
        skipped = False
        try:
            found = await attempt()
            if found is _Skipped.GONE:
                skipped = True  # ``forget_file`` dropped its series and what is kept of it
                logger.debug("campaigns file of %s/%s: the model was deleted while its pass "
                             "waited for the pass pool: not written", owner.namespace,
                             owner.name)
                return None
            return found
        finally:
            if not skipped:
                after_pass()

    def after_pass() -> None:
        # Whether this pass left the file unwritten (refused, or held by a ConfigMap not
        # the model's), kept until one writes it: a Campaign deleted meanwhile has no
        # SettingsDelivered of its own left to say the pods still treat under it.
        if collected(body):
            # The garbage collector deleting it: no pass writes its file any more
            # (``write``), and its pods go with it: its series goes now, not at its DELETED
            # event (a foreground deletion may wait long for its children). Under another
            # tool's finalizer the pods stay, treating at the last file: the series stays.
            observability.forget_campaigns_file(owner.namespace, owner.name)
        else:
            observability.campaigns_file_undelivered(
                owner.namespace, owner.name,
                (owner.namespace, owner.name) in file_dependencies(memo).unwritten)
        tell_campaigns()

    async def attempt() -> float | _Skipped | None:
        nonlocal failing, left_out, unfit, stale, held_since
        with observability.reconciling(FILE_KIND, owner.namespace, owner.name,
                                       last_pass=False) as outcome:
            try:
                synced = await memo["wakeups"].in_pool(
                    file_key(owner.namespace, owner.name), memo["pass_executor"],
                    functools.partial(write, memo["wakeups"].read_gone(campaign.KIND)))
                if synced is _Skipped.GONE:
                    outcome.result = "gone"
                    return synced
            except FileNotWrittenError as error:
                held_since = None
                # Said once per cause: the retries (1 s .. 5 min) repeat it in the log only.
                if error.cause != failing:
                    kopf.event(body, type="Warning", reason=NOT_WRITTEN,
                               message=f"campaigns file not written: {error.cause}"
                               if error.refused else
                               f"campaigns file not written to ConfigMap {config_map}"
                               f" (the pods keep its previous content, if any); "
                               f"retrying: {error.cause}")
                failing = error.cause
                raise
        if synced is None:  # the model is being deleted: nothing written, nothing told
            return None
        if synced.conflict is not None:  # a predecessor's ConfigMap: held, not failing
            return held(synced.conflict, _clock())
        held_since = None
        if failing is not None:
            kopf.event(body, type="Normal", reason=WRITTEN_AGAIN,
                       message=f"campaigns file written to ConfigMap {config_map} again, "
                               f"after: {failing}")
            failing = None
        if synced.left_out != left_out:
            _tell_left_out(body, memo, owner, config_map, left_out, synced.left_out)
            left_out = synced.left_out
        if synced.unfit != unfit:
            _tell_unfit(body, memo, owner, config_map, unfit, synced.unfit, logger)
            unfit = synced.unfit
        # A Campaign whose spec edit the file has no room for (it carries the entry from
        # before), or has room for again: its pass holds its ramp, or releases it.
        for name in set(stale) ^ set(synced.stale):
            memo["wakeups"].wake((campaign.KIND, owner.namespace, name))
        stale = synced.stale
        return None  # woken by its Campaigns and its model (handlers.watches)

    def found_gone(key: tuple[str, str, str], uid: str) -> None:
        """A pass found a Campaign of this model gone: the file leaves it out at once."""
        if key[0] == campaign.KIND and key[1] == owner.namespace and any(
                str((snapshot.get("metadata") or {}).get("uid")) == uid
                for snapshot in index.get((owner.namespace, owner.name), [])):
            memo["wakeups"].wake(file_key(owner.namespace, owner.name))

    unlisten = memo["wakeups"].listen_gone(found_gone)
    try:
        await run_passes(file_key(owner.namespace, owner.name), memo["wakeups"], one_pass,
                         uid=owner.uid)
    finally:
        unlisten()
        stopped = getattr(kwargs.get("stopped"), "reason", None)
        paused = stopped is not None and kopf.DaemonStoppingReason.OPERATOR_PAUSING in stopped
        if held_by_other_finalizers(body) and not paused:
            # Stopped by kopf as a background deletion began that another tool's finalizer
            # holds: the ConfigMap and the pods stay, possibly for hours, treating at the last
            # file no pass writes any more. What the last pass found (the series, the unwritten
            # cause its Campaigns say) stays until the model's DELETED event (``forget_file``;
            # the finalizer is off the live ``body`` by then).
            pass
        # What a pass still running when the model's DELETED event came wrote back (its
        # left-out and unwritten causes, by name) must not greet a model created again.
        elif file_key(owner.namespace, owner.name) not in memo["wakeups"]:
            service.forget(owner, file_dependencies(memo))
            # Deleted, or paused by peering (the acting replica exports its own).
            observability.forget_campaigns_file(owner.namespace, owner.name)
            # A pass still running when the model's DELETED event dropped the ConfigMap's
            # absence (``handlers.watches.model_changed``) may have found it absent again
            # since: kept for the process's life, nothing else would drop it. Paused (kopf
            # pauses the whole operator for a moment at each namespace newly matching a
            # ``--namespace`` pattern) or exiting, it is kept: it still holds, and dropped it
            # cost a GET per model after every such pause.
            if not paused and not (
                    stopped is not None
                    and kopf.DaemonStoppingReason.OPERATOR_EXITING in stopped):
                forget_absent_file(memo, owner.namespace, owner.name)
        elif collected(body):
            # Stopped by kopf as the model's deletion began (it runs no waiting task of an
            # object being deleted; ``body`` is its live view): no pass writes the file any
            # more, and a foreground deletion may hold back its DELETED event for long.
            observability.forget_campaigns_file(owner.namespace, owner.name)


def collected(body: kopf.Body) -> bool:
    """Whether the garbage collector is deleting the model (``deletionTimestamp`` set, and no
    finalizer left or one of its own among them: a foreground or orphan deletion), so its
    ConfigMap and pods go with it and its ``uplift_operator_campaigns_file_undelivered`` series
    is dropped. Not a background deletion another tool's finalizer holds
    (``held_by_other_finalizers``): its children stay, possibly for hours, the pods treating at
    the last file, which no pass writes any more (``write``), so an unwritten file is said on."""
    return bool(body.metadata.get("deletionTimestamp")) and not held_by_other_finalizers(body)


def _tell_left_out(body: kopf.Body, memo: kopf.Memo, owner: Owner, config_map: str,
                   before: tuple[str, ...], now: tuple[str, ...]) -> None:
    """The file's room changed: an event on the model, and a pass of each Campaign left out or
    let in (its status says whether it can be delivered: ``services.campaign``)."""
    if now:
        kopf.event(body, type="Warning", reason=FILE_FULL,
                   message=f"campaigns file in ConfigMap {config_map} is full (ConfigMaps hold "
                           f"at most 1 MiB): {len(now)} Campaign(s) left out (the newest "
                           f"first), not delivered, "
                           f"requests naming them answered 404 unknown_campaign: {_some(now)}")
    else:
        kopf.event(body, type="Normal", reason=FILE_FITS,
                   message=f"campaigns file in ConfigMap {config_map} holds every Campaign "
                           f"again")
    for name in set(before) ^ set(now):
        memo["wakeups"].wake((campaign.KIND, owner.namespace, name))


def _tell_unfit(body: kopf.Body, memo: kopf.Memo, owner: Owner, config_map: str,
                before: tuple[tuple[str, str], ...], now: tuple[tuple[str, str], ...],
                logger: kopf.Logger) -> None:
    """Which Campaigns the file does not carry as their spec says changed: an event on the
    model, a log line, and a pass of each Campaign whose lot changed (its status says it)."""
    if now:
        logger.warning("campaigns file of %s/%s: %s", owner.namespace, owner.name,
                       "; ".join(f"Campaign {name}: {why}" for name, why in now))
        shown = "; ".join(f"{name}: {why}" for name, why in now[:3])
        more = f"; and {len(now) - 3} more" if len(now) > 3 else ""
        kopf.event(body, type="Warning", reason=NOT_RENDERED,
                   message=f"campaigns file in ConfigMap {config_map} does not carry "
                           f"{len(now)} Campaign(s) as their spec says: {shown}{more}")
    else:
        kopf.event(body, type="Normal", reason=RENDERED,
                   message=f"campaigns file in ConfigMap {config_map} carries every Campaign "
                           f"as its spec says again")
    for name in {name for name, _ in set(before) ^ set(now)}:
        memo["wakeups"].wake((campaign.KIND, owner.namespace, name))


def _some(names: tuple[str, ...], shown: int = 10) -> str:
    """Up to ``shown`` names, and how many more (a file of thousands would flood a line)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def file_key(namespace: str, model: str) -> tuple[str, str, str]:
    """The waiting task of a model's campaigns file."""
    return (FILE_KIND, namespace, model)


@kopf.on.event(GROUP, VERSION, "upliftmodels", when=deleted)
async def forget_file(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """The model is gone (its DELETED watch event, on the event loop; see
    ``handlers.upliftmodel.forget``). What is kept by name (the file full, Campaigns unfit,
    unwritten, passed, held) is dropped only when no model of the same name runs: one created
    again before this event was handled has had its own file pass, whose state must stay
    (``Wakeups.finish``)."""
    owner = Owner(name=str(meta.get("name")), namespace=str(meta.get("namespace")),
                  uid=str(meta.get("uid")))
    deps = file_dependencies(memo)
    if memo["wakeups"].finish(file_key(owner.namespace, owner.name), owner.uid):
        service.forget(owner, deps)
        observability.forget_campaigns_file(owner.namespace, owner.name)
    else:  # what is kept of this model by its uid goes all the same
        deps.written.pop((owner.namespace, owner.name, owner.uid), None)


def forget_absent_file(memo: kopf.Memo, namespace: str, model: str) -> None:
    """The watched store no longer remembers that ``model``'s campaigns ConfigMap is absent
    (``adapters.watched``: one more read the next time a pass looks for it)."""
    objects = memo.get("watched_objects")
    if objects is not None:
        objects.forget_absent("configmaps", namespace, naming.campaigns_config_map(model))


def file_dependencies(memo: kopf.Memo) -> service.FileDependencies:
    """Built once from the UpliftModel pass's cluster adapter (handlers.lifecycle)."""
    deps = memo.get("campaigns_file_dependencies")
    if deps is None:
        models = memo["uplift_dependencies"]
        deps = service.FileDependencies(cluster=models.cluster,
                                        propagation_grace=models.split_propagation_grace)
        memo["campaigns_file_dependencies"] = deps
    assert isinstance(deps, service.FileDependencies)
    return deps
