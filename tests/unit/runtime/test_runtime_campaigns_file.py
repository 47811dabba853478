"""The campaigns file: the format, errors that name the field, last-good merging, the watch."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from uplift_operator.runtime.campaigns import (
    FORMAT,
    Budget,
    Campaign,
    CampaignsError,
    Policy,
    TreatmentTerms,
    apply_document,
    apply_read,
    merge,
    named_treatment_keys,
    parse,
    read_document,
)
from uplift_operator.runtime.reloading import Change, FileWatch

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()

ENTRY: dict[str, Any] = {
    "generation": 3, "salt": "marketing/spring-email", "unitKey": "customer_id",
    "holdoutFraction": 0.1, "exposurePercent": 25,
    "treatments": {"womens-e-mail": {"cost": 0.1, "value": 110.0},
                   "mens-e-mail": {"cost": 0.12, "value": 110}},
    "policy": {"type": "costAware"}, "maxTreatmentsPerUnit": 1,
    "budget": {"amount": 5000, "periodSeconds": 604800, "periodStart": "2026-03-01T00:00:00Z"},
    "attributionWindowSeconds": 1209600, "active": True,
    "start": "2026-03-01T00:00:00Z", "end": None,
}


def doc(**entries: Any) -> str:
    return json.dumps({"format": FORMAT, "campaigns": entries})


def with_(**changes: Any) -> dict[str, Any]:
    entry = copy.deepcopy(ENTRY)
    for key, value in changes.items():
        if value is ...:
            entry.pop(key)
        else:
            entry[key] = value
    return entry


def test_a_full_entry_parses_into_frozen_settings() -> None:
    parsed = parse(doc(**{"spring-email": ENTRY}))
    assert parsed.errors == {}
    c = parsed.campaigns["spring-email"]
    assert c == Campaign(
        name="spring-email", generation=3, salt="marketing/spring-email", unit_key="customer_id",
        holdout_fraction=0.1, exposure_percent=25.0,
        treatments={"womens-e-mail": TreatmentTerms(0.1, 110.0),
                    "mens-e-mail": TreatmentTerms(0.12, 110.0)},
        attribution_window_seconds=1209600, policy=Policy("costAware"),
        max_treatments_per_unit=1, budget=Budget(5000.0, START, 604800.0), active=True,
        start=START, end=None)
    with pytest.raises(AttributeError):
        c.exposure_percent = 50  # type: ignore[misc]


def test_optional_fields_default_and_unknown_keys_are_ignored() -> None:
    entry = with_(maxTreatmentsPerUnit=..., budget=..., active=..., start=..., end=...,
                  somethingNew={"x": 1})
    c = parse(json.dumps({"format": FORMAT, "campaigns": {"a": entry}, "model": "m"}))
    got = c.campaigns["a"]
    assert (got.max_treatments_per_unit, got.budget, got.active, got.start) == (1, None, True, None)


@pytest.mark.parametrize(("changes", "message"), [
    ({"generation": ...}, "campaigns.c.generation must be an integer; is required"),
    ({"generation": -1}, "campaigns.c.generation must be in [0,"),
    ({"generation": True}, "campaigns.c.generation must be an integer; got True"),
    ({"salt": ""}, "campaigns.c.salt must have 1 to 128 characters"),
    ({"unitKey": "k" * 129}, "campaigns.c.unitKey must have 1 to 128 characters"),
    ({"unitKey": 7}, "campaigns.c.unitKey must be a string; got 7"),
    ({"holdoutFraction": 1}, "campaigns.c.holdoutFraction must be in [0, 1), got 1"),
    ({"exposurePercent": 101}, "campaigns.c.exposurePercent must be in [0, 100], got 101"),
    ({"exposurePercent": "25"}, "campaigns.c.exposurePercent must be a finite number; got '25'"),
    ({"exposurePercent": 10**400}, "campaigns.c.exposurePercent must be a finite number; got"),
    ({"budget": {"amount": -(10**400), "periodStart": "2026-03-01T00:00:00Z"}},
     "campaigns.c.budget.amount must be a finite number; got"),
    ({"treatments": {}}, "campaigns.c.treatments must name at least one treatment"),
    ({"treatments": {"a": {"cost": -1, "value": 1}}},
     "campaigns.c.treatments.a.cost must be in [0, inf], got -1"),
    ({"treatments": {"a": {"cost": 1}}}, "campaigns.c.treatments.a.value must be a finite number"),
    ({"treatments": ["a"]}, "campaigns.c.treatments must be an object; got ['a']"),
    ({"policy": {"type": "greedy"}}, "campaigns.c.policy.type must be one of ['costAware', "
                                     "'upliftThreshold', 'topFraction'], got 'greedy'"),
    ({"policy": {"type": "upliftThreshold"}},
     "campaigns.c.policy.minUplift must be a finite number; is required"),
    ({"policy": {"type": "topFraction", "topFraction": 0}},
     "campaigns.c.policy.topFraction must be in (0, 1], got 0"),
    ({"budget": {"amount": 10, "periodStart": "2026-03-01T00:00:00"}},
     "campaigns.c.budget.periodStart must have a time zone"),
    ({"budget": {"amount": 10, "periodStart": "yesterday"}},
     "campaigns.c.budget.periodStart must be an RFC 3339 time, got 'yesterday'"),
    ({"budget": {"amount": 10, "periodStart": "2026-03-01T00:00:00Z", "periodSeconds": 0}},
     "campaigns.c.budget.periodSeconds must be in [1, inf], got 0"),
    ({"budget": 10}, "campaigns.c.budget must be an object or null, got a number"),
    ({"attributionWindowSeconds": 0}, "campaigns.c.attributionWindowSeconds must be in [1,"),
    ({"active": "yes"}, "campaigns.c.active must be true or false, got 'yes'"),
    ({"end": "2026-02-01T00:00:00Z"}, "campaigns.c.end must be after start"),
    ({"maxTreatmentsPerUnit": 0}, "campaigns.c.maxTreatmentsPerUnit must be in [1,"),
])
def test_a_bad_entry_is_rejected_alone_naming_the_field(changes: dict[str, Any],
                                                         message: str) -> None:
    parsed = parse(doc(c=with_(**changes), ok=ENTRY))
    assert set(parsed.campaigns) == {"ok"}
    assert parsed.errors["c"].startswith(message), parsed.errors["c"]


@pytest.mark.parametrize("name", ["Spring", "a_b", "-a", "a" * 64, ""])
def test_campaign_names_are_kubernetes_names(name: str) -> None:
    assert "Kubernetes name" in parse(doc(**{name: ENTRY})).errors[name]


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not JSON"),
    ("[1]", "expected a JSON object, got a list"),
    (json.dumps({"campaigns": {}}), "format must be 'uplift-operator/campaigns/v1', got None"),
    (json.dumps({"format": "uplift-operator/campaigns/v2", "campaigns": {}}), "format must be"),
    (json.dumps({"format": FORMAT, "campaigns": []}), "campaigns must be an object"),
    ('{"format": "uplift-operator/campaigns/v1", "campaigns": {"a": {"generation": NaN}}}',
     "not JSON: NaN is not a JSON number"),
    ("[" * 100_000, "not JSON"),
])
def test_an_unusable_document_is_rejected_whole(text: str, message: str) -> None:
    with pytest.raises(CampaignsError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse(text)


def test_a_rejected_entry_keeps_its_last_good_version_others_change() -> None:
    first = parse(doc(a=ENTRY, b=ENTRY)).campaigns
    second = parse(doc(a=with_(exposurePercent=0), b=with_(exposurePercent="x"),
                       c=with_(salt=None)))
    applied = merge(first, second.campaigns, second.errors)
    assert applied["a"].exposure_percent == 0      # the rollback got through
    assert applied["b"] is first["b"]              # kept its last good version
    assert "c" not in applied                      # never good: not served
    assert "b" not in merge(first, {}, {})         # gone from the document: gone


def test_apply_document_binds_and_a_bind_error_rejects_that_entry() -> None:
    def bind(c: Campaign) -> str:
        if "kids-e-mail" in c.treatments:
            raise ValueError("the model has no treatment 'kids-e-mail'")
        return f"{c.name}@{c.generation}"

    bad = with_(treatments={"kids-e-mail": {"cost": 0, "value": 1}}, generation=4)
    applied, errors = apply_document({"a": "a@3"}, doc(a=bad, b=ENTRY), bind)
    assert applied == {"a": "a@3", "b": "b@3"}
    assert errors == {"a": "the model has no treatment 'kids-e-mail'"}
    with pytest.raises(CampaignsError):
        apply_document({"a": "a@3"}, b"\xff", bind)


@pytest.mark.parametrize("blank", [" ", "\t", " " * 128])
def test_a_blank_salt_or_unit_key_is_taken_as_the_api_server_took_it(blank: str) -> None:
    """It hashes, and names a request input, as well as any: refused, the Campaign would treat
    on its last settings (or not be served) while its status says it exposes."""
    parsed = parse(doc(c=with_(salt=blank, unitKey=blank)))
    assert parsed.errors == {}
    assert (parsed.campaigns["c"].salt, parsed.campaigns["c"].unit_key) == (blank, blank)


def test_an_entry_that_treats_no_one_is_bound_without_the_treatments_the_version_lacks() -> None:
    """A rollback (exposure 0) or an abort (inactive) of a Campaign naming a treatment the
    loaded version does not score reaches the replica: taken without that treatment (the
    ``note`` says which); while it treats, the same entry is rejected as before."""
    def bind(c: Campaign) -> tuple[str, ...]:
        if "kids-e-mail" in c.treatments:
            raise ValueError("the model has no treatment 'kids-e-mail'")
        return (f"{c.name}@{c.generation}:{c.exposure_percent:g}", *sorted(c.treatments))

    unserved = {**ENTRY["treatments"], "kids-e-mail": {"cost": 0, "value": 1}}
    notes: list[tuple[str, str]] = []
    previous: dict[str, tuple[str, ...]] = {"a": ("a@3:25",), "b": ("b@3:25",),
                                            "c": ("c@3:25",)}
    applied, errors = apply_document(
        previous,
        doc(a=with_(treatments=unserved, generation=4, exposurePercent=0),
            b=with_(treatments={"kids-e-mail": {"cost": 0, "value": 1}}, generation=4,
                    active=False),
            c=with_(treatments=unserved, generation=4, exposurePercent=5)),
        bind, note=lambda name, message: notes.append((name, message)))
    assert applied == {"a": ("a@4:0", "mens-e-mail", "womens-e-mail"),
                       "b": ("b@4:25",),  # inactive: it names no treatment served here
                       "c": ("c@3:25",)}  # treats: rejected, its last good settings kept
    assert set(errors) == {"c"}
    assert [name for name, _ in notes] == ["a", "b"]
    assert "['kids-e-mail']" in notes[0][1] and "treats no one" in notes[0][1]


def test_an_entry_that_treats_no_one_bind_still_refuses_is_rejected() -> None:
    def bind(c: Campaign) -> str:
        raise ValueError("nothing binds here")

    applied, errors = apply_document({"a": "kept"}, doc(a=with_(exposurePercent=0)), bind)
    assert applied == {"a": "kept"} and errors == {"a": "nothing binds here"}


def test_a_rejected_entry_of_a_campaign_created_again_drops_its_predecessors_settings() -> None:
    """A rejected entry keeps the last good settings of the same Campaign only: one of a
    Campaign deleted and created again under the name (another uid; in an older operator's
    entries without one, another createdAt) is not served rather than treating on the deleted
    one's settings, generation and ledger (a review, 2026-12-06)."""
    def bind(c: Campaign) -> str:
        if "sms" in c.treatments:
            raise ValueError("the model has no treatment 'sms'")
        return f"{c.name}@{c.generation}"

    at = "2026-01-01T00:00:00Z"
    first = apply_read({}, {}, read_document(doc(
        a=with_(uid="uid-a", createdAt=at), b=with_(uid="uid-b", createdAt=at),
        c=with_(createdAt=at), d=with_(createdAt=at), e=with_(createdAt=at),
        f=with_(uid="uid-f", createdAt=at))), bind)
    assert set(first.campaigns) == set("abcdef")
    sms = {"sms": {"cost": 0.2, "value": 100}}
    later = "2026-06-01T00:00:00Z"
    second = apply_read(first.campaigns, first.sources, read_document(doc(
        a=with_(uid="uid-a2", createdAt=at, treatments=sms, generation=1),  # same second
        b=with_(uid="uid-b", createdAt=at, treatments=sms, generation=4),   # an edit
        c=with_(createdAt=later, treatments=sms, generation=1),  # no uid: by createdAt
        d=with_(createdAt=at, treatments=sms, generation=4),
        e=with_(uid="uid-e", createdAt=at, treatments=sms),  # upgraded operator: the same
        f=with_(uid="uid-f2", createdAt=at, exposurePercent="x"))), bind)  # does not parse
    assert set(second.errors) == set("abcdef")
    assert sorted(second.renewed) == ["a", "c", "f"]
    assert second.campaigns == {"b": "b@3", "d": "d@3", "e": "e@3"}
    assert set(second.sources) == {"b", "d", "e"}
    assert second.sources["b"] == first.sources["b"]
    # Taken once an entry of the new Campaign binds; rejected again, not served still.
    third = apply_read(second.campaigns, second.sources, read_document(doc(
        a=with_(uid="uid-a2", createdAt=at, generation=2),
        c=with_(createdAt=later, treatments=sms, generation=1))), bind)
    assert third.campaigns == {"a": "a@2"} and set(third.errors) == {"c"}
    assert third.renewed == ()


