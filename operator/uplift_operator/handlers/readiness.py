"""Peering never silent: a paused watch is a WARNING, and ``/readyz`` is 503 while it lasts.

kopf pauses every watch until the peering object its replicas share exists (a ClusterKopfPeering
cluster-wide, a KopfPeering in each namespace when namespaced) and logs that only at debug level,
while its liveness endpoint keeps answering 200. Namespaced, one missing KopfPeering pauses the
whole operator, not its namespace: kopf 1.45 gates every watch of the process on one toggle set
(``operator_paused``, any toggle on pauses all), and each watched namespace adds a toggle that is
on from the start and goes off only on an event of that namespace's peering object. A replica
already running when the object goes keeps its toggle off; the next start pauses every
namespace (a namespace deleted while still in ``watch.namespaces``, or added there before it
exists). Here kopf's own pause line is raised to WARNING
(with kopf's reason, the blockers), and a checker looks the peering objects up so that readiness
fails, naming what is missing, until they exist. A replica waiting for a higher-priority peer is
a healthy stand-by and stays ready.

A peering object found missing is looked up again at every check (``CHECK_SECONDS``), one found
present only every ``PRESENT_RECHECK_SECONDS`` (``SeenPresent``): namespaced, there is one per
watched namespace, and a GET of each every 15 s on both replicas was 27 requests a second at 200
namespaces, for objects that almost never go.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import kopf
from aiohttp import web
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from uplift_operator.adapters.kube import CoreReads, load_api_client
from uplift_operator.handlers.common import config_of
from uplift_operator.settings import OperatorConfig

__all__ = ["Readiness", "SeenPresent", "missing_peerings", "surface_paused_watches"]

logger = logging.getLogger(__name__)
CHECK_SECONDS = 15.0
#: A peering object seen present is looked up again after this (seconds). What pauses the
#: watches is kopf's own view, not this check: a running replica keeps going when its object
#: goes, and a replica that starts looks every object up afresh. So seeing a present one rarely
#: delays only the report of its deletion (503 and the WARNING), by up to this long.
PRESENT_RECHECK_SECONDS = 600.0
_WATCHING_LOGGER = "kopf._cogs.clients.watching"


class _PausedWatchAtWarning(logging.Filter):
    """kopf logs "Pausing the watch-stream ..." at debug: raise it to WARNING, drop other debug."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith("Pausing the watch-stream"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (f"{text} No resource of this watch is reconciled until "
                                       "every blocker resolves (see /readyz)."), None
            return True
        if text.startswith("Resuming the watch-stream"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return True
        return record.levelno > logging.DEBUG or self.verbose


def surface_paused_watches(verbose: bool) -> None:
    watching = logging.getLogger(_WATCHING_LOGGER)
    watching.setLevel(logging.DEBUG)
    watching.addFilter(_PausedWatchAtWarning(verbose))


def missing_peerings(config: OperatorConfig, exists: Callable[[str | None], bool],
                     namespaces: Callable[[], Iterable[str]]) -> list[str]:
    """Where the peering object kopf waits for is absent (``None`` = cluster-wide)."""
    if config.standalone:
        return []
    if config.all_namespaces:
        return [] if exists(None) else [f"ClusterKopfPeering {config.peering_name!r}"]
    globs = [p for p in config.namespaces if any(c in p for c in "*?[")]
    watched = {n for n in config.namespaces if n not in globs}
    if globs:
        watched |= {n for n in namespaces() if any(fnmatch.fnmatchcase(n, g) for g in globs)}
    return [f"KopfPeering {config.peering_name!r} in namespace {ns!r}"
            for ns in sorted(watched) if not exists(ns)]


class Readiness:
    """The state behind ``/readyz``: ready once started and while no peering object is missing."""

    def __init__(self) -> None:
        self.started = False
        self.missing: list[str] = []

    def problems(self) -> list[str]:
        waiting = [] if self.started else ["the operator is starting"]
        return waiting + [f"{m} does not exist: kopf keeps every watch of the operator paused"
                          for m in self.missing]

    async def handle(self, _: web.Request) -> web.Response:
        problems = self.problems()
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems) + "\n")
        return web.Response(text="ok\n")

    def update(self, missing: list[str]) -> None:
        for item in sorted(set(missing) - set(self.missing)):
            logger.warning("%s does not exist: kopf pauses every watch of the operator, in "
                           "every namespace, so nothing is reconciled anywhere (a replica already "
                           "running when it went keeps going until it restarts). Create it (the "
                           "chart and manifests/ do, see docs/install.md), remove its namespace "
                           "from the watched ones, or run with --standalone. Readiness is 503 "
                           "until then.", item)
        for item in sorted(set(self.missing) - set(missing)):
            logger.info("%s exists now; its watches resume", item)
        self.missing = missing


