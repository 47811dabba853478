"""``services.disruption``'s memory and its namespace LIST: a failed LIST is backed off per
namespace (from the base again after one that succeeds), and says nothing of a model that wants
no budget; one LIST at a time per namespace; a model's task ended drops its memory (and its
entries alone), a pass of it still running then keeps nothing, and one reaching ``sync`` only
then makes no call (its task's epoch ended); a budget the model's predecessor of the name left
is waited for, not refused."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.unit.services.test_disruption_budgets import (
    PDB,
    BudgetCluster,
    _budgets,
    _calls,
    _conditions,
    _sim,
)
from tests.unit.services.test_upliftmodel import NS

from uplift_operator.adapters.kube import KubeError
from uplift_operator.render import disruption as render_disruption
from uplift_operator.render.naming import Owner
from uplift_operator.services.disruption import (
    BUDGET_CONDITION,
    BUDGET_FAILED,
    BUDGET_WAITING,
    RETRY_BASE_SECONDS,
    WAIT_BASE_SECONDS,
    DisruptionBudgets,
)

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
A = Owner(name="a", namespace=NS, uid="u-a")
B = Owner(name="b", namespace=NS, uid="u-b")
C = Owner(name="c", namespace=NS, uid="u-c")
FORBIDDEN = KubeError("list poddisruptionbudgets: 403 forbidden", 403)


@dataclass
class GatedCluster(BudgetCluster):
    """A budget cluster whose LIST (``list_error``: refused) and apply can be held: each waits
    for its gate once ``hold`` names it, and says it started (``started``)."""

    list_error: KubeError | None = None
    hold: set[str] = field(default_factory=set)
    started: dict[str, threading.Event] = field(
        default_factory=lambda: {"list": threading.Event(), "apply": threading.Event()})
    gates: dict[str, threading.Event] = field(
        default_factory=lambda: {"list": threading.Event(), "apply": threading.Event()})

    def _gate(self, what: str) -> None:
        self.started[what].set()
        if what in self.hold:
            assert self.gates[what].wait(10)

    def list_metadata(self, api_version: str, plural: str, namespace: str | None = None, *,
                      label_selector: str = "") -> list[dict[str, Any]]:
        self._gate("list")
        if self.list_error is not None:
            self.lists.append((plural, namespace, label_selector))
            raise self.list_error
        return super().list_metadata(api_version, plural, namespace,
                                     label_selector=label_selector)

    def apply(self, manifest: Any, plural: str) -> dict[str, Any]:
        if plural == PDB:
            self._gate("apply")
        return super().apply(manifest, plural)


def _want(owner: Owner, *versions: str) -> list[dict[str, Any]]:
    return render_disruption.desired_budgets(owner, {"maxUnavailable": 1}, versions)


def _in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


# A failed LIST ----------------------------------------------------------------------------------


def test_a_failed_list_says_nothing_of_a_model_without_the_field() -> None:
    """RBAC from before budgets (no poddisruptionbudgets: a 403), the documented upgrade: a
    model without the field gets no condition, no Warning and no retry of its own."""
    sims = {}
    for refused in (False, True):
        sim = sims[refused] = _sim()
        sim.cluster = sim.deps.cluster = GatedCluster(list_error=FORBIDDEN if refused else None)
        for seconds in (0, 1, 7):
            sim.tick(seconds)
    refused_sim, cluster = sims[True], sims[True].cluster
    assert isinstance(cluster, GatedCluster)
    for result in refused_sim.results:
        assert BUDGET_FAILED not in [e.reason for e in result.events]
    assert [r.requeue_after for r in refused_sim.results] == [
        r.requeue_after for r in sims[False].results]
    assert BUDGET_CONDITION not in _conditions(refused_sim)
    assert refused_sim.status["phase"] == "Healthy"
    assert len(cluster.lists) == 1  # the namespace's LIST is not sent again before its backoff


def test_a_failed_list_is_backed_off_per_namespace_not_per_model() -> None:
    cluster = GatedCluster(list_error=FORBIDDEN)
    budgets = DisruptionBudgets()
    assert budgets.sync(cluster, A, [], NOW).failure is None
    assert budgets.sync(cluster, B, [], NOW).failure is None
    assert len(cluster.lists) == 1
    # A model that wants a budget fails (said, retried), and not before the namespace's LIST is.
    wanting = Owner(name="c", namespace=NS, uid="u-c")
    outcome = budgets.sync(cluster, wanting, _want(wanting, "1"), NOW + dt.timedelta(seconds=10))
    assert outcome.failure is not None and "403 forbidden" in outcome.failure and outcome.news
    assert outcome.retry_after is not None and outcome.retry_after >= RETRY_BASE_SECONDS - 10
    assert len(cluster.lists) == 1
    # After the backoff the LIST is sent again, once for the namespace.
    cluster.list_error = None
    later = NOW + dt.timedelta(seconds=10 + outcome.retry_after)  # the model's retry
    assert budgets.sync(cluster, A, [], later).failure is None
    assert budgets.sync(cluster, B, [], later).failure is None
    assert budgets.sync(cluster, wanting, _want(wanting, "1"), later).failure is None
    assert len(cluster.lists) == 2
    assert {name for (_, plural, _, name) in cluster.objects if plural == PDB} == {"c-v1"}


# One LIST per namespace -----------------------------------------------------------------------


def test_concurrent_first_passes_of_a_namespace_send_one_list() -> None:
    cluster = GatedCluster(hold={"list"})
    budgets = DisruptionBudgets()
    first = _in_thread(lambda: budgets.sync(cluster, A, [], NOW))
    assert cluster.started["list"].wait(5)
    second = _in_thread(lambda: budgets.sync(cluster, B, _want(B, "1"), NOW))
    time.sleep(0.2)  # B's pass is at the LIST now: it waits for A's
    cluster.gates["list"].set()
    first.join(5)
    second.join(5)
    assert not first.is_alive() and not second.is_alive()
    assert len(cluster.lists) == 1
    assert {name for (_, plural, _, name) in cluster.objects if plural == PDB} == {"b-v1"}


def test_a_deleted_model_drops_its_own_entries_only() -> None:
    cluster = BudgetCluster()
    cluster.put(PDB, _want(A, "1")[0])
    cluster.put(PDB, _want(B, "1")[0])
    budgets = DisruptionBudgets()
    assert budgets.sync(cluster, A, _want(A, "1"), NOW).failure is None
    assert budgets.sync(cluster, B, _want(B, "1"), NOW).failure is None
    budgets.forget(A.uid, NS, paused=False)
    owners = budgets._listed[NS].owners  # kept while B's task runs
    assert owners is not None and owners.keys() == {B.uid}
    assert budgets.sync(cluster, C, [], NOW).failure is None  # a new model takes it
    assert len(cluster.lists) == 1


def test_a_model_paused_lists_again_at_its_next_pass() -> None:
    """Another replica may have acted on it meanwhile: its budgets are read afresh (one it no
    longer wants, made by the other replica, is deleted)."""
    cluster = BudgetCluster()
    budgets = DisruptionBudgets()
    assert budgets.sync(cluster, A, _want(A, "1"), NOW).failure is None
    budgets.forget(A.uid, NS)  # paused
    cluster.put(PDB, _want(A, "2")[0])  # the other replica's
    assert budgets.sync(cluster, A, _want(A, "1"), NOW).failure is None
    assert len(cluster.lists) == 2
    assert {name for (_, plural, _, name) in cluster.objects if plural == PDB} == {"a-v1"}
    assert budgets.sync(cluster, B, [], NOW).failure is None  # that LIST serves the others
    assert len(cluster.lists) == 2


# A pass that outlives its task ----------------------------------------------------------------


def test_a_pass_running_when_its_task_ends_keeps_nothing() -> None:
    """The pass's worker thread goes on after the task's cancellation and ``forget``: what it
    finds is not kept, so the model's next pass here reads the cluster again rather than trust
    it (a budget deleted meanwhile is put back)."""
    cluster = GatedCluster(hold={"apply"})
    budgets = DisruptionBudgets()
    running = _in_thread(lambda: budgets.sync(cluster, A, _want(A, "1"), NOW))
    assert cluster.started["apply"].wait(5)
    budgets.forget(A.uid, NS)  # the task ended (paused) while its pass applies
    cluster.gates["apply"].set()
    running.join(5)
    assert not running.is_alive()
    assert budgets._known == {} and budgets._epochs == {}
    cluster.objects.pop(("policy/v1", PDB, NS, "a-v1"))  # deleted meanwhile
    assert budgets.sync(cluster, A, _want(A, "1"), NOW).failure is None
    assert ("policy/v1", PDB, NS, "a-v1") in cluster.objects
    assert len(cluster.lists) == 2


def test_a_list_landing_after_a_models_task_ended_drops_its_entries() -> None:
    """Deleted while its LIST is out, and another model's pass waits for that LIST: the
    listing lands for the other model, without the deleted one's entries."""
    cluster = GatedCluster(hold={"list"})
    cluster.put(PDB, _want(A, "1")[0])
    budgets = DisruptionBudgets()
    running = _in_thread(lambda: budgets.sync(cluster, A, _want(A, "1"), NOW))
    assert cluster.started["list"].wait(5)
    waiting = _in_thread(lambda: budgets.sync(cluster, B, _want(B, "1"), NOW))
    deadline = time.monotonic() + 5
    while B.uid not in budgets._members.get(NS, ()):  # B's pass is in, to wait for A's LIST
        assert time.monotonic() < deadline, "B's pass never reached sync"
        time.sleep(0.01)
    budgets.forget(A.uid, NS, paused=False)  # deleted while its LIST is out
    cluster.gates["list"].set()
    running.join(5)
    waiting.join(5)
    assert not running.is_alive() and not waiting.is_alive()
    assert budgets._known.keys() == {B.uid} and budgets._epochs.keys() == {B.uid}
    listing = budgets._listed[NS]
    assert listing.owners == {} and not listing.gone
    assert len(cluster.lists) == 1 and _pdbs(cluster) == {"a-v1", "b-v1"}


