"""Sender authentication on the report endpoints, through the runtime in-process.

With ``UPLIFT_REPORT_TOKEN`` set (the UpliftModel's ``spec.serving.reportCredentials``), a
delivery or outcome report counts only with ``Authorization: Bearer <token>``; anything else is a
401 in the runtime's error shape, counted in ``uplift_request_errors_total{reason="unauthorized"}``
(exported at zero from load), and changes no other counter. Without it the endpoints stay open.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlserver.settings import ModelParameters, ModelSettings
from prometheus_client import REGISTRY
from starlette.requests import Request
from tests.unit.runtime.test_runtime_metrics_campaign import Loaded as CampaignLoaded
from tests.unit.runtime.test_runtime_metrics_campaign import _train

from uplift_operator.runtime import drain
from uplift_operator.runtime.config import REPORT_TOKEN_ENV, ConfigError, RuntimeConfig
from uplift_operator.runtime.runtime import UpliftError, UpliftRuntime

NAME, VERSION = "auth-test", "5"
TOKEN = "report-token-0123456789abcdef"
BASE = {"model": NAME, "version": VERSION}


def request(body: Any, headers: Sequence[tuple[str, str]] = ()) -> Request:
    data = json.dumps(body).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    return Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
                    "client": ("10.0.0.9", 5555)}, receive)


BEARER = (("Authorization", f"Bearer {TOKEN}"),)


@dataclass
class Loaded(CampaignLoaded):
    """The campaign tests' runtime harness, its reports sent with ``headers``."""

    def outcomes(self, outcomes: list[dict[str, Any]],
                 headers: Sequence[tuple[str, str]] = BEARER) -> dict[str, Any]:
        answer: dict[str, Any] = self.run(self.runtime.outcomes(
            request({"outcomes": outcomes}, headers)))
        return answer

    def deliveries(self, deliveries: list[dict[str, Any]],
                   headers: Sequence[tuple[str, str]] = BEARER) -> dict[str, Any]:
        answer: dict[str, Any] = self.run(self.runtime.deliveries(
            request({"deliveries": deliveries}, headers)))
        return answer


def _load(root: Path, name: str, env: dict[str, str]) -> tuple[UpliftRuntime,
                                                                 asyncio.AbstractEventLoop]:
    env = {drain.TOKEN_FILE_ENV: str(root / f"{name}-drain-token"), **env}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    loop = asyncio.new_event_loop()
    runtime = UpliftRuntime(ModelSettings(name=name, implementation=UpliftRuntime,
                                          parameters=ModelParameters(uri=str(root / "model"))))
    try:
        loop.run_until_complete(runtime.load())
    except BaseException:
        loop.close()
        raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return runtime, loop


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("auth-runtime")
    _train(root / "model")
    return root


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> Iterator[Loaded]:
    runtime, loop = _load(model_dir, NAME, {
        "UPLIFT_DECISION_KEY": "auth-test-decision-key-0123456789",
        "UPLIFT_MODEL_VERSION": VERSION, REPORT_TOKEN_ENV: f"{TOKEN}\n"})  # newline dropped
    try:
        yield Loaded(runtime, loop)
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()


def value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {**BASE, **labels})


def counted(metric: str = "uplift_outcomes_total") -> float:
    return sum(value(metric, arm=arm, treatment=key, campaign="") or 0.0
               for arm in ("holdout", "treated")
               for key in ("womens_e_mail", "mens_e_mail", "none"))


def test_unauthorized_reports_are_exported_at_zero_from_load(loaded: Loaded) -> None:
    # Before any report: a series born inside a range loses its first increments.
    for endpoint in ("deliveries", "outcomes"):
        assert value("uplift_request_errors_total", endpoint=endpoint,
                     reason="unauthorized") is not None


