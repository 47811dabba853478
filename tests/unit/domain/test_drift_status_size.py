"""The drift gate's memory in ``status.gates[].sequentialState`` stays well under etcd's limit.

etcd refuses an object over 1.5 MiB, so a status patch past it would fail at every pass. Before
``DRIFT_MEMORY_BUDGET`` one drift gate on the schema's widest spec (1024 features of 256 bins,
128-character names) wrote 1.9 MiB of memory; the worst case is built here through
``evaluate_gate`` and ``assess``, for 16 drift gates (the most a spec lists) of both kinds.
Then the verdicts where the budget bites: a feature past it does not bet, and still fails on
drift by its confidence set's lower bound.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from annotated_types import MaxLen
from pydantic import BaseModel

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignStatus, ExposureSpec
from uplift_operator.api.v1alpha1.common import (
    MAX_STATE_COUNTS,
    GateSpecBase,
    GateStatus,
    GateVerdict,
    SequentialStateStatus,
    StatusBase,
)
from uplift_operator.api.v1alpha1.upliftmodel import (
    FeatureSpec,
    ModelGate,
    RolloutSpec,
    UpliftModelSpec,
    UpliftModelStatus,
)
from uplift_operator.domain import gates
from uplift_operator.domain.gates import (
    DRIFT_MEMORY_BUDGET,
    assess,
    evaluate_gate,
    memory_of,
    next_step,
)
from uplift_operator.domain.measurements import DriftMeasurement, FeatureHistogram
from uplift_operator.stats.results import SequentialState

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
KIB = 1024
#: etcd's default object limit (--max-request-bytes).
ETCD_OBJECT = 3 * 2**20 // 2
#: The bound this file states for a whole status of 16 drift gates on the widest spec: each
#: gate's memory within the budget (48 KiB) plus at most 2 KiB of the rest of a GateStatus
#: (its message is at most 1024 characters).
STATUS_BOUND = 16 * (DRIFT_MEMORY_BUDGET + 2 * KIB)
#: Counts of 11 digits: 10^11 rows in one bin since the canary started, the most the budget's
#: estimate allows for.
BIG = 10**11 - 10**6


def max_length(model: type[BaseModel], name: str) -> int:
    return next(m.max_length for m in model.model_fields[name].metadata if isinstance(m, MaxLen))


def size(value: Any) -> int:
    """Bytes of ``value`` as JSON (ASCII-escaped: at least its UTF-8 length)."""
    return len(json.dumps(value, separators=(",", ":")))


def wire_memory(status: GateStatus) -> dict[str, Any]:
    return {key: state.to_wire() for key, state in status.sequential_state.items()}


def feature_names(count: int, length: int) -> list[str]:
    return [f"f{i:04d}".ljust(length, "x") for i in range(count)]


# -- the budget against the schema -------------------------------------------------------------


def test_sixteen_drift_gates_budgets_take_at_most_half_of_etcds_object_limit() -> None:
    """The budget's derivation holds against the schema: if a kind lists more gates, it must
    shrink."""
    most_gates = max(max_length(RolloutSpec, "gates"), max_length(ExposureSpec, "gates"),
                     max_length(StatusBase, "gates"))
    assert most_gates == 16
    assert most_gates * DRIFT_MEMORY_BUDGET <= ETCD_OBJECT // 2
    assert STATUS_BOUND <= 800 * KIB < ETCD_OBJECT


def test_the_longest_drift_state_fits_the_budgets_estimate() -> None:
    """A feature's state at its longest (10-digit looks, 24-character floats, 256 counts of 11
    digits, a 128-character name) as it goes to the API server, within the estimate the
    budget is spent by."""
    name = "x" * max_length(FeatureSpec, "name")
    longest = -1.2345678901234567e-300
    assert len(repr(longest)) == 24
    state = SequentialState(looks=10**10 - 1, p_pass=longest, p_fail=longest,
                            carried_log_fail=longest, log_fail=longest,
                            counts=(10**11 - 1,) * MAX_STATE_COUNTS)
    wire = SequentialStateStatus.model_validate(state.to_dict()).to_wire()
    assert {"looks", "pPass", "pFail", "carriedLogFail", "logFail", "counts"} <= set(wire)
    entry = size({"drift:" + name: wire}) - 2 + 1  # in a map: without its braces, with a comma
    assert entry <= gates._drift_state_bytes(name, MAX_STATE_COUNTS)
    assert entry > gates._drift_state_bytes(name, MAX_STATE_COUNTS) - 100  # not loose either


# -- the worst case, through evaluate_gate and assess ------------------------------------------


def widest_measurements(names: list[str], bins: int, looks: int) -> list[DriftMeasurement]:
    """``looks`` measurements of every feature in ``names``: the live rows drift from the
    reference (so each bet is placed and logFail kept), 11-digit counts."""
    reference = (1000,) * bins
    tilt = np.linspace(1.0, 5.0, bins)  # PSI ≈ 0.17 against the flat reference
    out = []
    for look in range(1, looks + 1):
        live = tuple(int(c) for c in np.round((BIG - (looks - look) * 10**8) * tilt / 5.0))
        out.append(DriftMeasurement({name: FeatureHistogram(reference, live) for name in names}))
    return out


def judged_at_three_looks(specs: list[GateSpecBase],
                          measurements: list[DriftMeasurement]) -> list[GateStatus]:
    """Every gate's status after the looks, the second at a step since passed (the first bets
    at the second look: so evidence is carried too, carriedLogFail beside logFail)."""
    statuses: list[GateStatus | None] = [None] * len(specs)
    for look, measured in enumerate(measurements):
        for i, spec in enumerate(specs):
            out = evaluate_gate(spec, measured, memory_of(statuses[i], spec), NOW)
            status = assess(spec, statuses[i], out)
            statuses[i] = next_step(status) if look == 1 else status
    return [s for s in statuses if s is not None]


@pytest.fixture
def cheap_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The confidence sets take 30 ms a feature at 256 bins (a minute and a half a look here)
    and keep nothing in the memory: replaced by wide ones (every verdict Inconclusive unless a
    bet shows drift). The betting, which fills the memory, is the gate's own."""
    monkeypatch.setattr(gates, "psi_bounds", lambda *_, **__: (0.05, 0.0, 1.0))


