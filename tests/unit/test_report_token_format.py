"""The report token format is one rule: what the serving pods accept, the operator accepts.

The operator checks ``spec.serving.reportCredentials``' Secret key before it renders it
(``services.upliftmodel``), the runtime reads the same bytes from its file
(``runtime.report_tokens``): both through ``report_token_format.report_tokens``. A value one
side takes and the other refuses stopped a canary on a Secret the pods served with (a trailing
newline, as ``kubectl create secret --from-file`` of an editor's file writes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from uplift_operator import report_token_format
from uplift_operator.devenv.serving_agent import project
from uplift_operator.runtime.config import REPORT_TOKEN_FILE_ENV, ConfigError, report_tokens
from uplift_operator.runtime.report_tokens import RECHECK_SECONDS, ReportTokens
from uplift_operator.services.upliftmodel import _report_token_problems

ROOT = Path(__file__).resolve().parents[2]
NEW = "report-token-new-0123456789abcdef"
OLD = "report-token-old-0123456789abcdef"
WHERE = "spec.serving.reportCredentials: Secret 'report-senders' key 'token'"


def _pod_reads(tmp_path: Path, value: bytes) -> ReportTokens:
    """The tokens a serving pod takes from ``value`` projected into its secret volume."""
    project(tmp_path, {"token": value.decode()})
    tokens = ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: str(tmp_path / "token")}, 0.0)
    assert tokens is not None and tokens.watched
    return tokens


@pytest.mark.parametrize("value", [
    f"{NEW}\n{OLD}",
    f"{NEW}\n{OLD}\n",                   # an editor-saved file, `--from-file`
    f"{NEW}\r\n{OLD}\r\n",               # CRLF
    f"\n{NEW}\n\n\n{OLD}\n\n",           # blank lines
    f"  {NEW}\t\n {OLD} \n",             # spaces and tabs around a line
])
def test_a_layout_the_pods_accept_the_operator_accepts_with_the_same_tokens(
        tmp_path: Path, value: str) -> None:
    raw = value.encode()
    assert _report_token_problems(WHERE, raw) == []
    expected = (NEW.encode(), OLD.encode())
    assert report_token_format.report_tokens(raw, WHERE) == expected
    assert report_tokens(raw, "x") == expected
    assert _pod_reads(tmp_path, raw).tokens == expected


def test_one_token_with_a_trailing_newline_is_that_token_on_both_sides(tmp_path: Path) -> None:
    raw = f"{NEW}\n".encode()
    assert _report_token_problems(WHERE, raw) == []
    assert _pod_reads(tmp_path, raw).tokens == (NEW.encode(),)


@pytest.mark.parametrize(("value", "reason"), [
    ("short-token\n", ": the report token must have at least 16 characters"),
    (f"{NEW}\r\nshort-token\r\n", ": line 2: the report token must have at least 16 characters"),
    (f"{NEW}\n\nnot ascii-tökén-0123456789", ": line 3: the report token must be printable "
                                            "ASCII without spaces"),
    ("a token with spaces in it\n", ": the report token must be printable ASCII without spaces"),
    (" \r\n\t\n\n", " holds no report token (at least one line of 16 printable ASCII "
                    "characters)"),
    ("", " holds no report token (at least one line of 16 printable ASCII characters)"),
])
def test_a_value_the_pods_refuse_the_operator_refuses_for_the_same_reason(
        tmp_path: Path, value: str, reason: str) -> None:
    raw = value.encode()
    assert _report_token_problems(WHERE, raw) == [WHERE + reason]
    with pytest.raises(ConfigError) as at_load:
        report_tokens(raw, WHERE)
    assert str(at_load.value) == WHERE + reason
    # The pod at load: the same words, after the file it names.
    path = tmp_path / "token"
    path.write_bytes(raw)
    source = f"{REPORT_TOKEN_FILE_ENV} ({path})"
    with pytest.raises(ConfigError) as from_file:
        ReportTokens.from_environment({REPORT_TOKEN_FILE_ENV: str(path)}, 0.0)
    assert str(from_file.value) == source + reason
    # The pod while it runs: the version refused, the tokens in force kept.
    volume = tmp_path / "volume"
    tokens = _pod_reads(volume, OLD.encode())
    project(volume, {"token": value})
    reload = tokens.refresh(RECHECK_SECONDS)
    assert reload is not None and not reload.ok
    assert reload.error == f"{REPORT_TOKEN_FILE_ENV} ({volume / 'token'})" + reason
    assert tokens.tokens == (OLD.encode(),)
    for line in value.splitlines():
        assert not line.strip() or line.strip() not in reason


def test_the_shared_rule_imports_nothing_of_the_operator_or_the_runtime() -> None:
    """The operator may not import the runtime, nor the runtime the operator (.importlinter):
    the module both call stands alone (the standard library only)."""
    code = ("import sys\nimport uplift_operator.report_token_format\nimport json\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "operator")},
                         capture_output=True, text=True, check=True, timeout=120)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    ours = {m for m in loaded if m.startswith("uplift_operator")}
    assert ours == {"uplift_operator", "uplift_operator.report_token_format"}
    assert not {m.split(".")[0] for m in loaded} & {"numpy", "pydantic", "kopf", "prometheus_client"}
