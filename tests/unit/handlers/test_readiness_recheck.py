"""The readiness checker looks a peering object it found present up again only every
``PRESENT_RECHECK_SECONDS``, one found missing at every check: namespaced, one GET per watched
namespace every 15 s on each replica was 13 requests a second per replica at 200 namespaces."""

from __future__ import annotations

import pytest

from uplift_operator.handlers import readiness
from uplift_operator.handlers.readiness import Peering, SeenPresent, check_peerings
from uplift_operator.settings import OperatorConfig


class Cluster:
    """Which namespaces hold the peering object; counts the lookups."""

    def __init__(self, present: set[str | None]) -> None:
        self.present = present
        self.asked: list[str | None] = []
        self.down = False

    def exists(self, namespace: str | None) -> Peering:
        self.asked.append(namespace)
        if self.down:
            raise OSError("the API server did not answer")
        return Peering.PRESENT if namespace in self.present else Peering.MISSING


def test_present_objects_are_asked_rarely_missing_ones_at_every_check() -> None:
    namespaces = [f"team-{index}" for index in range(200)]
    config = OperatorConfig(namespaces=tuple(namespaces), peering_name="ops")
    cluster, now = Cluster(set(namespaces[:199])), [0.0]
    exists = SeenPresent(cluster.exists, clock=lambda: now[0])
    checks = int(readiness.PRESENT_RECHECK_SECONDS // readiness.CHECK_SECONDS)  # 40
    for _ in range(checks):
        assert check_peerings(config, exists, list).missing == [
            "KopfPeering 'ops' in namespace 'team-199'"]
        now[0] += readiness.CHECK_SECONDS
    # 200 the first check, then only the missing one: 239, not 8,000.
    assert len(cluster.asked) == 200 + checks - 1
    assert cluster.asked.count("team-199") == checks
    cluster.present.add("team-199")  # created: seen at the next check
    assert check_peerings(config, exists, list).missing == []


def test_an_object_that_goes_is_seen_gone_at_its_recheck() -> None:
    cluster, now = Cluster({"team-a"}), [0.0]
    exists = SeenPresent(cluster.exists, recheck=600, clock=lambda: now[0])
    assert exists("team-a") is Peering.PRESENT
    cluster.present.clear()
    now[0] = 599.0
    assert exists("team-a") is Peering.PRESENT and cluster.asked == ["team-a"]
    now[0] = 600.0
    assert exists("team-a") is Peering.MISSING
    now[0] = 615.0
    assert exists("team-a") is Peering.MISSING and cluster.asked == ["team-a"] * 3


def test_a_failed_lookup_remembers_nothing() -> None:
    cluster, now = Cluster({None}), [0.0]
    exists = SeenPresent(cluster.exists, recheck=600, clock=lambda: now[0])
    cluster.down = True
    with pytest.raises(OSError, match="did not answer"):
        exists(None)
    cluster.down = False
    assert exists(None) is Peering.PRESENT  # asked again, found present: remembered from now
    now[0] = 300.0
    assert exists(None) is Peering.PRESENT and cluster.asked == [None, None]
