"""Series created by decisions under a campaign of the file that treats no one.

A campaign that is inactive, at exposure 0 or past its end exports no series at zero, and
its counters go a window after it stopped (``_forget_idle``). Clients that still name it are
answered (every row ``unexposed``), and those decisions create its ``rows_scored``,
``assignments`` and ``campaign_decisions`` series again; idle removal was armed only for a
campaign whose series were at zero, so those stayed for the life of the process (the
review's idle.py). A decision under such a campaign now arms its removal, a few scrapes on,
as a report of it does. The harness is ``test_runtime_idle_campaign_series``'s.
"""

from __future__ import annotations

import time

from tests.unit.runtime.test_runtime_idle_campaign_series import (
    FIRST,
    GAUGES,
    WINDOW,
    Loaded,
    _entry,
    loaded,
    model,
)

from uplift_operator.runtime.runtime import FORGET_AFTER_SECONDS

__all__ = ["loaded", "model"]   # the fixtures, used by name


def test_decisions_under_a_campaign_that_treats_no_one_have_their_series_removed(
        loaded: Loaded) -> None:
    runtime = loaded.runtime
    assert loaded.series("held") == GAUGES
    assert set(loaded.decide("held", ["h-1", "h-2"])) == {"unexposed"}
    made = loaded.series("held")
    assert {"uplift_rows_scored_total", "uplift_campaign_decisions_total"} <= made
    now = time.time()
    runtime._campaign_tick(now + FORGET_AFTER_SECONDS - 10)   # read by a few scrapes first
    assert loaded.series("held") == made
    runtime._campaign_tick(now + FORGET_AFTER_SECONDS + 10)
    assert loaded.series("held") == GAUGES
    assert "held" not in runtime._idle and "held" not in runtime._zeros_out
    # And a decision after that creates them again: removed again.
    loaded.decide("held", ["h-3"])
    assert "uplift_rows_scored_total" in loaded.series("held")
    runtime._campaign_tick(time.time() + 2 * FORGET_AFTER_SECONDS)
    assert loaded.series("held") == GAUGES


def test_decisions_after_a_stopped_campaigns_counters_went_have_them_removed_again(
        loaded: Loaded) -> None:
    """The review's idle.py: a campaign rolled back to exposure 0 loses its counters a window
    later; a client still naming it creates them again."""
    runtime, t0 = loaded.runtime, time.time()
    loaded.decide("treating", [f"t-{i}" for i in range(4)])
    loaded.publish({**FIRST, "treating": _entry(exposurePercent=0, generation=2)}, t0)
    later = t0 + WINDOW + FORGET_AFTER_SECONDS + 5
    runtime._campaign_tick(later)
    runtime._campaign_tick(later + 2 * FORGET_AFTER_SECONDS)
    assert loaded.series("treating") == GAUGES
    assert set(loaded.decide("treating", ["t-9"])) == {"unexposed"}
    assert "uplift_rows_scored_total" in loaded.series("treating")
    for dt in (3600, 86400, 10 * 86400):
        runtime._campaign_tick(later + dt)
    assert loaded.series("treating") == GAUGES


def test_a_campaign_that_may_treat_keeps_its_series(loaded: Loaded) -> None:
    runtime = loaded.runtime
    loaded.decide("treating", ["k-1", "k-2"])
    assert "treating" not in runtime._idle
    kept = loaded.series("treating")
    runtime._campaign_tick(time.time() + 10 * (WINDOW + FORGET_AFTER_SECONDS))
    assert loaded.series("treating") == kept
