"""kubectl uplift: the patches it writes and the summary it prints (no cluster needed)."""

from __future__ import annotations

import pytest

from uplift_operator import ctl
from uplift_operator.domain.ramp import RequestKind, parse_requests


@pytest.mark.parametrize(("command", "full", "kind"), [
    ("promote", False, RequestKind.PROMOTE), ("promote", True, RequestKind.PROMOTE_FULL),
    ("abort", False, RequestKind.ABORT), ("retry", False, RequestKind.RETRY),
    ("rollback", False, RequestKind.EMERGENCY_ROLLBACK),
])
def test_requests_are_annotations_the_ramp_reads_with_a_fresh_token(
        command: str, full: bool, kind: RequestKind) -> None:
    first = ctl._patch_for(command, full)["metadata"]["annotations"]
    second = ctl._patch_for(command, full)["metadata"]["annotations"]
    assert [r.kind for r in parse_requests(first)] == [kind]
    assert first != second, "a repeated request carries a new token, so it acts again"


@pytest.mark.parametrize(("command", "paused"), [("pause", True), ("resume", False)])
def test_pause_and_resume_set_the_spec_field(command: str, paused: bool) -> None:
    assert ctl._patch_for(command, False) == {"spec": {"rollout": {"paused": paused}}}


def test_status_summary_names_gates_and_history() -> None:
    body = {
        "metadata": {"namespace": "growth", "name": "m"},
        "spec": {"rollout": {"steps": [{"weight": 10}, {"weight": 50}]}},
        "status": {"phase": "Degraded", "message": "rolled back", "stableVersion": "3",
                   "canaryWeight": 0, "currentStep": 1,
                   "gates": [{"name": "errors", "verdict": "Fail", "value": 0.031,
                              "threshold": 0.012, "samples": 5400, "message": "too many"}],
                   "history": [{"time": "t", "action": "RolledBack", "version": "4",
                                "reason": "gate errors failed", "actor": "operator"}]},
    }
    text = ctl.render_status(body)
    assert "Phase:     Degraded  rolled back" in text
    assert "step 2/2" in text
    assert "errors           Fail         value=0.031 threshold=0.012 samples=5400  too many" in text
    assert "RolledBack" in text and "gate errors failed" in text