def test_a_campaign_is_told_from_its_namesake_by_uid_then_creation() -> None:
    at, later = "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z"
    c = parse(doc(a=with_(uid="u1", createdAt=at), b=with_(uid="u2", createdAt=at),
                  c=with_(createdAt=later), d=with_(createdAt=at), e=with_(uid="u1"),
                  f=with_(uid="u1", createdAt=later))).campaigns
    assert c["b"].renews(c["a"])          # created again within the second
    assert not c["f"].renews(c["a"])      # the same uid: the same Campaign
    assert c["c"].renews(c["d"])          # neither has a uid: by creation
    assert not c["d"].renews(c["a"])      # one has no uid (an older operator's entry)
    assert not c["e"].renews(c["d"])      # nothing tells: the same
    assert parse(doc(a=with_(uid=""))).errors  # a uid is never blank


def test_budget_periods_and_schedule_state() -> None:
    weekly = Budget(100.0, START, 7 * 86400.0)
    assert [weekly.period(START + d * 86400) for d in (0, 6.99, 7, 15)] == [0, 0, 1, 2]
    assert weekly.period(START - 1) == -1
    assert weekly.period_bounds(START + 8 * 86400) == (START + 7 * 86400, START + 14 * 86400)
    assert Budget(100.0, START).period(START + 1e9) == 0
    c = parse(doc(c=with_(end="2026-04-01T00:00:00Z"))).campaigns["c"]
    assert [c.state(START + s) for s in (-1, 0, 31 * 86400)] == ["not-started", "active",
                                                                 "ended"]
    assert parse(doc(c=with_(active=False))).campaigns["c"].state(START + 1) == "inactive"


