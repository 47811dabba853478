"""The uplift runtime loaded in this process, as MLServer loads it, for tests that call its
endpoints directly: the environment set for the load, restored after."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlserver.settings import ModelParameters, ModelSettings

from uplift_operator.runtime.runtime import UpliftRuntime


@contextmanager
def loaded_runtime(name: str, model: Path, env: Mapping[str, str],
                   ) -> Iterator[tuple[UpliftRuntime, asyncio.AbstractEventLoop]]:
    """``name``'s runtime loaded from ``model`` with ``env`` set; unloaded, its loop closed
    and the environment as it was, on exit."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    loop = asyncio.new_event_loop()
    runtime = UpliftRuntime(ModelSettings(name=name, implementation=UpliftRuntime,
                                          parameters=ModelParameters(uri=str(model))))
    try:
        loop.run_until_complete(runtime.load())
        yield runtime, loop
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
