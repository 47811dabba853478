"""A process that found a ghost exits only once a scrape of its /metrics could read the count:
one operator scrape interval (``--metrics-scrape-interval``, not the runtime pods') and a scrape
begun after the count, at most ``EXIT_WAIT_CAP_SECONDS`` after it (or the interval + slack when
longer); with ``--metrics-port 0`` (nothing scrapes) not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import kopf
import pytest
from prometheus_client import generate_latest

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import existence, observability
from uplift_operator.handlers.existence import exit_wait, scraped_after_count
from uplift_operator.handlers.scheduling import Wakeups


def _waited(scrapes: Callable[[], int], *, at_least: float, at_most: float) -> float:
    async def go() -> float:
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.wait_for(scraped_after_count(scrapes, at_least=at_least, at_most=at_most,
                                                   poll=0.01), timeout=10)
        return loop.time() - began
    return asyncio.run(go())


class _Scraper:
    """A scrape count that grows once ``after`` seconds of the loop's time have passed."""

    def __init__(self, after: float | None) -> None:
        self.after = after
        self.began: float | None = None

    def __call__(self) -> int:
        now = asyncio.get_running_loop().time()
        if self.began is None:
            self.began = now
        return 7 if self.after is None or now - self.began < self.after else 8


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(existence, "EXIT_SLACK_SECONDS", 0.1)
    return 0.1


def test_a_scrape_within_the_interval_exits_at_the_interval(slack: float) -> None:
    assert 0.3 <= _waited(_Scraper(after=0.05), at_least=0.3, at_most=2.0) < 1.0


def test_a_scrape_later_than_the_interval_configured_still_comes_before_the_exit(
        slack: float) -> None:
    """The operator scraped every 60 s with the setting at 30: the process used to exit before
    the scrape, and the count was never read."""
    waited = _waited(_Scraper(after=0.5), at_least=0.2, at_most=3.0)
    assert 0.5 + slack <= waited < 1.5


def test_with_nothing_scraping_the_process_exits_at_the_cap(slack: float) -> None:
    assert 0.4 <= _waited(_Scraper(after=None), at_least=0.1, at_most=0.4) < 1.5


def test_a_scrape_counted_after_an_increment_reads_it() -> None:
    """A scrape is counted as it begins, before it reads a metric: a scrape that began before
    the increment (and may have read the counter before it) is not the one the exit waits
    for. What /metrics serves counts; reading the registry otherwise (as these tests do) not."""
    observability.ghosts_audited(["ExitWaitProbe"])
    observability.ghost("ExitWaitProbe")
    before = observability.scrapes()
    generate_latest(observability.REGISTRY)
    assert observability.scrapes() == before
    served = observability._SERVED
    scrape = served.collect()
    assert observability.scrapes() == before  # a generator: counted once it begins
    first = next(scrape)
    assert observability.scrapes() == before + 1
    text = generate_latest(served).decode()
    assert observability.scrapes() == before + 2
    assert 'uplift_operator_ghosts_total{kind="ExitWaitProbe"} 1.0' in text
    assert first.name and list(scrape)
    generate_latest(served.restricted_registry(["uplift_operator_paused"]))
    assert observability.scrapes() == before + 2  # some metrics alone: maybe not the count


@pytest.mark.parametrize(("given", "seconds"), [("45", 45), ("60s", 60), ("2m", 120),
                                                ("1m30s", 90)])
def test_the_operator_scrape_interval_takes_seconds_or_a_servicemonitor_duration(
        given: str, seconds: int) -> None:
    config = settings.parse_args(["-A", "--metrics-scrape-interval", given])
    assert config.metrics_scrape_interval == seconds


def test_the_operator_scrape_interval_defaults_to_30_s_and_refuses_nonsense(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.parse_args(["-A"]).metrics_scrape_interval == 30
    monkeypatch.setenv("UPLIFT_METRICS_SCRAPE_INTERVAL", "1m")
    assert settings.parse_args(["-A"]).metrics_scrape_interval == 60
    for bad in ("soon", "0", "2h"):
        with pytest.raises(SystemExit):
            settings.parse_args(["-A", "--metrics-scrape-interval", bad])


@pytest.mark.parametrize(("port", "interval", "waits"), [
    (9090, 30, (35.0, 300.0)), (9090, 295, (300.0, 300.0)),
    # A scrape every 10 minutes: capped at 5, the process exited before its scrape and
    # UpliftOperatorGhostsFound never saw the count.
    (9090, 600, (605.0, 605.0)),
    (0, 30, (0.0, 0.0)), (0, 600, (0.0, 0.0))])
def test_the_exit_waits_for_a_scrape_only_where_one_can_come(
        port: int, interval: int, waits: tuple[float, float]) -> None:
    assert exit_wait(port, interval) == waits


@pytest.mark.parametrize(("args", "waits", "exits_at_once"), [
    (["--metrics-port", "0"], (0.0, 0.0), True),
    (["--metrics-scrape-interval", "10m"], (605.0, 605.0), False),
    ([], (35.0, existence.EXIT_WAIT_CAP_SECONDS), False)])
def test_start_waits_for_a_scrape_only_with_metrics_served(
        monkeypatch: pytest.MonkeyPatch, args: list[str], waits: tuple[float, float],
        exits_at_once: bool) -> None:
    """With --metrics-port 0 the ghost exit waited the full 300 s cap for a scrape that could
    not come (/tmp/review-final-a/ghost_exit_metrics_off.py), the deleted objects kept in
    kopf's index meanwhile (a deleted Campaign in its model's campaigns file)."""
    started: list[tuple[float, float, bool]] = []

    async def recorded(audits: object, pool: object, *, exit_delay: float, exit_cap: float,
                       **_: object) -> None:
        try:  # nothing scrapes: the wait returns at once, or is still waiting
            await asyncio.wait_for(scraped_after_count(lambda: 0, at_least=exit_delay,
                                                       at_most=exit_cap), timeout=0.3)
            returned = True
        except TimeoutError:
            returned = False
        started.append((exit_delay, exit_cap, returned))

    monkeypatch.setattr(existence, "audit_forever", recorded)
    memo = kopf.Memo(config=settings.parse_args(["-A", *args]), wakeups=Wakeups(),
                     pass_executor=None, watched_objects=WatchedObjects([]),
                     uplift_dependencies=SimpleNamespace(cluster=None))

    async def go() -> None:
        existence.start(memo)
        await memo["existence_audit"]

    asyncio.run(go())
    assert started == [(*waits, exits_at_once)]
