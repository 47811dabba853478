"""The manual-request annotation contract: which annotations ask the operator for what.

Role: one light module (standard library only) shared by the decision (``domain.ramp`` acts on
the requests) and by the clients that write them (``kubectl uplift``), so the plugin can import
the contract without pulling the ramp's numpy/scipy dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from uplift_operator.handled_tokens import (
    REMEMBERED_FORM_MAX,
    REMEMBERED_TOKEN_MAX,
    remembered,
    remembered_as_kept,
)

__all__ = [
    "ABORT_ANNOTATION",
    "EMERGENCY_ROLLBACK_ANNOTATION",
    "HANDLED_TOKENS_KEPT",
    "PROMOTE_ANNOTATION",
    "REMEMBERED_FORM_MAX",
    "REMEMBERED_TOKEN_MAX",
    "REQUESTED_BY_ANNOTATION",
    "REQUESTED_BY_MAX",
    "REQUEST_REASON_ANNOTATION",
    "REQUEST_REASON_MAX",
    "RETRY_ANNOTATION",
    "ManualRequest",
    "RequestKind",
    "companion",
    "handled_after",
    "is_handled",
    "is_replayed",
    "parse_requests",
    "remembered",
    "remembered_as_kept",
]

PROMOTE_ANNOTATION = "uplift.dev/promote"  # value: step[:token] or full[:token]
ABORT_ANNOTATION = "uplift.dev/abort"  # value: any token
RETRY_ANNOTATION = "uplift.dev/retry"  # value: any token
EMERGENCY_ROLLBACK_ANNOTATION = "uplift.dev/emergency-rollback"  # value: any token
#: Optional companions of a request annotation, written by a client in the same patch: who
#: asks (e.g. ``alice@example.com``) and why, in words. The operator adds them to the history
#: entry and the event of the action it takes (control characters stripped, clipped to the
#: lengths below); either may be absent.
REQUESTED_BY_ANNOTATION = "uplift.dev/requested-by"
REQUEST_REASON_ANNOTATION = "uplift.dev/request-reason"
REQUESTED_BY_MAX = 128
REQUEST_REASON_MAX = 256
_ACTOR_TOKEN_MAX = 64
#: How many tokens of each request annotation are remembered as handled: the last one
#: (``status.handledRequests``, as written) and up to 7 before it
#: (``status.earlierHandledRequests``, newest first, each ``remembered``). One remembered
#: token is not enough: Git holding ``uplift.dev/retry: git-1``, an on-call ``kubectl uplift
#: retry`` writes a new token, and Argo CD's self-heal (or its next sync) puts ``git-1`` back,
#: which a status holding only the on-call token took for a new request, acted on again.
HANDLED_TOKENS_KEPT = 8
# How a token is kept among the handled ones (``remembered``, ``remembered_as_kept``,
# ``REMEMBERED_TOKEN_MAX``, ``REMEMBERED_FORM_MAX``) is ``handled_tokens``', which the API's
# status model reads stored tokens by too: one rule, re-exported here. A status
# written before the last one was kept so holds it as written: read as the same token
# (``is_handled``).


class RequestKind(StrEnum):
    """A manual request kind, in the order they are acted on when several are pending."""

    EMERGENCY_ROLLBACK = "emergencyRollback"
    ABORT = "abort"
    RETRY = "retry"
    PROMOTE_FULL = "promoteFull"
    PROMOTE = "promote"
    # A request annotation whose value asks for nothing known: reported once per value (a
    # Warning event and a history entry), never acted on.
    UNRECOGNISED = "unrecognised"


@dataclass(frozen=True)
class ManualRequest:
    """A request found in an annotation; acted on once per distinct ``token`` (its value)."""

    kind: RequestKind
    key: str  # the annotation key, also the key in status.handledRequests
    token: str  # the annotation value
    problem: str = ""  # UNRECOGNISED: why the value asks for nothing
    # Who asks and why (``REQUESTED_BY_ANNOTATION``, ``REQUEST_REASON_ANNOTATION``), sanitised
    # and clipped (``companion``); empty when not given. Not part of the request's identity.
    requested_by: str = field(default="", compare=False)
    request_reason: str = field(default="", compare=False)

    @property
    def note(self) -> str:
        """Who asks and why, as appended to the words of the action taken: " by alice: the
        p99 regression is known", " by alice", ": the p99 regression is known", or nothing."""
        by = f" by {self.requested_by}" if self.requested_by else ""
        return f"{by}: {self.request_reason}" if self.request_reason else by

    def said(self, words: str) -> str:
        """``words`` (what was done, e.g. "aborted by hand") with who asks and why."""
        return f"{words}{self.note}"

    @property
    def actor(self) -> str:
        # Clipped: an annotation value may be 256 KiB; the history's actor field holds 253.
        token = self.token if len(self.token) <= _ACTOR_TOKEN_MAX else (
            self.token[:_ACTOR_TOKEN_MAX - 1] + "…")
        return f"annotation {self.key}={token}"


