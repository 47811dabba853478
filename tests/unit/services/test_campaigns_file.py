"""services.campaigns_file.sync against the in-memory cluster: the ConfigMap a model's runtime
reads holds each Campaign's settings and the pass's exposure, written only when it changed."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.services.fakes import FakeCluster, FakeMetrics
from tests.unit.services.test_campaign import CampaignMetrics

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render import campaigns
from uplift_operator.render.naming import Owner
from uplift_operator.runtime import campaigns as runtime_campaigns
from uplift_operator.services import campaign, campaigns_file

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
NS = "shop"
OWNER = Owner(name="hillstrom-uplift", namespace=NS, uid="uid-1")
KEY = ("v1", "configmaps", NS, "hillstrom-uplift-campaigns")
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def campaign_body(name: str = "spring-email", phase: str | None = "Progressing",
                  percent: float = 5, generation: int = 1, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
    body["metadata"].update(name=name, namespace=NS, generation=generation,
                            creationTimestamp="2026-11-30T08:00:00Z")
    body["spec"].update(spec)
    body["status"] = {"exposurePercent": percent, **({"phase": phase} if phase else {})}
    return body


def serving_model() -> dict[str, Any]:
    """The sample UpliftModel, serving version 3 (Ready)."""
    model: dict[str, Any] = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    model["metadata"]["namespace"] = NS
    model["status"] = {"stableVersion": "3", "phase": "Healthy", "conditions": [
        {"type": "Ready", "status": "True", "reason": "StableServing",
         "lastTransitionTime": "2026-12-01T00:00:00Z"}]}
    return model


def file_of(cluster: FakeCluster) -> dict[str, Any]:
    return dict(json.loads(cluster.objects[KEY]["data"]["campaigns.json"]))


def sync(deps: campaigns_file.FileDependencies, *bodies: dict[str, Any]) -> campaigns_file.Synced:
    return campaigns_file.sync(OWNER, [campaigns_file.snapshot(b) for b in bodies], deps)


def test_the_config_map_holds_every_campaign_of_the_model_and_is_owned_by_it() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    synced = sync(deps, campaign_body(), campaign_body("later", phase="Suspended", percent=0))
    assert synced == campaigns_file.Synced(True, None, ("later", "spring-email"),
                                           ("spring-email",))
    cm = cluster.objects[KEY]
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    doc = file_of(cluster)
    assert doc["campaigns"]["spring-email"]["exposurePercent"] == 5
    assert doc["campaigns"]["spring-email"]["active"] is True
    assert doc["campaigns"]["later"]["active"] is False
    parsed = runtime_campaigns.parse(cm["data"]["campaigns.json"])
    assert parsed.errors == {} and set(parsed.campaigns) == {"spring-email", "later"}


def _watched(cluster: FakeCluster) -> tuple[WatchedCluster, WatchedObjects, list[str]]:
    """The cluster as the operator has it: ConfigMaps read from the watch's store, and the
    API calls that still reach the cluster."""
    objects = WatchedObjects(["configmaps"])
    calls: list[str] = []
    original_get = cluster.get

    def get(api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        calls.append(f"get {plural}")
        return original_get(api_version, plural, namespace, name)

    cluster.get = get  # type: ignore[method-assign]
    return WatchedCluster(cluster, objects), objects, calls


def test_an_unchanged_pass_makes_no_api_call_and_a_change_one_write() -> None:
    cluster = FakeCluster()
    watched, _, calls = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    sync(deps, campaign_body())
    assert len(cluster.applied) == 1
    for _ in range(3):  # woken by anything, or the resync: compared in memory
        assert not sync(deps, campaign_body()).changed
    assert calls == ["get configmaps"] and len(cluster.applied) == 1  # the first pass's lookup
    # exposure (a new step), then a spec change (the generation moves)
    assert sync(deps, campaign_body(percent=25)).changed
    assert file_of(cluster)["campaigns"]["spring-email"]["exposurePercent"] == 25
    assert sync(deps, campaign_body(percent=25, generation=2,
                                    experiment={"holdoutFraction": 0.2,
                                                "unitKey": "customer_id"})).changed
    entry = file_of(cluster)["campaigns"]["spring-email"]
    assert (entry["generation"], entry["holdoutFraction"], entry["salt"]) == (
        2, 0.2, "shop/spring-email")
    assert len(cluster.applied) == 3


def test_a_data_key_added_by_hand_is_left_alone_and_costs_no_write() -> None:
    # The whole data were compared: a key someone added made every pass apply the same file
    # again (an apply that changes nothing, a write and a watch event per pass).
    cluster = FakeCluster()
    watched, objects, _ = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    sync(deps, campaign_body())
    annotated = copy.deepcopy(cluster.objects[KEY])
    annotated["data"]["notes.txt"] = "owned by the growth team"
    cluster.objects[KEY] = annotated
    objects.observe("configmaps", annotated)
    for _ in range(2):
        assert not sync(deps, campaign_body()).changed
    assert len(cluster.applied) == 1
    # Our key edited by hand is still put back.
    edited = copy.deepcopy(annotated)
    edited["data"]["campaigns.json"] = "{}"
    cluster.objects[KEY] = edited
    objects.observe("configmaps", edited)
    assert sync(deps, campaign_body()).changed and len(cluster.applied) == 2


def test_a_config_map_deleted_or_edited_by_hand_comes_back_on_its_watch_event() -> None:
    cluster = FakeCluster()
    watched, objects, calls = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    sync(deps, campaign_body())
    right = copy.deepcopy(cluster.objects[KEY])
    # kubectl edit: the watch brings the edited body (the handler then wakes the pass)
    edited = copy.deepcopy(right)
    edited["data"]["campaigns.json"] = "{}"
    cluster.objects[KEY] = edited
    objects.observe("configmaps", edited)
    assert sync(deps, campaign_body()).changed and cluster.objects[KEY]["data"] == right["data"]
    # a label the watch selects it by removed: it leaves the watch (DELETED), is read once
    unlabelled = copy.deepcopy(right)
    del unlabelled["metadata"]["labels"]["uplift.dev/model"]
    cluster.objects[KEY] = unlabelled
    objects.forget("configmaps", NS, "hillstrom-uplift-campaigns")
    calls.clear()
    assert sync(deps, campaign_body()).changed and calls == ["get configmaps"]
    assert cluster.objects[KEY]["metadata"]["labels"]["uplift.dev/model"] == "hillstrom-uplift"
    # kubectl delete: the DELETED event empties the store, the pass reads once and applies
    del cluster.objects[KEY]
    objects.forget("configmaps", NS, "hillstrom-uplift-campaigns")
    calls.clear()
    assert sync(deps, campaign_body()).changed and KEY in cluster.objects
    assert calls == ["get configmaps"]
    assert not sync(deps, campaign_body()).changed and calls == ["get configmaps"]


def test_a_config_map_already_right_is_not_rewritten() -> None:
    cluster = FakeCluster()
    sync(campaigns_file.FileDependencies(cluster), campaign_body())
    fresh = campaigns_file.FileDependencies(cluster)  # an operator restart
    assert not sync(fresh, campaign_body()).changed and len(cluster.applied) == 1


def test_a_new_model_file_is_applied_without_reading_it_first() -> None:
    cluster = FakeCluster()
    asked: list[tuple[str, ...]] = []
    original_get = cluster.get

    def get(api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        asked.append((api_version, plural, namespace, name))
        return original_get(api_version, plural, namespace, name)

    cluster.get = get  # type: ignore[method-assign]
    deps = campaigns_file.FileDependencies(cluster)
    snapshots = [campaigns_file.snapshot(campaign_body())]
    assert campaigns_file.sync(OWNER, snapshots, deps, new_model=True).changed
    assert asked == [] and len(cluster.applied) == 1 and KEY in cluster.objects
    # woken again before the model has a status: what was applied is not applied again
    assert not campaigns_file.sync(OWNER, snapshots, deps, new_model=True).changed
    assert asked == [] and len(cluster.applied) == 1
    fresh = campaigns_file.FileDependencies(cluster)  # restarted before the model had a status
    assert campaigns_file.sync(OWNER, snapshots, fresh, new_model=True).changed
    assert asked == [] and len(cluster.applied) == 2  # applied again, unread: a no-op there


def test_a_model_with_nothing_to_say_gets_no_config_map() -> None:
    """No Campaign and no canary split: no ConfigMap, no lookup, no write (the predictors mount
    it optional; the runtime reads a file never there as no campaign and no split)."""
    cluster = FakeCluster()
    watched, _, calls = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    assert campaigns_file.sync(OWNER, [], deps, new_model=True) == campaigns_file.Synced(
        False, None, (), ())
    assert calls == [] and cluster.applied == []
    assert not campaigns_file.sync(OWNER, [], deps).changed  # a status now: looked up, absent
    assert cluster.applied == [] and KEY not in cluster.objects
    # a canary's split is something to say: the file is written with it
    split = campaigns_file.version_split({"stableVersion": "3", "canaryVersion": "4",
                                          "canaryWeight": 10})
    assert campaigns_file.sync(OWNER, [], deps, split).changed
    assert file_of(cluster)["campaigns"] == {} and len(cluster.applied) == 1
    assert file_of(cluster)["split"] == {"stable": "3", "canary": "4", "canaryPercent": 10,
                                         "attributionWindowSeconds": 3600}


def test_a_model_without_a_config_map_asks_for_it_once_not_at_every_pass() -> None:
    """The file is lazy: a model with no Campaign and no canary has no ConfigMap. Its passes
    (every event of the model, every resync) ask the API server once — nothing heard of it yet:
    at start, or before the watch listed it — and then know it absent, until the watch or the
    operator's own apply bring one."""
    cluster = FakeCluster()
    watched, objects, calls = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    for _ in range(5):
        assert campaigns_file.sync(OWNER, [], deps) == campaigns_file.Synced(False, None, (), ())
    assert calls == ["get configmaps"] and cluster.applied == []
    # another operator process wrote one meanwhile (a split since gone): its watch event brings
    # it, the pass compares with it in memory and empties it
    stale = campaigns.config_map(OWNER, "stale")
    stale["metadata"]["resourceVersion"] = "7"
    cluster.objects[KEY] = copy.deepcopy(stale)
    objects.observe("configmaps", stale)
    assert campaigns_file.sync(OWNER, [], deps).changed and file_of(cluster)["campaigns"] == {}
    assert calls == ["get configmaps"]
    # a restarted operator has heard nothing of the ConfigMaps yet: one read per model again
    fresh, _, fresh_calls = _watched(FakeCluster())
    for _ in range(3):
        assert not campaigns_file.sync(OWNER, [], campaigns_file.FileDependencies(fresh)).changed
    assert fresh_calls == ["get configmaps"]


