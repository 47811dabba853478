"""The demo's scenarios and its UpliftModel, in one table to re-tune.

Each model scenario registers a new version of ``hillstrom-uplift``, moves the ``champion`` alias
to it and lets the operator decide; each campaign scenario applies the Campaign ``spring-email``
on the serving version and has the simulator name it (``parameters.campaign``) while the
scenario runs, then deletes it. The simulator's ground truth makes the right decision known in
advance (``expect``). Ramp and gate settings are at demo speed (seconds) and are printed on
screen. Change numbers here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uplift_operator.devenv.demo_models import Recipe

MODEL = "hillstrom-uplift"
NAMESPACE = "demo"
CAMPAIGN = "spring-email"
UNIT_KEY = "customer_id"
RATE = 120.0                 # customers per second (one request each) through the router
ATTRIBUTION_WINDOW = 8.0     # seconds: outcomes are reported within this
MEAN_CONVERSION_DELAY = 2.0  # seconds, exponential, capped a second before the window closes
SCENARIO_TIMEOUT = 420.0     # seconds to wait for the operator's decision

STABLE_RECIPE = Recipe(learner="t", base="logistic", sample=16000, seed=42)

RAMP: dict[str, Any] = {
    "analysisInterval": "3s",
    "progressDeadline": "3m",
    "steps": [{"weight": 30, "pause": "15s"}, {"weight": 60, "pause": "15s"}],
    # At 120 customers/s, showing the 60 % step's split within ±4 % (the default) would hold the
    # promotion a median 24 s (p90 57 s) past the pause; ±10 % is shown within one analysis.
    "splitTolerance": 0.1,
    "gates": [
        {"name": "errors", "type": "errorRate", "max": 0.01, "minSamples": 100},
        # PSI ≤ 0.25 ("no significant shift"): its upper bound gets there in ~1,300 canary rows
        # (~45 s at 30 %); the default 0.1 needs ~2,400, and the whole ramp waited on it.
        {"name": "drift", "type": "drift", "max": 0.25, "minSamples": 300},
        {"name": "qini", "type": "qini", "treatments": ["womens-e-mail"], "margin": 0.5,
         "marginType": "relative"},
        {"name": "online-effect", "type": "onlineEffect", "margin": 0.02, "minSamples": 300,
         "expectedSamples": 2000},
    ],
}


#: The demo Campaign's exposure ramp, at demo speed. deliveryRate's floor is 0.9, so a 50 %
#: delivery failure is shown in a few dozen treated units; the budget gate reads the spend of
#: the current ``budgetPeriod``.
EXPOSURE: dict[str, Any] = {
    "analysisInterval": "3s",
    "progressDeadline": "3m",
    "steps": [{"percent": 20, "pause": "10s"}, {"percent": 50, "pause": "10s"},
              {"percent": 100, "pause": "10s"}],
    "gates": [
        {"name": "delivery", "type": "deliveryRate", "min": 0.9, "minSamples": 50,
         "reportDelay": "3s"},
        {"name": "incremental", "type": "incrementalConversions"},
        {"name": "budget", "type": "budget"},
    ],
}
#: Each e-mail costs 0.25 (a binary fraction: a period's spend adds up to its budget exactly).
COST_PER_EMAIL = 0.25


@dataclass(frozen=True)
class CampaignBudget:
    """The campaign's ``economics.budget`` and ``budgetPeriod``."""

    amount: float
    period: str


def campaign(budget: CampaignBudget) -> dict[str, Any]:
    """The demo's Campaign on the demo model: the sample's shape at demo speed."""
    return {
        "apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
        "metadata": {"name": CAMPAIGN, "namespace": NAMESPACE},
        "spec": {
            "modelRef": {"name": MODEL},
            "treatments": [{"name": "womens-e-mail"}, {"name": "mens-e-mail"}],
            "economics": {"valuePerConversion": 10.0, "costPerTreatment": COST_PER_EMAIL,
                          "currency": "USD", "budget": budget.amount,
                          "budgetPeriod": budget.period},
            "targeting": {"policy": "costAware"},
            "experiment": {"holdoutFraction": 0.1, "unitKey": UNIT_KEY, "salt": "spring-demo",
                           "attributionWindow": f"{ATTRIBUTION_WINDOW:g}s"},
            "exposure": EXPOSURE,
            "rollback": {"mode": "Automatic"},
        },
    }


#: Added to the gates for the ``latency`` scenario only: with no slow request on either side
#: the gate cannot show the canary is no slower, so it would hold every other scenario's ramp.
LATENCY_GATE: dict[str, Any] = {"name": "latency", "type": "latency",
                                "templateRef": "seldon-latency-p95", "max": 0.25,
                                "minSamples": 50}


