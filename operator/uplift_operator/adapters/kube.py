"""Kubernetes I/O for the children the operator owns: server-side apply, get, delete, secrets.

Custom objects go through ``CustomObjectsApi``; core/v1 objects (an UpliftModel's campaigns
ConfigMap) through the same ``apply``/``get``, by ``apiVersion: v1``.

kopf handles the watched resources and their status patches; this adapter is only for the
objects the operator *creates* (the serving graph) and the Secrets it reads. Server-side apply
with one field manager (forced) makes the operator's intent explicit. The next pass puts back a
child deleted by hand, and one whose fields the operator sets were edited; in a
SeldonDeployment's ``spec.predictors``, any edit (the list is atomic: the apply replaces it
whole, fields added inside it included; ``services.upliftmodel._same_spec`` notices them).
Elsewhere a field someone else added stays, server-side apply leaving it to its own manager: an
annotation, a label, a ``spec`` field beside the predictors.

Every request is bounded (``REQUEST_TIMEOUT_SECONDS``) and its connection kept alive at the TCP
level: these calls run on the pass pool's threads, and one that never got an answer (an API
server replica lost without a FIN, a wedged proxy) held its thread for good; eight of them
stopped every pass, and a SIGTERM waited for the kubelet's SIGKILL. An API server not reached
(refused, timed out, reset) raises ``KubeError`` with status 0, like any other failed call, so
the callers' conditions and backoff handle it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from uplift_operator import __version__

__all__ = ["FIELD_MANAGER", "CoreReads", "KubeCluster", "KubeError", "current_namespace",
           "load_api_client"]

#: The operator's name on every write: the field manager of its server-side applies, and
#: (``fieldManager``) of its merge patches, status patches and Secret creations, whose
#: ``managedFields`` entries are then ``Update`` ones of the same manager (an apply's are
#: ``Apply``: separate entries). Without it the API server names the manager after the
#: User-Agent's product, ``OpenAPI-Generator``, the same for any client built from the
#: generated Python client. No object is both applied and updated by the operator: it applies
#: only the children it creates (the serving graph, the campaigns ConfigMap), updates
#: UpliftModels and Campaigns (their status subresource, a merge patch) and creates Secrets,
#: so no ``Update`` of its own takes a field from its ``Apply`` entry (which a later apply
#: leaving the field out would then no longer remove).
FIELD_MANAGER = "uplift-operator"
#: The User-Agent of every request (``load_api_client``): what the API server's audit log
#: (``userAgent``) and its metrics show as the client, instead of the generated client's
#: ``OpenAPI-Generator/<client version>/python``.
USER_AGENT = f"uplift-operator/{__version__}"
#: The metadata-only form of a LIST's answer (``KubeCluster.list_uids``).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
LIST_PAGE_SIZE = 500
#: Every request (a LIST's page too) is given up after this (connect, read), in seconds: one
#: that never came would hold its thread for ever. Connect: a few SYN retransmissions (1, 3,
#: 7 s) to a Service address. Read (the longest wait for the next bytes, not the whole
#: answer): the API server's own ``--request-timeout`` (60 s by default), which ends any
#: non-watch request it has not answered with a 504; waiting as long lets every answer it can
#: still send arrive: an apply of a large SeldonDeployment through APF queueing and admission
#: webhooks (each at most 30 s) takes seconds, not a minute, and its answer streams in well
#: under 60 s between bytes.
REQUEST_TIMEOUT_SECONDS = (10.0, 60.0)
#: Retries of one request (urllib3's, before ``KubeError``): 3 in all, as urllib3's default;
#: a connection that failed before the request was sent is tried again whatever the method,
#: but after the request was sent only a GET (or HEAD) is, at most once after no answer came
#: (a kept connection to a replica just lost: the second try connects afresh), never a write
#: that may have reached the server. urllib3's default tried 4 times, 4 read timeouts in a
#: row, and counted DELETE and PUT as safe to send again: a DELETE whose first try landed was
#: then answered 404, "already gone", for an object it deleted itself. The same methods are
#: the only ones urllib3 sends again after a 429/503 with Retry-After (a write is not: the
#: caller's backoff sends it again).
#: The longest a Retry-After is waited before a GET is sent again, in seconds. urllib3 waits
#: what the header says, up to 6 hours: a 429 from API Priority and Fairness (which says 1 s)
#: or a proxy in front of the API server saying more would hold a pass-pool thread, or the
#: start-up's peering looks past the liveness probe, that long. Past this the next try is
#: sent anyway; its refusal too ends as ``KubeError``, and the caller's backoff takes over.
RETRY_AFTER_MAX_SECONDS = 5.0


class _CappedRetry(Retry):
    """urllib3's ``Retry``, its Retry-After wait capped at ``RETRY_AFTER_MAX_SECONDS`` (``new``
    keeps the class, so every later try is capped too). urllib3 2.6 added ``retry_after_max``;
    this works on every 2.x the locks may resolve."""

    def get_retry_after(self, response: Any) -> float | None:
        wait = super().get_retry_after(response)
        return None if wait is None else min(wait, RETRY_AFTER_MAX_SECONDS)


REQUEST_RETRIES = _CappedRetry(total=3, read=1, allowed_methods=frozenset({"GET", "HEAD"}))

log = logging.getLogger(__name__)


class KubeError(RuntimeError):
    """An API call failed; ``status`` is the HTTP status (0 when the server was not reached);
    ``fields``: the field paths the API server's answer names as the causes (a 422's
    ``details.causes[].field``, e.g. ``status.phase``), empty when it names none."""

    def __init__(self, message: str, status: int = 0, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.fields = fields


def load_api_client() -> client.ApiClient:
    """In-cluster credentials when running in a Pod, else the KUBECONFIG the operator was given;
    connections kept alive at the TCP level (client-go's timings: probed after 30 s idle,
    dropped after 9 probes 15 s apart), so a kept connection to a peer that vanished without a
    FIN is found dead instead of being reused, retries bounded (``REQUEST_RETRIES``), and every
    request naming the operator (``USER_AGENT``)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    api = client.ApiClient(configured(client.Configuration.get_default_copy()))
    api.user_agent = USER_AGENT
    return api


