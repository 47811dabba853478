"""A model's campaigns file never outgrows its ConfigMap: the API server refuses a ConfigMap whose
data exceed 1 MiB, and a refused file would also stop every later change of the model's other
Campaigns, rollbacks included. What does not fit is left out, the newest first and never a
Campaign the file already holds, unless its own entry grew past the room left (a spec edit),
and each Campaign left out says so in its status."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster, FakeMetrics
from tests.unit.services.test_campaigns_file import (
    KEY,
    NS,
    OWNER,
    T0,
    _watched,
    campaign_body,
    file_of,
    serving_model,
    sync,
)

from uplift_operator.api.v1alpha1.campaign import CampaignTreatment
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render import campaigns
from uplift_operator.runtime import campaigns as runtime_campaigns
from uplift_operator.services import campaign, campaigns_file


def created(body: dict[str, Any], day: int) -> dict[str, Any]:
    body["metadata"]["creationTimestamp"] = f"2026-11-{day:02d}T08:00:00Z"
    return body


def one_entry_budget() -> int:
    """A budget with room for two of the sample's entries, not three."""
    entries = campaigns_file.entries([campaigns_file.snapshot(campaign_body())])
    one = len(campaigns.text(entries)) - len(campaigns.text(()))
    return len(campaigns.text(())) + 2 * (one + 2) + one // 2


def test_the_sample_campaigns_fill_the_real_budget_and_the_newest_are_left_out() -> None:
    # 2,500 of the sample Campaign on one model: 1.16 MB as one file, which the API server
    # refused (bench run of 2026-12-05: the file stopped at 1,904 Campaigns, every later change
    # of all 2,500 refused with it).
    bodies = [created(campaign_body(f"c-{i:05d}"), 1 + i % 28) for i in range(2500)]
    rendered = campaigns_file.entries([campaigns_file.snapshot(b) for b in bodies])
    assert len(campaigns.text(rendered)) > 1_048_576
    fitted = campaigns.fitted(rendered)
    assert len(fitted.text) <= campaigns.FILE_BUDGET_BYTES
    held = campaigns.names_in(fitted.text)
    assert held and fitted.left_out
    assert held | set(fitted.left_out) == {b["metadata"]["name"] for b in bodies}
    assert not held & set(fitted.left_out)
    day = {b["metadata"]["name"]: b["metadata"]["creationTimestamp"] for b in bodies}
    assert max(day[n] for n in held) <= min(day[n] for n in fitted.left_out)  # oldest kept
    # Nearly full: no entry left out would still have fitted with what each entry may grow by
    # kept free (GROWTH_BYTES).
    spare = campaigns.GROWTH_BYTES * (len(held) + 1)
    assert len(fitted.text) + spare > campaigns.FILE_BUDGET_BYTES - 2 * max(
        len(campaigns.text([e])) for e in rendered)
    assert len(fitted.text) + spare - campaigns.GROWTH_BYTES <= campaigns.FILE_BUDGET_BYTES
    assert set(runtime_campaigns.parse(fitted.text).campaigns) == held


def test_everything_fits_below_the_budget_and_the_file_there_is_not_read() -> None:
    rendered = campaigns_file.entries([campaigns_file.snapshot(campaign_body())])

    def not_read() -> frozenset[str]:
        raise AssertionError("the file there was read although everything fits")

    fitted = campaigns.fitted(rendered, kept=not_read)
    assert fitted == campaigns.Fitted(campaigns.text(rendered), ())


