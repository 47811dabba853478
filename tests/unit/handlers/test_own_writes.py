"""A pass never decides on a body older than its own last status write (issue #10: decisions
taken twice when a pass came before the watch event of the previous pass's patch; a ramp
stepping back when the watch lagged behind an API server restart)."""

from __future__ import annotations

from typing import Any

from uplift_operator.handlers.common import OwnWrites


def _body(version: int, weight: int) -> dict[str, Any]:
    return {"metadata": {"uid": "u1", "resourceVersion": str(version)},
            "status": {"canaryWeight": weight, "history": []}}


def test_a_pass_decides_on_its_own_write_until_the_watch_brings_it() -> None:
    writes = OwnWrites()
    assert writes.newest("u1", _body(10, 10)) == _body(10, 10)  # nothing written yet
    writes.wrote("u1", _body(12, 30))  # the API's answer to the status patch
    assert writes.newest("u1", _body(10, 10))["status"]["canaryWeight"] == 30  # watch behind
    assert writes.newest("u2", _body(10, 10)) == _body(10, 10)  # other objects untouched
    assert writes.newest("u1", _body(12, 30)) == _body(12, 30)  # caught up
    assert writes.newest("u1", _body(10, 10)) == _body(10, 10)  # and forgotten


def test_a_later_write_by_someone_else_wins() -> None:
    writes = OwnWrites()
    writes.wrote("u1", _body(12, 30))
    assert writes.newest("u1", _body(15, 0))["status"]["canaryWeight"] == 0


def test_the_answer_is_a_private_copy_and_deleted_objects_are_forgotten() -> None:
    writes = OwnWrites()
    answer = _body(12, 30)
    writes.wrote("u1", answer)
    answer["status"]["history"].append({"action": "Later"})  # the caller's dict changes
    snapshot = writes.newest("u1", _body(10, 10))
    assert snapshot["status"]["history"] == []
    snapshot["status"]["history"].append({"action": "Mine"})  # a pass mutates its snapshot
    assert writes.newest("u1", _body(10, 10))["status"]["history"] == []
    writes.forget("u1")
    assert writes.newest("u1", _body(10, 10)) == _body(10, 10)


def test_the_watch_catching_up_drops_the_kept_write_without_waiting_for_a_pass() -> None:
    """At rest the next pass may be a resync (10 minutes) away: the copy goes when the watch
    brings a body at least as new, and it never holds managedFields."""
    writes = OwnWrites()
    answer = {**_body(12, 30), "metadata": {"uid": "u1", "resourceVersion": "12",
                                            "managedFields": [{"manager": "uplift-operator"}]}}
    writes.wrote("u1", answer)
    assert "managedFields" not in writes.newest("u1", _body(10, 10))["metadata"]
    writes.caught_up("u1", _body(11, 10))  # an older event: kept
    assert writes.newest("u1", _body(10, 10))["status"]["canaryWeight"] == 30
    writes.caught_up("u1", _body(12, 30))
    assert writes._bodies == {}
