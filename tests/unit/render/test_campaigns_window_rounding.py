"""A fractional attribution window is rounded one way, up, for both kinds.

The runtime counts windows in whole seconds. An UpliftModel's (the version split's,
``services.campaigns_file.attribution_window_seconds``) was rounded up, a Campaign's entry
truncated (``int``): 1.5s was 2 s for the one and 1 s for the other. Both round up now: a
conversion reported within the written window is never cut off by the rounding. Both count
from the exact sum of the window's parts (``common.duration_whole_seconds``): a float sum made
1.1h 3961 s for an UpliftModel, a timedelta 3960 for a Campaign."""

from __future__ import annotations

import pytest
from tests.unit.render.test_campaigns import entry_of, spec

from uplift_operator.render import campaigns
from uplift_operator.runtime import campaigns as runtime_campaigns
from uplift_operator.services.campaigns_file import attribution_window_seconds


@pytest.mark.parametrize(("window", "seconds"), [
    ("1500ms", 2), ("1s", 1), ("1001ms", 2), ("90m", 5400), ("0.5h", 1800), ("2.25s", 3),
    # Whole seconds written with a decimal: a float sum was 3960.0000000000005 s for 1.1h
    # (3961 for the version split) while a Campaign's timedelta rounded it to 3960.
    ("1.1h", 3960), ("0.35d", 30240), ("4.1h", 14760), ("2.2m", 132), ("0.7h", 2520),
    # Under a microsecond past a whole second: a timedelta rounded it off (1 for a Campaign).
    ("1.0000001s", 2),
])
def test_a_campaign_window_is_rounded_up_as_an_upliftmodels(window: str, seconds: int) -> None:
    rendered = campaigns.entry(entry_of(spec(experiment__attributionWindow=window)))
    assert rendered["attributionWindowSeconds"] == seconds
    assert attribution_window_seconds(window) == seconds
    parsed = runtime_campaigns.parse(
        campaigns.text([entry_of(spec(experiment__attributionWindow=window))]))
    assert parsed.errors == {}, parsed.errors
