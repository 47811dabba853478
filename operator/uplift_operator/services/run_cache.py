"""MLflow run reads that seldom change, read once a while and shared: a gate's evidence from the registry.

A drift or upliftSanity gate reads a reference artifact of the canary's run, a qini gate the
run metrics and the bootstrap artifact of both versions' runs. Those runs belong to READY
versions, and what a run logged before its model was registered (the trainer logs every metric
and reference first, ``model/trainer.py``) does not change; yet every resource read them again
at every analysis: 100 Campaigns on one model downloaded one reference 100 times an interval,
1,000 qini followers made ~6,000 MLflow requests a minute.

A run's metrics are kept for a while, never for good. MLflow takes metrics on an ended run
(only a deleted one refuses them): ``log_model(registered_model_name=...)`` then
``log_metric(...)`` in the same run, ``mlflow.evaluate`` after the registration, or a separate
evaluation job logging ``qini.*`` to the training run once it FINISHED, are common. Kept for good
at its first read (for an ended run, before), the metrics read before the qini ones existed
made the qini gate see "no data" for that run until the entry was evicted or the operator
restarted: the canary's gate held Inconclusive, and a stable read that way judged the canary on
its floor alone ("no stable replicates to compare with"), so a worse canary could pass. So:

- a run that has ended (``TERMINAL_RUN_STATUSES``: FINISHED, FAILED, KILLED; or a client that
  cannot say, not ``ReadsRunStatus``) is kept for ``ENDED_RUN_TTL_SECONDS`` (10 minutes): what
  it logs later is seen within that long;
- one not known to have ended, and an ended one whose metrics have no ``qini.*`` key (the qini
  gate, their only reader, finds nothing to judge: the evaluation may not have logged yet), for
  ``UNENDED_RUN_TTL_SECONDS`` (a minute) only, then read again: a run that never ends (its
  training process killed after ``log_model``: MLflow leaves it RUNNING for good) or never has
  qini metrics is read about once a minute by the whole process, not at every gate read of
  every follower;
- a fresh read of a run's metrics drops what is kept of MLflow saying one of that run's
  artifacts does not exist (``ABSENT_TTL_SECONDS``): an evaluation logs
  ``reference/qini_bootstrap.json`` with the metrics, and metrics seen with the artifact still
  taken as absent judged the stable without its replicates (the floor alone) for up to ten
  minutes more.

At 10 minutes a run is read at most 6 times an hour per identity, whatever number of resources
read it: 1,000 qini followers of one model read its two runs 12 times an hour (they made ~6,000
requests a minute uncached), 1,000 models with their own runs ~200 requests a minute in all,
spread (each follower's analysis already reads the version and its aliases more often than that).

``RegistryClients`` is the ``registry_for`` the handlers wire in: one client per registry
*identity* (tracking URI and the credentials themselves, as a digest: two Secrets holding the
same credentials are one MLflow user; different ones never share a read), kept so that its
connections are reused — for as long as a pass used it within ``CLIENT_IDLE_SECONDS`` (every
resource passes at least every 10 minutes, so every identity in use stays), up to
``MAX_CLIENTS`` — and wrapped in ``CachingRegistry``, which sends ``run_metrics`` and
``download_artifact_json`` through the one ``RunReads`` of the process. Everything that can
change — a version and its status (``resolve``; the resolver caches a READY version's facts
itself), aliases, tags, signatures, writes — goes to MLflow every time, but for
``version_tags``: a version's tags as a status-less pass reads its role
(``services.upliftmodel._recorded_roles``), shared through the process's ``VersionTagReads``.

``VersionTagReads`` keeps a version's tags, read by one identity, for ``VERSION_TAGS_TTL_SECONDS``
at most: a thousand UpliftModels applied at once on one version made a pass each with nothing
stable yet, each reading that version's tags (2.6 ``GET model-versions/get`` per resource at
1,000: "Scale" in docs/operator.md); they now share one read per lifetime. A tag this process
writes or deletes through a ``CachingRegistry`` drops what is kept of that version for every
identity of its tracking URI, and a read in flight meanwhile is not kept (the passes that waited
on it take it, as they would a read that crossed the write): the role tags the operator writes
are seen by the next read as before. Written by anyone else (by hand, another process), they
are seen within the lifetime.

``RunReads`` is an LRU bounded by entries and by an estimate of the parsed values' size in
memory (a reference JSON takes 2-5x its text once parsed: ``_footprint``). A read that fails is
not kept: the passes that waited on it take its error, the next one reads again; MLflow saying
the run or artifact does not exist is an answer, kept for ``ABSENT_TTL_SECONDS``. The values
returned are shared by every caller and must not be changed (the run metrics come back
read-only; the artifacts are parsed JSON, read and never written by ``services.measurements``).
"""

