"""A status-less pass's role reads (``services.upliftmodel._recorded_roles``), each answer taken
as what it says: MLflow's "no such version" on the desired version's tag read is no first
version (``ModelNotFound``, held), while "no such alias" is; the message of a version held
says what it waits for by the reason (a refusal is an answer: no wait for MLflow clears it);
an answer not MLflow's (``RegistryNotMlflow``) is taken as the resolver takes it."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import (
    SELDON,
    Sim,
    _failing_role_reads,
    _recreated,
    _rolled_back_canary,
)

from uplift_operator.adapters.mlflow_registry import (
    CredentialsRefused,
    RegistryError,
    RegistryNotFound,
    RegistryNotMlflow,
    RegistryRequestError,
    RegistryUnavailable,
)
from uplift_operator.services import upliftmodel

WAITING = "waiting for the model reference to resolve to a version: "


def _held(sim: Sim, error: RegistryError, read: str = "tags") -> tuple[dict[str, Any], str]:
    """Version 2 (rolled back) of a recreated model whose role read ``read`` fails once with
    ``error``: asserts nothing served or written, the retry backing off; its ModelResolved."""
    tags, aliases = dict(sim.registry.tags), dict(sim.registry.aliases)
    failed = _failing_role_reads(sim, error, read, times=1)
    first = _recreated(sim)
    assert failed == [read]
    assert SELDON not in sim.cluster.objects  # nothing served, version 2 least of all
    assert "stableVersion" not in sim.status and "canaryVersion" not in sim.status
    assert (sim.registry.tags, sim.registry.aliases) == (tags, aliases)
    assert first.requeue_after is not None
    assert upliftmodel.UNRESOLVED_RETRY_SECONDS <= first.requeue_after <= 1.25 * (
        upliftmodel.UNRESOLVED_RETRY_SECONDS)
    resolved = sim.condition("ModelResolved")
    assert resolved["status"] == "False"
    return resolved, sim.status["message"]


def test_a_recreated_model_whose_version_mlflow_says_is_gone_serves_nothing() -> None:
    """MLflow answering the tag read of version 2 "not found" (deleted since it resolved; the
    resolver may still hold its facts) is no first version: before, version 2 served at 100 %
    was tagged stable and the promotion alias moved onto it."""
    sim = _rolled_back_canary()
    error = RegistryNotFound("Model Version (name=hillstrom, version=2) not found")
    resolved, message = _held(sim, error)
    assert resolved["reason"] == "ModelNotFound"
    assert str(error) in resolved["message"] and "version 2" in resolved["message"]
    assert "until MLflow answers" not in resolved["message"]
    assert message.startswith(f"{WAITING}ModelNotFound: version 2 is held unresolved: ")
    # MLflow has it again at the retry (a blip of its store): held as rolled back, as ever.
    sim.tick(upliftmodel.UNRESOLVED_RETRY_SECONDS * 1.25)
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    assert (sim.status["stableVersion"], sim.status["abortedVersion"]) == ("1", "2")


@pytest.mark.parametrize(("error", "reason", "until"), [
    (RegistryUnavailable("MLflow answered HTTP 503: busy", status_code=503),
     "RegistryUnavailable", "until MLflow answers: "),
    (CredentialsRefused("MLflow answered HTTP 401: unauthorized", status_code=401),
     "CredentialsRefused", "until MLflow accepts the credentials: "),
    (CredentialsRefused("MLflow answered HTTP 403: PERMISSION_DENIED", status_code=403),
     "CredentialsRefused", "until MLflow accepts the credentials: "),
    (RegistryRequestError("INVALID_PARAMETER_VALUE: bad", status_code=400),
     "InvalidModel", "until MLflow no longer refuses the read: "),
], ids=["503", "401", "403", "400"])
@pytest.mark.parametrize("read", ["tags", "alias"])
def test_a_held_version_says_what_it_waits_for_by_the_reason(
        error: RegistryError, reason: str, until: str, read: str) -> None:
    sim = _rolled_back_canary()
    resolved, message = _held(sim, error, read)
    assert resolved["reason"] == reason
    said = resolved["message"]
    assert said.startswith(f"version 2 is held unresolved {until}"), said
    assert str(error) in said
    assert ("its role tags" if read == "tags" else "promotionAlias production") in said
    if reason != "RegistryUnavailable":  # MLflow answered: not waited for as an outage
        assert "until MLflow answers" not in said
    # The pass's message reads as one sentence: resolving is what it waits for.
    assert message.startswith(f"{WAITING}{reason}: version 2 is held unresolved {until}")


def test_an_answer_not_mlflows_at_a_uri_never_seen_as_mlflow_is_invalid_model() -> None:
    """A 404 not MLflow's (an HTML page: a wrong URI, an MLflow before 2.3 with no alias
    endpoint) at a tracking URI that never answered as MLflow in this process is the URI's
    problem, as the resolver takes it (InvalidModel, Degraded after the grace), not an outage
    waited for for ever (before: RegistryUnavailable)."""
    sim = _rolled_back_canary()
    sim.deps.resolver._mlflow_seen.clear()  # an operator restarted meanwhile
    error = RegistryNotMlflow("HTTP 404 with a body that is not MLflow's: <html>",
                              status_code=404)
    resolved, _message = _held(sim, error, "alias")
    assert resolved["reason"] == "InvalidModel"
    assert "until the tracking URI answers as MLflow" in resolved["message"]
    assert "MLflow before 2.3" in resolved["message"]


def test_an_answer_not_mlflows_that_is_no_404_is_invalid_model() -> None:
    """A 2xx whose body is not MLflow's JSON is never an outage, wherever it answered."""
    sim = _rolled_back_canary()
    error = RegistryNotMlflow("HTTP 200 with a body that is not a JSON object", status_code=200)
    resolved, _message = _held(sim, error, "tags")
    assert resolved["reason"] == "InvalidModel"


def test_a_404_not_mlflows_at_a_uri_that_answered_as_mlflow_is_an_outage() -> None:
    """The same 404 at a tracking URI that answered as MLflow before (a proxy before an
    MLflow that does not serve): an outage, as the resolver takes it, waited for."""
    sim = _rolled_back_canary()
    error = RegistryNotMlflow("HTTP 404 with a body that is not MLflow's: 404 page not found",
                              status_code=404)
    resolved, _message = _held(sim, error, "alias")
    assert resolved["reason"] == "RegistryUnavailable"
    assert "until MLflow answers: " in resolved["message"]


def test_a_recreated_model_whose_promotion_alias_mlflow_says_is_gone_is_a_first_version(
) -> None:
    """The alias read's "not found" stays an answer: nothing recorded as stable."""
    sim = _rolled_back_canary()
    _failing_role_reads(sim, RegistryNotFound("Registered model alias production not found"),
                        "alias", times=1)
    _recreated(sim)
    sim.tick(1)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}
