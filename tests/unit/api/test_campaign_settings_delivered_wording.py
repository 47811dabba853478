"""``SettingsDelivered`` True (``FileWritten``) says the campaigns file was written, not that the
runtime applied it: the kubelet brings the file to the pods within ~60-90 s. The Campaign CRD's
descriptions (``kubectl explain``) and the page that clears with it say so; neither claims
more than the operator knows."""

from __future__ import annotations

from pathlib import Path

import yaml

from uplift_operator.api.v1alpha1.campaign import CampaignStatus

ROOT = Path(__file__).resolve().parents[3]


def test_the_crd_says_delivered_means_the_file_written_and_the_kubelet_delay() -> None:
    phase = CampaignStatus.model_fields["phase"].description or ""
    exposure = CampaignStatus.model_fields["exposure_percent"].description or ""
    assert "True means the campaigns file was written" in phase
    assert "not that the runtime applied it" in phase and "~60-90 s" in phase
    assert "until the kubelet brings the campaigns file written to the pods" in exposure
    assert "have not reached the runtime" not in phase


def test_the_undelivered_page_clears_on_the_file_written_not_the_pods() -> None:
    chart = (ROOT / "charts" / "uplift-operator" / "templates" / "prometheusrule.yaml").read_text()
    [line] = [line for line in chart.splitlines() if "has not carried it as its spec says" in line]
    assert "not once the pods apply them; the kubelet brings the file to the pods" in line
    runbook = (ROOT / "docs" / "runbooks" / "UpliftCampaignSettingsUndelivered.md").read_text()
    assert "not that the pods apply them yet" in runbook
    for path in ("crds/campaigns.uplift.dev.yaml",
                 "charts/uplift-operator/crds/campaigns.uplift.dev.yaml"):
        assert "True means the campaigns file was written" in " ".join(
            yaml.safe_dump(yaml.safe_load((ROOT / path).read_text())).split())