def test_the_watch_sees_a_kubelet_symlink_swap_and_in_place_edits(tmp_path: Path) -> None:
    """A ConfigMap volume: <dir>/campaigns.json → ..data/campaigns.json → ..v1/campaigns.json;
    an update writes ..v2 and renames a new ..data link over the old one (atomic)."""
    (tmp_path / "..v1").mkdir()
    (tmp_path / "..v1" / "campaigns.json").write_text("one")
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "campaigns.json").symlink_to("..data/campaigns.json")
    watch = FileWatch(str(tmp_path / "campaigns.json"))
    first = watch.poll()
    assert first is not None and first.text == b"one"
    assert watch.poll() is None                       # nothing changed: a stat, no read
    (tmp_path / "..v2").mkdir()
    (tmp_path / "..v2" / "campaigns.json").write_text("two")
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    second = watch.poll()
    assert second is not None and second.text == b"two"
    assert watch.poll() is None
    plain = tmp_path / "plain.json"
    plain.write_text("a")
    watch = FileWatch(str(plain))
    assert watch.poll() is not None
    plain.write_text("bb")                            # in place: size and mtime change
    edited = watch.poll()
    assert edited is not None and edited.text == b"bb"


def test_a_missing_file_is_reported_once_and_picked_up_when_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.json"
    watch = FileWatch(str(path))
    missing = watch.poll()
    assert missing is not None and missing.text is None and missing.missing
    assert missing.error is not None and "is not there" in missing.error
    assert watch.poll() is None                       # reported once, not every second
    path.write_text("{}")
    found = watch.poll()
    assert found is not None and found.text == b"{}" and not found.missing
    path.unlink()
    gone = watch.poll()
    assert gone is not None and gone.missing


