"""A stored status this release cannot read in full (written by a newer release, which the API
server keeps accepting after a rollback since Helm never downgrades CRDs, or edited by hand) no
longer makes every pass fail: what parses is kept, what does not is repaired the smallest way
(``domain.status.readable``) and named in ``StatusReadable`` and one Warning event, and the pass
goes on, so an abort or an emergency rollback acts. The traffic split is never lost: what the
status cannot say of it is taken from the model's own serving graph."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from tests.unit.services import test_campaign
from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, SELDON, Sim, reasons

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import status as status_logic
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import PassResult

T = "2026-12-01T12:00:00Z"


def warned(result: PassResult) -> list[str]:
    return [e.message for e in result.events if e.reason == "StatusUnreadable"]


def readable(sim: Sim) -> dict[str, Any]:
    return sim.condition("StatusReadable")


# -- the pass goes on ------------------------------------------------------------------------------

def test_an_unknown_gate_verdict_no_longer_stops_the_pass_and_an_abort_acts() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["status"]["gates"] = [{"name": "probe", "verdict": "Skipped", "time": T}]
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "page-42"
    result = sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status  # aborted
    assert "ManualAbort" in [e.reason for e in result.events]
    condition = readable(sim)
    assert (condition["status"], condition["reason"]) == ("False", "StatusUnreadable")
    assert "gates[probe] dropped: the gate starts afresh" in condition["message"]
    assert "'Skipped'" in condition["message"]
    assert warned(result) == [condition["message"]]
    assert result.requeue_after is not None and result.requeue_after <= 1.0
    # What was dropped is gone from the stored status: the next pass reads it in full.
    result = sim.tick(1)
    condition = readable(sim)
    assert (condition["status"], condition["reason"]) == ("True", "StatusRead")
    assert "before: this release of the operator could not read" in condition["message"]
    assert "gates[probe]" in condition["message"] and warned(result) == []
    result = sim.tick(1)
    assert warned(result) == [] and readable(sim)["status"] == "True"


def test_an_emergency_rollback_acts_on_a_status_with_an_unknown_phase() -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):  # both steps pass: version 2 is promoted
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.status["previousStableVersion"] == "1"
    sim.body["status"]["phase"] = "Promoting"  # a phase of a newer release
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "now"
    result = sim.tick(1)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    assert "EmergencyRollback" in [e.reason for e in result.events]
    assert "phase dropped" in readable(sim)["message"]


def test_a_split_the_status_cannot_say_is_taken_from_the_graph() -> None:
    """Dropped, an unreadable stable version would be taken for none and the spec's version
    deployed as the first one in its place; an unreadable weight for 0: the graph, this
    model's own, says what serves."""
    sim = Sim()
    sim.with_canary()
    applied = len(sim.cluster.applied)
    sim.body["status"]["stableVersion"] = ["1"]  # nothing this release reads as a version
    sim.body["status"]["canaryWeight"] = 10.5  # a newer release's fractional weight
    result = sim.tick(1)
    assert sim.weights() == {"1": 90, "2": 10} and len(sim.cluster.applied) == applied
    assert (sim.status["stableVersion"], sim.status["canaryVersion"],
            sim.status["canaryWeight"]) == ("1", "2", 10)
    message = readable(sim)["message"]
    assert "stableVersion dropped; taken from SeldonDeployment shop/uplift: 1" in message
    assert "canaryWeight dropped; taken from SeldonDeployment shop/uplift: 10" in message
    assert warned(result) == [message]
    assert "Promoted" not in [e.reason for e in result.events]


def test_an_unreadable_stable_version_without_a_graph_ends_the_canary_not_the_pass() -> None:
    sim = Sim()
    sim.with_canary()
    del sim.cluster.objects[SELDON]  # deleted by hand: nothing to take the split from
    sim.body["status"]["stableVersion"] = ["1"]
    sim.tick(61)  # an analysis is due: it needs a stable version to compare the canary with
    # Nothing stable left in the status: the registry's role tags (2 canary, the promotion
    # alias on 1, tagged stable) make 1 stable again and restart canary 2 from step 1.
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("1", "2")
    assert sim.status["canaryWeight"] == 0 and sim.status["currentStep"] == 0
    assert "canaryVersion dropped (2): no stable version to compare it with" in (
        readable(sim)["message"])


