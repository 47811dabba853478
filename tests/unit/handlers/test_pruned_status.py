"""A status write the API server answers without some of the fields sent (its CRD is older than
the operator and prunes them) is counted per field and said once in the log; the passes after
neither write those fields again nor take the echo of the write for someone else's edit, until
it is time to try them again."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest

from uplift_operator.handlers import common, observability
from uplift_operator.handlers.common import PassRunner, PrunedFields
from uplift_operator.handlers.scheduling import Wakeups, run_passes
from uplift_operator.services.common import PassResult


class OldCrd:
    """Answers a status write as an API server whose schema lacks ``resumedAt`` would."""

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        kept = {key: value for key, value in patch.items() if key != "resumedAt"}
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                             "resourceVersion": "2"}, "status": kept}

    def read_live(self, *_: str) -> dict[str, Any] | None:
        return None


def _pruned() -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_status_fields_pruned_total",
        {"kind": "UpliftModel", "field": "status.resumedAt"}) or 0.0


def test_a_pruned_status_field_is_counted_and_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    before = _pruned()

    async def passes() -> None:
        with ThreadPoolExecutor(1) as pool:
            # Sent at every write (no wait before sending it again): counted each time.
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, OldCrd(),
                                pruned=PrunedFields(retry_seconds=0.0))
            for rv, phase in (("1", "Progressing"), ("3", "Paused")):
                body = kopf.Body(cast(kopf.RawBody, {"metadata": {
                    "name": "r", "namespace": "ns", "uid": "u1", "resourceVersion": rv}}))
                await runner.run_once(
                    ("UpliftModel", "ns", "r"), body,
                    lambda *_, p=phase: PassResult(
                        {"phase": p, "resumedAt": "2026-12-05T00:00:00Z"}, (), None),
                    lambda *_: None)

    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.common"):
        asyncio.run(passes())
    assert _pruned() - before == 2
    said = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(said) == 1 and "status.resumedAt" in said[0] and "older" in said[0]
    observability.forget("UpliftModel", "ns", "r")


class StoredOldCrd:
    """An API server holding one object, whose CRD prunes ``resumedAt`` until ``upgraded``."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.version, self.writes, self.upgraded = 1, 0, False

    def body(self) -> dict[str, Any]:
        return {"metadata": {"name": "r", "namespace": "ns", "uid": "u1", "generation": 1,
                             "resourceVersion": str(self.version)},
                "status": copy.deepcopy(self.status)}

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        self.writes += 1
        for key, value in patch.items():
            if value is None:
                self.status.pop(key, None)
            elif key != "resumedAt" or self.upgraded:
                self.status[key] = value
        self.version += 1
        return self.body()

    def read_live(self, *_: str) -> dict[str, Any] | None:
        return self.body()


_KEY = ("UpliftModel", "ns", "r")
_DECIDED = {"phase": "Healthy", "resumedAt": "2026-12-05T00:00:00Z"}


