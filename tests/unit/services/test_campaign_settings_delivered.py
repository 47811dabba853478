"""A Campaign whose model's campaigns file cannot be written says so in its status
(``SettingsDelivered`` False, with the cause): the runtime keeps its previous settings, so an
exposure decided meanwhile — a rollback's 0 % included — has not reached the pods. True again
once the file is written; absent while it never failed, and while its model is not found
(no file to deliver to)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster, FakeMetrics
from tests.unit.services.test_campaign import Sim
from tests.unit.services.test_campaigns_file import (
    NS,
    OWNER,
    T0,
    campaign_body,
    serving_model,
    sync,
)

from uplift_operator.adapters.kube import KubeError
from uplift_operator.domain import exposure
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import campaign, campaigns_file

REFUSED = "apply configmaps/hillstrom-uplift-campaigns: 403 configmaps is forbidden"


def delivered(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or []
                 if c["type"] == "SettingsDelivered"), None)


def test_the_file_s_last_pass_says_whether_it_carries_the_campaigns() -> None:
    cluster = FakeCluster(apply_error=KubeError(REFUSED, 403))
    files = campaigns_file.FileDependencies(cluster)
    # Before the model's first file pass in this process (a restart): not known.
    assert files.undelivered(NS, OWNER.name) is exposure.NOT_KNOWN_YET
    assert sync(files, campaign_body()).error == REFUSED
    why = files.undelivered(NS, OWNER.name)
    assert isinstance(why, str) and REFUSED in why and "previous settings" in why
    assert files.undelivered(NS, "another-model") is exposure.NOT_KNOWN_YET
    cluster.apply_error = None
    assert sync(files, campaign_body()).changed
    assert files.undelivered(NS, OWNER.name) is None
    cluster.apply_error = KubeError(REFUSED, 403)
    sync(files, campaign_body("changed", percent=25))
    campaigns_file.forget(OWNER, files)
    assert files.undelivered(NS, OWNER.name) is exposure.NOT_KNOWN_YET


def test_a_campaign_that_asked_before_the_first_file_pass_is_told_once() -> None:
    files = campaigns_file.FileDependencies(FakeCluster())
    assert not files.first_told(NS, OWNER.name)  # nobody asked
    assert files.undelivered(NS, OWNER.name) is exposure.NOT_KNOWN_YET
    assert not files.first_told(NS, OWNER.name)  # asked, but no file pass yet
    sync(files, campaign_body())
    assert files.first_told(NS, OWNER.name)
    assert not files.first_told(NS, OWNER.name)  # once
    assert files.undelivered(NS, OWNER.name) is None  # known now: nothing more to tell
    sync(files, campaign_body())
    assert not files.first_told(NS, OWNER.name)


def test_the_campaign_s_status_follows_the_file() -> None:
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    files = campaigns_file.FileDependencies(cluster)
    deps = campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES,
                                         undelivered=files.undelivered)
    body = campaign_body(phase=None, percent=0)
    body["metadata"]["annotations"] = {}

    def reconcile(at: dt.datetime) -> dict[str, Any]:
        body["status"] = campaign.reconcile(copy.deepcopy(body), deps, at).status
        return dict(body["status"])

    files.passed.add((NS, OWNER.name))  # the model's file pass has run in this process
    assert delivered(reconcile(T0)) is None  # never failed: no condition
    files.unwritten[(NS, OWNER.name)] = REFUSED
    refused = delivered(reconcile(T0 + dt.timedelta(seconds=5)))
    assert refused is not None and refused["status"] == "False"
    assert refused["reason"] == "FileNotWritten" and REFUSED in refused["message"]
    del files.unwritten[(NS, OWNER.name)]
    again = delivered(reconcile(T0 + dt.timedelta(seconds=10)))
    assert again is not None and again["status"] == "True" and again["reason"] == "FileWritten"
    assert reconcile(T0 + dt.timedelta(seconds=15))["conditions"] == body["status"]["conditions"]



@pytest.mark.parametrize("cause", ["full", "unwritten, remembered", "unwritten, forgotten"])
def test_a_deleted_model_leaves_nothing_delivered_nor_undelivered(cause: str) -> None:
    """The campaigns file goes with its model: once the model is not found, ``SettingsDelivered``
    claims nothing (not True: no file carries the Campaign; not False: nothing is owed), whatever
    the file's last pass found (still in memory, or forgotten with the model) and whatever the
    condition said; ``ModelServing`` says why."""
    sim = Sim()
    gone = False

    def left_out(namespace: str, model: str, name: str) -> campaigns_file.NotCarried | None:
        if gone or cause != "full":
            return None
        return campaigns_file.NotCarried("CampaignsFileFull", "the campaigns file is full")

    def undelivered(namespace: str, model: str) -> str | exposure.NotKnownYet | None:
        if cause == "full":
            return None
        if gone and cause.endswith("forgotten"):
            return exposure.NOT_KNOWN_YET
        return REFUSED

    sim.deps = campaign.CampaignDependencies(
        cluster=sim.cluster, prometheus=sim.deps.prometheus,
        metric_templates=BUILTIN_TEMPLATES, left_out=left_out, undelivered=undelivered)
    sim.tick()
    before = delivered(sim.status)
    assert before is not None and before["status"] == "False"
    sim.set_model(None, present=False)
    gone = True
    sim.tick(1)
    assert delivered(sim.status) is None
    assert sim.condition("ModelServing")["reason"] == "ModelNotFound"
    assert sim.status["phase"] == "Progressing" and sim.status["exposurePercent"] == 0
    sim.tick(1)
    assert delivered(sim.status) is None
