"""``kubectl uplift`` never sends a control character from the cluster to the terminal: a status
message quoting MLflow's error text, a registered model's name or an API server's error may
hold an escape sequence (a window title, a cleared screen, a line rewritten by a carriage
return), which the plugin shows as ``\\xNN`` instead; and a line break inside one field of a
summary shows as ``\\n``, so it cannot start a line that reads as the summary's own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from uplift_operator.plugin import kubectl_uplift as plugin

HOSTILE = "bad\x1b]2;owned\x07 \x1b[2J\x9b31m\rStable:    9\x00\x7f"
SHOWN = "bad\\x1b]2;owned\\x07 \\x1b[2J\\x9b31m\\x0dStable:    9\\x00\\x7f"
# The same within one field of a summary (``one_line``): the carriage return by its name.
FIELD = SHOWN.replace("\\x0d", "\\r")


def _controls(text: str) -> set[str]:
    """The control characters of ``text`` a terminal would act on (not the layout's)."""
    return {c for c in text if (ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0) and c not in "\n\t"}


def test_every_c0_and_c1_control_but_line_break_and_tab_is_shown_escaped() -> None:
    every = "".join(map(chr, range(0xa0)))
    shown = plugin.printable(every)
    assert not _controls(shown)
    assert "\n" in shown and "\t" in shown and "\\x1b" in shown and "\\x9b" in shown
    assert "\\x0a" not in shown and "\\x09" not in shown
    assert plugin.printable("modèle 日本 ✓ a\\b") == "modèle 日本 ✓ a\\b"  # printable as given
    assert plugin.printable(HOSTILE) == SHOWN


def _answering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text(f"#!{sys.executable}\nprint({json.dumps(body)!r})\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))


@pytest.mark.parametrize("target", ["m", "campaign/m"])
def test_status_shows_a_hostile_message_escaped(
        target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _answering(tmp_path, monkeypatch, {
        "metadata": {"namespace": "team", "name": "m"},
        "spec": {"modelRef": {"name": HOSTILE}},
        "status": {
            "phase": "Progressing", "message": f"version 2 of {HOSTILE} is not READY",
            "gates": [{"name": "errors", "verdict": "Error", "message": HOSTILE}],
            "history": [{"time": "2025-01-01T00:00:00Z", "action": "Rollback",
                         "reason": HOSTILE}],
            "conditions": [{"type": "ModelResolved", "status": "False",
                            "reason": "RegistryUnavailable", "message": HOSTILE}]}})
    assert plugin.main(["status", target]) == 0
    out = capsys.readouterr().out
    assert not _controls(out)
    assert f"version 2 of {FIELD} is not READY" in out
    assert out.count(FIELD) >= 4 and "\n" in out


def test_an_error_from_kubectl_is_shown_escaped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # (A carriage return from kubectl's stderr is a line break already: read as text.)
    hostile, shown = HOSTILE.replace("\r", ""), SHOWN.replace("\\x0d", "")
    fake = tmp_path / "kubectl"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write({hostile!r})\n"
                    "sys.exit(1)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))
    assert plugin.main(["abort", "m"]) == 1
    err = capsys.readouterr().err
    assert not _controls(err) and err == f"kubectl uplift: {shown}\n"


FORGED = "MLflow said:\nPaused:    yes, since now (spec.rollout.paused true)\r\n\tStable:    9"
FORGED_SHOWN = ("MLflow said:\\nPaused:    yes, since now (spec.rollout.paused true)\\r\\n"
                "\\tStable:    9")


def test_one_line_shows_line_breaks_and_tabs_by_name_and_other_controls_as_hex() -> None:
    every = "".join(map(chr, range(0xa0)))
    shown = plugin.one_line(every)
    assert not _controls(shown) and "\n" not in shown and "\t" not in shown
    assert "\\n" in shown and "\\r" in shown and "\\t" in shown and "\\x1b" in shown
    assert plugin.one_line(FORGED) == FORGED_SHOWN
    assert plugin.one_line("modèle 日本 ✓ a\\b") == "modèle 日本 ✓ a\\b"


@pytest.mark.parametrize("kind", ["upliftmodel", "campaign"])
def test_a_line_break_in_a_field_from_the_cluster_cannot_forge_a_line(kind: str) -> None:
    """Before: ``printable`` kept line breaks in the whole text, so a status message (MLflow's
    error text), a gate's message, a history reason or a condition's message holding one
    printed lines of its own: a ``Paused:`` line saying the opposite of the real one."""
    annotations = {"uplift.dev/abort": FORGED}
    body: dict[str, Any] = {
        "metadata": {"namespace": "team", "name": "m", "annotations": annotations},
        "spec": {"modelRef": {"name": FORGED}, "rollout": {"steps": []}},
        "status": {
            "phase": "Progressing", "message": FORGED, "stableVersion": FORGED,
            "gates": [{"name": "errors", "verdict": "Error", "message": FORGED}],
            "history": [{"time": "2025-01-01T00:00:00Z", "action": "Rollback",
                         "reason": FORGED, "actor": FORGED}],
            "conditions": [{"type": "ModelResolved", "status": "False",
                            "reason": "RegistryUnavailable", "message": FORGED,
                            "lastTransitionTime": FORGED}],
            "handledRequests": {"uplift.dev/retry": FORGED}}}
    render = plugin.render_status if kind == "upliftmodel" else plugin.render_campaign
    lines = render(body).splitlines()
    assert [line for line in lines if line.startswith("Paused:")] == [
        "Paused:    no (spec.rollout.paused false)" if kind == "upliftmodel"
        else "Paused:    no (spec.exposure.paused false)"]
    assert not any(line.startswith(("Stable:    9", "\tStable")) for line in lines)
    assert sum(FORGED_SHOWN in line for line in lines) >= 5  # phase, version, gate, history, condition
    # The pending request is compared on the value as written, then shown on one line.
    assert any(line.startswith("Requests:  pending  uplift.dev/abort=MLflow said:\\n")
               for line in lines)


def test_a_line_break_in_the_phase_message_stays_on_resumes_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _answering(tmp_path, monkeypatch, {
        "metadata": {"namespace": "team", "name": "m", "generation": 2},
        "spec": {"rollout": {"paused": False}},
        "status": {"phase": "Paused", "message": FORGED, "pausedAt": "t\nPaused:    no",
                   "observedGeneration": 2}})
    assert plugin.main(["resume", "m"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and FORGED_SHOWN in err and "since t\\nPaused:    no" in err
