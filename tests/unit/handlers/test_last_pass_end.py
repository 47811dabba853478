"""``uplift_operator_last_pass_end_timestamp_seconds``: when this process last ended a pass of
any resource, whatever its result, and its start time until one ends; the reconcile counters
at 0 from the start. UpliftOperatorNotReconciling reads the gauge's age: a healthy operator
restarted at rest (one pass per resource every 600 s) must not look hung, and its counter born
at its first increment was invisible to ``rate()``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import kopf
import pytest
from kubernetes.config import kube_config

from uplift_operator import settings
from uplift_operator.handlers import lifecycle, observability

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
configure = cast(Callable[..., None], lifecycle.configure)
stop_passes = cast(Callable[..., None], lifecycle.stop_passes)


def last_pass_end() -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_last_pass_end_timestamp_seconds")


def counted(kind: str, result: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_reconciles_total", {"kind": kind, "result": result})


def test_the_start_sets_the_last_pass_end_to_now_and_every_counter_at_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    observability.LAST_PASS_END.set(0)
    # No /metrics served (port 0): the default 9090 may be taken, by another test too.
    memo = kopf.Memo(config=settings.parse_args(["--all-namespaces", "--metrics-port", "0"]))
    before = time.time()
    configure(settings=kopf.OperatorSettings(), memo=memo)
    try:
        assert before <= (last_pass_end() or 0) <= time.time()
        # A kind never passed in this test run: its series are there, at 0, before any pass.
        for result in observability.RESULTS:
            assert counted("CampaignsFile", result) is not None
        assert set(lifecycle.KINDS) == {"UpliftModel", "Campaign", "CampaignsFile"}
    finally:
        stop_passes(memo=memo)


def test_process_started_creates_the_counters_and_sets_the_gauge_to_the_time_given() -> None:
    observability.process_started(["KindOnlyHere"], 1234.5)
    assert last_pass_end() == 1234.5
    assert [counted("KindOnlyHere", r) for r in ("ok", "error", "conflict", "gone")] == [0] * 4


@pytest.mark.parametrize("result", ["ok", "conflict", "gone"])
def test_a_pass_that_ends_moves_the_gauge_whatever_its_result(result: str) -> None:
    observability.process_started([], 1000.0)
    before = time.time()
    with observability.reconciling("UpliftModel", "ns", "m") as outcome:
        outcome.result = result
    assert before <= (last_pass_end() or 0) <= time.time()


def test_a_pass_that_raised_ended_too() -> None:
    observability.process_started([], 1000.0)
    before = time.time()
    with pytest.raises(RuntimeError), observability.reconciling("Campaign", "ns", "c"):
        raise RuntimeError("refused")
    assert before <= (last_pass_end() or 0) <= time.time()


def test_a_pass_still_running_does_not_move_it() -> None:
    observability.process_started([], 1000.0)
    with observability.reconciling("CampaignsFile", "ns", "m", last_pass=False):
        assert last_pass_end() == 1000.0
    assert (last_pass_end() or 0) > 1000.0
