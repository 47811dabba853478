"""MlflowRegistry against a real MLflow server: a model registered the way the trainer does it.

The mlflow client writes (experiment, run, metrics, JSON artifacts, a pyfunc model, registered
versions); the adapter reads them back over REST, and its writes are checked with the client.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mlflow
import pytest
import requests
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient
from tests.integration.adapters.conftest import AUTH_ADMIN, AuthMlflow

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    MlflowRegistry,
    RegistryNotFound,
    RegistryRequestError,
    RegistryUnavailable,
    ResolvedVersion,
)
from uplift_operator.devenv import process

pytestmark = pytest.mark.integration

HISTOGRAMS = {"features": {"recency": {"edges": [0, 3, 6, 12], "counts": [40, 35, 25]}}}
READER_PASSWORD = "reader-password-0123"
UPLIFT = {"edges": [-0.1, 0.0, 0.05, 0.2], "counts": [10, 60, 30]}


class Echo(PythonModel):
    def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
        return model_input


class Untyped(PythonModel):
    """Without type hints, so MLflow keeps the signature it is given (it prefers the hints)."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input


@dataclass(frozen=True)
class Registered:
    name: str
    run_id: str
    versions: tuple[str, str]


@pytest.fixture(scope="module")
def registered(mlflow_server: str) -> Iterator[Registered]:
    """One run (metrics, reference JSONs, a tiny pyfunc model) registered twice; alias champion → 1."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        client = MlflowClient(tracking_uri=mlflow_server)
        name = f"uplift-{uuid.uuid4().hex[:8]}"
        experiment_id = client.create_experiment(name)
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.log_metric("qini_auc", 0.01)
            mlflow.log_metric("qini_auc", 0.042)           # the latest value wins
            mlflow.log_metric("auuc", 0.118)
            mlflow.log_metric("calibration_gap", math.nan)
            mlflow.log_dict(HISTOGRAMS, "reference/feature_histograms.json")
            mlflow.log_dict(UPLIFT, "reference/uplift_distribution.json")
            info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
        first = mlflow.register_model(info.model_uri, name)
        second = mlflow.register_model(info.model_uri, name)
        client.set_registered_model_alias(name, "champion", first.version)
        yield Registered(name, run.info.run_id, (str(first.version), str(second.version)))
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def registry(mlflow_server: str) -> MlflowRegistry:
    return MlflowRegistry(mlflow_server, timeout=5.0)


@pytest.fixture(scope="module")
def client(mlflow_server: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server)


def test_resolve_by_version_alias_and_latest(registry: MlflowRegistry, registered: Registered) -> None:
    v1, v2 = registered.versions
    by_version = registry.resolve(registered.name, version=v1)
    assert by_version == ResolvedVersion(
        name=registered.name, version=v1, status="READY", run_id=registered.run_id,
        source=by_version.source, aliases=("champion",), tags={},
        creation_timestamp=by_version.creation_timestamp)
    assert by_version.ready
    assert isinstance(by_version.creation_timestamp, int)  # MLflow's, ms: the sweep's rule
    # MLflow 3: the source is the LoggedModel, not runs:/.
    assert by_version.source.startswith("models:/m-")
    assert by_version.logged_model_id == by_version.source.removeprefix("models:/")

    assert registry.resolve(registered.name, alias="champion").version == v1
    assert registry.resolve(registered.name, version=int(v2)).version == v2
    assert registry.resolve(registered.name).version == v2           # no selector: the newest
    assert registry.download_uri(registered.name, v1).startswith("mlflow-artifacts:/")


def test_moved_alias_is_seen(registry: MlflowRegistry, client: MlflowClient, registered: Registered) -> None:
    v1, v2 = registered.versions
    client.set_registered_model_alias(registered.name, "candidate", v1)
    assert registry.resolve(registered.name, alias="candidate").version == v1
    client.set_registered_model_alias(registered.name, "candidate", v2)
    moved = registry.resolve(registered.name, alias="candidate")
    assert (moved.version, moved.aliases) == (v2, ("candidate",))


def test_unknown_model_version_alias_and_run(registry: MlflowRegistry, registered: Registered) -> None:
    with pytest.raises(RegistryNotFound) as model:
        registry.resolve("no-such-model")
    assert str(model.value) == "Registered Model with name=no-such-model not found"
    assert (model.value.status_code, model.value.error_code) == (404, "RESOURCE_DOES_NOT_EXIST")

    with pytest.raises(RegistryNotFound, match="Registered Model with name=no-such-model not found"):
        registry.resolve("no-such-model", alias="champion")
    with pytest.raises(RegistryNotFound, match=r"Model Version \(name=no-such-model, version=1\) not found"):
        registry.resolve("no-such-model", version=1)
    with pytest.raises(RegistryNotFound, match=r"Model Version \(name=.*, version=99\) not found"):
        registry.resolve(registered.name, version=99)

    with pytest.raises(RegistryNotFound) as alias:
        registry.resolve(registered.name, alias="nope")
    assert str(alias.value) == "Registered model alias nope not found."
    assert (alias.value.status_code, alias.value.error_code) == (400, "INVALID_PARAMETER_VALUE")

    with pytest.raises(RegistryNotFound, match="Run with id=0123abcd not found"):
        registry.run_metrics("0123abcd")
    # Any other rejection is not "not found".
    with pytest.raises(RegistryRequestError, match="must be an integer"):
        registry.resolve(registered.name, version="latest")


def test_run_metrics_latest_value_per_key(registry: MlflowRegistry, registered: Registered) -> None:
    metrics = registry.run_metrics(registered.run_id)
    assert metrics["qini_auc"] == 0.042
    assert metrics["auuc"] == 0.118
    assert math.isnan(metrics["calibration_gap"])


def test_signature_and_run_tags_of_a_version(registry: MlflowRegistry, mlflow_server: str) -> None:
    """What the operator checks a spec's features and treatments against: the signature in the
    version's MLmodel and the trainer's ``uplift.treatments`` run tag."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    name = f"signed-{uuid.uuid4().hex[:8]}"
    signature = ModelSignature(inputs=Schema([ColSpec("long", "recency"),
                                              ColSpec("string", "channel"),
                                              ColSpec("string", "unit_id", required=False)]))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        mlflow.set_experiment(name)
        with mlflow.start_run() as run:
            mlflow.set_tag("uplift.treatments", '{"mens_e_mail": "Mens E-Mail"}')
            info = mlflow.pyfunc.log_model(name="model", python_model=Untyped(),
                                           signature=signature, pip_requirements=[])
        version = str(mlflow.register_model(info.model_uri, name).version)
        unsigned = mlflow.pyfunc.log_model(name="plain", python_model=Echo(), pip_requirements=[])
    finally:
        mlflow.set_tracking_uri(previous)
    read = registry.model_signature(name, version)
    assert read is not None and read["inputs"] == [
        {"type": "long", "name": "recency", "required": True},
        {"type": "string", "name": "channel", "required": True},
        {"type": "string", "name": "unit_id", "required": False}]
    assert registry.run_tags(run.info.run_id)["uplift.treatments"] == '{"mens_e_mail": "Mens E-Mail"}'
    plain = mlflow.register_model(unsigned.model_uri, name, tags=None)
    found = registry.model_signature(name, str(plain.version))
    assert found is None or all("name" not in c for c in found.get("inputs") or [])
    with pytest.raises(RegistryNotFound):
        registry.model_signature(name, "99")


