"""While a change of the canary's percent propagates (pods read their copy of the campaigns file
60–90 s apart), no unit is counted for both versions: the operator writes the change's band
and time into the split, and a pod on the new copy counts a unit of the band for neither
version within ``PROPAGATION_GRACE_SECONDS`` of it, while a pod on the old copy attributes it
by that copy (docs/statistics.md, docs/dataplane.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift_operator.render import campaigns as render
from uplift_operator.runtime import campaigns as runtime
from uplift_operator.runtime.assignment import version_owner

STABLE, CANARY = "7", "8"
UNITS = [f"user-{i}" for i in range(20_000)]
T0 = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC)


def _file(percent: int, held: str | None, now: dt.datetime) -> str:
    """The file the operator writes for ``percent`` with the file ``held`` there at ``now``."""
    split = render.carried_split(render.VersionSplit(STABLE, CANARY, percent, 3600),
                                 render.split_in(held), now)
    return render.text([], split)


def _owned(version: str, text: str, now: float) -> set[str]:
    split = runtime.parse_split(text)
    assert split is not None
    return {u for u in UNITS if split.owner(u, now) == version}


def test_the_grace_is_the_same_for_the_operator_and_the_runtime() -> None:
    assert render.PROPAGATION_GRACE_SECONDS == runtime.PROPAGATION_GRACE_SECONDS
    # At least the kubelet's propagation delay of a ConfigMap update (60–90 s).
    assert runtime.PROPAGATION_GRACE_SECONDS >= 90


@pytest.mark.parametrize(("old", "new", "canary_first"), [
    (10, 30, True), (10, 30, False), (30, 0, False), (30, 0, True), (30, 10, True),
    (30, 10, False)])
def test_two_pods_on_two_copies_never_both_count_a_unit(old: int, new: int,
                                                        canary_first: bool) -> None:
    before = _file(old, None, T0 - dt.timedelta(hours=1))
    after = _file(new, before, T0)
    during = T0.timestamp() + 30
    # The defect, as each pod attributed by its own percent: the band counted by both (or
    # by neither, the stable pod updated first).
    canary_pct, stable_pct = (new, old) if canary_first else (old, new)
    naive_canary = {u for u in UNITS if version_owner(u, STABLE, CANARY, canary_pct) == CANARY}
    naive_stable = {u for u in UNITS if version_owner(u, STABLE, CANARY, stable_pct) == STABLE}
    if canary_pct > stable_pct:
        assert len(naive_canary & naive_stable) > 0.1 * len(UNITS) * (abs(new - old) / 100)
    # With the change in the file: at most one version counts each unit.
    canary_text, stable_text = (after, before) if canary_first else (before, after)
    canary = _owned(CANARY, canary_text, during)
    stable = _owned(STABLE, stable_text, during)
    assert not canary & stable
    # Both on the new copy within the grace: the band is neither's, the rest as before.
    canary_new, stable_new = _owned(CANARY, after, during), _owned(STABLE, after, during)
    assert not canary_new & stable_new
    low, high = min(old, new), max(old, new)
    band = {u for u in UNITS
            if version_owner(u, STABLE, CANARY, high) != version_owner(u, STABLE, CANARY, low)}
    assert band and set(UNITS) - canary_new - stable_new == band
    # Past the grace every unit is owned by exactly one version, by the new percent.
    later = T0.timestamp() + runtime.PROPAGATION_GRACE_SECONDS
    canary_late, stable_late = _owned(CANARY, after, later), _owned(STABLE, after, later)
    assert not canary_late & stable_late and canary_late | stable_late == set(UNITS)
    assert canary_late == {u for u in UNITS
                           if version_owner(u, STABLE, CANARY, new) == CANARY}


def test_an_unchanged_percent_keeps_the_file_byte_for_byte() -> None:
    before = _file(10, None, T0)
    after = _file(30, before, T0 + dt.timedelta(microseconds=5))
    again = _file(30, after, T0 + dt.timedelta(hours=3))
    assert again == after
    split = render.split_in(after)
    assert split is not None
    # Rounded up to the second: the band lasts no shorter than the grace after the write.
    assert (split["changedAt"], split["unattributedFrom"], split["unattributedTo"]) == (
        "2026-03-02T10:00:01Z", 10, 30)
    assert "changedAt" not in (render.split_in(before) or {})


def test_a_change_within_the_grace_of_the_last_widens_its_band() -> None:
    first = _file(10, _file(5, None, T0 - dt.timedelta(hours=1)), T0)
    second = _file(30, first, T0 + dt.timedelta(seconds=60))   # a pod may still hold 5 %
    split = render.split_in(second)
    assert split is not None and (split["unattributedFrom"], split["unattributedTo"]) == (5, 30)
    down = _file(20, second, T0 + dt.timedelta(seconds=90))
    assert render.split_in(down) is not None
    assert (render.split_in(down) or {})["unattributedFrom"] == 5
    assert (render.split_in(down) or {})["unattributedTo"] == 30
    # Past the grace of the last change, only the new one's band.
    later = _file(50, down, T0 + dt.timedelta(seconds=90 + render.PROPAGATION_GRACE_SECONDS))
    assert ((render.split_in(later) or {})["unattributedFrom"],
            (render.split_in(later) or {})["unattributedTo"]) == (20, 50)


def test_another_canary_or_no_split_there_starts_with_no_band() -> None:
    other = render.text([], render.VersionSplit(STABLE, "9", 30))
    assert render.carried_split(render.VersionSplit(STABLE, CANARY, 0), render.split_in(other),
                                T0).change is None
    assert render.carried_split(render.VersionSplit(STABLE, CANARY, 10), None, T0).change is None
    assert render.carried_split(None, render.split_in(other), T0) is None
    # A held split's band that is not one the operator writes is not carried.
    held = {"stable": STABLE, "canary": CANARY, "canaryPercent": 10, "changedAt": "x",
            "unattributedFrom": 0, "unattributedTo": 10}
    assert render.carried_split(render.VersionSplit(STABLE, CANARY, 10), held, T0).change is None


def test_the_largest_split_s_bytes_cover_a_change() -> None:
    split = render.carried_split(
        render.VersionSplit("9" * 16, "8" * 16, 100, render.MAX_WINDOW_SECONDS),
        {"stable": "9" * 16, "canary": "8" * 16, "canaryPercent": 0},
        dt.datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC))
    assert split is not None and split.change is not None
    assert len(render.text([], split)) - len(render.text([], None)) <= render.SPLIT_BYTES


def test_the_runtime_reads_the_change_and_an_older_operator_s_split() -> None:
    old = runtime.split_of({"split": {"stable": "3", "canary": "4", "canaryPercent": 30}})
    assert old is not None and old.changed_at is None and old.unattributed is None
    read = runtime.split_of({"split": {"stable": "3", "canary": "4", "canaryPercent": 30,
                                       "changedAt": "2026-03-02T10:00:00Z",
                                       "unattributedFrom": 10, "unattributedTo": 30}})
    assert read is not None and read.unattributed == (10, 30)
    assert read.changed_at == T0.timestamp()
    for bad in ({"changedAt": "2026-03-02T10:00:00Z"},
                {"unattributedFrom": 10, "unattributedTo": 30},
                {"changedAt": "2026-03-02T10:00:00Z", "unattributedFrom": 30,
                 "unattributedTo": 10},
                {"changedAt": "2026-03-02T10:00:00Z", "unattributedFrom": 10,
                 "unattributedTo": 130}):
        with pytest.raises(runtime.CampaignsError, match="split"):
            runtime.split_of({"split": {"stable": "3", "canary": "4", "canaryPercent": 30,
                                        **bad}})
