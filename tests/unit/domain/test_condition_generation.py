"""Conditions a quiet pass leaves as they are still follow a spec edit's generation.

``ServingApplied``, ``RegistryWrittenBack``, ``ServingFailed``, ``StatusReadable`` and a
Campaign's ``SettingsDelivered`` are returned unchanged when nothing new happened, so no quiet
pass writes status. They kept the generation that last changed them: after an edit (4→5)
``kubectl describe`` showed ``InvalidSpec@5`` next to ``ServingApplied@4``, which
metav1.Condition reads as "out of date". Each now moves to the new generation once, all else
(status, reason, message, lastTransitionTime) as it was; the next quiet pass writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from uplift_operator.api.v1alpha1.common import Condition
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure, status

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(hours=3)

Quiet = Callable[[list[Condition], int, dt.datetime], list[Condition]]

#: Each condition as a quiet pass leaves it, and the function that computes it on such a pass.
CASES: dict[str, tuple[Condition, Quiet]] = {
    "ServingApplied": (
        Condition(type=cond.SERVING_APPLIED, status="True", reason=cond.APPLIED,
                  message="SeldonDeployment churn applied: v1 100%", last_transition_time=T0,
                  observed_generation=4),
        lambda c, g, now: status.serving_applied(
            c, status.Applied("SeldonDeployment churn", "v1 100%"), g, now)),
    "RegistryWrittenBack": (
        Condition(type=cond.REGISTRY_WRITTEN_BACK, status="True", reason=cond.WRITTEN_BACK,
                  message="every MLflow write-back of its decisions went through",
                  last_transition_time=T0, observed_generation=4),
        lambda c, g, now: status.written_back(c, None, g, now)),
    "RegistryWrittenBack pending": (
        Condition(type=cond.REGISTRY_WRITTEN_BACK, status="False", reason=cond.WRITE_BACK_FAILED,
                  message="MLflow answered 503", last_transition_time=T0,
                  observed_generation=4),
        lambda c, g, now: status.written_back(c, None, g, now, pending=True)),
    "ServingFailed": (
        Condition(type=cond.SERVING_FAILED, status="False", reason=cond.SERVING_RECOVERED,
                  message="the serving graph no longer reports a failure",
                  last_transition_time=T0, observed_generation=4),
        lambda c, g, now: status.serving_failed(c, None, g, now)),
    "StatusReadable": (
        Condition(type=status.STATUS_READABLE, status="True", reason=status.STATUS_READ,
                  message="read in full since; before: …", last_transition_time=T0,
                  observed_generation=4),
        lambda c, g, now: status.status_readable(c, (), g, now)),
    "SettingsDelivered": (
        Condition(type=cond.SETTINGS_DELIVERED, status="True", reason=cond.FILE_WRITTEN,
                  message="the campaigns file carries this Campaign's settings again",
                  last_transition_time=T0, observed_generation=4),
        lambda c, g, now: exposure.settings_delivered(c, None, g, now)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_condition_left_as_it_is_follows_a_spec_edit_once(case: str) -> None:
    before, quiet = CASES[case]
    ready = Condition(type=cond.READY, status="True", reason="Healthy", message="ok",
                      last_transition_time=T0, observed_generation=5)
    previous = [before, ready]
    # The same generation: nothing to write, the condition as it was.
    assert quiet(previous, 4, LATER) == previous
    # A spec edit (4 → 5): the condition observed it, nothing else about it moves.
    after = quiet(previous, 5, LATER)
    (stamped,) = [c for c in after if c.type == before.type]
    assert stamped == before.model_copy(update={"observed_generation": 5})
    assert stamped.last_transition_time == T0
    assert [c for c in after if c.type != before.type] == [ready]
    # The next quiet pass at that generation writes nothing again.
    assert quiet(after, 5, LATER + dt.timedelta(minutes=1)) == after


@pytest.mark.parametrize("case", [c for c in CASES if c != "ServingApplied"])
def test_a_condition_never_set_is_not_added_by_a_spec_edit(case: str) -> None:
    # (ServingApplied is set by any apply: it says what the graph serves.)
    _, quiet = CASES[case]
    assert quiet([], 5, LATER) == []


def test_serving_applied_without_a_graph_decided_keeps_its_generation() -> None:
    """No graph decided this pass (``applied`` None): nothing was checked against the new
    spec, so the condition does not claim to have observed it."""
    before, _ = CASES["ServingApplied"]
    assert status.serving_applied([before], None, 5, LATER) == [before]
