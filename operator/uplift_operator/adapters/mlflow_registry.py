"""MLflow model-registry adapter over the REST API: resolve versions, list every registered
model's aliases (the alias poller's sweep), read run metrics and small reference artifacts,
write version tags and aliases.

Role: the registry I/O for UpliftModel reconciliation and its gates. It reports what the
registry holds (a version's status, its run's metrics, the drift reference JSONs the trainer
logged as *run* artifacts) and never decides whether that is good enough; ``domain`` does.
It uses ``requests`` rather than the mlflow client so that every call has an explicit
timeout and every failure maps onto this module's exceptions (a client keeps one connection
open per thread that uses it; ``services.run_cache`` keeps the clients and the run reads):

- ``RegistryUnavailable``: the registry could not be asked (connection error, timeout, 5xx),
  or answered "not now" (408, 429, 499, and MLflow's ``ABORTED`` and ``CANCELLED`` codes).
- ``CredentialsRefused``, a ``RegistryUnavailable``: MLflow (or a proxy before it) refused the
  credentials (401) or denied the credentials' user the permission the request needs (403:
  basic auth's READ to read, EDIT to set tags and aliases, MANAGE to delete a tag), with the
  server's text. Every caller that holds or retries on an outage does so on it too; the
  resolver tells it apart: no wait clears it, a Secret rotated or a permission granted does.
  Not a 403 for a registered model that does not exist (below).
- ``RegistryNotFound``: the model, version, run, alias or artifact does not exist (404
  ``RESOURCE_DOES_NOT_EXIST`` or ``NOT_FOUND``, and the 400 ``INVALID_PARAMETER_VALUE`` MLflow answers for an
  unknown alias); the message is MLflow's, verbatim. MLflow's basic auth answers 403 for a
  registered model it does not find (deleted, renamed, never created): on a 403 naming a
  registered model, the user's registered-models search is asked for it, and a model it does
  not list is ``RegistryNotFound`` too (``MlflowRegistry._failure``). A run artifact on an object store (S3,
  GCS, Azure) that is not there MLflow answers with HTTP 500 ``INTERNAL_ERROR`` (the store's
  own "not found" is not an MLflow error): ``download_artifact_json`` then asks for the listing
  of the artifact's directory once, and an artifact not listed is ``RegistryNotFound`` too.
- ``RegistryRequestError``: any other request MLflow rejected (e.g. a non-numeric version;
  404 ``ENDPOINT_NOT_FOUND``, which MLflow answers for some paths it has no API for; a redirect
  the client does not follow: to another server, another path, more than ``MAX_REDIRECTS``
  of them), or an answer MLflow does
  not give (a model version whose ``tags`` are not ``{key, value}`` objects, say, or whose
  ``version`` is not a positive integer, which would name the serving graph's predictors and go
  into the gates' PromQL): checked here, so that no caller meets a ``TypeError`` of a shape it
  did not expect, nor a version MLflow never numbers.
- ``RegistryNotMlflow``, a ``RegistryUnavailable``: something answered at the tracking URI,
  not as MLflow's REST API (a 404 page that is not MLflow's error JSON, a 2xx whose body is
  not a JSON object): a web server, another service, a path prefix missing, an MLflow too old
  for the request (one before 2.3 has no alias API, and may answer its path with Flask's HTML
  404), or a proxy before an MLflow that does not serve (Traefik's plain-text ``404 page not
  found`` while the MLflow Service has no ready endpoint). The resolver tells them apart by
  whether the tracking URI answered as MLflow before (an outage) or never did (the URI's
  problem: ``InvalidModel``); every other caller holds on it as on an outage.

The clients run on the pass pool's threads, which every resource shares. An MLflow that does not
answer held one of them for the whole timeout per request: every UpliftModel held on it asked
again every 10 s on its own alias, and 100 of them made a pass of any other resource (a
Campaign's rollback) wait ≈ 48 s for a thread. So after a request got no answer within its
timeout, every client of that tracking URI in the process fails fast (``FailFast``: the
requests raise ``RegistryNotAsked``, a ``RegistryUnavailable``, with that failure's message,
unsent, for ``FAIL_FAST_FOR`` seconds, then while one request tries it again, until one is
answered). Such an error says nothing of what was asked: the resolver answers the alias with
what it knew of it.

Redirects (301, 302, 303, 307, 308: an http:// tracking URI behind an ingress that forces
https, a moved path prefix) are followed by the client, not by requests, which turned a
redirected POST into a GET without its body and dropped a redirected DELETE's (every write
failed while the reads worked): the request goes again as it was, to the same server (the
same host and port, or http → https on the default ports: ``adapters.redirects``, as the
Prometheus client) and the same API path only, at most ``MAX_REDIRECTS`` times, each one
followed logged once with the tracking URI to set instead (``MlflowRegistry._request``).

Credentials come from a Kubernetes Secret read by the caller; this module only turns them
into the ``Authorization`` header MLflow's own client would send (``mlflow/utils/rest_utils.py``),
and never lets them out: every error text (a connection error, a body a proxy answered with,
which may echo the request's headers) has the credentials replaced by ``***``. A tracking URI
with ``user:password@`` in it (which requests sends as basic credentials; the API and the
operator's settings refuse one, but the client is not the place that relies on it) is treated
alike: messages, log lines and ``repr`` name the server by ``shown_url``, without its userinfo,
and the userinfo, its password and the basic header made of them are redacted as a Secret's
values are (``uplift_operator.userinfo``).
Endpoints and shapes: shared anchors §4; the REST reference at mlflow.org/docs/latest/api_reference.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import yaml
from urllib3.exceptions import ProtocolError

from uplift_operator import fail_fast
from uplift_operator.adapters.redirects import (
    MAX_REDIRECTS,
    OTHER_PATH,
    OTHER_SERVER,
    REDIRECTS,
    judge,
    root,
)
from uplift_operator.domain.alias_sweep import AliasListing
from uplift_operator.userinfo import shown_url, url_secrets

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
#: After a request got no answer within its timeout, requests to that MLflow fail at once for
#: this long (seconds), then while one of them tries it again.
FAIL_FAST_FOR = 5.0
#: Registered models asked for per page of ``registered_aliases``: the most MLflow gives (its
#: REST handler refuses ``max_results`` over 1,000: ``mlflow/server/handlers.py``
#: ``_search_registered_models``, MLflow 3.x).
ALIAS_PAGE_SIZE = 1000
#: How long ``registered_aliases`` waits for one page (seconds): a page of 1,000 models with
#: their versions, and with basic auth on, MLflow's permission filter refetching until it found
#: 1,000 the user may read (``mlflow/server/auth``), takes far longer than one alias read.
LISTING_TIMEOUT = 30.0
#: How long the answer of whether the credentials' user's registered-models search lists a
#: model stands (seconds; ``MlflowRegistry._listed_model``): a 403 naming a model asks it at
#: most this often per model, however often the 403 comes.
MODEL_LISTED_FOR = 60.0
#: Registered models whose listing is kept (``MODEL_LISTED_FOR``), at most: forgotten all at once
#: past it.
MODEL_LISTED_KEPT = 1024
MAX_ARTIFACT_BYTES = 16 * 1024 * 1024
MAX_MLMODEL_BYTES = 1024 * 1024
READY = "READY"
REDACTED = "***"

_API = "/api/2.0/mlflow"
_ARTIFACTS_PROXY = "/api/2.0/mlflow-artifacts/artifacts"
#: How a redirect refused names the setting to change.
_SET_TRACKING_URI = "set spec.model.trackingUri (or the operator's MLflow tracking URI) to"
_PROXY_SCHEME = "mlflow-artifacts"


class RegistryError(Exception):
    """Base class of this adapter's errors; ``message`` is the registry's own text when it sent one."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code


