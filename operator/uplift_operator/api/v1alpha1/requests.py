"""Manual requests: annotations a human (or ``kubectl uplift``) writes, acted on once each.

GitOps-friendly by construction: a request is an annotation whose value is a token (the CLI writes
the current time). The operator acts when the token differs from the one recorded in
``status.handledRequests`` and then records it, so a re-sync by Argo CD, a restart of the operator
or a second look never repeats the action, and no spec change is needed to retry after an abort.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["ANNOTATION_PREFIX", "Request", "pending_requests"]

ANNOTATION_PREFIX = "uplift.dev/"


class Request(StrEnum):
    """The manual actions, by annotation key suffix."""

    PROMOTE_STEP = "promote-step"      # advance one step now, whatever the gates say
    PROMOTE_FULL = "promote-full"      # promote the canary to stable now
    ABORT = "abort"                    # roll the canary back, as a failed gate would
    RETRY = "retry"                    # forget an aborted version and ramp it again from step 0
    ROLLBACK = "rollback"              # emergency: back to the previous stable version at once

    @property
    def annotation(self) -> str:
        return ANNOTATION_PREFIX + self.value


def pending_requests(annotations: Mapping[str, str],
                     handled: Mapping[str, str]) -> dict[Request, str]:
    """Requests whose token has not been acted on yet, with their tokens."""
    pending: dict[Request, str] = {}
    for request in Request:
        token = annotations.get(request.annotation)
        if token and handled.get(request.annotation) != token:
            pending[request] = token
    return pending
