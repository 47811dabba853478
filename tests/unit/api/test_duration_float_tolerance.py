"""The CRDs' duration comparisons tolerate the rounding of CEL doubles: ``analysisInterval:
1.1h`` sums to 3960.0000000000005 s, so a pause of ``3960s`` (3960.0) was refused as shorter,
and a Campaign's ``budgetPeriod`` or an attribution window ``1.1h`` → ``66m`` as another length
(review-api-cel c6.py). Compared up to ``CEL_RELATIVE_TOLERANCE`` (1e-12 of the length), as
``domain.validation`` compares (``at_least``); evaluated with ``tests.support.cel``."""

from __future__ import annotations

from tests.support.cel import evaluate
from tests.unit.domain.test_validation import _model

from uplift_operator.api.v1alpha1.common import (
    at_least,
    cel_at_least,
    cel_same_length,
    cel_seconds,
    duration_seconds,
    ramp_rules,
)
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES


def test_a_pause_equal_to_a_fractional_interval_is_taken() -> None:
    rule = ramp_rules("1m", "UpliftModel")[1]
    assert isinstance(rule, dict)
    pause_rule = rule["rule"]
    steps = [{"weight": 10, "pause": "3960s"}, {"weight": 50, "pause": "66m"}]
    assert evaluate(str(pause_rule), {"analysisInterval": "1.1h", "steps": steps})
    short = [{"weight": 10, "pause": "3959.999s"}]
    assert not evaluate(str(pause_rule), {"analysisInterval": "1.1h", "steps": short})
    spec = _model(**{"rollout.analysisInterval": "1.1h", "rollout.steps": steps}).spec
    assert validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES) == []


def test_one_length_written_otherwise_is_the_same_length() -> None:
    same = cel_same_length(cel_seconds("self.a"), cel_seconds("self.b"))
    for a, b, equal in (("1.1h", "66m", True), ("1.1h", "3960s", True), ("14d", "336h", True),
                        ("1.1h", "67m", False), ("1h", "3600001ms", False)):
        assert evaluate(same, {"a": a, "b": b}) is equal, (a, b)
    assert evaluate(cel_at_least("1.0", "1.0"), {}) and not evaluate(cel_at_least("0.999", "1.0"), {})


def test_the_operator_compares_as_the_api_server() -> None:
    assert at_least(duration_seconds("3960s"), duration_seconds("1.1h"))
    assert not at_least(duration_seconds("3959.999s"), duration_seconds("1.1h"))
