"""A kill switch does not wait for the Campaign's status write: an abort or emergency
rollback its status has not handled yet is carried by the campaigns file as stopped
(exposure 0, inactive), so one whose status writes are all refused still stops treating."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.services.campaigns_file_passes import carried, file_pass, named
from tests.unit.services.test_campaign import Sim
from tests.unit.services.test_campaigns_file import campaign_body

from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    EMERGENCY_ROLLBACK_ANNOTATION,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    ManualRequest,
    RequestKind,
    handled_after,
)
from uplift_operator.services import campaigns_file
from uplift_operator.services.campaigns_file import snapshot

STOPS = [(ABORT_ANNOTATION, RequestKind.ABORT),
         (EMERGENCY_ROLLBACK_ANNOTATION, RequestKind.EMERGENCY_ROLLBACK)]


def _exposing(annotations: dict[str, str], **status: Any) -> dict[str, Any]:
    body = campaign_body(percent=25)
    body["metadata"].update(uid="u1", annotations=annotations)
    body["status"].update(status)
    return body


def _entry(body: dict[str, Any]) -> tuple[float, bool]:
    (found,) = campaigns_file.entries([snapshot(body)])
    return found.exposure_percent, found.active


def _handled(key: str, kind: RequestKind, *tokens: str) -> dict[str, Any]:
    last: dict[str, str] = {}
    earlier: dict[str, list[str]] = {}
    for token in tokens:
        last, earlier = handled_after(ManualRequest(kind, key, token), last, earlier)
    return {"handledRequests": last, "earlierHandledRequests": earlier}


@pytest.mark.parametrize(("key", "kind"), STOPS)
def test_a_stop_not_yet_handled_is_carried_inactive_at_zero(key: str, kind: RequestKind) -> None:
    assert _entry(_exposing({})) == (25, True)
    assert _entry(_exposing({key: "now"})) == (0, False)


@pytest.mark.parametrize(("key", "kind"), STOPS)
def test_a_handled_or_put_back_token_is_no_stop(key: str, kind: RequestKind) -> None:
    # Handled, then retried: the Campaign exposes again, the abort's annotation still there.
    assert _entry(_exposing({key: "t1"}, **_handled(key, kind, "t1"))) == (25, True)
    # A token handled before the last one, put back by a GitOps sync: not a new request.
    assert _entry(_exposing({key: "t1"}, **_handled(key, kind, "t1", "t2"))) == (25, True)
    # A new token after them: a stop again.
    assert _entry(_exposing({key: "t3"}, **_handled(key, kind, "t1", "t2"))) == (0, False)


def test_other_requests_stop_nothing_and_the_snapshot_keeps_only_the_stops() -> None:
    body = _exposing({RETRY_ANNOTATION: "r1", PROMOTE_ANNOTATION: "full",
                      "note": "x"})
    assert _entry(body) == (25, True)
    assert "annotations" not in snapshot(body)["metadata"]
    stopped = _exposing({ABORT_ANNOTATION: "a1", "note": "x"})
    assert snapshot(stopped)["metadata"]["annotations"] == {ABORT_ANNOTATION: "a1"}


def test_the_file_stops_the_campaign_before_its_status_says_so_and_then_stays() -> None:
    sim = named(Sim())
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.tick()
    file_pass(sim, files)
    assert (carried(sim)["exposurePercent"], carried(sim)["active"]) == (5, True)
    sim.annotate(ABORT_ANNOTATION, "stop-now")

    # Its Campaign pass's status write refused (not applied): the file stops it all the same.
    assert file_pass(sim, files).changed
    assert (carried(sim)["exposurePercent"], carried(sim)["active"]) == (0, False)
    stopped = carried(sim)

    sim.tick(1)  # the status write goes through: rolled back, the abort handled
    assert sim.status["exposurePercent"] == 0
    assert not file_pass(sim, files).changed
    assert carried(sim) == stopped
