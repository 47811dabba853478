"""Campaign: a treatment that uses an UpliftModel to choose whom to treat.

The spec holds the economics (value per conversion, cost per treatment, budget), the targeting
policy, the persistent randomized holdout, the exposure ramp and its gates, and a schedule. The
status reports exposure, the incremental effect and ROI with confidence bounds, and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from uplift_operator.api.v1alpha1.common import (
    AT_MOST,
    LIST_MAP_BY_NAME,
    WINDOW_BOUND,
    ApiModel,
    AttributionWindow,
    Duration,
    EstimateStatus,
    GateSpecBase,
    GateStatus,
    Name,
    Phase,
    RampSpecBase,
    RampStatus,
    RollbackPolicyBase,
    StatusPart,
    at_least_a_second_rule,
    cel_same_length,
    cel_seconds,
    field_rules,
    gate_rules,
    name_rule,
    not_blank_rule,
    ramp_rules,
    split_tolerance_field,
    step_pause_field,
)
from uplift_operator.api.v1alpha1.upliftmodel import DRIFT_MAX, VERSION_SPLIT_SALT

__all__ = [
    "BUDGET_LEDGERS_FOLDED_MAX",
    "BUDGET_LEDGERS_MAX",
    "BUDGET_PAYS_NOTHING",
    "BUDGET_PERIOD_FIXED",
    "CAMPAIGN_NAME",
    "CAMPAIGN_NAME_PATTERN",
    "CAMPAIGN_SALT_TAKEN",
    "DELIVERY_RATE_MIN",
    "GATE_TREATMENTS_UNKNOWN",
    "ROI_COST",
    "ROI_VALUE",
    "TARGETING_FIELDS",
    "TARGETING_IGNORED",
    "BudgetLedgers",
    "BudgetUnreadable",
    "Campaign",
    "CampaignExperiment",
    "CampaignGate",
    "CampaignRollbackPolicy",
    "CampaignSpec",
    "CampaignStatus",
    "CampaignTreatment",
    "Economics",
    "ExposureSpec",
    "ExposureStep",
    "FoldedLedger",
    "ModelRef",
    "Schedule",
    "Targeting",
]


class ModelRef(ApiModel):
    """The UpliftModel (same namespace) whose scores choose whom to treat. Set once: the
    campaign's ramp, its gates' evidence and the cohorts in flight are that model's decisions
    (another model's versions are numbered apart, so a switch could not even be told from a
    promotion); the API server refuses the change (a transition rule)."""

    name: Name = Field(description="Name of an UpliftModel in the Campaign's namespace. "
                                   "Immutable.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.name == oldSelf.name",
         "message": "modelRef.name cannot change during the campaign's life: its exposure "
                    "ramp, gates and cohorts judge that model's decisions; create a Campaign "
                    "under a new name for another UpliftModel",
         "fieldPath": ".name"},
    ]})


class CampaignTreatment(ApiModel):
    """A treatment of the model that this campaign sends, with its own economics if they differ."""

    name: Name = Field(description="A treatment name of the referenced UpliftModel.")
    cost_per_treatment: float | None = Field(
        default=None, ge=0, description="Cost of one treatment; overrides economics.")
    value_per_conversion: float | None = Field(
        default=None, ge=0, description="Value of one conversion; overrides economics.")


#: Why a budget period cannot change while a budget runs: every replica counts its spend per
#: period, and a new length starts a new period at once, forgetting what the current one spent.
BUDGET_PERIOD_FIXED = (
    "budgetPeriod cannot change while spec.economics.budget is set: the replicas count the "
    "spend per period from status.budgetAnchor, and a new length would start a new period "
    "now, forgetting what the current one spent. To change it, remove budget (the campaign "
    "then has none), then set budget and budgetPeriod again: the spend is counted afresh")


#: How long a spend that cannot be read lasts before ``budgetUnreadable.action: Suspend``
#: suspends the campaign, by default. It suspends at a failed reading this long or more past
#: the first one, never on time alone: at the default ``analysisInterval`` (5m) the third
#: failed reading in a row, at a longer interval the second; so one failed query, or a
#: Prometheus restart shorter than this, suspends nothing at any interval.
BUDGET_UNREADABLE_AFTER = "10m"


class BudgetUnreadable(ApiModel):
    """What the operator does while it cannot read the campaign's spend (Prometheus down or not
    configured, the query failing, no spend series, a defect measuring it): the budget gates'
    readings are then Errors or Inconclusives, and nothing sums the replicas' spend, each
    replica stopping only at the whole budget on its own (R replicas may spend up to R times
    it)."""

    action: Literal["Hold", "Suspend"] = Field(
        default="Hold",
        description="Hold: the ramp holds (no step advances) and exposure goes on at its "
                    "percent while the spend cannot be read; a suspension already in place "
                    "(a spent budget) stays until its period rolls over. Suspend: at a reading "
                    "that fails `after` or more past status.budgetUnreadableSince (the first "
                    "reading that failed while the campaign exposed, none since showing the "
                    "spend), the campaign is suspended as a spent budget suspends it "
                    "(exposure 0 %, phase Suspended, Ready reason BudgetUnreadable, a "
                    "BudgetUnreadable Warning event, inactive in the campaigns file), its "
                    "exposure given back (a BudgetRenewed event) at the first reading that "
                    "shows the spend under the budget; one that shows it spent suspends it as "
                    "BudgetExhausted. Default: Hold.")
    after: Duration = Field(
        default=BUDGET_UNREADABLE_AFTER,
        description="Suspend only: how long the spend must have been unreadable before the "
                    "campaign is suspended, at the first reading that fails this long or more "
                    "after the first failed one (0s: at the first reading that fails), never "
                    "on time alone. The spend is read at each analysis "
                    "(spec.exposure.analysisInterval), so the suspension comes between after "
                    "and after plus one interval, or up to one settle window (2 scrape "
                    "intervals + --prometheus-query-lag) more when the analysis due then falls "
                    "within a budget period's first settle window and waits for its end: with "
                    "an interval longer than after, at the "
                    "second failed reading in a row, one failed reading suspending nothing. "
                    "Lengthened past the outage while it suspends, the exposure is given back "
                    "until a reading fails past it. Default: "
                    f"{BUDGET_UNREADABLE_AFTER}. {AT_MOST}")


class Economics(ApiModel):
    """What a conversion is worth and what a treatment costs."""

    value_per_conversion: float = Field(ge=0, description="Value of one conversion.")
    cost_per_treatment: float = Field(ge=0, description="Cost of sending one treatment.")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = Field(
        default="USD", description="ISO 4217 code, for display. Default: USD.")
    budget: float | None = Field(
        default=None, gt=0,
        description="Spend allowed per budgetPeriod when that is set, else over the whole "
                    "campaign, summed over the model's replicas. It is enforced by a budget "
                    "gate: the one in exposure.gates, else one implied (named budget, or "
                    "budget-2, budget-3, ... when a gate has that name), measured and shown in "
                    "status.gates like a declared one. Once the spend reaches it, or what is "
                    "left pays for no treatment, treatment stops (exposure 0 %, phase "
                    "Suspended) until the period rolls over or the budget is raised (the gate "
                    "passes again); a spend that cannot be read meanwhile ends nothing. A "
                    "spend that cannot be read holds the ramp while exposure goes on, each "
                    "replica stopping only at the whole budget on its own, unless "
                    "budgetUnreadable says Suspend. Periods "
                    "count from status.budgetAnchor. A declared budget gate with dryRun: true "
                    "enforces nothing: it suspends nothing, and no other is implied (each "
                    "replica still stops at the budget on its own).")
    budget_unreadable: BudgetUnreadable | None = Field(
        default=None,
        description="What a spend that cannot be read does (read only with budget, by the "
                    "budget gates that are not dryRun). Absent: Hold.")
    budget_period: Duration | None = Field(
        default=None,
        description="If set, the budget renews every period (e.g. 1d), counted from "
                    "status.budgetAnchor. Its length is fixed while budget is set (the API server "
                    "refuses a change, 1d to 24h being none: the current period's spend would "
                    "be forgotten); remove budget "
                    f"to change it. {AT_MOST}")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        # The same length written otherwise (1d, 24h) is the same period: compared in seconds.
        {"rule": "!has(oldSelf.budget) || !has(self.budget) || "
                 "has(self.budgetPeriod) == has(oldSelf.budgetPeriod) && "
                 "(!has(self.budgetPeriod) || "
                 f"{cel_same_length(cel_seconds('self.budgetPeriod'), cel_seconds('oldSelf.budgetPeriod'))})",
         "message": BUDGET_PERIOD_FIXED, "fieldPath": ".budgetPeriod"},
        # The runtime counts it in whole seconds of at least 1 (domain.validation, for one
        # stored before this rule).
        at_least_a_second_rule("budgetPeriod"),
    ]})


#: The targeting field each policy needs, the only policy that reads it (``runtime.engine``:
#: minUplift is the upliftThreshold rule's bar, topFraction sets the topFraction rule's; no
#: other policy reads either). The API server refuses a field under another policy.
TARGETING_FIELDS: dict[str, str] = {"minUplift": "upliftThreshold",
                                    "topFraction": "topFraction"}
#: ``targeting.policy`` as the rules read it: absent is the default (CEL has no schema
#: defaults here, and reading an absent field is an error, not a null).
_POLICY = "(has(self.policy) ? self.policy : 'costAware')"
#: Why a field another policy never reads is refused (the operator ignores one stored before).
TARGETING_IGNORED = "{field} applies to the {policy} policy only"


def _targeting_rules() -> list[JsonValue]:
    """Each policy's field is required under it and refused under the others (a setting that
    would change nothing is an error at apply time rather than a silent no-op). Ratcheting
    (Kubernetes >= 1.30) keeps an object stored before the refusal writable until its
    targeting is edited."""
    rules: list[JsonValue] = []
    for field, policy in TARGETING_FIELDS.items():
        rules.append({"rule": f"{_POLICY} != '{policy}' || has(self.{field})",
                      "message": f"policy {policy} needs {field}"})
    for field, policy in TARGETING_FIELDS.items():
        rules.append({"rule": f"!has(self.{field}) || {_POLICY} == '{policy}'",
                      "message": TARGETING_IGNORED.format(field=field, policy=policy),
                      "fieldPath": f".{field}"})
    return rules


class Targeting(ApiModel):
    """How model scores become treatment decisions."""

    policy: Literal["costAware", "upliftThreshold", "topFraction"] = Field(
        default="costAware",
        description="costAware: treat when uplift x value - cost > 0. upliftThreshold: treat when "
                    "uplift >= minUplift. topFraction: treat the top fraction by uplift. "
                    "Default: costAware.")
    min_uplift: float | None = Field(
        default=None, ge=-1, le=1,
        description="Threshold of the upliftThreshold policy: required there, refused under "
                    "the others (which never read it).")
    top_fraction: float | None = Field(
        default=None, gt=0, le=1,
        description="Fraction treated by the topFraction policy: required there, refused under "
                    "the others (which never read it).")
    max_treatments_per_unit: int = Field(default=1, ge=1, le=32,
                                         description="Treatments one unit may get. Default: 1.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _targeting_rules()})

    def ignored_fields(self) -> list[str]:
        """What the API server's rules say of each field set here that the policy never reads:
        only an object stored before those rules can have one (ratcheting lets it stay until
        the targeting is edited); the runtime ignores it, as it did then."""
        set_here = {to_camel(name) for name in self.model_fields_set}
        return [TARGETING_IGNORED.format(field=field, policy=policy)
                for field, policy in TARGETING_FIELDS.items()
                if field in set_here and self.policy != policy]


#: The experiment is set once: changed mid-campaign, the holdout's draw would move units already
#: treated into the holdout (and every cohort in flight would fail the sample-ratio check), and
#: the window would mix cohorts of two conversion metrics; the API server refuses the change
#: (transition rules).
_IMMUTABLE = ("cannot change during the campaign's life: create a Campaign under a new name "
              "for a new experiment")
_HOLDOUT_DRAW_IMMUTABLE = f"draws the persistent holdout and {_IMMUTABLE}"
_DEFAULT_WINDOW = "14d"


def _window_or_default(obj: str) -> str:
    """``obj``'s attributionWindow in CEL, the default when absent (the CRD carries none)."""
    return (f"(has({obj}.attributionWindow) ? {obj}.attributionWindow : "
            f"'{_DEFAULT_WINDOW}')")


