"""The report token format: the one parsing rule the serving runtime and the operator share.

The report endpoints' bearer tokens (``spec.serving.reportCredentials``' Secret key, the
runtime's ``UPLIFT_REPORT_TOKEN_FILE`` or ``UPLIFT_REPORT_TOKEN``) are read by the runtime
(``runtime.config.report_tokens``, ``runtime.report_tokens``) and checked by the operator before
it renders the reference (``services.upliftmodel``); both call :func:`report_tokens`, so a value
the pods accept is never ``InvalidSpec`` and the reverse (docs/runtime.md, "Sender
authentication").

Standard library only, and imports nothing of the package: the operator may not import the
runtime (``.importlinter``, operator-slim), nor the runtime the operator (data-plane-apart).
"""

from __future__ import annotations

__all__ = ["REPORT_TOKEN_MIN_LENGTH", "ReportTokenError", "report_tokens"]

#: The fewest characters of one report token (a shorter one is guessed online).
REPORT_TOKEN_MIN_LENGTH = 16


class ReportTokenError(ValueError):
    """Report tokens that cannot be used; the message says where (the source, the line), never
    a token nor its length."""


def report_tokens(raw: bytes, source: str) -> tuple[bytes, ...]:
    """The bearer tokens ``raw`` lists, one per line, in order: report senders may present any
    of them (two during a rotation: the new one and the old one). ``source`` names where
    ``raw`` came from in an error (a variable, a file or a Secret's key, never the value).

    Surrounding whitespace of each line is dropped (``echo token | base64`` and an editor's
    last line add a newline; a CRLF file its carriage returns) and blank lines are skipped;
    each token left must be at least ``REPORT_TOKEN_MIN_LENGTH`` printable ASCII characters
    without spaces (it travels in an HTTP header; a shorter one is guessed online), and there
    must be one at least. Raises :class:`ReportTokenError` for the first line at fault, saying
    which line when there are several, never the token nor its length.
    """
    several = b"\n" in raw.strip()  # a single token's error needs no line number
    tokens: list[bytes] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        token = line.strip()
        if not token:
            continue
        where = f"{source}: line {number}" if several else source
        if not all(0x21 <= byte <= 0x7E for byte in token):
            raise ReportTokenError(f"{where}: the report token must be printable ASCII without "
                                   "spaces")
        if len(token) < REPORT_TOKEN_MIN_LENGTH:
            raise ReportTokenError(f"{where}: the report token must have at least "
                                   f"{REPORT_TOKEN_MIN_LENGTH} characters")
        tokens.append(token)
    if not tokens:
        raise ReportTokenError(f"{source} holds no report token (at least one line of "
                               f"{REPORT_TOKEN_MIN_LENGTH} printable ASCII characters)")
    return tuple(tokens)