class RegistryUnavailable(RegistryError):  # noqa: N818 - named for the condition the caller handles
    """The registry could not be asked: unreachable, timed out, 5xx, or credentials rejected."""


class CredentialsRefused(RegistryUnavailable):
    """MLflow answered 401 (the credentials refused: wrong, rotated, revoked, or none sent to a
    server that wants some) or 403 (accepted, and the permission the request needs denied to
    their user: e.g. READ on the registered model but not on its runs' experiment; a 403 for
    a registered model the user's search does not list is ``RegistryNotFound``)."""


class RegistryNotAsked(RegistryUnavailable):
    """The request was not sent: the tracking URI's breaker fails it fast (``FailFast``) after
    another request, maybe another client's, got no answer. It says nothing of what was asked
    (an alias deleted is not known to be deleted by it): its message is that failure's."""


class RegistryNotMlflow(RegistryUnavailable):  # as RegistryUnavailable
    """Something answered at the tracking URI, not as MLflow's REST API: a 404 that is not
    MLflow's error JSON (a web server's page, a proxy's), or a 2xx whose body is not a JSON
    object. The URI names another service, or lacks the server's path prefix, or the MLflow
    is too old for the request (MLflow answers some paths it has no API for with
    ``ENDPOINT_NOT_FOUND``, but an unknown route may get Flask's HTML 404: one before 2.3 has
    no alias endpoints); or a proxy before MLflow answers for it while MLflow does not serve
    (Traefik's plain-text 404 while the Service has no ready endpoint), which a wait clears.
    A ``RegistryUnavailable`` to the callers that hold on one (gates, write-back); the
    resolver tells it apart (``services.resolution.Resolver._not_serving``)."""


class RegistryNotFound(RegistryError):  # noqa: N818 - named for the condition the caller handles
    """The model, version, alias, run or artifact does not exist."""


class RegistryRequestError(RegistryError):
    """MLflow rejected the request for another reason (invalid parameter, malformed artifact)."""


class FailFast(fail_fast.FailFast[RegistryUnavailable]):
    """The breaker of one MLflow tracking server (``uplift_operator.fail_fast.FailFast``): after
    a request got no answer within its timeout (or failed only after half of it), the requests
    after it raise ``RegistryUnavailable`` at once, unsent, for ``hold`` seconds
    (``FAIL_FAST_FOR``); then one request tries the server again while the others keep failing
    fast, and its answer (any HTTP answer: a 401 or a 503 too) closes the breaker. A refused
    connection leaves it closed: a restarted MLflow is read at once.

    ``for_url`` is the process-wide one of a tracking URI, which every client of it shares
    whatever its credentials: the pass pool's threads all ask the same server."""

    default_hold = FAIL_FAST_FOR

    def not_asked(self, failure: RegistryUnavailable) -> RegistryNotAsked:
        # The failure's own words: a condition's message must not alternate between "did not
        # answer" and "not asked" from one pass to the next. Its own class: the resolver
        # answers an alias failed fast with what it knew of it (``RegistryNotAsked``).
        return RegistryNotAsked(failure.message, status_code=failure.status_code,
                                error_code=failure.error_code)


