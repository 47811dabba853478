"""A key someone else adds to a model's campaigns ConfigMap counts toward the 1 MiB the API
server allows a ConfigMap's values in all: the file keeps within what it leaves. Before, a
foreign key of ~48 KB beside a full file made every apply of the file fail, rollbacks
included (a review, 2026-12-07)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, campaign_body, file_of, sync
from tests.unit.services.test_campaigns_file_full import created

from uplift_operator.render import campaigns
from uplift_operator.services import campaigns_file


def test_the_budget_is_what_the_other_values_leave_of_1_mib() -> None:
    limit = campaigns.CONFIG_MAP_LIMIT_BYTES
    assert limit == 1_048_576
    assert campaigns.budget_beside(None) == campaigns.FILE_BUDGET_BYTES
    ours = {"data": {campaigns.DATA_KEY: "x" * 999_999}}
    assert campaigns.budget_beside(ours) == campaigns.FILE_BUDGET_BYTES  # ours is not counted
    small = {"data": {campaigns.DATA_KEY: "{}", "note": "x" * 40_000}}
    assert campaigns.budget_beside(small) == campaigns.FILE_BUDGET_BYTES
    big = {"data": {"note": "x" * 100_000, "é": "é"},
           "binaryData": {"blob": base64.b64encode(b"\0" * 30_000).decode()}}
    # Values count (UTF-8 bytes; binaryData decoded), keys do not.
    assert campaigns.budget_beside(big) == limit - 100_000 - 2 - 30_000
    assert campaigns.budget_beside({"data": {"huge": "x" * 2_000_000}}) == 0


def test_a_foreign_key_shrinks_the_room_the_file_pass_and_a_restart_judge_by(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [created(campaign_body(name), day) for name, day in (("a", 1), ("b", 2), ("c", 3))]
    whole = len(campaigns.text(campaigns_file.entries([campaigns_file.snapshot(b)
                                                      for b in bodies])))
    room = whole + 3 * campaigns.GROWTH_BYTES + campaigns.SPLIT_BYTES
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", room)
    monkeypatch.setattr(campaigns, "CONFIG_MAP_LIMIT_BYTES", room + 100)
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    assert sync(deps, *bodies).left_out == ()
    # Someone adds a key of 400 bytes: the three no longer fit beside it.
    config_map: dict[str, Any] = cluster.objects[KEY]
    config_map["data"]["notes.txt"] = "n" * 400
    synced = sync(deps, *bodies)
    assert synced.left_out
    written = cluster.objects[KEY]["data"][campaigns.DATA_KEY]
    assert len(written) + 400 <= campaigns.CONFIG_MAP_LIMIT_BYTES
    assert set(file_of(cluster)["campaigns"]) == {"a", "b", "c"} - set(synced.left_out)
    # A restarted operator judges the file there by the same budget.
    there = {**cluster.objects[KEY], "data": {campaigns.DATA_KEY: written, "notes.txt": "n" * 400}}
    assert not campaigns.has_room(written, budget=campaigns.budget_beside(there))
