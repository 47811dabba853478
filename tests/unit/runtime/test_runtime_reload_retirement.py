"""Series waiting to be removed across a model reload, through the runtime in-process.

MLServer reloads a model in a process that goes on by loading the new instance, then unloading
the old one (``mlserver/registry.py`` ``_reload_model``). What was waiting to be removed — the
series of a campaign that left the file, of one that treats no one, of a version that left the
split — lived in the old instance (``_retired``, ``_idle``, ``_zeroed``) and went with it: the
new one never removed them (the review's reload_leak.py: a campaign's 10 series an hour
later). The old instance now hands them to the next instance of the model and version.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.runtime.reloading import FAR, WINDOW, Model, campaign_entry, own_model, trained_model

OWN, CANARY = "7", "8"
KEY = "reload-retirement-decision-key-0123456789"
GAUGES = {"uplift_campaign_generation", "uplift_campaign_exposure_percent"}


def _entry(**changes: Any) -> dict[str, Any]:
    return campaign_entry("t/reload", **changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_model(tmp_path_factory, "reload-retirement")


@pytest.fixture
def model(trained: Path, tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Model]:
    with own_model("reload-", trained, tmp_path, request, monkeypatch,
                   {"UPLIFT_DECISION_KEY": KEY, "UPLIFT_MODEL_VERSION": OWN}) as model:
        yield model


@pytest.mark.parametrize("order", ["reload", "unload-then-load"])
def test_a_campaign_that_left_the_file_has_its_series_removed_after_a_reload(
        model: Model, order: str) -> None:
    model.publish({"stays": _entry(), "gone": _entry()}, stable=OWN)
    old = model.load()
    model.decide(old, "gone")
    model.decide(old, "stays")
    model.publish({"stays": _entry()}, stable=OWN)
    old._campaign_tick(time.time())
    assert ("campaign", "gone") in old._retired
    kept = model.series(campaign="gone")
    assert "uplift_rows_scored_total" in kept
    new = model.reload(old, order=order)
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
    model.publish({"paused": _entry()}, stable=OWN)
    old = model.load()
    model.decide(old, "paused")
    model.publish({"paused": _entry(exposurePercent=0, generation=2)}, stable=OWN)
    old._campaign_tick(time.time())
    assert "paused" in old._idle
    new = model.reload(old)
    try:
        assert "paused" not in new._zeros_out   # the new instance exported nothing of it
        new._campaign_tick(time.time() + FAR)
        assert model.series(campaign="paused") == GAUGES
    finally:
        model.unload(new)


def test_a_version_that_left_the_split_has_its_series_removed_after_a_reload(
        model: Model) -> None:
    model.publish({"spring": _entry()}, stable=OWN, canary=CANARY)
    old = model.load()
    assert "uplift_outcomes_total" in model.series(version=CANARY)
    model.publish({"spring": _entry()}, stable=OWN)   # the canary promoted or rolled back: no canary
    old._campaign_tick(time.time())
    assert ("version", CANARY) in old._retired
    new = model.reload(old)
    try:
        new._campaign_tick(time.time() + FAR)
        assert model.series(version=CANARY) == set()
        assert "uplift_outcomes_total" in model.series(version=OWN)
    finally:
        model.unload(new)


def test_a_reload_keeps_the_series_of_what_it_still_serves(model: Model) -> None:
    """The canary's series at zero and a treating campaign's, as the old instance had them:
    the new one exports them too, and removes nothing of them."""
    model.publish({"spring": _entry()}, stable=OWN, canary=CANARY)
    old = model.load()
    model.decide(old, "spring")
    before = model.series()
    new = model.reload(old)
    try:
        new._campaign_tick(time.time() + FAR)
        assert model.series() >= before - {"uplift_campaign_period_spend"}
        assert not new._retired and not new._idle
    finally:
        model.unload(new)
