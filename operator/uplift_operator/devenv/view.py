"""The live terminal view of the demo (rich): what the operator sees and decides, at a glance.

Top: the scenario and the demo-speed settings. Then the UpliftModel (phase, stable and canary
versions, the traffic split as a bar, the step and how long it has left) and a table of its
gates (verdict, value, bound, samples and a bar towards the samples a decision needs); each
Campaign (phase, its model and version, exposure and step, spend against its budget, the
incremental effect) with its gates in the same table; the model versions still being trained or
loaded, as progress bars; the customers flowing, and the latest events. Every function here is
pure (plain dicts in, rich renderables or text out) so it is easy to test; ``plain_line`` is the
``--plain`` fallback's one line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from uplift_operator.devenv import scenarios
from uplift_operator.devenv.demo_models import STAGES

VERDICT_STYLE = {"Pass": "bold green", "Fail": "bold red", "Inconclusive": "yellow",
                 "Error": "magenta"}
PHASE_STYLE = {"Healthy": "green", "Progressing": "cyan", "Degraded": "red", "Paused": "yellow",
               "Suspended": "yellow", "Completed": "green"}
#: The demo UpliftModel's gates by name (the latency gate is added in its scenario only).
MODEL_GATES: dict[str, dict[str, Any]] = {
    g["name"]: g for g in [*scenarios.RAMP["gates"], scenarios.LATENCY_GATE]}


def _num(x: Any) -> str:
    if x is None:
        return "–"
    value = float(x)
    if value.is_integer() and abs(value) < 1e12:
        return f"{int(value):,}"  # counts and budgets in full: 100,000, not 1e+05
    return f"{value:.4g}"


def _value(gate: Mapping[str, Any]) -> str:
    if gate.get("lower") is None and gate.get("upper") is None:
        return _num(gate.get("value"))
    return f"{_num(gate.get('value'))} [{_num(gate.get('lower'))}, {_num(gate.get('upper'))}]"


def samples_needed(gate: Mapping[str, Any], spec: Mapping[str, Any] | None) -> int:
    """Samples the bar fills towards: the gate's ``designSamples`` (where a decision is expected,
    as the operator computed it) if in status, else the spec's ``minSamples``; 0: no bar."""
    design = gate.get("designSamples")
    if design:
        return int(design)
    return int((spec or {}).get("minSamples", 0) or 0)


def split_bar(weights: Mapping[str, int], canary: str | None, width: int = 40,
              served: Mapping[str, float] | None = None, served_rows: int = 0) -> Text:
    """``v1 ██████████░░░░ v2`` with the declared percentages; with ``served`` (version → share
    of the rows the router served under these weights), a second bar of what it served."""
    text = Text()
    if not weights:
        return Text("no SeldonDeployment yet", style="dim")
    ordered = sorted(weights.items(), key=lambda kv: kv[0] == canary)
    for version, weight in ordered:
        cells = round(width * weight / 100)
        style = "magenta" if version == canary else "blue"
        text.append("█" * cells, style=style)
    text.append("  ")
    text.append("  ".join(f"v{v} {w} %" for v, w in ordered))
    if served:
        text.append("  declared\n")
        versions = [v for v, _ in ordered] + sorted(set(served) - set(weights))
        for version in versions:
            cells = round(width * served.get(version, 0.0))
            text.append("█" * cells, style="magenta" if version == canary else "blue")
        text.append("  ")
        text.append("  ".join(f"v{v} {100 * served.get(v, 0.0):.1f} %" for v in versions))
        text.append(f"  served ({served_rows:,} rows)", style="dim")
    return text


def exposure_bar(percent: float, width: int = 40) -> Text:
    """``████░░░░░░ 20 %``: the share of eligible units the Campaign treats (or holds out)."""
    cells = round(width * max(0.0, min(percent, 100.0)) / 100)
    text = Text("█" * cells, style="magenta")
    text.append("░" * (width - cells), style="dim")
    text.append(f"  {percent:g} %")
    return text


def gate_table(gates: Iterable[Mapping[str, Any]], specs: Mapping[str, Mapping[str, Any]],
               title: str) -> Table:
    """One row per gate: verdict, value [CI], bound, samples, a bar to the samples needed, why."""
    table = Table(title=title, expand=True, title_justify="left")
    for column in ("gate", "verdict", "value [CI]", "bound", "samples", "", "why"):
        table.add_column(column, overflow="fold", no_wrap=column != "why",
                         ratio=1 if column == "why" else None)
    for g in gates:
        need = samples_needed(g, specs.get(g["name"]))
        samples = g.get("samples")
        bar: RenderableType = Text("")
        if need and samples is not None:
            bar = ProgressBar(total=need, completed=min(int(samples), need), width=12)
        bound = g.get("threshold")
        if bound is None and g.get("lower") is not None:
            bound = g.get("lower")
        verdict = str(g.get("verdict", ""))
        table.add_row(g["name"], Text(verdict, style=VERDICT_STYLE.get(verdict, "")),
                      _value(g), _num(bound), _num(samples), bar,
                      Text(str(g.get("message", ""))[:90], style="dim"))
    return table


