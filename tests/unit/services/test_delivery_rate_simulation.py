"""deliveryRate over a whole exposure ramp, collector and gate together: a fake Prometheus
answers the collector's ``increase(…[w] offset o)`` queries from a timeline of treated decisions
and of the sender's reports, and every analysis is judged with the evidence carried from step
to step as the Campaign pass carries it (``next_step``).

A sender that silently drops a share of its deliveries (never reports them) used to pass the
gate for the whole ramp: its reports of the decisions still within ``reportDelay`` were counted
as deliveries of the older decisions, so at a step's first analysis (no decision older than
``reportDelay`` yet) every sender read 100 % delivered (docs/statistics.md, deliveryRate)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.unit.services.test_campaign_measurements import context

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateStatus, GateVerdict
from uplift_operator.domain import gates
from uplift_operator.domain import measurements as m
from uplift_operator.services.measurements import collect_campaign

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
_INCREASE = re.compile(r"increase\((\w+)\{([^}]*)\}\[(\d+)s\](?: offset (\d+)s)?\)")
#: Treated decisions a minute at each step of the ramp (its exposure grows); each step's
#: pause; analysisInterval; how long a run may take (a held step waits until the gate decides).
RATES, PAUSE, INTERVAL, HORIZON = (50.0, 250.0, 1000.0), 60, 5, 24 * 60


@dataclass
class Timeline:
    """The runtime's counters as Prometheus would answer ``increase`` over them: treated
    decisions at each step's rate from its start (``starts``: minutes after ``T0``, the ramp's
    start), a share ``delivered`` of them reported ``ok`` ``lag`` minutes after the decision,
    the rest reported ``failed`` then, or never (``silent``). ``now`` is the analysis' time."""

    delivered: float
    lag: float = 0.0
    silent: bool = True
    now: dt.datetime = T0
    starts: list[float] = field(default_factory=lambda: [0.0])

    def decisions_by(self, minute: float) -> float:
        """Treated decisions from ``T0`` to ``minute`` minutes after it."""
        ends = [*self.starts[1:], float("inf")]
        return sum(rate * min(max(minute - start, 0.0), end - start)
                   for rate, start, end in zip(RATES, self.starts, ends, strict=False))

    def counter(self, metric: str, status: str | None, minute: float) -> float:
        if metric == "uplift_assignments_total":
            return self.decisions_by(minute)
        reported = self.decisions_by(minute - self.lag)
        if status == "ok":
            return self.delivered * reported
        return 0.0 if self.silent else (1 - self.delivered) * reported

    def scalar(self, promql: str, time: Any = None) -> float | None:
        assert not promql.startswith("sum by"), promql
        return self._increase(promql, None)

    def _increase(self, promql: str, status: str | None) -> float:
        found = _INCREASE.search(promql)
        assert found is not None, promql
        metric, _, window, offset = found.groups()
        end = (self.now - T0).total_seconds() / 60 - int(offset or 0) / 60
        start = end - int(window) / 60
        return self.counter(metric, status, end) - self.counter(metric, status, start)

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        """The reports, one row per status (both exported from the start, as the runtime
        does): the collector's one ``sum by (status)`` query over ``status=~"ok|failed"``."""
        assert promql.startswith("sum by (status)") and 'status=~"ok|failed"' in promql, promql
        return [Sample({"status": status}, self._increase(promql, status), 0.0)
                for status in ("ok", "failed")]


