"""The shared resolver's answers and sweeps for aliases followed with a credentials Secret,
through the pass (``services.upliftmodel._resolve``: the client a pass leaves is the
refusal-telling wrapper of the operator's client).

- Two specs naming one Secret with different keys (two MLflow users) do not share answers
  (``registry_scope`` counts the keys); a trailing ``/`` of the tracking URI does not split
  one scope in two.
- Aliases followed with credentials are swept (one listing for many aliases), as anonymous
  ones are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.services.fakes import FakeCluster, FakeRegistry, ListingRegistry

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    CredentialsRefused,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference, UpliftModelSpec
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import TimedCache
from uplift_operator.services.ports import ListsAliases, Registry
from uplift_operator.services.resolution import DueAlias
from uplift_operator.services.run_cache import RegistryClients

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
EVERY = dt.timedelta(seconds=60)


class _Denied(FakeRegistry):
    """MLflow denying the credentials' user READ on the model."""

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        raise CredentialsRefused("MLflow denied permission to the credentials' user (HTTP "
                                 "403): Permission denied", status_code=403)


def _deps(cluster: FakeCluster, registry_for: Any) -> upliftmodel.Dependencies:
    return upliftmodel.Dependencies(
        cluster=cluster, backend=SeldonV1Backend(), registry_for=registry_for, prometheus=None,
        metric_templates=BUILTIN_TEMPLATES, runtime_image="r",
        default_tracking_uri="http://mlflow")


def _spec(model: str = "m", **credentials: str) -> UpliftModelSpec:
    reference: dict[str, Any] = {"registeredModel": model, "alias": "champion",
                                 "aliasRefreshInterval": "60s"}
    if credentials:
        reference["credentials"] = {"name": "mlflow", **credentials}
    return UpliftModelSpec.model_validate({
        "model": reference, "treatments": [{"name": "email"}],
        "rollout": {"steps": [{"weight": 10, "pause": "2m"}],
                    "gates": [{"name": "p", "type": "custom", "query": "x", "max": 1.0}]}})


def _ref(**fields: Any) -> ModelReference:
    return ModelReference.model_validate({"registeredModel": "m", "alias": "champion", **fields})


def test_two_keys_of_one_secret_are_two_scopes_and_never_share_an_answer() -> None:
    shared = FakeRegistry()
    shared.add("m", "1")
    shared.aliases[("m", "champion")] = "1"

    def registry_for(ref: ModelReference, credentials: Credentials | None) -> Registry:
        assert credentials is not None
        return shared if credentials.token == "may-read" else _Denied()

    cluster = FakeCluster()
    cluster.secrets[("ns", "mlflow")] = {"ok": "may-read", "denied": "may-not"}
    deps = _deps(cluster, registry_for)

    def reason(who: str, key: str, at: dt.datetime) -> str:
        _, resolution, _, _ = upliftmodel._resolve(_spec(tokenKey=key), Owner(who, "ns", who),
                                                   deps, at)
        return resolution.reason

    assert reason("a", "ok", T0) == "Resolved"
    # The same Secret, another key: its own read, its own answer (was A's cached Resolved).
    assert reason("b", "denied", T0 + dt.timedelta(seconds=1)) == "CredentialsRefused"
    assert reason("a", "ok", T0 + dt.timedelta(seconds=2)) == "Resolved"


def test_a_scope_names_the_keys_read_and_ignores_a_trailing_slash() -> None:
    deps = _deps(FakeCluster(), lambda ref, credentials: FakeRegistry())

    def scope(**fields: Any) -> tuple[str, str, str]:
        return upliftmodel.registry_scope(_ref(**fields), "ns", deps)

    token = {"name": "mlflow", "tokenKey": "token"}
    basic = {"name": "mlflow", "usernameKey": "user", "passwordKey": "password"}
    assert scope(credentials=token) == ("http://mlflow", "ns", "mlflow tokenKey=token")
    assert scope(credentials=basic) == ("http://mlflow", "ns",
                                        "mlflow usernameKey=user passwordKey=password")
    assert scope(credentials={**token, "tokenKey": "other"}) != scope(credentials=token)
    assert scope(credentials={**basic, "passwordKey": "p2"}) != scope(credentials=basic)
    assert scope() == ("http://mlflow", "", "")
    assert scope(trackingUri="http://mlflow/") == scope()
    assert (scope(trackingUri="http://mlflow.other:5000/", credentials=token)
            == scope(trackingUri="http://mlflow.other:5000", credentials=token))


def test_aliases_followed_with_credentials_are_swept_and_a_refused_sweep_rereads_the_secret(
) -> None:
    listing = ListingRegistry()
    clients = RegistryClients(lambda uri, credentials: listing)
    cluster = FakeCluster()
    cluster.secrets[("ns", "mlflow")] = {"token": "tok"}
    deps = _deps(cluster, lambda ref, credentials: clients.get(
        ref.tracking_uri or "http://mlflow", credentials))
    seconds = [0.0]
    deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS, clock=lambda: seconds[0])
    due: list[DueAlias] = []
    for index in range(50):
        name = f"m{index}"
        listing.add(name, "1")
        listing.aliases[(name, "champion")] = "1"
        spec = _spec(name, tokenKey="token")
        _, resolution, _, _ = upliftmodel._resolve(spec, Owner(name, "ns", name), deps, T0)
        assert resolution.ok, resolution
        due.append(((upliftmodel.registry_scope(spec.model, "ns", deps), name, "champion"),
                    EVERY))
    client = deps.resolver._clients[due[0][0]]
    assert isinstance(client, ListsAliases)
    same_user = clients.get("http://mlflow", Credentials.bearer("tok"))
    assert getattr(client, "who", None) == getattr(same_user, "who", ())
    plan = deps.resolver.plan(due, T0 + EVERY, readers=4)
    assert [len(sweep.aliases) for sweep in plan.sweeps] == [50] and not plan.reads
    pages, reads = listing.pages_listed, listing.calls
    assert deps.resolver.sweep(plan.sweeps[0], T0 + EVERY) == []
    assert listing.pages_listed == pages + 1 and listing.calls == reads + 1
    # A listing MLflow refuses the credentials for makes the next pass read the Secret again,
    # as any refused read does.
    assert deps.credential_reads.get(("ns", "mlflow", ("token",))) is not None

    def refused(max_pages: int | None = None) -> Any:
        raise RegistryUnavailable("MLflow refused the credentials (HTTP 401)", status_code=401)

    listing.registered_aliases = refused  # type: ignore[method-assign]
    seconds[0] += upliftmodel.CREDENTIALS_REFUSED_REREAD
    later = T0 + EVERY * 2
    [sweep] = deps.resolver.plan(due, later, readers=4).sweeps
    assert len(deps.resolver.sweep(sweep, later)) == 50  # handed back to their own reads
    assert deps.credential_reads.get(("ns", "mlflow", ("token",))) is None