def model_section(status: Mapping[str, Any], weights: Mapping[str, int], *,
                  progress: str = "", served: Mapping[str, float] | None = None,
                  served_rows: int = 0) -> RenderableType:
    """The UpliftModel: phase, versions, canary step, the split, and its gates while a canary
    runs (gates only judge a canary)."""
    phase = str(status.get("phase", "…"))
    canary = status.get("canaryVersion")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("UpliftModel", f"{scenarios.NAMESPACE}/{scenarios.MODEL}")
    grid.add_row("phase", Text(phase, style=PHASE_STYLE.get(phase, "")))
    grid.add_row("stable", f"v{status.get('stableVersion', '–')}")
    step = status.get("currentStep")
    steps = scenarios.RAMP["steps"]
    grid.add_row("canary", (f"v{canary} at {status.get('canaryWeight', 0)} % "
                            f"(step {int(step) + 1 if step is not None else '–'} of "
                            f"{len(steps)})") if canary else "none")
    grid.add_row("traffic", split_bar(weights, canary, served=served, served_rows=served_rows))
    if status.get("message"):
        grid.add_row("message", Text(str(status["message"])[:160], style="italic"))
    if progress:
        grid.add_row("now", progress)
    if not canary:
        return Group(grid, Text("gates: no canary; they judge the next new version",
                                style="dim"))
    return Group(grid, gate_table(status.get("gates", []), MODEL_GATES, "gates (this step)"))


