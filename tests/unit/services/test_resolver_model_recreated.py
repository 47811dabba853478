"""A registered model deleted and re-created numbers its versions from 1 again: its version 1
is another version (another run, signature, treatments). The resolver tells them apart by run
id: a contract is kept with its version's run id, and a version some resource follows that a
read finds under its number with another run is a problem (``InvalidModel``, saying the model
was re-created), the version served kept as it is; before, the new version took the number's
place as the same one, the old one's contract kept while followed."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace

from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_upliftmodel import NAME, NS, REGISTERED, SELDON, Sim

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services import upliftmodel
from uplift_operator.services.resolution import TREATMENTS_TAG, Resolver, Scope

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
ALIAS = ModelReference.model_validate({"registeredModel": "m", "alias": "champion",
                                       "aliasRefreshInterval": "60s"})
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "1"})
FOLLOWER = ("UpliftModel", "ns", "a")


def _version_1(registry: FakeRegistry, run: str, treatments: str, column: str) -> None:
    registry.add("m", "1", run_id=run)
    registry.versions[("m", "1")] = replace(registry.versions[("m", "1")],
                                            tags={TREATMENTS_TAG: treatments})
    registry.signatures[("m", "1")] = {"inputs": [{"name": column, "type": "long"}]}
    registry.aliases[("m", "champion")] = "1"


def _recreated(registry: FakeRegistry) -> None:
    registry.delete_model("m")
    _version_1(registry, "run-new", '{"2": "push"}', "income")


def test_a_version_nobody_follows_is_read_anew_with_its_contract() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    _version_1(registry, "run-old", '{"1": "email"}', "age")
    first = resolver.resolve(SCOPE, ALIAS, registry, T0)
    assert first.desired is not None
    assert resolver.contract(SCOPE, "m", first.desired, registry).treatments == {"1": "email"}
    _recreated(registry)
    later = resolver.resolve(SCOPE, ALIAS, registry, T0 + dt.timedelta(minutes=5))
    assert later.ok and later.desired is not None and later.desired.run_id == "run-new"
    contract = resolver.contract(SCOPE, "m", later.desired, registry)
    assert (contract.treatments, contract.inputs) == ({"2": "push"}, {"income": "long"})


def test_a_followed_version_found_replaced_is_a_problem_until_nobody_follows_it() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    _version_1(registry, "run-old", '{"1": "email"}', "age")
    told: list[object] = []
    resolver.moved.append(told.append)
    first = resolver.resolve(SCOPE, ALIAS, registry, T0)
    assert first.desired is not None
    resolver.contract(SCOPE, "m", first.desired, registry)
    resolver.follow_versions(FOLLOWER, [(SCOPE, "m", "1")])  # it serves version 1
    _recreated(registry)
    later = T0 + dt.timedelta(minutes=5)
    found = resolver.resolve(SCOPE, ALIAS, registry, later)
    assert found.reason == "InvalidModel" and len(told) == 1  # its followers woken
    assert found.desired == first.desired  # the version served, as held
    assert "run is run-new, was run-old" in found.message
    assert "registered model was deleted and re-created" in found.message
    assert "serving pods keep the model they loaded, until they restart" in found.message
    # A pinned spec on that number says the same; the facts and contract held stay the
    # served version's (its gates' evidence is its own run's).
    pinned = resolver.resolve(SCOPE, PINNED, registry, later)
    assert (pinned.reason, pinned.message) == ("InvalidModel", found.message)
    assert resolver.facts(SCOPE, "m", "1", registry).run_id == "run-old"
    assert resolver.contract(SCOPE, "m", first.desired, registry).treatments == {"1": "email"}
    # Still so from the alias's fresh answer, and through an outage.
    assert resolver.resolve(SCOPE, ALIAS, registry, later + dt.timedelta(seconds=1)).reason == (
        "InvalidModel")
    registry.down = True
    assert resolver.resolve(SCOPE, ALIAS, registry, later + dt.timedelta(seconds=90)) == found
    registry.down = False
    # Nobody serves the old version any more (the UpliftModel deleted): the new one is it.
    resolver.unfollow_versions(FOLLOWER)
    again = resolver.resolve(SCOPE, ALIAS, registry, later + dt.timedelta(minutes=2))
    assert again.ok and again.desired is not None and again.desired.run_id == "run-new"
    assert resolver.contract(SCOPE, "m", again.desired, registry).treatments == {"2": "push"}


def test_through_the_pass_the_stable_serves_on_and_the_model_turns_degraded() -> None:
    sim = Sim()
    key = ("UpliftModel", NS, NAME)

    def tick(seconds: float = 0) -> None:  # the handler's part: the versions followed
        sim.tick(seconds)
        sim.deps.resolver.follow_versions(key, upliftmodel.followed_versions(
            sim.body, sim.status, sim.deps))

    tick()
    tick(1)
    assert sim.status["phase"] == "Healthy" and sim.status["stableVersion"] == "1"
    graph = copy.deepcopy(sim.cluster.objects[SELDON]["spec"])
    sim.registry.delete_model(REGISTERED)
    sim.registry.add(REGISTERED, "1", run_id="run-new")
    sim.registry.aliases[(REGISTERED, "champion")] = "1"
    tick(60)
    condition = sim.condition("ModelResolved")
    assert (condition["status"], condition["reason"]) == ("False", "InvalidModel")
    assert "re-created" in condition["message"]
    for _ in range(6):
        tick(60)
    assert sim.status["phase"] == "Degraded" and sim.status["stableVersion"] == "1"
    assert sim.cluster.objects[SELDON]["spec"] == graph  # nothing rolled, nothing taken down