from __future__ import annotations

import copy
import hashlib
import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    RegistryNotFound,
    RegistryRequestError,
)
from uplift_operator.domain.alias_sweep import AliasListing
from uplift_operator.services.ports import ListsAliases, Registry

__all__ = ["ABSENT_TTL_SECONDS", "CLIENT_IDLE_SECONDS", "ENDED_RUN_TTL_SECONDS", "MAX_BYTES",
           "MAX_CLIENTS",
           "MAX_ENTRIES", "MAX_VERSION_TAG_ENTRIES", "TERMINAL_RUN_STATUSES",
           "UNENDED_RUN_TTL_SECONDS", "VERSION_TAGS_TTL_SECONDS", "CachingRegistry",
           "ReadsRunStatus", "ReadsVersionTags", "RegistryClients", "RunReads",
           "VersionTagReads", "identity"]

#: MLflow's run statuses after which a run logs nothing more (``mlflow.entities.RunStatus``).
TERMINAL_RUN_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})


@runtime_checkable
class ReadsRunStatus(Protocol):
    """A registry client that reads a run's metrics with its status in one request
    (``MlflowRegistry.run_metrics_and_status``)."""

    def run_metrics_and_status(self, run_id: str) -> tuple[dict[str, float], str]: ...

@runtime_checkable
class ReadsVersionTags(Protocol):
    """A registry client whose reads of a version's tags may be shared (``CachingRegistry``);
    any other is asked ``resolve(name, version=...)`` and its ``tags`` read."""

    def version_tags(self, name: str, version: str) -> Mapping[str, str]: ...

#: Entries kept at most: a run's metrics and each artifact read of it are one entry each (a
#: run with every gate: 4).
MAX_ENTRIES = 4096
#: Estimated bytes the kept values take in memory. The trainer's defaults make ~50 KiB a run
#: (feature histograms ~18 KiB for 10 features, the bootstrap ~20 KiB, metrics and uplift
#: distribution ~7 KiB each): ~1,300 runs. A value larger than this is served, not kept.
MAX_BYTES = 64 * 1024 * 1024
#: How long MLflow saying a run or an artifact does not exist is believed (see ``RunReads``).
ABSENT_TTL_SECONDS = 600.0
#: How long the metrics of a run not known to have ended (RUNNING, SCHEDULED), or of an ended one
#: without any ``qini.*`` metric, are kept before MLflow is asked again: what it logs later is
#: seen within this long, and a run left RUNNING for good (or never given qini metrics) is read
#: once this long by the whole process rather than at every gate read.
UNENDED_RUN_TTL_SECONDS = 60.0
#: How long the metrics of an ended run (``TERMINAL_RUN_STATUSES``) are kept: MLflow still takes
#: metrics on it (a later evaluation's), seen within this long. 10 minutes: a run read by any
#: number of followers costs MLflow 6 reads an hour per identity (see the module's doc).
ENDED_RUN_TTL_SECONDS = 600.0
#: Registry identities whose clients (and their open connections) are kept at most, the least
#: recently used dropped beyond: a safety net far above the identities one cluster uses (a
#: client per team's Secret). At 32, 40 identities each used in turn built a client at almost
#: every pass (a new Session and TLS handshake, the alias poller's client replaced).
MAX_CLIENTS = 256
#: A client no pass asked for in this long is dropped (its identity's resources are gone, or
#: their Secret changed): three resyncs (``handlers.scheduling.RESYNC_SECONDS``), so that an
#: identity in use, even at rest, is never dropped.
CLIENT_IDLE_SECONDS = 1800.0

