"""An operator started on the devenv's Prometheus is told how often it scrapes: its gates scale
every count by the share of the range scrapes observed, φ = max(0, w − s)/w, so an operator left
at the default 30 s against a Prometheus scraping every second would see nothing for the first
30 s of every step (the demo's short steps, the integration tests' timeouts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from uplift_operator import settings
from uplift_operator.devenv.prometheus import SCRAPE_INTERVAL_SECONDS, PrometheusServer
from uplift_operator.devenv.serving_agent import DRAIN_WAIT_SECONDS

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("interval", "seconds"), [
    (None, SCRAPE_INTERVAL_SECONDS), ("1s", 1), ("15s", 15), ("2m", 120), ("1m30s", 90),
    ("1500ms", 2), ("200ms", 1)])
def test_the_operator_is_told_the_servers_scrape_interval(
        tmp_path: Path, interval: str | None, seconds: int) -> None:
    server = (PrometheusServer(workdir=tmp_path, port=9) if interval is None
              else PrometheusServer(workdir=tmp_path, port=9, scrape_interval=interval))
    config = settings.parse_args(["--all-namespaces", *server.operator_args()])
    assert config.prometheus_url == server.url
    assert config.prometheus_scrape_interval == seconds
    assert server.config()["global"]["scrape_interval"] == (interval or "1s")  # type: ignore[index]


def test_the_default_server_scrapes_every_second_and_the_drain_outwaits_a_scrape() -> None:
    assert SCRAPE_INTERVAL_SECONDS == 1
    assert SCRAPE_INTERVAL_SECONDS < DRAIN_WAIT_SECONDS < SCRAPE_INTERVAL_SECONDS + 5


def test_everything_that_starts_an_operator_on_a_prometheus_takes_its_operator_args() -> None:
    """``--prometheus-url`` spelled out is an operator left at the default scrape interval."""
    places = [*(ROOT / "operator" / "uplift_operator" / "devenv").glob("*.py"),
              *(ROOT / "tests").rglob("conftest.py"), *(ROOT / "tests" / "support").glob("*.py"),
              *(ROOT / "tests" / "integration").rglob("*.py"), *(ROOT / "bench").glob("*.py")]
    spelled = [str(path.relative_to(ROOT)) for path in places
               if path.name != "prometheus.py" and '"--prometheus-url"' in path.read_text()]
    assert spelled == []
