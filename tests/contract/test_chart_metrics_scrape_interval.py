"""The chart tells the operator how often its own monitor scrapes it, so that a process that
found a ghost waits for such a scrape before it exits (``handlers.existence``); and refuses an
interval over 2 min, which breaks the alerts (``validate.yaml``)."""

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
    (["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=3m"],
     "serviceMonitor.interval=3m"),
    (["--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=121s"],
     "podMonitor.interval=121s"),
    (["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=15m",
      "--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=1m"],
     "serviceMonitor.interval=15m"),
], ids=["servicemonitor-2h", "servicemonitor-3m", "podmonitor-121s", "servicemonitor-15m"])
def test_an_interval_that_breaks_the_alerts_fails_at_render_naming_the_value(
        values: list[str], named: str) -> None:
    """Over 2 min the alerts break: Prometheus drops a series not scraped for 5 min (every 15
    min, UpliftOperatorDown pages while the operator is up) and the rules' 10-min rate windows
    need several samples; ``helm install``/``upgrade`` fail instead, naming the value."""
    result = run(tools()["helm"], "template", "uplift", str(CHART), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, *values)
    assert result.returncode != 0
    assert f"{named} is over 2m" in result.stderr
    assert "2m or less" in result.stderr and len(result.stderr) < 500, result.stderr


@pytest.mark.parametrize("values", [
    ["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=2m"],
    ["--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=120s"],
    ["--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=120000ms"],
    # The monitor that is off tells the operator nothing, so its interval is not judged.
    ["--set", "serviceMonitor.interval=2h"],
], ids=["servicemonitor-2m", "podmonitor-120s", "podmonitor-120000ms", "servicemonitor-off"])
def test_an_interval_up_to_two_minutes_renders_and_the_operator_takes_it(
        values: list[str]) -> None:
    given, seconds = _interval(*values)
    assert seconds <= 120
    assert given in (None, "2m", "120s", "120000ms")
