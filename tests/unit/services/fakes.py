"""In-memory fakes of the three ports in ``services/ports.py``, so a pass runs without a cluster.

Each is the narrow port and nothing more: a dict of objects keyed the way the API server keys
them, a table from PromQL to value, and a registry of versions, aliases, run metrics and
artifacts. A source can be made to fail, as the real adapters do, with the adapters' errors.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.mlflow_registry import (
    RegistryNotFound,
    RegistryUnavailable,
)
from uplift_operator.domain.alias_sweep import AliasListing

Key = tuple[str, str, str, str]  # (apiVersion, plural, namespace, name)


Path = tuple[str, ...]


def conflict(plural: str, name: str) -> KubeError:
    """What ``KubeCluster.apply`` raises when the API server refuses an apply whose
    ``metadata.resourceVersion`` is not the object's (409 Conflict, the adapter's ``_error``)."""
    return KubeError(f"apply {plural}/{name}: 409 Operation cannot be fulfilled on {plural} "
                     f"{name!r}: the object has been modified; please apply your changes to the "
                     "latest version and try again", 409)


def _leaf_paths(obj: Mapping[str, Any], at: Path = ()) -> set[Path]:
    """The fields an apply of ``obj`` sets, as server-side apply counts them: maps field by
    field, a list (atomic: ``spec.predictors`` in Seldon's CRD, which lists no
    ``x-kubernetes-list-type`` for it) or a scalar as one field."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if isinstance(value, Mapping) and value:
            paths |= _leaf_paths(value, (*at, key))
        else:
            paths.add((*at, key))
    return paths


def _merged(live: Mapping[str, Any], applied: Mapping[str, Any]) -> dict[str, Any]:
    """``applied`` over ``live``: maps merged key by key (what others set stays), lists and
    scalars replaced whole."""
    merged = copy.deepcopy(dict(live))
    for key, value in applied.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _without(obj: dict[str, Any], path: Path) -> None:
    """``obj`` without the field at ``path``, and without the maps that removal left empty."""
    parent = obj
    for step in path[:-1]:
        child = parent.get(step)
        if not isinstance(child, dict):
            return
        parent = child
    parent.pop(path[-1], None)
    if len(path) > 1:
        holder = obj
        for step in path[:-2]:
            holder = holder[step]
        if not holder[path[-2]]:
            del holder[path[-2]]


