"""A Campaign whose spec the operator refuses (it parses; validation fails) while it treats:
the campaigns file tells the runtime to treat no one in an entry the runtime takes, and the
kill switches (abort, emergency rollback) are acted on while the spec stays invalid."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit.services.test_campaign import Sim, reasons

from uplift_operator.render import campaigns as render
from uplift_operator.runtime import campaigns as runtime
from uplift_operator.services import campaigns_file


def _treating_at_25() -> Sim:
    sim = Sim()
    sim.body["metadata"].update(name="spring-email", creationTimestamp="2026-11-01T00:00:00Z")
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["phase"]) == (25, "Progressing")
    return sim


def _runtime_view(sim: Sim, previous: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """What the runtime applies after reading the file the operator renders for ``sim`` now."""
    text = render.text(campaigns_file.entries([campaigns_file.snapshot(copy.deepcopy(sim.body))]))
    return runtime.apply_document(previous, text, lambda c: c)


@pytest.mark.parametrize("edit", [
    {"economics": {"budgetPeriod": "500ms"}},
    {"economics": {"budgetPeriod": "0s"}},
    {"experiment": {"attributionWindow": "500ms"}},
])
def test_a_refused_spec_stops_the_runtime_treating(edit: dict[str, Any]) -> None:
    sim = _treating_at_25()
    applied, rejected = _runtime_view(sim, {})
    assert rejected == {} and applied["spring-email"].active
    assert applied["spring-email"].exposure_percent == 25
    for key, changes in edit.items():
        sim.edit_spec(**{key: {**sim.body["spec"][key], **changes}})
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    applied, rejected = _runtime_view(sim, applied)
    assert rejected == {}  # taken: a rejected entry would keep treating at 25 %
    now = applied["spring-email"]
    assert (now.active, now.exposure_percent) == (False, 0)
    # the holdout stays as it was: reports of earlier decisions still attribute
    assert (now.salt, now.unit_key, now.holdout_fraction) == ("spring-2026", "customer_id", 0.1)


@pytest.mark.parametrize(("annotation", "reason"), [
    ("uplift.dev/emergency-rollback", "EmergencyRollback"),
    ("uplift.dev/abort", "ManualAbort"),
])
def test_the_kill_switch_works_while_the_spec_is_invalid(annotation: str, reason: str) -> None:
    sim = _treating_at_25()
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "500ms"})
    sim.tick(1)
    sim.annotate(annotation, "t1")
    # Pending with the stop: superseded by it (stopping wins), not kept for a valid spec.
    sim.annotate("uplift.dev/promote", "full")
    result = sim.tick(1)
    s = sim.status
    assert s["exposurePercent"] == 0 and s["phase"] == "Degraded"
    assert s["handledRequests"] == {annotation: "t1", "uplift.dev/promote": "full"}
    assert [e["action"] for e in s["history"][-2:]] == [reason, "RequestIgnored"]
    assert "superseded by the" in s["history"][-1]["reason"]
    assert reason in reasons(result) and "ManualPromote" in reasons(result)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.tick(1).events == ()  # once per token
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "7d"})
    result = sim.tick(1)
    # Valid again: the superseded promote does nothing; the spec changed since the rollback,
    # so the ramp restarts at step 1, as after any rollback and edit.
    assert "ManualPromote" not in reasons(result)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)


def test_an_unrelated_request_on_an_invalid_spec_is_not_marked_handled() -> None:
    sim = _treating_at_25()
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "500ms"})
    sim.annotate("uplift.dev/retry", "t9")
    sim.tick(1)
    assert "uplift.dev/retry" not in sim.status["handledRequests"]
    assert sim.status["exposurePercent"] == 25




def test_the_status_of_a_refused_spec_says_the_runtime_treats_no_one() -> None:
    sim = _treating_at_25()
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "500ms"})
    result = sim.tick(1)
    s = sim.status
    says = ("treating no one under this Campaign until its spec is fixed (its campaigns-file "
            "entry is inactive; exposure 25% at step 2 resumes then): invalid spec: "
            "spec.economics.budgetPeriod")
    # The exposure the ramp resumes at is kept; what the runtime does meanwhile is said.
    assert (s["phase"], s["exposurePercent"], s["currentStep"]) == ("Degraded", 25, 1)
    assert s["message"].startswith(says)
    assert sim.condition("Ready")["message"] == s["message"]
    assert sim.condition("Ready")["reason"] == "InvalidSpec"
    assert [(e.type, e.reason, e.message) for e in result.events] == [
        ("Warning", "InvalidSpec", s["message"])]
    assert sim.tick(1).events == ()  # said once
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "7d"})
    sim.tick(1)
    fixed = sim.status
    assert (fixed["phase"], fixed["exposurePercent"], fixed["currentStep"]) == (
        "Progressing", 25, 1)
    assert "treating no one" not in fixed["message"]


def test_a_refused_spec_at_zero_says_only_what_is_refused() -> None:
    sim = _treating_at_25()
    sim.annotate("uplift.dev/abort", "a1")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "500ms"})
    sim.tick(1)
    assert sim.status["message"].startswith("invalid spec: spec.economics.budgetPeriod")
