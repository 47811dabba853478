"""Carry every Campaign of an UpliftModel to its runtime: the campaigns file, in a ConfigMap.

One pass per UpliftModel (the handler runs it whenever the model or one of its Campaigns
changes, from an in-memory index of the Campaigns by (namespace, ``spec.modelRef.name``), so no
pass lists anything):

1. parse each Campaign's snapshot: its spec (one that does not parse is left out: the runtime
   then forgets it and refuses its requests, ``404 unknown_campaign``) and its status, whose
   ``exposurePercent`` the Campaign pass decided;
2. decide ``active`` (``domain.exposure.treating``: Suspended, Completed, Degraded — but a step
   past its progress deadline, which keeps treating —, 0 % or being deleted → false; an
   abort or emergency rollback its status has not handled yet → false at 0 %, so a kill
   switch does not wait for the Campaign's status write: ``_stop_pending``);
3. render the document (``render.campaigns``; the same Campaigns give the same bytes), within
   what a ConfigMap and the runtime take (``render.campaigns.fitted``), with room kept for
   what changes with no spec edit (each entry's exposure, a canary's split): when the
   Campaigns do not all fit so, those the file there holds stay (one whose spec edit grew its
   entry past that room at the entry the file holds, at no more than its exposure there: a
   ramp step, a canary start or an edit never withdraws a Campaign; with the ConfigMap gone,
   its key removed or not a file, those of the file this process last wrote or found there,
   or, none known, those whose status exposes units: ``_held``), then the oldest; the
   rest are left out (the runtime answers requests naming one ``404 unknown_campaign``), and
   ``FileDependencies.left_out`` tells their Campaign pass why (it waits at 0 %; one whose
   edit is not carried hears ``CampaignsFileFull`` too, ``NotCarried.carried``: its ramp is
   held at its exposure). Each
   Campaign is rendered alone, never into an entry the runtime rejects (one it rejected would
   keep treating there on its last settings, a rollback lost): one whose spec cannot be
   rendered as it is (a duration past what a ``timedelta`` holds, a value the runtime would
   reject) is carried as refused, treating no one, and one whose name the runtime serves no
   campaign under is left out; ``left_out`` tells their Campaign pass that too
   (``render.campaigns.unfit``), and the others are rendered as they would be without them;
   one held ``TreatmentNotServed`` after a spec edit (the served version does not score a
   treatment it names: every replica rejects the edited entry, keeping its previous settings)
   is carried at the entry from before the edit (``_previous``), so a replica started since
   has those settings too;
4. apply the ``<model>-campaigns`` ConfigMap, owned by the model, only when its content (or
   its owner, or the labels the operator watches it by) differs from what is there, and only
   once it has something to say: a model with no Campaign and no canary split gets none (the
   predictors mount it ``optional``, and the runtime reads a file that was never there as no
   campaign and no split), which saves a write, a watch event and a pass per new model. Once
   written it stays, an empty document after the last Campaign goes. Only its
   ``campaigns.json`` key is the operator's: a key someone else adds is left alone (the
   server-side apply keeps it, and the comparison ignores it), but its value counts toward
   the 1 MiB the API server allows the ConfigMap's values in all, so the file keeps within
   what the other keys leave (``render.campaigns.budget_beside``). "What is
   there" is the ConfigMap as the operator's label-selected watch of its own ConfigMaps last
   brought it (the cluster adapter's in-memory store, ``adapters.watched``; read once from the
   API server only when the store has heard nothing of it, e.g. at start or just deleted, and
   one found absent is remembered so until it shows up, but read again before the first write
   over that absence), so an unchanged pass makes no API call — that of a model with nothing
   to say and no ConfigMap neither, which every event of the model and every resync would
   otherwise have asked the API server about, to a 404 —, and a ConfigMap deleted or edited by
   hand comes back at once: its watch event wakes the model's pass (``handlers.watches``), with
   no periodic read-back; one deleted while the watch was away (no DELETED event after kopf
   lists again) is dropped from the store by the existence audit (``handlers.existence``),
   which wakes the pass. A ConfigMap of that name
   the model does not control is never written (``sync``): a predecessor's (an UpliftModel
   of the same name, deleted) holds the pass until the garbage collector removes it; anyone
   else's, or no one's, is refused, and the handler says so.

The kubelet then projects the new content into every predictor pod and the runtime reloads it
within about a second (docs/dataplane.md, "Campaign settings"). Nothing here sleeps.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedCluster
from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import (
    MAX_ATTRIBUTION_WINDOW_SECONDS,
    duration_whole_seconds,
)
from uplift_operator.api.v1alpha1.upliftmodel import ExperimentSpec
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure, steps
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    EMERGENCY_ROLLBACK_ANNOTATION,
    ManualRequest,
    is_handled,
    parse_requests,
)
from uplift_operator.domain.status import Conflict
from uplift_operator.render import campaigns, naming
from uplift_operator.render.naming import Owner
from uplift_operator.services.common import ownership_conflict
from uplift_operator.services.ports import Cluster

__all__ = ["FileDependencies", "NotCarried", "Synced", "attribution_window_seconds", "entries", "forget",
           "snapshot", "sync", "version_split"]

log = logging.getLogger(__name__)

PLURAL = "configmaps"
#: What the API server answers (422) a write of a ConfigMap made immutable (``immutable: true``:
#: Kubernetes' ``ValidateConfigMapUpdate``), whatever the write changes.
IMMUTABLE_REFUSAL = "field is immutable when `immutable` is set"
#: What the admission policy on ConfigMaps (manifests/configmaps-policy.yaml, the chart's)
#: answers (403) a write by the operator's identity of a campaigns ConfigMap that is immutable:
#: what the API server judges first when the write leaves the data as it is (a label, an owner).
POLICY_IMMUTABLE_REFUSAL = "is not immutable: every later write of its file would be refused"
#: Statuses that are no refusal of the write itself: nothing there (404), a conflict or a
#: throttle to retry (409, 429), a timeout (408).
_NOT_REFUSALS = frozenset({404, 408, 409, 429})


@dataclass
class FileDependencies:
    """The cluster (its ``get`` of ConfigMaps answered from the watch's store), the content
    last written for each model before it had a status (``sync``'s ``new_model``), and the
    Campaigns each model's file had no room for or does not carry as their spec says (the
    Campaign pass reads them: ``left_out``)."""

    cluster: Cluster
    written: dict[tuple[str, str, str], str] = field(default_factory=dict)
    full: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    #: The Campaigns each model's file carries at the entry it held, without their spec edit,
    #: for want of room (``render.campaigns.Fitted.stale``), at its last pass.
    stale: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    #: Why each model's file does not carry some of its Campaigns as their spec says, by name
    #: (``render.campaigns.unfit``), at its last pass.
    unfit: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    #: Why each model's file could not be written at its last pass (absent: it was).
    unwritten: dict[tuple[str, str], str] = field(default_factory=dict)
    #: The models whose file pass has run in this process (``undelivered`` knows for them).
    passed: set[tuple[str, str]] = field(default_factory=set)
    #: The models a Campaign pass asked ``undelivered`` about before that (``first_told``).
    asked: set[tuple[str, str]] = field(default_factory=set)
    #: Through each model's last failure to write its file, from its first failing pass in
    #: this process to the pass that wrote it again: the Campaigns whose entry the ConfigMap
    #: there carried, as their status said, at every one of those passes, and since which of
    #: them (``carried_since``).
    carried: dict[tuple[str, str], dict[str, dt.datetime]] = field(default_factory=dict)
    #: The models whose file a pass in this process wrote, or found carrying what it would
    #: write (``delivered``: known from then on).
    reached: set[tuple[str, str]] = field(default_factory=set)
    #: Each model's Campaigns whose entry the pass that first wrote its file in this process
    #: delivered (the ConfigMap there did not carry it at the exposure and activity its status
    #: says: a predecessor decided it and stopped before its own file pass), or a later pass
    #: carried active again after a stop never handled (``stopped``), and when
    #: (``delivered_at``).
    delivered: dict[tuple[str, str], dict[str, dt.datetime]] = field(default_factory=dict)
    #: Each model's Campaigns whose entry a pass wrote (or found) stopped for an abort or
    #: emergency rollback their status had not handled yet (``_stop_pending``), with their uid
    #: and those stop requests: a later pass that writes one active again, its status not
    #: having handled any of them (the annotation removed or replaced first), delivers its
    #: exposure anew (``delivered``: its step starts over; ``_follow_stops``).
    stopped: dict[tuple[str, str], dict[str, tuple[str | None, frozenset[ManualRequest]]]] = (
        field(default_factory=dict))
    #: Seconds a change of the canary's percent takes to reach every pod
    #: (``--split-propagation-grace``): the split's ``graceSeconds`` (``carried_split``).
    propagation_grace: int = campaigns.PROPAGATION_GRACE_SECONDS

    def undelivered(self, namespace: str, model: str) -> str | exposure.NotKnownYet | None:
        """Why model's campaigns file does not carry its Campaigns' latest settings, None when
        it does (as far as its last pass knows), ``NOT_KNOWN_YET`` before its first pass in
        this process: what the passes before a restart found was in memory only, and a
        Campaign pass then keeps what its status says (``domain.exposure.undelivered``). The
        model's first pass then wakes those Campaigns (``first_told``)."""
        key = (namespace, model)
        if key not in self.passed:
            self.asked.add(key)
            if key not in self.passed:  # a first pass ending meanwhile sees it asked
                return exposure.NOT_KNOWN_YET
        cause = self.unwritten.get(key)
        if cause is None:
            return None
        return (f"the campaigns file of UpliftModel {model!r} cannot be written ({cause}): the "
                f"runtime keeps its previous settings of this Campaign, if any")

    def carried_since(self, namespace: str, model: str, campaign: str) -> dt.datetime | None:
        """Since when model's ConfigMap has carried ``campaign``'s entry as its status says,
        through the file's last failure to be written and the pass that wrote it again (the
        Campaign pass compares it with when its hold began: ``domain.exposure``
        ``carried_all_along``). None when it did not at one of those passes: its entry was
        among the changes not written, or written only by the pass that ended the failure;
        the ConfigMap was gone, someone else's, or could not be read; or not known (no
        failure seen in this process)."""
        return self.carried.get((namespace, model), {}).get(campaign)

    def delivered_at(self, namespace: str, model: str, campaign: str) -> dt.datetime | None:
        """When the first pass of this process that wrote model's campaigns file delivered
        ``campaign``'s entry: the ConfigMap there did not carry it at the exposure (and
        activity) its status says, which a predecessor decided and stopped before its own
        file pass wrote. The runtime treated at the step's exposure only from then, so the
        Campaign pass starts the step over when it started before (``domain.exposure``
        ``start_step_again``). None when not known so: that pass found it carried, or has not
        run (the stored status stands), or wrote nothing (failing: ``carried_since`` then).
        A later write that carries active again a Campaign a pass wrote stopped for a stop
        its status never handled (withdrawn first) delivers it anew too (``_follow_stops``)."""
        return self.delivered.get((namespace, model), {}).get(campaign)

    def first_told(self, namespace: str, model: str) -> bool:
        """Whether a Campaign pass asked ``undelivered`` about model before its file pass in
        this process had run, and is to be told what that pass found (True once): the
        Campaign kept its stored ``SettingsDelivered`` meanwhile, which nothing else would
        update before its next pass."""
        key = (namespace, model)
        if key not in self.passed or key not in self.asked:
            return False
        self.asked.discard(key)
        return True

    #: The Campaigns each stored file holds, and whether it has room for one more, by the
    #: ConfigMap's resourceVersion (``left_out`` before the model's first file pass in this
    #: process reads a nearly full file once, not per pass).
    held: dict[tuple[str, str], tuple[str, frozenset[str], bool]] = field(default_factory=dict)
    #: The file each model's ConfigMap held, as far as this process knows: what its last pass
    #: wrote or found there, with the model's uid (``_held``: the Campaigns it carried stay
    #: carried when the ConfigMap is gone, its key removed or not a file).
    last: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: Each model's Campaigns whose spec edit its Campaign pass has not judged served yet, by
    #: name: the entry the file held before the edit (an earlier generation's, ``entry``), which
    #: the file carries while the runtime keeps its previous settings, and the generation its
    #: pass last judged not served (``held``; None: none yet) (``_previous``).
    before_edit: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def left_out(self, namespace: str, model: str, campaign: str) -> NotCarried | None:
        """Why model's file does not carry ``campaign``'s settings, None when nothing keeps
        them out: no room, a name the runtime serves no campaign under (known before any
        pass), or a spec the file carries as refused (``render.campaigns.unfit``), or a spec
        edit the file has no room for (it carries the entry it held: ``Fitted.stale``). Before
        the model's first file pass in this process room is judged from the file there (the
        watch's store, no API call) by the rule the file pass applies to a newcomer of the
        usual size (``render.campaigns.has_room``): a Campaign a file without that room does
        not hold is taken as left out, so a restarted operator does not start the ramp of a
        Campaign the file has no room for, only to withdraw it at the file's first pass. One
        the store has heard nothing of (its watch not listed yet) is read once."""
        unfit = self.unfit.get((namespace, model), {}).get(campaign)
        if unfit is not None:
            return NotCarried(cond.CAMPAIGN_NOT_CARRIED, unfit)
        name = campaigns.name_problem(campaign)
        if name is not None:
            return NotCarried(cond.CAMPAIGN_NOT_CARRIED, _not_carried(model, name, carried=False))
        left = self.full.get((namespace, model))
        if left is None:
            return self._left_out_there(namespace, model, campaign)
        if campaign in self.stale.get((namespace, model), ()):
            return NotCarried(cond.CAMPAIGNS_FILE_FULL, _edit_not_carried(model), carried=True)
        return NotCarried(cond.CAMPAIGNS_FILE_FULL, _full(model)) if campaign in left else None

    def _left_out_there(self, namespace: str, model: str, campaign: str) -> NotCarried | None:
        name = naming.campaigns_config_map(model)
        there = _stored(self.cluster, namespace, name)
        if there is None and not _known_absent(self.cluster, namespace, name):
            # The store has heard nothing of it (its watch has not listed yet, at a start):
            # read once (the store remembers the answer, the ConfigMap or its absence), not
            # taken as room, which would start the ramp of a Campaign the file pass withdraws.
            try:
                there = self.cluster.get("v1", PLURAL, namespace, name)
            except KubeError:
                there = None
        content = ((there or {}).get("data") or {}).get(campaigns.DATA_KEY) or ""
        budget = campaigns.budget_beside(there)
        if there is None or campaigns.spare_bytes(
                len(content) + campaigns.TYPICAL_ENTRY_BYTES, campaigns.MAX_CAMPAIGNS, 0,
                budget) >= 0:
            return None  # room left however many it holds: the file pass decides, as for any
        version = str(((there or {}).get("metadata") or {}).get("resourceVersion", ""))
        cached = self.held.get((namespace, model))
        if cached is None or cached[0] != version:
            cached = (version, campaigns.names_in(content),
                      campaigns.has_room(content, budget=budget))
            self.held[(namespace, model)] = cached
        if campaign in cached[1] or cached[2]:
            return None
        return NotCarried(cond.CAMPAIGNS_FILE_FULL, _full(model))


@dataclass(frozen=True)
class NotCarried:
    """Why a model's campaigns file does not carry a Campaign's settings: ``reason`` for its
    conditions (``CampaignsFileFull``: no room; ``CampaignNotCarried``: a name no replica
    serves a campaign under, or a spec carried as refused) and ``message`` in words;
    ``carried``: the file still carries the Campaign, at its entry from before a spec edit
    that did not fit (``render.campaigns.Fitted.stale``), so the runtime keeps treating under
    those settings and its Campaign pass holds its ramp there (as for a file that cannot be
    written) instead of taking the model as not serving it."""

    reason: str
    message: str
    carried: bool = False


@dataclass(frozen=True)
class Synced:
    """One pass: whether the ConfigMap was written, why not if it failed, what it holds, the
    Campaigns it had no room for, and the ``conflict`` that kept it from writing a ConfigMap
    it does not control (a predecessor's holds it, ``error`` None; anyone else's is refused,
    ``error`` its message); ``unfit``: (name, why) of each Campaign it does not carry as its
    spec says (left out, or carried as refused), by name; ``stale``: those it carries at their
    entry from before a spec edit it has no room for (``render.campaigns.Fitted.stale``)."""

    changed: bool
    error: str | None
    campaigns: tuple[str, ...]
    active: tuple[str, ...]
    left_out: tuple[str, ...] = ()
    conflict: Conflict | None = None
    unfit: tuple[tuple[str, str], ...] = ()
    stale: tuple[str, ...] = ()
    #: The Campaigns whose entry, as this pass renders it, the ConfigMap there carried before
    #: the pass, the same: worked out when the write fails, and when it succeeds while the
    #: file could not be written (``sync``'s ``carried``); empty otherwise, and when the
    #: ConfigMap was not read, not there, or not this model's.
    already_there: frozenset[str] = frozenset()
    #: The ``conflict`` (a ConfigMap not the model's) keeps nothing from the pods: the file
    #: would say nothing (no Campaign, no split) and that ConfigMap carries no campaigns file
    #: (the pods mount it optional). Still refused and said (``error``), never undelivered
    #: (``sync`` keeps no cause: ``FileDependencies.unwritten``, the page).
    nothing_to_deliver: bool = False
    #: The Campaigns whose entry a ``first`` pass (``_sync``) wrote over a ConfigMap that did
    #: not carry it at that exposure and activity (``_delivered``); empty otherwise. Kept
    #: for ``sync`` (``FileDependencies.delivered``), not part of what the pass did.
    delivered: frozenset[str] = field(default=frozenset(), compare=False)


def snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the index keeps of a Campaign: the fields the file needs, as plain data — its
    phase, exposure, budget anchor (the budget's ``periodStart``) and Ready condition (without
    its message: ``exposure.treating`` reads why a Degraded Campaign is Degraded, a step past
    its deadline still treating) and the requests it handled (``handledRequests``,
    ``earlierHandledRequests``), nothing else of its status, so a status write that changes
    none of them leaves the snapshot equal; of its annotations, only an abort's and an
    emergency rollback's (``_stop_pending``)."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    kept: dict[str, Any] = {key: _plain(value) for key, value in status.items()
                            if key in ("phase", "exposurePercent", "budgetAnchor",
                                       "handledRequests", "earlierHandledRequests")}
    ready = [{key: _plain(value) for key, value in condition.items()
              if key in ("type", "status", "reason", "lastTransitionTime",
                         "observedGeneration")}
             for condition in status.get("conditions") or []
             if isinstance(condition, Mapping) and condition.get("type") == cond.READY]
    if ready:
        kept["conditions"] = ready
    annotations = meta.get("annotations") or {}
    stops = {key: str(annotations[key]) for key in _STOP_ANNOTATIONS if key in annotations}
    return {
        "metadata": {**{key: meta.get(key) for key in ("name", "namespace", "uid", "generation",
                                                         "creationTimestamp",
                                                         "deletionTimestamp")},
                     **({"annotations": stops} if stops else {})},
        "spec": _plain(body.get("spec") or {}),
        "status": kept,
    }


