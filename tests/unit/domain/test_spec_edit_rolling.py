"""``ServingApplied`` says a spec edit's graph has not rolled yet (its message ending with
``cond.SPEC_EDIT_ROLLING``) from the pass that queues or applies it until the graph serves with
every pod available, and ``domain.stuck.model_phase`` publishes a Healthy ramp Progressing
meanwhile, naming the condition (the passes over a cluster:
``tests/unit/services/test_spec_edit_rolling_phase.py``). Before, only a queued edit was said
so: the apply that started its roll published Healthy at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from uplift_operator.api.v1alpha1.common import Condition, Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status, stuck

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SERVES = "version 3 serves all traffic"
TAIL = f"; {cond.SPEC_EDIT_ROLLING}"


def _applied(**kw: Any) -> status.Applied:
    return status.Applied("SeldonDeployment m", "v3 100%", **kw)


def _found(conditions: list[Condition]) -> Condition:
    found = cond.find(conditions, cond.SERVING_APPLIED)
    assert found is not None
    return found


def _serving() -> list[Condition]:
    """Generation 1's graph, applied and served."""
    c = status.serving_applied([], _applied(changed=True), 1, T0)
    return status.serving_applied(c, _applied(settled=True), 1, T0)


def _edit_rolling(at: dt.datetime = T0) -> list[Condition]:
    """Generation 2 (a ``spec.serving`` edit): its graph applied, its pods rolling."""
    return status.serving_applied(_serving(), _applied(changed=True, rolls=True), 2, at)


def _phase(c: list[Condition], at: dt.datetime = T0, phase: Phase = Phase.HEALTHY,
           message: str = SERVES) -> tuple[Phase | None, str]:
    published = stuck.model_phase(phase, message, c, None, at)
    return published.phase, published.message


def test_the_apply_of_an_edit_s_roll_is_progressing_and_its_passes_keep_it_so() -> None:
    c = _edit_rolling()
    applied = _found(c)
    assert (applied.status, applied.reason) == ("True", cond.APPLIED)
    assert applied.message == f"SeldonDeployment m applied: v3 100%{TAIL}"
    assert _phase(c) == (Phase.PROGRESSING,
                         f"ServingApplied True (Applied): {applied.message}; {SERVES}")
    # Passes while its pods roll (a pod not available): written once, nothing new.
    later = T0 + dt.timedelta(minutes=3)
    assert status.serving_applied(c, _applied(rolling=("m-v3: 1 of 2 pods available",)), 2,
                                  later) == c
    # A step applied over it (the split changes, no new roll): the edit's pods roll on.
    stepped = _found(status.serving_applied(c, _applied(changed=True), 2, later))
    assert stepped.message.endswith(TAIL)


def test_every_pod_available_is_healthy_again() -> None:
    c = status.serving_applied(_edit_rolling(), _applied(settled=True), 2, T0)
    assert _found(c).message == "SeldonDeployment m serves v3 100%"
    assert _phase(c) == (Phase.HEALTHY, SERVES)
    assert status.serving_applied(c, _applied(settled=True), 2, T0) == c  # at rest


def test_read_serving_while_its_roll_holds_its_slot_an_edit_s_graph_is_still_rolling() -> None:
    """The graph read as decided, Available, every pod available: right after the apply that
    is the status Seldon wrote of the old pods (and Seldon writes Available between two surge
    batches too). Rolled only once the roll's slot is released (``Applied.rolled``). Before:
    Healthy from that read on, before a new pod ran."""
    c = _edit_rolling()
    assert status.serving_applied(c, _applied(settled=True, rolled=False), 2, T0) == c
    short = ("m-v3: 1 of 3 replicas available",)
    c = status.serving_applied(c, _applied(short=short, rolled=False), 2, T0)
    assert _phase(c)[0] is Phase.PROGRESSING
    # No longer short, its roll not done yet: still said rolling.
    c = status.serving_applied(c, _applied(settled=True, rolled=False), 2, T0)
    assert _found(c).message == f"SeldonDeployment m serves v3 100%{TAIL}"
    assert _phase(c)[0] is Phase.PROGRESSING
    c = status.serving_applied(c, _applied(settled=True), 2, T0)
    assert _found(c).message == "SeldonDeployment m serves v3 100%"
    assert _phase(c)[0] is Phase.HEALTHY


def test_short_of_its_replicas_an_edit_s_graph_is_still_rolling() -> None:
    short = ("m-v3: 1 of 3 replicas available",)
    c = status.serving_applied(_edit_rolling(), _applied(short=short), 2, T0)
    assert _found(c).message == (f"SeldonDeployment m serves v3 100% {status.FEWER_REPLICAS}: "
                                 f"{short[0]}{TAIL}")
    assert _phase(c)[0] is Phase.PROGRESSING
    c = status.serving_applied(c, _applied(settled=True), 2, T0)
    assert _found(c).message == "SeldonDeployment m serves v3 100%"
    assert _phase(c)[0] is Phase.HEALTHY


