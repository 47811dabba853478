"""The role tags a status-less pass reads (``services.upliftmodel._recorded_roles``): not read
when no answer could be made of them (no promotion alias), else shared by every resource on
the version (``run_cache.VersionTagReads``), and read again once this process wrote one.

Before, every UpliftModel read its desired version's tags at each pass with nothing stable in
its status: the 1,000-resource scale bench made 2.6 ``GET model-versions/get`` per resource
while they were applied, 1,000 models of one version (docs/operator.md, "Scale")."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from functools import partial
from typing import Any

import pytest
from tests.unit.services import shared_reads as shared
from tests.unit.services import test_upliftmodel as tu
from tests.unit.services.shared_reads import URI, CountingRegistry, wired

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    RegistryNotFound,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.render.naming import Owner
from uplift_operator.services import upliftmodel
from uplift_operator.services.run_cache import (
    VERSION_TAGS_TTL_SECONDS,
    CachingRegistry,
    RegistryClients,
    VersionTagReads,
)

ROLE = upliftmodel.ROLE_TAG
VERSION_1 = ("resolve", f"{tu.REGISTERED}/1/")  # ``GET model-versions/get`` of version 1


def first_passes(n: int, cached: bool, promotion_alias: bool = True,
                 passes: int = 3) -> tuple[CountingRegistry, list[dict[str, Any]]]:
    """``n`` new UpliftModels following one alias on version 1, ``passes`` passes each while
    Seldon has not reported (their first status held by the grace, as at the bench's apply),
    through the handlers' shared clients (``cached``) or one asking MLflow every time."""
    sim, fake = shared.counting_sim()
    sim.deps.first_status_grace = upliftmodel.FIRST_STATUS_GRACE
    sim.deps.registry_for = (wired(RegistryClients(lambda uri, credentials: fake)) if cached
                             else lambda ref, credentials: fake)
    if not promotion_alias:
        sim.body["spec"]["model"].pop("promotionAlias")
    bodies = shared.copies(sim.body, n)
    now = sim.now
    for _ in range(passes):
        shared.passed(bodies, sim.deps, now)
        sim.deps.write_back.run_due()
        now += dt.timedelta(seconds=1)
    return fake, bodies


def client_of(clients: RegistryClients, uri: str,
              credentials: Credentials | None = None) -> CachingRegistry:
    client = clients.get(uri, credentials)
    assert isinstance(client, CachingRegistry)
    return client


# -- N resources, one version --------------------------------------------------------------------

def test_without_a_promotion_alias_first_passes_read_no_role_tags() -> None:
    """No answer could be made of the tags (the alias is where the stable's number is kept):
    not read, whatever the client. What is left is the version's contract (once per version)
    and the write-back's check of its reason tag before deleting it (once per version)."""
    fake, bodies = first_passes(50, cached=False, promotion_alias=False)
    assert fake.asked[VERSION_1] <= 2, fake.asked
    assert all(b["status"]["stableVersion"] == "1" for b in bodies)


def test_with_a_promotion_alias_fifty_models_on_one_version_share_one_tag_read() -> None:
    fake, bodies = first_passes(50, cached=True)
    assert fake.asked[VERSION_1] <= 3, fake.asked  # contract, role tags, reason-tag check
    # Asking MLflow every time (a client without shared reads, as before): a read per model
    # per pass until its first status is written; the same statuses either way.
    uncached, reference = first_passes(50, cached=False)
    assert uncached.asked[VERSION_1] >= 100
    assert [b["status"] for b in bodies] == [b["status"] for b in reference]


def test_the_alias_check_comes_before_any_read() -> None:
    """``_recorded_roles`` itself, with a spec without ``promotionAlias``: no request."""
    sim = tu.Sim()
    sim.body["spec"]["model"].pop("promotionAlias")
    spec = UpliftModelSpec.model_validate(sim.body["spec"])
    fake = CountingRegistry()
    fake.add(tu.REGISTERED, "1")
    fake.tags[(tu.REGISTERED, "1", ROLE)] = "canary"
    owner = Owner(name="um", namespace=tu.NS, uid="u")
    status = UpliftModelStatus()
    assert upliftmodel._recorded_roles(spec, fake, status, "1", owner) == (None, None)
    assert fake.asked == Counter()


# -- the role tags this operator writes are seen ---------------------------------------------------

def test_a_canary_the_spec_withdrew_ramps_again_after_the_status_is_lost_with_shared_reads() -> None:
    """``test_upliftmodel_roles``'s case through the handlers' clients, their tag reads never
    expiring by time, version 2's tags read (untagged) before it ramped, as another resource's
    status-less pass would: the role tags the write-back writes (2 canary, then 2 retired)
    drop what was kept, so the status-less pass reads them as written, not as kept."""
    sim = tu.Sim()
    clients = RegistryClients(lambda uri, credentials: sim.registry,
                              tags=VersionTagReads(clock=lambda: 0.0))
    sim.deps.registry_for = wired(clients)
    assert dict(client_of(clients, URI).version_tags(tu.REGISTERED, "2")) == {}
    sim.with_canary()
    sim.registry.aliases[(tu.REGISTERED, "champion")] = "1"
    sim.tick(31)
    sim.tick(1)
    assert sim.registry.tags[(tu.REGISTERED, "2", ROLE)] == "retired"
    sim.body.pop("status")
    sim.registry.aliases[(tu.REGISTERED, "champion")] = "2"
    sim.tick(31)
    status = sim.status
    assert (status["stableVersion"], status.get("canaryVersion"),
            status.get("abortedVersion")) == ("1", "2", None)
    assert status["phase"] != "Degraded"


def test_a_tag_written_through_any_identity_of_the_uri_drops_what_was_kept() -> None:
    fake = CountingRegistry()
    fake.add("m", "1")
    clients = RegistryClients(lambda uri, credentials: fake)
    anonymous = client_of(clients, URI)
    team = client_of(clients, URI + "/", Credentials(token="t"))
    other = client_of(clients, "http://other.test")
    for client in (anonymous, team, other):
        assert dict(client.version_tags("m", "1")) == {}
        assert dict(client.version_tags("m", "1")) == {}  # kept
    assert fake.asked["resolve", "m/1/"] == 3  # one per identity: never shared between them
    team.set_version_tag("m", "1", ROLE, "canary")
    assert anonymous.version_tags("m", "1")[ROLE] == "canary"
    assert team.version_tags("m", "1")[ROLE] == "canary"
    assert dict(other.version_tags("m", "1")) == {}  # another server's version 1: still kept
    assert fake.asked["resolve", "m/1/"] == 5
    anonymous.delete_version_tag("m", "1", ROLE)
    assert dict(team.version_tags("m", "1")) == {}
    fake.writes_fail = True
    with pytest.raises(RegistryUnavailable):  # failed, it may have landed: read again
        anonymous.set_version_tag("m", "1", ROLE, "stable")
    team.version_tags("m", "1")
    assert fake.asked["resolve", "m/1/"] == 7


def test_a_tag_written_by_someone_else_is_seen_within_the_lifetime() -> None:
    now = [0.0]
    fake = CountingRegistry()
    fake.add("m", "1")
    client = client_of(RegistryClients(lambda uri, credentials: fake,
                                       tags=VersionTagReads(clock=lambda: now[0])), URI)
    assert dict(client.version_tags("m", "1")) == {}
    fake.tags[("m", "1", ROLE)] = "rolled-back"  # by hand, or another process
    now[0] += VERSION_TAGS_TTL_SECONDS - 1
    assert dict(client.version_tags("m", "1")) == {}
    now[0] += 1
    assert client.version_tags("m", "1")[ROLE] == "rolled-back"
    assert fake.asked["resolve", "m/1/"] == 2


def test_a_read_in_flight_when_a_tag_is_written_is_not_kept() -> None:
    """A read that may have crossed the write answers the passes waiting on it, and the next
    pass reads again."""
    tags = VersionTagReads()
    slow = shared.HeldRead({})
    got: list[Any] = []
    leader = threading.Thread(target=lambda: got.append(tags.get((URI, ""), "m", "1", slow)))
    leader.start()
    assert slow.started.wait(5)
    tags.written(URI + "/", "m", "1")
    slow.release.set()
    leader.join(5)
    assert got == [{}]
    assert tags.get((URI, ""), "m", "1", lambda: {ROLE: "canary"}) == {ROLE: "canary"}
    assert tags.get((URI, ""), "m", "1", slow) == {ROLE: "canary"}  # kept now
    assert slow.calls == 1 and tags.reads == 2 and tags.hits == 1


def test_passes_asking_at_once_share_one_read_and_its_error() -> None:
    tags = VersionTagReads()
    for fails in (True, False):
        read = shared.HeldRead({ROLE: "stable"},
                        RegistryNotFound("version 1 of m not found") if fails else None)
        got = shared.asked_at_once(partial(tags.get, (URI, ""), "m", "1", read), read,
                            lambda: tags._flights[((URI, "m", "1"), "")].waiting,
                            catch=RegistryNotFound)
        assert read.calls == 1 and len(got) == 8
        if fails:
            assert all(isinstance(g, RegistryNotFound) for g in got)
            assert len(tags) == 0  # not kept
        else:
            assert all(g == {ROLE: "stable"} for g in got)
            assert len(tags) == 1


def test_kept_tags_are_bounded_and_cannot_be_changed_by_a_caller() -> None:
    tags = VersionTagReads(max_entries=2)
    for version in ("1", "2", "3"):
        tags.get((URI, ""), "m", version, lambda: {ROLE: "stable"})
    assert len(tags) == 2
    kept: Any = tags.get((URI, ""), "m", "3", dict)
    with pytest.raises(TypeError):
        kept[ROLE] = "canary"
    assert tags.reads == 3  # "3" was kept; "1" went first
    tags.get((URI, ""), "m", "1", dict)
    assert tags.reads == 4
