"""Each registry gets its own collectors, even one allocated where a collected registry was:
keyed by the registry's id, a new registry at a reused address was handed the dead one's
collectors and exported nothing (a flaky collector test in CI)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from uplift_operator.runtime.metrics import RuntimeMetrics


def _exported(registry: CollectorRegistry) -> float:
    return sum(s.value for metric in registry.collect() for s in metric.samples
               if s.name == "uplift_predicted_uplift_positive_total")


def test_a_registry_at_a_reused_address_exports_its_own_series() -> None:
    # Reference counting frees each registry at ``del`` (no gc.collect: seconds in a large
    # process), and CPython hands its address to the next one.
    addresses = set()
    for _ in range(10):
        registry = CollectorRegistry()
        addresses.add(id(registry))
        RuntimeMetrics(registry).observe_uplift("m", "4", "a", [0.5])
        assert _exported(registry) == 0.5
        del registry
    # The loop is only a test of the reuse when an address came back.
    assert len(addresses) < 10


def test_two_runtimes_on_one_registry_share_its_collectors() -> None:
    registry = CollectorRegistry()
    RuntimeMetrics(registry).observe_uplift("m", "4", "a", [0.5])
    RuntimeMetrics(registry).observe_uplift("m", "4", "a", [0.25])
    assert _exported(registry) == 0.75