def entries(snapshots: Iterable[Mapping[str, Any]]) -> list[campaigns.CampaignEntry]:
    """The file's entries: each Campaign whose spec parses, with the pass's exposure and
    whether it may treat now, from what of its status this release can read
    (``domain.status.readable``); one whose spec the operator refused (Ready reason
    ``InvalidSpec``) as an inactive entry at 0 % the runtime takes (``render.campaigns.entry``)."""
    out = []
    for body in snapshots:
        try:
            found = _entry(body)
        except Exception:  # one Campaign's, never the file's: the runtime forgets it
            log.exception("Campaign %s/%s left out of its campaigns file",
                          (body.get("metadata") or {}).get("namespace"),
                          (body.get("metadata") or {}).get("name"))
            continue
        if found is not None:
            out.append(found)
    return out


def _entry(body: Mapping[str, Any]) -> campaigns.CampaignEntry | None:
    """One Campaign's entry; None when its spec does not parse."""
    meta = body["metadata"]
    try:
        spec = CampaignSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None  # the Campaign pass reports it (InvalidSpec); the runtime forgets it
    # What this release can read of it (a newer release's, a hand edit): a part it cannot
    # read counts as its default (exposure 0, no phase, no Ready condition: treat no one);
    # the Campaign's own pass names it (StatusReadable) and rewrites it.
    status, _ = status_logic.readable(CampaignStatus, body.get("status"))
    created = meta.get("creationTimestamp")
    ready = cond.find(status.conditions, cond.READY)
    # An abort or emergency rollback asked and not yet handled in its status: carried as
    # stopped now, so the kill switch does not wait for the Campaign's status write (one the
    # API server keeps refusing would never deliver it).
    stopping = _stop_pending(meta, status)
    return campaigns.CampaignEntry(
        name=str(meta["name"]), namespace=str(meta["namespace"]),
        generation=int(meta.get("generation") or 0), spec=spec,
        exposure_percent=0.0 if stopping else status.exposure_percent,
        active=not stopping and exposure.treating(
            status, deleting=meta.get("deletionTimestamp") is not None),
        created=dt.datetime.fromisoformat(str(created)) if created else None,
        budget_anchor=status.budget_anchor,
        uid=str(meta["uid"]) if meta.get("uid") else None,
        # The operator refused its spec: an entry that treats no one, and that the runtime
        # takes (one it rejects would keep its last good settings, treating on).
        refused=ready is not None and ready.reason == cond.INVALID_SPEC_REASON,
        # Held for a treatment the served version does not score: every replica rejects the
        # entry as edited, keeping its previous settings; the file carries them
        # (``_previous``), so a replica started since has them too. Only as judged for this
        # generation: one said of an earlier spec does not tell whether this edit serves.
        keeps_previous=(ready is not None and ready.reason == cond.TREATMENT_NOT_SERVED
                        and _of_generation(ready.observed_generation, meta.get("generation"))))


