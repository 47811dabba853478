"""spec.schedule.start/end: the API server's ``date-time`` format lets through times the operator
cannot read (year 0000, an offset past 23:59) and a lowercase ``t``/``z``, which its CEL (the
start < end rule) then refuses cryptically; the CRD's pattern refuses those. A time within the
years 0001-9999 as written but not in UTC is refused by a CEL rule on each field (its evaluation
is the API server's: checked offline with the apiextensions validator, and against the real
API server in tests/integration/operator/test_mistakes.py). The strings below are all ones the
``date-time`` format of the apiextensions validator accepts."""

from __future__ import annotations

import re

import pydantic
import pytest

from uplift_operator.api.crds import CAMPAIGN
from uplift_operator.api.v1alpha1.campaign import (
    SCHEDULE_TIME_PATTERN,
    SCHEDULE_TIME_RANGE,
    Schedule,
)

FORMAT_ACCEPTS_OPERATOR_READS = [
    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z",
    "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00.123456789Z", "2026-01-01T00:00:00+23:59",
    "2026-01-01T00:00:00-00:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "0100-06-01T12:00:00+05:30", "1000-01-01T00:00:00Z"]
FORMAT_ACCEPTS_OPERATOR_REFUSES = [
    "0000-01-01T00:00:00Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00-24:00",
    "2026-01-01T00:00:00+00:60", "0000-12-31T23:59:59+01:00"]
#: Read by the operator, but refused by the API server's CEL in the start < end rule.
CEL_REFUSES = ["2026-01-01t00:00:00z", "2026-01-01T00:00:00z", "2026-01-01t00:00:00Z"]


def _schedule_fields() -> dict[str, dict[str, object]]:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    fields: dict[str, dict[str, object]] = (
        schema["properties"]["spec"]["properties"]["schedule"]["properties"])
    return fields


def test_both_times_carry_the_pattern_and_the_utc_range_rule_in_the_crd() -> None:
    fields = _schedule_fields()
    for name in ("start", "end"):
        assert fields[name]["pattern"] == SCHEDULE_TIME_PATTERN
        assert fields[name]["x-kubernetes-validations"] == [SCHEDULE_TIME_RANGE]


@pytest.mark.parametrize("time", CEL_REFUSES)
def test_a_lowercase_t_or_z_is_refused_by_the_pattern(time: str) -> None:
    assert not re.search(SCHEDULE_TIME_PATTERN, time)


@pytest.mark.parametrize("time", FORMAT_ACCEPTS_OPERATOR_READS)
def test_a_time_the_operator_reads_is_let_through(time: str) -> None:
    assert re.search(SCHEDULE_TIME_PATTERN, time)
    Schedule.model_validate({"start": time})
    Schedule.model_validate({"end": time})


@pytest.mark.parametrize("time", FORMAT_ACCEPTS_OPERATOR_REFUSES)
def test_a_time_the_operator_cannot_read_is_refused_by_the_pattern(time: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        Schedule.model_validate({"start": time})
    assert not re.search(SCHEDULE_TIME_PATTERN, time)
