"""Peering never silent, and healed where it can be: a missing peering object is created; what
cannot be healed is a WARNING, and ``/readyz`` is 503 while it pauses the operator.

kopf pauses every watch until the peering object its replicas share exists (a ClusterKopfPeering
cluster-wide, a KopfPeering in each namespace when namespaced) and logs that only at debug level,
while the operator's ``/healthz`` keeps answering 200. Namespaced, one missing KopfPeering pauses
the whole operator, not its namespace: kopf 1.45 gates every watch of the process on one toggle set
(``operator_paused``, any toggle on pauses all), and each watched namespace adds a toggle that is
on from the start and goes off only on an event of that namespace's peering object. A replica
already running when the object goes keeps its toggle off; the next start pauses every
namespace (a namespace deleted while still in ``watch.namespaces``, or added there before it
exists). Here kopf's own pause line is raised to WARNING
(with kopf's reason, the blockers), and a checker looks the peering objects up so that readiness
fails, naming what is missing, until they exist. A replica waiting for a higher-priority peer is
a healthy stand-by and stays ready.

Healing, as client-go's leader election creates its Lease when absent. At start, before kopf's
watches begin (``prepare_peerings``, from ``handlers.main``), the operator looks up the peering
object of each namespace named exactly (or the ClusterKopfPeering) and creates the missing ones;
kopf then finds them when its watches start and pauses nothing. Where the chart renders them too
(``--helm-creates-peerings``), the creates of the first ``HELM_CREATE_GRACE_SECONDS`` are dry
runs: Helm's first install creates them after the Deployment and fails on one that exists.
These looks run
``PREPARE_WORKERS`` at a time, stop after ``PREPARE_DEADLINE_SECONDS`` and at the first failure
to reach the API server (they run before ``/healthz`` is served); what was not looked up is
kept as configured. When every namespace is named exactly (kopf then lists no namespaces:
``OperatorConfig.cluster_reads``), one that does not exist (absent from one listing of the
namespaces made first when the operator may list them, so that no deadline keeps it; else the
create's 404 names the namespace, not the object) or is being deleted (its 403 says so), or
where the operator may not even read its KopfPeering (403: no Role there, and a namespace's
Roles go with it), is left out of kopf's set with a WARNING, instead of pausing
every other one; the checker reports it without failing readiness (nothing there can be
reconciled), creates its KopfPeering when it can read there and finds it missing, and says when
it exists, since only a restart adds it to kopf's set. With a pattern among them the operator
lists the namespaces, looks up (and creates) the KopfPeering of each that kopf will watch, and
leaves out one where it may not read, by appending its negation to each pattern matching it
(kopf's watch of a KopfPeering answered 403 gives up and its toggle stays on); a named one
that does not exist is kept: kopf watches it once it is created. Where the operator may not
list the namespaces (403: a Role in each named one, no ClusterRole), kopf watches the ones
named exactly, assumed to exist, and so do these looks and the checker (``ListedOrNamed``).
One that appears later,
matching a pattern, where the operator may not read, restarts the process
(``restart_to_leave_out``), whose start leaves it out, as does one named exactly that pauses
every watch for good (gone since it was looked up, or not answered at start: the API server
unreachable or refusing for a moment). Not one the restart would keep again: the start's
deadline cut its look short and no listing leaves it out (the listing refused or failed, a
pattern among the namespaces, or it exists without the operator's Role); the restart would
stop at the same place and exit again, every watch paused at each start: ``/readyz`` says so
instead.

Later the checker creates a peering object it finds missing and has never seen present (a
namespace matching a pattern that appears, a create refused at start and allowed since): kopf
sees its event and lifts the pause. Which namespaces it looks at is kopf's own view: the named
ones when all are exact, else the existing namespaces kopf's matcher matches (globs, ``!``
negations, comma lists). A namespace that appears without its peering object pauses every watch
until it exists, and an acting replica paused ``common.PAUSE_EXIT_GRACE_SECONDS`` exits: kopf's
pause line wakes the checker, so it is created within a second or two, not at the next check.
One this process saw present and then finds gone, in a namespace that still lives, is not
re-created: this replica's watches do not wait for it (their toggle stays off), the next start
creates it, and an uninstall that deletes it while its pods stop is not undone; ``/readyz``
is 503 naming it in words of its own (``PeeringReport.gone``: not paused, the next start
waits for it). A namespace
deleted (gone from the checker's listing, or listed again under another uid) is forgotten:
kopf makes a new toggle, on, for a namespace of that name that appears, so its peering object is
created again. A create refused (403: an RBAC without ``create`` on ``kopfpeerings.kopf.dev``,
e.g. an older chart) keeps the report as before (WARNING, 503), the refusal logged once;
another replica creating the same object first (409) is success. Installed by the chart, what
the operator creates carries Helm's adoption metadata for the release (``--helm-release``), so
that the chart rendering the same object later adopts it rather than failing.

``/readyz`` vouches for the peering objects only once a check of them succeeded (503 "not
checked yet" before, the first check running as the operator starts), and no longer after
``FAILED_CHECKS_UNREADY`` checks in a row failed (503 "cannot verify peering"): a check that
cannot reach the API server (or cannot make its client) is counted, logged, and tried again.

A peering object found missing is looked up again at every check (``CHECK_SECONDS``), one found
present only every ``PRESENT_RECHECK_SECONDS`` (``SeenPresent``): namespaced, there is one per
watched namespace, and a GET of each every 15 s on both replicas was 27 requests a second at 200
namespaces, for objects that almost never go. With a pattern among the namespaces, the listing
of the namespaces a check needs is used again for ``NAMESPACES_LIST_SECONDS`` (5 minutes), and
made at the next check after a wake-up (kopf's pause line: a namespace new, or created again,
without its KopfPeering pauses every watch) or after a check that found a peering object missing
or gone (``ListedOrNamed``, ``PeeringCheck``): it was a LIST of every namespace of the cluster
every 15 s on each replica. So a namespace deleted is forgotten up to 5 minutes late (a look of
its KopfPeering seen present is anyway up to 10 minutes late), and one that appears without
pausing anything (on the stand-by, already paused by its peer) is looked at up to 5 minutes late:
the acting replica, which kopf pauses for it, creates its KopfPeering.

The same filter of kopf's watching lines passes on kopf's "Restarting the watch-stream ..." (a
watch answered 410 Gone and lists again; debug, left so) to the existence audit
(``existence.relisted``), which then runs within a minute rather than at its interval: what was
deleted while that watch was away gets no DELETED event.

A watch-stream that fails needs nothing here: kopf 1.45 runs each kind's watch in each namespace
as a task of its own, and when one ends on an error (its paged LIST's continue token expired
between two pages, 410 "The provided continue parameter is too old", which kopf does not list
again for; a 5xx past kopf's retries; a 403 or 404; an error event of the watch other than 410),
kopf logs "Watcher for ... has failed", its orchestrator raises that error, every other task is
stopped and ``kopf.run`` raises (``handlers.main``): the process exits non-zero, and its restart
lists every kind afresh. A cause that lasts (RBAC missing for a watched kind) is a crash loop
with the error in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import urllib3
from aiohttp import web
from kopf._cogs.structs.references import NamespaceName, match_namespace
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from uplift_operator.adapters.kube import REQUEST_RETRIES, CoreReads, load_api_client
from uplift_operator.handlers import existence, observability
from uplift_operator.handlers.common import config_of, exit_to_list_afresh
from uplift_operator.settings import PATTERN_CHARS, OperatorConfig

__all__ = ["LeftOut", "Peering", "PeeringCheck", "PeeringObjects", "PeeringReport", "Readiness",
           "SeenPresent", "StartPlan", "check_peerings", "create_answer", "exclude_namespaces",
           "kopf_namespaces", "not_reached_notes", "plan_patterned_start", "plan_start",
           "prepare_peerings", "read_answer", "surface_paused_watches"]

logger = logging.getLogger(__name__)
CHECK_SECONDS = 15.0
#: A peering object seen present is looked up again after this (seconds). What pauses the
#: watches is kopf's own view, not this check: a running replica keeps going when its object
#: goes, and a replica that starts looks every object up afresh. So seeing a present one rarely
#: delays only the report of its deletion (503 and the WARNING), by up to this long.
PRESENT_RECHECK_SECONDS = 600.0
#: With a ``--namespace`` pattern, the checker lists the namespaces again after this long
#: (seconds), or at its next check when woken or when a peering object is missing or gone
#: (``ListedOrNamed``).
NAMESPACES_LIST_SECONDS = 300.0
_WATCHING_LOGGER = "kopf._cogs.clients.watching"
#: The label on a peering object the operator created itself (the chart's carry the release's).
CREATED_BY_LABEL = {"app.kubernetes.io/created-by": "uplift-operator"}


class _PausedWatchAtWarning(logging.Filter):
    """kopf logs "Pausing the watch-stream ..." at debug: raise it to WARNING, drop other debug.
    ``on_pause`` is called at each pause line (the readiness checker's wake-up), ``on_relist``
    at each "Restarting the watch-stream ..." line: kopf logs it (at debug, kept so) when a
    watch answered 410 Gone, and only then, just before it lists that resource again; an
    object deleted while the watch was away gets no DELETED event, and the existence audit
    (``existence.relisted``) runs soon rather than at its interval.

    The lines also set ``uplift_operator_paused`` (``observability.watches_paused``): kopf gates
    every resource watch of the process on one toggle set, so each pause makes every
    watch-stream log its pause line and each resume its resume line (the peering objects' own
    watches log neither): the last of them says whether the process is paused now, from its
    start on, before any pass completed."""

    def __init__(self, verbose: bool, on_pause: Callable[[], None] | None = None,
                 on_relist: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.on_pause = on_pause
        self.on_relist = on_relist

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith("Pausing the watch-stream"):
            observability.watches_paused(True)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (f"{text} No resource of this watch is reconciled until "
                                       "every blocker resolves (see /readyz)."), None
            if self.on_pause is not None:
                with contextlib.suppress(Exception):  # a loop closing: never break kopf's logging
                    self.on_pause()
            return True
        if text.startswith("Resuming the watch-stream"):
            observability.watches_paused(False)
            record.levelno, record.levelname = logging.INFO, "INFO"
            return True
        if text.startswith("Restarting the watch-stream") and self.on_relist is not None:
            with contextlib.suppress(Exception):  # never break kopf's logging
                self.on_relist()
        return record.levelno > logging.DEBUG or self.verbose


def surface_paused_watches(verbose: bool, on_pause: Callable[[], None] | None = None,
                           on_relist: Callable[[], None] | None = None) -> None:
    watching = logging.getLogger(_WATCHING_LOGGER)
    watching.setLevel(logging.DEBUG)
    watching.addFilter(_PausedWatchAtWarning(verbose, on_pause, on_relist))


class Peering(enum.Enum):
    """What the lookup of one peering object (and its creation, when missing) found."""

    PRESENT = "present"  # found, created, or created by another replica first (409)
    MISSING = "missing"  # absent, not (yet) created
    NOT_CREATED = "not created"  # absent, and the operator may not create it (403)
    NO_NAMESPACE = "no namespace"  # its namespace does not exist (the create's 404)
    NO_ACCESS = "no access"  # the operator may not even read it there (403 on the GET)


#: A namespace whose peering object answered this at start is left out of kopf's set: kopf could
#: not watch it either, and its toggle would pause every other namespace.
UNWATCHABLE = frozenset({Peering.NO_NAMESPACE, Peering.NO_ACCESS})


def read_answer(error: ApiException | None, namespace: str | None) -> Peering:
    """A GET of the peering object (``error``: None when it answered 200). A 404 is the object's
    even in a namespace that does not exist (reads are not checked against the namespace). A
    403 in a namespace: the operator has no Role there, and a namespace's Roles go with it, so
    that namespace is gone or was never given to the operator. Anything else raises."""
    if error is None:
        return Peering.PRESENT
    if error.status == 404:
        return Peering.MISSING
    if error.status == 403 and namespace is not None:
        return Peering.NO_ACCESS
    raise error


def create_answer(error: ApiException | None) -> Peering:
    """A create of the peering object (``error``: None when it answered 201). 409: another
    replica (or the chart) created it first. 404 whose details name a namespace: the namespace
    does not exist; 403 with the cause ``NamespaceTerminating``: it is being deleted (both the
    API server's NamespaceLifecycle admission). Another 403: RBAC without ``create``
    (authorization comes before that admission, so this says nothing of the namespace).
    Another 404 (the CRD missing) raises with anything else."""
    if error is None or error.status == 409:
        return Peering.PRESENT
    details = _details(error.body)
    if error.status == 403:
        causes = details.get("causes")
        terminating = isinstance(causes, list) and any(
            isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes)
        return Peering.NO_NAMESPACE if terminating else Peering.NOT_CREATED
    if error.status == 404 and details.get("kind") == "namespaces":
        return Peering.NO_NAMESPACE
    raise error


def _details(body: object) -> dict[str, Any]:
    """The ``details`` of the API server's Status in an error's body ({} if none)."""
    try:
        details = json.loads(body).get("details")  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        return {}
    return details if isinstance(details, dict) else {}


def _describe(name: str, namespace: str | None) -> str:
    if namespace is None:
        return f"ClusterKopfPeering {name!r}"
    return f"KopfPeering {name!r} in namespace {namespace!r}"


#: Helm's adoption metadata: an object carrying it for a release is taken into that release by
#: its next ``helm install/upgrade`` that renders it, where one without it fails the release
#: ("exists and cannot be imported into the current release: invalid ownership metadata").
HELM_MANAGED_BY = {"app.kubernetes.io/managed-by": "Helm"}


def helm_adoption(release: tuple[str, str] | None) -> dict[str, dict[str, str]]:
    """The labels and annotations that let Helm's ``release`` (name, namespace) adopt an object
    the operator created ({} without a release: the plain manifests/ install)."""
    if release is None:
        return {}
    name, namespace = release
    return {"labels": dict(HELM_MANAGED_BY),
            "annotations": {"meta.helm.sh/release-name": name,
                            "meta.helm.sh/release-namespace": namespace}}


#: When this process started (monotonic): a chart's operator creates no peering object before
#: ``HELM_CREATE_GRACE_SECONDS`` from it (``PeeringObjects``).
_PROCESS_START = time.monotonic()
#: Helm 3's first ``install`` checks for existing objects only before it creates anything, then
#: creates the peering objects (an unknown kind: last, after the Deployment) with a plain create,
#: which fails the install if a pod created one first. Within this long of its start, a chart's
#: operator only asks the API server whether the create would succeed (a dry run: the same
#: answers, the namespace's absence or RBAC's refusal included) and leaves the object to Helm.
HELM_CREATE_GRACE_SECONDS = 60.0


class PeeringObjects:
    """The peering objects named ``name`` as the API server answers for them: read, create.
    ``helm_release`` (name, namespace): the chart's release, whose adoption metadata every
    object created carries, so that the chart rendering the same object later (its
    ``peering.create`` switched on) adopts it. ``helm_creates``: the chart renders them too; then
    a create before ``not_before`` (monotonic; ``HELM_CREATE_GRACE_SECONDS`` after the process
    started) is a dry run, whose success reads as still missing: Helm's install is creating it."""

    def __init__(self, api: client.CustomObjectsApi, name: str,
                 helm_release: tuple[str, str] | None = None, *,
                 helm_creates: bool = False, not_before: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.name = name
        self.helm_release = helm_release
        self.not_before = (not_before if not_before is not None
                           else _PROCESS_START + HELM_CREATE_GRACE_SECONDS
                           if helm_creates else 0.0)
        self.clock = clock
        self._refusal_logged = False
        self._left_out_refusal_logged = False
        self._left_to_helm: set[str | None] = set()  # said once each

    def read(self, namespace: str | None, timeout: float | None = None) -> Peering:
        timeout = REQUEST_TIMEOUT_SECONDS if timeout is None else timeout
        try:
            if namespace is None:
                self.api.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings",
                                                   self.name, _request_timeout=timeout)
            else:
                self.api.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings",
                                                      self.name, _request_timeout=timeout)
        except ApiException as error:
            return read_answer(error, namespace)
        return Peering.PRESENT

    def body(self, namespace: str | None) -> dict[str, Any]:
        kind = "ClusterKopfPeering" if namespace is None else "KopfPeering"
        adoption = helm_adoption(self.helm_release)
        metadata: dict[str, Any] = {"name": self.name,
                                    "labels": {**CREATED_BY_LABEL, **adoption.get("labels", {})}}
        if "annotations" in adoption:
            metadata["annotations"] = adoption["annotations"]
        return {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": metadata}

    def _post(self, namespace: str | None,
              timeout: float | None) -> tuple[Peering, ApiException | None]:
        body = self.body(namespace)
        timeout = REQUEST_TIMEOUT_SECONDS if timeout is None else timeout
        dry = self.clock() < self.not_before
        options: dict[str, Any] = {"_request_timeout": timeout, **({"dry_run": "All"} if dry else {})}
        try:
            if namespace is None:
                self.api.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings",
                                                      body, **options)
            else:
                self.api.create_namespaced_custom_object("kopf.dev", "v1", namespace,
                                                         "kopfpeerings", body, **options)
        except ApiException as error:
            return create_answer(error), error
        if dry:
            if namespace not in self._left_to_helm:
                self._left_to_helm.add(namespace)
                logger.info("%s is missing: left to the chart's release for now (created from "
                            "%.0f s after the operator's start if still missing)",
                            _describe(self.name, namespace), HELM_CREATE_GRACE_SECONDS)
            return Peering.MISSING, None
        logger.info("created %s, which was missing: kopf's watches wait for it",
                    _describe(self.name, namespace))
        return Peering.PRESENT, None

    def create(self, namespace: str | None, timeout: float | None = None) -> Peering:
        """Create the peering object of a namespace kopf watches (or the cluster's)."""
        answer, error = self._post(namespace, timeout)
        if error is not None and answer is Peering.NOT_CREATED and not self._refusal_logged:
            self._refusal_logged = True
            plural = "clusterkopfpeerings" if namespace is None else "kopfpeerings"
            logger.warning("cannot create %s: %s %s. The operator's RBAC lacks create on "
                           "%s.kopf.dev (a chart or manifests/ older than this operator): "
                           "it creates no missing peering object, and reports each as "
                           "before. Said once.", _describe(self.name, namespace),
                           error.status, error.reason, plural)
        return answer

    def create_left_out(self, namespace: str) -> Peering:
        """Create the KopfPeering of a namespace left out at start, which the operator could
        read (404): its own refusal message, said once, apart from ``create``'s."""
        answer, error = self._post(namespace, None)
        if (error is not None and answer is Peering.NOT_CREATED
                and not self._left_out_refusal_logged):
            self._left_out_refusal_logged = True
            logger.warning("cannot create %s in a namespace left out at start: %s %s. The "
                           "operator may read it there but not create it (a Role without "
                           "create on kopfpeerings.kopf.dev): create it, then restart the "
                           "operator to watch the namespace. Said once.",
                           _describe(self.name, namespace), error.status, error.reason)
        return answer


@dataclasses.dataclass(frozen=True)
class StartPlan:
    """kopf's namespace set (``watched``, in the given order, patterns kept) and the named
    namespaces left out of it (``left_out``)."""

    watched: tuple[str, ...]
    left_out: tuple[str, ...]


def plan_start(namespaces: Sequence[str], found: Mapping[str, Peering]) -> StartPlan:
    """Which namespaces kopf watches, from what the start-up look at each exact namespace's
    peering object ``found`` (a namespace not in ``found``: its look failed; kept, as is any
    pattern). A namespace that does not exist, or where the operator may not read its peering
    object, is left out: kopf could reconcile nothing there, and its toggle would pause all
    the others. The caller refuses to start when nothing is left to watch."""
    left_out = tuple(n for n in namespaces if found.get(n) in UNWATCHABLE)
    return StartPlan(tuple(n for n in namespaces if n not in left_out), left_out)


def plan_patterned_start(patterns: Sequence[str], watched: Iterable[str],
                         found: Mapping[str, Peering]) -> StartPlan:
    """``plan_start`` with a pattern among the namespaces: kopf lists the namespaces and
    watches those that exist and match (``watched``, ``kopf_namespaces``). One of those where
    the operator may not read its peering object (no Role there) is left out, as a named one
    is when all are exact: its toggle would pause every watch for good, since the event of its
    peering object that turns the toggle off never comes to a watch answered 403. Left out,
    it leaves kopf's patterns (``exclude_namespaces``). One that does not exist is not left
    out: kopf does not watch it, and watches it once it is created."""
    watched = set(watched)
    left_out = tuple(sorted(n for n in watched if found.get(n) is Peering.NO_ACCESS))
    return StartPlan(exclude_namespaces(patterns, left_out), left_out)


def exclude_namespaces(patterns: Sequence[str], excluded: Iterable[str]) -> tuple[str, ...]:
    """kopf's namespace ``patterns`` matching none of the ``excluded`` namespaces and every
    namespace they matched else: a name given exactly among them is dropped, and each pattern
    that matches one gets its negation appended (``team-*`` becomes ``team-*,!team-x``). kopf
    watches a namespace that any one pattern matches, so a ``!team-x`` of its own would match
    every other namespace; appended last, it un-matches ``team-x`` whatever the globs before
    it did (kopf's ``match_namespace`` reads them left to right), and only ``team-x``: a
    namespace's name holds no glob character."""
    excluded = sorted(set(excluded))
    kept: list[str] = []
    for pattern in patterns:
        if pattern in excluded:
            continue
        negations = [f"!{n}" for n in excluded if match_namespace(NamespaceName(n), pattern)]
        kept.append(",".join([pattern, *negations]))
    return tuple(kept)


def _timed_out(error: BaseException) -> bool:
    """Whether ``error`` is a request's timeout (the builtin's, urllib3's, or urllib3's
    ``MaxRetryError`` after one)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, TimeoutError | urllib3.exceptions.TimeoutError):
            return True
        reason = getattr(current, "reason", None)
        todo += [reason if isinstance(reason, BaseException) else None,
                 current.__cause__, current.__context__]
    return False


def _exact(namespaces: Iterable[str]) -> list[str]:
    return [n for n in namespaces if not any(c in n for c in PATTERN_CHARS)]


def _namespace_lister(api_client: client.ApiClient) -> Callable[[float], list[str]]:
    """The names of the namespaces that exist, each listing given ``timeout`` seconds."""
    core = CoreReads(api_client)

    def listed(timeout: float) -> list[str]:
        core.request_timeout = (timeout, timeout)
        return [str(n.metadata.name) for n in core.list_namespace().items if n.metadata]

    return listed


#: How long the start-up looks may take in all (seconds). They run before ``/healthz`` is
#: served: the chart's liveness probe (every 20 s, 3 failures) would kill a pod held longer
#: by a slow API server or many namespaces. What is not looked up by then is kept as configured.
PREPARE_DEADLINE_SECONDS = 15.0
#: How many start-up looks run at once: a few hundred namespaces at 50 ms a look took the whole
#: deadline one at a time. A bounded pool, as client-go's informers share one client's connections.
PREPARE_WORKERS = 8
#: The exact namespaces whose peering object the start-up of this process did not reach before
#: its deadline (a look never sent, or a request timed out with its timeout cut by the deadline)
#: when no listing of the namespaces answered first (refused: Roles only; failed; or with a
#: pattern, where only a look finds one unreadable): a restart would make the same looks and stop
#: at the same place, so the checker does not restart the process for them
#: (``restart_to_leave_out``). Not one unanswered for any other reason (the API server
#: unreachable, an error answered: a restart looks it up again).
_not_answered_at_start: frozenset[str] = frozenset()
#: Those the deadline cut short although the listing answered (all named exactly): a restart's
#: listing leaves one out if it does not exist, and only then is it worth a restart.
_cut_though_listed: frozenset[str] = frozenset()
#: The attempts urllib3 may make of one request (``adapters.kube.REQUEST_RETRIES``: retries + 1).
_ATTEMPTS = int(REQUEST_RETRIES.total or 0) + 1


def prepare_peerings(config: OperatorConfig, objects: PeeringObjects | None = None, *,
                     listed: Callable[[float], Iterable[str]] | None = None,
                     deadline: float = PREPARE_DEADLINE_SECONDS,
                     clock: Callable[[], float] = time.monotonic,
                     workers: int = PREPARE_WORKERS) -> OperatorConfig | None:
    """Before kopf starts: create the missing peering objects and leave out of kopf's set the
    namespaces that cannot be watched; the configuration kopf is to run with, or None when no
    named namespace can be watched (kopf, given none, would watch the whole cluster).

    When every namespace is named exactly, one that does not exist or where the operator may
    not read its peering object is left out (``plan_start``). The namespaces are listed first
    (``listed``, each listing given a timeout; by default the API server's) when the operator
    may (a ClusterRole to list them): a named one absent is left out at once, however many
    looks the deadline cuts short; refused (403: Roles only) or failed, each named one's look
    says it.
    With a pattern among them kopf lists the namespaces too and watches those that exist and
    match, adding one when it is created: the peering objects of those and of the named ones
    are looked up, the missing ones created, and one kopf would watch where the operator may
    not read is left out (``plan_patterned_start``). A named one that does not exist pauses
    nothing then, and left out it would not be watched when it appears: it is kept. Namespaces
    that cannot be listed (403: no ClusterRole to list them, kopf then watches the named ones
    only) leave the named ones looked up, and nothing left out.

    The looks run ``workers`` at a time, in the configured order, and stop at ``deadline``
    seconds (each request's timeout cut to what is left) and at the first failure that is not
    the API server's answer (unreachable, timed out: the next would wait as long). What was not
    looked up is kept: kopf and the checker carry on as without this. The checker restarts the
    process for a namespace it finds that pauses every watch for good (``restart_to_leave_out``)
    unless the deadline cut its look short (never sent, or timed out on a timeout the deadline
    cut) and no listing would leave it out: the restart would make the same looks, stop at the
    same place and keep it again. Not answered for another reason (the API server unreachable,
    an error answered: a moment's outage as the pod starts), the restart looks it up again."""
    global _not_answered_at_start, _cut_though_listed
    if config.standalone:
        return config
    patterned = config.cluster_reads and not config.all_namespaces
    if objects is None or (listed is None and patterned):
        api_client = load_api_client()
        if objects is None:
            objects = PeeringObjects(client.CustomObjectsApi(api_client), config.peering_name,
                                     config.helm_release,
                                     helm_creates=config.helm_creates_peerings)
        if listed is None and not config.all_namespaces:
            listed = _namespace_lister(api_client)
        # One connection a look: urllib3 keeps no more (it would discard the rest, warning).
        workers = min(workers, max(1, int(api_client.configuration.connection_pool_maxsize)))
    keys: list[str | None] = [None] if config.all_namespaces else list(_exact(config.namespaces))
    watched: set[str] = set()
    found: dict[str, Peering] = {}
    end = clock() + deadline

    def time_left() -> float:
        """A request's timeout: what is left, shared among the attempts urllib3 may make of
        it (``REQUEST_RETRIES``: an unreachable server's connect is tried 4 times, each with
        the whole timeout), so that one request cannot outlast the deadline."""
        return min(REQUEST_TIMEOUT_SECONDS, end - clock()) / _ATTEMPTS

    unreachable = False
    listing_answered = False
    if listed is not None and not config.all_namespaces and (patterned or keys):
        try:
            existing = set(listed(time_left()))
        except ApiException as error:  # e.g. 403: kopf falls back to the named ones too
            if patterned:
                logger.warning("cannot list the namespaces at start: %s %s. Only the namespaces "
                               "named exactly are looked up.", error.status, error.reason)
            else:  # Roles only, no ClusterRole: each named one's own look says whether it exists
                logger.info("cannot list the namespaces at start (%s %s): each named one is "
                            "looked up", error.status, error.reason)
        except Exception as error:  # e.g. urllib3's MaxRetryError: kopf will say the rest
            if patterned:
                logger.warning("cannot list the namespaces at start: %s: %s. Nothing looked "
                               "up, kept as configured (kopf and the readiness checker carry "
                               "on).", type(error).__name__, error)
                unreachable = True
            else:  # kopf lists none here: the looks, if the API server answers them, say it
                logger.warning("cannot list the namespaces at start: %s: %s. Each named one is "
                               "looked up.", type(error).__name__, error)
        else:
            listing_answered = True
            if patterned:
                watched = kopf_namespaces(config, lambda: existing)
            else:  # all exact: one that does not exist needs no look of its own
                found.update((k, Peering.NO_NAMESPACE) for k in keys
                             if k is not None and k not in existing)
                keys = [k for k in keys if k in existing]
        keys += sorted(watched - set(keys))
    stop = threading.Event()
    failures: list[tuple[str | None, Exception]] = []
    answered_errors: set[str | None] = set()  # an error answered: looked up, no answer to use
    answers: list[Peering | None] = []
    cut: set[str | None] = set()  # not reached before the deadline: a restart stops there too
    stopped_by_deadline: list[bool] = []  # the failure that stopped the looks timed out, cut

    def look(key: str | None) -> Peering | None:
        """``key``'s answer, or None: not looked up (the deadline, a failure)."""
        if stop.is_set():
            if stopped_by_deadline and stopped_by_deadline[0]:
                cut.add(key)
            return None
        cut_short = False
        try:
            for request in (objects.read, objects.create):
                if time_left() <= 0:
                    cut.add(key)
                    return None
                cut_short = end - clock() < REQUEST_TIMEOUT_SECONDS
                answer = request(key, time_left())
                if answer is not Peering.MISSING:
                    break
        except ApiException as error:  # this object's answer: the others may differ
            logger.warning("cannot look up %s at start: %s %s", _describe(config.peering_name, key),
                           error.status, error.reason)
            answered_errors.add(key)
            return None
        except Exception as error:  # e.g. urllib3's MaxRetryError: kopf will say the rest
            # A request timed out on a timeout the deadline cut is the deadline's doing: a
            # restart's looks, as slow, time out at the same place. Anything else is a failure
            # of the moment (the API server unreachable): a restart looks it up again.
            by_deadline = cut_short and _timed_out(error)
            if by_deadline:
                cut.add(key)
            if not stop.is_set():
                stopped_by_deadline.append(by_deadline)
                stop.set()
            failures.append((key, error))
            return None
        return answer

    todo = [] if unreachable else keys
    if todo:
        with ThreadPoolExecutor(max(1, min(workers, len(todo))),
                                thread_name_prefix="peering-look") as pool:
            answers = list(pool.map(look, todo))
        found.update((k, a) for k, a in zip(todo, answers, strict=True)
                     if k is not None and a is not None)
    missed = [k for k, a in zip(todo, answers, strict=True)
              if a is None and k not in answered_errors]
    if missed:
        first, failure = failures[0] if failures else (
            missed[0], TimeoutError(f"{deadline:g} s passed"))
        reason = f"{type(failure).__name__}: {failure}"
        rest = [k for k in missed if k is not None]
        logger.warning("cannot look up %s at start: %s. Not looked up, kept as "
                       "configured: %s (kopf and the readiness checker carry on).",
                       _describe(config.peering_name, first), reason,
                       ", ".join(rest) or "the ClusterKopfPeering")
    cut_names = frozenset(k for k in cut if k is not None and k not in found)
    # Only the deadline repeats at a restart, and only where no listing leaves a namespace out
    # first: with a pattern only a look finds one unreadable (a listing does not).
    listing_leaves_out = listing_answered and not patterned
    _not_answered_at_start = frozenset() if listing_leaves_out else cut_names
    _cut_though_listed = cut_names if listing_leaves_out else frozenset()
    if config.all_namespaces:
        return config
    plan = (plan_patterned_start(config.namespaces, watched, found) if patterned
            else plan_start(config.namespaces, found))
    for namespace in plan.left_out:
        why = ("does not exist" if found[namespace] is Peering.NO_NAMESPACE else
               "cannot be read by the operator (no Role there: it may not exist)")
        logger.warning("namespace %r %s: left out of the watched namespaces, so that it does not "
                       "pause every other one (kopf requires its KopfPeering). Nothing there is "
                       "reconciled; a restart of the operator watches it once it exists (with "
                       "the operator's Role).", namespace, why)
    if not plan.watched:
        logger.error("none of the namespaces to watch (%s) can be watched: they do not exist, "
                     "or the operator may not read them. Create them (and the operator's "
                     "Roles), then start it again.", ", ".join(plan.left_out))
        return None
    return dataclasses.replace(config, namespaces=plan.watched, left_out_namespaces=plan.left_out)


@dataclasses.dataclass(frozen=True)
class PeeringReport:
    """``missing``: peering objects kopf waits for, so every watch of the process is paused;
    ``notes``: namespaces where nothing is reconciled, which pause nothing; ``stuck``:
    namespaces in kopf's set whose peering object can never come and was never seen: kopf
    pauses every watch for good, and only a start that leaves them out (``prepare_peerings``)
    ends it. Those are the namespaces where the operator may not read (no Role there: kopf's
    watch of the peering object is answered 403, and gives up), named or matching a pattern,
    and, when all are named exactly, those that do not exist (with a pattern kopf watches only
    the namespaces that exist, and drops one deleted). ``gone``: peering objects this process
    saw present and then found deleted, in a namespace that lives: kopf's toggle for each went
    off when it was seen, so this replica is not paused, but a replica that starts waits for
    them, every watch paused, unless it may create them. ``absent``: those of ``stuck`` that
    do not exist (a listing of the namespaces at start leaves them out)."""

    missing: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    stuck: list[str] = dataclasses.field(default_factory=list)
    gone: list[str] = dataclasses.field(default_factory=list)
    absent: list[str] = dataclasses.field(default_factory=list)


def kopf_namespaces(config: OperatorConfig, listed: Callable[[], Iterable[str]]) -> set[str]:
    """The namespaces kopf watches, as kopf decides it: every name given when all are exact
    (kopf then lists no namespaces: ``lifecycle`` turns its scanning off, ``cluster_reads``);
    with a pattern among them (``settings.PATTERN_CHARS``: globs, ``!`` negations, comma
    lists), the ``listed`` namespaces that kopf's own matcher matches with one of them, named
    ones included (kopf watches those only while they exist)."""
    if not config.cluster_reads:
        return set(config.namespaces)
    return {n for n in listed()
            if any(match_namespace(NamespaceName(n), p) for p in config.namespaces)}


def check_peerings(config: OperatorConfig, look: Callable[[str | None], Peering],
                   namespaces: Callable[[], Iterable[str]],
                   left_out: Callable[[str], Peering] | None = None,
                   seen: Callable[[str | None], bool] = lambda _: False) -> PeeringReport:
    """What ``look`` (``None``: the cluster's) finds of the peering objects kopf waits for
    (``kopf_namespaces``, from the ``namespaces`` that exist), and what ``left_out`` finds of
    the namespaces left out at start (whether they exist now). A watched namespace gone (or no
    longer readable) pauses nothing once its peering object was ``seen`` (kopf's toggle for it
    went off then); one never seen still holds every watch of the process paused, and is
    reported missing, and ``stuck`` when that lasts for good (``PeeringReport``). A peering
    object ``seen`` and now deleted, its namespace living, pauses nothing either: ``gone``."""
    if config.standalone:
        return PeeringReport([])
    name = config.peering_name
    deleted = (Peering.MISSING, Peering.NOT_CREATED)
    if config.all_namespaces:
        found = look(None)
        if found is Peering.PRESENT:
            return PeeringReport([])
        if found in deleted and seen(None):
            return PeeringReport([], gone=[_describe(name, None)])
        return PeeringReport([_describe(name, None)])
    watched = kopf_namespaces(config, namespaces)
    missing: list[str] = []
    notes: list[str] = []
    stuck: list[str] = []
    gone: list[str] = []
    absent: list[str] = []
    for namespace in sorted(watched):
        found = look(namespace)
        if found in deleted and seen(namespace):
            gone.append(_describe(name, namespace))
        elif found in deleted or (
                found in UNWATCHABLE and not seen(namespace)):
            missing.append(_describe(name, namespace))
            if found is Peering.NO_ACCESS or (found is Peering.NO_NAMESPACE
                                              and not config.cluster_reads):
                stuck.append(namespace)
                if found is Peering.NO_NAMESPACE:
                    absent.append(namespace)
        elif found is Peering.NO_NAMESPACE:
            notes.append(f"namespace {namespace!r} no longer exists: nothing there to reconcile "
                         "(the next start leaves it out)")
        elif found is Peering.NO_ACCESS:
            notes.append(f"the operator may no longer read namespace {namespace!r} (no Role "
                         "there: the namespace may be gone): nothing there is reconciled (the "
                         "next start leaves it out)")
    for namespace in config.left_out_namespaces:
        now = left_out(namespace) if left_out is not None else Peering.NO_NAMESPACE
        if now is Peering.PRESENT:
            notes.append(f"namespace {namespace!r} exists now, with its KopfPeering, but is not "
                         "watched (it could not be at start): restart the operator to watch it")
        elif now is Peering.NOT_CREATED:
            notes.append(f"namespace {namespace!r} exists now but is not watched, and the "
                         "operator may not create its KopfPeering there (a Role without "
                         "create): create it, then restart the operator to watch it")
        else:
            notes.append(f"namespace {namespace!r} is not watched: it did not exist at start, or "
                         "the operator may not read it; a restart watches it once it exists")
    return PeeringReport(missing, notes, stuck, gone, absent)


#: After this many checks in a row failed (the API server unreachable, a read refused), each
#: ``CHECK_SECONDS`` after the last ended, ``/readyz`` no longer vouches for the peering
#: objects it last found: 503 "cannot verify peering". That takes from about 45 s (failures
#: answered at once: an error status, a refused connection) to about 3.5 minutes: a failed
#: check waits for its first request that fails, each try given ``REQUEST_TIMEOUT_SECONDS``
#: and retried (``adapters.kube.REQUEST_RETRIES``): 20 s for an API server that accepts and
#: never answers (a GET tried again once), 40 s for one that accepts no connection (4 tries).
FAILED_CHECKS_UNREADY = 4


class Readiness:
    """The state behind ``/readyz``: ready once started, once a check of the peering objects
    succeeded, and while no peering object is missing and fewer than ``FAILED_CHECKS_UNREADY``
    checks in a row failed; the notes (namespaces not reconciled that pause nothing) are in its
    answer, never a 503.

    Not ready before the first check succeeds: until then nothing says the peering objects
    exist, and a process started without them is paused from its start (kopf waits for them).
    The first check runs as the operator starts, so this costs a healthy start the time of one
    check (the readiness probe comes every 10 s). A check that keeps failing is not ready
    either (``cannot verify peering``): before, ``/readyz`` kept answering what the last check
    found, or 200 for ever when none ever succeeded.

    A peering object this process saw and then found deleted (``gone``) is a 503 too, in words
    of its own: this replica is not paused (kopf saw it, and its watches do not wait for it),
    but the next replica to start (a restart, a rollout, an eviction) pauses every watch until
    it exists, unless that start may create it. Not ready, so that the Deployment shows the
    gap while nothing is lost yet (a rollout of the operator waits for it, and ``kubectl get
    pods`` says 0/1), rather than first at the page after the next start; the pod is still
    scraped, and this replica keeps acting."""

    def __init__(self) -> None:
        self.started = False
        #: Whether a check of the peering objects succeeded yet.
        self.checked = False
        #: The checks failed in a row since the last that succeeded, and the last one's error.
        self.failures = 0
        self.last_error = ""
        self.missing: list[str] = []
        self.notes: list[str] = []
        self.gone: list[str] = []

    def problems(self) -> list[str]:
        if not self.started:
            waiting = ["the operator is starting"]
        elif not self.checked:
            waiting = ["the peering objects have not been checked yet" + (
                f" ({self.failures} check(s) failed, the last: {self.last_error})"
                if self.failures else "")]
        elif self.failures >= FAILED_CHECKS_UNREADY:
            waiting = [f"cannot verify peering: the last {self.failures} checks of the peering "
                       f"objects failed, the last: {self.last_error}"]
        else:
            waiting = []
        return waiting + [f"{m} does not exist: kopf keeps every watch of the operator paused"
                          for m in self.missing] + [
            f"{g} was deleted: this replica is not paused (kopf saw it, and its watches do not "
            "wait for it), but a replica that starts pauses every watch until it exists, "
            "unless it may create it: create it again" for g in self.gone]

    async def handle(self, _: web.Request) -> web.Response:
        problems = self.problems()
        notes = "".join(f"note: {n}\n" for n in self.notes)
        if problems:
            return web.Response(status=503,
                                text="not ready: " + "; ".join(problems) + "\n" + notes)
        return web.Response(text="ok\n" + notes)

    def check_failed(self, error: str) -> None:
        """A check of the peering objects failed with ``error``: logged, and counted (a
        success, ``update``, ends the count)."""
        self.failures += 1
        self.last_error = error
        logger.warning("cannot check the peering objects: %s", error)
        if self.failures == FAILED_CHECKS_UNREADY:
            logger.warning("%d checks of the peering objects in a row failed: readiness is 503 "
                           "(cannot verify peering) until one succeeds", self.failures)

    def update(self, missing: list[str], notes: Sequence[str] = (),
               gone: Sequence[str] = ()) -> None:
        """A check succeeded and found ``missing``, ``notes`` and ``gone``."""
        if self.failures >= FAILED_CHECKS_UNREADY:
            logger.info("the peering objects are checked again after %d failed checks",
                        self.failures)
        self.checked, self.failures, self.last_error = True, 0, ""
        for item in sorted(set(missing) - set(self.missing)):
            logger.warning("%s does not exist: kopf pauses every watch of the operator, in "
                           "every namespace, so nothing is reconciled anywhere (a replica already "
                           "running when it went keeps going until it restarts). Create it (the "
                           "chart and manifests/ do, see docs/install.md; the operator creates "
                           "one missing at its start when its RBAC allows), remove its namespace "
                           "from the watched ones, or run with --standalone. Readiness is 503 "
                           "until then.", item)
        for item in sorted(set(self.missing) - set(missing)):
            logger.info("%s exists now; its watches resume", item)
        for item in sorted(set(gone) - set(self.gone)):
            logger.warning("%s was deleted. This replica keeps reconciling (kopf saw it, and its "
                           "watches do not wait for it) and does not create it again (an "
                           "uninstall deleting it while the pods stop must not be undone), but "
                           "the next replica to start (a restart, a rollout, an eviction) pauses "
                           "every watch until it exists, unless its RBAC lets it create it. "
                           "Create it again (the chart and manifests/ do, see "
                           "docs/install.md). Readiness is 503 until then.", item)
        for item in sorted(set(self.gone) - set(gone)):
            logger.info("%s exists again", item)
        for note in [n for n in notes if n not in self.notes]:
            logger.warning("%s", note)
        self.missing, self.notes, self.gone = missing, list(notes), list(gone)


#: A check's reads give up after this: an API server that accepts and never answers would
#: otherwise hold the checker (and /readyz's answer) forever.
REQUEST_TIMEOUT_SECONDS = 10.0


class SeenPresent:
    """``read`` (the peering object of a namespace, ``None``: the cluster's) asked again for
    a namespace whose object it found present only after ``recheck`` seconds; one found missing,
    or never asked, at every call. One found missing that was never seen present is created
    (``create``): kopf waits for it. One seen present before is not (the module says why), as
    long as its namespace lives: ``keep`` forgets a namespace gone from a listing or found
    there under another uid (deleted and created again: kopf's toggle for it is new, on). A
    lookup that fails remembers nothing (it raises). ``clock`` (monotonic seconds) is
    injectable for tests."""

    def __init__(self, read: Callable[[str | None], Peering],
                 create: Callable[[str | None], Peering] | None = None, *,
                 recheck: float = PRESENT_RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._create = create
        self.recheck = recheck
        self.clock = clock
        self._seen: dict[str | None, float] = {}
        self._ever_seen: set[str | None] = set()
        self._listed: dict[str, str] = {}

    def __call__(self, namespace: str | None) -> Peering:
        now = self.clock()
        seen = self._seen.get(namespace)
        if seen is not None and now - seen < self.recheck:
            return Peering.PRESENT
        found = self._read(namespace)
        if (found is Peering.MISSING and self._create is not None
                and namespace not in self._ever_seen):
            found = self._create(namespace)
        if found is Peering.PRESENT:
            self._seen[namespace] = now
            self._ever_seen.add(namespace)
        else:
            self._seen.pop(namespace, None)
        return found

    def ever_seen(self, namespace: str | None) -> bool:
        """Whether this process has seen that peering object present (so kopf's has too)."""
        return namespace in self._ever_seen

    def keep(self, listed: Mapping[str, str]) -> None:
        """The namespaces that exist (name: uid), as kopf sees them when it lists namespaces
        (a ``--namespace`` pattern): what was seen of one absent, or of one whose uid changed,
        is forgotten. kopf drops a deleted namespace's toggle and makes a new one, on, when a
        namespace of that name appears: its peering object must be seen (or created) again."""
        for namespace in [n for n in self._ever_seen | set(self._seen) if n is not None]:
            uid = listed.get(namespace)
            if uid is None or self._listed.get(namespace, uid) != uid:
                self._seen.pop(namespace, None)
                self._ever_seen.discard(namespace)
        # A namespace is looked at only once listed: this listing has the uid of any seen next.
        self._listed = dict(listed)


class LeftOut:
    """The namespaces left out at start, asked by reading their KopfPeering and, when it is
    missing (404: the operator may read there), creating it, until it is present, then no
    more: only a restart adds the namespace to kopf's set, and its peering object is then
    ready for it. A namespace the operator may not read (403: no Role there) gets no create,
    only the read at each check; the create's 404 says the namespace does not exist."""

    def __init__(self, read: Callable[[str | None], Peering],
                 create: Callable[[str], Peering]) -> None:
        self._read = read
        self._create = create
        self._present: set[str] = set()

    def __call__(self, namespace: str) -> Peering:
        if namespace in self._present:
            return Peering.PRESENT
        found = self._read(namespace)
        if found is Peering.MISSING:
            found = self._create(namespace)
        if found is Peering.PRESENT:
            self._present.add(namespace)
        return found


#: After a wake-up by a paused watch, the checker waits at least this long (seconds) before
#: its next check, so that a burst of pause lines (one per watch-stream) costs one check.
WAKE_SPACING_SECONDS = 1.0


def _kept_by_a_restart(stuck: Iterable[str], absent: Iterable[str],
                       not_answered: Collection[str] | None) -> frozenset[str]:
    """Those of ``stuck`` a restart's start-up would keep as configured again: ``not_answered``
    (by default those this start's deadline cut short with no listing of the namespaces to
    leave one out: ``prepare_peerings``), and those the deadline cut short although the listing
    answered that still exist (not ``absent``: the listing leaves out only one that does not)."""
    if not_answered is not None:
        return frozenset(stuck) & frozenset(not_answered)
    return frozenset(stuck) & (_not_answered_at_start | (_cut_though_listed - set(absent)))


def restart_to_leave_out(stuck: Sequence[str], before: set[str], *,
                         exit: Callable[[str], None] = exit_to_list_afresh,
                         not_answered: Collection[str] | None = None,
                         absent: Iterable[str] = ()) -> set[str]:
    """A namespace kopf watches whose peering object can never come and was never seen
    (``PeeringReport.stuck``) pauses every watch of the process for good: it went (or its Role
    did) before kopf saw its peering object, it appeared matching a pattern without the
    operator's Role, or the start-up looks did not reach it (their deadline, the API server
    unreachable then). Found so at two checks in a row (one may be a moment: a Role applied
    just after its namespace), the process exits, and its restart's start-up looks leave it
    out. Not for one a restart would keep again (``_kept_by_a_restart``: ``not_answered``,
    by default those the start-up's deadline cut short with no listing of the namespaces that
    leaves them out; ``absent``: those of ``stuck`` that do not exist): the restart would make
    the same looks against the same deadline, stop at the same place, keep it and exit again,
    every watch paused at each start; ``not_reached_notes`` says so in ``/readyz`` instead.
    One the start-up did not answer for another reason (the API server unreachable for a
    moment, an error answered) still restarts the process: the restart looks it up again.
    Returns what this check found, for the next."""
    unreached = _kept_by_a_restart(stuck, absent, not_answered)
    found = set(stuck)
    again = sorted((found & before) - unreached)
    if again:
        exit(f"namespace(s) {', '.join(again)} cannot hold a KopfPeering (missing, or not "
             "readable by the operator) and pause every watch; a restart leaves them out")
    return found


def not_reached_notes(stuck: Iterable[str],
                      not_answered: Collection[str] | None = None,
                      absent: Iterable[str] = ()) -> list[str]:
    """``/readyz``'s notes (each logged once, a WARNING) for the namespaces found stuck that
    a restart would keep again, for which ``restart_to_leave_out`` does not exit."""
    unreached = _kept_by_a_restart(stuck, absent, not_answered)
    return [f"namespace {n!r} pauses every watch (it does not exist, or the operator may not "
            "read it) and was not looked up at start (the start-up looks' deadline): a restart "
            "would stop at the same place and keep it again, so the operator does not restart "
            "itself for it. Remove it from the watched namespaces, or create it (and the "
            "operator's Role there)" for n in sorted(unreached)]


async def _check_forever(readiness: Readiness, config: OperatorConfig,
                         wake: asyncio.Event | None = None) -> None:
    """Check now, then every ``CHECK_SECONDS`` or as soon as ``wake`` is set (kopf paused a
    watch: a namespace matching a pattern may have appeared without its KopfPeering, which
    pauses every watch until it exists, and an acting replica paused for
    ``common.PAUSE_EXIT_GRACE_SECONDS`` exits)."""
    check: Callable[[], PeeringReport] | None = None
    stuck: set[str] = set()
    while True:
        try:
            if check is None:  # in the try: a client that cannot be made is a failed check
                check = _peering_check(config)
            report = await asyncio.to_thread(check)
        except ApiException as error:
            readiness.check_failed(f"{error.status} {error.reason}")
        except Exception as error:  # e.g. urllib3's MaxRetryError: the API server unreachable
            # Whatever failed, the checker lives on: a dead checker would freeze /readyz at its
            # last answer for the rest of the process's life.
            readiness.check_failed(f"{type(error).__name__}: {error}")
        else:
            readiness.update(report.missing,
                             report.notes + not_reached_notes(report.stuck,
                                                              absent=report.absent),
                             report.gone)
            stuck = restart_to_leave_out(report.stuck, stuck, absent=report.absent)
        if wake is None:
            await asyncio.sleep(CHECK_SECONDS)
            continue
        try:
            await asyncio.wait_for(wake.wait(), CHECK_SECONDS)
        except TimeoutError:
            continue
        await asyncio.sleep(WAKE_SPACING_SECONDS)
        wake.clear()
        if isinstance(check, PeeringCheck):  # what kopf paused for may be a namespace new
            check.list_again()


class ListedOrNamed:
    """The namespaces that exist (``listed``: name to uid, handed to ``keep``), for
    ``check_peerings``; when the operator may not list them (403: no ClusterRole to, a Role in
    each named namespace: a supported setup with a ``--namespace`` pattern), the ones named
    exactly, as kopf then watches (it assumes they exist) and ``prepare_peerings`` looks up.
    Before, every check failed on that 403 and ``/readyz`` was 503 for good. The fallback is
    logged once, and its end (the listing allowed again) too; any other failure of the
    listing fails the check.

    A listing is used again for ``max_age`` seconds (``NAMESPACES_LIST_SECONDS``), unless
    ``list_again`` was called since (the checker woken by kopf's pause line: a namespace
    matching a pattern appeared, or was created again, without its KopfPeering; or the last
    check found a peering object missing or gone, whose namespace may go); listed at every
    check, every 15 s on each replica, a pattern's namespaces cost a LIST of every namespace of
    the cluster four times a minute, for a set that almost never changes."""

    def __init__(self, config: OperatorConfig, listed: Callable[[], Mapping[str, str]],
                 keep: Callable[[Mapping[str, str]], None] = lambda _: None, *,
                 max_age: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.listed = listed
        self.keep = keep
        self.falling_back = False
        self.max_age = max_age
        self.clock = clock
        self._last: list[str] | None = None
        self._at = 0.0

    def list_again(self) -> None:
        """The next call lists the namespaces, whatever the age of the last listing."""
        self._last = None

    def __call__(self) -> list[str]:
        if self._last is not None and self.clock() - self._at < self.max_age:
            return list(self._last)
        self._last = None
        try:
            at, listed = self.clock(), self.listed()
        except ApiException as error:
            if error.status != 403:
                raise
            named = _exact(self.config.namespaces)
            if not self.falling_back:
                logger.warning("the operator may not list the namespaces (%s %s): the peering "
                               "objects of the namespaces named exactly are checked (%s), as "
                               "kopf watches only those", error.status, error.reason,
                               ", ".join(named) or "none")
                self.falling_back = True
            return named
        if self.falling_back:
            logger.info("the namespaces can be listed again: the peering objects of those "
                        "matching the watched ones are checked")
            self.falling_back = False
        self.keep(listed)
        self._last, self._at = list(listed), at
        return list(listed)


def _peering_check(config: OperatorConfig) -> Callable[[], PeeringReport]:
    """One check of the peering objects as ``_check_forever`` repeats it, with the API client
    and what the checks remember (``SeenPresent``, ``LeftOut``) made once, here. Each request
    gives up after ``REQUEST_TIMEOUT_SECONDS`` (the listing of the namespaces too, whose
    default waits up to 60 s for an answer)."""
    api_client = load_api_client()
    custom = client.CustomObjectsApi(api_client)
    core = CoreReads(api_client, (REQUEST_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS))
    objects = PeeringObjects(custom, config.peering_name, config.helm_release,
                             helm_creates=config.helm_creates_peerings)
    look = SeenPresent(objects.read, objects.create)
    left_out = LeftOut(objects.read, objects.create_left_out)

    def listed() -> dict[str, str]:
        return {str(n.metadata.name): str(n.metadata.uid)
                for n in core.list_namespace().items if n.metadata}

    namespaces = ListedOrNamed(config, listed, look.keep, max_age=NAMESPACES_LIST_SECONDS)
    return PeeringCheck(lambda: check_peerings(config, look, namespaces, left_out,
                                               look.ever_seen), namespaces)


@dataclasses.dataclass
class PeeringCheck:
    """One check (``check``), and the listing of the namespaces it reuses: listed again at the
    next check after one that found a peering object missing or gone, or after ``list_again``
    (the checker woken)."""

    check: Callable[[], PeeringReport]
    namespaces: ListedOrNamed

    def __call__(self) -> PeeringReport:
        report = self.check()
        if report.missing or report.gone:
            self.namespaces.list_again()
        return report

    def list_again(self) -> None:
        self.namespaces.list_again()


@kopf.on.startup()
async def start(memo: kopf.Memo, **_: Any) -> None:
    config = config_of(memo)
    loop, wake = asyncio.get_running_loop(), asyncio.Event()

    def wake_checker() -> None:
        loop.call_soon_threadsafe(wake.set)

    surface_paused_watches(config.verbose, wake_checker, lambda: existence.relisted(memo))
    readiness = Readiness()
    memo["uplift_readiness"] = readiness
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(_check_forever(readiness, config, wake))]
    memo["uplift_readiness_tasks"] = tasks
    if config.readiness_port:
        app = web.Application()
        app.router.add_get("/readyz", readiness.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        memo["uplift_readiness_runner"] = runner
        try:
            sock = observability.listening_socket(config.readiness_port)
            await web.SockSite(runner, sock).start()
        except OSError as error:  # the operator still works; only its probe is missing
            logger.error("cannot serve /readyz on port %d: %s", config.readiness_port, error)
    started = memo.get(KOPF_STARTED)
    if config.liveness_port and started is not None:
        tasks.append(asyncio.create_task(serve_healthz(memo, started, config.liveness_port)))
    readiness.started = True


#: The memo's key of the event kopf sets once its start-up is through (``kopf.run``'s
#: ``ready_flag``, handlers.main): ``/healthz`` answers from then on.
KOPF_STARTED = "uplift_kopf_started"


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({})  # kopf's own /healthz: its probe handlers' results, none here


async def serve_healthz(memo: kopf.Memo | dict[str, Any], started: asyncio.Event,
                        port: int) -> None:
    """``/healthz`` on ``port`` of both IP families (``observability.listening_socket``), from
    the end of kopf's start-up: what kopf's own liveness endpoint serves, and when, but kopf's
    listens on one family (its URL's host; ``[::]`` given to asyncio is IPv6 only), and an
    IPv4 or an IPv6 cluster would have its probes refused. On the event loop that carries the
    watches: a loop stuck answers no probe."""
    await started.wait()
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    memo["uplift_liveness_runner"] = runner
    try:
        await web.SockSite(runner, observability.listening_socket(port)).start()
    except OSError as error:  # the liveness probe restarts the pod
        logger.error("cannot serve /healthz on port %d: %s", port, error)


@kopf.on.cleanup(id="stop_readiness")  # kopf runs one handler per id and activity
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.get("uplift_readiness_tasks", []):
        task.cancel()
    for key in ("uplift_readiness_runner", "uplift_liveness_runner"):
        runner = memo.get(key)
        if runner is not None:
            await runner.cleanup()
