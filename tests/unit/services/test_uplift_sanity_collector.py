"""The upliftSanity collector over the runtime's own counters: several treatments score every
request, so the gate must count requests (not the T values of each) and see the live spread."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from prometheus_client import CollectorRegistry

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import UpliftSanityMeasurement
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.runtime.metrics import RuntimeMetrics
from uplift_operator.services import measurements
from uplift_operator.services.ports import MetricSource, Registry

NOW = dt.datetime(2026, 3, 30, 12, 0, tzinfo=dt.UTC)
_INCREASE = re.compile(r"^sum by \(treatment\) \(increase\((\w+)\{[^}]*\}\[\w+\]\)\)$")


class Runtime:
    """Answers the collector's per-treatment increases from a runtime's registry (its counters
    started at 0 within the window)."""

    def __init__(self, registry: CollectorRegistry, *, squares: bool = True) -> None:
        self.registry, self.squares = registry, squares
        self.asked: list[str] = []

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        self.asked.append(promql)
        match = _INCREASE.match(promql)
        assert match, promql
        name = match.group(1)
        if name.endswith("_squares_total") and not self.squares:
            return []
        return [Sample(labels={"treatment": s.labels["treatment"]}, value=s.value, timestamp=0.0)
                for metric in self.registry.collect() for s in metric.samples
                if s.name == name and s.labels.get("version") == "4"]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        raise AssertionError(f"asked a scalar: {promql}")


class Reference:
    def download_artifact_json(self, run_id: str, path: str) -> Any:
        return {"treatments": {"a": {"mean": 0.02, "std": 0.01},
                               "b": {"mean": 0.04, "std": 0.01},
                               "c": {"mean": 0.06, "std": 0.01}}}


def context() -> measurements.GateContext:
    return measurements.GateContext(
        namespace="shop", name="m", canary_version="4", stable_version="3",
        canary_run_id="run-4", stable_run_id="run-3", step_started_at=NOW - dt.timedelta(hours=1),
        canary_started_at=NOW - dt.timedelta(hours=2), now=NOW, analysis_interval_s=300,
        holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES, treatments=(),
        canary_share=0.5, attribution_window_s=86400)


def scored(requests: int, spread: float, shift: float = 0.01, seed: int = 1) -> CollectorRegistry:
    """``requests`` requests, each scored for three treatments, strongly correlated (0.9),
    each treatment's sd ``spread`` and mean ``shift`` above its training mean."""
    registry = CollectorRegistry()
    runtime = RuntimeMetrics(registry)
    rng = np.random.default_rng(seed)
    cov = spread**2 * (0.9 * np.ones((3, 3)) + 0.1 * np.eye(3))
    x = rng.multivariate_normal(np.array([0.02, 0.04, 0.06]) + shift, cov, size=requests)
    for i, treatment in enumerate("abc"):
        runtime.observe_uplift("m", "4", treatment, [float(v) for v in x[:, i]])
    return registry


def collect(source: Runtime) -> UpliftSanityMeasurement:
    gate = ModelGate.model_validate({"name": "g", "type": "upliftSanity"})
    out = measurements.collect(gate, context(), cast(MetricSource, source),
                               cast(Registry, Reference()))
    assert isinstance(out, UpliftSanityMeasurement), out
    return out


def test_several_treatments_count_requests_not_values_and_the_live_spread() -> None:
    m = collect(Runtime(scored(400, 0.02)))
    assert m.requests == 400  # not 3 × 400
    assert abs(m.canary_mean_uplift - 0.05) < 0.005
    assert (m.training_mean, m.training_std) == (0.04, 0.01)
    # The average of the treatments' sds: at least the request average's sd whatever the
    # correlation, here ≈ 0.02, twice the training sd.
    assert m.live_std is not None and 0.018 < m.live_std < 0.022


def test_a_canary_spread_twice_as_wide_is_not_passed_on_its_values_count() -> None:
    # 150 requests 0.7 training sd above the training mean, spread 2× as wide as in training:
    # counted as 450 values with the training sd (as before), the gate passed them; as 150
    # requests with their live spread, within [−1, 1] is not shown yet.
    m = collect(Runtime(scored(150, 0.02, shift=0.007)))
    assert m.requests == 150 and m.live_std is not None and m.live_std > 0.015
    gate = ModelGate.model_validate({"name": "g", "type": "upliftSanity"})
    as_values = UpliftSanityMeasurement(m.canary_mean_uplift, 3 * m.requests, m.training_mean,
                                        m.training_std)
    assert evaluate_gate(gate, as_values, None, NOW).verdict is GateVerdict.PASS
    out = evaluate_gate(gate, m, None, NOW)
    assert out.verdict is GateVerdict.INCONCLUSIVE, out.message
    assert "live sd" in out.message


def test_a_runtime_without_the_squares_counter_leaves_the_live_spread_unknown() -> None:
    m = collect(Runtime(scored(400, 0.02), squares=False))
    assert m.requests == 400 and m.live_std is None
