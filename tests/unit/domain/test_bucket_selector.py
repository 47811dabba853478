"""``templates.bucket_selector``: the ``_bucket`` series a latency template reads, whose bucket
counts the gate tests, found whatever its label values hold. A value may contain ``}``
(MLServer's ``path`` label is the route template ``/v2/models/{model_name}/infer``; a regex may
say ``{2,3}``): such a template was refused as reading no classic histogram, and the gate could
not be given."""

from __future__ import annotations

import promql_parser
import pytest
from tests.unit.domain.test_validation import _model

from uplift_operator.domain import promql, templates, validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

#: The label matchers of each template's ``_bucket`` selector, braces and quotes in the values.
MATCHERS = {
    "route-template": 'path="/v2/models/{model_name}/infer"',
    "regex-repeat": 'code=~"2[0-9]{2,3}"',
    "single-quoted": r"path='/v2/models/{model_name}/infer', note='it\'s }'",
    "backtick": "path=`/v2/models/{model_name}/infer`",
    "escaped-quote": r'note="a \"}\" here"',
}


def _template(matchers: str) -> str:
    return ("histogram_quantile(0.95, sum by (le) (rate(rest_server_request_duration_seconds_bucket"
            '{namespace="{{namespace}}", predictor_name="{{predictor}}", ' + matchers
            + "}[{{interval}}])))")


def _variables() -> dict[str, str]:
    return {"namespace": "shop", "name": "m", "model": "m", "predictor": "v4", "version": "4",
            "interval": "5m"}


def _matchers(query: str) -> list[tuple[str, str, str]]:
    selector, = (node for node in _vector_selectors(promql_parser.parse(query)))
    return [(m.name, str(m.op), m.value) for m in selector.matchers.matchers]


def _vector_selectors(node: object) -> list[promql_parser.VectorSelector]:
    """The vector selectors of a parsed query (the few node kinds these templates use)."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, promql_parser.Call):
        return [s for arg in node.args for s in _vector_selectors(arg)]
    if isinstance(node, promql_parser.AggregateExpr):
        return _vector_selectors(node.expr)
    return []


@pytest.mark.parametrize("name", sorted(MATCHERS))
def test_a_bucket_selector_whose_label_values_hold_braces_is_found_whole(name: str) -> None:
    rendered = templates.render(_template(MATCHERS[name]), _variables())
    assert promql.check(rendered) is None
    selector = templates.bucket_selector(rendered)
    assert selector == ('rest_server_request_duration_seconds_bucket{namespace="shop", '
                        'predictor_name="v4", ' + MATCHERS[name] + "}")
    # The bucket query the latency gate sends (services/measurements.py, _bucket_query) parses
    # and selects what the template's p95 reads.
    counted = f"sum by (le) (increase({selector}[1h]))"
    assert promql.check(counted) is None
    assert _matchers(counted) == _matchers(rendered)


@pytest.mark.parametrize("name", sorted(MATCHERS))
def test_a_latency_gate_on_such_a_template_is_valid(name: str) -> None:
    spec = _model(**{"rollout.gates.0.templateRef": name}).spec
    assert spec.rollout.gates[0].type == "latency"
    custom = {key: _template(matchers) for key, matchers in MATCHERS.items()}
    assert validation.validate_upliftmodel(spec, {**BUILTIN_TEMPLATES, **custom}) == []


@pytest.mark.parametrize("query", [
    # A _bucket selector spelled inside a string literal (label_replace's replacement) or a
    # comment is no series the query reads: the native histogram is, and is refused.
    'label_replace(histogram_quantile(0.95, sum(rate(x_seconds{a="b"}[5m]))), "note", '
    '"from y_bucket{a=\\"b\\"}[5m]", "", "")',
    "# was y_bucket{a=\"b\"}[5m]\nhistogram_quantile(0.95, sum(rate(x_seconds[5m])))",
    # Instant buckets: no range.
    'histogram_quantile(0.95, sum by (le) (x_bucket{path="/v2/models/{model_name}/infer"}))',
])
def test_no_bucket_selector_outside_the_query_itself(query: str) -> None:
    assert promql.check(query) is None
    assert templates.bucket_selector(query) is None


def test_the_first_bucket_selector_after_a_string_is_found() -> None:
    query = ('label_replace(sum by (le) (rate(x_bucket{path="{a}"}[5m])), "t", "y_bucket[5m]", '
             '"", "")')
    assert templates.bucket_selector(query) == 'x_bucket{path="{a}"}'
