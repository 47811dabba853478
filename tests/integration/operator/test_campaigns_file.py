"""The campaigns file against the real control plane and the operator: a Campaign's spec, exposure
and schedule reach the ``<model>-campaigns`` ConfigMap the predictors mount."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.kube import Kubectl, OperatorProcess

from uplift_operator.runtime import campaigns as runtime_campaigns

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
CAMPAIGN, MODEL = "spring-email", "hillstrom-uplift"
CONFIG_MAP = f"{MODEL}-campaigns"


def _file(admin: Kubectl, namespace: str) -> dict[str, Any] | None:
    found = admin.run("get", "configmap", CONFIG_MAP, "-n", namespace, "-o", "json",
                      "--ignore-not-found").stdout.strip()
    if not found:
        return None
    text = json.loads(found)["data"]["campaigns.json"]
    assert runtime_campaigns.parse(text).errors == {}  # every version is one the runtime takes
    return dict(json.loads(text))


def _entry_when(admin: Kubectl, namespace: str, what: str, **fields: Any) -> dict[str, Any]:
    def matches() -> bool:
        doc = _file(admin, namespace)
        entry = (doc or {}).get("campaigns", {}).get(CAMPAIGN)
        return entry is not None and all(entry.get(k) == v for k, v in fields.items())
    admin.wait_for(matches, timeout=60, what=what)
    doc = _file(admin, namespace)
    assert doc is not None
    return dict(doc["campaigns"][CAMPAIGN])


def _patch(admin: Kubectl, namespace: str, spec: dict[str, Any]) -> None:
    admin.run("patch", "campaign", CAMPAIGN, "-n", namespace, "--type=merge", "-p",
              json.dumps({"spec": spec}))


def _phase(admin: Kubectl, namespace: str, phase: str) -> dict[str, Any]:
    admin.wait_for(lambda: (admin.get("campaign", CAMPAIGN, namespace).get("status") or {})
                   .get("phase") == phase, timeout=60, what=f"Campaign {phase}")
    status: dict[str, Any] = admin.get("campaign", CAMPAIGN, namespace)["status"]
    return status


def test_spec_exposure_and_schedule_reach_the_config_map(admin: Kubectl,
                                                         operator: OperatorProcess,
                                                         namespace: str) -> None:
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES))
    # The model serves, the ramp starts at its first step: the runtime may treat 5 %.
    entry = _entry_when(admin, namespace, "the first step in the file", exposurePercent=5,
                        active=True)
    assert (entry["generation"], entry["holdoutFraction"], entry["salt"]) == (1, 0.1,
                                                                              "spring-2026")
    owner = json.loads(admin.run("get", "configmap", CONFIG_MAP, "-n", namespace, "-o",
                                 "json").stdout)["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("UpliftModel", MODEL, True)
    written = admin.run("get", "configmap", CONFIG_MAP, "-n", namespace, "-o",
                        "jsonpath={.metadata.resourceVersion}").stdout

    # A spec change: the new generation and its settings.
    # (spec.experiment cannot change: test_api_server.)
    _patch(admin, namespace, {"economics": {"costPerTreatment": 0.25}})
    entry = _entry_when(admin, namespace, "the new spec in the file", generation=2)
    assert {k: t["cost"] for k, t in entry["treatments"].items()} == {
        "womens-e-mail": 0.25, "mens-e-mail": 0.12}  # its own cost stays
    assert (entry["holdoutFraction"], entry["salt"]) == (0.1, "spring-2026")
    assert admin.run("get", "configmap", CONFIG_MAP, "-n", namespace, "-o",
                     "jsonpath={.metadata.resourceVersion}").stdout != written

    # A schedule still to come: Suspended, exposure withdrawn, not active.
    _patch(admin, namespace, {"schedule": {"start": "2099-01-01T00:00:00Z"}})
    status = _phase(admin, namespace, "Suspended")
    assert status["exposurePercent"] == 0
    assert status["message"].startswith("exposure 0%: starts at 2099-01-01T00:00:00+00:00")
    entry = _entry_when(admin, namespace, "the suspended campaign in the file", active=False,
                        start="2099-01-01T00:00:00Z")
    assert entry["exposurePercent"] == 0

    # A schedule in the past: Completed, nothing treated.
    _patch(admin, namespace, {"schedule": {"start": "2025-03-01T00:00:00Z",
                                           "end": "2025-06-01T00:00:00Z"}})
    status = _phase(admin, namespace, "Completed")
    assert status["exposurePercent"] == 0 and "the results in status are final" in status["message"]
    _entry_when(admin, namespace, "the completed campaign in the file", active=False,
                end="2025-06-01T00:00:00Z")

    # Deleting the Campaign takes it out of the file; the file stays (the model owns it).
    admin.run("delete", "campaign", CAMPAIGN, "-n", namespace, "--wait=true")
    admin.wait_for(lambda: (_file(admin, namespace) or {}).get("campaigns") == {}, timeout=60,
                   what="an empty campaigns file")


def test_a_hand_edit_or_deletion_of_the_file_is_undone_at_once(admin: Kubectl,
                                                               operator: OperatorProcess,
                                                               namespace: str) -> None:
    """The operator watches its own campaigns ConfigMaps (a label-selected watch): an edit or a
    deletion wakes the model's file at once, not at the 10-minute resync."""
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES))
    _entry_when(admin, namespace, "the first step in the file", exposurePercent=5, active=True)
    doc = _file(admin, namespace)
    assert doc is not None
    admin.run("patch", "configmap", CONFIG_MAP, "-n", namespace, "--type=merge", "-p",
              json.dumps({"data": {"campaigns.json": json.dumps({**doc, "campaigns": {}})}}))
    _entry_when(admin, namespace, "the edited file restored", exposurePercent=5, active=True)
    admin.run("delete", "configmap", CONFIG_MAP, "-n", namespace, "--wait=true")
    _entry_when(admin, namespace, "the deleted file back", exposurePercent=5, active=True)


def test_a_model_without_campaigns_has_no_file_until_one_names_it(admin: Kubectl,
                                                                  operator: OperatorProcess,
                                                                  namespace: str) -> None:
    """A file with nothing to say is not written (the predictors mount it optional): a first
    version costs no ConfigMap; the first Campaign that names the model brings it."""
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES / "upliftmodel.yaml"))
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              f"upliftmodel/{MODEL}")
    assert _file(admin, namespace) is None
    sd = admin.get("seldondeployment", MODEL, namespace)
    volumes = sd["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["volumes"]
    assert {"name": "campaigns", "configMap": {"name": CONFIG_MAP, "optional": True}} in volumes
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES / "campaign.yaml"))
    _entry_when(admin, namespace, "the first Campaign's file", exposurePercent=5, active=True)
