"""The demo's live view, rendered from plain status dicts: what a person watching it reads."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from rich.console import Console, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table

from uplift_operator.devenv import scenarios
from uplift_operator.devenv.demo_models import LOADING, Preparing
from uplift_operator.devenv.view import (
    campaign_section,
    gate_table,
    model_section,
    models_section,
    plain_line,
    render,
    samples_needed,
    split_bar,
)


def _text(renderable: RenderableType, width: int = 200) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def _row(text: str, label: str) -> str:
    """The line of a label/value grid whose label is ``label``."""
    return next(line for line in text.splitlines() if line.split()[:1] == [label])


def _bars(table: Table) -> dict[str, ProgressBar]:
    """The progress bar of each gate row, by gate name."""
    names = list(table.columns[0].cells)
    return {str(name): bar for name, bar in zip(names, table.columns[5].cells, strict=True)
            if isinstance(bar, ProgressBar)}


CANARY_STATUS: dict[str, Any] = {
    "phase": "Progressing", "stableVersion": "1", "canaryVersion": "2", "canaryWeight": 30,
    "currentStep": 0, "message": "step 1 of 2: waiting for conclusive gates",
    "gates": [
        {"name": "errors", "verdict": "Pass", "value": 0.0, "threshold": 0.01, "samples": 250},
        {"name": "online-effect", "verdict": "Inconclusive", "value": 0.0123, "lower": -0.031,
         "upper": 0.0456, "threshold": -0.02, "samples": 500, "designSamples": 2000,
         "message": "treated conversion canary − stable: continue"},
        {"name": "drift", "verdict": "Fail", "value": 0.41, "upper": 0.5, "lower": 0.33,
         "threshold": 0.25, "samples": 900},
    ]}


def _campaign(status: dict[str, Any], budget: float | None = 5, period: str | None = "30s"
              ) -> dict[str, Any]:
    economics: dict[str, Any] = {"currency": "USD", "costPerTreatment": 0.25,
                                 "valuePerConversion": 10.0}
    if budget is not None:
        economics["budget"] = budget
    if period is not None:
        economics["budgetPeriod"] = period
    return {"metadata": {"name": "spring-email"},
            "spec": {"modelRef": {"name": "hillstrom-uplift"}, "economics": economics,
                     "exposure": scenarios.EXPOSURE},
            "status": status}


DELIVERY_FAILED: dict[str, Any] = {
    "phase": "Degraded", "modelVersion": "2", "exposurePercent": 0, "currentStep": 0,
    "spend": 3.5, "budgetRemaining": 99996.5, "treatedUnits": 1200, "holdoutUnits": 130,
    "incrementalEffect": {"estimate": 0.012, "display": "+0.012 [-0.02, +0.04]"},
    "message": "rolled back: gate delivery Fail",
    "gates": [
        {"name": "delivery", "verdict": "Fail", "value": 0.5, "lower": 0.41, "upper": 0.6,
         "threshold": 0.9, "samples": 30, "message": "delivered 15/30"},
        {"name": "incremental", "verdict": "Inconclusive", "samples": 40},
        {"name": "budget", "verdict": "Pass", "value": 3.5, "threshold": 100000},
    ]}


def test_a_canary_shows_its_phase_step_split_and_every_gate_verdict_with_its_numbers() -> None:
    text = _text(model_section(CANARY_STATUS, {"1": 70, "2": 30}))
    assert "Progressing" in text
    assert _row(text, "stable").split() == ["stable", "v1"]
    assert "v2 at 30 % (step 1 of 2)" in _row(text, "canary")
    assert "v1 70 %  v2 30 %" in text
    assert "step 1 of 2: waiting for conclusive gates" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines()
            if line.count("│") > 3 and line.split("│")[1].strip() in
            ("errors", "online-effect", "drift")}
    assert set(rows) == {"errors", "online-effect", "drift"}
    assert "Pass" in rows["errors"] and "250" in rows["errors"] and "0.01" in rows["errors"]
    assert "Inconclusive" in rows["online-effect"]
    assert "0.0123 [-0.031, 0.0456]" in rows["online-effect"]
    assert "-0.02" in rows["online-effect"] and "500" in rows["online-effect"]
    assert "Fail" in rows["drift"] and "0.41 [0.33, 0.5]" in rows["drift"]


def test_without_a_canary_no_gate_table_is_shown_only_why() -> None:
    status = {**CANARY_STATUS, "phase": "Healthy", "canaryVersion": None, "stableVersion": "2"}
    text = _text(model_section(status, {"2": 100}))
    assert "Healthy" in _row(text, "phase") and _row(text, "canary").split() == ["canary", "none"]
    assert "gates: no canary" in text
    assert "online-effect" not in text and "Inconclusive" not in text


def test_gate_bars_fill_towards_design_samples_else_min_samples() -> None:
    table = gate_table(CANARY_STATUS["gates"], {g["name"]: g for g in scenarios.RAMP["gates"]},
                       "gates")
    bars = _bars(table)
    # errors: no designSamples, minSamples 100 → full; online-effect: 500 of designSamples 2000
    # (not of its minSamples 300); drift: minSamples 300, 900 seen → full.
    assert (bars["errors"].total, bars["errors"].completed) == (100, 100)
    assert (bars["online-effect"].total, bars["online-effect"].completed) == (2000, 500)
    assert (bars["drift"].total, bars["drift"].completed) == (300, 300)
    assert samples_needed({"name": "qini"}, {"name": "qini"}) == 0  # no bar without a need


def test_a_campaign_after_a_delivery_failure_shows_its_state_and_the_failing_gate() -> None:
    section = campaign_section(_campaign(DELIVERY_FAILED, budget=100_000, period="1h"))
    text = _text(section)
    assert "Campaign" in text and "demo/spring-email" in text
    assert "hillstrom-uplift v2" in text
    assert "Degraded" in _row(text, "phase")
    assert "0 %  (step 1 of 3: 20 % → 50 % → 100 %)" in _row(text, "exposure")
    assert "3.50 of 100,000 USD per 1h (99996.50 left)" in _row(text, "spend")
    decisions = _row(text, "decisions")
    assert "treated 1,200, holdout 130" in decisions
    assert "incremental +0.012 [-0.02, +0.04]" in decisions and "conversions" not in decisions
    assert "rolled back: gate delivery Fail" in text
    delivery = next(line for line in text.splitlines() if "│ delivery" in line)
    assert "Fail" in delivery and "0.5 [0.41, 0.6]" in delivery and "0.9" in delivery
    assert "30" in delivery and "delivered 15/30" in delivery
    assert "Inconclusive" in next(line for line in text.splitlines() if "│ incremental" in line)
    assert "100,000" in next(line for line in text.splitlines() if "│ budget" in line)


def test_a_campaign_gate_waiting_for_samples_has_a_bar_towards_its_min_samples() -> None:
    specs = {g["name"]: g for g in scenarios.EXPOSURE["gates"]}
    bars = _bars(gate_table(DELIVERY_FAILED["gates"], specs, "gates"))
    # delivery: minSamples 50 in the Campaign's spec, 30 decisions seen; the others need none.
    assert set(bars) == {"delivery"}
    assert (bars["delivery"].total, bars["delivery"].completed) == (50, 30)


def test_a_campaign_out_of_budget_shows_spend_against_budget_and_its_exposure() -> None:
    status = {"phase": "Suspended", "modelVersion": "2", "exposurePercent": 0, "currentStep": 0,
              "spend": 5.0, "budgetRemaining": 0.0, "message": "BudgetExhausted",
              "gates": [{"name": "budget", "verdict": "Fail", "value": 5.0, "threshold": 5.0,
                         "message": "budget exhausted: spent 5 of 5"}]}
    text = _text(campaign_section(_campaign(status)))
    assert "Suspended" in _row(text, "phase")
    assert "5.00 of 5 USD per 30s (0.00 left)" in _row(text, "spend")
    budget = next(line for line in text.splitlines() if "│ budget" in line)
    assert "Fail" in budget and "budget exhausted" in budget

    renewed = {**status, "phase": "Progressing", "exposurePercent": 20, "spend": 0.25,
               "budgetRemaining": 4.75, "gates": []}
    text = _text(campaign_section(_campaign(renewed)))
    assert "Progressing" in _row(text, "phase")
    assert "█" * 8 + "░" * 32 + "  20 %  (step 1 of 3" in _row(text, "exposure")  # 20 % of 40
    assert "0.25 of 5 USD per 30s" in _row(text, "spend")
    assert "gates: not evaluated yet" in text


def test_a_campaign_without_status_yet_renders() -> None:
    text = _text(campaign_section(_campaign({}, budget=None, period=None)))
    assert "hillstrom-uplift (no version yet)" in text and "3 steps" in text
    assert "spend" not in text


def _sample(campaigns: list[dict[str, Any]], resent: int = 0) -> Any:
    return SimpleNamespace(status=CANARY_STATUS, weights={"1": 70, "2": 30}, rows=12345,
                           outcomes=678, errors=0, resent=resent, campaigns=campaigns,
                           events=[{"type": "Warning", "reason": "RolledBack", "time": "12:00:01",
                                    "message": "gate delivery Fail"}])


def test_the_frame_shows_the_model_and_each_campaign_as_resources() -> None:
    text = _text(render(_sample([_campaign(DELIVERY_FAILED)]), title="scenario delivery-failure",
                        history=["✓ promote: v2 Promoted"]))
    assert "scenario delivery-failure" in text
    assert text.index("UpliftModel") < text.index("Campaign") < text.index("latest events")
    assert "customers scored 12,345" in text and "outcomes reported 678" in text
    assert "RolledBack" in text and "✓ promote: v2 Promoted" in text
    assert "Campaign" not in _text(render(_sample([]), title="scenario promote"))
    assert "resent" not in text, "nothing resent, nothing said"


def test_report_batches_sent_again_are_shown_beside_the_errors() -> None:
    text = _text(render(_sample([], resent=2), title="scenario promote"))
    assert "errors 0" in text and "report batches resent 2" in text


def test_models_being_prepared_show_progress_and_a_cached_one_is_full() -> None:
    cached = Preparing("version 1 (stable)", stage="cached", completed=4, cached=True, done=True,
                       started=10.0, finished=10.2)
    training = Preparing("new version (promote, harm)", stage="fitting", completed=1,
                         started=10.2)
    waiting = Preparing("new version (offline)")
    loading = Preparing("new version (drift)", stage=LOADING, started=19.0)
    failed = Preparing("new version (x)", error="boom", started=11.0, finished=12.0)
    table = models_section([cached, training, waiting, failed, loading], now=20.2)
    bars = [b for b in table.columns[1].cells if isinstance(b, ProgressBar)]
    assert [(b.total, b.completed) for b in bars] == [(4, 4), (4, 1), (4, 0), (4, 0), (4, 0)]
    text = _text(table)
    lines = {label: next(line for line in text.splitlines() if label in line)
             for label in ("version 1", "promote", "offline", "(x)", "drift")}
    assert "cached" in lines["version 1"] and "0.2 s" in lines["version 1"]
    assert "fitting (2 of 4)" in lines["promote"] and "10.0 s" in lines["promote"]
    assert "waiting" in lines["offline"]
    assert "failed: boom" in lines["(x)"]
    assert "loading the trainer and the cache" in lines["drift"] and " of 4" not in lines["drift"]

    # In the live view, only versions not ready yet are shown.
    frame = _text(render(_sample([]), title="t", models=[cached, training]))
    assert "new version (promote, harm)" in frame and "version 1 (stable)" not in frame
    assert "model versions" not in _text(render(_sample([]), title="t", models=[cached]))


def test_plain_line_names_the_model_and_the_campaign_state() -> None:
    line = plain_line(_sample([_campaign(DELIVERY_FAILED)]))
    assert line.startswith("Progressing stable v1 canary v2 30% | errors=Pass "
                           "online-effect=Inconclusive drift=Fail")
    assert ("| campaign spring-email Degraded v2 exposure 0% step 1/3 delivery=Fail "
            "incremental=Inconclusive budget=Pass spend 3.50 of 5 USD per 30s") in line
    assert "campaign" not in plain_line(_sample([]))


def test_split_bar_orders_stable_first_and_shows_the_shares() -> None:
    text = split_bar({"2": 30, "1": 70}, "2", width=10).plain
    assert text == "█" * 7 + "█" * 3 + "  v1 70 %  v2 30 %"
    assert split_bar({}, None).plain == "no SeldonDeployment yet"


def test_a_campaigns_arms_count_decisions_and_its_conversions_show_when_measured() -> None:
    """treatedUnits/holdoutUnits count decisions, labelled so; status.incrementalConversions
    (the effect's cohorts' count) shows beside the effect when the status has it."""
    measured = {**DELIVERY_FAILED, "incrementalConversions": {
        "estimate": 14.4, "lower": -24.0, "upper": 48.0, "display": "+14.4 [-24, +48]"}}
    text = _text(campaign_section(_campaign(measured, budget=100_000, period="1h")))
    decisions = _row(text, "decisions")
    assert decisions.split()[:3] == ["decisions", "treated", "1,200,"]
    assert ("incremental +0.012 [-0.02, +0.04]; conversions +14.4 [-24, +48]"
            in decisions)
    assert not [line for line in text.splitlines() if line.split()[:1] == ["units"]]
