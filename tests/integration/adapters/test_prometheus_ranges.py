"""``PiecewiseIncreases`` against a real Prometheus: kept pieces plus the rest add up to the one
long ``increase()`` within Prometheus's extrapolation at the joints.

Sixteen hours of two replicas' feature-bin counters (15 s scrapes, Poisson counts, one replica
restarting mid-way) are backfilled with promtool; the analyses of the last three hours ask
for the count since a fixed start, grouped and not, with and without an offset, both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.adapters.conftest import _require_prometheus
from tests.support.counter_history import write_history

from uplift_operator.adapters.prometheus import PrometheusClient
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases
from uplift_operator.devenv.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

HOUR = 3600
START = 1_788_000_000 - 1_788_000_000 % (2 * HOUR)  # September 2026, on a block boundary
END = START + 16 * HOUR
SCRAPE_S = 15
EVENTS_PER_SCRAPE = 3.0
SERIES = [{"namespace": "ns", "model": "m", "feature": f, "replica": r}
          for f in ("age", "channel") for r in ("r0", "r1")]
RESTART = START + 9 * HOUR + 7 * 60 + 3  # replica r1 replaced, both features


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusClient]:
    _require_prometheus()
    workdir = tmp_path_factory.mktemp("prometheus-history")
    # Scrapes 7 s off the hour: every joint falls between two scrapes, as in a real server.
    files = write_history(Path(workdir) / "om", "uplift_feature_bin", SERIES, start=START + 7,
                          end=END, scrape_s=SCRAPE_S, events_per_scrape=EVENTS_PER_SCRAPE,
                          resets={1: [RESTART], 3: [RESTART]}, seed=7)
    server = PrometheusServer(workdir=Path(workdir) / "server", retention="3650d")
    server.backfill(*files)
    with server:
        yield PrometheusClient(server.url)


@pytest.mark.parametrize(("grouping", "offset_s"), [("", 0), (" by (feature)", 0),
                                                    (" by (feature)", 2 * HOUR)])
def test_kept_pieces_and_the_rest_add_up_to_the_whole_range(
        prometheus: PrometheusClient, grouping: str, offset_s: int) -> None:
    ranges = PiecewiseIncreases(prometheus)
    since = START + 600 + 0.25  # the range starts off any scrape and any hour
    shifted = f" offset {offset_s}s" if offset_s else ""
    joints = 0.0
    for at in range(END - 3 * HOUR, END + 1, 300):
        analysis = at + 0.7
        seconds = int(analysis - offset_s - since)
        promql = (f'sum{grouping} (increase(uplift_feature_bin_total{{namespace="ns", model="m"}}'
                  f"[{seconds}s]{shifted}))")
        whole = {tuple(s.labels.items()): s.value for s in prometheus.query(promql, analysis)}
        pieces = {tuple(s.labels.items()): s.value for s in ranges.query(promql, analysis)}
        assert whole.keys() == pieces.keys() and whole
        joints = (analysis - offset_s - ranges.settle - since) // ranges.piece + 1
        # At each joint the two increases extrapolate the scrape interval around it from
        # their own rates: at most one interval's counts per series apart, either sign.
        bound = joints * len(SERIES) * 4 * EVENTS_PER_SCRAPE
        for labels, value in whole.items():
            assert abs(pieces[labels] - value) <= bound, (labels, pieces[labels], value)
            assert abs(pieces[labels] - value) <= 1e-3 * value
    assert joints >= 6


def test_the_servers_retention_is_read_as_this_prometheus_writes_it(
        prometheus: PrometheusClient) -> None:
    """``--storage.tsdb.retention.time=3650d`` as this Prometheus version's runtimeinfo gives
    it (``storageRetention``: "10y"), through the source the gates ask."""
    retention = PiecewiseIncreases(prometheus).storage_retention()
    assert retention is not None and retention.seconds == 3650 * 86400, retention
