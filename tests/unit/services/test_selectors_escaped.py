"""The selectors the collectors build put each value inside its double-quoted PromQL string
(``templates.label_value``), as ``templates.render`` does a template's: a version read from a
hand-edited status (``1"} or vector(1) or x{a="``) matches no series, and never adds a matcher
or an ``or`` to the query the gate judges."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import promql_parser
from tests.unit.services.test_campaign_measurements import context

from uplift_operator.domain import templates
from uplift_operator.services import measurements

NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
HOSTILE = '1"} or vector(1) or x{a="'


def _labels(selector: str) -> dict[str, str]:
    parsed: Any = promql_parser.parse(f"x{selector}")
    return {m.name: m.value for m in parsed.matchers.matchers if m.name != "__name__"}


def test_an_upliftmodel_selector_keeps_each_value_in_its_string() -> None:
    ctx = measurements.GateContext(
        namespace="ns", name='m"x', canary_version=HOSTILE, stable_version="1",
        canary_run_id=None, stable_run_id=None, step_started_at=NOW, canary_started_at=NOW,
        now=NOW, analysis_interval_s=60, holdout_fraction=0.1,
        metric_templates=templates.BUILTIN_TEMPLATES, treatments=())
    assert _labels(ctx.selector(HOSTILE, endpoint='a\\b')) == {
        "namespace": "ns", "model": 'm"x', "version": HOSTILE, "campaign": "",
        "endpoint": "a\\b"}
    labels = _labels(ctx.versions_selector(endpoint="infer"))
    assert labels["model"] == 'm"x' and labels["endpoint"] == "infer"
    assert labels["version"] == "1|" + re.escape(HOSTILE)


def test_a_campaign_selector_keeps_each_value_in_its_string() -> None:
    ctx = context(stable_version=HOSTILE, name='spring"email')
    assert _labels(ctx.selector(ctx.followed)) == {
        "namespace": "shop", "model": "hillstrom-uplift", "campaign": 'spring"email',
        "version": HOSTILE}