def test_a_file_that_cannot_be_read_is_not_missing(tmp_path: Path) -> None:
    def denied(path: str) -> os.stat_result:
        raise PermissionError(13, "Permission denied")

    change = FileWatch(str(tmp_path / "campaigns.json"), stat=denied).poll()
    assert change is not None and not change.missing
    assert change.error is not None and "Permission denied" in change.error


def test_the_sample_campaign_maps_one_to_one_onto_an_entry() -> None:
    """The operator's renderer (``render.campaigns``, the mapping of docs/runtime.md, "The
    campaigns file") applied to the sample Campaign gives an entry the runtime accepts with the
    same values."""
    import yaml

    from uplift_operator.api.v1alpha1.campaign import Campaign as CampaignResource
    from uplift_operator.render import campaigns as rendering

    root = Path(__file__).resolve().parents[3]
    raw = yaml.safe_load((root / "manifests" / "samples" / "campaign.yaml").read_text())
    spec = CampaignResource.model_validate(raw).spec
    rendered = rendering.text([rendering.CampaignEntry(
        name=raw["metadata"]["name"], namespace="default", generation=1, spec=spec,
        exposure_percent=25, active=True)])
    assert rendering.FORMAT == FORMAT
    parsed = parse(rendered)
    assert parsed.errors == {}
    c = parsed.campaigns["spring-email"]
    assert c.treatments == {"womens-e-mail": TreatmentTerms(0.10, 110.0),
                            "mens-e-mail": TreatmentTerms(0.12, 110.0)}
    assert (c.salt, c.unit_key, c.holdout_fraction, c.attribution_window_seconds) == (
        "spring-2026", "customer_id", 0.1, 14 * 86400)
    assert c.budget == Budget(5000.0, START, 7 * 86400.0)
    assert c.start == START and c.end is None and c.policy == Policy("costAware")
    assert (c.generation, c.exposure_percent, c.active, c.max_treatments_per_unit) == (
        1, 25.0, True, 1)


