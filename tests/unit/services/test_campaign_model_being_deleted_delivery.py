"""A Campaign of a model being deleted (``deletionTimestamp`` set) whose last campaigns file pass
was refused does not go on saying ``SettingsDelivered`` False ``FileNotWritten``: the model's
file is not written any more (``handlers.campaigns_file``), which drops its
``uplift_operator_campaigns_file_undelivered`` series, the source of the documented inhibit
rule, while the refusal stays in memory until the model's DELETED event (a foreground deletion
holds it back). Before, each Campaign's UpliftCampaignSettingsUndelivered paged on, unmuted,
through the deletion, for a file and pods that go with the model. The condition is dropped, as
for a model not found (not turned True: the file was not written). Only when the garbage
collector deletes the model (no finalizer left, or one of its own): under a background deletion
another tool's finalizer holds, its children stay, possibly for hours, the pods treating at the
last file no pass writes any more, so the refusal is said on (the model's series is kept too)."""

from __future__ import annotations

import dataclasses

import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaign import MODEL, NS, Sim
from tests.unit.services.test_campaign_settings_delivered import REFUSED, delivered

from uplift_operator.services import campaigns_file


@pytest.mark.parametrize(("finalizers", "dropped"), [
    (["foregroundDeletion"], True),  # the collector deletes its children first
    (["orphan"], True),
    ([], True),  # a background deletion, no finalizer left
    (["resources-finalizer.argocd.argoproj.io"], False),  # held by another tool: kept
], ids=["foreground", "orphan", "background", "held-by-argocd"])
@pytest.mark.parametrize("spec", ["valid", "refused"])
def test_a_model_being_deleted_leaves_its_campaigns_no_file_not_written(
        spec: str, finalizers: list[str], dropped: bool) -> None:
    sim = Sim()
    files = campaigns_file.FileDependencies(FakeCluster())
    sim.deps = dataclasses.replace(sim.deps, undelivered=files.undelivered)
    files.passed.add((NS, MODEL))  # the model's file pass has run in this process
    files.unwritten[(NS, MODEL)] = REFUSED  # ... and its last one was refused
    if spec == "refused":  # the invalid-spec path reads the file's state too
        sim.edit_spec(treatments=[*sim.body["spec"]["treatments"], {"name": "sms"}])
    sim.tick()
    before = delivered(sim.status)
    assert before is not None and (before["status"], before["reason"]) == ("False",
                                                                           "FileNotWritten")
    model = sim.cluster.objects[("uplift.dev/v1alpha1", "upliftmodels", NS, MODEL)]
    model["metadata"].update(deletionTimestamp="2026-12-01T12:01:00Z", finalizers=finalizers)
    for _ in range(3):  # the refusal is still remembered: the DELETED event has not come
        sim.tick(1)
        assert isinstance(files.undelivered(NS, MODEL), str)
        if dropped:
            # Dropped, as for a model not found: not False (nothing is owed to pods that are
            # going), not True (the file was not written).
            assert delivered(sim.status) is None
            if spec == "valid":
                assert sim.condition("ModelServing")["reason"] == "ModelNotServing"
                assert sim.status["exposurePercent"] == 0
        else:
            # Its pods stay, treating at the last file: the last refusal is said on.
            after = delivered(sim.status)
            assert after is not None and (after["status"], after["reason"], after["message"]) \
                == ("False", "FileNotWritten", before["message"])
