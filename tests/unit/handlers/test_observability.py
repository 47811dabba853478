"""The per-resource last-pass gauge: set when a pass completes, to when it began; dropped on delete."""

from __future__ import annotations

import time

import pytest

from uplift_operator.handlers import observability


def _last_pass(namespace: str, name: str) -> float | None:
    value = observability.REGISTRY.get_sample_value(
        "uplift_operator_last_pass_timestamp_seconds",
        {"kind": "UpliftModel", "namespace": namespace, "name": name})
    return value


def test_a_completed_pass_records_when_it_began() -> None:
    before = time.time()
    with observability.reconciling("UpliftModel", "ns", "ok-model"):
        began_inside = time.time()
    value = _last_pass("ns", "ok-model")
    assert value is not None and before <= value <= began_inside


def test_a_failed_pass_records_nothing_and_delete_forgets() -> None:
    with pytest.raises(RuntimeError), observability.reconciling("UpliftModel", "ns", "bad-model"):
        raise RuntimeError("boom")
    assert _last_pass("ns", "bad-model") is None
    with observability.reconciling("UpliftModel", "ns", "gone-model"):
        pass
    observability.forget("UpliftModel", "ns", "gone-model")
    assert _last_pass("ns", "gone-model") is None
