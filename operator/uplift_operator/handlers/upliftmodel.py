"""UpliftModel handlers: one waiting task per UpliftModel, a pass when due or woken.

The lifecycle depends on things outside the object (MLflow aliases, Prometheus, the serving
graph), so the pass is level-based: it observes everything and decides from scratch. It runs
when something it depends on changes (its spec or annotations, its SeldonDeployment: see
``handlers.watches``) and when something becomes due (``PassResult.requeue_after``: an
analysis, a step's end, the deadline; a move of its alias that the shared poller found wakes
it, ``handlers.registry_polling``) — never on a fixed cadence (``handlers.scheduling``).
A pass that observes nothing new writes nothing: its status is one merge patch, only of what
changed.

Every UpliftModel's event also says which promotion alias it moves (``promotion_alias_claims``,
a kopf index: kopf runs no other handler until the objects listed at start are indexed, so the
first passes already know every claimant): of two that move one alias, the younger's MLflow
writes are withheld (``services.writeback.AliasClaims``), and a model whose standing changed is
woken. A replica paused by peering holds its resources' MLflow writes, untried
(``WriteBack.pause``), and a pass that reads a status another process wrote drops what is
queued and remembered of its model (``fence_foreign_status``; one that reads the status this
process left lets the held writes go on): a replica that stopped acting never lands an older
decision. A
deleted UpliftModel's canary is tagged ``retired`` at its DELETED event (``forget``): there is
no finalizer, so it is the last word the operator has of it. One being deleted that another
tool's finalizer holds has its canary's traffic withdrawn at its watch events
(``withdraw_held``): kopf runs no waiting task of an object being deleted.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import kopf

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import PassRunner, deleted, now, runner, task_ended
from uplift_operator.handlers.scheduling import (
    PREDECESSOR_WAIT_SECONDS,
    NamedPassError,
    Wakeups,
    run_passes,
    waiting_task,
)
from uplift_operator.handlers.watches import alias_followers
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel as service
from uplift_operator.services.common import PassResult
from uplift_operator.services.writeback import Owner, WriteBack

KIND = "UpliftModel"
PLURAL = "upliftmodels"
#: The serving graphs (their events retry a held model's withdrawal: ``withdraw_held_at_graph``).
_GRAPHS = SeldonV1Backend()
_GRAPH_GROUP, _GRAPH_VERSION = _GRAPHS.api_version.split("/")

logger = logging.getLogger(__name__)


@waiting_task(GROUP, VERSION, PLURAL, cancellation_timeout=5.0)
async def reconcile(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped | None = None,
                    **_: Any) -> None:
    passes: PassRunner = runner(memo, KIND, PLURAL)
    meta = body.metadata
    key = (KIND, str(meta.namespace), str(meta.name))
    deps = memo["uplift_dependencies"]
    followers = alias_followers(memo)
    uid = str(meta.uid)
    # This task's epoch of the model's PodDisruptionBudgets, taken before any of its passes is
    # queued: once the task ends (``forget`` below), a pass of it whose thread still runs keeps
    # nothing of them, and makes no call there if it reaches them only then.
    budgets = getattr(deps, "disruption_budgets", None)  # a test's stand-in may have none
    epoch = budgets.begin(uid) if budgets is not None else None

    def decide(snapshot: dict[str, Any], now: Any) -> PassResult:
        fence_foreign_status(passes, deps.write_back, key, snapshot)
        # A follower of the alias before the pass resolves it: the resolver keeps the client
        # this pass leaves (``Resolver.forget_alias``), even if the alias's last other
        # follower leaves meanwhile; registered after, the client was dropped by that leave,
        # and the alias not polled until this model's next pass.
        followers.follow(key, service.followed_alias(snapshot, deps))
        result = service.reconcile(snapshot, deps, now, budget_epoch=epoch)
        deps.resolver.follow_versions(key, service.followed_versions(snapshot, result.status,
                                                                     deps))
        return result

    try:
        await run_passes(key, passes.wakeups,
                         lambda: passes.run_once(key, body, decide, _observer(body)),
                         uid=uid)
    finally:
        paused = task_ended(key, passes.wakeups, stopped, uid)
        # Deleted or paused (another replica may act on it): what this process knows of its
        # PodDisruptionBudgets is dropped, and this task's epoch ends (a pass of it still in
        # the pool keeps nothing of them, and makes no call there if it reaches them only
        # then); paused, its next pass here lists them again rather than take them as this process
        # left them.
        if budgets is not None:
            budgets.forget(uid, str(meta.namespace), paused=paused, epoch=epoch)
        if paused:
            # Paused by peering: another replica may act on it now. Its MLflow writes are
            # held, untried, until its next pass here reads whose status it is
            # (``fence_foreign_status``): the status this process left is kept for that.
            deps.write_back.pause(key)
        left = (passes.own_statuses.get(uid), passes.sent_statuses.get(uid))
        # A pass that ran while the object was deleted recorded after ``forget``: its status
        # signature and its own write (see ``PassRunner.forget``), its alias
        # followed (the poller kept its cadence) and its decision key known.
        deps.decision_keys.pop((str(meta.namespace), str(meta.name), uid), None)
        deps.decision_keys_recreated.pop((str(meta.namespace), str(meta.name), uid), None)
        if not paused:
            # Deleted (or the process exiting). Paused by peering, what a pass here applied
            # with its status write outstanding is kept, as the status it left is
            # (``_keep_status_left``): it matches only while no replica wrote a status or
            # applied a graph since, when that graph is still this process's decision.
            service.forget_unwritten(deps, uid)
        passes.forget(key, uid, name_free=key not in passes.wakeups, paused=paused)
        if paused:
            _keep_status_left(passes, uid, *left)
        if key not in passes.wakeups:  # no task of the name runs: it follows nothing
            followers.forget(key)
            deps.resolver.unfollow_versions(key)
            deps.unresolved.cleared(key)
        reason = stopped.reason if stopped is not None else None
        exiting = reason is not None and kopf.DaemonStoppingReason.OPERATOR_EXITING in reason
        if key not in passes.wakeups and not paused and not exiting:
            # Deleted, it no longer holds a roll slot or waits for one: a pass running when
            # the DELETED event's ``forget`` freed them (``Rolls.found``, ``Rolls.admit``) took
            # them again, held until the roll timeout (10 min) from the live models'
            # re-renders, then counted as timed out. (A pass queued in the pool then decides
            # nothing: ``Wakeups.finished``.) Paused (kopf pauses the whole operator for a
            # moment at each namespace newly matching a ``--namespace`` pattern) or exiting,
            # all is kept: a stuck roll's timeout runs on, the rolls already counted
            # (``--max-concurrent-graph-rolls``) stay counted, the absences stay known.
            rolls = getattr(deps, "rolls", None)  # a test's stand-in may have none
            if rolls is not None:
                rolls.forget(key, now())
            # Nor does it look for its graph: an absence such a pass found is not kept.
            objects = memo.get("watched_objects")
            if objects is not None:
                objects.forget_absent(_GRAPHS.plural, key[1], key[2])


def _keep_status_left(passes: PassRunner, uid: str, own: str | None,
                      sent: str | None) -> None:
    """The status a paused task's last pass left (and one it sent whose answer was lost) is
    kept past ``PassRunner.forget``, for ``fence_foreign_status`` at its next pass (the events
    of the passes whose answer was lost ``forget`` keeps itself for a paused task)."""
    if own is not None:
        passes.own_statuses.setdefault(uid, own)
    if sent is not None:
        passes.sent_statuses.setdefault(uid, sent)


def fence_foreign_status(passes: PassRunner, write_back: WriteBack, key: Owner,
                         snapshot: dict[str, Any]) -> bool:
    """Before a pass decides: a status this process did not write (another replica acted on
    the resource while this one was cut off, or paused and resumed) drops what the write-back
    holds of the resource (``WriteBack.superseded``): its older queued writes never land after
    the other replica's, and its memory of values written never skips one the other replica's
    decisions made needed. Writes held since a pause of its task (``WriteBack.pause``) go on
    when the status is the one this process left; with no status of this object known here
    (another object of the name, a pause before any pass), they are dropped as for another's.
    Whether they were dropped."""
    uid = str((snapshot.get("metadata") or {}).get("uid") or "")
    if passes.foreign_status(uid, snapshot.get("status")):
        logger.info("%s %s/%s: its status was written by another process; its MLflow "
                    "write-back pending here is dropped and its registry state taken from that "
                    "status", *key)
    elif not write_back.paused(key):
        return False
    elif uid in passes.own_statuses:  # the status it left: nobody acted during the pause
        write_back.resume(key)
        return False
    else:
        logger.info("%s %s/%s: paused by peering with no status of this object known here; "
                    "its MLflow write-back held here is dropped and its registry state taken "
                    "from its status", *key)
    write_back.superseded(key)
    return True


@kopf.index(GROUP, VERSION, PLURAL)
async def promotion_alias_claims(body: kopf.Body, memo: kopf.Memo,
                                 **_: Any) -> dict[tuple[str, str, str], str]:
    """At every event of every UpliftModel, the promotion alias it moves claimed in
    ``AliasClaims``, which wakes the models whose standing that changed
    (``follow_alias_claims``). A claim ends at the DELETED event (``forget``), not at the
    deletion's start: the model's canary is retired then, before a younger model's registry
    state is submitted; a holder's, for others, ``RECREATE_GRACE`` later, so that an object of
    its name created again holds the alias still. A kopf index for kopf's start-up gate: every
    listed object is claimed before any pass runs, so a younger model's first pass after a
    restart does not write before the older one is known. kopf's own copy (target → name) is
    not read. On the event loop, not kopf's thread pool: a few dictionary operations per
    event."""
    meta = body.metadata
    deps = memo["uplift_dependencies"]
    target = service.promotion_alias_target(body, deps.default_tracking_uri)
    namespace, name = str(meta.namespace), str(meta.name)
    deps.alias_claims.claim((KIND, namespace, name), str(meta.uid),
                            str(meta.get("creationTimestamp") or ""), target, now())
    return {target: f"{namespace}/{name}"} if target is not None else {}


def follow_alias_claims(memo: kopf.Memo) -> None:
    """Once, at start-up (``handlers.lifecycle.share_process_state``): a model whose promotion
    alias another, older model starts or stops moving (or was deleted, or created again) is
    woken, so that its status says so and, freed, it submits its registry state again; and one
    whose edit made it the holder of an alias, which submits its registry state for it."""
    if memo.get("alias_claims_followed"):
        return
    memo["alias_claims_followed"] = True
    loop, wakeups = asyncio.get_running_loop(), memo["wakeups"]

    def changed(owners: Sequence[tuple[str, str, str]]) -> None:
        for owner in owners:
            loop.call_soon_threadsafe(wakeups.wake, owner)

    memo["uplift_dependencies"].alias_claims.on_change.append(changed)


def start_write_back(memo: kopf.Memo) -> None:
    """Once, at start-up (``handlers.lifecycle.share_process_state``): the MLflow write-back
    worker runs, and wakes a resource's pass when its write-back starts or stops failing (its
    RegistryWrittenBack condition follows at once); its backlog is on /metrics."""
    if memo.get("write_back_started"):
        return
    memo["write_back_started"] = True
    loop, wakeups = asyncio.get_running_loop(), memo["wakeups"]
    write_back = memo["uplift_dependencies"].write_back

    def changed(owners: Sequence[tuple[str, str, str]]) -> None:
        for owner in owners:
            loop.call_soon_threadsafe(wakeups.wake, owner)

    write_back.on_change.append(changed)
    observability.observe_write_back(write_back)
    write_back.start()


def follow_rolls(memo: kopf.Memo) -> None:
    """Once, at start-up (``handlers.lifecycle.share_process_state``): a model whose re-render
    waits for a slot among the graphs rolling at once is woken when one frees for it, and one
    whose roll timed out is woken to say so (``services.rolls``); the operator's metrics read
    the rolls."""
    if memo.get("rolls_followed"):
        return
    memo["rolls_followed"] = True
    loop, wakeups = asyncio.get_running_loop(), memo["wakeups"]
    rolls = memo["uplift_dependencies"].rolls

    def changed(owners: Sequence[tuple[str, str, str]]) -> None:
        for owner in owners:
            loop.call_soon_threadsafe(wakeups.wake, owner)

    rolls.on_change.append(changed)
    rolls.on_timeout.append(lambda _owner: observability.graph_roll_timed_out())
    observability.observe_rolls(rolls)


def _observer(body: kopf.Body) -> Callable[[str, str, dict[str, Any]], None]:
    """The metrics of a pass's status, with the UpliftModel's spec as it is then (which of its
    gates the canary's analyses measure: ``service.measured_gates``)."""
    return lambda namespace, name, status: _observe(namespace, name, status,
                                                    dict(body.get("spec") or {}))


def _observe(namespace: str, name: str, status: dict[str, Any], spec: dict[str, Any]) -> None:
    if status.get("phase"):
        observability.observe_status(KIND, namespace, name, status)
        observability.observe_rollout(namespace, name, status,
                                      service.measured_gates(spec, status))


@kopf.on.event(GROUP, VERSION, PLURAL, when=deleted)
async def forget(meta: kopf.Meta, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Drop what this process keeps of a deleted UpliftModel. On the watch's DELETED event, not
    as a kopf on-delete handler: that would make kopf keep a last-handled annotation on every
    object (one more write per resource) for a handler that writes nothing.

    Its canary, if the object as last seen had one, is tagged ``retired`` in MLflow first
    (``service.retire_deleted_canary``: queued, best-effort, never in the way) — unless an
    object of the same name already runs (that one's pass reads and writes the roles now) or
    an older UpliftModel moves the same promotion alias (this one's writes were withheld).
    Then its promotion alias claim ends, which wakes a younger model of that alias: its
    registry state is submitted after the retirement, and, if this one held the alias,
    ``RECREATE_GRACE`` later (unless an object of this name is created meanwhile: it holds the
    alias as this one did; ``services.writeback.AliasClaims``).

    On the event loop (a coroutine: kopf would run a plain function in its thread pool, and
    the wake-up flags and what is kept here are the loop's); the retirement, which reads the
    credentials Secret, in the pass pool — only for an object that had a canary (the pool's
    queue is that of every pass: a mass deletion queued one no-op per model there), and after
    what is kept here is dropped (its series, its alias follower: not delayed by the queue)."""
    namespace, name, uid = str(meta.get("namespace")), str(meta.get("name")), str(meta.get("uid"))
    key = (KIND, namespace, name)
    wakeups: Wakeups = memo["wakeups"]
    # First: whether an object of the same name already runs (created again before this
    # event was handled), whose name-keyed state must stay.
    name_free = wakeups.finish(key, uid)
    deps = memo["uplift_dependencies"]
    # What service.retire_deleted_canary looks at first: without a canary it does nothing.
    retire = (name_free and bool((body.get("status") or {}).get("canaryVersion"))
              and deps.alias_claims.holder(key, now()) is None)
    deps.decision_keys.pop((namespace, name, uid), None)
    deps.decision_keys_recreated.pop((namespace, name, uid), None)
    service.forget_unwritten(deps, uid)
    runner(memo, KIND, PLURAL).forget(key, uid, name_free=name_free)
    _HELD_TOLD.pop(uid, None)
    if name_free:
        observability.forget(KIND, namespace, name)
        deps.rolls.forget(key, now())
        deps.resolver.unfollow_versions(key)
        deps.unresolved.cleared(key)
        followers = memo.get("alias_followers")
        if followers is not None:
            followers.forget(key)
    if retire:
        await _retire_deleted_canary(memo, body, deps)
        # Asked again: an object of the name may have started while the Secret was read (its
        # task started after the forgets above, its write-backs queued under the name).
        name_free = wakeups.finish(key, uid)
    # After the retirement: the younger model of the alias this wakes submits after it.
    deps.alias_claims.release(key, uid, now())
    if name_free:  # after the retirement's write was queued under the name
        deps.write_back.forget(key)


async def _retire_deleted_canary(memo: kopf.Memo, body: kopf.Body,
                                 deps: service.Dependencies) -> None:
    """``service.retire_deleted_canary`` in the pass pool (it reads a Secret; never raises);
    nothing when the pool is shut down (the operator exiting)."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(memo["pass_executor"], functools.partial(
            service.retire_deleted_canary, body, deps, now()))
    except RuntimeError as error:  # "cannot schedule new futures after shutdown"
        meta = body.metadata
        logger.warning("UpliftModel %s/%s deleted: its canary is not retired in MLflow: %s",
                       meta.namespace, meta.name, error)


#: A model being deleted under another tool's finalizer: how many times one event's
#: withdrawal is decided when it may succeed at another try (the graph's merge patch refused
#: 409 or unanswered, 0 or 5xx; the status write refused 409), ``service.WITHDRAW_RETRY_SECONDS``
#: apart. Bounded: kopf hands the object's next event (its DELETED one included) to no handler
#: until this one returns.
HELD_ATTEMPTS = 3
#: The last ``CanaryNotWithdrawn`` message told of each held model, by uid (dropped at its
#: DELETED event, ``forget``, or once a try tells none): the same one is not told again at each
#: event, its own or its graph's.
_HELD_TOLD: dict[str, str] = {}
#: The held models whose withdrawal runs now, by key: whether an event asked for it again
#: meanwhile (run once more after it, on the model as the watch keeps it). A model's events
#: and its graph's come on different watches: one withdrawal of a model at a time.
_HELD_RUNNING: dict[tuple[str, str, str], bool] = {}


def held_for_deletion(**kwargs: Any) -> bool:
    """kopf ``when=`` filter of ``withdraw_held``: an event of a model being deleted and held
    only by another tool's finalizer(s) (``service.held_by_other_finalizers``: not a foreground
    or orphan deletion), a re-list's included (type None), not its DELETED event (``forget``'s).
    A handler filtered out neither runs nor logs, once per watch event of every model."""
    body = kwargs.get("body")
    return (kwargs.get("type") != "DELETED" and body is not None
            and service.held_by_other_finalizers(body))


@kopf.on.event(GROUP, VERSION, PLURAL, when=held_for_deletion)
async def withdraw_held(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A model being deleted, held by another tool's finalizer under a background deletion:
    its canary's traffic withdrawn (``service.withdraw_held_canary``), at each of its watch
    events (and of its graph's: ``withdraw_held_at_graph``). kopf stops the model's waiting
    task (``reconcile``) as soon as ``deletionTimestamp`` is set and starts none for an object
    being deleted, a restart or a resume from a peering pause included; its event handlers
    still run, at every event and at each listing (kopf's ``process_resource_event``), so this
    is what acts on it during the hold.

    As a pass (``PassRunner.run_once``): decided in the pass pool after the pool work of the
    task kopf is stopping (a pass that decided before the deletion was seen, whose apply lands
    first), the status written in one merge patch only when it changed, conditional on the
    resourceVersion decided on, then the events. Not a pass of the model's own, for the
    metrics: its task's end dropped its series (``task_ended``), and none is exported again
    (no phase, canary weight, gate verdict or last pass: the alerts reading them would fire
    on nothing measured for the whole hold). Once the canary has no traffic and the status
    says so, an event decides nothing, writes nothing and tells nothing; a
    ``CanaryNotWithdrawn`` the same as the last one told of the object (a stable that still
    does not serve) is not told again. A withdrawal that may succeed at another try (409, 0,
    5xx) is decided again, up to ``HELD_ATTEMPTS`` times in all, and its
    ``CanaryNotWithdrawn`` told only when the last of them failed; after that, and for a
    stable that does not serve or a patch refused otherwise (403, 422), at the model's next
    event or its graph's (Seldon reporting the stable Available, someone editing it).

    Peering: kopf pauses every watch of a replica that another one outranks, so only the
    acting replica gets these events (on resume, kopf's listing brings each held model to it
    again); a write it still sends as the pause begins is conditional on the resourceVersion
    read, like a pass's."""
    meta = body.metadata
    await _withdraw_held(memo, (KIND, str(meta.namespace), str(meta.name)), body)


def _held_owners(body: kopf.Body | dict[str, Any], memo: kopf.Memo,
                 ) -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
    """The UpliftModels owning a serving graph (its owner references, by uid) that the watch
    keeps as being deleted and held by other finalizers only: (key, body as kept)."""
    objects = memo.get("watched_objects")
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace"))
    found = []
    for ref in meta.get("ownerReferences") or ():
        if ref.get("kind") != KIND or ref.get("apiVersion") != f"{GROUP}/{VERSION}":
            continue
        model = (objects.get(PLURAL, namespace, str(ref.get("name"))) if objects is not None
                 else None)
        if (model is not None and str((model.get("metadata") or {}).get("uid")) ==
                str(ref.get("uid")) and service.held_by_other_finalizers(model)):
            found.append(((KIND, namespace, str(ref.get("name"))), model))
    return found


def graph_of_held_model(**kwargs: Any) -> bool:
    """kopf ``when=`` filter of ``withdraw_held_at_graph``: an event of a serving graph (not its
    DELETED one) whose owning UpliftModel is held (``_held_owners``)."""
    body, memo = kwargs.get("body"), kwargs.get("memo")
    return (kwargs.get("type") != "DELETED" and body is not None and memo is not None
            and bool(_held_owners(body, memo)))


@kopf.on.event(_GRAPH_GROUP, _GRAPH_VERSION, _GRAPHS.plural, when=graph_of_held_model)
async def withdraw_held_at_graph(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A graph's event wakes only its model's waiting task (``handlers.watches
    .child_changed``), which a held model has not: so its withdrawal is tried again here (the
    stable that did not serve now reported Available, a patch refused at the model's last
    event and the graph since changed), on the model as the watch keeps it."""
    for key, model in _held_owners(body, memo):
        await _withdraw_held(memo, key, kopf.Body(cast(kopf.RawBody, copy.deepcopy(model))))


async def _withdraw_held(memo: kopf.Memo, key: tuple[str, str, str], body: kopf.Body) -> None:
    """``_withdraw_held_once``, one at a time per model: asked again while it runs, once
    more after it, on the model as the watch keeps it then (``_HELD_RUNNING``)."""
    if key in _HELD_RUNNING:
        _HELD_RUNNING[key] = True
        return
    _HELD_RUNNING[key] = False
    try:
        while True:
            await _withdraw_held_once(memo, key, body)
            if not _HELD_RUNNING[key]:
                return
            _HELD_RUNNING[key] = False
            objects = memo.get("watched_objects")
            kept = objects.get(PLURAL, key[1], key[2]) if objects is not None else None
            if kept is not None and str((kept.get("metadata") or {}).get("uid")) == str(
                    body.metadata.uid):
                body = kopf.Body(cast(kopf.RawBody, copy.deepcopy(kept)))
            if not service.held_by_other_finalizers(body):
                return
    finally:
        del _HELD_RUNNING[key]


async def _withdraw_held_once(memo: kopf.Memo, key: tuple[str, str, str],
                              body: kopf.Body) -> None:
    passes: PassRunner = runner(memo, KIND, PLURAL)
    deps = memo["uplift_dependencies"]
    uid = str(body.metadata.uid)
    attempt = 1

    def decide(snapshot: dict[str, Any], _now: Any) -> PassResult:
        result = service.withdraw_held_canary(snapshot, deps)
        if result.requeue_after is not None and attempt < HELD_ATTEMPTS:
            # Tried again within the event: told only if the last try fails too.
            return dataclasses.replace(result, events=tuple(
                event for event in result.events
                if event.reason != service.CANARY_NOT_WITHDRAWN))
        told = _HELD_TOLD.pop(uid, None)
        telling = next((event.message for event in result.events
                        if event.reason == service.CANARY_NOT_WITHDRAWN), None)
        if telling is not None:
            _HELD_TOLD[uid] = telling
        return dataclasses.replace(result, events=tuple(
            event for event in result.events
            if event.reason != service.CANARY_NOT_WITHDRAWN or event.message != told))

    await passes.wakeups.settled(key, PREDECESSOR_WAIT_SECONDS)
    try:
        for attempt in range(1, HELD_ATTEMPTS + 1):  # read by decide
            delay = await passes.run_once(key, body, decide, _unobserved, per_resource=False)
            if delay is None or attempt == HELD_ATTEMPTS:
                return
            await asyncio.sleep(min(delay, service.WITHDRAW_RETRY_SECONDS))
    except (KubeError, NamedPassError) as error:  # tried again at its next event
        logger.warning("UpliftModel %s/%s being deleted: its canary's withdrawal failed: %s",
                       key[1], key[2], error)


def _unobserved(namespace: str, name: str, status: dict[str, Any]) -> None:
    """A held model's withdrawal exports nothing of it (``withdraw_held``)."""
