"""The campaigns file's split says when the canary's percent last changed and which unit
positions lie between the percent the pods may still hold (the ConfigMap there) and the new
one, from the pass's time: the runtime counts those for neither version while the new copy
propagates (``render.campaigns.carried_split``)."""

from __future__ import annotations

import datetime as dt

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, _watched, file_of

from uplift_operator.services import campaigns_file

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_a_step_writes_its_band_and_time_and_later_passes_keep_them() -> None:
    cluster = FakeCluster()
    watched, _, _ = _watched(cluster)
    deps = campaigns_file.FileDependencies(watched)
    split = campaigns_file.version_split({"stableVersion": "3", "canaryVersion": "4",
                                          "canaryWeight": 10})
    assert campaigns_file.sync(OWNER, [], deps, split, now=T0).changed
    assert "changedAt" not in file_of(cluster)["split"]   # no copy before: nothing to band
    step = campaigns_file.version_split({"stableVersion": "3", "canaryVersion": "4",
                                         "canaryWeight": 30})
    later = T0 + dt.timedelta(minutes=10)
    assert campaigns_file.sync(OWNER, [], deps, step, now=later).changed
    assert file_of(cluster)["split"] == {
        "stable": "3", "canary": "4", "canaryPercent": 30, "attributionWindowSeconds": 3600,
        "changedAt": "2026-12-01T12:10:00Z", "unattributedFrom": 10, "unattributedTo": 30,
        "graceSeconds": 120}
    written = cluster.objects[KEY]["data"]["campaigns.json"]
    # The next passes, whatever their time, write nothing: the band is kept as it is.
    assert not campaigns_file.sync(OWNER, [], deps, step, now=later + dt.timedelta(hours=1)
                                   ).changed
    assert cluster.objects[KEY]["data"]["campaigns.json"] == written
    # A rollback to 0 % with the canary kept: the whole 0–30 % band.
    back = campaigns_file.version_split({"stableVersion": "3", "canaryVersion": "4",
                                         "canaryWeight": 0})
    assert campaigns_file.sync(OWNER, [], deps, back, now=later + dt.timedelta(hours=2)).changed
    assert (file_of(cluster)["split"]["unattributedFrom"],
            file_of(cluster)["split"]["unattributedTo"]) == (0, 30)
