"""The campaigns ConfigMap of an UpliftModel is never taken over (kubebuilder's
``IsControlledBy``, the rule the UpliftModel pass applies to its SeldonDeployment and
decision-key Secret): a ``<model>-campaigns`` ConfigMap that this model's uid does not control
is not written. One an UpliftModel of the same name deleted before this one still controls
(the garbage collector is removing it) holds the file, no error; anyone else's, or no one's, is
refused: nothing written, the ConfigMap left exactly as it was, an error naming it and its
controller. Judged from the watched store, confirmed by one read from the API server (the
store may hold a ConfigMap that is gone since), and before anything is written over an absence
the store remembers (one made since without the operator's labels sends the watch no event)."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, _watched, campaign_body, sync

from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.handlers import lifecycle
from uplift_operator.render import campaigns, naming
from uplift_operator.services import campaigns_file

CM = "hillstrom-uplift-campaigns"
MODEL_REF = {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel", "name": OWNER.name,
             "controller": True, "blockOwnerDeletion": True}
PREDECESSOR = {**MODEL_REF, "uid": "uid-0"}  # the same name, deleted before this one (uid-1)
OTHER = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy", "uid": "o-1",
         "controller": True}


def foreign(*owners: dict[str, Any], labelled: bool = False,
            data: str = "theirs") -> dict[str, Any]:
    """A ConfigMap of the model's campaigns-file name that the operator did not make for it."""
    meta: dict[str, Any] = {"name": CM, "namespace": NS, "uid": "cm-9", "resourceVersion": "3"}
    if labelled:  # e.g. made by the operator for a predecessor, or copied with its labels
        meta["labels"] = naming.labels(OWNER)
    if owners:
        meta["ownerReferences"] = list(owners)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {campaigns.DATA_KEY: data}}


def refusal(controller: str) -> str:
    return (f"ConfigMap {NS}/{CM} exists and is not controlled by this UpliftModel "
            f"({controller}): nothing applied, and it is left as it is; delete it (the operator "
            f"creates its own), or make this UpliftModel (uid {OWNER.uid}) its controller")


def test_someone_elses_config_map_is_refused_and_left_as_it_is_until_it_goes() -> None:
    """It had its data replaced (taken over by the forced apply). Not labelled: the watch
    never brings it, nor its deletion; each refused pass reads it again, and writes once it is
    gone."""
    cluster = FakeCluster()
    cluster.put("configmaps", foreign())
    theirs = copy.deepcopy(cluster.objects[KEY])
    watched, _, calls = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    for _ in range(3):
        synced = sync(deps, campaign_body())
        assert synced == campaigns_file.Synced(False, refusal("no controller"), (), (),
                                               conflict=synced.conflict)
        assert synced.conflict is not None and not synced.conflict.predecessor
    assert cluster.applied == [] and cluster.objects[KEY] == theirs
    assert calls == ["get configmaps"] * 4  # read once, then once per refused pass
    del cluster.objects[KEY]  # its owner deletes it: no event reaches the operator
    synced = sync(deps, campaign_body())
    assert synced.changed and synced.error is None and synced.conflict is None
    assert cluster.objects[KEY]["metadata"]["ownerReferences"][0]["uid"] == OWNER.uid


def test_a_config_map_with_another_controller_is_refused_naming_it() -> None:
    """Applied, it got a second controller reference, which the API server refuses (422),
    retried for ever: now one refusal naming its controller."""
    cluster = FakeCluster()
    cluster.put("configmaps", foreign(OTHER, labelled=True))
    theirs = copy.deepcopy(cluster.objects[KEY])
    synced = sync(campaigns_file.FileDependencies(cluster), campaign_body())
    assert synced.error == refusal("controller: Deployment legacy (uid o-1)")
    assert cluster.applied == [] and cluster.objects[KEY] == theirs


def test_an_owner_reference_that_is_not_a_controller_does_not_make_it_the_models() -> None:
    cluster = FakeCluster()
    cluster.put("configmaps", foreign({**MODEL_REF, "uid": OWNER.uid, "controller": False},
                                      labelled=True))
    synced = sync(campaigns_file.FileDependencies(cluster), campaign_body())
    assert synced.error == refusal("no controller") and cluster.applied == []


def test_an_upliftmodel_of_the_same_name_in_another_group_is_no_predecessor() -> None:
    cluster = FakeCluster()
    cluster.put("configmaps", foreign({**PREDECESSOR, "apiVersion": "other.io/v1"}))
    synced = sync(campaigns_file.FileDependencies(cluster), campaign_body())
    assert synced.error == refusal("controller: UpliftModel hillstrom-uplift (uid uid-0)")
    assert synced.conflict is not None and not synced.conflict.predecessor


