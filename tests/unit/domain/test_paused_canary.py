"""A paused ramp whose canary keeps its step's traffic while its graph fails (``ServingFailed``
True) or its roll did not serve (``ServingApplied`` False ``RollTimedOut``): an outage outranks
a pause. The phase stays Paused (a human's decision is awaited; the ramp's events and the
inconclusiveLimit alert read it), its message names the failure at once, after the pause's words,
the spec-stuck metric exports it (UpliftSpecNotTakingEffect) and Argo CD's health check reads it
Degraded (argocd/.../UpliftModel/testdata/paused-canary-failed.yaml and
paused-canary-roll-timed-out.yaml). Before, it read Paused with the pause's words alone,
Suspended, and no spec-stuck series, for as long as the pause lasted, whether a human paused it
(``spec.rollout.paused``) or an ``inconclusiveLimit`` did."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.api.v1alpha1.common import Condition, Phase
from uplift_operator.domain import stuck
from uplift_operator.handlers import observability

NOW = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)
SINCE = NOW - dt.timedelta(minutes=40)
HEALTH_TESTDATA = (Path(__file__).resolve().parents[3] / "argocd" / "resource_customizations"
                   / "uplift.dev" / "UpliftModel" / "testdata")
HELD = "canary 2 at step 2/3 (25%) held by spec.rollout.paused; gates are still evaluated"
INCONCLUSIVE = ("canary 2 at step 2/3 (25%) paused: gate online-effect inconclusive (3 times, "
                "inconclusiveLimit 3): resume with `kubectl uplift resume -n shop churn`")
FAILED = Condition(type="ServingFailed", status="True", reason="ServingBackendFailed",
                   message="canary 2 not serving: SeldonDeployment Failed: Deployment "
                           "churn-v2: CrashLoopBackOff",
                   last_transition_time=SINCE, observed_generation=3)
TIMED_OUT = Condition(type="ServingApplied", status="False", reason="RollTimedOut",
                      message="SeldonDeployment churn: its roll did not serve within 10m (not "
                              "rolled: churn-v2: 0 of 1 pods available)",
                      last_transition_time=SINCE, observed_generation=3)
READY = Condition(type="Ready", status="True", reason="StableServing", message=HELD,
                  last_transition_time=SINCE, observed_generation=3)


def _status(published: stuck.Published, problem: Condition) -> dict[str, Any]:
    """The status as the API server returns it (what the metric and the health check read)."""
    assert published.phase is not None
    return {"phase": published.phase.value, "message": published.message,
            "observedGeneration": 3, "stableVersion": "1", "stableServedVersion": "1",
            "canaryVersion": "2", "canaryWeight": 25,
            "conditions": [json.loads(c.model_dump_json(by_alias=True, exclude_none=True))
                           for c in (problem, READY)]}


@pytest.mark.parametrize("problem", [FAILED, TIMED_OUT], ids=["failed", "roll-timed-out"])
@pytest.mark.parametrize("said", [HELD, INCONCLUSIVE], ids=["spec-paused", "inconclusive"])
@pytest.mark.parametrize("held_for", [dt.timedelta(0), dt.timedelta(hours=1)],
                         ids=["at-once", "an-hour-on"])
def test_a_paused_canary_s_failure_is_named_after_the_pause_s_words_the_phase_kept(
        problem: Condition, said: str, held_for: dt.timedelta) -> None:
    now = SINCE + held_for
    published = stuck.model_phase(Phase.PAUSED, said, [problem, READY], "10m", now)
    named = (f"{problem.type} {problem.status} ({problem.reason}) since {SINCE.isoformat()}: "
             f"{problem.message}")
    assert published == stuck.Published(Phase.PAUSED, f"{said}; {named}")
    status = _status(published, problem)
    assert observability.spec_stuck("UpliftModel", status) == problem.reason
    # Still paused by its gate, as the inconclusiveLimit alert reads it.
    assert observability.paused_by_inconclusive_gate(status, "online-effect") is (
        said == INCONCLUSIVE)


def test_a_paused_ramp_s_message_is_the_same_at_every_pass_and_the_pause_s_once_it_clears(
        ) -> None:
    first = stuck.model_phase(Phase.PAUSED, HELD, [FAILED, READY], None, NOW)
    assert stuck.model_phase(Phase.PAUSED, HELD, [FAILED, READY], None,
                             NOW + dt.timedelta(days=3)) == first
    recovered = FAILED.model_copy(update={"status": "False", "reason": "ServingRecovered"})
    assert stuck.model_phase(Phase.PAUSED, HELD, [recovered, READY], None, NOW) == (
        stuck.Published(Phase.PAUSED, HELD))


def test_a_paused_status_that_does_not_name_the_failure_holds_no_spec_back() -> None:
    """A status an earlier operator wrote (the pause's words alone), or a refused graph under a
    pause (no outage: the pause waits for its human): no series."""
    bare = _status(stuck.Published(Phase.PAUSED, HELD), FAILED)
    assert observability.spec_stuck("UpliftModel", bare) is None
    refused = FAILED.model_copy(update={"type": "ServingApplied", "status": "False",
                                        "reason": "ApplyFailed"})
    published = stuck.model_phase(Phase.PAUSED, HELD, [refused, READY], None, NOW)
    assert published == stuck.Published(Phase.PAUSED, HELD)
    assert observability.spec_stuck("UpliftModel", _status(published, refused)) is None


@pytest.mark.parametrize(("name", "problem", "said"), [
    ("paused-canary-failed.yaml", FAILED, HELD),
    ("paused-canary-roll-timed-out.yaml", TIMED_OUT, INCONCLUSIVE),
])
def test_the_health_check_s_testdata_is_this_status(name: str, problem: Condition,
                                                    said: str) -> None:
    """argocd/.../UpliftModel/health_test.yaml: Degraded (an outage outranks a pause)."""
    published = stuck.model_phase(Phase.PAUSED, said, [problem, READY], None, NOW)
    body = yaml.safe_load((HEALTH_TESTDATA / name).read_text())
    assert body["status"] == _status(published, problem)
