"""The Campaigns a model's runtime treats under stay in its campaigns file when the ConfigMap
there is gone, its key removed or not a file: rebuilt from scratch, a nearly full file counted
every Campaign a newcomer, to be fitted with room kept free, and left the newest out although
they treated at 100 % (their requests answered 404 unknown_campaign, their ramps lost: a
review, 2026-12-07, evict.py)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, campaign_body, file_of
from tests.unit.services.test_campaigns_file_full import created

from uplift_operator.render import campaigns
from uplift_operator.services import campaigns_file

SPLIT = campaigns.VersionSplit("3", "4", 50, 3600)


def body(name: str, day: int, percent: float, phase: str = "Progressing") -> dict[str, Any]:
    return created(campaign_body(name, phase=phase, percent=percent), day)


def sync(deps: campaigns_file.FileDependencies, *bodies: dict[str, Any],
         split: campaigns.VersionSplit | None = None,
         new_model: bool = False) -> campaigns_file.Synced:
    return campaigns_file.sync(OWNER, [campaigns_file.snapshot(b) for b in bodies], deps, split,
                               new_model=new_model)


@pytest.fixture
def nearly_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for a and b at 5 % with their growth room and a split's: at 100 % with a canary
    running they fill it, and b, the newer, no longer fits as a newcomer would."""
    size = len(campaigns.text(campaigns_file.entries(
        [campaigns_file.snapshot(b) for b in (body("a", 1, 5), body("b", 2, 5))])))
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES",
                        size + 2 * campaigns.GROWTH_BYTES + campaigns.SPLIT_BYTES)


def ramped(deps: campaigns_file.FileDependencies, *, new_model: bool = False) -> None:
    assert sync(deps, body("a", 1, 5), body("b", 2, 5), new_model=new_model).left_out == ()
    full = (body("a", 1, 100, "Healthy"), body("b", 2, 100, "Healthy"))
    assert sync(deps, *full, split=SPLIT, new_model=new_model).left_out == ()


TREATING = (body("a", 1, 100, "Healthy"), body("b", 2, 100, "Healthy"))


@pytest.mark.usefixtures("nearly_full")
def test_a_deleted_config_map_comes_back_with_every_campaign_it_carried() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    ramped(deps)
    assert set(file_of(cluster)["campaigns"]) == {"a", "b"}
    cluster.objects.pop(KEY)  # kubectl delete cm, or dropped by the existence audit
    synced = sync(deps, *TREATING, split=SPLIT)
    assert synced.left_out == () and synced.active == ("a", "b")
    assert set(file_of(cluster)["campaigns"]) == {"a", "b"}
    assert deps.left_out(NS, OWNER.name, "b") is None
    # One the file carries at 0 % (rolled back) stays too: the file last written says so.
    assert sync(deps, TREATING[0], body("b", 2, 0), split=SPLIT).left_out == ()
    cluster.objects.pop(KEY)
    assert sync(deps, TREATING[0], body("b", 2, 0), split=SPLIT).left_out == ()
    assert set(file_of(cluster)["campaigns"]) == {"a", "b"}
    # A newcomer still joins only with the room kept.
    synced = sync(deps, *TREATING, body("c", 3, 0), split=SPLIT)
    assert synced.left_out == ("c",)


@pytest.mark.parametrize("data", [{}, {campaigns.DATA_KEY: "{not json"},
                                  {campaigns.DATA_KEY: '{"campaigns": {}}'}])
@pytest.mark.usefixtures("nearly_full")
def test_a_key_removed_or_edited_by_hand_comes_back_whole(data: dict[str, str]) -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    ramped(deps)
    cluster.objects[KEY]["data"] = data
    synced = sync(deps, *TREATING, split=SPLIT)
    assert synced.left_out == () and synced.changed
    assert set(file_of(cluster)["campaigns"]) == {"a", "b"}


@pytest.mark.usefixtures("nearly_full")
def test_a_fresh_process_finding_no_config_map_keeps_the_campaigns_that_treat() -> None:
    cluster = FakeCluster()
    ramped(campaigns_file.FileDependencies(cluster))
    cluster.objects.pop(KEY)  # deleted while the operator was away
    deps = campaigns_file.FileDependencies(cluster)  # nothing in memory
    synced = sync(deps, *TREATING, body("c", 3, 0), split=SPLIT)
    assert synced.left_out == ("c",)  # at 0 % it treated no one: a newcomer, left out
    assert set(file_of(cluster)["campaigns"]) == {"a", "b"}


@pytest.mark.usefixtures("nearly_full")
def test_a_new_models_file_applied_unread_keeps_what_it_applied() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    ramped(deps, new_model=True)
    assert set(file_of(cluster)["campaigns"]) == {"a", "b"}
    campaigns_file.forget(OWNER, deps)
    assert (NS, OWNER.name) not in deps.last