def test_a_model_with_nothing_to_say_does_not_empty_someone_elses_config_map() -> None:
    """No Campaign left: the file would be an empty document, written over theirs."""
    cluster = FakeCluster()
    cluster.put("configmaps", foreign())
    synced = campaigns_file.sync(OWNER, [], campaigns_file.FileDependencies(cluster))
    assert synced.error == refusal("no controller") and cluster.applied == []
    assert cluster.objects[KEY]["data"] == {campaigns.DATA_KEY: "theirs"}


def test_a_predecessors_config_map_holds_the_file_until_collected() -> None:
    """A model deleted and created again under the same name: the garbage collector removes
    the old model's ConfigMap; meanwhile the new one writes nothing (it would get a second
    controller reference: 422) and says no error. Its DELETED event empties the store."""
    cluster = FakeCluster()
    cluster.put("configmaps", foreign(PREDECESSOR, labelled=True))
    watched, objects, _ = _watched(cluster)
    objects.observe("configmaps", cluster.objects[KEY])  # the watch listed it
    deps = campaigns_file.FileDependencies(watched)
    synced = sync(deps, campaign_body())
    assert (synced.changed, synced.error) == (False, None) and cluster.applied == []
    assert synced.conflict is not None and synced.conflict.predecessor
    assert synced.conflict.message.startswith(
        f"waiting for ConfigMap {NS}/{CM} to go: it is controlled by UpliftModel "
        f"{OWNER.name} (uid uid-0)")
    del cluster.objects[KEY]  # collected
    objects.forget("configmaps", NS, CM, "cm-9")
    synced = sync(deps, campaign_body())
    assert synced.changed and synced.conflict is None and len(cluster.applied) == 1


def test_a_new_model_is_held_by_a_predecessors_config_map_in_the_store_without_a_read() -> None:
    """A model created again has no status yet: its file is applied unread (``new_model``), but
    what the watch brought of its name is judged first, from memory."""
    cluster = FakeCluster()
    cluster.put("configmaps", foreign(PREDECESSOR, labelled=True))
    watched, objects, calls = _watched(cluster)
    objects.observe("configmaps", cluster.objects[KEY])
    deps = campaigns_file.FileDependencies(watched)
    snapshots = [campaigns_file.snapshot(campaign_body())]
    synced = campaigns_file.sync(OWNER, snapshots, deps, new_model=True)
    assert synced.conflict is not None and synced.conflict.predecessor
    assert cluster.applied == [] and calls == ["get configmaps"]  # the confirming read only
    del cluster.objects[KEY]
    objects.forget("configmaps", NS, CM, "cm-9")
    calls.clear()
    assert campaigns_file.sync(OWNER, snapshots, deps, new_model=True).changed
    assert calls == [] and len(cluster.applied) == 1


def test_a_config_map_handed_over_by_hand_is_written_once_the_read_shows_it() -> None:
    """The store still has it as someone else's (no labels: no watch event), the read from the
    API server shows it controlled by this model now: written."""
    cluster = FakeCluster()
    cluster.put("configmaps", foreign())
    watched, _, _ = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    assert sync(deps, campaign_body()).error == refusal("no controller")
    cluster.objects[KEY]["metadata"]["ownerReferences"] = [{**MODEL_REF, "uid": OWNER.uid}]
    synced = sync(deps, campaign_body())
    assert synced.changed and synced.error is None
    assert "spring-email" in cluster.objects[KEY]["data"][campaigns.DATA_KEY]


def test_the_models_own_config_map_is_written_as_before() -> None:
    cluster = FakeCluster()
    cluster.put("configmaps", foreign({**MODEL_REF, "uid": OWNER.uid}, labelled=True))
    watched, _, calls = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    synced = sync(deps, campaign_body())
    assert synced.changed and synced.conflict is None and calls == ["get configmaps"]
    assert not sync(deps, campaign_body()).changed and calls == ["get configmaps"]


# -- an absence remembered ---------------------------------------------------------------------

