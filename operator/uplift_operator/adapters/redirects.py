"""Which HTTP redirects an adapter follows itself: the same server only.

Role: the rule the Prometheus and MLflow adapters share (``adapters.prometheus``,
``adapters.mlflow_registry``), which both send their requests with ``allow_redirects=False``:
requests turns a POST redirected by 301, 302 or 303 into a GET without its body, and drops a
redirected DELETE's body, so a write behind an http → https redirect reached the server as a
request without its parameters. Each adapter sends the request again itself, as it was (its
method, body and credentials), to where ``same_server`` allows, at most ``MAX_REDIRECTS``
times. Pure: no I/O.
"""

from __future__ import annotations

import urllib.parse
from http import HTTPStatus

#: The redirects an adapter follows itself, sending the request again as it was.
REDIRECTS = frozenset({HTTPStatus.MOVED_PERMANENTLY, HTTPStatus.FOUND, HTTPStatus.SEE_OTHER,
                       HTTPStatus.TEMPORARY_REDIRECT, HTTPStatus.PERMANENT_REDIRECT})
#: At most this many redirects are followed for one request.
MAX_REDIRECTS = 3

_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_server(old: str, new: str) -> bool:
    """Whether a redirect from ``old`` to ``new`` stays on the same server: the same host, and
    the same scheme and port, or http → https on the default ports (the rule by which requests
    keeps a request's credentials on a redirect). Never a downgrade to http."""
    a, b = urllib.parse.urlsplit(old), urllib.parse.urlsplit(new)
    try:
        ends = [(u.scheme, u.port or _DEFAULT_PORTS.get(u.scheme)) for u in (a, b)]
    except ValueError:  # a port that is no number
        return False
    if not b.hostname or a.hostname != b.hostname or b.scheme not in _DEFAULT_PORTS:
        return False
    return ends[0] == ends[1] or ends == [("http", 80), ("https", 443)]


def root(target: str, path: str) -> str:
    """``target`` without the API ``path`` the request was sent to (``/api/v1/query``,
    ``/api/2.0/mlflow/...``): the server root a redirect points to, as the adapter's URL
    setting takes it."""
    return target[: -len(path)] if path and target.endswith(path) else target


#: Why ``judge`` refuses a redirect: it leaves the server, or points off the API path asked (a
#: login page on the same host, which was sent the request and its credentials).
OTHER_SERVER = "another server"
OTHER_PATH = "another path"


def judge(url: str, asked: str, location: str, api_path: str) -> tuple[str, str, str | None]:
    """Where a redirect answered to ``asked`` (a request to ``url``, which ends with
    ``api_path``) sends the request next, as ``(next, target, refused)``: ``target`` is its
    ``Location`` resolved against ``asked``, without a query string or fragment (the request's
    parameters go as before, not twice); ``next`` is ``target`` with ``url``'s userinfo kept;
    ``refused`` is None, ``OTHER_SERVER`` (not ``same_server``) or ``OTHER_PATH`` (a path that
    no longer ends with ``api_path``: only a moved prefix is followed). The adapters word the
    refusal, each for its own setting."""
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(asked, location.strip()))
    target = urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
    if not same_server(asked, target):
        return target, target, OTHER_SERVER
    if not urllib.parse.unquote(parts.path).endswith(urllib.parse.unquote(api_path)):
        return target, target, OTHER_PATH
    own = urllib.parse.urlsplit(url).netloc.rpartition("@")[0]
    if own and "@" not in parts.netloc:
        return (urllib.parse.urlunsplit(parts._replace(netloc=f"{own}@{parts.netloc}",
                                                       query="", fragment="")), target, None)
    return target, target, None
