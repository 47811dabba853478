"""errorRate with an absolute margin while the stable has had no errors (docs/statistics.md §8,
the errorRate rows).

The rate-ratio test's null is relative, so an absolute margin is converted with the stable's
error rate: margin / rate, infinite at 0 errors. Its Fail side (ratio > 1: harm beyond zero,
``fail_margin=0``) does not depend on the margin, yet the whole test used to be skipped then: a
canary failing 30 % of its requests next to an error-free stable was Inconclusive at every look
and never rolled back. The Fail side now always runs when there are errors; only the Pass side
is left out until the stable has errors, and the message says so.
"""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.domain.test_gates import gate

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import ErrorRateMeasurement

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
P, INC, F = GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.FAIL
ABSOLUTE = {"marginType": "absolute", "margin": 0.005}
HARM_ONLY = "the comparison with the stable tests harm only until the stable has errors"

# (id, gate fields, canary errors per 2,000 requests, stable's, verdict at the 5th look,
#  threshold then, what its message says)
ROWS = [
    ("broken canary, error-free stable", ABSOLUTE, 600, 0, F, 1.0,
     "harm shown: error-rate ratio > 1"),
    ("broken canary, error-free stable, max", {**ABSOLUTE, "max": 0.01}, 600, 0, F, 1.0,
     "harm shown: error-rate ratio > 1"),
    # A few canary errors: no harm shown, and no Pass from the comparison either.
    ("few canary errors, error-free stable", ABSOLUTE, 1, 0, INC, 1.0, HARM_ONLY),
    # max can still pass it: the value and bound reported are max's.
    ("few canary errors, error-free stable, max", {**ABSOLUTE, "max": 0.01}, 1, 0, P, 0.01,
     "canary error rate ≤ 0.01 shown"),
    # With errors on the stable the margin converts (0.005 / 0.005 = 1): as before.
    ("equal rates, stable with errors", ABSOLUTE, 10, 10, P, 2.0, "error-rate ratio < 2 shown"),
    ("no errors anywhere", ABSOLUTE, 0, 0, INC, None, "no errors on either side yet"),
    # The default relative margin is untouched.
    ("broken canary, relative", {}, 600, 0, F, 1.0, "harm shown: error-rate ratio > 1"),
]


@pytest.mark.parametrize(("fields", "canary", "stable", "verdict", "threshold", "says"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_error_rate_with_an_error_free_stable(fields: dict[str, object], canary: int,
                                              stable: int, verdict: GateVerdict,
                                              threshold: float | None, says: str) -> None:
    g = gate("errorRate", **fields)
    memory = None
    for look in range(1, 6):
        m = ErrorRateMeasurement(canary * look, 2000 * look, stable * look, 2000 * look)
        out = evaluate_gate(g, m, memory, NOW)
        memory = out.memory
    assert out.verdict is verdict, out.message
    assert out.threshold == (pytest.approx(threshold) if threshold is not None else None)
    assert says in out.message


def test_the_pass_side_comes_back_once_the_stable_has_errors() -> None:
    g = gate("errorRate", **ABSOLUTE)
    first = evaluate_gate(g, ErrorRateMeasurement(3, 10_000, 0, 10_000), None, NOW)
    assert first.verdict is INC and HARM_ONLY in first.message
    later = ErrorRateMeasurement(200, 40_000, 200, 40_000)  # 0.5 % on both: ratio < 2 shown
    out = evaluate_gate(g, later, first.memory, NOW)
    assert out.verdict is P, out.message
    assert HARM_ONLY not in out.message
