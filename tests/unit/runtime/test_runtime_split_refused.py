"""A malformed ``split`` in an otherwise valid campaigns file, through the runtime in-process.

The split is refused alone: the replica keeps its last split and goes on attributing the
model's own decisions by it. Before, that version of the file was counted ``result="ok"`` and
``uplift_campaigns_file_refused`` set to 0, so nothing said the replica attributed by a stale
split and ``UpliftCampaignSettingsRefused`` never fired (the review's t2.py). Now it is counted
``partial`` and the file shows refused until a valid split, or none, is taken
(docs/runtime.md, "Reload without a restart").
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prometheus_client import REGISTRY
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import campaigns, drain

NAME, VERSION = "split-refused-test", "4"
KEY = "split-refused-test-decision-key-0123456789"


def _split(percent: float) -> dict[str, object]:
    return {"stable": "3", "canary": VERSION, "canaryPercent": percent,
            "attributionWindowSeconds": 60}


def _publish(path: Path, split: dict[str, object] | None, version: int) -> None:
    document: dict[str, object] = {"format": campaigns.FORMAT, "campaigns": {}}
    if split is not None:
        document["split"] = split
    path.write_text(json.dumps(document))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + version * 10**9))


def _refused() -> float | None:
    return REGISTRY.get_sample_value("uplift_campaigns_file_refused",
                                     {"model": NAME, "version": VERSION})


def _reloads(result: str) -> float:
    return REGISTRY.get_sample_value("uplift_campaigns_reloads_total",
                                     {"model": NAME, "version": VERSION, "result": result}) or 0.0


def test_a_malformed_split_is_refused_until_a_valid_split_or_none_is_taken(
        tmp_path: Path) -> None:
    train_small_model(tmp_path / "model", arms=("Womens E-Mail",), rows=400, max_iter=10)
    path = tmp_path / "campaigns.json"
    _publish(path, _split(10), 0)
    env = {"UPLIFT_CAMPAIGNS_FILE": str(path), "UPLIFT_DECISION_KEY": KEY,
           "UPLIFT_MODEL_VERSION": VERSION, drain.TOKEN_FILE_ENV: str(tmp_path / "drain-token")}
    with loaded_runtime(NAME, tmp_path / "model", env) as (runtime, _):
        assert runtime._split is not None and runtime._split.canary_percent == 10
        assert _refused() == 0

        def publish(split: dict[str, object] | None, version: int) -> None:
            _publish(path, split, version)
            runtime._campaign_tick(time.time())

        ok, partial = _reloads("ok"), _reloads("partial")
        publish({**_split(10), "canaryPercent": 300}, 1)
        assert runtime._split is not None and runtime._split.canary_percent == 10   # kept
        assert _refused() == 1
        assert (_reloads("ok"), _reloads("partial")) == (ok, partial + 1)
        runtime._campaign_tick(time.time())
        assert _refused() == 1                               # for as long as it is

        publish(_split(30), 2)                               # a valid split: taken
        assert runtime._split is not None and runtime._split.canary_percent == 30
        assert _refused() == 0
        assert _reloads("ok") == ok + 1

        publish({**_split(30), "stable": ""}, 3)             # malformed again, then none
        assert _refused() == 1 and runtime._split.canary_percent == 30
        publish(None, 4)
        assert runtime._split is None
        assert _refused() == 0
