"""The README benchmarks of the operator's own process (rollback latency, failover, footprint,
scale) in their smallest configuration; the configurations and the runner are
test_bench_smoke.py's."""

from __future__ import annotations

import pytest
from tests.integration.bench.test_bench_smoke import run_smoke

pytestmark = [pytest.mark.integration, pytest.mark.slow]

THERE = ("rollback_latency", "failover", "operator_footprint", "scale")


@pytest.mark.parametrize("bench", THERE)
def test_smallest_configuration_runs(bench: str) -> None:
    run_smoke(bench)
