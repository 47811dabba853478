"""Manual control of a Campaign's exposure ramp through ``kubectl uplift``, against the operator.

The plugin runs as a user runs it (``kubectl uplift VERB campaign/NAME -n NS``, the console script
on PATH found by kubectl's plugin lookup) and the running operator acts on what it writes: the
same request annotations and ``paused`` field as for an UpliftModel, on ``spec.exposure``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
CAMPAIGN = "spring-email"


def _uplift(admin: Kubectl, namespace: str, *args: str) -> str:
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
           "KUBECONFIG": str(admin.kubeconfig)}
    result = subprocess.run(["kubectl", "uplift", *args, f"campaign/{CAMPAIGN}", "-n", namespace],
                            env=env, text=True, capture_output=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _wait(admin: Kubectl, namespace: str, predicate: Callable[[dict[str, Any]], bool],
          what: str) -> dict[str, Any]:
    # The campaign's timer re-checks every 10 s; an annotation change is also an update event.
    admin.wait_for(lambda: predicate(admin.get("campaign", CAMPAIGN, namespace).get("status")
                                     or {}), timeout=60, what=what)
    status: dict[str, Any] = admin.get("campaign", CAMPAIGN, namespace)["status"]
    return status


def _at(percent: float, step: int | None) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("exposurePercent") == percent and s.get("currentStep") == step


def test_campaign_ramp_steered_through_kubectl_uplift(admin: Kubectl, operator: OperatorProcess,
                                                      namespace: str) -> None:
    steps = [s["percent"] for s in yaml.safe_load(
        (SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]["steps"]]
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES))
    # No Campaign gate is measured yet, so the ramp holds its first step until a human acts.
    _wait(admin, namespace, _at(steps[0], 0), "exposure at the first step")

    out = _uplift(admin, namespace, "promote")
    assert out.startswith(f"campaign {namespace}/{CAMPAIGN}: requested (uplift.dev/promote=step:")
    status = _wait(admin, namespace, _at(steps[1], 1), "promoted one step")
    assert status["history"][-1]["actor"].startswith("annotation uplift.dev/promote=step:")

    assert "spec.exposure.paused set to true" in _uplift(admin, namespace, "pause")
    _wait(admin, namespace, lambda s: s.get("phase") == "Paused", "Paused")
    assert admin.get("campaign", CAMPAIGN, namespace)["spec"]["exposure"]["paused"] is True
    _uplift(admin, namespace, "resume")
    _wait(admin, namespace, lambda s: s.get("phase") == "Progressing", "resumed")

    _uplift(admin, namespace, "abort")
    status = _wait(admin, namespace, _at(0, None), "aborted: exposure 0%")
    assert status["phase"] == "Degraded"
    assert status["history"][-1]["action"] == "ManualAbort"

    _uplift(admin, namespace, "retry")
    status = _wait(admin, namespace, _at(steps[0], 0), "retried from the first step")
    assert status["history"][-1]["action"] == "Retry"

    _uplift(admin, namespace, "promote", "--full")
    status = _wait(admin, namespace, lambda s: s.get("phase") == "Healthy", "ramp completed")
    assert (status["exposurePercent"], status.get("currentStep")) == (steps[-1], None)
    summary = _uplift(admin, namespace, "status")
    assert f"Exposure:  {steps[-1]:g}%" in summary and "Phase:     Healthy" in summary

    _uplift(admin, namespace, "rollback")
    status = _wait(admin, namespace, _at(0, None), "emergency rollback: exposure 0%")
    assert status["history"][-1]["action"] == "EmergencyRollback"
    assert status["phase"] == "Degraded"
    handled = status["handledRequests"]
    assert {"uplift.dev/promote", "uplift.dev/abort", "uplift.dev/retry",
            "uplift.dev/emergency-rollback"} <= set(handled)
