"""spec.targeting: each policy's field is required under it and refused under the others, which
never read it (review finding 7). Checked on the CRD's own CEL text (``tests.support.cel``),
against what the runtime reads and what the operator says of an object stored before."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from tests.support import cel

from uplift_operator.api.crds import CAMPAIGN
from uplift_operator.api.v1alpha1.campaign import TARGETING_FIELDS, Targeting
from uplift_operator.domain import validation
from uplift_operator.runtime import policy

POLICIES = ("costAware", "upliftThreshold", "topFraction")
VALUES = {"minUplift": 0.05, "topFraction": 0.3}


def _rules() -> list[dict[str, Any]]:
    schema = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules: list[dict[str, Any]] = (
        schema["properties"]["spec"]["properties"]["targeting"]["x-kubernetes-validations"])
    return rules


def _refusals(targeting: dict[str, Any]) -> list[str]:
    """The messages of the CRD's targeting rules that refuse ``targeting``; a rule whose
    evaluation errs (an absent field read) fails the test: the API server would refuse the
    object with "no such key" instead of saying why."""
    return [rule["message"] for rule in _rules() if not cel.evaluate(rule["rule"], targeting)]


CASES = [
    {**({"policy": p} if p is not None else {}), **{f: VALUES[f] for f in fields}}
    for p in (None, *POLICIES)
    for n in range(3) for fields in itertools.combinations(VALUES, n)]


@pytest.mark.parametrize("targeting", CASES, ids=str)
def test_the_api_server_takes_exactly_the_fields_the_policy_reads(
        targeting: dict[str, Any]) -> None:
    effective = targeting.get("policy", "costAware")  # the model's default
    needed = [f for f, p in TARGETING_FIELDS.items() if p == effective and f not in targeting]
    unread = [f for f in targeting if f in TARGETING_FIELDS and TARGETING_FIELDS[f] != effective]
    assert _refusals(targeting) == (
        [f"policy {effective} needs {f}" for f in needed]
        + [f"{f} applies to the {TARGETING_FIELDS[f]} policy only" for f in unread])
    # The operator's words for an object stored before the rules are the API server's.
    typed = Targeting.model_validate(targeting)
    assert typed.ignored_fields() == [
        f"{f} applies to the {TARGETING_FIELDS[f]} policy only" for f in unread]
    assert validation.ignored_targeting_fields(typed) == [
        f"spec.targeting: {f} applies to the {TARGETING_FIELDS[f]} policy only; ignored (stored "
        "before the API server refused it: remove it)" for f in unread]


def test_a_targeting_without_a_policy_is_read_as_cost_aware() -> None:
    """No schema default for policy: reading it unguarded would be CEL's "no such key", so a
    targeting giving only maxTreatmentsPerUnit would be refused for no reason."""
    assert _refusals({"maxTreatmentsPerUnit": 2}) == []
    with pytest.raises(cel.NoSuchKeyError):
        cel.evaluate("self.policy != 'upliftThreshold' || has(self.minUplift)", {})


def _choices(rule: str, *, min_uplift: float | None = None,
             threshold: float | None = None) -> list[int]:
    uplift = np.array([[0.02, 0.01], [0.2, 0.05], [-0.1, 0.3], [0.06, 0.07]])
    allowed = np.array([True, True])
    chosen = policy.choose_rule(uplift, np.array([10.0, 10.0]), np.array([0.5, 1.0]), allowed,
                                rule, min_uplift=min_uplift, threshold=threshold)
    return [int(c) for c in chosen.choice]


@pytest.mark.parametrize("rule", POLICIES)
def test_the_runtime_reads_each_field_under_its_policy_only(rule: str) -> None:
    """What the table says: minUplift is the upliftThreshold rule's bar; topFraction becomes the
    topFraction rule's threshold (``runtime.engine``, under that policy only). Under another
    policy neither changes a single choice."""
    bars = {"minUplift": "min_uplift", "topFraction": "threshold"}
    for field, reader in TARGETING_FIELDS.items():
        needed = {"min_uplift": 0.0, "threshold": 0.0}
        low = _choices(rule, **{**needed, bars[field]: -1.0})
        high = _choices(rule, **{**needed, bars[field]: 0.25})
        assert (low != high) is (rule == reader), (field, rule, low, high)
