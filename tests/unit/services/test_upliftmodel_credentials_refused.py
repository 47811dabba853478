"""MLflow answering 401/403 to the model reference's reads (``CredentialsRefused``): not an
outage waited for however long (it was ``RegistryUnavailable``, so a permission missing for
good held a canary with its MLflow gates Inconclusive for ever and paged nobody), but a
``ModelResolved`` reason that turns the phase Degraded after the grace, its message naming the
credentials Secret (namespace/name and keys) or saying none were given. A Secret rotated
while MLflow already refuses the old credentials is read again at the next pass, within the
grace (``test_upliftmodel``: the rotation test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_upliftmodel import NS, PROBE, REGISTERED, SPEC, Sim
from tests.unit.services.test_upliftmodel_unresolved import HELD, MOVES, _signature_raising, run, split

from uplift_operator.adapters.mlflow_registry import CredentialsRefused, RegistryUnavailable
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services.resolution import Resolver

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
DENIED = "MLflow denied permission to the credentials' user (HTTP 403): Permission denied"
REFUSED = "MLflow refused the credentials (HTTP 401): Unauthorized"
ANONYMOUS = "no credentials were given: spec.model.credentials names no Secret"


def _refusal(status: int) -> CredentialsRefused:
    return CredentialsRefused(DENIED if status == 403 else REFUSED, status_code=status)


def _refusing(registry: FakeRegistry, status: int) -> None:
    """Every read of ``registry`` answered ``status`` (401 or 403)."""
    def check() -> None:
        registry.calls += 1
        raise _refusal(status)
    registry._check = check  # type: ignore[method-assign]


def test_the_resolver_tells_a_refusal_from_an_outage() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add(REGISTERED, "1")
    registry.aliases[(REGISTERED, "champion")] = "1"
    ref = ModelReference.model_validate(SPEC["model"])  # refreshed every 30 s
    scope = ("http://mlflow", "", "")
    assert resolver.resolve(scope, ref, registry, T0).ok
    _refusing(registry, 403)
    refused = resolver.resolve(scope, ref, registry, T0 + dt.timedelta(seconds=30))
    assert (refused.ok, refused.reason, refused.message) == (False, "CredentialsRefused", DENIED)
    assert refused.desired is not None and refused.desired.version == "1"  # the last known
    registry.down, registry._check = True, FakeRegistry._check.__get__(registry)  # type: ignore[method-assign]
    down = resolver.resolve(scope, ref, registry, T0 + dt.timedelta(seconds=60))
    assert down.reason == "RegistryUnavailable"


def test_an_anonymous_refusal_holds_the_canary_and_is_degraded_past_the_grace() -> None:
    """MLflow starts asking for credentials (401) mid-ramp, the spec naming none: the canary is
    held, its drift gate (it reads the canary's MLflow run) holds saying why, the Prometheus
    probe is judged; Progressing within the grace, Degraded past it, the message saying no
    credentials were given. MLflow open again, the ramp goes on."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append({"name": "shift", "type": "drift"})
    sim.body["metadata"]["generation"] = 2
    _refusing(sim.registry, 401)
    said = run(sim, 3)
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "CredentialsRefused")
    assert resolved["message"] == f"{REFUSED}; {ANONYMOUS}, so MLflow was asked anonymously"
    assert sim.status["phase"] == "Progressing" and HELD in sim.status["message"]
    said += run(sim, 5)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    probe, shift = sim.status["gates"]
    assert probe["verdict"] == "Pass"
    assert shift["verdict"] == "Inconclusive" and shift["message"].startswith(
        f"holding: MLflow cannot be asked (CredentialsRefused: {REFUSED}; {ANONYMOUS}")
    assert shift.get("consecutiveErrors", 0) == 0 and shift.get("inconclusives", 0) == 0
    s = sim.status
    assert s["phase"] == "Degraded" and HELD in s["message"]
    assert s["message"].startswith("ModelResolved False (CredentialsRefused) since ")
    del sim.registry._check  # MLflow open again
    sim.body["spec"]["rollout"]["gates"].pop()  # (the fake MLflow has no drift reference)
    sim.body["metadata"]["generation"] = 3
    assert "Promoted" in run(sim, 6) and split(sim) == ("2", None, 0, None)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_names_the_credentials_secret(status: int) -> None:
    """A model whose spec names a credentials Secret, refused (401) or its user denied a read
    (403): the message names the Secret, its namespace and keys (never a value), for good
    past the grace."""
    sim = Sim()
    sim.body["spec"]["model"]["credentials"] = {"name": "mlflow", "usernameKey": "user",
                                                "passwordKey": "password"}
    sim.cluster.secrets[(NS, "mlflow")] = {"user": "svc-uplift", "password": "pw-7c1d2e9f"}
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    _refusing(sim.registry, status)
    run(sim, 10)
    resolved = sim.condition("ModelResolved")
    assert resolved["reason"] == "CredentialsRefused"
    assert resolved["message"].startswith(f"{_refusal(status)}; the credentials are Secret "
                                          f"{NS}/mlflow's (usernameKey user, passwordKey "
                                          "password)")
    assert "pw-7c1d2e9f" not in str(sim.status) and "svc-uplift" not in str(sim.status)
    assert sim.status["phase"] == "Degraded"
    assert f"Secret {NS}/mlflow" in sim.status["message"]


def test_a_contract_read_refused_is_credentials_refused() -> None:
    """The version resolves (READ on the registered model) but reading its MLmodel is denied:
    CredentialsRefused, Degraded past the grace, not an outage waited for."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    _signature_raising(sim, "3", _refusal(403))
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    said = run(sim, 10)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "CredentialsRefused")
    assert resolved["message"].startswith(
        f"reading what version 3 takes and scores: {DENIED}; {ANONYMOUS}")
    assert sim.status["phase"] == "Degraded"


def test_a_gate_whose_own_read_is_refused_holds_saying_so() -> None:
    """The reference resolves (READ on the registered model) but the canary's run is in an
    experiment the user may not read: the qini gate holds (never an Error towards a rollback)
    and says CredentialsRefused, not "MLflow unavailable"."""
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append({"name": "qini", "type": "qini"})
    sim.body["metadata"]["generation"] = 2

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise _refusal(403)
    for read in ("run_metrics", "download_artifact_json", "run_tags"):
        setattr(sim.registry, read, denied)
    run(sim, 3)
    qini = sim.status["gates"][1]
    assert qini["verdict"] == "Inconclusive"
    assert f"(holding: CredentialsRefused ({DENIED}" in qini["message"]
    assert "MLflow unavailable" not in qini["message"]
    assert qini.get("consecutiveErrors", 0) == 0 and qini.get("inconclusives", 0) == 0
    assert isinstance(_refusal(403), RegistryUnavailable)
