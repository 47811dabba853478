"""A resource's waiting task that ends takes the resource's series off this replica's /metrics:
a replica paused by kopf's peering (another one acts) must not keep exporting the verdicts and
phases it last saw, since every replica is scraped and the alerts take the max over them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter
from kopf._core.intents.stoppers import DaemonStopper

from uplift_operator.handlers import campaign, observability, upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import PassResult
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import WriteBack

PAUSING = kopf.DaemonStoppingReason.OPERATOR_PAUSING
STATUS = {"phase": "Degraded", "message": "ProgressDeadlineExceeded: step 1/3 (10%) could not "
                                          "advance", "currentStep": 0,
          "stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10,
          "gates": [{"name": "g", "verdict": "Error", "time": "2024-05-01T10:00:00Z"}]}
#: Each kind's spec with gate g (each kind exports the gates its analyses measure: an
#: UpliftModel's while its canary is out, a Campaign's while a step is underway).
MODEL_SPEC = {"model": {"registeredModel": "m", "version": "1"}, "treatments": [{"name": "t"}],
              "rollout": {"steps": [{"weight": 10}],
                          "gates": [{"name": "g", "type": "custom", "query": "up", "max": 1}]}}
CAMPAIGN_SPEC = {"modelRef": {"name": "m"}, "treatments": [{"name": "t"}],
                 "experiment": {"holdoutFraction": 0.1, "unitKey": "u", "salt": "s"},
                 "economics": {"valuePerConversion": 1, "costPerTreatment": 0.1},
                 "exposure": {"steps": [{"percent": 5}],
                              "gates": [{"name": "g", "type": "deliveryRate", "min": 0.9}]}}


class Cluster:
    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                             "resourceVersion": "2"}, "status": dict(patch.get("status") or {})}

    def read_live(self, *_: str) -> dict[str, Any] | None:
        return None


def _series(kind: str) -> dict[str, float | None]:
    labels = {"kind": kind, "namespace": "ns", "name": "r"}
    sample = observability.REGISTRY.get_sample_value
    gate_type = "deliveryRate" if kind == "Campaign" else "custom"  # as each spec says
    return {"verdict": sample("uplift_operator_gate_verdict", {**labels, "gate": "g",
                                                                "type": gate_type,
                                                                "verdict": "Error"}),
            "phase": sample("uplift_operator_resource_phase", {**labels, "phase": "Degraded"}),
            "deadline": sample("uplift_operator_progress_deadline_exceeded", labels),
            "rollbacks": sample("uplift_operator_decisions_total", {**labels,
                                                                    "action": "RolledBack"}),
            "last_pass": sample("uplift_operator_last_pass_timestamp_seconds", labels)}


def _stop(kind: str, reason: kopf.DaemonStoppingReason | None, monkeypatch: pytest.MonkeyPatch,
          *, other_task: bool = False, audited: dict[str, Any] | None = None,
          write_back: WriteBack | None = None) -> dict[str, float | None]:
    """Run the kind's waiting task for one pass, then stop it as kopf does (its stopper set
    with ``reason``, then cancelled); the resource's series as the task left them, and in
    ``audited`` what the existence audit would compare with a LIST afterwards."""
    module: Any = upliftmodel if kind == "UpliftModel" else campaign
    monkeypatch.setattr(module.service, "reconcile", lambda *_, **__: PassResult(dict(STATUS), (), None))
    if kind == "UpliftModel":
        monkeypatch.setattr(module.service, "followed_alias", lambda *_: None)
        monkeypatch.setattr(module.service, "followed_versions", lambda *_: frozenset())
    else:
        monkeypatch.setattr(module, "campaign_dependencies", lambda _memo: None)
    key = (kind, "ns", "r")
    body = kopf.Body(cast(kopf.RawBody, {"metadata": {"name": "r", "namespace": "ns",
                                                      "uid": "u1", "resourceVersion": "1"},
                                         "spec": CAMPAIGN_SPEC if kind == "Campaign" else MODEL_SPEC}))
    stopper = DaemonStopper()

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            passes = PassRunner(kind, f"{kind.lower()}s", wakeups, pool, Cluster())
            memo = kopf.Memo(wakeups=wakeups, **{f"pass_runner_{kind}": passes},
                             uplift_dependencies=SimpleNamespace(
                                 resolver=Resolver(), unresolved=FailingSince(),
                                 decision_keys={}, decision_keys_recreated={},
                                 unwritten={}, unwritten_lock=threading.Lock(),
                                 write_back=write_back or WriteBack()))
            if other_task:
                wakeups.register(key, "u2")  # the name re-used by a new object
            task = asyncio.create_task(module.reconcile(body=body, memo=memo,
                                                        stopped=AsyncFlagWaiter(stopper)))
            for _ in range(300):
                if _series(kind)["verdict"] is not None:
                    break
                await asyncio.sleep(0.01)
            assert _series(kind)["verdict"] == 1 and _series(kind)["last_pass"] is not None
            stopper.set(reason=reason)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            if audited is not None:
                audited.update(wakeups.audited(kind))

    asyncio.run(run())
    series = _series(kind)
    observability.forget(kind, "ns", "r")
    return series


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_a_replica_paused_by_peering_exports_only_when_it_last_reconciled(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    series = _stop(kind, PAUSING, monkeypatch)
    assert series.pop("last_pass") is not None  # UpliftOperatorNotReconciling counts these
    assert series == {"verdict": None, "phase": None, "deadline": None, "rollbacks": None}


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_a_task_stopped_for_good_leaves_nothing(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    series = _stop(kind, kopf.DaemonStoppingReason.OPERATOR_EXITING, monkeypatch)
    assert set(series.values()) == {None}


def test_the_task_of_a_re_used_name_keeps_the_series(monkeypatch: pytest.MonkeyPatch) -> None:
    series = _stop("UpliftModel", kopf.DaemonStoppingReason.RESOURCE_DELETED, monkeypatch,
                   other_task=True)
    assert series["verdict"] == 1 and series["phase"] == 1


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_a_task_a_pause_ended_stays_audited_until_its_object_shows_again(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf lists on resume and starts a task per object it finds; one deleted during the pause
    gets no task and no DELETED event, so the existence audit must still compare it."""
    audited: dict[str, Any] = {}
    _stop(kind, PAUSING, monkeypatch, audited=audited)
    assert audited == {"u1": (kind, "ns", "r")}


@pytest.mark.parametrize("reason", [kopf.DaemonStoppingReason.OPERATOR_EXITING,
                                    kopf.DaemonStoppingReason.RESOURCE_DELETED])
def test_a_task_ended_otherwise_is_not_audited(reason: kopf.DaemonStoppingReason,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    audited: dict[str, Any] = {}
    _stop("Campaign", reason, monkeypatch, audited=audited)
    assert audited == {}
