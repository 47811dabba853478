"""What ``kubectl explain upliftmodel.status.phase`` says makes a phase Degraded: every problem
condition ``domain.stuck`` counts for an UpliftModel, each reason named (review: the
ModelResolved reasons left out TrackingUriMissing, which ``stuck.UNRESOLVED_PROBLEMS``
counts; a roll that timed out, ``RollTimedOut``, is counted since it says so in
``ServingApplied``)."""

from __future__ import annotations

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.domain import stuck


def _phase() -> str:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text: str = schema["properties"]["status"]["properties"]["phase"]["description"]
    return " ".join(text.split())


def test_the_phase_names_every_problem_that_degrades_an_upliftmodel() -> None:
    said = _phase()
    for problem in stuck.MODEL_PROBLEMS:
        assert f"{problem.type} {problem.status}" in said, problem
        for reason in problem.reasons:
            assert reason in said, (problem.type, reason)
    assert stuck.UNRESOLVED_PROBLEMS.issubset(stuck.MODEL_PROBLEMS[-1].reasons)


def test_it_speaks_of_an_upliftmodel_not_of_a_campaign() -> None:
    said = _phase()
    assert "Campaign" not in said and "schedule" not in said
