"""Rows of a request without the unit key input, through the runtime in-process.

Such rows get a fresh random unit id each and are answered 200 (the model's own decisions;
a campaign's are refused): a client that sends its id under another name (``user_id`` where
the unit key is ``customer_id``) saw nothing wrong while its holdout was not persistent and
the online effect diluted towards 0 (the review's malformed.py "no unit"). They are counted
in ``uplift_rows_without_unit_total`` and logged once per model and version.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftError

NAME = "rows-without-unit"


def _request(n: int, unit_key: str | None) -> InferenceRequest:
    inputs = [{"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
              {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n}]
    if unit_key is not None:
        inputs.append({"name": unit_key, "datatype": "BYTES", "shape": [n],
                       "data": [f"u{i}" for i in range(n)]})
    return InferenceRequest.model_validate({"inputs": inputs})


def test_rows_without_the_unit_key_are_counted_and_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train_small_model(tmp_path / "model")
    env = {"UPLIFT_DECISION_KEY": "rows-without-unit-key-0123456789abcdef",
           "UPLIFT_UNIT_KEY": "customer_id", "UPLIFT_MODEL_VERSION": "3",
           drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}
    labels = {"model": NAME, "version": "3"}

    def count() -> float | None:
        return REGISTRY.get_sample_value("uplift_rows_without_unit_total", labels)

    with loaded_runtime(NAME, tmp_path / "model", env) as (runtime, loop):
        assert count() == 0   # exported at zero from load
        loop.run_until_complete(runtime.predict(_request(3, "customer_id")))
        assert count() == 0
        with caplog.at_level(logging.WARNING, logger="uplift_operator.runtime"):
            for _ in range(2):   # the client's id under another name: still answered
                response = loop.run_until_complete(runtime.predict(_request(4, "user_id")))
                units = next(o for o in response.outputs if o.name == "unit_id").data.root
                assert len(set(units)) == 4 and not set(units) & {f"u{i}" for i in range(4)}
        assert count() == 8
        warnings = [r for r in caplog.records if "'customer_id'" in r.getMessage()
                    and "random unit ids" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_with_require_unit_id_a_request_without_the_unit_key_is_refused(
        tmp_path: Path) -> None:
    """``UPLIFT_REQUIRE_UNIT_ID=true`` (opt-in): a request of the model's own decisions without
    the unit key input is refused 400 ``bad_unit_id`` naming the input, counted in
    ``uplift_request_errors_total``, not decided under random unit ids."""
    train_small_model(tmp_path / "model")
    name = f"{NAME}-required"
    env = {"UPLIFT_DECISION_KEY": "rows-without-unit-key-0123456789abcdef",
           "UPLIFT_UNIT_KEY": "customer_id", "UPLIFT_MODEL_VERSION": "3",
           "UPLIFT_REQUIRE_UNIT_ID": "true",
           drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}
    base = {"model": name, "version": "3"}
    errors = {**base, "endpoint": "infer", "reason": "bad_unit_id"}

    def value(metric: str, labels: dict[str, str]) -> float | None:
        return REGISTRY.get_sample_value(metric, labels)

    with loaded_runtime(name, tmp_path / "model", env) as (runtime, loop):
        assert value("uplift_request_errors_total", errors) == 0   # exported at zero
        response = loop.run_until_complete(runtime.predict(_request(2, "customer_id")))
        assert len(next(o for o in response.outputs if o.name == "unit_id").data.root) == 2
        with pytest.raises(UpliftError, match="'customer_id'") as refused:
            loop.run_until_complete(runtime.predict(_request(4, "user_id")))
        assert refused.value.status_code == 400
        assert "UPLIFT_REQUIRE_UNIT_ID" in str(refused.value)
        assert value("uplift_request_errors_total", errors) == 1
        assert value("uplift_rows_without_unit_total", base) == 0
        assert value("uplift_rows_scored_total", {**base, "campaign": ""}) == 2
