"""The manual-request annotation contract: which annotations ask the operator for what.

Role: one light module (standard library only) shared by the decision (``domain.ramp`` acts on
the requests) and by the clients that write them (``kubectl uplift``), so the plugin can import
the contract without pulling the ramp's numpy/scipy dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ABORT_ANNOTATION",
    "EMERGENCY_ROLLBACK_ANNOTATION",
    "PROMOTE_ANNOTATION",
    "RETRY_ANNOTATION",
    "ManualRequest",
    "RequestKind",
    "parse_requests",
]

PROMOTE_ANNOTATION = "uplift.dev/promote"  # value: step[:token] or full[:token]
ABORT_ANNOTATION = "uplift.dev/abort"  # value: any token
RETRY_ANNOTATION = "uplift.dev/retry"  # value: any token
EMERGENCY_ROLLBACK_ANNOTATION = "uplift.dev/emergency-rollback"  # value: any token
_ACTOR_TOKEN_MAX = 64


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
    ``status.handledRequests`` is not acted on again. Any other value of these keys (a promote
    mode such as ``true``, an empty value) is an ``UNRECOGNISED`` request carrying why.
    """
    found: list[ManualRequest] = []
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
    return tuple(found)


def _shown(value: str) -> str:
    return repr(value if len(value) <= _ACTOR_TOKEN_MAX else value[:_ACTOR_TOKEN_MAX - 1] + "…")
