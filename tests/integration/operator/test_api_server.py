"""The API server itself enforces the schema and CEL rules generated from the typed models."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, wait_established
from tests.support.mutations import DELETE, Mutation, all_of, set_path

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
CAMPAIGN = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())


# (kind sample, mutation, substrings the API server's message must contain)
INVALID: list[tuple[str, dict[str, Any], Mutation, list[str]]] = [
    ("no-rollout", MODEL, set_path("spec.rollout", DELETE), ["spec.rollout", "Required value"]),
    ("version-and-alias", MODEL, set_path("spec.model.version", "3"),
     ["spec.model", "set exactly one of version or alias"]),
    ("neither-version-nor-alias", MODEL, set_path("spec.model.alias", DELETE),
     ["spec.model", "set exactly one of version or alias"]),
    ("weights-decreasing", MODEL,
     set_path("spec.rollout.steps", [{"weight": 50}, {"weight": 25}]),
     ["spec.rollout.steps", "strictly increasing"]),
    ("weights-duplicate", MODEL, set_path("spec.rollout.steps", [{"weight": 10}, {"weight": 10}]),
     ["spec.rollout.steps", "strictly increasing"]),
    ("weight-zero", MODEL, set_path("spec.rollout.steps.0.weight", 0),
     ["spec.rollout.steps[0].weight", "greater than 0"]),
    ("weight-over-100", MODEL, set_path("spec.rollout.steps.2.weight", 150),
     ["spec.rollout.steps[2].weight", "less than or equal to 100"]),
    ("no-gates", MODEL, set_path("spec.rollout.gates", []), ["spec.rollout.gates", "at least 1"]),
    ("holdout-one", MODEL, set_path("spec.experiment.holdoutFraction", 1.0),
     ["spec.experiment.holdoutFraction", "less than 1"]),
    ("holdout-zero", MODEL, set_path("spec.experiment.holdoutFraction", 0),
     ["spec.experiment.holdoutFraction", "greater than 0"]),
    ("malformed-duration", MODEL, set_path("spec.rollout.analysisInterval", "5 minutes"),
     ["spec.rollout.analysisInterval", "should match"]),
    ("unknown-gate-type", MODEL, set_path("spec.rollout.gates.0.type", "accuracy"),
     ["spec.rollout.gates[0].type", "Unsupported value"]),
    ("custom-without-query", MODEL,
     set_path("spec.rollout.gates.0", {"name": "c", "type": "custom", "max": 1}),
     ["spec.rollout.gates[0]", "a custom gate needs a query or a templateRef"]),
    ("custom-without-threshold", MODEL,
     set_path("spec.rollout.gates.0", {"name": "c", "type": "custom", "query": "up"}),
     ["spec.rollout.gates[0]", "need a min or a max"]),
    ("min-above-max", MODEL, set_path("spec.rollout.gates.0.min", 1.0),
     ["spec.rollout.gates[0]", "min must not exceed max"]),
    ("duplicate-gate-names", MODEL, set_path("spec.rollout.gates.1.name", "latency"),
     ["spec.rollout.gates", "gates[].name must be unique"]),
    ("duplicate-treatments", MODEL, set_path("spec.treatments.1.name", "mens-e-mail"),
     ["spec.treatments", "treatments[].name must be unique"]),
    ("no-treatments", MODEL, set_path("spec.treatments", []), ["spec.treatments", "at least 1"]),
    ("replicas-zero", MODEL, set_path("spec.serving.replicas", 0),
     ["spec.serving.replicas", "greater than or equal to 1"]),
    ("cpu-request-above-limit", MODEL,
     set_path("spec.serving.resources", {"requests": {"cpu": 2}, "limits": {"cpu": "1"}}),
     ["spec.serving.resources.requests.cpu", "requests.cpu must not exceed limits.cpu"]),
    ("memory-request-above-limit", MODEL,
     set_path("spec.serving.resources", {"requests": {"memory": "1Gi"},
                                         "limits": {"memory": "1G"}}),
     ["spec.serving.resources.requests.memory", "requests.memory must not exceed"]),
    ("ephemeral-storage-request-above-limit", MODEL,
     set_path("spec.serving.resources", {"requests": {"ephemeral-storage": "2Gi"},
                                         "limits": {"ephemeral-storage": "1Gi"}}),
     ["spec.serving.resources.requests.ephemeral-storage",
      "requests.ephemeral-storage must not exceed"]),
    ("version-not-a-number", MODEL,
     lambda b: b["spec"].update(model={"registeredModel": "m", "version": "latest"}),
     ["spec.model.version", "should match"]),
    ("half-credentials", MODEL,
     set_path("spec.model.credentials", {"name": "mlflow", "usernameKey": "user"}),
     ["spec.model.credentials", "usernameKey and passwordKey must be set together"]),
    ("categories-on-numeric", MODEL, set_path("spec.features.0.categories", ["a"]),
     ["spec.features[0]", "categories are only allowed on categorical features"]),
    ("negative-cost", CAMPAIGN, set_path("spec.economics.costPerTreatment", -0.1),
     ["spec.economics.costPerTreatment", "greater than or equal to 0"]),
    ("schedule-reversed", CAMPAIGN,
     set_path("spec.schedule", {"start": "2026-12-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
     ["spec.schedule", "schedule.end must be after schedule.start"]),
    ("campaign-holdout-over-one", CAMPAIGN, set_path("spec.experiment.holdoutFraction", 1.5),
     ["spec.experiment.holdoutFraction", "less than 1"]),
    ("exposure-decreasing", CAMPAIGN,
     set_path("spec.exposure.steps", [{"percent": 50}, {"percent": 5}]),
     ["spec.exposure.steps", "strictly increasing"]),
    ("threshold-policy-without-min", CAMPAIGN, set_path("spec.targeting", {"policy": "upliftThreshold"}),
     ["spec.targeting", "policy upliftThreshold needs minUplift"]),
    ("min-uplift-under-cost-aware", CAMPAIGN,
     set_path("spec.targeting", {"policy": "costAware", "minUplift": 0.3}),
     ["spec.targeting.minUplift", "minUplift applies to the upliftThreshold policy only"]),
    ("top-fraction-without-a-policy", CAMPAIGN, set_path("spec.targeting", {"topFraction": 0.2}),
     ["spec.targeting.topFraction", "topFraction applies to the topFraction policy only"]),
    ("campaign-no-gates", CAMPAIGN, set_path("spec.exposure.gates", []),
     ["spec.exposure.gates", "at least 1"]),
    ("budget-gate-without-a-budget", CAMPAIGN,
     all_of(set_path("spec.exposure.gates", [{"name": "b", "type": "budget"}]),
            set_path("spec.economics.budget", DELETE)),
     ["spec.exposure.gates", "a budget gate needs spec.economics.budget"]),
    ("report-delay-on-a-budget-gate", CAMPAIGN,
     set_path("spec.exposure.gates", [{"name": "b", "type": "budget", "reportDelay": "1m"}]),
     ["spec.exposure.gates[0].reportDelay", "reportDelay applies to deliveryRate gates only"]),
    ("features-on-a-qini-gate", MODEL, set_path("spec.rollout.gates.3.features", ["recency"]),
     ["spec.rollout.gates[3].features", "features applies to drift gates only"]),
    ("max-on-a-roi-gate", CAMPAIGN,
     set_path("spec.exposure.gates", [{"name": "r", "type": "roi", "max": 5}]),
     ["spec.exposure.gates[0].max", "max applies to drift and custom gates only"]),
    ("bad-currency", CAMPAIGN, set_path("spec.economics.currency", "dollars"),
     ["spec.economics.currency", "should match"]),
    ("split-tolerance-over-half", MODEL, set_path("spec.rollout.splitTolerance", 0.6),
     ["spec.rollout.splitTolerance", "less than or equal to 0.5"]),
    ("campaign-split-tolerance-negative", CAMPAIGN, set_path("spec.exposure.splitTolerance", -0.1),
     ["spec.exposure.splitTolerance", "greater than or equal to 0"]),
    # Durations no pass could add to a time, gate bounds no evaluator can judge, names the
    # serving graph or the runtime cannot carry (review "odd input" findings 1-4).
    ("pause-past-the-bound", MODEL, set_path("spec.rollout.steps.0.pause", "1000000000d"),
     ["spec.rollout.steps[0].pause", "must be at most 36600d (100 years"]),
    ("scale-down-delay-past-the-bound", MODEL,
     set_path("spec.rollback", {"scaleDownDelay": "3000000d"}),
     ["spec.rollback.scaleDownDelay", "must be at most 36600d"]),
    ("progress-deadline-in-hours-past-the-bound", MODEL,
     set_path("spec.rollout.progressDeadline", "878401h"),
     ["spec.rollout.progressDeadline", "must be at most 36600d"]),
    ("budget-period-past-the-bound", CAMPAIGN,
     set_path("spec.economics.budgetPeriod", "99999999999h"),
     ["spec.economics.budgetPeriod", "must be at most 36600d"]),
    ("report-delay-past-the-bound", CAMPAIGN,
     set_path("spec.exposure.gates.0.reportDelay", "36601d"),
     ["spec.exposure.gates[0].reportDelay", "must be at most 36600d"]),
    ("window-past-the-runtimes-bound", CAMPAIGN,
     set_path("spec.experiment.attributionWindow", "3661d"),
     ["spec.experiment.attributionWindow", "must be at most 3660d (10 years, the runtime's"]),
    ("model-window-past-the-runtimes-bound", MODEL,
     set_path("spec.experiment.attributionWindow", "87841h"),
     ["spec.experiment.attributionWindow", "must be at most 3660d"]),
    ("error-rate-max-zero", MODEL,
     set_path("spec.rollout.gates.1", {"name": "errors", "type": "errorRate", "max": 0}),
     ["spec.rollout.gates[1].max", "an errorRate gate's max is a share of requests"]),
    ("error-rate-max-one", MODEL,
     set_path("spec.rollout.gates.1", {"name": "errors", "type": "errorRate", "max": 1}),
     ["spec.rollout.gates[1].max", "above 0 and below 1"]),
    ("uplift-sanity-empty-band", MODEL,
     set_path("spec.rollout.gates.5", {"name": "sanity", "type": "upliftSanity", "min": 0.5,
                                       "max": 0.5}),
     ["spec.rollout.gates[5]", "an upliftSanity gate's band needs min below max"]),
    ("uplift-sanity-min-above-the-default-max", MODEL,
     set_path("spec.rollout.gates.5", {"name": "sanity", "type": "upliftSanity", "min": 2}),
     ["spec.rollout.gates[5]", "needs min below max (absent: min -1, max 1"]),
    ("delivery-rate-min-one", CAMPAIGN, set_path("spec.exposure.gates.0.min", 1),
     ["spec.exposure.gates[0].min", "a deliveryRate gate's min is a share"]),
    ("delivery-rate-min-zero", CAMPAIGN, set_path("spec.exposure.gates.0.min", 0),
     ["spec.exposure.gates[0].min", "above 0 and below 1"]),
    ("roi-worth-nothing", CAMPAIGN, set_path("spec.economics.valuePerConversion", 0),
     ["spec.economics.valuePerConversion", "a roi gate needs a value per conversion above 0"]),
    ("roi-treatment-worth-nothing", CAMPAIGN, set_path("spec.treatments.0.valuePerConversion", 0),
     ["spec.treatments", "a roi gate needs a value per conversion above 0"]),
    ("roi-judging-a-treatment-worth-nothing", CAMPAIGN, all_of(
        set_path("spec.treatments.1.valuePerConversion", 0),
        set_path("spec.exposure.gates.2.treatments", ["mens-e-mail"])),
     ["spec.treatments", "for each treatment it judges"]),
    ("roi-of-a-treatment-left-to-the-economics-worth-nothing", CAMPAIGN, all_of(
        set_path("spec.economics.valuePerConversion", 0),
        set_path("spec.treatments.1.valuePerConversion", 50),
        set_path("spec.exposure.gates.2.treatments", ["womens-e-mail"])),
     ["spec.economics.valuePerConversion", "a roi gate needs a value per conversion above 0"]),
    ("roi-of-free-treatments", CAMPAIGN, all_of(
        set_path("spec.economics.costPerTreatment", 0),
        set_path("spec.treatments.1.costPerTreatment", 0)),
     ["spec.exposure.gates", "a roi gate needs a treatment it judges (its treatments, else all) "
                             "that costs more than 0"]),
    ("roi-judging-only-a-free-treatment", CAMPAIGN, all_of(
        set_path("spec.economics.costPerTreatment", 0),
        set_path("spec.exposure.gates.2.treatments", ["womens-e-mail"])),
     ["spec.exposure.gates", "a roi gate needs a treatment it judges"]),
    # A gate naming a treatment the campaign does not send is refused as that, a roi gate's
    # too (not as free treatments: test_a_roi_gate_naming_an_unknown_treatment_is_refused_as_such).
    ("gate-judging-an-unknown-treatment", CAMPAIGN,
     set_path("spec.exposure.gates.1.treatments", ["womens-e-mail", "no-such-treatment"]),
     ["spec.exposure.gates", "a gate's treatments must be treatments of spec.treatments"]),
    ("campaign-salt-of-the-version-split", CAMPAIGN, set_path("spec.experiment.salt", "router"),
     ["spec.experiment.salt", "salt must not be 'router', the salt of the version split"]),
    ("model-name-with-a-dot", MODEL, set_path("metadata.name", "churn.v2"),
     ["metadata.name must be a DNS-1035 label", "no '.'"]),
    ("model-name-with-a-leading-digit", MODEL, set_path("metadata.name", "1churn"),
     ["metadata.name must be a DNS-1035 label", "starting with a letter"]),
    ("model-name-of-64-characters", MODEL, set_path("metadata.name", "m" * 64),
     ["metadata.name must be a DNS-1035 label: at most 63 characters"]),
    ("campaign-name-with-a-dot", CAMPAIGN, set_path("metadata.name", "spring.email"),
     ["metadata.name must be a DNS label", "the serving runtime knows a campaign by it"]),
    ("campaign-name-of-64-characters", CAMPAIGN, set_path("metadata.name", "c" * 64),
     ["metadata.name must be a DNS label: at most 63 characters"]),
    ("blank-salt", CAMPAIGN, set_path("spec.experiment.salt", "  "),
     ["spec.experiment.salt", "salt must not be blank"]),
    ("blank-unit-key", CAMPAIGN, set_path("spec.experiment.unitKey", "\t\u3000"),
     ["spec.experiment.unitKey", "unitKey must not be blank"]),
    ("model-blank-salt", MODEL, set_path("spec.experiment.salt", " "),
     ["spec.experiment.salt", "salt must not be blank"]),
    ("model-blank-unit-key", MODEL, set_path("spec.experiment.unitKey", "\u3000"),
     ["spec.experiment.unitKey", "unitKey must not be blank"]),
    # What the operator refused (InvalidSpec: a Campaign treating no one) though it needs no
    # context: an edit the API server took stopped a live Campaign (review-campaign
    # interval_edit_stops.py). The operator still refuses it of an object stored before.
    ("pause-shorter-than-the-interval", MODEL, set_path("spec.rollout.steps.0.pause", "10s"),
     ["spec.rollout.steps", "steps[].pause must be at least analysisInterval"]),
    ("interval-below-a-second", MODEL, set_path("spec.rollout.analysisInterval", "500ms"),
     ["spec.rollout.analysisInterval", "analysisInterval must be at least 1s"]),
    ("alias-refresh-below-a-second", MODEL, set_path("spec.model.aliasRefreshInterval", "100ms"),
     ["spec.model.aliasRefreshInterval", "aliasRefreshInterval must be at least 1s"]),
    # Alias names MLflow reserves: its write of the promotion alias would be refused for good
    # at the first promotion; an alias v3 never exists to follow.
    ("promotion-alias-latest", MODEL, set_path("spec.model.promotionAlias", "Latest"),
     ["spec.model.promotionAlias", "must not be 'latest' (in any case): MLflow reserves"]),
    ("promotion-alias-a-version", MODEL, set_path("spec.model.promotionAlias", "v2"),
     ["spec.model.promotionAlias", "must not be v<number> (e.g. v3): MLflow reserves"]),
    ("followed-alias-a-version", MODEL, set_path("spec.model.alias", "V3"),
     ["spec.model.alias", "must not be v<number> (e.g. v3): MLflow reserves"]),
    ("interval-raised-past-a-pause", CAMPAIGN, set_path("spec.exposure.analysisInterval", "2h"),
     ["spec.exposure.steps", "steps[].pause must be at least analysisInterval"]),
    ("pause-under-the-default-interval", CAMPAIGN, all_of(
        set_path("spec.exposure.analysisInterval", DELETE),
        set_path("spec.exposure.steps.0.pause", "4m59s")),
     ["spec.exposure.steps", "steps[].pause must be at least analysisInterval"]),
    ("campaign-interval-below-a-second", CAMPAIGN,
     set_path("spec.exposure.analysisInterval", "999ms"),
     ["spec.exposure.analysisInterval", "analysisInterval must be at least 1s"]),
    ("budget-period-below-a-second", CAMPAIGN, set_path("spec.economics.budgetPeriod", "500ms"),
     ["spec.economics.budgetPeriod", "budgetPeriod must be at least 1s"]),
    ("window-below-a-second", CAMPAIGN, set_path("spec.experiment.attributionWindow", "0.5s"),
     ["spec.experiment.attributionWindow", "attributionWindow must be at least 1s"]),
    ("budget-below-the-cheapest-treatment", CAMPAIGN, set_path("spec.economics.budget", 0.05),
     ["spec.economics.budget", "must pay for one treatment at least"]),
    # What a budget gate never reads (a counted spend against the budget: no error level, no
    # samples, a Fail that suspends), as other types' unread fields.
    ("alpha-on-a-budget-gate", CAMPAIGN, set_path("spec.exposure.gates.4.alpha", 0.1),
     ["spec.exposure.gates[4].alpha",
      "alpha applies to deliveryRate, incrementalConversions, roi and drift gates only"]),
    ("alpha-on-a-model-custom-gate", MODEL, set_path("spec.rollout.gates.0", {
        "name": "c", "type": "custom", "query": "up", "max": 1, "alpha": 0.1}),
     ["spec.rollout.gates[0].alpha", "alpha applies to latency, errorRate, drift, qini, "
      "onlineEffect and upliftSanity gates only"]),
    ("limits-on-a-budget-gate", CAMPAIGN, set_path("spec.exposure.gates.4", {
        "name": "budget", "type": "budget", "minSamples": 10, "failureLimit": 1,
        "inconclusiveLimit": 2}),
     ["spec.exposure.gates[4].minSamples", "spec.exposure.gates[4].failureLimit",
      "spec.exposure.gates[4].inconclusiveLimit",
      "inconclusiveLimit applies to deliveryRate, incrementalConversions, roi, drift and "
      "custom gates only"]),
    # Bounds the evaluators could never judge (tests/unit/api/test_gate_bound_rules.py): a Fail
    # at the first look (a PSI or a p95 at or below 0), a difference of two rates at |1|.
    ("drift-max-zero", MODEL, set_path("spec.rollout.gates.2.max", 0),
     ["spec.rollout.gates[2].max", "a drift gate's max is a PSI bound: it must be above 0"]),
    ("latency-max-below-zero", MODEL, set_path("spec.rollout.gates.0.max", -0.05),
     ["spec.rollout.gates[0].max", "a latency gate's max is a p95 in seconds: it must be above 0"]),
    ("campaign-drift-max-zero", CAMPAIGN, set_path("spec.exposure.gates.3.max", 0.0),
     ["spec.exposure.gates[3].max", "a drift gate's max is a PSI bound: it must be above 0"]),
    ("incremental-conversions-min-one", CAMPAIGN, set_path("spec.exposure.gates.1.min", 1),
     ["spec.exposure.gates[1].min", "an incrementalConversions gate's min is a difference of two "
      "conversion rates"]),
    ("incremental-conversions-min-minus-one", CAMPAIGN,
     set_path("spec.exposure.gates.1.min", -1.0),
     ["spec.exposure.gates[1].min", "an incrementalConversions gate's min is a difference of two "
      "conversion rates"]),
    ("last-step-at-100-with-an-online-effect-gate", MODEL, all_of(
        set_path("spec.rollout.steps", [{"weight": 10, "pause": "5m"}, {"weight": 100}]),
        set_path("spec.rollout.gates.1.dryRun", True)),
     ["spec.rollout", "a last step at weight 100 leaves the stable version no traffic"]),
]


@pytest.mark.parametrize(("base", "mutate", "expected"),
                         [pytest.param(b, m, e, id=i) for i, b, m, e in INVALID])
def test_invalid_resource_is_refused_naming_the_field(
        admin: Kubectl, namespace: str, base: dict[str, Any], mutate: Mutation,
        expected: list[str]) -> None:
    body = copy.deepcopy(base)
    mutate(body)
    result = admin.run("create", "--dry-run=server", "-n", namespace, "-f", "-",
                       input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0, f"accepted:\n{yaml.safe_dump(body)}"
    for text in expected:
        assert text in result.stderr, result.stderr


@pytest.mark.parametrize("named", [["no-such-treatment"], ["womens-e-mail", "no-such-treatment"]])
def test_a_roi_gate_naming_an_unknown_treatment_is_refused_as_such(
        admin: Kubectl, namespace: str, named: list[str]) -> None:
    """Not with the free-treatments message (ROI_COST): the cost rule applies only to a roi gate
    whose every treatment is the campaign's; womens-e-mail is free here, so with the unknown
    name left out the cost rule would refuse it."""
    body = copy.deepcopy(CAMPAIGN)
    all_of(set_path("spec.economics.costPerTreatment", 0),
           set_path("spec.exposure.gates.2.treatments", named))(body)
    result = admin.run("create", "--dry-run=server", "-n", namespace, "-f", "-",
                       input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0, f"accepted:\n{yaml.safe_dump(body)}"
    assert "a gate's treatments must be treatments of spec.treatments" in result.stderr
    assert "costs more than 0" not in result.stderr, result.stderr


def test_at_least_fifteen_distinct_invalid_cases() -> None:
    assert len({name for name, *_ in INVALID}) >= 15


# What the new bounds still take: each at its bound, or the edge the runtime accepts.
AT_THE_BOUNDS: list[tuple[str, dict[str, Any], Mutation]] = [
    ("pause-of-100-years", MODEL, set_path("spec.rollout.steps.2.pause", "36600d")),
    ("request-equal-to-its-limit", MODEL,
     set_path("spec.serving.resources", {"requests": {"cpu": 2, "memory": "1G"},
                                         "limits": {"cpu": "2000m", "memory": "1Gi"}})),
    ("deadline-of-100-years-in-hours", MODEL, set_path("spec.rollout.progressDeadline", "878400h")),
    ("window-of-10-years", CAMPAIGN, set_path("spec.experiment.attributionWindow", "3660d")),
    ("error-rate-max-near-one", MODEL,
     set_path("spec.rollout.gates.1", {"name": "errors", "type": "errorRate", "max": 0.999})),
    ("uplift-sanity-band-above-the-mean", MODEL,
     set_path("spec.rollout.gates.5", {"name": "sanity", "type": "upliftSanity", "min": 0.5})),
    ("delivery-rate-min-near-one", CAMPAIGN, set_path("spec.exposure.gates.0.min", 0.999)),
    ("value-zero-without-a-roi-gate", CAMPAIGN, all_of(
        set_path("spec.economics.valuePerConversion", 0),
        set_path("spec.exposure.gates", [{"name": "delivery", "type": "deliveryRate"}]))),
    ("roi-judging-a-paid-treatment-beside-a-free-one", CAMPAIGN, all_of(
        set_path("spec.economics.costPerTreatment", 0),
        set_path("spec.exposure.gates.2.treatments", ["mens-e-mail"]))),
    ("free-treatments-without-a-roi-gate", CAMPAIGN, all_of(
        set_path("spec.economics.costPerTreatment", 0),
        set_path("spec.treatments.1.costPerTreatment", 0),
        set_path("spec.exposure.gates", [{"name": "inc", "type": "incrementalConversions"}]))),
    # A margin of 1 or more is fine where it is absolute: onlineEffect's default type, or written.
    ("online-effect-margin-above-one", MODEL, set_path("spec.rollout.gates.4.margin", 1.5)),
    ("absolute-error-rate-margin-above-one", MODEL, all_of(
        set_path("spec.rollout.gates.1.margin", 2.0),
        set_path("spec.rollout.gates.1.marginType", "absolute"))),
    ("model-name-of-63-characters", MODEL, set_path("metadata.name", "m" * 63)),
    ("campaign-name-with-a-leading-digit", CAMPAIGN, set_path("metadata.name", "1spring")),
    ("empty-salt-meaning-the-default", CAMPAIGN, set_path("spec.experiment.salt", "")),
    ("salt-with-spaces-around-text", CAMPAIGN, set_path("spec.experiment.salt", " spring ")),
    # policy absent is costAware: the targeting rules read it guarded (CEL: no such key).
    ("targeting-without-a-policy", CAMPAIGN, set_path("spec.targeting", {"maxTreatmentsPerUnit": 2})),
    # Values no roi gate reads (review-campaign cel_roi_value.py): the economics' when every
    # treatment overrides it, a treatment the gate leaves out.
    ("economics-value-zero-under-every-override", CAMPAIGN, all_of(
        set_path("spec.economics.valuePerConversion", 0),
        set_path("spec.treatments.0.valuePerConversion", 50),
        set_path("spec.treatments.1.valuePerConversion", 40))),
    ("a-treatment-the-roi-gate-leaves-out-worth-nothing", CAMPAIGN, all_of(
        set_path("spec.treatments.1.valuePerConversion", 0),
        set_path("spec.exposure.gates.2.treatments", ["womens-e-mail"]))),
    # Pauses and intervals at their least, summed over parts; no pause at all.
    ("pause-equal-to-the-interval", CAMPAIGN, set_path("spec.exposure.steps.0.pause", "5m")),
    ("pause-in-parts-equal-to-the-interval", MODEL, all_of(
        set_path("spec.rollout.analysisInterval", "90s"),
        set_path("spec.rollout.steps.0.pause", "1m30s"))),
    ("pause-at-the-default-interval", CAMPAIGN, all_of(
        set_path("spec.exposure.analysisInterval", DELETE),
        set_path("spec.exposure.steps.0.pause", "300s"))),
    ("interval-of-one-second-in-milliseconds", MODEL,
     set_path("spec.rollout.analysisInterval", "1000ms")),
    ("durations-of-one-second", CAMPAIGN, all_of(
        set_path("spec.exposure.analysisInterval", "1s"),
        set_path("spec.economics.budgetPeriod", "1s"),
        set_path("spec.experiment.attributionWindow", "1s"))),
    ("steps-without-pauses", MODEL, set_path("spec.rollout.steps", [{"weight": 10},
                                                                    {"weight": 50}])),
    ("budget-of-the-cheapest-treatment", CAMPAIGN, set_path("spec.economics.budget", 0.1)),
    ("what-a-budget-gate-reads", CAMPAIGN, set_path("spec.exposure.gates.4", {
        "name": "budget", "type": "budget", "dryRun": True, "consecutiveErrorLimit": 2})),
    # Bounds just inside the gate-bound rules, and a dryRun gate beyond them: it acts on
    # nothing (its Fail holds and rolls back nothing), so the rules leave it be.
    ("drift-max-just-above-zero", MODEL, set_path("spec.rollout.gates.2.max", 0.001)),
    ("incremental-conversions-min-near-one", CAMPAIGN, set_path("spec.exposure.gates.1.min", 0.99)),
    ("dry-run-drift-max-zero", MODEL, all_of(set_path("spec.rollout.gates.2.max", 0),
                                             set_path("spec.rollout.gates.2.dryRun", True))),
    ("dry-run-latency-max-below-zero", MODEL, all_of(
        set_path("spec.rollout.gates.0.max", -1.0), set_path("spec.rollout.gates.0.dryRun", True))),
    ("dry-run-campaign-drift-max-zero", CAMPAIGN, all_of(
        set_path("spec.exposure.gates.3.max", 0.0), set_path("spec.exposure.gates.3.dryRun", True))),
    ("dry-run-incremental-conversions-min-one", CAMPAIGN, all_of(
        set_path("spec.exposure.gates.1.min", 1), set_path("spec.exposure.gates.1.dryRun", True))),
    # A last step at 100 with the gates that need the stable's traffic (errorRate without max,
    # onlineEffect) dryRun: they hold no step.
    ("last-step-at-100-with-dry-run-comparative-gates", MODEL, all_of(
        set_path("spec.rollout.steps", [{"weight": 10, "pause": "5m"}, {"weight": 100}]),
        set_path("spec.rollout.gates.1.dryRun", True),
        set_path("spec.rollout.gates.4.dryRun", True))),
]


@pytest.mark.parametrize(("base", "mutate"),
                         [pytest.param(b, m, id=i) for i, b, m in AT_THE_BOUNDS])
def test_values_at_the_bounds_are_accepted(admin: Kubectl, namespace: str, base: dict[str, Any],
                                           mutate: Mutation) -> None:
    body = copy.deepcopy(base)
    mutate(body)
    admin.run("create", "--dry-run=server", "-n", namespace, "-f", "-",
              input=yaml.safe_dump(body))


def test_samples_apply_and_show_printer_columns(admin: Kubectl, namespace: str) -> None:
    admin.run("apply", "-n", namespace, "-f", str(SAMPLES))
    header = admin.run("get", "upliftmodels", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "SERVING", "STEPINDEX", "AGE"]
    header = admin.run("get", "campaigns", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "MODEL", "EXPOSURE", "EFFECT", "ROI", "AGE"]
    both = admin.run("get", "upliftmodels,campaigns", "-n", namespace).stdout
    assert "upliftmodel.uplift.dev/hillstrom-uplift" in both
    assert "campaign.uplift.dev/spring-email" in both
    by_category = admin.run("get", "uplift", "-n", namespace).stdout
    assert "hillstrom-uplift" in by_category and "spring-email" in by_category
    short = admin.run("get", "um,camp", "-n", namespace).stdout
    assert "hillstrom-uplift" in short and "spring-email" in short
    wide = admin.run("get", "um", "-n", namespace, "-o", "wide").stdout.splitlines()[0]
    assert wide.split()[-1] == "MESSAGE"
    wide = admin.run("get", "camp", "-n", namespace, "-o", "wide").stdout.splitlines()[0]
    assert wide.split()[-3:] == ["SPEND", "REMAINING", "MESSAGE"]


def test_kubectl_explain_shows_descriptions(admin: Kubectl) -> None:
    rollout = admin.run("explain", "upliftmodel.spec.rollout").stdout
    assert "The canary ramp and its gates." in rollout
    assert "analysisInterval" in rollout and "How often gates are evaluated" in rollout
    holdout = admin.run("explain", "campaign.spec.experiment.holdoutFraction").stdout
    assert "Share of units never treated" in holdout
    # What a gate field does, and where it is refused, said per kind (issue #8, item 1).
    expected = " ".join(admin.run("explain", "campaign.spec.exposure.gates.expectedSamples")
                        .stdout.split())
    assert "incrementalConversions and roi, 20000 exposed units" in expected
    assert "errorRate, latency and deliveryRate use exact Beta mixtures of a fixed" in expected
    margin = " ".join(admin.run("explain", "upliftmodel.spec.rollout.gates.margin").stdout.split())
    assert "Comparative gates only (UpliftModel latency, errorRate, qini, onlineEffect)" in margin


def _gate_rules_dropped(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD as it was before the field rules: the gate items' rules without ``fieldPath``
    (gate_rules) kept, the per-field ones (field_rules) removed."""
    out = copy.deepcopy(crd)
    schema = out["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    items = schema["properties"]["spec"]["properties"]["rollout"]["properties"]["gates"]["items"]
    items["x-kubernetes-validations"] = [r for r in items["x-kubernetes-validations"]
                                         if "fieldPath" not in r]
    return out


def test_an_object_stored_before_a_field_rule_keeps_the_field_until_its_gate_is_edited(
        admin: Kubectl, namespace: str) -> None:
    """docs/lifecycle.md: the API server ratchets CEL rules, so an UpliftModel written while a
    field was silently ignored stays writable, other gates included, until that gate is edited;
    then the field must go. Checked on a copy of the generated CRD under a group of its own, so
    the shared CRD is untouched."""
    crd = yaml.safe_load((SAMPLES.parents[1] / "crds" / "upliftmodels.uplift.dev.yaml").read_text())
    # Names of its own too: kubectl resolves "upliftmodels" across groups, so a second
    # UpliftModel kind would capture the other tests' (parallel) kubectl calls.
    crd["metadata"]["name"] = "ratchetmodels.ratchet.test"
    crd["spec"]["group"] = "ratchet.test"
    crd["spec"]["names"] = {"kind": "RatchetModel", "listKind": "RatchetModelList",
                            "plural": "ratchetmodels", "singular": "ratchetmodel"}
    admin.apply(_gate_rules_dropped(crd))
    try:
        wait_established(admin, "ratchetmodels.ratchet.test")
        body = copy.deepcopy(MODEL)
        body["apiVersion"], body["kind"] = "ratchet.test/v1alpha1", "RatchetModel"
        body["spec"]["rollout"]["gates"][4]["min"] = 0.0  # onlineEffect never reads min
        admin.wait_for(lambda: admin.apply(body, namespace, check=False).returncode == 0,
                       what="the old schema to accept min on an onlineEffect gate")
        admin.apply(crd)  # the rules arrive
        admin.wait_for(lambda: "applies to qini, upliftSanity and custom gates only" in
                       admin.run("create", "--dry-run=server", "-n", namespace, "-f", "-",
                                 input=yaml.safe_dump({**body, "metadata": {"name": "new"}}),
                                 check=False).stderr, what="the new rules to be served")
        # Elsewhere in the object: the stored field passes unchanged.
        body["spec"]["rollout"]["steps"][0]["weight"] = 5
        admin.apply(body, namespace)
        # Another gate edited: gates is a list-map keyed by name, so the API server matches
        # old and new gates up and re-checks only the one that changed.
        body["spec"]["rollout"]["gates"][1]["minSamples"] = 200
        admin.apply(body, namespace)
        # The gate itself edited: now the rule applies to it, and the field must go.
        body["spec"]["rollout"]["gates"][4]["minSamples"] = 2000
        refused = admin.apply(body, namespace, check=False)
        assert refused.returncode != 0
        assert "spec.rollout.gates[4].min" in refused.stderr, refused.stderr
        del body["spec"]["rollout"]["gates"][4]["min"]
        admin.apply(body, namespace)
    finally:
        admin.run("delete", "crd", "ratchetmodels.ratchet.test", "--wait=false", check=False)


def test_the_experiment_of_a_campaign_cannot_change_once_created(
        admin: Kubectl, namespace: str) -> None:
    """holdoutFraction, unitKey and salt draw the persistent holdout (changed mid-campaign,
    treated units would move into it), attributionWindow defines the conversions measured:
    the API server refuses a change of any (transition rules)."""
    body = copy.deepcopy(CAMPAIGN)
    body["metadata"]["name"] = "holdout-draw"
    del body["spec"]["experiment"]["unitKey"]  # the default, unit_id
    del body["spec"]["experiment"]["attributionWindow"]  # the default, 14d
    admin.apply(body, namespace)
    for key, value in (("holdoutFraction", 0.2), ("unitKey", "customer_id"), ("salt", "other"),
                       ("attributionWindow", "7d")):
        changed = copy.deepcopy(body)
        changed["spec"]["experiment"][key] = value
        refused = admin.apply(changed, namespace, check=False)
        assert refused.returncode != 0, f"{key} changed"
        assert f"spec.experiment.{key}" in refused.stderr, refused.stderr
        assert "cannot change during the campaign's life" in refused.stderr, refused.stderr
    unsalted = copy.deepcopy(body)
    del unsalted["spec"]["experiment"]["salt"]
    assert admin.apply(unsalted, namespace, check=False).returncode != 0, "salt unset"
    # Naming the defaults changes nothing; the rest of the spec stays editable.
    body["spec"]["experiment"].update(unitKey="unit_id", attributionWindow="14d")
    body["spec"]["economics"]["costPerTreatment"] = 0.2
    admin.apply(body, namespace)
    stored = admin.get("campaign", "holdout-draw", namespace)["spec"]
    assert (stored["experiment"]["holdoutFraction"], stored["experiment"]["salt"],
            stored["economics"]["costPerTreatment"]) == (0.1, "spring-2026", 0.2)
    # The same window written otherwise is no change (the rule compares seconds), nor is
    # another spelling of the budget period while a budget runs.
    body["spec"]["experiment"]["attributionWindow"] = "336h"
    assert body["spec"]["economics"]["budgetPeriod"] == "7d" and body["spec"]["economics"]["budget"]
    body["spec"]["economics"]["budgetPeriod"] = "168h"
    admin.apply(body, namespace)
    assert admin.get("campaign", "holdout-draw", namespace)["spec"]["experiment"][
        "attributionWindow"] == "336h"
    # Its model's decisions are what the exposure, the evidence and the spend are about.
    moved = copy.deepcopy(body)
    moved["spec"]["modelRef"]["name"] = "another-model"
    refused = admin.apply(moved, namespace, check=False)
    assert refused.returncode != 0, "modelRef changed"
    assert "modelRef.name cannot change during the campaign's life" in refused.stderr, \
        refused.stderr


def test_the_experiment_of_an_upliftmodel_cannot_change_while_a_canary_runs(
        admin: Kubectl, namespace: str) -> None:
    """A canary's online gates compare the versions under one holdout and attribution window:
    the API server refuses a change of spec.experiment while status.canaryVersion is set (a
    rule across spec and status), and takes it between canaries. On a copy of the generated
    CRD under a group of its own, which no operator reconciles: the status here is played."""
    crd = yaml.safe_load((SAMPLES.parents[1] / "crds" / "upliftmodels.uplift.dev.yaml").read_text())
    resource = "canaryrulemodels.canaryrule.test"
    crd["metadata"]["name"] = resource
    crd["spec"]["group"] = "canaryrule.test"
    crd["spec"]["names"] = {"kind": "CanaryRuleModel", "listKind": "CanaryRuleModelList",
                            "plural": "canaryrulemodels", "singular": "canaryrulemodel"}
    admin.apply(crd)
    try:
        wait_established(admin, resource)
        name = "experiment-canary"
        body = copy.deepcopy(MODEL)
        body["apiVersion"], body["kind"] = "canaryrule.test/v1alpha1", "CanaryRuleModel"
        body["metadata"]["name"] = name
        admin.wait_for(lambda: admin.apply(body, namespace, check=False).returncode == 0,
                       what="the copied CRD to be served")
        body["spec"]["experiment"]["holdoutFraction"] = 0.2
        admin.apply(body, namespace)  # no canary yet

        def canary(version: str | None) -> None:  # the operator's status write, played here
            admin.run("patch", resource, name, "-n", namespace, "--subresource=status",
                      "--type=merge", "-p", json.dumps({"status": {"canaryVersion": version}}))

        canary("2")
        for key, value in (("holdoutFraction", 0.3), ("attributionWindow", "2h")):
            changed = copy.deepcopy(body)
            changed["spec"]["experiment"][key] = value
            refused = admin.apply(changed, namespace, check=False)
            assert refused.returncode != 0, f"{key} changed mid-canary"
            assert "spec.experiment" in refused.stderr, refused.stderr
            assert "cannot change while a canary runs" in refused.stderr, refused.stderr
        body["spec"]["serving"]["replicas"] = 3  # the rest of the spec stays editable
        admin.apply(body, namespace)
        canary(None)  # promoted or rolled back
        body["spec"]["experiment"]["holdoutFraction"] = 0.3
        admin.apply(body, namespace)
        stored = admin.get(resource, name, namespace)["spec"]
        assert (stored["experiment"]["holdoutFraction"], stored["serving"]["replicas"]) == (
            0.3, 3)
    finally:
        admin.run("delete", "crd", resource, "--wait=false", check=False)


def test_the_registered_model_of_an_upliftmodel_cannot_change_once_created(
        admin: Kubectl, namespace: str) -> None:
    """Another registered model's versions are numbered apart: a switch re-rendered the stable
    from its version of the same number, in place, with no canary, no gate and no history
    (review finding 5). The API server refuses it (a transition rule on spec.model), by apply
    and by patch alike; the rest of spec.model stays editable, trackingUri included (a
    registry's move)."""
    body = copy.deepcopy(MODEL)
    body["metadata"]["name"] = "model-identity"
    admin.apply(body, namespace)
    message = "model.registeredModel cannot change during the UpliftModel's life"
    switched = copy.deepcopy(body)
    switched["spec"]["model"]["registeredModel"] = "churn"
    refused = admin.apply(switched, namespace, check=False)
    assert refused.returncode != 0, "registeredModel changed by apply"
    assert "spec.model.registeredModel" in refused.stderr, refused.stderr
    assert message in refused.stderr, refused.stderr
    assert "create an UpliftModel under a new name" in refused.stderr, refused.stderr
    refused = admin.run("patch", "upliftmodel", "model-identity", "-n", namespace, "--type=merge",
                        "-p", json.dumps({"spec": {"model": {"registeredModel": "churn"}}}),
                        check=False)
    assert refused.returncode != 0, "registeredModel changed by patch"
    assert message in refused.stderr, refused.stderr
    # The version followed, the registry's URL (set, moved, unset) and the rest stay editable.
    body["spec"]["model"].update(alias="challenger", trackingUri="http://mlflow.old.test")
    admin.apply(body, namespace)
    body["spec"]["model"]["trackingUri"] = "https://mlflow.new.test"
    body["spec"]["serving"]["replicas"] = 2
    admin.apply(body, namespace)
    admin.run("patch", "upliftmodel", "model-identity", "-n", namespace, "--type=json", "-p",
              json.dumps([{"op": "remove", "path": "/spec/model/alias"},
                          {"op": "add", "path": "/spec/model/version", "value": "3"},
                          {"op": "remove", "path": "/spec/model/trackingUri"}]))
    stored = admin.get("upliftmodel", "model-identity", namespace)["spec"]
    assert stored["model"]["registeredModel"] == MODEL["spec"]["model"]["registeredModel"]
    assert (stored["model"].get("alias"), stored["model"]["version"],
            stored["model"].get("trackingUri"), stored["serving"]["replicas"]) == (
        None, "3", None, 2)


def _bound_rules_dropped(node: Any) -> None:
    """The CRD as it was before the bounds: no Duration rule (they measure with ``findAll``) and
    no rule on metadata.name (the only ones with ``optionalOldSelf``)."""
    if isinstance(node, dict):
        rules = node.get("x-kubernetes-validations")
        if rules is not None:
            node["x-kubernetes-validations"] = [r for r in rules if "findAll" not in r["rule"]
                                                and not r.get("optionalOldSelf")]
            if not node["x-kubernetes-validations"]:
                del node["x-kubernetes-validations"]
        for value in node.values():
            _bound_rules_dropped(value)
    elif isinstance(node, list):
        for value in node:
            _bound_rules_dropped(value)


def test_an_object_stored_before_the_bounds_keeps_its_status_writes_and_requests(
        admin: Kubectl, namespace: str) -> None:
    """docs/reliability.md: an UpliftModel stored with a name and durations the rules now
    refuse stays writable — the operator's status writes (which re-run root rules), a request
    annotation, an edit elsewhere (ratcheting; the name rule runs at creation only) — so its
    InvalidSpec can be written and an abort acted on; a new object so named is refused, and an
    edit of the field itself must bring it within bounds. On a copy of the generated CRD under
    a group of its own, so the shared CRD is untouched."""
    crd = yaml.safe_load((SAMPLES.parents[1] / "crds" / "upliftmodels.uplift.dev.yaml").read_text())
    resource = "boundmodels.bound.test"
    crd["metadata"]["name"] = resource
    crd["spec"]["group"] = "bound.test"
    crd["spec"]["names"] = {"kind": "BoundModel", "listKind": "BoundModelList",
                            "plural": "boundmodels", "singular": "boundmodel"}
    before = copy.deepcopy(crd)
    _bound_rules_dropped(before)
    admin.apply(before)
    try:
        wait_established(admin, resource)
        body = copy.deepcopy(MODEL)
        body["apiVersion"], body["kind"] = "bound.test/v1alpha1", "BoundModel"
        body["metadata"] = {"name": "churn.v2"}
        body["spec"]["rollout"]["steps"][0]["pause"] = "1000000000d"
        body["spec"]["rollback"] = {"scaleDownDelay": "3000000d"}
        admin.wait_for(lambda: admin.apply(body, namespace, check=False).returncode == 0,
                       what="the old schema to accept the name and the durations")
        admin.apply(crd)  # the rules arrive
        other = {**body, "metadata": {"name": "other.v2"}}
        admin.wait_for(lambda: "metadata.name must be a DNS-1035 label" in admin.run(
            "create", "--dry-run=server", "-n", namespace, "-f", "-",
            input=yaml.safe_dump(other), check=False).stderr, what="the new rules to be served")
        admin.run("patch", resource, "churn.v2", "-n", namespace, "--subresource=status",
                  "--type=merge", "-p", json.dumps({"status": {"phase": "Degraded"}}))
        admin.run("annotate", resource, "churn.v2", "-n", namespace, "uplift.dev/abort=now")
        admin.run("patch", resource, "churn.v2", "-n", namespace, "--type=merge",
                  "-p", json.dumps({"spec": {"serving": {"replicas": 3}}}))
        edited = admin.run("patch", resource, "churn.v2", "-n", namespace, "--type=json", "-p",
                           json.dumps([{"op": "replace", "path": "/spec/rollout/steps/0/pause",
                                        "value": "2000000000d"}]), check=False)
        assert edited.returncode != 0
        assert "spec.rollout.steps[0].pause" in edited.stderr, edited.stderr
        assert "must be at most 36600d" in edited.stderr, edited.stderr
        admin.run("patch", resource, "churn.v2", "-n", namespace, "--type=json", "-p",
                  json.dumps([{"op": "replace", "path": "/spec/rollout/steps/0/pause",
                               "value": "5m"}]))
        stored = admin.get(resource, "churn.v2", namespace)
        assert (stored["status"]["phase"], stored["spec"]["serving"]["replicas"],
                stored["spec"]["rollout"]["steps"][0]["pause"],
                stored["spec"]["rollback"]["scaleDownDelay"]) == ("Degraded", 3, "5m", "3000000d")
    finally:
        admin.run("delete", "crd", resource, "--wait=false", check=False)
