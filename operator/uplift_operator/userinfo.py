"""A URL's userinfo (``https://user:password@host``): how a server is named without it, and
which texts would give it away.

requests sends a URL's ``user:password@`` as HTTP basic credentials, so a URL that carries it is
a credential: printed as given, it would put the password into a resource's status, an event,
the operator's log and a ``repr``. Every message and log line names a server by ``shown_url``
instead, and every text quoted from elsewhere has ``url_secrets`` replaced.

Outside ``adapters`` so that the adapters that need it (Prometheus, MLflow) keep knowing nothing
of each other (``.importlinter``: "Adapters do not know about each other"), and the operator's
settings check theirs with the same reading; the standard library only.
"""

from __future__ import annotations

import base64
import urllib.parse

__all__ = ["has_userinfo", "shown_url", "url_secrets"]


def has_userinfo(url: str) -> bool:
    """Whether ``url``'s authority holds a userinfo (``user@``, ``user:password@``)."""
    return "@" in urllib.parse.urlsplit(url).netloc


def shown_url(url: str) -> str:
    """``url`` without its userinfo (``https://user:pw@mlflow`` → ``https://mlflow``): the form
    every message and log line names the server by."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_secrets(url: str) -> tuple[str, ...]:
    """Every text that would give ``url``'s userinfo away, longest first (so that a
    replacement never leaves part of a longer one): the userinfo whole, its password, and the
    basic-auth header value requests makes of them, each as written and percent-decoded (an
    error text, or a proxy echoing the request, may quote any). A userinfo without a password
    (``https://TOKEN@host``) is often a token: then its user name is one of them; beside a
    password it is not, as a credentials Secret's ``username`` is not. None without userinfo."""
    userinfo = urllib.parse.urlsplit(url).netloc.rpartition("@")[0]
    if not userinfo:
        return ()
    username, _, password = userinfo.partition(":")
    user, plain = urllib.parse.unquote(username), urllib.parse.unquote(password)
    header = base64.b64encode(f"{user}:{plain}".encode()).decode()
    found = {userinfo, urllib.parse.unquote(userinfo), header,
             *((password, plain) if password else (username, user))}
    return tuple(sorted((f for f in found if f), key=len, reverse=True))
