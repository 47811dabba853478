"""The default peering lifetime follows the number of peering objects kopf keeps alive: one
cluster-wide, one per watched namespace when namespaced (each with its own keep-alives)."""

from __future__ import annotations

import logging
import random

import pytest

from uplift_operator.handlers.lifecycle import warn_of_keepalive_cost
from uplift_operator.settings import (
    KEEPALIVE_BUDGET,
    OperatorConfig,
    keepalive_gap,
    keepalives_per_second,
    parse_args,
)


def _names(count: int) -> list[str]:
    return [f"team-{index}" for index in range(count)]


def _flags(count: int) -> list[str]:
    return [flag for name in _names(count) for flag in ("-n", name)]


def test_the_gap_is_kopfs() -> None:
    """kopf 1.x ``peering.keepalive``: ``min(lifetime, max(1, lifetime - randint(5, 10)))``."""
    draw = random.Random(7)
    for lifetime in (3, 8, 9, 13, 33, 60):
        drawn = [min(lifetime, max(1, lifetime - draw.randint(5, 10))) for _ in range(60_000)]
        assert keepalive_gap(lifetime) == pytest.approx(sum(drawn) / len(drawn), rel=0.02)
    assert keepalive_gap(8) == 1.5 and keepalive_gap(60) == 52.5


@pytest.mark.parametrize(("count", "lifetime"), [(1, 8), (3, 8), (4, 9), (10, 13), (50, 33),
                                                 (103, 59), (104, 60), (105, 60), (500, 60)])
def test_namespaced_the_default_grows_with_the_namespaces(count: int, lifetime: int) -> None:
    config = parse_args(_flags(count))
    assert config.peering_lifetime == lifetime
    if count <= 105:  # within the budget, and not a second longer than needed
        assert keepalives_per_second(config) <= KEEPALIVE_BUDGET
        shorter = OperatorConfig(namespaces=tuple(_names(count)), peering_lifetime=lifetime - 1)
        assert lifetime == 8 or keepalives_per_second(shorter) > KEEPALIVE_BUDGET


def test_cluster_wide_and_patterns_and_a_lifetime_given(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args(["-A"]).peering_lifetime == 8  # one ClusterKopfPeering
    assert parse_args(["-n", "team-*"]).peering_lifetime == 60  # how many: not known yet
    assert parse_args([*_flags(200), "--peering-lifetime", "8"]).peering_lifetime == 8
    monkeypatch.setenv("UPLIFT_PEERING_LIFETIME", "8")
    assert parse_args(_flags(200)).peering_lifetime == 8
    monkeypatch.setenv("UPLIFT_PEERING_LIFETIME", "")  # the chart's empty value: the default
    assert parse_args(_flags(200)).peering_lifetime == 60


def test_a_short_lifetime_over_many_namespaces_is_warned_of(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warn_of_keepalive_cost(parse_args([*_flags(200), "--peering-lifetime", "8"]))
    assert ("200 watched namespaces, a KopfPeering each, at --peering-lifetime 8 cost 133.3 "
            "PATCH requests a second per replica") in caplog.text
    assert "--peering-lifetime 60 keeps them within 2 a second" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        warn_of_keepalive_cost(parse_args(_flags(50)))  # the default: within the budget
        warn_of_keepalive_cost(parse_args(["-A", "--peering-lifetime", "3"]))  # one object
        warn_of_keepalive_cost(parse_args([*_flags(200), "--standalone"]))  # no peering
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        warn_of_keepalive_cost(parse_args(_flags(300)))  # 60 s and still over: only -A helps
    assert "cost 5.7 PATCH" in caplog.text and "--peering-lifetime 60 keeps" not in caplog.text
    assert "--all-namespaces keeps one ClusterKopfPeering" in caplog.text