@dataclass(frozen=True)
class Credentials:
    """Registry credentials: HTTP basic (``username``/``password``) or a bearer ``token``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic credentials need both a username and a password")
        if self.username is not None and self.token is not None:
            raise ValueError("give either a username/password or a token, not both")

    @classmethod
    def basic(cls, username: str, password: str) -> Credentials:
        return cls(username=username, password=password)

    @classmethod
    def bearer(cls, token: str) -> Credentials:
        return cls(token=token)

    def secrets(self) -> tuple[str, ...]:
        """Every text that would give the credentials away (the values and the header's)."""
        header = self.authorization()
        values = [self.token, self.password, header, header.split(" ", 1)[1] if header else None]
        # As given, without the whitespace around them, and as repr() quotes them (requests
        # quotes a header value it refuses that way).
        found = {form for v in values if v for form in (v, v.strip(), repr(v)[1:-1])}
        return tuple(sorted((s for s in found if s), key=len, reverse=True))

    def authorization(self) -> str | None:
        """The ``Authorization`` header value, as MLflow's client builds it; None without credentials."""
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.standard_b64encode(pair).decode("ascii")
        if self.token is not None:
            return f"Bearer {self.token}"
        return None


@dataclass(frozen=True)
class ResolvedVersion:
    """A registered model version as the registry reports it; ``status`` may be other than READY."""

    name: str
    version: str
    status: str
    run_id: str | None
    source: str
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    status_message: str = ""
    #: When MLflow created this version (its ``creation_timestamp``, ms), None if not given.
    creation_timestamp: int | None = None

    @property
    def ready(self) -> bool:
        return self.status == READY

    @property
    def logged_model_id(self) -> str | None:
        """The MLflow 3 LoggedModel id when ``source`` is ``models:/m-…``."""
        prefix = "models:/"
        rest = self.source[len(prefix):] if self.source.startswith(prefix) else ""
        return rest if rest.startswith("m-") and "/" not in rest else None


class MlflowRegistry:
    """Synchronous client for one MLflow tracking server (``tracking_uri`` is its HTTP root).
    ``fail_fast`` is the tracking URI's process-wide ``FailFast`` unless given. Messages and
    logs name the server by ``shown_url``, the tracking URI without its userinfo."""

    def __init__(self, tracking_uri: str, *, credentials: Credentials | None = None,
                 timeout: float = DEFAULT_TIMEOUT, verify: bool | str = True,
                 fail_fast: FailFast | None = None) -> None:
        self.tracking_uri = tracking_uri.rstrip("/")
        self.shown_url = shown_url(self.tracking_uri)
        self.timeout = timeout
        self.fail_fast = (fail_fast if fail_fast is not None
                          else FailFast.for_url(self.tracking_uri))
        self._verify = verify
        self._headers = {"Accept": "application/json"}
        authorization = credentials.authorization() if credentials is not None else None
        if authorization is not None:
            self._headers["Authorization"] = authorization
        given = credentials.secrets() if credentials is not None else ()
        self._secrets = tuple(sorted({*given, *url_secrets(self.tracking_uri)},
                                     key=len, reverse=True))
        # One requests.Session per thread (passes run in a pool; requests does not promise a
        # Session is thread-safe, psf/requests#2766): each keeps its connection to MLflow
        # open between calls instead of a new TCP (and TLS) handshake per request.
        self._local = threading.local()
        # The redirects followed, (from, to) as shown, each logged once (``_redirect_target``).
        self._redirects_seen: set[tuple[str, str]] = set()
        # Registered model → (when asked, whether the user's search listed it): ``_listed_model``.
        self._models_listed: dict[str, tuple[float, bool]] = {}
        self._listed_lock = threading.Lock()

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.shown_url!r}, timeout={self.timeout})"

    # -- reads --------------------------------------------------------------------------------

    def resolve(self, name: str, version: int | str | None = None,
                alias: str | None = None) -> ResolvedVersion:
        """The version named by number, by alias, or (neither given) the highest version number."""
        if version is not None and alias is not None:
            raise ValueError("give a version or an alias, not both")
        if alias is not None:
            body = self._call("GET", f"{_API}/registered-models/alias",
                              params={"name": name, "alias": alias}, unknown_parameter_is_not_found=True)
            return _version(body.get("model_version"))
        if version is None:
            model = self._call("GET", f"{_API}/registered-models/get", params={"name": name})
            found = model.get("registered_model") or {}
            latest = (found.get("latest_versions") or []) if isinstance(found, dict) else None
            if not isinstance(latest, list):
                raise RegistryRequestError(f"MLflow answered registered model {name} in a "
                                           "shape MLflow does not give")
            if not latest:
                raise RegistryNotFound(f"Registered model {name} has no versions")
            # latest_versions holds the newest version per stage; the highest of them is the newest.
            numbers = [str(v.get("version")) for v in latest if isinstance(v, dict)]
            if not numbers or not all(number.isdigit() for number in numbers):
                raise RegistryRequestError(f"MLflow answered registered model {name} with "
                                           "latest_versions not of the shape MLflow gives")
            version = max(numbers, key=int)
        body = self._call("GET", f"{_API}/model-versions/get", params={"name": name, "version": str(version)})
        return _version(body.get("model_version"))

    def registered_aliases(self, max_pages: int | None = None,
                           page_size: int = ALIAS_PAGE_SIZE) -> AliasListing:
        """Every registered model the credentials may read, with its aliases and its
        ``creation_timestamp``, page by page (``GET registered-models/search``, ``page_size``
        models a request: each model comes with its ``aliases``, ``[{alias, version}]``): one
        sweep answers every alias of the registry in ⌈models / page size⌉ requests. At most
        ``max_pages`` requests: a registry larger than that is left incomplete
        (``AliasListing.complete``). Each page may take ``LISTING_TIMEOUT`` (at least this
        client's timeout), and the pages neither wait for nor open the tracking URI's
        fail-fast breaker: a slow listing says nothing of the single reads, which must not
        fail fast unsent because of it (the alias poller hands the aliases of a failed sweep
        to them at once). Its failures map as every call's (``RegistryUnavailable`` for a
        timeout, a 5xx or refused credentials); a page token MLflow gave before is
        ``RegistryRequestError``, not a loop."""
        aliases: dict[str, dict[str, str]] = {}
        created: dict[str, int] = {}
        tokens: set[str] = set()
        token = ""
        pages = 0
        while max_pages is None or pages < max_pages:
            params = {"max_results": str(page_size)}
            if token:
                params["page_token"] = token
            body = self._call("GET", f"{_API}/registered-models/search", params=params,
                              timeout=max(LISTING_TIMEOUT, self.timeout), breaker=False)
            pages += 1
            models = body.get("registered_models") or []
            if not isinstance(models, list) or not all(
                    isinstance(model, dict) and isinstance(model.get("aliases") or [], list)
                    for model in models):
                raise RegistryRequestError("MLflow answered registered-models/search with "
                                           "registered models not of the shape MLflow gives")
            for model in models:
                if model.get("name"):
                    stamp = _millis(model.get("creation_timestamp"))
                    if stamp is not None:
                        created[str(model["name"])] = stamp
                    aliases[str(model["name"])] = {
                        str(entry["alias"]): str(entry.get("version", ""))
                        for entry in model.get("aliases") or []
                        if isinstance(entry, dict) and entry.get("alias")}
            token = str(body.get("next_page_token") or "")
            if not token:
                return AliasListing(aliases, pages, created=created)
            if token in tokens:
                raise RegistryRequestError("MLflow answered registered-models/search with a "
                                           "page token it had given before")
            tokens.add(token)
        return AliasListing(aliases, pages, complete=False, created=created)

    def download_uri(self, name: str, version: int | str) -> str:
        """Where the version's model artifacts are stored, in the server's own terms."""
        body = self._call("GET", f"{_API}/model-versions/get-download-uri",
                          params={"name": name, "version": str(version)})
        return str(body.get("artifact_uri", ""))

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of every metric of the run (``NaN`` as NaN; MLflow stores +Inf as max float)."""
        return self.run_metrics_and_status(run_id)[0]

    def run_metrics_and_status(self, run_id: str) -> tuple[dict[str, float], str]:
        """``run_metrics`` and the run's status, from the same read (``RUNNING``,
        ``SCHEDULED``, ``FINISHED``, ``FAILED``, ``KILLED``; "" if MLflow gave none): a run
        still running may log more metrics (``services.run_cache`` keeps an ended run's for good,
        another's for a minute)."""
        run = self._run(run_id)
        status = str((run.get("info") or {}).get("status") or "")
        data = run.get("data") or {}
        metrics: dict[str, float] = {}
        for metric in data.get("metrics") or []:
            try:
                metrics[str(metric["key"])] = float(metric["value"])
            except (KeyError, TypeError, ValueError) as exc:
                raise RegistryRequestError(f"unreadable metric {metric!r} in run {run_id}") from exc
        return metrics, status

    def run_tags(self, run_id: str) -> dict[str, str]:
        """The run's tags (e.g. ``uplift.treatments``, which the trainer sets)."""
        data = self._run(run_id).get("data") or {}
        return {str(t["key"]): str(t.get("value", "")) for t in data.get("tags") or []
                if isinstance(t, dict) and "key" in t}

    def model_signature(self, name: str, version: int | str) -> dict[str, Any] | None:
        """The version's model signature, from its ``MLmodel`` file: ``inputs``/``outputs`` as
        the lists of column specs (``{"name", "type", "required"}``) MLflow stores as JSON text;
        None when the model has no signature.

        Read through the tracking server's ``GET /model-versions/get-artifact?name=&version=
        &path=MLmodel`` (a route of its own, beside ``/get-artifact``, not under ``/api/2.0``:
        ``mlflow/server/__init__.py`` ``serve_model_version_artifact``; basic auth asks READ on
        the version), which serves the version's files from whatever store the server reaches:
        ``mlflow-artifacts:/`` (the proxy), S3, GCS, Azure, a local path. Only
        ``mlflow-artifacts:/`` versions were read before, any other store was
        ``RegistryNotFound``, taken as "no signature": a model on S3 was never checked against
        ``spec.features``. Failures map as every call's: the version (or the file, on a local
        store) not there is ``RegistryNotFound`` (no signature); a store MLflow fails to read
        (HTTP 500 ``INTERNAL_ERROR``: unreachable, or, on an object store, no ``MLmodel`` there,
        which MLflow does not tell apart) is ``RegistryUnavailable``, waited for, never skipped.
        """
        raw = self._download("/model-versions/get-artifact",
                             {"name": name, "version": str(version), "path": "MLmodel"},
                             MAX_MLMODEL_BYTES)
        try:
            document = yaml.safe_load(raw)
            signature = document.get("signature") if isinstance(document, dict) else None
            if not isinstance(signature, dict):
                return None
            return {str(k): json.loads(v) if isinstance(v, str) else v
                    for k, v in signature.items()}
        except (yaml.YAMLError, ValueError) as exc:
            raise RegistryRequestError(f"the MLmodel of version {version} of {name} is not "
                                       f"readable: {exc}") from exc

    def download_artifact_json(self, run_id: str, path: str, *,
                               max_bytes: int = MAX_ARTIFACT_BYTES) -> Any:
        """Parse a small JSON *run* artifact, e.g. ``reference/feature_histograms.json``.

        ``mlflow-artifacts:/`` runs are read through the server's artifacts proxy; other
        artifact URIs through ``/get-artifact``, which needs the server to reach the store.
        """
        relative = _relative_artifact_path(path)
        artifact_uri = str((self._run(run_id).get("info") or {}).get("artifact_uri", ""))
        parsed = urllib.parse.urlparse(artifact_uri)
        try:
            if parsed.scheme == _PROXY_SCHEME:
                location = f"{parsed.path.strip('/')}/{relative}"
                raw = self._download(f"{_ARTIFACTS_PROXY}/{urllib.parse.quote(location)}", {},
                                     max_bytes)
            else:
                raw = self._download("/get-artifact", {"path": relative, "run_uuid": run_id},
                                     max_bytes)
        except RegistryUnavailable as error:
            # Only the local store answers a missing file 404 RESOURCE_DOES_NOT_EXIST. On S3,
            # GCS or Azure the store's "not found" is no MLflow error, and MLflow answers 500
            # INTERNAL_ERROR ("The following failures occurred while downloading ...": its
            # artifact_repo.download_artifacts, MLflow 3.x), as for a store it cannot reach. Read
            # as unavailable, a reference the run never logged held its gate for good and was
            # never kept as absent; so the run's listing of that directory is asked, once, and
            # an artifact it does not hold is not there. Listed, or the listing failing too,
            # the store is what failed.
            if (error.status_code != 500 or error.error_code != "INTERNAL_ERROR"
                    or self._listed(run_id, relative) is not False):
                raise
            raise RegistryNotFound(
                f"artifact {relative} of run {run_id} does not exist (not in the run's "
                f"artifact listing; MLflow answered HTTP 500 downloading it)",
                status_code=error.status_code, error_code=error.error_code) from None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RegistryRequestError(f"artifact {relative} of run {run_id} is not JSON: {exc}") from exc

    def _listed(self, run_id: str, relative: str) -> bool | None:
        """Whether the run's artifact listing (``GET artifacts/list`` of ``relative``'s
        directory: one page, as MLflow lists a directory whole) holds ``relative``; None when
        the listing could not be read."""
        directory = relative.rpartition("/")[0]
        params = {"run_id": run_id, **({"path": directory} if directory else {})}
        try:
            body = self._call("GET", f"{_API}/artifacts/list", params=params)
        except RegistryError:
            return None
        files = body.get("files") or []
        if not isinstance(files, list):
            return None
        return any(isinstance(entry, dict) and entry.get("path") == relative for entry in files)

    # -- writes -------------------------------------------------------------------------------

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        self._call("POST", f"{_API}/model-versions/set-tag",
                   json_body={"name": name, "version": str(version), "key": key, "value": value})

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag. A tag that is not there is removed already: MLflow answers 200 (its
        server's ``_delete_model_version_tag`` → ``SqlAlchemyStore.delete_model_version_tag``
        deletes only a tag it found, the file store likewise, MLflow 3.x); a version that does
        not exist is ``RegistryNotFound`` (``RESOURCE_DOES_NOT_EXIST``)."""
        self._call("DELETE", f"{_API}/model-versions/delete-tag",
                   json_body={"name": name, "version": str(version), "key": key})

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` at ``version`` (moving it from whichever version held it)."""
        self._call("POST", f"{_API}/registered-models/alias",
                   json_body={"name": name, "alias": alias, "version": str(version)})

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"{_API}/registered-models/alias", json_body={"name": name, "alias": alias})

    # -- HTTP ---------------------------------------------------------------------------------

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self._call("GET", f"{_API}/runs/get", params={"run_id": run_id}).get("run")
        if not isinstance(run, dict):
            raise RegistryRequestError(f"runs/get for {run_id} answered without a run")
        return run

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
              json_body: Mapping[str, str] | None = None, stream: bool = False,
              timeout: float | None = None, breaker: bool = True) -> requests.Response:
        """One request, waiting ``timeout`` s (this client's unless given); ``breaker=False``:
        it neither waits for nor settles the tracking URI's fail-fast breaker."""
        url = self.tracking_uri + path
        timeout = self.timeout if timeout is None else timeout
        if breaker:
            self.fail_fast.admit()
        slow: RegistryUnavailable | None = None
        started = self.fail_fast.clock()
        try:
            try:
                return self._request(method, url, params, json_body, stream, timeout)
            except requests.ConnectionError as exc:
                # A kept connection the server closed as it was reused (its keep-alive ran out
                # just then) is dropped without an answer: a read is asked once more, on a new
                # connection. Not a refused connection nor a timeout: an MLflow that is down
                # costs one attempt, as before.
                if method != "GET" or not (exc.args and isinstance(exc.args[0], ProtocolError)):
                    raise
                return self._request(method, url, params, json_body, stream, timeout)
        except requests.Timeout as exc:
            # Its words are those of every request failing fast after it, any client's of this
            # tracking URI: no detail of this one (requests' text may hold its URL, the model's
            # name in it, and object addresses), which goes to the log.
            log.warning("MLflow at %s did not answer within %gs: %s", self.shown_url,
                        timeout, self._redact(str(exc)))
            slow = RegistryUnavailable(
                f"MLflow at {self.shown_url} did not answer within {timeout:g}s")
            raise slow from None
        except (requests.RequestException, ValueError) as exc:
            # ValueError: requests refuses a header value it cannot send (its message quotes it).
            if self.fail_fast.clock() - started < timeout / 2:
                raise RegistryUnavailable(self._redact(
                    f"MLflow at {self.shown_url} is unreachable: {exc}")) from None
            # A name lookup or a reset that took as long as a timeout holds the thread alike:
            # failed fast after, in words of no request's own (as above).
            log.warning("MLflow at %s is unreachable after %gs or more: %s", self.shown_url,
                        timeout / 2, self._redact(str(exc)))
            slow = RegistryUnavailable(f"MLflow at {self.shown_url} is unreachable (no "
                                       f"answer within {timeout / 2:g}s)")
            raise slow from None
        finally:
            if breaker:
                self.fail_fast.settle(slow)

    def _request(self, method: str, url: str, params: Mapping[str, str] | None,
                 json_body: Mapping[str, str] | None, stream: bool,
                 timeout: float) -> requests.Response:
        """The request, redirects followed here (``allow_redirects=False``), not by requests:
        requests made a GET without a body of a POST redirected by 301, 302 or 303 (MLflow
        answered 400 "Missing value for required parameter 'name'", a write dropped as
        refused, or Flask's 405, an outage retried for ever at the head of the model's write
        queue) and dropped a redirected DELETE's body. The request goes again as it was (its
        method, parameters, body and credentials) to the same server and the same API path
        only (``_redirect_target``), at most ``MAX_REDIRECTS`` times, every hop waiting only
        what is left of the one ``timeout``."""
        started = self.fail_fast.clock()

        def remaining() -> float:
            left = timeout - (self.fail_fast.clock() - started)
            if left <= 0:
                raise requests.Timeout(f"no answer within {timeout:g}s (redirects included)")
            return left

        target = url
        for hop in range(MAX_REDIRECTS + 1):
            response = self._session().request(
                method, target, params=params, json=json_body, headers=self._headers,
                timeout=remaining() if hop else timeout, verify=self._verify, stream=stream,
                allow_redirects=False)
            if response.status_code not in REDIRECTS:
                return response
            response.close()
            if hop == MAX_REDIRECTS:
                raise RegistryRequestError(
                    f"MLflow at {self.shown_url} redirected the request more than "
                    f"{MAX_REDIRECTS} times (HTTP {response.status_code}): not followed "
                    f"further; {_SET_TRACKING_URI} where MLflow answers",
                    status_code=response.status_code)
            target = self._redirect_target(url, target, response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _redirect_target(self, url: str, asked: str, response: requests.Response) -> str:
        """Where a redirect answered to ``asked`` (a request to ``url``) sends the request next:
        its ``Location``, resolved against ``asked``, without a query string or fragment (the
        parameters go as before, not twice), with ``url``'s userinfo kept. Only to the same
        server (``adapters.redirects.same_server``: the same scheme, host and port, or http →
        https on the default ports) and only to a path that still ends with the API path
        asked (a moved prefix). Anything else (another host, a downgrade, another port, a
        login page; a redirect without a Location) is ``RegistryRequestError``, the tracking
        URI's problem as an ``ENDPOINT_NOT_FOUND`` is: no wait clears it, so a write is dropped
        (``services.writeback.permanent``) rather than held at the head of its queue for ever,
        and a read is InvalidModel; its message names the URL to set instead."""
        location = response.headers.get("Location")
        status = response.status_code
        if not location:
            raise RegistryRequestError(
                f"MLflow at {self.shown_url} answered a redirect (HTTP {status}) without a "
                f"Location: not followed; {_SET_TRACKING_URI} where MLflow answers",
                status_code=status)
        api_path = url[len(self.tracking_uri):]
        target, resolved, refused = judge(url, asked, location, api_path)
        shown = self._redact(shown_url(resolved))
        if refused == OTHER_SERVER:
            log.warning("MLflow at %s redirected a request to %s (HTTP %s), which is not the "
                        "same server: not followed", self.shown_url, shown, status)
            raise RegistryRequestError(
                f"MLflow at {self.shown_url} redirected the request to {root(shown, api_path)} "
                f"(HTTP {status}), another server: not followed, the credentials not sent "
                f"there (if MLflow answers there, {_SET_TRACKING_URI} it)", status_code=status)
        if refused == OTHER_PATH:
            log.warning("MLflow at %s redirected a request to %s (HTTP %s), which is not "
                        "MLflow's %s: not followed", self.shown_url, shown, status, api_path)
            raise RegistryRequestError(
                f"MLflow at {self.shown_url} redirected the request to {shown} (HTTP "
                f"{status}), not the MLflow API path asked (a login page?): not followed (give "
                f"the operator credentials the server takes, or {_SET_TRACKING_URI} the MLflow "
                "server's root)", status_code=status)
        if (shown_url(asked), shown) not in self._redirects_seen:
            self._redirects_seen.add((shown_url(asked), shown))
            log.warning("MLflow at %s redirects requests to %s (HTTP %s): following it, one "
                        "request more each; set the tracking URI to %s", self.shown_url,
                        shown, status, root(shown, api_path))
        return target

    def _failure(self, response: requests.Response, path: str,
                 params: Mapping[str, str] | None, json_body: Mapping[str, str] | None,
                 unknown_parameter_is_not_found: bool) -> RegistryError:
        """The error of an answer ``_error`` maps, with MLflow basic auth's 403 for a
        registered model that does not exist told apart: its permission check looks the model
        up first and denies one it does not find (``_get_permission_from_registered_model_name``,
        MLflow 3.x), so a model deleted, renamed or never created answers 403 "Permission
        denied" where an MLflow without auth answers 404 ``RESOURCE_DOES_NOT_EXIST``. On a 403
        to a request naming a registered model, the credentials' user's registered-models
        search is asked for it (``_listed_model``): not listed, the model does not exist (or
        the user may not even read it) and the answer is ``RegistryNotFound`` (ModelNotFound;
        a role or reason tag of it nothing to write); listed, it exists and the permission the
        request needs is what the user lacks (``CredentialsRefused``); the search failing, the
        403 stays ``CredentialsRefused``, its message saying both."""
        error = _error(response, unknown_parameter_is_not_found, self._redact)
        name = (json_body or {}).get("name") or (params or {}).get("name")
        if (not isinstance(error, CredentialsRefused) or error.status_code != 403 or not name
                or not ("/registered-models/" in path or "/model-versions/" in path)):
            return error
        listed = self._listed_model(str(name))
        if listed is None:
            return CredentialsRefused(
                f"{error.message}; or registered model {name} does not exist (MLflow's basic "
                "auth answers 403 for a model it does not find; the registered models the "
                "user may read could not be searched to tell)",
                status_code=error.status_code, error_code=error.error_code)
        if listed:
            return error
        # status_code None: no one answer said "not found" (the 403 does not, and its status
        # would read as the credentials refused to whoever re-reads a Secret on 401/403).
        return RegistryNotFound(
            f"Registered Model with name={name} not found: MLflow answered HTTP 403 (its basic "
            "auth denies any request for a registered model it does not find), and the "
            f"registered models the credentials' user may read hold none named {name} (it "
            "does not exist, or the user may not even read it)")

    def _listed_model(self, name: str) -> bool | None:
        """Whether ``GET registered-models/search`` with ``filter=name='…'`` lists ``name``
        for the credentials' user (MLflow's basic auth filters the search down to the models
        the user may read; an admin's lists every one); None when it could not be asked (its
        answer an error, not of MLflow's shape, or a name no filter can quote: MLflow's
        filter parser takes no escapes, so a name with ``'`` is quoted with ``"``, one with
        both is not searched). Kept ``MODEL_LISTED_FOR`` seconds per model, so a real
        permission problem, retried, costs one search a minute, not one per 403."""
        now = self.fail_fast.clock()
        with self._listed_lock:
            kept = self._models_listed.get(name)
            if kept is not None and now - kept[0] < MODEL_LISTED_FOR:
                return kept[1]
        quote = "'" if "'" not in name else '"' if '"' not in name else None
        if quote is None:
            return None
        try:
            body = self._call("GET", f"{_API}/registered-models/search",
                              params={"filter": f"name={quote}{name}{quote}",
                                      "max_results": "10"})
        except RegistryError as error:
            log.info("MLflow at %s: registered model %s not searched after a 403: %s",
                     self.shown_url, name, error)
            return None
        models = body.get("registered_models") or []
        if not isinstance(models, list):
            return None
        listed = any(isinstance(model, dict) and model.get("name") == name for model in models)
        with self._listed_lock:
            if len(self._models_listed) >= MODEL_LISTED_KEPT:
                self._models_listed.clear()
            self._models_listed[name] = (now, listed)
        return listed

    def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
              json_body: Mapping[str, str] | None = None,
              unknown_parameter_is_not_found: bool = False, timeout: float | None = None,
              breaker: bool = True) -> dict[str, Any]:
        response = self._send(method, path, params=params, json_body=json_body,
                              timeout=timeout, breaker=breaker)
        if response.status_code >= 300:
            raise self._failure(response, path, params, json_body,
                                unknown_parameter_is_not_found)
        try:
            body = response.json()
        except ValueError as exc:
            raise RegistryNotMlflow(self._redact(
                f"MLflow at {self.shown_url} answered {path} with a non-JSON body "
                f"(HTTP {response.status_code}, {_described(response, self._redact)})"),
                status_code=response.status_code) from exc
        if not isinstance(body, dict):
            raise RegistryNotMlflow(
                f"MLflow at {self.shown_url} answered {path} with {type(body).__name__}, not "
                "an object", status_code=response.status_code)
        return body

    def _download(self, path: str, params: Mapping[str, str], max_bytes: int) -> bytes:
        response = self._send("GET", path, params=params, stream=True)
        with response:
            if response.status_code >= 300:
                raise self._failure(response, path, params, None, False)
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(chunk_size=65536):
                    size += len(chunk)
                    if size > max_bytes:
                        raise RegistryRequestError(f"artifact {path} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise RegistryUnavailable(self._redact(
                    f"downloading {path} from MLflow failed: {exc}")) from None
            return b"".join(chunks)


