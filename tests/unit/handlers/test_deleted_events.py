"""A deleted resource leaves nothing behind in the process, whichever of its DELETED event's
handlers kopf runs first (its ``forget`` or the watch's ``*_changed``: in the operator, kopf
runs a Campaign's ``forget`` first, the order that leaked)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from tests.unit.handlers.invoking import invoke, invoke_now

from uplift_operator.adapters.mlflow_registry import RegistryRequestError
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import campaign, upliftmodel, watches
from uplift_operator.handlers.common import PassRunner, now
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.ports import Registry
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.rolls import Rolls
from uplift_operator.services.writeback import AliasClaims, Write, WriteBack

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
    # It holds the one slot of the graphs rolling at once; another model's re-render waits.
    rolls = Rolls(limit=1)
    at = now()
    assert rolls.admit(key, at).admitted and not rolls.admit((kind, "ns", "next"), at).admitted
    # It follows its stable version, whose facts and contract the resolver keeps meanwhile.
    resolver = Resolver()
    resolver.follow_versions(key, {(("http://mlflow", "", ""), "m", "1")})
    # Its reference has not resolved for a while: its retries back off from then.
    unresolved = FailingSince()
    unresolved.failing(key, "RegistryUnavailable", at)
    runner = PassRunner(kind, plural, wakeups, ThreadPoolExecutor(1), cluster=None)  # type: ignore[arg-type]
    memo = kopf.Memo(wakeups=wakeups, **{f"pass_runner_{kind}": runner},
                     watched_objects=WatchedObjects([plural]), pass_executor=ThreadPoolExecutor(1),
                     uplift_dependencies=SimpleNamespace(decision_keys={}, decision_keys_recreated={},
                                                         unwritten={}, unwritten_lock=threading.Lock(),
                                                         write_back=write_back, rolls=rolls,
                                                         alias_claims=AliasClaims(),
                                                         resolver=resolver,
                                                         unresolved=unresolved))
    body: dict[str, Any] = {"apiVersion": "uplift.dev/v1alpha1", "kind": kind,
            "metadata": {"namespace": "ns", "name": "gone", "uid": "u1", "generation": 2,
                         "resourceVersion": "7"},
            "spec": {"modelRef": {"name": "m"}}, "status": {"phase": "Progressing"}}
    flag = wakeups.register(key, "u1")
    assert runner.signatures.changed(key, body)  # the object as its last event showed it
    runner.signatures.produced(key, body["status"])

    def run_forget() -> None:  # as kopf runs it: a plain function would raise on the loop
        seen = kopf.Body(cast(kopf.RawBody, body))
        invoke_now(forget, meta=seen.meta, body=seen, memo=memo)

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
        # and its slot freed: the re-render waiting is the one the slot is kept for now
        assert (rolls.rolling(), rolls.waiting()) == (0, 1)
        assert rolls.admit((kind, "ns", "next"), at).admitted
        # and the versions it followed are no longer kept for it
        assert resolver._followed == {}
        assert len(unresolved) == 0  # nor since when its reference did not resolve


def _refused(registry: Any) -> None:
    # A request MLflow rejects for good: dropped, and a failure kept for the model (a
    # version MLflow no longer has is nothing to write, not a failure: 67792dd1).
    raise RegistryRequestError("bad tag for version 1", status_code=400)


def test_an_upliftmodel_deleted_while_its_pass_decides_leaves_nothing_followed() -> None:
    """Its DELETED event is handled while the pass waits on MLflow: the pass, finishing after
    ``forget``, followed the alias again (the poller kept its cadence for it) and recorded its
    decision key; the task's end now drops both."""
    import time

    from tests.unit.services.fakes import FakeCluster, FakeRegistry

    from uplift_operator.adapters.kube import KubeError
    from uplift_operator.domain.templates import BUILTIN_TEMPLATES
    from uplift_operator.handlers.common import runner
    from uplift_operator.handlers.watches import alias_followers
    from uplift_operator.render.seldon import SeldonV1Backend
    from uplift_operator.services import upliftmodel as service

    class Gone(FakeCluster):
        def patch_status(self, *a: Any, **k: Any) -> dict[str, Any]:
            raise KubeError("not found", 404)

        def read_live(self, *a: Any, **k: Any) -> None:
            return None

    class Slow(FakeRegistry):
        def resolve(self, *a: Any, **k: Any) -> Any:
            time.sleep(0.2)
            return super().resolve(*a, **k)

    registry = Slow()
    registry.add("m", "1")
    registry.aliases[("m", "champion")] = "1"

    async def scenario() -> tuple[int, int, int]:
        deps = service.Dependencies(
            cluster=Gone(), backend=SeldonV1Backend(), registry_for=lambda ref, c: registry,
            prometheus=None, metric_templates=BUILTIN_TEMPLATES, runtime_image="r:1",
            default_tracking_uri="http://mlflow")
        memo = kopf.Memo(uplift_dependencies=deps, wakeups=Wakeups(),
                         pass_executor=ThreadPoolExecutor(2))
        runner(memo, upliftmodel.KIND, upliftmodel.PLURAL)
        followers = alias_followers(memo)
        raw = {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
               "metadata": {"namespace": "ns", "name": "um", "uid": "u1", "generation": 1,
                            "resourceVersion": "1", "annotations": {}},
               "spec": {"model": {"registeredModel": "m", "alias": "champion"},
                        "treatments": [{"name": "email"}],
                        "rollout": {"steps": [{"weight": 10}], "gates": [
                            {"name": "p", "type": "custom", "query": "q", "max": 1}]}},
               # serving version 1: its pass follows it (the resolver keeps its facts)
               "status": {"phase": "Healthy", "stableVersion": "1", "desiredVersion": "1"}}
        body = kopf.Body(cast(kopf.RawBody, raw))
        handler: Any = upliftmodel.reconcile
        task = asyncio.create_task(handler(body=body, memo=memo))
        await asyncio.sleep(0.05)  # its first pass waits on MLflow now
        await invoke(upliftmodel.forget, meta=body.meta, body=body, memo=memo)  # DELETED event
        await asyncio.wait_for(task, timeout=30)
        passes = runner(memo, upliftmodel.KIND, upliftmodel.PLURAL)
        # Nor its status signature, recorded after ``forget`` as well (one per deleted model).
        assert passes.signatures._produced == {}
        return len(followers.followers(
            (("http://mlflow", "", ""), "m", "champion"))), len(deps.decision_keys), len(
            deps.resolver._followed)  # nor the versions its pass followed

    assert asyncio.run(scenario()) == (0, 0, 0)