#: Why a Campaign's salt may not be the version split's (as an UpliftModel's may not:
#: ``upliftmodel.VERSION_SPLIT_SALT_TAKEN``), refused by the API server and ``domain.validation``.
CAMPAIGN_SALT_TAKEN = (
    f"salt must not be '{VERSION_SPLIT_SALT}', the salt of the version split: the campaign's "
    "holdout would be the same draw as which version of its UpliftModel owns a unit (during a "
    "canary at a weight up to holdoutFraction the canary's units would all be held out, the "
    "stable's short of holdoutFraction: a false sample-ratio mismatch)")


class CampaignExperiment(ApiModel):
    """The persistent randomized holdout that measures the campaign's incremental effect."""

    holdout_fraction: float = Field(gt=0, lt=1,
                                    description="Share of units never treated, in (0, 1). "
                                                "Immutable.")
    unit_key: str = Field(default="unit_id", min_length=1, max_length=128,
                          description="Column identifying the unit; not blank. Immutable. "
                                      "Default: unit_id.",
                          json_schema_extra={"x-kubernetes-validations": [
                              not_blank_rule("unitKey")]})
    salt: str | None = Field(
        default=None, max_length=128,
        description="Assignment salt; not blank (the runtime refuses one of whitespace only), "
                    f"not '{VERSION_SPLIT_SALT}' (the version split's: the holdout would be the "
                    "draw of which model version owns a unit). Immutable (absent and \"\" are the "
                    "same default). "
                    "Default: namespace/name.",
        json_schema_extra={"x-kubernetes-validations": [
            not_blank_rule("salt", empty=True),
            {"rule": f"self != '{VERSION_SPLIT_SALT}'", "message": CAMPAIGN_SALT_TAKEN}]})
    attribution_window: AttributionWindow = Field(
        default=_DEFAULT_WINDOW,
        description="How long after a treatment a conversion counts. The conversion gates judge "
                    "a decision once its window closed, and only decisions made on the model "
                    "version followed since the ramp started: a ramp's first step, and the step "
                    "a model promotion restarts, wait one window. At least 1s (counted in whole "
                    "seconds, a fraction rounded up). Immutable (as a length: 14d and 336h are "
                    "one window). Default: 14d. "
                    f"At most {WINDOW_BOUND.text} (10 years, the runtime's bound).")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.holdoutFraction == oldSelf.holdoutFraction",
         "message": f"holdoutFraction {_HOLDOUT_DRAW_IMMUTABLE}", "fieldPath": ".holdoutFraction"},
        # Absent is the default: unit_id for unitKey; for salt namespace/name, which a rule
        # here cannot see, and "" means the same default (the runtime's), so absent and ""
        # are one salt; any other stays as it is.
        {"rule": "(has(self.unitKey) ? self.unitKey : 'unit_id') == "
                 "(has(oldSelf.unitKey) ? oldSelf.unitKey : 'unit_id')",
         "message": f"unitKey {_HOLDOUT_DRAW_IMMUTABLE}", "fieldPath": ".unitKey"},
        {"rule": "(has(self.salt) ? self.salt : '') == (has(oldSelf.salt) ? oldSelf.salt : '')",
         "message": f"salt {_HOLDOUT_DRAW_IMMUTABLE}", "fieldPath": ".salt"},
        # Compared in seconds: the same window written otherwise (14d, 336h) is one window.
        {"rule": cel_same_length(cel_seconds(_window_or_default('self')),
                                 cel_seconds(_window_or_default('oldSelf'))),
         "message": f"attributionWindow defines the conversions measured and {_IMMUTABLE}",
         "fieldPath": ".attributionWindow"},
        # The runtime counts it in whole seconds of at least 1 (as budgetPeriod).
        at_least_a_second_rule("attributionWindow"),
    ]})