def upliftmodel(extra_gates: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """The demo's UpliftModel: the sample's model at demo speed."""
    return {
        "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
        "metadata": {"name": MODEL, "namespace": NAMESPACE},
        "spec": {
            "model": {"registeredModel": MODEL, "alias": "champion", "aliasRefreshInterval": "1s",
                      "promotionAlias": "production"},
            "treatments": [{"name": "mens-e-mail"}, {"name": "womens-e-mail"}],
            # The simulator reports every outcome within the window (a conversion after a
            # mean 2 s), so the onlineEffect gate compares each step's decisions 8 s after it.
            "experiment": {"holdoutFraction": 0.3, "unitKey": UNIT_KEY, "salt": "demo",
                           "attributionWindow": f"{ATTRIBUTION_WINDOW:g}s"},
            "rollout": {**RAMP, "gates": [*RAMP["gates"], *extra_gates]},
            "rollback": {"mode": "Automatic"},
        },
    }


@dataclass(frozen=True)
class Scenario:
    """A new version and how it behaves online; ``expect`` is the right decision."""

    name: str
    title: str
    expect: str                       # "Promoted" or "RolledBack"
    expect_gate: str | None = None    # the gate that must name the rollback
    recipe: Recipe = field(default_factory=lambda: Recipe(params=(("C", 0.5),)))
    # × conversion probability of treated rows it decides, against the stable's 1.0 at the
    # scenario's start (``multipliers``)
    multiplier: float = 1.0
    latency: float = 0.0              # seconds its pods add to every request
    drift: bool = False               # arriving customers shift while it is the canary
    extra_gates: tuple[dict[str, Any], ...] = ()
    needs: str = ""                   # why it cannot run yet
    # Campaign scenarios: the Campaign's budget (None: a model scenario), the share of its
    # deliveries the simulator reports as failed, and whether to wait for the next period.
    budget: CampaignBudget | None = None
    delivery_failure: float = 0.0
    until_renewed: bool = False


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("promote", "a better version 2 (treated customers convert ×1.4 online) ramps to 100 %",
             "Promoted", multiplier=1.4),
    Scenario("harm", "the new version converts worse online (×0.5 on treated customers): "
             "rolled back by the online-effect gate", "RolledBack", "online-effect",
             multiplier=0.5),
    Scenario("drift", "arriving customers shift (recent, high-spending, web only): "
             "rolled back by the drift gate", "RolledBack", "drift", drift=True),
    Scenario("latency", "the new version's pods answer 400 ms slower: rolled back by the "
             "latency gate", "RolledBack", "latency", latency=0.4, extra_gates=(LATENCY_GATE,)),
    Scenario("offline", "the new version was fitted with the women's e-mail and control "
             "swapped: its Qini fails the offline gate before any traffic", "RolledBack", "qini",
             recipe=Recipe(swap_labels="Womens E-Mail")),
    Scenario("delivery-failure", "Campaign spring-email: half its e-mails fail to deliver "
             "(delivery rate 0.5 against min 0.9): exposure back to 0 %, Degraded, by the "
             "delivery gate", "RolledBack", "delivery", delivery_failure=0.5,
             budget=CampaignBudget(100_000, "1h")),
    Scenario("budget", "Campaign spring-email: 5 USD a 30 s period (20 e-mails) runs out in "
             "seconds: exposure 0 %, Suspended (BudgetExhausted), the step's exposure again "
             "when the period rolls over", "Suspended", "budget",
             budget=CampaignBudget(5, "30s"), until_renewed=True),
)}
DEFAULT = ("promote", "harm")


def versions(names: list[str] | tuple[str, ...]) -> list[tuple[Recipe, str]]:
    """The new model versions the scenarios ``names`` register, one per distinct recipe, each
    labelled with the scenarios that use it (the Campaign scenarios register none)."""
    users: dict[Recipe, list[str]] = {}
    for name in names:
        scenario = SCENARIOS[name]
        if scenario.budget is None and not scenario.needs and name not in users.get(
                scenario.recipe, []):
            users.setdefault(scenario.recipe, []).append(name)
    return [(recipe, f"new version ({', '.join(used)})") for recipe, used in users.items()]


def multipliers(scenario: Scenario, version: str | None) -> dict[str, float]:
    """The simulator's ground-truth multipliers (``CustomerSimulator.multipliers``) while
    ``scenario`` runs: its new ``version`` (None: a Campaign scenario registers none) gets the
    scenario's; every other version, the serving stable one included, converts as the data says
    (1.0). So each scenario compares against a stable at 1.0 whatever came before: a version
    promoted at ×1.4 that kept it would make the next scenario's canary look worse than its own
    multiplier says (a ``drift`` or ``latency`` canary at 1.0 failing ``online-effect`` first)."""
    return {} if version is None else {version: scenario.multiplier}


def drift_mask(frame: Any) -> Any:
    """Who arrives in the ``drift`` scenario: a shifted population (not the training mix)."""
    return ((frame["recency"] <= 3) & (frame["history"] > 300)
            & (frame["channel"] == "Web")).to_numpy()


def settings_lines() -> list[str]:
    """The demo-speed settings, as shown on screen."""
    steps = " → ".join(f"{s['weight']} % for {s['pause']}" for s in RAMP["steps"])
    gates = ", ".join(g["name"] for g in RAMP["gates"])
    return [f"ramp: {steps} → 100 %; analysis every {RAMP['analysisInterval']} "
            f"(a real one: minutes to hours)",
            f"gates: {gates} (+ latency in its scenario); drift PSI ≤ 0.25; online effect margin "
            "0.02, holdout 30 %",
            f"customers: {RATE:.0f}/s replayed from Hillstrom; outcomes within "
            f"{ATTRIBUTION_WINDOW:.0f} s (mean delay {MEAN_CONVERSION_DELAY:.0f} s)",
            f"campaign {CAMPAIGN} (its scenarios): exposure "
            + " → ".join(f"{s['percent']} % for {s['pause']}" for s in EXPOSURE["steps"])
            + f"; gates {', '.join(g['name'] for g in EXPOSURE['gates'])} (delivery ≥ 0.9); "
            f"{COST_PER_EMAIL:g} USD an e-mail; attribution window {ATTRIBUTION_WINDOW:g} s"]
