"""The picture at the end of the demo: a PNG of what happened and why (matplotlib).

Three panels over the run's clock: the canary's traffic weight in the SeldonDeployment; each
gate's verdict as coloured marks; the online-effect gate's estimate with its confidence
sequence (``lower``/``upper`` from the gate's status) and the bound it was judged by. Scenario
starts and decisions are vertical lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

VERDICT_COLOUR = {"Pass": "tab:green", "Inconclusive": "gold", "Error": "tab:purple",
                  "Fail": "tab:red"}
ONLINE_GATE = "online-effect"


def judged_samples(samples: Sequence[Any]) -> list[bool]:
    """Which samples show a canary's gates: those with a canary, and the one right after it
    ended — the pass that promoted or rolled back cleared canaryVersion in the same status patch
    that wrote the decisive verdicts, so that sample holds the Fail that rolled it back."""
    return [bool(s.status.get("canaryVersion"))
            or (i > 0 and bool(samples[i - 1].status.get("canaryVersion")))
            for i, s in enumerate(samples)]


def write_png(samples: Sequence[Any], marks: Sequence[tuple[float, str]],
              outcomes: Sequence[Any], path: Path) -> Path:
    """Draw the run into ``path`` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, (ax_w, ax_g, ax_e) = plt.subplots(3, 1, figsize=(12, 9), sharex=True,
                                           gridspec_kw={"height_ratios": [2, 1.4, 2]})
    t = [s.t for s in samples]
    canary_w = [int(s.status.get("canaryWeight") or 0) if s.status.get("canaryVersion") else 0
                for s in samples]
    ax_w.step(t, canary_w, where="post", color="tab:purple", label="canary weight")
    ax_w.fill_between(t, canary_w, step="post", alpha=0.2, color="tab:purple")
    ax_w.set_ylabel("canary traffic %")
    ax_w.set_ylim(-5, 105)
    ax_w.set_title("uplift-operator demo: canary weight, gate verdicts, online effect")

    judged = judged_samples(samples)
    names: list[str] = []
    for s, shown in zip(samples, judged, strict=True):
        if not shown:
            continue
        for g in s.status.get("gates", []):
            if g["name"] not in names:
                names.append(g["name"])
    for row, name in enumerate(names):
        xs, colours = [], []
        for s, shown in zip(samples, judged, strict=True):
            if not shown:
                continue
            g = next((g for g in s.status.get("gates", []) if g["name"] == name), None)
            if g is not None:
                xs.append(s.t)
                colours.append(VERDICT_COLOUR.get(g.get("verdict", ""), "grey"))
        ax_g.scatter(xs, [row] * len(xs), c=colours, marker="s", s=18)
    ax_g.set_yticks(range(len(names)), names)
    ax_g.set_ylim(-0.7, max(len(names), 1) - 0.3)
    handles = [Line2D([], [], color=c, marker="s", linestyle="", label=v)
               for v, c in VERDICT_COLOUR.items()]
    ax_g.legend(handles=handles, loc="upper left", ncol=4, fontsize=8)

    est, lo, hi, bound, te = [], [], [], [], []
    for s, shown in zip(samples, judged, strict=True):
        g = next((g for g in s.status.get("gates", []) if g["name"] == ONLINE_GATE), None)
        if g is None or not shown or g.get("value") is None:
            continue
        te.append(s.t)
        est.append(float(g["value"]))
        lo.append(float(g["lower"]) if g.get("lower") is not None else float("nan"))
        hi.append(float(g["upper"]) if g.get("upper") is not None else float("nan"))
        bound.append(float(g["threshold"]) if g.get("threshold") is not None else float("nan"))
    if te:
        ax_e.plot(te, est, ".", color="tab:blue", ms=3, label="estimate (canary vs stable)")
        ax_e.fill_between(te, lo, hi, color="tab:blue", alpha=0.2, label="confidence sequence")
        ax_e.plot(te, bound, "--", color="tab:red", lw=1, label="bound (−margin)")
    ax_e.axhline(0, color="grey", lw=0.5)
    ax_e.set_ylabel("online effect")
    ax_e.set_xlabel("seconds since start")
    if te:
        ax_e.legend(loc="upper left", fontsize=8)

    for ax in (ax_w, ax_g, ax_e):
        for x, _ in marks:
            ax.axvline(x, color="grey", lw=0.8, ls=":")
    for index, (x, label) in enumerate(marks):  # alternate heights: marks come in close pairs
        ax_w.text(x, 102 if index % 2 == 0 else 90, label, rotation=0, fontsize=8, va="bottom")
    summary = "; ".join(f"{o.scenario}: {o.decision}" + (f" by {o.gate}" if o.gate else "")
                        for o in outcomes)
    fig.text(0.01, 0.005, summary, fontsize=9)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