def test_a_roll_no_edit_asked_for_and_an_edit_that_rolls_nothing_stay_healthy() -> None:
    # An operator re-render (the generation the condition says already): the spec took effect.
    rerender = status.serving_applied(_serving(), _applied(changed=True, rolls=True), 1, T0)
    assert not _found(rerender).message.endswith(TAIL)
    assert _phase(rerender) == (Phase.HEALTHY, SERVES)
    # An edit whose apply changes the split only (no pod rolls): in effect with the apply.
    split = status.serving_applied(_serving(), _applied(changed=True), 2, T0)
    assert _phase(split) == (Phase.HEALTHY, SERVES)


def test_an_edit_s_roll_that_timed_out_is_progressing_within_the_grace_then_degraded() -> None:
    rolling = ("m-v3: 1 of 2 pods available",)
    at = T0 + dt.timedelta(minutes=10)
    c = status.serving_applied(_edit_rolling(), _applied(roll_timed_out="did not serve within "
                                                         "10m", rolling=rolling), 2, at)
    timed_out = _found(c)
    assert (timed_out.status, timed_out.reason) == ("False", cond.ROLL_TIMED_OUT)
    assert timed_out.message.endswith(TAIL)
    assert _phase(c, at) == (Phase.PROGRESSING, f"ServingApplied False (RollTimedOut): "
                                                f"{timed_out.message}; {SERVES}")
    past = at + stuck.DEFAULT_GRACE
    phase, message = _phase(c, past)
    assert phase is Phase.DEGRADED
    assert message.startswith(f"ServingApplied False (RollTimedOut) since {at.isoformat()}")
    # It serves rolled at last: Applied, Healthy.
    c = status.serving_applied(c, _applied(settled=True), 2, past)
    assert _found(c).message == "SeldonDeployment m serves v3 100%"
    assert _phase(c, past) == (Phase.HEALTHY, SERVES)


def test_no_phase_but_healthy_is_changed_by_it() -> None:
    c = _edit_rolling()
    for phase, message in ((Phase.PROGRESSING, "canary 4 at step 1/2 (10%): waiting"),
                           (Phase.PAUSED, "canary 4 at step 1/2 (10%) paused"),
                           (Phase.DEGRADED, "version 4 was rolled back; stable 3 serves")):
        assert _phase(c, phase=phase, message=message) == (phase, message)


REFUSAL = "admission webhook denied the request"


def test_an_apply_refused_while_an_edit_s_graph_rolls_keeps_it_rolling() -> None:
    """Before: the refusal's message dropped ``cond.SPEC_EDIT_ROLLING``, so the retry that went
    through, or the pass that found the graph as decided, read as no edit's: Healthy while the
    edit's pods still rolled."""
    at = T0 + dt.timedelta(minutes=1)
    refused = status.serving_applied(_edit_rolling(), _applied(error=REFUSAL), 2, at)
    said = _found(refused)
    assert (said.status, said.reason, said.message) == ("False", cond.APPLY_FAILED,
                                                        f"{REFUSAL}{TAIL}")
    assert _phase(refused, at) == (Phase.PROGRESSING,
                                   f"ServingApplied False (ApplyFailed): {said.message}; {SERVES}")
    assert _phase(refused, at + stuck.DEFAULT_GRACE)[0] is Phase.DEGRADED
    # The retry goes through (a step's split over the roll): the edit's pods roll on.
    retried = status.serving_applied(refused, _applied(changed=True), 2, at)
    assert _found(retried).message == f"SeldonDeployment m applied: v3 100%{TAIL}"
    assert _phase(retried, at)[0] is Phase.PROGRESSING
    # Or nothing to apply: as decided and serving, its roll not done; or not all serving yet.
    found = status.serving_applied(refused, _applied(settled=True, rolled=False), 2, at)
    assert _found(found).message == f"SeldonDeployment m serves v3 100%{TAIL}"
    assert _phase(found, at)[0] is Phase.PROGRESSING
    partial = status.serving_applied(refused, _applied(), 2, at)
    assert _found(partial).message == ("SeldonDeployment m is as decided (v3 100%); not all of "
                                       f"it serves yet{TAIL}")
    for c in (retried, found, partial):
        c = status.serving_applied(c, _applied(settled=True), 2, at)
        assert _found(c).message == "SeldonDeployment m serves v3 100%"
        assert _phase(c, at) == (Phase.HEALTHY, SERVES)


def test_an_edit_s_own_apply_refused_then_retried_is_still_rolling() -> None:
    refused = status.serving_applied(_serving(), _applied(error=REFUSAL), 2, T0)
    assert _found(refused).message == f"{REFUSAL}{TAIL}"
    retried = status.serving_applied(refused, _applied(changed=True, rolls=True), 2, T0)
    assert _found(retried).message == f"SeldonDeployment m applied: v3 100%{TAIL}"
    # An operator re-render refused (no edit): said as before, and Healthy once retried.
    rerender = status.serving_applied(_serving(), _applied(error=REFUSAL), 1, T0)
    assert _found(rerender).message == REFUSAL
    retried = status.serving_applied(rerender, _applied(changed=True, rolls=True), 1, T0)
    assert _phase(retried) == (Phase.HEALTHY, SERVES)
