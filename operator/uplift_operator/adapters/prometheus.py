"""Prometheus HTTP API adapter: instant PromQL queries in, plain samples out.

Role: the metric-source I/O for the UpliftModel and Campaign gates, like an Argo Rollouts
metric provider. It sends the query and maps the answer (or the failure) to values and a
small exception hierarchy; whether a value passes a gate is decided in ``domain``.

- ``query`` returns every sample of an instant vector (or the one value of a scalar), with
  values parsed from Prometheus' strings, so ``NaN`` and ``±Inf`` arrive as floats.
- ``scalar`` is for gate queries that aggregate to one series: ``None`` means "no data"
  (empty result, or NaN such as 0/0), a third outcome the caller must handle.
- ``MetricsUnavailable``: Prometheus could not be asked (refused, timeout, 5xx, auth);
  ``unanswered`` when no HTTP answer came at all (refused, timed out, reset, name not
  resolved): the server's failure, not one query's. A ``success`` answer with ``warnings``
  is one too (``error_type`` ``PARTIAL``): a querier that answered without some of its
  stores or a remote-read endpoint (Thanos' partial response, which every query asks it not
  to give: ``partial_response=false``), whose counts are short by what those hold; PromQL's
  own annotations ("PromQL info: …", "PromQL warning: …") are not. So is Thanos' error for a
  store that did not answer (``partial_response=false``: 422 ``execution``, "No StoreAPIs
  matched", gRPC Unavailable/Aborted).
  ``QueryError``: Prometheus refused the query (400/422 ``bad_data``/``execution``) or the
  result does not have the shape asked for; its message is Prometheus' own text (a 400 or 422
  without Prometheus' JSON envelope is a proxy's answer: ``MetricsUnavailable``). Refused for
  a limit of the server's instead (too many samples or series, HTTP 429): ``OverLimits``, a
  ``MetricsUnavailable``.
- ``storage_retention``: how long Prometheus keeps samples (runtimeinfo's ``storageRetention``,
  ``parse_retention``), read at most hourly, None when unknown; ``query_reach``: how far back a
  query reads. A gate whose query reaches past the retention is not asked
  (``BeyondRetention``, ``services.measurements.AnalysisQueries``).
- Messages are short and stable (they reach a gate's status, and a Ready/Degraded message for
  the rest of a canary's life; a text that changed every pass would rewrite the status every
  pass): the server and the cause class (``connection refused``, ``did not answer within
  10s``, ``HTTP 503 (timeout): <Prometheus' error>``). The full detail (the client library's
  exception, the query, a proxy's body) goes to this module's log only.

Synchronous with explicit timeouts: the kopf handlers call it from the pass pool's threads,
which every resource shares. A Prometheus that does not answer held one of them for the whole
timeout per query (10 s); so after a query got no answer within its timeout, every client of
that URL in the process fails fast (``FailFast``: for ``FAIL_FAST_FOR`` seconds, then while one
query tries it again, until one is answered): 100 Campaigns due together against a black-holed
Prometheus cost one timeout, not 100 in a row on eight threads (a pass of any other resource
waited 493 s behind them). Prometheus itself is given ``EVALUATION_SHARE`` of the timeout to
evaluate a query, so that a query too heavy for it is answered (503, its timeout error: that
query's failure, not the server's) before the client stops waiting. One analysis stops asking
at its first unanswered query (``services.measurements.AnalysisQueries``), and at its first
error answered only after that evaluation timeout (``MetricsUnavailable.overloaded``: an
overloaded Prometheus answers every query so, each holding the thread as long); so a kept connection
that the server (or a proxy's idle timeout) closed unanswered just as a query reused it is not
taken for one: that query is asked once more on a new connection (``PrometheusClient._send``).

Queries are POSTed (``POST /api/v1/query``, the parameters as form data, which Prometheus,
Thanos and Mimir accept): in a GET's URL a custom gate's query, up to 4096 characters and
longer once URL-encoded, can pass a proxy's header limits (HTTP 414, 431) and count as
MetricsUnavailable errors towards a rollback. A server or proxy that refuses the method (HTTP
405, or 501) at the configured URL is asked with GET from then on (``PrometheusClient._send``).
A redirect (HTTP 301, 302, 303, 307, 308: an http → https load balancer, a moved path) is not
left to requests, which turns a redirected POST into a GET without the query (Prometheus
refused that as a bad query, an Error counted towards a rollback at every analysis): the query
is sent again, as it was, to the same server only (the same scheme, host and port, or http →
https on the default ports: where requests itself keeps the credentials) and to the same API
path only (``/api/v1/query`` under another prefix), at most ``MAX_REDIRECTS`` times, the hops
sharing the query's one timeout; a redirect elsewhere (another server, an authenticating
proxy's login page) is a ``MetricsUnavailable`` naming where it points
(``PrometheusClient._send``).

Credentials (docs/install.md, "Prometheus"): a bearer token or HTTP basic credentials, each
from a file (``SecretFile``: a mounted Secret, a projected ServiceAccount token), read again
whenever the file changes, so a rotated token is sent from the next query on without a
restart; extra headers (Mimir's ``X-Scope-OrgID``); a CA bundle (``verify``). A URL may
carry ``user:password@``, which requests sends as basic credentials, but no message or log
line shows it: they name the server by ``shown_url``, the URL without its userinfo, and every
text quoted from an answer has the credentials in force replaced by ``***``.
Envelope and error types: docs/querying/api.md (see shared anchors §5).
"""