def test_reference_json_artifacts_through_the_proxy(registry: MlflowRegistry, registered: Registered) -> None:
    run_id = registered.run_id
    assert registry.download_artifact_json(run_id, "reference/feature_histograms.json") == HISTOGRAMS
    assert registry.download_artifact_json(run_id, "./reference//uplift_distribution.json") == UPLIFT
    with pytest.raises(RegistryNotFound, match="No such artifact"):
        registry.download_artifact_json(registered.run_id, "reference/missing.json")
    with pytest.raises(RegistryRequestError, match="larger than 10 bytes"):
        registry.download_artifact_json(registered.run_id, "reference/uplift_distribution.json", max_bytes=10)
    with pytest.raises(ValueError, match="inside the run"):
        registry.download_artifact_json(registered.run_id, "../other-run/artifacts/x.json")


def test_an_artifact_the_store_fails_to_give_is_absent_only_if_the_run_does_not_list_it(
        mlflow_server: str, registered: Registered, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download answering as MLflow does on S3 (HTTP 500 INTERNAL_ERROR, for a missing file
    and for a store it cannot reach alike), the listing asked is the real server's."""
    registry = MlflowRegistry(mlflow_server, timeout=5.0)

    def s3_answer(path: str, params: object, max_bytes: int) -> bytes:
        raise RegistryUnavailable("MLflow answered HTTP 500 INTERNAL_ERROR: The following "
                                  "failures occurred while downloading ...", status_code=500,
                                  error_code="INTERNAL_ERROR")

    monkeypatch.setattr(registry, "_download", s3_answer)
    with pytest.raises(RegistryNotFound, match="not in the run's artifact listing"):
        registry.download_artifact_json(registered.run_id, "reference/missing.json")
    with pytest.raises(RegistryNotFound):
        registry.download_artifact_json(registered.run_id, "missing.json")  # the run's root
    with pytest.raises(RegistryUnavailable):  # listed: the store failed
        registry.download_artifact_json(registered.run_id, "reference/feature_histograms.json")


def test_a_client_keeps_its_connection_and_run_reads_are_read_once(
        mlflow_server: str, registered: Registered) -> None:
    """The real server keeps the connection open: a thread's reads go over one (they opened one
    each); and behind ``RegistryClients`` (what the operator wires) a run's reference is
    downloaded once, later reads answered from memory."""
    from uplift_operator.services.run_cache import RegistryClients

    registry = MlflowRegistry(mlflow_server, timeout=5.0)
    for _ in range(3):
        assert registry.run_metrics(registered.run_id)["auuc"] == 0.118
        assert registry.download_artifact_json(
            registered.run_id, "reference/feature_histograms.json") == HISTOGRAMS
    adapter = registry._session().get_adapter(mlflow_server)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    pools = adapter.poolmanager.pools
    opened = [(pools[key].num_connections, pools[key].num_requests)
              for key in pools.keys()]  # noqa: SIM118 - urllib3's container refuses iteration
    assert opened == [(1, 9)]  # one pool, one connection: run_metrics 1 request, a download 2

    clients = RegistryClients(lambda uri, credentials: MlflowRegistry(uri, timeout=5.0))
    reads = [clients.get(mlflow_server, None).download_artifact_json(
        registered.run_id, "reference/feature_histograms.json") for _ in range(3)]
    assert reads == [HISTOGRAMS] * 3 and reads[0] is reads[2]
    assert (clients.reads.reads, clients.reads.hits) == (1, 2)


def test_tag_and_alias_writes_are_visible_to_the_client(
        registry: MlflowRegistry, client: MlflowClient, registered: Registered) -> None:
    v1, v2 = registered.versions
    registry.set_version_tag(registered.name, v2, "uplift.io/gate", "passed")
    assert client.get_model_version(registered.name, v2).tags == {"uplift.io/gate": "passed"}
    assert registry.resolve(registered.name, version=v2).tags == {"uplift.io/gate": "passed"}
    registry.delete_version_tag(registered.name, v2, "uplift.io/gate")
    registry.delete_version_tag(registered.name, v2, "uplift.io/gate")   # absent: still fine
    assert client.get_model_version(registered.name, v2).tags == {}

    registry.set_alias(registered.name, "stable", v2)
    assert client.get_model_version_by_alias(registered.name, "stable").version == v2
    registry.set_alias(registered.name, "stable", v1)
    assert client.get_model_version_by_alias(registered.name, "stable").version == v1
    registry.delete_alias(registered.name, "stable")
    assert "stable" not in client.get_registered_model(registered.name).aliases

    with pytest.raises(RegistryNotFound, match="version=99"):
        registry.set_alias(registered.name, "stable", 99)
    with pytest.raises(RegistryNotFound, match="version=99"):
        registry.set_version_tag(registered.name, 99, "k", "v")


def test_the_alias_sweep_lists_every_models_aliases_with_their_versions(
        registry: MlflowRegistry, client: MlflowClient, mlflow_server: str) -> None:
    """``registered_aliases`` (the alias poller's sweep) against the real server: its
    ``registered-models/search`` carries each model's aliases, page after page; a budget stops
    it incomplete. The server holds other tests' models too: only these two are checked."""
    api = f"{mlflow_server}/api/2.0/mlflow"
    names = [f"sweep-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        requests.post(f"{api}/registered-models/create", json={"name": name},
                      timeout=30).raise_for_status()
        for _ in range(2):
            requests.post(f"{api}/model-versions/create",
                          json={"name": name, "source": f"s3://uplift-models/{name}/model"},
                          timeout=30).raise_for_status()
    client.set_registered_model_alias(names[0], "champion", "2")
    client.set_registered_model_alias(names[0], "challenger", "1")
    client.set_registered_model_alias(names[1], "champion", "1")

    listing = registry.registered_aliases()
    assert listing.complete and listing.pages >= 1
    assert listing.aliases[names[0]] == {"champion": "2", "challenger": "1"}
    assert listing.aliases[names[1]] == {"champion": "1"}
    models = len(listing.aliases)

    paged = registry.registered_aliases(page_size=1)  # a page per model: the tokens work
    assert paged.complete and paged.pages >= models and paged.aliases == listing.aliases
    stopped = registry.registered_aliases(max_pages=1, page_size=1)
    assert (stopped.complete, stopped.pages, len(stopped.aliases)) == (False, 1, 1)

    client.set_registered_model_alias(names[1], "champion", "2")  # moved: the sweep sees it
    client.delete_registered_model_alias(names[0], "challenger")  # gone: listed no more
    again = registry.registered_aliases()
    assert again.aliases[names[0]] == {"champion": "2"}
    assert again.aliases[names[1]] == {"champion": "2"}

    # The sweep's rule for a re-created model, on MLflow's own timestamps: a model is created
    # before its versions; deleted and created again, it is created after the version held.
    held = registry.resolve(names[1], alias="champion")
    assert held.creation_timestamp is not None
    assert again.created[names[1]] < held.creation_timestamp
    requests.delete(f"{api}/registered-models/delete", json={"name": names[1]},
                    timeout=30).raise_for_status()
    requests.post(f"{api}/registered-models/create", json={"name": names[1]},
                  timeout=30).raise_for_status()
    requests.post(f"{api}/model-versions/create",
                  json={"name": names[1], "source": f"s3://uplift-models/{names[1]}/model"},
                  timeout=30).raise_for_status()
    client.set_registered_model_alias(names[1], "champion", "1")
    recreated = registry.registered_aliases()
    assert recreated.created[names[1]] >= held.creation_timestamp


def test_unreachable_registry_is_unavailable() -> None:
    registry = MlflowRegistry(f"http://127.0.0.1:{process.free_port()}", timeout=2.0)
    with pytest.raises(RegistryUnavailable, match="unreachable") as down:
        registry.resolve("anything", alias="champion")
    assert down.value.status_code is None
    with pytest.raises(RegistryUnavailable):
        registry.set_alias("anything", "champion", 1)


def test_non_mlflow_url_is_unavailable(mlflow_server: str) -> None:
    # A wrong path prefix: the server answers 404 without MLflow's error body.
    registry = MlflowRegistry(f"{mlflow_server}/not-mlflow", timeout=5.0)
    with pytest.raises(RegistryUnavailable, match="HTTP 404") as wrong:
        registry.resolve("anything", version=1)
    assert wrong.value.status_code == 404


def test_credentials_build_mlflow_client_headers() -> None:
    assert Credentials.basic("alice", "pw").authorization() == "Basic YWxpY2U6cHc="
    assert Credentials.bearer("t0k").authorization() == "Bearer t0k"
    assert Credentials().authorization() is None
    assert "pw" not in repr(Credentials.basic("alice", "pw"))
    with pytest.raises(ValueError, match="both a username and a password"):
        Credentials(username="alice")
    with pytest.raises(ValueError, match="not both"):
        Credentials(username="alice", password="pw", token="t")


@pytest.fixture(scope="module")
def auth_model(mlflow_auth_server: AuthMlflow) -> str:
    """A registered model with one version on the basic-auth server, created as admin over REST."""
    admin = requests.Session()
    admin.auth = AUTH_ADMIN
    api = f"{mlflow_auth_server.url}/api/2.0/mlflow"
    name = f"auth-{uuid.uuid4().hex[:8]}"
    admin.post(f"{api}/registered-models/create", json={"name": name}, timeout=30).raise_for_status()
    created = admin.post(f"{api}/model-versions/create",
                         json={"name": name, "source": "s3://uplift-models/auth/model"}, timeout=30)
    assert created.ok, created.text
    admin.post(f"{api}/users/create", json={"username": "reader", "password": READER_PASSWORD},
               timeout=30).raise_for_status()
    return name


def test_basic_auth_wrong_and_right_credentials(mlflow_auth_server: AuthMlflow, auth_model: str) -> None:
    url = mlflow_auth_server.url
    timeout = 30.0                                           # every password check costs ~1 s
    for credentials in (None, Credentials.basic("admin", "wrong-password-0123")):
        with pytest.raises(RegistryUnavailable, match="HTTP 401") as refused:
            MlflowRegistry(url, credentials=credentials, timeout=timeout).resolve(auth_model, version=1)
        assert refused.value.status_code == 401
        # The auth plugin's HTML page is described, not quoted (docs/security.md)
        assert "refused the credentials" in str(refused.value)
        assert "text/html" in str(refused.value) and "<" not in str(refused.value)

    admin = MlflowRegistry(url, credentials=Credentials.basic(*AUTH_ADMIN), timeout=timeout)
    assert admin.resolve(auth_model, version=1).version == "1"
    admin.set_alias(auth_model, "champion", 1)
    with pytest.raises(RegistryNotFound, match="Registered Model with name=nope not found"):
        admin.resolve("nope")

    # default_permission = READ: a plain user reads, but may not move aliases.
    reader = MlflowRegistry(url, credentials=Credentials.basic("reader", READER_PASSWORD), timeout=timeout)
    assert reader.resolve(auth_model, alias="champion").version == "1"
    # The alias poller's sweep, as the reader: the search the auth plugin filters by permission.
    assert reader.registered_aliases().aliases[auth_model] == {"champion": "1"}
    with pytest.raises(RegistryUnavailable, match="HTTP 403") as forbidden:
        reader.set_alias(auth_model, "champion", 1)
    assert forbidden.value.status_code == 403