@pytest.mark.usefixtures("cheap_bounds")
@pytest.mark.parametrize("bins", [10, MAX_STATE_COUNTS, 1025])
@pytest.mark.parametrize(("gate_type", "status_type"), [(ModelGate, UpliftModelStatus),
                                                        (CampaignGate, CampaignStatus)])
def test_sixteen_drift_gates_on_the_widest_spec_stay_under_the_stated_bound(
        bins: int, gate_type: type[GateSpecBase], status_type: type[StatusBase]) -> None:
    """1024 features (``spec.features``' limit) of 128-character names, of 10 bins (numeric),
    256 (the most that bet) or 1025 (a categorical of 1024 categories, never bet on), under 16
    drift gates on every feature: each gate's memory within ``DRIFT_MEMORY_BUDGET``, the whole
    status within ``STATUS_BOUND`` (800 KiB, about half of etcd's 1.5 MiB)."""
    names = feature_names(max_length(UpliftModelSpec, "features"), max_length(FeatureSpec, "name"))
    assert bins <= max_length(FeatureSpec, "categories") + 1
    specs = [gate_type.model_validate({"name": f"drift-{i:02d}".ljust(63, "x"), "type": "drift"})
             for i in range(16)]
    statuses = judged_at_three_looks(specs, widest_measurements(names, bins, looks=3))

    for status in statuses:
        memory = wire_memory(status)
        assert size(memory) <= DRIFT_MEMORY_BUDGET
        assert size(status.to_wire()) <= DRIFT_MEMORY_BUDGET + 2 * KIB
    whole = status_type(gates=statuses).to_wire()
    assert size(whole) <= STATUS_BOUND
    memory = wire_memory(statuses[0])
    if bins > MAX_STATE_COUNTS:
        assert memory == {}  # never bet on: no state at all
        return
    # The budget bites, on the features first by name; each of those bets with its counts.
    kept = sorted(key.removeprefix("drift:") for key in memory)
    assert 0 < len(kept) < len(names) and kept == names[:len(kept)]
    assert all(len(state["counts"]) == bins and "logFail" in state and "carriedLogFail" in state
               for state in memory.values())
    # Without the budget, one gate's memory alone would be what this measures per feature.
    unbounded = size(memory) / len(kept) * len(names)
    assert unbounded > (ETCD_OBJECT if bins == MAX_STATE_COUNTS else 16 * ETCD_OBJECT // 100)


@pytest.mark.usefixtures("cheap_bounds")
def test_a_gate_listing_its_features_spends_the_budget_in_its_order() -> None:
    names = feature_names(max_length(GateSpecBase, "features"), max_length(FeatureSpec, "name"))
    listed = names[::-1]
    spec = ModelGate.model_validate({"name": "d", "type": "drift", "features": listed})
    status = judged_at_three_looks([spec], widest_measurements(names, MAX_STATE_COUNTS, 3))[0]
    kept = [key.removeprefix("drift:") for key in wire_memory(status)]
    assert 0 < len(kept) < len(listed) and sorted(kept) == sorted(listed[:len(kept)])
    assert size(wire_memory(status)) <= DRIFT_MEMORY_BUDGET


# -- verdicts where the budget bites -----------------------------------------------------------


def budget_for(names: list[str], bins: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget that fits exactly the features ``names`` (seven would otherwise all fit)."""
    monkeypatch.setattr(gates, "DRIFT_MEMORY_BUDGET",
                        sum(gates._drift_state_bytes(n, bins) for n in names))


SHARES = np.full(10, 0.1)
DRIFTED = np.exp(0.9 * np.linspace(-1, 1, 10)) / np.exp(0.9 * np.linspace(-1, 1, 10)).sum()
REFERENCE = tuple(int(x) for x in np.round(SHARES * 50_000))
FEATURES = [f"f{i}" for i in range(7)]


def first_decision(drifted: str, seed: int) -> tuple[gates.GateOutcome, GateStatus]:
    """Looks of 25 rows on seven 10-bin features, ``drifted`` at PSI ≈ 0.28, until the gate
    decides; the memory carried through the status as the operator does."""
    rng = np.random.default_rng(seed)
    live = {name: np.zeros(10, dtype=np.int64) for name in FEATURES}
    spec = ModelGate.model_validate({"name": "d", "type": "drift"})
    status: GateStatus | None = None
    outcome = None
    for _ in range(400):
        for name in FEATURES:
            live[name] += rng.multinomial(25, DRIFTED if name == drifted else SHARES)
        measured = DriftMeasurement({name: FeatureHistogram(REFERENCE, tuple(int(c) for c in live[name]))
                                     for name in FEATURES})
        outcome = evaluate_gate(spec, measured, memory_of(status, spec), NOW)
        status = assess(spec, status, outcome)
        if outcome.verdict is not GateVerdict.INCONCLUSIVE:
            return outcome, status
    raise AssertionError(f"no decision: {outcome.message if outcome else ''}")


def test_a_drifted_feature_past_the_budget_still_fails_by_its_lower_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    budget_for(FEATURES[:2], 10, monkeypatch)
    # Within the budget (f0 bets): shown by the betting evidence, the set still below max.
    betting, status = first_decision("f0", seed=21)
    assert betting.verdict is GateVerdict.FAIL and "f0: PSI" in betting.message
    assert "betting evidence" in betting.message and (betting.lower or 0) < 0.1
    assert set(status.sequential_state) == {"drift:f0", "drift:f1"}
    # Past it (f6 does not bet): shown later, by its confidence set's lower bound above max.
    alone, status = first_decision("f6", seed=21)
    assert alone.verdict is GateVerdict.FAIL and "f6: PSI" in alone.message
    assert "lower bound" in alone.message and (alone.lower or 0) > 0.1
    assert (alone.samples or 0) > (betting.samples or 0)
    assert set(status.sequential_state) == {"drift:f0", "drift:f1"}


def test_features_past_the_budget_still_pass_without_drift(
        monkeypatch: pytest.MonkeyPatch) -> None:
    budget_for(FEATURES[:2], 10, monkeypatch)
    spec = ModelGate.model_validate({"name": "d", "type": "drift"})
    rows = 3 * gates.drift_design_samples(0.1, 10, 0.05, features=7)
    rng = np.random.default_rng(5)
    measured = DriftMeasurement({name: FeatureHistogram(
        REFERENCE, tuple(int(c) for c in rng.multinomial(rows, SHARES))) for name in FEATURES})
    early = evaluate_gate(spec, DriftMeasurement({name: FeatureHistogram(
        REFERENCE, tuple(int(c) for c in rng.multinomial(50, SHARES))) for name in FEATURES}),
        None, NOW)
    assert early.verdict is GateVerdict.INCONCLUSIVE
    assert "5 of 7 features by their bounds alone" in early.message
    out = evaluate_gate(spec, measured, early.memory, NOW)
    assert out.verdict is GateVerdict.PASS and set(out.memory) == {"drift:f0", "drift:f1"}


def test_evidence_kept_for_a_feature_past_the_budget_is_dropped_not_acted_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A status written before the budget may hold a feature's evidence that no longer fits:
    its test stops (dropped), which can only lose power; it neither fails the gate nor stays."""
    budget_for(FEATURES[:2], 10, monkeypatch)
    spec = ModelGate.model_validate({"name": "d", "type": "drift"})
    measured = DriftMeasurement({name: FeatureHistogram(REFERENCE, REFERENCE)
                                 for name in FEATURES})
    memory = {"drift:f6": SequentialState(looks=9, log_fail=30.0, p_fail=1e-13,
                                          counts=REFERENCE)}
    out = evaluate_gate(spec, measured, memory, NOW)
    assert out.verdict is not GateVerdict.FAIL
    assert set(out.memory) == {"drift:f0", "drift:f1"}
    # Listed first, f6 is within the budget: the same evidence fails the gate.
    listed = ModelGate.model_validate({"name": "d", "type": "drift",
                                       "features": ["f6", *FEATURES[:6]]})
    kept = evaluate_gate(listed, measured, memory, NOW)
    assert kept.verdict is GateVerdict.FAIL and "f6: PSI" in kept.message
    assert set(kept.memory) == {"drift:f6", "drift:f0"}
