"""The split's propagation grace is the operator's ``--split-propagation-grace`` (env
``UPLIFT_SPLIT_PROPAGATION_GRACE``, 120 s by default; the dev environment and the integration
tests' operator 2 s): the campaigns file's split carries it as ``graceSeconds`` and the runtime
counts a change's band for neither version that long (its 120 s when a file has none), and the
onlineEffect gate's cohorts of a step begin that long after the step's start. So a unit between
the old and the new percent that a stable pod still on the old copy decides during the
propagation, and that returns after the grace to a canary pod, is in one version's counts of
the step only (docs/statistics.md, "Units and rows")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import kopf
import pytest
from kubernetes.config import kube_config
from tests.unit.handlers.test_lifecycle_dependencies import KUBECONFIG
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import OWNER, _watched, file_of

from uplift_operator import settings
from uplift_operator.devenv.prometheus import SPLIT_PROPAGATION_GRACE_SECONDS, PrometheusServer
from uplift_operator.handlers import campaigns_file as file_handlers
from uplift_operator.handlers import lifecycle
from uplift_operator.render import campaigns as render
from uplift_operator.runtime import campaigns as runtime
from uplift_operator.runtime.assignment import version_owner
from uplift_operator.services import campaigns_file
from uplift_operator.services.measurements import GateContext

STABLE, CANARY = "7", "8"
T0 = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC)
UNITS = [f"user-{i}" for i in range(5_000)]


def _context(now: dt.datetime, grace: float, window: float = 3600.0) -> GateContext:
    return GateContext(
        namespace="ns", name="m", canary_version=CANARY, stable_version=STABLE,
        canary_run_id=None, stable_run_id=None, step_started_at=T0, canary_started_at=T0,
        now=now, analysis_interval_s=60.0, holdout_fraction=0.1, metric_templates={},
        treatments=(), attribution_window_s=window, propagation_grace_s=grace)


def _cohort_start(ctx: GateContext) -> float | None:
    """The first decision time (unix seconds) the step's cohort range counts: the range
    ``[cohort_window]`` ending now holds the windows that closed in it, i.e. the decisions
    made from now − window − range (the units' query is the same range a window earlier)."""
    window = ctx.cohort_window
    if window is None:
        return None
    return ctx.now.timestamp() - ctx.attribution_window_s - int(window.removesuffix("s"))


# --- the setting -------------------------------------------------------------------------------

def test_the_grace_defaults_to_120_s_and_is_read_from_the_flag_or_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLIFT_SPLIT_PROPAGATION_GRACE", raising=False)
    assert settings.parse_args(["-A"]).split_propagation_grace == 120
    assert settings.OperatorConfig().split_propagation_grace == 120
    assert settings.parse_args(["-A", "--split-propagation-grace", "2"]
                               ).split_propagation_grace == 2
    assert settings.parse_args(["-A", "--split-propagation-grace", "3m"]
                               ).split_propagation_grace == 180
    monkeypatch.setenv("UPLIFT_SPLIT_PROPAGATION_GRACE", "90s")
    assert settings.parse_args(["-A"]).split_propagation_grace == 90
    assert settings.parse_args(["-A", "--split-propagation-grace", "5"]
                               ).split_propagation_grace == 5


@pytest.mark.parametrize("bad", ["0", "2h", "soon"])
def test_a_grace_out_of_bounds_is_a_usage_error(bad: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("UPLIFT_SPLIT_PROPAGATION_GRACE", raising=False)
    with pytest.raises(SystemExit) as exited:
        settings.parse_args(["-A", "--split-propagation-grace", bad])
    assert exited.value.code == 2
    assert "--split-propagation-grace" in capsys.readouterr().err


def test_the_setting_reaches_the_passes_and_the_file_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    monkeypatch.delenv("UPLIFT_SPLIT_PROPAGATION_GRACE", raising=False)
    deps = lifecycle.dependencies(settings.parse_args(["-A", "--split-propagation-grace", "7"]))
    assert deps.split_propagation_grace == 7
    memo = kopf.Memo()
    memo["uplift_dependencies"] = deps
    assert file_handlers.file_dependencies(memo).propagation_grace == 7


def test_the_dev_environment_s_operator_gets_a_short_grace(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLIFT_SPLIT_PROPAGATION_GRACE", raising=False)
    server = PrometheusServer(workdir=tmp_path, port=9)
    config = settings.parse_args(["--all-namespaces", *server.operator_args()])
    assert config.split_propagation_grace == SPLIT_PROPAGATION_GRACE_SECONDS == 2


# --- the file and the runtime ------------------------------------------------------------------

def test_the_split_carries_the_grace_and_the_runtime_honours_it() -> None:
    before = render.text([], render.VersionSplit(STABLE, CANARY, 10, 3600))
    after = render.text([], render.carried_split(render.VersionSplit(STABLE, CANARY, 30, 3600),
                                                 render.split_in(before), T0, grace=2))
    held = render.split_in(after)
    assert held is not None and held["graceSeconds"] == 2
    assert len(after) - len(render.text([], None)) <= render.SPLIT_BYTES
    split = runtime.parse_split(after)
    assert split is not None and split.grace_seconds == 2
    band = [u for u in UNITS if version_owner(u, STABLE, CANARY, 30)
            != version_owner(u, STABLE, CANARY, 10)]
    assert band
    # Within its 2 s, the band counts for neither version; after them, by the new percent
    # (at the runtime's own 120 s it would still count for neither).
    assert all(split.owner(u, T0.timestamp() + 1) is None for u in band)
    assert all(split.owner(u, T0.timestamp() + 2) == CANARY for u in band)
    # An unchanged percent keeps the held change, its grace with it.
    again = render.carried_split(render.VersionSplit(STABLE, CANARY, 30, 3600), held,
                                 T0 + dt.timedelta(hours=1), grace=120)
    assert render.text([], again) == after


def test_a_file_without_the_grace_is_read_at_the_runtime_s_120_s() -> None:
    older = {"split": {"stable": STABLE, "canary": CANARY, "canaryPercent": 30,
                       "changedAt": "2026-03-02T10:00:00Z", "unattributedFrom": 10,
                       "unattributedTo": 30}}
    split = runtime.split_of(older)
    assert split is not None and split.grace_seconds == runtime.PROPAGATION_GRACE_SECONDS == 120
    band = next(u for u in UNITS if version_owner(u, STABLE, CANARY, 30) == CANARY
                and version_owner(u, STABLE, CANARY, 10) == STABLE)
    assert split.owner(band, T0.timestamp() + 119) is None
    assert split.owner(band, T0.timestamp() + 120) == CANARY
    # The operator carries an older file's change at that grace too.
    held = render.carried_split(render.VersionSplit(STABLE, CANARY, 50), older["split"],
                                T0 + dt.timedelta(seconds=100), grace=2)
    assert held.change is not None and (held.change.low, held.change.high) == (10, 50)
    for bad in (-1, 3601, "2", True):
        with pytest.raises(runtime.CampaignsError, match="graceSeconds"):
            runtime.split_of({"split": {**older["split"], "graceSeconds": bad}})


def test_the_file_pass_writes_the_operator_s_grace() -> None:
    cluster = FakeCluster()
    watched, _, _ = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched, propagation_grace=2)
    first = campaigns_file.version_split({"stableVersion": "3", "canaryVersion": "4",
                                          "canaryWeight": 10})
    assert campaigns_file.sync(OWNER, [], deps, first, now=T0).changed
    step = campaigns_file.version_split({"stableVersion": "3", "canaryVersion": "4",
                                         "canaryWeight": 30})
    assert campaigns_file.sync(OWNER, [], deps, step, now=T0 + dt.timedelta(minutes=5)).changed
    assert file_of(cluster)["split"]["graceSeconds"] == 2
    assert campaigns_file.FileDependencies(watched).propagation_grace == 120


# --- the step's cohorts ------------------------------------------------------------------------

def test_the_step_s_cohorts_begin_a_grace_after_its_start() -> None:
    now = T0 + dt.timedelta(seconds=3600 + 600)
    assert _context(now, 0).cohort_window == "600s"
    assert _context(now, 120).cohort_window == "480s"
    assert _context(now, 2).cohort_window == "598s"
    # Closed only a grace and a window after the step's start.
    assert _context(T0 + dt.timedelta(seconds=3600 + 120), 120).cohort_window is None
    assert _context(T0 + dt.timedelta(seconds=3600 + 121), 120).cohort_window == "1s"


def test_a_returning_band_unit_is_in_one_version_s_counts_of_the_step_only() -> None:
    """Step 10 % → 30 % at T0 (the file written in the same second). A unit of the band comes
    30 s later to a stable pod still on the old copy, which counts it for the stable; it comes
    back after the grace to a canary pod, which counts it for the canary. The step's cohort
    range begins after the first decision, so the unit is the canary's only."""
    grace = 120
    before = render.text([], render.VersionSplit(STABLE, CANARY, 10, 3600))
    after = render.text([], render.carried_split(render.VersionSplit(STABLE, CANARY, 30, 3600),
                                                 render.split_in(before), T0, grace=grace))
    old_copy, new_copy = runtime.parse_split(before), runtime.parse_split(after)
    assert old_copy is not None and new_copy is not None
    unit = next(u for u in UNITS if version_owner(u, STABLE, CANARY, 30) == CANARY
                and version_owner(u, STABLE, CANARY, 10) == STABLE)
    first, back = T0.timestamp() + 30, T0.timestamp() + grace + 30
    assert old_copy.owner(unit, first) == STABLE      # the stable pod counts it
    assert new_copy.owner(unit, back) == CANARY       # and the canary pod, after the grace
    ctx = _context(T0 + dt.timedelta(seconds=3600 + 900), grace)
    start = _cohort_start(ctx)
    assert start is not None and first < start <= back
    # Without the grace (the range from the step's start) both decisions were in the step's
    # counts, one for each version.
    start_without = _cohort_start(_context(ctx.now, 0))
    assert start_without is not None and start_without <= first
