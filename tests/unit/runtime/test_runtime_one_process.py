"""The MLServer settings the runtime refuses to load under: adaptive batching and parallel workers.

With adaptive batching (``max_batch_size`` > 1) MLServer merges the batched requests into one,
their ``parameters`` last-one-wins (``mlserver.batching.requests.BatchedRequests``): every row of
a merged batch was decided under the last request's campaign — its salt, holdout, exposure, cap
and budget, the ids signed with it and counted there (the review's batching.py). Parallel
workers load the model in other processes, whose counters ``/metrics`` does not serve.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest
from mlserver.batching.requests import BatchedRequests
from mlserver.parallel.worker import Worker
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftError, UpliftRuntime

NAME = "one-process-test"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-process")
    train_small_model(root / "model")
    return root


def _env(root: Path, **more: str) -> dict[str, str]:
    return {"UPLIFT_DECISION_KEY": "one-process-test-decision-key-0123456789",
            "UPLIFT_MODEL_VERSION": "7", drain.TOKEN_FILE_ENV: str(root / "drain-token"),
            **more}


def _refused(root: Path, settings: ModelSettings | None = None, **env: str) -> UpliftError:
    """The load's refusal, the environment set for the load."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _env(root, **env).items():
            mp.setenv(key, value)
        runtime = UpliftRuntime(settings or ModelSettings(
            name=NAME, implementation=UpliftRuntime,
            parameters=ModelParameters(uri=str(root / "model"))))
        loop = asyncio.new_event_loop()
        try:
            with pytest.raises(UpliftError) as refused:
                loop.run_until_complete(runtime.load())
            loop.run_until_complete(runtime.unload())   # as MLServer does after a failed load
        finally:
            loop.close()
    assert refused.value.status_code == 500
    return refused.value


def test_adaptive_batching_is_refused_at_load(model: Path) -> None:
    settings = ModelSettings(name=NAME, implementation=UpliftRuntime, max_batch_size=4,
                             max_batch_time=0.01,
                             parameters=ModelParameters(uri=str(model / "model")))
    assert "max_batch_size is 4" in str(_refused(model, settings))


def test_adaptive_batching_from_the_environment_is_refused_at_load(model: Path) -> None:
    message = str(_refused(model, MLSERVER_MODEL_MAX_BATCH_SIZE="8"))
    assert "max_batch_size is 8" in message
    assert "MLSERVER_MODEL_MAX_BATCH_SIZE" in message


def test_parallel_workers_from_the_environment_are_refused_at_load(model: Path) -> None:
    message = str(_refused(model, MLSERVER_PARALLEL_WORKERS="2"))
    assert "MLSERVER_PARALLEL_WORKERS is '2'" in message
    assert "parallel_workers: 0" in message


def test_a_load_in_a_parallel_worker_process_is_refused(model: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # settings.json parallel_workers > 0 (MLServer's default is 1), no environment variable:
    # the model is loaded in a mlserver.parallel.worker.Worker process
    worker = Worker.__new__(Worker)
    monkeypatch.setattr(multiprocessing, "current_process", lambda: worker)
    assert "parallel inference worker" in str(_refused(model))


def test_one_process_without_batching_loads(model: Path) -> None:
    env = _env(model, MLSERVER_PARALLEL_WORKERS="0", MLSERVER_MODEL_MAX_BATCH_SIZE="1")
    with loaded_runtime(NAME, model / "model", env) as (runtime, _):
        assert runtime.settings.max_batch_size == 1


def test_what_batching_would_do_merged_requests_keep_the_last_ones_campaign() -> None:
    """Why it is refused: the merged request carries one campaign, the last request's."""
    def request(units: list[str], campaign: str) -> InferenceRequest:
        return InferenceRequest.model_validate(
            {"inputs": [{"name": "unit_id", "datatype": "BYTES", "shape": [len(units)],
                         "data": units}], "parameters": {"campaign": campaign}})

    merged = BatchedRequests({"1": request(["a1", "a2"], "alpha"),
                              "2": request(["b1"], "beta")}).merged_request
    assert merged.parameters is not None
    assert merged.parameters.model_extra == {"campaign": "beta"}
