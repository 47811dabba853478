"""The UpliftModel's part of the ramp: versions, the canary, promotion, the traffic split.

Role: on top of the shared step machine (``domain.steps``), what only a canary of model versions
has: following the version the spec resolves to (first version stable at once, a new one starts
or replaces the canary, back at stable removes it — either waits while the stable does not
serve and the canary with traffic does — an aborted one waits for a retry), the
pre-traffic analysis of offline gates at weight 0, promotion (stable := canary), the emergency
rollback to the previous stable, the scale-down delay of a rolled-back canary, the ``Ready``
condition, and the ``TrafficSplit`` the serving backends render. ``domain.ramp`` is the public
entry (``decide``). No I/O, no clock.

Two versions may stand rolled back at once, each in its own status field: ``abortedVersion``,
the canary last rolled back (a gate, an abort, an emergency rollback while a canary ran), and
``emergencyRolledBackVersion``, the stable version an emergency rollback replaced by the
previous one. Neither is rolled out again until a retry or a new version; starting a canary
clears both (the new attempt supersedes them). One field for both let an emergency rollback of
the stable overwrite the record of a canary rolled back just before, which then rolled out again.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from uplift_operator.api.v1alpha1.common import (
    Condition,
    DecisionRecord,
    GateStatus,
    GateVerdict,
    Phase,
    parse_duration,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate, UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import steps, stuck
from uplift_operator.domain.gates import (
    OFFLINE_GATE_TYPES,
    GateAction,
    next_step,
    required_action,
    restart_split_check,
    same_settings,
)
from uplift_operator.domain.requests import (
    PROMOTE_ANNOTATION,
    ManualRequest,
    RequestKind,
)
from uplift_operator.domain.steps import Event, Reason

__all__ = ["STOPPING_REQUESTS", "Decision", "Observed", "TrafficSplit", "analysis_due", "decide",
           "decide_stopping_requests", "gates_to_measure", "read_canary_of_stable",
           "read_legacy_emergency", "read_pruned_emergency", "restored_by", "rollback_entry",
           "rolled_back_by", "says_stable_down", "stable_down_text"]


@dataclass(frozen=True)
class TrafficSplit:
    """The desired serving graph: stable gets 100 − ``canary_weight`` percent.

    ``canary_version`` at weight 0 keeps a rolled-back canary deployed for inspection
    (``spec.rollback.scaleDownDelay``). The serving backends (``render``) render exactly this.
    """

    stable_version: str
    canary_version: str | None = None
    canary_weight: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight {self.canary_weight} outside [0, 100]")
        if self.canary_version is None and self.canary_weight:
            raise ValueError("a canary weight without a canary version")
        if self.canary_version == self.stable_version:
            raise ValueError("canary and stable are the same version")


@dataclass(frozen=True)
class Observed(steps.ObservedBase):
    """What the I/O layer saw in this pass.

    ``desired_version``: the version the spec resolves to now (None: unresolved; a canary's
    ramp is held meanwhile: ``_CanaryPass.unresolved``).
    ``stable_ready``/``canary_ready``: whether that predictor serves.
    ``gate_outcomes``: this pass's analysis of ``status.canaryVersion`` (None: none ran; see
    ``analysis_due``). ``requests``: manual requests present (``parse_requests``).
    ``generation``: metadata.generation, for observedGeneration.
    ``split_as_status``: whether the serving graph splits traffic as the status says; False
    after an apply that failed, a replica that died between its apply and its status write, or
    a hand edit — this pass applies the status's split again.
    ``ready_versions``: every version whose own predictor serves — its Deployment has an
    available replica, whatever the whole graph's state (None: only the two flags above are
    known): an emergency rollback's restored version is judged on it, as a canary with traffic
    is, since the version the rollback replaces is usually down and keeps the graph from being
    ready (``services.upliftmodel._observe``'s ``serves``; docs/dataplane.md).
    ``serving_failure``: the serving backend reports the graph failed: which version (stable,
    canary) does not serve and the backend's own text, e.g. ``canary 2 not serving:
    SeldonDeployment Failed: …`` (None: no failure reported).
    ``split_refused``: the graph does not split traffic as the status says and the last pass's
    apply of it was refused (``ServingApplied`` False, ``ApplyFailed``: an admission webhook, a
    quota, RBAC): that condition's message (None: no such refusal on record). The step is held
    while it is (``_CanaryPass.split_not_carried``).
    ``recorded``: the roles the operator's own registry tags give, read only on a pass with
    nothing stable in the status (``RecordedRoles``; None: not read, or nothing to go by).
    """

    desired_version: str | None
    stable_ready: bool = False
    canary_ready: bool = False
    split_as_status: bool = True
    ready_versions: frozenset[str] | None = None
    serving_failure: str | None = None
    split_refused: str | None = None
    recorded: RecordedRoles | None = None
    #: the serving graph's workloads short of their replicas while every version serves
    #: (``<name>: N of M replicas available``; ``render.serving.ServingState.short``), what
    #: ``_CanaryPass.graph_not_ready`` names; empty: none, or not known
    graph_short: tuple[str, ...] = ()
    #: the versions of ``ready_versions`` whose own Deployment is not whole: a pod of it not
    #: available (crash-looping, starting), fewer available than its predictor wants, or no
    #: status for it yet (``services.upliftmodel._partial_versions``). Seldon Core 1.17.1 moves
    #: no route while any Deployment of the graph is so (docs/dataplane.md), so a rolled-back
    #: version is not kept in the graph while it is (``_CanaryPass.kept_serves``); empty: none,
    #: or not known
    partial_versions: frozenset[str] = frozenset()
    #: the versions with traffic, and their weights, of a serving graph that does not split
    #: traffic as the status says and was last applied by a pass on this very status (its
    #: ``uplift.dev/decided-on`` stamp is the resourceVersion this pass read, or the one a pass
    #: of this process applied it on whose status write was refused, the status unchanged
    #: since): usually the decision of a pass whose status write was lost (a replica killed
    #: between its apply and its status write, a write refused 409); also a hand edit made
    #: after a pass that applied the status's own split again without a status write
    #: (``services.upliftmodel._decided_here``; ``_CanaryPass.lost_advance``,
    #: ``lost_rollback``); empty: none
    decided_here: frozenset[tuple[str, int]] = frozenset()


#: The ``uplift.dev/role`` values the operator writes (``services.upliftmodel._write_backs``)
#: that a status-less pass honours (``RecordedRoles``).
ROLE_ROLLED_BACK, ROLE_CANARY = "rolled-back", "canary"


@dataclass(frozen=True)
class RecordedRoles:
    """What the registry's role tags, written by this operator, say of an UpliftModel whose
    status is gone (deleted and applied again, replaced with ``--force``, restored by Velero
    without its status): ``desired_role``, the desired version's ``uplift.dev/role``;
    ``stable``, another ready version tagged ``stable`` that the promotion alias points at;
    ``reason``, the desired version's ``uplift.dev/reason`` (a rollback's, "" if none). Without
    them, the version the spec names is a first version and served at once: a version the gates
    rolled back, or a canary mid-ramp, would take all the traffic."""

    desired_role: str
    stable: str
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    """The outcome of one pass.

    ``status``: the complete new status, the gates' sequential-test memory included
    (``status.gates[].sequentialState``). ``traffic``: the serving graph to apply (None: nothing
    to serve yet). ``events``: to emit, in order. ``requeue_after``: when to run again (next
    analysis, step end, deadline), None when nothing is scheduled.
    """

    status: UpliftModelStatus
    traffic: TrafficSplit | None
    events: tuple[Event, ...]
    requeue_after: dt.timedelta | None


#: How long an emergency rollback's restored version may take to serve when the spec sets no
#: ``progressDeadline``: then the phase is Degraded (``ProgressDeadlineExceeded``) and says how
#: to withdraw the rollback. Its pods start afresh (the version left the graph at its
#: promotion), its model is downloaded again: minutes, not ten.
RESTORE_DEADLINE = "10m"

#: How much of the serving backend's failure text the phase message of a stable version that
#: no longer serves quotes (the ``ServingFailed`` condition has it whole).
_FAILURE_QUOTED = 1000


def _span(length: dt.timedelta) -> str:
    """A length of time as a message says it: ``5m``, ``1h2m``, ``45s``."""
    seconds = int(length.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    said = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s"))
                   if n)
    return said or "0s"


def stable_down_text(version: str) -> str:
    """How the phase message (and so ``Ready``'s) begins to say that stable ``version``, which
    served, does not any more: what ``says_stable_down`` reads back, in the next pass and in the
    operator's metrics."""
    return f"stable version {version} does not serve any more"


def says_stable_down(stable_version: str | None, ready_reason: str | None,
                     ready_message: str | None) -> bool:
    """Whether a status (its ``stableVersion`` and ``Ready`` condition) says that its stable
    version served and does not any more (``stable_down_text``). A state, not an event: true
    for as long as the status says so, across operator restarts."""
    return (stable_version is not None and ready_reason == cond.WAITING_FOR_SERVING
            and stable_down_text(stable_version) in (ready_message or ""))


#: ``Ready`` reasons said only while the stable version serves.
_STABLE_SERVES = frozenset({cond.STABLE_SERVING, cond.ROLLBACK_PENDING})


def _pre_traffic(status: UpliftModelStatus) -> bool:
    """A canary is deployed but gets no traffic until it serves and its offline gates pass
    (weight 0; every ramp step has a weight above 0), as Argo Rollouts scales a canary up
    before it shifts traffic: a split set before the canary serves would send its share to
    the stable and break the sample-ratio check for the version's whole life."""
    return status.canary_version is not None and status.canary_weight == 0


def analysis_due(spec: UpliftModelSpec, status: UpliftModelStatus, now: dt.datetime) -> bool:
    """Whether gates should be measured now: a canary is out and an analysis interval has passed
    since the later of the step start and the last analysis (so a step's first analysis sees
    one interval of data at its weight); offline gates before traffic at once."""
    return steps.analysis_due(spec.rollout, status, now, active=status.canary_version is not None,
                              pre_traffic=_pre_traffic(status))


def gates_to_measure(spec: UpliftModelSpec, status: UpliftModelStatus) -> list[ModelGate]:
    """The gates an analysis measures now: before any traffic moves (Argo Rollouts'
    prePromotionAnalysis), only the offline ones; on the ramp, the others, plus any offline
    gate that has not passed yet under its current settings (a canary started before its
    offline gates were judged, or a gate edited since it passed)."""
    if _pre_traffic(status):
        return [g for g in spec.rollout.gates if g.type in OFFLINE_GATE_TYPES]
    statuses = {g.name: g for g in status.gates}
    return [g for g in spec.rollout.gates if g.type not in OFFLINE_GATE_TYPES
            or not steps.passed_as_set(g, statuses.get(g.name))]


def on_last_step(spec: UpliftModelSpec, status: UpliftModelStatus) -> bool:
    """The canary is on the ramp's last step, so its gates' next Pass promotes it (a step index
    beyond the spec's steps, which lost steps mid-ramp, counts as the last, as the ramp does)."""
    return (status.canary_version is not None and status.current_step is not None
            and status.current_step >= len(spec.rollout.steps) - 1)


def decide(spec: UpliftModelSpec, status: UpliftModelStatus, observed: Observed,
           now: dt.datetime) -> Decision:
    """One reconcile pass of the canary ramp (see ``domain.ramp.decide``)."""
    return _CanaryPass(spec, _read_rolled_back(status), observed, now).run()


def _emergency_reason(bad: str, good: str) -> str:
    """Why an emergency rollback replaced stable ``bad``: the history entry's reason, in the
    same words as operators before this one wrote (``_restore_versions`` reads both)."""
    return f"stable {bad} replaced by previous stable {good} at once"


_EMERGENCY_REASON = re.compile(
    r"stable (\S+) replaced by previous stable (\S+) at once(?:$| by |: )")


def _restore_versions(entry: DecisionRecord) -> tuple[str, str] | None:
    """(replaced, restored) of a history entry of an emergency rollback of the stable; None for
    any other entry. Its version is the replaced one; operators before
    ``emergencyRolledBackVersion`` named the restored one: the reason names both, at its
    start (who asked and why may follow: ``ManualRequest.note``)."""
    if entry.action != Reason.EMERGENCY_ROLLBACK.value or not steps.is_rollback(entry):
        return None
    match = _EMERGENCY_REASON.match(entry.reason)
    if match is None or entry.version not in match.groups():
        return None
    return match[1], match[2]


def rolled_back_by(entry: DecisionRecord) -> str | None:
    """The version a history entry rolled back (None: the entry is no rollback)."""
    if not steps.is_rollback(entry):
        return None
    versions = _restore_versions(entry)
    return versions[0] if versions is not None else entry.version


def restored_by(entry: DecisionRecord) -> str | None:
    """The previous stable version a history entry of an emergency rollback made stable again
    (None: the entry is no such rollback)."""
    versions = _restore_versions(entry)
    return versions[1] if versions is not None else None


def rollback_entry(status: UpliftModelStatus, version: str | None) -> DecisionRecord | None:
    """The history entry of ``version``'s latest rollback (its reason and time), None when it
    is no longer in the bounded history."""
    if version is None:
        return None
    return next((e for e in reversed(status.history) if rolled_back_by(e) == version), None)


#: How the history entry (and event) of a canary the spec withdrew begins: ``spec points back
#: at stable N: canary M removed`` (``follow_desired_version``). Not a rollback of the version:
#: the same version in the spec again starts a canary, so MLflow tags it ``retired`` with that
#: reason (``services.upliftmodel._write_backs``; ``removed_canaries``), and a status-less pass
#: ramps a version so tagged as the canary it was (``services.upliftmodel._recorded_roles``).
SPEC_WITHDREW = "spec points back at stable"


def withdrawn_by_spec(entry: DecisionRecord) -> bool:
    """Whether a history entry is the spec's withdrawal of a canary (``SPEC_WITHDREW``)."""
    return (entry.action == Reason.ROLLED_BACK.value and entry.actor == "spec"
            and entry.reason.startswith(SPEC_WITHDREW))


#: History actions that make their entry's version the canary.
_CANARY_TAKES = frozenset({Reason.CANARY_STARTED.value, Reason.CANARY_REPLACED.value,
                           Reason.RETRY.value})


def removed_canaries(status: UpliftModelStatus) -> dict[str, tuple[str, DecisionRecord]]:
    """The versions the bounded history shows taken off as canaries, with the role the
    decision gave them (``retired``: replaced by a newer version, or withdrawn by the spec
    pointing back at the stable, ``withdrawn_by_spec``, which the status does not treat as a
    rollback either; ``rolled-back``: any other rollback) and its entry, unless a later entry
    made them the canary or stable again. No status field names a replaced or withdrawn
    canary, so a write-back lost to an operator restart is replayed from here
    (``_registry_state``)."""
    canary: str | None = None
    removed: dict[str, tuple[str, DecisionRecord]] = {}
    for entry in status.history:
        bad = rolled_back_by(entry)
        if entry.action in _CANARY_TAKES and entry.version is not None:
            if (entry.action == Reason.CANARY_REPLACED.value and canary is not None
                    and canary != entry.version):
                removed[canary] = ("retired", entry)
            canary = entry.version
            removed.pop(entry.version, None)
        elif bad is not None:
            removed[bad] = ("retired" if withdrawn_by_spec(entry) else "rolled-back", entry)
            canary = None if bad == canary else canary
        elif (entry.action in (Reason.PROMOTED.value, Reason.RESTORE_WITHDRAWN.value)
              and entry.version is not None):
            removed.pop(entry.version, None)
            canary = None if entry.version == canary else canary
    return removed


def read_legacy_emergency(status: UpliftModelStatus) -> UpliftModelStatus:
    """``status`` as this operator writes it, when an operator before
    ``emergencyRolledBackVersion`` wrote it after an emergency rollback of the stable: it put
    the replaced version in ``abortedVersion`` (a canary rolled back before was lost then). Told
    from a canary's rollback by that entry, still the model's last rollback: nothing rolls back
    between an emergency rollback of the stable and the next canary's start."""
    s = status
    if (s.emergency_rolled_back_version is not None or s.aborted_version is None
            or s.canary_version is not None or s.stable_version in (None, s.aborted_version)):
        return status
    last = next((e for e in reversed(s.history) if steps.is_rollback(e)), None)
    if (last is None or last.action != Reason.EMERGENCY_ROLLBACK.value
            or last.version != s.stable_version or rolled_back_by(last) != s.aborted_version):
        return status
    return status.model_copy(update={"emergency_rolled_back_version": s.aborted_version,
                                     "aborted_version": None})


#: History actions that clear ``emergencyRolledBackVersion``: a canary's start clears both
#: rolled-back fields (``start_canary``), a restore's withdrawal that one (``withdraw_restore``).
_CANARY_STARTS = frozenset({Reason.CANARY_STARTED.value, Reason.CANARY_REPLACED.value,
                            Reason.RETRY.value, Reason.RESTORE_WITHDRAWN.value})


def read_pruned_emergency(status: UpliftModelStatus) -> UpliftModelStatus:
    """``status`` with ``emergencyRolledBackVersion`` read back from the history when the API
    server dropped it: a CRD older than the field prunes it from every write (docs/install.md
    "Upgrading the CRDs"), and the replaced stable, still the spec's version, would start
    again as a canary in the next pass. The field was set when the model's last rollback or
    canary start is an emergency rollback of the stable that restored the version stable now:
    only a canary's start or a restore's withdrawal clears it, and each is in the history.
    Once that entry has left the bounded history nothing is read back."""
    s = status
    if (s.emergency_rolled_back_version is not None or s.canary_version is not None
            or s.stable_version is None):
        return status
    last = next((e for e in reversed(s.history)
                 if steps.is_rollback(e) or e.action in _CANARY_STARTS), None)
    if last is None or restored_by(last) != s.stable_version:
        return status
    bad = rolled_back_by(last)
    if bad is None or bad == s.stable_version:
        return status
    return status.model_copy(update={"emergency_rolled_back_version": bad})


def read_canary_of_stable(status: UpliftModelStatus) -> UpliftModelStatus:
    """``status`` without a canary that names its stable version, dropped with its step, weight
    and times as a removed canary is (its gates' memory is left, as then). No pass writes one
    (a canary starts only for a version other than the stable), so it is a hand edit: a graph
    cannot split traffic between a version and itself (``TrafficSplit``), and every pass
    raised, an abort or an emergency rollback never acted on. The stable version serves all
    traffic, as the serving graph already has it (``services`` renders no such canary); the
    spec's version is followed from there. ``services.upliftmodel.read_status`` names the drop
    in ``StatusReadable``."""
    if status.canary_version is None or status.canary_version != status.stable_version:
        return status
    return status.model_copy(update={
        "canary_version": None, "canary_weight": 0, "canary_started_at": None,
        "split_applied_at": None, "current_step": None, "step_started_at": None,
        "resumed_at": None, "paused_at": None})


def _read_rolled_back(status: UpliftModelStatus) -> UpliftModelStatus:
    """``status`` with its rolled-back versions where this operator keeps them, whoever wrote
    it and whatever the installed CRD kept; and no canary that names the stable version
    (``read_canary_of_stable``)."""
    return read_pruned_emergency(read_legacy_emergency(read_canary_of_stable(status)))


#: What a pass still does while the spec is invalid: the requests that only take traffic away.
STOPPING_REQUESTS = steps.STOP_REQUESTS


def decide_stopping_requests(spec: UpliftModelSpec, status: UpliftModelStatus,
                             observed: Observed, now: dt.datetime) -> Decision:
    """A pass while the spec is invalid (``services`` writes the InvalidSpec condition over
    it), every such pass: the ramp is held where it stands — no gate judged, no step, no
    version followed — but an abort or an emergency rollback is still acted on, so an on-call
    engineer can take a canary off (or restore the previous stable) without fixing the spec
    first. A retry or promote pending with such a stop is superseded by it, its token used up
    (``StepPass.handle_requests``: stopping wins; it would otherwise fire once the spec is
    fixed, undoing the stop; not during a restore: ``stops_supersede``); other requests wait
    for a valid spec (their tokens are not used up). What serving does on its own goes on as
    in a valid pass: an emergency rollback's restore ends once the restored version serves
    (``StableRestored``) or passes its deadline
    (``ProgressDeadlineExceeded``), a rolled-back version leaves the graph after the scale-down
    delay; ``traffic`` is the split the status says, applied again over a hand edit. So does the
    serving safety net: a canary with traffic that has not served for the grace is rolled back
    (``act_on_serving``), with the defaults — 5 minutes, ``rollback.mode`` Automatic — since
    the spec's ``progressDeadline`` and ``rollback`` cannot be trusted: before, a canary at
    50 % that stopped serving under an invalid spec kept its share, unserved, until the spec
    was fixed. Its ``requeue_after`` is when those are due, never an analysis (none runs). The events told by
    comparing this pass's phase and ``Ready`` with the stored ones (``Paused``, ``Resumed``,
    ``StableNotServing``, ``StableServing``) are not: the stored ones are the InvalidSpec ones,
    so they would be told again at every pass."""
    held = replace(observed, gate_outcomes=None)
    return _CanaryPass(spec, _read_rolled_back(status), held, now).run_stopping_requests()


#: ``rollback.mode`` where the spec cannot be trusted (``decide_stopping_requests``): the
#: field's default.
_DEFAULT_ROLLBACK_MODE = "Automatic"

#: The events ``set_phase`` and ``tell_stable_serving`` tell on a change of the phase or of
#: ``Ready`` from the stored status: under an invalid spec that is InvalidSpec's
#: (``decide_stopping_requests``).
_TOLD_AGAINST_STORED_READY = frozenset({Reason.PAUSED, Reason.RESUMED, Reason.STABLE_NOT_SERVING,
                                        Reason.STABLE_SERVING})


class _CanaryPass(steps.StepPass[UpliftModelStatus]):
    paused_field = "spec.rollout.paused"
    ramp_steps_field = "spec.rollout.steps"

    def __init__(self, spec: UpliftModelSpec, status: UpliftModelStatus, observed: Observed,
                 now: dt.datetime) -> None:
        super().__init__(spec.rollout, spec.rollback.mode, status, observed, now)
        self.spec = spec
        self.seen = observed
        self.held_for_restore: str | None = None  # a canary not started: see hold_for_restore
        self.held_for_stable: str | None = None  # a version not started: see hold_for_stable
        self.back_at_stable_held = False  # the spec's removal of the canary waits: see there
        # False under an invalid spec: its progressDeadline is not read (run_stopping_requests)
        self.spec_trusted = True

    def run_stopping_requests(self) -> Decision:
        self.spec_trusted = False
        self.rollback_mode = _DEFAULT_ROLLBACK_MODE
        self.handle_requests(stops_only=True)
        self.act_on_serving()
        decision = self.finish()
        canary_due = self.canary_serving_due()
        due = [*self.serving_times(), *([canary_due] if canary_due is not None else [])]
        return replace(decision, events=tuple(
            e for e in decision.events if e.reason not in _TOLD_AGAINST_STORED_READY),
            requeue_after=max(min(due) - self.now, steps.MIN_REQUEUE) if due else None)

    def run(self) -> Decision:
        # Unresolved (MLflow away, an alias gone): the last version it resolved to is kept, so
        # what was decided on it (a rollback, Degraded) stays as it is; nothing is followed,
        # and a canary neither advances nor is promoted (``unresolved``).
        if self.seen.desired_version is not None:
            self.status.desired_version = self.seen.desired_version
        self.handle_requests()
        self.note_restore()  # a restore that ends now holds no canary start in this pass
        self.follow_desired_version()
        self.apply_analysis()
        self.act_on_gates()
        self.act_on_serving()
        self.adopt_lost_rollback()
        self.follow_step_level()
        self.check_deadline()
        self.advance()
        self.adopt_lost_advance()
        self.resettle_split()
        return self.finish()

    # -- the hooks of the step machine --------------------------------------------------------

    def active(self) -> bool:
        return self.status.canary_version is not None

    def level(self) -> float:
        return self.status.canary_weight

    def set_level(self, value: float) -> None:
        self.status.canary_weight = int(value)

    def step_level(self, index: int) -> float:
        return self.spec.rollout.steps[index].weight

    def subject(self) -> str | None:
        return self.status.canary_version

    def record_level(self) -> dict[str, float | int | None]:
        s = self.status
        return {"weight": s.canary_weight if s.canary_version is not None else 0}

    def pre_traffic(self) -> bool:
        return _pre_traffic(self.status)

    def where(self) -> str:
        s = self.status
        if _pre_traffic(s):
            return f"canary {s.canary_version} in pre-traffic analysis (0%)"
        return (f"canary {s.canary_version} at step {self.step_index() + 1}/"
                f"{len(self.steps)} ({s.canary_weight}%)")

    def deadline_counts_from(self) -> steps.DeadlineBasis | None:
        """Not before the attribution window has closed on the step's first decisions when an
        onlineEffect gate judges the step: it compares those cohorts only, so a step waiting
        for them is not stuck (the offline analysis before any traffic has no such wait)."""
        basis = super().deadline_counts_from()
        start = self.status.step_started_at
        if (basis is None or start is None or _pre_traffic(self.status)
                or not any(g.type == "onlineEffect" and not g.dry_run
                           for g in self.spec.rollout.gates)):
            return basis
        window = self.spec.experiment.attribution_window
        return basis.later(start + parse_duration(window),
                           f"the attribution window ({window}) closed on the step's first "
                           "decisions")

    def not_serving(self) -> str | None:
        held = self.unresolved()
        if held is not None:
            return held
        if self.held_for_stable is not None:
            return self.waits_for_stable(self.held_for_stable)
        started = self.status.step_started_at
        if _pre_traffic(self.status) and (started is None or self.now <= started):
            return "canary just deployed"  # observed before it existed: cannot serve yet
        if not self.seen.canary_ready:
            if self.seen.serving_failure is not None:  # the backend's why, naming the version
                return self.seen.serving_failure
            if self.serves(self.status.canary_version):
                return self.graph_not_ready()
            return ("canary is not serving" + (" yet" if _pre_traffic(self.status) else "")
                    + self.not_serving_until())
        return self.split_not_carried()

    def split_not_carried(self) -> str | None:
        """Why the step is held while the serving graph does not split traffic as the status
        says, or None: the graph's last apply was refused (``Observed.split_refused``); this
        step's split was applied again (``resettle_split``) and the graph still does not carry
        it (another controller or a hand edit reverting it); or the canary is on its last step,
        whose Pass promotes it — its analysis could not check the split within tolerance
        (``canary_share`` unknown), and the graph is applied again first. Without this the ramp
        advanced and promoted on a graph that never carried a step's split (every apply
        refused), moving the status to a version the traffic never reached. Not of this pass's
        own step change (its split is applied from now), nor of a graph found once at another
        split mid-ramp: usually a pass that applied the next step and died before its status
        write, whose advance this pass makes too (``resettle_split`` applies the split again
        otherwise); nor, on any step, of a graph that carries the next step or the promotion
        decided on this very body (``lost_advance``): that pass's advance, this pass's own
        decision again."""
        s, before = self.status, self.previous
        if (self.seen.split_as_status or s.canary_version is None
                or (s.canary_version, s.canary_weight, s.current_step)
                != (before.canary_version, before.canary_weight, before.current_step)):
            return None
        words = "the serving graph does not carry this step's split"
        if self.seen.split_refused is not None:
            return (f"{words} (ServingApplied False: "
                    f"{steps.clip(self.seen.split_refused, _FAILURE_QUOTED)})")
        if _pre_traffic(s) or self.lost_advance():
            return None
        again, started = s.split_applied_at, s.step_started_at
        if again is not None and (started is None or again > started):
            return f"{words} since it was applied again"
        if on_last_step(self.spec, s):
            return f"{words}: the promotion waits for an analysis of the split it carries"
        return None

    def graph_decided_here(self) -> bool:
        """Whether the serving graph is off this status's split and was last applied by a
        pass on this very body (``Observed.decided_here``), this pass having changed neither
        the canary, its weight nor its step, after traffic started, with no refused apply on
        record: what ``lost_advance`` and ``lost_rollback`` then compare the graph with."""
        s, before = self.status, self.previous
        return not (not self.seen.decided_here or self.seen.split_as_status
                    or self.seen.split_refused is not None or s.canary_version is None
                    or s.stable_version is None or _pre_traffic(s)
                    or (s.canary_version, s.canary_weight, s.current_step)
                    != (before.canary_version, before.canary_weight, before.current_step))

    def lost_advance(self) -> bool:
        """Whether the serving graph carries what this status's canary moves to next — its next
        step's split, or on the last step its promotion (the canary alone, at 100 %) — decided
        on this very body (``Observed.decided_here``): the advance of a pass that decided on
        this status, whose apply went through and whose status write was lost (a replica
        SIGKILLed between the two). Not a refused apply (``split_refused``: the graph is not
        this operator's last decision), nor a graph stamped on an older body or not stamped (a
        hand edit, another controller's revert, a split applied again since), nor one at any
        other split; not before traffic (its offline gates are judged again). Such a graph does
        not hold the step (``split_not_carried``): the advance is this pass's own decision
        again, and one this pass does not make is made all the same unless its own evidence
        speaks against it (``adopts_lost_advance``). Before, the last step held ("the promotion
        waits for an analysis of the split it carries") and applied 90/10 again over the
        promotion, which a later pass made again: canary 100 → 90 → 100 (CI, the failover
        test)."""
        s = self.status
        if not self.graph_decided_here():
            return False
        if on_last_step(self.spec, s):
            weights = {s.canary_version: 100}
        else:
            weight = max(s.canary_weight, self.spec.rollout.steps[self.step_index() + 1].weight)
            weights = {s.stable_version: 100 - weight, s.canary_version: weight}
        return self.seen.decided_here == frozenset((v, w) for v, w in weights.items() if w)

    def adopts_lost_advance(self) -> bool:
        """Whether this pass makes the lost advance of a pass on this very status
        (``lost_advance``) if it does not advance on its own: the pass that decided it saw
        every acting gate pass, the pause elapsed and the canary serve, on the same status; a
        sequential test's Pass at its crossing keeps its error guarantee whatever a later look
        says, and a graph not ready yet is usually that pass's own apply rolling. Not when
        this pass's own evidence speaks against it — an acting gate at Fail or Error (a
        dry-run gate acts on nothing, here as in ``gates_passed_at_step``), the canary's own
        predictor not serving, or a backend failure reported — nor while the ramp is held for
        a human (``pause_reason``: a gate demanding a pause or a rollback, the spec's removal
        of the canary pending; ``stays_paused``: the spec's ``paused`` too; a step without a
        pause, which only a promote by hand ends) or the model reference does not resolve:
        this step's split is applied again then, the safe way (less traffic on the canary)."""
        s = self.status
        acting = {g.name for g in self.spec.rollout.gates if not g.dry_run}
        return (self.lost_advance() and self.pause_reason is None and not self.stays_paused()
                and self.steps[self.step_index()].pause is not None
                and self.unresolved() is None
                and self.seen.serving_failure is None and self.serves(s.canary_version)
                and not any(g.verdict in (GateVerdict.FAIL, GateVerdict.ERROR)
                            for g in s.gates if g.name in acting))

    def check_deadline(self) -> None:
        """Not exceeded in a pass that makes a lost advance (``adopts_lost_advance``, decided
        before the deadline is looked at): the step is over, and a ``ProgressDeadlineExceeded``
        (a Warning, a history entry, Degraded) said of it in the very pass that advances it
        read as a ramp stuck that was not."""
        if self.adopts_lost_advance():
            self.note_resume()
            return
        super().check_deadline()

    def adopt_lost_advance(self) -> None:
        """A pass that finds the lost advance of a pass on this very status (``lost_advance``)
        and does not advance itself: it makes that advance (``StepAdvanced``, or ``Promoted``
        on the last step), the graph kept as it is, unless ``adopts_lost_advance`` says no.
        Applying this step's split again over it stepped the traffic back, and the next pass
        forward again. A rollback or an abort of this pass has already removed the canary:
        nothing to adopt then."""
        s = self.status
        if not self.adopts_lost_advance():
            return
        why = ("made by a pass that decided on this same status and whose status write was "
               "lost; the serving graph carries it")
        held = self.blocked_by()
        if held is not None:
            why += f" (held in this pass: {held})"
        if on_last_step(self.spec, s):
            self.complete(why=why)
        else:
            self.advance_step(why=why)

    def lost_rollback(self) -> bool:
        """Whether the serving graph carries the rollback of this status's canary (the stable
        alone, at 100 %, the canary removed) decided on this very body
        (``Observed.decided_here``): a pass that decided on this status rolled the canary back
        (a gate past its limits, a canary not serving past its grace), its apply went
        through and its status write was lost. This pass's own look may not demand it (the
        Fail that tripped it is not in the status it reads: a failure count one lower), and
        applying the canary's split again put traffic back on a canary rolled back. Not a
        refused apply, a graph stamped on an older body or not stamped, nor before traffic
        (the graph carries the stable alone then anyway: the offline gates are judged
        again)."""
        s = self.status
        if not self.graph_decided_here():
            return False
        return self.seen.decided_here == frozenset({(s.stable_version, 100)})

    def adopt_lost_rollback(self) -> None:
        """A lost rollback (``lost_rollback``) is made again: ``RolledBack``, the canary
        removed and ``abortedVersion`` set as by any rollback, whatever ``rollback.mode``, the
        spec's ``paused`` or this pass's gates say — safety first: the traffic is not moved
        back onto a canary a pass on this status rolled back. Its reason went with the lost
        status write: the history says so, with this pass's gates that did not pass. Called
        after this pass's requests (an abort or a promote by hand on this body acts first: a
        step or canary changed, nothing is adopted), gates and serving (a rollback of its own
        leaves nothing to adopt). Not while a rollback would wait (``rollback_held``: the
        stable does not serve and the canary does): the canary's split is applied again
        then, as the pending rollback of a gate holds it. Nor while the model reference does
        not resolve (``unresolved``): the graph at the stable alone may be a spec's
        withdrawal of the canary (the spec back at the stable) or its replacement (a new
        version before traffic) whose status write was lost, which only a pass that resolves
        the reference tells from a rollback; taken for one, the version was recorded rolled
        back (``abortedVersion``, a Warning, the registry's ``rolled-back`` tag) and blocked.
        The canary's split is applied again meanwhile, as an unresolved reference holds any
        lost advance (``adopts_lost_advance``)."""
        if (not self.lost_rollback() or self.rollback_held() is not None
                or self.unresolved() is not None):
            return
        s = self.status
        pending = [f"{g.name} {g.verdict.value}" for g in s.gates
                   if g.verdict is not GateVerdict.PASS]
        why = ("made by a pass that decided on this same status and whose status write was "
               "lost, with the rollback's reason; the serving graph carries stable "
               f"{s.stable_version} alone"
               + (f" (gates in this pass: {', '.join(pending)})" if pending else ""))
        self.rollback_pending = False  # a gate's pending rollback: this one does it
        self.pause_reason = None
        self.roll_back(Reason.ROLLED_BACK, why)

    def graph_not_ready(self) -> str:
        """Why a canary whose own predictor serves (``Observed.ready_versions``) is held while
        the serving graph is not Ready (``canary_ready`` False): the rest of the graph, not the
        canary, keeps it from serving its share, so the step holds and nothing is counted
        against the canary (``canary_down``: it is rolled back only once its own predictor
        stops serving). A graph short of its replicas (``Observed.graph_short``) is named, its
        Deployments and their counts."""
        if self.seen.graph_short:
            return (f"the serving graph is not ready yet; canary {self.status.canary_version}'s "
                    "own predictor serves: waiting for the replicas wanted ("
                    + "; ".join(self.seen.graph_short) + ")")
        return (f"the serving graph is not ready yet; canary {self.status.canary_version}'s "
                "own predictor serves: waiting for the rest of it (e.g. the stable's or the "
                "executor's pods)")

    def not_serving_until(self) -> str:
        """What becomes of a canary with traffic that does not serve, once its time without
        serving is counted (``canaryNotServingSince``): since when, and when it is rolled back
        (whatever ``rollback.mode`` says: ``act_on_serving``) unless it serves again."""
        since, due = self.status.canary_not_serving_since, self.canary_serving_due()
        if since is None or due is None:
            return ""
        return (f" since {since.isoformat()}; rolled back at {due.isoformat()} unless it serves "
                "again")

    def unresolved(self) -> str | None:
        """Why a canary's ramp is held while the spec's model reference does not resolve (MLflow
        unreachable, a version or alias it does not have, a version not READY, its MLmodel
        unreadable, the credentials Secret missing), None while it resolves: the spec may no
        longer name this canary (a version edited to one that does not exist, an alias deleted
        or moved to a version still registering), so no step advances and it is not promoted,
        by its gates or by hand, until the reference resolves again; then the canary goes on,
        or the version it resolves to replaces it. Its gates are still judged where their
        sources answer, so a Fail still rolls it back."""
        if self.seen.desired_version is not None or self.status.canary_version is None:
            return None
        return (f"the model reference does not resolve now: no step and no promotion of "
                f"canary {self.status.canary_version} until it does")

    def promote_refused(self) -> str | None:
        held = self.unresolved()
        if held is not None:
            return f"{held}; annotate again once it resolves"
        split = self.split_not_carried()
        if split is not None:
            return f"{split}; annotate again once the graph carries it"
        if self.seen.canary_ready:
            return None
        if self.stable_down_canary_serves():
            s = self.status
            return (f"stable {s.stable_version} does not serve and canary {s.canary_version}'s "
                    "own predictor does, but the serving graph is not ready: only a full "
                    f"promote acts now (annotate {PROMOTE_ANNOTATION}=full:<token>, `kubectl "
                    f"uplift promote --full`): canary {s.canary_version} becomes stable and "
                    "takes all the traffic")
        if self.seen.serving_failure is None and self.serves(self.status.canary_version):
            return (f"{self.graph_not_ready()}; a promote waits for the graph to be ready: "
                    "annotate again once it is")
        return (f"canary {self.status.canary_version} does not serve: a promote would move "
                f"traffic off stable {self.status.stable_version}, which serves, onto it; "
                "annotate again once it serves")

    def rollback_held(self) -> str | None:
        """A gate's automatic rollback waits while the stable version does not serve and the
        canary, which has traffic, does: it would move all the traffic onto a version that
        serves none of it. Pending meanwhile (``Ready`` says the stable does not serve; the
        phase Paused, as a Manual pending rollback), done at the first pass the stable serves;
        an abort by hand rolls back at once."""
        s = self.status
        if _pre_traffic(s) or not self.stable_down_canary_serves():
            return None
        return (f"it waits for stable {s.stable_version} to serve (it does not now: rolled "
                f"back, the traffic of canary {s.canary_version}, which serves, would go to it)")

    def stable_down_canary_serves(self) -> bool:
        """A canary is out, its own predictor serves and the stable's does not: taking the
        canary off moves its traffic onto what serves none of it (``rollback_held``,
        ``hold_for_stable``), and a full promote by hand is the way out (``promote_refused``)."""
        s = self.status
        return (s.canary_version is not None and not self.serves(s.stable_version)
                and self.serves(s.canary_version))

    def judged_since(self) -> dt.datetime | None:
        s = self.status
        times = [t for t in (s.step_started_at, s.split_applied_at) if t is not None]
        return max(times, default=None)

    def resettle_split(self) -> None:
        """The graph was found not splitting traffic as this step says, and this pass applies
        the step's split again: the traffic-split check starts over from now (its evidence so
        far carried), and the step's gates must pass again after it. Traffic served at another
        split inside the settled window would otherwise read as a sample-ratio mismatch that
        holds the canary for the rest of its life. A step that started in this pass needs
        nothing: its split is applied from its start (a graph found a step ahead — a pass that
        applied it and died before its status write — is usually this pass's own advance).
        Stamped once while the graph goes on not carrying it, and again only after an analysis
        measured since the last stamp (so no analysis taken off the split counts for the
        step): a stamp at every pass (the apply retried every few seconds) rewrote the status
        with nothing new."""
        s, before = self.status, self.previous
        if (self.seen.split_as_status or s.canary_version is None or _pre_traffic(s)
                or s.step_started_at == self.now
                or (s.canary_version, s.canary_weight, s.current_step)
                != (before.canary_version, before.canary_weight, before.current_step)):
            return
        stamped, started = s.split_applied_at, s.step_started_at
        if (stamped is not None and (started is None or stamped > started)
                and (s.last_analysis_at is None or s.last_analysis_at <= stamped)):
            return  # applied again since the last analysis: nothing new to stamp
        s.split_applied_at = self.now
        s.passed_while_held_at = None  # a Pass measured before it is not the step's
        s.gates = [restart_split_check(g) for g in s.gates]

    def roll_back(self, reason: Reason, why: str, actor: str = "operator") -> None:
        s = self.status
        version = s.canary_version
        text = f"rolled back {self.where()} to stable {s.stable_version}: {why}"
        self.remove_canary()
        s.aborted_version = version
        self.record(reason, version, why, actor)
        self.emit("Warning", reason, text)

    def complete(self, actor: str = "operator", why: str = "all steps passed", *,
                 over: str = "") -> None:
        s = self.status
        version, old = s.canary_version, s.stable_version
        s.previous_stable_version = old
        s.stable_version = version
        self.remove_canary()
        self.record(Reason.PROMOTED, version, f"{why}; previous stable {old}{over}", actor)
        self.emit("Normal", Reason.PROMOTED, f"version {version} promoted to stable ({why}); "
                                             f"previous stable {old}")

    def start_traffic(self, actor: str = "operator", why: str | None = None) -> None:
        """The canary serves and its offline gates passed, or a one-step promote by hand before
        any traffic (``actor``, ``why``; the history names the human and the offline gates
        that had not passed then, not a pass they did not give): it gets the first step's
        weight."""
        s = self.status
        if why is None:
            why = ("canary serves; offline gates passed before any traffic"
                   if self.offline_gates() else "canary serves")
        else:
            verdicts = {g.name: g.verdict.value for g in s.gates}
            pending = [f"{name} {verdicts.get(name, 'not judged yet')}"
                       for name in self.blocking_gates()]
            why = (f"{why} before any traffic"
                   + (f"; offline gates not passed: {', '.join(pending)}" if pending else ""))
        s.canary_weight = self.spec.rollout.steps[0].weight
        s.step_started_at = self.now
        s.gates = [next_step(g) for g in s.gates]
        self.record(Reason.TRAFFIC_STARTED, s.canary_version, why, actor)
        self.emit("Normal", Reason.TRAFFIC_STARTED, f"{self.where()} ({why})")

    def retry(self, request: ManualRequest) -> None:
        version = self.status.desired_version
        if self.status.stable_version is None:
            # A canary needs a stable to be compared with; the first version is served as
            # stable without a ramp instead (an annotation left from an earlier object).
            self.ignore(request, Reason.RETRY, "nothing is stable yet: the first version is "
                                               "served as stable, with no canary to retry")
            return
        self.note_restore()  # a restored version that serves now: its restore is over
        if self.awaiting_restore():
            self.withdraw_restore(request)
            if version is None or version == self.status.stable_version:
                return
        elif version is None or version == self.status.stable_version:
            self.ignore(request, Reason.RETRY, "the spec's version is already stable or "
                                               "does not resolve")
            return
        elif self.status.canary_version is not None and not self.held_for_a_human():
            # As Argo Rollouts' retry acts on an aborted rollout only: restarting a canary that
            # goes on would take its traffic back to 0 % and throw its gates' evidence away.
            self.ignore(request, Reason.RETRY, (
                f"{self.where()} goes on, not paused by its gates: a retry restarts a canary "
                "rolled back or aborted, or one its gates hold for a human (an "
                "inconclusiveLimit, a pending Manual rollback); stop this one with "
                f"{self.ask('abort')}"))
            return
        carried = self.evidence_carried(version)
        self.start_canary(version)
        if carried:
            self.status.gates = carried
            evidence = ("its gates' sequential evidence carried into a new stratum, as at a "
                        "step: alpha is spent once per version")
        elif carried is not None:
            evidence = ("its gates' settings changed since their evidence was gathered: it "
                        "starts afresh")
        else:
            evidence = ("its gates' sequential evidence starts afresh: retried after a "
                        "rollback or an abort (or over a pending one), a human's judgement "
                        "that something changed; alpha is spent again")
        self.record(Reason.RETRY, version, request.said("canary restarted at step 1"),
                    request.actor)
        self.emit("Normal", Reason.RETRY, f"retrying version {version}: {self.where()} "
                                          f"({request.actor}{request.note}); {evidence}")

    def evidence_carried(self, version: str) -> list[GateStatus] | None:
        """The gate statuses a retry of ``version`` keeps, each moved to a new stratum as at a
        step change (``gates.next_step``: its sequential evidence carried, its counters
        zeroed, so the ``inconclusiveLimit`` pause lifts): when the retry restarts that very
        canary, held Paused by its gates' ``inconclusiveLimit`` alone, for the gates whose
        settings are those the evidence was gathered under. Started afresh, an inconclusive
        canary retried k times had k chances at a false Pass, each at the gate's full alpha
        (docs/statistics.md: alpha is spent once per version). None otherwise: a canary
        rolled back or aborted, or held for a pending Manual rollback (a gate past its
        limits), is retried afresh, a human's judgement that something changed (the Retry
        event says so)."""
        s = self.status
        if s.canary_version != version:
            return None
        statuses = {g.name: g for g in s.gates}
        demands = [required_action(gate, statuses[gate.name])
                   for gate in self.spec.rollout.gates if gate.name in statuses]
        if GateAction.PAUSE not in demands or GateAction.ROLLBACK in demands:
            return None
        return [next_step(statuses[gate.name]) for gate in self.spec.rollout.gates
                if gate.name in statuses and same_settings(gate, statuses[gate.name])]

    def held_for_a_human(self) -> bool:
        """The canary is held Paused for a human's decision, as the pass before left it: a gate
        past its ``inconclusiveLimit``, or past its limits with ``rollback.mode: Manual`` (a
        pending rollback). What a retry restarts besides a rolled-back canary
        (docs/operator.md, "kubectl uplift"). A canary with traffic that does not serve is
        never held: it is rolled back past its grace (``act_on_serving``)."""
        statuses = {g.name: g for g in self.status.gates}
        return any(required_action(gate, statuses[gate.name]) is not GateAction.NONE
                   for gate in self.spec.rollout.gates if gate.name in statuses)

    def withdraw_restore(self, request: ManualRequest) -> None:
        """A retry while an emergency rollback's restored version has not served: the rollback
        is withdrawn. The replaced version, which kept the traffic, is stable again (and the
        restored one its previous stable, as before the rollback); the restored one leaves the
        graph. Nothing that serves is taken down, and the spec's version is followed from there
        (a new one starts as a canary against it). Without this, a restored version that never
        serves (its MLflow version deleted, an image that no longer pulls) held the model for
        good: a new version waited for it, and an abort, a promote and a second rollback had
        nothing to act on."""
        s = self.status
        bad, good = s.emergency_rolled_back_version, s.stable_version
        s.stable_version = bad
        s.previous_stable_version = good
        s.emergency_rolled_back_version = None
        why = (f"emergency rollback withdrawn: stable {good} has not served; {bad}, which kept "
               "the traffic, is stable again")
        self.record(Reason.RESTORE_WITHDRAWN, bad, request.said(why), request.actor)
        self.emit("Normal", Reason.RESTORE_WITHDRAWN, f"{why} ({request.actor}{request.note})")

    def emergency_rollback(self, request: ManualRequest) -> None:
        s = self.status
        if s.canary_version is not None:
            self.roll_back(Reason.EMERGENCY_ROLLBACK,
                           request.said("emergency rollback requested"), request.actor)
        elif s.previous_stable_version is not None and s.stable_version is not None:
            bad, good = s.stable_version, s.previous_stable_version
            s.stable_version = good
            # The spec still names the bad version: recording it keeps it from re-rolling out
            # (a canary rolled back before stays recorded in abortedVersion), and forgetting the
            # previous stable keeps a second request from flipping back. The restored version
            # is asked for by name: a rollback of it as a canary is superseded.
            s.emergency_rolled_back_version = bad
            if s.aborted_version == good:
                s.aborted_version = None
            s.previous_stable_version = None
            # Named after the version rolled back, as every rollback entry is.
            self.record(Reason.EMERGENCY_ROLLBACK, bad,
                        request.said(_emergency_reason(bad, good)), request.actor)
            self.emit("Warning", Reason.EMERGENCY_ROLLBACK,
                      f"emergency rollback: stable {bad} replaced by previous stable {good} at "
                      f"once, skipping any ramp ({request.actor}{request.note})")
        elif self.awaiting_restore():
            self.ignore(request, Reason.EMERGENCY_ROLLBACK, self.restore_underway())
        else:
            self.ignore(request, Reason.EMERGENCY_ROLLBACK,
                        "no canary and no previous stable version to roll back to")

    def abort(self, request: ManualRequest) -> None:
        if self.status.canary_version is None:
            self.ignore(request, Reason.MANUAL_ABORT, "no canary to abort"
                        + (f" ({self.restore_underway()})" if self.awaiting_restore() else ""))
            return
        super().abort(request)

    def manual_promote(self, request: ManualRequest) -> None:
        s = self.status
        if s.canary_version is None:
            self.ignore(request, Reason.MANUAL_PROMOTE, "no canary to promote"
                        + (f" ({self.restore_underway()})" if self.awaiting_restore() else ""))
            return
        if (request.kind is RequestKind.PROMOTE_FULL and not self.seen.canary_ready
                and self.stable_down_canary_serves() and self.unresolved() is None
                and self.split_not_carried() is None):
            # The way out of a stable that served and no longer does (no previous stable to
            # roll back to): the graph is not Ready with the stable down, so a promote that
            # waited for it waited for good, and the fix's canary stayed at 0 %.
            why = request.said(f"promoted by hand while stable {s.stable_version} does not "
                               "serve")
            self.emit("Normal", Reason.MANUAL_PROMOTE,
                      f"full promote of {self.where()} ({request.actor}{request.note}): stable "
                      f"{s.stable_version} does not serve, canary {s.canary_version} does")
            self.complete(request.actor, why, over=self.gates_overridden())
            return
        super().manual_promote(request)

    def stops_supersede(self) -> bool:
        """Not while an emergency rollback's restored version has not served and does not serve
        in this pass: no canary runs (a new version waits, ``hold_for_restore``) and no previous
        stable is left, so an abort or a second rollback has nothing to stop, and its message
        offers a retry to withdraw the rollback (``restore_underway``); a retry pending with it
        is that withdrawal, not a race to stop. Once the restored version serves a retry would
        restart the canary the rollback replaced: a stop pending with it supersedes it again."""
        return not (self.awaiting_restore() and not self.serves(self.status.stable_version))

    def restore_underway(self) -> str:
        """Why a request that needs a canary or a previous stable finds none during a restore,
        and the one request that acts then."""
        return f"{self.restoring()}; {self.withdrawal_offer()}"

    # -- versions -----------------------------------------------------------------------------

    def offline_gates(self) -> list[ModelGate]:
        return [g for g in self.spec.rollout.gates
                if g.type in OFFLINE_GATE_TYPES and not g.dry_run]

    def start_canary(self, version: str) -> None:
        s = self.status
        s.canary_version = version
        self.start_ramp()
        # No request reaches the canary before it serves and its offline gates pass.
        s.canary_weight = 0
        s.canary_started_at = self.now
        s.split_applied_at = None
        # A new attempt supersedes the old rollbacks (a restore is over: a canary waits for it).
        s.aborted_version = None
        s.emergency_rolled_back_version = None

    def remove_canary(self) -> None:
        s = self.status
        s.canary_version = None
        s.canary_weight = 0
        s.canary_started_at = None
        s.split_applied_at = None
        self.end_ramp()

    def follow_desired_version(self) -> None:
        s = self.status
        desired = self.seen.desired_version
        if desired is None or self.replace_unserved_first(desired) or desired == s.canary_version:
            return
        if s.stable_version is None:
            if self.recover_recorded_roles(desired):
                return
            # First version ever: nothing to compare it with, so no ramp.
            s.stable_version = desired
            self.record(Reason.PROMOTED, desired, "first version: serving it as stable, no ramp",
                        "spec")
            self.emit("Normal", Reason.PROMOTED, f"version {desired} is the first version: "
                                                 "serving it as stable without a ramp")
        elif desired == s.stable_version:
            held = self.rollback_held()
            if held is not None:
                self.hold_back_at_stable(held)
            elif s.canary_version is not None:
                text = f"{SPEC_WITHDREW} {desired}: canary {s.canary_version} removed"
                version = s.canary_version
                self.remove_canary()
                self.record(Reason.ROLLED_BACK, version, text, "spec")
                # Told under RolledBack, but the spec's own doing, no rollback: not counted as
                # a decision (``uplift_operator_decisions_total``).
                self.emit("Normal", Reason.ROLLED_BACK, text, decision=False)
        elif desired in self.rolled_back():
            return  # stays Degraded until a retry or a new version
        elif self.awaiting_restore():
            self.hold_for_restore(desired)
        elif self.rollback_held() is not None:
            self.hold_for_stable(desired)
        elif s.canary_version is not None:
            old = s.canary_version
            self.start_canary(desired)
            self.record(Reason.CANARY_REPLACED, desired, f"replaces canary {old}", "spec")
            self.emit("Normal", Reason.CANARY_REPLACED, f"version {desired} replaces canary "
                                                        f"{old}: {self.where()}")
        else:
            self.start_canary(desired)
            self.record(Reason.CANARY_STARTED, desired, f"new version; stable {s.stable_version}",
                        "spec")
            self.emit("Normal", Reason.CANARY_STARTED, f"{self.where()}, stable "
                                                       f"{s.stable_version}")

    def replace_unserved_first(self, desired: str) -> bool:
        """A new version while the stable one has never served (a first version whose pods
        never start: an image that does not pull, a model that does not load) replaces it as a
        first version, no ramp: a canary is compared with a stable that serves, and one against
        a stable that never served was held before any traffic for good (the graph never
        Ready), a promote refused, so the fixed version could never take over. Never served:
        no ``stableServedVersion`` (nor an older status's Ready saying it served), no previous
        stable (a promotion or an emergency rollback's restore is waited for instead), its
        predictor does not serve in this pass, and the history shows it made stable as the
        spec's first version (not one the registry's tags made stable again after the status
        was lost: that one was promoted and served, and its pods may only be starting; nor one
        whose entry has left the history). A canary already started against it (by a release
        before this rule) is replaced too, or made stable when it is the spec's version.
        Whether it did."""
        s = self.status
        old = s.stable_version
        if (old is None or desired == old or s.previous_stable_version is not None
                or self.stable_served() or self.serves(old) or self.awaiting_restore()
                or desired in self.rolled_back()):
            return False
        made = next((e for e in reversed(s.history)
                     if e.action == Reason.PROMOTED.value and e.version == old), None)
        if made is None or made.actor != "spec":
            return False
        canary = s.canary_version
        if canary is not None:
            self.remove_canary()
        s.stable_version = desired
        s.aborted_version = None
        s.emergency_rolled_back_version = None
        dropped = f"; canary {canary} removed" if canary not in (None, desired) else ""
        why = (f"first version: replaces version {old}, which never served{dropped}; serving "
               "it as stable, no ramp")
        self.record(Reason.PROMOTED, desired, why, "spec")
        self.emit("Normal", Reason.PROMOTED, f"version {desired} replaces version {old}, which "
                                             f"never served, as the first version: serving it "
                                             f"as stable without a ramp{dropped}")
        return True

    def recover_recorded_roles(self, desired: str) -> bool:
        """A status-less pass whose desired version the registry tags ``rolled-back`` or
        ``canary``, while another version is tagged ``stable`` (``Observed.recorded``): the
        status was lost, not the history. That stable version is stable again; the rolled-back
        one is held as after its rollback (Degraded until a retry or a new version), the canary
        starts again from step 1, and so does one ``rolled-back`` only because the spec
        withdrew it (its reason ``SPEC_WITHDREW``'s: the status never held it as a rollback).
        Whether it did."""
        recorded = self.seen.recorded
        if (recorded is None or recorded.stable == desired
                or recorded.desired_role not in (ROLE_ROLLED_BACK, ROLE_CANARY)):
            return False
        said = recorded.desired_role
        if said == ROLE_ROLLED_BACK and recorded.reason.startswith(SPEC_WITHDREW):
            # Tagged by a release before ``retired`` was written for it: the spec withdrew the
            # canary, which the status never held as a rollback; it ramps again, as it would
            # have with the status kept.
            recorded = replace(recorded, desired_role=ROLE_CANARY)
        s = self.status
        s.stable_version = recorded.stable
        tags = (f"the registry tags version {desired} {said} and version "
                f"{recorded.stable} stable (the status was lost: the object re-created or "
                "restored)")
        # Nothing to write back: the registry already says so (the tags were read from it).
        self.record(Reason.PROMOTED, recorded.stable, f"{tags}: stable again, no ramp",
                    "registry")
        self.emit("Normal", Reason.PROMOTED, f"version {recorded.stable} is stable: {tags}",
                  decision=False)
        if recorded.desired_role == ROLE_ROLLED_BACK:
            s.aborted_version = desired
            why = recorded.reason or f"tagged {recorded.desired_role} in the registry"
            self.record(Reason.ROLLED_BACK, desired, why, "registry")
            self.emit("Warning", Reason.ROLLED_BACK,
                      f"version {desired} is not served: {tags}; stable {recorded.stable} "
                      f"serves. Ramp it as a canary again with {self.ask('retry')}",
                      decision=False)
        else:
            self.start_canary(desired)
            self.record(Reason.CANARY_STARTED, desired,
                        f"{tags}: canary restarted at step 1; stable {recorded.stable}",
                        "registry")
            self.emit("Normal", Reason.CANARY_STARTED,
                      f"{self.where()}, stable {recorded.stable} ({tags})")
        return True

    def hold_for_restore(self, version: str) -> None:
        """A new version while an emergency rollback waits for its restored version to serve
        is not started yet: a canary ends the restore (the graph keeps stable and canary only),
        and the replaced version, the only one serving, would lose its traffic. It starts once
        the restored version serves, or against the replaced version once a retry withdraws
        the rollback (``withdraw_restore``); said once per version (and once more if the
        restore began in this pass)."""
        self.held_for_restore = version
        before = self.previous
        if before.desired_version != version or before.stable_version != self.status.stable_version:
            self.emit("Normal", Reason.CANARY_HELD, f"version {version} waits to start as a "
                                                    f"canary: {self.restoring()}")

    def hold_for_stable(self, version: str) -> None:
        """A new version while the stable does not serve and the canary, which has traffic,
        does (``rollback_held``): it does not replace the canary yet. Replaced, the canary's
        traffic went back to the stable, which serves none of it, and the new version starts
        at 0 %. It waits, as a gate's rollback does, and replaces the canary at the first pass
        the stable serves; the canary holds its step meanwhile (the spec no longer names it:
        no step, no promotion by its gates; a full promote by hand still acts). Said once per
        version."""
        self.held_for_stable = version
        if self.previous.desired_version != version:
            self.emit("Normal", Reason.CANARY_HELD, f"{self.waits_for_stable(version)}; "
                                                    f"{self.where()} keeps its traffic")

    def waits_for_stable(self, version: str) -> str:
        s = self.status
        return (f"version {version} waits to replace canary {s.canary_version} until stable "
                f"{s.stable_version} serves (replaced now, the canary's traffic, which it "
                "serves, would go to the stable, which does not)")

    def hold_back_at_stable(self, held: str) -> None:
        """The spec points back at the stable while it does not serve and the canary, which
        has traffic, does (``rollback_held``): the canary's removal is the same pending
        rollback as a gate's — Paused, done at the first pass the stable serves; an abort by
        hand acts at once. The gates' own demands wait meanwhile (the spec no longer wants
        the canary: nothing of its ramp goes on)."""
        s = self.status
        self.back_at_stable_held = True
        self.rollback_pending = True
        self.pause_reason = (f"spec points back at stable {s.stable_version}: canary "
                             f"{s.canary_version} removal pending: {held}; roll back now with "
                             f"{self.ask('abort')}")

    def act_on_gates(self) -> None:
        if not self.back_at_stable_held:
            super().act_on_gates()

    def restoring(self) -> str:
        s = self.status
        return (f"an emergency rollback is restoring stable {s.stable_version}, and version "
                f"{s.emergency_rolled_back_version} keeps the traffic until it serves")

    def withdrawal_offer(self) -> str:
        """What a retry does during a restore (``withdraw_restore``), in the words a message
        offers it: the one action that acts while the restored version has not served."""
        s = self.status
        bad, desired = s.emergency_rolled_back_version, s.desired_version
        then = (f" and version {desired} starts as a canary"
                if desired is not None and desired != bad else "")
        return (f"withdraw the rollback with {self.ask('retry')}: version {bad}, which serves, "
                f"is stable again{then}")

    def restore_deadline(self) -> tuple[dt.datetime, str] | None:
        """When an emergency rollback's restored version that has not served is past its
        deadline, and that deadline as the spec says it: ``spec.rollout.progressDeadline``
        from the rollback, ``RESTORE_DEADLINE`` without one. None when no restore awaits."""
        entry = self.emergency_restore()
        if entry is None or not self.awaiting_restore():
            return None
        bound = self.spec.rollout.progress_deadline or RESTORE_DEADLINE
        return entry.time + parse_duration(bound), bound

    def restore_overdue(self) -> bool:
        deadline = self.restore_deadline()
        return deadline is not None and self.now >= deadline[0]

    def note_restore_overdue(self) -> None:
        """A Warning ``ProgressDeadlineExceeded`` and its history entry (the restored version's)
        once, when the restore passes its deadline: the phase says it from then on."""
        entry = self.emergency_restore()
        if entry is None or not self.restore_overdue():
            return
        s = self.status
        if any(e.action == Reason.PROGRESS_DEADLINE_EXCEEDED.value and e.version == s.stable_version
               and e.time >= entry.time for e in s.history):
            return
        why = self.restore_overdue_text()
        self.record(Reason.PROGRESS_DEADLINE_EXCEEDED, s.stable_version, why)
        self.emit("Warning", Reason.PROGRESS_DEADLINE_EXCEEDED, why)

    def restore_overdue_text(self) -> str:
        s = self.status
        entry, deadline = self.emergency_restore(), self.restore_deadline()
        assert entry is not None and deadline is not None
        why = (steps.clip(self.seen.serving_failure, _FAILURE_QUOTED)
               if self.seen.serving_failure is not None
               else "no replica of its predictor is available")
        return (f"the emergency rollback's restored stable {s.stable_version} has not served "
                f"within {deadline[1]} of {entry.time.isoformat()} ({why}); version "
                f"{s.emergency_rolled_back_version} keeps the traffic; next: "
                f"{self.withdrawal_offer()}; runbook UpliftProgressDeadlineExceeded")

    def rolled_back(self) -> set[str]:
        """The versions not rolled out again until a retry or a new version."""
        s = self.status
        return {v for v in (s.aborted_version, s.emergency_rolled_back_version) if v is not None}

    # -- phase, conditions, traffic, requeue --------------------------------------------------

    def finish(self) -> Decision:
        self.note_restore()
        self.note_restore_overdue()
        self.note_canary_serving()  # before the phase, whose message says since when
        message = self.set_phase(*self.phase())
        self.status.conditions = self.ready_condition(message)
        self.note_stable_served()
        self.tell_stable_serving()
        due = self.canary_serving_due()
        return Decision(status=self.status, traffic=self.traffic(), events=tuple(self.events),
                        requeue_after=self.requeue([*self.serving_times(),
                                                    *([due] if due is not None else [])]))

    def serving_times(self) -> list[dt.datetime]:
        """When the graph changes without a decision: a rolled-back version's scale-down, an
        emergency rollback's restore deadline."""
        until = self.scale_down_until()
        restore = self.restore_deadline()
        return [t for t in (until, restore[0] if restore is not None else None)
                if t is not None and t > self.now]

    def phase(self) -> tuple[Phase, str]:
        s = self.status
        if s.stable_version is None:
            return Phase.PROGRESSING, "waiting for the model reference to resolve to a version"
        down = self.stable_down()
        if s.canary_version is not None:
            phase, message = self.ramp_phase()
            if self.held_for_stable is not None and phase is Phase.PAUSED:
                # Progressing says it as what holds the step (``not_serving``).
                message = (f"version {self.held_for_stable} waits to replace canary "
                           f"{s.canary_version} until stable {s.stable_version} serves; {message}")
            if down is None:
                return phase, message
            # Most of the traffic has nothing serving it: Degraded, but a pause (a human's
            # decision awaited) stays one; the ramp's own words first (ProgressDeadlineExceeded).
            return (phase if phase is Phase.PAUSED else Phase.DEGRADED,
                    f"{steps.clip(message, steps.MESSAGE_MAX - len(down) - 2)}; {down}")
        if self.awaiting_restore():
            return self.restore_phase()
        if s.desired_version in self.rolled_back():
            refused = self.split_refused()
            serving = (down if down is not None
                       else refused if refused is not None
                       else f"stable {s.stable_version} serves" if self.seen.stable_ready
                       else f"waiting for stable version {s.stable_version} to serve")
            return Phase.DEGRADED, (f"version {s.desired_version} was rolled back "
                                    f"({self.rollback_reason(s.desired_version)}); {serving}. "
                                    f"Set a new version or retry with {self.ask('retry')}")
        if down is not None:
            return Phase.DEGRADED, down
        if not self.seen.stable_ready:
            return Phase.PROGRESSING, f"waiting for stable version {s.stable_version} to serve"
        unresolved = ("; the model reference does not resolve now"
                      if self.seen.desired_version is None else "")
        return Phase.HEALTHY, f"version {s.stable_version} serves all traffic{unresolved}"

    def split_refused(self) -> str | None:
        """A rolled-back model's words on its serving graph while the last apply of it was
        refused (``ServingApplied`` False, ``ApplyFailed``, as the last pass recorded it), or
        None: the split the rollback decided is not in effect, so the rolled-back canary may
        keep its traffic, and "stable N serves" would say the rollback is done. Words only:
        the graph is applied again at every pass whatever this says. Decided before this
        pass's apply, so a pass whose apply goes through still says it was refused: the
        service asks for the next pass at once (``services.upliftmodel._apply_went_through``),
        which says the stable serves."""
        applied = cond.find(self.previous.conditions, cond.SERVING_APPLIED)
        if applied is None or applied.status != "False" or applied.reason != cond.APPLY_FAILED:
            return None
        return (f"stable {self.status.stable_version} is to serve all traffic, but the serving "
                f"graph's last apply was refused (ServingApplied False, {cond.APPLY_FAILED}): "
                "the canary may still have its traffic")

    def restore_phase(self) -> tuple[Phase, str]:
        """The phase while an emergency rollback's restored version has not served (the
        version it replaced keeps the traffic): Degraded when the spec names the version rolled
        back, else Progressing (a new version held, or the spec naming the restored version);
        past the restore's deadline, Degraded with ``ProgressDeadlineExceeded`` first (the
        alert of that name). Each offers the retry, the one request that acts meanwhile; a new
        version is not offered: it waits for the restored version (``hold_for_restore``)."""
        s = self.status
        rolled_back = self.held_for_restore is None and s.desired_version in self.rolled_back()
        if self.held_for_restore is not None:
            what = f"version {self.held_for_restore} waits to start as a canary: "
        elif rolled_back:
            what = (f"version {s.desired_version} was rolled back "
                    f"({self.rollback_reason(s.desired_version)}); ")
        else:
            what = ""
        if self.restore_overdue():
            return Phase.DEGRADED, (f"{Reason.PROGRESS_DEADLINE_EXCEEDED.value}: {what}"
                                    f"{self.restore_overdue_text()}")
        deadline = self.restore_deadline()
        assert deadline is not None
        return (Phase.DEGRADED if rolled_back else Phase.PROGRESSING,
                f"{what}{self.restoring()} (ProgressDeadlineExceeded if it has not by "
                f"{deadline[0].isoformat()}); {self.withdrawal_offer()}")

    def stable_served(self) -> bool:
        """Whether the stable version has served since it became stable, as the status before
        this pass says: ``stableServedVersion`` names it (``note_stable_served``), which a
        pass that replaces ``Ready`` does not lose (a serving conflict leaves it as it is, an
        invalid spec's pass sets it from the ramp's own ``Ready``). A status
        without it (an operator before the field wrote it, an older CRD prunes it) is read as
        that operator's: ``Ready`` said it serves (``StableServing``, or ``RollbackPending``,
        said only while it serves) or already said it no longer does. Not the history: a status
        this release wrote without the field (nothing seen serving yet) cannot be told from an
        older one, and "Ready turned False after the version's promotion" also holds of a Ready
        that was absent before (a status repaired, a legacy one), so such a version would read
        as served one pass after it was awaited. A version made stable in this pass (a
        promotion, an emergency rollback) has not served yet: it is waited for (Progressing),
        as a first version that never served is."""
        before, stable = self.previous, self.status.stable_version
        if stable is None or before.stable_version != stable:
            return False
        if before.stable_served_version == stable:
            return True
        ready = cond.find(before.conditions, cond.READY)
        return ready is not None and (ready.reason in _STABLE_SERVES
                                      or says_stable_down(stable, ready.reason, ready.message))

    def note_stable_served(self) -> None:
        """``stableServedVersion`` after this pass: the stable version once this pass's
        ``Ready`` says it serves, or once the status before said it had served
        (``stable_served``: what an older status says is kept from then on); nothing while a
        first version, or a version made stable in this pass without ``Ready`` saying it serves
        (an emergency rollback's restore), has not served. Set once per stable version and
        cleared only when another becomes stable, so it never flips from pass to pass."""
        s = self.status
        ready = cond.find(s.conditions, cond.READY)
        serves = ready is not None and ready.reason in _STABLE_SERVES
        s.stable_served_version = (s.stable_version if s.stable_version is not None
                                   and (serves or self.stable_served()) else None)

    def stable_down(self) -> str | None:
        """The phase message's words for a stable version that served and does not now: which
        version, and the serving backend's failure (``ServingFailed``'s text) or, when it
        reports none, that no replica of its predictor is available (pods crash-looping behind
        a graph the backend still calls Available or Creating); None while it serves, while it
        never did, and while an emergency rollback restores it (the version it replaced keeps
        the traffic). Ready stays ``WaitingForServing``, so a Campaign already exposing holds
        (``exposure._HOLDING_REASONS``)."""
        s = self.status
        if (s.stable_version is None or self.seen.stable_ready or self.awaiting_restore()
                or not self.stable_served()):
            return None
        why = (steps.clip(self.seen.serving_failure, _FAILURE_QUOTED)
               if self.seen.serving_failure is not None
               else "no replica of its predictor is available, and the serving backend reports "
                    "no failure (look at its pods)")
        return f"{stable_down_text(s.stable_version)}: {why}"

    def tell_stable_serving(self) -> None:
        """A Warning when the stable version stops serving (it served before), a Normal once it
        serves again: told on the transition, not on every pass (the ``ServingFailed`` event
        tells each new failure text). Not decisions: nothing about the ramp changed."""
        s, before = self.status, self.previous
        ready = cond.find(s.conditions, cond.READY)
        was = cond.find(before.conditions, cond.READY)
        down = ready is not None and says_stable_down(s.stable_version, ready.reason,
                                                      ready.message)
        was_down = was is not None and says_stable_down(before.stable_version, was.reason,
                                                        was.message)
        if down and not was_down:
            self.emit("Warning", Reason.STABLE_NOT_SERVING, s.message, decision=False)
        elif (was_down and not down and self.seen.stable_ready
              and before.stable_version == s.stable_version):
            self.emit("Normal", Reason.STABLE_SERVING,
                      f"stable version {s.stable_version} serves again", decision=False)

    def rollback_reason(self, version: str | None) -> str:
        entry = rollback_entry(self.status, version)
        return entry.reason if entry is not None else "reason no longer in history"

    def ready_condition(self, message: str) -> list[Condition]:
        s = self.status
        status: cond.ConditionStatus
        if s.stable_version is None:
            status, reason = "False", cond.NO_VERSION
        elif self.awaiting_restore():
            # An emergency restore: the stable version the status names starts again (no pods
            # on the restore's first pass, whose stable_ready was observed of the version it
            # replaced) while the replaced one keeps the traffic (the message says so). Not
            # StableServing: that stable version does not serve yet. WaitingForServing, as on
            # every later pass of the restore (no True → False → True flip): a Campaign already
            # exposing holds through it, none starts on a version being rolled back
            # (exposure._HOLDING_REASONS).
            status, reason = "False", cond.WAITING_FOR_SERVING
        elif not self.seen.stable_ready:
            status, reason = "False", cond.WAITING_FOR_SERVING
        elif self.rollback_pending:
            status, reason = "False", cond.ROLLBACK_PENDING
        else:
            status, reason = "True", cond.STABLE_SERVING
        return cond.set_condition(s.conditions, type_=cond.READY, status=status, reason=reason,
                                  message=message, now=self.now,
                                  observed_generation=self.seen.generation)

    def kept_deployed(self) -> str | None:
        """The rolled-back version the graph may keep next to the stable (its one other slot):
        the stable an emergency rollback replaced, else the canary rolled back (before it)."""
        s = self.status
        if s.canary_version is not None:
            return None
        kept = s.emergency_rolled_back_version or s.aborted_version
        return kept if kept != s.stable_version else None

    def scale_down_until(self) -> dt.datetime | None:
        """Until when a rolled-back version stays deployed at weight 0, if it still should: a
        rolled-back canary, counted from its rollback; a stable version an emergency rollback
        replaced, counted from the ``StableRestored`` that followed (it kept the traffic until
        then, none while the restore awaits). Counted from the rollback itself, the restore's
        own minutes were taken off the delay: a restore as long as the delay left the replaced
        version nothing at weight 0 to inspect."""
        s = self.status
        kept = self.kept_deployed()
        entry = rollback_entry(s, kept)
        if entry is None:
            return None
        since = entry.time
        if kept == s.emergency_rolled_back_version and restored_by(entry) is not None:
            restored = next((e for e in s.history
                             if e.action == Reason.STABLE_RESTORED.value and e.time >= entry.time
                             and e.version == restored_by(entry)), None)
            if restored is None:
                return None  # not restored yet: the replaced version keeps the traffic
            since = restored.time
        until = since + parse_duration(self.spec.rollback.scale_down_delay)
        return until if self.now < until else None

    def emergency_restore(self) -> DecisionRecord | None:
        """The emergency rollback that made the previous stable version stable again, taking
        over from ``emergency_rolled_back_version``, if that is the model's last rollback."""
        s = self.status
        bad = s.emergency_rolled_back_version
        if s.canary_version is not None or bad in (None, s.stable_version):
            return None
        last = next((e for e in reversed(s.history) if steps.is_rollback(e)), None)
        return last if last is not None and rolled_back_by(last) == bad else None

    def serves(self, version: str | None) -> bool:
        """Whether ``version``'s own predictor serves (``Observed.ready_versions``; the stable
        or canary flag when only they are known)."""
        if self.seen.ready_versions is not None:
            return version in self.seen.ready_versions
        s = self.status
        return version is not None and (
            (self.seen.stable_ready and version == s.stable_version)
            or (self.seen.canary_ready and version == s.canary_version))

    def awaiting_restore(self) -> bool:
        """An emergency rollback's restored version has not served yet (no ``StableRestored``
        since): the version it replaced keeps the traffic meanwhile."""
        entry = self.emergency_restore()
        return entry is not None and not any(
            e.action == Reason.STABLE_RESTORED.value and e.time >= entry.time
            for e in self.status.history)

    def note_restore(self) -> None:
        """The restored version serves: said once, and the replaced one leaves the traffic."""
        if self.awaiting_restore() and self.serves(self.status.stable_version):
            s = self.status
            why = (f"stable {s.stable_version} serves again; {s.emergency_rolled_back_version} "
                   "takes no traffic")
            self.record(Reason.STABLE_RESTORED, s.stable_version, why)
            self.emit("Normal", Reason.STABLE_RESTORED, why)

    # -- a canary with traffic that stops serving ---------------------------------------------

    def canary_down(self) -> bool:
        """The canary has traffic and its predictor does not serve while the stable's does:
        its share of the requests has nothing serving it, and the failure is the canary's own
        (with the stable down too, an outage of both, the canary is not blamed; the phase says
        the stable does not serve). Before any traffic a canary that does not serve is only
        waited for (``not_serving``)."""
        s = self.status
        return (s.canary_version is not None and not _pre_traffic(s)
                and not self.serves(s.canary_version) and self.serves(s.stable_version))

    def not_serving_grace(self) -> tuple[dt.timedelta, str]:
        """How long a canary with traffic may go without serving, and as the spec says it: the
        grace every serving problem gets (``stuck.grace``: 5 minutes, or the ramp's
        ``progressDeadline`` when shorter; 5 minutes under a spec not trusted)."""
        bound = self.spec.rollout.progress_deadline if self.spec_trusted else None
        grace = stuck.grace(bound)
        if bound is not None and grace == parse_duration(bound):
            return grace, bound
        return grace, f"{int(grace.total_seconds() // 60)}m"

    def act_on_serving(self) -> None:
        """A canary with traffic that has not served for the grace (``canaryNotServingSince``,
        read as the status before this pass left it) is a failed canary, as one whose gate
        failed: rolled back (``RolledBack``), whatever ``rollback.mode`` says. Manual is for
        the gates' verdicts, which a human may weigh; a canary whose share of the requests has
        nothing serving it is an outage, and held for a human it kept up to all the traffic
        (a canary at 100 %) unserved until one acted. A gate's pending Manual rollback of the
        same canary is done by this one. Without this it kept its share of the traffic for
        good, Progressing, when no ``progressDeadline`` was set: the step only held."""
        s = self.status
        since = s.canary_not_serving_since
        if since is None or not self.canary_down():
            return
        grace, said = self.not_serving_grace()
        if self.now - since < grace:
            return
        cause = (steps.clip(self.seen.serving_failure, _FAILURE_QUOTED)
                 if self.seen.serving_failure is not None
                 else "no replica of its predictor is available")
        manual = ("; rollback.mode Manual holds gate verdicts only, not a canary that does not "
                  "serve" if self.rollback_mode != "Automatic" else "")
        self.rollback_pending = False  # a gate's pending rollback: this one does it
        self.pause_reason = None
        self.roll_back(Reason.ROLLED_BACK, (
            f"canary {s.canary_version} has not served for {_span(self.now - since)} since "
            f"{since.isoformat()} at {s.canary_weight}% of the traffic, past the {said} a "
            f"canary with traffic may go without serving: {cause}{manual}"))

    def note_canary_serving(self) -> None:
        """``canaryNotServingSince`` after this pass: kept from the first pass that saw the
        canary down (``canary_down``), cleared once it serves again (or the stable stops
        serving too), with no traffic, and with no canary."""
        s = self.status
        if not self.canary_down():
            s.canary_not_serving_since = None
        elif s.canary_not_serving_since is None:
            s.canary_not_serving_since = self.now

    def canary_serving_due(self) -> dt.datetime | None:
        """When a canary that does not serve reaches its grace: a pass is due then."""
        since = self.status.canary_not_serving_since
        if since is None:
            return None
        due = since + self.not_serving_grace()[0]
        return due if due > self.now else None

    def traffic(self) -> TrafficSplit | None:
        s = self.status
        if s.stable_version is None:
            return None
        if s.canary_version is not None:
            return TrafficSplit(s.stable_version, s.canary_version, s.canary_weight)
        if self.awaiting_restore():
            # The restored version's predictor is created again (it left at the promotion):
            # the replaced one keeps the traffic until it serves, or nothing would.
            return TrafficSplit(s.stable_version, s.emergency_rolled_back_version, 100)
        if self.scale_down_until() is not None and self.kept_serves():
            return TrafficSplit(s.stable_version, self.kept_deployed(), 0)
        return TrafficSplit(s.stable_version, None, 0)

    def kept_serves(self) -> bool:
        """Whether the rolled-back version ``kept_deployed`` may stay in the graph at weight 0
        for ``spec.rollback.scaleDownDelay``: only while its own predictor serves and its
        Deployment is whole (an available pod: ``Observed.ready_versions``, and none short or
        not available: not in ``Observed.partial_versions``; with only the two flags known,
        the whole graph serving, stable and the other predictor). Seldon Core 1.17.1 moves the
        traffic (its Istio VirtualService or Ambassador weights) and deletes a removed
        predictor's Deployment only once every predictor's Deployment is available
        (``unavailableReplicas`` 0): a kept version whose pods are down, the usual reason for a
        rollback, or only one of whose pods crash-loops, would keep its share of the traffic
        for the whole delay while the status said the stable serves it. Left out, its
        predictor and pods are gone, so it does not serve again and is not kept again
        (docs/lifecycle.md, "`scaleDownDelay` and Seldon's routes")."""
        kept = self.kept_deployed()
        if kept in self.seen.partial_versions:
            return False
        if self.seen.ready_versions is not None:
            return kept in self.seen.ready_versions
        return self.seen.stable_ready and self.seen.canary_ready

