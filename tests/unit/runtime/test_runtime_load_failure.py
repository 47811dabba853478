"""A load that fails leaves nothing running; a drain token path that cannot be a file fails nothing.

The campaigns poller (``_tick_forever``) was started in the middle of ``load``: a load that
failed after it (``UPLIFT_DRAIN_TOKEN_FILE=/`` raised ``ValueError`` from the token's write)
left it ticking for a model MLServer no longer serves, and nothing ever cancelled it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from mlserver.settings import ModelParameters, ModelSettings
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftRuntime

NAME = "load-failure-test"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("load-failure")
    train_small_model(root / "model")
    (root / "campaigns.json").write_text(json.dumps(
        {"format": "uplift-operator/campaigns/v1", "campaigns": {}}))
    return root


def _pollers(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks(loop)
            if not task.done() and "_tick_forever" in repr(task.get_coro())]


def _load(root: Path, monkeypatch: pytest.MonkeyPatch, token_file: str
          ) -> tuple[UpliftRuntime, asyncio.AbstractEventLoop, BaseException | None]:
    for key, value in {"UPLIFT_DECISION_KEY": "load-failure-test-decision-key-0123456789",
                       "UPLIFT_MODEL_VERSION": "7", "UPLIFT_CAMPAIGNS_FILE":
                       str(root / "campaigns.json"), drain.TOKEN_FILE_ENV: token_file}.items():
        monkeypatch.setenv(key, value)
    runtime = UpliftRuntime(ModelSettings(name=NAME, implementation=UpliftRuntime,
                                          parameters=ModelParameters(uri=str(root / "model"))))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(runtime.load())
    except Exception as exc:
        return runtime, loop, exc
    return runtime, loop, None


def test_a_drain_token_path_without_a_file_name_refuses_the_drain_not_the_model(
        root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "uplift_operator.runtime")
    runtime, loop, failed = _load(root, monkeypatch, "/")
    try:
        assert failed is None
        assert "cannot write the drain token to /" in caplog.text
        assert len(_pollers(loop)) == 1
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()


def test_a_load_that_fails_after_reading_the_campaigns_leaves_no_poller(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: UpliftRuntime, path: Path) -> None:
        raise RuntimeError("the last step of the load failed")

    monkeypatch.setattr(UpliftRuntime, "_publish_drain_token", fail)
    runtime, loop, failed = _load(root, monkeypatch, str(root / "drain-token"))
    try:
        assert isinstance(failed, RuntimeError)
        assert _pollers(loop) == []
        loop.run_until_complete(runtime.unload())   # as MLServer does after a failed load
    finally:
        loop.close()
