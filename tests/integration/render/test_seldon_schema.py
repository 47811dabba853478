"""Every rendered SeldonDeployment is accepted by Seldon Core 1.17.1's own CRD schema and
round-trips unpruned through the real API server (issue #12 item 9).

The golden cases of tests/unit/render are created in a fresh namespace and read back: a field
Seldon's structural schema does not know would be pruned silently, a wrong type refused.
"""

from __future__ import annotations

import copy
import json

import pytest
from tests.support.kube import Kubectl
from tests.unit.render.test_seldon import BACKEND, CASES, OWNER

from uplift_operator.devenv.seldon_crd import CRD_NAME, seldon_crd

pytestmark = pytest.mark.integration


def test_the_installed_crd_is_seldons_own_when_shared_is_present(admin: Kubectl) -> None:
    path, real = seldon_crd(quiet=True)
    if not real:
        pytest.skip(f"../shared/seldon is absent; the stand-in CRD ({path.name}) is installed")
    crd = json.loads(admin.run("get", "crd", CRD_NAME, "-o", "json").stdout)
    assert crd["metadata"]["labels"]["app.kubernetes.io/version"] == "1.17.1"
    served = {v["name"] for v in crd["spec"]["versions"] if v["served"]}
    assert "v1" in served
    v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    spec_schema = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "predictors" in spec_schema["properties"]  # a real schema, not the open stand-in


@pytest.mark.parametrize("case", CASES)
def test_rendered_seldon_deployment_round_trips_unpruned(case: str, admin: Kubectl,
                                                          namespace: str) -> None:
    runtime, split = CASES[case]
    rendered = BACKEND.render(OWNER, runtime, split)
    body = copy.deepcopy(rendered)
    body["metadata"]["namespace"] = namespace
    del body["metadata"]["ownerReferences"]  # no such UpliftModel here; the GC would delete it
    admin.run("create", "--validate=strict", "-f", "-", input=json.dumps(body))
    stored = admin.get("seldondeployments.machinelearning.seldon.io", body["metadata"]["name"],
                       namespace)
    assert stored["spec"] == rendered["spec"]
    assert stored["metadata"]["labels"] == rendered["metadata"]["labels"]


#: What Seldon 1.17's controller puts in place of the pod-level securityContext of every
#: Deployment it creates (``createDeploymentWithoutEngine``): nil without its
#: ``DEFAULT_USER_ID``, ``runAsUser`` alone with it (8888 in Seldon's chart).
SELDON_POD_CONTEXTS = {"as rendered": "keep", "Seldon without DEFAULT_USER_ID": None,
                       "Seldon's chart (DEFAULT_USER_ID 8888)": {"runAsUser": 8888}}


@pytest.mark.parametrize("pod_context", SELDON_POD_CONTEXTS)
@pytest.mark.parametrize("case", CASES)
def test_rendered_runtime_pods_are_admitted_under_pod_security_restricted(
        case: str, pod_context: str, admin: Kubectl, namespace: str) -> None:
    """Seldon makes the predictor's pods from its pod spec, its own pod-level securityContext
    in place of ours: a namespace that enforces the Pod Security Standard "restricted" (the
    real API server's PodSecurity admission) admits them either way."""
    runtime, split = CASES[case]
    rendered = BACKEND.render(OWNER, runtime, split)
    admin.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
              "pod-security.kubernetes.io/warn=restricted")
    replaced = SELDON_POD_CONTEXTS[pod_context]
    for predictor in rendered["spec"]["predictors"]:
        spec = copy.deepcopy(predictor["componentSpecs"][0]["spec"])
        if replaced is None:
            del spec["securityContext"]
        elif replaced != "keep":
            spec["securityContext"] = replaced
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": predictor["name"], "namespace": namespace},
               "spec": spec}
        answer = admin.run("create", "--dry-run=server", "-f", "-", input=json.dumps(pod))
        assert "Warning" not in answer.stderr, answer.stderr
