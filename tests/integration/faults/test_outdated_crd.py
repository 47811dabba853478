"""An installed CRD older than the operator: the API server prunes the status fields its schema
lacks, silently, at every write. The operator counts what it loses and says it once (the
UpliftCRDOutdated alert reads the counter), and its later passes leave the field out rather
than write it again at each (``PrunedFields``). Real API server, real operator process.

Sending the field again after ``PRUNED_RETRY_SECONDS`` (10 minutes), and saying it still once
when it is pruned again then, are tested in tests/unit/handlers/test_pruned_status.py: too
long a wait here."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess

from uplift_operator.devenv import process

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "outdated-crd"
DROPPED = "the API server dropped status.message from a Campaign status write"


def _pruned(operator: OperatorProcess) -> float:
    text = urllib.request.urlopen(
        f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).read().decode()
    found = re.search(r'uplift_operator_status_fields_pruned_total\{field="status.message",'
                      r'kind="Campaign"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_status_fields_an_old_crd_prunes_are_counted_and_said_once(
        plane: Any, cluster: Kubectl, tmp_path: Path) -> None:
    # "An older release's CRD": this release's Campaign CRD without status.message.
    crd = yaml.safe_load((ROOT / "crds" / "campaigns.uplift.dev.yaml").read_text())
    for version in crd["spec"]["versions"]:
        del version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["message"]
    cluster.run("apply", "--server-side", "--force-conflicts", "-f", "-",
                input=yaml.safe_dump(crd))
    cluster.run("create", "namespace", NAMESPACE)
    campaign: dict[str, Any] = yaml.safe_load(
        (ROOT / "manifests" / "samples" / "campaign.yaml").read_text())
    campaign["metadata"]["namespace"] = NAMESPACE
    campaign["spec"]["modelRef"]["name"] = "not-there"
    operator = OperatorProcess(plane.operator_kubeconfig, tmp_path, "--standalone").start()
    try:
        cluster.apply(campaign)
        process.wait_until(lambda: _pruned(operator) >= 1, timeout=60,
                           what="the pruned status.message counted")
        name = campaign["metadata"]["name"]
        body = cluster.get("campaign", name, NAMESPACE)
        assert body["status"].get("phase") and "message" not in body["status"]
        # Two passes after it, each woken by an annotation that asks for nothing: had they
        # sent status.message again, each write would lose it again, counted again.
        pokes = iter(range(1, 1000))

        def poke() -> None:
            cluster.run("annotate", "--overwrite", "-n", NAMESPACE, f"campaign/{name}",
                        f"test.uplift.dev/poke={next(pokes)}")

        operator.wait_for_passes("Campaign", NAMESPACE, name, time.time(), poke=poke)
        assert _pruned(operator) == 1, "status.message sent again by a later pass"
        assert operator.logs().count(DROPPED) == 1
    finally:
        operator.stop()