from __future__ import annotations

import base64
import errno
import logging
import math
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import promql_parser
import requests
from urllib3.exceptions import ProtocolError

import uplift_operator.domain.promql  # noqa: F401  (registers holt_winters: query_reach)
from uplift_operator import fail_fast
from uplift_operator.adapters.redirects import MAX_REDIRECTS as MAX_REDIRECTS
from uplift_operator.adapters.redirects import OTHER_PATH as _OTHER_PATH
from uplift_operator.adapters.redirects import OTHER_SERVER as _OTHER_SERVER
from uplift_operator.adapters.redirects import REDIRECTS as REDIRECTS
from uplift_operator.adapters.redirects import judge as _judge
from uplift_operator.adapters.redirects import root as _root
from uplift_operator.userinfo import shown_url, url_secrets

DEFAULT_TIMEOUT = 10.0
#: After a query got no answer within its timeout, queries to that Prometheus fail at once for
#: this long (seconds), then while one of them tries it again.
FAIL_FAST_FOR = 5.0
#: The share of the client's timeout Prometheus is given to evaluate a query (its ``timeout``
#: parameter). Less than the whole, so that a query too heavy for it comes back answered (HTTP
#: 503, errorType "timeout": that query's failure) before the client stops waiting; were both
#: the same, the client gave up just before that answer came, took the heavy query for a
#: Prometheus that does not answer, and failed every other resource's queries fast.
EVALUATION_SHARE = 0.8
#: The ``error_type`` of a ``MetricsUnavailable`` for a ``success`` answer with warnings: a
#: partial result (a store or a remote-read endpoint did not answer), never taken as a count.
PARTIAL = "partial"
#: What a server or proxy that does not take a POSTed query answers: the client asks with GET
#: from then on (``PrometheusClient._send``).
POST_REFUSED = frozenset({HTTPStatus.METHOD_NOT_ALLOWED, HTTPStatus.NOT_IMPLEMENTED})
#: At most this much of Prometheus' own error text goes into a message.
ERROR_TEXT_MAX = 200
#: How long a read of Prometheus' storage retention stands (seconds): it is read again at most
#: this often (``PrometheusClient.storage_retention``).
RETENTION_READ_EVERY = 3600.0
#: How far before its instant an instant selector reads a sample (Prometheus' default
#: ``--query.lookback-delta``, seconds): an ``offset`` read reaches that much further back.
LOOKBACK = 300.0
REDACTED = "***"

log = logging.getLogger(__name__)


class PrometheusError(Exception):
    """Base class of this adapter's errors."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type


class MetricsUnavailable(PrometheusError):  # noqa: N818 - named for the condition the caller handles
    """Prometheus could not answer: connection refused, timeout, 5xx, or rejected credentials.
    ``unanswered``: no HTTP answer came at all (refused, timed out, reset, name not resolved),
    so any other query to the same server would fail alike. ``overloaded``: answered, but with
    an error after at least the evaluation timeout it was given (an overloaded Prometheus's
    503 ``timeout``, a proxy's 504): the query held its thread as long as an unanswered one,
    and the next would likely do the same. ``asked`` is False when the query was not sent
    (``FailFast``): its message is the earlier failure's, word for word."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 error_type: str | None = None, unanswered: bool = False,
                 asked: bool = True, overloaded: bool = False) -> None:
        super().__init__(message, status_code=status_code, error_type=error_type)
        self.unanswered = unanswered
        self.asked = asked
        self.overloaded = overloaded


class OverLimits(MetricsUnavailable):
    """Prometheus (or the querier in front of it: Thanos, Mimir) refused the query for a limit
    of its own, not for what the query says: too many samples, series or chunks for one
    query (``--query.max-samples``; HTTP 422 ``execution``), or too many queries (HTTP 429).
    Its capacity's matter, so never a ``QueryError`` ("bad query")."""


