"""What the CRDs' transition rules take as one length (``cel_same_length``, up to
``CEL_RELATIVE_TOLERANCE``) is one number of seconds to what counts it. The tolerance let an
"immutable" duration change the whole seconds the runtime uses: a Campaign's attributionWindow
14d edited to 1209600.000001s (1209600 → 1209601 s), its budgetPeriod 7d to 604800.0000006s,
an UpliftModel's experiment window mid-canary 1h to 3600.0000000001s."""

from __future__ import annotations

import pytest
from tests.support.cel import evaluate

from uplift_operator.api.v1alpha1.common import (
    cel_same_length,
    cel_seconds,
    duration_whole_seconds,
    parse_duration,
)

SAME = cel_same_length(cel_seconds("self.new"), cel_seconds("self.old"))


@pytest.mark.parametrize(("old", "new"), [
    ("14d", "1209600.000001s"), ("14d", "1209599.999999s"), ("7d", "604800.0000001s"),
    ("7d", "604800.0000006s"), ("1h", "3600.0000000001s"), ("1.1h", "3960s"),
    ("1h", "3599.9999999999s")])
def test_one_length_to_the_rules_is_one_number_of_seconds(old: str, new: str) -> None:
    assert evaluate(SAME, {"old": old, "new": new})  # the API server takes the edit
    assert duration_whole_seconds(new) == duration_whole_seconds(old)
    assert parse_duration(new) == parse_duration(old)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1500ms", 2), ("0.5s", 1), ("1.1h", 3960), ("1209600.01s", 1209601), ("1s", 1),
    ("3600.001s", 3601)])
def test_other_lengths_are_rounded_up_as_before(text: str, seconds: int) -> None:
    assert duration_whole_seconds(text) == seconds


def test_a_length_the_rules_tell_apart_still_differs() -> None:
    assert not evaluate(SAME, {"old": "14d", "new": "1209600.01s"})
    assert parse_duration("1209600.01s") != parse_duration("14d")
    assert parse_duration("1500ms").total_seconds() == 1.5
