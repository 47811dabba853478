"""``uplift_campaign_entry_refused`` across a model reload, through the runtime in-process.

MLServer reloads a model by loading the new instance, then unloading the old one
(``mlserver/registry.py`` ``_reload_model``): both set the same series (model, version,
campaign) while the same entry is refused. The old one's unload removed it, and the new one,
which had exported it already, never set it again while the entry stayed refused: the alert on
it cleared with the pods still not serving the campaign (the review's
r2_reload_removes_refused_gauge.py).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mlserver.settings import ModelParameters, ModelSettings
from prometheus_client import REGISTRY
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftRuntime

NAME, VERSION = "reload-refused-test", "7"
KEY = "reload-refused-test-decision-key-0123456789"


def _entry(**changes: object) -> dict[str, object]:
    return {"generation": 1, "salt": "t/x", "unitKey": "customer_id", "holdoutFraction": 0.5,
            "exposurePercent": 100, "treatments": {"womens-e-mail": {"cost": 0.0, "value": 1.0}},
            "policy": {"type": "upliftThreshold", "minUplift": -1.0},
            "attributionWindowSeconds": 60, "active": True, **changes}


def _publish(path: Path, campaigns: dict[str, object], version: int) -> None:
    path.write_text(json.dumps({"format": "uplift-operator/campaigns/v1",
                                "campaigns": campaigns}))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + version * 10**9))


def _refused(campaign: str) -> float | None:
    return REGISTRY.get_sample_value("uplift_campaign_entry_refused",
                                     {"model": NAME, "version": VERSION, "campaign": campaign})


def test_a_reload_keeps_the_refused_entry_series_the_new_instance_set(tmp_path: Path) -> None:
    train_small_model(tmp_path / "model")
    path = tmp_path / "campaigns.json"
    bad = _entry(treatments={"no-such-treatment": {"cost": 0.0, "value": 1.0}})
    _publish(path, {"a": _entry(), "broken": bad}, 1)
    env = {"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_DECISION_KEY": KEY,
           "UPLIFT_MODEL_VERSION": VERSION, drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}
    with loaded_runtime(NAME, tmp_path / "model", env) as (old, loop):
        assert _refused("broken") == 1
        new = UpliftRuntime(ModelSettings(name=NAME, implementation=UpliftRuntime,
                                          parameters=ModelParameters(uri=str(tmp_path / "model"))))
        loop.run_until_complete(new.load())        # the registry's order: the new one first
        try:
            assert _refused("broken") == 1
            assert loop.run_until_complete(old.unload())   # ... then the old one goes
            assert _refused("broken") == 1                 # the new one's, still refused
            new._campaign_tick(time.time())
            assert _refused("broken") == 1
            _publish(path, {"a": _entry()}, 2)             # it leaves the file: the new one
            new._campaign_tick(time.time())                # owns the series alone, removes it
            assert _refused("broken") is None
            _publish(path, {"a": _entry(), "broken": bad}, 3)
            new._campaign_tick(time.time())
            assert _refused("broken") == 1
        finally:
            loop.run_until_complete(new.unload())
        assert _refused("broken") is None                  # the last instance took it along