def test_the_file_keeps_what_it_holds_then_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", one_entry_budget())
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    b = created(campaign_body("b"), 10)
    c = created(campaign_body("c"), 12)
    synced = sync(deps, b, c)
    assert synced.left_out == () and set(file_of(cluster)["campaigns"]) == {"b", "c"}
    # "a" is older than both, but the file holds b and c: a Campaign that treats is never
    # pushed out by one that does not yet.
    a = created(campaign_body("a"), 1)
    synced = sync(deps, a, b, c)
    assert synced.left_out == ("a",)
    assert synced.campaigns == ("b", "c") and synced.active == ("b", "c")
    assert set(file_of(cluster)["campaigns"]) == {"b", "c"}
    assert deps.left_out(NS, OWNER.name, "b") is None
    why = deps.left_out(NS, OWNER.name, "a")
    assert why is not None and why.reason == "CampaignsFileFull"
    assert "is full" in why.message and "1 MiB" in why.message
    assert not why.carried  # not in the file: its pass takes the model as not serving it
    assert deps.left_out(NS, "another-model", "a") is None
    # Of two newcomers the older gets the room that frees up.
    d = created(campaign_body("d"), 20)
    synced = sync(deps, a, b, c, d)
    assert synced.left_out == ("a", "d")
    synced = sync(deps, a, c, d)  # b deleted
    assert synced.left_out == ("d",) and set(file_of(cluster)["campaigns"]) == {"a", "c"}
    synced = sync(deps, a, d)
    assert synced.left_out == () and deps.left_out(NS, OWNER.name, "d") is None
    campaigns_file.forget(OWNER, deps)
    assert (NS, OWNER.name) not in deps.full


def test_a_campaign_left_out_waits_at_0_percent_and_says_why() -> None:
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    files = campaigns_file.FileDependencies(cluster)
    deps = campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES,
                                         left_out=files.left_out)
    body = campaign_body(phase=None, percent=0)
    body["metadata"]["annotations"] = {}
    files.full[(NS, OWNER.name)] = ("spring-email",)
    status = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    assert status["exposurePercent"] == 0
    serving = next(c for c in status["conditions"] if c["type"] == "ModelServing")
    assert serving["status"] == "False" and "campaigns file" in serving["message"]
    assert serving["reason"] == "CampaignsFileFull"  # the model serves: not ModelNotServing
    delivered = next(c for c in status["conditions"] if c["type"] == "SettingsDelivered")
    assert delivered["status"] == "False" and "is full" in delivered["message"]
    assert delivered["reason"] == "CampaignsFileFull"  # written, without room: not FileNotWritten
    assert "is full" in status["message"]
    # Room again: the next pass starts the ramp.
    files.full[(NS, OWNER.name)] = ()
    body["status"] = status
    later = campaign.reconcile(copy.deepcopy(body), deps, T0 + dt.timedelta(seconds=10)).status
    assert later["exposurePercent"] == 5


def test_a_campaign_the_file_carries_as_refused_says_so_under_its_own_reason() -> None:
    """Not a full file, not a file that cannot be written: the file carries this one as
    refused (its spec as the runtime could not take it), and both conditions say that."""
    cluster = FakeCluster()
    cluster.put("upliftmodels", serving_model())
    files = campaigns_file.FileDependencies(cluster)
    deps = campaign.CampaignDependencies(cluster=cluster, prometheus=FakeMetrics(),
                                         metric_templates=BUILTIN_TEMPLATES,
                                         left_out=files.left_out)
    body = campaign_body(phase=None, percent=0)
    body["metadata"]["annotations"] = {}
    files.unfit[(NS, OWNER.name)] = {"spring-email": "carried as refused, as it cannot be …"}
    status = campaign.reconcile(copy.deepcopy(body), deps, T0).status
    assert status["exposurePercent"] == 0
    by_type = {c["type"]: c for c in status["conditions"]}
    for type_ in ("ModelServing", "SettingsDelivered"):
        assert by_type[type_]["status"] == "False"
        assert by_type[type_]["reason"] == "CampaignNotCarried"
        assert "carried as refused" in by_type[type_]["message"]


def test_no_more_entries_than_the_runtime_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runtime refuses a longer document whole (it keeps its last good settings): the
    # operator never writes one, whatever the bytes.
    assert campaigns.MAX_CAMPAIGNS == runtime_campaigns.MAX_CAMPAIGNS
    monkeypatch.setattr(campaigns, "MAX_CAMPAIGNS", 3)
    bodies = [created(campaign_body(f"c-{i}"), 1 + i) for i in range(5)]
    rendered = campaigns_file.entries([campaigns_file.snapshot(b) for b in bodies])
    fitted = campaigns.fitted(rendered)
    assert campaigns.names_in(fitted.text) == {"c-0", "c-1", "c-2"}
    assert fitted.left_out == ("c-3", "c-4")


