"""A model reloaded in the process to another version: the old version's series go.

MLServer reloads a model by loading the new instance, then unloading the old one
(``mlserver/registry.py`` ``_reload_model``), when the new settings' ``parameters.version`` is
unchanged or unset; the new instance serves another version of the runtime's only without
``UPLIFT_MODEL_VERSION`` (which operator pods set to the pod's version): a URI that resolves to
another version without a settings version or ``model_version``, or a changed
``model_version``. The tests set ``UPLIFT_MODEL_VERSION`` per load to stand for it. The
unloaded instance
handed what it left to remove to "the next instance of the model and version", keyed by
(model, version): an instance of another version never took it, so the entry stayed in
``_HANDED_OVER`` (one more per version reloaded away from), and every series of the old
version stayed exported for the life of the process — counters, histograms, and gauges such as
``uplift_model_info`` (two models "loaded") or ``uplift_campaigns_file_refused`` = 1, which
kept ``UpliftCampaignSettingsRefused`` firing after the new instance took a good file. The
hand-over now goes to the next instance of the model, whatever its version: the old version's
gauges go at the unload, its counters once its decisions' windows have closed and a few scrapes
have read them (reports of its decisions still count under it), unless the split still names
it. Time is passed to the ticks: nothing sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from tests.unit.runtime.reloading import FAR, WINDOW, Model, campaign_entry, own_model, trained_model

from uplift_operator.runtime import runtime as runtime_module
from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS, UpliftRuntime

OLD, NEW = "1", "2"
KEY = "reload-version-change-decision-key-012345"
#: The old version's states: gone at the unload, not after a window.
STATES = {"uplift_model_info", "uplift_report_tokens", "uplift_campaigns_file_refused",
          "uplift_campaign_generation", "uplift_campaign_exposure_percent"}


def _entry(**changes: Any) -> dict[str, Any]:
    return campaign_entry("t/version-change", **changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_model(tmp_path_factory, "reload-version-change")


@pytest.fixture(scope="module")
def womens_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of one arm, "Womens E-Mail": a campaign of "mens-e-mail" is rejected by it."""
    return trained_model(tmp_path_factory, "reload-version-change-womens",
                         arms=("Womens E-Mail",))


@pytest.fixture
def model(trained: Path, tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Model]:
    with own_model("version-change-", trained, tmp_path, request, monkeypatch,
                   {"UPLIFT_DECISION_KEY": KEY}) as model:
        yield model


@pytest.mark.parametrize("order", ["reload", "unload-then-load"])
def test_a_reload_to_another_version_removes_the_old_versions_series(
        model: Model, order: str) -> None:
    model.publish({"spring": _entry()}, stable=OLD)
    old = model.load(OLD)
    model.decide(old)
    model.decide(old, "spring")
    before = model.series(OLD)
    assert {"uplift_rows_scored_total", "uplift_assignments_total",
            "uplift_request_duration_seconds_count", "uplift_predicted_uplift_count",
            "uplift_outcomes_total"} | STATES <= before
    model.publish({"spring": _entry()}, stable=NEW)   # the new version promoted
    new = model.reload(old, NEW, order)
    try:
        # Its states at once (no instance serves it, nothing sets them again); its counts a
        # while longer: reports of its decisions still count under it, and a few scrapes read
        # the last values.
        assert model.series(OLD) == before - STATES
        now = time.time()
        new._campaign_tick(now + WINDOW + 10)
        assert model.series(OLD) == before - STATES
        new._campaign_tick(now + FAR)
        assert model.series(OLD) == set()
        assert model.handed() == []   # taken, not left for an instance of the old version
        # The new version's own, at zero or counted, stay.
        assert {"uplift_rows_scored_total", "uplift_model_info",
                "uplift_outcomes_total"} <= model.series(NEW)
        model.decide(new, "spring")
        assert "uplift_campaign_decisions_total" in model.series(NEW)
    finally:
        model.unload(new)


