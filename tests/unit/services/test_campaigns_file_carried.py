"""``FileDependencies.carried_since``: through a failure to write a model's campaigns file, which
Campaigns the ConfigMap there went on carrying as their status says, and since when. A Campaign
carried all along since before its hold began does not start its step over once the file is
written again (``domain.exposure`` ``carried_all_along``); one whose own change was not written,
or that the ConfigMap stopped carrying (deleted, someone else's, its entry edited), does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, T0, campaign_body

from uplift_operator.adapters.kube import KubeError
from uplift_operator.services import campaigns_file

REFUSED = KubeError("apply configmaps/hillstrom-uplift-campaigns: 403 forbidden", 403)


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _sync(files: campaigns_file.FileDependencies, minutes: float,
          *bodies: dict[str, Any]) -> campaigns_file.Synced:
    return campaigns_file.sync(OWNER, [campaigns_file.snapshot(b) for b in bodies], files,
                               now=_at(minutes))


def _since(files: campaigns_file.FileDependencies, name: str) -> dt.datetime | None:
    return files.carried_since(NS, OWNER.name, name)


def test_a_campaign_whose_entry_the_failed_writes_left_alone_is_carried_all_along() -> None:
    files = campaigns_file.FileDependencies(cluster := FakeCluster())
    a, b = campaign_body("a"), campaign_body("b")
    assert _sync(files, 0, a, b).changed
    assert _since(files, "a") is None  # no failure seen: nothing known
    cluster.apply_error = REFUSED
    # b changes and cannot be written; a is carried as it is, since this first failing pass.
    b = campaign_body("b", percent=25)
    assert _sync(files, 1, a, b).error is not None
    assert (_since(files, "a"), _since(files, "b")) == (_at(1), None)
    assert _sync(files, 2, a, b).error is not None
    assert (_since(files, "a"), _since(files, "b")) == (_at(1), None)
    cluster.apply_error = None
    assert _sync(files, 3, a, b).changed  # written again: b's 25 % only now
    assert (_since(files, "a"), _since(files, "b")) == (_at(1), None)
    # Later passes that write (no failure) change nothing of it; a new failure starts afresh.
    assert not _sync(files, 4, a, b).changed
    assert _since(files, "a") == _at(1)
    cluster.apply_error = REFUSED
    assert _sync(files, 5, a, campaign_body("b", percent=100)).error is not None
    assert (_since(files, "a"), _since(files, "b")) == (_at(5), None)


def test_a_change_of_its_own_not_written_meanwhile_is_not_carried() -> None:
    files = campaigns_file.FileDependencies(cluster := FakeCluster())
    a, b = campaign_body("a"), campaign_body("b")
    _sync(files, 0, a, b)
    cluster.apply_error = REFUSED
    _sync(files, 1, a, campaign_body("b", percent=25))  # another's change refused
    assert _since(files, "a") == _at(1)
    _sync(files, 2, campaign_body("a", percent=25), b)  # its own change, refused
    assert _since(files, "a") is None
    _sync(files, 3, a, campaign_body("b", percent=25))  # back as the file has it: since then
    assert _since(files, "a") == _at(3)
    cluster.apply_error = None
    _sync(files, 4, campaign_body("a", percent=25), b)  # written only by the write ending it
    assert _since(files, "a") is None


def test_a_config_map_deleted_during_the_failure_carries_nothing() -> None:
    files = campaigns_file.FileDependencies(cluster := FakeCluster())
    a, b = campaign_body("a"), campaign_body("b", percent=25)
    _sync(files, 0, a)
    cluster.apply_error = REFUSED
    _sync(files, 1, a, b)
    assert _since(files, "a") == _at(1)
    del cluster.objects[KEY]  # the pods mount it optional: new ones see no file
    _sync(files, 2, a, b)
    assert _since(files, "a") is None
    cluster.apply_error = None
    _sync(files, 3, a, b)  # created again: carried only since now
    assert _since(files, "a") is None


def test_forgotten_with_the_model() -> None:
    files = campaigns_file.FileDependencies(cluster := FakeCluster())
    _sync(files, 0, campaign_body("a"))
    cluster.apply_error = REFUSED
    _sync(files, 1, campaign_body("a"), campaign_body("b"))
    assert _since(files, "a") == _at(1)
    campaigns_file.forget(OWNER, files)
    assert _since(files, "a") is None
