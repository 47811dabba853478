"""Train → register in a real MLflow server → serve with a real MLServer → score, report, scrape.

One MLflow server and one MLServer for the module (each takes ~10-20 s to start).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from uplift_operator.devenv.mlflow_server import MlflowServer
from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.model import trainer

pytestmark = pytest.mark.integration

FEATURES = ["recency", "history", "mens", "womens", "newbie", "zip_code", "channel"]
HOLDOUT = 0.2


@pytest.fixture(scope="module")
def mlflow_url() -> Iterator[str]:
    with MlflowServer() as server:
        yield server.url


@pytest.fixture(scope="module")
def registered(hillstrom_csv: Path, mlflow_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("train") / "result.json"
    rc = trainer.main(["--data", str(hillstrom_csv), "--sample", "8000", "--param", "max_iter=40",
                       "--n-bootstrap", "30", "--tracking-uri", mlflow_url, "--model-name",
                       "hillstrom-it", "--alias", "canary", "--json", str(out), "-q"])
    assert rc == 0
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.fixture(scope="module")
def server(registered: dict[str, Any], mlflow_url: str) -> Iterator[MlserverProcess]:
    extra = {"holdout_fraction": HOLDOUT, "salt": "it-salt", "costs": {"*": 0.0}}
    with MlserverProcess(registered["model_uri"], name="hillstrom", extra=extra,
                         env={"MLFLOW_TRACKING_URI": mlflow_url}) as srv:
        yield srv


@pytest.fixture(scope="module")
def rows(hillstrom_csv: Path) -> pd.DataFrame:
    return pd.read_csv(hillstrom_csv).head(2000)


def v2(frame: pd.DataFrame, unit_ids: list[str] | None = None) -> dict[str, Any]:
    inputs = []
    for name in FEATURES:
        col = frame[name]
        datatype = "BYTES" if not pd.api.types.is_numeric_dtype(col) else ("FP64" if col.dtype.kind == "f"
                                                        else "INT64")
        inputs.append({"name": name, "shape": [len(frame)], "datatype": datatype,
                       "data": col.tolist()})
    if unit_ids is not None:
        inputs.append({"name": "unit_id", "shape": [len(unit_ids)], "datatype": "BYTES",
                       "data": unit_ids})
    return {"inputs": inputs}


def columns(response: dict[str, Any]) -> dict[str, list[Any]]:
    return {o["name"]: o["data"] for o in response["outputs"]}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out.append((s.labels, s.value))
    return out


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for lab, v in samples(text, name)
               if all(lab.get(k) == want for k, want in labels.items()))


def test_registry_holds_version_with_gate_metrics(registered: dict[str, Any],
                                                  mlflow_url: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_url)
    version = client.get_model_version_by_alias("hillstrom-it", "canary")
    assert str(version.version) == registered["model_version"]
    assert version.run_id is not None
    metrics = client.get_run(version.run_id).data.metrics
    assert {"qini.womens_e_mail", "qini_lower.womens_e_mail", "uplift_at_30.mens_e_mail"} <= set(
        metrics)


def test_scores_and_decides_over_http(server: MlserverProcess, rows: pd.DataFrame) -> None:
    units = [f"cust-{i}" for i in range(len(rows))]
    response = server.infer(v2(rows, units))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "1"
    cols = columns(body)
    assert cols["unit_id"] == units
    assert set(cols["arm"]) == {"holdout", "treated"}
    for arm, given, chosen in zip(cols["arm"], cols["treatment"], cols["policy_treatment"],
                                  strict=True):
        assert given == ("none" if arm == "holdout" else chosen)
    assert {"uplift_mens_e_mail", "uplift_womens_e_mail", "decision_id"} <= set(cols)
    # Holdout share within its binomial band (4 sd).
    n = len(units)
    holdout = cols["arm"].count("holdout")
    assert abs(holdout - n * HOLDOUT) < 4 * math.sqrt(n * HOLDOUT * (1 - HOLDOUT))
    # The same unit always gets the same arm, one row at a time too.
    again = columns(server.infer(v2(rows.head(20), units[:20])).json())
    assert again["arm"] == cols["arm"][:20]
    single = columns(server.infer(v2(rows.iloc[[5]], [units[5]])).json())
    assert single["arm"] == [cols["arm"][5]]


def test_reports_and_metrics_contract(server: MlserverProcess, rows: pd.DataFrame) -> None:
    before = server.metrics_text()
    units = [f"rep-{i}" for i in range(200)]
    cols = columns(server.infer(v2(rows.head(200), units)).json())
    treated = [d for d, a, t in zip(cols["decision_id"], cols["arm"], cols["treatment"],
                                    strict=True) if a == "treated" and t != "none"]
    holdout = [u for u, a in zip(units, cols["arm"], strict=True) if a == "holdout"]
    assert treated
    assert holdout
    first_treatment = cols["treatment"][cols["decision_id"].index(treated[0])]
    r = server.post("/uplift/v1/deliveries",
                    {"deliveries": [{"decision_id": d, "status": "ok"} for d in treated]
                     + [{"decision_id": treated[0], "status": "failed"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": len(treated) + 1}
    r = server.post("/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": treated[0], "converted": True, "value": 12.5},
        {"unit_id": holdout[0], "converted": True, "value": 4.0},
        {"unit_id": holdout[1], "converted": False}]})
    assert r.status_code == 200, r.text

    after = server.metrics_text()
    base = {"model": "hillstrom", "version": "1"}

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **base, **labels) - value(before, name, **base, **labels)

    assert delta("uplift_assignments_total") == 200
    assert delta("uplift_assignments_total", arm="holdout") == len(holdout)
    assert delta("uplift_deliveries_total", arm="treated", status="ok") == len(treated)
    assert delta("uplift_deliveries_total", status="failed", treatment=first_treatment) == 1
    assert delta("uplift_conversions_total", arm="treated", treatment=first_treatment) == 1
    assert delta("uplift_outcome_value_total", arm="treated") == 12.5
    assert delta("uplift_conversions_total", arm="holdout") == 1
    assert delta("uplift_outcomes_total", arm="holdout") == 2
    assert delta("uplift_outcome_value_total", arm="holdout") == 4.0
    assert delta("uplift_rows_scored_total") == 200
    # Live feature histograms in the reference binning: every feature counts every row.
    for feature in FEATURES:
        assert delta("uplift_feature_bin_total", feature=feature) == 200
    assert delta("uplift_predicted_uplift_count", treatment="womens_e_mail") == 200
    # The signed sums give the mean predicted uplift (the histogram has no _sum: negative buckets).
    signed = (delta("uplift_predicted_uplift_positive_total", treatment="womens_e_mail")
              - delta("uplift_predicted_uplift_negative_total", treatment="womens_e_mail"))
    assert signed == pytest.approx(sum(cols["uplift_womens_e_mail"]), abs=1e-6)
    assert value(after, "uplift_request_duration_seconds_count", endpoint="infer") > 0
    assert value(after, "uplift_model_info", learner="t") == 1


@pytest.mark.parametrize(("mutate", "status", "fragment", "reason"), [
    (lambda b: b["inputs"].pop(0), 400, "missing features ['recency']", "missing_feature"),
    (lambda b: b["inputs"][0].update(datatype="BYTES", data=["x"] * 3), 400,
     "'recency' must be numeric", "wrong_type"),
    (lambda b: b["inputs"][5].update(datatype="INT64", data=[1, 2, 3]), 400,
     "'zip_code' must be a string", "wrong_type"),
    (lambda b: b["inputs"][1].update(data=["a", "b", "c"]), 400, "non-numeric", "wrong_type"),
    (lambda b: b.update(parameters={"treatments": ["Kids E-Mail"]}), 400,
     "unknown treatment 'Kids E-Mail'", "unknown_treatment"),
])
def test_bad_requests_get_4xx_with_message(server: MlserverProcess, rows: pd.DataFrame,
                                           mutate: Any, status: int, fragment: str,
                                           reason: str) -> None:
    before = value(server.metrics_text(), "uplift_request_errors_total", reason=reason)
    body = v2(rows.head(3))
    mutate(body)
    r = server.infer(body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]
    assert "Traceback" not in r.text
    after = value(server.metrics_text(), "uplift_request_errors_total", reason=reason)
    assert after == before + 1


def test_bad_reports_get_4xx(server: MlserverProcess) -> None:
    r = server.post("/uplift/v1/outcomes", {"outcomes": [{"unit_id": "never-seen"}]})
    assert r.status_code == 404
    assert "never-seen" in r.json()["error"]
    r = server.post("/uplift/v1/outcomes",
                    {"decision_id": "0" * 32 + "~treated~kids_e_mail~1", "converted": True})
    assert r.status_code == 400
    assert "unknown treatment" in r.json()["error"]
    r = server.session.post(f"{server.url}/uplift/v1/deliveries", data=b"{not json",
                            headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]
    text = server.metrics_text()
    assert value(text, "uplift_request_errors_total", endpoint="outcomes") >= 2


def test_metadata_lists_features_and_decision_outputs(server: MlserverProcess) -> None:
    meta = server.session.get(f"{server.url}/v2/models/hillstrom", timeout=10).json()
    assert [i["name"] for i in meta["inputs"]] == [*FEATURES, "unit_id"]
    assert meta["inputs"][0]["datatype"] == "INT64"
    assert "uplift_womens_e_mail" in [o["name"] for o in meta["outputs"]]
    assert meta["versions"] == ["1"]


def test_alias_uri_env_overrides_and_costs(registered: dict[str, Any], mlflow_url: str,
                                           rows: pd.DataFrame) -> None:
    """``models:/name@alias`` resolves to its version label; UPLIFT_* env beats extra."""
    env = {"MLFLOW_TRACKING_URI": mlflow_url, "UPLIFT_HOLDOUT_FRACTION": "0",
           "UPLIFT_COSTS": json.dumps({"Mens E-Mail": 1.0, "*": 0.001})}
    with MlserverProcess("models:/hillstrom-it@canary", name="alias", env=env,
                         extra={"holdout_fraction": 1.0}) as srv:
        r = srv.infer(v2(rows.head(300), [f"a{i}" for i in range(300)]))
        assert r.status_code == 200, r.text
        cols = columns(r.json())
        assert r.json()["model_version"] == registered["model_version"]
        assert set(cols["arm"]) == {"treated"}  # env 0 beat extra 1.0
        # Mens costs more than any uplift is worth: never chosen.
        assert "mens_e_mail" not in cols["treatment"]
        assert "womens_e_mail" in cols["treatment"]
        capped = columns(srv.infer({**v2(rows.head(300)), "parameters": {"budget": 0.005}}
                                   ).json())
        assert sum(t != "none" for t in capped["treatment"]) == 5
        text = srv.metrics_text()
        assert value(text, "uplift_model_info", model="alias",
                     version=registered["model_version"], holdout_fraction="0.0") == 1
