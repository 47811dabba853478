"""The chart tells the operator how often its own monitor scrapes it, so that a process that
found a ghost waits for such a scrape before it exits (``handlers.existence``)."""

from __future__ import annotations

import pytest
from tests.contract.test_packaging import CHART, KUBE_VERSION, by_kind, helm_template, run, tools

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


@pytest.mark.parametrize(("values", "named"), [
    (["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=2h"],
     "serviceMonitor.interval=2h"),
    (["--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=61m"],
     "podMonitor.interval=61m"),
    (["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=3601s",
      "--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=1m"],
     "serviceMonitor.interval=3601s"),
], ids=["servicemonitor-2h", "podmonitor-61m", "servicemonitor-3601s"])
def test_an_interval_the_operator_refuses_fails_at_render_naming_the_value(
        values: list[str], named: str) -> None:
    """Over 1 h the operator exits at start (``--metrics-scrape-interval``): the pod would
    restart in a loop, so ``helm install``/``upgrade`` fail instead, naming the value."""
    result = run(tools()["helm"], "template", "uplift", str(CHART), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, *values)
    assert result.returncode != 0
    assert f"{named} is over 1h" in result.stderr
    assert "between 1s and 1h" in result.stderr


@pytest.mark.parametrize("values", [
    ["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=1h"],
    ["--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=3600s"],
    # The monitor that is off tells the operator nothing, so its interval is not judged.
    ["--set", "serviceMonitor.interval=2h"],
], ids=["servicemonitor-1h", "podmonitor-3600s", "servicemonitor-off"])
def test_an_interval_up_to_an_hour_renders_and_the_operator_takes_it(values: list[str]) -> None:
    given, seconds = _interval(*values)
    assert seconds <= 3600
    assert given in (None, "1h", "3600s")