#: How long a version's tags, once read, answer every pass that asks for them with the same
#: identity (``VersionTagReads``): what someone other than this process writes is seen within it.
VERSION_TAGS_TTL_SECONDS = 30.0
#: Versions whose tags are kept at most, the least recently used dropped beyond; each keeps
#: one read per identity that asked (as many as the credential sets in use on that version).
MAX_VERSION_TAG_ENTRIES = 4096

#: Who reads: (tracking URI, digest of the credentials; empty without).
Identity = tuple[str, str]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def identity(tracking_uri: str, credentials: Credentials | None) -> Identity:
    """The registry identity a read is shared by: the same server asked as the same user. The
    credentials are kept as a digest of the ``Authorization`` header they make, never as such."""
    header = credentials.authorization() if credentials is not None else None
    digest = hashlib.sha256(header.encode()).hexdigest() if header else ""
    return (tracking_uri.rstrip("/"), digest)


@dataclass
class _Flight:
    """A read in progress; the passes that ask for the same key meanwhile wait for it."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None
    waiting: int = 0  # passes that took this read's answer rather than reading themselves

    def answer(self) -> Any:
        """What the read returned once it landed, or (a copy of) what it raised: a waiting
        pass's answer."""
        self.done.wait()
        if self.error is not None:
            raise _copied(self.error)
        return self.value


F = TypeVar("F", bound=_Flight)


def _flight_for(flights: dict[K, F], key: K, new: Callable[[], F]) -> tuple[F, bool]:
    """The read in flight for ``key``, joined as a waiting pass, else a ``new`` one put in
    ``flights``; with whether this pass leads it (reads). Under the lock that guards
    ``flights``: one read per key at a time, the others take its ``answer``."""
    flight = flights.get(key)
    if flight is None:
        flight = flights[key] = new()
        return flight, True
    flight.waiting += 1
    return flight, False


@dataclass(frozen=True)
class _Absent:
    """A definite "not there" (``RegistryNotFound``), kept for ``RunReads.absent_ttl``."""

    error: BaseException