@dataclass
class FakeCluster:
    """Objects by (apiVersion, plural, namespace, name), answering an ``apply`` as the API
    server answers the operator's forced server-side apply (one field manager, the operator's):

    - an apply carrying ``metadata.resourceVersion`` is a precondition: refused with the
      adapter's ``KubeError`` 409 (``conflict``) unless the object is there at that version;
    - every write (an apply, a ``put``) moves the object's resourceVersion: one counter for the
      whole cluster, as etcd's revision, integers as strings;
    - maps merge field by field, so the labels, annotations, spec fields and data keys other
      managers (a ``put``, a hand edit) set stay; a list is replaced whole (``spec.predictors``
      is atomic in Seldon's CRD); a field the operator's previous apply set and this one does
      not is removed;
    - the status is not written by an apply (a subresource: Seldon's), and is kept.
    """

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    apply_error: KubeError | None = None
    applied: list[Key] = field(default_factory=list)
    create_secret_error: KubeError | None = None
    created_secrets: list[dict[str, Any]] = field(default_factory=list)
    #: The cluster's last resourceVersion (etcd's revision): each write takes the next one.
    revision: int = 0
    #: The fields each object's last apply set (the operator's managed fields).
    managed: dict[Key, set[Path]] = field(default_factory=dict)

    def _next_version(self, *written: Mapping[str, Any] | None) -> str:
        """The next resourceVersion: past the cluster's last and past ``written``'s own (an
        object a test placed at a version of its choosing), so it never moves back."""
        versions = [str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))
                    for obj in written]
        self.revision = max([self.revision, *(int(v) for v in versions if v.isdigit())]) + 1
        return str(self.revision)

    def put(self, plural: str, body: Mapping[str, Any]) -> None:
        """``body`` written as it is (another writer's, or a state a test starts from), at the
        resourceVersion it carries, else at the next one."""
        meta = body["metadata"]
        stored = copy.deepcopy(dict(body))
        version = str(stored["metadata"].get("resourceVersion") or "")
        if version.isdigit():
            self.revision = max(self.revision, int(version))
        elif not version:
            stored["metadata"]["resourceVersion"] = self._next_version()
        self.objects[(body["apiVersion"], plural, meta["namespace"], meta["name"])] = stored

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        if self.apply_error is not None:
            raise self.apply_error
        meta = manifest["metadata"]
        key = (manifest["apiVersion"], plural, meta["namespace"], meta["name"])
        live = self.objects.get(key)
        wanted = meta.get("resourceVersion")
        if wanted and (live is None or str(
                (live.get("metadata") or {}).get("resourceVersion")) != str(wanted)):
            raise conflict(plural, meta["name"])
        body = {k: v for k, v in copy.deepcopy(dict(manifest)).items() if k != "status"}
        body["metadata"].pop("resourceVersion", None)
        sets = _leaf_paths(body)
        merged = copy.deepcopy(live) if live is not None else {}
        for path in sorted(self.managed.get(key, set()) - sets, key=len, reverse=True):
            _without(merged, path)
        merged = _merged(merged, body)
        merged.setdefault("metadata", {})["resourceVersion"] = self._next_version(live)
        self.objects[key] = merged
        self.managed[key] = sets
        self.applied.append(key)
        return copy.deepcopy(merged)

    def write_status(self, key: Key, status: Mapping[str, Any]) -> None:
        """Another writer's status write (Seldon's, through the status subresource): the
        object's resourceVersion moves, as with any write."""
        obj = self.objects[key]
        obj["status"] = copy.deepcopy(dict(status))
        obj["metadata"]["resourceVersion"] = self._next_version(obj)

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        found = self.objects.get((api_version, plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        self.managed.pop((api_version, plural, namespace, name), None)
        return self.objects.pop((api_version, plural, namespace, name), None) is not None

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        if self.create_secret_error is not None:
            raise self.create_secret_error
        meta = manifest["metadata"]
        self.created_secrets.append(copy.deepcopy(dict(manifest)))
        if (meta["namespace"], meta["name"]) in self.secrets:
            return False
        self.secrets[(meta["namespace"], meta["name"])] = dict(manifest["stringData"])
        return True

    def secret_values(self, namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        secret = self.secrets.get((namespace, name))
        if secret is None:
            raise KubeError(f"get secret {namespace}/{name}: 404 secrets {name!r} not found", 404)
        return {key: secret[key].encode() for key in keys if key in secret}


@dataclass
class FakeMetrics:
    """PromQL → value; an unknown query has no data (None), as an empty vector has."""

    values: dict[str, float] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        self.asked.append(promql)
        return self.values.get(promql)

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Any]:
        self.asked.append(promql)
        value = self.values.get(promql)
        return [] if value is None else [{"metric": {}, "value": [0, str(value)]}]


@dataclass(frozen=True)
class FakeVersion:
    name: str
    version: str
    status: str = "READY"
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    creation_timestamp: int | None = None  # MLflow's, ms
    status_message: str = ""  # MLflow's: why a registration failed

    @property
    def ready(self) -> bool:
        return self.status == "READY"


@dataclass
class FakeRegistry:
    """Versions, aliases, run metrics and artifacts of one tracking server. ``down`` makes every
    call fail as an unreachable MLflow does; ``tags`` and ``aliases`` record write-backs."""

    versions: dict[tuple[str, str], FakeVersion] = field(default_factory=dict)
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    artifacts: dict[tuple[str, str], Any] = field(default_factory=dict)
    tags: dict[tuple[str, str, str], str] = field(default_factory=dict)
    run_tag_values: dict[str, dict[str, str]] = field(default_factory=dict)
    signatures: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    writes_fail: bool = False  # reads answer, tag and alias writes fail (e.g. no permission)
    calls: int = 0
    #: When each registered model was created (MLflow's ms): set by its first ``add``.
    model_created: dict[str, int] = field(default_factory=dict)
    clock_ms: int = 1_700_000_000_000  # MLflow's clock: each model and version created 1 ms on

    def add(self, name: str, version: str, run_id: str | None = None,
            status: str = "READY") -> None:
        if name not in self.model_created:
            self.clock_ms += 1
            self.model_created[name] = self.clock_ms
        self.clock_ms += 1
        self.versions[(name, version)] = FakeVersion(name, version, status,
                                                     run_id or f"run-{version}",
                                                     creation_timestamp=self.clock_ms)

    def delete_model(self, name: str) -> None:
        """The registered model ``name`` deleted, with its versions and aliases."""
        self.model_created.pop(name, None)
        for key in [key for key in self.versions if key[0] == name]:
            del self.versions[key]
        for key in [key for key in self.aliases if key[0] == name]:
            del self.aliases[key]

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise RegistryUnavailable("connection refused (fake MLflow down)")

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self._check()
        if alias is not None:
            if (name, alias) not in self.aliases:
                raise RegistryNotFound(f"alias {alias} of {name} not found")
            version = self.aliases[(name, alias)]
        found = self.versions.get((name, str(version)))
        if found is None:
            raise RegistryNotFound(f"version {version} of {name} not found")
        written = {key: value for (model, number, key), value in self.tags.items()
                   if (model, number) == (name, found.version)}
        # The tags written back since it was added are read back with it, as MLflow does.
        return replace(found, tags={**found.tags, **written}) if written else found

    def run_metrics(self, run_id: str) -> Mapping[str, float]:
        self._check()
        return dict(self.metrics.get(run_id, {}))

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        self._check()
        if (run_id, path) not in self.artifacts:
            raise RegistryNotFound(f"artifact {path} of run {run_id} not found")
        return copy.deepcopy(self.artifacts[(run_id, path)])

    def run_tags(self, run_id: str) -> Mapping[str, str]:
        self._check()
        return dict(self.run_tag_values.get(run_id, {}))

    def model_signature(self, name: str, version: str) -> Mapping[str, Any] | None:
        self._check()
        return copy.deepcopy(self.signatures.get((name, version)))

    def _check_write(self) -> None:
        self._check()
        if self.writes_fail:
            raise RegistryUnavailable("permission denied (fake MLflow refuses writes)")

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._check_write()
        self.tags[(name, version, key)] = value

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        """As MLflow: a tag that is not there is removed already (no error)."""
        self._check_write()
        self.tags.pop((name, version, key), None)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._check_write()
        self.aliases[(name, alias)] = version


@dataclass
class ListingRegistry(FakeRegistry):
    """A ``FakeRegistry`` that also lists every registered model's aliases, ``page_size``
    models a request, as MLflow's ``registered-models/search`` (``ListsAliases``): each page
    counts in ``calls`` and ``pages_listed``. ``other_models`` more models, without aliases,
    make the registry larger; ``listing_fails`` fails the listing alone (``down`` fails it
    too)."""

    page_size: int = 1000
    other_models: int = 0
    listing_fails: bool = False
    pages_listed: int = 0

    def registered_aliases(self, max_pages: int | None = None) -> AliasListing:
        by_model: dict[str, dict[str, str]] = {name: {} for name, _ in self.versions}
        for (name, alias), version in self.aliases.items():
            by_model.setdefault(name, {})[alias] = version
        names = sorted(by_model) + [f"zz-other-{index}" for index in range(self.other_models)]
        listed: dict[str, dict[str, str]] = {}
        pages = 0
        for start in range(0, max(len(names), 1), self.page_size):
            if max_pages is not None and pages >= max_pages:
                return AliasListing(listed, pages, complete=False)
            self._check()
            pages += 1
            self.pages_listed += 1
            if self.listing_fails:
                raise RegistryUnavailable("MLflow answered HTTP 503 (fake search refused)")
            for name in names[start:start + self.page_size]:
                listed[name] = dict(by_model.get(name, {}))
        created = {name: stamp for name, stamp in self.model_created.items() if name in listed}
        return AliasListing(listed, pages, created=created)
