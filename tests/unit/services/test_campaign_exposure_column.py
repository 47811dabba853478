"""``kubectl get campaigns``' Exposure column (``status.exposurePercent``) is the exposure ramp's
percent, which a refused spec keeps while the runtime treats no one under the Campaign: its
description in the CRD says so, rather than "exposed now"."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.services.test_campaign import Sim

from uplift_operator.api.crds import CAMPAIGN
from uplift_operator.render import campaigns as render
from uplift_operator.runtime import campaigns as runtime
from uplift_operator.services import campaigns_file


def _described() -> tuple[str, str]:
    schema: dict[str, Any] = CAMPAIGN.manifest()["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"]
    field = schema["properties"]["status"]["properties"]["exposurePercent"]["description"]
    column = next(c for c in CAMPAIGN.printer_columns if c["name"] == "Exposure")
    return field, column["description"]


def test_the_exposure_column_says_a_refused_spec_keeps_the_ramp_s_exposure() -> None:
    sim = Sim()
    sim.body["metadata"].update(name="spring-email", creationTimestamp="2026-11-01T00:00:00Z")
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "budgetPeriod": "500ms"})
    sim.tick(1)
    # What the column shows, and what the runtime applies: the two differ by design.
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Degraded", 25)
    text = render.text(campaigns_file.entries([campaigns_file.snapshot(copy.deepcopy(sim.body))]))
    applied, _ = runtime.apply_document({}, text, lambda c: c)
    assert (applied["spring-email"].active, applied["spring-email"].exposure_percent) == (
        False, 0)
    assert sim.status["message"].startswith("treating no one under this Campaign")
    field, column = _described()
    assert "exposed now" not in field
    assert field.startswith("The exposure ramp's percent of eligible units")
    assert "A spec the operator refused keeps it while the runtime treats no one" in field
    assert "InvalidSpec" in field and "SettingsDelivered is False" in field
    assert column.startswith("The exposure ramp's %") and "refused spec" in column
