"""lifecycle: the passes' cluster adapter reads the watched kinds from the store the watch
handlers feed; the registry factory says where a missing tracking URI is set; what the handlers
share is made once, before kopf copies the memo per object."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
from kubernetes.config import kube_config

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.handlers import campaign, campaigns_file, lifecycle, registry_polling
from uplift_operator.handlers.common import runner
from uplift_operator.handlers.watches import alias_followers

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
# kopf types its decorated handlers as the ActivityFn protocol (every keyword kopf passes); each
# takes ``**_`` for the rest, and the tests pass the keywords it reads.
configure = cast(Callable[..., None], lifecycle.configure)
share_process_state = cast(Callable[..., Coroutine[Any, Any, None]], lifecycle.share_process_state)
stop_passes = cast(Callable[..., None], lifecycle.stop_passes)


def test_an_empty_store_at_start_up_is_the_one_the_passes_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    objects = WatchedObjects(["upliftmodels", "seldondeployments"])  # empty: len 0
    deps = lifecycle.dependencies(settings.parse_args(["--all-namespaces"]), objects)
    assert isinstance(deps.cluster, WatchedCluster) and deps.cluster.objects is objects


def test_without_a_tracking_uri_the_registry_factory_says_where_to_set_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ValueError the UpliftModel pass turns into its status message and Warning event
    (tests/unit/services/test_upliftmodel.py) names every place a tracking URI can come from."""
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    monkeypatch.delenv("UPLIFT_MLFLOW_TRACKING_URI", raising=False)
    deps = lifecycle.dependencies(settings.parse_args(["--all-namespaces"]))
    assert deps.default_tracking_uri is None
    ref = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion"})
    with pytest.raises(ValueError, match="no MLflow tracking URI") as refused:
        deps.registry_for(ref, None)
    for place in ("spec.model.trackingUri", "--mlflow-tracking-uri", "UPLIFT_MLFLOW_TRACKING_URI",
                  "mlflow.trackingUri"):
        assert place in str(refused.value)
    pinned = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion",
                                            "trackingUri": "http://mlflow.test:5000"})
    assert deps.registry_for(pinned, None) is not None


def test_shared_state_is_made_once_and_every_objects_memo_copy_shares_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf gives each object a shallow copy of the operator's memo when it first sees it
    (kopf/_core/reactor/inventory.py): what the handlers share must be in the memo before that,
    or each object makes its own (it did: a poller per UpliftModel)."""
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    config = settings.parse_args(["--all-namespaces", "--metrics-port", "0"])

    async def scenario() -> None:
        memo = kopf.Memo(config=config)
        configure(settings=kopf.OperatorSettings(), memo=memo)
        await share_process_state(memo=memo)
        tasks_before = len(asyncio.all_tasks())
        objects = [copy.copy(memo) for _ in range(3)]  # as kopf's inventory does per object
        for each in objects:
            assert runner(each, "UpliftModel", "upliftmodels") is memo["pass_runner_UpliftModel"]
            assert runner(each, "Campaign", "campaigns") is memo["pass_runner_Campaign"]
            assert alias_followers(each) is memo["alias_followers"]
            assert campaign.campaign_dependencies(each) is memo["campaign_dependencies"]
            assert campaign.salt_book(each) is memo["salt_book"]
            assert campaigns_file.file_dependencies(each) is memo["campaigns_file_dependencies"]
            registry_polling.start(each)
        assert len(asyncio.all_tasks()) == tasks_before  # still the one polling task
        deps = memo["uplift_dependencies"]
        assert len(deps.resolver.moved) == 1 and len(deps.write_back.on_change) == 1
        assert len(deps.rolls.on_change) == 1 and len(deps.rolls.on_timeout) == 1
        memo["alias_polling"].cancel()
        stop_passes(memo=memo)

    asyncio.run(scenario())


def test_events_are_posted_by_a_few_workers_that_leave_when_their_object_is_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf's default posts every object's events at once on a pool without a limit: 1,000
    first versions opened ~180 TLS connections to the API server in one burst (bench/scale.py).
    A few workers reuse a few connections; each must leave soon after its object's last event,
    or the few would serve ≈ one object per second (kopf's default idle wait)."""
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    memo = kopf.Memo(config=settings.parse_args(["--all-namespaces", "--metrics-port", "0"]))
    operator_settings = kopf.OperatorSettings()
    assert operator_settings.posting.worker_limit is None  # kopf's default: unbounded
    configure(settings=operator_settings, memo=memo)
    posting = operator_settings.posting
    assert posting.worker_limit is not None and 1 <= posting.worker_limit <= 16
    assert posting.worker_limit / posting.idle_timeout >= 100  # objects a second, at least
    stop_passes(memo=memo)


@pytest.mark.parametrize(("argv", "environment", "wait"), [
    ([], None, 35), (["--prometheus-scrape-interval", "60"], None, 65), ([], "15", 20)])
def test_the_runtime_pods_drain_wait_is_the_scrape_interval_and_some_slack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], environment: str | None,
        wait: int) -> None:
    """A stopping runtime pod waits for the scrape after its drain: a Prometheus that scrapes
    every 60 s needs more than the 35 s that a 30 s one does."""
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    if environment is None:
        monkeypatch.delenv("UPLIFT_PROMETHEUS_SCRAPE_INTERVAL", raising=False)
    else:
        monkeypatch.setenv("UPLIFT_PROMETHEUS_SCRAPE_INTERVAL", environment)
    deps = lifecycle.dependencies(settings.parse_args(["--all-namespaces", *argv]))
    assert deps.runtime_drain_wait == wait


@pytest.mark.parametrize("bad", ["0", "301"])
def test_a_scrape_interval_out_of_bounds_is_refused(bad: str) -> None:
    with pytest.raises(SystemExit):
        settings.parse_args(["--all-namespaces", "--prometheus-scrape-interval", bad])


@pytest.mark.parametrize(("argv", "environment", "limit"), [
    ([], None, 5), ([], "2", 2), ([], "0", 0), (["--max-concurrent-graph-rolls", "12"], "2", 12)])
def test_the_limit_of_graphs_rolling_at_once_reaches_the_passes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], environment: str | None,
        limit: int) -> None:
    """``UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS`` (the chart's ``maxConcurrentGraphRolls``), or the
    flag, is the limit of the one ``Rolls`` every UpliftModel pass shares; 0: none."""
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    if environment is None:
        monkeypatch.delenv("UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS", raising=False)
    else:
        monkeypatch.setenv("UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS", environment)
    deps = lifecycle.dependencies(settings.parse_args(["--all-namespaces", *argv]))
    assert deps.rolls.limit == limit


def test_a_negative_limit_of_graphs_rolling_at_once_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS", "-1")
    with pytest.raises(SystemExit):
        settings.parse_args(["--all-namespaces"])
