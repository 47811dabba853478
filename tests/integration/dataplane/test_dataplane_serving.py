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
    # A failure then a success for one decision are two results; each is counted once.
    assert r.json() == {"accepted": len(treated) + 1, "counted": len(treated) + 1,
                        "duplicates": 0}
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
    r = server.post("/uplift/v1/outcomes", {"outcomes": [{"unit_id": "never-seen", "converted": True}]})
    assert r.status_code == 404
    assert "never-seen" in r.json()["error"]
    r = server.post("/uplift/v1/outcomes",
                    {"decision_id": "0" * 32 + "~treated~kids_e_mail~1", "converted": True})
    assert r.status_code == 400
    assert "outcomes[0].decision_id: malformed" in r.json()["error"]
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


def test_forged_duplicate_and_overflowing_reports_change_no_counter(
        server: MlserverProcess, rows: pd.DataFrame) -> None:
    """The issue's reproductions: never-issued ids, duplicates in one body, 1e308 twice."""
    cols = columns(server.infer(v2(rows.head(40), [f"dup-{i}" for i in range(40)])).json())
    real = cols["decision_id"][0]
    before = server.metrics_text()
    forged = ["", " ", "é" * 20, real + "\n", real * 40, real.replace("~1", "~1\n"),
              real.replace("~1", "~2")]
    for bad in forged:
        r = server.post("/uplift/v1/outcomes", {"outcomes": [{"decision_id": bad, "converted": True}]})
        assert r.status_code == 400, (bad, r.text)
        assert "outcomes[0].decision_id" in r.json()["error"]
    for huge in (1e308, 1e308):
        r = server.post("/uplift/v1/outcomes", {"decision_id": real, "converted": True, "value": huge})
        assert r.status_code == 400
        assert "outcomes[0].value" in r.json()["error"]
    r = server.post("/uplift/v1/outcomes", {"outcomes": [{"decision_id": real, "converted": True,
                                                          "value": 3.0}] * 2})
    assert r.json() == {"accepted": 2, "counted": 1, "duplicates": 1}
    r = server.post("/uplift/v1/outcomes", {"decision_id": real, "converted": True, "value": 3.0})
    assert r.json()["counted"] == 0
    after = server.metrics_text()
    for name in ("uplift_outcomes_total", "uplift_conversions_total"):
        assert value(after, name) - value(before, name) == 1
    assert value(after, "uplift_outcome_value_total") - value(before, "uplift_outcome_value_total") == 3.0
    # No series other than the served version's came into being.
    assert {lab["version"] for lab, _ in samples(after, "uplift_outcomes_total")} == {"1"}
    assert value(after, "uplift_duplicate_reports_total", endpoint="outcomes") >= 2


def test_malformed_infer_values_get_4xx_and_the_connection_survives(
        server: MlserverProcess, rows: pd.DataFrame) -> None:
    """INT64 overflow, fractions, BOOL/BYTES mix-ups, null unit ids and deep nesting: JSON 4xx
    naming the input, on one keep-alive connection that keeps serving."""
    import http.client

    def body(mutate: Any) -> bytes:
        b = v2(rows.head(2), ["a", "b"])
        mutate(b)
        return json.dumps(b).encode()

    cases = [
        (body(lambda b: b["inputs"][0].update(data=[2**70, 1])), "'recency'", "INT64 range"),
        (body(lambda b: b["inputs"][0].update(data=[1.5, 1])), "'recency'", "not an integer"),
        (body(lambda b: b["inputs"][0].update(datatype="BOOL", data=["no", "yes"])), "'recency'",
         "BOOL"),
        (body(lambda b: b["inputs"][5].update(data=[5, 6])), "'zip_code'", "holds 5"),
        (body(lambda b: b["inputs"][7].update(data=[None, "b"])), "'unit_id'", "None"),
        (body(lambda b: b["inputs"][7].update(data=["", "b"])), "'unit_id'[0]", "empty"),
        (b'{"outcomes": ' + b"[" * 5000 + b"]" * 5000 + b"}", "", "nested too deeply"),
    ]
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for payload, field, fragment in cases:
            path = "/uplift/v1/outcomes" if payload.startswith(b'{"outcomes"') else \
                f"/v2/models/{server.name}/infer"
            conn.request("POST", path, body=payload, headers={"content-type": "application/json"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            assert response.status == 400, answer
            assert field in answer["error"] and fragment in answer["error"], answer
            assert not response.will_close
        conn.request("POST", f"/v2/models/{server.name}/infer", body=body(lambda b: None),
                     headers={"content-type": "application/json"})
        assert conn.getresponse().status == 200  # same connection, still serving
    finally:
        conn.close()
