"""Objects the operator watches, read from memory instead of the API server.

``WatchedCluster`` wraps the cluster adapter: ``get`` of a watched kind (the SeldonDeployments
the operator renders, the UpliftModels a Campaign follows, the operator's own campaigns
ConfigMaps) answers from what the watch events (``handlers.watches``) and the operator's own
applies last brought, so a pass reads nothing from the API server for them. An object the store
has heard nothing of (not listed by its watch yet, just deleted, or never there) is read once
from the API server, and the answer remembered: the object, or that it is absent. Absence is
remembered until the object shows up (its watch event or the operator's own apply replace it),
so a pass that looks for an object that does not exist — the campaigns ConfigMap of a model
that has no Campaign and no canary, the UpliftModel a Campaign names before it is created —
asks once, not at every pass; the handlers drop it when the name stops mattering
(``forget_absent``). Everything else passes through. The store keeps the newest version of
each object by resourceVersion, so a watch event that arrives after the operator's own apply
never replaces its newer answer.

A kind whose watch the API server selects by label (``selectors``: the SeldonDeployments, by
the operator's ``app.kubernetes.io/managed-by``; the campaigns ConfigMaps, by that label and
``uplift.dev/model``) keeps only the objects that carry those labels: the watch never brings the
changes of one that lacks them (someone else's graph or ConfigMap of a model's name, or the
model's own whose label was removed by hand), so such an object is read from the API server at
every ``get`` rather than kept stale. Nor is its absence remembered: one created without the
labels sends no event that would end that memory, and the pass would take its name for free
(apply over someone else's graph or ConfigMap) — unless the kind is named in ``absence_kept``:
its passes then use a remembered absence only to write nothing, and read the object from the
API server (``WatchedCluster.read_live``) before they write over one (the campaigns ConfigMaps,
``services.campaigns_file``: most models have none, and each file pass would otherwise ask;
the SeldonDeployments, ``services.upliftmodel._apply``: a model whose reference does not
resolve has none, and each of its passes would otherwise ask). An object of such a kind that
is there without the labels is unaffected: its GET finds it, so no absence is remembered, and
it is read from the API server at every ``get`` as before.

kopf lists a kind again after its watch broke (410 Gone, an API server restart) but sends no
DELETED event for an object deleted in the gap, so the store would keep it for good, and a
pass would find its child unchanged and apply nothing. The existence audit
(``handlers.existence``) lists each label-selected kind's metadata once per resync interval and
drops what the store kept that the API server no longer has (``kept``, ``forget`` by uid).

An object dropped (``forget``) is remembered for ``TOMBSTONE_SECONDS`` by uid, at the
resourceVersion it had then, and a body of it no newer is not kept again (``observe``): a read a
pass sent before the object's deletion, answered before it and handled after its DELETED event,
brought it back, and no event would drop it again. A newer body of it is kept (a graph the
operator deleted that a finalizer holds: the watch still brings its changes).
What the existence audit drops because its kind's LIST answered 404 twice in a row (the CRD
not served) gets no tombstone (``forget(bury=False)``): it was not seen deleted, and should the
404s have been wrong, the next GET or apply that finds it keeps it again at once (with a
tombstone, a no-op apply at the same resourceVersion was not kept, and every pass read it from
the API server until a newer version came).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["TOMBSTONES_KEPT", "TOMBSTONE_SECONDS", "WatchedCluster", "WatchedObjects",
           "label_selector", "newer", "uid_of"]

#: An object dropped (its DELETED event, the operator's delete, a read that found it gone, the
#: existence audit) is remembered this long by uid and resourceVersion, so that a read answered
#: before it went, handled after, does not bring it back (``WatchedObjects.observe``).
TOMBSTONE_SECONDS = 300.0
#: At most this many such objects are remembered (the oldest dropped first): about 100 bytes
#: each.
TOMBSTONES_KEPT = 10_000

ObjectKey = tuple[str, str, str]  # (plural, namespace, name)
#: Labels a watch selects by: name → value, or None for "the label is there, any value".
Labels = Mapping[str, str | None]


def label_selector(labels: Labels) -> str:
    """``labels`` as the API server's label selector (``name=value``, or ``name`` for one that
    need only be there), as a watch or a LIST of the kind asks for it."""
    return ",".join(name if value is None else f"{name}={value}"
                    for name, value in labels.items())


def uid_of(body: Mapping[str, Any]) -> str:
    """The object's uid, as the operator keys what it keeps of one object."""
    return str((body.get("metadata") or {}).get("uid"))


