"""``uplift.dev/reason`` goes when a version becomes canary or stable: a version rolled back,
retried and promoted kept its old rollback's reason in MLflow (``services.upliftmodel._role``,
``_registry_state``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, SPEC, T0, Sim
from tests.unit.services.test_writeback_after_restart import rolled_back_canary

from uplift_operator.adapters.mlflow_registry import RegistryUnavailable
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.services import upliftmodel
from uplift_operator.services.writeback import Write, WriteBack

ROLE, REASON = "uplift.dev/role", "uplift.dev/reason"
SCOPE = ("http://mlflow.test", "", "")


def tag(sim: Sim, version: str, key: str) -> str | None:
    return sim.registry.tags.get((REGISTERED, version, key))


def test_a_rolled_back_version_retried_and_promoted_loses_its_rollback_reason() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    rolled_back_canary(sim, "2")
    assert tag(sim, "2", ROLE) == "rolled-back" and tag(sim, "2", REASON)
    sim.metrics.values[PROBE] = 0.5
    sim.body["metadata"]["annotations"]["uplift.dev/retry"] = "t1"
    sim.tick(1)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "2"
    assert (tag(sim, "2", ROLE), tag(sim, "2", REASON)) == ("canary", None)
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2"
    assert (tag(sim, "2", ROLE), tag(sim, "2", REASON)) == ("stable", None)
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"


def test_a_reason_removed_is_written_again_by_a_later_rollback_in_the_same_words() -> None:
    """The removal is its own write of the reason (value ""): a rollback after it, even with
    the reason the process wrote before, is not skipped as written already."""
    registry, queue = FakeRegistry(), WriteBack()
    registry.add(REGISTERED, "2")
    owner = ("UpliftModel", "ns", "m")
    why = "gate probe failed"

    def submit(*writes: Write) -> None:
        queue.submit(owner, registry, SCOPE, REGISTERED, writes)
        queue.run_due()

    submit(*upliftmodel._role(REGISTERED, "2", "rolled-back", "t1"),
           upliftmodel._reason(REGISTERED, "2", why))
    assert registry.tags[(REGISTERED, "2", REASON)] == why
    submit(*upliftmodel._role(REGISTERED, "2", "canary", "t2"))
    assert (REGISTERED, "2", REASON) not in registry.tags
    submit(*upliftmodel._role(REGISTERED, "2", "rolled-back", "t3"),
           upliftmodel._reason(REGISTERED, "2", why))
    assert registry.tags[(REGISTERED, "2", REASON)] == why


def test_the_registry_state_removes_the_reason_of_the_canary_and_the_stable_only() -> None:
    spec = UpliftModelSpec.model_validate(SPEC)
    t1 = T0 + dt.timedelta(hours=1)
    status = UpliftModelStatus.model_validate({
        "stableVersion": "2", "previousStableVersion": "1", "canaryVersion": "4",
        "abortedVersion": "3", "canaryStartedAt": (t1 + dt.timedelta(hours=1)).isoformat(),
        "history": [{"time": t1.isoformat(), "action": "Promoted", "version": "2"},
                    {"time": t1.isoformat(), "action": "RolledBack", "version": "3",
                     "reason": "gate probe failed"}]})
    registry = FakeRegistry()
    for version in ("1", "2", "3", "4"):
        registry.add(REGISTERED, version)
        registry.tags[(REGISTERED, version, REASON)] = "an old rollback"
    writes = upliftmodel._registry_state(spec, status, set(), T0 + dt.timedelta(hours=3))
    for write in writes:
        write.apply(registry)
    assert {v: registry.tags.get((REGISTERED, v, ROLE)) for v in "1234"} == {
        "1": "retired", "2": "stable", "3": "rolled-back", "4": "canary"}
    assert {v: registry.tags.get((REGISTERED, v, REASON)) for v in "1234"} == {
        "1": "an old rollback", "2": None, "3": "gate probe failed", "4": None}
    assert [w.what for w in writes if w.value == ""] == [("reason", "2"), ("reason", "4")]


@dataclass
class _EditOnly(FakeRegistry):
    """MLflow basic auth with EDIT on the model: tags set, a tag deletion denied (403)."""

    deleted: list[tuple[str, str]] = field(default_factory=list)

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        self.deleted.append((version, key))
        raise RegistryUnavailable("MLflow denied permission to the credentials' user (HTTP "
                                  "403; text/html, 17 bytes, not MLflow API JSON, not shown)",
                                  status_code=403)


def test_a_version_without_a_reason_is_asked_no_deletion() -> None:
    """A user with EDIT (not MANAGE) on the model: each canary or stable role asked MLflow to
    delete a reason tag mostly not there, refused (403) and retried for ever at the head of the
    model's queue, with the promotion's alias move held behind it. The tags are read first:
    no reason, no deletion, and the writes behind it go through."""
    registry, queue = _EditOnly(), WriteBack()
    registry.add(REGISTERED, "2")
    owner = ("UpliftModel", "ns", "m")
    queue.submit(owner, registry, SCOPE, REGISTERED, [
        *upliftmodel._role(REGISTERED, "2", "stable", "t1"),
        Write(("alias", "production"), "2", upliftmodel._alias_write(REGISTERED, "production",
                                                                     "2"))])
    assert queue.run_due() is None
    assert registry.deleted == [] and queue.pending() == 0 and queue.failure(owner) is None
    assert registry.aliases[(REGISTERED, "production")] == "2"
    assert registry.tags[(REGISTERED, "2", ROLE)] == "stable"


def test_a_denied_reason_deletion_names_the_permission_it_needs() -> None:
    """A version that has a reason (rolled back before): its deletion needs MANAGE; a 403 says
    so, not that the credentials were refused, and is retried (a grant lets it through)."""
    registry, queue = _EditOnly(), WriteBack(clock=lambda: 0.0)
    registry.add(REGISTERED, "2")
    registry.tags[(REGISTERED, "2", REASON)] = "gate probe failed"
    owner = ("UpliftModel", "ns", "m")
    queue.submit(owner, registry, SCOPE, REGISTERED,
                 upliftmodel._role(REGISTERED, "2", "canary", "t1"))
    queue.run_due()
    assert registry.deleted == [("2", REASON)] and queue.pending() == 1
    message = queue.failure(owner)
    assert message is not None
    assert "deleting a version tag needs permission MANAGE on registered model hillstrom" in (
        message)
    assert "refused the credentials" not in message and "HTTP 403" in message
