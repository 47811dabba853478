"""``ServingApplied`` False (``ApplyFailed``) turns True at the first pass that finds nothing to
apply: the graph there is as decided (the refused edit reverted, the refused apply's answer lost
though the API server applied it, the decision-key Secret created by hand). Before, only an
apply that changed something cleared it: the phase went Degraded past the grace, the alert
paged and the graph was retried every minute for good. And a refused re-render queued again
for a roll slot stays ``ApplyFailed`` at the spec it was refused at, its time kept, rather
than flipping to ``RollQueued`` and back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from uplift_operator.api.v1alpha1.common import Condition, Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status, stuck

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=10)
SERVES = "stable 3 serves"


def _applied(**kw: Any) -> status.Applied:
    return status.Applied("SeldonDeployment m", "3: 100", **kw)


def _refused() -> list[Condition]:
    return status.serving_applied([], _applied(error="admission webhook denied"), 2, T0)


def _found(conditions: list[Condition]) -> Condition:
    found = cond.find(conditions, cond.SERVING_APPLIED)
    assert found is not None
    return found


def test_a_refused_apply_clears_when_the_graph_is_as_decided_and_serves() -> None:
    c = status.serving_applied(_refused(), _applied(settled=True), 3, T1)
    applied = _found(c)
    assert (applied.status, applied.reason, applied.message) == (
        "True", cond.APPLIED, "SeldonDeployment m serves 3: 100")
    assert applied.last_transition_time == T1 and applied.observed_generation == 3
    assert status.apply_retry_seconds(c, T1) is None
    later = T1 + stuck.DEFAULT_GRACE
    published = stuck.model_phase(Phase.HEALTHY, SERVES, c, None, later)
    assert (published.phase, published.message) == (Phase.HEALTHY, SERVES)
    # and the next quiet pass writes nothing
    assert status.serving_applied(c, _applied(settled=True), 3, later) == c


def test_a_refused_apply_clears_when_the_graph_is_as_decided_not_serving_yet() -> None:
    """An apply the API server carried out though its answer was lost: the pods roll; nothing
    is refused, nothing to apply again."""
    c = status.serving_applied(_refused(), _applied(rolling=("m-v3",)), 2, T1)
    applied = _found(c)
    assert (applied.status, applied.reason) == ("True", cond.APPLIED)
    assert applied.message == "SeldonDeployment m is as decided (3: 100); not all of it serves yet"
    assert status.apply_retry_seconds(c, T1) is None


def test_a_refused_re_render_queued_again_keeps_its_refusal_and_time() -> None:
    refused = _refused()
    later = T0 + stuck.DEFAULT_GRACE
    c = status.serving_applied(refused, _applied(queued="waiting for a roll slot"), 2, later)
    assert c == refused
    assert status.apply_retry_seconds(c, later) == status.APPLY_RETRY_MAX_SECONDS
    assert stuck.model_phase(Phase.HEALTHY, SERVES, c, None, later).phase is Phase.DEGRADED
    again = status.serving_applied(c, _applied(error="admission webhook denied"), 2, later)
    assert _found(again).last_transition_time == T0


def test_a_re_render_of_a_new_spec_queued_after_a_refusal_says_it_is_queued() -> None:
    """A spec edit after the refusal (a fixed ``spec.serving``) renders something never
    refused: queued, said as such, timed anew."""
    c = status.serving_applied(_refused(), _applied(queued="waiting for a roll slot"), 3, T1)
    queued = _found(c)
    assert (queued.status, queued.reason) == ("False", cond.ROLL_QUEUED)
    assert queued.last_transition_time == T1 and status.apply_retry_seconds(c, T1) is None
