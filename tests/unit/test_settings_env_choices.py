"""An option with a fixed set of values is checked when it comes from the environment too, and
a ``--metric-templates`` file that cannot be read or parsed is a usage error.

argparse checks ``choices`` only for a value given as a flag: ``UPLIFT_LOG_FORMAT=text`` passed
parsing and the operator died with ``KeyError: 'text'`` when it configured logging; a missing or
malformed templates file was a ``FileNotFoundError`` or a YAML traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from uplift_operator.settings import parse_args


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: uplift-operator run") and "Traceback" not in err
    return err


def test_a_log_format_from_the_environment_outside_its_choices_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UPLIFT_LOG_FORMAT", "text")
    err = _usage_error(capsys, ["-A"])
    assert ("uplift-operator run: error: argument --log-format: invalid choice: 'text' from "
            "UPLIFT_LOG_FORMAT (choose from 'json', 'plain', 'full')") in err
    # The flag wins, and is checked by argparse itself.
    assert parse_args(["-A", "--log-format", "plain"]).log_format == "plain"


@pytest.mark.parametrize("value", ["json", "plain", "full"])
def test_every_log_format_choice_is_taken_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("UPLIFT_LOG_FORMAT", value)
    assert parse_args(["-A"]).log_format == value


def test_an_empty_log_format_variable_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_LOG_FORMAT", "")
    assert parse_args(["-A"]).log_format == "json"


def _choice_actions() -> list[argparse.Action]:
    """The options with choices, from the parser parse_args builds (captured, not parsed)."""
    captured: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        captured.append(self)
        raise SystemExit(0)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(SystemExit):
            parse_args(["-A"])
    return [a for a in captured[0]._actions if a.choices is not None and a.option_strings]


def test_every_option_with_choices_refuses_an_environment_value_outside_them(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    actions = _choice_actions()
    assert actions, "no option with choices left: this test checks nothing"
    for action in actions:
        variable = f"UPLIFT_{action.dest.upper()}"
        with monkeypatch.context() as patch:
            patch.setenv(variable, "not-a-choice")
            err = _usage_error(capsys, ["-A"])
        assert (f"argument {action.option_strings[-1]}: invalid choice: 'not-a-choice' from "
                f"{variable}") in err


def test_a_missing_templates_file_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    err = _usage_error(capsys, ["-A", "--metric-templates", str(path)])
    assert f"error: --metric-templates {path}: cannot be read (No such file or directory)" in err


def test_a_templates_path_that_is_a_directory_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _usage_error(capsys, ["-A", "--metric-templates", str(tmp_path)])
    assert f"error: --metric-templates {tmp_path}: cannot be read" in err


def test_a_templates_file_that_is_not_yaml_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text("a: [\n")
    monkeypatch.setenv("UPLIFT_METRIC_TEMPLATES", str(path))  # from the environment as well
    err = _usage_error(capsys, ["-A"])
    assert f"error: --metric-templates {path}: not YAML (line 2, column 1: " in err


def test_a_templates_file_that_is_not_text_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    err = _usage_error(capsys, ["-A", "--metric-templates", str(path)])
    assert f"error: --metric-templates {path}: cannot be read" in err