#: 4xx answers that say "not now" rather than "never" (a rate limit, a request timeout, a
#: request cancelled, 499): the registry is unavailable for a while, never a reason to call the
#: model itself invalid.
_TRY_AGAIN_LATER = frozenset({408, 429, 499})
#: MLflow error codes that say "not now" whatever the status sent with them (its
#: ``databricks.proto``): ABORTED (409: "a concurrency issue such as a sequencer check failure,
#: transaction abort, or transaction conflict") and CANCELLED (499), besides the 5xx and 429
#: ones. Not RESOURCE_CONFLICT (409 too: "a conflict with an existing resource", like
#: ALREADY_EXISTS: the same request answers the same), which stays a refusal.
_TRY_AGAIN_LATER_CODES = frozenset({"ABORTED", "CANCELLED", "TEMPORARILY_UNAVAILABLE",
                                    "DEADLINE_EXCEEDED", "REQUEST_LIMIT_EXCEEDED",
                                    "RESOURCE_EXHAUSTED"})
#: MLflow's "no such thing" codes: RESOURCE_DOES_NOT_EXIST (the registry's own) and NOT_FOUND
#: (404, its generic one). Not ENDPOINT_NOT_FOUND: that is the API itself missing.
_NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})


def _error(response: requests.Response, unknown_parameter_is_not_found: bool,
           redact: Callable[[str], str]) -> RegistryError:
    """Map an MLflow error answer (``{error_code, message}`` or plain text) to an exception;
    ``redact`` takes the credentials out of the texts quoted."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        code = redact(str(body["error_code"]))
        message = redact(str(body.get("message", "")))
        if status >= 500 or status in _TRY_AGAIN_LATER or code in _TRY_AGAIN_LATER_CODES:
            return RegistryUnavailable(f"MLflow answered HTTP {status} {code}: {message}",
                                       status_code=status, error_code=code)
        if code in _NOT_FOUND_CODES or (
                unknown_parameter_is_not_found and code == "INVALID_PARAMETER_VALUE"):
            return RegistryNotFound(message, status_code=status, error_code=code)
        if status in (401, 403):
            return CredentialsRefused(f"{_refusal(status)} (HTTP {status}): {message}",
                                      status_code=status, error_code=code)
        if code == "ENDPOINT_NOT_FOUND":
            # The request's API is not there: an MLflow too old for it, or no MLflow tracking
            # server at this URI (another service, a path prefix missing). No wait clears it.
            return RegistryRequestError(
                "MLflow has no such API endpoint: the tracking URI is not that of an MLflow "
                "tracking server with the model registry API (another service, or an MLflow "
                f"too old for the request): {message}",
                status_code=status, error_code=code)
        return RegistryRequestError(message, status_code=status, error_code=code)
    # Not MLflow's error shape: its body is not quoted (the message lands in the resource's
    # status, which whoever wrote the spec's trackingUri reads: a URI pointed at another
    # internal service must not read that service's answers back), only described.
    text = _described(response, redact)
    if status in (401, 403):
        return CredentialsRefused(f"{_refusal(status)} (HTTP {status}; {text})",
                                  status_code=status)
    if status == 404:
        # Not MLflow's JSON: another server's page (no MLflow at this URI, or not at this
        # path), an MLflow too old for the request (Flask's HTML 404 for a route it lacks),
        # or a proxy's while MLflow does not serve (which the resolver tells apart).
        return RegistryNotMlflow(f"MLflow answered HTTP {status} ({text}): no MLflow REST API "
                                 "at this tracking URI, or an MLflow too old for this API "
                                 "(the alias endpoints need MLflow ≥ 2.3)", status_code=status)
    # 5xx, or another 4xx that is not MLflow's (a proxy): the registry is not reachable.
    return RegistryUnavailable(f"MLflow answered HTTP {status} ({text})", status_code=status)


def _refusal(status: int) -> str:
    """What a 401 or 403 says: the credentials refused (401: wrong, rotated, missing), or
    accepted and the permission the request needs denied to their user (403: MLflow basic
    auth's ``make_forbidden_response``, "Permission denied")."""
    if status == 403:
        return "MLflow denied permission to the credentials' user"
    return "MLflow refused the credentials"


def _described(response: requests.Response, redact: Callable[[str], str]) -> str:
    """What an answer that is not MLflow's JSON was, without its content (logged at debug,
    redacted: an echoing proxy may quote the credentials)."""
    log.debug("MLflow answer not in MLflow's shape, HTTP %s: %r", response.status_code,
              redact(response.text[:500]))
    kind = response.headers.get("Content-Type", "no content type").split(";")[0].strip()
    return f"{kind}, {len(response.content)} bytes, not MLflow API JSON, not shown"


#: A model version as MLflow numbers them: a positive integer, of at most the digits the
#: UpliftModel's version fields hold (``spec.model.version``, the status's versions).
_VERSION_DIGITS = 16
_VERSION = re.compile(rf"[1-9][0-9]{{0,{_VERSION_DIGITS - 1}}}")


def _version(raw: object) -> ResolvedVersion:
    """The model version MLflow answered; ``RegistryRequestError`` for one of a shape MLflow
    does not give (its fields of other types, ``tags`` not ``{key, value}`` objects, a
    ``version`` not a positive integer): read unchecked, a ``tags: [null]`` raised
    ``TypeError`` past every caller's handling, and any string became a predictor's name."""
    if not isinstance(raw, dict):
        raise RegistryRequestError("MLflow answered without a model_version")
    tags, aliases, version = raw.get("tags") or [], raw.get("aliases") or [], raw.get("version")
    wrong = [name for name, ok in (
        ("version", isinstance(version, str | int) and not isinstance(version, bool)
         and str(version) != ""),
        ("tags", isinstance(tags, list) and all(isinstance(t, dict) for t in tags)),
        ("aliases", isinstance(aliases, list) and all(isinstance(a, str) for a in aliases)),
        *((name, raw.get(name) is None or isinstance(raw.get(name), str))
          for name in ("name", "status", "run_id", "source", "status_message"))) if not ok]
    if wrong:
        raise RegistryRequestError("MLflow answered a model_version whose "
                                   f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} "
                                   "not of the shape MLflow gives")
    if not _VERSION.fullmatch(str(version)):
        # MLflow numbers a model's versions 1, 2, 3, ...: anything else is not its answer, and
        # the version names the serving graph's predictors (render.naming.predictor_name, after
        # which Seldon names Services and Deployments) and goes into the gates' PromQL. Not
        # quoted: an answer MLflow does not give may be another service's (``_error``).
        raise RegistryRequestError(
            f"MLflow answered a model_version whose version ({type(version).__name__}, "
            f"{len(str(version))} characters, not shown) is not a positive integer of at most "
            f"{_VERSION_DIGITS} digits, as MLflow numbers versions (1, 2, 3, ...): refused, as "
            "it would name the serving graph's predictors and go into the gates' queries")
    tags = {str(t["key"]): str(t.get("value", "")) for t in raw.get("tags") or [] if "key" in t}
    return ResolvedVersion(
        name=str(raw.get("name", "")),
        version=str(raw.get("version", "")),
        status=str(raw.get("status", "")),
        run_id=str(raw["run_id"]) if raw.get("run_id") else None,
        source=str(raw.get("source", "")),
        aliases=tuple(str(a) for a in raw.get("aliases") or []),
        tags=tags,
        status_message=str(raw.get("status_message", "")),
        creation_timestamp=_millis(raw.get("creation_timestamp")),
    )


def _millis(raw: object) -> int | None:
    """A timestamp MLflow gave (ms, a number or, in proto JSON, a string), None if none."""
    try:
        return int(str(raw)) if raw is not None and not isinstance(raw, bool) else None
    except ValueError:
        return None


def _relative_artifact_path(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or path.startswith("/"):
        raise ValueError(f"artifact path must be relative and inside the run: {path!r}")
    return "/".join(parts)