# A namespace's listing goes with its last model -----------------------------------------------


def test_the_listings_of_namespaces_whose_models_are_gone_are_not_kept() -> None:
    """Short-lived namespaces (a preview per pull request), one model each, created and
    deleted: nothing of them is kept (a listing of each was, for the process's life)."""
    cluster = BudgetCluster()
    budgets = DisruptionBudgets()
    for n in range(50):
        owner = Owner(name="m", namespace=f"pr-{n}", uid=f"u-{n}")
        task = budgets.begin(owner.uid)
        assert budgets.sync(cluster, owner, [], NOW, epoch=task).failure is None
        budgets.forget(owner.uid, owner.namespace, paused=False, epoch=task)
    assert len(cluster.lists) == 50
    assert budgets._listed == {} and budgets._members == {}
    assert budgets._known == {} and budgets._epochs == {}


def test_a_list_whose_models_all_ended_while_it_was_out_is_dropped_when_it_lands() -> None:
    cluster = GatedCluster(hold={"list"})
    budgets = DisruptionBudgets()
    running = _in_thread(lambda: budgets.sync(cluster, A, _want(A, "1"), NOW))
    assert cluster.started["list"].wait(5)
    budgets.forget(A.uid, NS, paused=False)  # deleted while its LIST is out
    assert NS in budgets._listed  # still out: a pass may yet wait for it
    cluster.gates["list"].set()
    running.join(5)
    assert not running.is_alive()
    assert budgets._listed == {} and budgets._members == {}