def parse_requests(annotations: Mapping[str, str]) -> tuple[ManualRequest, ...]:
    """The manual requests among ``annotations``.

    ``uplift.dev/promote``: ``step`` or ``full``, optionally ``:token`` (e.g. ``full:2``) so the
    same mode can be asked again; ``uplift.dev/abort``, ``uplift.dev/retry`` and
    ``uplift.dev/emergency-rollback``: any non-empty token (e.g. a timestamp). A value already in
    ``status.handledRequests`` is not acted on again, nor is one among the last
    ``HANDLED_TOKENS_KEPT`` (8) of its key (``status.earlierHandledRequests``: ``is_handled``):
    that one is ignored as put back (``is_replayed``: by a GitOps sync or by hand), so a bare
    ``step`` written again after ``step:2``, or a retry ``1`` after ``2`` after ``1``, does
    nothing: always write a fresh token. Any other value of these keys (a promote mode such as
    ``true``, an empty value) is an ``UNRECOGNISED`` request carrying why.
    """
    found: list[ManualRequest] = []
    who = companion(annotations.get(REQUESTED_BY_ANNOTATION), REQUESTED_BY_MAX)
    why = companion(annotations.get(REQUEST_REASON_ANNOTATION), REQUEST_REASON_MAX)
    if PROMOTE_ANNOTATION in annotations:
        promote = annotations[PROMOTE_ANNOTATION]
        mode = promote.split(":", 1)[0]
        if mode in ("step", "full"):
            kind = RequestKind.PROMOTE if mode == "step" else RequestKind.PROMOTE_FULL
            found.append(ManualRequest(kind, PROMOTE_ANNOTATION, promote))
        else:
            found.append(ManualRequest(
                RequestKind.UNRECOGNISED, PROMOTE_ANNOTATION, promote,
                f"{_shown(promote)} is not a promote mode: use step or full, optionally with "
                ":<token> to ask again (e.g. full:2)"))
    for key, kind in ((ABORT_ANNOTATION, RequestKind.ABORT), (RETRY_ANNOTATION, RequestKind.RETRY),
                      (EMERGENCY_ROLLBACK_ANNOTATION, RequestKind.EMERGENCY_ROLLBACK)):
        if key not in annotations:
            continue
        if annotations[key].strip():
            found.append(ManualRequest(kind, key, annotations[key]))
        else:
            found.append(ManualRequest(RequestKind.UNRECOGNISED, key, annotations[key],
                                       "an empty value asks for nothing: give a token, e.g. a "
                                       "timestamp"))
    return tuple(ManualRequest(r.kind, r.key, r.token, r.problem, who, why) for r in found)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def companion(value: object, limit: int) -> str:
    """A companion annotation's value as the history and events show it: control characters
    (newlines, escapes: a terminal reading ``kubectl uplift status`` must not be driven by
    them) replaced by a space, runs of spaces made one, clipped to ``limit`` characters
    ("…" last). Anything but a text, or only blanks: empty."""
    if not isinstance(value, str):
        return ""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shown(value: str) -> str:
    return repr(value if len(value) <= _ACTOR_TOKEN_MAX else value[:_ACTOR_TOKEN_MAX - 1] + "…")


def _forms(token: str) -> tuple[str, str]:
    """How ``token`` may be stored: as written (short, or by an earlier release) or remembered."""
    return token, remembered(token)


def _earlier(earlier: Mapping[str, object], key: str) -> list[str]:
    """The earlier handled tokens of ``key``, newest first; whatever is not a list of texts
    (a status edited by hand, read by the plugin as stored) holds none."""
    tokens = earlier.get(key)
    if not isinstance(tokens, (list, tuple)):
        return []
    return [t for t in tokens if isinstance(t, str)]


def _is_last(request: ManualRequest, last: Mapping[str, object]) -> bool:
    """Whether ``last`` (``status.handledRequests``) holds ``request``'s token, remembered or,
    as a release before that stored it, as written."""
    return last.get(request.key) in _forms(request.token)


def is_replayed(request: ManualRequest, last: Mapping[str, object],
                earlier: Mapping[str, object]) -> bool:
    """Whether ``request``'s token was handled before the last one of its key: a value put
    back (by a GitOps sync restoring what Git holds, or by hand), not a new request. ``last``
    is ``status.handledRequests``, ``earlier`` ``status.earlierHandledRequests``."""
    return (not _is_last(request, last)
            and remembered(request.token) in _earlier(earlier, request.key))


def is_handled(request: ManualRequest, last: Mapping[str, object],
               earlier: Mapping[str, object]) -> bool:
    """Whether ``request``'s token was handled already: the last one of its key, or one of the
    earlier ones (``is_replayed``). A request not handled is pending: acted on once. A status
    written before ``status.earlierHandledRequests`` (a plain token per key) holds the last
    one only, read as such; one written before the last one was ``remembered`` holds it as
    written, read as the same token."""
    return _is_last(request, last) or is_replayed(request, last, earlier)


def handled_after(request: ManualRequest, last: Mapping[str, str],
                  earlier: Mapping[str, list[str]]
                  ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``(handledRequests, earlierHandledRequests)`` once ``request`` is handled: its token,
    ``remembered``, the last of its key, the one it replaces the newest of the earlier ones
    (``remembered`` too), its own token no longer among them, at most ``HANDLED_TOKENS_KEPT``
    in all (the oldest dropped). Other keys stay as they are, but for a token a release before
    this one kept whole in ``handledRequests``: remembered too (each value at most
    ``REMEMBERED_FORM_MAX`` characters, as the CRD declares)."""
    key, token = request.key, request.token
    forms = _forms(token)
    kept = [t for t in _earlier(earlier, key) if t != remembered(token)]
    previous = last.get(key)
    if previous is not None and previous not in forms:
        shown = remembered_as_kept(previous)
        kept = [shown, *(t for t in kept if t != shown)]
    after = {**earlier}
    if kept:
        after[key] = kept[:HANDLED_TOKENS_KEPT - 1]
    else:
        after.pop(key, None)
    handled = {k: remembered_as_kept(v) if isinstance(v, str) else v for k, v in last.items()}
    return {**handled, key: remembered(token)}, after
