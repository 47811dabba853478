"""The traffic-split check is judged only while the serving graph declares the status's split.

A pass that applied the next step and died before its status patch leaves the graph one step
ahead of the status; the next pass must not read that step's traffic as a sample-ratio mismatch
(its running p-value would then hold the canary for the rest of its life).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel

OWNER = Owner(name="um", namespace="ns", uid="uid-1")


def _child(weights: dict[str, int]) -> dict[str, Any]:
    graph = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
             "metadata": {"name": "um", "namespace": "ns"},
             "spec": {"predictors": [{"name": f"v{v}", "traffic": w,
                                      "annotations": {"version": v}}
                                     for v, w in weights.items()]}}
    return {**graph, "status": seldon_status(graph)}  # Seldon's, for the graph there


@pytest.mark.parametrize(("served", "as_status"), [
    ({"1": 70, "2": 30}, True),
    ({"1": 50, "2": 50}, False),   # a step ahead of the status (died before the status patch)
    ({"1": 100}, False),           # the canary not in the graph (yet, or edited out by hand)
])
def test_split_as_status(served: dict[str, int], as_status: bool) -> None:
    backend = SeldonV1Backend()
    cluster = FakeCluster()
    cluster.put(backend.plural, _child(served))
    deps = SimpleNamespace(cluster=cluster, backend=backend)
    status = UpliftModelStatus(stable_version="1", canary_version="2", canary_weight=30)
    _, ready, _, matches = upliftmodel._observe(status, OWNER, deps)  # type: ignore[arg-type]
    assert matches is as_status
    assert ready == frozenset(served)
