"""``ServingPolicy`` mirrors the SeldonDeployments admission policy's narrowing of
``spec.serving``'s placement (``narrow_placement``: no toleration without a key or of a
control-plane taint, no system-critical PriorityClass) and the chart's pull-Secret list
(``image_pull_secrets``, exact names): each refused value is a problem naming its field, and
``within`` leaves it out (the graph created again from the spec is then one the policy
admits)."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.domain.validation import ServingPolicy

NARROWED = ServingPolicy(narrow_placement=True)
GOOD_TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "inference",
                   "effect": "NoSchedule"}


def _spec(**serving: Any) -> UpliftModelSpec:
    return UpliftModelSpec.model_validate({
        "model": {"registeredModel": "m", "alias": "champion"}, "treatments": [{"name": "t"}],
        "rollout": {"steps": [{"weight": 50}],
                    "gates": [{"name": "errors", "type": "errorRate", "max": 0.05}]},
        "serving": serving})


REFUSED_PLACEMENTS: dict[str, dict[str, Any]] = {
    "keyless": {"tolerations": [{"operator": "Exists"}]},
    "keyless for one effect": {"tolerations": [{"operator": "Exists", "effect": "NoExecute"}]},
    "control plane": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                       "operator": "Exists", "effect": "NoSchedule"}]},
    "master": {"tolerations": [{"key": "node-role.kubernetes.io/master", "operator": "Exists"}]},
    "system-node-critical": {"priorityClassName": "system-node-critical"},
    "system-cluster-critical": {"priorityClassName": "system-cluster-critical"},
}


@pytest.mark.parametrize("placement", list(REFUSED_PLACEMENTS))
def test_the_narrowing_refuses_what_the_admission_policy_refuses(placement: str) -> None:
    spec = _spec(**REFUSED_PLACEMENTS[placement])
    assert ServingPolicy().problems(spec) == []  # without the policy: anything
    (problem,) = NARROWED.problems(spec)
    assert problem.startswith(("spec.serving.tolerations[0]", "spec.serving.priorityClassName"))
    assert "--narrow-serving-placement" in problem
    assert "SeldonDeployments admission policy" in problem
    # InvalidSpec: validate_upliftmodel reports it.
    assert problem in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES, policy=NARROWED)


def test_each_message_says_what_is_wrong() -> None:
    spec = _spec(tolerations=[GOOD_TOLERATION, {"operator": "Exists"},
                              {"key": "node-role.kubernetes.io/control-plane",
                               "operator": "Exists"}],
                 priorityClassName="system-node-critical")
    keyless, control_plane, priority = NARROWED.problems(spec)
    assert keyless.startswith("spec.serving.tolerations[1] names no taint key: it tolerates "
                              "every taint")
    assert keyless.endswith("name the taint's key")
    assert control_plane.startswith(
        "spec.serving.tolerations[2].key 'node-role.kubernetes.io/control-plane' is a "
        "control-plane taint (node-role.kubernetes.io/)")
    assert priority.startswith("spec.serving.priorityClassName 'system-node-critical' is kept "
                               "for what a node or the cluster cannot run without")


def test_the_narrowing_admits_what_the_admission_policy_admits() -> None:
    spec = _spec(nodeSelector={"node-role.kubernetes.io/inference": "true"},
                 tolerations=[GOOD_TOLERATION, {"key": "nvidia.com/gpu", "operator": "Exists"},
                              {"key": "node-role.kubernetes.io.example/x", "operator": "Exists"}],
                 imagePullSecrets=[{"name": "anything"}], priorityClassName="inference-high")
    assert NARROWED.problems(spec) == []
    assert NARROWED.within(spec) is spec


def test_pull_secrets_are_held_to_the_list_by_exact_name() -> None:
    policy = ServingPolicy(image_pull_secrets=("registry-pull", "registry.b"))
    assert policy.problems(_spec(imagePullSecrets=[{"name": "registry-pull"},
                                                   {"name": "registry.b"}])) == []
    problems = policy.problems(_spec(imagePullSecrets=[
        {"name": "registry-pull"}, {"name": "registry-pull-2"}, {"name": "registryxb"}]))
    assert problems == [
        "spec.serving.imagePullSecrets[1].name 'registry-pull-2' is not allowed by the operator "
        "(--allowed-image-pull-secret: registry-pull, registry.b)",
        "spec.serving.imagePullSecrets[2].name 'registryxb' is not allowed by the operator "
        "(--allowed-image-pull-secret: registry-pull, registry.b)"]
    # Empty: any name; the narrowing alone does not hold pull Secrets.
    assert ServingPolicy().problems(_spec(imagePullSecrets=[{"name": "x"}])) == []
    assert NARROWED.problems(_spec(imagePullSecrets=[{"name": "x"}])) == []


def test_within_leaves_out_each_refused_value_and_keeps_the_rest() -> None:
    policy = ServingPolicy(narrow_placement=True, image_pull_secrets=("registry-pull",))
    spec = _spec(nodeSelector={"pool": "inference"},
                 tolerations=[{"operator": "Exists"}, GOOD_TOLERATION,
                              {"key": "node-role.kubernetes.io/master", "operator": "Exists"}],
                 imagePullSecrets=[{"name": "other"}, {"name": "registry-pull"}],
                 priorityClassName="system-cluster-critical")
    within = policy.within(spec)
    assert within.serving.placement() == {
        "nodeSelector": {"pool": "inference"}, "tolerations": [GOOD_TOLERATION],
        "imagePullSecrets": [{"name": "registry-pull"}]}
    assert policy.problems(within) == []
    # Nothing left of a list: none rendered.
    only_refused = policy.within(_spec(tolerations=[{"operator": "Exists"}],
                                       imagePullSecrets=[{"name": "other"}]))
    assert only_refused.serving.placement() == {}
    assert only_refused.serving.tolerations is None
