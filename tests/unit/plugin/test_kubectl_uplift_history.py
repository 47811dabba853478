"""kubectl uplift status: the history it shows, and statuses of shapes it does not expect.

Before: the last 10 entries only, silently (a rollback older than those gone from view while
the status still held it), and each entry's level as ``at N%``, which is the level *after* the
decision (``DecisionRecord.weight``): ``RolledBack v2 at 0%`` for a canary that failed at 50 %,
``Promoted v5 at 0%``. And an entry without ``time``, a gate without ``verdict``, a condition
without ``reason``, ``spec.rollout`` null or ``handledRequests`` a list gave a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.plugin.test_kubectl_uplift import _fake_kubectl

from uplift_operator.domain import steps
from uplift_operator.plugin import kubectl_uplift as plugin

GET = "kubectl get upliftmodel m -n ns -o jsonpath='{.status.history}'"


def _model(status: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "m"}, "spec": spec or {}, "status": status}


def _entry(n: int, action: str = "StepAdvanced", version: str = "3", **more: Any) -> dict[str, Any]:
    return {"time": f"t{n:02d}", "action": action, "version": version,
            "reason": f"r{n}", **more}


def _history_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("History"))
    end = next((i for i, line in enumerate(lines) if line == "Conditions:"), len(lines))
    return lines[start:end]


def test_entries_left_out_are_counted_with_the_command_that_shows_them_all() -> None:
    history = [_entry(n) for n in range(14)]
    lines = _history_lines(plugin.render_status(_model({"history": history})))
    assert lines[:2] == [
        "History (newest last; the last 10 and every rollback before them):",
        f"  4 earlier entries not shown: {GET}"]
    assert lines[2] == "  … 4 not shown"
    assert [line.split()[0] for line in lines[3:]] == [f"t{n:02d}" for n in range(4, 14)]


def test_a_rollback_older_than_the_last_ten_is_shown_all_the_same() -> None:
    history = [_entry(0, "TrafficStarted", "2", weight=10), _entry(1, weight=50, version="2"),
               _entry(2, "RolledBack", "2", weight=0), _entry(3, "ManualAbort", "2",
                                                              reason="ignored: nothing to abort"),
               *(_entry(n, version="3", weight=10) for n in range(4, 16))]
    lines = _history_lines(plugin.render_status(_model({"history": history})))
    assert lines[1] == f"  5 earlier entries not shown: {GET}"
    assert lines[2:5] == [
        "  … 2 not shown",
        "  t02  RolledBack         v2 canary weight from 50% to 0%  r2 (operator)",
        "  … 3 not shown"]  # an ignored request recorded under ManualAbort is no rollback
    assert len(lines) == 5 + plugin.HISTORY_SHOWN


def test_up_to_ten_entries_are_all_shown_without_a_count() -> None:
    lines = _history_lines(plugin.render_status(_model({"history": [_entry(n) for n in range(10)]})))
    assert lines[0] == "History (newest last):" and len(lines) == 11


@pytest.mark.parametrize(("trimmed", "said"), [
    (1, "  1 older entry was dropped by the operator (status.historyTrimmed)"),
    (7, "  7 older entries were dropped by the operator (status.historyTrimmed)")])
def test_entries_the_operator_dropped_are_counted(trimmed: int, said: str) -> None:
    lines = _history_lines(plugin.render_status(
        _model({"history": [_entry(1)], "historyTrimmed": trimmed})))
    assert lines[1] == said
    campaign = {**_model({"historyTrimmed": trimmed}), "metadata": {"namespace": "ns", "name": "c"}}
    assert _history_lines(plugin.render_campaign(campaign)) == ["History (newest last):", said]
    # An older operator writes no such field; 0 says nothing.
    assert "dropped" not in plugin.render_status(_model({"history": [_entry(1)],
                                                         "historyTrimmed": 0}))


def test_the_command_names_the_kind_and_the_users_context(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_kubectl(tmp_path, monkeypatch, status={"history": [_entry(n) for n in range(12)]})
    assert plugin.main(["status", "campaign/spring", "--context", "prod"]) == 0
    assert ("  2 earlier entries not shown: kubectl get campaign spring -n growth --context prod "
            "-o jsonpath='{.status.history}'\n") in capsys.readouterr().out


def test_the_rollback_actions_are_the_operators() -> None:
    """The plugin ships without ``domain.steps``: its copy of what a rollback is must agree."""
    assert plugin.ROLLBACK_ACTIONS == steps.ROLLBACK_ACTIONS
    assert plugin.IGNORED_PREFIX == steps.IGNORED_PREFIX


def test_each_level_is_said_as_the_level_after_the_decision() -> None:
    """``Promoted v5 at 0%`` read as promoted with no traffic; ``RolledBack v2 at 0%`` as a
    canary rolled back from nothing."""
    history = [_entry(1, "TrafficStarted", "2", weight=10), _entry(2, version="2", weight=50),
               _entry(3, "RolledBack", "2", weight=0), _entry(4, "Promoted", "5", weight=0),
               _entry(5, "EmergencyRollback", "7", weight=0)]
    lines = _history_lines(plugin.render_status(_model({"history": history})))
    assert lines[1:] == [
        "  t01  TrafficStarted     v2 canary weight after: 10%  r1 (operator)",
        "  t02  StepAdvanced       v2 canary weight after: 50%  r2 (operator)",
        "  t03  RolledBack         v2 canary weight from 50% to 0%  r3 (operator)",
        "  t04  Promoted           v5  r4 (operator)",
        # No entry of v7 before it: what it rolled back from is not known.
        "  t05  EmergencyRollback  v7 canary weight after: 0%  r5 (operator)"]


def test_a_campaigns_rollback_says_the_exposure_it_withdrew() -> None:
    history = [_entry(1, "ExposureStarted", "3", percent=5.0), _entry(2, percent=20.0),
               _entry(3, "ManualAbort", "3", percent=0.0, actor="annotation uplift.dev/abort=1")]
    body = {"metadata": {"namespace": "ns", "name": "c"}, "spec": {}, "status": {"history": history}}
    lines = _history_lines(plugin.render_campaign(body))
    assert lines[2:] == [
        "  t02  StepAdvanced       v3 exposure after: 20%  r2 (operator)",
        "  t03  ManualAbort        v3 exposure from 20% to 0%  r3 "
        "(annotation uplift.dev/abort=1)"]


# Shapes an older or newer operator, or a hand edit, may leave.
SHAPES: dict[str, dict[str, Any]] = {
    "no namespace": {"metadata": {"name": "m"}},
    "history entry without time": {"status": {"history": [{"action": "Promoted"}]}},
    "history entry without action": {"status": {"history": [{"time": "t"}]}},
    "history action null": {"status": {"history": [{"time": "t", "action": None}]}},
    "history actor a list": {"status": {"history": [{"time": "t", "action": "A", "actor": []}],
                                        "handledRequests": {"uplift.dev/abort": "1"}}},
    "gate without verdict": {"status": {"gates": [{"name": "g"}]}},
    "gate verdict null": {"status": {"gates": [{"name": "g", "verdict": None}]}},
    "condition without reason": {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    "spec.rollout null": {"spec": {"rollout": None, "exposure": None, "economics": None},
                          "status": {"currentStep": 0}},
    "handledRequests a list": {"status": {"handledRequests": ["x"]}},
    "currentStep a string": {"spec": {"rollout": {"steps": [{}]}, "exposure": {"steps": [{}]}},
                             "status": {"currentStep": "1"}},
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("target", ["m", "campaign/m"])
def test_a_status_of_an_unexpected_shape_is_summarised_without_a_traceback(
        shape: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    body = SHAPES[shape]
    _fake_kubectl(tmp_path, monkeypatch, body.get("metadata", {}),
                  **{k: v for k, v in body.items() if k != "metadata"})
    assert plugin.main(["status", target]) == 0
    assert capsys.readouterr().out.startswith("Name:      ")


def test_a_status_the_summary_cannot_read_is_said_in_one_line_with_the_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(body: dict[str, Any], **_: Any) -> str:
        raise KeyError("verdict")

    _fake_kubectl(tmp_path, monkeypatch, status={"gates": [{"name": "g"}]})
    monkeypatch.setattr(plugin, "render_status", broken)
    assert plugin.main(["status", "spring", "--context", "prod"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("kubectl uplift: could not read the status of upliftmodel/spring (KeyError: "
                   "'verdict'); see it whole with `kubectl get upliftmodel spring -n growth "
                   "--context prod -o yaml`\n")


def test_fields_missing_or_null_show_as_a_dash() -> None:
    body = {"metadata": {"namespace": "ns", "name": "m"}, "status": {
        "gates": [{"name": "g", "verdict": None}],
        "history": [{"action": "Promoted"}],
        "conditions": [{"type": "Ready", "status": "True", "message": "ok"}]}}
    text = plugin.render_status(body)
    assert "  g                -            value=- threshold=- samples=-\n" in text
    assert "  -  Promoted           v-   (operator)\n" in text
    assert text.endswith("  Ready          True    -: ok")
