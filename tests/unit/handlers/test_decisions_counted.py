"""``uplift_operator_decisions_total`` counts a ramp's decisions, not what the services tell of a
condition: a refused apply of the serving graph, an invalid spec, a model reference that does
not resolve, a failed serving graph each raised an ``action`` series of their own (the services'
``Event`` counted unless told otherwise), which a dashboard summing the counter read as
decisions."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import kopf
import pytest
from prometheus_client import generate_latest
from tests.unit.services.test_stuck_phase import SCENARIOS

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.steps import Reason
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import upliftmodel as svc
from uplift_operator.services.common import Event, PassResult, invalid_pass

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def decision_series(name: str) -> dict[str, float]:
    """The resource's decisions series on /metrics: action → value."""
    found: dict[str, float] = {}
    for line in generate_latest(observability.REGISTRY).decode().splitlines():
        if line.startswith("uplift_operator_decisions_total{") and f'name="{name}"' in line:
            action = line.split('action="', 1)[1].split('"', 1)[0]
            found[action] = float(line.rsplit(" ", 1)[1])
    return found


def one_pass(name: str, events: tuple[Event, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "event", lambda _body, **_event: None)
    body = kopf.Body({"metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}"},
                      "status": {"phase": "Progressing"}})

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster=None)  # type: ignore[arg-type]
            await runner.run_once(("UpliftModel", "ns", name), body,
                                  lambda *_: PassResult({"phase": "Progressing"}, events, None),
                                  lambda *_: None)

    asyncio.run(run())


class _Refused:
    """What ``_apply_failed`` reads of the serving graph's apply."""

    roll_timed_out = None
    error = "admission webhook denied the request"


def test_a_pass_with_only_apply_failed_or_invalid_spec_adds_no_decision_series(
        monkeypatch: pytest.MonkeyPatch) -> None:
    refused = cond.set_condition([], type_=cond.SERVING_APPLIED, status="False",
                                 reason=cond.APPLY_FAILED, message="refused", now=NOW,
                                 observed_generation=1)
    apply_failed = tuple(svc._apply_failed([], refused, _Refused()))  # type: ignore[arg-type]
    invalid = invalid_pass(UpliftModelStatus(), 2, ["spec.rollout.steps: bad"], NOW).events
    assert [e.reason for e in apply_failed] == [cond.APPLY_FAILED]
    assert [e.reason for e in invalid] == ["InvalidSpec"]
    for name, events in (("refused", apply_failed), ("invalid", invalid)):
        one_pass(name, events, monkeypatch)
        # No series: none is created at 0, and these are no decisions.
        assert decision_series(name) == {}, name
        observability.forget("UpliftModel", "ns", name)


@pytest.mark.parametrize("name", SCENARIOS)
def test_what_a_model_problem_tells_is_no_decision(name: str) -> None:
    """Whole UpliftModel passes, a version typo (ModelNotFound), an apply refused (ApplyFailed)
    and a serving graph failed (ServingFailed): the events counted are the ramp's decisions
    only (a domain ``Reason``), the condition's own are told and not counted."""
    scenario, says, _ = SCENARIOS[name]
    sim, _ = scenario()
    events = [e for r in sim.results for e in r.events]
    counted = {e.reason for e in events if e.decision}
    assert counted <= {r.value for r in Reason}, counted - {r.value for r in Reason}
    told = {e.reason for e in events if not e.decision}
    condition_reason = says.split("(", 1)[1].split(")", 1)[0]  # e.g. ModelNotFound
    event_reason = {"ServingBackendFailed": cond.SERVING_FAILED}.get(condition_reason,
                                                                     condition_reason)
    assert event_reason in told, (event_reason, told)