def newer(candidate: Mapping[str, Any], known: Mapping[str, Any] | None) -> bool:
    """Whether ``candidate`` is at least as new as ``known`` (resourceVersions are opaque, but
    etcd's are integers: compared as such when both are; otherwise the later arrival wins)."""
    if known is None:
        return True
    new = str((candidate.get("metadata") or {}).get("resourceVersion", ""))
    old = str((known.get("metadata") or {}).get("resourceVersion", ""))
    if new.isdigit() and old.isdigit():
        return int(new) >= int(old)
    return True


class WatchedObjects:
    """The latest body of each watched object, fed by watch events and the operator's applies;
    thread-safe (passes run in a thread pool, events arrive on the event loop)."""

    def __init__(self, plurals: Sequence[str], selectors: Mapping[str, Labels] | None = None,
                 absence_kept: Sequence[str] = (), *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plurals = frozenset(plurals)
        #: Per plural, the labels (name → value, None: any value) its watch selects by: only
        #: such objects kept.
        self.selectors = {plural: dict(labels) for plural, labels in (selectors or {}).items()}
        #: Label-selected plurals whose absence is remembered all the same (see the module).
        self.absence_kept = frozenset(absence_kept)
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        #: Objects the API server said are not there, and no watch event or apply since.
        self._absent: set[ObjectKey] = set()
        #: Objects dropped lately, by uid: (the resourceVersion they had then, or None if
        #: unknown; until when, by ``clock``), oldest first, at most ``TOMBSTONES_KEPT``.
        self._tombstones: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._clock = clock
        self._lock = threading.Lock()

    def selected(self, plural: str, body: Mapping[str, Any]) -> bool:
        """Whether the watch of ``plural`` brings ``body``'s changes (it carries the labels the
        API server selects by), so that the store may keep it."""
        labels = (body.get("metadata") or {}).get("labels") or {}
        return all(name in labels if value is None else labels.get(name) == value
                   for name, value in self.selectors.get(plural, {}).items())

    def observe(self, plural: str, body: Mapping[str, Any]) -> None:
        """Keep ``body`` if it is at least as new as what is kept; one its watch does not
        select is not kept, and drops an older version kept of it (the labels removed). Not
        one of an object dropped lately (``forget``) that is not newer than it was then: a
        read the API server answered before the object went, handled after its DELETED
        event, brought it back for good (no event would drop it again)."""
        meta = body.get("metadata") or {}
        key = (plural, str(meta.get("namespace", "")), str(meta.get("name", "")))
        selected = self.selected(plural, body)
        # managedFields (often larger than the rest) is read by no pass: not kept.
        kept = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
        with self._lock:
            if self._buried(uid_of(body), str(meta.get("resourceVersion") or "")):
                return
            self._absent.discard(key)
            if newer(body, self._objects.get(key)):
                if selected:
                    self._objects[key] = kept
                else:
                    self._objects.pop(key, None)

    def forget(self, plural: str, namespace: str, name: str, uid: str | None = None,
               resource_version: str | None = None, *, bury: bool = True) -> None:
        """Drop the object of that name; with ``uid``, only if it is still that object (a
        DELETED event handled after the name was created again keeps the new one). The object
        dropped (``uid``, else the one kept) is remembered for ``TOMBSTONE_SECONDS`` at
        ``resource_version`` (else the one kept, else any), and ``observe`` refuses it unless
        newer; not with ``bury`` False: dropped for a doubt, not for its deletion (the existence
        audit's "kind not served"), the next read or apply of it that finds it keeps it."""
        key = (plural, namespace, name)
        with self._lock:
            known = self._objects.get(key)
            mine = known is not None and (uid is None or uid_of(known) == uid)
            if mine:
                del self._objects[key]
            if not bury:
                return
            dead = uid or (uid_of(known) if known is not None else "")
            if dead and dead != "None":
                version = resource_version or (
                    str((known.get("metadata") or {}).get("resourceVersion") or "")
                    if mine and known is not None else "")
                self._bury(dead, version or None)

    def _bury(self, uid: str, version: str | None) -> None:
        """Remember ``uid`` dropped at ``version`` (under the lock)."""
        now = self._clock()
        self._tombstones[uid] = (version, now + TOMBSTONE_SECONDS)
        self._tombstones.move_to_end(uid)
        while self._tombstones and (len(self._tombstones) > TOMBSTONES_KEPT
                                    or next(iter(self._tombstones.values()))[1] <= now):
            self._tombstones.popitem(last=False)

    def _buried(self, uid: str, version: str) -> bool:
        """Whether a body of ``uid`` at ``version`` is of an object dropped lately and not
        newer than it was then (under the lock)."""
        tombstone = self._tombstones.get(uid)
        if tombstone is None:
            return False
        dropped_at, until = tombstone
        if until <= self._clock():
            del self._tombstones[uid]
            return False
        if dropped_at is None:  # its version then unknown: nothing of it is newer
            return True
        if version.isdigit() and dropped_at.isdigit():
            return int(version) <= int(dropped_at)
        return version == dropped_at

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get((plural, namespace, name))

    def kept(self, plural: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
        """What the store keeps of ``plural`` now, by uid: (namespace, name, body); a copy of
        the index (the bodies are the store's, not to be changed). A body without a uid (none
        the API server answered) is left out: nothing could be compared with it."""
        with self._lock:
            return {uid_of(body): (namespace, name, body)
                    for (kind, namespace, name), body in self._objects.items()
                    if kind == plural and (body.get("metadata") or {}).get("uid")}

    def absent(self, plural: str, namespace: str, name: str) -> bool:
        """Whether the API server said there is no such object, and nothing came since."""
        with self._lock:
            return (plural, namespace, name) in self._absent

    def mark_absent(self, plural: str, namespace: str, name: str) -> None:
        """The API server answered that there is no such object (a read that started before
        now): remembered, unless an event or apply brought one meanwhile, which is newer. Not
        for a kind whose watch is selected by label, unless it is named in ``absence_kept``
        (see the module)."""
        key = (plural, namespace, name)
        with self._lock:
            if key not in self._objects and (plural not in self.selectors
                                             or plural in self.absence_kept):
                self._absent.add(key)

    def forget_absent(self, plural: str, namespace: str, name: str) -> None:
        """Stop remembering that the object is absent (nothing will look for it now: its
        owner, or whoever named it, is gone); an object the store holds is kept."""
        with self._lock:
            self._absent.discard((plural, namespace, name))


class _Cluster(Protocol):
    """What ``WatchedCluster`` calls of the cluster it wraps (``adapters.kube.KubeCluster``)."""

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]: ...

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None: ...

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool: ...

    def secret_values(self, namespace: str, name: str,
                      keys: Sequence[str]) -> dict[str, bytes]: ...

    def create_secret(self, manifest: Mapping[str, Any]) -> bool: ...


class WatchedCluster:
    """A cluster adapter whose reads of watched kinds come from ``objects``."""

    def __init__(self, cluster: _Cluster, objects: WatchedObjects) -> None:
        self.cluster = cluster
        self.objects = objects

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        result = self.cluster.apply(manifest, plural)
        if plural in self.objects.plurals and result:
            self.objects.observe(plural, result)  # the next pass sees its own apply
        return result

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        if plural not in self.objects.plurals:
            return self.cluster.get(api_version, plural, namespace, name)
        known = self.objects.get(plural, namespace, name)
        if known is not None or self.objects.absent(plural, namespace, name):
            return known
        found = self.cluster.get(api_version, plural, namespace, name)
        if found is None:
            self.objects.mark_absent(plural, namespace, name)
        else:
            self.objects.observe(plural, found)  # not kept if its watch does not select it
        return found

    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        """Read from the API server even for a watched kind, and update the store with the
        answer: for when memory is in doubt (a write found no object, so the store may hold
        one whose DELETED event never came)."""
        found = self.cluster.get(api_version, plural, namespace, name)
        if plural in self.objects.plurals:
            if found is None:
                self.objects.forget(plural, namespace, name)
            else:
                self.objects.observe(plural, found)
        return found

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        gone = self.cluster.delete(api_version, plural, namespace, name)
        if plural in self.objects.plurals:
            self.objects.forget(plural, namespace, name)
        return gone

    def secret_values(self, namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        return self.cluster.secret_values(namespace, name, keys)

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        return self.cluster.create_secret(manifest)

    def __getattr__(self, name: str) -> Any:  # merge_patch, patch_status: as the cluster's
        return getattr(self.cluster, name)