def test_a_refused_file_before_a_reload_to_another_version_does_not_stay_refused(
        model: Model) -> None:
    """``uplift_campaigns_file_refused`` = 1 under the old version kept the alert firing
    (``max by (namespace, model)``) after the new instance took a good file."""
    model.publish({"spring": _entry()}, stable=OLD)
    old = model.load(OLD)
    model.path.write_text("not json")
    old._campaign_tick(time.time())
    refused = {(s.labels["version"], s.value) for family in REGISTRY.collect()
               for s in family.samples if s.name == "uplift_campaigns_file_refused"
               and s.labels.get("model") == model.name}
    assert refused == {(OLD, 1.0)}
    model.publish({"spring": _entry()}, stable=NEW)
    new = model.reload(old, NEW)
    try:
        refused = {(s.labels["version"], s.value) for family in REGISTRY.collect()
                   for s in family.samples if s.name == "uplift_campaigns_file_refused"
                   and s.labels.get("model") == model.name}
        assert refused == {(NEW, 0.0)}
    finally:
        model.unload(new)


def test_reloads_through_many_versions_leave_neither_series_nor_hand_overs(
        model: Model) -> None:
    model.publish({"spring": _entry()}, stable=OLD)
    runtime = model.load(OLD)
    for version in ("2", "3", "4", "5"):
        model.decide(runtime, "spring")
        model.publish({"spring": _entry()}, stable=version)
        runtime = model.reload(runtime, version)
        assert len(model.handed()) <= 1
    try:
        runtime._campaign_tick(time.time() + FAR)
        for gone in ("1", "2", "3", "4"):
            assert model.series(gone) == set(), gone
        assert model.handed() == []
        assert "uplift_model_info" in model.series("5")
    finally:
        model.unload(runtime)


def test_a_version_the_split_still_names_keeps_its_series_at_zero_until_it_leaves(
        model: Model) -> None:
    """Reloaded to the canary while the split still names the old version (stable): the
    report and cohort series of the old version's decisions stay (reports of its decisions,
    served by other replicas, reach this one); once it leaves the split, every series of it
    goes, those without a campaign label (latency, predicted uplift) too."""
    model.publish({"spring": _entry()}, stable=OLD, canary=NEW)
    old = model.load(OLD)
    model.decide(old, "spring")
    new = model.reload(old, NEW)
    try:
        new._campaign_tick(time.time() + FAR)
        kept = model.series(OLD)
        assert {"uplift_outcomes_total", "uplift_outcomes_received_total"} <= kept
        assert not STATES & kept
        model.publish({"spring": _entry()}, stable=NEW)   # the canary promoted
        new._campaign_tick(time.time())
        assert ("version", OLD) in new._retired
        new._campaign_tick(time.time() + FAR)
        assert model.series(OLD) == set()
    finally:
        model.unload(new)


def test_a_report_of_the_old_versions_decision_after_its_series_went_has_them_removed_again(
        model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a campaigns file too: the model's own decisions, reported to the new instance,
    count under the version that decided and go again a few scrapes later."""
    monkeypatch.delenv("UPLIFT_CAMPAIGNS_FILE")
    old = model.load(OLD)
    ids = model.decide(old)
    new = model.reload(old, NEW)
    try:
        start = time.time()
        new._campaign_tick(start + FAR)
        assert model.series(OLD) == set()
        assert model.handed() == []
        answer = new._count_outcomes({"outcomes": [{"decision_id": ids[0],
                                                    "converted": True}]})
        assert answer["counted"] == 1
        assert "uplift_outcomes_total" in model.series(OLD)
        new._campaign_tick(time.time() + 2 * FORGET_AFTER_SECONDS)
        assert model.series(OLD) == set()
    finally:
        model.unload(new)


def test_a_reload_to_the_same_version_keeps_its_states(model: Model) -> None:
    model.publish({"spring": _entry()}, stable=OLD)
    old = model.load(OLD)
    model.decide(old, "spring")
    before = model.series(OLD)
    new = model.reload(old, OLD)
    try:
        assert model.series(OLD) >= before - {"uplift_campaign_period_spend"}
        new._campaign_tick(time.time() + FAR)
        assert model.series(OLD) >= STATES
        assert "uplift_request_duration_seconds_count" in model.series(OLD)
        assert model.handed() == []
    finally:
        model.unload(new)


def test_a_campaign_the_new_version_rejects_keeps_the_old_versions_series_at_zero(
        model: Model, womens_only: Path) -> None:
    """Reloaded to a canary whose model lacks a campaign's treatment: the new instance rejects
    the campaign, which the file still names and the split's stable version (the old one, on
    other replicas) still serves; its reports reach this replica, so the old version's series
    of it stay at zero here. The hand-over named the campaign (its series were at zero in the
    old instance), and the new instance took it as one that left the file: every series of it
    went, the old version's zeros with them, and the first report of a stable decision
    created them again inside the gates' ranges (its first increment lost)."""
    model.artifacts[NEW] = womens_only
    mens = {"mens": _entry(treatments={"mens-e-mail": {"cost": 0.0, "value": 1.0}})}
    model.publish(mens, stable=OLD, canary=NEW)
    old = model.load(OLD)
    assert "mens" in (old._campaigns or {})
    model.decide(old, "mens")

    def zeros() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {(s.name, tuple(sorted(s.labels.items()))) for family in REGISTRY.collect()
                for s in family.samples if s.labels.get("model") == model.name
                and s.labels.get("version") == OLD and s.labels.get("campaign") == "mens"
                and s.name in ("uplift_outcomes_total", "uplift_outcomes_received_total",
                               "uplift_outcomes_converted_total")}

    before = zeros()
    assert before
    new = model.reload(old, NEW)
    try:
        assert "mens" not in (new._campaigns or {}) and "mens" in new._named_keys
        new._campaign_tick(time.time() + FAR)
        assert zeros() == before
        assert (OLD, "mens") in new._zeroed
        assert ("campaign", "mens") not in new._retired
    finally:
        model.unload(new)