def test_the_listing_stays_while_a_newer_task_of_its_model_runs() -> None:
    """The older task's end handled after the newer one began: the model is still there, and
    so is its namespace's listing."""
    cluster = BudgetCluster()
    budgets = DisruptionBudgets()
    older = budgets.begin(A.uid)
    assert budgets.sync(cluster, A, [], NOW, epoch=older).failure is None
    newer = budgets.begin(A.uid)
    budgets.forget(A.uid, NS, epoch=older)
    assert NS in budgets._listed
    assert budgets.sync(cluster, C, [], NOW).failure is None
    assert len(cluster.lists) == 1
    budgets.forget(A.uid, NS, paused=False, epoch=newer)
    budgets.forget(C.uid, NS, paused=False)
    assert budgets._listed == {}


def _pdbs(cluster: BudgetCluster) -> set[str]:
    return {name for (_, plural, _, name) in cluster.objects if plural == PDB}


def test_a_pass_reaching_sync_after_its_task_was_paused_makes_no_call() -> None:
    """Its thread was still before the budgets (measuring, say) when the task was cancelled and
    ``forget`` ran: it sends no LIST (which, during the pause, would pass for what the
    namespace holds after it) and keeps nothing, so the resumed task's first pass lists again
    and finds what the other replica did meanwhile."""
    cluster = BudgetCluster()
    budgets = DisruptionBudgets()
    paused_task = budgets.begin(A.uid)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=paused_task).failure is None
    budgets.forget(A.uid, NS, epoch=paused_task)  # paused: the task ends, its pass runs on
    calls, lists = len(cluster.budget_calls), len(cluster.lists)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=paused_task).failure is None
    assert (len(cluster.budget_calls), len(cluster.lists)) == (calls, lists)  # no call
    assert budgets._known == {}
    assert budgets.sync(cluster, A, _want(A, "2"), NOW, epoch=paused_task).failure is None
    assert len(cluster.budget_calls) == calls and _pdbs(cluster) == {"a-v1"}  # nor applied
    cluster.put(PDB, _want(A, "2")[0])  # the other replica's, while this one is paused
    resumed = budgets.begin(A.uid)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=resumed).failure is None
    assert len(cluster.lists) == lists + 1  # listed again
    assert _pdbs(cluster) == {"a-v1"}  # and the other replica's budget not wanted is deleted