def _spend(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    economics = spec.get("economics") or {}
    currency = economics.get("currency", "USD")
    budget = economics.get("budget")
    spend = float(status.get("spend") or 0)
    if budget is None:
        return f"{spend:.2f} {currency} (no budget)"
    period = f" per {economics['budgetPeriod']}" if economics.get("budgetPeriod") else ""
    text = f"{spend:.2f} of {_num(budget)} {currency}{period}"
    if status.get("budgetRemaining") is not None:
        text += f" ({float(status['budgetRemaining']):.2f} left)"
    return text


def campaign_section(campaign: Mapping[str, Any]) -> RenderableType:
    """One Campaign (``{"metadata": {"name"}, "spec", "status"}``): phase, its model and the
    version it follows, exposure and step, spend against budget, effect, and its gates."""
    spec = campaign.get("spec") or {}
    status = campaign.get("status") or {}
    name = (campaign.get("metadata") or {}).get("name", "?")
    exposure = spec.get("exposure") or {}
    steps = exposure.get("steps") or []
    phase = str(status.get("phase", "…"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Campaign", f"{scenarios.NAMESPACE}/{name}")
    model = (spec.get("modelRef") or {}).get("name", "?")
    version = status.get("modelVersion")
    grid.add_row("model", f"{model} v{version}" if version else f"{model} (no version yet)")
    grid.add_row("phase", Text(phase, style=PHASE_STYLE.get(phase, "")))
    step = status.get("currentStep")
    ramp = " → ".join(f"{s.get('percent', 0):g} %" for s in steps)
    where = (f"step {int(step) + 1} of {len(steps)}" if step is not None
             else f"{len(steps)} steps")
    exposure_row = exposure_bar(float(status.get("exposurePercent") or 0))
    exposure_row.append(f"  ({where}: {ramp})" if ramp else f"  ({where})", style="dim")
    grid.add_row("exposure", exposure_row)
    if "spend" in status or "budgetRemaining" in status or (spec.get("economics") or {}).get(
            "budget") is not None:
        grid.add_row("spend", _spend(spec, status))
    # incrementalConversions: the effect's cohorts' count (absent from an older operator's
    # status); treatedUnits/holdoutUnits count decisions, a unit decided again counts again.
    effect = [f"{label} {est.get('display') or _num(est.get('estimate'))}"
              for label, est in (("incremental", status.get("incrementalEffect")),
                                 ("conversions", status.get("incrementalConversions")),
                                 ("ROI", status.get("roi"))) if est]
    decisions = (f"treated {int(status.get('treatedUnits') or 0):,}, holdout "
                 f"{int(status.get('holdoutUnits') or 0):,}")
    grid.add_row("decisions", decisions + (f"; {'; '.join(effect)}" if effect else ""))
    if status.get("message"):
        grid.add_row("message", Text(str(status["message"])[:160], style="italic"))
    specs = {g["name"]: g for g in exposure.get("gates", []) if "name" in g}
    gates = status.get("gates", [])
    if not gates:
        return Group(grid, Text("gates: not evaluated yet", style="dim"))
    return Group(grid, gate_table(gates, specs, f"gates of Campaign {name}"))


def models_section(items: Sequence[Any], now: float | None = None) -> Table:
    """The demo's model versions (``demo_models.Preparing``): a bar through the training stages
    each, full at once for a cached one; what it does now and for how long."""
    now = time.monotonic() if now is None else now
    table = Table(title="model versions (trained once, then cached)", expand=True,
                  title_justify="left", show_header=False)
    table.add_column("version", no_wrap=True)
    table.add_column("bar", no_wrap=True)
    table.add_column("stage", ratio=1)
    table.add_column("seconds", justify="right", no_wrap=True)
    for item in items:
        if item.error:
            stage = Text(f"failed: {item.error}"[:120], style="bold red")
        elif item.done:
            stage = Text(item.stage, style="green")
        elif item.started is None:
            stage = Text("waiting", style="dim")
        elif item.stage in STAGES:
            stage = Text(f"{item.stage} ({STAGES.index(item.stage) + 1} of {len(STAGES)})",
                         style="cyan")
        else:
            stage = Text(item.stage, style="cyan")
        table.add_row(item.label, ProgressBar(total=item.total, completed=item.completed,
                                              width=24),
                      stage, f"{item.seconds(now):.1f} s" if item.started is not None else "")
    return table


def render(sample: Any, *, title: str, note: str = "", progress: str = "",
           history: Sequence[str] = (), models: Sequence[Any] = ()) -> RenderableType:
    """One frame: settings, the model, its Campaigns, models still being prepared
    (``models``: ``demo_models.Preparing``), the customers and the events."""
    status: dict[str, Any] = sample.status if sample is not None else {}
    header = Text(title, style="bold")
    if note:
        header.append("\n" + note, style="dim")
    for line in scenarios.settings_lines():
        header.append("\n" + line, style="dim")
    parts: list[RenderableType] = [
        header, Text(""),
        model_section(status, sample.weights if sample is not None else {}, progress=progress,
                      served=getattr(sample, "served", None),
                      served_rows=getattr(sample, "served_rows", 0))]
    for campaign in getattr(sample, "campaigns", None) or []:
        parts += [Text(""), campaign_section(campaign)]
    pending = [m for m in models if not m.done]
    if pending:
        parts.append(models_section(pending))

    traffic = Text()
    if sample is not None:
        traffic.append(f"customers scored {sample.rows:,}   outcomes reported "
                       f"{sample.outcomes:,}   errors {sample.errors}")
        if sample.resent:  # a predictor being retired refused a batch; it got through later
            traffic.append(f"   report batches resent {sample.resent}")
    events = Table(title="latest events", expand=True, title_justify="left", show_header=False)
    events.add_column("time", style="dim", no_wrap=True)
    events.add_column("reason", no_wrap=True)
    events.add_column("message", overflow="fold", ratio=1)
    for e in (sample.events if sample is not None else [])[-6:]:
        style = "red" if e["type"] == "Warning" else ""
        events.add_row(e["time"], Text(e["reason"], style=style), e["message"][:200])
    done = Text("\n".join(history), style="bold") if history else Text("")
    parts += [traffic, events, done]
    return Panel(Group(*parts), title="uplift-operator demo", subtitle="Ctrl-C stops everything")


def _verdicts(gates: Iterable[Mapping[str, Any]]) -> str:
    return " ".join(f"{g['name']}={g.get('verdict', '?')}" for g in gates)


def plain_line(sample: Any) -> str:
    """The ``--plain`` status line (without the clock and the customer count): the model's
    phase, versions, canary and gate verdicts, then each Campaign's."""
    s = sample.status
    canary = s.get("canaryVersion")
    line = (f"{s.get('phase', '…')} stable v{s.get('stableVersion', '–')}"
            + (f" canary v{canary} {s.get('canaryWeight', 0)}%" if canary else "")
            + f" | {_verdicts(s.get('gates', [])) if canary else ''}")
    for campaign in getattr(sample, "campaigns", None) or []:
        c = campaign.get("status") or {}
        spec = campaign.get("spec") or {}
        steps = (spec.get("exposure") or {}).get("steps") or []
        step = c.get("currentStep")
        line += (f" | campaign {(campaign.get('metadata') or {}).get('name', '?')} "
                 f"{c.get('phase', '…')} v{c.get('modelVersion', '–')} exposure "
                 f"{float(c.get('exposurePercent') or 0):g}%"
                 + (f" step {int(step) + 1}/{len(steps)}" if step is not None else "")
                 + (f" {_verdicts(c['gates'])}" if c.get("gates") else "")
                 + (f" spend {_spend(spec, c)}" if "spend" in c else ""))
    return line