def test_a_version_that_could_not_be_read_is_read_again_at_the_next_poll(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.json"
    path.write_text("{}")
    failures = [2]

    def flaky(p: str) -> bytes:
        if failures[0]:
            failures[0] -= 1
            raise OSError(5, "Input/output error")
        return Path(p).read_bytes()

    watch = FileWatch(str(path), read=flaky)
    failed = watch.poll()
    assert failed is not None and failed.text is None
    assert failed.error is not None and "Input/output error" in failed.error
    assert watch.poll() is None                       # failed again: reported once
    read = watch.poll()                               # the same version, read at last
    assert read is not None and read.text == b"{}"
    assert watch.poll() is None


def test_a_file_gone_between_stat_and_read_is_read_again_silently(tmp_path: Path) -> None:
    """The kubelet's update racing a poll: the stat followed ``..data`` into a directory the
    swap removed before the read. Not a failed reload (the runtime logged "cannot be read" and
    counted an error for it): read again at the next poll, reported only if it persists."""
    path = tmp_path / "campaigns.json"
    path.write_text("{}")
    gone = [0]

    def racing(p: str) -> bytes:
        if gone[0]:
            gone[0] -= 1
            raise FileNotFoundError(2, "No such file or directory")
        return Path(p).read_bytes()

    watch = FileWatch(str(path), read=racing)
    assert watch.poll() is not None
    path.write_text("{ }")
    gone[0] = 1
    assert watch.poll() is None                       # raced: nothing reported
    read = watch.poll()                               # the next poll reads it
    assert read is not None and read.text == b"{ }" and read.error is None
    path.write_text("{  }")
    gone[0] = 2                                       # it persists: reported, once
    assert watch.poll() is None
    failed = watch.poll()
    assert failed is not None and failed.text is None and not failed.missing
    assert failed.error is not None and "No such file" in failed.error
    read = watch.poll()
    assert read is not None and read.text == b"{  }"


def test_a_race_after_the_file_really_went_is_again_read_silently() -> None:
    """A race, then the file gone for good (reported missing), then back with another race:
    that race is the kubelet's again, read silently at the next poll. Before, the first race's
    mark outlived the file's absence and the second race was reported as a failed read."""
    seen: dict[str, Any] = {}

    def stat(p: str) -> os.stat_result:
        if isinstance(seen["stat"], BaseException):
            raise seen["stat"]
        return os.stat_result((0o100644, seen["stat"], 1, 1, 0, 0, 10, 0, seen["stat"], 0))

    def read(p: str) -> bytes:
        if isinstance(seen["read"], BaseException):
            raise seen["read"]
        return bytes(seen["read"])

    watch = FileWatch("/x/campaigns.json", stat=stat, read=read)
    seen.update(stat=1, read=b"v1")
    assert watch.poll() == Change(b"v1")
    seen.update(stat=2, read=FileNotFoundError(2, "No such file or directory"))
    assert watch.poll() is None                        # raced: nothing reported
    seen.update(stat=FileNotFoundError(2, "gone"), read=b"")
    gone = watch.poll()
    assert gone is not None and gone.missing           # really gone: reported
    seen.update(stat=3, read=FileNotFoundError(2, "No such file or directory"))
    assert watch.poll() is None                        # back, raced again: silent again
    seen.update(read=b"v3")
    assert watch.poll() == Change(b"v3")


def test_named_treatment_keys_are_every_entrys_as_the_gates_select_them() -> None:
    """Every entry's treatment names as keys, an entry this replica would reject included (the
    other version's decisions carry what it names); a name without a key names none; what is
    not an entry with a treatments object names none; a document that is not JSON, nothing."""
    document = json.dumps({"format": "uplift-operator/campaigns/v1", "campaigns": {
        "a": {"treatments": {"Kids E-Mail": {}, "womens-e-mail": {}, "--": {}}},
        "b": {"exposurePercent": 101, "treatments": {"t1": {}}},
        "c": {"treatments": ["x"]}, "d": "not an entry"}})
    assert named_treatment_keys(document) == {
        "a": frozenset({"kids_e_mail", "womens_e_mail"}), "b": frozenset({"t1"}),
        "c": frozenset(), "d": frozenset()}
    assert named_treatment_keys(b"\xff") == {}
    assert named_treatment_keys("[1]") == {}
