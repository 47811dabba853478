"""``ephemeral-storage`` reaches the runtime container, and its limit bounds ``/tmp``.

MLflow downloads the model into the runtime's ``/tmp``, an emptyDir (the root filesystem is
read-only): with ``limits.ephemeral-storage`` set, that emptyDir's ``sizeLimit`` is the limit,
so a model too large for it has the kubelet evict the pod naming the volume. Without the limit
the emptyDir is rendered as before (``{}``): such a graph's pod spec is unchanged, and no pod
rolls at the upgrade.
"""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.api.v1alpha1.common import ResourceRequirements
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import TMP_DIR, TMP_VOLUME, SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000007")
BACKEND = SeldonV1Backend()
SPLIT = TrafficSplit("3", "4", 25)


def _runtime(resources: dict[str, Any]) -> RuntimeSettings:
    # As services.upliftmodel builds it: spec.serving.resources.to_wire().
    wire = ResourceRequirements.model_validate(resources).to_wire()
    return RuntimeSettings(image="runtime:2", registered_model="hillstrom",
                           tracking_uri="http://mlflow:5000", resources=wire)


def _pods(child: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["componentSpecs"][0]["spec"] for p in child["spec"]["predictors"]]


def _tmp(pod: dict[str, Any]) -> dict[str, Any]:
    [volume] = [v for v in pod["volumes"] if v["name"] == TMP_VOLUME]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == TMP_VOLUME]
    assert mount["mountPath"] == TMP_DIR
    empty_dir: dict[str, Any] = volume["emptyDir"]
    return empty_dir


@pytest.mark.parametrize(("limit", "rendered"), [("4Gi", "4Gi"), (2 * 2**30, "2147483648")])
def test_the_limit_is_rendered_and_bounds_the_tmp_empty_dir(limit: int | str,
                                                              rendered: str) -> None:
    child = BACKEND.render(OWNER, _runtime({
        "requests": {"cpu": "500m", "ephemeral-storage": "1Gi"},
        "limits": {"memory": "1Gi", "ephemeral-storage": limit}}), SPLIT)
    for pod in _pods(child):  # every predictor, the stable's and the canary's alike
        assert pod["containers"][0]["resources"] == {
            "requests": {"cpu": "500m", "ephemeral-storage": "1Gi"},
            "limits": {"memory": "1Gi", "ephemeral-storage": rendered}}
        assert _tmp(pod) == {"sizeLimit": rendered}
        # Only /tmp, where the model goes: MLServer's metrics directory is not bounded by it.
        assert next(v for v in pod["volumes"] if v["name"] == "mlserver-metrics") == {
            "name": "mlserver-metrics", "emptyDir": {}}


@pytest.mark.parametrize("resources", [
    {}, {"requests": {"ephemeral-storage": "1Gi"}}, {"limits": {"memory": "1Gi"}},
])
def test_without_the_limit_tmp_is_unbounded_as_before(resources: dict[str, Any]) -> None:
    for pod in _pods(BACKEND.render(OWNER, _runtime(resources), SPLIT)):
        assert _tmp(pod) == {}


def test_a_graph_read_back_renders_the_same_bound() -> None:
    """``runtime_settings`` reads the resources back from the graph: a split rendered from them
    (a promotion, a new canary) keeps ``/tmp``'s bound, and changes no pod spec."""
    runtime = _runtime({"limits": {"ephemeral-storage": "3Gi"}})
    child = BACKEND.render(OWNER, runtime, SPLIT)
    again = BACKEND.runtime_settings(child, RuntimeSettings(
        image="x", registered_model="x", tracking_uri="x"))
    assert again is not None
    promoted = BACKEND.render(OWNER, again, TrafficSplit("4"))
    assert _pods(promoted)[0] == _pods(child)[1]
    assert _tmp(_pods(promoted)[0]) == {"sizeLimit": "3Gi"}
