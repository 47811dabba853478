"""The report tokens the runtime accepts, re-read from their file while it runs.

Two sources, at most one of them (both set is a configuration error, so it is clear which
tokens are in force):

- ``UPLIFT_REPORT_TOKEN``: the tokens themselves, read once at load (local development);
- ``UPLIFT_REPORT_TOKEN_FILE``: a file holding them. In a pod it is the key of the UpliftModel's
  ``spec.serving.reportCredentials`` Secret, mounted as a ``secret`` volume (``render.seldon``,
  never by ``subPath``, which the kubelet does not update). When the Secret changes the kubelet
  writes the new value into a new ``..<timestamp>`` directory and swaps the volume's ``..data``
  link, so :meth:`ReportTokens.refresh` looks at the file again (one ``stat`` through
  ``reloading.FileWatch``) at most once every ``RECHECK_SECONDS``, reads it only when it
  changed, and takes each new valid version: a token added to the Secret is accepted, a token
  removed is refused, without a restart.

Either holds one token per line (``config.report_tokens``, the rule of
``uplift_operator.report_token_format`` the operator checks the Secret with too): during a
rotation the new one and the old one, each accepted (docs/runtime.md, "Rotating the report
token").

A version of the file that is missing, cannot be read or holds no valid token after the load
leaves the last valid tokens in force — never no token, which would open the report endpoints
to anyone — and is reported once (the watch reports each version once): one error log line,
and ``Reload(ok=False)`` for the runtime's ``uplift_report_token_reloads_total{result="error"}``
and its ``uplift_report_token_file_refused`` gauge, 1 until a valid version is read.
At load the same file fails the load instead, as an unusable ``UPLIFT_REPORT_TOKEN`` does.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from uplift_operator.runtime.config import (
    REPORT_TOKEN_ENV,
    REPORT_TOKEN_FILE_ENV,
    ConfigError,
    report_tokens,
)
from uplift_operator.runtime.reloading import FileWatch

log = logging.getLogger("uplift_operator.runtime")

#: How often, at most, the token file is looked at again (a ``stat``; read only when changed).
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Reload:
    """What became of a new version of the token file: taken (``ok``), or why not."""

    ok: bool
    error: str | None = None


class ReportTokens:
    """The tokens in force, and the watch on their file (``None``: fixed at load)."""

    def __init__(self, tokens: tuple[bytes, ...], source: str, watch: FileWatch | None = None,
                 now: float = 0.0, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._tokens = tokens
        self.source = source  # where they come from, for the log: never the value
        self._watch = watch
        self._recheck_seconds = recheck_seconds
        self._next_check = now + recheck_seconds

    @classmethod
    def from_environment(
            cls, env: Mapping[str, str], now: float,
            stat: Callable[[str], os.stat_result] = os.stat,
            read: Callable[[str], bytes] = lambda path: Path(path).read_bytes(),
    ) -> ReportTokens | None:
        """The tokens ``env`` configures, read now (``now``: a monotonic clock, the time the
        next :meth:`refresh` counts from); ``None`` when neither variable is set or both are
        empty: the report endpoints then answer anyone who reaches them. Raises
        :class:`ConfigError` naming the variable (and the file), never a token."""
        value, path = env.get(REPORT_TOKEN_ENV), env.get(REPORT_TOKEN_FILE_ENV)
        if value and path:
            raise ConfigError(f"{REPORT_TOKEN_ENV} and {REPORT_TOKEN_FILE_ENV} are both set; "
                              "set one (the file is re-read when it changes)")
        if value:
            return cls(report_tokens(value.encode(), REPORT_TOKEN_ENV), REPORT_TOKEN_ENV)
        if not path:
            return None
        source = f"{REPORT_TOKEN_FILE_ENV} ({path})"
        watch = FileWatch(path, stat, read)
        change = watch.poll()  # the first poll always has news: nothing was seen before it
        if change is None or change.text is None:
            why = change.error if change is not None else None
            raise ConfigError(f"{REPORT_TOKEN_FILE_ENV}: {why or path + ' cannot be read'}")
        return cls(report_tokens(change.text, source), source, watch, now)

    @property
    def tokens(self) -> tuple[bytes, ...]:
        return self._tokens

    @property
    def watched(self) -> bool:
        """Whether the tokens come from a file that is re-read when it changes."""
        return self._watch is not None

    def accepts(self, given: bytes) -> bool:
        """Whether ``given`` is one of the tokens; each compared in constant time, all of them
        whatever matched (which one did is no one's business)."""
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(given, token)
        return matched

    def refresh(self, now: float) -> Reload | None:
        """Take the file's new version, if it has one and ``RECHECK_SECONDS`` have passed since
        the last look (``now``: the monotonic clock of ``from_environment``); ``None`` when
        there was nothing new to take. A version that is missing, unreadable or invalid keeps
        the tokens in force (logged once, ``Reload(ok=False)``)."""
        if self._watch is None or now < self._next_check:
            return None
        self._next_check = now + self._recheck_seconds
        change = self._watch.poll()
        if change is None:
            return None
        if change.text is None:
            error = f"{REPORT_TOKEN_FILE_ENV}: {change.error}"
        else:
            try:
                tokens = report_tokens(change.text, self.source)
            except ConfigError as exc:
                error = str(exc)
            else:
                self._tokens = tokens
                log.info("report tokens reloaded from %s: %d accepted", self.source, len(tokens))
                return Reload(ok=True)
        log.error("%s; the report endpoints keep accepting the last valid report tokens (%d) "
                  "until the file holds valid ones again", error, len(self._tokens))
        return Reload(ok=False, error=error)
