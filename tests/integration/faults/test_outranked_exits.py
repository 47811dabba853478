"""A replica that acted and is then outranked by peering exits, so that its restart lists every
object afresh (kopf keeps, in its index, the objects deleted while a replica was paused), and
the replica that outranked it acts. Real operator processes on this folder's control plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess
from tests.support.replicas import OUTRANKED, RESUMED

from uplift_operator.devenv import process

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "outranked"
EXITED = "paused by peering after acting: exiting"


def _replica(kubeconfig: Path, logdir: Path, name: str, priority: int) -> OperatorProcess:
    return OperatorProcess(kubeconfig, logdir, "--priority", str(priority),
                           "--peering-lifetime", "5", env={"POD_ID": name, "HOSTNAME": name})


def test_a_replica_outranked_after_it_acted_exits_and_the_other_acts(
        plane: Any, cluster: Kubectl, tmp_path: Path) -> None:
    cluster.run("create", "namespace", NAMESPACE)
    campaign: dict[str, Any] = yaml.safe_load(
        (ROOT / "manifests" / "samples" / "campaign.yaml").read_text())
    campaign["metadata"]["namespace"] = NAMESPACE
    campaign["spec"]["modelRef"]["name"] = "not-there-yet"
    cluster.apply(campaign)

    def message(name: str = campaign["metadata"]["name"]) -> str:
        body = cluster.get("campaign", name, NAMESPACE)
        return str((body.get("status") or {}).get("message") or "")

    first = _replica(plane.operator_kubeconfig, tmp_path, "replica-a", 100).start()
    later = _replica(plane.operator_kubeconfig, tmp_path, "replica-b", 200)
    try:
        first.wait_for_log(RESUMED)
        process.wait_until(lambda: "not-there-yet" in message(), timeout=60,
                           what="the first replica's Campaign pass")
        later.start()
        process.wait_until(lambda: not first.alive, timeout=60,
                           what="the outranked replica's exit")
        logs = first.logs()
        assert OUTRANKED in logs and EXITED in logs
        # The newcomer acts: a new Campaign gets its status through it alone.
        later.wait_for_log(RESUMED)
        second = {**campaign, "metadata": {**campaign["metadata"], "name": "second"},
                  "spec": {**campaign["spec"], "modelRef": {"name": "also-not-there"}}}
        cluster.apply(second)
        process.wait_until(lambda: "also-not-there" in message("second"), timeout=60,
                           what="the other replica's pass")
        assert later.alive and EXITED not in later.logs()
    finally:
        first.stop()
        later.stop()
