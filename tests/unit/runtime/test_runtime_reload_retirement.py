"""Series waiting to be removed across a model reload, through the runtime in-process.

MLServer reloads a model in a process that goes on by loading the new instance, then unloading
the old one (``mlserver/registry.py`` ``_reload_model``). What was waiting to be removed — the
series of a campaign that left the file, of one that treats no one, of a version that left the
split — lived in the old instance (``_retired``, ``_idle``, ``_zeroed``) and went with it: the
new one never removed them (the review's reload_leak.py: a campaign's 10 series an hour
later). The old instance now hands them to the next instance of the model and version.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS, UpliftRuntime

OWN, CANARY = "7", "8"
KEY = "reload-retirement-decision-key-0123456789"
WINDOW = 60
#: Past every window and grace of what the old instance left (whenever it left it).
FAR = 3 * (WINDOW + FORGET_AFTER_SECONDS)
GAUGES = {"uplift_campaign_generation", "uplift_campaign_exposure_percent"}


def _entry(**changes: Any) -> dict[str, Any]:
    return {"generation": 1, "salt": "t/reload", "unitKey": "customer_id",
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
    versions: int = 0

    @property
    def path(self) -> Path:
        return self.root / "campaigns.json"

    def publish(self, campaigns: dict[str, Any], canary: str | None = None) -> None:
        """A new version of the campaigns file (another mtime whatever the resolution)."""
        self.versions += 1
        self.path.write_text(json.dumps({
            "format": "uplift-operator/campaigns/v1", "campaigns": campaigns,
            "split": {"stable": OWN, "canary": canary, "canaryPercent": 10,
                      "attributionWindowSeconds": WINDOW}}))
        st = self.path.stat()
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + self.versions * 10**9))

    def instance(self) -> UpliftRuntime:
        return UpliftRuntime(ModelSettings(name=self.name, implementation=UpliftRuntime,
                                           parameters=ModelParameters(uri=str(self.trained))))

    def load(self) -> UpliftRuntime:
        runtime = self.instance()
        self.loop.run_until_complete(runtime.load())
        return runtime

    def unload(self, runtime: UpliftRuntime) -> None:
        assert self.loop.run_until_complete(runtime.unload())

    def decide(self, runtime: UpliftRuntime, campaign: str, n: int = 4) -> None:
        body = {"inputs": [
            {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
            {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
            {"name": "customer_id", "datatype": "BYTES", "shape": [n],
             "data": [f"{campaign}-{i}" for i in range(n)]}],
            "parameters": {"campaign": campaign}}
        self.loop.run_until_complete(runtime.predict(InferenceRequest.model_validate(body)))

    def series(self, *, campaign: str | None = None, version: str | None = None) -> set[str]:
        return {s.name for family in REGISTRY.collect() for s in family.samples
                if s.labels.get("model") == self.name
                and (campaign is None or s.labels.get("campaign") == campaign)
                and (version is None or s.labels.get("version") == version)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reload-retirement")
    train_small_model(root / "model")
    return root / "model"


@pytest.fixture
def model(trained: Path, tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Model]:
    """A model of its own per test (the registry is the process's), its campaigns file."""
    name = "reload-" + request.node.name.removeprefix("test_")[:40].replace("_", "-")
    for key, value in {"UPLIFT_CAMPAIGNS_FILE": str(tmp_path / "campaigns.json"),
                       "UPLIFT_DECISION_KEY": KEY, "UPLIFT_MODEL_VERSION": OWN,
                       drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}.items():
        monkeypatch.setenv(key, value)
    loop = asyncio.new_event_loop()
    try:
        yield Model(name, tmp_path, trained, loop)
    finally:
        loop.close()


def _reload(model: Model, old: UpliftRuntime, order: str) -> UpliftRuntime:
    """MLServer's reload (the new instance loaded, then the old one unloaded), or an unload
    and a load (the model unloaded, then loaded again)."""
    if order == "reload":
        new = model.load()
        model.unload(old)
        new._campaign_tick(time.time())   # its poller's next tick, a second later
        return new
    model.unload(old)
    return model.load()


@pytest.mark.parametrize("order", ["reload", "unload-then-load"])
def test_a_campaign_that_left_the_file_has_its_series_removed_after_a_reload(
        model: Model, order: str) -> None:
    model.publish({"stays": _entry(), "gone": _entry()})
    old = model.load()
    model.decide(old, "gone")
    model.decide(old, "stays")
    model.publish({"stays": _entry()})
    old._campaign_tick(time.time())
    assert ("campaign", "gone") in old._retired
    kept = model.series(campaign="gone")
    assert "uplift_rows_scored_total" in kept
    new = _reload(model, old, order)
    try:
        now = time.time()
        new._campaign_tick(now + WINDOW + 10)        # its window closed: read a while longer
        assert model.series(campaign="gone") == kept
        new._campaign_tick(now + FAR)
        assert model.series(campaign="gone") == set()
        assert ("campaign", "gone") not in new._retired
        # The campaign still in the file keeps its series (the new instance's own at zero).
        assert "uplift_outcomes_expected_total" in model.series(campaign="stays")
        assert "uplift_rows_scored_total" in model.series(campaign="stays")
    finally:
        model.unload(new)


def test_a_campaign_that_treats_no_one_has_its_counters_removed_after_a_reload(
        model: Model) -> None:
    model.publish({"paused": _entry()})
    old = model.load()
    model.decide(old, "paused")
    model.publish({"paused": _entry(exposurePercent=0, generation=2)})
    old._campaign_tick(time.time())
    assert "paused" in old._idle
    new = _reload(model, old, "reload")
    try:
        assert "paused" not in new._zeros_out   # the new instance exported nothing of it
        new._campaign_tick(time.time() + FAR)
        assert model.series(campaign="paused") == GAUGES
    finally:
        model.unload(new)


def test_a_version_that_left_the_split_has_its_series_removed_after_a_reload(
        model: Model) -> None:
    model.publish({"spring": _entry()}, canary=CANARY)
    old = model.load()
    assert "uplift_outcomes_total" in model.series(version=CANARY)
    model.publish({"spring": _entry()})   # the canary promoted or rolled back: no canary
    old._campaign_tick(time.time())
    assert ("version", CANARY) in old._retired
    new = _reload(model, old, "reload")
    try:
        new._campaign_tick(time.time() + FAR)
        assert model.series(version=CANARY) == set()
        assert "uplift_outcomes_total" in model.series(version=OWN)
    finally:
        model.unload(new)


def test_a_reload_keeps_the_series_of_what_it_still_serves(model: Model) -> None:
    """The canary's series at zero and a treating campaign's, as the old instance had them:
    the new one exports them too, and removes nothing of them."""
    model.publish({"spring": _entry()}, canary=CANARY)
    old = model.load()
    model.decide(old, "spring")
    before = model.series()
    new = _reload(model, old, "reload")
    try:
        new._campaign_tick(time.time() + FAR)
        assert model.series() >= before - {"uplift_campaign_period_spend"}
        assert not new._retired and not new._idle
    finally:
        model.unload(new)
