"""Kubernetes I/O for the children the operator owns: server-side apply, get, delete, secrets.

Custom objects go through ``CustomObjectsApi``; core/v1 objects (an UpliftModel's campaigns
ConfigMap) through the same ``apply``/``get``, by ``apiVersion: v1``.

kopf handles the watched resources and their status patches; this adapter is only for the
objects the operator *creates* (the serving graph) and the Secrets it reads. Server-side apply
with one field manager makes the operator's intent explicit and restores a child that was edited
or deleted by hand on the next pass.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

__all__ = ["FIELD_MANAGER", "CoreReads", "KubeCluster", "KubeError", "current_namespace",
           "load_api_client"]

FIELD_MANAGER = "uplift-operator"
#: The metadata-only form of a LIST's answer (``KubeCluster.list_uids``).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
LIST_PAGE_SIZE = 500
#: A page of a LIST given up after this (connect, read): one that never came would hold the
#: thread for ever.
LIST_TIMEOUT_SECONDS = (10.0, 60.0)


class KubeError(RuntimeError):
    """An API call failed; ``status`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def load_api_client() -> client.ApiClient:
    """In-cluster credentials when running in a Pod, else the KUBECONFIG the operator was given."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


def current_namespace() -> str:
    """The namespace of the kubeconfig's current context (``default`` when it names none)."""
    try:
        _, context = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    return str((context or {}).get("context", {}).get("namespace") or "default")


class CoreReads:
    """The core/v1 reads the operator makes (a Secret, the namespaces), without ``CoreV1Api``.

    Importing ``client.CoreV1Api`` costs ≈ 70 MB resident with kubernetes 37 (every core/v1
    endpoint, each wrapped in a pydantic ``validate_call``): a third of the idle operator, for
    two GETs (docs/operator.md, "Footprint"). These go through the same ``ApiClient`` calls
    ``CoreV1Api`` makes, return the same models and raise the same ``ApiException``.
    """

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api

    def read_namespaced_secret(self, name: str, namespace: str) -> client.V1Secret:
        secret: client.V1Secret = self._get("/api/v1/namespaces/{namespace}/secrets/{name}",
                                            "V1Secret", namespace=namespace, name=name)
        return secret

    def list_namespace(self) -> client.V1NamespaceList:
        namespaces: client.V1NamespaceList = self._get("/api/v1/namespaces", "V1NamespaceList")
        return namespaces

    def _get(self, path: str, model: str, **path_params: str) -> Any:
        request = self._api.param_serialize(
            method="GET", resource_path=path, path_params=path_params,
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        response = self._api.call_api(*request)
        response.read()  # type: ignore[no-untyped-call]
        return self._api.response_deserialize(response, {"200": model}).data


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class KubeCluster:
    """Typed-enough access to custom objects and Secrets."""

    def __init__(self, api_client: client.ApiClient | None = None,
                 field_manager: str = FIELD_MANAGER) -> None:
        self._api = api_client or load_api_client()
        self._custom = client.CustomObjectsApi(self._api)
        self._core = CoreReads(self._api)
        self.field_manager = field_manager

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        """Server-side apply ``manifest`` (force: the operator owns every field it sets)."""
        group, version = _split(manifest["apiVersion"])
        meta = manifest["metadata"]
        if not group:  # core/v1 (a ConfigMap): the same apply, through the core path
            return self._core_call(
                "PATCH", f"/api/{version}/namespaces/{{namespace}}/{plural}/{{name}}",
                f"apply {plural}/{meta['name']}", namespace=meta["namespace"], name=meta["name"],
                body=dict(manifest), query=[("fieldManager", self.field_manager),
                                            ("force", "true")],
                content_type="application/apply-patch+yaml") or {}
        try:
            result = self._custom.patch_namespaced_custom_object(
                group, version, meta["namespace"], plural, meta["name"], dict(manifest),
                field_manager=self.field_manager, force=True,
                _content_type="application/apply-patch+yaml")
        except ApiException as error:
            raise _error(error, f"apply {plural}/{meta['name']}") from error
        return cast(dict[str, Any], result)

    def get(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        group, version = _split(api_version)
        if not group:  # core/v1
            return self._core_call("GET", f"/api/{version}/namespaces/{{namespace}}/{plural}/"
                                          "{name}", f"get {plural}/{name}", namespace=namespace,
                                   name=name, missing_ok=True)
        try:
            result = self._custom.get_namespaced_custom_object(group, version, namespace, plural,
                                                               name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise _error(error, f"get {plural}/{name}") from error
        return cast(dict[str, Any], result)

    def _core_call(self, method: str, path: str, what: str, *, namespace: str, name: str,
                   body: Mapping[str, Any] | None = None,
                   query: list[tuple[str, str]] | None = None, content_type: str | None = None,
                   missing_ok: bool = False) -> dict[str, Any] | None:
        """A core/v1 call through the ApiClient's own request path (no ``CoreV1Api``: see
        ``CoreReads``); None for a 404 when ``missing_ok``."""
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = self._api.param_serialize(
            method=method, resource_path=path, path_params={"namespace": namespace, "name": name},
            query_params=query or [], header_params=headers,
            body=dict(body) if body is not None else None, auth_settings=["BearerToken"])
        try:
            response = self._api.call_api(*request)
            response.read()  # type: ignore[no-untyped-call]
            data = self._api.response_deserialize(response, {"200": "object",
                                                             "201": "object"}).data
        except ApiException as error:
            if missing_ok and error.status == 404:
                return None
            raise _error(error, what) from None
        return cast(dict[str, Any], data)

    def merge_patch(self, api_version: str, plural: str, namespace: str, name: str,
                    patch: Mapping[str, Any]) -> dict[str, Any]:
        """JSON merge patch of the main resource (annotations, a spec field)."""
        group, version = _split(api_version)
        try:
            result = self._custom.patch_namespaced_custom_object(
                group, version, namespace, plural, name, dict(patch),
                _content_type="application/merge-patch+json")
        except ApiException as error:
            raise _error(error, f"patch {plural}/{name}") from error
        return cast(dict[str, Any], result)

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        """JSON merge patch (RFC 7386) of the status subresource: an object is merged key by key
        at any depth, a key set to None is removed at its depth, a list is replaced whole
        (``domain.status.status_patch`` builds such a patch). With
        ``resource_version`` the write is conditional: the API server refuses it with 409 when
        the object changed since that version (optimistic concurrency)."""
        group, version = _split(api_version)
        body: dict[str, Any] = {"status": dict(patch)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            result = self._custom.patch_namespaced_custom_object_status(
                group, version, namespace, plural, name, body,
                _content_type="application/merge-patch+json")
        except ApiException as error:
            raise _error(error, f"patch {plural}/{name}/status") from error
        return cast(dict[str, Any], result)

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        """Delete; False when it was already gone."""
        group, version = _split(api_version)
        try:
            self._custom.delete_namespaced_custom_object(group, version, namespace, plural, name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise _error(error, f"delete {plural}/{name}") from error
        return True

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        """Create a Secret; False when one of that name exists already (it is left as it is:
        the operator never overwrites a Secret). Errors never carry the manifest's data."""
        meta = manifest["metadata"]
        # The ApiClient's own request path (CoreV1Api costs ≈ 70 MB to import, see CoreReads).
        request = self._api.param_serialize(
            method="POST", resource_path="/api/v1/namespaces/{namespace}/secrets",
            path_params={"namespace": meta["namespace"]}, body=dict(manifest),
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            auth_settings=["BearerToken"])
        try:
            response = self._api.call_api(*request)
            response.read()  # type: ignore[no-untyped-call]
            self._api.response_deserialize(response, {"201": "object", "200": "object"})
        except ApiException as error:
            if error.status == 409:
                return False
            raise _error(error, f"create secret {meta['namespace']}/{meta['name']}") from None
        return True

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                  page_size: int = LIST_PAGE_SIZE) -> set[str]:
        """The uids of every object of ``plural`` in ``namespace`` (None: every namespace),
        from a LIST of their metadata only (``PartialObjectMetadataList``: no spec, no status),
        ``page_size`` objects a request. A page that fails fails the whole list (KubeError):
        a partial answer would show the objects of the pages never read as absent."""
        group, version = _split(api_version)
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = f"{base}/namespaces/{{namespace}}/{plural}" if namespace else f"{base}/{plural}"
        uids: set[str] = set()
        token = ""
        while True:
            query = [("limit", str(page_size))] + ([("continue", token)] if token else [])
            request = self._api.param_serialize(
                method="GET", resource_path=path,
                path_params={"namespace": namespace} if namespace else {}, query_params=query,
                # An API server without the metadata-only form answers the whole objects.
                header_params={"Accept": f"{METADATA_ONLY}, application/json"},
                auth_settings=["BearerToken"])
            try:
                response = self._api.call_api(*request, _request_timeout=LIST_TIMEOUT_SECONDS)
                response.read()  # type: ignore[no-untyped-call]
                page = cast(dict[str, Any], self._api.response_deserialize(
                    response, {"200": "object"}).data)
            except ApiException as error:
                raise _error(error, f"list {plural}") from None
            for item in page.get("items") or []:
                uid = (item.get("metadata") or {}).get("uid")
                if uid:
                    uids.add(str(uid))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return uids

    def secret_values(self, namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The bytes of those of ``keys`` that Secret ``name`` has (the caller judges a missing
        key or a malformed value; nothing here puts a value into a message)."""
        try:
            secret = self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            raise _error(error, f"get secret {namespace}/{name}") from None
        data: dict[str, Any] = dict(secret.data or {})
        return {key: base64.b64decode(data[key]) for key in keys if key in data}


def _error(error: ApiException, what: str) -> KubeError:
    reason = str(error.reason or "")
    with contextlib.suppress(ValueError, AttributeError):
        reason = str(json.loads(error.body or "{}").get("message", reason))
    return KubeError(f"{what}: {error.status} {reason}", int(error.status or 0))
