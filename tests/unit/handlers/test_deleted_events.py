"""A deleted resource leaves nothing behind in the process, whichever of its DELETED event's
handlers kopf runs first (its ``forget`` or the watch's ``*_changed``: in the operator, kopf
runs a Campaign's ``forget`` first, the order that leaked)."""

from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest

from uplift_operator.adapters.mlflow_registry import RegistryNotFound
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import campaign, upliftmodel, watches
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.ports import Registry
from uplift_operator.services.writeback import Write, WriteBack

CASES = {
    "Campaign": ("campaigns", campaign.forget, watches.campaign_changed),
    "UpliftModel": ("upliftmodels", upliftmodel.forget, watches.model_changed),
}


@pytest.mark.parametrize("forget_first", [True, False])
@pytest.mark.parametrize("kind", list(CASES))
def test_a_deleted_event_leaves_no_signature(kind: str, forget_first: bool) -> None:
    plural, forget, changed = CASES[kind]
    key = (kind, "ns", "gone")
    wakeups = Wakeups()
    write_back = WriteBack()
    failing = Write(("role", "1"), "stable", _refused)
    write_back.submit(key, cast(Registry, None), ("http://mlflow", "", ""), "m", [failing])
    write_back.run_due()
    assert write_back.failure(key) is not None
    runner = PassRunner(kind, plural, wakeups, ThreadPoolExecutor(1), cluster=None)  # type: ignore[arg-type]
    memo = kopf.Memo(wakeups=wakeups, **{f"pass_runner_{kind}": runner},
                     watched_objects=WatchedObjects([plural]),
                     uplift_dependencies=SimpleNamespace(decision_keys={},
                                                         write_back=write_back))
    body: dict[str, Any] = {"apiVersion": "uplift.dev/v1alpha1", "kind": kind,
            "metadata": {"namespace": "ns", "name": "gone", "uid": "u1", "generation": 2,
                         "resourceVersion": "7"},
            "spec": {"modelRef": {"name": "m"}}, "status": {"phase": "Progressing"}}
    flag = wakeups.register(key, "u1")
    assert runner.signatures.changed(key, body)  # the object as its last event showed it
    runner.signatures.produced(key, body["status"])

    def run_forget() -> None:
        handler: Any = forget
        handler(meta=kopf.Body(cast(kopf.RawBody, body)).meta, memo=memo)

    def run_changed() -> None:
        handler: Any = changed
        result = handler(event={"type": "DELETED", "object": body},
                         body=kopf.Body(cast(kopf.RawBody, body)), memo=memo,
                         campaigns_by_model={})
        if inspect.iscoroutine(result):
            asyncio.run(result)

    for step in ((run_forget, run_changed) if forget_first else (run_changed, run_forget)):
        step()
    assert flag.finished
    assert key not in runner.signatures._seen and key not in runner.signatures._produced
    if kind == "UpliftModel":  # its MLflow write-back's failure is forgotten with it
        assert write_back.failure(key) is None


def _refused(registry: Any) -> None:
    raise RegistryNotFound("no such version", status_code=404)
