"""φ with a query lag (``--prometheus-query-lag``): a backend that answers a sample only some
seconds after its scrape (remote write: Thanos Receive, Mimir) leaves the range's newest scrapes
out of its answer, and Prometheus extrapolates the fewer samples over the whole range. φ counted
⌊w/s⌋ scrapes, the missing ones too, and read up to twice what the answered scrapes observed;
counted over w − L it never reads more. L = 0 (the default) is φ as before."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from tests.unit.services.test_campaign_measurements import context
from tests.unit.services.test_observed_counts import _prometheus_increase, _scraped
from tests.unit.services.test_scrape_interval_wiring import REPORTED, _gate_counts, _operator_deps

from uplift_operator import settings
from uplift_operator.services import measurements
from uplift_operator.services.measurements import observed_share


def _worst(share: Any, scrape: float, lag: float, ranges: range) -> tuple[float, Any]:
    """The largest share(w)·increase / what the answered scrapes counted: the samples in
    (0, w − lag] are answered, the range is (0, w]."""
    rng = random.Random(11)
    horizon = ranges.stop + scrape
    traffics = {
        "steady": [i / 3 for i in range(-int(3 * 20 * scrape), int(3 * horizon))],
        "bursty": sorted(rng.uniform(-20 * scrape, horizon) for _ in range(int(4 * horizon)))}
    worst: tuple[float, Any] = (0.0, None)
    for w in ranges:
        factor = share(f"{w}s")
        for phase in (scrape * i / 16 for i in range(16)):
            for name, events in traffics.items():
                samples = _scraped(scrape, phase, events, None, float(w) - lag)
                increase = _prometheus_increase(samples, 0.0, float(w))
                if increase is None:
                    continue
                inside = [v for t, v in samples if 0 < t <= w]
                counted = inside[-1] - inside[0]
                if counted > 0 and factor * increase / counted > worst[0]:
                    worst = (factor * increase / counted, (w, phase, name))
    return worst


@pytest.mark.parametrize(("scrape", "lag"), [(30, 1), (30, 10), (30, 45), (15, 20)])
def test_with_the_lag_counted_the_scaled_increase_is_never_more_than_answered(
        scrape: int, lag: int) -> None:
    ranges = range(2 * scrape, 12 * scrape + 1, max(1, scrape // 15))
    worst, at = _worst(lambda w: observed_share(w, scrape, lag), scrape, lag, ranges)
    assert worst <= 1 + 1e-9, at


def test_without_it_a_lagging_backend_is_read_up_to_twice_what_it_answered() -> None:
    worst, at = _worst(lambda w: observed_share(w, 30), 30, 3, range(60, 361))
    assert worst > 1.9, at


def test_the_lag_counts_the_scrapes_of_the_answered_part_only() -> None:
    assert observed_share("120s", 30, 0) == observed_share("120s", 30) == 0.75
    assert observed_share("120s", 30, 10) == 0.5  # ⌊110/30⌋ = 3 scrapes: 60 s of 120
    assert observed_share("90s", 30, 31) == 0.0  # 59 s answered: under two scrapes
    assert observed_share("3600s", 30, 60) == pytest.approx(3510 / 3600)
    assert observed_share("60s", 0, 10) == 1.0 and observed_share(None, 30, 10) == 0.0


def test_the_contexts_scale_by_it() -> None:
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=now, canary_started_at=now, now=now,
        analysis_interval_s=60, holdout_fraction=0.1, metric_templates={}, treatments=(),
        scrape_interval_s=30, query_lag_s=10)
    assert ctx.share("120s") == 0.5
    assert context(scrape_interval_s=30, query_lag_s=10).share("120s") == 0.5
    assert "--prometheus-query-lag 10s" in measurements.too_short("50s", 30, 10)
    assert "query lag" not in measurements.too_short("50s", 30)


def test_the_setting_reaches_a_passs_counts(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``--prometheus-query-lag`` (env UPLIFT_PROMETHEUS_QUERY_LAG) reaches the passes'
    Dependencies (handlers.lifecycle) and a gate's counts; 0 by default."""
    monkeypatch.delenv("UPLIFT_PROMETHEUS_QUERY_LAG", raising=False)
    assert settings.parse_args(["-A"]).prometheus_query_lag == 0
    monkeypatch.setenv("UPLIFT_PROMETHEUS_QUERY_LAG", "20")
    assert settings.parse_args(["-A"]).prometheus_query_lag == 20
    for bad in ("-1", "3601"):
        with pytest.raises(SystemExit):
            settings.parse_args(["-A", "--prometheus-query-lag", bad])
    deps = _operator_deps(["--prometheus-scrape-interval", "15", "--prometheus-query-lag", "20"],
                          tmp_path, monkeypatch)
    assert deps.prometheus_query_lag == 20
    counts, ranges = _gate_counts(deps)
    assert max(ranges) == 90
    share = observed_share("90s", 15, 20)  # ⌊70/15⌋ = 4 scrapes: 45/90
    answered = REPORTED["uplift_request_duration_seconds_count"]
    assert share == 0.5 and counts[3] == round(answered["1"] * share) == 180
