"""Who wakes whom: the watch events the waiting tasks (``handlers.scheduling``) depend on.

kopf already watches UpliftModels and Campaigns; the operator also watches the
SeldonDeployments it renders, and only those: the API server selects them by the label every
rendered graph carries (``GRAPH_SELECTOR``: ``app.kubernetes.io/managed-by=uplift-operator``),
so another team's plain Seldon models in the watched namespaces are neither listed, watched
nor kept in memory. Each event updates the in-memory copy the passes read
(``adapters.watched``: a pass GETs neither its child nor a Campaign's model) and wakes exactly
the tasks that depend on it:

* an UpliftModel event: its own pass when its spec, annotations or someone else's status edit
  came in (never for its own status write), the Campaigns that follow it when what they read
  of it changed (its spec, deletion, and whether and which stable version serves:
  ``services.campaign.model_inputs``; not at each analysis of its canary), and its campaigns
  file when what the file reads of the model changed (the version split, whether it has a
  status yet);
* a Campaign event: its own pass likewise, and the campaigns file of the model it names — and
  of the model it named before, when it moved — when what the file reads of the Campaign
  changed (its snapshot in the index: spec, generation, phase, exposure, Ready condition,
  deletion), not at each of its status writes (a gate's analysis, a condition's message): a
  file pass renders every Campaign of the model (116 ms of CPU at 1,000 of them); and, when it
  was created, deleted or moved to another model, the other Campaigns of its model (of both
  models, when it moved) that draw with its salt (``handlers.campaign.SaltBook``), whose
  ``HoldoutShared`` condition names it;
* a SeldonDeployment event that is not the operator's own apply: the pass of the UpliftModel
  that owns it (Seldon reported a predictor Available, someone edited the traffic, it was
  deleted, or its label removed by hand: the selected watch says DELETED then, and the pass
  that it wakes finds the graph by a read from the API server, unchanged, so nothing is
  decided of it; ``adapters.watched`` keeps no graph without the label and reads it at each
  pass until the model's next apply of its graph puts the label back); the first word of a
  model in this process (kopf's listing at start) also counts a graph still rolling from
  before a restart against the roll limit (``Rolls.found``);
* an event of one of the operator's campaigns ConfigMaps (the only ConfigMaps it watches: the
  API server selects them by label, ``handlers.campaigns_file.CAMPAIGNS_FILE_SELECTOR``) that
  is not the operator's own apply: the campaigns file of its model, which restores a hand edit
  or a deletion at once;
* an alias that moved in MLflow (or whose read started or stopped failing), as the shared
  poller's read found it (``handlers.registry_polling``: one read per followed alias and
  refresh interval): the passes of every UpliftModel that follows it (``AliasFollowers``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import kopf

from uplift_operator.adapters.watched import WatchedObjects, uid_of
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.domain.shared_draws import others_told
from uplift_operator.domain.status import status_digest
from uplift_operator.handlers.campaign import salt_book
from uplift_operator.handlers.campaigns_file import file_key
from uplift_operator.handlers.common import now, runner
from uplift_operator.handlers.scheduling import Key, Wakeups
from uplift_operator.render import naming
from uplift_operator.render.seldon import SeldonV1Backend, rolling_deployments
from uplift_operator.services import campaign as campaign_service
from uplift_operator.services import campaigns_file as service
from uplift_operator.services.resolution import AliasKey

MODEL_KIND, MODEL_PLURAL = "UpliftModel", "upliftmodels"
CAMPAIGN_KIND, CAMPAIGN_PLURAL = "Campaign", "campaigns"
_CHILD = SeldonV1Backend()
_CHILD_GROUP, _CHILD_VERSION = _CHILD.api_version.split("/")
CONFIG_MAP_PLURAL = "configmaps"
#: The labels of the serving graphs the operator watches: every graph it renders carries them
#: (``render.naming.labels``, since the first release), and nothing else is its to read.
GRAPH_LABELS = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY}
#: ``GRAPH_LABELS`` as the label selector of the graphs' watch (``handlers.lifecycle``).
GRAPH_SELECTOR = ",".join(f"{name}={value}" for name, value in GRAPH_LABELS.items())


def _observe(objects: WatchedObjects, plural: str, event: kopf.RawEvent,
             body: kopf.Body) -> tuple[str, str]:
    meta = body.metadata
    namespace, name = str(meta.namespace), str(meta.name)
    if event.get("type") == "DELETED":
        # Buried at the deletion's version, not the kept body's: a read answered in between (a
        # change the watch had not brought yet) would bring the object back for good.
        objects.forget(plural, namespace, name, str(meta.uid),
                       resource_version=_version(event["object"]) or None)
    else:
        objects.observe(plural, event["object"])
    return namespace, name


@kopf.on.event(GROUP, VERSION, MODEL_PLURAL)
async def model_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo,
                        **kwargs: Any) -> None:
    objects: WatchedObjects = memo["watched_objects"]
    namespace, name = _observe(objects, MODEL_PLURAL, event, body)
    wakeups: Wakeups = memo["wakeups"]
    key = (MODEL_KIND, namespace, name)
    if event.get("type") == "DELETED":  # nothing looks for its children now
        objects.forget_absent(_CHILD.plural, namespace, name)
        objects.forget_absent(CONFIG_MAP_PLURAL, namespace, naming.campaigns_config_map(name))
    # Not on DELETED: the object's ``forget`` ends its task and drops its signature, which this
    # would add back (kopf may run either handler first).
    passes = runner(memo, MODEL_KIND, MODEL_PLURAL)
    if event.get("type") != "DELETED":
        passes.own_writes.caught_up(str(body.metadata.uid), event["object"])
        if passes.signatures.changed(key, event["object"]):
            wakeups.wake(key)
    # Its Campaigns when what they read of it changed (kept in kopf's memo of this object):
    # the model's own status writes at each analysis would wake every one of them for nothing.
    index: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["campaigns_by_model"]
    campaigns = list(index.get((namespace, name), []))
    read = campaign_service.model_inputs(body) if campaigns else None
    if event.get("type") == "DELETED" or memo.get(_CAMPAIGN_INPUTS) != read:
        memo[_CAMPAIGN_INPUTS] = read
        for campaign in campaigns:
            wakeups.wake((CAMPAIGN_KIND, namespace, str(campaign["metadata"]["name"])))
    # The file's inputs from the model (``handlers.campaigns_file``), kept in kopf's memo of
    # this object: its own status writes (each step, each analysis) leave them as they were.
    inputs = _file_inputs(body)
    if event.get("type") == "DELETED" or memo.get(_FILE_INPUTS) != inputs:
        memo[_FILE_INPUTS] = inputs
        wakeups.wake(file_key(namespace, name))


_FILE_INPUTS = "campaigns_file_inputs"
_CAMPAIGN_INPUTS = "campaign_inputs"


def _file_inputs(body: kopf.Body) -> tuple[Any, ...]:
    """What a campaigns-file pass reads of its UpliftModel: whether it has a status, and the
    fields of its version split (``services.campaigns_file.version_split``), unparsed."""
    status = body.get("status") or {}
    window = ((body.get("spec") or {}).get("experiment") or {}).get("attributionWindow")
    return (bool(status), status.get("stableVersion"), status.get("canaryVersion"),
            status.get("canaryWeight"), window)


@kopf.on.event(GROUP, VERSION, CAMPAIGN_PLURAL)
async def campaign_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo,
                           **_: Any) -> None:
    meta = body.metadata
    namespace, name = str(meta.namespace), str(meta.name)
    wakeups: Wakeups = memo["wakeups"]
    key = (CAMPAIGN_KIND, namespace, name)
    # Not on DELETED: kopf runs ``campaign.forget`` first, and this would add back the
    # signature it dropped (kept for good: a leak per deleted Campaign).
    passes = runner(memo, CAMPAIGN_KIND, CAMPAIGN_PLURAL)
    if event.get("type") != "DELETED":
        passes.own_writes.caught_up(str(meta.uid), event["object"])
        if passes.signatures.changed(key, event["object"]):
            wakeups.wake(key)
    # The model it named and what the file read of it, at its last event (kopf's memo of this
    # object: dropped with it).
    files: dict[tuple[str, str], tuple[str, str]] = memo.setdefault("campaign_files", {})
    model = str((body.get("spec") or {}).get("modelRef", {}).get("name", ""))
    before, read_before = files.get((namespace, name), (None, None))
    if event.get("type") == "DELETED":
        files.pop((namespace, name), None)
        changed = True
    else:
        read = status_digest(service.snapshot(body))  # what the index gives the file pass
        files[(namespace, name)] = (model, read)
        changed = model != before or read != read_before
    # The models it looks for no more: that one is absent (``adapters.watched``) need not be
    # remembered (another Campaign naming it has the API server asked once again).
    left = {model, before} if event.get("type") == "DELETED" else {before} - {model}
    objects: WatchedObjects = memo["watched_objects"]
    for named in left - {None, ""}:
        objects.forget_absent(MODEL_PLURAL, namespace, str(named))
    for named in ({model, before} if changed else set()) - {None, ""}:
        wakeups.wake(file_key(namespace, str(named)))
    # The Campaigns drawing with the salt it took or left (of each model, when it moved): no
    # other change can move a draw (the salt is immutable), and nothing else wakes them. Only
    # those whose HoldoutShared says something else now (``shared_draws.others_told``): among
    # more sharers than it names, one joining changes no message, and waking every sharer at
    # each creation cost n²/2 passes for n Campaigns with one salt.
    # The book is full before the first passes only because nothing above awaits before
    # ``book.place`` (kopf runs an object's event handler before its daemon): keep it so.
    book = salt_book(memo)
    gone = event.get("type") == "DELETED"
    for moved in book.place(namespace, name, None if gone else campaign_service.holdout_draw(body)):
        drawing = book.drawing_with(moved)  # as it is now: the mover in it if it joined
        # Each sharer but the mover now draws with every other one of ``drawing``; it had one
        # fewer before a join, one more (the mover) before a leave.
        others = len(drawing) - 1
        others_before = others - 1 if moved in drawing else others + 1
        if not others_told(others_before, others):
            continue
        for other in drawing:
            if other.name != name:
                wakeups.wake((CAMPAIGN_KIND, namespace, other.name))


# Selected by the API server (``GRAPH_SELECTOR``), not by a ``labels=`` filter here: a graph
# whose label is removed comes as a DELETED event, which must reach this handler (it forgets the
# graph kept and wakes its model), whichever content the API server puts in it.
@kopf.on.event(_CHILD_GROUP, _CHILD_VERSION, _CHILD.plural)
async def child_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo,
                        **_: Any) -> None:
    objects: WatchedObjects = memo["watched_objects"]
    meta = body.metadata
    known = objects.get(_CHILD.plural, str(meta.namespace), str(meta.name))
    own = (event.get("type") != "DELETED" and known is not None
           and _version(known) == _version(event["object"]))
    namespace, _name = _observe(objects, _CHILD.plural, event, body)
    if own:  # what the store already holds: the event of the operator's own apply
        return
    if event.get("type") != "DELETED":
        _found_rolling(memo, objects, namespace, _model_owners(body), event["object"])
    for key in graph_readers(body):
        memo["wakeups"].wake(key)


def _model_owners(body: Mapping[str, Any]) -> dict[str, str]:
    """The UpliftModels (name → uid) among an object's owner references."""
    return {str(owner.get("name")): str(owner.get("uid"))
            for owner in (body.get("metadata") or {}).get("ownerReferences") or []
            if owner.get("kind") == MODEL_KIND
            and owner.get("apiVersion") == f"{GROUP}/{VERSION}"}


