"""The latency gate's comparison with the stable where its slow thresholds run out of histogram
or its stable p95 is missing for a look (docs/statistics.md §8, the latency rows).

* An absolute margin (seconds on top of the stable's p95): Pass shows the canary's share above
  the bucket at or above the stable's p95 + margin below the stable's share above its p95; Fail
  shows harm beyond zero, the canary's share above the stable's own threshold above the
  stable's, as a relative margin's does. Before, both sides read the canary above the
  p95 + margin bucket: past the histogram's largest finite bucket that is +Inf, the canary's slow
  count was 0 by construction and any canary passed as soon as the stable had slow requests;
  and below it, a canary slower than the stable but within the margin could never fail.
* A threshold that no request can be above (+Inf) leaves the comparison Inconclusive, saying
  which buckets the histogram has; harm beyond the stable's p95 is still tested.
* Once the slow threshold is frozen, a look whose stable p95 is missing (the template's p95
  over the last interval is NaN after a quiet minute) is judged on the bucket counts since the
  step started, which are all there; before, it was Inconclusive ("no stable p95 from ≥ 100
  requests" next to 12,000 stable requests) and counted towards inconclusiveLimit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import pytest
from tests.unit.domain.test_gates import BOUNDS, FAST, SLOW, gate, histogram, lat

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import LatencyMeasurement
from uplift_operator.runtime.metrics import LATENCY_BUCKETS

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
P, INC, F = GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.FAIL

# Shares per bucket of BOUNDS (0.05, 0.1, 0.2, 0.5, +Inf); FAST's p95 bucket is 0.1 s.
ALL_PAST_TOP = (0.0, 0.0, 0.0, 0.0, 1.0)  # every request slower than 0.5 s
WITHIN_MARGIN = (0.45, 0.48, 0.06, 0.01, 0.0)  # 7 % above 0.1 s (stable 5 %), 1 % above 0.2 s


def _looks(g: object, canary: tuple[float, ...], stable: tuple[float, ...] = FAST,
           looks: int = 4, per_look: int = 12_500) -> list[tuple[GateVerdict, str]]:
    """The gate over ``looks`` analyses of a step, the counts growing, memory carried."""
    memory = None
    out = []
    for look in range(1, looks + 1):
        n = per_look * look
        result = evaluate_gate(g, lat(canary, n, stable, n), memory, NOW)  # type: ignore[arg-type]
        memory = result.memory
        out.append((result.verdict, result.message))
    return out


# (id, margin in seconds, canary, last verdict, what the last message says)
ABSOLUTE = [
    # The canary's threshold 0.1 + 0.6 s is past the 0.5 s bucket: a canary slower than every
    # bucket used to Pass on its 0 slow requests.
    ("past the top, much slower canary", 0.6, ALL_PAST_TOP, F,
     "harm shown: requests slower than 0.1s ratio > 1"),
    ("past the top, equal canary", 0.6, FAST, INC,
     "above the histogram's largest finite bucket (0.5s of le 0.05, 0.1, 0.2, 0.5)"),
    # Within the histogram: an equal canary passes as before, on the canary's own threshold.
    ("equal canary", 0.1, FAST, P,
     "canary requests slower than 0.2s (the stable's p95 0.1s + margin 0.1s, at a bucket)"),
    # Slower than the stable beyond zero, within the margin: harm beyond zero fails it, as a
    # relative margin's would; before, only harm beyond the margin could.
    ("slower within the margin", 0.1, WITHIN_MARGIN, F,
     "harm shown: requests slower than 0.1s ratio > 1"),
    ("much slower canary", 0.1, SLOW, F, "harm shown: requests slower than 0.1s ratio > 1"),
]


@pytest.mark.parametrize(("margin", "canary", "verdict", "says"),
                         [row[1:] for row in ABSOLUTE], ids=[row[0] for row in ABSOLUTE])
def test_an_absolute_latency_margin(margin: float, canary: tuple[float, ...],
                                    verdict: GateVerdict, says: str) -> None:
    looks = _looks(gate("latency", marginType="absolute", margin=margin), canary)
    last, message = looks[-1]
    assert last is verdict, message
    assert says in message
    if verdict is not P:  # never a Pass on the way
        assert all(v is not P for v, _ in looks), looks


def test_an_unmeasurable_threshold_is_inconclusive_even_with_max() -> None:
    # max alone would pass this canary; the comparison the gate also asks for cannot.
    g = gate("latency", marginType="absolute", margin=0.6, max=0.5)
    verdict, message = _looks(g, FAST)[-1]
    assert verdict is INC
    assert "so the comparison with the stable cannot pass" in message
    assert "harm (requests slower than 0.1s ratio > 1) not shown yet" in message


def test_the_runtime_buckets_past_a_one_second_stable_p95() -> None:
    """The repro on the runtime's own buckets: the stable's p95 in (1, 2.5] s, an absolute
    margin of 0.1 s, every canary request slower than 2.5 s. Before: Pass at the first look."""
    bounds = (*LATENCY_BUCKETS, math.inf)
    g = gate("latency", marginType="absolute", margin=0.1)
    zeros = (0,) * (len(bounds) - 3)
    memory = None
    verdicts: list[GateVerdict] = []
    for look in range(1, 4):
        n = 2000 * look
        stable = (*zeros, int(0.9 * n), int(0.98 * n), n)  # p95 in (1.0, 2.5]
        slow = LatencyMeasurement(2.5, n, 1.75, n, bucket_bounds=bounds,
                                  canary_buckets=(*zeros, 0, 0, n), stable_buckets=stable)
        out = evaluate_gate(g, slow, memory, NOW)
        memory = out.memory
        verdicts.append(out.verdict)
        # An equal canary: its threshold 2.6 s has no bucket, so never a Pass.
        equal = replace(slow, canary_buckets=stable)
        alike = evaluate_gate(g, equal, None, NOW)
        assert alike.verdict is INC and "largest finite bucket (2.5s" in alike.message
    assert verdicts == [F, F, F]


def test_a_stable_p95_past_the_top_bucket_is_no_threshold() -> None:
    # 10 % of the stable's requests are slower than 0.5 s: its p95 is past the top finite
    # bucket, so "slower than it" counts no request on either side. Before: a Pass on the
    # canary's p95 "within the stable's (inf s)", whatever the canary.
    stable = (0.5, 0.2, 0.1, 0.1, 0.1)
    m = LatencyMeasurement(0.7, 20_000, 0.7, 20_000, bucket_bounds=BOUNDS,
                           canary_buckets=histogram(20_000, ALL_PAST_TOP),
                           stable_buckets=histogram(20_000, stable))
    out = evaluate_gate(gate("latency"), m, None, NOW)
    assert out.verdict is INC, out.message
    assert "the stable's p95 (0.7s) is above the histogram's largest finite bucket" in out.message


# -- the stable's p95 missing for a look ---------------------------------------------------------

# (id, canary, the stable's p95 at the second look, its requests, verdict, what it says)
FROZEN = [
    ("equal canary, p95 missing", FAST, None, 12_000, P,
     "threshold 0.1s, from its bucket counts): requests slower than 0.1s ratio < 1.2 shown"),
    ("slow canary, p95 missing", SLOW, None, 12_000, F, "harm shown"),
    ("equal canary, p95 there", FAST, 0.1, 12_000, P, "vs stable 0.1s: requests slower"),
    # Too few stable requests to compare with still holds, threshold or not.
    ("p95 missing, below minSamples", FAST, None, 99, INC,
     "no stable p95 from ≥ 100 requests (only 99)"),
]


@pytest.mark.parametrize(("canary", "p95", "stable_n", "verdict", "says"),
                         [row[1:] for row in FROZEN], ids=[row[0] for row in FROZEN])
def test_a_frozen_threshold_needs_no_stable_p95(canary: tuple[float, ...], p95: float | None,
                                                stable_n: int, verdict: GateVerdict,
                                                says: str) -> None:
    g = gate("latency")
    first = evaluate_gate(g, lat(canary, 30_000, FAST, 30_000), None, NOW)
    assert first.memory["slowRatio"].reference == pytest.approx(0.1)
    second = replace(lat(canary, 60_000, FAST, stable_n), stable_p95_seconds=p95)
    out = evaluate_gate(g, second, first.memory, NOW)
    assert out.verdict is verdict, out.message
    assert says in out.message


def test_no_frozen_threshold_and_no_stable_p95_freezes_from_the_bucket_counts() -> None:
    # The template's p95 over the last interval is NaN whenever that interval holds fewer than
    # two scrapes (an analysisInterval at or below the scrape interval: every look). Before,
    # the comparison then never ran: Inconclusive without max, and with one a Pass on max
    # alone, a canary 4 × slower than the stable included.
    m = replace(lat(FAST, 30_000, FAST, 30_000), stable_p95_seconds=None)
    out = evaluate_gate(gate("latency"), m, None, NOW)
    assert out.verdict is P, out.message
    assert out.memory["slowRatio"].reference == pytest.approx(0.1)
    slow = replace(lat(SLOW, 30_000, FAST, 30_000), stable_p95_seconds=None)
    harmed = evaluate_gate(gate("latency", max=0.5), slow, None, NOW)
    assert harmed.verdict is F, harmed.message
    assert "requests slower than 0.1s ratio > 1" in harmed.message


def test_the_threshold_is_frozen_from_the_bucket_counts_not_the_p95_given() -> None:
    # A p95 from another window (the template's last interval) does not move the threshold:
    # the stable's counts since the step started put its p95 in the 0.1 s bucket.
    m = replace(lat(FAST, 30_000, FAST, 30_000), stable_p95_seconds=0.3)
    out = evaluate_gate(gate("latency"), m, None, NOW)
    assert out.memory["slowRatio"].reference == pytest.approx(0.1), out.message
