"""The live terminal view of the demo (rich): what the operator sees and decides, at a glance.

Top: the scenario and the demo-speed settings. Then the UpliftModel (phase, stable and canary
versions, the traffic split as a bar, the step and how long it has left), a table of the gates
(verdict, value, bound, samples and a bar towards ``minSamples``), the customers flowing, and
the latest events. ``render`` is a pure function of a ``Sample`` so it is easy to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from uplift_operator.devenv import scenarios

VERDICT_STYLE = {"Pass": "bold green", "Fail": "bold red", "Inconclusive": "yellow",
                 "Error": "magenta"}
PHASE_STYLE = {"Healthy": "green", "Progressing": "cyan", "Degraded": "red", "Paused": "yellow"}


def _num(x: Any) -> str:
    if x is None:
        return "–"
    value = float(x)
    return f"{value:.4g}"


def _value(gate: dict[str, Any]) -> str:
    if gate.get("lower") is None and gate.get("upper") is None:
        return _num(gate.get("value"))
    return f"{_num(gate.get('value'))} [{_num(gate.get('lower'))}, {_num(gate.get('upper'))}]"


def _gate_spec(name: str) -> dict[str, Any]:
    return next((g for g in scenarios.RAMP["gates"] if g["name"] == name), {})


def split_bar(weights: dict[str, int], canary: str | None, width: int = 40) -> Text:
    """``v1 ██████████░░░░ v2`` with the percentages."""
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
    return text


def render(sample: Any, *, title: str, note: str = "", progress: str = "",
           history: Sequence[str] = ()) -> RenderableType:
    """One frame: settings, the model, the gates, the customers and the events."""
    status: dict[str, Any] = sample.status if sample is not None else {}
    header = Text(title, style="bold")
    if note:
        header.append("\n" + note, style="dim")
    for line in scenarios.settings_lines():
        header.append("\n" + line, style="dim")

    phase = status.get("phase", "…")
    canary = status.get("canaryVersion")
    model = Table.grid(padding=(0, 2))
    model.add_column(style="bold")
    model.add_column()
    model.add_row("UpliftModel", f"{scenarios.NAMESPACE}/{scenarios.MODEL}")
    model.add_row("phase", Text(phase, style=PHASE_STYLE.get(phase, "")))
    model.add_row("stable", f"v{status.get('stableVersion', '–')}")
    step = status.get("currentStep")
    steps = scenarios.RAMP["steps"]
    model.add_row("canary", (f"v{canary} at {status.get('canaryWeight', 0)} % "
                             f"(step {int(step) + 1 if step is not None else '–'} of "
                             f"{len(steps)})") if canary else "none")
    model.add_row("traffic", split_bar(sample.weights if sample is not None else {}, canary))
    if status.get("message"):
        model.add_row("message", Text(str(status["message"])[:160], style="italic"))
    if progress:
        model.add_row("now", progress)

    gates = Table(title="gates (this step)", expand=True, title_justify="left")
    for column in ("gate", "verdict", "value [CI]", "bound", "samples", "", "why"):
        gates.add_column(column, overflow="fold", no_wrap=column != "why",
                         ratio=1 if column == "why" else None)
    for g in status.get("gates", []) if canary else []:
        need = int(_gate_spec(g["name"]).get("minSamples", 0) or 0)
        samples = g.get("samples")
        bar: RenderableType = Text("")
        if need and samples is not None:
            bar = ProgressBar(total=need, completed=min(int(samples), need), width=12)
        bound = g.get("threshold")
        if bound is None and g.get("lower") is not None:
            bound = g.get("lower")
        gates.add_row(g["name"], Text(g.get("verdict", ""),
                                      style=VERDICT_STYLE.get(g.get("verdict", ""), "")),
                      _value(g), _num(bound), _num(samples), bar,
                      Text(str(g.get("message", ""))[:90], style="dim"))
    if not canary:
        gates.add_row("–", Text("no canary: gates wait for a new version", style="dim"),
                      "", "", "", "", "")

    traffic = Text()
    if sample is not None:
        traffic.append(f"customers scored {sample.rows:,}   outcomes reported "
                       f"{sample.outcomes:,}   errors {sample.errors}")
    events = Table(title="latest events", expand=True, title_justify="left", show_header=False)
    events.add_column("time", style="dim", no_wrap=True)
    events.add_column("reason", no_wrap=True)
    events.add_column("message", overflow="fold", ratio=1)
    for e in (sample.events if sample is not None else [])[-6:]:
        style = "red" if e["type"] == "Warning" else ""
        events.add_row(e["time"], Text(e["reason"], style=style), e["message"][:200])
    done = Text("\n".join(history), style="bold") if history else Text("")
    return Panel(Group(header, Text(""), model, gates, traffic, events, done),
                 title="uplift-operator demo", subtitle="Ctrl-C stops everything")
