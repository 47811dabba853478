"""Which Campaigns of a model expose and hold out the same units (``domain.shared_draws``): the
same effective salt on the same model, whatever the unit key; and the ``HoldoutShared``
condition that says so, absent on a Campaign that never shared."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
from tests.unit.services.test_campaigns_file import campaign_body

from uplift_operator.api.v1alpha1.common import Condition
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import shared_draws
from uplift_operator.domain.shared_draws import Draw, draw, sharing
from uplift_operator.render.campaigns import entry
from uplift_operator.runtime.assignment import HOLDOUT, assign, exposed
from uplift_operator.services.campaigns_file import entries, snapshot

NS = "marketing"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_campaigns_of_one_model_with_the_same_salt_are_named_sorted_and_once() -> None:
    spring = draw(NS, "churn", "spring", "spring-2026")
    others = [draw(NS, "churn", "summer", "spring-2026"), draw(NS, "churn", "autumn",
                                                              "spring-2026"),
              draw(NS, "churn", "winter", "winter-2026"), spring,
              draw(NS, "churn", "autumn", "spring-2026")]
    assert sharing(spring, others) == ("autumn", "summer")
    assert sharing(spring, reversed(others)) == ("autumn", "summer")


def test_another_model_or_namespace_shares_nothing() -> None:
    spring = draw(NS, "churn", "spring", "spring-2026")
    assert sharing(spring, [draw(NS, "retention", "summer", "spring-2026"),
                            draw("sales", "churn", "summer", "spring-2026")]) == ()


def test_default_salts_never_collide_but_a_salt_set_to_another_s_default_does() -> None:
    spring = draw(NS, "churn", "spring", None)
    assert spring.salt == "marketing/spring"
    assert draw(NS, "churn", "other", "").salt == "marketing/other"  # empty: the default
    assert sharing(spring, [draw(NS, "churn", "summer", None),
                            draw(NS, "churn", "autumn", None)]) == ()
    assert sharing(spring, [draw(NS, "churn", "copy", "marketing/spring")]) == ("copy",)


def test_the_unit_key_plays_no_part_in_the_runtime_s_draw() -> None:
    """Why a Draw has no unit key: the runtime's draws take the id's value and the salt, not the
    input the id came from, so two Campaigns reading the same ids under differently named
    inputs expose and hold out the same units. Should the draw ever take the unit key, this
    fails, and the rule must be looked at again."""
    assert list(inspect.signature(assign).parameters) == ["unit_id", "salt", "holdout_fraction"]
    assert list(inspect.signature(exposed).parameters) == ["unit_id", "salt", "percent"]
    ids = [str(n) for n in range(2_000)]
    held = {u for u in ids if assign(u, "spring-2026", 0.1) == HOLDOUT}
    assert 100 < len(held) < 300
    assert held != {u for u in ids if assign(u, "summer-2026", 0.1) == HOLDOUT}
    assert set(Draw.__dataclass_fields__) == {"namespace", "model", "name", "salt"}


def _shared(previous: list[Condition], names: tuple[str, ...], at: dt.datetime,
            generation: int = 1) -> list[Condition]:
    return shared_draws.holdout_shared(previous, draw(NS, "churn", "spring", "spring-2026"),
                                       names, generation, at)


def test_never_shared_no_condition() -> None:
    ready = cond.set_condition([], type_=cond.READY, status="True", reason=cond.EXPOSING,
                               message="", now=T0, observed_generation=1)
    assert _shared(ready, (), T0) == ready


def test_shared_true_naming_them_then_false_once_none_shares() -> None:
    shared = _shared([], ("summer",), T0)
    [held] = shared
    assert (held.type, held.status, held.reason) == ("HoldoutShared", "True", "SaltShared")
    assert "summer" in held.message and "'spring-2026'" in held.message
    assert "churn" in held.message and "joint effect" in held.message
    assert "new Campaign" in held.message  # the fix, the salt being immutable
    # The same sharers later: nothing moves (no status write).
    assert _shared(shared, ("summer",), T0 + dt.timedelta(hours=1)) == shared
    # Another joins: the message names both, the transition time stays.
    [more] = _shared(shared, ("autumn", "summer"), T0 + dt.timedelta(hours=2))
    assert "autumn, summer" in more.message and more.last_transition_time == T0
    later = T0 + dt.timedelta(hours=3)
    [apart] = _shared([more], (), later)
    assert (apart.status, apart.reason, apart.last_transition_time) == (
        "False", "SaltNotShared", later)
    assert _shared([apart], (), later + dt.timedelta(hours=1)) == [apart]
    [edited] = _shared([apart], (), later + dt.timedelta(hours=1), generation=2)
    assert edited.observed_generation == 2 and edited.last_transition_time == later


def test_up_to_ten_are_named_more_are_neither_named_nor_counted() -> None:
    """Past ``NAMES_SHOWN`` the message is the same however many share: one more joining a
    crowd rewrites nobody's status (it was "and N more": every join rewrote every sharer's)."""
    ten = tuple(f"copy-{n:03d}" for n in range(10))
    [named] = _shared([], ten, T0)
    assert all(name in named.message for name in ten) and "More than" not in named.message
    [crowd] = _shared([], (*ten, "copy-010"), T0)
    assert "copy-" not in crowd.message and "More than 10 other Campaigns" in crowd.message
    assert "'spring-2026'" in crowd.message and "churn" in crowd.message
    names = tuple(f"copy-{n:03d}" for n in range(300))
    assert _shared([crowd], names, T0 + dt.timedelta(hours=1)) == [crowd]
    assert _shared([crowd], names[150:162], T0 + dt.timedelta(hours=1)) == [crowd]


def test_a_sharer_s_message_moves_only_while_it_names_them() -> None:
    """``others_told``: whether a Campaign whose sharers went from one count to the other says
    anything else (the watch wakes only those): the first sharer and the last one leaving, every
    change while at most 10 are named, the crossing to more; never among more."""
    told = shared_draws.others_told
    assert told(0, 1) and told(1, 0) and told(1, 2) and told(9, 10) and told(10, 9)
    assert told(10, 11) and told(11, 10)
    assert not told(11, 12) and not told(12, 11) and not told(299, 300)
    for before in range(0, 40):
        for after in (before - 1, before + 1):
            if after < 0:
                continue
            names = [f"copy-{n:03d}" for n in range(max(before, after))]
            was = _shared([], tuple(names[:before]), T0)
            now = _shared(was, tuple(names[:after]), T0 + dt.timedelta(hours=1))
            assert (now != was) == told(before, after), (before, after)


@pytest.mark.parametrize("salt", ["spring-2026", None])
def test_the_effective_salt_is_the_one_the_campaigns_file_gives_the_runtime(
        salt: str | None) -> None:
    body = campaign_body("spring")
    body["spec"]["experiment"].pop("salt")
    if salt is not None:
        body["spec"]["experiment"]["salt"] = salt
    [rendered] = entries([snapshot(body)])
    assert entry(rendered)["salt"] == draw("shop", "hillstrom-uplift", "spring", salt).salt