class ExposureStep(ApiModel):
    """One step of the exposure ramp: the share of eligible units treated, held for a pause."""

    percent: float = Field(gt=0, le=100, description="Percent of eligible units exposed.")
    pause: Duration | None = step_pause_field()


#: Why the API server (and ``domain.validation``) refuses a gate setting the evaluator cannot
#: judge.
DELIVERY_RATE_MIN = ("a deliveryRate gate's min is a share of the decisions delivered: it must "
                     "be above 0 and below 1 (at 0 the gate could never fail, at 1 never pass)")
#: A difference of two conversion rates (each a share of decisions) lies within [-1, 1]: at
#: min 1 or above the gate could never pass, at -1 or below never fail.
INCREMENTAL_CONVERSIONS_MIN = (
    "an incrementalConversions gate's min is a difference of two conversion rates (treated "
    "minus holdout), within -1 and 1: it must be above -1 and below 1 (at 1 or above the gate "
    "could never pass, at -1 or below never fail; default 0), unless the gate is dryRun")
ROI_VALUE = ("a roi gate needs a value per conversion above 0 for each treatment it judges (its "
             "treatments, else all): the treatment's valuePerConversion, else spec.economics."
             "valuePerConversion (an ROI is measured in it); a treatment the gate does not "
             "judge, and the economics' value when each one it judges overrides it, may be 0")
ROI_COST = ("a roi gate needs a treatment it judges (its treatments, else all) that costs more "
            "than 0 (spec.treatments[].costPerTreatment, else spec.economics.costPerTreatment): "
            "with every one free nothing is spent and an ROI, (value - cost)/cost, is not "
            "defined, so the gate could never pass; judge the effect with an "
            "incrementalConversions gate (its min 0 is the break-even at no cost)")
BUDGET_PAYS_NOTHING = ("spec.economics.budget must pay for one treatment at least: the cheapest "
                       "(spec.treatments[].costPerTreatment, else spec.economics."
                       "costPerTreatment) costs more, so the runtime would treat no one")
