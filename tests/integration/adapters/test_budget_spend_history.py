"""The budget gate's spend query against a real Prometheus: every ledger's spend in the period,
those of replicas that restarted or left included.

The runtime exports each replica's spend in the current budget period per ledger (a new ledger,
from zero, on every restart or model load). An hour of such gauges is backfilled with promtool:
a ledger that stopped mid-period (its pod restarted in place), the ledger that replaced it, one
that lived through the period's rollover, and two that must not count (gone in the previous
period; gone just after the rollover while still reporting the previous period). The gate reads
the spend at an analysis 40 minutes into the period, through ``collect_campaign`` as the
Campaign pass calls it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.adapters.conftest import _require_prometheus

from uplift_operator.adapters.prometheus import PrometheusClient, Sample
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.devenv.prometheus import PrometheusServer
from uplift_operator.domain import measurements as m
from uplift_operator.services.measurements import CampaignGateContext, collect_campaign

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
HOUR = 3600
SCRAPE_S = 15
PERIOD = 1_788_000_000 - 1_788_000_000 % (2 * HOUR) + 2 * HOUR  # a budget period's start
ANALYSIS = PERIOD + 40 * 60 + 3
LABELS = {"namespace": "shop", "model": "hillstrom-uplift", "campaign": "spring-email",
          "version": "3"}


@dataclass(frozen=True)
class Ledger:
    """One ledger's gauges: scraped from ``first`` to ``last`` (epoch seconds), spending ``rate``
    per second from ``zero`` on, reporting the period that starts at ``period``."""

    pod: str
    ledger: str
    first: int
    last: int
    zero: int
    rate: float
    period: int

    def spend_at(self, t: int) -> float:
        return round(self.rate * (t - self.zero), 3)


LEDGERS = (
    # Pod r0 restarts in place 25 minutes into the period: same target, a new ledger.
    Ledger("r0", "a1", PERIOD - 30, PERIOD + 25 * 60, PERIOD, 0.05, PERIOD),
    Ledger("r0", "a2", PERIOD + 25 * 60 + 30, ANALYSIS, PERIOD + 25 * 60 + 30, 0.04, PERIOD),
    # Pod r1 lives through the rollover (below: its previous period's figures first).
    Ledger("r1", "b", PERIOD, ANALYSIS, PERIOD, 0.0125, PERIOD),
)
NOT_COUNTED = (
    Ledger("r1", "b", PERIOD - 40 * 60, PERIOD - 1, PERIOD - 40 * 60, 0.03, PERIOD - HOUR),
    Ledger("r2", "c", PERIOD - 40 * 60, PERIOD - 10 * 60, PERIOD - 40 * 60, 0.05, PERIOD - HOUR),
    # Gone 10 s after the rollover, its last scrape still of the previous period.
    Ledger("r3", "d", PERIOD - 40 * 60, PERIOD + 10, PERIOD - 40 * 60, 0.02, PERIOD - HOUR),
)


def _write(path: Path, ledgers: Sequence[Ledger]) -> Path:
    lines = []
    for metric, value in (("uplift_campaign_period_spend", Ledger.spend_at),
                          ("uplift_campaign_period_start_seconds", None)):
        lines.append(f"# HELP {metric} synthetic history\n# TYPE {metric} gauge\n")
        series: dict[str, list[tuple[int, float]]] = {}
        for ledger in ledgers:
            labels = ",".join(f'{k}="{v}"' for k, v in
                              {**LABELS, "pod": ledger.pod, "ledger": ledger.ledger}.items())
            series.setdefault(labels, []).extend(
                (t, value(ledger, t) if value is not None else ledger.period)
                for t in range(ledger.first - ledger.first % SCRAPE_S + SCRAPE_S,
                               ledger.last + 1, SCRAPE_S))
        for labels, samples in series.items():  # a series' samples in time order
            lines.extend(f"{metric}{{{labels}}} {v} {t}\n" for t, v in sorted(samples))
    path.write_text("".join(lines) + "# EOF\n")
    return path


def _last_spend(ledger: Ledger) -> float:
    return ledger.spend_at(ledger.last - ledger.last % SCRAPE_S)


@dataclass
class At:
    """The real Prometheus (or the operator's source in front of it), asked at the analysis'
    instant (its history is backfilled)."""

    client: PrometheusClient | PiecewiseIncreases
    time: float

    def scalar(self, promql: str, time: Any = None) -> float | None:
        return self.client.scalar(promql, self.time)

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        return self.client.query(promql, self.time)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusClient]:
    _require_prometheus()
    workdir = tmp_path_factory.mktemp("prometheus-budget")
    server = PrometheusServer(workdir=Path(workdir) / "server", retention="3650d")
    server.backfill(_write(Path(workdir) / "spend.om", (*LEDGERS, *NOT_COUNTED)))
    with server:
        yield PrometheusClient(server.url)


def _context(now: dt.datetime) -> CampaignGateContext:
    spec = yaml.safe_load(SAMPLE.read_text())["spec"]
    spec["economics"].update(budget=100.0, budgetPeriod="1h")
    anchor = dt.datetime.fromtimestamp(PERIOD - 24 * HOUR, dt.UTC)
    return CampaignGateContext(
        namespace=LABELS["namespace"], name=LABELS["campaign"], model=LABELS["model"],
        spec=CampaignSpec.model_validate(spec), step_started_at=now - dt.timedelta(minutes=5),
        ramp_started_at=now - dt.timedelta(hours=3), now=now, budget_anchor=anchor,
        stable_version=LABELS["version"], stable_run_id="run-3")


def test_the_spend_of_a_restarted_replica_still_counts_in_its_period(
        prometheus: PrometheusClient) -> None:
    now = dt.datetime.fromtimestamp(ANALYSIS, dt.UTC)
    gate = CampaignGate.model_validate({"name": "budget", "type": "budget"})
    got = collect_campaign(gate, _context(now), At(prometheus, ANALYSIS), None)
    assert isinstance(got, m.BudgetMeasurement), got
    assert got.period_start == dt.datetime.fromtimestamp(PERIOD, dt.UTC)
    expected = sum(_last_spend(ledger) for ledger in LEDGERS)
    assert got.spend == pytest.approx(expected, abs=1e-6), (got.spend, expected)
    # What the live series alone say (the gate before ledgers): the restarted pod's first
    # ledger, gone 15 minutes ago, would be forgotten.
    live = sum(_last_spend(ledger) for ledger in LEDGERS if ledger.last == ANALYSIS)
    assert got.spend - live == pytest.approx(_last_spend(LEDGERS[0]))
    assert got.spend > got.budget, "the period's budget is spent: the gate suspends"


def test_kept_pieces_give_each_ledgers_last_spend_exactly(prometheus: PrometheusClient) -> None:
    """Through the operator's source, whose kept pieces answer long ranges (here scaled down:
    10-minute pieces past 20 minutes): the same sum as the whole range, at each analysis."""
    pieces = PiecewiseIncreases(prometheus, piece=600, settle=60, min_range=1200, longest=1800)
    gate = CampaignGate.model_validate({"name": "budget", "type": "budget"})
    for at in range(PERIOD + 21 * 60, ANALYSIS + 1, 97):
        now = dt.datetime.fromtimestamp(at, dt.UTC)
        whole = collect_campaign(gate, _context(now), At(prometheus, at), None)
        kept = collect_campaign(gate, _context(now), At(pieces, at), None)
        assert isinstance(whole, m.BudgetMeasurement) and isinstance(kept, m.BudgetMeasurement)
        assert kept.spend == pytest.approx(whole.spend, abs=1e-9), at