def test_a_pruned_field_is_not_written_at_every_pass_and_its_echo_wakes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reviewer's loop: each pass wrote the pruned field again, and the echo of each write,
    lacking it, read as someone else's status edit and woke the next pass (59 writes in 3 s at
    rest). Now the echo is the pass's own, and the passes after leave the field out until
    ``PRUNED_RETRY_SECONDS``; then it is sent again, once: a CRD upgraded meanwhile keeps it."""
    t0 = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    clock = {"now": t0}
    monkeypatch.setattr(common, "now", lambda: clock["now"])
    cluster = StoredOldCrd()

    async def passes() -> list[tuple[int, bool]]:
        seen: list[tuple[int, bool]] = []  # (writes so far, whether the echo woke a pass)
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
            runner.signatures.changed(_KEY, cluster.body())
            for minutes in (0, 1, 2, "upgrade", 9, 11, 12, 30):
                if minutes == "upgrade":
                    cluster.upgraded = True
                    continue
                assert isinstance(minutes, int)
                clock["now"] = t0 + dt.timedelta(minutes=minutes)
                body = kopf.Body(cast(kopf.RawBody, cluster.body()))
                await runner.run_once(_KEY, body, lambda *_: PassResult(dict(_DECIDED), (), None),
                                      lambda *_: None)
                seen.append((cluster.writes, runner.signatures.changed(_KEY, cluster.body())))
        return seen

    seen = asyncio.run(passes())
    # Written once (pruned), then not again while the CRD is outdated nor, after its upgrade,
    # until the retry at 10 min; then once, kept; then never again. No echo woke a pass.
    assert seen == [(1, False), (1, False), (1, False), (1, False), (2, False), (2, False),
                    (2, False)]
    assert cluster.status == _DECIDED
    observability.forget("UpliftModel", "ns", "r")


def test_a_pruned_field_still_outdated_at_the_retry_is_left_out_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    clock = {"now": t0}
    monkeypatch.setattr(common, "now", lambda: clock["now"])
    cluster = StoredOldCrd()

    async def passes() -> list[int]:
        writes: list[int] = []
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster)
            for minutes in (0, 5, 10, 15, 19, 20):
                clock["now"] = t0 + dt.timedelta(minutes=minutes)
                body = kopf.Body(cast(kopf.RawBody, cluster.body()))
                await runner.run_once(_KEY, body, lambda *_: PassResult(dict(_DECIDED), (), None),
                                      lambda *_: None)
                writes.append(cluster.writes)
        return writes

    assert asyncio.run(passes()) == [1, 1, 2, 2, 2, 3]
    assert "resumedAt" not in cluster.status
    observability.forget("UpliftModel", "ns", "r")


def test_a_pass_at_rest_writes_a_pruned_status_once() -> None:
    """The reviewer's harness: real waiting task, watch echo of each write delivered as
    ``handlers.watches`` does. Before: a write every pass, some 20 a second."""
    cluster = StoredOldCrd()
    decided = 0

    def decide(*_: Any) -> PassResult:
        nonlocal decided
        decided += 1
        return PassResult(dict(_DECIDED), (), None)

    async def at_rest() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(2) as pool:
            wakeups = Wakeups()

            class Echoing(StoredOldCrd):
                def patch_status(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
                    written = cluster.patch_status(*args, **kwargs)
                    body._replace_with(copy.deepcopy(written))
                    loop.call_soon_threadsafe(deliver, copy.deepcopy(written))
                    return written

            runner = PassRunner("UpliftModel", "upliftmodels", wakeups, pool, Echoing())

            def deliver(obj: dict[str, Any]) -> None:
                runner.own_writes.caught_up("u1", obj)
                if runner.signatures.changed(_KEY, obj):
                    wakeups.wake(_KEY)

            body = kopf.Body(cast(kopf.RawBody, cluster.body()))
            deliver(cluster.body())
            task = asyncio.create_task(run_passes(
                _KEY, wakeups, lambda: runner.run_once(_KEY, body, decide, lambda *_: None),
                uid="u1"))
            await asyncio.sleep(1.0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(at_rest())
    assert cluster.writes == 1
    assert decided <= 2  # the first pass, and one the echo may wake before the write returns
    observability.forget("UpliftModel", "ns", "r")


def test_the_expected_status_leaves_out_pruned_fields_at_any_depth() -> None:
    t0 = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    pruned = PrunedFields()
    status: dict[str, Any] = {"phase": "Healthy", "resumedAt": "x",
              "gates": [{"name": "a", "settingsDigest": "d1"}, {"name": "b"}, "odd"],
              "canary": {"evidence": {"n": 1, "lr": 0.5}}}
    assert pruned.expected(status, t0) == status
    pruned.found(["status.gates[].settingsDigest", "status.canary.evidence.lr",
                  "status.resumedAt"], t0)
    assert pruned.expected(status, t0 + dt.timedelta(seconds=599)) == {
        "phase": "Healthy", "gates": [{"name": "a"}, {"name": "b"}, "odd"],
        "canary": {"evidence": {"n": 1}}}
    assert status["gates"][0] == {"name": "a", "settingsDigest": "d1"}  # not changed in place
    assert pruned.expected(status, t0 + dt.timedelta(seconds=600)) == status
    assert pruned.paths == frozenset()