def test_a_held_campaign_growing_never_pushes_out_another(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Room for a at 5 % and b at 100 % and one byte more: a's exposure growing to 100 % (two
    # bytes) once pushed the newer b out of the file; withdrawn, b shrank, fitted again,
    # restarted its ramp and grew out again, round after round (a review, 2026-12-05).
    def entry(name: str, day: int, percent: float, phase: str = "Progressing") -> dict[str, Any]:
        return created(campaign_body(name, phase=phase, percent=percent), day)

    def size(*bodies: dict[str, Any]) -> int:
        return len(campaigns.text(campaigns_file.entries(
            [campaigns_file.snapshot(b) for b in bodies])))

    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES",
                        size(entry("a", 1, 5), entry("b", 2, 100)) + 1)
    deps = campaigns_file.FileDependencies(FakeCluster())
    # The file holds a (with no file known, a Campaign whose status exposes units is held).
    assert sync(deps, entry("a", 1, 5)).left_out == ()
    rounds = [(entry("a", 1, 5), entry("b", 2, 100, "Healthy")),
              (entry("a", 1, 100), entry("b", 2, 100, "Healthy")),
              (entry("a", 1, 100), entry("b", 2, 0)),
              (entry("a", 1, 100), entry("b", 2, 5)),
              (entry("a", 1, 100), entry("b", 2, 100))]
    seen = {sync(deps, *bodies).left_out for bodies in rounds}
    assert seen == {("b",)}  # b never got in: nothing it held could be taken back

    # Both held, each with its spare (and the room for a split): growing to 100 % keeps both.
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES",
                        size(entry("a", 1, 5), entry("b", 2, 5)) + 2 * campaigns.GROWTH_BYTES
                        + campaigns.SPLIT_BYTES)
    deps = campaigns_file.FileDependencies(FakeCluster())
    assert sync(deps, entry("a", 1, 5), entry("b", 2, 5)).left_out == ()
    assert sync(deps, entry("a", 1, 100), entry("b", 2, 100, "Healthy")).left_out == ()