def graph_readers(body: Mapping[str, Any]) -> set[Key]:
    """The waiting tasks that read a serving graph: the passes of the UpliftModels owning it."""
    namespace = str((body.get("metadata") or {}).get("namespace"))
    return {(MODEL_KIND, namespace, model) for model in _model_owners(body)}


def file_readers(body: Mapping[str, Any]) -> set[Key]:
    """The waiting tasks that read a campaigns ConfigMap: the campaigns files of the
    UpliftModels owning it, or that it is labelled with."""
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace"))
    models = set(_model_owners(body)) | {str((meta.get("labels") or {}).get(naming.MODEL_LABEL,
                                                                           ""))}
    return {file_key(namespace, model) for model in models - {""}}


def _found_rolling(memo: kopf.Memo, objects: WatchedObjects, namespace: str,
                   owners: Mapping[str, str], child: Mapping[str, Any]) -> None:
    """kopf lists every graph when the operator starts, usually before the models' first
    passes: a graph still rolling from before a restart counts against the roll limit from its
    event (``Rolls.found``, which acts only on the first word of a model), so that the first
    passes' re-renders do not take the slots of rolls already under way. The model's pass
    does the same when it reads the graph first. Only for a model the watch holds, the very
    object that owns the graph: the graph of a model deleted (its DELETED handled, ``forget``
    done) may still report on its pods until the garbage collector removes it, and must not
    hold a slot then."""
    if (child.get("metadata") or {}).get("deletionTimestamp"):
        return
    rolls = memo["uplift_dependencies"].rolls
    rolling = bool(rolling_deployments(child))
    version = str((child.get("metadata") or {}).get("resourceVersion") or "") or None
    for model, uid in owners.items():
        known = objects.get(MODEL_PLURAL, namespace, model)
        if known is not None and uid_of(known) == uid:
            rolls.found((MODEL_KIND, namespace, model), now(), version=version, rolling=rolling)


