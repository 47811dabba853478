"""The operator's PodDisruptionBudget lets an unready replica be evicted, in the chart and in
manifests/ alike: a replica is not Ready while a peering object is gone or the peering cannot be
verified (``handlers.readiness``), and with both replicas so the default policy
(IfHealthyBudget) refused every eviction, so a node drain waited for ever."""

from __future__ import annotations

from typing import Any

import yaml
from tests.contract.test_packaging import ROOT, by_kind, helm_template


def _plain(kind: str) -> dict[str, Any]:
    [found] = [d for d in yaml.safe_load_all((ROOT / "manifests" / "operator.yaml").read_text())
               if d and d["kind"] == kind]
    spec: dict[str, Any] = found
    return spec


def test_an_unready_replica_may_be_evicted_whatever_the_budget() -> None:
    chart = by_kind(helm_template(), "PodDisruptionBudget")[0]["spec"]
    plain = _plain("PodDisruptionBudget")["spec"]
    assert chart["unhealthyPodEvictionPolicy"] == plain["unhealthyPodEvictionPolicy"] == (
        "AlwaysAllow")
    assert chart["maxUnavailable"] == plain["maxUnavailable"] == 1
    minimum = by_kind(helm_template("--set", "podDisruptionBudget.minAvailable=1"),
                      "PodDisruptionBudget")[0]["spec"]
    assert minimum["unhealthyPodEvictionPolicy"] == "AlwaysAllow" and minimum["minAvailable"] == 1


def test_kubernetes_own_policy_may_be_chosen() -> None:
    spec = by_kind(helm_template("--set",
                                 "podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget"),
                   "PodDisruptionBudget")[0]["spec"]
    assert spec["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"