GATE_TREATMENTS_UNKNOWN = ("a gate's treatments must be treatments of spec.treatments: a gate "
                           "judges only treatments the campaign sends")

#: The gate types that read each optional gate field; the API server refuses the field on the
#: others (``field_rules``). A Campaign compares no versions, so it has no margin. A budget gate
#: compares a counted spend with the budget: no error level, no samples, and its verdicts
#: count towards no limit (its Fail suspends, what it cannot read holds), but for Errors in a
#: row (a defect in its arithmetic); a custom gate compares a value with min/max, at no error
#: level either.
_MEASURED = ("deliveryRate", "incrementalConversions", "roi", "drift", "custom")
CAMPAIGN_GATE_FIELDS: dict[str, tuple[str, ...]] = {
    "margin": (),
    "marginType": (),
    "min": ("deliveryRate", "incrementalConversions", "roi", "custom"),
    "max": ("drift", "custom"),
    "expectedSamples": ("incrementalConversions", "roi", "drift"),
    "features": ("drift",),
    "treatments": ("deliveryRate", "incrementalConversions", "roi"),
    "query": ("custom",),
    "templateRef": ("custom",),
    "reportDelay": ("deliveryRate",),
    "alpha": ("deliveryRate", "incrementalConversions", "roi", "drift"),
    "minSamples": _MEASURED,
    "failureLimit": _MEASURED,
    "inconclusiveLimit": _MEASURED,
}


class CampaignGate(GateSpecBase):
    """A gate every exposure step must pass."""

    field_readers = CAMPAIGN_GATE_FIELDS
    kind = "Campaign"

    type: Literal["deliveryRate", "incrementalConversions", "roi", "budget", "drift",
                  "custom"] = Field(
        description="deliveryRate: delivered / decided-to-treat; Pass when its anytime-valid "
                    "lower bound is >= min (default 0.95), Fail when its upper bound is below "
                    "min. incrementalConversions: treated minus holdout conversion rate "
                    "(outcomes within the attribution window; late ones never count) with an "
                    "anytime-valid confidence sequence; Pass when the lower bound is above min "
                    "(default 0), Fail when the upper bound is below it. roi: (value per "
                    "conversion x incremental conversions - spend) / spend from the same "
                    "counts; Pass when the lower bound is >= min (default 0, break-even), Fail "
                    "when the upper bound is below min, judged against the break-even the "
                    "evidence started with until the realized costs and values move it clearly "
                    "(beyond sampling noise) more than 10 %, which starts the evidence afresh; "
                    "a Pass (Fail) not also shown at the realized break-even is held "
                    "(Inconclusive). Both hold (Inconclusive) while fewer "
                    "than 90 % of the expected outcomes are reported, and stop with an Error "
                    "while the holdout share departs from holdoutFraction. budget: the current "
                    "budgetPeriod's spend summed over replicas; Fail once it reaches "
                    "economics.budget or what is left pays for no treatment (the runtime "
                    "then treats no one), which suspends the campaign until the period rolls "
                    "over (never a rollback), else Pass; a spend Prometheus cannot give (down, "
                    "not configured, no data) holds, never counted towards a limit, so a budget "
                    "gate never rolls back; economics.budget without one implies "
                    "one (see economics.budget). drift: as the UpliftModel's, on the stable "
                    "version the campaign follows. custom: PromQL with min/max. alpha is spent "
                    "once per exposure ramp and model version followed (see alpha); no data is "
                    "Inconclusive, never Pass, so exposure does not grow without evidence. A "
                    "field the type does not read (margin and marginType on any Campaign gate; "
                    "min, max, expectedSamples, features, treatments, query, templateRef, "
                    "reportDelay, alpha elsewhere; minSamples, failureLimit and "
                    "inconclusiveLimit on a budget gate) is refused.")

    # Fields every gate has, said of a Campaign's gates (the shared words are the
    # UpliftModel's: latency templates, comparative gates).
    template_ref: Name | None = Field(
        default=None,
        description="custom gates only, instead of query: the name of a PromQL metric template "
                    "(built in, or from the operator's configuration), rendered as query is. "
                    "Its value, one number each analysis, is compared with min/max: outside "
                    "them the gate fails (a rollback of the exposure to 0 %, or a pause under "
                    "rollback.mode Manual); no value is Inconclusive. An unknown name makes the "
                    "Campaign InvalidSpec.")
    margin: float | None = Field(
        default=None, ge=0,
        description="Read by no Campaign gate, and refused: a Campaign compares no versions "
                    "(its gates judge the treated units against the holdout, the spend "
                    "against the budget, or a value against min/max).")
    margin_type: Literal["absolute", "relative"] | None = Field(
        default=None, description="Read by no Campaign gate, and refused, as margin.")
    min: float | None = Field(
        default=None,
        description="Lower bound on the gate's value (deliveryRate, incrementalConversions, "
                    "roi, custom; see type). A statistical gate passes once its confidence "
                    "sequence shows the value at or above it at level alpha and fails once it "
                    "shows it below; a custom gate compares its value itself. On "
                    "incrementalConversions it bounds a conversion rate per decision, not per "
                    "unit: a unit decided again is a row of its arm each time, so later "
                    "decisions that add no effect (given nothing once "
                    "targeting.maxTreatmentsPerUnit caps the unit, in both arms alike) dilute "
                    "the rate, and the same effect per unit reads smaller as repeat decisions "
                    "accumulate (0.02 per unit read 0.0078 on day 21 of units decided on 30 % "
                    "of days, cap 1, 14d window): a min above 0 gets harder to pass as the ramp "
                    "goes on; at 0 the sign is the effect's (docs/statistics.md, \"Per "
                    "decision, not per unit\").")
    alpha: float = Field(
        default=0.05, gt=0, le=0.5,
        description="Error level of the statistical gates (deliveryRate, "
                    "incrementalConversions, roi, drift; refused on budget and custom gates, "
                    "which test none): the chance of a wrong pass, and of a wrong fail, are "
                    "each at most alpha, spent once across the steps and looks of the exposure "
                    "ramp on the model version the campaign follows. A restart of the ramp at "
                    "step 1, the model promoting a new stable version mid-ramp (but for a "
                    "deliveryRate gate, which judges the sender and carries its evidence on) "
                    "and an edit of the gate's settings start its tests afresh "
                    "(status.gates[].sequentialState). Default: 0.05.")

    report_delay: Duration | None = Field(
        default=None,
        description="deliveryRate only: how long the sender may take to report a delivery. "
                    "A decision younger than this without a report yet counts towards no "
                    "Fail, and towards a Pass only once reported (the counters do not tell "
                    "how old a reported decision is, so the reports of young decisions must "
                    "not stand in for deliveries older ones missed); an older one without a "
                    f"report is undelivered. Default: 5m. {AT_MOST}")

    # A bound the evaluator could never judge (an Error at every analysis, then a rollback);
    # ``domain.validation`` refuses the same of an object stored before (InvalidSpec).
    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            *gate_rules(["custom"]), *field_rules(CAMPAIGN_GATE_FIELDS, "Campaign"),
            {"rule": "self.type != 'deliveryRate' || !has(self.min) || "
                     "self.min > 0.0 && self.min < 1.0",
             "message": DELIVERY_RATE_MIN, "fieldPath": ".min"},
            # A dryRun gate acts on nothing (its Fail holds and rolls back nothing): it may
            # keep such a bound, as it could before these two rules came.
            {"rule": "(has(self.dryRun) && self.dryRun) || "
                     "self.type != 'incrementalConversions' || !has(self.min) || "
                     "self.min > -1.0 && self.min < 1.0",
             "message": INCREMENTAL_CONVERSIONS_MIN, "fieldPath": ".min"},
            {"rule": "(has(self.dryRun) && self.dryRun) || self.type != 'drift' || "
                     "!has(self.max) || self.max > 0.0",
             "message": DRIFT_MAX, "fieldPath": ".max"}]})


