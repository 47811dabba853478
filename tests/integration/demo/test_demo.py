"""The whole loop through real runtimes: the demo's ``promote`` and ``harm`` scenarios, then its
Campaign scenarios ``delivery-failure`` and ``budget`` on the same stack.

Its own stack (``devenv.demo.DemoStack``): a real control plane with Seldon's SeldonDeployment
CRD, the operator under its own identity, a real MLflow, a real Prometheus, and the serving
agent running one real MLServer process (our runtime) per predictor behind the weighted router;
customers replayed from Hillstrom with a known ground truth. Unlike the lifecycle tests, nothing
imitates the runtime's metrics: the gates read what the real processes counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from uplift_operator.devenv import scenarios
from uplift_operator.devenv.demo import DemoStack, run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# pytest-timeout (pyproject: 600 s a test) counts the module fixture's start in whichever test
# runs first, and the waits inside are longer than that: a slow run died by pytest-timeout, with
# a thread dump instead of the operator log's tail. Each test's timeout is therefore the sum of
# the inner budgets it may spend, plus slack, so that the stack's and the scenarios' own
# timeouts always fire first, with their diagnostics.
#: The stack: MLflow's /health (600 s; the control plane starts beside it), the operator's
#: /healthz (60 s), the first scored row (180 s), and the rest (CRDs, applies, registering v1).
STACK_BUDGET = 600 + 60 + 180 + 120
#: A model scenario: its decision (SCENARIO_TIMEOUT) and fitting and registering its version.
MODEL_SCENARIO_BUDGET = scenarios.SCENARIO_TIMEOUT + 120
#: A campaign scenario (timeout 60 or 90 s here): the decision, the Campaign served (60 s),
#: deleted (30 s), and the rest.
CAMPAIGN_SCENARIO_BUDGET = 90 + 60 + 30 + 60
#: Stopping the stack, in the last test's teardown (the agent's joins, every process' grace).
STOP_BUDGET = 120


@pytest.fixture(scope="module")
def stack(hillstrom_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with DemoStack(tmp_path_factory.mktemp("demo"), hillstrom_csv, say=lambda _: None) as demo:
        demo.wait_first_scored()
        yield demo


def _why(stack: DemoStack, outcome: object) -> str:
    """The outcome (with what the operator last waited for) and the operator log's tail."""
    tail = stack.operator_log.read_text(errors="replace").splitlines()[-25:]
    return f"{outcome}\noperator log (tail):\n" + "\n".join(tail)


# The traffic-split check counts rows; the router is sticky per customer, so the simulator
# deals customers without repeats (devenv/simulator.py) to keep rows independent draws of the
# split. Quarantined until 2026-12-01 for a split-check hold when customers were drawn with
# replacement (0.2976 vs 0.3, p = 0.00023); 3 of 3 promote/harm rounds passed after.
@pytest.mark.timeout(STACK_BUDGET + 2 * MODEL_SCENARIO_BUDGET + STOP_BUDGET)
def test_promote_then_harm_through_real_runtimes(stack: DemoStack) -> None:
    promote = run_scenario(stack, scenarios.SCENARIOS["promote"], say=lambda _: None)
    assert promote.decision == "Promoted", _why(stack, promote)
    status = stack.upliftmodel()["status"]
    assert status["stableVersion"] == promote.version
    assert stack.seldon_weights() == {promote.version: 100}
    assert promote.weights_seen[-2:] == [30, 60] or promote.weights_seen == [30, 60], promote

    harm = run_scenario(stack, scenarios.SCENARIOS["harm"], say=lambda _: None)
    assert harm.decision == "RolledBack", _why(stack, harm)
    assert harm.gate == "online-effect", harm
    status = stack.upliftmodel()["status"]
    assert status["stableVersion"] == promote.version
    assert status.get("abortedVersion") == harm.version
    assert stack.seldon_weights() == {promote.version: 100}

    # The served split followed the declared weights: for every set of weights the router ran
    # with, each predictor's share of rows is within 4.5 standard errors of its weight.
    served = stack.router.served[(scenarios.NAMESPACE, scenarios.MODEL)]
    configs: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}
    for (weights, predictor), n in served.items():
        configs.setdefault(weights, {})[predictor] = n
    checked = 0
    for weights, counts in configs.items():
        total = sum(counts.values())
        weight_sum = sum(w for _, w in weights)
        if total < 500 or len(weights) < 2:
            continue
        for predictor, weight in weights:
            expected = weight / weight_sum
            error = math.sqrt(expected * (1 - expected) / total)
            share = counts.get(predictor, 0) / total
            assert abs(share - expected) <= 4.5 * error + 0.005, (weights, counts)
        checked += 1
    assert checked >= 2, f"at least the 30 % and 60 % steps carried traffic: {configs}"

    # Every row was answered by a real runtime: the simulator saw no errors.
    assert stack.simulator.tally.errors == 0, stack.simulator.tally.last_error


@pytest.mark.timeout(STACK_BUDGET + 2 * CAMPAIGN_SCENARIO_BUDGET + STOP_BUDGET)
def test_campaign_delivery_failure_then_budget_through_real_runtimes(stack: DemoStack) -> None:
    """Issue #9's acceptance through real runtimes: they score requests naming the Campaign and
    receive its delivery and outcome reports; the operator reads what they counted."""
    failure = run_scenario(stack, scenarios.SCENARIOS["delivery-failure"], say=lambda _: None,
                           timeout=60)
    assert (failure.decision, failure.gate) == ("RolledBack", "delivery"), _why(stack, failure)
    assert failure.weights_seen[0] in (0, 20) and failure.weights_seen[-1] == 0, failure
    assert failure.reason.startswith("gate delivery Fail"), failure

    budget = run_scenario(stack, scenarios.SCENARIOS["budget"], say=lambda _: None, timeout=90)
    assert (budget.decision, budget.gate) == ("Suspended", "budget"), _why(stack, budget)
    assert "budget exhausted (spent" in budget.reason and "of budget 5," in budget.reason, budget
    # Overspend, measured: one runtime process serves the campaign and stops at the budget on
    # its own; the gate sums what the processes enforced (their period-spend gauges, exact).
    spent = float(re.search(r"budget exhausted \(spent ([0-9.]+) of budget 5,",
                            budget.reason).group(1))  # type: ignore[union-attr]
    assert 4 <= spent <= 5, budget
    assert "BudgetRenewed" in budget.reason, budget  # the next period gave the step back
    assert 0 in budget.weights_seen and budget.weights_seen.count(20) >= 2, budget

    # Reports naming the campaign were accepted: no request or report was refused.
    assert stack.simulator.tally.errors == 0, stack.simulator.tally.last_error
