"""A version's contract read answered by something not MLflow (``RegistryNotMlflow``) is taken
as the resolver's reads and a status-less pass's role reads take it (``Resolver.not_serving``,
2de1305a): a 404 not MLflow's at a tracking URI that answered as MLflow before in this process
is an outage (a proxy before an MLflow not serving), waited for; any other such answer is the
reference's problem (``InvalidModel``, Degraded after the grace). Before, ``_contract_reason``
took every one as ``RegistryUnavailable``, waited for for ever."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, Sim
from tests.unit.services.test_upliftmodel_unresolved import MOVES, run, split

from uplift_operator.adapters.mlflow_registry import RegistryNotMlflow


def _contract_answered(sim: Sim, error: RegistryNotMlflow, *, seen: bool) -> None:
    """Reading the MLmodel of version 3 raises ``error``; ``seen``: whether the tracking URI
    answered as MLflow before in this process (not: the resolver never heard it so)."""
    answer = sim.registry.model_signature

    def signature(name: str, asked: str) -> Any:
        if asked == "3":
            if not seen:
                sim.deps.resolver._mlflow_seen.clear()
            raise error
        return answer(name, asked)
    sim.registry.model_signature = signature  # type: ignore[method-assign,assignment]


@pytest.mark.parametrize(("error", "seen", "reason", "degraded"), [
    (RegistryNotMlflow("HTTP 200 with a body that is not a JSON object", status_code=200),
     True, "InvalidModel", True),
    (RegistryNotMlflow("HTTP 404 with a body that is not MLflow's: <html>", status_code=404),
     False, "InvalidModel", True),
    (RegistryNotMlflow("HTTP 404 with a body that is not MLflow's: 404 page not found",
                       status_code=404), True, "RegistryUnavailable", False),
], ids=["200-not-json", "404-never-mlflow", "404-after-mlflow"])
def test_a_contract_read_answered_not_as_mlflow_is_taken_as_the_resolver_takes_it(
        error: RegistryNotMlflow, seen: bool, reason: str, degraded: bool) -> None:
    sim = Sim()
    sim.metrics.values[PROBE] = 0.5
    sim.with_canary()
    _contract_answered(sim, error, seen=seen)
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    said = run(sim, 40)
    assert not MOVES & set(said) and split(sim) == ("1", "2", 10, 0)  # the canary held
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert resolved["message"] == f"reading what version 3 takes and scores: {error}"
    assert sim.status["phase"] == ("Degraded" if degraded else "Progressing")