@pytest.mark.parametrize("headers", [
    (),                                                   # no header at all
    (("Authorization", "Bearer wrong-token-0123456789abcdef"),),
    (("Authorization", f"Bearer {TOKEN[:-1]}"),),         # a prefix of it
    (("Authorization", f"Basic {TOKEN}"),),               # another scheme
    (("Authorization", "Bearer "),),
    (("X-Report-Token", TOKEN),),                         # not where it is read
])
def test_a_report_without_the_token_is_refused_401_and_counts_nothing(
        loaded: Loaded, headers: tuple[tuple[str, str], ...]) -> None:
    ids = loaded.decide(["h-1", "h-2"])["decision_id"]
    before = counted()
    refused = {e: value("uplift_request_errors_total", endpoint=e, reason="unauthorized")
               for e in ("deliveries", "outcomes")}
    with pytest.raises(UpliftError, match=r"^/uplift/v1/outcomes.*Bearer") as error:
        loaded.outcomes([{"decision_id": d, "converted": False} for d in ids], headers)
    assert error.value.status_code == 401
    assert TOKEN not in str(error.value)
    with pytest.raises(UpliftError) as error:
        loaded.deliveries([{"decision_id": ids[0], "status": "ok"}], headers)
    assert error.value.status_code == 401
    assert counted() == before
    for endpoint, count in refused.items():
        assert value("uplift_request_errors_total", endpoint=endpoint,
                     reason="unauthorized") == (count or 0.0) + 1
    # Not marked seen either: the legitimate report still counts.
    assert loaded.outcomes([{"decision_id": d, "converted": True} for d in ids])["counted"] == 2
    assert counted() == before + 2


def test_the_review_repro_a_third_party_cannot_pre_empt_an_outcome_by_unit_id(
        loaded: Loaded) -> None:
    """/tmp/review-sec: who knows only customer ids posted ``converted: false`` by ``unit_id``
    first, and the sender's conversions were then acknowledged as duplicates, never counted."""
    units = [f"cust-{i}" for i in range(5)]
    ids = loaded.decide(units)["decision_id"]
    conversions = counted("uplift_conversions_total")
    with pytest.raises(UpliftError) as error:
        loaded.outcomes([{"unit_id": u, "converted": False} for u in units], headers=())
    assert error.value.status_code == 401
    answer = loaded.outcomes([{"decision_id": d, "converted": True} for d in ids])
    assert answer == {"accepted": 5, "counted": 5, "duplicates": 0}
    assert counted("uplift_conversions_total") == conversions + 5


def test_the_token_counts_a_report_whatever_the_schemes_case(loaded: Loaded) -> None:
    ids = loaded.decide(["ok-1"])["decision_id"]
    answer = loaded.outcomes([{"decision_id": ids[0], "converted": False}],
                             headers=(("Authorization", f"bearer  {TOKEN}"),))
    assert answer["counted"] == 1


def test_without_a_token_the_report_endpoints_stay_open(model_dir: Path) -> None:
    runtime, loop = _load(model_dir, "auth-test-open", {
        "UPLIFT_DECISION_KEY": "auth-test-decision-key-0123456789",
        "UPLIFT_MODEL_VERSION": VERSION})
    try:
        open_ = Loaded(runtime, loop)
        ids = open_.decide(["o-1"])["decision_id"]
        assert open_.outcomes([{"decision_id": ids[0]}], headers=())["counted"] == 1
        assert REGISTRY.get_sample_value("uplift_request_errors_total", {
            "model": "auth-test-open", "version": VERSION, "endpoint": "outcomes",
            "reason": "unauthorized"}) is None
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()


@pytest.mark.parametrize(("raw", "error"), [
    ("short-token", "at least 16 characters, has 11"),
    ("a token with spaces in it", "printable ASCII without spaces"),
    ("tab\tinside-0123456789abcdef", "printable ASCII"),
    ("non-ascii-tökén-0123456789abcdef", "printable ASCII"),
    ("   \n", "at least 16 characters, has 0"),
])
def test_an_unusable_token_fails_the_load_naming_the_variable_not_the_value(
        raw: str, error: str, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match=error) as caught:
        RuntimeConfig.report_token({REPORT_TOKEN_ENV: raw})
    assert raw.strip() not in str(caught.value) or not raw.strip()
    with pytest.raises(UpliftError, match=f"{REPORT_TOKEN_ENV}: .*{error}") as failed:
        _load(model_dir, "auth-test-bad", {REPORT_TOKEN_ENV: raw})
    assert failed.value.status_code == 500


def test_the_token_from_the_environment() -> None:
    assert RuntimeConfig.report_token({}) is None
    assert RuntimeConfig.report_token({REPORT_TOKEN_ENV: ""}) is None
    assert RuntimeConfig.report_token({REPORT_TOKEN_ENV: f" {TOKEN}\n"}) == TOKEN.encode()
