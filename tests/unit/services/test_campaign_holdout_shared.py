"""A Campaign that other Campaigns of its model share a salt with says so (``HoldoutShared``
True, reason ``SaltShared``, naming them) and a Warning ``SaltShared`` event is said when it
turns True; a Normal ``SaltNotShared`` when it turns False, once none does any more; who shares
changing is in the condition's message, without an event. It is a warning only: the ramp,
exposure and phase are what they would be without it."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from tests.unit.services.fakes import FakeCluster, FakeMetrics
from tests.unit.services.test_campaigns_file import NS, T0, campaign_body, serving_model

from uplift_operator.domain.shared_draws import Draw
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import campaign
from uplift_operator.services.common import PassResult

MODEL = "hillstrom-uplift"  # the sample's modelRef


def _deps() -> campaign.CampaignDependencies:
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    return campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES)


def _body(name: str = "spring-email", **experiment: Any) -> dict[str, Any]:
    body = campaign_body(name, phase=None, percent=0)
    body["metadata"]["annotations"] = {}
    body["spec"]["experiment"].update(experiment)
    return body


def _other(name: str, salt: str = "spring-2026", model: str = MODEL) -> Draw:
    body = _body(name, salt=salt)
    body["spec"]["modelRef"] = {"name": model}
    drawn = campaign.holdout_draw(body)
    assert drawn is not None
    return drawn


def _shared(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == "HoldoutShared"),
                None)


class _Passes:
    """One Campaign's passes, each on the status the last one wrote."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body, self.deps = body, _deps()

    def run(self, at: dt.datetime, draws: tuple[Draw, ...]) -> PassResult:
        result = campaign.reconcile(copy.deepcopy(self.body), self.deps, at, draws=draws)
        self.body["status"] = result.status
        return result


def _said(result: PassResult, reason: str) -> list[tuple[str, str]]:
    return [(e.type, e.message) for e in result.events if e.reason == reason]


def test_the_same_salt_on_the_same_model_is_said_when_the_condition_turns() -> None:
    passes = _Passes(_body())
    alone = passes.run(T0, ())
    assert _shared(alone.status) is None and not _said(alone, "SaltShared")
    quiet = campaign.reconcile(copy.deepcopy(passes.body), passes.deps,
                               T0 + dt.timedelta(seconds=5), draws=())
    assert quiet.status["exposurePercent"] == 5  # the ramp's first step: something to keep

    copied = passes.run(T0 + dt.timedelta(seconds=5), (_other("summer-email"),))
    held = _shared(copied.status)
    assert held is not None and (held["status"], held["reason"]) == ("True", "SaltShared")
    assert "summer-email" in held["message"] and "'spring-2026'" in held["message"]
    [(kind, message)] = _said(copied, "SaltShared")
    assert kind == "Warning" and message == held["message"]
    assert not next(e for e in copied.events if e.reason == "SaltShared").decision
    # A warning only: the ramp decided as it did alone.
    assert {**copied.status, "conditions": None} == {**quiet.status, "conditions": None}
    assert [c for c in copied.status["conditions"] if c["type"] != "HoldoutShared"] == (
        quiet.status["conditions"])

    again = passes.run(T0 + dt.timedelta(seconds=10), (_other("summer-email"),))
    assert not _said(again, "SaltShared") and _shared(again.status) == held  # said once
    more = passes.run(T0 + dt.timedelta(seconds=15),
                      (_other("summer-email"), _other("autumn-email")))
    # Others than before: the condition's message names them, no event again.
    assert not _said(more, "SaltShared")
    named = _shared(more.status)
    assert named is not None and named["status"] == "True"
    assert "autumn-email, summer-email" in named["message"]
    assert named["lastTransitionTime"] == held["lastTransitionTime"]

    apart = passes.run(T0 + dt.timedelta(seconds=20), ())
    released = _shared(apart.status)
    assert released is not None and (released["status"], released["reason"]) == (
        "False", "SaltNotShared")
    assert [kind for kind, _ in _said(apart, "SaltNotShared")] == ["Normal"]
    after = passes.run(T0 + dt.timedelta(seconds=25), ())
    assert not _said(after, "SaltNotShared") and _shared(after.status) == released


def test_another_model_another_salt_or_itself_is_not_shared() -> None:
    passes = _Passes(_body())
    result = passes.run(T0, (_other("spring-email"), _other("summer-email", model="retention"),
                             _other("autumn-email", salt="autumn-2026")))
    assert _shared(result.status) is None and not _said(result, "SaltShared")


def test_default_salts_are_not_shared_but_one_set_to_a_default_is() -> None:
    body = _body()
    del body["spec"]["experiment"]["salt"]
    own = campaign.holdout_draw(body)
    assert own is not None and own.salt == f"{NS}/spring-email"
    passes = _Passes(body)
    other = _body("summer-email")
    del other["spec"]["experiment"]["salt"]
    drawn = campaign.holdout_draw(other)
    assert drawn is not None and drawn.salt == f"{NS}/summer-email"
    assert _shared(passes.run(T0, (drawn,)).status) is None
    copied = passes.run(T0, (_other("copy", salt=f"{NS}/spring-email"),))
    assert (_shared(copied.status) or {}).get("status") == "True"


def test_a_different_unit_key_shares_the_draw_all_the_same() -> None:
    """The runtime hashes the unit id's value with the salt, not the input's name
    (``domain.shared_draws``): the unit key does not keep two Campaigns' draws apart."""
    other = _body("summer-email", unitKey="household_id")
    drawn = campaign.holdout_draw(other)
    assert drawn is not None
    result = _Passes(_body(unitKey="customer_id")).run(T0, (drawn,))
    assert (_shared(result.status) or {}).get("status") == "True"


def test_a_body_without_a_model_or_name_has_no_draw() -> None:
    body = _body()
    del body["spec"]["modelRef"]
    assert campaign.holdout_draw(body) is None
    assert campaign.holdout_draw({"metadata": {"namespace": NS}, "spec": {}}) is None


def test_campaigns_joining_one_by_one_warn_once_not_at_each_join() -> None:
    """n Campaigns with one salt created one at a time: each Campaign's pass sees the sharers
    grow at each join; one Warning when it first shares, not one per join (~n²/2 in all), and
    one Normal when the last other leaves, not one per departure."""
    passes = _Passes(_body())
    others: list[Draw] = []
    warnings = normals = 0
    at = T0
    for n in range(12):
        others.append(_other(f"copy-{n:02d}"))
        at += dt.timedelta(seconds=5)
        result = passes.run(at, tuple(others))
        warnings += len(_said(result, "SaltShared"))
        message = (_shared(result.status) or {}).get("message", "")
        assert f"copy-{n:02d}" in message if n < 10 else (
            "More than 10 other Campaigns" in message and "copy-" not in message)
    while others:
        others.pop()
        at += dt.timedelta(seconds=5)
        result = passes.run(at, tuple(others))
        normals += len(_said(result, "SaltNotShared"))
        warnings += len(_said(result, "SaltShared"))
    assert (warnings, normals) == (1, 1)
    # Shared again later: said again.
    again = passes.run(at + dt.timedelta(seconds=5), (_other("copy-00"),))
    assert [kind for kind, _ in _said(again, "SaltShared")] == ["Warning"]