#: The annotations of the requests that stop a Campaign (``domain.steps.STOP_REQUESTS``).
_STOP_ANNOTATIONS = (ABORT_ANNOTATION, EMERGENCY_ROLLBACK_ANNOTATION)


def _stop_pending(meta: Mapping[str, Any], status: CampaignStatus) -> bool:
    """Whether the Campaign's annotations ask an abort or an emergency rollback
    (``domain.steps.STOP_REQUESTS``) its status has not handled yet (its token neither
    ``handledRequests``' nor among ``earlierHandledRequests``: ``domain.requests.is_handled``,
    so a token put back by a GitOps sync is not taken as new), as the Campaign pass judges it
    (``services.campaign``): its entry is carried stopped (exposure 0, inactive) until that
    pass's status says so itself (a rollback to 0 %, which the file then carries the same: no
    flap), even while every status write of the Campaign is refused."""
    return bool(_pending_stops(meta, status))


def _pending_stops(meta: Mapping[str, Any], status: CampaignStatus) -> frozenset[ManualRequest]:
    """The abort and emergency rollback requests of the Campaign's annotations its status has
    not handled yet (``_stop_pending``)."""
    annotations = meta.get("annotations") or {}
    return frozenset(request for request in parse_requests(annotations)
                     if request.kind in steps.STOP_REQUESTS and not _handled(request, status))


