"""domain.pruned: which status fields a write sent and the API server did not keep."""

from __future__ import annotations

from uplift_operator.domain.pruned import pruned_paths


def test_a_status_kept_whole_has_nothing_pruned() -> None:
    sent = {"phase": "Progressing", "gates": [{"name": "g", "sequentialState": {"n": 3}}]}
    assert pruned_paths(sent, sent) == []


def test_fields_missing_at_any_depth_are_named_once() -> None:
    sent = {"phase": "Progressing", "resumedAt": "2026-12-05T00:00:00Z",
            "incrementalEffect": {"lower": 0.1, "upper": 0.3},
            "gates": [{"name": "a", "settingsDigest": "x", "sequentialState": {"counts": [1]}},
                      {"name": "b", "settingsDigest": "y"}]}
    kept = {"phase": "Progressing", "incrementalEffect": {"upper": 0.3},
            "gates": [{"name": "a", "sequentialState": {}}, {"name": "b"}]}
    assert pruned_paths(sent, kept) == [
        "status.gates[].sequentialState.counts", "status.gates[].settingsDigest",
        "status.incrementalEffect.lower", "status.resumedAt"]


def test_removals_and_replaced_lists_are_not_pruning() -> None:
    # None removes a key in a merge patch; a list of another length is another list, not a
    # pruned one; a scalar kept with another value is not a missing field.
    sent = {"message": None, "gates": [{"name": "a", "x": 1}], "phase": "Healthy"}
    kept = {"gates": [{"name": "a"}, {"name": "b"}], "phase": "Degraded"}
    assert pruned_paths(sent, kept) == []
    assert pruned_paths({"phase": "Healthy"}, None) == ["status.phase"]
