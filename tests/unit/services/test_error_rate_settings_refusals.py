"""The errorRate gate leaves out refusals that are not the version's doing.

A request naming a Campaign the campaigns file has not brought to a pod yet (or has taken
away: a ConfigMap reaches pods 60–90 s apart) is refused ``404 unknown_campaign`` by whichever
version's pods lag. Counted as that version's inference errors, a Campaign created or deleted
during a canary showed its share of the requests as the lagging version's error rate, and could
fail a healthy canary. The collector now reads the errors without that reason (and the
requests with them); the refusals are still counted under their reason and in the traffic
split, where every request the router split counts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.runtime.runtime import INFER_ERROR_REASONS
from uplift_operator.services import measurements

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_INCREASE = re.compile(r"^sum by \(version\) \(increase\(([a-z_]+)\{([^}]*)\}\[\d+s\]\)\)$")
_PRESENT = re.compile(r"^sum by \(version\) \(([a-z_]+)\{([^}]*)\} offset \d+s\)$")


def _matchers(text: str) -> list[Callable[[Mapping[str, str]], bool]]:
    """PromQL's =, =~ and !~ matchers (anything else fails the test)."""
    out: list[Callable[[Mapping[str, str]], bool]] = []
    for key, op, value in re.findall(r'(\w+)(=~|!~|!=|=)"([^"]*)"', text):
        assert op != "!=", text
        out.append(_matcher(key, op, value))
    return out


def _matcher(key: str, op: str, value: str) -> Callable[[Mapping[str, str]], bool]:
    pattern = re.compile(f"^(?:{value})$")

    def matches(labels: Mapping[str, str]) -> bool:
        found = labels.get(key, "")
        if op == "=":
            return found == value
        return bool(pattern.match(found)) is (op == "=~")

    return matches


class Prometheus:
    """Counter increases per label set; answers ``sum by (version)`` of an increase, and the
    split's presence check."""

    def __init__(self, rows: list[tuple[str, dict[str, str], float]]) -> None:
        self.rows = rows

    def scalar(self, promql: str, time: Any = None) -> float | None:
        raise AssertionError(promql)

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        found = _INCREASE.match(promql) or _PRESENT.match(promql)
        assert found, promql
        metric, matchers = found.group(1), _matchers(found.group(2))
        sums: dict[str, float] = {}
        for name, labels, value in self.rows:
            if name == metric and all(match(labels) for match in matchers):
                sums[labels["version"]] = sums.get(labels["version"], 0.0) + value
        return [Sample({"version": v}, 1.0 if _PRESENT.match(promql) else total, 0.0)
                for v, total in sums.items()]


def _ctx() -> measurements.GateContext:
    return measurements.GateContext(
        namespace="shop", name="uplift", canary_version="2", stable_version="1",
        canary_run_id=None, stable_run_id=None, step_started_at=T0, canary_started_at=T0,
        now=T0 + dt.timedelta(seconds=3600), analysis_interval_s=60, holdout_fraction=0.1,
        metric_templates=BUILTIN_TEMPLATES, treatments=(), canary_share=0.3)


def _infer(version: str, **labels: str) -> dict[str, str]:
    return {"namespace": "shop", "model": "uplift", "version": version, "endpoint": "infer",
            **labels}


GATE = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})


def test_a_campaign_a_lagging_version_does_not_know_yet_is_not_its_error() -> None:
    """The reviewer's case: the canary's pods still on the file before a Campaign was created
    refuse its requests (10 % of the canary's), the stable's pods already have it."""
    rows = [("uplift_request_duration_seconds_count", _infer("1"), 70_000.0),
            ("uplift_request_errors_total", _infer("1", reason="wrong_type"), 70.0),
            ("uplift_request_duration_seconds_count", _infer("2"), 27_000.0),
            ("uplift_request_errors_total", _infer("2", reason="wrong_type"), 27.0),
            ("uplift_request_errors_total", _infer("2", reason="unknown_campaign"), 3_000.0)]
    measured = measurements.collect(GATE, _ctx(), Prometheus(rows), None)
    assert isinstance(measured, m.ErrorRateMeasurement)
    assert (measured.canary_errors, measured.canary_requests) == (27, 27_027)
    assert (measured.stable_errors, measured.stable_requests) == (70, 70_070)
    assert measured.split is not None   # every request the router split, refused or not
    assert (measured.split.stable, measured.split.canary) == (70_070, 30_027)
    assert gates.evaluate_gate(GATE, measured, {}, T0).verdict is not GateVerdict.FAIL


def test_the_versions_own_refusals_still_count() -> None:
    rows = [("uplift_request_duration_seconds_count", _infer("1"), 7_000.0),
            ("uplift_request_duration_seconds_count", _infer("2"), 2_000.0),
            ("uplift_request_errors_total", _infer("2", reason="internal"), 1_000.0),
            ("uplift_request_errors_total", _infer("2", reason="unknown_campaign"), 5.0)]
    measured = measurements.collect(GATE, _ctx(), Prometheus(rows), None)
    assert isinstance(measured, m.ErrorRateMeasurement)
    assert (measured.canary_errors, measured.canary_requests) == (1_000, 3_000)
    assert gates.evaluate_gate(GATE, measured, {}, T0).verdict is GateVerdict.FAIL


def test_the_reasons_left_out_are_the_runtimes() -> None:
    """The runtime counts each of them from zero under its name (a renamed reason would be
    counted as the version's error again)."""
    assert set(measurements.NOT_THE_VERSIONS) <= set(INFER_ERROR_REASONS)