def _handled(request: ManualRequest, status: CampaignStatus) -> bool:
    return is_handled(request, status.handled_requests, status.earlier_handled_requests or {})


def _follow_stops(key: tuple[str, str], snapshots: Iterable[Mapping[str, Any]], synced: Synced,
                  deps: FileDependencies, at: dt.datetime) -> None:
    """After a pass that wrote the model's file (or found it written): the Campaigns it
    carries stopped for a stop their status has not handled (``_stop_pending``) are kept
    (``FileDependencies.stopped``); one kept before that it now carries active again, its
    status having handled none of those stops (the annotation removed or replaced before the
    Campaign's pass acted on it, e.g. while every status write of it was refused), is
    delivered at its status's exposure only now: ``delivered[key][name] = at``, so its step
    starts over (``domain.exposure`` ``delivered_late``) and the time the pods did not treat
    is not judged as the step's. One whose status handled the stop (rolled back) is dropped."""
    before = deps.stopped.pop(key, {})
    carried, active = set(synced.campaigns), set(synced.active)
    kept: dict[str, tuple[str | None, frozenset[ManualRequest]]] = {}
    for body in snapshots:
        meta = body.get("metadata") or {}
        name, uid = str(meta.get("name")), meta.get("uid")
        if name not in carried:
            continue
        try:
            status, _ = status_logic.readable(CampaignStatus, body.get("status"))
        except Exception:  # nothing the file carries it by: ``entries`` left it out
            continue
        was_uid, stops = before.get(name, (uid, frozenset()))
        if was_uid != uid:
            stops = frozenset()  # another Campaign of that name: not the one stopped
        pending = _pending_stops(meta, status)
        if pending and name not in active:
            kept[name] = (uid, stops | pending)
        elif (stops and name in active
              and not any(_handled(request, status) for request in stops)):
            deps.delivered.setdefault(key, {})[name] = at
    if kept:
        deps.stopped[key] = kept


