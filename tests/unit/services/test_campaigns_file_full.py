"""A model's campaigns file never outgrows its ConfigMap: the API server refuses a ConfigMap whose
data exceed 1 MiB, and a refused file would also stop every later change of the model's other
Campaigns, rollbacks included. What does not fit is left out, the newest first and never a
Campaign the file already holds, unless its own entry grew past the room left (a spec edit),
and each Campaign left out says so in its status."""

from __future__ import annotations

import copy
import datetime as dt
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
    rounds = [(entry("a", 1, 5), entry("b", 2, 100, "Healthy")),
              (entry("a", 1, 100), entry("b", 2, 100, "Healthy")),
              (entry("a", 1, 100), entry("b", 2, 0)),
              (entry("a", 1, 100), entry("b", 2, 5)),
              (entry("a", 1, 100), entry("b", 2, 100))]
    seen = {sync(deps, *bodies).left_out for bodies in rounds}
    assert seen == {("b",)}  # b never got in: nothing it held could be taken back

    # Both held, each with its spare: growing to 100 % keeps both.
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES",
                        size(entry("a", 1, 5), entry("b", 2, 5)) + 2 * campaigns.GROWTH_BYTES)
    deps = campaigns_file.FileDependencies(FakeCluster())
    assert sync(deps, entry("a", 1, 5), entry("b", 2, 5)).left_out == ()
    assert sync(deps, entry("a", 1, 100), entry("b", 2, 100, "Healthy")).left_out == ()


def test_a_held_campaign_whose_edit_overflows_the_file_is_the_one_left_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The file holds three treating Campaigns with their growth room; the oldest gets one more
    # treatment (~50 bytes). Ranked by age, the newest, c-new, was left out although it treats:
    # its requests got 404 unknown_campaign (a review, 2026-12-06). The one whose edit
    # overflowed the file pays, and says so.
    def body(name: str, day: int, percent: float = 50) -> dict[str, Any]:
        return created(campaign_body(name, percent=percent), day)

    def edited(b: dict[str, Any]) -> dict[str, Any]:
        b = copy.deepcopy(b)
        b["spec"]["treatments"] = [*b["spec"]["treatments"],
                                   {"name": "extra-treatment-with-long-name"}]
        b["metadata"]["generation"] = 2
        return b

    def rendered(*bodies: dict[str, Any]) -> list[campaigns.CampaignEntry]:
        return campaigns_file.entries([campaigns_file.snapshot(b) for b in bodies])

    bodies = [body("a-old", 1), body("b-mid", 2), body("c-new", 3)]
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", len(campaigns.text(rendered(*bodies)))
                        + 3 * campaigns.GROWTH_BYTES + 10)
    cluster = FakeCluster()
    deps = campaigns_file.FileDependencies(cluster)
    assert sync(deps, *bodies).left_out == ()
    synced = sync(deps, edited(bodies[0]), *bodies[1:])
    assert synced.left_out == ("a-old",)
    assert synced.campaigns == synced.active == ("b-mid", "c-new")
    text = cluster.objects[KEY]["data"]["campaigns.json"]
    assert set(runtime_campaigns.parse(text).campaigns) == {"b-mid", "c-new"}
    assert deps.left_out(NS, OWNER.name, "c-new") is None
    why = deps.left_out(NS, OWNER.name, "a-old")
    assert why is not None and why.reason == "CampaignsFileFull"
    assert "grew" in why.message and "404 unknown_campaign" in why.message
    # The edit taken back: it fits again, as a newcomer with its growth room.
    assert sync(deps, *bodies).left_out == ()

    # Two held entries grow at once (a-old's edit, c-new's ramp 5 → 100 %): the least grown
    # stays, whatever its age.
    small = [body("a-old", 1, 5), body("b-mid", 2, 5), body("c-new", 3, 5)]
    held = campaigns.fitted(rendered(*small)).text
    grown = rendered(edited(small[0]), small[1], body("c-new", 3, 100))
    fitted = campaigns.fitted(grown, kept=lambda: campaigns.entries_in(held),
                              budget=len(campaigns.text(grown)) - 1)
    assert fitted.left_out == ("a-old",)
    assert campaigns.names_in(fitted.text) == {"b-mid", "c-new"}
    # Told only the names (no entries to compare), the file keeps its oldest, as before.
    by_name = campaigns.fitted(grown, kept=lambda: campaigns.names_in(held),
                               budget=len(campaigns.text(grown)) - 1)
    assert by_name.left_out == ("c-new",)


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