_DEFAULT_INTERVAL = "5m"


class ExposureSpec(RampSpecBase):
    """The exposure ramp, shaped like UpliftModel ``spec.rollout``: steps, cadence, gates."""

    paused: bool = Field(
        default=False,
        description="Hold the ramp where it is; gates keep being evaluated. Set before its ramp "
                    "has started (a new Campaign, one withdrawn, or one whose rollback a spec "
                    "change lifted), it holds the Campaign at 0 % until it is resumed (phase "
                    "Paused while its model serves): the ramp then starts at step 1. Default: "
                    "false.")

    steps: list[ExposureStep] = Field(
        min_length=1, max_length=20,
        description="Exposure steps with strictly increasing percents; after the last one passes "
                    "the ramp is complete and exposure stays there. Editable at any time: mid-ramp "
                    "the current step (its index; the last one when there are fewer) is served "
                    "at no less than its percent as edited, starting over when raised (exposure "
                    "is never lowered by an edit); a step added above the exposure of a completed "
                    "ramp reopens the ramp at the first such step, gated as any step.")
    analysis_interval: Duration = Field(
        default=_DEFAULT_INTERVAL,
        description=f"How often gates are evaluated; at least 1s, and no longer than any step's "
                    f"pause. Default: {_DEFAULT_INTERVAL}. {AT_MOST}")
    gates: list[CampaignGate] = Field(
        min_length=1, max_length=16,
        description="Gates evaluated at every step; at least one, unique by name.",
        json_schema_extra=LIST_MAP_BY_NAME)
    split_tolerance: float = split_tolerance_field(
        "How far the holdout's realised share of exposed units may be from "
        "experiment.holdoutFraction for the ramp to complete: an "
        "incrementalConversions or roi gate passes on the last step (when it has a "
        "pause) only once the share is shown within holdoutFraction ± "
        "splitTolerance × √(holdoutFraction × (1 − holdoutFraction)) (anytime-valid, "
        "at the gate's alpha), so a holdout split the sample-ratio check has not had "
        "the units to flag cannot complete the ramp. 0.04 is as far as 52/48 from a "
        "50/50 split (10 ± 1.2 % on a 10 % holdout); larger values complete sooner "
        "on few units; 0 turns the wait off (the sample-ratio check still holds the "
        "ramp on a mismatch). Default: 0.04, as UpliftModel "
        "spec.rollout.splitTolerance.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.steps.map(s, s.percent).isSorted() && "
                 "self.steps.all(s, self.steps.filter(t, t.percent == s.percent).size() == 1)",
         "message": "steps[].percent must be strictly increasing", "fieldPath": ".steps"},
        {"rule": "self.gates.all(g, self.gates.filter(h, h.name == g.name).size() == 1)",
         "message": "gates[].name must be unique", "fieldPath": ".gates"},
        *ramp_rules(_DEFAULT_INTERVAL, "Campaign"),
    ]})


class CampaignRollbackPolicy(RollbackPolicyBase):
    """What happens when a gate fails beyond its limit (the same shape as UpliftModel's)."""


#: What the API server's ``date-time`` format lets through and the operator cannot read: a
#: year 0000 (Python's years start at 1), an offset past 23:59 (``+24:00``, ``+00:60``;
#: RFC 3339's own bounds), and a lowercase ``t`` or ``z`` (RFC 3339 allows them, but the
#: API server's CEL refuses them, cryptically, in the start < end rule). Refused by the API
#: server, so such a schedule is never stored and then refused by every pass. The rest
#: (calendar, time of day) is the format's to check.
SCHEDULE_TIME_PATTERN = (r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
                         r"-[0-9]{2}-[0-9]{2}T[0-9:.,]+(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
#: A time within years 0001-9999 as written but not in UTC (``0001-01-01T00:30:00+01:00``,
#: ``9999-12-31T23:59:59-01:00``) cannot be written into the campaigns file in UTC: the API
#: server refuses it (CEL's timestamps span exactly those years in UTC).
SCHEDULE_TIME_RANGE: dict[str, JsonValue] = {
    "rule": "self >= timestamp('0001-01-01T00:00:00Z') && "
            "self <= timestamp('9999-12-31T23:59:59.999999999Z')",
    "message": "must lie within the years 0001-9999 in UTC"}


class Schedule(ApiModel):
    """When the campaign may treat."""

    start: dt.datetime | None = Field(
        default=None, description="Not before this time (RFC 3339 with an uppercase T and Z, "
                                   "within the years 0001-9999 in UTC).",
        json_schema_extra={"pattern": SCHEDULE_TIME_PATTERN,
                           "x-kubernetes-validations": [SCHEDULE_TIME_RANGE]})
    end: dt.datetime | None = Field(
        default=None, description="Not after this time (RFC 3339 with an uppercase T and Z, "
                                  "within the years 0001-9999 in UTC).",
        json_schema_extra={"pattern": SCHEDULE_TIME_PATTERN,
                           "x-kubernetes-validations": [SCHEDULE_TIME_RANGE]})

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.start) || !has(self.end) || timestamp(self.start) < "
                 "timestamp(self.end)",
         "message": "schedule.end must be after schedule.start"},
    ]})


