"""The alias poller's plan asks whether a client can sweep once per client class, not once per
client: a pass with credentials leaves a client of its own (``services.upliftmodel.
_RefusalToldLister``, built at each pass), and ``isinstance`` of a Protocol is slow (a plan of
2,000 such aliases took 28 ms of the event loop, once a second, against 10)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services.fakes import ListingRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services import resolution
from uplift_operator.services.ports import ListsAliases
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.upliftmodel import _RefusalToldLister

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE = ("http://mlflow", "ns", "creds tokenKey=token")
MODELS = 50


def test_a_plan_asks_each_client_class_once_whether_it_sweeps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    registry, resolver = ListingRegistry(), Resolver()
    due = []
    for i in range(MODELS):
        registry.add(f"m{i}", "1")
        registry.aliases[(f"m{i}", "champion")] = "1"
        ref = ModelReference.model_validate({"registeredModel": f"m{i}", "alias": "champion",
                                             "aliasRefreshInterval": "60s"})
        # Each pass builds its own client around the cached one.
        assert resolver.resolve(SCOPE, ref, _RefusalToldLister(registry, registry, lambda: None),
                                T0).ok
        due.append(((SCOPE, f"m{i}", "champion"), dt.timedelta(seconds=60)))
    asked: list[object] = []

    class _Counted(type):
        def __instancecheck__(cls, instance: Any) -> bool:
            asked.append(instance)
            return isinstance(instance, ListsAliases)

    class Counted(metaclass=_Counted):
        pass

    monkeypatch.setattr(resolution, "ListsAliases", Counted)
    planned = resolver.plan(due, T0 + dt.timedelta(seconds=61), readers=4)
    assert len(asked) == 1
    # And the plan is as before: one sweep answers every alias.
    assert len(planned.sweeps) == 1 and not planned.reads
    assert len(planned.sweeps[0].aliases) == MODELS
