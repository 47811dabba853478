"""The report tokens: one per line, any accepted; the token file re-read while the runtime runs.

The file is laid out and updated as the kubelet does a ``secret`` volume's
(``devenv.serving_agent.project``: a new ``..<time>`` directory, the ``..data`` link swapped);
time is passed in (a monotonic clock), the ``stat`` and ``read`` injected where a test needs to
count or fail them. Nothing sleeps.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from uplift_operator.devenv.serving_agent import project
from uplift_operator.runtime.config import (
    REPORT_TOKEN_ENV,
    REPORT_TOKEN_FILE_ENV,
    ConfigError,
    report_tokens,
)
from uplift_operator.runtime.report_tokens import RECHECK_SECONDS, Reload, ReportTokens

NEW = "report-token-new-0123456789abcdef"
OLD = "report-token-old-0123456789abcdef"


def _volume(root: Path, value: str) -> str:
    """The Secret's key in a secret volume at ``root`` (projected anew), the file's path."""
    project(root, {"token": value})
    return str(root / "token")


def _from_file(path: str, now: float = 0.0) -> ReportTokens:
    tokens = ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: path}, now)
    assert tokens is not None and tokens.watched
    return tokens


def test_any_listed_token_is_accepted_and_nothing_else() -> None:
    """One per line: a rotation lists the new and the old; blank lines, a trailing newline and
    CRLF line ends are not part of a token."""
    assert report_tokens(f"{NEW}\n{OLD}\n".encode(), "x") == (NEW.encode(), OLD.encode())
    assert report_tokens(f"\r\n {NEW}\r\n\r\n{OLD}\r\n".encode(), "x") == (NEW.encode(),
                                                                          OLD.encode())
    tokens = ReportTokens(report_tokens(f"{NEW}\n{OLD}".encode(), "x"), "x")
    assert tokens.accepts(NEW.encode()) and tokens.accepts(OLD.encode())
    for other in (b"", NEW[:-1].encode(), f"{NEW}\n{OLD}".encode(), f"{NEW}{OLD}".encode(),
                  b"report-token-other-0123456789abcdef"):
        assert not tokens.accepts(other), other


@pytest.mark.parametrize(("raw", "error"), [
    ("short-token", "UPLIFT_REPORT_TOKEN: the report token must have at least 16 characters$"),
    ("a token with spaces in it", "UPLIFT_REPORT_TOKEN: the report token must be printable "
                                  "ASCII without spaces$"),
    ("tab\tinside-0123456789abcdef", "printable ASCII"),
    ("non-ascii-tökén-0123456789abcdef", "printable ASCII"),
    ("   \n", "UPLIFT_REPORT_TOKEN holds no report token"),
    (f"{NEW}\nshort-token\n", "UPLIFT_REPORT_TOKEN: line 2: the report token must have at least "
                              "16 characters$"),
    (f"{NEW}\n\nnon-ascii-tökén-0123456789abcdef", "line 3: .*printable ASCII"),
])
def test_an_unusable_token_is_named_by_its_source_and_line_never_its_value_or_length(
        raw: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as caught:
        report_tokens(raw.encode(), REPORT_TOKEN_ENV)
    message = str(caught.value)
    for line in raw.split("\n"):
        assert not line.strip() or line.strip() not in message
    assert "has " not in message and "11" not in message  # "short-token" has 11: not said


def test_the_sources_the_environment_names() -> None:
    assert ReportTokens.from_environment({}, 0.0) is None
    assert ReportTokens.from_environment({REPORT_TOKEN_ENV: "", REPORT_TOKEN_FILE_ENV: ""},
                                         0.0) is None
    fixed = ReportTokens.from_environment({REPORT_TOKEN_ENV: f" {NEW}\n"}, 0.0)
    assert fixed is not None and fixed.tokens == (NEW.encode(),) and not fixed.watched
    assert fixed.source == REPORT_TOKEN_ENV
    assert fixed.refresh(1e9) is None  # nothing to re-read
    with pytest.raises(ConfigError, match="both set; set one"):
        ReportTokens.from_environment({REPORT_TOKEN_ENV: NEW, REPORT_TOKEN_FILE_ENV: "/x"}, 0.0)


@pytest.mark.parametrize(("content", "error"), [
    (None, r"^UPLIFT_REPORT_TOKEN_FILE: .*/token is not there$"),
    ("", r"^UPLIFT_REPORT_TOKEN_FILE \(.*/token\) holds no report token"),
    ("\n\n", "holds no report token"),
    ("short-token\n", r"^UPLIFT_REPORT_TOKEN_FILE \(.*/token\): the report token must have at "
                      "least 16 characters$"),
    (f"{NEW}\nshort-token", r"\(.*/token\): line 2: the report token must have at least"),
])
def test_at_load_an_unusable_file_fails_as_an_unusable_variable_does(
        tmp_path: Path, content: str | None, error: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=error):
        ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: str(path)}, 0.0)


def test_at_load_an_unreadable_file_fails_naming_why(tmp_path: Path) -> None:
    path = _volume(tmp_path, NEW)

    def denied(_: str) -> bytes:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(ConfigError, match=r"^UPLIFT_REPORT_TOKEN_FILE: .*/token cannot be read: "
                                          r"Permission denied$"):
        ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: path}, 0.0, read=denied)


def test_a_rotation_the_kubelet_projects_is_taken_without_a_restart(tmp_path: Path) -> None:
    """The documented procedure: the new token added as a second line, then the old removed."""
    path = _volume(tmp_path, OLD)
    tokens = _from_file(path, now=100.0)
    assert list(tokens.tokens) == [OLD.encode()]
    assert tokens.refresh(100.0 + RECHECK_SECONDS) is None  # nothing changed

    _volume(tmp_path, f"{NEW}\n{OLD}\n")
    assert tokens.refresh(102.0) == Reload(ok=True)
    assert list(tokens.tokens) == [NEW.encode(), OLD.encode()]
    assert tokens.accepts(NEW.encode()) and tokens.accepts(OLD.encode())

    _volume(tmp_path, f"{NEW}\n")
    assert tokens.refresh(103.0) == Reload(ok=True)
    assert tokens.accepts(NEW.encode()) and not tokens.accepts(OLD.encode())
    assert tokens.refresh(104.0) is None


def test_the_file_is_looked_at_once_a_second_at_most_and_read_only_when_it_changed(
        tmp_path: Path) -> None:
    path = _volume(tmp_path, OLD)
    stats: list[str] = []
    reads: list[str] = []

    def stat(p: str) -> os.stat_result:
        stats.append(p)
        return os.stat(p)

    def read(p: str) -> bytes:
        reads.append(p)
        return Path(p).read_bytes()

    tokens = ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: path}, 50.0, stat=stat,
                                           read=read)
    assert tokens is not None
    at_load = len(stats), len(reads)
    _volume(tmp_path, NEW)
    # Requests within the second after the load (or the last look) cost no stat at all.
    for now in (50.0, 50.2, 50.9):
        assert tokens.refresh(now) is None
    assert (len(stats), len(reads)) == at_load
    assert tokens.tokens == (OLD.encode(),)
    assert tokens.refresh(51.0) == Reload(ok=True)
    assert tokens.tokens == (NEW.encode(),)
    looked = len(stats)
    assert tokens.refresh(51.5) is None and len(stats) == looked
    # Unchanged: a stat, no read.
    reads_before = len(reads)
    assert tokens.refresh(52.0) is None
    assert len(stats) > looked and len(reads) == reads_before


def test_an_invalid_version_keeps_the_last_valid_tokens_and_is_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _volume(tmp_path, NEW)
    tokens = _from_file(path)
    caplog.set_level(logging.INFO, logger="uplift_operator.runtime")
    _volume(tmp_path, f"{NEW}\nshort-token\n")  # an edit gone wrong
    reload = tokens.refresh(1.0)
    assert reload is not None and not reload.ok
    assert reload.error is not None and "line 2" in reload.error
    assert tokens.tokens == (NEW.encode(),)  # never no token: the endpoints stay closed
    assert tokens.accepts(NEW.encode())
    for now in (2.0, 3.0, 4.0):  # the same version: not reported again
        assert tokens.refresh(now) is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "line 2" in errors[0].getMessage() and "last valid report tokens (1)" in (
        errors[0].getMessage())
    assert "short-token" not in caplog.text and NEW not in caplog.text

    _volume(tmp_path, "")  # emptied: no token at all is no valid version either
    empty = tokens.refresh(5.0)
    assert empty is not None and not empty.ok and "holds no report token" in str(empty.error)
    assert tokens.tokens == (NEW.encode(),)

    _volume(tmp_path, f"{OLD}\n")  # fixed: taken
    assert tokens.refresh(6.0) == Reload(ok=True)
    assert tokens.tokens == (OLD.encode(),)
    assert any("report tokens reloaded" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)


def test_a_file_that_goes_missing_or_unreadable_keeps_the_tokens_until_it_is_back(
        tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(NEW)
    readable = [True]

    def read(p: str) -> bytes:
        if not readable[0]:
            raise PermissionError(13, "Permission denied")
        return Path(p).read_bytes()

    tokens = ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: str(path)}, 0.0, read=read)
    assert tokens is not None
    path.unlink()
    gone = tokens.refresh(1.0)
    assert gone is not None and not gone.ok and "is not there" in str(gone.error)
    assert tokens.refresh(2.0) is None and tokens.tokens == (NEW.encode(),)

    readable[0] = False
    path.write_text(OLD)
    denied = tokens.refresh(3.0)
    assert denied is not None and not denied.ok and "Permission denied" in str(denied.error)
    assert tokens.refresh(4.0) is None  # tried again, reported once
    assert tokens.tokens == (NEW.encode(),)
    readable[0] = True
    assert tokens.refresh(5.0) == Reload(ok=True)  # the same version, readable now
    assert tokens.tokens == (OLD.encode(),)