@dataclass
class RunReads:
    """The process's immutable run reads, LRU-bounded by entries and estimated bytes,
    thread-safe; one read per key at a time (the others wait for it).

    A read that fails is not kept. MLflow saying the run or artifact does not exist is an
    answer, not a failure — a run the trainer logged before qini_bootstrap.json existed will
    never have it — and is kept for ``absent_ttl`` seconds (0: not kept). A run's metrics
    are kept for ``ended_ttl`` seconds once it has ended, for ``unended_ttl`` while it has not
    or while they have no ``qini.*`` key (``CachingRegistry``)."""

    max_entries: int = MAX_ENTRIES
    max_bytes: int = MAX_BYTES
    absent_ttl: float = ABSENT_TTL_SECONDS
    unended_ttl: float = UNENDED_RUN_TTL_SECONDS
    ended_ttl: float = ENDED_RUN_TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    reads: int = 0  # reads made (misses), for tests and benchmarks
    hits: int = 0
    #: By key, least recently used first: (value, estimated bytes, clock reading it expires at).
    _entries: OrderedDict[Hashable, tuple[Any, int, float]] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _flights: dict[Hashable, _Flight] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> tuple[int, int]:
        """(entries, estimated bytes) kept."""
        with self._lock:
            return len(self._entries), self._bytes

    def get(self, key: Hashable, read: Callable[[], T],
            keep_for: Callable[[T], float] | None = None) -> T:
        """The value kept for ``key``, else ``read()`` (kept when it returns: for good, or for
        the seconds ``keep_for`` says for it — 0: not kept, served to the passes that waited on
        it and read again by the next one; what it raises is raised, to the passes that waited
        on it too, and not kept unless it is ``RegistryNotFound``)."""
        with self._lock:
            value, found = self._kept(key)
            if found:
                self.hits += 1
                if isinstance(value, _Absent):
                    raise _copied(value.error)
                return value  # type: ignore[no-any-return]
            flight, leader = _flight_for(self._flights, key, _Flight)
            if leader:
                self.reads += 1
        if not leader:
            return flight.answer()  # type: ignore[no-any-return]
        try:
            value = read()
            # Kept before the flight lands: a pass asking meanwhile finds one or the other.
            seconds = math.inf if keep_for is None else keep_for(value)
            if seconds > 0:
                self._keep(key, value, seconds)
        except RegistryNotFound as error:
            flight.error = error
            if self.absent_ttl > 0:
                self._keep(key, _Absent(error), self.absent_ttl)
            raise
        except BaseException as error:
            flight.error = error
            raise
        else:
            flight.value = value
            return value
        finally:
            self._land(key, flight)

    def forget_absent(self, prefix: tuple[Hashable, ...]) -> None:
        """Drop the kept "does not exist" answers (``RegistryNotFound``) of the keys that are
        tuples starting with ``prefix``: the next pass asking for one reads it again."""
        n = len(prefix)
        with self._lock:
            for key in [key for key, kept in self._entries.items()
                        if isinstance(kept[0], _Absent) and isinstance(key, tuple)
                        and key[:n] == prefix]:
                self._bytes -= self._entries.pop(key)[1]

    def _kept(self, key: Hashable) -> tuple[Any, bool]:
        """(value, whether one is kept) for ``key``, marked as just used; under the lock."""
        kept = self._entries.get(key)
        if kept is None:
            return None, False
        if kept[2] <= self.clock():
            self._bytes -= self._entries.pop(key)[1]
            return None, False
        self._entries.move_to_end(key)
        return kept[0], True

    def _land(self, key: Hashable, flight: _Flight) -> None:
        with self._lock:
            del self._flights[key]
        flight.done.set()

    def _keep(self, key: Hashable, value: Any, seconds: float) -> None:
        size = _footprint(str(value.error) if isinstance(value, _Absent) else value)
        if size > self.max_bytes or self.max_entries <= 0:
            return  # served, not kept: it would push out everything else
        with self._lock:
            replaced = self._entries.pop(key, None)
            self._bytes += size - (replaced[1] if replaced else 0)
            self._entries[key] = (value, size, self.clock() + seconds)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped, _) = self._entries.popitem(last=False)
                self._bytes -= dropped


#: A version of a registered model at a tracking server: (tracking URI, model, version).
VersionRef = tuple[str, str, str]


@dataclass
class _TagFlight(_Flight):
    """A tag read in progress; ``stale`` once a write to its version landed meanwhile."""

    stale: bool = False