class BeyondRetention(MetricsUnavailable):
    """A query not sent: its range (or ``offset``) reaches further back than Prometheus keeps
    samples (``StorageRetention``), so the counts it would answer are short by what was
    deleted. Prometheus' configuration's matter, not the model's: a gate holds on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type="retention", asked=False)


@dataclass(frozen=True)
class StorageRetention:
    """How long Prometheus keeps samples: ``seconds`` of its time retention, and ``text`` as
    its ``/api/v1/status/runtimeinfo`` gives it (``storageRetention``: "15d", "15d or
    10GiB")."""

    seconds: float
    text: str


class QueryError(PrometheusError):
    """Prometheus rejected or could not execute the query, or its result has the wrong shape."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result: its labels, value and evaluation timestamp."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic credentials for a Prometheus behind an authenticating proxy."""

    username: str
    password: str = field(repr=False)


class SecretFile:
    """A credential kept in a file (a mounted Secret's key, a projected ServiceAccount token),
    read again when the file changes: a token the kubelet rotates is sent from the next query
    on. A ``stat`` per query tells (the kubelet swaps a mounted Secret's files by renaming a
    symlink, which changes the inode; a projected token is rewritten the same way). Surrounding
    whitespace is dropped (a trailing newline in a Secret written with ``echo``).

    A file that turns unreadable or empty after a good read keeps the last good value in force
    (logged once per change): a query with the token that was valid a moment ago, rather than
    none. One never read is a ``MetricsUnavailable`` naming the file (the path only)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._value: str | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretFile({str(self.path)!r})"

    def read(self) -> str:
        """The file's current value."""
        try:
            stat = self.path.stat()
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError as exc:
            return self._keep(f"cannot read {self.path}: {exc.strerror or exc}")
        if seen == self._seen and self._value is not None:
            return self._value
        with self._lock:
            if seen == self._seen and self._value is not None:
                return self._value
            try:
                value = self.path.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                return self._keep(f"cannot read {self.path}: {reason or exc}")
            if not value:
                return self._keep(f"{self.path} is empty")
            if self._value is not None and value != self._value:
                log.info("prometheus credentials: %s changed, sending its new value", self.path)
            self._seen, self._value, self._failure = seen, value, None
            return value

    def _keep(self, failure: str) -> str:
        if failure != self._failure:
            self._failure = failure
            log.warning("prometheus credentials: %s%s", failure,
                        "; the last value read stays in force" if self._value else "")
        if self._value is None:
            raise MetricsUnavailable(f"prometheus credentials unreadable: {failure}")
        return self._value


#: A bearer token or basic credentials: the value, or what reads its current value.
TokenSource = str | SecretFile
BasicAuthSource = BasicAuth | Callable[[], BasicAuth]


def basic_auth_files(username: str | os.PathLike[str],
                     password: str | os.PathLike[str]) -> Callable[[], BasicAuth]:
    """Basic credentials from two files (a Secret's ``username`` and ``password`` keys), each
    read again when it changes (``SecretFile``)."""
    username_file, password_file = SecretFile(username), SecretFile(password)
    return lambda: BasicAuth(username_file.read(), password_file.read())


class FailFast(fail_fast.FailFast[MetricsUnavailable]):
    """The breaker of one Prometheus (``uplift_operator.fail_fast.FailFast``): after a query got
    no answer within its timeout, the queries after it fail at once, with that failure, for
    ``hold`` seconds (``FAIL_FAST_FOR``); then one query tries the server again while the others
    keep failing fast, and its answer (any HTTP answer, an error status too) closes the breaker.
    A refused connection leaves it closed: a restarted Prometheus is read at once.

    ``for_url`` is the process-wide one of a URL, which every client of it shares by default:
    the pass pool's threads all ask the same Prometheus."""

    default_hold = FAIL_FAST_FOR

    def not_asked(self, failure: MetricsUnavailable) -> MetricsUnavailable:
        # The same words as the failure: a gate's message must not alternate between "did not
        # answer" and "not asked" from one pass to the next.
        return MetricsUnavailable(failure.message, status_code=failure.status_code,
                                  error_type=failure.error_type, unanswered=True, asked=False)


class PrometheusClient:
    """Instant queries against one Prometheus (``url`` is the server root, e.g. ``http://prom:9090``).

    Each thread asks through a ``requests.Session`` of its own (a Session is not shared across
    threads), so its queries reuse one kept-alive connection instead of opening one per query:
    a Campaign's analysis asks 16. ``fail_fast`` is the URL's process-wide ``FailFast`` unless
    given.

    ``bearer_token`` and ``basic_auth`` are values or what reads them (``SecretFile``,
    ``basic_auth_files``), asked at each query; ``headers`` go with every query; ``verify`` is
    requests' (True: the default trust, or ``REQUESTS_CA_BUNDLE`` when set; a path: that CA
    bundle). ``url`` may hold ``user:password@`` (basic credentials, unless ``basic_auth`` is
    given); messages and logs name the server by ``shown_url``, without it."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 headers: Mapping[str, str] | None = None,
                 basic_auth: BasicAuthSource | None = None,
                 bearer_token: TokenSource | None = None, verify: bool | str = True,
                 fail_fast: FailFast | None = None) -> None:
        if bearer_token is not None and basic_auth is not None:
            raise ValueError("give either a bearer token or basic credentials, not both")
        self.url = url.rstrip("/")
        self.shown_url = shown_url(self.url)
        self.timeout = timeout
        self.fail_fast = fail_fast if fail_fast is not None else FailFast.for_url(self.url)
        self._headers = {"Accept": "application/json", **dict(headers or {})}
        self._bearer_token = bearer_token
        self._basic_auth = basic_auth
        self._verify = verify
        self._local = threading.local()
        self._url_secrets = url_secrets(self.url)  # the URL never changes: worked out once
        # POST until the server refuses the method (``POST_REFUSED``), then GET for good.
        self._post = True
        # The redirects followed, each logged once (``_send``).
        self._redirects_seen: set[tuple[str, str]] = set()
        # Prometheus' storage retention (``storage_retention``): the last read's outcome, when
        # it was read (``fail_fast.clock``), whether a read is under way, what was logged.
        self._retention: StorageRetention | None = None
        self._retention_read_at: float | None = None
        self._retention_reading = False
        self._retention_logged: str | None = None
        self._retention_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PrometheusClient({self.shown_url!r}, timeout={self.timeout})"

    @property
    def evaluation_timeout(self) -> float:
        """What Prometheus is given to evaluate a query (``EVALUATION_SHARE`` of ``timeout``, to
        the millisecond): a query too heavy for it is answered with its timeout error while the
        client still waits, so only a Prometheus that does not answer at all opens the breaker."""
        return round(self.timeout * EVALUATION_SHARE, 3)

    def _credentials(self) -> tuple[dict[str, str], tuple[str, str] | None, tuple[str, ...]]:
        """This query's headers and basic credentials, and every text that would give the
        credentials away (to take out of what is quoted)."""
        headers = self._headers
        secrets = self._url_secrets
        token = self._bearer_token
        if token is not None:
            value = token if isinstance(token, str) else token.read()
            headers = {**headers, "Authorization": f"Bearer {value}"}
            secrets += (value, f"Bearer {value}")
        auth = None
        if self._basic_auth is not None:
            basic = (self._basic_auth if isinstance(self._basic_auth, BasicAuth)
                     else self._basic_auth())
            auth = (basic.username, basic.password)
            encoded = base64.b64encode(f"{basic.username}:{basic.password}".encode()).decode()
            secrets += (basic.password, encoded)
        # As given, without the whitespace around them, and as repr() quotes them (requests
        # quotes a header value it refuses that way: a token file with a line break inside).
        forms = {form for v in secrets if v for form in (v, v.strip(), repr(v)[1:-1])}
        return headers, auth, tuple(sorted((f for f in forms if f), key=len, reverse=True))

    def query(self, promql: str, time: datetime | float | None = None) -> list[Sample]:
        """Evaluate ``promql`` at ``time`` (default: now); one ``Sample`` per series.

        A scalar result becomes one sample without labels; range vectors and strings are
        a ``QueryError`` (gate queries must be instant vectors or scalars).
        """
        # Prometheus reads a bare number as seconds (a "0.5s" duration string would be rejected).
        # partial_response=false: Thanos' querier answers an error rather than a partial
        # result when a store does not answer (Prometheus and Mimir ignore it); any other
        # partial answer comes with warnings, refused by ``_envelope``.
        params: dict[str, str] = {"query": promql, "timeout": f"{self.evaluation_timeout:g}",
                                  "partial_response": "false"}
        if time is not None:
            params["time"] = f"{time.timestamp() if isinstance(time, datetime) else time:.3f}"
        data = self._ask("/api/v1/query", params)
        result_type = data.get("resultType")
        result = data.get("result")
        if result_type == "vector" and isinstance(result, list):
            return [_sample(item.get("metric", {}), item.get("value")) for item in result]
        if result_type == "scalar":
            return [_sample({}, result)]
        raise QueryError(f"query returned a {result_type} result; an instant vector or scalar is "
                         f"needed: {promql}", error_type="bad_data")

    def scalar(self, promql: str, time: datetime | float | None = None) -> float | None:
        """The single value of ``promql``; ``None`` when there is no data (empty result or NaN).

        More than one series is a ``QueryError``: a gate query must aggregate to one.
        ``±Inf`` is returned as is.
        """
        return single_value(self.query(promql, time))

    def storage_retention(self) -> StorageRetention | None:
        """How long Prometheus keeps samples (its ``--storage.tsdb.retention.time``), or None
        when that is unknown: a retention by size only, a server that does not tell it
        (Thanos' querier answers ``/api/v1/status/runtimeinfo`` without one; a server without
        that endpoint answers 404), one that reads older samples from elsewhere
        (``remote_read`` in its configuration, ``/api/v1/status/config``), a read that failed.
        Never raises: the gates that would compare their ranges with it
        (``services.measurements.AnalysisQueries``) go on without the check.

        Read at most once per ``RETENTION_READ_EVERY`` (an hour) for every resource (the one
        client the operator's source holds), one read at a time: a thread that finds a read
        under way takes the last outcome (None before the first) and does not wait. A read that
        was not sent (the breaker open, credentials unreadable, the connection refused) is
        tried again at the next call; one that was answered, or got no answer within the
        timeout (which opens the breaker, as a query's does), stands for the hour."""
        now = self.fail_fast.clock()
        with self._retention_lock:
            if self._retention_reading or (
                    self._retention_read_at is not None
                    and now - self._retention_read_at < RETENTION_READ_EVERY):
                return self._retention
            self._retention_reading = True
        asked, retention, unknown = False, None, ""
        try:
            asked, retention, unknown = self._read_retention()
        finally:
            with self._retention_lock:
                self._retention_reading = False
                if asked:
                    self._retention, self._retention_read_at = retention, now
        said = (f"Prometheus keeps {retention.text} of samples: a gate whose range reaches "
                "further back holds" if retention is not None
                else f"storage retention unknown ({unknown}): ranges past it are not detected")
        if asked and said != self._retention_logged:
            self._retention_logged = said
            log.info("prometheus at %s: %s", self.shown_url, said)
        return retention

    def _read_retention(self) -> tuple[bool, StorageRetention | None, str]:
        """(whether the server was asked, its time retention or None, why None)."""
        try:
            headers, auth, _ = self._credentials()
            self.fail_fast.admit()
        except MetricsUnavailable as exc:
            return False, None, exc.message
        slow: MetricsUnavailable | None = None
        try:
            info = self._status("/api/v1/status/runtimeinfo", headers, auth)
            seconds = parse_retention(info.get("storageRetention"))
            if seconds is None:
                return True, None, f"storageRetention {info.get('storageRetention')!r}"
            config = self._status("/api/v1/status/config", headers, auth).get("yaml")
            if not isinstance(config, str):
                return True, None, "no configuration answered"
            if _REMOTE_READ.search(config):
                return True, None, "remote_read configured: older samples are read from it"
            return True, StorageRetention(seconds, str(info["storageRetention"])), ""
        except PrometheusError as exc:
            return True, None, exc.message
        except requests.Timeout:
            slow = MetricsUnavailable(f"prometheus at {self.shown_url} did not answer within "
                                      f"{self.timeout:g}s", unanswered=True)
            return True, None, slow.message
        except requests.RequestException as exc:
            return False, None, f"unreachable ({unreachable_cause(exc)})"
        except Exception as exc:  # an answer not understood: unknown, never a gate's Error
            log.warning("prometheus at %s: its storage retention not read: %r", self.shown_url,
                        exc)
            return True, None, f"not read ({type(exc).__name__})"
        finally:
            self.fail_fast.settle(slow)

    def _status(self, path: str, headers: Mapping[str, str],
                auth: tuple[str, str] | None) -> dict[str, Any]:
        """A status endpoint's ``data`` (GET only: Prometheus takes no POST there)."""
        response = self._session().get(self.url + path, headers=headers, auth=auth,
                                       timeout=self.timeout, verify=self._verify,
                                       allow_redirects=False)
        return _envelope(response)

    def _ask(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = self.url + path
        headers, auth, secrets = self._credentials()

        def redact(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, REDACTED)
            return text

        self.fail_fast.admit()
        slow: MetricsUnavailable | None = None
        started = self.fail_fast.clock()
        try:
            response = self._send(url, params, headers, auth, started)
        except requests.Timeout as exc:
            log.warning("prometheus at %s did not answer within %gs: %s; query: %s",
                        self.shown_url, self.timeout, redact(str(exc)), params.get("query"))
            slow = MetricsUnavailable(f"prometheus at {self.shown_url} did not answer within "
                                      f"{self.timeout:g}s", unanswered=True)
            raise slow from exc
        except requests.RequestException as exc:
            log.warning("prometheus at %s is unreachable: %s; query: %s",
                        self.shown_url, redact(str(exc)), params.get("query"))
            error = MetricsUnavailable(f"prometheus at {self.shown_url} is unreachable "
                                       f"({unreachable_cause(exc)})", unanswered=True)
            # A name lookup or a reset that took as long as a timeout holds the thread alike.
            if self.fail_fast.clock() - started >= self.timeout / 2:
                slow = error
            raise error from exc
        finally:
            self.fail_fast.settle(slow)
        try:
            return _envelope(response, redact)
        except PrometheusError as exc:
            log.warning("prometheus at %s: %s (HTTP %s); query: %s; body: %.2000s",
                        self.shown_url, exc.message, response.status_code, params.get("query"),
                        redact(response.text))
            if (isinstance(exc, MetricsUnavailable) and exc.error_type != PARTIAL
                    and self.fail_fast.clock() - started >= self.evaluation_timeout):
                # Answered, but only once its evaluation timeout ran out: the analysis asks
                # no more of it (``services.measurements.AnalysisQueries``), as after an
                # unanswered query. The server answers, so the breaker stays closed.
                exc.overloaded = True
            raise

    def _send(self, url: str, params: Mapping[str, str], headers: Mapping[str, str],
              auth: tuple[str, str] | None, started: float) -> requests.Response:
        """The query, POSTed as form data (the query in the body, not the URL: a long custom
        query passed proxies' URL and header limits as a GET), or as a GET once the server
        refused the method (``POST_REFUSED``: a proxy or an old server that takes GET only;
        logged once, and every query of this client is a GET from then on, so such a server
        costs one extra request, not one per query). Only ``url`` itself, the configured
        server's, can refuse it so: a redirect's target that answers 405 is that answer (an
        authenticating proxy's login page refused the POST, and the client asked every query
        after with GET, for good). Asked once more on a new connection when
        the kept connection it went out on was closed unanswered at once (``ProtocolError``:
        the server's or a proxy's idle timeout ran out just as it was reused). Taken for a
        server that did not answer (``unanswered``), that failed the rest of the analysis's
        queries with it (``services.measurements.AnalysisQueries``), each gate an Error. A
        query is a read (``/api/v1/query`` changes nothing, whichever the method), safe to ask
        twice. Not a refused connection nor a timeout, and not a close that came only after
        half the timeout (that one held the thread already): a Prometheus that is down costs
        one attempt, as before.

        Redirects are followed here, not by requests (``allow_redirects=False``), which made a
        GET without a body of a POST redirected by 301, 302 or 303: Prometheus answered 400
        "no expression found", a bad query, and every canary rolled back at its
        consecutiveErrorLimit. The query goes again, as it was (POSTed, its credentials with it),
        to the same server and the same API path only (``_redirect_target``), at most
        ``MAX_REDIRECTS`` times; each redirect followed is logged once, with the URL to give
        instead. Every request of the query (a redirect's, the one asked again) waits only
        what is left of the one ``timeout`` the query has, counted from ``started``: a chain
        of redirects holds the thread no longer than one unanswered query."""

        def remaining() -> float:
            left = self.timeout - (self.fail_fast.clock() - started)
            if left <= 0:
                raise requests.Timeout(f"no answer within {self.timeout:g}s (redirects "
                                       "included)")
            return left

        def send(target: str) -> requests.Response:
            session = self._session()
            if self._post:
                response = session.post(target, data=params, headers=headers, auth=auth,
                                        timeout=remaining(), verify=self._verify,
                                        allow_redirects=False)
                if response.status_code not in POST_REFUSED or target != url:
                    return response
                self._post = False
                log.info("prometheus at %s refused a POSTed query (HTTP %s): asking with GET "
                         "from now on", self.shown_url, response.status_code)
            return session.get(target, params=params, headers=headers, auth=auth,
                               timeout=remaining(), verify=self._verify, allow_redirects=False)

        def get() -> requests.Response:
            target = url
            for _ in range(MAX_REDIRECTS):
                response = send(target)
                if response.status_code not in REDIRECTS:
                    return response
                target = self._redirect_target(url, target, response)
            response = send(target)
            if response.status_code in REDIRECTS:
                raise MetricsUnavailable(
                    f"prometheus at {self.shown_url} redirected the query more than "
                    f"{MAX_REDIRECTS} times (HTTP {response.status_code})",
                    status_code=response.status_code)
            return response

        try:
            return get()
        except requests.ConnectionError as exc:
            if (not (exc.args and isinstance(exc.args[0], ProtocolError))
                    or self.fail_fast.clock() - started >= self.timeout / 2):
                raise
            log.debug("prometheus at %s closed the connection unanswered (%s); asking again "
                      "on a new one", self.shown_url, type(exc.args[0]).__name__)
            return get()

    def _redirect_target(self, url: str, asked: str, response: requests.Response) -> str:
        """Where a redirect answered to ``asked`` (a query to ``url``) sends the query next: its
        ``Location``, resolved against ``asked``, without a query string or fragment (the
        query's parameters go as before, not twice), with ``url``'s userinfo kept. Only to the
        same server: the same scheme, host and port, or http → https on the default ports (the
        rule by which requests keeps credentials on a redirect), and only to a path that still
        ends with the API path asked (``/api/v1/query``: a moved prefix); anything else
        (another host, an https → http downgrade, another port; an authenticating proxy's
        login page on the same host, which was sent the query and the credentials) is a
        ``MetricsUnavailable`` naming where it points, not a bad query."""
        location = response.headers.get("Location")
        status = response.status_code
        if not location:
            raise MetricsUnavailable(f"prometheus at {self.shown_url} answered a redirect "
                                     f"(HTTP {status}) without a Location", status_code=status)
        api_path = url[len(self.url):]
        target, resolved, refused = _judge(url, asked, location, api_path)
        shown = shown_url(resolved)
        if refused == _OTHER_SERVER:
            log.warning("prometheus at %s redirected a query to %s (HTTP %s), which is not the "
                        "same server: not followed", self.shown_url, shown, status)
            suggested = _root(shown, api_path)
            raise MetricsUnavailable(
                f"prometheus at {self.shown_url} redirected the query to {suggested} (HTTP "
                f"{status}), another server: not followed (if Prometheus answers there, set "
                "--prometheus-url to it)", status_code=status)
        if refused == _OTHER_PATH:
            log.warning("prometheus at %s redirected a query to %s (HTTP %s), which is not "
                        "Prometheus' %s: not followed", self.shown_url, shown, status, api_path)
            raise MetricsUnavailable(
                f"prometheus at {self.shown_url} redirected the query to {shown} (HTTP "
                f"{status}), not a Prometheus API path (a login page?): not followed (give "
                "the operator credentials the server takes, or set --prometheus-url to where "
                "Prometheus answers)", status_code=status)
        if (shown_url(asked), shown) not in self._redirects_seen:
            self._redirects_seen.add((shown_url(asked), shown))
            log.warning("prometheus at %s redirects queries to %s (HTTP %s): following it, one "
                        "request more per query; set --prometheus-url to %s", self.shown_url,
                        shown, status, _root(shown, api_path))
        return target

    def _session(self) -> requests.Session:
        """This thread's session."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session


def unreachable_cause(exc: BaseException) -> str:
    """The cause class of a request that got no HTTP answer, in a few stable words: the root
    ``OSError`` under requests' and urllib3's wrappers (their text holds addresses, the
    URL-encoded query and object reprs)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, requests.exceptions.SSLError):
            return "TLS error"
        if isinstance(error, socket.gaierror):
            return "name not resolved"
        if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(error, ConnectionResetError):
            return "connection reset"
        if isinstance(error, OSError) and error.errno == errno.EHOSTUNREACH:
            return "no route to host"
        linked = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        pending.extend(e for e in linked if isinstance(e, BaseException))
    text = str(exc)
    for words, cause in (("Connection refused", "connection refused"),
                         ("Failed to resolve", "name not resolved"),
                         ("Name or service not known", "name not resolved"),
                         ("Connection reset", "connection reset"),
                         ("Connection aborted", "connection reset")):
        if words in text:
            return cause
    return "connection failed"


#: A Prometheus duration ("15d", "1d12h", "10y", "90m", "500ms"; a year is 365 days), and its
#: parts' unit in seconds.
_DURATION = re.compile(r"(?:\d+(?:ms|[ywdhms]))+")
_DURATION_PART = re.compile(r"(\d+)(ms|[ywdhms])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400,
                 "y": 365 * 86400}
#: A size retention as Prometheus writes it (``units.Base2Bytes``: "10GiB", "512MiB", "1.5TiB").
_BYTES = re.compile(r"\d+(?:\.\d+)?\s*(?:[KMGTPE]i?)?B", re.IGNORECASE)
#: A ``remote_read`` section in Prometheus' configuration (its YAML, keys at the margin).
_REMOTE_READ = re.compile(r"^remote_read:", re.MULTILINE)


def duration_seconds(text: str) -> float | None:
    """A Prometheus duration ("1d12h") in seconds; None for anything else."""
    if not _DURATION.fullmatch(text):
        return None
    return float(sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text)))


def parse_retention(text: object) -> float | None:
    """The time retention, in seconds, of Prometheus' ``storageRetention`` (runtimeinfo):
    "15d" (the flag's ``model.Duration``), "15d or 10GiB" (a time and a size: samples go at the
    first of the two; the time is the bound known), None for a size only ("10GiB"), nothing
    ("", no retention flag answered), "0s", or a form not known (no check rather than a wrong
    one)."""
    if not isinstance(text, str):
        return None
    times = []
    for part in (p.strip() for p in text.split(" or ")):
        seconds = duration_seconds(part)
        if seconds is not None:
            if seconds > 0:
                times.append(seconds)
        elif part and not _BYTES.fullmatch(part):
            return None
    return min(times) if times else None


def query_reach(promql: str) -> float | None:
    """How far before its evaluation instant ``promql`` reads samples, in seconds: the longest
    of its ranges plus that range's ``offset``, and of its instant selectors' ``offset`` plus
    ``LOOKBACK``, each plus the ranges and ``offset`` of every subquery it is inside (a
    subquery evaluates what it applies to its range back: ``max_over_time(rate(x[5m] offset
    1d)[1h:1m])`` reads 1d1h5m back, ``max_over_time(x[1h:1m])`` 1h); 0 for a query of
    neither (an instant selector's lookback counts only with an ``offset``), never less (a
    negative ``offset`` reads ahead). Read from promql-parser's syntax tree, the parser
    ``domain.promql`` checks the gate queries with (imported here for the Prometheus 2
    functions it registers, ``holt_winters``): a string, a comment or a regex matcher that
    looks like a range or an ``offset`` is none, and a subquery applies to what the grammar
    says it does, an ``offset`` or a grouping before its ``[`` included.
    None where that cannot be told from the text: an ``@`` modifier (an instant of its own);
    a text the parser refuses, or a duration longer than a ``timedelta`` holds (2.7 million
    years), or any other failure of the parser. Never an error: such a query is asked
    unchecked, as with a retention not known, and Prometheus' answer (its refusal of a query
    it cannot parse either) is the gate's; ``domain.validation`` refuses a gate query that
    does not parse."""
    try:
        return _reach(promql_parser.parse(promql))
    except Exception:  # the retention check never fails a gate: not told, not checked
        return None


def _reach(expr: promql_parser.Expr) -> float | None:
    """``query_reach`` of a parsed query: its nodes walked, each with the ranges and offsets
    of the subqueries it is inside (``around``); None at an ``@`` or a node of a kind not
    known."""
    reach = 0.0
    pending: list[tuple[Any, float]] = [(expr, 0.0)]
    while pending:
        node, around = pending.pop()
        if isinstance(node, promql_parser.MatrixSelector):
            if node.vector_selector.at is not None:
                return None
            reach = max(reach, around + _seconds(node.range)
                        + _seconds(node.vector_selector.offset))
        elif isinstance(node, promql_parser.VectorSelector):
            if node.at is not None:
                return None
            if node.offset is not None:
                reach = max(reach, around + _seconds(node.offset) + LOOKBACK)
            else:
                reach = max(reach, around)
        elif isinstance(node, promql_parser.SubqueryExpr):
            if node.at is not None:
                return None
            pending.append((node.expr, around + _seconds(node.range) + _seconds(node.offset)))
        elif isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr)):
            pending.append((node.expr, around))
        elif isinstance(node, promql_parser.AggregateExpr):
            pending.extend((child, around) for child in (node.param, node.expr))
        elif isinstance(node, promql_parser.BinaryExpr):
            pending.extend([(node.lhs, around), (node.rhs, around)])
        elif isinstance(node, promql_parser.Call):
            pending.extend((arg, around) for arg in node.args)
        elif isinstance(node, promql_parser.Expr) and not isinstance(
                node, (promql_parser.NumberLiteral, promql_parser.StringLiteral)):
            return None
    return reach