#: In a rule over a roi gate ``g`` and a campaign treatment ``t``: ``g`` does not judge ``t`` (it
#: names treatments, and not ``t``; none named, or an empty list, is all of them).
_NOT_JUDGED = "has(g.treatments) && g.treatments.size() > 0 && !(t.name in g.treatments)"


class CampaignSpec(ApiModel):
    """Desired state of a Campaign."""

    model_ref: ModelRef = Field(description="The UpliftModel that scores units.")
    treatments: list[CampaignTreatment] = Field(
        min_length=1, max_length=32, description="Treatments this campaign sends; unique names.",
        json_schema_extra=LIST_MAP_BY_NAME)
    economics: Economics = Field(description="Value, cost and budget.")
    targeting: Targeting = Field(
        default_factory=Targeting,
        description="Whom to treat. The incrementalConversions and roi gates judge the units "
                    "it treats: an edit of it (policy, the threshold the policy reads, "
                    "maxTreatmentsPerUnit), of the treatments, or under costAware of their "
                    "costs and values, starts their evidence afresh mid-step.")
    experiment: CampaignExperiment = Field(description="The persistent randomized holdout.")
    exposure: ExposureSpec = Field(description="The exposure ramp and its gates.")
    rollback: CampaignRollbackPolicy = Field(default_factory=CampaignRollbackPolicy,
                                             description="What a failing gate does.")
    schedule: Schedule | None = Field(default=None, description="When the campaign may treat.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.treatments.all(t, self.treatments.filter(u, u.name == t.name).size() == 1)",
         "message": "treatments[].name must be unique", "fieldPath": ".treatments"},
        # Without an amount it would measure nothing: an Error at every analysis, then a
        # rollback (the operator also refuses it, InvalidSpec, for an object stored before).
        {"rule": "!self.exposure.gates.exists(g, g.type == 'budget') || has(self.economics.budget)",
         "message": "a budget gate needs spec.economics.budget", "fieldPath": ".exposure.gates"},
        # Likewise an ROI in a currency worth nothing (the operator refuses it too): of each
        # treatment a roi gate judges, its own value, else the economics' (one rule each, so
        # the API server names the field to fix).
        {"rule": f"self.economics.valuePerConversion > 0.0 || self.exposure.gates.all(g, "
                 f"g.type != 'roi' || self.treatments.all(t, has(t.valuePerConversion) || "
                 f"{_NOT_JUDGED}))",
         "message": ROI_VALUE, "fieldPath": ".economics.valuePerConversion"},
        {"rule": f"self.exposure.gates.all(g, g.type != 'roi' || self.treatments.all(t, "
                 f"!has(t.valuePerConversion) || t.valuePerConversion > 0.0 || {_NOT_JUDGED}))",
         "message": ROI_VALUE, "fieldPath": ".treatments"},
        # A budget that pays for no treatment treats no one (the operator refuses it too).
        {"rule": "!has(self.economics.budget) || self.treatments.exists(t, "
                 "(has(t.costPerTreatment) ? t.costPerTreatment : "
                 "self.economics.costPerTreatment) <= self.economics.budget)",
         "message": BUDGET_PAYS_NOTHING, "fieldPath": ".economics.budget"},
        # A gate's treatments are the campaign's (the operator refuses it too, naming them).
        {"rule": "self.exposure.gates.all(g, !has(g.treatments) || "
                 "g.treatments.all(n, self.treatments.exists(t, t.name == n)))",
         "message": GATE_TREATMENTS_UNKNOWN, "fieldPath": ".exposure.gates"},
        # And an ROI of treatments that cost nothing (the operator refuses it too); not said of
        # a roi gate naming a treatment the campaign does not send: the rule above says that.
        {"rule": "self.exposure.gates.all(g, g.type != 'roi' || (has(g.treatments) && "
                 "g.treatments.exists(n, !self.treatments.exists(t, t.name == n))) || "
                 "self.treatments.exists(t, "
                 "(!has(g.treatments) || g.treatments.size() == 0 || t.name in g.treatments) "
                 "&& (has(t.costPerTreatment) ? t.costPerTreatment : "
                 "self.economics.costPerTreatment) > 0.0))",
         "message": ROI_COST, "fieldPath": ".exposure.gates"},
    ]})


#: At most this many ledgers in ``status.budgetLedgers.ledgers`` (the CRD's bound), all kept
#: exactly up to it (``domain.budget.merge_ledgers``). A ledger is one replica process × one
#: load of the campaign's entry (a restart, a reload, the entry re-created) within one budget
#: period: 512 is far past any real period, and about 15 KB of status (12-character ids).
#: Beyond it, those Prometheus no longer holds are folded into ``carried``.
BUDGET_LEDGERS_MAX = 512
#: At most this many entries in ``status.budgetLedgers.folded`` (the oldest dropped first):
#: about 27 KB more (12-character ids, figures at full precision), so the record stays near
#: 44 KB at worst.
BUDGET_LEDGERS_FOLDED_MAX = 512


class FoldedLedger(StatusPart):
    """A ledger whose spend is in carried, and the figure it is counted at there."""

    ledger: str = Field(description="The ledger label of uplift_campaign_period_spend.")
    spend: float = Field(
        ge=0, description="Its spend counted in carried: its figure when folded, raised by any "
                          "later reading above it (the growth added to carried).")