def test_no_campaign_left_is_an_empty_file_kept_in_place() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    sync(deps)
    assert KEY not in cluster.objects  # nothing to say yet
    sync(deps, campaign_body())
    sync(deps)
    assert file_of(cluster)["campaigns"] == {}  # the runtime sees the Campaign go


def test_inactive_states_and_an_unparseable_spec() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    deleting = campaign_body("deleting", phase="Healthy", percent=100)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-01T11:59:00Z"
    broken = campaign_body("broken")
    del broken["spec"]["economics"]
    synced = sync(deps, campaign_body("done", phase="Completed", percent=0),
                  campaign_body("rolled-back", phase="Degraded", percent=0),
                  campaign_body("paused", phase="Paused", percent=25), deleting, broken)
    assert synced.campaigns == ("deleting", "done", "paused", "rolled-back")
    assert synced.active == ("paused",)


def test_a_step_past_its_deadline_keeps_treating_in_the_file() -> None:
    """Degraded by ProgressDeadlineExceeded keeps the step's exposure (Ready reason Exposing):
    the runtime goes on treating there, as the status says (``exposure.treating``); the index's
    snapshot keeps the Ready condition it reads (it kept only phase and exposure, and the file
    said active: false)."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)

    def degraded(name: str, reason: str, percent: float) -> dict[str, Any]:
        body = campaign_body(name, phase="Degraded", percent=percent)
        body["status"]["conditions"] = [
            {"type": "Ready", "status": "False", "reason": reason, "message": "a long story",
             "lastTransitionTime": "2026-12-01T10:00:00Z", "observedGeneration": 1},
            {"type": "ModelServing", "status": "True", "reason": "StableServing",
             "lastTransitionTime": "2026-12-01T09:00:00Z"}]
        return body

    synced = sync(deps, degraded("late", "Exposing", 25), degraded("refused", "InvalidSpec", 0))
    assert synced.active == ("late",)
    assert file_of(cluster)["campaigns"]["late"]["active"] is True
    kept = campaigns_file.snapshot(degraded("late", "Exposing", 25))["status"]
    assert kept["conditions"] == [{"type": "Ready", "status": "False", "reason": "Exposing",
                                   "lastTransitionTime": "2026-12-01T10:00:00Z",
                                   "observedGeneration": 1}]  # whether an edit was judged


def test_an_api_error_is_reported_and_retried_on_the_next_pass() -> None:
    cluster = FakeCluster(apply_error=KubeError("apply configmaps/x: 403 forbidden", 403))
    deps = campaigns_file.FileDependencies(cluster)
    synced = sync(deps, campaign_body())
    assert synced.error == "apply configmaps/x: 403 forbidden" and not synced.changed
    cluster.apply_error = None
    assert sync(deps, campaign_body()).changed


def test_the_campaign_pass_decides_what_the_file_says() -> None:
    """A Campaign pass (model serving) starts the ramp at 5 %: the file says 5 %, active; with
    its model gone the pass withdraws the exposure and the file follows."""
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    deps = campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES)
    body = campaign_body(phase=None, percent=0)
    body["metadata"]["annotations"] = {}
    body["status"] = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    files = campaigns_file.FileDependencies(cluster)
    sync(files, body)
    entry = file_of(cluster)["campaigns"]["spring-email"]
    assert (entry["exposurePercent"], entry["active"]) == (5, True)
    cluster.objects.pop(("uplift.dev/v1alpha1", "upliftmodels", NS, "hillstrom-uplift"))
    body["status"] = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    sync(files, body)
    entry = file_of(cluster)["campaigns"]["spring-email"]
    assert (entry["exposurePercent"], entry["active"]) == (0, False)


def test_the_budget_period_start_is_recorded_once_and_an_edited_schedule_moves_nothing() -> None:
    """The first pass that exposes records the anchor (the sample's schedule.start); an edit of
    schedule.start afterwards (review-campaign finding 5) neither restarts the replicas' period
    spend (the file's periodStart) nor the budget gate's period (its PromQL range)."""
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    prometheus = CampaignMetrics()  # the spend counter at 0: the budget gate is measured
    deps = campaign.CampaignDependencies(cluster=cluster, prometheus=prometheus,
                                         metric_templates=BUILTIN_TEMPLATES)
    body = campaign_body(phase=None, percent=0)
    body["metadata"]["annotations"] = {}
    body["status"] = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    assert body["status"]["budgetAnchor"] == "2026-03-01T00:00:00Z"
    files = campaigns_file.FileDependencies(cluster)
    sync(files, body)
    assert file_of(cluster)["campaigns"]["spring-email"]["budget"]["periodStart"] == (
        "2026-03-01T00:00:00Z")
    body["spec"]["schedule"] = {"start": "2026-03-10T00:00:00Z"}
    body["metadata"]["generation"] += 1
    now = T0 + dt.timedelta(minutes=5)  # an analysis is due: the budget gate is measured
    body["status"] = campaign.reconcile(copy.deepcopy(body), deps, now).status
    assert body["status"]["budgetAnchor"] == "2026-03-01T00:00:00Z"
    sync(files, body)
    assert file_of(cluster)["campaigns"]["spring-email"]["budget"]["periodStart"] == (
        "2026-03-01T00:00:00Z")
    # 7d periods from 2026-03-01: the current one began 2026-11-29, not 2026-11-24 (from 03-10).
    budget_gate = next(g for g in body["status"]["gates"] if g["name"] == "budget")
    assert "the period 2026-11-29T00:00:00+00:00 – 2026-12-06T00:00:00+00:00" in (
        budget_gate["message"])
    # Its spend read from when the budget was recorded (status.budgetSince: T0, the first
    # exposure, later than the period's start), which the edit does not move either.
    assert body["status"]["budgetSince"] == "2026-12-01T12:00:00Z"
    since = int((now - T0).total_seconds())
    assert any("uplift_campaign_period_spend{" in q and f"[{since}s]" in q
               for q in prometheus.asked)
    assert any("uplift_campaign_spend_total{" in q and f"[{since}s]" in q
               for q in prometheus.asked)


def test_one_campaign_the_file_cannot_render_as_it_is_costs_the_others_nothing() -> None:
    """A duration the CRD's pattern took that no timedelta holds: that Campaign is carried as
    refused (treating no one) and its pass is told why; the other's rollback reaches the file."""
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    good = campaign_body("good", phase="Progressing", percent=25)
    sync(deps, good)
    assert file_of(cluster)["campaigns"]["good"]["exposurePercent"] == 25
    rolled_back = campaign_body("good", phase="Degraded", percent=0)
    bad = campaign_body("bad", percent=5)
    bad["spec"]["economics"]["budgetPeriod"] = "1000000000d"
    synced = sync(deps, rolled_back, bad)
    assert synced.error is None and synced.changed
    assert (synced.campaigns, synced.active) == (("bad", "good"), ())
    taken = runtime_campaigns.parse(cluster.objects[KEY]["data"]["campaigns.json"])
    assert taken.errors == {}
    assert (taken.campaigns["good"].exposure_percent, taken.campaigns["good"].active) == (0, False)
    assert (taken.campaigns["bad"].exposure_percent, taken.campaigns["bad"].active) == (0, False)
    told = deps.left_out(NS, OWNER.name, "bad")
    assert told is not None and told.reason == "CampaignNotCarried"
    why = told.message
    assert why.startswith(
        "the campaigns file of UpliftModel 'hillstrom-uplift' carries this Campaign as refused")
    assert "spec.economics.budgetPeriod '1000000000d'" in why
    assert dict(synced.unfit) == {"bad": why}
    assert deps.left_out(NS, OWNER.name, "good") is None
    fixed = campaign_body("bad", percent=5)
    assert sync(deps, rolled_back, fixed).unfit == ()
    assert deps.left_out(NS, OWNER.name, "bad") is None


def test_a_name_the_runtime_serves_no_campaign_under_is_left_out_and_its_status_says_so() -> None:
    """A dotted name (the API server takes a DNS subdomain for a Campaign): an entry under it
    every replica would reject, so it is left out, and the file tells its pass so, known
    before any file pass. Its status says it (through that, or InvalidSpec once the operator
    validates the name), not Ready Exposing at 5 % with no replica treating."""
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    files = campaigns_file.FileDependencies(cluster)
    deps = campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES,
                                         left_out=files.left_out)
    body = campaign_body("spring.email", phase=None, percent=0)
    body["metadata"]["annotations"] = {}
    told = files.left_out(NS, OWNER.name, "spring.email")
    assert told is not None and told.reason == "CampaignNotCarried"
    assert told.message.startswith(
        "the campaigns file of UpliftModel 'hillstrom-uplift' leaves this Campaign out")
    assert "'spring.email' is not one the runtime serves a campaign under" in told.message
    assert files.left_out(NS, OWNER.name, "spring-email") is None
    body["status"] = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    status = body["status"]
    assert status["exposurePercent"] == 0 and "'spring.email'" in status["message"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    synced = sync(files, body, campaign_body("fine"))
    assert synced.campaigns == ("fine",) and [n for n, _ in synced.unfit] == ["spring.email"]
    assert set(file_of(cluster)["campaigns"]) == {"fine"}


def test_a_blank_salt_or_unit_key_reaches_a_runtime_that_takes_it() -> None:
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    body = campaign_body()
    body["spec"]["experiment"].update(salt=" ", unitKey="\t")
    synced = sync(deps, body)
    assert synced.active == ("spring-email",) and synced.unfit == ()
    taken = runtime_campaigns.parse(cluster.objects[KEY]["data"]["campaigns.json"])
    assert taken.errors == {}
    assert (taken.campaigns["spring-email"].salt, taken.campaigns["spring-email"].unit_key,
            taken.campaigns["spring-email"].exposure_percent) == (" ", "\t", 5)


@pytest.mark.parametrize(("window", "seconds"), [
    (None, 3600), ("30m", 1800), ("4000d", 10 * 366 * 86400), ("1000000000d", 10 * 366 * 86400)])
def test_the_model_s_attribution_window_in_the_split_never_breaks_the_file(
        window: str | None, seconds: int) -> None:
    """A window stored before the API server bounded it (the model is InvalidSpec, naming it)
    is carried at the runtime's bound: longer, the runtime refuses the whole file, and every
    Campaign of the model with it; far longer, reading it raised and no file was written."""
    spec = {"experiment": {"attributionWindow": window}} if window else {}
    split = campaigns_file.version_split(
        {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10}, spec)
    assert split is not None and split.attribution_window_seconds == seconds
    parsed = runtime_campaigns.parse_split(campaigns.text([], split))
    assert parsed is not None and parsed.attribution_window_seconds == seconds


def test_each_entry_carries_its_campaigns_uid() -> None:
    """The runtime tells a Campaign created again under its name by its uid (its createdAt has
    a second's precision): the snapshot keeps metadata.uid and the entry carries it; a
    Campaign stored without one (none from the API server) gets null."""
    cluster = FakeCluster()
    body = campaign_body()
    body["metadata"]["uid"] = "7d1c6a52-1b7e-4f2a-9c3d-0e5f6a7b8c9d"
    assert campaigns_file.snapshot(body)["metadata"]["uid"] == body["metadata"]["uid"]
    sync(campaigns_file.FileDependencies(cluster), body, campaign_body("no-uid"))
    entries = file_of(cluster)["campaigns"]
    assert entries["spring-email"]["uid"] == "7d1c6a52-1b7e-4f2a-9c3d-0e5f6a7b8c9d"
    assert entries["no-uid"]["uid"] is None
    parsed = runtime_campaigns.parse(cluster.objects[KEY]["data"]["campaigns.json"])
    assert parsed.campaigns["spring-email"].uid == "7d1c6a52-1b7e-4f2a-9c3d-0e5f6a7b8c9d"
    assert parsed.campaigns["no-uid"].uid is None
