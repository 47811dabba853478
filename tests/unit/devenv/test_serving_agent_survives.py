"""The serving agent's threads outlive any one failure: a Prometheus /-/reload timing out or a
refused API connection (urllib3's MaxRetryError, not an ApiException) used to end the reconcile
thread for good, and the demo then waited minutes for a status no one would write."""

from __future__ import annotations

import threading
import time
import urllib.error
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from uplift_operator.devenv.prometheus import ScrapeTarget
from uplift_operator.devenv.router import WeightedRouter
from uplift_operator.devenv.serving_agent import ServingAgent


class _Prometheus:
    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[tuple[ScrapeTarget, ...]] = []
        self.fail_on = fail_on

    def set_targets(self, targets: tuple[ScrapeTarget, ...]) -> None:
        self.calls.append(tuple(targets))
        if len(self.calls) == self.fail_on:
            raise urllib.error.URLError("timed out")


class _Api:
    """SeldonDeployments: ``failures`` raised first, then an empty list; no ConfigMaps."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.listed = 0
        self.lock = threading.Lock()

    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.listed += 1
            if self.failures:
                raise self.failures.pop(0)
        return {"items": []}

    def list_config_map_for_all_namespaces(self, *args: Any, **kwargs: Any) -> Any:
        raise ApiException(status=503)


def _agent(tmp_path: Path, api: _Api, prometheus: _Prometheus) -> ServingAgent:
    agent = ServingAgent(client.ApiClient(), prometheus, WeightedRouter(),  # type: ignore[arg-type]
                         tmp_path, interval=0.02)
    agent._api = api  # type: ignore[assignment]
    agent._core = api  # type: ignore[assignment]
    return agent


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_refused_connection_and_a_failed_reload_do_not_end_the_agent(tmp_path: Path) -> None:
    api = _Api(MaxRetryError(None, "/apis", "refused"), ValueError("odd answer"))  # type: ignore[arg-type]
    agent = _agent(tmp_path, api, _Prometheus())
    agent.start()
    try:
        _wait(lambda: api.listed >= 5)
        assert api.listed >= 5  # it went on reconciling after both failures
        assert agent.dead_thread() is None
        assert agent.errors >= 2 and "ValueError: odd answer" in agent.last_error
    finally:
        agent.stop()


def test_a_reload_that_times_out_is_retried_and_the_agent_goes_on(tmp_path: Path) -> None:
    prometheus = _Prometheus(fail_on=2)
    agent = _agent(tmp_path, _Api(), prometheus)
    agent.start()  # the first set_targets: accepted
    agent._targets = (ScrapeTarget("stale", "127.0.0.1:1"),)  # the next reconcile sets them again
    try:
        _wait(lambda: len(prometheus.calls) >= 3)
        assert len(prometheus.calls) == 3  # the failed one, then once more, then no more
        time.sleep(0.2)
        assert len(prometheus.calls) == 3
        assert agent.dead_thread() is None and "URLError" in agent.last_error
    finally:
        agent.stop()


def test_the_first_reconcile_does_not_set_the_targets_start_set(tmp_path: Path) -> None:
    prometheus = _Prometheus()
    api = _Api()
    agent = _agent(tmp_path, api, prometheus)
    agent.start()
    try:
        _wait(lambda: api.listed >= 3)
        assert len(prometheus.calls) == 1  # start()'s, not the first reconcile's too
    finally:
        agent.stop()


def test_a_dead_thread_is_named(tmp_path: Path) -> None:
    agent = _agent(tmp_path, _Api(), _Prometheus())
    agent._run = lambda: None  # type: ignore[method-assign]  # ends at once, as a crash would
    agent._thread = threading.Thread(target=agent._run, name="serving-agent", daemon=True)
    agent.start()
    try:
        _wait(lambda: not agent._thread.is_alive())
        assert agent.dead_thread() == "serving-agent"
    finally:
        agent.stop()
    assert agent.dead_thread() is None  # stopped on purpose
