"""``kubectl get campaigns``' Phase column names every way a Campaign is Suspended, as
``status.phase``'s description does: before schedule.start, a spent budget, and a spend
unreadable past spec.economics.budgetUnreadable.after (action Suspend), which a reader of the
column otherwise took for a spent budget."""

from __future__ import annotations

from typing import Any

from uplift_operator.api.crds import CAMPAIGN


def test_the_phase_column_names_each_suspension() -> None:
    column = next(c for c in CAMPAIGN.printer_columns if c["name"] == "Phase")["description"]
    schema: dict[str, Any] = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"]
    field = schema["properties"]["status"]["properties"]["phase"]["description"]
    for text in (column, field):
        assert "schedule.start" in text
        assert "a spent budget" in text
        assert "budgetUnreadable.after" in text
    assert "unreadable" in column
