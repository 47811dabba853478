"""``uplift-operator dev``'s summary names the report only when one was written: a run stopped
before the first sample (or whose report failed) used to print a path with no file behind it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from uplift_operator.devenv import report as report_module
from uplift_operator.devenv.up import _summary, _write_report


def _stack(samples: list[Any] | None) -> Any:
    recorder = None if samples is None else SimpleNamespace(samples=samples, marks=[])
    return SimpleNamespace(recorder=recorder, timings={}, router=None)


@pytest.mark.parametrize("samples", [None, []])
def test_no_sample_no_report_and_the_summary_says_so(
        samples: list[Any] | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = _stack(samples)
    written = _write_report(stack, [], tmp_path / "report.png")
    assert not (tmp_path / "report.png").exists()
    _summary([], stack, written)
    assert "Report: none (stopped before the first sample)" in capsys.readouterr().out


def test_a_failed_report_is_said_instead_of_its_path(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(*args: Any) -> None:
        raise ValueError("no axes")

    monkeypatch.setattr(report_module, "write_png", broken)
    assert _write_report(_stack([object()]), [], tmp_path / "r.png") == "none (ValueError: no axes)"


def test_a_written_report_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(report_module, "write_png",
                        lambda samples, marks, outcomes, path: path.write_bytes(b"png"))
    stack = _stack([object()])
    written = _write_report(stack, [], tmp_path / "r.png")
    assert written == tmp_path / "r.png" and written.exists()
    _summary([], stack, written)
    assert f"Report: {tmp_path / 'r.png'}" in capsys.readouterr().out
