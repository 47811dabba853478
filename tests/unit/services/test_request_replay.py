"""A request token put back is not acted on again, on both kinds.

Git holding a request annotation (``uplift.dev/retry: git-1``, ``uplift.dev/promote:
step:git-1``), an on-call engineer asks again with ``kubectl uplift`` (a new token on the same
key) and Argo CD's self-heal or its next sync restores Git's value. ``status.handledRequests``
keeps the last token of a key only, so the operator took ``git-1`` for a new request: a
Campaign was promoted twice, a canary rolled back since got traffic again. The tokens handled
before the last one (``status.earlierHandledRequests``) make it a replay: ignored, said once.
"""

from __future__ import annotations

from typing import Any

from tests.unit.services import test_campaign as campaign_sim
from tests.unit.services import test_upliftmodel as model_sim

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain.status import readable

PROMOTE, RETRY, ABORT = "uplift.dev/promote", "uplift.dev/retry", "uplift.dev/abort"


def _replayed(result: Any, key: str, token: str, before: str) -> None:
    """``result`` (one pass) says the replay once: a Warning ``RequestReplayed`` naming the
    token it came back after, a history entry ``RequestIgnored``, nothing else."""
    (event,) = result.events
    assert (event.type, event.reason) == ("Warning", "RequestReplayed")
    assert event.message.startswith(f"annotation {key}={token} ignored: this token was handled "
                                     f"already, before {key}={before}")
    assert "keep request annotations out of Git" in event.message
    entry = result.status["history"][-1]
    assert (entry["action"], entry["actor"]) == ("RequestIgnored", f"annotation {key}={token}")


def test_a_campaign_promote_restored_from_git_is_not_acted_on_again() -> None:
    sim = campaign_sim.Sim()
    sim.tick()
    sim.annotate(PROMOTE, "step:git-1")  # Git holds a promote: acted on once
    assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    sim.annotate(PROMOTE, "step:oncall-2")  # on-call promotes with kubectl uplift
    assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    at = (sim.status["exposurePercent"], sim.status["currentStep"])
    assert at == (100.0, 2)
    # Argo CD's self-heal puts Git's value back: the campaign is not promoted a second time.
    sim.annotate(PROMOTE, "step:git-1")
    result = sim.tick(1)
    _replayed(result, PROMOTE, "step:git-1", "step:oncall-2")
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == at
    assert sim.status["phase"] == "Progressing"
    assert sim.status["handledRequests"][PROMOTE] == "step:git-1"
    assert sim.status["earlierHandledRequests"][PROMOTE] == ["step:oncall-2"]
    # Said once: the restored token is the last handled now.
    assert campaign_sim.reasons(sim.tick(1)) == []


def test_a_model_retry_restored_from_git_does_not_give_a_rolled_back_canary_traffic() -> None:
    sim = model_sim._rolled_back_canary()
    sim.body["metadata"]["annotations"] = {RETRY: "git-1"}  # a retry committed to Git
    sim.metrics.values[model_sim.PROBE] = 0.5
    sim.tick(1)
    sim.tick(1)
    assert sim.weights() == {"1": 90, "2": 10}
    sim.metrics.values[model_sim.PROBE] = 5.0  # fails again: rolled back
    for _ in range(4):
        sim.tick(61)
    assert sim.weights() == {"1": 100}
    sim.body["metadata"]["annotations"] = {RETRY: "oncall-2"}  # on-call retries
    sim.tick(1)
    sim.tick(1)
    assert sim.weights() == {"1": 90, "2": 10}
    for _ in range(4):
        sim.tick(61)
    assert sim.weights() == {"1": 100} and sim.status["phase"] == "Degraded"
    # Argo CD's self-heal puts Git's value back: nobody asked for a retry.
    sim.body["metadata"]["annotations"] = {RETRY: "git-1"}
    result = sim.tick(1)
    _replayed(result, RETRY, "git-1", "oncall-2")
    assert model_sim.reasons(sim.tick(1)) == []
    assert sim.weights() == {"1": 100}
    assert sim.status["abortedVersion"] == "2" and "canaryVersion" not in sim.status
    assert sim.status["phase"] == "Degraded"


def test_a_stop_put_back_does_not_supersede_a_new_promote() -> None:
    """An abort handled before the last one, restored with a new promote pending: the abort
    is no stop (stopping wins only for a request), the promote acts."""
    sim = campaign_sim.Sim()
    sim.tick()
    for key, token in ((ABORT, "a1"), (RETRY, "r1"), (ABORT, "a2"), (RETRY, "r2")):
        sim.annotate(key, token)
        sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5.0, 0)
    sim.annotate(ABORT, "a1")
    sim.annotate(PROMOTE, "step:p1")
    result = sim.tick(1)
    assert campaign_sim.reasons(result) == ["RequestReplayed", "ManualPromote", "StepAdvanced"]
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25.0, 1)


def test_a_status_of_the_previous_release_a_token_per_key_is_read_as_handled() -> None:
    """The status the operator wrote before ``earlierHandledRequests``: a plain token per key.
    It reads as it is, its token handled; the next request remembers it among the earlier."""
    old: dict[str, Any] = {"handledRequests": {PROMOTE: "step:git-1", ABORT: "t0"}}
    for model in (CampaignStatus, UpliftModelStatus):
        status, unreadable = readable(model, old)
        assert unreadable == ()
        assert status.handled_requests == old["handledRequests"]
        assert status.earlier_handled_requests is None
        assert "earlierHandledRequests" not in status.to_wire()

    sim = campaign_sim.Sim()
    sim.tick()
    sim.tick(1)
    sim.body["status"] = {**sim.status, **old}
    sim.body["status"].pop("earlierHandledRequests", None)
    sim.annotate(PROMOTE, "step:git-1")
    assert campaign_sim.reasons(sim.tick(1)) == []  # handled by the previous release
    assert sim.status["currentStep"] == 0
    sim.annotate(PROMOTE, "step:oncall-2")
    assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    assert sim.status["earlierHandledRequests"] == {PROMOTE: ["step:git-1"]}
    sim.annotate(PROMOTE, "step:git-1")
    _replayed(sim.tick(1), PROMOTE, "step:git-1", "step:oncall-2")
    assert sim.status["currentStep"] == 1
