"""An UpliftModel's ``spec.experiment`` cannot change while a canary runs: compared by meaning.

The rule sits at the object's root (it reads ``status.canaryVersion``). Compared as text, the
same experiment written otherwise was refused mid-canary: ``attributionWindow: 1h`` → ``60m``,
an absent salt → ``""``, an absent experiment → ``{}`` (found by a review, 2026-12-07). It now
compares field by field as the Campaign's rules do: each absent field (or experiment) its
default, an absent salt and "" one salt, the window in seconds. Checked on the CRD's own CEL
text (``tests.support.cel``); the real API server's validator agrees (review harness)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.cel import evaluate

_ABSENT = object()


def _rule() -> str:
    from uplift_operator.api.crds import UPLIFTMODEL

    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    (rule,) = [r["rule"] for r in schema["x-kubernetes-validations"]
               if r.get("fieldPath") == ".spec.experiment"]
    return str(rule)


def _model(experiment: Any, canary: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {} if experiment is _ABSENT else {"experiment": experiment}
    return {"spec": spec, "status": {"stableVersion": "3", **({"canaryVersion": "4"} if canary
                                                             else {})}}


@pytest.mark.parametrize(("old", "new"), [
    ({"attributionWindow": "1h"}, {"attributionWindow": "60m"}),
    ({}, {"attributionWindow": "3600s"}),
    ({"attributionWindow": "1h"}, {}),
    ({}, {"salt": ""}),
    ({"salt": ""}, {}),
    (_ABSENT, {}),
    ({}, _ABSENT),
    (_ABSENT, {"holdoutFraction": 0.1, "unitKey": "unit_id", "attributionWindow": "1h"}),
    ({"unitKey": "unit_id"}, {}),
    ({"salt": "s", "unitKey": "c"}, {"salt": "s", "unitKey": "c"}),
])
def test_the_same_experiment_written_otherwise_is_taken_mid_canary(old: Any, new: Any) -> None:
    assert evaluate(_rule(), _model(new), old_self=_model(old))


@pytest.mark.parametrize(("old", "new"), [
    ({"attributionWindow": "1h"}, {"attributionWindow": "61m"}),
    ({}, {"attributionWindow": "2h"}),
    ({}, {"salt": "s"}),
    ({"salt": "s"}, {"salt": ""}),
    ({}, {"unitKey": "customer_id"}),
    ({"holdoutFraction": 0.1}, {"holdoutFraction": 0.2}),
    (_ABSENT, {"holdoutFraction": 0.2}),
    ({"holdoutFraction": 0.2}, _ABSENT),
])
def test_another_experiment_is_refused_mid_canary(old: Any, new: Any) -> None:
    assert not evaluate(_rule(), _model(new), old_self=_model(old))
    # Between canaries it may change.
    assert evaluate(_rule(), _model(new, canary=False), old_self=_model(old, canary=False))
