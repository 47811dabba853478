"""The runtime's V2 model metadata (``GET /v2/models/m``): each input listed once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace as Ns

import pytest

from uplift_operator.runtime.runtime import UpliftRuntime


def _inputs(unit_key: str) -> list[tuple[str, str]]:
    schema = Ns(numeric=("customer_id", "age"), integer=("customer_id",),
                categorical=("segment",))
    engine = Ns(model=Ns(schema=schema), config=Ns(unit_key=unit_key), keys=("a",),
                version="3")
    runtime = Ns(_engine=engine, _campaigns=None, name="m")
    md = asyncio.run(UpliftRuntime.metadata(runtime))  # type: ignore[arg-type]
    return [(t.name, t.datatype) for t in md.inputs]


@pytest.mark.parametrize(("unit_key", "datatype"),
                         [("customer_id", "INT64"), ("segment", "BYTES")])
def test_a_unit_key_that_is_a_feature_is_listed_once_with_its_datatype(
        unit_key: str, datatype: str) -> None:
    inputs = _inputs(unit_key)
    assert [n for n, _ in inputs].count(unit_key) == 1
    assert dict(inputs)[unit_key] == datatype


def test_a_unit_key_apart_from_the_features_is_listed_as_bytes() -> None:
    assert _inputs("user_id") == [("customer_id", "INT64"), ("age", "FP64"),
                                  ("segment", "BYTES"), ("user_id", "BYTES")]