def version_split(status: Mapping[str, Any] | None,
                  spec: Mapping[str, Any] | None = None) -> campaigns.VersionSplit | None:
    """The split the model's status declares (stable, canary and its weight), with the spec's
    attribution window; None while no canary runs: the one serving version then owns every
    unit, as the runtime reads a file without a split, so a model's first version costs no
    second ConfigMap write (and no gate compares versions then)."""
    status = status or {}
    stable = status.get("stableVersion")
    canary = status.get("canaryVersion")
    if not stable or not canary or canary == stable:
        return None
    weight = int(status.get("canaryWeight") or 0)
    window = ((spec or {}).get("experiment") or {}).get("attributionWindow")
    return campaigns.VersionSplit(str(stable), str(canary), max(0, min(weight, 100)),
                                  attribution_window_seconds(window))


def attribution_window_seconds(window: str | None) -> int:
    """An UpliftModel's ``spec.experiment.attributionWindow`` in whole seconds (at least 1),
    the field's default for None; the API server has checked its shape. The runtime's cohorts
    and the onlineEffect collector's range both take it from here. One stored before the API
    server bounded it is read at the bound (the model is InvalidSpec, naming it): longer, the
    runtime would refuse the whole file, every Campaign of the model with it."""
    raw = window or ExperimentSpec.model_fields["attribution_window"].default
    return max(1, min(duration_whole_seconds(str(raw)), MAX_ATTRIBUTION_WINDOW_SECONDS))


def sync(owner: Owner, snapshots: Iterable[Mapping[str, Any]], deps: FileDependencies,
         split: campaigns.VersionSplit | None = None, *, new_model: bool = False,
         now: dt.datetime | None = None) -> Synced:
    """``_sync``, and why the file is not written, kept for the Campaign passes
    (``FileDependencies.undelivered``), which know it from now on (``passed``). While it is
    not, and at the pass that writes it again, which Campaigns the ConfigMap there went on
    carrying as their status says, since when (``now``, the pass's time: the wall clock's
    when not given), for their passes (``FileDependencies.carried_since``). At the first pass
    of this process that writes it (or finds it written), the Campaigns whose entry it
    delivered, at that time (``FileDependencies.delivered_at``); so, at any pass that writes
    it, are the Campaigns it carries active again after one wrote them stopped for a stop
    their status never handled (``_follow_stops``)."""
    key = (owner.namespace, owner.name)
    snapshots = list(snapshots)
    failing = key in deps.unwritten
    at = now if now is not None else dt.datetime.now(dt.UTC).replace(microsecond=0)
    first = key not in deps.reached
    synced = _sync(owner, snapshots, deps, split, new_model=new_model, track=failing, now=at,
                   first=first)
    cause = synced.error or (synced.conflict.message if synced.conflict is not None else None)
    if synced.nothing_to_deliver:  # a ConfigMap not the model's, but nothing kept from the pods
        cause = None
    before = deps.carried.get(key, {}) if failing else {}
    if cause is None:
        if failing:  # written again: only those carried at every failing pass and before this
            deps.carried[key] = {name: before[name] for name in synced.already_there
                                 if name in before}
        deps.unwritten.pop(key, None)
        if first and synced.conflict is None:  # the file there now carries every status
            deps.reached.add(key)
            if synced.delivered:
                deps.delivered[key] = dict.fromkeys(synced.delivered, at)
        if synced.conflict is None:
            _follow_stops(key, snapshots, synced, deps, at)
    else:  # carried since the failure began, or since this pass saw it so
        deps.carried[key] = {name: before.get(name, at) for name in synced.already_there}
        deps.unwritten[key] = cause
    deps.passed.add(key)
    return synced


