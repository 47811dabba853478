"""Campaigns through a real MLServer process: the campaigns file reloaded without a restart.

The file is laid out as a ConfigMap volume is (``campaigns.json`` → ``..data/campaigns.json``,
``..data`` → a timestamped directory) and updated as the kubelet updates it: a new directory,
then an atomic rename of a new ``..data`` link. Each test reads the decisions, the report
answers and ``/metrics`` of the one process; the reload delay (file swapped → first response
decided under the new generation) is measured and printed (docs/dataplane.md).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.model import pyfunc
from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments
from uplift_operator.runtime import drain
from uplift_operator.runtime.assignment import exposed

pytestmark = pytest.mark.integration

NAME = "campaigns"
FORMAT = "uplift-operator/campaigns/v1"
SALT = "it/spring-email"
_swaps = itertools.count()


def entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "generation": 1, "salt": SALT, "unitKey": "customer_id", "holdoutFraction": 0.2,
        "exposurePercent": 5, "treatments": {"a": {"cost": 0.0, "value": 1.0},
                                             "b": {"cost": 0.0, "value": 1.0}},
        "policy": {"type": "upliftThreshold", "minUplift": -1.0}, "maxTreatmentsPerUnit": 1000,
        "budget": None, "attributionWindowSeconds": 14 * 86400, "active": True}
    base.update(changes)
    return base


class ConfigMapVolume:
    """A directory laid out and updated as the kubelet lays out a ConfigMap volume."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "campaigns.json"

    def write(self, text: str) -> float:
        """Publish ``text`` atomically; the time of the swap."""
        version = self.root / f"..{next(_swaps)}"
        version.mkdir()
        (version / "campaigns.json").write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(version.name)
        swapped = time.time()
        os.replace(link, self.root / "..data")
        if not self.path.is_symlink():
            self.path.symlink_to("..data/campaigns.json")
        return swapped

    def publish(self, **campaigns: dict[str, Any]) -> float:
        return self.write(json.dumps({"format": FORMAT, "campaigns": campaigns}))


def _train(path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["p", "q"], size=n),
                          "arm": rng.choice(["ctrl", "A", "B"], size=n)})
    p = 0.1 + 0.3 * ((frame["arm"] == "A") & (frame["x"] > 0)) + 0.1 * (frame["arm"] == "B")
    frame["y"] = (rng.uniform(size=n) < p).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], ["c"])
    t = encode_treatments(frame["arm"].tolist(), "ctrl", ("A", "B"))
    learner = make_learner("t", BaseSpec(params={"max_iter": 20})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    pyfunc.save_model(UpliftModel(schema, learner, ("A", "B"), "ctrl"), path)


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> ConfigMapVolume:
    v = ConfigMapVolume(tmp_path_factory.mktemp("configmap"))
    v.publish(**{"spring-email": entry()})
    return v


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           volume: ConfigMapVolume) -> Iterator[MlserverProcess]:
    model = tmp_path_factory.mktemp("model") / "model"
    _train(model)
    env = {"UPLIFT_DECISION_KEY": "campaigns-decision-key-0123456789",
           "UPLIFT_MODEL_VERSION": "3", "UPLIFT_CAMPAIGNS_FILE": str(volume.path),
           drain.TOKEN_FILE_ENV: str(model.parent / "drain-token")}
    with MlserverProcess(str(model), name=NAME, env=env, extra={"holdout_fraction": 0.1}) as srv:
        yield srv


def v2(units: list[str], campaign: str | None = None, unit_key: str = "customer_id"
       ) -> dict[str, Any]:
    n = len(units)
    body: dict[str, Any] = {"inputs": [
        {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5 + i / n for i in range(n)]},
        {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
        {"name": unit_key, "datatype": "BYTES", "shape": [n], "data": units}]}
    if campaign is not None:
        body["parameters"] = {"campaign": campaign}
    return body


def decide(server: MlserverProcess, units: list[str], campaign: str | None = "spring-email",
           **kw: Any) -> dict[str, Any]:
    r = server.infer(v2(units, campaign, **kw))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    cols = {o["name"]: o["data"] for o in body["outputs"]}
    return {**cols, "parameters": body.get("parameters", {})}


