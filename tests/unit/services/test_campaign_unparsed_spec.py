"""A Campaign whose stored spec does not parse (a value stored before a release narrowed its
schema: the API server does not check an unchanged value again) while it treats. Its campaigns
file leaves it out (the runtime forgets it), which the status says as for a spec that parses but
validation refuses; and the kill switches (abort, emergency rollback) are acted on and recorded.
Before, the pass only said "invalid spec: …" with ``exposurePercent: 25``, and a stop waited."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from tests.unit.services.test_campaign import Sim, reasons

from uplift_operator.services import campaigns_file

WHERE = "exposure 25% at step 2"


def _treating_at_25() -> Sim:
    sim = Sim()
    sim.body["metadata"].update(name="spring-email", creationTimestamp="2026-11-01T00:00:00Z")
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["phase"]) == (25, "Progressing")
    return sim


def _currency(sim: Sim, currency: str) -> None:
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "currency": currency})


def _carried(sim: Sim) -> list[str]:
    snapshot = campaigns_file.snapshot(copy.deepcopy(sim.body))
    return [entry.name for entry in campaigns_file.entries([snapshot])]


@pytest.mark.parametrize("unparsed", [
    pytest.param(lambda s: _currency(s, "usd"), id="currency-pattern"),
    pytest.param(lambda s: s.edit_spec(exposure={**s.body["spec"]["exposure"], "steps": []}),
                 id="no-steps"),
    pytest.param(lambda s: s.edit_spec(exposure=None), id="exposure-null"),
])
def test_the_status_of_a_spec_that_does_not_parse_says_the_runtime_treats_no_one(
        unparsed: Any) -> None:
    sim = _treating_at_25()
    unparsed(sim)
    result = sim.tick(1)
    assert _carried(sim) == []  # the runtime forgets it once the file is written
    s = sim.status
    says = (f"treating no one under this Campaign until its spec is fixed (its spec does not "
            f"parse, so its campaigns file leaves it out; {WHERE} resumes then): invalid spec: "
            "spec.")
    assert (s["phase"], s["exposurePercent"], s["currentStep"]) == ("Degraded", 25, 1)
    assert s["message"].startswith(says)
    ready = sim.condition("Ready")
    assert (ready["reason"], ready["message"]) == ("InvalidSpec", s["message"])
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert [(e.type, e.reason, e.message) for e in result.events] == [
        ("Warning", "InvalidSpec", s["message"])]
    assert sim.tick(1).events == ()  # said once


def test_a_fixed_spec_resumes_the_step_it_held() -> None:
    sim = _treating_at_25()
    _currency(sim, "usd")
    sim.tick(1)
    _currency(sim, "USD")
    sim.tick(1)
    fixed = sim.status
    assert (fixed["phase"], fixed["exposurePercent"], fixed["currentStep"]) == (
        "Progressing", 25, 1)
    assert "treating no one" not in fixed["message"]


def test_a_file_that_cannot_be_written_keeps_the_entry_the_runtime_has() -> None:
    sim = _treating_at_25()
    why = "the campaigns file of UpliftModel 'hillstrom-uplift' cannot be written (conflict)"
    sim.deps = dataclasses.replace(sim.deps, undelivered=lambda namespace, model: why)
    _currency(sim, "usd")
    sim.tick(1)
    assert sim.status["message"].startswith(
        "treating no one under this Campaign once its campaigns file is written (it cannot be "
        f"now: the runtime keeps the settings it has; {WHERE} resumes once the spec is fixed)")
    delivered = sim.condition("SettingsDelivered")
    assert (delivered["status"], delivered["message"]) == ("False", why)


@pytest.mark.parametrize(("annotation", "reason"), [
    ("uplift.dev/emergency-rollback", "EmergencyRollback"),
    ("uplift.dev/abort", "ManualAbort"),
])
@pytest.mark.parametrize(("unparsed", "steps"), [
    pytest.param(lambda s: _currency(s, "usd"), 3, id="currency-pattern"),
    # Its steps not known: as many as reach the step it is at.
    pytest.param(lambda s: s.edit_spec(exposure=None), 2, id="exposure-null"),
])
def test_the_kill_switch_works_while_the_spec_does_not_parse(
        annotation: str, reason: str, unparsed: Any, steps: int) -> None:
    sim = _treating_at_25()
    unparsed(sim)
    sim.tick(1)
    sim.annotate(annotation, "t1")
    # Pending with the stop: superseded by it (stopping wins), not kept for a valid spec.
    sim.annotate("uplift.dev/promote", "full")
    result = sim.tick(1)
    s = sim.status
    assert s["exposurePercent"] == 0 and s["phase"] == "Degraded"
    assert s["handledRequests"] == {annotation: "t1", "uplift.dev/promote": "full"}
    assert [e["action"] for e in s["history"][-2:]] == [reason, "RequestIgnored"]
    assert reason in reasons(result) and "ManualPromote" in reasons(result)
    stop = next(e for e in result.events if e.reason == reason)
    assert stop.message.startswith(f"rolled back exposure 25% at step 2/{steps} to 0%")
    # At 0 %: nothing treated to stop, so the refusal says only what is refused.
    assert s["message"].startswith("invalid spec: spec.")
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.tick(1).events == ()  # once per token
    sim.body["spec"] = Sim().body["spec"]
    sim.body["metadata"]["generation"] += 1
    result = sim.tick(1)
    # Valid again: the superseded promote does nothing; the spec changed since the rollback,
    # so the ramp restarts at step 1, as after any rollback and edit.
    assert "ManualPromote" not in reasons(result)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)


def test_an_unrelated_request_waits_for_a_spec_that_parses() -> None:
    sim = _treating_at_25()
    _currency(sim, "usd")
    sim.annotate("uplift.dev/retry", "t9")
    sim.tick(1)
    assert "uplift.dev/retry" not in sim.status["handledRequests"]
    assert sim.status["exposurePercent"] == 25


def test_a_spec_that_is_not_an_object_still_stops() -> None:
    """Nothing of it parses: the stop is acted on all the same."""
    sim = _treating_at_25()
    sim.body["spec"] = None
    sim.body["metadata"]["generation"] += 1
    sim.annotate("uplift.dev/abort", "t1")
    result = sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    assert "ManualAbort" in reasons(result)
