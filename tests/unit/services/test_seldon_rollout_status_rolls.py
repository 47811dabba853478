"""A re-render's slot is held until Seldon's numbers show the graph done rolling, not only
until Seldon says ``Available``: Seldon 1.17.1 also writes ``Available`` between two surge
batches of a Deployment's rolling update, old pods still there (``render.seldon`` module
docstring, "Mid-rollout"; ``tests/unit/render/test_seldon_rollout_status.py`` for the
statuses). ``rolled`` is ``render.seldon.rolling_deployments`` being empty."""

from __future__ import annotations

import datetime as dt
import inspect

from uplift_operator.services.rolls import ROLL_TIMEOUT, SILENT_SETTLE, Rolls

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
A, B = ("UpliftModel", "shop", "a"), ("UpliftModel", "shop", "b")


def rolling_a(limit: int = 1) -> tuple[Rolls, list[tuple[str, str, str]]]:
    """``a`` holds the one slot, applied at T0 leaving resourceVersion 10; ``b`` is queued. The
    apply changed no pod spec (``pods=False``: a re-render of the graph's annotations only), so
    a silence of Seldon's may settle it (``SILENT_SETTLE``)."""
    rolls = Rolls(limit)
    woken: list[tuple[str, str, str]] = []
    rolls.on_change.append(woken.extend)
    assert rolls.admit(A, T0).admitted
    rolls.started(A, T0, "10", pods=False)
    assert not rolls.admit(B, T0).admitted
    return rolls, woken


def test_available_mid_surge_holds_the_slot_and_the_finished_roll_frees_it() -> None:
    rolls, woken = rolling_a()
    # Seldon's writes after the apply (each moves the resourceVersion): Creating; Available
    # with a surge batch up and old pods not gone; Creating; Available, done.
    rolls.settle(A, T0 + dt.timedelta(seconds=2), version="11", serving=False, rolled=True)
    rolls.settle(A, T0 + dt.timedelta(seconds=30), version="12", serving=True, rolled=False)
    assert rolls.rolling() == 1 and woken == []
    rolls.settle(A, T0 + dt.timedelta(seconds=31), version="13", serving=False, rolled=False)
    # Past the silent settle, Available mid-surge still holds it: Seldon did report.
    rolls.settle(A, T0 + SILENT_SETTLE + dt.timedelta(seconds=5), version="14", serving=True,
                 rolled=False)
    assert rolls.rolling() == 1 and woken == []
    rolls.settle(A, T0 + SILENT_SETTLE + dt.timedelta(seconds=6), version="15", serving=True,
                 rolled=True)
    assert rolls.rolling() == 0 and woken == [B]


def test_a_roll_seldon_said_nothing_about_settles_once_its_numbers_show_no_roll() -> None:
    """No status since the apply: nothing of it rolled (Seldon updates a Deployment only when
    its pod template differs, and writes only what changed), so the silent settle goes by time,
    once the numbers, from before the apply, show nothing rolling either."""
    rolls, woken = rolling_a()
    rolls.settle(A, T0 + SILENT_SETTLE - dt.timedelta(seconds=1), version="10", serving=True,
                 rolled=True)
    assert rolls.rolling() == 1
    rolls.settle(A, T0 + SILENT_SETTLE, version="10", serving=True, rolled=True)
    assert rolls.rolling() == 0 and woken == [B]


def test_a_step_applied_mid_surge_does_not_end_the_roll_by_silence() -> None:
    """Before: the step's apply re-stamped the roll, Seldon wrote nothing about a traffic-only
    change, and a minute later the silent settle freed the slot with the surge still under
    way; and each step's apply pushed the timeout back, so a ramp stepping more often than the
    timeout held its slot for ever."""
    rolls, woken = rolling_a()
    rolls.settle(A, T0 + dt.timedelta(seconds=30), version="12", serving=True, rolled=False)
    rolls.started(A, T0 + dt.timedelta(seconds=40), "13", pods=False)  # a step: traffic only
    late = T0 + dt.timedelta(seconds=40) + SILENT_SETTLE
    rolls.settle(A, late, version="13", serving=True, rolled=False)
    assert rolls.rolling() == 1 and woken == []
    for minutes in range(1, 10):  # a step every minute, the surge never ending
        rolls.started(A, T0 + dt.timedelta(minutes=minutes, seconds=50), str(20 + minutes),
                      pods=False)
    rolls.settle(A, T0 + ROLL_TIMEOUT, version="29", serving=True, rolled=False)
    assert rolls.rolling() == 0 and woken == [B]  # timed out, from the apply that took it


def test_a_roll_that_stays_mid_surge_times_out() -> None:
    rolls, woken = rolling_a()
    rolls.settle(A, T0 + dt.timedelta(seconds=30), version="12", serving=True, rolled=False)
    assert rolls.timed_out(A, T0 + ROLL_TIMEOUT - dt.timedelta(seconds=1)) is None
    assert rolls.rolling() == 1
    assert rolls.timed_out(A, T0 + ROLL_TIMEOUT) is not None
    assert rolls.rolling() == 0 and woken == [B]


def test_rolled_without_serving_is_not_done() -> None:
    """``Creating`` with the numbers of the reconcile that updated the Deployment (its entry
    as it was: nothing in them says rolling) is not done: ``serving`` is False."""
    rolls, _ = rolling_a()
    rolls.settle(A, T0 + SILENT_SETTLE * 2, version="11", serving=False, rolled=True)
    assert rolls.rolling() == 1


def test_rolled_defaults_to_true_as_before() -> None:
    rolls, woken = rolling_a()
    rolls.settle(A, T0 + dt.timedelta(seconds=1), version="11", serving=True)
    assert rolls.rolling() == 0 and woken == [B]


def test_started_is_told_whether_the_apply_changed_a_pod_spec() -> None:
    """``pods`` has no default: a caller that forgot it got ``pods=False``, the unsafe answer (a
    pod roll then freed its slot after a minute of Seldon's silence)."""
    pods = inspect.signature(Rolls.started).parameters["pods"]
    assert pods.kind is inspect.Parameter.KEYWORD_ONLY
    assert pods.default is inspect.Parameter.empty
