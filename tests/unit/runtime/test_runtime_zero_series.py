"""Which series a replica exports at zero is said where each metric family is defined
(``RuntimeMetrics.zeros``) and created from that alone (``export_zeros``): the model's own
decisions at load, a campaign's while it may treat, the split's other versions' when the
split names them. A series first created by its first count is born inside the gates' PromQL
ranges and ``increase()`` loses that count.

The coverage is checked against what the gates read, not against a copied list: the counters
the operator's collectors name (``services/``, ``domain/`` sources), and a replica's every kind
of count — decisions, reports of either version's decisions, closing cohorts — must land in
series that were there before.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from starlette.requests import Request
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.assignment import ARMS
from uplift_operator.runtime.events import NONE, Signer
from uplift_operator.runtime.metrics import NO_ZEROS, RuntimeMetrics, Scope
from uplift_operator.runtime.runtime import UpliftRuntime

NAME, OWN, CANARY = "zero-series-test", "7", "8"
CAMPAIGN = "spring-email"
KEY = "zero-series-decision-key-0123456789abc"
KEYS = ("womens_e_mail", "mens_e_mail")
WINDOW, CAMPAIGN_WINDOW = 60, 120
OPERATOR = Path(__file__).resolve().parents[3] / "operator" / "uplift_operator"


def _document() -> str:
    entry = {"generation": 1, "salt": "t/spring", "unitKey": "customer_id",
             "holdoutFraction": 0.5, "exposurePercent": 100,
             "treatments": {"womens-e-mail": {"cost": 0.1, "value": 1.0},
                            "mens-e-mail": {"cost": 0.1, "value": 1.0}},
             "policy": {"type": "upliftThreshold", "minUplift": -1.0},
             "maxTreatmentsPerUnit": 1000, "attributionWindowSeconds": CAMPAIGN_WINDOW,
             "active": True}
    return json.dumps({"format": "uplift-operator/campaigns/v1",
                       "campaigns": {CAMPAIGN: entry},
                       "split": {"stable": OWN, "canary": CANARY, "canaryPercent": 50,
                                 "attributionWindowSeconds": WINDOW}})


@dataclass
class Loaded:
    runtime: UpliftRuntime
    loop: asyncio.AbstractEventLoop

    def decide(self, n: int, campaign: str | None) -> None:
        units = [f"unit-{i}" for i in range(n)]
        body: dict[str, Any] = {"inputs": [
            {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
            {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
            {"name": "customer_id" if campaign else "unit_id", "datatype": "BYTES",
             "shape": [n], "data": units}]}
        if campaign is not None:
            body["parameters"] = {"campaign": campaign}
        self.loop.run_until_complete(self.runtime.predict(InferenceRequest.model_validate(body)))

    def report(self, endpoint: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        data = json.dumps({endpoint: items}).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/",
                           "query_string": b""}, receive)
        handler = self.runtime.outcomes if endpoint == "outcomes" else self.runtime.deliveries
        answer: dict[str, Any] = self.loop.run_until_complete(handler(request))
        return answer


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A stable replica (version 7) loaded while a canary (8) runs, one campaign."""
    root = tmp_path_factory.mktemp("zero-series")
    train_small_model(root / "model")
    path = root / "campaigns.json"
    path.write_text(_document())
    env = {"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_DECISION_KEY": KEY,
           "UPLIFT_MODEL_VERSION": OWN, drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime(NAME, root / "model", env) as (runtime, loop):
        yield Loaded(runtime, loop)


def counter_series() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every counter series of this model with a ``campaign`` label (not the ``_created``
    timestamps beside them)."""
    return {(s.name, tuple(sorted(s.labels.items()))) for family in REGISTRY.collect()
            if family.type == "counter" for s in family.samples
            if not s.name.endswith("_created") and s.labels.get("model") == NAME
            and "campaign" in s.labels}


def read_by_the_operator() -> set[str]:
    """The runtime's series the operator's gate collectors name in their queries."""
    text = "".join(path.read_text() for layer in ("services", "domain")
                   for path in (OPERATOR / layer).rglob("*.py"))
    return set(re.findall(r"\buplift_[a-z_]+_total\b", text))


def test_every_family_with_a_campaign_label_says_its_zeros() -> None:
    metrics = RuntimeMetrics(CollectorRegistry())
    families = [c for c in vars(metrics).values() if "campaign" in getattr(c, "_labelnames", ())]
    assert len(families) >= 15
    assert [c._name for c in families if c not in metrics.zeros] == []


def test_a_family_cannot_be_defined_without_saying_its_zeros() -> None:
    metrics = RuntimeMetrics(CollectorRegistry())
    with pytest.raises(ValueError, match="exported at zero"):
        metrics._family(Counter, "uplift_zero_series_test_new", "new",
                        ("model", "version", "campaign", "arm"))
    with pytest.raises(ValueError, match="its labels are"):   # a label its zeros do not cover
        metrics._family(Counter, "uplift_zero_series_test_other", "other",
                        ("model", "version", "campaign", "arm", "treatment"),
                        zeros={Scope.OWN_CAMPAIGN: (("arm", ARMS),)})
    no_campaign = metrics._family(Counter, "uplift_zero_series_test_plain", "plain",
                                  ("model", "version"))
    assert no_campaign not in metrics.zeros
    assert list(metrics.zero_label_sets(metrics.outcome_value, Scope.OWN_MODEL, KEYS)) == []
    assert metrics.zeros[metrics.outcome_value] is NO_ZEROS


def test_each_familys_zeros_are_exported_where_it_says(loaded: Loaded) -> None:
    """Every label set each declaration gives, at 0, for the replica's own version and the
    canary, for the model's own decisions and the campaign; nothing of a scope it leaves
    out (the canary's decided counts are the canary replica's own)."""
    metrics = loaded.runtime._m
    where = {Scope.OWN_MODEL: (OWN, ""), Scope.OWN_CAMPAIGN: (OWN, CAMPAIGN),
             Scope.OTHER_MODEL: (CANARY, ""), Scope.OTHER_CAMPAIGN: (CANARY, CAMPAIGN)}
    asked = 0
    for collector in metrics.zeros:
        for scope, (version, campaign) in where.items():
            for labels in metrics.zero_label_sets(collector, scope, KEYS):
                sample = collector._name + ("_total" if collector._type == "counter" else "")
                assert REGISTRY.get_sample_value(sample, {
                    "model": NAME, "version": version, "campaign": campaign, **labels}
                ) is not None, (sample, scope, labels)
                asked += 1
    assert asked > 100
    assert REGISTRY.get_sample_value("uplift_windowed_decisions_total", {
        "model": NAME, "version": CANARY, "campaign": "", "arm": "treated",
        "treatment": NONE}) is None


def test_no_series_the_gates_read_is_born_at_its_first_count(loaded: Loaded) -> None:
    """Decisions of this replica (the model's own and the campaign's), reports of either
    version's decisions (outcomes converted or not, late ones, deliveries ok and failed for
    every treatment), and the cohorts closing on them: every counter the operator's gates
    name, labelled with a gate's arm, counts only in series that were there at zero."""
    before = counter_series()
    now = int(time.time())
    loaded.decide(40, None)
    loaded.decide(40, CAMPAIGN)
    signer = Signer(KEY.encode())
    outcomes: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for version in (OWN, CANARY):
        for campaign, window in (("", WINDOW), (CAMPAIGN, CAMPAIGN_WINDOW)):
            for arm in ARMS:
                for key in (*KEYS, NONE):
                    for converted in (True, False):
                        outcomes.append({"decision_id": signer.mint(
                            arm, key, version, campaign, now - 10, window),
                            "converted": converted, "value": 1.0})
                    if campaign:   # late: its window closed before the conversion came
                        outcomes.append({"decision_id": signer.mint(
                            arm, key, version, campaign, now - 10 * window, window),
                            "converted": True, "value": 1.0})
                    if campaign and arm == "treated" and key != NONE:
                        deliveries += [{"decision_id": signer.mint(arm, key, version, campaign,
                                                                   now - 10, window),
                                        "status": status} for status in ("ok", "failed")]
    assert loaded.report("outcomes", outcomes)["counted"] == len(outcomes)
    assert loaded.report("deliveries", deliveries)["counted"] == len(deliveries)
    loaded.runtime._campaign_tick(now + 2 * CAMPAIGN_WINDOW)   # every window closed
    born = counter_series() - before
    assert born, "nothing counted: the test exercises nothing"
    read = read_by_the_operator()
    assert {"uplift_outcomes_converted_total", "uplift_deliveries_total"} <= read
    lost = sorted((name, labels) for name, labels in born if name in read
                  and dict(labels).get("arm", "treated") in ARMS)
    assert lost == []
    # What was counted landed: the canary's first conversion per arm × treatment included.
    assert REGISTRY.get_sample_value("uplift_outcomes_converted_total", {
        "model": NAME, "version": CANARY, "campaign": "", "arm": "holdout",
        "treatment": KEYS[1]}) == 1.0
