"""A Campaign whose model's campaigns file cannot be written says so in its status
(``SettingsDelivered`` False, with the cause): the runtime keeps its previous settings, so an
exposure decided meanwhile — a rollback's 0 % included — has not reached the pods. True again
once the file is written; absent while it never failed, and while its model is not found
(no file to deliver to)."""

from __future__ import annotations

import copy
import dataclasses
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


def _refusable() -> tuple[Sim, dict[str, Any]]:
    """A Campaign exposing at 5 %, its file's state in ``file["why"]`` (None: written)."""
    file: dict[str, Any] = {"why": None}
    sim = Sim()
    sim.deps = dataclasses.replace(sim.deps, undelivered=lambda namespace, model: file["why"])
    sim.tick()
    assert sim.status["exposurePercent"] == 5.0
    return sim, file


def _refuse(sim: Sim) -> None:
    sim.edit_spec(treatments=[*sim.body["spec"]["treatments"], {"name": "sms"}])


def test_a_refused_spec_says_a_file_that_cannot_be_written_and_that_no_one_is_treated_once_it_is(
        ) -> None:
    """Before: the invalid-spec path never read the file's state, so ``SettingsDelivered`` was
    not said (no alert, nothing Degraded for it), and the message claimed the runtime treats no
    one, while the file that would make the entry inactive was never written (the runtime keeps
    the old, active one)."""
    sim, file = _refusable()
    _refuse(sim)
    sim.tick(1)
    assert sim.status["message"].startswith("treating no one under this Campaign until its spec "
                                            "is fixed")
    assert delivered(sim.status) is None
    file["why"] = REFUSED
    told = sim.tick(1)
    found = delivered(sim.status)
    assert found is not None and (found["status"], found["reason"]) == ("False", "FileNotWritten")
    assert sim.status["message"].startswith(
        "treating no one under this Campaign once its campaigns file is written (it cannot be "
        "now: the runtime keeps the settings it has; exposure 5% at step 1 resumes once the spec "
        "is fixed): invalid spec: ")
    assert [e.reason for e in told.events] == ["InvalidSpec"]  # its words changed
    for _ in range(6):  # past the grace: the message names it after the refusal
        quiet = sim.tick(1)
    assert sim.status["phase"] == "Degraded"
    assert "; SettingsDelivered False (FileNotWritten) since " in sim.status["message"]
    assert not quiet.events  # the problem's words added after the refusal are no new refusal
    ready = next(c for c in sim.status["conditions"] if c["type"] == "Ready")
    assert "SettingsDelivered" not in ready["message"]


def test_an_abort_acted_on_while_refused_says_it_has_not_reached_the_runtime() -> None:
    sim, file = _refusable()
    _refuse(sim)
    sim.tick(1)
    file["why"] = REFUSED
    sim.annotate("uplift.dev/abort", "t1")
    result = sim.tick(1)
    assert "ManualAbort" in [e.reason for e in result.events]
    assert sim.status["exposurePercent"] == 0.0
    found = delivered(sim.status)
    assert found is not None and (found["status"], found["reason"]) == ("False", "FileNotWritten")


def test_a_file_written_again_while_the_spec_is_refused_says_delivered() -> None:
    """Before: ``SettingsDelivered`` False stayed while the spec was refused, whatever the
    file: UpliftCampaignSettingsUndelivered paged on."""
    sim, file = _refusable()
    file["why"] = REFUSED
    sim.tick(1)
    assert delivered(sim.status)["status"] == "False"  # type: ignore[index]
    _refuse(sim)
    sim.tick(1)
    file["why"] = None
    sim.tick(1)
    found = delivered(sim.status)
    assert found is not None and (found["status"], found["reason"]) == ("True", "FileWritten")
    assert sim.status["message"].startswith("treating no one under this Campaign until its spec "
                                            "is fixed")


def test_a_refused_spec_keeps_saying_the_file_has_no_room_for_the_campaign() -> None:
    """Before: the invalid-spec path read only whether the file could be written, not whether
    it left this Campaign out (``left_out``): ``SettingsDelivered`` False ``CampaignsFileFull``
    flipped True ("carries this Campaign's settings again") on a refused pass and back once the
    spec was fixed, resetting the condition's time (the grace, the alert's ``for``)."""
    sim, _ = _refusable()
    full = campaigns_file.NotCarried("CampaignsFileFull", "the campaigns file of m is full")
    sim.deps = dataclasses.replace(sim.deps, left_out=lambda namespace, model, name: full)
    sim.tick(1)
    before = delivered(sim.status)
    assert before is not None and (before["status"], before["reason"]) == ("False",
                                                                           "CampaignsFileFull")
    _refuse(sim)
    sim.tick(1)
    found = delivered(sim.status)
    assert found is not None
    assert (found["status"], found["reason"], found["message"]) == (
        "False", "CampaignsFileFull", "the campaigns file of m is full")
    assert found["lastTransitionTime"] == before["lastTransitionTime"]