def test_a_held_campaign_whose_edit_overflows_the_room_keeps_its_entry_as_it_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The file holds three treating Campaigns with their growth room; the oldest gets one more
    # treatment (~50 bytes). Ranked by age, the newest, c-new, was left out although it treats:
    # its requests got 404 unknown_campaign (a review, 2026-12-06). Then the edited one was
    # left out instead, and an edit within the budget but not within the room kept spent it,
    # so that a ramp step or a canary start then pushed the newest out (a review, 2026-12-07).
    # Now the file carries the edited one's entry as it was, and says so.
    def body(name: str, day: int, percent: float = 50) -> dict[str, Any]:
        return created(campaign_body(name, percent=percent), day)

    def edited(b: dict[str, Any], percent: float | None = None) -> dict[str, Any]:
        b = copy.deepcopy(b)
        b["spec"]["treatments"] = [*b["spec"]["treatments"],
                                   {"name": "extra-treatment-with-long-name"}]
        b["metadata"]["generation"] = 2
        if percent is not None:
            b["status"]["exposurePercent"] = percent
        return b

    def rendered(*bodies: dict[str, Any]) -> list[campaigns.CampaignEntry]:
        return campaigns_file.entries([campaigns_file.snapshot(b) for b in bodies])

    bodies = [body("a-old", 1), body("b-mid", 2), body("c-new", 3)]
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", len(campaigns.text(rendered(*bodies)))
                        + 3 * campaigns.GROWTH_BYTES + campaigns.SPLIT_BYTES + 10)
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    assert sync(deps, *bodies).left_out == ()
    before = file_of(cluster)["campaigns"]["a-old"]
    synced = sync(deps, edited(bodies[0]), *bodies[1:])
    assert synced.left_out == ()
    assert synced.campaigns == synced.active == ("a-old", "b-mid", "c-new")
    text = cluster.objects[KEY]["data"]["campaigns.json"]
    assert set(runtime_campaigns.parse(text).campaigns) == {"a-old", "b-mid", "c-new"}
    assert file_of(cluster)["campaigns"]["a-old"] == before  # not the edit: generation 1
    assert deps.left_out(NS, OWNER.name, "c-new") is None
    why = deps.left_out(NS, OWNER.name, "a-old")
    assert why is not None and why.reason == "CampaignsFileFull"
    assert "grew" in why.message and "before the edit" in why.message
    assert "held at its exposure on its previous settings" in why.message
    assert why.carried  # in the file as it was: its pass holds its ramp there
    assert synced.stale == ("a-old",)
    # An exposure decided on the edit (a first step raised from 5 to 50 %, here 50 to 100) is
    # not carried on the settings from before it: the entry stays at the exposure it had.
    assert sync(deps, edited(bodies[0], percent=100), *bodies[1:]).stale == ("a-old",)
    assert file_of(cluster)["campaigns"]["a-old"] == before
    # Its rollback reaches the replicas all the same: its entry as it was, treating no one.
    sync(deps, edited(bodies[0], percent=0), *bodies[1:])
    assert file_of(cluster)["campaigns"]["a-old"] == {**before, "exposurePercent": 0,
                                                      "active": False}
    # The edit taken back: carried as it is again.
    assert sync(deps, *bodies).left_out == ()
    assert file_of(cluster)["campaigns"]["a-old"] == before
    assert deps.left_out(NS, OWNER.name, "a-old") is None
    # Room made (b-mid deleted): the edit is carried.
    sync(deps, edited(bodies[0]), *bodies[1:])
    assert deps.left_out(NS, OWNER.name, "a-old") is not None
    synced = sync(deps, edited(bodies[0]), bodies[2])
    assert synced.left_out == () and deps.left_out(NS, OWNER.name, "a-old") is None
    assert file_of(cluster)["campaigns"]["a-old"]["generation"] == 2

    # Two held entries grow at once (a-old's edit, c-new's ramp 5 → 100 %): the ramp step is
    # what the room is kept for, the edit waits.
    small = [body("a-old", 1, 5), body("b-mid", 2, 5), body("c-new", 3, 5)]
    held = campaigns.fitted(rendered(*small)).text
    grown = rendered(edited(small[0]), small[1], body("c-new", 3, 100))
    fitted = campaigns.fitted(grown, kept=lambda: campaigns.entries_in(held),
                              budget=len(campaigns.text(grown)) - 1)
    assert fitted.left_out == () and fitted.stale == ("a-old",)
    assert campaigns.entries_in(fitted.text)["c-new"]["exposurePercent"] == 100
    # Told only the names (no entries to compare), the file keeps its oldest, as before.
    by_name = campaigns.fitted(grown, kept=lambda: campaigns.names_in(held),
                               budget=len(campaigns.text(grown)) - 1)
    assert by_name.left_out == ("c-new",)
    # A Campaign created again under a held name is not carried at its predecessor's entry.
    again = [dataclasses.replace(e, uid="another-uid") if e.name == "a-old" else e
             for e in grown]
    fitted = campaigns.fitted(again, kept=lambda: campaigns.entries_in(held),
                              budget=len(campaigns.text(grown)) - 1)
    assert fitted.left_out == ("a-old",) and fitted.stale == ()


def _sample_entries(count: int) -> list[campaigns.CampaignEntry]:
    """``count`` of the sample Campaign at 25 %, created a second apart, oldest first."""
    spec = campaigns_file.entries([campaigns_file.snapshot(campaign_body())])[0].spec
    t0 = dt.datetime(2026, 2, 20, 9, 30, tzinfo=dt.UTC)
    return [campaigns.CampaignEntry(
        name=f"camp-{i:04d}", namespace=NS, generation=3, spec=spec, exposure_percent=25.0,
        active=True, created=t0 + dt.timedelta(seconds=i), uid=f"00000000-0000-4000-8000-{i:012d}")
        for i in range(count)]


