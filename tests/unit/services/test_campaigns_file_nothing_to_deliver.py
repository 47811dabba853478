"""A ``<model>-campaigns`` ConfigMap the model does not control (a user's, or one left over) is
refused all the same, but is no undelivered file while nothing would be delivered: a model with
no Campaign and no canary split, next to one carrying no campaigns file (the pods mount it
optional), kept the model's ``uplift_operator_campaigns_file_undelivered`` at 1 (the critical
UpliftCampaignsFileNotWritten paged after 5 min). One carrying a campaigns file (the pods read
it), or a model whose file would say something, stays undelivered."""

from __future__ import annotations

from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, campaign_body

from uplift_operator.render import campaigns
from uplift_operator.services import campaigns_file as service

SPLIT = campaigns.VersionSplit("1", "2", 10)


def _theirs(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": KEY[3], "namespace": NS, "uid": "cm-1"}, "data": data}


def _pass(data: dict[str, str], snapshots: list[dict[str, Any]],
          split: campaigns.VersionSplit | None = None) -> tuple[service.Synced, bool]:
    cluster = FakeCluster()
    cluster.objects[KEY] = _theirs(data)
    deps = service.FileDependencies(cluster)
    synced = service.sync(OWNER, snapshots, deps, split)
    assert cluster.applied == []  # never written, whatever it carries
    return synced, (OWNER.namespace, OWNER.name) in deps.unwritten


def test_someone_elses_config_map_without_a_file_keeps_nothing_from_a_model_with_nothing() -> None:
    synced, unwritten = _pass({"other": "x"}, [])
    assert synced.error is not None and synced.conflict is not None  # refused, and said
    assert synced.nothing_to_deliver and not unwritten


def test_one_carrying_a_campaigns_file_is_undelivered_the_pods_read_it() -> None:
    synced, unwritten = _pass({campaigns.DATA_KEY: '{"campaigns": {}}'}, [])
    assert synced.error is not None and not synced.nothing_to_deliver and unwritten


def test_a_model_whose_file_would_say_something_is_undelivered() -> None:
    for snapshots, split in (([service.snapshot(campaign_body())], None), ([], SPLIT)):
        synced, unwritten = _pass({"other": "x"}, snapshots, split)
        assert synced.error is not None and not synced.nothing_to_deliver and unwritten


def test_undelivered_until_then_ends_when_nothing_is_left_to_deliver() -> None:
    """Its last Campaign deleted: the page ends (the event said the refusal)."""
    cluster = FakeCluster()
    cluster.objects[KEY] = _theirs({"other": "x"})
    deps = service.FileDependencies(cluster)
    service.sync(OWNER, [service.snapshot(campaign_body())], deps)
    assert deps.undelivered(OWNER.namespace, OWNER.name) is not None
    synced = service.sync(OWNER, [], deps)
    assert synced.error is not None and deps.undelivered(OWNER.namespace, OWNER.name) is None
