"""``kubectl uplift status`` says who has the traffic (``status.servingSplit``) where the serving
graph is behind the decided split (stable, canary, weight): an emergency rollback's restore, an
apply refused. Where they agree it says nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.domain import serving_split
from uplift_operator.plugin import kubectl_uplift as plugin

NOTE = "  (what the serving graph carries: not the decided split yet)"


def _model(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "growth", "name": "m"},
            "spec": {"rollout": {"steps": [{"weight": 10}, {"weight": 50}]}},
            "status": {"phase": "Progressing", **status}}


def _serving(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Serving:")]


@pytest.mark.parametrize(("status", "shown"), [
    # An emergency rollback's restore: 1 is stable, 2 keeps all the traffic until 1 serves.
    ({"stableVersion": "1", "canaryWeight": 0, "emergencyRolledBackVersion": "2",
      "servingSplit": "v1 0%, v2 100%"}, "v1 0%, v2 100%"),
    # A rollback whose apply was refused: the canary keeps its share.
    ({"stableVersion": "1", "canaryWeight": 0, "abortedVersion": "2",
      "servingSplit": "v1 90%, v2 10%"}, "v1 90%, v2 10%"),
    # A step decided, its apply refused.
    ({"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 50, "currentStep": 1,
      "servingSplit": "v1 90%, v2 10%"}, "v1 90%, v2 10%"),
    # Words the plugin cannot read back (a hand edit's unversioned predictor): shown.
    ({"stableVersion": "1", "canaryWeight": 0, "servingSplit": "v1 90%, v? 10%"},
     "v1 90%, v? 10%"),
])
def test_a_split_other_than_the_decided_one_is_shown(status: dict[str, Any], shown: str) -> None:
    text = plugin.render_status(_model(status))
    assert _serving(text) == [f"Serving:   {shown}{NOTE}"]
    lines = text.splitlines()
    assert lines.index(_serving(text)[0]) == next(
        i for i, line in enumerate(lines) if line.startswith("Canary:")) + 1


@pytest.mark.parametrize("status", [
    {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10, "currentStep": 0,
     "servingSplit": "v1 90%, v2 10%"},
    {"stableVersion": "1", "canaryWeight": 0, "servingSplit": "v1 100%"},
    # A rolled-back canary kept at 0 % for its scale-down delay: no traffic, no difference.
    {"stableVersion": "1", "canaryWeight": 0, "abortedVersion": "2",
     "servingSplit": "v1 100%, v2 0%"},
    # A canary just started at 0 %.
    {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 0,
     "servingSplit": "v1 100%, v2 0%"},
    # An operator that writes no such field.
    {"stableVersion": "1", "canaryWeight": 0},
])
def test_a_split_as_decided_or_unknown_adds_no_line(status: dict[str, Any]) -> None:
    assert _serving(plugin.render_status(_model(status))) == []


@pytest.mark.parametrize("weights", [
    [("1", 0), ("2", 100)], [("1", 90), ("2", 10)], [("3", 100)], [("9", 50), ("10", 50)]])
def test_the_plugin_reads_the_operators_words_back(weights: list[tuple[str, int]]) -> None:
    words = serving_split.describe(weights)
    assert words is not None
    assert plugin._serving_shares(words) == {v: w for v, w in weights if w}