def metric(server: MlserverProcess, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(server.metrics_text()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def label_values(server: MlserverProcess, label: str) -> set[str]:
    return {s.labels[label] for family in text_string_to_metric_families(server.metrics_text())
            for s in family.samples if label in s.labels}


def wait_for_generation(server: MlserverProcess, generation: int, units: list[str],
                        campaign: str = "spring-email", timeout: float = 10.0) -> float:
    """Request until a response is decided under ``generation``; the time it arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = server.infer(v2(units, campaign))
        if r.status_code == 200 and r.json()["parameters"].get("campaign_generation") == generation:
            return time.time()
        time.sleep(0.02)
    pytest.fail(f"generation {generation} not applied within {timeout} s")


def decide_under_a_second_campaign(server: MlserverProcess, volume: ConfigMapVolume, name: str,
                                   salt: str, window: int, *, spring_generation: int,
                                   prefix: str, n: int) -> tuple[list[str], dict[str, Any]]:
    """``spring-email`` at ``spring_generation`` and campaign ``name`` (generation 1, an
    attribution window of ``window`` s) published and applied (the probe ``<prefix>0`` decided
    once), then ``n`` units ``<prefix><i>`` decided under ``name``."""
    volume.publish(**{"spring-email": entry(generation=spring_generation, exposurePercent=100),
                      name: entry(generation=1, salt=salt, exposurePercent=100,
                                  attributionWindowSeconds=window)})
    wait_for_generation(server, 1, [f"{prefix}0"], campaign=name)
    units = [f"{prefix}{i}" for i in range(n)]
    return units, decide(server, units, name)


def test_a_request_names_its_campaign_and_each_row_says_its_arm(server: MlserverProcess) -> None:
    units = [f"c{i}" for i in range(400)]
    cols = decide(server, units)
    assert cols["parameters"]["campaign"] == "spring-email"
    assert cols["parameters"]["campaign_generation"] == 1
    assert set(cols["campaign_arm"]) == {"unexposed", "holdout", "treated"}
    for unit, arm, why, given in zip(units, cols["arm"], cols["campaign_arm"], cols["treatment"],
                                     strict=True):
        assert (why == "unexposed") == (not exposed(unit, SALT, 5)), unit
        assert (given != "none") == (why == "treated")
        assert arm == {"unexposed": "unexposed", "holdout": "holdout"}.get(why, "treated")
    assert 5 <= cols["campaign_arm"].count("treated") + cols["campaign_arm"].count("holdout") <= 45
    text = server.metrics_text()
    assert 'campaign="spring-email"' in text
    assert metric(server, "uplift_campaign_exposure_percent", campaign="spring-email") == 5
    # Without a campaign: the decisions of before (no campaign_arm, model holdout only).
    plain = decide(server, units[:50], None, unit_key="unit_id")
    assert "campaign_arm" not in plain and set(plain["arm"]) <= {"holdout", "treated"}
    assert "campaign" not in plain["parameters"]


def test_an_unknown_campaign_is_refused_and_makes_no_series(server: MlserverProcess) -> None:
    r = server.infer(v2(["u1"], "no-such-campaign"))
    assert r.status_code == 404
    assert "unknown campaign 'no-such-campaign'" in r.json()["error"]
    assert "spring-email" in r.json()["error"]
    assert r.headers["content-type"].startswith("application/json")
    assert "no-such-campaign" not in server.metrics_text()
    assert metric(server, "uplift_request_errors_total", reason="unknown_campaign") >= 1
    r = server.infer(v2(["u1"], "spring-email", unit_key="unit_id"))
    assert r.status_code == 400 and "'customer_id'" in r.json()["error"]


def test_a_new_file_is_applied_without_a_restart(server: MlserverProcess,
                                                 volume: ConfigMapVolume) -> None:
    assert server._proc is not None
    pid = server._proc.pid
    units = [f"r{i}" for i in range(300)]
    before = decide(server, units)
    delays = []
    rng = random.Random(9)
    for generation, percent in ((2, 25), (3, 5), (4, 25), (5, 50), (6, 25), (7, 25), (8, 25)):
        time.sleep(rng.uniform(0, 1))   # at a random phase of the runtime's once-a-second poll
        swapped = volume.publish(**{"spring-email": entry(generation=generation,
                                                          exposurePercent=percent)})
        delays.append(wait_for_generation(server, generation, units[:1]) - swapped)
    after = decide(server, units)
    assert after["parameters"]["campaign_generation"] == 8
    # Monotone exposure: every unit exposed at 5 % is exposed at 25 %, in the same arm.
    for b_arm, a_arm in zip(before["arm"], after["arm"], strict=True):
        if b_arm != "unexposed":
            assert a_arm == b_arm
    assert after["arm"].count("unexposed") < before["arm"].count("unexposed")
    assert server._proc.pid == pid and server._proc.poll() is None   # the same process
    assert metric(server, "uplift_campaign_generation", campaign="spring-email") == 8
    print(f"\nreload delay over {len(delays)} swaps: median {statistics.median(delays):.3f} s, "
          f"max {max(delays):.3f} s ({', '.join(f'{d:.3f}' for d in delays)})")
    assert max(delays) < 2.5   # polled once a second


def test_a_malformed_file_keeps_the_last_good_settings(server: MlserverProcess,
                                                      volume: ConfigMapVolume) -> None:
    volume.publish(**{"spring-email": entry(generation=10, exposurePercent=25)})
    wait_for_generation(server, 10, ["m0"])
    errors = metric(server, "uplift_campaigns_reloads_total", result="error")
    volume.write('{"format": "uplift-operator/campaigns/v1", "campaigns": ')   # truncated
    time.sleep(2.5)
    cols = decide(server, [f"m{i}" for i in range(50)])
    assert cols["parameters"]["campaign_generation"] == 10      # last good, no 5xx
    assert metric(server, "uplift_campaigns_reloads_total", result="error") == errors + 1
    # One bad entry beside a good one: the good one changes, the bad one keeps its settings.
    volume.publish(**{"spring-email": entry(generation=11, exposurePercent="lots"),
                      "autumn-sms": entry(generation=1, salt="it/autumn")})
    wait_for_generation(server, 1, ["m0"], campaign="autumn-sms")
    assert decide(server, ["m0"])["parameters"]["campaign_generation"] == 10
    assert metric(server, "uplift_campaigns_reloads_total", result="partial") >= 1
    volume.publish(**{"spring-email": entry(generation=12, exposurePercent=25)})
    wait_for_generation(server, 12, ["m0"])
    r = server.infer(v2(["m0"], "autumn-sms"))     # removed from the file: no longer served
    assert r.status_code == 404


def test_reports_late_outcomes_and_completeness(server: MlserverProcess,
                                                volume: ConfigMapVolume) -> None:
    units, cols = decide_under_a_second_campaign(server, volume, "flash-sale", "it/flash", 3,
                                                 spring_generation=20, prefix="f", n=60)
    ids = dict(zip(units, cols["decision_id"], strict=True))
    treated = [u for u, why in zip(units, cols["campaign_arm"], strict=True) if why == "treated"]
    holdout = [u for u, why in zip(units, cols["campaign_arm"], strict=True) if why == "holdout"]
    assert treated and holdout
    r = server.post("/uplift/v1/deliveries",
                    {"deliveries": [{"decision_id": ids[u], "status": "ok"} for u in treated]})
    assert r.status_code == 200, r.text
    assert metric(server, "uplift_deliveries_total", campaign="flash-sale",
                  status="ok") == len(treated)
    on_time = treated[: len(treated) // 2] + holdout[:1]
    r = server.post("/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": ids[u], "converted": True, "value": 2.0} for u in on_time]})
    assert r.json() == {"accepted": len(on_time), "counted": len(on_time), "duplicates": 0}
    time.sleep(5.0)   # the 3 s window closes; the next tick counts what was expected
    rest = treated[len(treated) // 2:]
    r = server.post("/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": ids[u], "converted": True} for u in rest]})
    assert r.json() == {"accepted": len(rest), "counted": len(rest), "duplicates": 0,
                        "late": len(rest)}
    # That the rest of the holdout did not convert is known only now: on time, and counted
    # towards the closed cohorts' completeness at the replica's next tick.
    unconverted = holdout[1:]
    r = server.post("/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": ids[u], "converted": False} for u in unconverted]})
    assert r.json() == {"accepted": len(unconverted), "counted": len(unconverted),
                        "duplicates": 0}
    labels = {"campaign": "flash-sale"}
    deadline = time.monotonic() + 5
    while (metric(server, "uplift_outcomes_received_total", **labels)
           < len(on_time) + len(unconverted) and time.monotonic() < deadline):
        time.sleep(0.2)
    assert metric(server, "uplift_conversions_total", **labels) == len(on_time)
    assert metric(server, "uplift_outcomes_total", **labels) == len(on_time) + len(unconverted)
    assert metric(server, "uplift_outcome_value_total", **labels) == 2.0 * len(on_time)
    assert metric(server, "uplift_late_outcomes_total", **labels) == len(rest)
    expected = metric(server, "uplift_outcomes_expected_total", **labels)
    received = metric(server, "uplift_outcomes_received_total", **labels)
    # Every exposed decision expects an outcome, whatever the policy chose (+ the probe row
    # that waited for the file).
    assert cols["campaign_arm"].count("unexposed") == 0
    assert expected == len(units) + 1
    assert received == len(on_time) + len(unconverted)
    # The cohorts' conversions (the Campaign gates' arms): the in-window ones, under the arm
    # and treatment that decided; the late half counts for neither.
    assert metric(server, "uplift_outcomes_converted_total", **labels) == len(on_time)
    assert metric(server, "uplift_outcomes_converted_total", arm="holdout", **labels) == 1
    # The decisions without a campaign stay apart: their outcomes are never late.
    assert metric(server, "uplift_late_outcomes_total", campaign="") == 0


def test_the_prestop_drain_counts_the_pending_cohorts_of_a_stopping_replica(
        server: MlserverProcess, volume: ConfigMapVolume) -> None:
    """A day-long window: nothing is due, yet the drain (the pod's preStop hook) counts this
    replica's expected decisions and the conversions reported to it at once."""
    units, cols = decide_under_a_second_campaign(server, volume, "long-window", "it/long", 86400,
                                                 spring_generation=21, prefix="w", n=40)
    converted = cols["decision_id"][:10]
    r = server.post("/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": d, "converted": True} for d in converted]})
    assert r.json()["counted"] == len(converted)
    labels = {"campaign": "long-window"}
    time.sleep(1.5)  # a tick: still nothing due
    assert metric(server, "uplift_outcomes_expected_total", **labels) == 0
    token = drain.read_token(Path(server.env[drain.TOKEN_FILE_ENV]))  # as the hook reads it
    r = server.session.post(f"{server.url}/uplift/v1/drain", json={}, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["counted"]["expected"] >= len(units)
    assert metric(server, "uplift_outcomes_expected_total", **labels) == len(units) + 1
    assert metric(server, "uplift_outcomes_received_total", **labels) == len(converted)
    assert metric(server, "uplift_outcomes_converted_total", **labels) == len(converted)


def test_spend_stops_at_the_budget(server: MlserverProcess, volume: ConfigMapVolume) -> None:
    budget = {"amount": 5.0, "periodSeconds": 86400, "periodStart": "2026-01-01T00:00:00Z"}
    volume.publish(**{"spring-email": entry(generation=30, exposurePercent=100,
                                            holdoutFraction=0.0, budget=budget,
                                            treatments={"a": {"cost": 1.0, "value": 1.0}})})
    wait_for_generation(server, 30, ["b0"])  # this request spends too
    for i in range(5):
        decide(server, [f"b{i}-{j}" for j in range(4)])
    cols = decide(server, [f"z{j}" for j in range(4)])
    assert set(cols["campaign_arm"]) == {"budget-exhausted"}
    assert metric(server, "uplift_campaign_spend_total", campaign="spring-email") == 5.0
    # What the replica enforces, for the operator's budget gate: this period's spend, exactly.
    assert metric(server, "uplift_campaign_period_spend", campaign="spring-email") == 5.0
    day = 86400
    assert metric(server, "uplift_campaign_period_start_seconds",
                  campaign="spring-email") == time.time() // day * day
    assert metric(server, "uplift_campaign_decisions_total", campaign="spring-email",
                  campaign_arm="budget-exhausted") >= 4
    assert label_values(server, "campaign") <= {"", "spring-email", "flash-sale", "autumn-sms",
                                                "long-window"}


def test_rows_off_their_units_version_are_counted_apart(server: MlserverProcess,
                                                        volume: ConfigMapVolume) -> None:
    """Seldon splits requests, so a unit reaches both versions; with the model's split in the
    file the runtime (version 3, the canary at 30 %) counts only the units it owns."""
    from uplift_operator.runtime.assignment import VERSION_SALT, unit_position

    volume.write(json.dumps({"format": FORMAT, "campaigns": {"spring-email": entry()},
                             "split": {"stable": "2", "canary": "3", "canaryPercent": 30}}))
    probe = [f"split-probe-{i}" for i in range(50)]

    def unattributed() -> float:
        return sum(metric(server, "uplift_assignments_total", campaign="", arm=arm)
                   for arm in ("treated-unattributed", "holdout-unattributed"))

    deadline = time.monotonic() + 10
    while unattributed() == 0 and time.monotonic() < deadline:
        decide(server, probe, campaign=None, unit_key="unit_id")
        time.sleep(0.05)
    before = {arm: metric(server, "uplift_assignments_total", campaign="", arm=arm)
              for arm in ("treated", "holdout", "treated-unattributed", "holdout-unattributed")}
    units = [f"split-{i}" for i in range(600)]
    cols = decide(server, units, campaign=None, unit_key="unit_id")  # the model's unit key
    after = {arm: metric(server, "uplift_assignments_total", campaign="", arm=arm)
             for arm in before}
    owned = sum(unit_position(u, VERSION_SALT) < 0.3 for u in units)
    assert after["treated"] + after["holdout"] - before["treated"] - before["holdout"] == owned
    assert (after["treated-unattributed"] + after["holdout-unattributed"]
            - before["treated-unattributed"] - before["holdout-unattributed"]) == 600 - owned
    # Served alike: the response's arms are the plain ones, its treatments given as ever.
    assert set(cols["arm"]) <= {"treated", "holdout"}
    # An outcome of a row off its version is counted apart as well.
    off = next(i for i, u in enumerate(units) if unit_position(u, VERSION_SALT) >= 0.3
               and cols["arm"][i] == "treated")
    r = server.post("/uplift/v1/outcomes", {"outcomes": [{"decision_id": cols["decision_id"][off],
                                                 "converted": True}]})
    assert r.status_code == 200, r.text
    assert metric(server, "uplift_conversions_total", campaign="",
                  arm="treated-unattributed") >= 1
    volume.publish(**{"spring-email": entry()})  # no split: every row counts for its version


def test_a_file_never_there_is_no_campaign_until_it_appears(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The operator writes a model's campaigns ConfigMap only once it has something to say; the
    predictors mount it optional, so the runtime starts on an empty directory. That is no
    campaign and no split, not an error; the file, once there, applies; once applied, a file
    that vanishes keeps the last version."""
    volume = ConfigMapVolume(tmp_path_factory.mktemp("optional-configmap"))
    model = tmp_path_factory.mktemp("model-optional") / "model"
    _train(model)
    env = {"UPLIFT_DECISION_KEY": "campaigns-decision-key-0123456789",
           "UPLIFT_MODEL_VERSION": "3", "UPLIFT_CAMPAIGNS_FILE": str(volume.path),
           drain.TOKEN_FILE_ENV: str(model.parent / "drain-token")}
    with MlserverProcess(str(model), name="optional", env=env,
                         extra={"holdout_fraction": 0.1}) as srv:
        plain = decide(srv, ["u1", "u2"], None, unit_key="unit_id")
        assert set(plain["arm"]) <= {"holdout", "treated"}
        assert srv.infer(v2(["u1"], "spring-email")).status_code == 404
        assert metric(srv, "uplift_campaigns_reloads_total", result="error") == 0
        volume.publish(**{"spring-email": entry(generation=3)})
        wait_for_generation(srv, 3, ["u1"])
        assert metric(srv, "uplift_campaigns_reloads_total", result="ok") == 1
        volume.path.unlink()                    # gone after a version: that version stays
        time.sleep(2.5)
        assert decide(srv, ["u1"])["parameters"]["campaign_generation"] == 3
        assert metric(srv, "uplift_campaigns_reloads_total", result="error") == 1
