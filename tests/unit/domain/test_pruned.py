"""domain.pruned: which status fields a write sent and the API server did not keep."""

from __future__ import annotations

from typing import Any

from uplift_operator.domain.pruned import (
    FIELD_PATHS,
    MAP_PATHS,
    pruned_paths,
    refused_status_paths,
)


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
        "status.gates[].sequentialState.<key>", "status.gates[].settingsDigest",
        "status.incrementalEffect.lower", "status.resumedAt"]


def test_removals_and_replaced_lists_are_not_pruning() -> None:
    # None removes a key in a merge patch; a list of another length is another list, not a
    # pruned one; a scalar kept with another value is not a missing field.
    sent = {"message": None, "gates": [{"name": "a", "x": 1}], "phase": "Healthy"}
    kept = {"gates": [{"name": "a"}, {"name": "b"}], "phase": "Degraded"}
    assert pruned_paths(sent, kept) == []
    assert pruned_paths({"phase": "Healthy"}, None) == ["status.phase"]


def test_map_keys_are_user_data_and_never_name_a_field() -> None:
    """A gate's sequentialState is keyed by its tests (feature or treatment names): a field an
    older CRD prunes from every test is one path, not one per feature, so the ``field`` label
    of uplift_operator_status_fields_pruned_total stays bounded."""
    sent = {"gates": [{"name": "drift", "sequentialState": {
        f"feature_{i}": {"looks": 3, "carriedInfo": 1.0} for i in range(50)}}],
        "handledRequests": {"uplift.dev/retry": "t1"},
        "budgetLedgers": {"periodStart": "2026-12-01T00:00:00Z", "ledgers": {"pod-a/spring": 2.0}}}
    tests: dict[str, Any] = {f"feature_{i}": {"looks": 3} for i in range(50)}
    kept = {"gates": [{"name": "drift", "sequentialState": tests}],
            "handledRequests": {}, "budgetLedgers": {"periodStart": "2026-12-01T00:00:00Z"}}
    assert pruned_paths(sent, kept) == [
        "status.budgetLedgers.ledgers", "status.gates[].sequentialState.<key>.carriedInfo",
        "status.handledRequests.<key>"]
    # One test's whole entry dropped (an object the schema does not declare).
    del tests["feature_7"]
    assert "status.gates[].sequentialState.<key>" in pruned_paths(sent, kept)


def test_the_maps_are_read_from_both_kinds_status_models() -> None:
    maps = {"status.gates[].sequentialState", "status.handledRequests",
            "status.earlierHandledRequests", "status.budgetLedgers.ledgers"}
    assert maps == MAP_PATHS
    assert {"status.phase", "status.gates[].sequentialState.<key>.looks",
            "status.budgetLedgers.ledgers.<key>", "status.history[].reason"} <= FIELD_PATHS


def test_refused_fields_say_map_keys_and_indices_as_the_schema_does() -> None:
    """The causes of a 422 as the API server names them: list indices in brackets, a map's key
    as a segment (the OpenAPI validator) or in brackets (field.Path's Key), a key with dots."""
    assert refused_status_paths([
        "status.gates[0].sequentialState.feature_3.looks",
        "status.gates[1].sequentialState[feature_9].looks",
        "status.gates[2].sequentialState.mens.e-mail.looks",
        "status.handledRequests.uplift.dev/retry",
        "status.history[3].reason", "spec.rollout", "status"]) == [
        "status", "status.gates[].sequentialState.<key>.looks", "status.handledRequests.<key>",
        "status.history[].reason"]