def test_a_pass_reaching_sync_after_its_model_was_deleted_keeps_nothing() -> None:
    cluster = BudgetCluster()
    budgets = DisruptionBudgets()
    task = budgets.begin(A.uid)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=task).failure is None
    budgets.forget(A.uid, NS, paused=False, epoch=task)
    calls = len(cluster.budget_calls)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=task).failure is None
    assert len(cluster.budget_calls) == calls
    assert budgets._known == {} and budgets._epochs == {}  # nothing of the uid left


def test_a_pass_whose_task_ends_while_it_waits_for_a_list_sends_none() -> None:
    """Waiting for another model's LIST when its task ends (paused): that LIST's entries of it
    are not trusted, and this pass does not send one of its own."""
    cluster = GatedCluster(hold={"list"})
    budgets = DisruptionBudgets()
    task = budgets.begin(A.uid)
    first = _in_thread(lambda: budgets.sync(cluster, B, [], NOW))
    assert cluster.started["list"].wait(5)
    waiting = _in_thread(lambda: budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=task))
    time.sleep(0.2)  # A's pass waits for B's LIST
    budgets.forget(A.uid, NS, epoch=task)
    cluster.gates["list"].set()
    first.join(5)
    waiting.join(5)
    assert not first.is_alive() and not waiting.is_alive()
    assert len(cluster.lists) == 1 and _pdbs(cluster) == set()
    assert budgets._known.keys() == {B.uid}
    assert budgets._listed[NS].stale == {A.uid}  # the resumed task's pass lists again


def test_a_newer_task_of_the_model_keeps_its_epoch_when_the_older_one_ends() -> None:
    """The model's task started again before the older one's end was handled: the older one's
    pass keeps nothing, the newer one's passes act and keep what they find."""
    cluster = BudgetCluster()
    budgets = DisruptionBudgets()
    older = budgets.begin(A.uid)
    newer = budgets.begin(A.uid)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=older).failure is None
    assert cluster.budget_calls == [] and budgets._known == {}
    budgets.forget(A.uid, NS, epoch=older)
    assert budgets.sync(cluster, A, _want(A, "1"), NOW, epoch=newer).failure is None
    assert _pdbs(cluster) == {"a-v1"} and A.uid in budgets._known