#: A check's reads give up after this: an API server that accepts and never answers would
#: otherwise hold the checker (and /readyz's answer) forever.
REQUEST_TIMEOUT_SECONDS = 10.0


class SeenPresent:
    """``exists`` (the peering object of a namespace, ``None``: the cluster's) asked again for
    a namespace whose object it found present only after ``recheck`` seconds; one found missing,
    or never asked, at every call. A lookup that fails remembers nothing (it raises).
    ``clock`` (monotonic seconds) is injectable for tests."""

    def __init__(self, exists: Callable[[str | None], bool], *,
                 recheck: float = PRESENT_RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._exists = exists
        self.recheck = recheck
        self.clock = clock
        self._seen: dict[str | None, float] = {}

    def __call__(self, namespace: str | None) -> bool:
        now = self.clock()
        seen = self._seen.get(namespace)
        if seen is not None and now - seen < self.recheck:
            return True
        if self._exists(namespace):
            self._seen[namespace] = now
            return True
        self._seen.pop(namespace, None)
        return False


def _exists_in(api: client.CustomObjectsApi, name: str) -> Callable[[str | None], bool]:
    def exists(namespace: str | None) -> bool:
        timeout = REQUEST_TIMEOUT_SECONDS
        try:
            if namespace is None:
                api.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", name,
                                              _request_timeout=timeout)
            else:
                api.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", name,
                                                 _request_timeout=timeout)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True
    return exists


async def _check_forever(readiness: Readiness, config: OperatorConfig) -> None:
    api_client = load_api_client()
    custom, core = client.CustomObjectsApi(api_client), CoreReads(api_client)
    exists = SeenPresent(_exists_in(custom, config.peering_name))

    def namespaces() -> list[str]:
        return [str(n.metadata.name) for n in core.list_namespace().items if n.metadata]

    while True:
        try:
            missing = await asyncio.to_thread(missing_peerings, config, exists, namespaces)
        except ApiException as error:
            logger.warning("cannot check the peering objects: %s %s", error.status, error.reason)
        except Exception as error:  # e.g. urllib3's MaxRetryError: the API server unreachable
            # Whatever failed, the checker lives on: a dead checker would freeze /readyz at its
            # last answer for the rest of the process's life.
            logger.warning("cannot check the peering objects: %s: %s", type(error).__name__, error)
        else:
            readiness.update(missing)
        await asyncio.sleep(CHECK_SECONDS)


@kopf.on.startup()
async def start(memo: kopf.Memo, **_: Any) -> None:
    config = config_of(memo)
    surface_paused_watches(config.verbose)
    readiness = Readiness()
    memo["uplift_readiness"] = readiness
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(_check_forever(readiness, config))]
    memo["uplift_readiness_tasks"] = tasks
    if config.readiness_port:
        app = web.Application()
        app.router.add_get("/readyz", readiness.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        memo["uplift_readiness_runner"] = runner
        try:
            await web.TCPSite(runner, "0.0.0.0", config.readiness_port).start()
        except OSError as error:  # the operator still works; only its probe is missing
            logger.error("cannot serve /readyz on port %d: %s", config.readiness_port, error)
    readiness.started = True


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.get("uplift_readiness_tasks", []):
        task.cancel()
    runner = memo.get("uplift_readiness_runner")
    if runner is not None:
        await runner.cleanup()
