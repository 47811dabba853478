"""An apply the chart's ValidatingAdmissionPolicy refuses because of a field someone else set
on the SeldonDeployment (``kubectl annotate sdep x seldon.io/rest-timeout=…``, a
``spec.annotations`` entry): the forced server-side apply keeps other managers' fields and the
policy judges the merged object, so every later apply of the operator is refused, a rollback's
included. The error (``ServingApplied``'s message) names those fields, who set them, and the
command that removes them (docs/security.md, "SeldonDeployments")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from uplift_operator.adapters.kube import KubeCluster, KubeError, foreign_fields

SELDON = "machinelearning.seldon.io/v1"
DENIED = ("seldondeployments.machinelearning.seldon.io \"m\" is forbidden: "
          "ValidatingAdmissionPolicy 'uplift-operator-seldondeployments' with binding "
          "'uplift-operator-seldondeployments' denied request: no annotations Seldon copies")

LIVE: dict[str, Any] = {
    "apiVersion": SELDON, "kind": "SeldonDeployment",
    "metadata": {"name": "m", "namespace": "ns", "managedFields": [
        {"manager": "uplift-operator", "operation": "Apply", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {"f:uplift.dev/roles": {}},
                                     "f:ownerReferences": {"k:{\"uid\":\"u\"}": {}}},
                      "f:spec": {"f:predictors": {}}}},
        {"manager": "kubectl-annotate", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {
             ".": {}, "f:seldon.io/rest-timeout": {}}}}},
        {"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:annotations": {".": {}, "f:seldon.io/grpc-timeout": {}},
                                 "f:predictors": {}}}},
        {"manager": "seldon-manager", "operation": "Update", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:state": {}}}}]}}


class _Custom:
    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return json.loads(json.dumps(LIVE))


def _refused(status: int, message: str) -> KubeError:
    cluster = KubeCluster(client.ApiClient(client.Configuration(host="http://127.0.0.1:1")))
    refusal = ApiException(status=status, reason="Forbidden")
    refusal.body = json.dumps({"kind": "Status", "message": message})

    def refuse(*_: Any, **__: Any) -> Any:  # the apply's PATCH, at the REST client
        raise refusal

    cluster._api.rest_client.request = refuse  # type: ignore[method-assign]
    cluster._custom = _Custom()  # type: ignore[assignment]
    with pytest.raises(KubeError) as raised:
        cluster.apply({"apiVersion": SELDON, "kind": "SeldonDeployment",
                       "metadata": {"name": "m", "namespace": "ns"}}, "seldondeployments")
    return raised.value


def test_a_policy_refusal_names_the_fields_others_set_who_set_them_and_the_fix() -> None:
    error = _refused(403, DENIED)
    message = str(error)
    assert error.status == 403 and message.startswith("apply seldondeployments/m: 403 ")
    assert "metadata.annotations.seldon.io/rest-timeout (set by kubectl-annotate)" in message
    assert "spec.annotations.seldon.io/grpc-timeout (set by kubectl-edit)" in message
    assert ("kubectl patch seldondeployments m -n ns --type=json -p '"
            '[{"op": "remove", "path": "/metadata/annotations/seldon.io~1rest-timeout"}, '
            '{"op": "remove", "path": "/spec/annotations/seldon.io~1grpc-timeout"}]\'' in message)
    # Neither the operator's own fields, the predictors (replaced whole) nor Seldon's status.
    assert "roles" not in message and "predictors" not in message and "status" not in message


def test_another_refusal_says_nothing_more() -> None:
    assert "other managers" not in str(_refused(422, "admission webhook denied it: quota"))
    assert "other managers" not in str(_refused(409, "the object has been modified"))


def test_foreign_fields_through_a_keyed_list_item_is_named_with_its_key() -> None:
    obj = {"metadata": {"managedFields": [
        {"manager": "kubectl-edit", "operation": "Update",
         "fieldsV1": {"f:spec": {"f:hosts": {"v:\"x/y\"": {}}, "f:replicas": {},
                                 "f:tolerations": {"k:{\"key\":\"gpu\"}": {".": {}}}}}}]}}
    assert foreign_fields(obj) == [
        (("spec", "hosts", '["x/y"]'), "kubectl-edit"),
        (("spec", "replicas"), "kubectl-edit"),
        (("spec", "tolerations", "[key=gpu]"), "kubectl-edit")]


def test_another_owner_reference_is_named_and_a_finalizer_is_not() -> None:
    """The policy allows exactly one owner: another manager's owner reference is a field to
    name (its path reaches the list item, keyed by uid). Another controller's finalizer is
    not judged by the policy and is never offered for removal."""
    obj = {"metadata": {"managedFields": [
        {"manager": "uplift-operator", "operation": "Apply", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:ownerReferences": {"k:{\"uid\":\"u\"}": {}}}}},
        {"manager": "argocd-controller", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:ownerReferences": {".": {}, "k:{\"uid\":\"abc\"}": {}},
                                     "f:finalizers": {".": {}, "v:\"foo/bar\"": {}}}}}]}}
    found = foreign_fields(obj)
    assert [manager for _, manager in found] == ["argocd-controller"]
    assert found[0][0][:2] == ("metadata", "ownerReferences")
    assert "abc" in found[0][0][2]