def configured(configuration: client.Configuration) -> client.Configuration:
    """``configuration`` with TCP keep-alive on and ``REQUEST_RETRIES``."""
    configuration.keep_alive = True
    configuration.retries = REQUEST_RETRIES
    return configuration


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

    def __init__(self, api: client.ApiClient,
                 request_timeout: tuple[float, float] = REQUEST_TIMEOUT_SECONDS) -> None:
        self._api = api
        self.request_timeout = request_timeout

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
        response = self._api.call_api(*request, _request_timeout=self.request_timeout)
        response.read()  # type: ignore[no-untyped-call]
        return self._api.response_deserialize(response, {"200": model}).data


#: What the API server's answer says when a ValidatingAdmissionPolicy refused a request.
_POLICY_DENIED = "denied request"


def foreign_fields(obj: Mapping[str, Any], own_manager: str = FIELD_MANAGER,
                   ) -> list[tuple[tuple[str, ...], str]]:
    """The fields of ``obj`` other field managers than ``own_manager`` set (its
    ``metadata.managedFields``), as (path, manager), leaves only, in the order listed:
    not the status (a subresource's writes, Seldon's), nor within ``spec.predictors`` (the
    list is atomic in Seldon's CRD: the operator's forced apply replaces it whole), nor a
    finalizer (another controller's, which the policy does not judge and nobody should be told
    to remove). Another owner reference is listed: the policy allows exactly one owner. A list
    item keyed by value reads ``[key=value]``."""
    found: list[tuple[tuple[str, ...], str]] = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        manager = str(entry.get("manager") or "?")
        if manager == own_manager or entry.get("subresource"):
            continue
        for path in _leaves(entry.get("fieldsV1") or {}, ()):
            if path[:1] == ("status",) or path[:2] == ("spec", "predictors"):
                continue
            if path[:2] == ("metadata", "finalizers") or path[:1] == ("apiVersion",):
                continue
            found.append((path, manager))
    return found