def _sync(owner: Owner, snapshots: Iterable[Mapping[str, Any]], deps: FileDependencies,
          split: campaigns.VersionSplit | None = None, *, new_model: bool = False,
          track: bool = False, now: dt.datetime | None = None, first: bool = False) -> Synced:
    """Make the model's campaigns ConfigMap hold the file of ``snapshots`` (its Campaigns) and
    the model's version ``split``, compared with the ConfigMap as the cluster adapter knows it
    (the watch's store: no API call while the store has it, or knows it absent). Nothing is
    written while the file would say nothing (no Campaign, no split) and no ConfigMap is
    there. For a ``new_model`` (no status yet) it is applied without being looked up: it
    cannot be there yet, and a thousand new models would cost a thousand 404s; what was
    applied then is remembered, so a new model's passes apply it once (an apply that finds it
    there changes nothing).

    A ConfigMap of that name that this model's uid does not control (kubebuilder's
    ``IsControlledBy``, as ``services.upliftmodel`` judges its graph and decision key) is never
    written: its data would be replaced, or it would get a second controller reference (422,
    for ever). One an UpliftModel of the same name deleted before this one still controls
    holds the pass (``conflict``, no ``error``: the garbage collector removes it, and its
    DELETED event wakes the pass); anyone else's, or no one's, is refused (``error`` says
    whose it is). Judged from the store, confirmed by a read from the API server (the store
    may hold a conflicting ConfigMap that is gone since). An absence the store remembers (a 404,
    and no event since) is confirmed the same way before anything is written over it: a
    ConfigMap made since without the operator's labels sends the watch no event, and the forced
    apply would take it over. A ``new_model`` is judged by what the store holds only (no read;
    its predecessor's ConfigMap carries the labels the watch selects by): one without the labels
    that the store has not heard of is not seen before its first apply.

    ``already_there`` is worked out when the apply fails, and when it succeeds with ``track``
    (the file could not be written before): it parses the file there and the new one; so is
    ``delivered`` when a ``first`` pass (none wrote the file in this process yet) writes it."""
    snapshots = list(snapshots)
    rendered = entries(snapshots)
    key = (owner.namespace, owner.name, owner.uid)
    says_nothing = not rendered and split is None
    name = naming.campaigns_config_map(owner.name)
    try:
        # An absence the store remembers (before this pass's ``get``, which answers it from
        # memory rather than from the API server).
        remembered = not new_model and _known_absent(deps.cluster, owner.namespace, name)
        there = (_stored(deps.cluster, owner.namespace, name) if new_model
                 else deps.cluster.get("v1", PLURAL, owner.namespace, name))
        # Read from the API server just now, not from memory: a ConfigMap the store does not
        # keep (without the labels the watch selects by), or a cluster without a store.
        live = there is not None and _stored(deps.cluster, owner.namespace, name) is None
        if there is None and remembered and not says_nothing:
            # About to write over an absence the store remembers: one made since without the
            # labels the watch selects by (someone else's) sent no event, and the forced apply
            # would take it over. Confirmed by the API server first (once: the apply is kept).
            there, live = _read_live(deps.cluster, owner.namespace, name, there), True
        conflict = _conflict(there, owner)
        if conflict is not None and not live:  # memory in doubt: confirmed by the API server
            there = _read_live(deps.cluster, owner.namespace, name, there)
            conflict = _conflict(there, owner)
    except KubeError as error:
        deps.written.pop(key, None)
        return Synced(False, str(error), (), ())
    if conflict is not None:  # not this model's to write: held (a predecessor's) or refused
        deps.written.pop(key, None)
        return Synced(False, None if conflict.predecessor else conflict.message, (), (),
                      conflict=conflict, nothing_to_deliver=says_nothing and campaigns.DATA_KEY
                      not in ((there or {}).get("data") or {}))
    if new_model:
        there = None  # applied unread, as before (``written`` says what it applied)
    found = there
    last = deps.last.get((owner.namespace, owner.name))
    # A change of the canary's percent since the file there: the band its pods may attribute
    # differently while the new copy propagates, from this pass's time (``carried_split``).
    split = campaigns.carried_split(
        split, campaigns.split_in(((there or {}).get("data") or {}).get(campaigns.DATA_KEY)),
        now if now is not None else dt.datetime.now(dt.UTC).replace(microsecond=0),
        grace=deps.propagation_grace)
    # Within what the ConfigMap's other keys leave (a new model's is judged from the store).
    budget = campaigns.budget_beside(found if found is not None
                                     else _stored(deps.cluster, owner.namespace, name))
    previous = _previous(deps, owner, snapshots, rendered, campaigns.entries_in(
        ((there or {}).get("data") or {}).get(campaigns.DATA_KEY) if there is not None
        else last[1] if last is not None and last[0] == owner.uid else None))
    # Held since for something else at the generation judged not served: still kept.
    rendered = [replace(e, keeps_previous=True) if e.name in previous else e for e in rendered]
    fitted = campaigns.fitted(rendered, split, budget=budget, kept=_held(
        there, last[1] if last is not None and last[0] == owner.uid else None, rendered),
        previous=previous)
    content, left_out = fitted.text, fitted.left_out
    deps.full[(owner.namespace, owner.name)] = left_out
    deps.stale[(owner.namespace, owner.name)] = fitted.stale
    unfit = tuple((name, _not_carried(owner.name, why, carried=name not in fitted.not_carried))
                  for name, why in fitted.unfit)
    deps.unfit[(owner.namespace, owner.name)] = dict(unfit)
    absent = set(left_out) | set(fitted.not_carried)
    names = tuple(sorted(e.name for e in rendered if e.name not in absent))
    treats = {e.name for e in rendered if e.active and not e.refused} - absent - dict(unfit).keys()
    active = tuple(sorted(treats))
    if new_model and (says_nothing or deps.written.get(key) == content):
        if not says_nothing:
            deps.last[(owner.namespace, owner.name)] = (owner.uid, content)
        return Synced(False, None, names, active, left_out, unfit=unfit, stale=fitted.stale)
    if there is None and says_nothing:
        return Synced(False, None, names, active, left_out, unfit=unfit, stale=fitted.stale)
    manifest = campaigns.config_map(owner, content)
    changed = there is None or not _holds(there, manifest)
    try:
        if changed:
            deps.cluster.apply(manifest, PLURAL)
    except KubeError as error:
        deps.written.pop(key, None)
        return Synced(False, _refused(error, owner, found), names, active, left_out, unfit=unfit,
                      stale=fitted.stale, already_there=_already_there(content, found))
    deps.last[(owner.namespace, owner.name)] = (owner.uid, content)
    if new_model:
        deps.written[key] = content
    else:
        deps.written.pop(key, None)
    return Synced(changed, None, names, active, left_out, unfit=unfit, stale=fitted.stale,
                  already_there=_already_there(content, found) if track else frozenset(),
                  delivered=_delivered(content, found) if first and changed else frozenset())


def _previous(deps: FileDependencies, owner: Owner, snapshots: Iterable[Mapping[str, Any]],
              rendered: Iterable[campaigns.CampaignEntry],
              held: Mapping[str, Any]) -> dict[str, Any]:
    """The entries the file carries instead of those ``rendered`` for the Campaigns whose
    runtime keeps its previous settings (``keeps_previous``), by name: the entry the file held
    (``held``: the ConfigMap's there, else the one this process last wrote or found) before
    their latest spec edit. Kept (``FileDependencies.before_edit``) from the pass that finds
    the file holding an earlier generation's entry than the spec's until the Campaign's pass
    has judged the edit served (its Ready reason one of ``_SERVED_REASONS`` at an
    ``observedGeneration`` reaching the generation: ``RollbackPending``, ``BudgetExhausted``,
    ``SchedulePending``, ``Waiting``, … say nothing of it), or it leaves the file: the
    Campaign pass judges the edit after the file pass has written it, so the entry before it
    is no longer there when ``TreatmentNotServed`` is said. A further edit before that keeps
    it (the file's entry then is of an edit the replicas may have rejected), unless the pass
    judged the file's generation served. Carried while Ready says ``TreatmentNotServed`` of
    the spec's generation, and while it then holds the Campaign for something else at that
    generation; one said of an earlier generation judges nothing of this edit (the file
    carries it as edited). A process that starts after that write knows none: the file
    carries the edited entry, as before."""
    memory = deps.before_edit.setdefault((owner.namespace, owner.name), {})
    judged = {str((body.get("metadata") or {}).get("name")): _judged(body) for body in snapshots}
    carried: dict[str, Any] = {}
    names = set()
    for entry in rendered:
        names.add(entry.name)
        served, holding = judged.get(entry.name, (entry.generation, False))
        kept = memory.get(entry.name)
        if kept is not None and (kept["entry"].get("uid") != entry.uid
                                 or (served is not None and served >= entry.generation)):
            del memory[entry.name]  # the edit served (or another Campaign of the name)
            kept = None
        if served is not None and served >= entry.generation:
            continue
        there = held.get(entry.name)
        if (isinstance(there, dict) and isinstance(there.get("generation"), int)
                and there["generation"] < entry.generation
                # Not over the entry of an edit not judged served yet (two quick edits: the
                # file holds the first, which the replicas may have rejected), unless the
                # pass judged the file's generation served (the replicas took it).
                and (kept is None or (served is not None and served >= there["generation"]))):
            kept = memory[entry.name] = {"entry": there, "held": None}
        if kept is None:
            continue
        if entry.keeps_previous:
            kept["held"] = entry.generation  # judged not served at this generation
            carried[entry.name] = kept["entry"]
        elif holding and kept["held"] == entry.generation:
            # Judged not served at this generation, and since held for something else (a
            # rollback pending, a spent budget, a schedule, the model), which says nothing of
            # the edit: the replicas keep rejecting it.
            carried[entry.name] = kept["entry"]
    for name in set(memory) - names:
        del memory[name]
    if not memory:
        deps.before_edit.pop((owner.namespace, owner.name), None)
    return carried


