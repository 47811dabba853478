"""Rollback bookkeeping as a property: random sequences of spec changes, gate verdicts, manual
requests and predictors starting or crashing, driven through ``test_ramp.Sim`` (so every
decision is checked for idempotence and a JSON round trip too), checked after each pass against
a small oracle that knows only what happened, not how the status records it:

- a version rolled back (a gate, an abort, an emergency rollback of the canary or of the
  stable) is not stable, not the canary and gets no traffic until an explicit new attempt —
  a retry of it, or the spec changed to it from another version. The one exception is the
  stable an emergency rollback replaced: it keeps the traffic it had until the restored
  version serves, and once it lost it never gets it back; or until a retry withdraws the
  rollback before then (``RestoreWithdrawn``): it is stable again, no longer rolled back;
- traffic moves only onto versions that serve (a version with weight is serving now, or had
  weight in the split before), unless no version of the split before ever served: a new
  version replaces a first version that never served, as the first version does;
- while the spec names a rolled-back version the model is Degraded, saying that version was
  rolled back, with the reason its own rollback recorded.

Fixed seeds, so a failure reproduces; each prints the steps taken.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import pytest

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Decision, Reason, TrafficSplit

from .test_ramp import F, P, Sim, make_spec

VERSIONS = ("1", "2", "3", "4")
ROLLBACKS = {Reason.ROLLED_BACK.value, Reason.MANUAL_ABORT.value,
             Reason.EMERGENCY_ROLLBACK.value}
STARTS = {Reason.CANARY_STARTED.value, Reason.CANARY_REPLACED.value, Reason.RETRY.value}
REQUESTS = (ramp.ABORT_ANNOTATION, ramp.RETRY_ANNOTATION, ramp.EMERGENCY_ROLLBACK_ANNOTATION,
            ramp.EMERGENCY_ROLLBACK_ANNOTATION, ramp.PROMOTE_ANNOTATION)


def weights(split: TrafficSplit | None) -> dict[str, int]:
    if split is None:
        return {}
    shares = {split.stable_version: 100 - split.canary_weight}
    if split.canary_version is not None:
        shares[split.canary_version] = split.canary_weight
    return shares


@dataclass
class Oracle:
    """What must hold, from what happened: which versions are rolled back (and why), and which
    of them may still keep the traffic they had."""

    blocked: dict[str, str] = field(default_factory=dict)  # version -> its rollback's reason
    keeps_traffic: set[str] = field(default_factory=set)
    since_canary: set[str] = field(default_factory=set)  # rolled back since a canary started
    split: dict[str, int] = field(default_factory=dict)
    served: set[str] = field(default_factory=set)  # every version seen serving

    def spec_changed(self, before: str | None, after: str | None) -> None:
        if after is not None and before is not None and after != before:
            self.blocked.pop(after, None)  # an explicit new attempt

    def passed(self, before: UpliftModelStatus, d: Decision, now: dt.datetime,
               ready: frozenset[str], log: list[str]) -> None:
        after = d.status
        for entry in [e for e in after.history if e.time == now]:
            if entry.reason.startswith("ignored: "):
                continue
            if entry.action in ROLLBACKS and entry.actor != "spec":
                if (entry.action == Reason.EMERGENCY_ROLLBACK.value
                        and before.stable_version != after.stable_version):
                    assert before.stable_version is not None
                    bad = before.stable_version
                    self.blocked[bad] = entry.reason
                    self.since_canary.add(bad)
                    # Restoring previousStableVersion is what was asked for, explicitly.
                    if after.stable_version is not None:
                        self.blocked.pop(after.stable_version, None)
                        self.since_canary.discard(after.stable_version)
                    if self.split.get(bad):
                        self.keeps_traffic.add(bad)
                else:
                    assert entry.version is not None
                    self.blocked[entry.version] = entry.reason
                    self.since_canary.add(entry.version)
            elif entry.action in (Reason.RETRY.value, Reason.RESTORE_WITHDRAWN.value):
                assert entry.version is not None
                self.blocked.pop(entry.version, None)
                self.keeps_traffic.discard(entry.version)
                self.since_canary.discard(entry.version)
            if entry.action in STARTS:
                self.since_canary = set()
        self.served |= ready
        trail = "\n".join(log)
        # The status records exactly the versions rolled back since the last canary started.
        recorded = {after.aborted_version, after.emergency_rolled_back_version} - {None}
        assert recorded == self.since_canary, trail
        assert after.stable_version not in self.blocked, trail
        assert after.canary_version not in self.blocked, trail
        new = weights(d.traffic)
        for version, weight in new.items():
            if weight == 0:
                continue
            if version in self.blocked:
                assert version in self.keeps_traffic and self.split.get(version), trail
            # Traffic moves only onto versions that serve (nothing served it before: a first
            # version, or one replacing a first version that never served).
            assert (not self.split or version in ready or self.split.get(version)
                    or not self.served & set(self.split)), trail
        if after.phase is Phase.HEALTHY:  # "version S serves all traffic" is true
            assert new.get(after.stable_version or "") == 100, trail
        self.keeps_traffic = {v for v in self.keeps_traffic if new.get(v)}
        self.split = new
        desired = after.desired_version
        if (desired in self.blocked and after.stable_version is not None
                and desired != after.stable_version):
            assert after.phase is Phase.DEGRADED, trail
            # Past an emergency restore's deadline, the deadline's words come first.
            message = after.message.removeprefix("ProgressDeadlineExceeded: ")
            assert message.startswith(
                f"version {desired} was rolled back ({self.blocked[desired]})"), trail


@dataclass
class World:
    """The predictors of the serving graph: each version the split names, ready or not; a new
    one starts after a random delay, a ready one may crash."""

    rng: random.Random
    ready: dict[str, bool] = field(default_factory=dict)

    def serving(self) -> frozenset[str]:
        return frozenset(v for v, up in self.ready.items() if up)

    def apply(self, split: TrafficSplit | None) -> None:
        names = set(weights(split))
        self.ready = {v: self.ready.get(v, False) for v in names}
        for version, up in self.ready.items():
            if not up and self.rng.random() < 0.5:
                self.ready[version] = True
            elif up and self.rng.random() < 0.03:
                self.ready[version] = False


def run(seed: int, length: int = 60) -> None:
    rng = random.Random(seed)
    spec = make_spec(steps=((10, "2m"), (50, "2m")),
                     gates=[{"name": "lat", "type": "latency"}])
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": rng.choice(["0s", "3m"])})})
    sim, world, oracle = Sim(spec), World(rng), Oracle()
    log: list[str] = [f"seed {seed}"]
    for n in range(length):
        roll = rng.random()
        outcomes: dict[str, object] | None = None
        if roll < 0.2:
            before_desired = sim.status.desired_version
            sim.desired = rng.choice(VERSIONS)
            oracle.spec_changed(before_desired, sim.desired)
            step = f"spec -> {sim.desired}"
        elif roll < 0.45:
            key = rng.choice(REQUESTS)
            value = rng.choice(["step", "full"]) + f":{n}" if key == ramp.PROMOTE_ANNOTATION \
                else str(n)
            sim.request(key, value)
            step = f"{key}={value}"
        elif roll < 0.55:
            outcomes = {"lat": F}
            step = "gate fails"
        else:
            outcomes = {"lat": P}
            step = "gate passes"
        ready = world.serving()
        sim.ready_versions = ready
        sim.stable_ready = (sim.status.stable_version or sim.desired or "") in ready
        sim.canary_ready = sim.status.canary_version in ready
        before = sim.status
        d = sim.tick(rng.choice([0.5, 1, 2, 3]), verdicts=outcomes)  # type: ignore[arg-type]
        log.append(f"{n}: {step} (serving {sorted(ready)}) -> stable {d.status.stable_version} "
                   f"canary {d.status.canary_version}@{d.status.canary_weight} aborted "
                   f"{d.status.aborted_version} emergency "
                   f"{d.status.emergency_rolled_back_version} {d.status.phase} "
                   f"{[e.reason.value for e in d.events]} split {weights(d.traffic)}")
        oracle.passed(before, d, sim.now, ready, log)
        world.apply(d.traffic)


@pytest.mark.parametrize("seed", range(40))
def test_rollback_bookkeeping_holds_on_random_sequences(seed: int) -> None:
    run(seed)
