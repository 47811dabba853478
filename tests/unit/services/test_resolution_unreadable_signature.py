"""A version whose MLflow signature cannot be read (its inputs no list of column specs, a
column named by other than a string): refused as a version whose MLmodel does not parse
(``ModelResolved`` False ``InvalidModel``, not deployed). Before, it was read as "no signature",
so a canary of it started although ``spec.features`` names an input it may not have. A version
with no signature at all is still not checked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_upliftmodel import REGISTERED, Sim

from uplift_operator.adapters.mlflow_registry import RegistryRequestError
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services.resolution import Resolver, Scope

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "1"})

UNREADABLE = [
    pytest.param({"inputs": [1, 2]}, "input 0 is a number, not a column", id="numbers"),
    pytest.param({"inputs": True}, "its inputs are a boolean, not a list of columns",
                 id="boolean"),
    pytest.param({"inputs": 5}, "its inputs are a number, not a list of columns", id="number"),
    pytest.param({"inputs": {"a": "long"}}, "its inputs are a mapping, not a list of columns",
                 id="mapping"),
    pytest.param({"inputs": []}, "its inputs are an empty list, not a list of columns",
                 id="empty"),
    pytest.param({"inputs": [{"name": "a", "type": "long"}, {"name": 5, "type": "long"}]},
                 "input 1 has a number for its name, not a string", id="name-number"),
    pytest.param({"inputs": [{"name": ["a"], "type": "long"}]},
                 "input 0 has a list for its name, not a string", id="name-list"),
    pytest.param({"inputs": [{"name": "a"}]}, "input 0 has null for its type, not a string",
                 id="no-type"),
    pytest.param({"inputs": [{"name": "a", "type": "long"}, {"type": "long"}]},
                 "its inputs mix named and unnamed columns", id="mixed"),
    pytest.param([1, 2], "it is a list, not a mapping", id="signature-list"),
]


class _Counting(FakeRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.signature_reads = 0

    def model_signature(self, name: str, version: str) -> Any:
        self.signature_reads += 1
        return super().model_signature(name, version)


def _contract_of(signature: Any) -> tuple[Resolver, _Counting, Any]:
    registry, resolver = _Counting(), Resolver()
    registry.add("m", "1", run_id="run-1")
    registry.signatures[("m", "1")] = signature
    resolved = resolver.resolve(SCOPE, PINNED, registry, T0)
    assert resolved.desired is not None
    return resolver, registry, resolved.desired


@pytest.mark.parametrize(("signature", "why"), UNREADABLE)
def test_an_unreadable_signature_is_refused_as_an_unparseable_mlmodel(
        signature: Any, why: str) -> None:
    resolver, registry, desired = _contract_of(signature)
    for _ in range(2):
        with pytest.raises(RegistryRequestError) as raised:
            resolver.contract(SCOPE, "m", desired, registry)
        assert str(raised.value) == f"the signature of version 1 of m is not readable: {why}"
    assert registry.signature_reads == 1  # a READY version's answer is kept, this one too


@pytest.mark.parametrize("signature", [
    pytest.param(None, id="none"),
    pytest.param({}, id="no-inputs"),
    pytest.param({"inputs": None, "outputs": [{"type": "double"}]}, id="inputs-null"),
    pytest.param({"inputs": [{"type": "tensor", "tensor-spec": {"dtype": "float64",
                                                                "shape": [-1, 3]}}]},
                 id="tensor"),
    pytest.param({"inputs": [{"name": None, "type": "long"}]}, id="unnamed"),
])
def test_no_signature_or_no_named_inputs_is_still_not_checked(signature: Any) -> None:
    resolver, registry, desired = _contract_of(signature)
    contract = resolver.contract(SCOPE, "m", desired, registry)
    assert (contract.inputs, contract.unreadable) == (None, None)


@pytest.mark.parametrize(("signature", "why"), UNREADABLE[:3] + UNREADABLE[5:6])
def test_a_canary_with_an_unreadable_signature_is_not_deployed(signature: Any, why: str) -> None:
    sim = Sim()
    sim.body["spec"]["features"] = [{"name": "a", "type": "numeric"}]
    sim.tick()
    sim.tick(1)
    sim.registry.signatures[(REGISTERED, "3")] = signature
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    for _ in range(4):
        sim.tick(30)
    assert sim.weights() == {"1": 100}
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "InvalidModel")
    assert resolved["message"] == (f"reading what version 3 takes and scores: the signature of "
                                   f"version 3 of {REGISTERED} is not readable: {why}")


def test_a_canary_without_a_signature_still_starts() -> None:
    sim = Sim()
    sim.body["spec"]["features"] = [{"name": "a", "type": "numeric"}]
    sim.tick()
    sim.tick(1)
    sim.registry.signatures.pop((REGISTERED, "3"), None)
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    for _ in range(4):
        sim.tick(30)
    assert sim.weights() == {"1": 90, "3": 10}
