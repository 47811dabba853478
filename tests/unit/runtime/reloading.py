"""A model of the uplift runtime loaded, reloaded and unloaded in this process as MLServer
does it, for the reload tests (``test_runtime_reload_*``): its campaigns file published, its
decisions made and its series read from the process-wide registry the metrics port serves.
Time is passed to the ticks: nothing sleeps."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime import runtime as runtime_module
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS, UpliftRuntime

WINDOW = 60
#: Past every window and grace of what the old instance left (whenever it left it).
FAR = 3 * (WINDOW + FORGET_AFTER_SECONDS)


def campaign_entry(salt: str, **changes: Any) -> dict[str, Any]:
    """A campaign of the file that treats everyone with "womens-e-mail", ``changes`` applied."""
    return {"generation": 1, "salt": salt, "unitKey": "customer_id",
            "holdoutFraction": 0.2, "exposurePercent": 100,
            "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
            "policy": {"type": "upliftThreshold", "minUplift": -1.0},
            "attributionWindowSeconds": WINDOW, "active": True, **changes}


@dataclass
class Model:
    name: str
    root: Path
    trained: Path
    loop: asyncio.AbstractEventLoop
    monkeypatch: pytest.MonkeyPatch
    versions: int = 0
    #: Another model's artifacts, by version loaded from them (the trained one's otherwise).
    artifacts: dict[str, Path] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / "campaigns.json"

    def publish(self, campaigns: dict[str, Any], stable: str, canary: str | None = None
                ) -> None:
        """A new version of the campaigns file (another mtime whatever the resolution)."""
        self.versions += 1
        self.path.write_text(json.dumps({
            "format": "uplift-operator/campaigns/v1", "campaigns": campaigns,
            "split": {"stable": stable, "canary": canary, "canaryPercent": 10,
                      "attributionWindowSeconds": WINDOW}}))
        st = self.path.stat()
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + self.versions * 10**9))

    def load(self, version: str | None = None) -> UpliftRuntime:
        """A new instance loaded; of ``version`` (``UPLIFT_MODEL_VERSION``) when given, else of
        the version the environment already says."""
        if version is not None:
            self.monkeypatch.setenv("UPLIFT_MODEL_VERSION", version)
        uri = self.artifacts.get(version, self.trained) if version is not None else self.trained
        runtime = UpliftRuntime(ModelSettings(name=self.name, implementation=UpliftRuntime,
                                              parameters=ModelParameters(uri=str(uri))))
        self.loop.run_until_complete(runtime.load())
        return runtime

    def unload(self, runtime: UpliftRuntime) -> None:
        assert self.loop.run_until_complete(runtime.unload())

    def reload(self, old: UpliftRuntime, version: str | None = None, order: str = "reload"
               ) -> UpliftRuntime:
        """MLServer's reload (the new instance loaded, then the old one unloaded), or an
        unload and a load (the model unloaded, then loaded again)."""
        if order == "reload":
            new = self.load(version)
            self.unload(old)
            new._campaign_tick(time.time())   # its poller's next tick, a second later
            return new
        self.unload(old)
        return self.load(version)

    def decide(self, runtime: UpliftRuntime, campaign: str | None = None, n: int = 4
               ) -> list[str]:
        body: dict[str, Any] = {"inputs": [
            {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
            {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
            {"name": "customer_id", "datatype": "BYTES", "shape": [n],
             "data": [f"{campaign}-{i}" for i in range(n)]}]}
        if campaign is not None:
            body["parameters"] = {"campaign": campaign}
        response = self.loop.run_until_complete(
            runtime.predict(InferenceRequest.model_validate(body)))
        output = next(o for o in response.outputs if o.name == "decision_id")
        return list(output.data.root)

    def series(self, version: str | None = None, *, campaign: str | None = None) -> set[str]:
        """The names of the model's series (of ``version``, of ``campaign``, when given)."""
        return {s.name for family in REGISTRY.collect() for s in family.samples
                if s.labels.get("model") == self.name
                and (campaign is None or s.labels.get("campaign") == campaign)
                and (version is None or s.labels.get("version") == version)}

    def handed(self) -> list[object]:
        """``_HANDED_OVER``'s entries of this model, whatever their key."""
        return [key for key in runtime_module._HANDED_OVER
                if key == self.name or (isinstance(key, tuple) and key[0] == self.name)]


def trained_model(tmp_path_factory: pytest.TempPathFactory, label: str,
                  **options: Any) -> Path:
    """A small model trained under a new temporary folder (``train_small_model``'s
    ``options``)."""
    root = tmp_path_factory.mktemp(label)
    train_small_model(root / "model", **options)
    return root / "model"


@contextmanager
def own_model(prefix: str, trained: Path, tmp_path: Path, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> Iterator[Model]:
    """A model of its own per test (the registry is the process's), named ``prefix`` and the
    test's name, its campaigns file in ``tmp_path``, ``env`` set too; its loop closed on exit."""
    name = prefix + request.node.name.removeprefix("test_")[:40].replace("_", "-")
    for key, value in {"UPLIFT_CAMPAIGNS_FILE": str(tmp_path / "campaigns.json"), **env,
                       drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}.items():
        monkeypatch.setenv(key, value)
    loop = asyncio.new_event_loop()
    try:
        yield Model(name, tmp_path, trained, loop, monkeypatch)
    finally:
        loop.close()
