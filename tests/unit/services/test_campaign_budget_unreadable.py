"""A Campaign whose spend cannot be read (Prometheus out of reach) under
``spec.economics.budgetUnreadable.action: Suspend``: once the budget gate's readings have
failed for ``after`` it is suspended as a spent budget suspends it (exposure 0, phase
Suspended, Ready ``BudgetUnreadable``, an inactive entry in its model's campaigns file, so the
runtime treats no one), the time the outage began carried in ``status.budgetUnreadableSince``
across an operator restart, and the exposure comes back at the first reading under the budget.
Without it (Hold, the default) exposure goes on, as before."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import yaml
from tests.unit.services.test_campaign import SAMPLES, Sim, reasons
from tests.unit.services.test_campaign_budget_memory import LedgerMetrics, _period_start

from uplift_operator.render import campaigns as render
from uplift_operator.runtime import campaigns as runtime
from uplift_operator.services import campaign, campaigns_file

SUSPEND = {"action": "Suspend", "after": "10m"}


def _sim(unreadable: dict[str, Any] | None) -> tuple[Sim, LedgerMetrics]:
    """The sample Campaign judged by its budget gate alone (Prometheus out of reach would
    otherwise roll it back on its other gates' Errors)."""
    exposure = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
    exposure["gates"] = [{"name": "budget", "type": "budget"}]
    sim = Sim(exposure=exposure)
    sim.body["metadata"].update(name="spring-email", creationTimestamp="2026-11-01T00:00:00Z")
    sim.body["spec"]["economics"].pop("budgetUnreadable", None)  # absent: Hold
    if unreadable is not None:
        sim.body["spec"]["economics"]["budgetUnreadable"] = unreadable
    metrics = LedgerMetrics(ledgers={"r1": 100.0},
                            period_start=_period_start(sim.now).timestamp())
    sim.deps = dataclasses.replace(sim.deps, prometheus=metrics)
    return sim, metrics


def _restart(sim: Sim, metrics: LedgerMetrics) -> None:
    """A new operator process: the status as the API server stores it (JSON), new adapters."""
    sim.body = json.loads(json.dumps(sim.body))
    sim.deps = campaign.CampaignDependencies(cluster=sim.cluster, prometheus=metrics,
                                             metric_templates=sim.deps.metric_templates)


def _active(sim: Sim) -> tuple[bool, float]:
    """What the runtime applies of the campaigns file rendered for ``sim`` now."""
    text = render.text(campaigns_file.entries([campaigns_file.snapshot(copy.deepcopy(sim.body))]))
    applied, rejected = runtime.apply_document({}, text, lambda c: c)
    assert rejected == {}
    entry = applied["spring-email"]
    return entry.active, entry.exposure_percent


def test_an_unreadable_spend_suspends_after_its_time_across_a_restart_and_resumes() -> None:
    sim, metrics = _sim(SUSPEND)
    sim.tick()
    sim.tick(5)  # the budget gate reads 100 of 5000
    assert sim.status["exposurePercent"] == 5 and "budgetUnreadableSince" not in sim.status
    metrics.down = True
    sim.tick(5)  # the first reading that fails
    since = sim.status["budgetUnreadableSince"]
    assert since == "2026-12-01T12:10:00Z"
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Progressing", 5)
    assert _active(sim) == (True, 5)
    # The operator restarts mid-outage: the time it began comes from status.
    _restart(sim, LedgerMetrics(ledgers={"r1": 100.0}, period_start=metrics.period_start,
                                down=True))
    said = reasons(sim.tick(5))
    assert sim.status["budgetUnreadableSince"] == since  # not restarted at 12:15
    assert (sim.status["phase"], "BudgetUnreadable" in said) == ("Progressing", False)
    said = reasons(sim.tick(5))  # 12:20, `after` (10m) since 12:10
    s = sim.status
    assert (s["phase"], s["exposurePercent"], s["suspendedExposurePercent"]) == (
        "Suspended", 0, 5)
    assert sim.condition("Ready")["reason"] == "BudgetUnreadable"
    assert said.count("BudgetUnreadable") == 1
    assert "unreadable since 2026-12-01T12:10:00+00:00" in s["message"]
    assert "timed out" in s["message"]  # the failed reading's words
    assert _active(sim) == (False, 0)  # the runtime treats no one
    # Prometheus answers again, the spend under the budget: the exposure comes back.
    sim.deps = dataclasses.replace(sim.deps, prometheus=LedgerMetrics(
        ledgers={"r1": 300.0}, period_start=metrics.period_start))
    said = reasons(sim.tick(5))
    s = sim.status
    assert (s["phase"], s["exposurePercent"]) == ("Progressing", 5)
    assert "suspendedExposurePercent" not in s and "budgetUnreadableSince" not in s
    assert "BudgetRenewed" in said
    assert _active(sim) == (True, 5)


def test_by_default_an_unreadable_spend_holds_and_exposure_goes_on() -> None:
    sim, metrics = _sim(None)
    sim.tick()
    sim.tick(5)
    metrics.down = True
    said: list[str] = []
    for _ in range(12):  # an hour of failed readings
        said += reasons(sim.tick(5))
    s = sim.status
    assert (s["phase"], s["exposurePercent"]) == ("Progressing", 5)
    assert s["budgetUnreadableSince"] == "2026-12-01T12:10:00Z"
    assert "BudgetUnreadable" not in said
    assert _active(sim) == (True, 5)


def test_one_failed_reading_suspends_nothing_when_read_less_often_than_after() -> None:
    # after 10m (the default), the spend read every 30 min: Prometheus restarting through one
    # reading leaves the runtime treating, and the step's pause running.
    sim, metrics = _sim({"action": "Suspend"})
    sim.body["spec"]["exposure"]["analysisInterval"] = "30m"
    sim.tick()
    sim.tick(30)  # reads 100 of 5000
    assert sim.status["exposurePercent"] == 5 and "budgetUnreadableSince" not in sim.status
    metrics.down = True
    said = reasons(sim.tick(30))  # 12:30 + 30m: the reading fails
    assert sim.status["budgetUnreadableSince"] == "2026-12-01T13:00:00Z"
    for _ in range(2):  # 13:10, 13:20: `after` past, no reading
        said += reasons(sim.tick(10))
        assert sim.status["phase"] == "Progressing" and _active(sim) == (True, 5)
    metrics.down = False
    said += reasons(sim.tick(10))  # 13:30: read again, under the budget
    s = sim.status
    assert "budgetUnreadableSince" not in s and s["phase"] == "Progressing"
    assert "BudgetUnreadable" not in said and "BudgetRenewed" not in said
    # The hour's pause from 12:00 is over, never started again: the step advances.
    assert (s["currentStep"], s["exposurePercent"]) == (1, 25)
    assert _active(sim) == (True, 25)
