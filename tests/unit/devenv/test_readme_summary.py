"""The README's example of the demo's summary is what ``uplift-operator dev`` prints: it showed
lines without the indent, the canary's leading 0 % (it is deployed at 0 % until it serves) and
the operator's reason, which the summary does print. ``<n>`` stands for a number of seconds and
``…`` for the rest of a line (the gate's evidence, timings, the served split)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from uplift_operator.devenv.demo import Outcome
from uplift_operator.devenv.up import _summary

ROOT = Path(__file__).resolve().parents[3]


def _example() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"What it prints at the end by default.*?```\n(.*?)```", text, re.S)
    assert block is not None, "the README's example of the summary"
    return block.group(1).splitlines()


def _pattern(line: str) -> str:
    parts = re.split(r"(<n>|…)", line)
    return "".join({"<n>": r"\d+", "…": ".*"}.get(p, re.escape(p)) for p in parts)


def test_the_readme_shows_the_lines_the_summary_prints(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = [
        Outcome("promote", "2", "Promoted", "all steps passed; previous stable 1", None, 72.4,
                True, [0, 30, 60]),
        Outcome("harm", "3", "RolledBack",
                "gate online-effect Fail: value -0.19, threshold -0.02, lower -0.3, upper -0.08, "
                "samples 412 (1 failure, failureLimit 0 exceeded) — effect below the margin",
                "online-effect", 38.0, True, [0, 30]),
    ]
    served = {(("2", 70), ("3", 30)): {"2": 700, "3": 300}}
    router = SimpleNamespace(served={("demo", "hillstrom-uplift"): {
        (weights, p): n for weights, counts in served.items() for p, n in counts.items()}})
    stack = SimpleNamespace(timings={"control plane": 12.0, "first scored request": 41.0},
                            router=router)
    _summary(outcomes, stack, Path("/tmp/uplift-demo-report-4242.png"))
    printed = capsys.readouterr().out.splitlines()
    example = _example()
    assert len(example) >= 4
    at = 0
    for line in example:  # in order, each matching a printed line
        pattern = re.compile(_pattern(line))
        while at < len(printed) and not pattern.fullmatch(printed[at]):
            at += 1
        assert at < len(printed), f"README line not printed: {line!r}\nprinted:\n" + "\n".join(
            printed)
        at += 1
