"""The ``campaign`` label of rows scored and duplicate reports, through the runtime in-process.

``UpliftRuntime`` is loaded as MLServer loads it (settings, ``load``), with a small model and a
campaigns file; requests and reports go through its ``predict``/``outcomes`` methods, and the
counters are read from the process-wide registry the metrics port serves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY
from starlette.requests import Request
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.events import Signer, UnitCache
from uplift_operator.runtime.runtime import (
    FORGET_AFTER_SECONDS,
    INFER_ERROR_REASONS,
    UpliftError,
    UpliftRuntime,
)

NAME, VERSION, CAMPAIGN = "label-test", "7", "spring-email"
DECISION_KEY = "label-test-decision-key-0123456789abcdef"
BASE = {"model": NAME, "version": VERSION}




@dataclass
class Loaded:
    runtime: UpliftRuntime
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def decide(self, units: list[str], campaign: str | None = None) -> dict[str, list[Any]]:
        n = len(units)
        body: dict[str, Any] = {"inputs": [
            {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
            {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
            {"name": "customer_id" if campaign else "unit_id", "datatype": "BYTES",
             "shape": [n], "data": units}]}
        if campaign is not None:
            body["parameters"] = {"campaign": campaign}
        response = self.run(self.runtime.predict(InferenceRequest.model_validate(body)))
        return {o.name: list(o.data.root) for o in response.outputs}

    def report_outcomes(self, decision_ids: list[str], converted: bool = True) -> dict[str, Any]:
        return self.report([{"decision_id": d, "converted": converted} for d in decision_ids])

    def report(self, outcomes: list[dict[str, Any]],
               endpoint: str = "outcomes") -> dict[str, Any]:
        data = json.dumps({endpoint: outcomes}).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/",
                           "query_string": b""}, receive)
        handler = self.runtime.outcomes if endpoint == "outcomes" else self.runtime.deliveries
        answer: dict[str, Any] = self.run(handler(request))
        return answer


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    root = tmp_path_factory.mktemp("runtime")
    train_small_model(root / "model")
    campaigns = root / "campaigns.json"
    campaigns.write_text(json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": {
        CAMPAIGN: {"generation": 1, "salt": "t/spring-email", "unitKey": "customer_id",
                   "holdoutFraction": 0.2, "exposurePercent": 100,
                   "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
                   "policy": {"type": "upliftThreshold", "minUplift": -1.0},
                   "attributionWindowSeconds": 86400, "active": True}}}))
    env = {"UPLIFT_CAMPAIGNS_FILE": str(campaigns),
           "UPLIFT_DECISION_KEY": DECISION_KEY,
           "UPLIFT_MODEL_VERSION": VERSION,
           drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime(NAME, root / "model", env) as (runtime, loop):
        yield Loaded(runtime, loop)


def value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {**BASE, **labels})


def campaign_values(metric: str) -> set[str]:
    return {s.labels["campaign"] for family in REGISTRY.collect() for s in family.samples
            if s.name == metric and s.labels.get("model") == NAME}


def test_rows_scored_per_campaign_from_zero(loaded: Loaded) -> None:
    # Exported at zero once the campaign is configured (a series born inside a range loses
    # its first increments), before any request.
    before = value("uplift_rows_scored_total", campaign=CAMPAIGN)
    assert before is not None
    plain = value("uplift_rows_scored_total", campaign="") or 0.0
    loaded.decide(["a1", "a2", "a3"])
    loaded.decide([f"c{i}" for i in range(4)], CAMPAIGN)
    assert value("uplift_rows_scored_total", campaign="") == plain + 3
    assert value("uplift_rows_scored_total", campaign=CAMPAIGN) == before + 4
    # A name not in the file is refused before scoring: it never becomes a label value.
    with pytest.raises(UpliftError):
        loaded.decide(["u"], "no-such-campaign")
    assert campaign_values("uplift_rows_scored_total") == {"", CAMPAIGN}


def test_every_infer_error_reason_is_counted_from_zero(loaded: Loaded) -> None:
    # The errorRate gate sums these over a range: a reason first counted inside it would lose
    # its first errors, and a canary failing in a way the stable does not would read better.
    for reason in INFER_ERROR_REASONS:
        assert value("uplift_request_errors_total", endpoint="infer", reason=reason) is not None
    before = value("uplift_request_errors_total", endpoint="infer", reason="unknown_campaign")
    with pytest.raises(UpliftError):
        loaded.decide(["u"], "no-such-campaign")
    after = value("uplift_request_errors_total", endpoint="infer", reason="unknown_campaign")
    assert after == (before or 0.0) + 1
    refused = {s.labels["reason"] for family in REGISTRY.collect() for s in family.samples
               if s.name == "uplift_request_errors_total" and s.labels.get("model") == NAME
               and s.labels.get("endpoint") == "infer"}
    assert refused <= set(INFER_ERROR_REASONS)  # no reason the startup missed


def test_duplicate_reports_are_counted_under_their_decisions_campaign(loaded: Loaded) -> None:
    for endpoint in ("deliveries", "outcomes"):
        assert value("uplift_duplicate_reports_total", endpoint=endpoint,
                     campaign=CAMPAIGN) is not None
    in_campaign = loaded.decide([f"d{i}" for i in range(4)], CAMPAIGN)["decision_id"]
    plain = loaded.decide(["p1", "p2"])["decision_id"]
    before = {c: value("uplift_duplicate_reports_total", endpoint="outcomes", campaign=c) or 0.0
              for c in ("", CAMPAIGN)}
    first = loaded.report_outcomes([*in_campaign, *plain])
    assert (first["counted"], first["duplicates"]) == (6, 0)
    again = loaded.report_outcomes([*in_campaign[:3], plain[0]])  # a sender's retry
    assert (again["accepted"], again["counted"], again["duplicates"]) == (4, 0, 4)
    assert value("uplift_duplicate_reports_total", endpoint="outcomes",
                 campaign=CAMPAIGN) == before[CAMPAIGN] + 3
    assert value("uplift_duplicate_reports_total", endpoint="outcomes",
                 campaign="") == before[""] + 1
    assert campaign_values("uplift_duplicate_reports_total") <= {"", CAMPAIGN}


def conversions(campaign: str) -> float:
    return sum(value("uplift_conversions_total", campaign=campaign, arm=arm, treatment=key)
               or 0.0 for arm in ("holdout", "treated", "unexposed")
               for key in ("womens_e_mail", "mens_e_mail", "none"))


def test_an_outcome_that_disagrees_with_the_one_counted_is_a_conflict(loaded: Loaded) -> None:
    """First report wins — a counter cannot take back what it counted — but a later report
    that says otherwise (another converted or value) is no silent duplicate: the answer says
    ``conflicts`` and ``uplift_report_conflicts_total`` counts it under its decision's
    campaign, exported at zero from load (a campaign's from when it is configured)."""
    for campaign in ("", CAMPAIGN):
        assert value("uplift_report_conflicts_total", endpoint="outcomes",
                     campaign=campaign) is not None
    ids = loaded.decide([f"k{i}" for i in range(4)], CAMPAIGN)["decision_id"]
    plain = loaded.decide(["kp"])["decision_id"]
    assert loaded.report_outcomes([*ids, *plain], converted=False)["counted"] == 5
    before = {c: (value("uplift_report_conflicts_total", endpoint="outcomes", campaign=c) or 0.0,
                  value("uplift_duplicate_reports_total", endpoint="outcomes", campaign=c) or 0.0,
                  conversions(c)) for c in ("", CAMPAIGN)}
    answer = loaded.report([
        *({"decision_id": d, "converted": True} for d in ids[:3]),     # disagree
        {"decision_id": ids[3], "converted": False},                  # the same again
        {"decision_id": plain[0], "converted": False, "value": 9.5}])  # another value
    # Conflicts are duplicates (counted + duplicates = accepted, as senders rely on) that say
    # so apart.
    assert answer == {"accepted": 5, "counted": 0, "duplicates": 5, "conflicts": 4}
    after = {c: (value("uplift_report_conflicts_total", endpoint="outcomes", campaign=c),
                 value("uplift_duplicate_reports_total", endpoint="outcomes", campaign=c),
                 conversions(c)) for c in ("", CAMPAIGN)}
    assert after[CAMPAIGN] == (before[CAMPAIGN][0] + 3, before[CAMPAIGN][1] + 4,
                               before[CAMPAIGN][2])  # the first report stands
    assert after[""] == (before[""][0] + 1, before[""][1] + 1, before[""][2])
    # Still the first one compared with: the same as it is a duplicate, whatever came between.
    assert loaded.report_outcomes(ids[:1], converted=False) == {
        "accepted": 1, "counted": 0, "duplicates": 1}


def test_a_misspelt_outcome_is_refused_and_its_corrected_resend_counted(loaded: Loaded) -> None:
    """The review's t1.py through the endpoint: ``conversion`` for ``converted`` was read as a
    non-conversion worth 42 and counted, so the corrected resend was a conflict, never counted.
    Now the whole body is refused (400, naming the item and the field), nothing counted, and
    the resend is the decision's first report."""
    ids = loaded.decide(["typo-1", "typo-2"], CAMPAIGN)["decision_id"]
    before = (conversions(CAMPAIGN), value("uplift_report_conflicts_total", endpoint="outcomes",
                                           campaign=CAMPAIGN) or 0.0)
    refused = value("uplift_request_errors_total", endpoint="outcomes", reason="bad_report")
    for body in ([{"decision_id": ids[0], "converted": True},
                  {"decision_id": ids[1], "conversion": True, "value": 42.0}],
                 [{"decision_id": ids[0], "converted": True}, {"decision_id": ids[1]}]):
        with pytest.raises(UpliftError, match=r"outcomes\[1\]") as error:
            loaded.report(body)
        assert error.value.status_code == 400
    assert value("uplift_request_errors_total", endpoint="outcomes",
                 reason="bad_report") == (refused or 0.0) + 2
    assert conversions(CAMPAIGN) == before[0]   # the good item of a refused body neither
    answer = loaded.report([{"decision_id": d, "converted": True, "value": 42.0} for d in ids])
    assert answer == {"accepted": 2, "counted": 2, "duplicates": 0}
    assert conversions(CAMPAIGN) == before[0] + 2
    assert value("uplift_report_conflicts_total", endpoint="outcomes",
                 campaign=CAMPAIGN) == before[1]


def test_the_review_repro_without_a_token_the_pre_emption_is_no_longer_silent(
        loaded: Loaded) -> None:
    """/tmp/review-sec (no report token configured): a third party posts ``converted: false``
    by unit id first; the sender's conversions are not counted (first report wins), but they
    are answered and counted as conflicts, which an alert can see, not as mere duplicates."""
    units = [f"cust-{i}" for i in range(5)]
    ids = loaded.decide(units)["decision_id"]
    attacker = loaded.report([{"unit_id": u, "converted": False} for u in units])
    assert attacker == {"accepted": 5, "counted": 5, "duplicates": 0}
    conflicts = value("uplift_report_conflicts_total", endpoint="outcomes", campaign="") or 0.0
    legit = loaded.report_outcomes(ids)
    assert legit == {"accepted": 5, "counted": 0, "duplicates": 5, "conflicts": 5}
    assert value("uplift_report_conflicts_total", endpoint="outcomes",
                 campaign="") == conflicts + 5


def test_in_a_canary_the_models_decisions_count_as_cohorts_once_their_window_closed(
        loaded: Loaded) -> None:
    """The onlineEffect gate's counts: a decision and its in-window conversion are counted
    together, when the decision's attribution window closes; not the unit when decided and
    its conversion when reported (which mixes the conversions of earlier decisions in)."""
    runtime = loaded.runtime
    kinds, keys = ("expected", "received", "converted"), ("womens_e_mail", "mens_e_mail", "none")
    # Exported at zero from load, per arm and treatment, as the gate's increase() needs.
    assert all(value(f"uplift_outcomes_{kind}_total", campaign="", arm=arm, treatment=key)
               is not None for kind in kinds for arm in ("holdout", "treated") for key in keys)

    def cohort_count(kind: str, arm: str) -> float:
        return sum(value(f"uplift_outcomes_{kind}_total", campaign="", arm=arm,
                         treatment=key) or 0.0 for key in keys)

    cohort = {arm: {kind: cohort_count(kind, arm) for kind in kinds}
              for arm in ("holdout", "treated")}
    treated_by_key = {key: value("uplift_outcomes_expected_total", campaign="", arm="treated",
                                 treatment=key) or 0.0 for key in keys}
    windowed = {arm: sum(value("uplift_windowed_decisions_total", campaign="", arm=arm,
                               treatment=key) or 0.0 for key in keys)
                for arm in ("holdout", "treated")}
    assert runtime._watch is not None
    path = Path(runtime._watch.path)
    original = path.read_text()
    document = json.loads(original)
    document["split"] = {"stable": VERSION, "canary": None, "canaryPercent": 0,
                         "attributionWindowSeconds": 5}
    path.write_text(json.dumps(document))
    try:
        runtime._campaign_tick(time.time())  # the canary's split, with the model's window
        decided = loaded.decide([f"cohort-{i}" for i in range(40)])
        ids, arms = decided["decision_id"], decided["arm"]
        assert all(d.split("~")[4] == "" and d.split("~")[6] == "5" for d in ids)
        # Counted when decided as well, in a counter a restart does not lose pending.
        for arm in ("holdout", "treated"):
            assert sum(value("uplift_windowed_decisions_total", campaign="", arm=arm,
                             treatment=key) or 0.0 for key in keys) == \
                windowed[arm] + arms.count(arm)
        assert loaded.report_outcomes(ids[:10])["counted"] == 10
        runtime._campaign_tick(time.time())  # the window is still open: nothing yet
        assert all(cohort_count(kind, arm) == before
                   for arm, counts in cohort.items() for kind, before in counts.items())
        runtime._campaign_tick(time.time() + 7)  # closed on every decision of the batch
        for arm in ("holdout", "treated"):
            units = arms.count(arm)
            converted = arms[:10].count(arm)
            assert cohort_count("expected", arm) == cohort[arm]["expected"] + units
            for kind in ("received", "converted"):
                assert cohort_count(kind, arm) == cohort[arm][kind] + converted
        # Under the treatment the policy chose, as the assignments are.
        chosen = decided["policy_treatment"]
        for key in set(chosen):
            assert value("uplift_outcomes_expected_total", campaign="", arm="treated",
                         treatment=key) == pytest.approx(
                treated_by_key[key] + sum(1 for a, k in zip(arms, chosen, strict=True)
                                      if a == "treated" and k == key))
    finally:
        path.write_text(original)
        runtime._campaign_tick(time.time())
    # Without a split (no canary) the model's decisions carry no window, as before.
    assert len(loaded.decide(["after"])["decision_id"][0].split("~")) == 4


def test_a_non_conversion_is_never_late_and_completes_its_cohort(
        loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """That no conversion came within the window is known only once it closed: a sender
    reporting it then must count towards the cohort's completeness, not as late (which held
    the Campaign gates on "outcomes incomplete" for every sender that reports them so)."""
    runtime = loaded.runtime
    keys = ("womens_e_mail", "mens_e_mail", "none")

    def total(metric: str) -> float:
        return sum(value(metric, campaign=CAMPAIGN, arm=arm, treatment=key) or 0.0
                   for arm in ("holdout", "treated") for key in keys)

    assert runtime._watch is not None
    path = Path(runtime._watch.path)
    original = path.read_text()
    document = json.loads(original)
    document["campaigns"][CAMPAIGN]["attributionWindowSeconds"] = 5
    document["campaigns"][CAMPAIGN]["generation"] = 2
    path.write_text(json.dumps(document))
    try:
        runtime._campaign_tick(time.time())
        ids = loaded.decide([f"window-{i}" for i in range(20)], CAMPAIGN)["decision_id"]
        assert all(d.split("~")[6] == "5" for d in ids)
        metrics = ("uplift_late_outcomes_total", "uplift_outcomes_total",
                   "uplift_outcomes_received_total", "uplift_outcomes_converted_total",
                   "uplift_outcomes_expected_total")
        before = {metric: total(metric) for metric in metrics}
        later = time.time() + 10  # every window closed; the cohorts counted
        runtime._campaign_tick(later)
        monkeypatch.setattr(time, "time", lambda: later)
        assert loaded.report_outcomes(ids[:10])["late"] == 10  # conversions after the window
        answer = loaded.report_outcomes(ids[10:], converted=False)
        assert answer == {"accepted": 10, "counted": 10, "duplicates": 0}
        runtime._campaign_tick(later + 1)
        after = {metric: total(metric) - before[metric] for metric in metrics}
        assert after == {"uplift_late_outcomes_total": 10, "uplift_outcomes_total": 10,
                         "uplift_outcomes_received_total": 10,
                         "uplift_outcomes_converted_total": 0,
                         "uplift_outcomes_expected_total": 20}
    finally:
        monkeypatch.undo()
        path.write_text(original)
        runtime._campaign_tick(time.time())


def test_a_conversion_after_the_non_conversion_at_window_close_is_late_not_a_conflict(
        loaded: Loaded) -> None:
    """The review's late_after_nonconversion.py: the documented sender flow — ``converted:
    false`` once the window closed, then the conversion that came after it — counts the
    conversion late, as the docs say of a conversion after the window: not a conflict (which
    the docs tell to alert on), not a conversion of the cohort. Before: conflicts 1, late 0."""
    signer = Signer(DECISION_KEY.encode())
    issued = int(time.time()) - 2 * 86400   # a one-day window, closed a day ago
    ids = [signer.mint("treated", "womens_e_mail", VERSION, CAMPAIGN, issued, 86400)
           for _ in range(3)]
    labels = {"arm": "treated", "treatment": "womens_e_mail", "campaign": CAMPAIGN}

    def counts() -> tuple[float, ...]:
        return (value("uplift_late_outcomes_total", **labels) or 0.0,
                value("uplift_outcomes_total", **labels) or 0.0,
                value("uplift_conversions_total", **labels) or 0.0,
                value("uplift_report_conflicts_total", endpoint="outcomes",
                      campaign=CAMPAIGN) or 0.0)

    before = counts()
    assert loaded.report_outcomes(ids, converted=False) == {
        "accepted": 3, "counted": 3, "duplicates": 0}
    assert loaded.report_outcomes(ids) == {"accepted": 3, "counted": 3, "duplicates": 0,
                                           "late": 3}
    assert loaded.report_outcomes(ids[:1]) == {"accepted": 1, "counted": 0, "duplicates": 1}
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [3, 3, 0, 0]


def test_a_conversion_before_the_non_conversion_at_window_close_is_late_not_a_conflict(
        loaded: Loaded) -> None:
    """The review's late_then_false.py: a sender that reports conversions as they happen and
    non-conversions in a batch when the window closes sends a late conversion before the
    ``converted: false``. Both count as in the other order: the conversion late, the
    non-conversion as the cohort's outcome, received at the next tick. Before: the
    non-conversion was a conflict, never received (completeness stayed short)."""
    signer = Signer(DECISION_KEY.encode())
    issued = int(time.time()) - 2 * 86400   # a one-day window, closed a day ago
    ids = [signer.mint("treated", "womens_e_mail", VERSION, CAMPAIGN, issued, 86400)
           for _ in range(3)]
    labels = {"arm": "treated", "treatment": "womens_e_mail", "campaign": CAMPAIGN}

    def counts() -> tuple[float, ...]:
        return (value("uplift_late_outcomes_total", **labels) or 0.0,
                value("uplift_outcomes_total", **labels) or 0.0,
                value("uplift_outcomes_received_total", **labels) or 0.0,
                value("uplift_conversions_total", **labels) or 0.0,
                value("uplift_report_conflicts_total", endpoint="outcomes",
                      campaign=CAMPAIGN) or 0.0)

    loaded.runtime._campaign_tick(time.time())   # what earlier tests left due, counted first
    before = counts()
    assert loaded.report_outcomes(ids) == {"accepted": 3, "counted": 3, "duplicates": 0,
                                           "late": 3}
    assert loaded.report_outcomes(ids, converted=False) == {
        "accepted": 3, "counted": 3, "duplicates": 0}
    assert loaded.report_outcomes(ids[:1]) == {"accepted": 1, "counted": 0, "duplicates": 1}
    loaded.runtime._campaign_tick(time.time())   # the cohort's window closed: received now
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [3, 3, 3, 0, 0]


def test_a_stopping_replica_counts_its_pending_cohorts_at_once(loaded: Loaded) -> None:
    """The preStop hook's drain: the day-long windows of these decisions have not closed, yet
    their expected count, the outcomes reported to this replica and its conversions are
    counted together, so nothing it holds leaves with it and the cohort stays whole."""
    runtime = loaded.runtime
    keys = ("womens_e_mail", "mens_e_mail", "none")
    kinds = ("uplift_outcomes_expected_total", "uplift_outcomes_received_total",
             "uplift_outcomes_converted_total")

    def totals() -> list[float]:
        return [sum(value(kind, campaign=CAMPAIGN, arm=arm, treatment=key) or 0.0
                    for arm in ("holdout", "treated") for key in keys) for kind in kinds]

    runtime.drain_cohorts()  # what the module's other tests left pending
    runtime._drained = False   # and this replica goes on (a drain is its last act)
    before = totals()
    ids = loaded.decide([f"drain-{i}" for i in range(30)], CAMPAIGN)["decision_id"]
    exposed = [d for d in ids if d.split("~")[1] in ("holdout", "treated")]
    loaded.report_outcomes(exposed[:8])
    loaded.report_outcomes(exposed[8:12], converted=False)
    runtime._campaign_tick(time.time())
    assert totals() == before  # a day-long window: nothing due yet

    # The hook's token, from the file the runtime wrote at load (the pod's own emptyDir).
    path = drain.token_file(os.environ)  # as the hook finds it (the fixture's tmp dir)
    assert path == runtime._drain_token_file and path.stat().st_mode & 0o777 == 0o600
    token = drain.read_token(path)

    def request(host: str, token: str | None = token) -> Request:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        headers = [(b"authorization", f"Bearer {token}".encode())] if token is not None else []
        return Request({"type": "http", "method": "POST", "headers": headers, "path": "/",
                        "query_string": b"", "client": (host, 40000)}, receive)

    refused = value("uplift_request_errors_total", endpoint="drain", reason="forbidden")
    assert refused is not None  # exported at zero from load
    with pytest.raises(UpliftError, match="preStop hook only") as error:
        loaded.run(runtime.drain(request("10.1.2.3")))  # the token is no pass from elsewhere
    assert error.value.status_code == 403
    # From loopback without the token: what a mesh sidecar forwarding from 127.0.0.1 presents.
    for other in (None, "not-the-drain-token", token[:-1]):
        with pytest.raises(UpliftError, match="drain token") as error:
            loaded.run(runtime.drain(request("127.0.0.1", other)))
        assert error.value.status_code == 403 and token not in str(error.value)
    assert totals() == before
    assert value("uplift_request_errors_total", endpoint="drain",
                 reason="forbidden") == refused + 4
    answer = loaded.run(runtime.drain(request("127.0.0.1")))
    assert answer["counted"] == {"expected": len(exposed), "received": 12, "converted": 8}
    assert [a - b for a, b in zip(totals(), before, strict=True)] == [len(exposed), 12, 8]
    assert loaded.run(runtime.drain(request("127.0.0.1")))["counted"] == {
        "expected": 0.0, "received": 0.0, "converted": 0.0}
    # The drained replica still answers until its endpoints are gone: what comes now is
    # counted at once, not held for windows that close after the pod (review finding 7).
    try:
        ids = loaded.decide([f"after-drain-{i}" for i in range(10)], CAMPAIGN)["decision_id"]
        late = sum(i.split("~")[1] in ("holdout", "treated") for i in ids)
        loaded.report_outcomes(ids[:4])
        assert [a - b for a, b in zip(totals(), before, strict=True)] == [
            len(exposed) + late, 12 + 4, 8 + 4]
        assert len(runtime._due) == 0
    finally:
        runtime._drained = False   # the module's other tests go on with this replica


def _rewrite(path: Path, text: str) -> None:
    """A new version of the file, whatever the file system's time resolution."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_a_document_rejected_whole_keeps_the_version_split(loaded: Loaded) -> None:
    runtime = loaded.runtime
    assert runtime._watch is not None
    path = Path(runtime._watch.path)
    original = path.read_text()
    document = json.loads(original)
    try:
        document["split"] = {"stable": VERSION, "canary": None, "canaryPercent": 0}
        _rewrite(path, json.dumps(document))
        runtime._campaign_tick(time.time())
        assert runtime._split is not None and runtime._split.canary is None
        errors = value("uplift_campaigns_reloads_total", result="error") or 0.0
        document["split"] = {"stable": VERSION, "canary": "8", "canaryPercent": 100}
        document["format"] = "uplift-operator/campaigns/v2"
        _rewrite(path, json.dumps(document))
        runtime._campaign_tick(time.time())
        assert value("uplift_campaigns_reloads_total", result="error") == errors + 1
        assert runtime._split.canary is None   # the rejected document's canary: not applied
        arms = [d.split("~")[1] for d in loaded.decide(["s1", "s2", "s3"])["decision_id"]]
        assert not any(arm.endswith("-unattributed") for arm in arms)
    finally:
        _rewrite(path, original)
        runtime._campaign_tick(time.time())


def test_a_rejected_document_or_entry_shows_as_a_state_until_a_good_one_is_read(
        loaded: Loaded) -> None:
    """``uplift_campaigns_file_refused`` is 1 for as long as the file's current version is
    rejected whole, ``uplift_campaign_entry_refused{campaign}`` for as long as that campaign's
    entry is (gone once taken, or once it leaves the file): the reloads counter moves once per
    version, so an alert on its increase cleared while the pods kept their last good settings."""
    runtime = loaded.runtime
    assert runtime._watch is not None
    path = Path(runtime._watch.path)
    original = path.read_text()
    document = json.loads(original)
    entry = document["campaigns"][CAMPAIGN]

    def refused(campaign: str) -> float | None:
        return value("uplift_campaign_entry_refused", campaign=campaign)

    def publish(doc: dict[str, Any]) -> None:
        _rewrite(path, json.dumps(doc))
        runtime._campaign_tick(time.time())

    try:
        assert value("uplift_campaigns_file_refused") == 0
        publish({**document, "format": "uplift-operator/campaigns/v2"})
        assert value("uplift_campaigns_file_refused") == 1
        runtime._campaign_tick(time.time())
        assert value("uplift_campaigns_file_refused") == 1   # for as long as it is
        publish(document)
        assert value("uplift_campaigns_file_refused") == 0
        assert refused(CAMPAIGN) is None

        unserved = {**entry, "treatments": {"no-such-treatment": {"cost": 0, "value": 1}}}
        publish({**document, "campaigns": {CAMPAIGN: unserved,
                                           "bad-one": {**entry, "policy": None}}})
        assert value("uplift_campaigns_file_refused") == 0
        assert refused(CAMPAIGN) == 1 and refused("bad-one") == 1
        assert CAMPAIGN in (runtime._campaigns or {})        # on its last good settings
        publish({**document, "campaigns": {CAMPAIGN: entry, "bad-one": {**entry,
                                                                        "policy": None}}})
        assert refused(CAMPAIGN) is None and refused("bad-one") == 1
        publish(document)                                      # bad-one leaves the file
        assert refused("bad-one") is None
        assert value("uplift_campaigns_file_refused") == 0
    finally:
        _rewrite(path, original)
        runtime._campaign_tick(time.time())


def test_a_canarys_decision_of_a_treatment_this_model_lacks_is_counted(loaded: Loaded) -> None:
    """Seldon sends a report to any replica: a stable replica counts the canary's decision of a
    treatment only the canary's model has, under the canary's version and that treatment."""
    canary = Signer(DECISION_KEY.encode())   # the deployment's shared key
    decision = canary.mint("treated", "sms_push", "8", CAMPAIGN, int(time.time()), 86400)
    labels = {"model": NAME, "version": "8", "arm": "treated", "treatment": "sms_push",
              "campaign": CAMPAIGN}
    answer = loaded.report_outcomes([decision, loaded.decide(["c1"], CAMPAIGN)["decision_id"][0]])
    assert answer == {"accepted": 2, "counted": 2, "duplicates": 0}
    assert REGISTRY.get_sample_value("uplift_conversions_total", labels) == 1.0


def test_a_unit_report_counts_under_the_campaign_that_decided(loaded: Loaded) -> None:
    """The unit's last decision per campaign: the model's own decision of the same unit (or a
    campaign's whose unit key is another namespace) does not take the campaign's report."""
    decided = loaded.decide(["unit-42"], CAMPAIGN)
    labels = {"arm": decided["arm"][0], "treatment": decided["policy_treatment"][0],
              "campaign": CAMPAIGN}
    loaded.decide(["unit-42"])                     # the same id, no campaign
    loaded.decide(["x"] * 3)                       # and rows of other units
    with pytest.raises(UpliftError, match="name one in 'campaign'") as info:
        loaded.report([{"unit_id": "unit-42", "converted": True}])
    assert info.value.status_code == 409
    assert value("uplift_request_errors_total", endpoint="outcomes",
                 reason="ambiguous_unit") == 1.0
    before = value("uplift_conversions_total", **labels) or 0.0
    answer = loaded.report([{"unit_id": "unit-42", "campaign": CAMPAIGN, "converted": True}])
    assert answer["counted"] == 1
    assert value("uplift_conversions_total", **labels) == before + 1
    # A unit known under one campaign only resolves without naming it, as before.
    loaded.decide(["unit-43"], CAMPAIGN)
    assert loaded.report([{"unit_id": "unit-43", "converted": False}])["counted"] == 1


def test_a_unit_report_reaches_the_decision_that_sent_its_treatment(loaded: Loaded) -> None:
    """The review's unit_report_after_cap.py: units treated, then decided again and capped
    (the campaign's maxTreatmentsPerUnit is 1). Their sender reports, by unit id, the delivery
    and the conversion of the email it sent: both count under the decision that sent it.
    Before, they went to the capped decision: the delivery refused 409 nothing_delivered
    (deliveryRate read too low), the conversion counted under ``treatment="none"``."""
    first = loaded.decide([f"sent-{i}" for i in range(12)], CAMPAIGN)
    units = [u for u, why in zip([f"sent-{i}" for i in range(12)], first["campaign_arm"],
                                 strict=True) if why == "treated"]
    assert units and {first["treatment"][int(u.split("-")[1])] for u in units} == {
        "womens_e_mail"}
    assert loaded.decide(units, CAMPAIGN)["campaign_arm"] == ["capped"] * len(units)
    sent = {"arm": "treated", "treatment": "womens_e_mail", "campaign": CAMPAIGN}
    before = (value("uplift_deliveries_total", **sent, status="ok") or 0.0,
              value("uplift_conversions_total", **sent) or 0.0,
              value("uplift_conversions_total", **{**sent, "treatment": "none"}) or 0.0)
    delivered = loaded.report([{"unit_id": u, "campaign": CAMPAIGN, "status": "ok"}
                               for u in units], "deliveries")
    assert delivered == {"accepted": len(units), "counted": len(units), "duplicates": 0}
    converted = loaded.report([{"unit_id": u, "converted": True, "treatment": "womens_e_mail"}
                               for u in units])
    assert converted == {"accepted": len(units), "counted": len(units), "duplicates": 0}
    assert (value("uplift_deliveries_total", **sent, status="ok"),
            value("uplift_conversions_total", **sent),
            value("uplift_conversions_total", **{**sent, "treatment": "none"})) == (
        before[0] + len(units), before[1] + len(units), before[2])


def test_a_holdout_unit_report_reaches_its_first_decision_as_a_treated_one_does(
        loaded: Loaded) -> None:
    """The review's r7_unit_report_arm_asymmetry.py, the holdout's side of the test above:
    units in the holdout whose treatment the cap left them (withheld, not sent), decided
    again within the window and capped. Their conversions, reported by unit id, count under
    the first decision, as a treated unit's do: both arms' reports land in the same cohort.
    Before, the holdout's went to the capped decision (``treatment="none"``, a later cohort),
    the treated arm's to the one that sent: incrementalConversions and roi read the holdout
    low."""
    units = [f"withheld-{i}" for i in range(40)]
    first = loaded.decide(units, CAMPAIGN)
    held = [u for u, why, key in zip(units, first["campaign_arm"], first["policy_treatment"],
                                     strict=True) if why == "holdout" and key != "none"]
    assert held
    again = loaded.decide(held, CAMPAIGN)
    assert again["campaign_arm"] == ["holdout"] * len(held)
    assert again["policy_treatment"] == ["none"] * len(held)   # the cap: 1 per unit
    withheld = {"arm": "holdout", "treatment": "womens_e_mail", "campaign": CAMPAIGN}
    before = (value("uplift_conversions_total", **withheld) or 0.0,
              value("uplift_conversions_total", **{**withheld, "treatment": "none"}) or 0.0)
    answer = loaded.report([{"unit_id": u, "campaign": CAMPAIGN, "converted": True}
                            for u in held])
    assert answer == {"accepted": len(held), "counted": len(held), "duplicates": 0}
    assert (value("uplift_conversions_total", **withheld),
            value("uplift_conversions_total", **{**withheld, "treatment": "none"}) or 0.0) == (
        before[0] + len(held), before[1])


def test_unit_cache_keeps_a_holdout_decision_that_withheld_a_treatment() -> None:
    """``UnitCache.put`` alike in both arms, for the model's own decisions too: an open
    decision that withheld a treatment in the holdout is kept over a later one that withheld
    none, as a treated one that sent is; a later one that withheld one replaces it."""
    signer = Signer(DECISION_KEY.encode())
    cache = UnitCache(100)
    for arm in ("treated", "holdout"):
        for campaign in ("", CAMPAIGN):
            unit = f"{arm}-{campaign}"
            first = signer.mint(arm, "womens_e_mail", VERSION, campaign, 1000, 60)
            later = signer.mint(arm, "none", VERSION, campaign, 1030, 60)
            cache.put(campaign, unit, first, sent=True, now=1000)
            cache.put(campaign, unit, later, sent=False, now=1030)
            assert cache.get(campaign, unit) == first, (arm, campaign)
            after = signer.mint(arm, "none", VERSION, campaign, 1061, 60)
            cache.put(campaign, unit, after, sent=False, now=1061)   # its window closed
            assert cache.get(campaign, unit) == after, (arm, campaign)


def test_unloading_counts_the_pending_cohorts(loaded: Loaded, tmp_path: Path) -> None:
    """MLServer may unload a model in a process that goes on (a reload): the cohort counts this
    instance holds are counted, as a stopping replica's are, not lost with it."""
    train_small_model(tmp_path / "model")
    runtime = UpliftRuntime(ModelSettings(name="unload-test", implementation=UpliftRuntime,
                                          parameters=ModelParameters(uri=str(tmp_path / "model"))))
    loaded.run(runtime.load())
    other = Loaded(runtime, loaded.loop)
    arms = other.decide([f"unload-{i}" for i in range(20)], CAMPAIGN)["arm"]
    exposed = sum(arm in ("holdout", "treated") for arm in arms)
    assert exposed

    def expected() -> float:
        return sum(REGISTRY.get_sample_value("uplift_outcomes_expected_total", {
            "model": "unload-test", "version": VERSION, "campaign": CAMPAIGN, "arm": arm,
            "treatment": key}) or 0.0 for arm in ("holdout", "treated")
            for key in ("womens_e_mail", "mens_e_mail", "none"))

    assert expected() == 0.0            # day-long windows: nothing due yet
    assert loaded.run(runtime.unload())
    assert expected() == exposed


def test_a_predecessors_reports_are_not_the_recreated_campaigns(loaded: Loaded) -> None:
    """A Campaign deleted and created again under its name: reports for decisions issued
    before the new one's creation (``createdAt`` in the file) are acknowledged and counted
    as a predecessor's only, never as the new Campaign's deliveries or outcomes."""
    runtime = loaded.runtime
    assert runtime._watch is not None
    path = Path(runtime._watch.path)
    original = path.read_text()
    document = json.loads(original)
    created = int(time.time()) - 60
    signer = Signer(DECISION_KEY.encode())
    old = signer.mint("treated", "womens_e_mail", VERSION, CAMPAIGN, created - 3600, 86400)
    try:
        document["campaigns"][CAMPAIGN]["createdAt"] = dt.datetime.fromtimestamp(
            created, dt.UTC).isoformat().replace("+00:00", "Z")
        _rewrite(path, json.dumps(document))
        runtime._campaign_tick(time.time())
        new = loaded.decide(["r1"], CAMPAIGN)["decision_id"][0]
        labels = {"model": NAME, "version": VERSION, "arm": "treated",
                  "treatment": "womens_e_mail", "campaign": CAMPAIGN}
        outcomes = REGISTRY.get_sample_value("uplift_outcomes_total", labels) or 0.0
        answer = loaded.report_outcomes([old, new])
        assert answer == {"accepted": 2, "counted": 1, "duplicates": 0, "predecessor": 1}
        arm = new.split("~")[1]
        expected = outcomes + (1 if arm == "treated" else 0)
        assert (REGISTRY.get_sample_value("uplift_outcomes_total", labels) or 0.0) == expected
        assert value("uplift_predecessor_reports_total", endpoint="outcomes",
                     campaign=CAMPAIGN) == 1.0
        delivered = REGISTRY.get_sample_value("uplift_deliveries_total",
                                              {**labels, "status": "ok"}) or 0.0
        body = json.dumps({"deliveries": [{"decision_id": old, "status": "ok"}]}).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/",
                           "query_string": b""}, receive)
        answered = loaded.run(runtime.deliveries(request))
        assert answered == {"accepted": 1, "counted": 0, "duplicates": 0, "predecessor": 1}
        assert (REGISTRY.get_sample_value("uplift_deliveries_total", {**labels, "status": "ok"})
                or 0.0) == delivered
    finally:
        _rewrite(path, original)
        runtime._campaign_tick(time.time())


def test_each_ledger_exports_its_own_period_spend(loaded: Loaded, tmp_path: Path) -> None:
    """The period spend is labelled with the ledger that counts it: a campaign that leaves the
    file and comes back, or a model loaded again, counts from zero under a new ledger, and the
    old ledger's series is withdrawn (Prometheus keeps its last value: the budget gate sums
    every ledger's last figure in the period)."""
    train_small_model(tmp_path / "model")
    entry = {"generation": 1, "salt": "t/ledger", "unitKey": "customer_id",
             "holdoutFraction": 0.0, "exposurePercent": 100,
             "treatments": {"womens-e-mail": {"cost": 1.0, "value": 5.0}},
             "policy": {"type": "upliftThreshold", "minUplift": -1.0},
             "budget": {"amount": 1000.0, "periodSeconds": 86400,
                        "periodStart": "2026-01-01T00:00:00Z"},
             "attributionWindowSeconds": 86400, "active": True}
    with_campaign = json.dumps({"format": "uplift-operator/campaigns/v1",
                                "campaigns": {CAMPAIGN: entry}})
    path = tmp_path / "campaigns.json"
    path.write_text(with_campaign)
    saved = os.environ["UPLIFT_CAMPAIGNS_FILE"]
    os.environ["UPLIFT_CAMPAIGNS_FILE"] = str(path)
    try:
        runtime = UpliftRuntime(ModelSettings(
            name="ledger-test", implementation=UpliftRuntime,
            parameters=ModelParameters(uri=str(tmp_path / "model"))))
        loaded.run(runtime.load())
    finally:
        os.environ["UPLIFT_CAMPAIGNS_FILE"] = saved
    other = Loaded(runtime, loaded.loop)

    def ledgers(metric: str) -> dict[str, float]:
        return {s.labels["ledger"]: s.value for family in REGISTRY.collect()
                for s in family.samples if s.name == metric
                and s.labels.get("model") == "ledger-test"}

    def spend(units: list[str]) -> float:
        return float(sum(arm == "treated" for arm in other.decide(units, CAMPAIGN)["arm"]))

    first = spend([f"a-{i}" for i in range(30)])
    assert first > 0
    (ledger,) = ledgers("uplift_campaign_period_spend")
    assert ledgers("uplift_campaign_period_spend") == {ledger: first}
    assert set(ledgers("uplift_campaign_period_start_seconds")) == {ledger}

    _rewrite(path, json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": {}}))
    runtime._campaign_tick(time.time())
    assert ledgers("uplift_campaign_period_spend") == {}
    assert ledgers("uplift_campaign_period_start_seconds") == {}

    _rewrite(path, with_campaign)
    runtime._campaign_tick(time.time())
    (again,) = ledgers("uplift_campaign_period_spend")
    assert again != ledger, "back in the file: a new ledger, from zero"
    assert ledgers("uplift_campaign_period_spend") == {again: 0.0}
    second = spend([f"b-{i}" for i in range(30)])
    assert ledgers("uplift_campaign_period_spend") == {again: second}

    assert loaded.run(runtime.unload())
    assert ledgers("uplift_campaign_period_spend") == {}
    assert ledgers("uplift_campaign_period_start_seconds") == {}


def test_a_budget_removed_and_set_again_counts_under_a_new_ledger(loaded: Loaded,
                                                                  tmp_path: Path) -> None:
    """The campaign stays in the file but its entry loses its budget (how a Campaign's
    budgetPeriod is changed): the period series go, the replica counts nothing while there is
    no budget, and the budget set again (the same period here) is counted from zero under a new
    ledger. Before, the ledger kept adding while there was none and came back under its id
    with the old period's spend and the spend made meanwhile (review finding r4)."""
    train_small_model(tmp_path / "model")
    entry = {"generation": 1, "salt": "t/readded", "unitKey": "customer_id",
             "holdoutFraction": 0.0, "exposurePercent": 100,
             "treatments": {"womens-e-mail": {"cost": 1.0, "value": 5.0}},
             "policy": {"type": "upliftThreshold", "minUplift": -1.0},
             "budget": {"amount": 1000.0, "periodSeconds": 7 * 86400,
                        "periodStart": "2026-01-01T00:00:00Z"},
             "attributionWindowSeconds": 86400, "active": True}
    path = tmp_path / "campaigns.json"

    def write(**changes: Any) -> None:
        _rewrite(path, json.dumps({"format": "uplift-operator/campaigns/v1",
                                   "campaigns": {CAMPAIGN: {**entry, **changes}}}))

    write()
    saved = os.environ["UPLIFT_CAMPAIGNS_FILE"]
    os.environ["UPLIFT_CAMPAIGNS_FILE"] = str(path)
    try:
        runtime = UpliftRuntime(ModelSettings(
            name="readded-test", implementation=UpliftRuntime,
            parameters=ModelParameters(uri=str(tmp_path / "model"))))
        loaded.run(runtime.load())
    finally:
        os.environ["UPLIFT_CAMPAIGNS_FILE"] = saved
    other = Loaded(runtime, loaded.loop)

    def ledgers() -> dict[str, float]:
        return {s.labels["ledger"]: s.value for family in REGISTRY.collect()
                for s in family.samples if s.name == "uplift_campaign_period_spend"
                and s.labels.get("model") == "readded-test"}

    def spend(units: list[str]) -> float:
        return float(sum(arm == "treated" for arm in other.decide(units, CAMPAIGN)["arm"]))

    try:
        first = spend([f"a-{i}" for i in range(30)])
        (old,) = ledgers()
        assert first > 0 and ledgers() == {old: first}

        write(budget=None)
        runtime._campaign_tick(time.time())
        assert ledgers() == {}
        assert spend([f"b-{i}" for i in range(30)]) > 0   # treated, under no budget
        runtime._campaign_tick(time.time())
        assert ledgers() == {}

        write()
        runtime._campaign_tick(time.time())
        (new,) = ledgers()
        assert new != old, "set again: a new ledger"
        assert ledgers() == {new: 0.0}
        second = spend([f"c-{i}" for i in range(30)])
        assert ledgers() == {new: second}
    finally:
        assert loaded.run(runtime.unload())


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def test_a_recreated_campaign_starts_from_a_new_ledger(loaded: Loaded, tmp_path: Path) -> None:
    """A Campaign deleted and created again under its name while this replica never saw it
    leave the file (another ``createdAt``, generation 1): the new Campaign's units are not
    capped by the old one's treatments, its budget is not spent by the old one's spend, and
    the old ledger's period series is withdrawn for the new one's (review finding 1)."""
    train_small_model(tmp_path / "model")
    entry = {"generation": 4, "salt": "t/recreate", "unitKey": "customer_id",
             "holdoutFraction": 0.0, "exposurePercent": 100, "maxTreatmentsPerUnit": 1,
             "treatments": {"womens-e-mail": {"cost": 1.0, "value": 5.0}},
             "policy": {"type": "upliftThreshold", "minUplift": -1.0},
             "budget": {"amount": 3.0, "periodStart": "2026-01-01T00:00:00Z"},
             "attributionWindowSeconds": 86400, "active": True,
             "createdAt": _iso(time.time() - 7200)}
    path = tmp_path / "campaigns.json"

    def write(**changes: Any) -> None:
        _rewrite(path, json.dumps({"format": "uplift-operator/campaigns/v1",
                                   "campaigns": {CAMPAIGN: {**entry, **changes}}}))

    write()
    saved = os.environ["UPLIFT_CAMPAIGNS_FILE"]
    os.environ["UPLIFT_CAMPAIGNS_FILE"] = str(path)
    try:
        runtime = UpliftRuntime(ModelSettings(
            name="recreate-test", implementation=UpliftRuntime,
            parameters=ModelParameters(uri=str(tmp_path / "model"))))
        loaded.run(runtime.load())
    finally:
        os.environ["UPLIFT_CAMPAIGNS_FILE"] = saved
    other = Loaded(runtime, loaded.loop)

    def ledgers() -> dict[str, float]:
        return {s.labels["ledger"]: s.value for family in REGISTRY.collect()
                for s in family.samples if s.name == "uplift_campaign_period_spend"
                and s.labels.get("model") == "recreate-test"}

    try:
        units = ["r-1", "r-2", "r-3"]
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["treated"] * 3
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["capped"] * 3
        (old,) = ledgers()
        assert ledgers() == {old: 3.0}

        write(generation=4, salt="t/recreate")   # the same Campaign, a new file version
        runtime._campaign_tick(time.time())
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["capped"] * 3
        assert ledgers() == {old: 3.0}

        write(generation=1, createdAt=_iso(time.time() - 60))   # deleted and created again
        runtime._campaign_tick(time.time())
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["treated"] * 3
        (new,) = ledgers()
        assert new != old
        assert ledgers() == {new: 3.0}
    finally:
        assert loaded.run(runtime.unload())


def test_a_campaign_created_again_is_told_by_its_uid_and_never_treats_on_its_predecessors(
        loaded: Loaded, tmp_path: Path) -> None:
    """Created again within the second (the same ``createdAt``), another ``uid``: a new ledger.
    Created again with an entry this replica rejects (a treatment its model lacks): not served
    (404 unknown_campaign), its predecessor's settings, ledger and gauges dropped; before, it
    went on treating on the deleted Campaign's settings and generation (a review, 2026-12-06)."""
    train_small_model(tmp_path / "model")
    created = _iso(time.time() - 7200)
    entry = {"generation": 4, "salt": "t/uid", "unitKey": "customer_id",
             "holdoutFraction": 0.0, "exposurePercent": 100, "maxTreatmentsPerUnit": 1,
             "treatments": {"womens-e-mail": {"cost": 1.0, "value": 5.0}},
             "policy": {"type": "upliftThreshold", "minUplift": -1.0},
             "budget": {"amount": 3.0, "periodStart": "2026-01-01T00:00:00Z"},
             "attributionWindowSeconds": 86400, "active": True,
             "createdAt": created, "uid": "uid-1"}
    path = tmp_path / "campaigns.json"

    def write(**changes: Any) -> None:
        _rewrite(path, json.dumps({"format": "uplift-operator/campaigns/v1",
                                   "campaigns": {CAMPAIGN: {**entry, **changes}}}))

    write()
    saved = os.environ["UPLIFT_CAMPAIGNS_FILE"]
    os.environ["UPLIFT_CAMPAIGNS_FILE"] = str(path)
    try:
        runtime = UpliftRuntime(ModelSettings(
            name="uid-test", implementation=UpliftRuntime,
            parameters=ModelParameters(uri=str(tmp_path / "model"))))
        loaded.run(runtime.load())
    finally:
        os.environ["UPLIFT_CAMPAIGNS_FILE"] = saved
    other = Loaded(runtime, loaded.loop)

    def ledgers() -> dict[str, float]:
        return {s.labels["ledger"]: s.value for family in REGISTRY.collect()
                for s in family.samples if s.name == "uplift_campaign_period_spend"
                and s.labels.get("model") == "uid-test"}

    try:
        units = ["u-1", "u-2", "u-3"]
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["treated"] * 3
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["capped"] * 3
        (old,) = ledgers()

        write(generation=1, uid="uid-2")   # created again within the second
        runtime._campaign_tick(time.time())
        assert other.decide(units, CAMPAIGN)["campaign_arm"] == ["treated"] * 3
        (new,) = ledgers()
        assert new != old

        write(generation=1, uid="uid-3", createdAt=_iso(time.time() - 60),
              treatments={"no-such-treatment": {"cost": 1.0, "value": 5.0}})
        runtime._campaign_tick(time.time())
        assert CAMPAIGN not in (runtime._campaigns or {})
        with pytest.raises(UpliftError, match="unknown campaign"):
            other.decide(units, CAMPAIGN)
        assert ledgers() == {}
        assert REGISTRY.get_sample_value("uplift_campaign_generation", {
            "model": "uid-test", "version": runtime._engine.version, "campaign": CAMPAIGN}) is None
    finally:
        assert loaded.run(runtime.unload())


def test_a_campaign_that_left_the_file_has_its_series_removed_once_nothing_is_pending(
        loaded: Loaded, tmp_path: Path) -> None:
    """/metrics does not grow with every campaign ever configured (review finding 4): a
    campaign that left the file keeps its series while its decisions' windows are open and
    while cohort counts of its are pending (they increment them), then a few scrapes more;
    then every series labelled with it goes. Back in the file, it is counted from zero."""
    train_small_model(tmp_path / "model")
    entry = {"generation": 1, "salt": "t/gone", "unitKey": "customer_id",
             "holdoutFraction": 0.3, "exposurePercent": 100,
             "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
             "policy": {"type": "upliftThreshold", "minUplift": -1.0},
             "attributionWindowSeconds": 60, "active": True}
    path = tmp_path / "campaigns.json"

    def write(*names: str) -> None:
        _rewrite(path, json.dumps({"format": "uplift-operator/campaigns/v1",
                                   "campaigns": {n: {**entry, "salt": f"t/{n}"}
                                                 for n in names}}))

    write("gone", "kept")
    saved = os.environ["UPLIFT_CAMPAIGNS_FILE"]
    os.environ["UPLIFT_CAMPAIGNS_FILE"] = str(path)
    try:
        runtime = UpliftRuntime(ModelSettings(
            name="forget-test", implementation=UpliftRuntime,
            parameters=ModelParameters(uri=str(tmp_path / "model"))))
        loaded.run(runtime.load())
    finally:
        os.environ["UPLIFT_CAMPAIGNS_FILE"] = saved
    other = Loaded(runtime, loaded.loop)

    def series(campaign: str) -> int:
        # Not the counters' ``_created`` samples: whether they exist depends on what else the
        # process imported (the operator's metrics turn them off for the whole process).
        return sum(1 for family in REGISTRY.collect() for s in family.samples
                   if s.labels.get("model") == "forget-test"
                   and s.labels.get("campaign") == campaign and not s.name.endswith("_created"))

    def expected(campaign: str) -> float:
        return sum(s.value for family in REGISTRY.collect() for s in family.samples
                   if s.name == "uplift_outcomes_expected_total"
                   and s.labels.get("model") == "forget-test"
                   and s.labels.get("campaign") == campaign)

    try:
        units = [f"g-{i}" for i in range(10)]
        other.decide(units, "gone")
        other.decide(units, "kept")
        kept = series("kept")
        assert series("gone") == kept > 50
        t0 = time.time()
        write("kept")
        runtime._campaign_tick(t0)
        assert series("gone") == kept - 2   # its generation and exposure gauges only

        # Past its window and the grace: its decisions' expected counts were still pending,
        # so they are counted now and the series stay a few scrapes longer.
        later = t0 + 60 + FORGET_AFTER_SECONDS + 5
        runtime._campaign_tick(later)
        assert expected("gone") == 10.0
        assert series("gone") == kept - 2
        runtime._campaign_tick(later + FORGET_AFTER_SECONDS - 10)
        assert series("gone") == kept - 2
        runtime._campaign_tick(later + FORGET_AFTER_SECONDS + 10)
        assert series("gone") == 0
        assert series("kept") == kept

        write("gone", "kept")   # back in the file: from zero, counted again
        runtime._campaign_tick(later + FORGET_AFTER_SECONDS + 20)
        other.decide(units[:3], "gone")
        assert REGISTRY.get_sample_value("uplift_rows_scored_total", {
            "model": "forget-test", "version": VERSION, "campaign": "gone"}) == 3.0
        assert series("gone") == kept
    finally:
        assert loaded.run(runtime.unload())