@kopf.on.event("v1", CONFIG_MAP_PLURAL,
               labels={naming.MANAGED_BY_LABEL: naming.MANAGED_BY, naming.MODEL_LABEL: kopf.PRESENT})
async def file_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo,
                       **_: Any) -> None:
    objects: WatchedObjects = memo["watched_objects"]
    meta = body.metadata
    known = objects.get(CONFIG_MAP_PLURAL, str(meta.namespace), str(meta.name))
    own = (event.get("type") != "DELETED" and known is not None
           and _version(known) == _version(event["object"]))
    _observe(objects, CONFIG_MAP_PLURAL, event, body)
    if own:  # what the store already holds: the event of the operator's own apply
        return
    for key in file_readers(body):
        memo["wakeups"].wake(key)


def _version(body: Any) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion", ""))


@dataclass
class AliasFollowers:
    """Which UpliftModels follow which alias, and how often each wants it re-read, as their
    last pass found (thread-safe: passes run in the pool, the resolver tells of a move from
    there). The poller asks every second (``intervals``): the answer costs one step per alias,
    not per follower (the intervals are counted as followers come and go)."""

    _by_alias: dict[AliasKey, dict[Key, dt.timedelta]] = field(default_factory=dict)
    _interval_counts: dict[AliasKey, Counter[dt.timedelta]] = field(default_factory=dict)
    _of: dict[Key, AliasKey] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Told (outside the lock) of an alias its last follower left: nothing needs it kept.
    abandoned: list[Callable[[AliasKey], None]] = field(default_factory=list)

    def follow(self, key: Key, following: tuple[AliasKey, dt.timedelta] | None) -> None:
        left: AliasKey | None = None
        with self._lock:
            before = self._of.pop(key, None)
            if before is not None:
                interval = self._by_alias[before].pop(key)
                counts = self._interval_counts[before]
                counts[interval] -= 1
                if counts[interval] <= 0:
                    del counts[interval]
                if not self._by_alias[before]:
                    del self._by_alias[before], self._interval_counts[before]
                    left = before
            if following is not None:
                alias, interval = following
                self._of[key] = alias
                self._by_alias.setdefault(alias, {})[key] = interval
                self._interval_counts.setdefault(alias, Counter())[interval] += 1
                if left == alias:
                    left = None
        if left is not None:
            for tell in self.abandoned:
                tell(left)

    def followers(self, alias: AliasKey) -> list[Key]:
        with self._lock:
            return sorted(self._by_alias.get(alias, ()))

    def following(self, alias: AliasKey) -> bool:
        """Whether some resource follows ``alias`` now: one that came after its last follower
        left, before the resolver was told (``abandoned``), keeps what the resolver holds of it
        (``Resolver.forget_alias``)."""
        with self._lock:
            return alias in self._by_alias

    def intervals(self, live: Callable[[Key], bool] = lambda _: True,
                  ) -> dict[AliasKey, dt.timedelta]:
        """Every alias with a ``live`` follower (the first one found, as a rule), with the
        shortest refresh interval among its followers."""
        with self._lock:
            return {alias: min(counts) for alias, counts in self._interval_counts.items()
                    if any(live(key) for key in self._by_alias[alias])}

    def forget(self, key: Key) -> None:
        self.follow(key, None)


def alias_followers(memo: kopf.Memo) -> AliasFollowers:
    """The process's followers; on first use, the resolver is told to wake them on a move (from
    the pass thread that read it, onto the event loop that holds the wake-up flags)."""
    found = memo.get("alias_followers")
    if found is None:
        found = AliasFollowers()
        loop, wakeups = asyncio.get_running_loop(), memo["wakeups"]
        followers = found

        def moved(alias: AliasKey) -> None:
            for key in followers.followers(alias):
                loop.call_soon_threadsafe(wakeups.wake, key)

        resolver = memo["uplift_dependencies"].resolver
        resolver.moved.append(moved)
        found.abandoned.append(partial(resolver.forget_alias, followed=found.following))
        memo["alias_followers"] = found
    assert isinstance(found, AliasFollowers)
    return found
