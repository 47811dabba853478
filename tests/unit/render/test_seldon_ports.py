"""The runtime container's ports: declared by name, MLServer told them, the same in every
predictor; and the Seldon stand-in's model of Seldon Core 1.17.1's port defaulting, which
numbers what a container does not declare by its predictor's position (``render.seldon``
module docstring; ``devenv.seldon_standin.seldon_defaults``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from mlserver.settings import Settings

from uplift_operator.devenv.seldon_standin import pod_templates, seldon_defaults
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import (
    METRICS_PATH,
    PORT_ENV,
    STARTUP_PROBE,
    STARTUP_SECONDS,
    SeldonV1Backend,
    deployment_names,
)
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.services.rolls import ROLL_TIMEOUT

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000009")
RUNTIME = RuntimeSettings(image="runtime:1", registered_model="hillstrom",
                          tracking_uri="http://mlflow:5000")


def render(split: TrafficSplit) -> dict[str, Any]:
    return SeldonV1Backend().render(OWNER, RUNTIME, split)


def container(predictor: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = predictor["componentSpecs"][0]["spec"]["containers"]
    return containers[0]


def ports(c: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in c.get("ports") or []}


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}


def test_every_predictor_declares_the_same_named_ports_with_the_crds_default_protocol() -> None:
    for predictor in render(TrafficSplit("3", "4", 25))["spec"]["predictors"]:
        declared = container(predictor)["ports"]
        assert declared == [{"name": "http", "containerPort": 9000, "protocol": "TCP"},
                            {"name": "grpc", "containerPort": 9500, "protocol": "TCP"},
                            {"name": "metrics", "containerPort": 6000, "protocol": "TCP"}]


@pytest.mark.parametrize("index", [0, 1])
def test_mlserver_listens_where_seldon_sends_requests_probes_and_scrapes(
        index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLServer 1.7.1's own settings, from the container's environment as Seldon completes it
    (which adds only ``PREDICTIVE_UNIT_*``, none of which MLServer reads)."""
    graph = seldon_defaults(render(TrafficSplit("3", "4", 25)))
    c = container(graph["spec"]["predictors"][index])
    assert ports(c) == {"http": 9000, "grpc": 9500, "metrics": 6000}
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"MLSERVER_{name.upper()}", raising=False)
    for name, value in env(c).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.http_port, settings.grpc_port, settings.metrics_port) == (9000, 9500, 6000)
    assert settings.metrics_endpoint == METRICS_PATH == env(c)[
        "PREDICTIVE_UNIT_METRICS_ENDPOINT"] == "/prometheus"
    assert env(c)["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] == str(settings.http_port)
    assert env(c)["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"] == str(settings.metrics_port)
    assert dict(PORT_ENV).items() <= env(c).items()


def test_started_when_mlservers_model_is_and_readiness_and_liveness_left_to_seldon() -> None:
    """MLServer's ``/v2/health/ready`` gates the start only: an HTTP readiness probe would time
    out while a large request holds MLServer's event loop. Seldon adds its TCP probes to a
    container that has none, so none is rendered."""
    c = container(render(TrafficSplit("3"))["spec"]["predictors"][0])
    assert c["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert "readinessProbe" not in c and "livenessProbe" not in c
    defaulted = container(seldon_defaults(render(TrafficSplit("3")))["spec"]["predictors"][0])
    assert defaulted["startupProbe"] == c["startupProbe"]
    assert defaulted["readinessProbe"]["tcpSocket"] == {"port": 9000}
    assert defaulted["livenessProbe"]["tcpSocket"] == {"port": 9000}


def test_the_startup_probe_allows_a_model_load_as_long_as_a_roll_may_take() -> None:
    probe = STARTUP_PROBE
    assert probe["periodSeconds"] * probe["failureThreshold"] == STARTUP_SECONDS == (
        ROLL_TIMEOUT.total_seconds())


def test_seldon_numbers_an_undeclared_metrics_port_by_the_predictors_position() -> None:
    """What the stand-in models (``addMetricsPortAndIncrement``), on the rendering before the
    ports were declared: the second predictor's container gets 6001, and http/grpc and the
    ``PREDICTIVE_UNIT_*`` variables are added, so a version moving from second to first (a
    promotion) changes its pod template."""
    def undeclared(graph: dict[str, Any]) -> dict[str, Any]:
        graph = copy.deepcopy(graph)
        for predictor in graph["spec"]["predictors"]:
            c = container(predictor)
            del c["ports"], c["startupProbe"]
            c["env"] = [e for e in c["env"] if e["name"] not in dict(PORT_ENV)]
        return graph

    before, after = undeclared(render(TrafficSplit("1", "2", 100))), undeclared(
        render(TrafficSplit("2")))
    first, second = (container(p) for p in seldon_defaults(before)["spec"]["predictors"])
    assert ports(first) == {"metrics": 6000, "http": 9000, "grpc": 9500}
    assert ports(second) == {"metrics": 6001, "http": 9000, "grpc": 9500}
    assert env(second)["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"] == "6001"
    assert second["readinessProbe"]["tcpSocket"] == {"port": 9000}
    v2 = deployment_names("uplift", after["spec"]["predictors"][0])[0]
    assert pod_templates(before)[v2] != pod_templates(after)[v2]
    # Declared, the same promotion leaves it as it was.
    declared_before, declared_after = render(TrafficSplit("1", "2", 100)), render(
        TrafficSplit("2"))
    assert pod_templates(declared_before)[v2] == pod_templates(declared_after)[v2]


def test_the_defaulting_is_seldons_in_memory_alone() -> None:
    graph = render(TrafficSplit("1", "2", 10))
    kept = copy.deepcopy(graph)
    seldon_defaults(graph)
    assert graph == kept