#: Ready reasons of a Campaign whose pass found its spec's treatments served
#: (``domain.exposure``'s ``phase`` judges ``TreatmentNotServed`` before them), or whose
#: entry the runtime takes whatever it scores (``InvalidSpec``: carried refused, at 0 %).
#: The others (``RollbackPending``, ``BudgetExhausted``, ``SchedulePending``, ``Waiting``,
#: ``RolledBack``, ``ScheduleEnded``) come first, and say nothing of it.
_SERVED_REASONS = frozenset({cond.EXPOSING, cond.EXPOSURE_PAUSED, cond.INVALID_SPEC_REASON})


def _of_generation(observed: object, generation: object) -> bool:
    """Whether a condition computed for ``observed`` is of the spec's ``generation`` (one
    saying for none, or of a spec without one, counts as of it)."""
    return not (isinstance(observed, int) and isinstance(generation, int)
                and observed != generation)


def _judged(body: Mapping[str, Any]) -> tuple[int | None, bool]:
    """What the Campaign's Ready condition says of its spec edits: the generation its pass
    found served (``_SERVED_REASONS``, at its ``observedGeneration``: the spec's when it names
    none; None: no Ready, or one that does not say), and whether it holds the Campaign for
    something else at the spec's generation (not served, nor ``TreatmentNotServed``: the edit
    neither found served nor refused there)."""
    generation = (body.get("metadata") or {}).get("generation")
    for condition in (body.get("status") or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == cond.READY:
            seen = condition.get("observedGeneration")
            current = _of_generation(seen, generation)
            reason = condition.get("reason")
            if reason in _SERVED_REASONS:
                at = seen if isinstance(seen, int) else generation
                return (at if isinstance(at, int) else None), False
            return None, current and reason != cond.TREATMENT_NOT_SERVED
    return None, False  # no Ready yet: not judged


def _already_there(content: str, there: Mapping[str, Any] | None) -> frozenset[str]:
    """The Campaigns whose entry in ``content`` (the file the pass writes) the ConfigMap
    ``there`` (this model's, as read before the pass; None: not there) carries the same."""
    if there is None:
        return frozenset()
    held = campaigns.entries_in((there.get("data") or {}).get(campaigns.DATA_KEY))
    return frozenset(name for name, entry in campaigns.entries_in(content).items()
                     if held.get(name) == entry)


def _delivered(content: str, there: Mapping[str, Any] | None) -> frozenset[str]:
    """The Campaigns whose entry in ``content`` (the file the pass wrote) the ConfigMap
    ``there`` (as read before the pass; None: not there, or a new model's, applied unread) did
    not carry at the same exposure and activity (nor for the same Campaign, by uid): the
    runtime treats at what their status says only from this write."""
    held = campaigns.entries_in(((there or {}).get("data") or {}).get(campaigns.DATA_KEY))

    def same(entry: Any, before: Any) -> bool:
        return (isinstance(entry, dict) and isinstance(before, dict)
                and all(entry.get(k) == before.get(k)
                        for k in ("exposurePercent", "active", "uid")))

    return frozenset(name for name, entry in campaigns.entries_in(content).items()
                     if not same(entry, held.get(name)))


def forget(owner: Owner, deps: FileDependencies) -> None:
    """The model is gone (its ConfigMap goes with it, by owner reference)."""
    deps.written.pop((owner.namespace, owner.name, owner.uid), None)
    deps.full.pop((owner.namespace, owner.name), None)
    deps.stale.pop((owner.namespace, owner.name), None)
    deps.unfit.pop((owner.namespace, owner.name), None)
    deps.unwritten.pop((owner.namespace, owner.name), None)
    deps.passed.discard((owner.namespace, owner.name))
    deps.asked.discard((owner.namespace, owner.name))
    deps.carried.pop((owner.namespace, owner.name), None)
    deps.reached.discard((owner.namespace, owner.name))
    deps.delivered.pop((owner.namespace, owner.name), None)
    deps.stopped.pop((owner.namespace, owner.name), None)
    deps.held.pop((owner.namespace, owner.name), None)
    deps.last.pop((owner.namespace, owner.name), None)
    deps.before_edit.pop((owner.namespace, owner.name), None)


def _held(there: Mapping[str, Any] | None, last: str | None,
          rendered: Iterable[campaigns.CampaignEntry]) -> Callable[[], dict[str, Any]]:
    """The Campaigns the runtime may be carrying, by name, with their entry where known, read
    only when asked (a file that fits never is): ``fitted`` keeps them, one whose spec edit
    grew its entry past the room left at that entry (``Fitted.stale``), and leaves the newest
    of the others out first. They are the entries of the file there; those of the file this
    process last wrote or found there (``last``) that it does not hold (the ConfigMap
    deleted, dropped by the existence audit, its key removed or edited into something else, a
    new model's file applied unread: the replicas still read the file they last had, and
    every Campaign counted a newcomer, the newest of those they treat under would be left
    out, their ramps lost). When neither holds an entry (a fresh process finding no file),
    each Campaign whose status exposes some units (no entry: its own counts as unchanged):
    its pass raises the exposure only of a Campaign the file carries (one left out waits at
    0 %), and one at 0 % treats no one, so leaving it out withdraws no treatment. Not
    otherwise: a newcomer's pass may take its first step before the file pass has judged it,
    and it would then be let into the room kept for the others' growth."""
    def held() -> dict[str, Any]:
        known = campaigns.entries_in(last)
        known.update(campaigns.entries_in(((there or {}).get("data") or {})
                                          .get(campaigns.DATA_KEY)))
        return known or {c.name: None for c in rendered if c.exposure_percent > 0}
    return held


def _conflict(there: Mapping[str, Any] | None, owner: Owner) -> Conflict | None:
    """Why the ConfigMap ``there`` is not this model's to write (``ownership_conflict``)."""
    return ownership_conflict(
        there, owner, f"ConfigMap {owner.namespace}/{naming.campaigns_config_map(owner.name)}")


def _refused(error: KubeError, owner: Owner, there: Mapping[str, Any] | None) -> str:
    """Why the apply of the model's ConfigMap failed: the API server's words, and for one made
    immutable (by hand: the admission policy on ConfigMaps refuses it the operator's identity)
    what to do. Such a ConfigMap refuses every later write of the file, a suspension's or a
    rollback's 0 % included, and the operator may not delete it (no ``delete`` on
    configmaps): only a human's delete ends it, after which the next pass writes it anew.
    Said for any refusal (4xx) of a write to a ConfigMap read as immutable, or in the words of
    Kubernetes' 422 or of the policy's 403 (the policy judges after Kubernetes' own validation,
    which refuses only a change of the data: a write that leaves it as it is meets the
    policy's refusal instead)."""
    text = str(error)
    refused = 400 <= error.status < 500 and error.status not in _NOT_REFUSALS
    if not refused or (IMMUTABLE_REFUSAL not in text and POLICY_IMMUTABLE_REFUSAL not in text
                       and (there or {}).get("immutable") is not True):
        return text
    name = naming.campaigns_config_map(owner.name)
    return (f"ConfigMap {owner.namespace}/{name} is immutable (immutable: true), so the API "
            f"server refuses every write of the campaigns file and no change of its Campaigns' "
            f"settings reaches the runtime, a suspension or a rollback included; the operator "
            f"cannot delete it: delete it (kubectl delete configmap {name} -n "
            f"{owner.namespace}) and the operator writes it anew, not immutable ({error})")


def _full(model: str) -> str:
    """What a Campaign left out of its model's full file says (the same whoever judged it: no
    status churn when the first file pass after a start confirms it; the model's event counts
    them)."""
    return (f"the campaigns file of UpliftModel {model!r} is full (a ConfigMap holds at most "
            f"1 MiB; the file keeps within {campaigns.FILE_BUDGET_BYTES:,} bytes): this Campaign "
            f"is left out (one the file holds stays, and the file keeps room for its Campaigns' "
            f"exposure to change and for a canary's split; of the others the newest are left "
            f"out first), so no replica "
            f"serves it: requests naming it are answered 404 unknown_campaign until Campaigns of "
            f"this model are deleted or made smaller")


def _edit_not_carried(model: str) -> str:
    """What a Campaign the file carries at its entry from before its spec edit says."""
    return (f"the campaigns file of UpliftModel {model!r} is full (a ConfigMap holds at most "
            f"1 MiB; the file keeps within {campaigns.FILE_BUDGET_BYTES:,} bytes, with room kept "
            f"for its Campaigns' exposure to change and for a canary's split): this Campaign's "
            f"spec edit grew its entry past the room left, so it is held at its exposure on "
            f"its previous settings: the file carries its entry as before the edit (no higher "
            f"an exposure than it had there; a rollback, an abort or a suspension still "
            f"reaches the replicas, and requests naming it are still answered) and its ramp "
            f"is held (no step advance, completion or promote) until room is made: Campaigns "
            f"of this model deleted or made smaller, or the edit taken back")


def _not_carried(model: str, why: str, *, carried: bool) -> str:
    """What a Campaign the file does not carry as its spec says reads in its status."""
    if carried:
        return (f"the campaigns file of UpliftModel {model!r} carries this Campaign as refused "
                f"(exposure 0, inactive: no replica treats under it), as {why}")
    return (f"the campaigns file of UpliftModel {model!r} leaves this Campaign out (no replica "
            f"serves it: requests naming it are answered 404 unknown_campaign), as {why}")


def _stored(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """What the watch (or an earlier read) brought of the ConfigMap, asking no one."""
    if isinstance(cluster, WatchedCluster):
        return cluster.objects.get(PLURAL, namespace, name)
    return None


def _known_absent(cluster: Cluster, namespace: str, name: str) -> bool:
    """Whether the store answered the ConfigMap's absence from memory (``adapters.watched``:
    a 404 remembered until an event or apply brings it), not from a read just made."""
    return isinstance(cluster, WatchedCluster) and cluster.objects.absent(PLURAL, namespace, name)


def _read_live(cluster: Cluster, namespace: str, name: str,
               there: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ConfigMap as the API server has it now, the store updated with it (a cluster
    without a store was just read: ``there``)."""
    if isinstance(cluster, WatchedCluster):
        return cluster.read_live("v1", PLURAL, namespace, name)
    return there


def _holds(there: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    """Whether the ConfigMap there has our content, our owner and our labels (the watch selects
    it by them; labels added by others are fine, and so are data keys besides ours, which the
    server-side apply leaves alone: comparing them made every pass re-apply a no-op)."""
    meta = there.get("metadata") or {}
    owners = meta.get("ownerReferences") or []
    labels = meta.get("labels") or {}
    ours = manifest["data"][campaigns.DATA_KEY]
    return ((there.get("data") or {}).get(campaigns.DATA_KEY) == ours
            and manifest["metadata"]["ownerReferences"][0] in owners
            and all(labels.get(k) == v for k, v in manifest["metadata"]["labels"].items()))


def _plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (kopf hands out views of its own objects)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