def test_at_real_scale_edits_never_spend_the_room_a_ramp_or_a_canary_needs() -> None:
    # A review's repro (2026-12-07): 317 held Campaigns edited within the 1,000,000 bytes but
    # not within the room kept; then the model's canary started (an 82-byte split no reserve
    # covered) and the newest held, treating Campaign was withdrawn, for good (a newcomer
    # again, it needed 16 × (n + 1) bytes to come back): 404 unknown_campaign. A ramp step
    # (25 → 100 %, one byte each) did the same.
    everyone = _sample_entries(1900)
    first = campaigns.fitted(everyone)
    out = first.left_out
    assert out and len(out) < 100  # the newest are left out, ~1,800 held
    held = [e for e in everyone if e.name not in out]

    def edit(e: campaigns.CampaignEntry) -> campaigns.CampaignEntry:
        treatments = [*e.spec.treatments, CampaignTreatment(name="t" * 63)]
        return dataclasses.replace(e, spec=e.spec.model_copy(update={"treatments": treatments}),
                                   generation=4)

    edited = [edit(e) if i < 400 else e for i, e in enumerate(held)]
    newcomers = [e for e in everyone if e.name in out]
    step = campaigns.fitted(edited + newcomers, kept=lambda: campaigns.entries_in(first.text))
    assert step.left_out == out  # no held one withdrawn; the newcomers stay out
    assert step.stale and set(step.stale) < {e.name for e in edited[:400]}
    assert len(step.stale) < 400  # what the room allowed was carried, the least grown first
    entries = campaigns.entries_in(step.text)
    assert len(entries) == len(held)
    # The room stays kept: every entry's growth and the largest split.
    assert campaigns.spare_bytes(len(step.text), len(entries), 0) >= 0
    assert set(runtime_campaigns.parse(step.text).campaigns) == set(entries)

    canary = campaigns.VersionSplit("12", "13", 5, 1_209_600)
    started = campaigns.fitted(edited + newcomers, canary,
                               kept=lambda: campaigns.entries_in(step.text))
    assert started.left_out == out and started.stale == step.stale
    # Every held Campaign ramps to 100 %, under the largest split there is: none withdrawn.
    largest = campaigns.VersionSplit("9" * 16, "8" * 16, 100, campaigns.MAX_WINDOW_SECONDS)
    ramped = [dataclasses.replace(e, exposure_percent=100.0) for e in edited]
    full = campaigns.fitted(ramped + newcomers, largest,
                            kept=lambda: campaigns.entries_in(started.text))
    assert full.left_out == out and len(full.text) <= campaigns.FILE_BUDGET_BYTES
    stale = full.stale[0]
    kept_entry = campaigns.entries_in(full.text)[stale]
    assert kept_entry["generation"] == 3 and len(kept_entry["treatments"]) == 2  # as it was
    # No higher than it had there: an exposure decided on the edit is not carried on the
    # settings from before it (its Campaign's ramp is held meanwhile: ``services.campaign``).
    assert kept_entry["exposurePercent"] == 25 and kept_entry["active"] is True
    # The canary ends (the split goes) and a stale one rolls back: it stays, treating no one.
    back = [dataclasses.replace(e, exposure_percent=0.0, active=False) if e.name == stale else e
            for e in ramped]
    ended = campaigns.fitted(back + newcomers, kept=lambda: campaigns.entries_in(full.text))
    assert ended.left_out == out
    rolled = campaigns.entries_in(ended.text)[stale]
    assert rolled["exposurePercent"] == 0 and rolled["active"] is False


