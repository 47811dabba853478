"""Existence audit: a deleted object whose DELETED event never came ends the process.

kopf lists again after any watch disconnect (410 Gone, an API server restart), but it never
makes up a DELETED event for an object deleted during the gap, and its indexes drop an entry
only on DELETED. Such a "ghost" lived on until the process restarted: its waiting task kept
running, its series kept alerts firing, a ghost UpliftModel's alias kept being polled and, worst,
a ghost Campaign stayed in ``campaigns_by_model``, so its model's campaigns file kept delivering
it to the runtime, which kept treating units for a deleted Campaign.

So once per ``AUDIT_SECONDS`` (the resync interval, the first ``FIRST_AUDIT_SECONDS`` after
the start: between the resyncs' rounds) and kind of waiting task (UpliftModel,
Campaign, and the campaigns file, whose task has its UpliftModel's uid: a LIST of the
UpliftModels), one paginated LIST of the kind's metadata (``KubeCluster.list_uids``:
cluster-wide with ``--all-namespaces``, else one per namespace where a task of the kind runs,
all within the Roles kopf's watches need) is compared with the uids of the waiting tasks, and
of the objects whose task a short peering pause ended and that neither got a task again when
kopf listed on resume nor a DELETED event (such an object was deleted during the pause;
kopf's Campaign index keeps it as after a watch gap), and of those a pass read back gone (its
status write answered 404 or 409) whose DELETED event has not come (``Wakeups.gone``: its task
ended, but kopf's indexes keep it the same). A uid absent from two
successful audits in a row is a ghost (one is not enough: the LIST is a moment, and what was
deleted just then may have its DELETED event on the way). Only the tasks registered before a
LIST began are compared with it (one registered meanwhile may be of an object created after
the LIST's moment). A LIST that fails says nothing. A LIST answered 404 says what it says of a
watched child below (the kinds are custom resources: a namespace that does not exist answers a
LIST 200 and empty): one concludes nothing (what the last successful LIST missed there stays),
404s that lasted ``NOT_SERVED_APART_SECONDS`` (below) say the CRD is not served, its objects
deleted with it, and what was audited at the last two is a ghost, of that cause
(``Ghosts.unserved``: logged and exited as such, not as a watch gap); it was read as "cannot be
listed", which left the namespace unaudited at every interval (cluster-wide: "the LIST
failed"), and the process never listed afresh. A ghost is logged (kind, namespace, name, uid), counted
(``uplift_operator_ghosts_total{kind}``), and the process exits (``common.exit_to_list_afresh``)
once a scrape saw the count (one ``--metrics-scrape-interval`` + 5 s and a scrape begun since;
at most that or 5 minutes, whichever is longer; at once with ``--metrics-port 0``, which nothing
scrapes: ``exit_wait``): kopf's index cannot be corrected from outside, and
the restart lists every kind afresh. It costs O(1) requests per interval (one LIST page per
``LIST_PAGE_SIZE`` objects, per namespace when namespaced; and one a minute of a place whose
LIST answered 404, while it does, below), none per resource, and runs in the
pass pool, never on the event loop. A stand-by replica (never acted) has nothing to compare, so
lists nothing; one that acted and stays paused exits anyway (``common.task_ended``).

The children the operator watches by label and keeps in memory (``adapters.watched``: the
SeldonDeployments it renders, its campaigns ConfigMaps) have the same gap: one deleted while
their watch was away stayed in the store, so its model's passes (the resync included) found it
there unchanged and applied nothing: the stable version not served, the Campaigns not
delivered, and the status still Healthy. So at the same interval, each such kind is listed too
(``WatchedAudit``: one metadata LIST per kind with the label selector its watch uses, cluster-wide
or per namespace where the store keeps one; none when it keeps none), and what the store kept
since before the LIST began that the LIST does not have is dropped (``WatchedObjects.forget``,
by uid: a name taken again since is kept) and its readers woken (its model's pass, its model's
campaigns file), whose next pass reads it from the API server and applies it again. The store,
unlike kopf's index, can be corrected from here: no exit, and one LIST is enough (an object
dropped while its DELETED event was on the way is dropped twice, and a read at the next pass
answers for it). A LIST of a custom resource (a SeldonDeployment) answered 404 means that none
exists only once every LIST there answered 404 for ``NOT_SERVED_APART_SECONDS`` or longer: its
CRD is not served (not installed, or removed), since a namespace that does not exist answers a
LIST 200 and empty; what the store keeps of it is dropped (without a tombstone: a read or apply
that finds it keeps it again) and its readers woken the same way, the cause logged. One 404
concludes nothing (logged): an API server answers 404 for a while for a CRD it serves (its CRD
cache not synced yet, after each restart, kubernetes#115241, #71218, #104342), and the operator
may not read CRDs by name to ask. So after a 404 that place alone (namespace, or the cluster) is
listed again every ``NOT_SERVED_RECHECK_SECONDS`` between the audits (``recheck``), and the row
of 404s goes on only while every LIST there answers 404, none more than two rechecks after the
last (``_refusals``): a LIST that answers, or fails, ends it. Two 404s at two audits, with no
LIST between, were read as a row: audits are always 5 minutes or more apart, so two unrelated
blips (two API server restarts, each audited 30 s after its 410) made every UpliftModel a ghost,
and a failed LIST between them did not end the row. A 403 still leaves its namespace
unaudited.

A watch that answered 410 Gone (its resourceVersion compacted: an API server restarted, a long
disconnect) is the gap itself, and kopf logs it ("Restarting the watch-stream ...", at debug, on
its watching logger, only then, just before listing again); ``readiness``'s filter of those lines
calls ``relisted``, and the next audit comes ``RELIST_SETTLE_SECONDS`` later (the 410s of every
watch of one API server restart folded into one audit), never sooner than
``RELIST_APART_SECONDS`` after the last began; one so brought forward that finds an object
missing is followed ``RELIST_APART_SECONDS`` after, not an interval (so is one that a 410 came
before while it was due sooner anyway: that audit covers the gap too). A ghost of a 410 gap is so
found 2.5 to 4 minutes after the 410 (the first audit 30 s to 2 minutes after it, the second 2
minutes later), plus the exit's wait, rather than 10 to 20 (an audit just before the gap, the
next an interval on finding it missing once, the one after that twice).
A watch request that failed on the connection is made again from the same resourceVersion (no
gap, or a 410 and its line); the relists that log no such line (kopf starts over with a LIST
after a 429 escalated from a watch request, and on resuming from a peering pause, whose objects
are audited as above) still wait for the interval: the periodic audit bounds those ghosts at two
intervals. No kopf internals are patched: the line is kopf's own
record, through the filter that already reads its pause lines.

Each audit runs under its own guard (``audit_forever``): one that raises is logged and the
others go on (one child raising at every run blocked the audits after it for good). The audit
task is supervised (``_supervised``): one that raises all the same is logged and started again
after ``RESTART_AFTER_SECONDS``, with what the audits found so far, and audits at once then (it
used to sleep a whole interval first: 5 s + 10 minutes without an audit); raising again at once,
the wait doubles, up to ``AUDIT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import kopf

from uplift_operator.adapters.watched import WatchedObjects, label_selector
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.handlers import campaign, campaigns_file, observability, upliftmodel, watches
from uplift_operator.handlers.common import config_of, exit_to_list_afresh
from uplift_operator.handlers.scheduling import RESYNC_SECONDS, Key, Wakeups
from uplift_operator.render.seldon import SeldonV1Backend

__all__ = ["AUDIT_SECONDS", "FIRST_AUDIT_SECONDS", "ExistenceAudit", "WatchedAudit",
           "audit_forever", "exit_wait", "relisted", "start"]

logger = logging.getLogger(__name__)

#: How often each kind is audited: the resync interval (``handlers.scheduling``).
AUDIT_SECONDS = RESYNC_SECONDS
#: The first audit of a process comes this long after its start, half an interval, and the
#: others an interval apart from there: its resources' first passes came in the start's first
#: minutes and their resyncs come about an interval after those (``scheduling.resync_wait``:
#: up to ``RESYNC_SPREAD`` of it sooner, more at each round), so audits at every whole
#: interval from the start listed every kind in the same minute as those passes ran, for
#: hours. Sooner, not later: an object deleted in a watch gap is still found within two
#: intervals.
FIRST_AUDIT_SECONDS = AUDIT_SECONDS / 2
#: After finding a ghost, the process exits this much later than the operator's own scrape
#: interval (``--metrics-scrape-interval``), and this much after a scrape that began after the
#: count: the count is on /metrics for a scrape first (the restarted process starts it at 0
#: again, and a 0 followed by a 0 is no ``increase()``: UpliftOperatorGhostsFound silent).
EXIT_SLACK_SECONDS = 5.0
#: At most this long after the count (or the scrape interval + ``EXIT_SLACK_SECONDS`` when that
#: is longer), the process exits even if no scrape began meanwhile (nothing scrapes it).
EXIT_WAIT_CAP_SECONDS = 300.0
#: How often the exit looks whether a scrape began.
SCRAPE_POLL_SECONDS = 1.0
#: After the audit task raised, it is started again after this long (seconds).
RESTART_AFTER_SECONDS = 5.0
#: A kopf watch listed again after a 410 Gone: the next audit comes this long after (seconds),
#: the other watches' 410s of one API server restart folded in (``audit_forever``).
RELIST_SETTLE_SECONDS = 30.0
#: ... but never sooner than this after the last audit began; and an audit a relist brought
#: forward that found an object missing is followed this long after, not an interval.
RELIST_APART_SECONDS = 120.0
#: The memo's key of what a relist calls (``relisted``).
AUDIT_SOON = "existence_audit_soon"
#: A custom resource is not served (its CRD removed) only once every LIST of a place (a
#: namespace, or the cluster) answered 404 for this long (seconds) or longer: not in one
#: CRD-cache-lag window (``_refusals``).
NOT_SERVED_APART_SECONDS = AUDIT_SECONDS / 2
#: After a LIST answered 404, that place alone is listed again this often (seconds), until it
#: answers or its 404s conclude (``audit_forever``); a 404 more than twice this long after the
#: last of its row starts a row of its own: two periodic audits are never a row.
NOT_SERVED_RECHECK_SECONDS = 60.0
_GRAPHS = SeldonV1Backend()
_Found = TypeVar("_Found")


class _Lister(Protocol):
    def list_uids(self, api_version: str, plural: str, namespace: str | None = None
                  ) -> set[str]: ...


class _SelectingLister(Protocol):
    def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                  label_selector: str = "") -> set[str]: ...


#: A place a LIST is made at: a namespace, or None for the cluster (``--all-namespaces``).
Place = str | None


class Ghosts(dict[str, Key]):
    """The ghosts an audit found (uid → key), and why: ``unserved`` maps the uids gone because
    their kind is not served (its CRD removed: every object of it gone with it) to the resource
    and place whose LISTs said so; the others were absent from two LISTs (a watch gap)."""

    def __init__(self, found: Mapping[str, Key] | None = None,
                 unserved: Mapping[str, str] | None = None) -> None:
        super().__init__(found or {})
        self.unserved: dict[str, str] = dict(unserved or {})


@dataclass
class ExistenceAudit:
    """The audit of one kind: what its last successful LIST missed, and the comparison."""

    kind: str
    plural: str
    wakeups: Wakeups
    cluster: _Lister
    #: One LIST of every namespace (``--all-namespaces``), else one per namespace with a task.
    all_namespaces: bool
    #: The tasks (uid → key) the last successful audit did not find.
    missing: dict[str, Key] = field(default_factory=dict)

    #: Where LISTs answered 404 (namespaces, None cluster-wide) and, as
    #: ``WatchedAudit.not_served``, when the first and the last 404 of that row came
    #: (``_refusals``): a row that lasted ``apart`` seconds or more says the kind is not served.
    not_served: dict[Place, tuple[float, float]] = field(default_factory=dict)
    #: The objects (uid → key) the last LIST answered 404 was compared with.
    refused: dict[str, Key] = field(default_factory=dict)
    #: Seconds, any monotonic clock.
    clock: Callable[[], float] = time.monotonic
    apart: float = NOT_SERVED_APART_SECONDS
    recheck_seconds: float = NOT_SERVED_RECHECK_SECONDS

    @property
    def resource(self) -> str:
        return f"{self.plural}.{GROUP}/{VERSION}"

    def _where(self, key: Key) -> Place:
        return None if self.all_namespaces else key[1]

    async def run(self, executor: Executor) -> Ghosts:
        """One audit: the ghosts (uid → key), absent from this LIST and the last successful one.
        Nothing when this LIST failed (the last one's findings stay for the next).

        A LIST answered 404 (the kind is a custom resource: a namespace that does not exist
        answers 200 and empty) says, as for ``WatchedAudit``, that the kind is not served (its
        CRD removed: none of its objects exists) only once every LIST there answered 404 for
        ``apart`` seconds or more (``_refusals``: the place is listed again every
        ``recheck_seconds`` meanwhile, ``recheck``); what was audited at the last 404 too and
        still is then is a ghost, its cause said (``Ghosts.unserved``). A 404 that concludes
        nothing (an API server's CRD cache lagging) fails the LIST there and only there: what
        the last successful audit found missing there stays. It was read as "namespace cannot
        be listed": its objects were left unaudited at every interval, and what a pause left
        there or a pass found gone was forgotten for good."""
        tasks = self.wakeups.audited(self.kind)  # before the LIST begins: see the module
        if not tasks:  # nothing to compare with (a stand-by replica): no request
            self.missing, self.not_served, self.refused = {}, {}, {}
            return Ghosts()
        namespaces: Sequence[Place] = (
            [None] if self.all_namespaces else sorted({key[1] for key in tasks.values()}))
        try:
            listed, unreadable, not_served = await asyncio.get_running_loop().run_in_executor(
                executor, self._list, namespaces)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # KubeError, the API server unreachable, the pool shut down
            self._failed(error)
            return Ghosts()
        unserved = self._rows(not_served)
        for namespace in unreadable:
            # Namespaced with Roles only, a namespace deleted takes its Role with it: 403, not
            # an empty list. What a pause left there, or a pass found gone, is not compared
            # again (it would be every interval): the others' audit goes on.
            logger.warning("existence audit of %s: namespace %r cannot be listed (%s): its "
                           "objects are not audited", self.kind, namespace, unreadable[namespace])
            self.wakeups.forget_unlistable(self.kind, namespace)
        doubtful = {uid: key for uid, key in self.missing.items()
                    if self._where(key) in not_served and self._where(key) not in unserved}
        ghosts = Ghosts(self.compare(
            {uid: key for uid, key in tasks.items()
             if key[1] not in unreadable and self._where(key) not in not_served}, listed))
        running = self.wakeups.audited(self.kind)  # one gone meanwhile had its DELETED event
        self.missing.update({uid: key for uid, key in doubtful.items() if uid in running})
        gone = self._gone_with_the_kind(tasks, not_served, unserved)
        ghosts.update(gone)
        ghosts.unserved.update(gone.unserved)
        return ghosts

    async def recheck(self, executor: Executor) -> Ghosts:
        """List again only where the last LISTs answered 404 (``not_served``; ``audit_forever``
        every ``recheck_seconds`` while there is such a row): the ghosts of a place whose 404s
        now conclude that the kind is not served (``run``); a place that answers, or a LIST that
        fails, ends its row. Nothing else is compared: the periodic audit does."""
        places = sorted(self.not_served, key=lambda place: place or "")
        if not places:
            return Ghosts()
        tasks = self.wakeups.audited(self.kind)
        if not tasks:
            self.not_served, self.refused = {}, {}
            return Ghosts()
        try:
            _, _, not_served = await asyncio.get_running_loop().run_in_executor(
                executor, self._list, places)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._failed(error)
            return Ghosts()
        unserved = self._rows(not_served)
        return self._gone_with_the_kind(tasks, not_served, unserved)

    def _rows(self, not_served: Mapping[Place, str]) -> set[Place]:
        self.not_served, unserved = _refusals(
            self.kind, self.resource, self.not_served, not_served, self.clock(), self.apart,
            self.recheck_seconds, "its objects the operator still reconciles are gone with it, "
            "and the process lists afresh")
        return unserved

    def _failed(self, error: Exception) -> None:
        logger.warning("existence audit of %s: the LIST failed, nothing concluded%s: %s",
                       self.kind, " (the rows of 404s start over)" if self.not_served else "",
                       error)
        self.not_served, self.refused = {}, {}

    def _gone_with_the_kind(self, tasks: Mapping[str, Key], not_served: Mapping[Place, str],
                            unserved: set[Place]) -> Ghosts:
        """Where the kind is not served (``unserved``), the ghosts: the tasks compared with the
        last 404 there too (``refused``) and still running. ``refused`` becomes the tasks
        compared with this LIST's 404s."""
        refused_before = self.refused
        self.refused = {uid: key for uid, key in tasks.items()
                        if self._where(key) in not_served}
        running = self.wakeups.audited(self.kind)  # one gone meanwhile had its DELETED event
        gone = {uid: key for uid, key in self.refused.items()
                if self._where(key) in unserved and uid in refused_before and uid in running}
        return Ghosts(gone, {uid: self.resource + _in(self._where(key))
                             for uid, key in gone.items()})

    def compare(self, tasks: dict[str, Key], listed: set[str]) -> dict[str, Key]:
        """The ghosts among ``tasks`` (registered before the LIST that found ``listed``)."""
        running = self.wakeups.audited(self.kind)  # one gone meanwhile had its DELETED event
        missing = {uid: key for uid, key in tasks.items()
                   if uid not in listed and uid in running}
        ghosts = {uid: key for uid, key in missing.items() if uid in self.missing}
        self.missing = missing
        return ghosts

    def _list(self, namespaces: Sequence[Place]
              ) -> tuple[set[str], dict[str, str], dict[Place, str]]:
        return _list_each(lambda namespace: self.cluster.list_uids(
            f"{GROUP}/{VERSION}", self.plural, namespace), namespaces, not_served_is_none=True)


def _in(place: Place) -> str:
    return "" if place is None else f" in namespace {place!r}"


def _refusals(kind: str, resource: str, before: Mapping[Place, tuple[float, float]],
              not_served: Mapping[Place, str], at: float, apart: float, recheck: float,
              consequence: str) -> tuple[dict[Place, tuple[float, float]], set[Place]]:
    """The rows of 404s after a LIST made at ``at`` whose places ``not_served`` answered 404
    (``before``: the rows so far, place → when its first and its last 404 came), and where the
    kind is not served: a row whose LISTs all answered 404 for ``apart`` seconds or more. A
    404 continues its place's row if it came at most twice ``recheck`` after the row's last
    (the place is listed again every ``recheck_seconds`` meanwhile: ``audit_forever``), else
    starts one: two 404s with no LIST between (periodic audits, always ``apart`` or more
    apart, or an audit task restarted) do not say that every LIST between would have answered
    404 (an API server answers 404 for a while for a CRD it serves, after each restart:
    kubernetes#71218). A place not in ``not_served`` (it answered, or was not listed: a LIST
    that failed ends every row, its caller's) is no row any more. Each 404 is logged, what it
    concludes said (``consequence`` when not served)."""
    rows: dict[Place, tuple[float, float]] = {}
    for place in not_served:
        row = before.get(place)
        rows[place] = (row[0], at) if row is not None and at - row[1] <= 2 * recheck else (at, at)
    unserved = {place for place, (first, _) in rows.items() if at - first >= apart}
    for place, answer in not_served.items():
        first, where = rows[place][0], _in(place)
        if place in unserved:
            logger.warning("existence audit of %s: the API server does not serve %s%s: every "
                           "LIST there answered 404 for %.0f s (the last: %s): its CRD is not "
                           "installed, or was removed, and none exists: %s", kind, resource,
                           where, at - first, answer, consequence)
        elif first == at:
            logger.warning("existence audit of %s: a LIST of %s%s answered 404 (%s): nothing "
                           "concluded yet (an API server whose CRD cache lags answers so for a "
                           "while); listed again every %.0f s, none exists if every LIST there "
                           "answers 404 for %.0f s", kind, resource, where, answer, recheck,
                           apart)
        else:
            logger.info("existence audit of %s: a LIST of %s%s answered 404 again (%.0f s "
                        "since the first 404 of the row, %.0f s needed): nothing concluded yet",
                        kind, resource, where, at - first, apart)
    for place in set(before) - set(rows):
        logger.info("existence audit of %s: the 404s of %s%s ended after %.0f s (a LIST "
                    "answered, or failed): nothing concluded", kind, resource, _in(place),
                    at - before[place][0])
    return rows, unserved


def _list_each(list_uids: Callable[[str | None], set[str]], namespaces: Sequence[str | None],
               *, not_served_is_none: bool = False
               ) -> tuple[set[str], dict[str, str], dict[str | None, str]]:
    """The uids listed, the namespaces that answered 403 or 404 (with the error): one such
    namespace concludes nothing of itself, but does not blind the audit of the others; and,
    with ``not_served_is_none``, the LISTs answered 404 (namespace, None cluster-wide → the
    error) apart: a namespace that does not exist answers a LIST 200 and empty, so a 404 says
    the kind itself is not served (a custom resource whose CRD is not installed, or was
    removed), or an API server's CRD cache lags (``_refusals`` concludes only on 404s that
    lasted). Any other failure fails the whole LIST."""
    listed: set[str] = set()
    unreadable: dict[str, str] = {}
    not_served: dict[str | None, str] = {}
    for namespace in namespaces:
        try:
            listed |= list_uids(namespace)
        except Exception as error:
            status = getattr(error, "status", None)
            if not_served_is_none and status == 404:
                not_served[namespace] = str(error)
                continue
            if namespace is None or status not in (403, 404):
                raise
            unreadable[namespace] = str(error)
    return listed, unreadable, not_served


@dataclass
class WatchedAudit:
    """The audit of one kind the operator watches by label and keeps in memory: what the store
    kept before a LIST began and the LIST (with the watch's label selector) does not have is
    a ghost, dropped from the store, and its readers woken (see the module)."""

    kind: str
    api_version: str
    plural: str
    objects: WatchedObjects
    cluster: _SelectingLister
    #: One LIST of every namespace (``--all-namespaces``), else one per namespace kept.
    all_namespaces: bool
    #: The waiting tasks that read an object of the kind (from its body).
    readers: Callable[[Mapping[str, Any]], Iterable[Key]]
    wakeups: Wakeups
    #: Where LISTs answered 404 (namespaces, None cluster-wide), and when (``clock``) the first
    #: and the last 404 of that row came: only a row whose LISTs all answered 404 for ``apart``
    #: seconds or more says the kind is not served (``_refusals``; see ``run``).
    not_served: dict[Place, tuple[float, float]] = field(default_factory=dict)
    #: Seconds, any monotonic clock.
    clock: Callable[[], float] = time.monotonic
    apart: float = NOT_SERVED_APART_SECONDS
    recheck_seconds: float = NOT_SERVED_RECHECK_SECONDS

    @property
    def custom(self) -> bool:
        """Whether the kind is of an API group (a SeldonDeployment), not core (a ConfigMap):
        its LIST answered 404 means it is not served, none exists (``_list_each``)."""
        return "/" in self.api_version

    async def run(self, executor: Executor) -> dict[str, tuple[str, str]]:
        """One audit: the ghosts dropped (uid → (namespace, name)); none when the LIST failed.

        A custom resource's LIST answered 404 says "none exists" (its CRD not served) only once
        every LIST there answered 404 for ``apart`` seconds or more (``_refusals``; the place is
        listed again every ``recheck_seconds`` meanwhile: ``recheck``): an API server answers
        404 for a while for a CRD it serves (its CRD cache not synced after a restart, one
        apiserver of several behind: kubernetes#115241, #71218, #104342), and one 404 read as
        "none" dropped every graph kept and woke every model; two 404s at two audits (which are
        always that far apart) are no more than two such lags. A LIST that answers there, or
        fails, ends the row. What a 404 that concludes nothing covers is left unaudited, like a
        namespace that cannot be listed; what 404s that last drop gets no tombstone
        (``WatchedObjects.forget(bury=False)``): a read or apply that finds it keeps it."""
        kept = self.objects.kept(self.plural)  # before the LIST begins: see the module
        if not kept:  # nothing to compare with: no request
            self.not_served = {}
            return {}
        namespaces: Sequence[Place] = (
            [None] if self.all_namespaces else sorted({namespace for namespace, _, _
                                                       in kept.values()}))
        try:
            listed, unreadable, not_served = await self._list(executor, namespaces)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # KubeError, the API server unreachable, the pool shut down
            self._failed(error)
            return {}
        unserved = self._rows(not_served)
        doubtful = set(not_served) - unserved
        if None in doubtful:
            return {}
        for namespace in unreadable:
            logger.warning("existence audit of %s: namespace %r cannot be listed (%s): what the "
                           "operator keeps of it there is not audited", self.kind, namespace,
                           unreadable[namespace])
        return self._drop({uid: kept_one for uid, kept_one in kept.items()
                           if uid not in listed and kept_one[0] not in unreadable
                           and kept_one[0] not in doubtful}, unserved)

    async def recheck(self, executor: Executor) -> dict[str, tuple[str, str]]:
        """List again only where the last LISTs answered 404 (``not_served``; ``audit_forever``
        every ``recheck_seconds`` while there is such a row): what is kept where those 404s now
        conclude that the kind is not served is dropped (``run``); a place that answers, or a
        LIST that fails, ends its row. Nothing else is compared: the periodic audit does."""
        places = sorted(self.not_served, key=lambda place: place or "")
        if not places:
            return {}
        kept = self.objects.kept(self.plural)
        if not kept:
            self.not_served = {}
            return {}
        try:
            _, _, not_served = await self._list(executor, places)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._failed(error)
            return {}
        unserved = self._rows(not_served)
        return self._drop({uid: kept_one for uid, kept_one in kept.items()
                           if None in unserved or kept_one[0] in unserved}, unserved)

    async def _list(self, executor: Executor, namespaces: Sequence[Place]
                    ) -> tuple[set[str], dict[str, str], dict[Place, str]]:
        selector = label_selector(self.objects.selectors.get(self.plural, {}))
        return await asyncio.get_running_loop().run_in_executor(
            executor, functools.partial(
                _list_each, lambda namespace: self.cluster.list_uids(
                    self.api_version, self.plural, namespace, label_selector=selector),
                namespaces, not_served_is_none=self.custom))

    def _rows(self, not_served: Mapping[Place, str]) -> set[Place]:
        self.not_served, unserved = _refusals(
            self.kind, f"{self.plural}.{self.api_version}", self.not_served, not_served,
            self.clock(), self.apart, self.recheck_seconds, "what the operator keeps of them is "
            "forgotten")
        return unserved

    def _failed(self, error: Exception) -> None:
        logger.warning("existence audit of %s: the LIST failed, nothing concluded%s: %s",
                       self.kind, " (the rows of 404s start over)" if self.not_served else "",
                       error)
        self.not_served = {}

    def _drop(self, gone: Mapping[str, tuple[str, str, Mapping[str, Any]]],
              unserved: set[Place]) -> dict[str, tuple[str, str]]:
        """Forget what is ``gone`` (uid → (namespace, name, body)) and wake its readers; its
        kind not served where ``unserved``, else deleted in a watch gap."""
        ghosts: dict[str, tuple[str, str]] = {}
        for uid, (namespace, name, body) in sorted(gone.items()):
            not_served_here = None in unserved or namespace in unserved
            ghosts[uid] = (namespace, name)
            # By uid: not a name taken again. Not served is no deletion seen: no tombstone.
            self.objects.forget(self.plural, namespace, name, uid, bury=not not_served_here)
            readers = sorted(self.readers(body))
            woken = ", ".join(f"{kind} {space}/{reader}" for kind, space, reader in readers)
            logger.warning("%s %s/%s (uid %s) is gone from the API server but was still kept in "
                           "memory (%s): forgotten, %s", self.kind, namespace, name, uid,
                           "its kind is not served" if not_served_here else
                           "its DELETED event never came: a watch listed again after a gap",
                           f"and the pass of {woken} woken to "
                           + ("read it again" if not_served_here else "apply it again")
                           if woken
                           else "and nothing reads it")
            for key in readers:
                self.wakeups.wake(key)
        return ghosts


async def scraped_after_count(scrapes: Callable[[], int], *, at_least: float, at_most: float,
                              poll: float = SCRAPE_POLL_SECONDS) -> None:
    """Return once a counter just incremented is surely on a scrape of /metrics: ``at_least``
    seconds from now (one scrape interval of the operator and slack: every Prometheus scraping
    it, two of an HA pair included, had its turn) and ``EXIT_SLACK_SECONDS`` after the first
    collection that began after now (``scrapes`` counts them), so that a scrape interval longer
    than the one configured still sees the count; at ``at_most`` whatever happened (nothing
    scrapes the process)."""
    loop = asyncio.get_running_loop()
    began, before = loop.time(), scrapes()
    scraped_at: float | None = None
    while True:
        elapsed = loop.time() - began
        if scraped_at is None and scrapes() > before:
            scraped_at = elapsed
        if elapsed >= at_most or (scraped_at is not None and elapsed >= max(
                at_least, scraped_at + EXIT_SLACK_SECONDS)):
            return
        await asyncio.sleep(min(poll, max(at_most - elapsed, 0.0)))


def exit_wait(metrics_port: int, scrape_interval: float) -> tuple[float, float]:
    """(at least, at most) seconds a process that counted a ghost waits before it exits
    (``scraped_after_count``). With ``--metrics-port 0`` nothing can scrape the count: none
    (waiting kept the deleted objects in kopf's index, a deleted Campaign in its campaigns file,
    for 5 minutes for nothing). Otherwise one scrape interval + ``EXIT_SLACK_SECONDS`` at least,
    and that or ``EXIT_WAIT_CAP_SECONDS``, whichever is longer, at most: capped below the
    interval, a process scraped every 10 minutes would exit before its scrape, and
    ``UpliftOperatorGhostsFound`` would never see the count (the restarted process counts from
    0 again); a ghost reconciled one interval longer is the price of the alert."""
    if metrics_port == 0:
        return 0.0, 0.0
    at_least = scrape_interval + EXIT_SLACK_SECONDS
    return at_least, max(at_least, EXIT_WAIT_CAP_SECONDS)


async def audit_forever(audits: Sequence[ExistenceAudit], executor: Executor, *,
                        interval: float = AUDIT_SECONDS, exit_delay: float = 0.0,
                        exit_cap: float = 0.0, scrapes: Callable[[], int] = observability.scrapes,
                        exit: Callable[[str], None] = exit_to_list_afresh,
                        children: Sequence[WatchedAudit] = (),
                        first_delay: float | None = None, relisted: asyncio.Event | None = None,
                        settle: float = RELIST_SETTLE_SECONDS,
                        apart: float = RELIST_APART_SECONDS) -> None:
    """Audit each kind every ``interval`` (the first ``first_delay`` from now, else
    ``interval``): the ``children`` kept in memory first (their ghosts dropped and their
    readers woken), then the kinds with waiting tasks, at whose first ghosts the process counts
    and logs them and exits once a scrape saw the count (``scraped_after_count``:
    ``exit_delay`` at least, ``exit_cap`` at most). An audit that raises is logged, and the
    others go on.

    ``relisted`` set (a kopf watch listed again after a 410 Gone: ``readiness``), the next
    audit comes ``settle`` seconds later (the other watches' 410s of one API server restart
    folded in), but never sooner than ``apart`` after the last audit began; and after an
    audit that a relist came before (brought forward or not) found an object missing, the next
    comes ``apart`` after it, not an interval: a ghost of the gap is found within ``settle`` +
    ``apart`` (+ the exit's wait), not up to two intervals.

    While a LIST answered 404 somewhere (an audit's ``not_served``), that place alone is listed
    again every ``recheck_seconds`` of its audit (``recheck``), between the audits: its 404s
    conclude, or end, on time, not at audits an interval apart."""
    observability.ghosts_audited([audit.kind for audit in audits])
    loop = asyncio.get_running_loop()
    due = loop.time() + (interval if first_delay is None else first_delay)
    began: float | None = None
    early = False
    recheck_at: float | None = None
    while True:
        due, early = await _until_due(loop, due, relisted, settle, apart, began, early,
                                      recheck_at)
        if loop.time() < due:  # woken to list again where LISTs answered 404
            for child in children:
                await _guarded(child, child.recheck(executor), interval)
            for audit in audits:
                ghosts = await _guarded(audit, audit.recheck(executor), interval)
                if ghosts:
                    await _count_and_exit(audit, ghosts, None, scrapes, exit, exit_delay,
                                          exit_cap)
                    return
            recheck_at = _next_recheck(loop, [*children, *audits])
            continue
        previous, began = began, loop.time()
        for child in children:
            await _guarded(child, child.run(executor), interval)
        for audit in audits:
            ghosts = await _guarded(audit, audit.run(executor), interval)
            if ghosts:
                since = interval if previous is None else began - previous
                await _count_and_exit(audit, ghosts, since, scrapes, exit, exit_delay, exit_cap)
                return
        confirm = early and any(audit.missing for audit in audits)
        due = began + (min(apart, interval) if confirm else interval)
        early, recheck_at = False, _next_recheck(loop, [*children, *audits])


async def _guarded(audit: ExistenceAudit | WatchedAudit, auditing: Coroutine[Any, Any, _Found],
                   interval: float) -> _Found | None:
    """The audit's result; None, logged, when it raised: the other audits go on."""
    try:
        return await auditing
    except Exception:
        logger.exception("the existence audit of %s failed; the other audits go on, and it "
                         "runs again in %.0f s", audit.kind, interval)
        return None


def _next_recheck(loop: asyncio.AbstractEventLoop,
                  audits: Sequence[ExistenceAudit | WatchedAudit]) -> float | None:
    """When the places whose LISTs answered 404 are listed again: the shortest
    ``recheck_seconds`` from now of the audits with such a row; None without any."""
    rechecks = [audit.recheck_seconds for audit in audits if audit.not_served]
    return loop.time() + min(rechecks) if rechecks else None


async def _count_and_exit(audit: ExistenceAudit, ghosts: Ghosts, since: float | None,
                          scrapes: Callable[[], int], exit: Callable[[str], None],
                          exit_delay: float, exit_cap: float) -> None:
    """Log and count the ``ghosts`` (absent from two LISTs ``since`` seconds apart, or gone
    with their kind: ``Ghosts.unserved``), and exit once a scrape saw the count."""
    gapped = {uid: key for uid, key in ghosts.items() if uid not in ghosts.unserved}
    for uid, (kind, namespace, name) in sorted(gapped.items()):
        observability.ghost(kind)
        logger.warning("%s %s/%s (uid %s) is gone from the API server (absent from two LISTs "
                       "%.0f s apart) but its DELETED event never came: a watch listed again "
                       "after a gap", kind, namespace, name, uid, since or 0.0)
    unserved: dict[str, list[str]] = {}
    for uid, (kind, namespace, name) in sorted(ghosts.items()):
        if uid in ghosts.unserved:
            observability.ghost(kind)
            unserved.setdefault(ghosts.unserved[uid], []).append(
                f"{kind} {namespace}/{name} (uid {uid})")
    for resource, gone in sorted(unserved.items()):
        logger.warning("the API server no longer serves %s (its CRD removed): its objects are "
                       "gone with it, no DELETED event came for them, and the operator still "
                       "reconciles %d: %s", resource, len(gone), ", ".join(gone))
    await scraped_after_count(scrapes, at_least=exit_delay, at_most=max(exit_delay, exit_cap))
    causes = [cause for cause, found in (
        ("no DELETED event after a watch gap", gapped),
        (f"{audit.plural}.{GROUP} not served: its CRD removed, its objects gone with it",
         ghosts.unserved)) if found]
    exit(f"{len(ghosts)} deleted {audit.kind}(s) still reconciled ({'; '.join(causes)})")


async def _until_due(loop: asyncio.AbstractEventLoop, due: float,
                     relisted: asyncio.Event | None, settle: float, apart: float,
                     began: float | None, early: bool = False, wake: float | None = None
                     ) -> tuple[float, bool]:
    """Wait until ``due``, or sooner once ``relisted`` is set (cleared here): ``settle``
    seconds after it, and ``apart`` or more after the last audit ``began``; or until ``wake``,
    if sooner (a recheck). When the audit is due now, and whether a relist came (``early``
    already, or during this wait: the audit covers its gap, brought forward or not)."""
    while (now := loop.time()) < min(due, wake if wake is not None else due):
        until = min(due, wake) if wake is not None else due
        if relisted is None:
            await asyncio.sleep(until - now)
            continue
        try:
            await asyncio.wait_for(relisted.wait(), until - now)
        except TimeoutError:
            continue
        relisted.clear()
        early = True
        sooner = max(loop.time() + settle, -float("inf") if began is None else began + apart)
        if sooner < due:
            logger.info("a watch listed again after a 410 Gone: the existence audit runs in "
                        "%.0f s, not at its interval (what was deleted in the gap)",
                        sooner - loop.time())
            due = sooner
    return due, early


def start(memo: kopf.Memo, *, restart_after: float = RESTART_AFTER_SECONDS) -> None:
    """Once, at start-up, on the event loop (``handlers.lifecycle.share_process_state``): the
    audit task runs, started again ``restart_after`` seconds after it raised
    (``_supervised``)."""
    if memo.get("existence_audit") is not None:
        return
    config = config_of(memo)
    wakeups, cluster = memo["wakeups"], memo["uplift_dependencies"].cluster
    # A campaigns file's task has its model's uid: compared with a LIST of the models.
    audits = [ExistenceAudit(kind, plural, wakeups, cluster, config.all_namespaces)
              for kind, plural in ((upliftmodel.KIND, upliftmodel.PLURAL),
                                   (campaign.KIND, campaign.PLURAL),
                                   (campaigns_file.FILE_KIND, upliftmodel.PLURAL))]
    children = [WatchedAudit(kind, api_version, plural, memo["watched_objects"], cluster,
                             config.all_namespaces, readers, wakeups)
                for kind, api_version, plural, readers in (
                    (_GRAPHS.kind, _GRAPHS.api_version, _GRAPHS.plural, watches.graph_readers),
                    ("ConfigMap", "v1", watches.CONFIG_MAP_PLURAL, watches.file_readers))]
    exit_delay, exit_cap = exit_wait(config.metrics_port, config.metrics_scrape_interval)
    loop, relisted = asyncio.get_running_loop(), asyncio.Event()
    memo[AUDIT_SOON] = lambda: loop.call_soon_threadsafe(relisted.set)
    memo["existence_audit"] = asyncio.create_task(_supervised(
        lambda restarted: audit_forever(audits, memo["pass_executor"], exit_delay=exit_delay,
                                        exit_cap=exit_cap, children=children,
                                        first_delay=0.0 if restarted else FIRST_AUDIT_SECONDS,
                                        relisted=relisted),
        restart_after), name="existence-audit")


def relisted(memo: kopf.Memo) -> None:
    """A kopf watch listed again after a 410 Gone (``readiness``'s filter of kopf's watching
    lines, from any thread): the existence audit runs soon (``audit_forever``); nothing before
    it started."""
    soon = memo.get(AUDIT_SOON)
    if callable(soon):
        soon()


async def _supervised(auditing: Callable[[bool], Coroutine[Any, Any, None]],
                      restart_after: float, *, most: float = AUDIT_SECONDS) -> None:
    """Run ``auditing`` until it returns (the process exits) or is cancelled (``stop``); one
    that raises is logged and started again after ``restart_after`` seconds, with what the
    audits found so far (their ``missing``) kept, told it is a restart (``auditing(True)``:
    it audits at once, not after a whole interval). One that raises again sooner than ``most``
    after it started waits twice as long each time, up to ``most`` (an audit raising at once,
    restarted at once, would list every kind every few seconds). Unsupervised, an unexpected
    exception ended the audit, silently, for the process's life: no ghost was found again
    until a restart."""
    loop = asyncio.get_running_loop()
    wait, restarted = restart_after, False
    while True:
        began = loop.time()
        try:
            await auditing(restarted)
            return
        except Exception:
            if loop.time() - began >= most:  # it ran a while: not raising at once
                wait = restart_after
            logger.exception("the existence audit failed; it starts again in %gs, and "
                             "audits at once then", wait)
        await asyncio.sleep(wait)
        wait, restarted = min(wait * 2, most), True


@kopf.on.cleanup(id="stop_existence_audit")  # kopf runs one handler per id and activity
async def stop(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("existence_audit")
    if isinstance(task, asyncio.Task):
        task.cancel()
