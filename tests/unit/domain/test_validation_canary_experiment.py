"""An UpliftModel's ``spec.experiment`` problem while a canary runs says to abort first.

An attribution window under 1s stored before the CRD's rule is InvalidSpec; while a canary
runs (``status.canaryVersion``) the API server's transition rule refuses any change of
``spec.experiment``, so the message asking to fix the field asked for an edit the API server
refuses (review-final-api). It now says how: abort the canary, then fix. Between canaries the
experiment may change, and its problems say nothing of the kind."""

from __future__ import annotations

from tests.unit.services.test_stored_before_the_bounds import _edited, _invalid_says
from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.domain import validation

HINT = "(spec.experiment cannot change while a canary runs: abort it with `kubectl uplift abort"


def test_only_an_experiment_problem_gets_the_hint() -> None:
    problems = ["spec.experiment.attributionWindow must be at least 1s (got 500ms)",
                "spec.rollout.steps[0].pause must be at most 36600d"]
    said = validation.while_a_canary_runs(problems, "ns", "m")
    assert said == [
        "spec.experiment.attributionWindow must be at least 1s (got 500ms) (spec.experiment "
        "cannot change while a canary runs: abort it with `kubectl uplift abort -n ns m`, "
        "then fix)",
        "spec.rollout.steps[0].pause must be at most 36600d"]


def test_a_window_under_a_second_mid_canary_says_to_abort_first() -> None:
    sim = Sim()
    sim.with_canary()
    _edited(sim, "experiment.attributionWindow", "500ms")
    sim.tick(61)
    namespace, name = sim.body["metadata"]["namespace"], sim.body["metadata"]["name"]
    _invalid_says(sim, "spec.experiment.attributionWindow must be at least 1s (got 500ms) "
                       f"{HINT} -n {namespace} {name}`, then fix)")
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    sim.tick(1)
    assert "canaryVersion" not in sim.status
    sim.tick(1)  # the next pass reads the status without a canary
    message = sim.condition("InvalidSpec")["message"]
    assert "spec.experiment.attributionWindow must be at least 1s" in message
    assert HINT not in message  # no canary: the field may be fixed now


def test_a_window_under_a_second_without_a_canary_says_nothing_of_the_kind() -> None:
    sim = Sim()
    _edited(sim, "experiment.attributionWindow", "500ms")
    sim.tick(1)
    _invalid_says(sim, "spec.experiment.attributionWindow must be at least 1s (got 500ms)")
    assert HINT not in sim.condition("InvalidSpec")["message"]