def _as_operated(cluster: FakeCluster) -> tuple[WatchedCluster, WatchedObjects, list[str]]:
    """The cluster adapter over the store exactly as the operator builds it
    (``handlers.lifecycle.watched_objects``), and the reads that reach the API server."""
    objects = lifecycle.watched_objects()
    calls: list[str] = []
    original_get = cluster.get

    def get(api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        calls.append(f"get {plural}")
        return original_get(api_version, plural, namespace, name)

    cluster.get = get  # type: ignore[method-assign]
    return WatchedCluster(cluster, objects), objects, calls


def test_a_config_map_made_since_its_absence_was_remembered_is_not_taken_over() -> None:
    """The model had nothing to say (no Campaign, no canary): its ConfigMap's 404 is remembered
    (each such pass would ask again). A team then makes their own ``<model>-campaigns`` without
    the operator's labels: the label-selected watch sends no event. A Campaign for the model
    appears: the forced apply took their ConfigMap over (its data replaced, the model as its
    controller, so the garbage collector deleted it with the model). Now the absence is read
    again before anything is written over it: refused, left as it is."""
    cluster = FakeCluster()
    watched, objects, calls = _as_operated(cluster)
    deps = campaigns_file.FileDependencies(watched)
    assert campaigns_file.sync(OWNER, [], deps) == campaigns_file.Synced(False, None, (), ())
    for _ in range(3):  # nothing to say: known absent, asked once
        campaigns_file.sync(OWNER, [], deps)
    assert objects.absent("configmaps", NS, CM) and calls == ["get configmaps"]
    cluster.put("configmaps", foreign(data="theirs"))  # no event reaches the operator
    theirs = copy.deepcopy(cluster.objects[KEY])
    synced = sync(deps, campaign_body())
    assert synced.error == refusal("no controller")
    assert synced.conflict is not None and not synced.conflict.predecessor
    assert cluster.applied == [] and cluster.objects[KEY] == theirs
    assert calls == ["get configmaps"] * 2  # the remembered 404, then the one confirming read


def test_a_remembered_absence_confirmed_is_written_once_and_read_no_more() -> None:
    """Still absent: one read before the first write, none after (the apply is kept)."""
    cluster = FakeCluster()
    watched, _, calls = _as_operated(cluster)
    deps = campaigns_file.FileDependencies(watched)
    campaigns_file.sync(OWNER, [], deps)
    synced = sync(deps, campaign_body())
    assert synced.changed and synced.error is None and cluster.applied == [KEY]
    assert calls == ["get configmaps"] * 2
    assert sync(deps, campaign_body(percent=25)).changed and len(cluster.applied) == 2
    assert not sync(deps, campaign_body(percent=25)).changed
    assert calls == ["get configmaps"] * 2


# -- a Campaign status this release cannot read in full ----------------------------------------

def _entry(status: dict[str, Any]) -> tuple[float, bool]:
    body = campaign_body()
    body["status"] = status
    (entry,) = campaigns_file.entries([campaigns_file.snapshot(body)])
    return entry.exposure_percent, entry.active


def _ready(reason: str, *, status: str = "False",
           when: str = "2026-12-01T10:00:00Z") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": reason, "lastTransitionTime": when}


def test_what_parses_of_a_campaign_status_is_kept_in_the_file() -> None:
    """A part this release cannot read (a newer release's, a hand edit) no longer makes the
    whole status count as none, which stopped the Campaign treating (exposure 0, inactive)."""
    long_reason = "Exposing" + "x" * 2000  # longer than a condition's reason may be
    assert _entry({"phase": "Healthy", "exposurePercent": 25,
                   "conditions": [_ready(long_reason, status="True")]}) == (25, True)
    assert _entry({"phase": "Healthy", "exposurePercent": 25,
                   "conditions": [_ready("Exposing", when="yesterday")]}) == (25, True)
    # a step past its deadline keeps treating while its Ready condition reads
    assert _entry({"phase": "Degraded", "exposurePercent": 25,
                   "conditions": [_ready("Exposing")]}) == (25, True)


def test_an_unreadable_part_that_decides_treating_is_read_conservatively() -> None:
    """What could not be read counts as its default: exposure 0, no phase (treats no one), no
    Ready condition (a Degraded Campaign does not treat)."""
    assert _entry({"phase": "Healthy", "exposurePercent": "lots"}) == (0, False)
    assert _entry({"phase": "Healthy", "exposurePercent": 150}) == (0, False)
    assert _entry({"phase": "Ramping", "exposurePercent": 25}) == (25, False)
    assert _entry({"phase": "Degraded", "exposurePercent": 25,
                   "conditions": [_ready("Exposing", status="Maybe")]}) == (25, False)
    assert _entry({"phase": "Degraded", "exposurePercent": 25,
                   "conditions": [_ready("Exposing", when="yesterday")]}) == (25, False)
