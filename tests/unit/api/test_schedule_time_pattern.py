"""spec.schedule.start/end: the API server's ``date-time`` format lets through times the operator
cannot read (year 0000, an offset past 23:59); the CRD's pattern refuses exactly those, so a
schedule the API server stores is one every pass reads. The strings below are all ones the
``date-time`` format of the apiextensions validator accepts (checked against it offline)."""

from __future__ import annotations

import re

import pydantic
import pytest

from uplift_operator.api.crds import CAMPAIGN
from uplift_operator.api.v1alpha1.campaign import SCHEDULE_TIME_PATTERN, Schedule

FORMAT_ACCEPTS_OPERATOR_READS = [
    "2026-01-01T00:00:00Z", "2026-01-01t00:00:00z", "2026-01-01T00:00:00.5Z",
    "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00.123456789Z", "2026-01-01T00:00:00+23:59",
    "2026-01-01T00:00:00-00:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "0100-06-01T12:00:00+05:30", "1000-01-01T00:00:00Z"]
FORMAT_ACCEPTS_OPERATOR_REFUSES = [
    "0000-01-01T00:00:00Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00-24:00",
    "2026-01-01T00:00:00+00:60", "0000-12-31T23:59:59+01:00"]


def _schema_patterns() -> list[str]:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schedule = schema["properties"]["spec"]["properties"]["schedule"]["properties"]
    return [schedule["start"]["pattern"], schedule["end"]["pattern"]]


def test_both_times_carry_the_pattern_in_the_crd() -> None:
    assert _schema_patterns() == [SCHEDULE_TIME_PATTERN, SCHEDULE_TIME_PATTERN]


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
