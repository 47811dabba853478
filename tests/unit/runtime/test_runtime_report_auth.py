"""Sender authentication on the report endpoints, through the runtime in-process.

With ``UPLIFT_REPORT_TOKEN_FILE`` (the UpliftModel's ``spec.serving.reportCredentials`` as the
pod mounts it) or ``UPLIFT_REPORT_TOKEN`` set, a delivery or outcome report counts only with
``Authorization: Bearer <token>``; anything else is a 401 in the runtime's error shape, counted
in ``uplift_request_errors_total{reason="unauthorized"}`` (exported at zero from load), and
changes no other counter. Without it the endpoints stay open. The token file rotates without a
restart (``runtime.report_tokens``; its own tests: ``test_report_tokens``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlserver.settings import ModelParameters, ModelSettings
from prometheus_client import REGISTRY
from starlette.requests import Request
from tests.support.small_model import train_small_model
from tests.unit.runtime.test_runtime_metrics_campaign import Loaded as CampaignLoaded

from uplift_operator.devenv.serving_agent import project
from uplift_operator.runtime import drain
from uplift_operator.runtime.config import REPORT_TOKEN_ENV, REPORT_TOKEN_FILE_ENV
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
    train_small_model(root / "model")
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
        assert open_.outcomes([{"decision_id": ids[0], "converted": False}],
                              headers=())["counted"] == 1
        assert REGISTRY.get_sample_value("uplift_request_errors_total", {
            "model": "auth-test-open", "version": VERSION, "endpoint": "outcomes",
            "reason": "unauthorized"}) is None
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()


@pytest.mark.parametrize(("raw", "error"), [
    ("short-token", "at least 16 characters$"),
    ("a token with spaces in it", "printable ASCII without spaces"),
    ("   \n", "holds no report token"),
])
def test_an_unusable_token_fails_the_load_naming_the_variable_not_the_value(
        raw: str, error: str, model_dir: Path) -> None:
    """As the token file does at load (``test_report_tokens``): the log says why, never the
    token nor its length."""
    with pytest.raises(UpliftError, match=f"{REPORT_TOKEN_ENV}:? .*{error}") as failed:
        _load(model_dir, "auth-test-bad", {REPORT_TOKEN_ENV: raw})
    assert failed.value.status_code == 500
    assert raw.strip() not in str(failed.value) or not raw.strip()
    assert "11" not in str(failed.value)


def test_an_unusable_token_file_fails_the_load(model_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "token"
    with pytest.raises(UpliftError, match=f"{REPORT_TOKEN_FILE_ENV}: .*is not there") as failed:
        _load(model_dir, "auth-test-no-file", {REPORT_TOKEN_FILE_ENV: str(missing)})
    assert failed.value.status_code == 500
    missing.write_text("short-token\n")
    with pytest.raises(UpliftError, match="at least 16 characters"):
        _load(model_dir, "auth-test-short-file", {REPORT_TOKEN_FILE_ENV: str(missing)})


NEW_TOKEN = "report-token-new-fedcba9876543210"
FILE_BASE = {"model": "auth-test-file", "version": VERSION}


def test_the_token_file_rotates_without_a_restart(model_dir: Path, tmp_path: Path) -> None:
    """The rendered pod's form: the Secret's key in a secret volume the kubelet refreshes in
    place (``project``). The documented rotation — the new token as a second line, senders
    switched, the old line removed — refuses no sender at any step; an invalid version keeps
    the tokens in force, counted as an error. Time is passed in: no sleeping."""
    volume = tmp_path / "report-token"
    project(volume, {"token": f"{TOKEN}\n"})
    runtime, loop = _load(model_dir, "auth-test-file", {
        "UPLIFT_DECISION_KEY": "auth-test-decision-key-0123456789",
        "UPLIFT_MODEL_VERSION": VERSION, REPORT_TOKEN_FILE_ENV: str(volume / "token")})
    served = Loaded(runtime, loop)
    new = (("Authorization", f"Bearer {NEW_TOKEN}"),)

    def sample(metric: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(metric, {**FILE_BASE, **labels})

    units = itertools.count()

    def report(headers: Sequence[tuple[str, str]]) -> int:
        """The status of an outcome report for a new decision sent with ``headers``."""
        ids = served.decide([f"r-{next(units)}"])["decision_id"]
        try:
            served.outcomes([{"decision_id": ids[0], "converted": False}], headers)
        except UpliftError as error:
            return int(error.status_code)
        return 200

    clock = time.monotonic() + 10  # past the load's look: each refresh below looks again
    try:
        assert sample("uplift_report_tokens") == 1
        assert sample("uplift_report_token_reloads_total", result="ok") == 0
        assert sample("uplift_report_token_reloads_total", result="error") == 0
        assert sample("uplift_report_token_file_refused") == 0
        assert (report(BEARER), report(new)) == (200, 401)

        project(volume, {"token": f"{NEW_TOKEN}\n{TOKEN}\n"})  # 1. the new one added
        runtime._refresh_report_tokens(clock)
        assert sample("uplift_report_tokens") == 2
        assert sample("uplift_report_token_reloads_total", result="ok") == 1
        assert (report(BEARER), report(new)) == (200, 200)  # 2. senders switch at leisure

        project(volume, {"token": "short-token\n"})  # a bad edit: nothing changes
        runtime._refresh_report_tokens(clock + 1)
        assert sample("uplift_report_token_reloads_total", result="error") == 1
        assert sample("uplift_report_tokens") == 2
        assert (report(BEARER), report(new)) == (200, 200)
        assert report(()) == 401  # never fallen open
        assert sample("uplift_report_token_file_refused") == 1
        runtime._refresh_report_tokens(clock + 2)  # the same version: counted once, and
        assert sample("uplift_report_token_reloads_total", result="error") == 1
        assert sample("uplift_report_token_file_refused") == 1  # refused for as long as it is
        project(volume, {"token": "   \n"})  # another bad version: still refused
        runtime._refresh_report_tokens(clock + 3)
        assert sample("uplift_report_token_reloads_total", result="error") == 2
        assert sample("uplift_report_token_file_refused") == 1

        project(volume, {"token": f"{NEW_TOKEN}\n"})  # 3. the old one removed
        runtime._refresh_report_tokens(clock + 4)
        assert sample("uplift_report_tokens") == 1
        assert sample("uplift_report_token_reloads_total", result="ok") == 2
        assert sample("uplift_report_token_file_refused") == 0  # a valid version read
        assert (report(BEARER), report(new)) == (401, 200)
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()


def test_a_request_looks_at_the_token_file_itself(model_dir: Path, tmp_path: Path) -> None:
    """Without the background tick (a busy loop): the report's own authorization takes a new
    version once a second has passed since the last look."""
    volume = tmp_path / "report-token"
    project(volume, {"token": TOKEN})
    runtime, loop = _load(model_dir, "auth-test-request", {
        "UPLIFT_DECISION_KEY": "auth-test-decision-key-0123456789",
        "UPLIFT_MODEL_VERSION": VERSION, REPORT_TOKEN_FILE_ENV: str(volume / "token")})
    served = Loaded(runtime, loop)
    try:
        ids = served.decide(["q-1", "q-2"])["decision_id"]
        project(volume, {"token": NEW_TOKEN})
        tokens = runtime._report_tokens
        assert tokens is not None
        tokens._next_check = 0.0  # as if the second since the load's look had passed
        answer = served.outcomes([{"decision_id": ids[0], "converted": False}],
                                 (("Authorization", f"Bearer {NEW_TOKEN}"),))
        assert answer["counted"] == 1
        with pytest.raises(UpliftError) as refused:
            served.outcomes([{"decision_id": ids[1], "converted": False}], BEARER)
        assert refused.value.status_code == 401
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()