def _leaves(fields: Mapping[str, Any], at: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The leaf paths of a ``fieldsV1`` set (``f:name``, ``k:{json}``, ``v:value``; ``.``: the
    node itself, a leaf only when nothing under it is listed)."""
    children = {key: value for key, value in fields.items() if key != "."}
    if not children:
        return [at] if at else []
    paths: list[tuple[str, ...]] = []
    for key, value in children.items():
        kind, _, rest = key.partition(":")
        step = rest if kind == "f" else f"[{_item(rest)}]"
        paths += _leaves(value if isinstance(value, Mapping) else {}, (*at, step))
    return paths


def _item(key: str) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        keyed = json.loads(key)
        if isinstance(keyed, dict):
            return ",".join(f"{k}={v}" for k, v in keyed.items())
    return key


def _json_pointer(path: tuple[str, ...]) -> str | None:
    """The JSON pointer of a ``foreign_fields`` path, None for one through a list item (a JSON
    patch addresses items by index, which the path does not say)."""
    if any(step.startswith("[") for step in path):
        return None
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class KubeCluster:
    """Typed-enough access to custom objects and Secrets; every call given up after
    ``request_timeout`` (connect, read), as ``KubeError``."""

    def __init__(self, api_client: client.ApiClient | None = None,
                 field_manager: str = FIELD_MANAGER,
                 request_timeout: tuple[float, float] = REQUEST_TIMEOUT_SECONDS) -> None:
        self._api = api_client or load_api_client()
        self._custom = client.CustomObjectsApi(self._api)
        self._core = CoreReads(self._api, request_timeout)
        self.field_manager = field_manager
        self.request_timeout = request_timeout

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        """Server-side apply ``manifest`` (force: the operator owns every field it sets); the
        object as the API server answers it, the same whether the apply updated it (200) or
        created it (201: ``CustomObjectsApi.patch_namespaced_custom_object`` maps only 200,
        and answers None for a created object, hence the ApiClient's own request path)."""
        group, version = _split(manifest["apiVersion"])
        meta = manifest["metadata"]
        # core/v1 (a ConfigMap) under /api, a custom object under /apis/<group>.
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            return self._core_call(
                "PATCH", f"{base}/namespaces/{{namespace}}/{plural}/{{name}}",
                f"apply {plural}/{meta['name']}", namespace=meta["namespace"], name=meta["name"],
                body=dict(manifest), query=[("fieldManager", self.field_manager),
                                            ("force", "true")],
                content_type="application/apply-patch+yaml") or {}
        except KubeError as refused:
            if not group or _POLICY_DENIED not in str(refused):
                raise
            raise KubeError(f"{refused}{self._foreign_fields(group, version, plural, meta)}",
                            refused.status, refused.fields) from None

    def _foreign_fields(self, group: str, version: str, plural: str,
                        meta: Mapping[str, Any]) -> str:
        """What to add to an apply an admission policy refused (the chart's
        ValidatingAdmissionPolicy on SeldonDeployments): the fields other field managers set
        outside what the apply replaces whole (``spec.predictors``) and outside the status.
        The forced server-side apply keeps them and the policy judges the merged object, so a
        hand-added field outside the policy's rules (``kubectl annotate``, ``spec.annotations``)
        refuses every apply of the operator, a rollback's included, until it is removed: named
        here with who set it and how to remove it. Empty when there are none or the read fails."""
        namespace, name = meta["namespace"], meta["name"]
        try:
            live = self._custom.get_namespaced_custom_object(
                group, version, namespace, plural, name, _request_timeout=self.request_timeout)
        except (ApiException, HTTPError):
            return ""
        found = foreign_fields(cast(dict[str, Any], live), self.field_manager)
        if not found:
            return ""
        listed = "; ".join(f"{'.'.join(path)} (set by {manager})" for path, manager in found)
        removals = [_json_pointer(path) for path, _ in found]
        if all(pointer is not None for pointer in removals):
            patch = json.dumps([{"op": "remove", "path": pointer} for pointer in removals])
            fix = (f"kubectl patch {plural} {name} -n {namespace} --type=json -p '{patch}'")
        else:
            fix = f"kubectl edit {plural} {name} -n {namespace}"
        return (f" (fields other managers set on it, which the operator's apply keeps and the "
                f"policy judges with the rest: {listed}; remove those outside the policy's "
                f"rules: {fix})")

    def get(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        group, version = _split(api_version)
        if not group:  # core/v1
            return self._core_call("GET", f"/api/{version}/namespaces/{{namespace}}/{plural}/"
                                          "{name}", f"get {plural}/{name}", namespace=namespace,
                                   name=name, missing_ok=True)
        try:
            result = self._custom.get_namespaced_custom_object(
                group, version, namespace, plural, name, _request_timeout=self.request_timeout)
        except ApiException as error:
            if error.status == 404:
                return None
            raise _error(error, f"get {plural}/{name}") from error
        except HTTPError as error:
            raise _unreached(error, f"get {plural}/{name}") from None
        return cast(dict[str, Any], result)

    def _core_call(self, method: str, path: str, what: str, *, namespace: str, name: str,
                   body: Mapping[str, Any] | None = None,
                   query: list[tuple[str, str]] | None = None, content_type: str | None = None,
                   missing_ok: bool = False) -> dict[str, Any] | None:
        """A call through the ApiClient's own request path (no ``CoreV1Api``: see
        ``CoreReads``; an apply of a custom object too, see ``apply``), its answer decoded on 200
        and on 201; None for a 404 when ``missing_ok``."""
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = self._api.param_serialize(
            method=method, resource_path=path, path_params={"namespace": namespace, "name": name},
            query_params=query or [], header_params=headers,
            body=dict(body) if body is not None else None, auth_settings=["BearerToken"])
        try:
            response = self._api.call_api(*request, _request_timeout=self.request_timeout)
            response.read()  # type: ignore[no-untyped-call]
            data = self._api.response_deserialize(response, {"200": "object",
                                                             "201": "object"}).data
        except ApiException as error:
            if missing_ok and error.status == 404:
                return None
            raise _error(error, what) from None
        except HTTPError as error:
            raise _unreached(error, what) from None
        return cast(dict[str, Any], data)

    def merge_patch(self, api_version: str, plural: str, namespace: str, name: str,
                    patch: Mapping[str, Any]) -> dict[str, Any]:
        """JSON merge patch of the main resource (annotations, a spec field)."""
        group, version = _split(api_version)
        try:
            result = self._custom.patch_namespaced_custom_object(
                group, version, namespace, plural, name, dict(patch),
                field_manager=self.field_manager,
                _content_type="application/merge-patch+json",
                _request_timeout=self.request_timeout)
        except ApiException as error:
            raise _error(error, f"patch {plural}/{name}") from error
        except HTTPError as error:
            raise _unreached(error, f"patch {plural}/{name}") from None
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
                field_manager=self.field_manager,
                _content_type="application/merge-patch+json",
                _request_timeout=self.request_timeout)
        except ApiException as error:
            raise _error(error, f"patch {plural}/{name}/status") from error
        except HTTPError as error:
            raise _unreached(error, f"patch {plural}/{name}/status") from None
        return cast(dict[str, Any], result)

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        """Delete; False when it was already gone."""
        return self.delete_uid(api_version, plural, namespace, name, None)

    def delete_uid(self, api_version: str, plural: str, namespace: str, name: str,
                   uid: str | None) -> bool:
        """Delete the object ``name`` only if its uid is ``uid`` (the API server's
        ``preconditions.uid``; None: whichever it is); False when it was already gone. Another
        object of the name now (deleted and created again since) is left as it is: a KubeError
        of status 409."""
        group, version = _split(api_version)
        options = (client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
                   if uid is not None else None)
        try:
            self._custom.delete_namespaced_custom_object(
                group, version, namespace, plural, name, body=options,
                _request_timeout=self.request_timeout)
        except ApiException as error:
            if error.status == 404:
                return False
            raise _error(error, f"delete {plural}/{name}") from error
        except HTTPError as error:
            raise _unreached(error, f"delete {plural}/{name}") from None
        return True

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        """Create a Secret; False when one of that name exists already (it is left as it is:
        the operator never overwrites a Secret). Errors never carry the manifest's data."""
        meta = manifest["metadata"]
        # The ApiClient's own request path (CoreV1Api costs ≈ 70 MB to import, see CoreReads).
        request = self._api.param_serialize(
            method="POST", resource_path="/api/v1/namespaces/{namespace}/secrets",
            path_params={"namespace": meta["namespace"]}, body=dict(manifest),
            query_params=[("fieldManager", self.field_manager)],
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            auth_settings=["BearerToken"])
        what = f"create secret {meta['namespace']}/{meta['name']}"
        try:
            response = self._api.call_api(*request, _request_timeout=self.request_timeout)
            response.read()  # type: ignore[no-untyped-call]
            self._api.response_deserialize(response, {"201": "object", "200": "object"})
        except ApiException as error:
            if error.status == 409:
                return False
            raise _error(error, what) from None
        except HTTPError as error:
            raise _unreached(error, what) from None
        return True

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                  label_selector: str = "", page_size: int = LIST_PAGE_SIZE) -> set[str]:
        """The uids of every object of ``plural`` in ``namespace`` (None: every namespace) that
        ``label_selector`` selects (empty: all), from a LIST of their metadata only
        (``PartialObjectMetadataList``: no spec, no status), ``page_size`` objects a request. A
        page that fails fails the whole list (KubeError): a partial answer would show the
        objects of the pages never read as absent."""
        return {str(meta["uid"]) for meta in self.list_metadata(
            api_version, plural, namespace, label_selector=label_selector, page_size=page_size)
            if meta.get("uid")}

    def list_metadata(self, api_version: str, plural: str, namespace: str | None = None, *,
                      label_selector: str = "", page_size: int = LIST_PAGE_SIZE,
                      ) -> list[dict[str, Any]]:
        """The ``metadata`` of every object of ``plural`` in ``namespace`` (None: every
        namespace) that ``label_selector`` selects (empty: all), as ``list_uids`` reads them
        (metadata only, paged; a page that fails fails the whole list): name, namespace, uid,
        labels, owner references, each as the API server answers it."""
        group, version = _split(api_version)
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = f"{base}/namespaces/{{namespace}}/{plural}" if namespace else f"{base}/{plural}"
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            query = ([("limit", str(page_size))]
                     + ([("labelSelector", label_selector)] if label_selector else [])
                     + ([("continue", token)] if token else []))
            request = self._api.param_serialize(
                method="GET", resource_path=path,
                path_params={"namespace": namespace} if namespace else {}, query_params=query,
                # An API server without the metadata-only form answers the whole objects.
                header_params={"Accept": f"{METADATA_ONLY}, application/json"},
                auth_settings=["BearerToken"])
            try:
                response = self._api.call_api(*request, _request_timeout=self.request_timeout)
                response.read()  # type: ignore[no-untyped-call]
                page = cast(dict[str, Any], self._api.response_deserialize(
                    response, {"200": "object"}).data)
            except ApiException as error:
                raise _error(error, f"list {plural}") from None
            except HTTPError as error:
                raise _unreached(error, f"list {plural}") from None
            for item in page.get("items") or []:
                meta = item.get("metadata") if isinstance(item, dict) else None
                if isinstance(meta, dict):
                    found.append(meta)
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return found

    def secret_values(self, namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The bytes of those of ``keys`` that Secret ``name`` has (the caller judges a missing
        key or a malformed value; nothing here puts a value into a message)."""
        try:
            secret = self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            raise _error(error, f"get secret {namespace}/{name}") from None
        except HTTPError as error:
            raise _unreached(error, f"get secret {namespace}/{name}") from None
        data: dict[str, Any] = dict(secret.data or {})
        return {key: base64.b64decode(data[key]) for key in keys if key in data}


def _error(error: ApiException, what: str) -> KubeError:
    reason = str(error.reason or "")
    fields: tuple[str, ...] = ()
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        answer = json.loads(error.body or "{}")
        reason = str(answer.get("message", reason))
        causes = (answer.get("details") or {}).get("causes") or []
        fields = tuple(str(cause["field"]) for cause in causes
                       if isinstance(cause, dict) and cause.get("field"))
    return KubeError(f"{what}: {error.status} {reason}", int(error.status or 0), fields)


def _unreached(error: HTTPError, what: str) -> KubeError:
    """A call that got no answer from the API server (urllib3's error, after its retries) as a
    ``KubeError`` of status 0. Its message names the cause class only, in a few stable words:
    it may reach a condition's message, and urllib3's text holds object addresses that change
    on every call (a status rewritten every pass). The whole text goes to this module's log."""
    log.warning("%s: the API server did not answer: %s", what, error)
    return KubeError(f"{what}: API server not reached ({_cause(error)})", 0)


def _cause(error: HTTPError) -> str:
    reason = error.reason if isinstance(error, MaxRetryError) else error
    # urllib3 2: NameResolutionError < NewConnectionError < ConnectTimeoutError, in this order.
    if isinstance(reason, NameResolutionError):
        return "name not resolved"
    if isinstance(reason, NewConnectionError):
        return "connection refused" if "refused" in str(reason) else "connection failed"
    if isinstance(reason, ConnectTimeoutError):
        return "connect timed out"
    if isinstance(reason, (ReadTimeoutError, socket.timeout)):
        return "no answer in time"
    if isinstance(reason, ProtocolError):
        return "connection lost"
    return "connection failed"
