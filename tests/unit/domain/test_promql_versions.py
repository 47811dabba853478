"""Which Prometheus the PromQL check follows: the bundled parser's function table is Prometheus
3.x's, which dropped 2.x's ``holt_winters`` (renamed ``double_exponential_smoothing``). The
check accepts both, so no query a Prometheus 2 answers is InvalidSpec; checked against
``promtool`` 2.42 (the local Prometheus, ``scripts/install-prometheus.sh``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.unit.domain.test_validation import _model

from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.domain import promql, validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

#: One call of every function Prometheus 2.42 has (its promql/parser/functions.go), as a gate
#: query might use it.
PROMETHEUS_2_42 = [
    "abs(x)", "absent(x)", "absent_over_time(x[5m])", "acos(x)", "acosh(x)", "asin(x)",
    "asinh(x)", "atan(x)", "atanh(x)", "avg_over_time(x[5m])", "ceil(x)", "changes(x[5m])",
    "clamp(x, 0, 1)", "clamp_max(x, 1)", "clamp_min(x, 0)", "cos(x)", "cosh(x)",
    "count_over_time(x[5m])", "day_of_month(x)", "day_of_week(x)", "day_of_year(x)",
    "days_in_month(x)", "deg(x)", "delta(x[5m])", "deriv(x[5m])", "exp(x)", "floor(x)",
    "histogram_count(x)", "histogram_sum(x)", "histogram_fraction(0, 1, x)",
    "histogram_quantile(0.9, x)", "holt_winters(x[5m], 0.5, 0.5)", "hour(x)", "idelta(x[5m])",
    "increase(x[5m])", "irate(x[5m])", 'label_join(x, "a", ",", "b")',
    'label_replace(x, "a", "$1", "b", "(.*)")', "last_over_time(x[5m])", "ln(x)", "log10(x)",
    "log2(x)", "max_over_time(x[5m])", "min_over_time(x[5m])", "minute(x)", "month(x)", "pi()",
    "predict_linear(x[5m], 60)", "present_over_time(x[5m])", "quantile_over_time(0.5, x[5m])",
    "rad(x)", "rate(x[5m])", "resets(x[5m])", "round(x)", "scalar(x)", "sgn(x)", "sin(x)",
    "sinh(x)", "sort(x)", "sort_desc(x)", "sqrt(x)", "stddev_over_time(x[5m])",
    "stdvar_over_time(x[5m])", "sum_over_time(x[5m])", "tan(x)", "tanh(x)", "time()",
    "timestamp(x)", "vector(1)", "year(x)",
]


def test_every_function_of_prometheus_2_42_passes_the_check(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    rules = {"groups": [{"name": "g", "rules": [
        {"record": f"r{i}", "expr": query} for i, query in enumerate(PROMETHEUS_2_42)]}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    ran = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr  # each is Prometheus 2's own
    refused = {query: problem.message for query in PROMETHEUS_2_42
               if (problem := promql.check(query)) is not None}
    assert refused == {}


def test_holt_winters_is_checked_as_prometheus_2_types_it() -> None:
    assert promql.check("holt_winters(rate(x[5m])[1h:5m], 0.3, 0.1)") is None
    # Prometheus 3's name for it passes as well: the check cannot know the server's version.
    assert promql.check("double_exponential_smoothing(x[1h], 0.3, 0.1)") is None
    wrong_type = promql.check("holt_winters(x, 0.3, 0.1)")
    assert wrong_type is not None
    assert wrong_type.message == ("expected type matrix in call to function 'holt_winters', "
                                  "got vector")
    too_few = promql.check("holt_winters(x[1h], 0.3)")
    assert too_few is not None and "expected 3 argument(s)" in too_few.message
    assert promql.check("holt_winter(x[1h], 0.3, 0.1)") is not None  # no other name added


@pytest.mark.parametrize("query", [
    "holt_winters(uplift_outcomes_total{namespace='{{namespace}}'}[{{interval}}], 0.3, 0.1)",
    "double_exponential_smoothing(uplift_outcomes_total{namespace='{{namespace}}'}"
    "[{{interval}}], 0.3, 0.1)",
])
def test_a_custom_gate_with_either_name_is_valid(query: str) -> None:
    body = _model().to_wire()
    body["spec"]["rollout"]["gates"].append(
        {"name": "smoothed", "type": "custom", "query": query, "max": 1})
    spec = UpliftModel.model_validate(body).spec
    assert validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES) == []
