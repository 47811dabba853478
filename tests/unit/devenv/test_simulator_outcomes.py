"""The demo's simulator reports every conversion inside its attribution window (a conversion
sent after the window is late at the runtime and never counted), and every non-conversion when
the window closes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from uplift_operator.devenv.router import WeightedRouter
from uplift_operator.devenv.simulator import CONVERSION_SLACK, FLUSH_INTERVAL, CustomerSimulator

HILLSTROM = Path(__file__).resolve().parents[4] / "shared" / "data" / "hillstrom.csv"


class Router:
    def infer_url(self, namespace: str, name: str, predictor: str) -> str:
        return "http://router.invalid/infer"

    def reports_url(self, namespace: str, name: str, kind: str) -> str:
        return f"http://router.invalid/{kind}"


def test_conversions_are_sent_before_the_window_closes_even_when_they_come_late() -> None:
    if not HILLSTROM.exists():
        pytest.skip(f"{HILLSTROM} is absent (../shared is not laid out here)")
    window = 8.0
    simulator = CustomerSimulator(cast(WeightedRouter, Router()), "ns", "m", HILLSTROM,
                                  attribution_window=window,
                                  mean_delay=100 * window)  # nearly every delay past the window
    rows = np.arange(3000)
    out: dict[str, Any] = {"arm": ["treated"] * len(rows), "treatment": ["mens"] * len(rows),
                           "decision_id": [f"id{i}~treated~mens~1" for i in rows]}
    simulator._record(rows, out)
    outcomes = [(due, item) for due, _, kind, item, _ in simulator._queue if kind == "outcomes"]
    # One instant for the whole batch; a non-conversion falls due when the window closes.
    recorded = min(due for due, item in outcomes if not item["converted"]) - window
    converted = [due - recorded for due, item in outcomes if item["converted"]]
    assert len(outcomes) == len(rows) and len(converted) > 100
    # Sent at most a flush interval after falling due: still within the window.
    assert max(converted) + FLUSH_INTERVAL < window
    assert max(converted) == pytest.approx(window - CONVERSION_SLACK, abs=0.05)
    closing = [due - recorded for due, item in outcomes if not item["converted"]]
    assert closing == pytest.approx([window] * len(closing))
    simulator._pool.shutdown()