def test_a_restarted_operator_judges_room_as_the_file_pass_does_at_real_scale() -> None:
    # A review's repro (2026-12-07): before the model's first file pass a file was taken as
    # full only within 8,000 bytes of its budget, while the file pass leaves a newcomer out
    # unless its size and 16 × (n + 1) bytes (~29 KB at 1,800 entries) are free: a restarted
    # operator started the ramp of a Campaign the first file pass then withdrew.
    everyone = _sample_entries(1900)
    capacity = 1900 - len(campaigns.fitted(everyone).left_out)
    for count in (capacity - 1, capacity):
        there = campaigns.fitted(everyone[:count]).text
        assert len(campaigns.names_in(there)) == count
        newcomer = dataclasses.replace(everyone[count], name="newcomer")
        fitted = campaigns.fitted([*everyone[:count], newcomer],
                                  kept=functools.partial(campaigns.entries_in, there))
        assert campaigns.has_room(there) == ("newcomer" not in fitted.left_out), count
    assert campaigns.has_room(campaigns.fitted(everyone[:capacity - 1]).text)
    assert not campaigns.has_room(campaigns.fitted(everyone[:capacity]).text)

    # Through the services, the operator restarted with a full file in the watch's store.
    template = created(campaign_body(percent=25), 1)
    bodies = []
    for i in range(capacity + 1):
        body = copy.deepcopy(template)
        body["metadata"].update(name=f"camp-{i:04d}", uid=f"00000000-0000-4000-8000-{i:012d}",
                                creationTimestamp=f"2026-11-01T{i // 3600:02d}:"
                                                  f"{i // 60 % 60:02d}:{i % 60:02d}Z")
        bodies.append(body)
    cluster = FakeCluster()
    first = campaigns_file.FileDependencies(cluster)
    waiting = copy.deepcopy(bodies)  # each admitted at 0 %, as a new Campaign waits
    for body in waiting:
        body["status"]["exposurePercent"] = 0
    assert sync(first, *waiting).left_out == (f"camp-{capacity:04d}",)
    assert sync(first, *bodies).left_out == (f"camp-{capacity:04d}",)
    watched, objects, _ = _watched(cluster)
    objects.observe("configmaps", cluster.objects[KEY])
    files = campaigns_file.FileDependencies(watched)
    before = files.left_out(NS, OWNER.name, "newcomer")
    assert before is not None and before.reason == "CampaignsFileFull"  # it waits at 0 %
    assert files.left_out(NS, OWNER.name, "camp-0000") is None  # held: it keeps treating
    late = copy.deepcopy(template)
    late["metadata"].update(name="newcomer", creationTimestamp="2026-12-01T00:00:00Z")
    late["status"]["exposurePercent"] = 0
    synced = campaigns_file.sync(OWNER, [campaigns_file.snapshot(b) for b in [*bodies, late]],
                                 files)
    assert "newcomer" in synced.left_out
    assert files.left_out(NS, OWNER.name, "newcomer") == before  # same words: no churn


def test_before_its_first_file_pass_a_restarted_operator_judges_from_the_file_there(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Without it every Campaign left out started its ramp at the first pass after a restart,
    # and was withdrawn at the model's first file pass (two events, two history entries).
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", one_entry_budget())
    cluster = FakeCluster()
    first = campaigns_file.FileDependencies(cluster)
    bodies = [created(campaign_body(name), day) for name, day in (("a", 1), ("b", 2), ("c", 3))]
    assert sync(first, *bodies).left_out == ("c",)
    # A new process: nothing in memory but the watch's store.
    watched, objects, calls = _watched(cluster)
    objects.observe("configmaps", cluster.objects[KEY])
    files = campaigns_file.FileDependencies(watched)
    reads = len(calls)
    assert files.left_out(NS, OWNER.name, "a") is None
    assert files.left_out(NS, OWNER.name, "b") is None
    why = files.left_out(NS, OWNER.name, "c")
    assert why is not None and why == first.left_out(NS, OWNER.name, "c")  # same words
    assert files.left_out(NS, OWNER.name, "d-new") == why  # a newcomer waits too
    assert len(calls) == reads  # from memory only
    # A file with room to spare leaves every newcomer to the file pass.
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", 10_000_000)
    assert files.left_out(NS, OWNER.name, "c") is None
    assert files.left_out(NS, "no-file-model", "c") is None


def test_before_the_config_map_watch_lists_a_restarted_operator_reads_the_file_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty store (the watch not listed yet) was taken as room: a restarted operator started
    # the ramp of a Campaign the model's first file pass then withdrew (a review, 2026-12-07).
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", one_entry_budget())
    cluster = FakeCluster()
    bodies = [created(campaign_body(name), day) for name, day in (("a", 1), ("b", 2), ("c", 3))]
    assert sync(campaigns_file.FileDependencies(cluster), *bodies).left_out == ("c",)
    watched, _, calls = _watched(cluster)  # a new process: its store has heard nothing yet
    files = campaigns_file.FileDependencies(watched)
    why = files.left_out(NS, OWNER.name, "c")
    assert why is not None and why.reason == "CampaignsFileFull"
    assert files.left_out(NS, OWNER.name, "a") is None
    assert calls == ["get configmaps"]  # read once, then from the store
    assert files.left_out(NS, "no-file-model", "c") is None  # absent: room, remembered
    assert files.left_out(NS, "no-file-model", "d") is None
    assert calls == ["get configmaps", "get configmaps"]