class BudgetLedgers(StatusPart):
    """The spend the operator has read per runtime ledger in the current budget period."""

    period_start: dt.datetime = Field(
        description="Start of the budget period these figures are of; a reading in a later "
                    "period starts the record afresh.")
    ledgers: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, max_length=BUDGET_LEDGERS_MAX,
        description="By runtime ledger (the ledger label of uplift_campaign_period_spend: one "
                    "per replica process and campaign entry), the highest spend read of it in "
                    "the period; one read at 0 is not listed (absent counts as 0). A ledger no "
                    f"longer in Prometheus keeps its figure here, up to {BUDGET_LEDGERS_MAX} "
                    "ledgers: beyond that, the smallest of those no longer in Prometheus are "
                    "moved to carried (and, should Prometheus hold more at once, the smallest "
                    "it holds are counted while it holds them, not listed).")
    carried: float = Field(
        default=0, ge=0,
        description="Spend of the ledgers moved out of ledgers (the newest named in folded) "
                    f"once more than {BUDGET_LEDGERS_MAX} were kept, as they were when moved "
                    "(those no longer in Prometheus then), plus what later readings of one "
                    "named in folded showed above its figure there. Counted in the spend; 0 "
                    "until then.")
    folded: list[FoldedLedger] = Field(
        default_factory=list, max_length=BUDGET_LEDGERS_FOLDED_MAX,
        description="The ledgers whose spend is in carried, each with the figure counted "
                    f"there, oldest first, the newest {BUDGET_LEDGERS_FOLDED_MAX} of them (a list, "
                    "not a map: the API server keeps a list's order). A reading of one adds "
                    "to carried only what it reads above that figure, and raises the figure "
                    "(the ledger then the newest): its spend is counted once, growth "
                    "included.")


