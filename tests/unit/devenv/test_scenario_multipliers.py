"""The ground truth's multipliers are relative to the serving stable at each scenario's start: a
version promoted at ×1.4 used to keep it as the stable, so every later scenario's canary was
measured against a "better" stable (a ``drift`` canary at ×1.0 then looked harmful)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from uplift_operator.devenv import demo, demo_models, scenarios

SCENARIOS = scenarios.SCENARIOS


def test_only_the_new_version_has_a_multiplier() -> None:
    assert scenarios.multipliers(SCENARIOS["promote"], "2") == {"2": 1.4}
    assert scenarios.multipliers(SCENARIOS["harm"], "3") == {"3": 0.5}
    assert scenarios.multipliers(SCENARIOS["drift"], "4") == {"4": 1.0}
    assert scenarios.multipliers(SCENARIOS["budget"], None) == {}


class _Sim:
    def __init__(self) -> None:
        self.multipliers: dict[str, float] = {}
        self.frame = None
        self.campaign: str | None = None
        self.delivery_failure = 0.0

    def set_population(self, mask: Any) -> None:
        pass

    def drain_deliveries(self, campaign: str) -> bool:
        return True


def _stack(tmp_path: Path, decided: dict[str, str]) -> Any:
    """A stack whose operator decides each registered version at once (``decided``)."""
    sim = _Sim()
    registered: list[str] = []
    state: dict[str, Any] = {"status": {}}

    def upliftmodel() -> dict[str, Any]:
        version = registered[-1]
        action = decided[version]
        state["status"] = {"stableVersion": version if action == "Promoted" else "1",
                           "history": [{"version": version, "action": action,
                                        "reason": "gate online-effect Fail: worse"}]}
        return state

    stack = SimpleNamespace(
        simulator=sim, data=tmp_path / "h.csv", delays={}, mlflow=SimpleNamespace(url="x"),
        models=SimpleNamespace(fit=lambda *a: object()), check_alive=lambda: None,
        recorder=SimpleNamespace(mark=lambda label: None), upliftmodel=upliftmodel,
        apply_upliftmodel=lambda *a: None, apply_campaign=lambda budget: None,
        delete_campaign=lambda: None, wait_campaign_served=lambda: 0.1,
        campaign=lambda: {"status": {"history": [{"action": "RolledBack",
                                                  "reason": "gate delivery Fail"}],
                                     "phase": "Degraded"}})
    stack.registered = registered
    return stack


@pytest.fixture(autouse=True)
def _no_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    client = SimpleNamespace(set_registered_model_alias=lambda *a: None)
    monkeypatch.setitem(sys.modules, "mlflow", SimpleNamespace(MlflowClient=lambda **k: client))


def test_after_a_promotion_the_new_stable_converts_as_the_data_says(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stack = _stack(tmp_path, {"2": "Promoted", "3": "RolledBack"})
    seen: list[dict[str, float]] = []

    registered: list[str] = stack.registered

    def register(*args: Any, **kwargs: Any) -> str:
        registered.append(str(len(registered) + 2))
        return registered[-1]

    def check_alive() -> None:  # called while the scenario waits for the decision
        seen.append(dict(stack.simulator.multipliers))

    monkeypatch.setattr(demo_models, "register", register)
    stack.check_alive = check_alive

    promote = demo.run_scenario(stack, SCENARIOS["promote"], timeout=5)
    assert promote.decision == "Promoted" and seen[-1] == {"2": 1.4}
    harm = demo.run_scenario(stack, SCENARIOS["harm"], timeout=5)
    assert harm.decision == "RolledBack"
    assert seen[-1] == {"3": 0.5}  # v2, now stable, at 1.0: no longer ×1.4

    demo.run_scenario(stack, SCENARIOS["delivery-failure"], timeout=5)
    assert stack.simulator.multipliers == {}  # the Campaign's serving version as the data says
