"""The runtime pods' scrape interval (``--prometheus-scrape-interval``) reaches the passes as
handlers.lifecycle builds their Dependencies, and an UpliftModel pass reads its gates' counts
scaled by what those scrapes observed (φ = max(0, w − s)/w, ``measurements.observed_share``):
not derived from the drain wait, not left at a default."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config
from tests.unit.handlers.test_lifecycle_dependencies import KUBECONFIG
from tests.unit.services.test_upliftmodel import Sim

from uplift_operator import settings
from uplift_operator.adapters.prometheus import Sample
from uplift_operator.handlers import lifecycle
from uplift_operator.services import upliftmodel
from uplift_operator.services.measurements import observed_share
from uplift_operator.settings import OperatorConfig

_INCREASE = re.compile(r"increase\(([a-z_]+)\{[^}]*\}\[(\d+)s\]")
#: What Prometheus reports over any range, by metric and version: the canary refused 8 of 40.
REPORTED = {"uplift_request_errors_total": {"2": 8.0, "1": 0.0},
            "uplift_request_duration_seconds_count": {"2": 32.0, "1": 360.0}}


class Reported:
    """A Prometheus reporting ``REPORTED`` for every ``increase`` by version, and every version
    present (the split's and the late-scrape checks); the ranges asked recorded."""

    def __init__(self) -> None:
        self.ranges: list[int] = []

    def scalar(self, promql: str, time: Any = None) -> float | None:
        rows = self.query(promql, time)
        return rows[0].value if rows else None

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        found = _INCREASE.search(promql)
        if found is None:
            return [Sample({"version": v}, 1.0, 0.0) for v in ("1", "2")]
        self.ranges.append(int(found.group(2)))
        rows = REPORTED.get(found.group(1), {})
        return [Sample({"version": v}, value, 0.0) for v, value in rows.items()]


def _operator_deps(argv: list[str], tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> upliftmodel.Dependencies:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    monkeypatch.delenv("UPLIFT_PROMETHEUS_SCRAPE_INTERVAL", raising=False)
    return lifecycle.dependencies(settings.parse_args(["--all-namespaces", *argv]))


def _gate_counts(deps: upliftmodel.Dependencies) -> tuple[tuple[int, ...], list[int]]:
    """A canary's errorRate gate measured in a pass on ``deps`` (its adapters swapped for the
    fakes), 90 s into its step: the counts its message shows (canary errors and requests,
    stable errors and requests) and the ranges it asked."""
    sim = Sim()
    prometheus = Reported()
    sim.deps = dataclasses.replace(
        deps, cluster=sim.deps.cluster, backend=sim.deps.backend,
        registry_for=sim.deps.registry_for, prometheus=prometheus,
        metric_templates=sim.deps.metric_templates, runtime_image=sim.deps.runtime_image,
        default_tracking_uri=sim.deps.default_tracking_uri, write_back=sim.deps.write_back,
        first_status_grace=dt.timedelta(0))
    sim.body["spec"]["rollout"]["gates"] = [{"name": "errors", "type": "errorRate",
                                             "max": 0.5}]
    sim.with_canary()
    prometheus.ranges.clear()
    sim.tick(90)
    [gate] = sim.status["gates"]
    shown = re.search(r"canary (\d+)/(\d+) errors vs stable (\d+)/(\d+)", gate["message"])
    assert gate["name"] == "errors" and shown is not None, gate
    return tuple(int(n) for n in shown.groups()), sorted(set(prometheus.ranges))


def test_a_pass_reads_the_counts_scaled_by_the_operators_scrape_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = _operator_deps(["--prometheus-scrape-interval", "15"], tmp_path, monkeypatch)
    assert deps.prometheus_scrape_interval == 15
    counts, ranges = _gate_counts(deps)
    assert max(ranges) == 90  # the step's range: what the error and request counts are over
    share = observed_share("90s", 15)  # 75/90
    errors, answered = REPORTED["uplift_request_errors_total"], \
        REPORTED["uplift_request_duration_seconds_count"]
    assert counts == (round(errors["2"] * share),
                      round(errors["2"] * share) + round(answered["2"] * share),
                      0, round(answered["1"] * share)) == (7, 34, 0, 300)
    # Unscaled (the scrape interval lost: 0), or scaled by the default 30 s, they are not so.
    for other in (1.0, observed_share("90s", 30)):
        assert counts[3] != round(answered["1"] * other)


def test_the_scrape_interval_is_the_settings_not_derived_from_the_drain_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = _operator_deps(["--prometheus-scrape-interval", "60"], tmp_path, monkeypatch)
    assert (deps.prometheus_scrape_interval, deps.runtime_drain_wait) == (60, 65)
    # The default, for Dependencies built without the setting (the tests'), is the setting's.
    bare = upliftmodel.Dependencies(
        cluster=None, backend=None, registry_for=None,  # type: ignore[arg-type]
        prometheus=None, metric_templates={}, runtime_image="r", default_tracking_uri=None,
        runtime_drain_wait=65)
    assert bare.prometheus_scrape_interval == OperatorConfig.prometheus_scrape_interval
