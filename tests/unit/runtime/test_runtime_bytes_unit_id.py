"""An integer unit id in a ``BYTES`` unit key input (the V2 metadata declares ``unit_id``
BYTES): its decimal string, the unit an ``INT64`` ``123`` and a report's ``unit_id`` ``123``
are. Before, it was refused ``400 wrong_type`` "categories are strings", a feature's message
(the review's t6.py); a float or a boolean there is a ``bad_unit_id`` (docs/runtime.md,
"Decisions")."""

from __future__ import annotations

import pytest
from mlserver.types import InferenceRequest

from uplift_operator.runtime.engine import RequestError
from uplift_operator.runtime.runtime import decode_columns


def _units(datatype: str, data: list[object], features: tuple[str, ...] = ()) -> list[str] | None:
    request = InferenceRequest.model_validate({"inputs": [
        {"name": "unit_id", "datatype": datatype, "shape": [len(data)], "data": data}]})
    return decode_columns(request, features=features)[1]


def test_an_integer_in_a_bytes_unit_key_is_the_unit_of_its_decimal_string() -> None:
    assert _units("BYTES", [123, "u-7", -5, 2**70]) == ["123", "u-7", "-5", str(2**70)]
    # One unit whichever way it is sent: the arm is a hash of this string.
    assert _units("BYTES", [123]) == _units("BYTES", ["123"]) == _units("INT64", [123])


@pytest.mark.parametrize("value", [3.0, 1.5, True])
def test_another_value_in_a_bytes_unit_key_is_a_bad_unit_id(value: object) -> None:
    with pytest.raises(RequestError) as info:
        _units("BYTES", ["ok", value])
    assert info.value.reason == "bad_unit_id"
    assert f"'unit_id'[1]: a unit id must be a string or an integer, got {value!r}" in str(
        info.value)


def test_a_bytes_unit_key_that_is_also_a_feature_keeps_the_features_check() -> None:
    """A categorical feature holds strings: the integer is refused as the feature's value."""
    with pytest.raises(RequestError) as info:
        _units("BYTES", [123], features=("unit_id",))
    assert info.value.reason == "wrong_type"
    assert "categories are strings" in str(info.value)
