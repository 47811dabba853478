"""``progressDeadline`` is at least the analysis interval: ``0s`` and ``1ms`` were accepted, a
step past its deadline before its gates were evaluated once, and the not-serving grace
(``domain.canary``: 5 minutes, or the deadline when shorter) shortened to nothing. The CRDs'
rule (``ramp_rules``) reads the interval's default when the spec sets none; evaluated with
``tests.support.cel``; ``domain.validation`` refuses the same of an object stored before it
(the real API server's validator agrees: review harness)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.cel import evaluate
from tests.unit.domain.test_validation import _campaign, _model

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
from uplift_operator.api.v1alpha1.campaign import ExposureSpec
from uplift_operator.api.v1alpha1.upliftmodel import RolloutSpec
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES


def _deadline_rule(crd: Any, ramp: str) -> str:
    schema = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = schema["properties"]["spec"]["properties"][ramp]["x-kubernetes-validations"]
    (rule,) = [r["rule"] for r in rules if r.get("fieldPath") == ".progressDeadline"]
    return str(rule)


@pytest.mark.parametrize(("crd", "ramp", "model"), [(UPLIFTMODEL, "rollout", RolloutSpec),
                                                    (CAMPAIGN, "exposure", ExposureSpec)])
def test_a_deadline_shorter_than_the_interval_is_refused(crd: Any, ramp: str,
                                                          model: Any) -> None:
    rule = _deadline_rule(crd, ramp)
    default = model.model_fields["analysis_interval"].default  # 1m, 5m
    assert evaluate(rule, {})                                   # no deadline
    for deadline in ("0s", "1ms", "59s"):
        assert not evaluate(rule, {"progressDeadline": deadline}), deadline
        assert not evaluate(rule, {"progressDeadline": deadline, "analysisInterval": "1m"})
    assert evaluate(rule, {"progressDeadline": default})        # the default interval
    assert not evaluate(rule, {"progressDeadline": "1m", "analysisInterval": "61s"})
    assert evaluate(rule, {"progressDeadline": "60s", "analysisInterval": "1m"})
    assert evaluate(rule, {"progressDeadline": "1h", "analysisInterval": "30m"})


def test_the_operator_refuses_one_stored_before_the_rule() -> None:
    problems = validation.validate_upliftmodel(
        _model(**{"rollout.progressDeadline": "1ms"}).spec, BUILTIN_TEMPLATES)
    assert problems == ["spec.rollout.progressDeadline (1ms) is shorter than analysisInterval "
                        "(1m): the step would be past its deadline before its gates are "
                        "evaluated"]
    exposure = _campaign().to_wire()["spec"]["exposure"]
    spec = _campaign(exposure={**exposure, "progressDeadline": "0s"}).spec
    assert any(p.startswith("spec.exposure.progressDeadline (0s) is shorter than analysisInterval")
               for p in validation.validate_campaign(spec, BUILTIN_TEMPLATES, None))
    fits = _model(**{"rollout.progressDeadline": "1m"}).spec
    assert validation.validate_upliftmodel(fits, BUILTIN_TEMPLATES) == []
