"""``SeldonV1Backend.runtime_settings``: the settings a rendered graph carries, read back so
that a pass under an invalid spec renders a split from them and changes nothing but the
traffic (``services.upliftmodel._held_runtime``)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from tests.unit.render.test_seldon import BACKEND, CASES, OWNER, RUNTIME

from uplift_operator.render.seldon import ROLES_ANNOTATION
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

#: What a fallback that must not be used looks like: every field other than the graph's.
ELSEWHERE = RuntimeSettings(
    image="evil.example/anything:latest", registered_model="other", tracking_uri="http://other",
    replicas=9, holdout_fraction=0.5, unit_key="other", salt="other",
    resources={"limits": {"cpu": "64"}}, credential_env=(("X", "other", "key"),),
    report_token=("other", "key"), service_account_name="ci-deployer", drain_wait_seconds=1)


@pytest.mark.parametrize("case", CASES)
def test_a_graph_rendered_again_from_its_own_settings_changes_only_the_split(case: str) -> None:
    runtime, split = CASES[case]
    graph = BACKEND.render(OWNER, runtime, split)
    read = BACKEND.runtime_settings(graph, ELSEWHERE)
    assert read is not None
    assert BACKEND.render(OWNER, read, split) == graph
    # A new version's predictor (an emergency rollback's restore) as the others are.
    other = BACKEND.render(OWNER, read, TrafficSplit("5", split.stable_version, 100))
    assert other == BACKEND.render(OWNER, runtime, TrafficSplit("5", split.stable_version, 100))


def test_the_stable_versions_predictor_is_read() -> None:
    """A hand edit on the canary's predictor alone is not taken for the graph's settings."""
    graph = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 25))
    canary = next(p for p in graph["spec"]["predictors"] if p["annotations"]["version"] == "4")
    canary["componentSpecs"][0]["spec"]["containers"][0]["image"] = "hand-edited:1"
    graph["spec"]["predictors"].reverse()
    read = BACKEND.runtime_settings(graph, ELSEWHERE)
    assert read is not None and read.image == RUNTIME.image
    assert graph["metadata"]["annotations"][ROLES_ANNOTATION] == '{"canary":"4","stable":"3"}'


def test_what_a_predictor_does_not_carry_is_taken_from_the_fallback() -> None:
    graph = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3"))
    container = graph["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"]
                        if e["name"] not in ("UPLIFT_SALT", "UPLIFT_DRAIN_WAIT_SECONDS")]
    read = BACKEND.runtime_settings(graph, ELSEWHERE)
    assert read is not None
    assert (read.salt, read.drain_wait_seconds) == (ELSEWHERE.salt, ELSEWHERE.drain_wait_seconds)
    assert read == replace(RUNTIME, salt=ELSEWHERE.salt,
                           drain_wait_seconds=ELSEWHERE.drain_wait_seconds,
                           treatments=ELSEWHERE.treatments)


@pytest.mark.parametrize("graph", [None, {"spec": {}}, {"spec": {"predictors": []}},
                                   {"spec": {"predictors": [{"componentSpecs": []}]}}])
def test_nothing_to_read_is_none(graph: dict[str, object] | None) -> None:
    assert BACKEND.runtime_settings(copy.deepcopy(graph), ELSEWHERE) is None
