"""A pass never decides on a body older than the status its own last pass wrote (issue #10:
decisions taken twice when a pass came before the watch event of the previous pass's patch)."""

from __future__ import annotations

from uplift_operator.handlers.common import WrittenStatus

WRITTEN = {"phase": "Progressing", "canaryWeight": 30, "history": [{"action": "StepAdvanced"}]}
BEFORE = {"phase": "Progressing", "canaryWeight": 10, "history": []}


def test_a_pass_waits_until_its_own_write_is_in_the_body() -> None:
    written = WrittenStatus(catch_up_seconds=5.0)
    assert not written.behind("u1", BEFORE, clock=0.0)  # nothing written yet: act
    written.wrote("u1", WRITTEN, clock=0.0)
    assert written.behind("u1", BEFORE, clock=1.0)  # the watch has not brought it back
    assert not written.behind("u2", BEFORE, clock=1.0)  # other objects are not held
    assert not written.behind("u1", dict(WRITTEN), clock=1.5)  # caught up: act
    assert not written.behind("u1", BEFORE, clock=2.0)  # and nothing is pending any more


def test_a_write_that_never_comes_back_holds_only_for_the_catch_up_time() -> None:
    written = WrittenStatus(catch_up_seconds=5.0)
    written.wrote("u1", WRITTEN, clock=0.0)
    assert written.behind("u1", BEFORE, clock=4.9)
    assert not written.behind("u1", BEFORE, clock=5.0)  # failed write or another writer: act


def test_what_was_written_is_a_copy_and_deleted_objects_are_forgotten() -> None:
    written = WrittenStatus()
    status = {"phase": "Progressing", "history": []}
    written.wrote("u1", status, clock=0.0)
    status["history"].append({"action": "Later"})  # the caller's dict changes afterwards
    assert not written.behind("u1", {"phase": "Progressing", "history": []}, clock=0.1)
    written.wrote("u1", WRITTEN, clock=0.0)
    written.forget("u1")
    assert not written.behind("u1", BEFORE, clock=0.1)
