"""The chart tells the operator how often its own monitor scrapes it, so that a process that
found a ghost waits for such a scrape before it exits (``handlers.existence``)."""

from __future__ import annotations

import pytest
from tests.contract.test_packaging import by_kind, helm_template

from uplift_operator.settings import parse_args


def _interval(*values: str) -> tuple[str | None, int]:
    """The variable the Deployment renders, and the seconds the operator parses from it."""
    container = by_kind(helm_template(*values), "Deployment")[0]["spec"]["template"]["spec"][
        "containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    given = env.get("UPLIFT_METRICS_SCRAPE_INTERVAL")
    with pytest.MonkeyPatch.context() as patch:
        if given is not None:
            patch.setenv("UPLIFT_METRICS_SCRAPE_INTERVAL", given)
        return given, parse_args(["-A"]).metrics_scrape_interval


def test_the_servicemonitor_interval_reaches_the_operator() -> None:
    assert _interval("--set", "serviceMonitor.enabled=true",
                     "--set", "serviceMonitor.interval=2m") == ("2m", 120)


def test_the_podmonitor_interval_reaches_the_operator() -> None:
    assert _interval("--set", "podMonitor.enabled=true",
                     "--set", "podMonitor.interval=90s") == ("90s", 90)


def test_with_both_the_servicemonitor_s_whose_job_the_alerts_read() -> None:
    assert _interval("--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=1m",
                     "--set", "podMonitor.enabled=true",
                     "--set", "podMonitor.interval=30s") == ("1m", 60)


def test_without_a_monitor_the_operator_default() -> None:
    assert _interval() == (None, 30)
