"""A request token put back while the spec is invalid: reported then, on both kinds.

The invalid-spec pass acts on the stops only and holds every other request for a valid spec;
a token handled before the last one of its key (put back by a GitOps sync or by hand) is no
request to hold: it is ignored and said so at once, as in a valid pass. The Campaign's pass
used to report it only once an abort or emergency rollback came with it, or once the spec was
valid again.
"""

from __future__ import annotations

from typing import Any

from tests.unit.services import test_campaign as campaign_sim
from tests.unit.services import test_upliftmodel as model_sim

PROMOTE, RETRY = "uplift.dev/promote", "uplift.dev/retry"


def _said_replayed(result: Any, key: str, token: str, before: str) -> None:
    (event,) = (e for e in result.events if e.reason == "RequestReplayed")
    assert event.type == "Warning"
    assert event.message.startswith(f"annotation {key}={token} ignored: this token was handled "
                                     f"already, before {key}={before}: a value put back (by a "
                                     "GitOps sync or by hand;")
    assert "nor is any of the last 8 of its key" in event.message
    entry = result.status["history"][-1]
    assert (entry["action"], entry["actor"]) == ("RequestIgnored", f"annotation {key}={token}")


def _invalid(sim: campaign_sim.Sim) -> None:
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "500ms"})
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"


def test_a_campaign_promote_put_back_under_an_invalid_spec_is_said_at_once() -> None:
    sim = campaign_sim.Sim()
    sim.tick()
    sim.annotate(PROMOTE, "step:git-1")
    assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    sim.annotate(PROMOTE, "step:oncall-2")
    assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    at = (sim.status["exposurePercent"], sim.status["currentStep"])
    _invalid(sim)
    sim.annotate(PROMOTE, "step:git-1")  # put back while the spec is refused
    result = sim.tick(1)
    _said_replayed(result, PROMOTE, "step:git-1", "step:oncall-2")
    assert sim.status["handledRequests"][PROMOTE] == "step:git-1"
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert "RequestReplayed" not in campaign_sim.reasons(sim.tick(1))  # said once
    # Valid again: nothing is pending, the ramp is not promoted by the token put back.
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "7d"})
    result = sim.tick(1)
    assert not {"RequestReplayed", "ManualPromote"} & set(campaign_sim.reasons(result))
    assert sim.status["currentStep"] <= at[1]


def test_a_campaign_new_promote_under_an_invalid_spec_still_waits_for_a_valid_one() -> None:
    sim = campaign_sim.Sim()
    sim.tick()
    sim.annotate(PROMOTE, "step:1")
    sim.tick(1)
    _invalid(sim)
    sim.annotate(PROMOTE, "step:2")  # new: not put back, held for a valid spec
    result = sim.tick(1)
    assert not {"RequestReplayed", "ManualPromote"} & set(campaign_sim.reasons(result))
    assert sim.status["handledRequests"][PROMOTE] == "step:1"


def test_a_bare_value_written_again_by_hand_is_said_put_back_by_hand_too() -> None:
    """``step``, ``step:2``, ``step``: the third is one of the last 8 of its key."""
    sim = campaign_sim.Sim()
    sim.tick()
    for value in ("step", "step:2"):
        sim.annotate(PROMOTE, value)
        assert "StepAdvanced" in campaign_sim.reasons(sim.tick(1))
    step = sim.status["currentStep"]
    sim.annotate(PROMOTE, "step")
    _said_replayed(sim.tick(1), PROMOTE, "step", "step:2")
    assert sim.status["currentStep"] == step


def test_a_model_retry_put_back_under_an_invalid_spec_is_said_as_on_a_campaign() -> None:
    """The UpliftModel's invalid-spec pass, which the Campaign's now matches."""
    sim = model_sim._rolled_back_canary()
    for token in ("r1", "r2"):
        sim.body["metadata"]["annotations"] = {RETRY: token}
        sim.tick(1)
    assert sim.status["handledRequests"][RETRY] == "r2"
    # Refused by the operator (a template it does not know), not by the schema.
    sim.body["spec"]["rollout"]["gates"].append(
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1})
    sim.body["metadata"]["generation"] = 3
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    sim.body["metadata"]["annotations"] = {RETRY: "r1"}
    _said_replayed(sim.tick(1), RETRY, "r1", "r2")
