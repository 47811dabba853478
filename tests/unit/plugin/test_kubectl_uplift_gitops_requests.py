"""kubectl uplift and a request annotation Git holds: written, with a warning on stderr.

Git holding ``uplift.dev/retry: git-1``, the plugin's new token is overwritten by Argo CD's next
sync or self-heal with Git's value; the operator ignores it as a token handled before
(``RequestReplayed``), but the request does not belong in Git and the user is told so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.unit.plugin.test_kubectl_uplift import _calls, _fake_kubectl

from uplift_operator.plugin import kubectl_uplift as plugin

RETRY = "uplift.dev/retry"


def _owning(manager: str, key: str = RETRY, operation: str = "Update") -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "uplift.dev/v1alpha1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, f"f:{key}": {}}}}}


def _last_applied(annotations: dict[str, str]) -> str:
    return json.dumps({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                       "metadata": {"name": "spring", "annotations": annotations}})


@pytest.mark.parametrize(("metadata", "declared"), [
    # Argo CD's default sync (client-side apply) and kubectl apply: the last-applied annotation.
    ({"annotations": {RETRY: "git-1",
                      plugin.LAST_APPLIED: _last_applied({RETRY: "git-1"})}},
     ["annotation kubectl.kubernetes.io/last-applied-configuration"]),
    # Argo CD's sync with ServerSideApply=true, or its client-side one: its field manager.
    ({"annotations": {RETRY: "git-1"}, "managedFields": [_owning("argocd-controller", operation="Apply")]},
     ["managedFields manager argocd-controller"]),
    ({"annotations": {RETRY: "git-1",
                      plugin.LAST_APPLIED: _last_applied({RETRY: "git-1"})},
      "managedFields": [_owning("argocd-controller")]},
     ["annotation kubectl.kubernetes.io/last-applied-configuration",
      "managedFields manager argocd-controller"]),
])
def test_a_request_key_git_declares_is_written_with_a_warning(
        metadata: dict[str, Any], declared: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch, metadata,
                          status={"handledRequests": {RETRY: "git-1"}})
    assert plugin.main(["retry", "spring", "-n", "growth"]) == 0
    get, patch = _calls(calls)
    # kubectl get -o json leaves managedFields out unless asked (the fake does too): a
    # server-side apply (Argo CD's ServerSideApply=true, Flux) is seen by them alone.
    assert get == ["--namespace", "growth", "get", "upliftmodels.uplift.dev", "spring",
                   "-o", "json", "--show-managed-fields"]
    assert patch[2] == "patch"
    assert plugin.declared_by({"metadata": metadata}, RETRY) == declared
    out, err = capsys.readouterr()
    assert out.startswith("upliftmodel growth/spring: requested (uplift.dev/retry=")
    assert err == (
        f"kubectl uplift: upliftmodel growth/spring: warning: {RETRY} is also declared by "
        f"{' and '.join(declared)}: Git (or whatever applies the manifest) holds it and puts "
        "its value back at the next sync or self-heal; the operator ignores that value as a "
        "token handled before (Warning event RequestReplayed), but remove uplift.dev/retry "
        "from the manifest: request annotations do not belong in Git\n")


@pytest.mark.parametrize("metadata", [
    {},
    # Written by hand before: the plugin's patch, the runbooks' annotate, an edit.
    {"annotations": {RETRY: "1"}, "managedFields": [
        _owning("kubectl-patch"), _owning("kubectl-annotate"), _owning("kubectl-edit")]},
    # What applies the manifest declares other annotations only.
    {"annotations": {RETRY: "1", plugin.LAST_APPLIED: _last_applied({"team": "growth"})},
     "managedFields": [_owning("argocd-controller", "argocd.argoproj.io/tracking-id")]},
    # A last-applied annotation that does not parse declares nothing.
    {"annotations": {plugin.LAST_APPLIED: "{not json"}},
])
def test_a_request_key_nothing_declares_is_written_without_a_warning(
        metadata: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _fake_kubectl(tmp_path, monkeypatch, metadata,
                  status={"handledRequests": {RETRY: "1"}})
    assert plugin.main(["retry", "spring"]) == 0
    assert plugin.declared_by({"metadata": metadata}, RETRY) == []
    assert capsys.readouterr().err == ""


def test_status_takes_a_token_handled_before_the_last_for_handled_not_pending() -> None:
    """As the operator compares them: a token put back by a sync is no request pending."""
    body: dict[str, Any] = {
        "metadata": {"namespace": "ns", "name": "m", "annotations": {RETRY: "git-1"}},
        "status": {"handledRequests": {RETRY: "oncall-2"},
                   "earlierHandledRequests": {RETRY: ["git-1"]}}}
    assert plugin._pending(body) == []
    assert "pending" not in plugin.render_status(body)
    body["metadata"]["annotations"][RETRY] = "new-3"
    assert [r.token for r in plugin._pending(body)] == ["new-3"]
    # A status edited by hand into something else reads as holding no earlier token.
    body["status"]["earlierHandledRequests"] = "git-1"
    body["metadata"]["annotations"][RETRY] = "git-1"
    assert [r.token for r in plugin._pending(body)] == ["git-1"]
