"""The operator survives kills and API restarts mid-ramp: no step lost, none repeated.

Two replicas with kopf peering on this folder's own control plane (``conftest``). A ramp nothing
disturbs is the reference; every disturbed ramp must leave the same record behind: the same
history entries (action, weight, actor) and the same sequence of traffic splits in the
SeldonDeployment's spec generations, as a watch saw them (after an API server restart, a watch
that had to list again may have missed some, never seen others).
"""

from __future__ import annotations

import random
import statistics
import time

import pytest
from tests.integration.faults.conftest import LIFETIME, Ramp, RampRecord
from tests.support.replicas import OUTRANKED, RESUMED, ReplicaPair, logged_at, name_of

from uplift_operator.devenv import process
from uplift_operator.devenv.controlplane import ControlPlane

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 20
SEED = 20261201
# A kill falls this long (uniformly at random) after the previous failover completed: anywhere
# in the replicas' 1 s keep-alive cycle and in a step's 2 s pause and analyses.
KILL_WINDOW = 3.0
#: What a replica paused after it acted logs before it exits (handlers.common).
EXITED = "paused by peering after acting: exiting"


def test_the_undisturbed_ramp_steps_through_every_weight_once(undisturbed: RampRecord) -> None:
    assert [(a, w) for a, _, w, _ in undisturbed.history] == [
        ("CanaryStarted", 0), ("TrafficStarted", 10), ("StepAdvanced", 30), ("StepAdvanced", 50),
        ("StepAdvanced", 70), ("StepAdvanced", 90), ("Promoted", 0)]
    assert [split.get("canary") for split in undisturbed.splits] == [0, 10, 30, 50, 70, 90, 100]


def test_sigkill_of_the_acting_replica_20_times_mid_ramp(
        ramp: Ramp, replicas: ReplicaPair, undisturbed: RampRecord) -> None:
    rng = random.Random(SEED)
    assert {p["lifetime"] for p in replicas.peers().values()} == {LIFETIME}
    records: list[RampRecord] = []
    failovers: list[float] = []
    version = ramp.roll_out()
    killed_in = {version: 0}
    for _ in range(KILLS):
        if ramp.promoted(version):  # every kill lands in a ramp
            records.append(ramp.finish(version, logs=replicas.logs))
            version = ramp.roll_out()
            killed_in[version] = 0
        time.sleep(rng.uniform(0, KILL_WINDOW))
        killed_at, resumed_at = replicas.fail_over()
        failovers.append(resumed_at - killed_at)
        killed_in[version] += 1
    records.append(ramp.finish(version, logs=replicas.logs))

    print(f"\n{KILLS} kills in {len(records)} ramps {list(killed_in.values())}; standby resumed "
          f"after a median {statistics.median(failovers):.2f} s, max {max(failovers):.2f} s "
          f"(--peering-lifetime {LIFETIME})")
    for version, record in zip(killed_in, records, strict=True):
        assert record == undisturbed, f"v{version} ({killed_in[version]} kills): {record}"
    # Each standby took over once, when its predecessor was killed, and no replica was ever
    # outranked while it acted: no two replicas acted at once.
    for replica in replicas.killed:
        assert replica.logs().count(RESUMED) == 1, name_of(replica)
    assert OUTRANKED not in replicas.all_logs()
    assert len(replicas.killed) == KILLS
    assert all(replica.alive for replica in replicas.replicas())


def test_restart_of_apiserver_and_etcd_mid_ramp_resumes_the_ramp(
        plane: ControlPlane, ramp: Ramp, replicas: ReplicaPair, undisturbed: RampRecord) -> None:
    version = ramp.roll_out()
    ramp.wait(lambda s: s.get("canaryVersion") == version and s.get("canaryWeight") == 30,
              f"v{version} at 30 %", 60, replicas.logs)
    restarted_at = time.time()
    outage = plane.restart(kill=True)
    record = ramp.finish(version, logs=replicas.logs)
    assert record.history == undisturbed.history
    # The recorder's watch lists again when the restarted API server no longer has its point
    # (410): generations made meanwhile are then seen only as the latest. So the splits seen
    # are the undisturbed ones in order, some perhaps unseen, never another one or a step back.
    assert _in_order_within(record.splits, undisturbed.splits), record.splits
    assert record.splits[-1] == undisturbed.splits[-1]
    assert replicas.active is not None and replicas.active.alive, "the acting operator died"
    # The acting replica's keep-alives failed while the API was down; if that outlasted the
    # lifetime, the standby resumed too, until the next keep-alive outranked it again. A
    # replica paused after it acted exits (its restart lists afresh: handlers.common
    # exit_to_list_afresh); one that stayed paused lives on.
    assert replicas.standby is not None
    resumed = [t for t in logged_at(replicas.standby, RESUMED) if t > restarted_at]
    outranked = [t for t in logged_at(replicas.standby, OUTRANKED) if t > restarted_at]
    both = (f"the standby acted too for {outranked[0] - resumed[0]:.1f} s, then exited"
            if resumed and outranked else "the standby stayed paused")
    print(f"\nkube-apiserver and etcd SIGKILLed and restarted: API unreachable {outage:.1f} s; "
          f"{both}")
    assert len(resumed) == len(outranked), "the standby acted on after the restart"
    if outranked:
        process.wait_until(lambda: not replicas.standby.alive, timeout=30,  # type: ignore[union-attr]
                           what="the outranked standby's exit")
        assert EXITED in replicas.standby.logs()
    else:
        assert replicas.standby.alive, "the standby died"


def _in_order_within(seen: list[dict[str, int]], expected: list[dict[str, int]]) -> bool:
    """Whether ``seen`` is ``expected`` with some entries left out, in the same order."""
    remaining = iter(expected)
    return all(any(split == candidate for candidate in remaining) for split in seen)
