"""The diff-base essence built without copying the status first is kopf's own essence."""

from __future__ import annotations

import copy
from typing import Any, cast

import kopf
import pytest

from uplift_operator.handlers.lifecycle import PREFIX, LeanDiffBaseStorage

BODY: dict[str, Any] = {
    "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
    "metadata": {
        "name": "churn", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42",
        "generation": 3, "labels": {"team": "a"},
        "annotations": {"uplift.dev/promote": "true", f"{PREFIX}/last-handled-configuration": "{}",
                        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                        "note": "kept"},
        "ownerReferences": [{"kind": "Application", "name": "app", "uid": "o-1"}],
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
    "spec": {"model": {"registeredModel": "churn", "alias": "champion"},
             "rollout": {"steps": [{"weight": 10}]}},
    "status": {"phase": "Healthy", "conditions": [{"type": "Ready", "status": "True"}]},
}


@pytest.mark.parametrize("body", [
    BODY,
    {k: v for k, v in BODY.items() if k != "status"},
    {**BODY, "metadata": {"name": "bare", "namespace": "team-a"}},
])
def test_the_lean_essence_is_kopfs_essence(body: dict[str, Any]) -> None:
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
    lean = LeanDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
    raw = cast(kopf.RawBody, copy.deepcopy(body))
    assert lean.build(body=kopf.Body(raw)) == kopfs.build(body=kopf.Body(raw))
    assert raw == body  # the body itself is untouched


def test_extra_fields_take_kopfs_own_way() -> None:
    lean = LeanDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
    essence = lean.build(body=kopf.Body(cast(kopf.RawBody, copy.deepcopy(BODY))),
                         extra_fields=["status.phase"])
    assert essence["status"] == {"phase": "Healthy"}