def ramp(sender: Timeline, report_delay: str | None = None) -> str:
    """The verdicts of every analysis of a ramp run as the Campaign's is: a step ends at the
    first Pass once its pause has elapsed (held until then, however long), the evidence
    carried to the next (``next_step``); a Fail ends the run (a rollback), as does the last
    step's end or ``HORIZON``. A letter a verdict, steps apart by ``|``."""
    gate = CampaignGate.model_validate({"name": "delivery", "type": "deliveryRate", "min": 0.95,
                                        **({"reportDelay": report_delay} if report_delay
                                           else {})})
    status: GateStatus | None = None
    seen = []
    minute = 0
    while minute < HORIZON:
        minute += INTERVAL
        started = T0 + dt.timedelta(minutes=sender.starts[-1])
        sender.now = T0 + dt.timedelta(minutes=minute)
        ctx = context(now=sender.now, step_started_at=started, ramp_started_at=T0)
        measured = collect_campaign(gate, ctx, sender, None)
        assert isinstance(measured, m.DeliveryRateMeasurement), measured
        out = gates.evaluate_gate(gate, measured, gates.memory_of(status, gate), sender.now)
        status = gates.assess(gate, status, out)
        seen.append(out.verdict.value[0])
        if out.verdict is GateVerdict.FAIL:
            break
        if out.verdict is GateVerdict.PASS and minute - sender.starts[-1] >= PAUSE:
            seen.append("|")
            if len(sender.starts) == len(RATES):
                break
            sender.starts.append(float(minute))
            status = gates.next_step(status)
    return "".join(seen)


def hours(verdicts: str) -> float:
    return len(verdicts.replace("|", "")) * INTERVAL / 60


@pytest.mark.parametrize("lag", [0.0, 1.0, 4.0])
def test_a_sender_that_silently_drops_a_tenth_never_passes_and_fails(lag: float) -> None:
    """Its reports of the decisions within reportDelay no longer stand in for the deliveries
    it dropped: it holds the first step, and fails once the step's older decisions outnumber
    the reports enough (a share p delivered reads p·T/(T − d) on them: 0.9 × 95 min/90 min
    = 0.95 at T = 95 min with the default 5m)."""
    verdicts = ramp(Timeline(delivered=0.9, lag=lag))
    assert "P" not in verdicts and verdicts.endswith("F") and "|" not in verdicts, verdicts
    assert hours(verdicts) <= 3, verdicts


def test_a_sender_that_silently_drops_half_fails_within_the_first_pause() -> None:
    verdicts = ramp(Timeline(delivered=0.5))
    assert "P" not in verdicts and verdicts.endswith("F") and hours(verdicts) <= 1, verdicts


def test_failures_reported_fail_a_sender_at_the_first_analysis() -> None:
    assert ramp(Timeline(delivered=0.5, silent=False)) == "F"


def test_a_prompt_honest_sender_passes_every_step_as_its_pause_ends() -> None:
    # 12 analyses at each step: its pause, nothing held beyond it.
    assert ramp(Timeline(delivered=1.0)) == "|".join(["P" * 12] * 3) + "|"


@pytest.mark.parametrize(("lag", "report_delay"), [(1.0, None), (4.0, None), (9.0, "10m")])
def test_a_slow_honest_sender_never_fails_and_completes_later(lag: float,
                                                              report_delay: str | None) -> None:
    """Every delivery reported within reportDelay: the reports in flight are never read as
    failures; a Pass needs them in, so a slow sender passes later in a step than a prompt one
    (a delay L over a step's age T reads about L/T of the step's decisions undelivered)."""
    verdicts = ramp(Timeline(delivered=1.0, lag=lag), report_delay)
    assert "F" not in verdicts and verdicts.count("|") == 3, verdicts
    assert hours(verdicts) <= 6, verdicts  # 3 h of pauses


def test_the_collector_splits_the_steps_decisions_at_report_delay() -> None:
    sender = Timeline(delivered=0.9, lag=0.0)
    sender.now = T0 + dt.timedelta(minutes=20)
    gate = CampaignGate.model_validate({"name": "d", "type": "deliveryRate"})
    got = collect_campaign(gate, context(now=sender.now, step_started_at=T0,
                                         ramp_started_at=T0), sender, None)
    # 15 minutes of decisions older than the 5m reportDelay, 5 minutes younger, 50 a minute;
    # the reports of all 20 minutes' deliveries are in.
    assert got == m.DeliveryRateMeasurement(delivered=900, decided=750, reported=900,
                                            recent=250)
    out = gates.evaluate_gate(gate, got, None, sender.now)
    assert out.value == pytest.approx(0.9)  # not 900/750 read as 1.0
    assert "delivered 900/1000" in out.message
