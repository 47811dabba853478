"""The router's pure parts: sticky weighted choice, splitting a V2 batch, merging the answers."""

from __future__ import annotations

from uplift_operator.devenv.router import Route, choose, merge, split_rows, unit_position

STABLE = Route("v1", "1", 70, "http://stable")
CANARY = Route("v2", "2", 30, "http://canary", canary=True)


def test_share_of_units_follows_the_weights() -> None:
    units = [f"c{i}" for i in range(20000)]
    to_canary = sum(choose([STABLE, CANARY], unit_position(u)) is CANARY for u in units)
    assert abs(to_canary / len(units) - 0.30) < 0.015


def test_raising_the_canary_weight_only_moves_units_from_stable_to_canary() -> None:
    units = [f"c{i}" for i in range(5000)]
    at_30 = {u for u in units if choose([STABLE, CANARY], unit_position(u)) is CANARY}
    bigger = [Route("v1", "1", 40, "http://stable"), Route("v2", "2", 60, "http://canary", True)]
    at_60 = {u for u in units if choose(bigger, unit_position(u)).predictor == "v2"}
    assert at_30 < at_60, "every unit on the canary at 30 % stays there at 60 %"


def test_a_zero_weight_predictor_gets_nothing() -> None:
    routes = [Route("v1", "1", 100, "u"), Route("v2", "2", 0, "u", canary=True)]
    assert all(choose(routes, unit_position(f"c{i}")).predictor == "v1" for i in range(2000))


def test_split_and_merge_keep_row_order() -> None:
    ids = [f"c{i}" for i in range(40)]
    body = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [40, 1],
                        "data": ids},
                       {"name": "recency", "datatype": "INT64", "shape": [40, 1],
                        "data": list(range(40))}]}
    groups = split_rows(body, "customer_id", [STABLE, CANARY])
    assert sorted(i for _, rows in groups.values() for i in rows) == list(range(40))
    answers = []
    for route, rows in groups.values():
        answers.append((route, rows, {"outputs": [
            {"name": "unit_id", "datatype": "BYTES", "shape": [len(rows), 1],
             "data": [ids[i] for i in rows]}]}))
    merged = merge(40, answers)
    outputs = {o["name"]: o["data"] for o in merged["outputs"]}
    assert outputs["unit_id"] == ids
    assert {p for p in outputs["predictor"]} == {"v1", "v2"}
    for unit, predictor in zip(outputs["unit_id"], outputs["predictor"], strict=True):
        assert choose([STABLE, CANARY], unit_position(unit)).predictor == predictor
