"""The demo's PNG report draws the verdict that decided, not only those while the canary ran."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from uplift_operator.devenv.report import judged_samples, write_png


def _sample(t: float, canary: str | None, verdict: str, value: float | None) -> Any:
    gate = {"name": "online-effect", "verdict": verdict, "value": value, "lower": value,
            "upper": value, "threshold": -0.02}
    status = {"canaryVersion": canary, "canaryWeight": 30 if canary else 0, "gates": [gate]}
    return SimpleNamespace(t=t, status=status)


def test_the_sample_after_a_rollback_is_drawn_and_later_ones_are_not() -> None:
    samples = [_sample(0, None, "Pass", None), _sample(1, "3", "Inconclusive", None),
               _sample(2, None, "Fail", -0.19), _sample(3, None, "Fail", -0.19)]
    assert judged_samples(samples) == [False, True, True, False]


def test_write_png_renders_a_run(tmp_path: Path) -> None:
    samples = [_sample(t, "3" if t < 5 else None, "Fail" if t == 5 else "Inconclusive",
                       -0.1 if t >= 3 else None) for t in range(8)]
    outcome = SimpleNamespace(scenario="harm", decision="RolledBack", gate="online-effect")
    path = write_png(samples, [(0.0, "harm: v3"), (5.0, "RolledBack v3")], [outcome],
                     tmp_path / "report.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
