"""A campaigns ConfigMap someone made immutable (``immutable: true``; the admission policy on
ConfigMaps refuses it the operator's own identity) refuses every later write of the file: the
API server answers each apply 422, a suspension's 0 % included, and the operator has no
``delete`` to recover. Its Campaigns' ``SettingsDelivered`` (False, ``FileNotWritten``) says so
and what to do: delete the ConfigMap, which the next pass writes anew. Before, the API server's
422 text alone (a review, 2026-12-07)."""

from __future__ import annotations

import datetime as dt

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, campaign_body, file_of, sync

from uplift_operator.adapters.kube import KubeError
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.services import campaigns_file

NAME = KEY[3]
#: The API server's answer to an apply of new data over an immutable ConfigMap (Kubernetes'
#: ValidateConfigMapUpdate), as ``adapters.kube`` words it.
IMMUTABLE = KubeError(f'apply configmaps/{NAME}: 422 ConfigMap "{NAME}" is invalid: data: '
                      "Forbidden: field is immutable when `immutable` is set", 422, ("data",))
T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _frozen() -> tuple[FakeCluster, campaigns_file.FileDependencies]:
    """A model whose file was written at 5 %, then made immutable by hand."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    assert sync(deps, campaign_body(percent=5)).changed
    cluster.objects[KEY]["immutable"] = True
    cluster.apply_error = IMMUTABLE
    return cluster, deps


def test_an_immutable_config_map_is_said_so_with_what_to_do() -> None:
    cluster, deps = _frozen()
    # The Campaign suspended: its 0 % cannot reach the runtime.
    synced = sync(deps, campaign_body(phase="Suspended", percent=0))
    assert not synced.changed and synced.error is not None
    assert synced.error.startswith(f"ConfigMap {NS}/{NAME} is immutable (immutable: true)")
    assert "a suspension or a rollback included" in synced.error
    assert f"delete it (kubectl delete configmap {NAME} -n {NS})" in synced.error
    assert "field is immutable when `immutable` is set" in synced.error  # the API's words kept
    assert file_of(cluster)["campaigns"]["spring-email"]["exposurePercent"] == 5
    # What the Campaign pass says: SettingsDelivered False, FileNotWritten, with that text.
    problem = deps.undelivered(NS, OWNER.name)
    assert isinstance(problem, str) and synced.error in problem
    [delivered] = exposure.settings_delivered([], problem, 2, T0)
    assert (delivered.type, delivered.status, delivered.reason) == (
        cond.SETTINGS_DELIVERED, "False", cond.FILE_NOT_WRITTEN)
    assert f"kubectl delete configmap {NAME} -n {NS}" in delivered.message


def test_known_immutable_from_the_config_map_there_too() -> None:
    """A 422 whose text is not Kubernetes' own (a webhook's, another version's words) over a
    ConfigMap that is immutable is said so as well."""
    _, deps = _frozen()
    deps.cluster.apply_error = KubeError(  # type: ignore[attr-defined]
        f"apply configmaps/{NAME}: 422 ConfigMap is frozen", 422)
    error = sync(deps, campaign_body(phase="Suspended", percent=0)).error
    assert error is not None and error.startswith(f"ConfigMap {NS}/{NAME} is immutable")


def test_other_refusals_keep_the_api_servers_words() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    cluster.apply_error = KubeError(f"apply configmaps/{NAME}: 422 data: Too long", 422)
    assert sync(deps, campaign_body()).error == f"apply configmaps/{NAME}: 422 data: Too long"
    cluster.apply_error = KubeError(f"apply configmaps/{NAME}: 403 forbidden", 403)
    assert sync(deps, campaign_body()).error == f"apply configmaps/{NAME}: 403 forbidden"


def test_once_deleted_the_file_is_written_anew_and_delivered() -> None:
    cluster, deps = _frozen()
    assert sync(deps, campaign_body(phase="Suspended", percent=0)).error is not None
    del cluster.objects[KEY]  # the human's delete
    cluster.apply_error = None
    synced = sync(deps, campaign_body(phase="Suspended", percent=0))
    assert synced.changed and synced.error is None
    assert "immutable" not in cluster.objects[KEY]
    assert file_of(cluster)["campaigns"]["spring-email"]["active"] is False
    assert deps.undelivered(NS, OWNER.name) is None


#: The admission policy's refusal (403) of a write by the operator's identity of a campaigns
#: ConfigMap that is immutable, as ``adapters.kube`` words it: what the API server answers when
#: the write leaves the data as it is (Kubernetes' own validation refuses only a change of it).
POLICY = KubeError(
    f"apply configmaps/{NAME}: 403 configmaps \"{NAME}\" is forbidden: "
    "ValidatingAdmissionPolicy 'uplift-operator-configmaps' with binding "
    "'uplift-operator-configmaps' denied request: a campaigns ConfigMap of the uplift-operator "
    "ServiceAccount is not immutable: every later write of its file would be refused", 403)


def test_the_policys_refusal_of_a_write_to_an_immutable_config_map_says_what_to_do() -> None:
    """A 403, not Kubernetes' 422: the hint all the same (before, only a 422 had it)."""
    _, deps = _frozen()
    deps.cluster.apply_error = POLICY  # type: ignore[attr-defined]
    error = sync(deps, campaign_body(phase="Suspended", percent=0)).error
    assert error is not None and error.startswith(f"ConfigMap {NS}/{NAME} is immutable")
    assert f"kubectl delete configmap {NAME} -n {NS}" in error
    assert "denied request" in error  # the policy's words kept


def test_the_policys_words_say_it_where_the_config_map_read_does_not() -> None:
    """Made immutable since the ConfigMap was read (the store behind): the policy's message
    says so."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    assert sync(deps, campaign_body(percent=5)).changed
    cluster.apply_error = POLICY
    error = sync(deps, campaign_body(phase="Suspended", percent=0)).error
    assert error is not None and error.startswith(f"ConfigMap {NS}/{NAME} is immutable")


def test_any_refusal_of_a_write_to_a_config_map_read_as_immutable_says_what_to_do() -> None:
    """Whoever refuses it (RBAC, a webhook of its own words), a write to a ConfigMap that is
    immutable is refused every time until it is deleted."""
    for status in (400, 403, 422):
        _, deps = _frozen()
        deps.cluster.apply_error = KubeError(  # type: ignore[attr-defined]
            f"apply configmaps/{NAME}: {status} refused", status)
        error = sync(deps, campaign_body(phase="Suspended", percent=0)).error
        assert error is not None and error.startswith(f"ConfigMap {NS}/{NAME} is immutable"), (
            status)


def test_what_is_no_refusal_keeps_the_api_servers_words_over_an_immutable_config_map() -> None:
    """A conflict, a throttle, a timeout, a server error or no answer: retried, not the
    ConfigMap's doing."""
    for status in (0, 404, 408, 409, 429, 500, 503):
        _, deps = _frozen()
        words = f"apply configmaps/{NAME}: {status} try again"
        deps.cluster.apply_error = KubeError(words, status)  # type: ignore[attr-defined]
        assert sync(deps, campaign_body(phase="Suspended", percent=0)).error == words, status