def _seconds(duration: timedelta | None) -> float:
    return 0.0 if duration is None else duration.total_seconds()


def single_value(samples: Sequence[Sample]) -> float | None:
    """The one value of a query's answer (``PrometheusClient.scalar``): None for no data (no
    sample, or NaN), a ``QueryError`` for more than one series."""
    if not samples:
        return None
    if len(samples) > 1:
        shown = ", ".join(_selector(s.labels) for s in samples[:3])
        raise QueryError(f"query returned {len(samples)} series, expected one "
                         f"(aggregate it, e.g. sum(...)): {shown}", error_type="bad_data")
    value = samples[0].value
    return None if math.isnan(value) else value


def _envelope(response: requests.Response,
              redact: Callable[[str], str] = lambda text: text) -> dict[str, Any]:
    """Map an API response to its ``data`` or to the matching exception; ``redact`` takes the
    credentials out of the error text quoted (a proxy may echo the request's headers)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # Not Prometheus' answer (a proxy's page, maybe with a request id): the body to the log.
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise OverLimits(f"prometheus answered HTTP {status} {_phrase(status)}: over its "
                             "query limits", status_code=status)
        # A 400 or 422 too: Prometheus answers every API error, a refused query's included,
        # with its JSON envelope, so a page without one is a proxy's (a WAF, a header limit),
        # which says nothing of the query: never a "bad query".
        raise MetricsUnavailable(f"prometheus answered HTTP {status} {_phrase(status)} "
                                 "without an API response", status_code=status)
    error_type = body.get("errorType")
    error = _short(redact(str(body.get("error") or "")))
    # A parse error (``bad_data``) quotes the query, which may say "limit": never a limit.
    refused_for_limits = (status >= 400 and error_type != "bad_data"
                          and _OVER_LIMITS.search(error) is not None
                          and _DEADLINE.search(error) is None)
    if status == HTTPStatus.TOO_MANY_REQUESTS or refused_for_limits:
        raise OverLimits(f"prometheus over its query limits (HTTP {status}"
                         + (f", {error_type}" if error_type else "") + ")"
                         + (f": {error}" if error else ""),
                         status_code=status, error_type=error_type)
    if status >= 400 and error_type != "bad_data" and _STORE_DOWN.search(error):
        # Thanos' querier asked with partial_response=false, a store behind it not answering:
        # an error (422 execution) instead of the partial result. Not the query's fault, so
        # never a "bad query" counted towards a rollback; held, as a partial answer is.
        raise MetricsUnavailable(f"a store behind the querier did not answer (HTTP {status}): "
                                 f"{error}", status_code=status, error_type=PARTIAL)
    if status in (400, 422) and error_type != "bad_data" and _DEADLINE.search(error):
        # A querier's timeout answered as 422 (Thanos: "expanding series: context deadline
        # exceeded"): Prometheus' timeout, counted as its 503 is, not a "bad query".
        raise MetricsUnavailable(f"prometheus answered HTTP {status}"
                                 + (f" ({error_type})" if error_type else "") + f": {error}",
                                 status_code=status, error_type=error_type)
    if status in (400, 422) or (status < 300 and body.get("status") == "error"):
        raise QueryError(error or f"HTTP {status}", status_code=status, error_type=error_type)
    if status >= 300 or body.get("status") != "success":
        raise MetricsUnavailable(f"prometheus answered HTTP {status}"
                                 + (f" ({error_type}): {error}" if error else ""),
                                 status_code=status, error_type=error_type)
    raw = body.get("warnings")
    # Only a warning that says data is missing makes the answer partial: PromQL's annotations
    # ("PromQL info: metric might not be a counter", "PromQL warning: ..."), in ``warnings``
    # from Thanos and from Prometheus before its ``infos`` field (2.54), are about the query,
    # with every series there; refused, such a gate held for ever.
    warnings = ([w for w in raw if not str(w).startswith(_ANNOTATIONS)]
                if isinstance(raw, list) else raw)
    if warnings:
        # A partial result: the querier answered without some of its stores (Thanos' partial
        # response, a remote-read endpoint that failed). Its counts are short by what those
        # hold: taken as complete, a gate judged them, and the long-range source kept them for
        # the rest of the step (``adapters.prometheus_ranges``).
        shown = _short(redact("; ".join(str(w) for w in warnings)
                              if isinstance(warnings, list) else str(warnings)))
        raise MetricsUnavailable(f"prometheus answered a partial result: {shown}",
                                 status_code=status, error_type=PARTIAL)
    data = body.get("data")
    if not isinstance(data, dict):
        raise MetricsUnavailable("prometheus answered without data", status_code=status)
    return data


#: What a query refused for a limit of the server's says (Prometheus' ``--query.max-samples``:
#: "query processing would load too many samples into memory"; Thanos' and Mimir's series,
#: chunk and sample limits: "exceeded series limit", "the query exceeded the maximum number of
#: chunks", "the query hit the max number of series limit", "fetched chunks size limit"). Only
#: specific phrases: a bare "exceeded" is also a timeout's "context deadline exceeded" (a
#: counted 5xx, docs/reliability.md), and it never runs on a parse error (``bad_data``).
_OVER_LIMITS = re.compile(
    r"too many (?:samples|series|chunks)|exceeded the maximum number of"
    r"|max(?:imum)? number of (?:samples|series|chunks)"
    r"|(?:series|chunks?|samples?|bytes?)(?: size)? limit"
    r"|limits? (?:of|on) (?:series|chunks|samples|bytes)"
    r"|resource exhausted|\b429\b", re.IGNORECASE)
#: A timeout's text: never a limit (counted, as Prometheus' own 503 timeout is).
_DEADLINE = re.compile(r"deadline exceeded|DeadlineExceeded", re.IGNORECASE)
#: What Thanos' querier answers (422 execution, with partial_response=false) when a store
#: behind it did not answer: gRPC Unavailable/Aborted, no store matched, a store's stream failed.
_STORE_DOWN = re.compile(r"code = (?:Unavailable|Aborted)|No StoreAPIs matched"
                         r"|receive series from", re.IGNORECASE)
#: PromQL's annotations, which Thanos and Prometheus < 2.54 put in ``warnings``: not missing data.
_ANNOTATIONS = ("PromQL info:", "PromQL warning:")


def _phrase(status: int) -> str:
    """The status code's standard phrase ("Unauthorized"): what a proxy's page says, stably."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(nonstandard status)"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_MAX else text[: ERROR_TEXT_MAX - 1] + "…"


def _sample(metric: Mapping[str, str], value: Any) -> Sample:
    try:
        timestamp, text = value
        # float() reads Prometheus' "NaN", "+Inf" and "-Inf".
        return Sample(labels=dict(metric), value=float(text), timestamp=float(timestamp))
    except (TypeError, ValueError) as exc:
        raise QueryError(f"unreadable sample value {value!r} for {_selector(metric)}") from exc


def _selector(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"