class CampaignStatus(RampStatus):
    """Observed state of a Campaign."""

    phase: Phase | None = Field(
        default=None,
        description="Progressing, Healthy, Degraded, Paused, Suspended (before "
                    "spec.schedule.start, or while a spent budget suspends it until the "
                    "budgetPeriod rolls over, or a spend unreadable past "
                    "spec.economics.budgetUnreadable.after until it is read under the budget) "
                    "or Completed (past spec.schedule.end). Degraded too "
                    "(but a Paused ramp) once a condition has said for 5 minutes, or "
                    "progressDeadline when shorter, that the spec has not taken effect: "
                    "SettingsDelivered False (its settings are not in its model's campaigns "
                    "file: not written, no room, not carried as the spec says; True means the "
                    "campaigns file was written, and the kubelet brings it to the pods within "
                    "~60-90 s, not that the runtime applied it), or "
                    "ModelServing False (ModelNotFound: spec.modelRef names no UpliftModel; not "
                    "once Completed).")

    # One more than a spec lists (exposure.gates, at most 16): the budget gate implied by
    # spec.economics.budget when none is declared.
    gates: list[GateStatus] = Field(
        default_factory=list, max_length=17,
        description="Last verdict of each gate: those of spec.exposure.gates, and the budget "
                    "gate that spec.economics.budget implies when none is declared (a gate "
                    "the spec no longer has is dropped).")

    model_version: str | None = Field(
        default=None, max_length=16,
        description="Stable version of the referenced UpliftModel (the campaign follows it; a "
                    "canary of the model does not disturb the campaign).")
    model_version_since: dt.datetime | None = Field(
        default=None,
        description="When the model promoted modelVersion while the campaign followed it "
                    "(absent: followed since the exposure ramp started); the conversion gates "
                    "judge only the decisions made since the later of this and rampStartedAt.")
    ramp_started_at: dt.datetime | None = Field(
        default=None, description="When the exposure ramp last (re)started at its first step.")
    targeting_digest: str | None = Field(
        default=None, max_length=32,
        description="Fingerprint of whom the runtime treats under the Campaign, and with what "
                    "(spec.targeting, spec.treatments, and under costAware their costs and "
                    "values), as the ramp last ran it: a change mid-ramp starts the step over.")
    targeting_since: dt.datetime | None = Field(
        default=None,
        description="When the targeting last changed mid-ramp (absent: unchanged since the "
                    "exposure ramp started); the conversion gates judge only the decisions "
                    "made since the later of this, modelVersionSince and rampStartedAt.")
    exposure_percent: float = Field(
        default=0, ge=0, le=100,
        description="The exposure ramp's percent of eligible units, at which the runtime "
                    "treats under the Campaign (0 once rolled back, withdrawn, suspended by a "
                    "spent budget or an unreadable spend, before schedule.start and past "
                    "schedule.end). A spec the operator refused keeps it while the runtime "
                    "treats no one (Degraded, Ready "
                    "reason InvalidSpec, its campaigns-file entry inactive at 0 %; the message "
                    "says so): the ramp resumes there once the spec is fixed. Not in effect "
                    "while SettingsDelivered is False (the runtime keeps its previous "
                    "settings), nor until the kubelet brings the campaigns file written to "
                    "the pods (~60-90 s after SettingsDelivered is True).")
    suspended_exposure_percent: float | None = Field(
        default=None, ge=0, le=100,
        description="While a spent budget (or a spend unreadable for longer than "
                    "spec.economics.budgetUnreadable.after, under its action Suspend) suspends "
                    "the campaign (exposurePercent 0): the exposure it held, given back when "
                    "the suspension lifts (the budget period rolls over, or the budget gate "
                    "passes again). Absent otherwise.")
    rolled_back_generation: int | None = Field(
        default=None, ge=0,
        description="metadata.generation whose exposure ramp was rolled back: exposure stays 0 "
                    "until the spec changes or a retry is requested.")
    rolled_back_spec: str | None = Field(
        default=None, max_length=64,
        description="Digest of the spec whose exposure ramp was rolled back, all but "
                    "exposure.paused: pausing or resuming a rolled-back Campaign changes its "
                    "generation but not what it would do, so it stays at 0.")
    incremental_effect: EstimateStatus | None = Field(
        default=None,
        description="Incremental conversion rate, treated minus holdout, with its bounds: those "
                    "of the first incrementalConversions gate without treatments that has a "
                    "value (absent without one: a gate naming treatments judges a subgroup, "
                    "whose effect is not the campaign's). A rate per decision, not per unit: "
                    "a unit decided again counts once per decision, so with repeat decisions "
                    "that add no effect (capped by maxTreatmentsPerUnit) it shrinks as the ramp "
                    "goes on while the effect per unit stays the same (docs/statistics.md, "
                    "\"Per decision, not per unit\").")
    incremental_conversions: EstimateStatus | None = Field(
        default=None,
        description="Incremental conversions of the cohorts incrementalEffect was measured on "
                    "(its gate's cohorts at its last look: the decisions of the model version "
                    "the campaign follows whose attribution window closed, in every step of the "
                    "ramp since that version's evidence started, as the effect pools the "
                    "steps): the sum over the steps of C_treated - C_holdout x n_treated / "
                    "n_holdout, each step's cohorts against its own holdout, with its bounds "
                    "(the effect's interval, in standard errors, on the sum's). Absent with "
                    "incrementalEffect. Not a count since the ramp started: treatedUnits counts "
                    "other decisions (every version's, cohorts not closed yet).")
    roi: EstimateStatus | None = Field(
        default=None,
        description="Return on investment with its bounds: those of the first roi gate without "
                    "treatments that has a value (absent without one: a gate naming treatments "
                    "judges a subgroup, whose roi is not the campaign's).")
    spend: float = Field(
        default=0, ge=0,
        description="Spend so far in the budget period, summed over replicas (its budget "
                    "gate's last measure). 0 once a period rolls over while the campaign "
                    "exposes no one (rolled back, withdrawn, ended): it has spent nothing "
                    "since. 0 without spec.economics.budget (removed: counted afresh once "
                    "set again).")
    budget_remaining: float | None = Field(
        default=None, ge=0,
        description="What is left of the current budget period's budget (absent without "
                    "spec.economics.budget, or until its budget gate is first measured).")
    budget_anchor: dt.datetime | None = Field(
        default=None,
        description="Where the budget periods start: spec.schedule.start, else "
                    "metadata.creationTimestamp, as they were when the campaign first "
                    "exposed units with a budget; recorded once per budget, so a later edit of "
                    "schedule.start neither refills nor moves the budget (dropped without "
                    "spec.economics.budget, and recorded again, from the spec as it is then, "
                    "once a budget is set again). The campaigns file gives it to the runtime "
                    "as the budget's periodStart.")
    budget_since: dt.datetime | None = Field(
        default=None,
        description="When the budget was set: recorded with budgetAnchor (the campaign first "
                    "exposing units with a budget, or its budget set again after it was "
                    "removed). The budget gates read the replicas' spend from then when that "
                    "is later than the period's start, so a budget removed and set again is "
                    "counted afresh: the removed budget's spend, which Prometheus keeps for "
                    "the rest of its period, does not count. Absent without "
                    "spec.economics.budget, and where budgetAnchor was recorded before this "
                    "field existed (the spend counted from the period's start).")
    budget_unreadable_since: dt.datetime | None = Field(
        default=None,
        description="When a budget gate's reading of the spend first failed (an Error or "
                    "Inconclusive: Prometheus down or not configured, the query failing, no "
                    "spend series) with no reading since showing the spend (a Pass or Fail): "
                    "what spec.economics.budgetUnreadable's after counts from. Cleared by the "
                    "first reading that shows the spend, when the campaign stops exposing "
                    "(nothing is spent then) and without spec.economics.budget. Kept "
                    "whatever the action, so a change to Suspend counts the outage from its "
                    "start.")
    budget_ledgers: BudgetLedgers | None = Field(
        default=None,
        description="The operator's memory of the budget period's spend, per runtime ledger as "
                    "its budget gates read it from Prometheus. The spend it judges is, per "
                    "ledger, the larger of its figure here and the one Prometheus holds now (a "
                    "ledger listed here only: its figure here; one named in folded: what it "
                    "reads above its figure there, added to carried), plus carried; so spend "
                    "that Prometheus no longer holds (past its retention, a Prometheus "
                    "replaced) still counts. Reset when a new budget period starts; dropped "
                    "once a period rolls over while the campaign exposes no one, and without "
                    "spec.economics.budget.")
    treated_units: int = Field(
        default=0, ge=0,
        description="Decisions in the treated arm since the exposure ramp started "
                    "(uplift_assignments_total), on every model version the campaign followed "
                    "meanwhile: decisions, not distinct units (a unit decided again counts "
                    "again, a decision capped by maxTreatmentsPerUnit too). Never decreases "
                    "within a ramp (a count Prometheus no longer holds in full, past its "
                    "retention, keeps the larger figure); 0 when a ramp (re)starts.")
    holdout_units: int = Field(
        default=0, ge=0,
        description="Decisions in the holdout since the exposure ramp started, counted as "
                    "treatedUnits.")


#: What the runtime takes as a campaign's name (``runtime.campaigns.NAME``, at most 63
#: characters: a DNS label; a test keeps them equal), which a Campaign's metadata.name becomes.
CAMPAIGN_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CAMPAIGN_NAME = ("metadata.name must be a DNS label: at most 63 characters, lower-case letters, "
                 "digits and '-', starting and ending with a letter or digit (no '.'): the "
                 "serving runtime knows a campaign by it")


class Campaign(ApiModel):
    """A treatment targeted by an UpliftModel, with a holdout, an exposure ramp and ROI gates."""

    api_version: Literal["uplift.dev/v1alpha1"] = Field(default="uplift.dev/v1alpha1",
                                                        description="uplift.dev/v1alpha1")
    kind: Literal["Campaign"] = Field(default="Campaign", description="Campaign")
    spec: CampaignSpec = Field(description="Desired state.")
    status: CampaignStatus | None = Field(default=None, description="Observed state.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        name_rule(CAMPAIGN_NAME_PATTERN, CAMPAIGN_NAME)]})
