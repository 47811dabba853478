"""A rollback reaches a replica whose model version lacks one of the campaign's treatments.

The runtime rejects an entry naming a treatment its loaded version does not score, keeping its
last good settings of the campaign (the operator holds such a Campaign, Ready
``TreatmentNotServed``). An entry that treats no one (exposure 0, or inactive) it takes without
that treatment instead: rejected, a rollback or an abort would leave the replica treating on.
Through ``UpliftRuntime`` in-process (as MLServer loads it), its campaigns file applied as the
file watch hands it over, and requests through ``predict``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlserver.types import InferenceRequest
from tests.support.runtime_in_process import loaded_runtime

from uplift_operator.model import pyfunc
from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments
from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftRuntime

CAMPAIGN = "spring-email"
#: Treats every exposed unit (upliftThreshold at -1) with the one treatment the model scores.
TREATING: dict[str, Any] = {
    "generation": 1, "salt": "t/spring-email", "unitKey": "customer_id",
    "holdoutFraction": 0.2, "exposurePercent": 100,
    "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
    "policy": {"type": "upliftThreshold", "minUplift": -1.0},
    "attributionWindowSeconds": 86400, "active": True}


def _document(**changes: Any) -> bytes:
    entry = {**copy.deepcopy(TREATING), **changes}
    return json.dumps({"format": "uplift-operator/campaigns/v1",
                       "campaigns": {CAMPAIGN: entry}}).encode()


#: The campaign's entry after a change that also names a treatment the model does not score
#: (the Campaign's spec gained it; the version this replica loaded has only womens-e-mail).
WITH_UNSERVED = {"womens-e-mail": {"cost": 0.0, "value": 1.0},
                 "kids-e-mail": {"cost": 0.0, "value": 1.0}}


@dataclass
class Loaded:
    runtime: UpliftRuntime
    loop: asyncio.AbstractEventLoop


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    root = tmp_path_factory.mktemp("unserved")
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["p", "q"], size=n),
                          "arm": rng.choice(["ctrl", "Womens E-Mail"], size=n)})
    frame["y"] = (rng.uniform(size=n) < 0.1 + 0.2 * (frame["arm"] != "ctrl")).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], ["c"])
    t = encode_treatments(frame["arm"].tolist(), "ctrl", ("Womens E-Mail",))
    learner = make_learner("t", BaseSpec(params={"max_iter": 10})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    pyfunc.save_model(UpliftModel(schema, learner, ("Womens E-Mail",), "ctrl"), root / "model")
    (root / "campaigns.json").write_bytes(_document())
    env = {"UPLIFT_CAMPAIGNS_FILE": str(root / "campaigns.json"),
           "UPLIFT_DECISION_KEY": "unserved-test-decision-key-0123456789",
           "UPLIFT_MODEL_VERSION": "4",
           drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime("unserved-test", root / "model", env) as (runtime, loop):
        yield Loaded(runtime, loop)


def _decide(loaded: Loaded, n: int = 40) -> dict[str, list[Any]]:
    body = {"inputs": [
        {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
        {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
        {"name": "customer_id", "datatype": "BYTES", "shape": [n],
         "data": [f"u{i}" for i in range(n)]}],
        "parameters": {"campaign": CAMPAIGN}}
    response = loaded.loop.run_until_complete(
        loaded.runtime.predict(InferenceRequest.model_validate(body)))
    return {o.name: list(o.data.root) for o in response.outputs}


def _applied(loaded: Loaded, document: bytes) -> None:
    loaded.runtime._apply_campaigns(document, None)  # what the file watch does with a version


def _bound(loaded: Loaded) -> Any:
    """The settings of the campaign this replica applies now."""
    applied = loaded.runtime._campaigns
    assert applied is not None
    return applied[CAMPAIGN].campaign


def test_a_rollback_naming_a_treatment_the_version_lacks_still_stops_treating(
        loaded: Loaded, caplog: pytest.LogCaptureFixture) -> None:
    _applied(loaded, _document())
    assert "treated" in _decide(loaded)["campaign_arm"]  # it treats, at 100 %

    # A spec that gains a treatment this version does not score: rejected while it treats,
    # the last good settings kept (what the operator's TreatmentNotServed hold expects).
    _applied(loaded, _document(generation=2, exposurePercent=50, treatments=WITH_UNSERVED))
    bound = _bound(loaded)
    assert (bound.generation, bound.exposure_percent) == (1, 100)

    # Rolled back (exposure 0, the spec unchanged): taken, and no row is treated any more.
    with caplog.at_level(logging.WARNING, logger="uplift_operator.runtime.runtime"):
        _applied(loaded, _document(generation=2, exposurePercent=0, treatments=WITH_UNSERVED))
    bound = _bound(loaded)
    assert (bound.generation, bound.exposure_percent) == (2, 0)
    assert set(bound.treatments) == {"womens-e-mail"}  # the one this version scores
    decided = _decide(loaded)
    assert set(decided["campaign_arm"]) == {"unexposed"}
    assert set(decided["treatment"]) == {"none"}
    assert any("kids-e-mail" in r.getMessage() and "treats no one" in r.getMessage()
               for r in caplog.records)


def test_an_abort_inactive_entry_is_taken_whatever_treatment_it_names(
        loaded: Loaded) -> None:
    _applied(loaded, _document())
    # Aborted or suspended: inactive at its exposure; no treatment it names is served here.
    _applied(loaded, _document(generation=3, active=False,
                                treatments={"kids-e-mail": {"cost": 0.0, "value": 1.0}}))
    bound = _bound(loaded)
    assert (bound.generation, bound.active, dict(bound.treatments)) == (3, False, {})
    decided = _decide(loaded)
    assert set(decided["campaign_arm"]) == {"inactive"}
    assert set(decided["treatment"]) == {"none"}