def _infos(model: Model) -> set[tuple[str, str, str]]:
    """``uplift_model_info`` of the model: (version, uri, salt) of each series."""
    return {(s.labels["version"], s.labels["uri"], s.labels["salt"])
            for family in REGISTRY.collect() for s in family.samples
            if s.name == "uplift_model_info" and s.labels.get("model") == model.name}


@pytest.mark.parametrize("change", ["uri", "salt"])
def test_a_reload_to_the_same_version_with_other_settings_leaves_one_model_info(
        model: Model, womens_only: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """MLServer reloads a model whose settings' version is unchanged (in operator pods, every
    reload: the pod's version is fixed): another URI, salt or holdout fraction under the same
    version. The unload removed no gauge of a version still served, so the old instance's
    ``uplift_model_info{uri=old}`` stayed next to the new one's: two models "loaded"."""
    monkeypatch.setenv("UPLIFT_SALT", "first")
    old = model.load(OLD)
    assert _infos(model) == {(OLD, str(model.trained), "first")}
    if change == "uri":
        model.artifacts[OLD] = womens_only
    else:
        monkeypatch.setenv("UPLIFT_SALT", "second")
    new = model.reload(old, OLD)
    try:
        expected = {(OLD, str(model.artifacts.get(OLD, model.trained)),
                     "second" if change == "salt" else "first")}
        assert _infos(model) == expected
    finally:
        model.unload(new)
    assert _infos(model) == set()


def test_a_reload_to_the_same_version_and_settings_keeps_its_model_info(model: Model) -> None:
    old = model.load(OLD)
    new = model.reload(old, OLD)
    try:
        assert _infos(model) == {(OLD, str(model.trained), new._engine.config.salt)}
    finally:
        model.unload(new)


@pytest.mark.parametrize(("version", "uri"), [(OLD, "other"), (OLD, "same"), (NEW, "other")])
def test_a_reload_whose_new_instance_fails_after_its_metrics_leaves_no_model_info_of_it(
        model: Model, womens_only: Path, monkeypatch: pytest.MonkeyPatch, version: str,
        uri: str) -> None:
    """MLServer never unloads the new instance of a reload whose load fails (only a first
    load's): what it exported before it failed stayed, its ``uplift_model_info`` next to the
    instance still served. The old instance's stays (the same series too)."""
    old = model.load(OLD)
    if uri == "other":
        model.artifacts[version] = womens_only
    served = _infos(model)

    def broken(self: UpliftRuntime) -> None:
        raise RuntimeError("warm-up failed")

    monkeypatch.setattr(UpliftRuntime, "_warm_up", broken)
    with pytest.raises(RuntimeError, match="warm-up failed"):
        model.load(version)
    try:
        assert _infos(model) == served
        assert runtime_module._LIVE[model.name] is old
        if version == NEW:   # a version no instance serves: none of its states either
            assert not STATES & model.series(NEW)
    finally:
        model.unload(old)
    assert _infos(model) == set()
