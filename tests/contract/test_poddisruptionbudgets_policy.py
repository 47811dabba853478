"""The PodDisruptionBudgets admission policy: RBAC's create, patch and delete on
poddisruptionbudgets would let the operator's token create a budget that never allows an
eviction over any pods (every node drain and cluster upgrade held) or delete any budget; a
fourth ValidatingAdmissionPolicy admits only what ``render.disruption.desired_budgets`` makes,
and deletes of the operator's own budgets. On by default in every mode, the chart's the same as
the manifests' but for the identity, and its literals the render's; its judgments are the API
server's (tests/integration/packaging/test_poddisruptionbudgets_policy.py)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from tests.contract.test_packaging import (
    NAMESPACED,
    ROOT,
    _policy,
    _same_policy_as_the_manifests,
    by_kind,
    helm_template,
)

from uplift_operator.api.v1alpha1.upliftmodel import BUDGET_PERCENT_PATTERN
from uplift_operator.render import disruption, naming
from uplift_operator.services.disruption import SELECTOR

RESOURCE = "poddisruptionbudgets"


def _manifest() -> tuple[dict[str, Any], dict[str, Any]]:
    return _policy([d for d in yaml.safe_load_all(
        (ROOT / "manifests" / "poddisruptionbudgets-policy.yaml").read_text()) if d], RESOURCE)


def test_poddisruptionbudgets_policy_is_on_by_default_in_every_mode_and_the_same_as_the_manifests(
) -> None:
    plain_policy, plain_binding = _manifest()
    for values in ([], NAMESPACED):
        docs = helm_template(*values)
        policy, binding = _policy(docs, RESOURCE)
        assert policy["metadata"]["name"] == plain_policy["metadata"]["name"] == (
            "uplift-operator-poddisruptionbudgets")
        _same_policy_as_the_manifests(policy, plain_policy)  # release "uplift" in uplift-system
        assert binding["spec"] == plain_binding["spec"]
    assert plain_binding["spec"] == {"policyName": plain_policy["metadata"]["name"],
                                     "validationActions": ["Deny"]}
    spec = plain_policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    # DELETE is judged (on the object deleted); the status subresource (the disruption
    # controller's) and evictions (pods/eviction) are not matched.
    assert spec["matchConstraints"] == {"resourceRules": [
        {"apiGroups": ["policy"], "apiVersions": ["v1"], "resources": [RESOURCE],
         "operations": ["CREATE", "UPDATE", "DELETE"]}]}
    secrets_policy, _ = _policy([d for d in yaml.safe_load_all(
        (ROOT / "manifests" / "secrets-policy.yaml").read_text()) if d])
    assert spec["matchConditions"] == secrets_policy["spec"]["matchConditions"]
    kustomization = yaml.safe_load((ROOT / "manifests" / "Kustomization").read_text())
    assert "poddisruptionbudgets-policy.yaml" in kustomization["resources"]

    docs = helm_template("--set", "serviceAccount.name=ops-sa", release="prod")
    policy, binding = _policy(docs, RESOURCE)
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == (
        "prod-uplift-operator-poddisruptionbudgets")
    assert policy["spec"]["matchConditions"] == _policy(docs)[0]["spec"]["matchConditions"]
    off = helm_template("--set", "admissionPolicy.enabled=false")
    assert not by_kind(off, "ValidatingAdmissionPolicy")


def _cel() -> str:
    return " ".join(v["expression"] for v in _manifest()[0]["spec"]["validations"])


def test_poddisruptionbudgets_policy_admits_what_the_operator_renders() -> None:
    """The literals the policy's CEL checks are what render.disruption makes, and the labels
    services.disruption lists its budgets by."""
    owner = naming.Owner(name="m", namespace="ns", uid="u")
    (budget,) = disruption.desired_budgets(owner, {"maxUnavailable": 1}, ["3"])
    (reference,) = budget["metadata"]["ownerReferences"]
    cel = _cel()
    assert f'.kind == "{reference["kind"]}"' in cel and reference["controller"] is True
    assert f'.apiVersion.startsWith("{reference["apiVersion"].split("/")[0]}/")' in cel
    labels = budget["metadata"]["labels"]
    assert (f'variables.labels[?"{naming.MANAGED_BY_LABEL}"].orValue("") == '
            f'"{labels[naming.MANAGED_BY_LABEL]}"') in cel
    assert labels[naming.MODEL_LABEL] == reference["name"]
    assert (f'variables.labels[?"{naming.MODEL_LABEL}"].orValue("") == '
            'variables.owners[0].name') in cel
    # services.disruption lists (and so deletes) only budgets with these labels.
    assert f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY},{naming.MODEL_LABEL}" == SELECTOR
    selector = budget["spec"]["selector"]
    assert list(selector) == ["matchLabels"]
    assert selector["matchLabels"] == {disruption.SELDON_ID_LABEL: owner.name,
                                       disruption.VERSION_LABEL: "3"}
    assert labels[disruption.VERSION_LABEL] == "3"
    assert "object.spec.selector.?matchLabels.orValue({}).size() == 2" in cel
    assert (f'object.spec.selector.matchLabels[?"{disruption.SELDON_ID_LABEL}"].orValue("") '
            '== variables.owners[0].name') in cel
    assert (f'object.spec.selector.matchLabels[?"{disruption.VERSION_LABEL}"].orValue("") '
            f'== variables.labels[?"{disruption.VERSION_LABEL}"].orValue("")') in cel
    # Past 63 characters, Seldon's id: seldon-<md5>, as render.disruption computes it.
    long_id = disruption.seldon_deployment_id("x" * 64)
    (pattern,) = re.findall(r'\.matches\( ?"(\^seldon-[^"]*)"\)', cel)
    assert re.fullmatch(pattern.strip("^$"), long_id)
    assert f"size(variables.owners[0].name) > {disruption.NAME_BOUND}" in cel


def test_poddisruptionbudgets_policy_counts_are_the_crds_less_those_that_allow_no_eviction(
) -> None:
    """The policy's percent patterns are the CRD's (BUDGET_PERCENT_PATTERN) less "0%" for
    maxUnavailable and less "100%" for minAvailable, the values the CRD's rules refuse
    (tests/unit/render/test_disruption_budgets.py pins the same patterns against the rules)."""
    from tests.unit.render.test_disruption_budgets import POLICY_MAX_PERCENT, POLICY_MIN_PERCENT

    cel = _cel()
    assert f'string(object.spec.maxUnavailable).matches("{POLICY_MAX_PERCENT}")' in cel
    assert f'string(object.spec.minAvailable).matches("{POLICY_MIN_PERCENT}")' in cel
    assert "? object.spec.maxUnavailable > 0" in cel
    assert "? object.spec.minAvailable >= 0" in cel
    percents = [f"{p}%" for p in range(101)]
    crd = {p for p in percents if re.fullmatch(BUDGET_PERCENT_PATTERN.strip("^$"), p)}
    assert crd == set(percents)
    assert {p for p in percents if re.fullmatch(POLICY_MAX_PERCENT.strip("^$"), p)} == (
        crd - {"0%"})
    assert {p for p in percents if re.fullmatch(POLICY_MIN_PERCENT.strip("^$"), p)} == (
        crd - {"100%"})
