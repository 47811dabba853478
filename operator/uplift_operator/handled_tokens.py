"""How a handled request token is kept in a status: the one rule the API's status model and the
domain's request handling share.

``status.handledRequests`` and ``status.earlierHandledRequests`` keep a token as written up to
``REMEMBERED_TOKEN_MAX`` characters, a longer one (an annotation value may be 256 KiB) as
``sha256:<hex digest>`` (``REMEMBERED_FORM_MAX``, 71 characters, so never equal to a token kept
as written), which bounds the status whatever the tokens. The status model reads a token an
earlier release kept whole as its digest (``api.v1alpha1.common.StatusBase``); the request
rules compare and store by it (``domain.requests``, which re-exports these).

Standard library only, and imports nothing of the package: ``kubectl uplift`` imports
``domain.requests`` and must not import pydantic or the API (``.importlinter``).
"""

from __future__ import annotations

import hashlib

__all__ = ["REMEMBERED_FORM_MAX", "REMEMBERED_TOKEN_MAX", "remembered", "remembered_as_kept"]

#: The longest token kept as written.
REMEMBERED_TOKEN_MAX = 64
_DIGEST_PREFIX = "sha256:"
#: The longest token as remembered (``remembered``): ``sha256:`` and 64 hex digits.
REMEMBERED_FORM_MAX = len(_DIGEST_PREFIX) + 64


def remembered(token: str) -> str:
    """How ``token`` is kept among the handled tokens: as written up to
    ``REMEMBERED_TOKEN_MAX`` characters, else as its SHA-256 digest."""
    if len(token) <= REMEMBERED_TOKEN_MAX:
        return token
    return _DIGEST_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _is_digest(value: str) -> bool:
    return (len(value) == REMEMBERED_FORM_MAX and value.startswith(_DIGEST_PREFIX)
            and all(c in "0123456789abcdef" for c in value[len(_DIGEST_PREFIX):]))


def remembered_as_kept(stored: str) -> str:
    """A handled token as stored (``remembered`` already, or as written by a release that kept
    the last one whole) in its remembered form: a digest stays as it is (not hashed again)."""
    return stored if _is_digest(stored) else remembered(stored)
