"""The narrow interfaces services need from the adapters (structural, so tests can pass fakes
of pure logic and the adapters need not know about services)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from uplift_operator.domain.alias_sweep import AliasListing

__all__ = ["Cluster", "ListsAliases", "MetricSource", "Registry"]


class MetricSource(Protocol):
    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None: ...

    def query(self, promql: str, time: datetime | float | None = None) -> Sequence[Any]: ...


class Registry(Protocol):
    def resolve(self, name: str, version: str | None = None,
                alias: str | None = None) -> Any: ...

    def run_metrics(self, run_id: str) -> Mapping[str, float]: ...

    def download_artifact_json(self, run_id: str, path: str) -> Any: ...

    def run_tags(self, run_id: str) -> Mapping[str, str]: ...

    def model_signature(self, name: str, version: str) -> Mapping[str, Any] | None: ...

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        """Remove a version's tag; one that is not there is removed already (no error)."""

    def set_alias(self, name: str, alias: str, version: str) -> None: ...


@runtime_checkable
class ListsAliases(Protocol):
    """A registry client that can list every registered model's aliases at once (a sweep: the
    alias poller's one read for many aliases, ``services.resolution.Resolver.sweep``)."""

    def registered_aliases(self, max_pages: int | None = None) -> AliasListing: ...


class Cluster(Protocol):
    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]: ...

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None: ...

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool: ...

    def secret_values(self, namespace: str, name: str,
                      keys: Sequence[str]) -> dict[str, bytes]: ...

    def create_secret(self, manifest: Mapping[str, Any]) -> bool: ...