@dataclass
class VersionTagReads:
    """Versions' tags as last read, shared by every pass asking with the same identity, each
    kept ``ttl`` seconds (``VERSION_TAGS_TTL_SECONDS``), at most ``max_entries`` versions (LRU);
    thread-safe, one read per version and identity at a time (the others wait for it). A
    read that fails is not kept. ``written`` drops a version's tags, for every identity of
    its tracking URI, and keeps a read in flight from being kept (see the module's doc)."""

    ttl: float = VERSION_TAGS_TTL_SECONDS
    max_entries: int = MAX_VERSION_TAG_ENTRIES
    clock: Callable[[], float] = time.monotonic
    reads: int = 0  # reads made (misses), for tests and benchmarks
    hits: int = 0
    #: By version, least recently used first: by credentials digest, (tags, expiry).
    _entries: OrderedDict[VersionRef, dict[str, tuple[Mapping[str, str], float]]] = field(
        default_factory=OrderedDict)
    _flights: dict[tuple[VersionRef, str], _TagFlight] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        """(Version, identity) pairs kept, expired ones included until asked for or dropped."""
        with self._lock:
            return sum(len(by_who) for by_who in self._entries.values())

    def get(self, who: Identity, name: str, version: str,
            read: Callable[[], Mapping[str, str]]) -> Mapping[str, str]:
        """The tags of ``version`` of ``name`` kept for ``who``, else ``read()`` (kept for
        ``ttl`` unless a write to that version landed meanwhile; what it raises is raised,
        to the passes that waited on it too, and not kept)."""
        ref: VersionRef = (who[0], name, str(version))
        key = (ref, who[1])
        with self._lock:
            kept = self._entries.get(ref, {}).get(who[1])
            if kept is not None and kept[1] > self.clock():
                self._entries.move_to_end(ref)
                self.hits += 1
                return kept[0]
            flight, leader = _flight_for(self._flights, key, _TagFlight)
            if leader:
                self.reads += 1
        if not leader:
            return flight.answer()  # type: ignore[no-any-return]
        try:
            tags: Mapping[str, str] = MappingProxyType(dict(read()))
        except BaseException as error:
            flight.error = error
            raise
        else:
            flight.value = tags
            return tags
        finally:
            with self._lock:
                if flight.error is None and not flight.stale and self.ttl > 0:
                    self._entries.setdefault(ref, {})[who[1]] = (flight.value,
                                                                 self.clock() + self.ttl)
                    self._entries.move_to_end(ref)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    def written(self, tracking_uri: str, name: str, version: str) -> None:
        """A tag of ``version`` of ``name`` was written or deleted at ``tracking_uri`` (or
        may have been: a write that failed may have landed): its tags kept for any identity
        are dropped, and reads of them in flight are not kept; a pass asking from now on
        reads them again."""
        ref: VersionRef = (tracking_uri.rstrip("/"), name, str(version))
        with self._lock:
            self._entries.pop(ref, None)
            for key in [key for key in self._flights if key[0] == ref]:
                self._flights.pop(key).stale = True


class CachingRegistry:
    """A registry client whose immutable run reads go through ``reads`` under ``who`` (the
    ``identity`` it asks as), and its versions' tags (``version_tags``) through ``tags`` when
    given; every other call goes to ``registry``."""

    def __init__(self, registry: Registry, who: Identity, reads: RunReads,
                 tags: VersionTagReads | None = None) -> None:
        self.registry = registry
        self.who = who
        self.reads = reads
        self.tags = tags

    def __repr__(self) -> str:
        return f"CachingRegistry({self.registry!r})"

    def run_metrics(self, run_id: str) -> Mapping[str, float]:
        """The run's metrics, kept for ``RunReads.ended_ttl`` once the run has ended
        (``TERMINAL_RUN_STATUSES``; a client that cannot say, not ``ReadsRunStatus``, as
        ended), for ``RunReads.unended_ttl`` while it has not or while they have no ``qini.*``
        key (a run left RUNNING for good is read once that long, not at every read). A read
        from MLflow drops the "does not exist" kept of the run's artifacts (see the module's
        doc)."""
        key = (self.who, run_id, "metrics", "")
        registry, reads = self.registry, self.reads

        def read() -> tuple[Mapping[str, float], str | None]:
            metrics: Mapping[str, float]
            status: str | None
            if isinstance(registry, ReadsRunStatus):
                metrics, status = registry.run_metrics_and_status(run_id)
            else:  # cannot say whether the run ended: taken as ended
                metrics, status = registry.run_metrics(run_id), None
            reads.forget_absent((self.who, run_id, "artifact"))
            return MappingProxyType(dict(metrics)), status

        def keep_for(read: tuple[Mapping[str, float], str | None]) -> float:
            metrics, status = read
            if status is not None and status not in TERMINAL_RUN_STATUSES:
                return reads.unended_ttl
            if not any(name.startswith("qini.") for name in metrics):
                return min(reads.unended_ttl, reads.ended_ttl)
            return reads.ended_ttl

        return reads.get(key, read, keep_for=keep_for)[0]

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        return self.reads.get((self.who, run_id, "artifact", path),
                              lambda: self.registry.download_artifact_json(run_id, path))

    def version_tags(self, name: str, version: str) -> Mapping[str, str]:
        """The tags of ``version`` of ``name`` (read-only), shared through ``tags`` for its
        lifetime (``VersionTagReads``); read every time without it."""
        def read() -> Mapping[str, str]:
            return getattr(self.registry.resolve(name, version=version), "tags", None) or {}

        if self.tags is None:
            return MappingProxyType(dict(read()))
        return self.tags.get(self.who, name, version, read)

    # -- what may change: MLflow every time ----------------------------------------------------

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        return self.registry.resolve(name, version=version, alias=alias)

    def run_tags(self, run_id: str) -> Mapping[str, str]:
        return self.registry.run_tags(run_id)

    def registered_aliases(self, max_pages: int | None = None) -> AliasListing:
        """The alias poller's sweep (``ListsAliases``), when the client it wraps can list."""
        if not isinstance(self.registry, ListsAliases):
            raise RegistryRequestError(f"{self.registry!r} cannot list registered models")
        return self.registry.registered_aliases(max_pages)

    def model_signature(self, name: str, version: str) -> Mapping[str, Any] | None:
        return self.registry.model_signature(name, version)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        try:
            self.registry.set_version_tag(name, version, key, value)
        finally:  # failed, it may have landed still: read again either way
            self._tags_written(name, version)

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        try:
            self.registry.delete_version_tag(name, version, key)
        finally:
            self._tags_written(name, version)

    def _tags_written(self, name: str, version: str) -> None:
        if self.tags is not None:
            self.tags.written(self.who[0], name, version)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.registry.set_alias(name, alias, version)