def test_a_list_that_succeeds_resets_the_namespaces_backoff() -> None:
    """After LISTs refused in a row and one that succeeds, the namespace's next failure is
    backed off from the base again, not from where the earlier run of failures left it."""
    cluster = GatedCluster(list_error=FORBIDDEN)
    budgets = DisruptionBudgets()
    at = NOW
    waits = []
    for _ in range(4):  # each after the namespace's backoff
        outcome = budgets.sync(cluster, A, _want(A, "1"), at)
        assert outcome.retry_after is not None
        waits.append(outcome.retry_after)
        at += dt.timedelta(seconds=outcome.retry_after + 1)
    assert waits == [RETRY_BASE_SECONDS * 2 ** n for n in range(4)]
    cluster.list_error = None
    assert budgets.sync(cluster, A, _want(A, "1"), at).failure is None
    budgets.forget(B.uid, NS)  # B paused: its next pass lists again
    cluster.list_error = KubeError("list poddisruptionbudgets: 503 unavailable", 503)
    outcome = budgets.sync(cluster, B, _want(B, "1"), at + dt.timedelta(days=1))
    assert outcome.failure is not None and outcome.retry_after == RETRY_BASE_SECONDS


# The model's predecessor of the name ----------------------------------------------------------


def _predecessors(sim: Any, kind: str = "UpliftModel") -> None:
    """The budget a deleted ``kind`` of the name (uid u-0) left, not yet deleted by the GC."""
    old = _want(Owner(name="uplift", namespace=NS, uid="u-0", kind=kind), "1")[0]
    sim.cluster.put(PDB, old)


def test_a_budget_the_predecessor_of_the_name_left_is_waited_for_without_a_warning() -> None:
    """A model deleted and created again under its name (a GitOps sync) before the garbage
    collector deleted its budgets: no "not taken over" Warning; tried again soon."""
    sim = _sim({"maxUnavailable": 1})
    _predecessors(sim)
    first = sim.tick()
    said = _conditions(sim)[BUDGET_CONDITION]
    assert (said["status"], said["reason"]) == ("False", BUDGET_WAITING)
    assert "garbage collector" in said["message"]
    assert BUDGET_FAILED not in [e.reason for e in first.events]
    assert first.requeue_after is not None and first.requeue_after <= WAIT_BASE_SECONDS
    again = sim.tick(WAIT_BASE_SECONDS)  # still there: no Warning either
    assert BUDGET_FAILED not in [e.reason for e in again.events]
    assert _budgets(sim)["uplift-v1"]["metadata"]["ownerReferences"][0]["uid"] == "u-0"
    sim.cluster.objects.pop(("policy/v1", PDB, NS, "uplift-v1"))  # the GC
    sim.tick(2 * WAIT_BASE_SECONDS)
    assert _budgets(sim)["uplift-v1"]["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert _conditions(sim)[BUDGET_CONDITION]["status"] == "True"


def test_a_pass_within_the_wait_still_says_it_waits_for_the_garbage_collector() -> None:
    """A pass due before the retry (another change, a resync) makes no call and says what the
    last try found: still waiting, not DisruptionBudgetFailed, no Warning."""
    sim = _sim({"maxUnavailable": 1})
    _predecessors(sim)
    sim.tick()
    calls = len(_calls(sim))
    for _ in range(3):
        result = sim.tick(1)  # within WAIT_BASE_SECONDS of the try
        said = _conditions(sim)[BUDGET_CONDITION]
        assert (said["status"], said["reason"]) == ("False", BUDGET_WAITING)
        assert BUDGET_FAILED not in [e.reason for e in result.events]
    assert len(_calls(sim)) == calls


def test_a_budget_being_deleted_is_waited_for() -> None:
    sim = _sim({"maxUnavailable": 1})
    theirs = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
              "metadata": {"name": "uplift-v1", "namespace": NS,
                           "deletionTimestamp": "2026-12-01T11:59:00Z", "finalizers": ["x"]},
              "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "theirs"}}}}
    sim.cluster.put(PDB, theirs)
    result = sim.tick()
    assert _conditions(sim)[BUDGET_CONDITION]["reason"] == BUDGET_WAITING
    assert BUDGET_FAILED not in [e.reason for e in result.events]
    assert ("apply", "uplift-v1") not in _calls(sim)


def test_another_kinds_budget_of_the_name_is_still_refused_with_a_warning() -> None:
    sim = _sim({"maxUnavailable": 1})
    _predecessors(sim, kind="Deployment")
    result = sim.tick()
    said = _conditions(sim)[BUDGET_CONDITION]
    assert (said["status"], said["reason"]) == ("False", BUDGET_FAILED)
    assert "not taken over" in said["message"]
    assert [e.reason for e in result.events].count(BUDGET_FAILED) == 1