def test_a_canary_that_names_the_stable_version_is_dropped_and_the_pass_goes_on() -> None:
    """A hand edit no pass writes: a version split against itself raised in every pass (the
    handler backed off and retried for good, nothing written, an abort never acted on)."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    status = sim.body["status"]
    status.update(canaryVersion="1", canaryWeight=10, currentStep=0,
                  stepStartedAt=status["conditions"][0]["lastTransitionTime"])
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "page-7"
    result = sim.tick(60)
    assert "canaryVersion" not in sim.status and sim.status["canaryWeight"] == 0
    assert "currentStep" not in sim.status and sim.status["phase"] == "Healthy"
    assert sim.weights() == {"1": 100}
    condition = readable(sim)
    assert (condition["status"], condition["reason"]) == ("False", "StatusUnreadable")
    assert ("canaryVersion dropped (1), with its weight (10%) and step: the stable version "
            "serves all traffic (it names the stable version 1") in condition["message"]
    assert warned(result) == [condition["message"]]
    # The abort was read and answered (no canary to abort), not left pending.
    assert [(e.reason, "ignored" in e.message) for e in result.events
            if e.reason == "ManualAbort"] == [("ManualAbort", True)]
    assert result.requeue_after is not None and result.requeue_after <= 1.0
    sim.tick(1)
    assert readable(sim)["status"] == "True"


def test_an_emergency_rollback_acts_on_a_canary_edited_to_the_stable_version() -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):  # both steps pass: version 2 is promoted
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.status["previousStableVersion"] == "1"
    sim.body["status"].update(canaryVersion="2", canaryWeight=50)
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "now"
    result = sim.tick(1)
    assert "EmergencyRollback" in reasons(result)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    assert "canaryVersion dropped (2)" in readable(sim)["message"]


def test_a_canarys_lost_step_start_starts_the_step_over() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["status"]["stepStartedAt"] = "yesterday"
    sim.tick(1)
    assert sim.status["stepStartedAt"] == (sim.now).isoformat().replace("+00:00", "Z")
    assert "the step starts over" in readable(sim)["message"]
    assert sim.weights() == {"1": 90, "2": 10}


def test_a_graph_that_is_not_the_models_gives_nothing_to_the_status() -> None:
    sim = Sim()
    sim.with_canary()
    graph = sim.cluster.objects[SELDON]
    graph["metadata"]["ownerReferences"] = []  # someone took it
    sim.body["status"]["canaryWeight"] = 10.5
    sim.tick(1)
    assert sim.status["canaryWeight"] == 0  # dropped, nothing taken from their graph
    assert sim.condition("ServingApplied")["reason"] == "ServingConflict"


def test_a_version_longer_than_this_release_allows_is_kept_and_said_once() -> None:
    long = "1" * 20  # a newer release allows longer versions
    sim = Sim()
    sim.registry.add(REGISTERED, long)
    sim.registry.aliases[(REGISTERED, "champion")] = long
    sim.tick()
    assert sim.status["stableVersion"] == long and sim.weights() == {long: 100}
    applied = len(sim.cluster.applied)
    result = sim.tick(1)  # the first pass that reads it back
    assert sim.status["stableVersion"] == long and len(sim.cluster.applied) == applied
    condition = readable(sim)
    assert condition["status"] == "False" and "stableVersion kept as it is" in condition["message"]
    assert len(warned(result)) == 1
    # It serves now: stableServedVersion names it, as long, and is read back kept as it is too.
    assert sim.status["stableServedVersion"] == long
    result = sim.tick(1)
    assert "stableServedVersion kept as it is" in readable(sim)["message"]
    assert len(warned(result)) == 1
    result = sim.tick(1)  # found again at every pass: said once
    assert warned(result) == [] and result.requeue_after is None
    assert sim.status["phase"] == "Healthy"


def test_a_gates_unreadable_evidence_starts_afresh_and_the_rest_is_kept() -> None:
    sim = Sim()
    sim.with_canary()
    sim.tick(61)
    gate = dict(sim.status["gates"][0])
    sim.body["status"]["gates"][0]["sequentialState"] = {"ratio": {"looks": -1}}
    sim.tick(1)
    kept = sim.status["gates"][0]
    assert kept.get("sequentialState", {}) == {} and kept["verdict"] == gate["verdict"]
    assert "gates[probe].sequentialState dropped: the gate's evidence starts afresh" in (
        readable(sim)["message"])


def test_a_statuses_own_unreadable_condition_does_not_stop_the_pass() -> None:
    sim = Sim()
    sim.tick()
    sim.body["status"]["conditions"].append({"type": "Future", "status": "Maybe",
                                             "reason": "X", "lastTransitionTime": T})
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    assert "Future" not in [c["type"] for c in sim.status["conditions"]]
    assert "conditions[Future] dropped" in readable(sim)["message"]


# -- a Campaign ----------------------------------------------------------------------------------

def test_a_campaign_with_an_unreadable_status_goes_on_and_says_so() -> None:
    sim = test_campaign.Sim()
    sim.tick()
    sim.body["status"]["phase"] = "Hibernating"
    result = sim.tick(1)
    condition = sim.condition("StatusReadable")
    assert (condition["status"], condition["reason"]) == ("False", "StatusUnreadable")
    assert "phase dropped" in condition["message"]
    assert [e.reason for e in result.events].count("StatusUnreadable") == 1
    assert sim.status["phase"] != "Hibernating"
    sim.tick(1)
    assert sim.condition("StatusReadable")["status"] == "True"


def test_a_campaign_reads_what_it_can_of_its_models_status() -> None:
    """A model status this release cannot read in full (a gate verdict of a newer release)
    still says its stable version serves: the Campaign is not withdrawn for it."""
    model = copy.deepcopy(test_campaign.SERVING)
    model["gates"] = [{"name": "probe", "verdict": "Skipped", "time": T}]
    sim = test_campaign.Sim(model_status=model)
    sim.tick()
    assert sim.condition("ModelServing")["reason"] == "StableVersionServing"


# -- readable(), rule by rule ----------------------------------------------------------------------

VERSIONS = upliftmodel.VERSION_FIELDS


def parts(raw: dict[str, Any]) -> tuple[UpliftModelStatus, list[str]]:
    status, found = status_logic.readable(UpliftModelStatus, raw, verbatim=VERSIONS)
    return status, [str(part) for part in found]


def test_a_status_that_parses_is_read_as_it_is() -> None:
    raw = {"stableVersion": "3", "phase": "Healthy", "handledRequests": {"a": "1"}}
    status, found = parts(raw)
    assert found == [] and status == UpliftModelStatus.model_validate(raw)
    assert status_logic.readable(UpliftModelStatus, None) == (UpliftModelStatus(), ())


@pytest.mark.parametrize(("raw", "said", "check"), [
    ({"history": [{"time": T, "action": "StepAdvanced", "weight": 12.5, "reason": "r"}]},
     "history[0].weight dropped",
     lambda s: s.history[0].action == "StepAdvanced" and s.history[0].weight is None),
    ({"history": [{"action": "StepAdvanced"}]}, "history[0] dropped (time: Field required)",
     lambda s: s.history == []),
    ({"history": [{"time": T, "action": f"A{i}"} for i in range(60)]},
     "history cut to 50 entries (the oldest dropped)",
     lambda s: [h.action for h in s.history] == [f"A{i}" for i in range(10, 60)]),
    ({"message": "m" * 5000}, "message shortened",
     lambda s: len(s.message) == 4096 and s.message.endswith("…")),
    ({"handledRequests": {"uplift.dev/abort": 5, "uplift.dev/retry": "x"}},
     "handledRequests[uplift.dev/abort] read as text",
     lambda s: s.handled_requests == {"uplift.dev/abort": "5", "uplift.dev/retry": "x"}),
    ({"handledRequests": {"uplift.dev/abort": {"t": 1}}},
     "handledRequests[uplift.dev/abort] dropped", lambda s: s.handled_requests == {}),
    ({"conditions": [{"type": "Ready", "status": "True", "reason": "R",
                      "lastTransitionTime": T, "observedGeneration": -1}]},
     "conditions[Ready].observedGeneration dropped",
     lambda s: s.conditions[0].reason == "R" and s.conditions[0].observed_generation is None),
    ({"gates": [{"name": "g", "verdict": "Pass", "time": T, "failures": -2}]},
     "gates[g] dropped: the gate starts afresh", lambda s: s.gates == []),
    ({"abortedVersion": "9" * 17, "desiredVersion": ["2"]}, "abortedVersion kept as it is",
     lambda s: s.aborted_version == "9" * 17 and s.desired_version is None),
    ({"canaryWeight": 140, "currentStep": "two"}, "canaryWeight dropped",
     lambda s: s.canary_weight == 0 and s.current_step is None),
])
def test_each_unreadable_part_is_repaired_the_smallest_way(raw: dict[str, Any], said: str,
                                                          check: Any) -> None:
    status, found = parts(raw)
    assert any(text.startswith(said) for text in found), found
    assert check(status)


def test_a_status_that_is_not_an_object_is_dropped_whole() -> None:
    status, found = parts("garbage")  # type: ignore[arg-type]
    assert status == UpliftModelStatus() and found[0].startswith("status dropped")


def test_what_cannot_be_read_is_said_once_and_then_that_it_was() -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    _, found = status_logic.readable(UpliftModelStatus, {"phase": "Nope"})
    unreadable = status_logic.status_readable([], found, 3, now)
    assert status_logic.unreadable_news([], unreadable) is not None
    assert status_logic.unreadable_news(unreadable, unreadable) is None
    read = status_logic.status_readable(unreadable, (), 3, now)
    assert status_logic.unreadable_news(unreadable, read) is None
    assert status_logic.status_readable([], (), 3, now) == []  # absent while all was read
    assert status_logic.status_readable(read, (), 3, now) == read


def test_a_campaign_status_is_read_the_same_way() -> None:
    status, found = status_logic.readable(
        CampaignStatus, {"exposurePercent": 20, "phase": "Hibernating",
                         "modelVersion": "7" * 20}, verbatim=frozenset({"modelVersion"}))
    assert status.exposure_percent == 20 and status.model_version == "7" * 20
    assert [part.where for part in found] == ["phase", "modelVersion"]