@dataclass
class RegistryClients:
    """One client per registry identity (built by ``build``, kept for its connections while a
    pass used it within ``idle_seconds``, at most the ``max_clients`` most recently used), each
    reading runs through the shared ``reads`` and versions' tags through the shared ``tags``.
    Time is read from ``clock``."""

    build: Callable[[str, Credentials | None], Registry]
    reads: RunReads = field(default_factory=RunReads)
    tags: VersionTagReads = field(default_factory=VersionTagReads)
    max_clients: int = MAX_CLIENTS
    idle_seconds: float = CLIENT_IDLE_SECONDS
    clock: Callable[[], float] = time.monotonic
    built: int = 0  # clients built, for tests and benchmarks
    #: By identity, least recently used first: the client and when a pass last asked for it.
    _clients: OrderedDict[Identity, tuple[CachingRegistry, float]] = field(
        default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, tracking_uri: str, credentials: Credentials | None) -> Registry:
        who = identity(tracking_uri, credentials)
        with self._lock:
            now = self.clock()
            kept = self._clients.pop(who, None)
            client = kept[0] if kept is not None else None
            if client is None:
                client = CachingRegistry(self.build(tracking_uri, credentials), who, self.reads,
                                         self.tags)
                self.built += 1
            self._clients[who] = (client, now)  # the most recently used, last
            self._drop_unused(now)
            return client

    def _drop_unused(self, now: float) -> None:
        """Drop the clients unused for ``idle_seconds``, then the least recently used beyond
        ``max_clients`` (under the lock; the order is that of use, so the oldest come first)."""
        while self._clients:
            _, (_, used) = next(iter(self._clients.items()))
            if now - used < self.idle_seconds and len(self._clients) <= self.max_clients:
                return
            self._clients.popitem(last=False)

    def __len__(self) -> int:
        """Clients kept."""
        with self._lock:
            return len(self._clients)


def _copied(error: BaseException) -> BaseException:
    """``error`` for another waiting thread to raise (one exception object raised in several
    threads at once would share, and grow, one traceback)."""
    try:
        return copy.copy(error).with_traceback(None)
    except Exception:  # an exception that cannot be copied: raise it as it is
        return error


def _footprint(value: object) -> int:
    """Roughly the bytes a parsed JSON value takes (``sys.getsizeof`` of every object in it;
    small ints and repeated keys counted each time they occur: an overestimate)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        total += sys.getsizeof(item)
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total
