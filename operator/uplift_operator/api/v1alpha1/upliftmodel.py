"""UpliftModel: an MLflow model version served as a Seldon inference graph, rolled out as a canary.

The spec names a registered model by version or alias and says how to serve it, how to ramp a new
version (steps of weight and pause) and which gates each step must pass. The status is what the
operator observed and decided: phase, stable and canary versions, weight, step, gate verdicts,
conditions and a bounded audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import pydantic
from pydantic import AfterValidator, ConfigDict, Field, JsonValue

from uplift_operator.api.v1alpha1.common import (
    AT_MOST,
    LIST_MAP_BY_NAME,
    SUBDOMAIN_PATTERN,
    WINDOW_BOUND,
    ApiModel,
    AttributionWindow,
    Duration,
    GateSpecBase,
    Name,
    Phase,
    RampSpecBase,
    RampStatus,
    ResourceRequirements,
    RollbackPolicyBase,
    SecretCredentials,
    SecretName,
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

__all__ = [
    "ERROR_RATE_MAX",
    "LABEL_KEY_PATTERN",
    "LABEL_VALUE_PATTERN",
    "MODEL_GATE_TREATMENTS_UNKNOWN",
    "MODEL_NAME",
    "MODEL_NAME_PATTERN",
    "NODE_SELECTOR_KEY",
    "PLACEMENT_FIELDS",
    "REGISTERED_MODEL_PATTERN",
    "RUNTIME_IMAGE_PATTERN",
    "SERVING_SPLIT_LENGTH",
    "TOLERATION_EXISTS_VALUE",
    "TOLERATION_NO_KEY",
    "TOLERATION_SECONDS_EFFECT",
    "TRACKING_URI_PATTERN",
    "TRACKING_URI_RULE",
    "TREATMENT_DOUBLE_DASH",
    "TREATMENT_KEYS_SHARED",
    "TREATMENT_KEY_TOO_LONG",
    "UPLIFT_SANITY_BAND",
    "VERSION_SPLIT_SALT",
    "VERSION_SPLIT_SALT_TAKEN",
    "ExperimentSpec",
    "FeatureSpec",
    "ImagePullSecret",
    "ModelGate",
    "ModelReference",
    "ReportCredentials",
    "RollbackPolicy",
    "RolloutSpec",
    "RolloutStep",
    "ServingSpec",
    "Toleration",
    "Treatment",
    "UpliftModel",
    "UpliftModelSpec",
    "UpliftModelStatus",
]


#: A registered model name MLflow takes (``mlflow/utils/validation.py`` ``_validate_model_name``,
#: MLflow 3.x: not blank, no ``/`` or ``:``, and not a path that normalises to another name:
#: not ``.`` nor starting with ``..``; a name it refuses is "Invalid model name" at every read,
#: which the resolver took for a model not found), without C0 or C1 control characters (it is
#: printed in status messages, events and by ``kubectl uplift status``, where an escape sequence
#: in it would drive the reader's terminal) and without ``?`` (the serving pods load
#: ``models:/<name>/<version>``, which MLflow reads as another model for a name with ``?``:
#: ``models:/churn?v2/3`` is model ``churn``). RE2 (the API server's) and the typed model's
#: regex have no lookahead, so: a first character neither ``.`` nor a space, or spaces then one
#: that is not, or ``.`` then one that is not ``.`` (the spaces are those Python's ``strip``
#: removes that are not control characters, written as such: the engines share no escape for
#: them).
_NOT_IN_A_REGISTERED_MODEL = r"\x00-\x1f\x7f-\x9f?/:"
_SPACES = " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
REGISTERED_MODEL_PATTERN = (
    f"^(?:[^{_NOT_IN_A_REGISTERED_MODEL}{_SPACES}.][^{_NOT_IN_A_REGISTERED_MODEL}]*"
    f"|[{_SPACES}]+[^{_NOT_IN_A_REGISTERED_MODEL}{_SPACES}][^{_NOT_IN_A_REGISTERED_MODEL}]*"
    f"|\\.[^{_NOT_IN_A_REGISTERED_MODEL}.][^{_NOT_IN_A_REGISTERED_MODEL}]*)$")
#: Alias names MLflow reserves (``mlflow/utils/validation.py``
#: ``_validate_model_alias_name_reserved``, MLflow 2.x and 3.x): ``latest`` in any case (every
#: alias read answers the newest version for it) and ``v<number>`` (a version by number). MLflow
#: refuses to set either: a ``promotionAlias`` of one was accepted here and its write refused for
#: good at the first promotion, days later; a followed ``alias`` ``v3`` never exists, so never
#: resolves (``latest`` may be followed: MLflow answers it). The CRD's CEL rules refuse them in
#: an apply; the typed model takes them, so that an object stored before the rules (the API
#: server keeps an unchanged value) parses and ``domain.validation`` reports it: InvalidSpec,
#: its abort or emergency rollback still acted on, nothing written to MLflow.
LATEST_ALIAS_PATTERN = r"^[Ll][Aa][Tt][Ee][Ss][Tt]$"
VERSION_ALIAS_PATTERN = r"^[vV][0-9]+$"
LATEST_RESERVED = ("{field} must not be 'latest' (in any case): MLflow reserves that alias "
                   "for the newest version and refuses to set it")
VERSION_RESERVED = ("{field} must not be v<number> (e.g. v3): MLflow reserves those alias names "
                    "for version numbers and refuses to set them")
ALIAS_VERSION_RESERVED = ("model.alias must not be v<number> (e.g. v3): MLflow reserves those "
                          "alias names, so no alias has one and it never resolves; to serve "
                          "version 3, set version: \"3\"")


#: An http(s) URL whose authority holds no userinfo (``user:password@``): requests would send it
#: as basic credentials, and the URL is shown in the status, the operator's log and the serving
#: pods' environment (``MLFLOW_TRACKING_URI``). The authority ends at the first ``/ ? #``, as
#: ``urllib.parse.urlsplit`` reads it (``uplift_operator.userinfo.has_userinfo``).
TRACKING_URI_PATTERN = r"^https?://[^@/?#]+([/?#]|$)"
#: The same refusal, with a message that says where credentials go (a pattern has none).
TRACKING_URI_RULE: JsonValue = {
    "rule": "!self.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",
    "message": "model.trackingUri must not hold credentials (user:password@ before the host): "
               "the URL is shown in the status, the operator's logs and every serving pod's "
               "environment; put them in a Secret and name it in model.credentials"}


class ModelReference(ApiModel):
    """Which registered MLflow model to serve, by version or by alias.

    The registered model is set once: the status' stable, canary and previous versions, the
    gates' evidence, the history and the Campaigns that follow this UpliftModel are that model's
    versions, and another model's are numbered apart, so a switch could not even be told from a
    new version (the stable predictor would be re-rendered from the other model's version of the
    same number, in place, with no canary and no gate); the API server refuses the change (a
    transition rule). ``trackingUri`` stays editable: it says where the registry is, not which
    model; a URL changes with a registry's move (DNS, TLS, a proxy, a migrated server), an
    unset one follows the operator's ``--mlflow-tracking-uri``, which no rule here can see, so
    pinning it would not pin the registry, and would cost the UpliftModel and, their modelRef
    being immutable, its Campaigns and their holdouts."""

    registered_model: str = Field(
        min_length=1, max_length=256, pattern=REGISTERED_MODEL_PATTERN,
        description="Registered model name in the MLflow registry, as MLflow takes it (not "
                    "blank, no / or :, not . nor starting with ..), without control characters "
                    "(it is printed in messages and by kubectl uplift) or ? (the serving pods "
                    "load models:/<name>/<version>, which cannot carry it). Immutable: "
                    "the versions in status, the gates' evidence and the history are this "
                    "model's, and another model's versions are numbered apart (its version of "
                    "the same number would replace the stable in place, with no canary); to "
                    "serve another registered model, create an UpliftModel under a new name "
                    "(and Campaigns that follow it: their modelRef is immutable too), then "
                    "delete this one.")
    version: Annotated[str, Field(pattern=r"^[1-9][0-9]*$", max_length=16)] | None = Field(
        default=None, description="A model version number. Exclusive with alias.")
    alias: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-validations": [
            {"rule": f"!self.matches('{VERSION_ALIAS_PATTERN}')",
             "message": ALIAS_VERSION_RESERVED}]},
        description="A registry alias (e.g. champion); re-read every aliasRefreshInterval, and a "
                    "moved alias starts a canary. Exclusive with version. Not v<number> (MLflow "
                    "reserves those names: no alias has one); latest follows the newest version.")
    alias_refresh_interval: Duration = Field(
        default="1m",
        description=f"How often an alias is re-read from MLflow; at least 1s. Default: 1m. "
                    f"{AT_MOST}")
    tracking_uri: str | None = Field(
        default=None, max_length=2048, pattern=TRACKING_URI_PATTERN,
        json_schema_extra={"x-kubernetes-validations": [TRACKING_URI_RULE]},
        description="MLflow tracking server URL (http or https). Default: the operator's "
                    "configured server. Without user:password@ before the host (refused): "
                    "the URL is shown in the status, the operator's logs and every serving "
                    "pod's environment; give the credentials as a Secret in credentials. "
                    "May change, for a move of the same registry (same registered model, same "
                    "version numbers, e.g. a new host name): the versions are read there from "
                    "the next pass, and the serving pods restart to load them from it, with no "
                    "canary; a server whose registeredModel is another model would swap what "
                    "serves, so for another model create a new UpliftModel.")
    credentials: SecretCredentials | None = Field(
        default=None, description="Secret with MLflow basic-auth or token credentials.")
    promotion_alias: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)] | None = (
        Field(default=None,
              json_schema_extra={"x-kubernetes-validations": [
                  {"rule": f"!self.matches('{LATEST_ALIAS_PATTERN}')",
                   "message": LATEST_RESERVED.format(field="model.promotionAlias")},
                  {"rule": f"!self.matches('{VERSION_ALIAS_PATTERN}')",
                   "message": VERSION_RESERVED.format(field="model.promotionAlias")}]},
              description="Alias to move to a version when it is promoted, e.g. production. "
                          "Not latest (in any case) nor v<number> (e.g. v3): MLflow reserves "
                          "those names and refuses to set them. One "
                          "UpliftModel per alias: of two that name the same promotionAlias of "
                          "the same registeredModel at the same tracking URI (in any "
                          "namespaces), the one created first moves it and writes the "
                          "uplift.dev/role and uplift.dev/reason tags; the other still serves "
                          "its own versions, but its alias moves and tags are withheld "
                          "(RegistryWrittenBack False, reason PromotionAliasShared, naming the "
                          "first) until the alias is its alone, when its registry state is "
                          "written. A namespace/name keeps its place when created again: an "
                          "object created under the first one's name within 2 minutes of its "
                          "deletion (kubectl replace --force, a re-install) moves the alias as "
                          "it did, and the other one's writes wait for those 2 minutes after a "
                          "deletion."))

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.registeredModel == oldSelf.registeredModel",
         "message": "model.registeredModel cannot change during the UpliftModel's life: its "
                    "versions, gates and history are that model's, and another model's "
                    "versions are numbered apart (the stable would be swapped in place, with "
                    "no canary); create an UpliftModel under a new name for another "
                    "registered model",
         "fieldPath": ".registeredModel"},
        {"rule": "has(self.version) != has(self.alias)",
         "message": "set exactly one of version or alias"},
        {"rule": "!has(self.promotionAlias) || !has(self.alias) || self.promotionAlias != self.alias",
         "message": "promotionAlias must differ from the alias being followed"},
        # domain.validation, for one stored before this rule.
        at_least_a_second_rule("aliasRefreshInterval"),
    ]})


#: Why the API server refuses a treatment name whose key (``model.keys.treatment_key``: each
#: run of '-' one '_', a name starting with a digit prefixed 't_') the runtime cannot carry or
#: another name shares; ``domain.validation`` refuses one stored before the rules (the keys'
#: own check).
TREATMENT_DOUBLE_DASH = ("a treatment name must not contain '--': its key (metric labels, "
                         "decision ids) reads each run of '-' as one '_', so 'a--b' and 'a-b' "
                         "would be one treatment")
TREATMENT_KEY_TOO_LONG = ("a treatment name starting with a digit is at most 62 characters: its "
                          "key is prefixed 't_' and the runtime takes keys of at most 64")
TREATMENT_NAME_RESERVED = ("treatment name 'none' is reserved: its key is the key of no treatment; "
                           "rename the treatment")
TREATMENT_KEYS_SHARED = ("treatments 't-<name>' and '<name>' (<name> starting with a digit) have "
                         "the same key 't_<name>': rename one")


class Treatment(ApiModel):
    """A treatment the model scores (an offer, an e-mail, a push) against the control."""

    name: Name = Field(description="Treatment name, as the model outputs it; no '--', at most 62 "
                                   "characters when it starts with a digit (its runtime key, "
                                   "'t_' and the name with '_' for '-', is at most 64); not "
                                   "'none', the key of no treatment.")
    description: str | None = Field(default=None, max_length=1024, description="What it is.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!self.name.contains('--')", "message": TREATMENT_DOUBLE_DASH,
         "fieldPath": ".name"},
        {"rule": "!self.name.matches('^[0-9]') || self.name.size() <= 62",
         "message": TREATMENT_KEY_TOO_LONG, "fieldPath": ".name"},
        {"rule": "self.name != 'none'", "message": TREATMENT_NAME_RESERVED,
         "fieldPath": ".name"},
    ]})


class FeatureSpec(ApiModel):
    """One input feature: its name and type, checked against the model signature."""

    name: str = Field(min_length=1, max_length=128, description="Column name.")
    type: Literal["numeric", "categorical", "boolean"] = Field(description="Feature type.")
    categories: list[Annotated[str, Field(max_length=256)]] | None = Field(
        default=None, max_length=1024,
        description="Documentation only: the values expected of a categorical feature; nothing "
                    "checks or enforces them. The operator does not compare them with the "
                    "categories the model was trained on (those are in the model, not its "
                    "signature), and the runtime scores any string (the project's models "
                    "encode one outside their training categories as unseen: all zeros) and "
                    "counts it in the drift histogram's other bin, whatever this lists.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.categories) || self.type == 'categorical'",
         "message": "categories are only allowed on categorical features"},
    ]})


#: The salt of the version split's unit positions (``runtime.assignment.VERSION_SALT``, which
#: the API cannot import): a holdout drawn under it is the same draw as which version owns a unit.
VERSION_SPLIT_SALT = "router"
VERSION_SPLIT_SALT_TAKEN = (
    f"salt must not be '{VERSION_SPLIT_SALT}', the salt of the version split: the holdout would "
    "be the same draw as which version owns a unit (a canary at a weight up to holdoutFraction "
    "would own holdout units only)")


#: An image reference as a Pod's container takes it: no whitespace or control character (the
#: serving graph's Deployments would be refused, every predictor's, the stable's included).
RUNTIME_IMAGE_PATTERN = r"^[^\x00-\x20\x7f-\x9f]+$"


#: An UpliftModel's experiment defaults (``ExperimentSpec``), which the CRD carries nowhere: the
#: rule keeping the experiment while a canary runs reads an absent field as its default.
DEFAULT_HOLDOUT_FRACTION = 0.1
DEFAULT_UNIT_KEY = "unit_id"
DEFAULT_ATTRIBUTION_WINDOW = "1h"


def _experiment_field(obj: str, name: str, default: str) -> str:
    """``obj``'s ``spec.experiment.<name>`` in CEL, ``default`` (CEL text) when it or the
    experiment is absent (``&&`` short-circuits: ``has`` of a field under an absent one is an
    error)."""
    return (f"(has({obj}.spec.experiment) && has({obj}.spec.experiment.{name}) ? "
            f"{obj}.spec.experiment.{name} : {default})")


def _same_experiment() -> str:
    """The CEL saying ``self`` and ``oldSelf`` have one experiment by meaning, as a Campaign's
    rules compare theirs (``CampaignExperiment``): field by field, each absent field (or an
    absent experiment) its default, an absent salt and "" the one default salt, the window as
    a length (1h and 60m are one window)."""
    fields = (("holdoutFraction", repr(DEFAULT_HOLDOUT_FRACTION), False),
              ("unitKey", f"'{DEFAULT_UNIT_KEY}'", False), ("salt", "''", False),
              ("attributionWindow", f"'{DEFAULT_ATTRIBUTION_WINDOW}'", True))
    parts = []
    for name, default, duration in fields:
        new, old = (_experiment_field(obj, name, default) for obj in ("self", "oldSelf"))
        parts.append(cel_same_length(cel_seconds(new), cel_seconds(old)) if duration
                     else f"{new} == {old}")
    return " && ".join(parts)


class ExperimentSpec(ApiModel):
    """The randomized holdout against which online incremental effects are measured."""

    holdout_fraction: float = Field(
        default=DEFAULT_HOLDOUT_FRACTION, gt=0, lt=1,
        description="Share of units that never get a treatment, whatever their score. "
                    "Default: 0.1.")
    unit_key: str = Field(default=DEFAULT_UNIT_KEY, min_length=1, max_length=128,
                          description="Request column identifying the unit; not blank. "
                                      "Default: unit_id.",
                          json_schema_extra={"x-kubernetes-validations": [
                              not_blank_rule("unitKey")]})
    salt: str | None = Field(
        default=None, max_length=128,
        description="Salt of the assignment hash; not blank (\"\" is the default), not "
                    f"'{VERSION_SPLIT_SALT}' (the version split's). Default: namespace/name, so "
                    "assignment is stable across versions and restarts.",
        json_schema_extra={"x-kubernetes-validations": [
            not_blank_rule("salt", empty=True),
            {"rule": f"self != '{VERSION_SPLIT_SALT}'", "message": VERSION_SPLIT_SALT_TAKEN}]})
    attribution_window: AttributionWindow = Field(
        default=DEFAULT_ATTRIBUTION_WINDOW,
        description="How long after a decision its conversion counts, for the onlineEffect "
                    "gate: a version's decisions are compared once this window has closed on "
                    "them, with the conversions reported within it, so each step's evidence "
                    "starts this long after the step does. At least 1s (the runtime counts "
                    "it in whole seconds, a fraction rounded up). Default: 1h. At most "
                    f"{WINDOW_BOUND.text} (10 years, the runtime's bound).")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        # The runtime counts it in whole seconds of at least 1 (as a Campaign's; domain.
        # validation, for one stored before this rule).
        at_least_a_second_rule("attributionWindow"),
    ]})


#: ServingSpec's placement fields by their names on the wire, which are a Pod spec's
#: (``render.seldon.PLACEMENT_KEYS``; a test keeps them equal: the API imports no renderer).
PLACEMENT_FIELDS = ("nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName")
#: What an edit of a placement field does (ServingSpec), said in each one's description.
_PLACEMENT_EDIT = (
    "Rendered into every predictor's pod spec, the stable's and a canary's: an edit rolls every "
    "pod of both versions, as a resources edit does, with a roll slot (--max-concurrent-graph-"
    "rolls); a new pod that cannot be placed (no node matches, a taint not tolerated, a class "
    "that does not exist) leaves the old pods serving and the roll times out (ServingApplied "
    "False, RollTimedOut).")


class ReportCredentials(ApiModel):
    """The Secret holding the bearer token report senders must present."""

    name: SecretName = Field(description="Name of a Secret in the UpliftModel's namespace (a "
                                         "DNS-1123 subdomain).")
    key: str = Field(
        default="token", min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key of the Secret holding the token: at least 16 printable ASCII "
                    "characters, no whitespace around them. Default: token.")


#: A label key as Kubernetes takes one (``IsQualifiedName``): a name of at most 63 characters
#: (alphanumeric at both ends, '-', '_' and '.' inside), optionally prefixed by a DNS-1123
#: subdomain of at most 253 and '/'. The name's bound is in the pattern, the prefix's in
#: ``LABEL_KEY_PREFIX_BOUND``: a key Kubernetes refuses in a pod spec would have Seldon's
#: Deployments refused, every predictor's (the stable's included), and the graph frozen.
LABEL_KEY_PATTERN = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                     r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_KEY_PREFIX_BOUND = r"^[^/]{0,253}(/[^/]*)?$"
#: A label value (``IsValidLabelValue``): empty, or at most 63 characters, alphanumeric at both
#: ends, '-', '_' and '.' inside.
LABEL_VALUE_PATTERN = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"



def _cel(pattern: str) -> str:
    """``pattern`` in a CEL single-quoted string literal (its backslashes escaped)."""
    return pattern.replace("\\", "\\\\")


NODE_SELECTOR_KEY = ("nodeSelector keys must be label keys: an optional DNS-1123 subdomain "
                     "prefix (at most 253 characters) and '/', then a name of at most 63 "
                     "characters, alphanumeric at both ends with '-', '_' or '.' inside (e.g. "
                     "node.kubernetes.io/instance-type); Kubernetes refuses a pod with another, "
                     "and no predictor, the stable's included, could be updated")
TOLERATION_NO_KEY = ("a toleration without key tolerates every taint: it needs operator Exists "
                     "(as Kubernetes requires)")
TOLERATION_EXISTS_VALUE = ("a toleration with operator Exists matches any value: it takes no "
                           "value (as Kubernetes requires); use operator Equal to match one")
TOLERATION_SECONDS_EFFECT = ("tolerationSeconds is only for effect NoExecute (how long a pod "
                             "stays on a node after such a taint is added; Kubernetes refuses "
                             "it with another effect)")


def _check_toleration(toleration: Toleration) -> Toleration:
    """The CEL rules' twin (``Toleration``), for a spec built in Python."""
    if toleration.key is None and toleration.operator != "Exists":
        raise ValueError(TOLERATION_NO_KEY)
    if toleration.operator == "Exists" and toleration.value:
        raise ValueError(TOLERATION_EXISTS_VALUE)
    if toleration.toleration_seconds is not None and toleration.effect != "NoExecute":
        raise ValueError(TOLERATION_SECONDS_EFFECT)
    return toleration


class Toleration(ApiModel):
    """A taint the serving pods tolerate, as in a Pod's tolerations: by key and value
    (operator Equal, the default) or by key alone (Exists), for one effect or all."""

    # The patterns are the API server's alone (RE2), as the other names of ServingSpec.
    key: str | None = Field(
        default=None, min_length=1, max_length=317,
        json_schema_extra={"pattern": LABEL_KEY_PATTERN,
                           "x-kubernetes-validations": [{
                               "rule": f"self.matches('{LABEL_KEY_PREFIX_BOUND}')",
                               "message": "a toleration's key prefix (before '/') is at most "
                                          "253 characters"}]},
        description="Taint key, a label key (e.g. dedicated, nvidia.com/gpu). Absent: every "
                    "taint key, with operator Exists only.")
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None,
        description="Equal: the taint's value must be value. Exists: any value (value absent). "
                    "Default: Equal.")
    value: str | None = Field(
        default=None, max_length=63, json_schema_extra={"pattern": LABEL_VALUE_PATTERN},
        description="Taint value for operator Equal, a label value (at most 63 characters).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="NoSchedule, PreferNoSchedule or NoExecute. Absent: every "
                                  "effect.")
    toleration_seconds: int | None = Field(
        default=None, ge=0, json_schema_extra={"format": "int64"},
        description="With effect NoExecute only: how long the pod stays on a node after the "
                    "taint is added (then it is evicted). Absent: for ever.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.key) || has(self.operator) && self.operator == 'Exists'",
         "message": TOLERATION_NO_KEY, "fieldPath": ".operator"},
        {"rule": "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || "
                 "self.value == ''",
         "message": TOLERATION_EXISTS_VALUE, "fieldPath": ".value"},
        {"rule": "!has(self.tolerationSeconds) || has(self.effect) && self.effect == 'NoExecute'",
         "message": TOLERATION_SECONDS_EFFECT, "fieldPath": ".tolerationSeconds"},
    ]})


class ImagePullSecret(ApiModel):
    """A Secret of type kubernetes.io/dockerconfigjson the kubelet pulls the runtime image
    with, as in a Pod's imagePullSecrets."""

    name: SecretName = Field(description="Name of a Secret in the UpliftModel's namespace (a "
                                         "DNS-1123 subdomain).")


#: A PodDisruptionBudget's count as the PDB API takes one: an integer, or a percent of the
#: version's pods ("25%", at most "100%"). The CRD says ``x-kubernetes-int-or-string``; the
#: pattern applies to a string, the bounds to an integer.
BUDGET_PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"
_BudgetInteger = Annotated[pydantic.StrictInt, Field(ge=0, le=2**31 - 1)]
_BudgetPercent = Annotated[str, Field(max_length=4, pattern=BUDGET_PERCENT_PATTERN)]
BudgetCount = Annotated[
    _BudgetInteger | _BudgetPercent,
    pydantic.WithJsonSchema({"x-kubernetes-int-or-string": True, "minimum": 0,
                             "maximum": 2**31 - 1, "maxLength": 4,
                             "pattern": BUDGET_PERCENT_PATTERN})]
#: Exactly one of maxUnavailable and minAvailable (the PDB API takes one of them only).
BUDGET_EXACTLY_ONE = ("a disruptionBudget takes exactly one of maxUnavailable and minAvailable "
                      "(as a PodDisruptionBudget does)")
#: A budget that never allows an eviction holds every node drain and cluster upgrade for ever;
#: the operator's admission policy (manifests/poddisruptionbudgets-policy.yaml) refuses the
#: operator's identity such a budget, so the CRD refuses the spec first. The typed model takes
#: it, so that an object stored before the rules parses: ``domain.validation`` reports it
#: (InvalidSpec: no budget is applied, a stop request is still acted on).
BUDGET_MAX_NO_EVICTION = ("disruptionBudget.maxUnavailable 0 (or \"0%\") allows no eviction: every "
                          "node drain and cluster upgrade would wait for ever; at least 1 (or "
                          "\"1%\")")
BUDGET_MIN_NO_EVICTION = ("disruptionBudget.minAvailable \"100%\" allows no eviction: every node "
                          "drain and cluster upgrade would wait for ever; prefer maxUnavailable: 1")
#: The values of each field that allow no eviction whatever the replicas, as CEL's ``string``
#: writes them.
_MAX_NO_EVICTION = ("0", "0%")
_MIN_NO_EVICTION = ("100%",)


def _check_budget(budget: DisruptionBudget) -> DisruptionBudget:
    """The CEL rule's twin (``DisruptionBudget``: exactly one count, a rule since the field
    came), for a spec built in Python. The no-eviction rules came later: an object stored
    before them holds such a count, which ``domain.validation`` reports
    (``no_eviction_problems``)."""
    if (budget.max_unavailable is None) == (budget.min_available is None):
        raise ValueError(BUDGET_EXACTLY_ONE)
    return budget


def no_eviction_problems(budget: DisruptionBudget) -> list[str]:
    """What the no-eviction rules say of ``budget`` (the messages name the field under
    ``spec.serving``)."""
    problems = []
    if budget.max_unavailable is not None and str(budget.max_unavailable) in _MAX_NO_EVICTION:
        problems.append(BUDGET_MAX_NO_EVICTION)
    if budget.min_available is not None and str(budget.min_available) in _MIN_NO_EVICTION:
        problems.append(BUDGET_MIN_NO_EVICTION)
    return problems


class DisruptionBudget(ApiModel):
    """A PodDisruptionBudget per served version, which the operator creates and deletes."""

    max_unavailable: BudgetCount | None = Field(
        default=None,
        description="How many of a version's serving pods a voluntary disruption (a node drain's "
                    "eviction) may take at once: an integer, or a percent of the version's pods "
                    "(\"25%\", rounded up). 1 lets a drain go on one pod at a time whatever the "
                    "replicas: the recommended setting. Not 0 (or \"0%\"), which allows no "
                    "eviction.")
    min_available: BudgetCount | None = Field(
        default=None,
        description="How many of a version's serving pods must stay available through a "
                    "voluntary disruption: an integer, or a percent of the version's pods "
                    "(\"50%\", rounded up). Not \"100%\", which allows no eviction. Equal to the "
                    "replicas or more (minAvailable: 1 with replicas: 1) no eviction is allowed "
                    "either, and a node drain waits for ever: prefer maxUnavailable.")
    unhealthy_pod_eviction_policy: Literal["IfHealthyBudget", "AlwaysAllow"] | None = Field(
        default=None,
        description="When a pod that is not Ready may be evicted (the PodDisruptionBudget's "
                    "unhealthyPodEvictionPolicy): IfHealthyBudget, only while the budget "
                    "allows a disruption; AlwaysAllow, always (a crash-looping canary pod does "
                    "not hold a drain). Default: the cluster's (IfHealthyBudget).")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.maxUnavailable) != has(self.minAvailable)",
         "message": BUDGET_EXACTLY_ONE},
        {"rule": "!has(self.maxUnavailable) || !(string(self.maxUnavailable) in "
                 + str(list(_MAX_NO_EVICTION)) + ")",
         "message": BUDGET_MAX_NO_EVICTION},
        {"rule": "!has(self.minAvailable) || !(string(self.minAvailable) in "
                 + str(list(_MIN_NO_EVICTION)) + ")",
         "message": BUDGET_MIN_NO_EVICTION},
    ]})


class ServingSpec(ApiModel):
    """How each model version is served."""

    backend: Literal["seldon-v1"] = Field(
        default="seldon-v1",
        description="Serving backend. seldon-v1: a SeldonDeployment (machinelearning.seldon.io/v1,"
                    " protocol v2). Default: seldon-v1.")
    replicas: int = Field(default=1, ge=1, le=100, description=(
        "Replicas per predictor. Default: 1. An edit rolls every pod of both versions (the "
        "stable's and a canary's: the count is rendered into their pod spec, which is what "
        "Seldon compares), and waits for a roll slot (--max-concurrent-graph-rolls) like any "
        "re-render. What a runtime pod holds in memory is lost with it: a budget stop, the "
        "report dedup window, the pod's caps and counts (docs/runtime.md, \"Scale with "
        "replicas\")."))
    resources: ResourceRequirements | None = Field(
        default=None, description="Resources of the runtime container.")
    # The patterns are the API server's alone: the model types a value stored before them, so
    # ``domain.validation`` calls it InvalidSpec, naming the field, and an abort is still acted
    # on (the spec typed); a value the model refused would leave the spec untyped.
    runtime_image: str | None = Field(
        default=None, max_length=512, json_schema_extra={"pattern": RUNTIME_IMAGE_PATTERN},
        description="Image of the uplift MLServer runtime: no whitespace or control "
                    "characters. Default: the operator's configured image.")
    service_account_name: str | None = Field(
        default=None, max_length=253, json_schema_extra={"pattern": SUBDOMAIN_PATTERN},
        description="Service account of the serving pods (a DNS-1123 subdomain, as Kubernetes "
                    "names one). Default: the namespace's default ServiceAccount.")
    report_credentials: ReportCredentials | None = Field(
        default=None,
        description="Secret whose token the runtime's report endpoints (/uplift/v1/deliveries, "
                    "/uplift/v1/outcomes) require as 'Authorization: Bearer <token>'; the "
                    "serving pods mount that key alone as a file (UPLIFT_REPORT_TOKEN_FILE) and "
                    "re-read it when the kubelet refreshes it, so a new value is taken without "
                    "a restart (docs/runtime.md, 'Rotating the report token'). Inference stays "
                    "open. The operator checks the Secret and key exist before it renders them "
                    "(else InvalidSpec, serving left as it was). Default: no token, the report "
                    "endpoints answer whoever reaches the pods (restrict that with a "
                    "NetworkPolicy).")
    runtime_credentials: SecretCredentials | None = Field(
        default=None,
        description="Secret with the MLflow credentials the serving pods load the model with "
                    "(the same keys as model.credentials: tokenKey, or usernameKey and "
                    "passwordKey), given to the runtime container as MLFLOW_TRACKING_TOKEN, or "
                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, instead of "
                    "model.credentials'. Recommended: an MLflow user with READ alone. The pods "
                    "only read, while model.credentials also writes back (EDIT, MANAGE), and a "
                    "pod runs its model's code (an artifact is unpickled) and whoever may exec "
                    "into it reads its environment (docs/security.md, 'Trust boundaries'). The "
                    "operator checks the Secret and keys exist before it renders them (else "
                    "InvalidSpec, serving left as it was); an edit rolls every pod of both "
                    "versions, with a roll slot (--max-concurrent-graph-rolls). Default: the "
                    "serving pods get model.credentials, the operator's write-back "
                    "credentials.")
    # Placement: rendered into every predictor's pod spec (render.seldon, PLACEMENT_KEYS), the
    # stable's and a canary's alike, as resources and serviceAccountName are.
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=64,
        json_schema_extra={
            "additionalProperties": {"type": "string", "maxLength": 63,
                                     "pattern": LABEL_VALUE_PATTERN},
            "x-kubernetes-map-type": "atomic",
            "x-kubernetes-validations": [{
                "rule": f"self.all(k, k.size() <= 317 && k.matches('{_cel(LABEL_KEY_PATTERN)}') "
                        f"&& k.matches('{LABEL_KEY_PREFIX_BOUND}'))",
                "message": NODE_SELECTOR_KEY}]},
        description=f"Node labels every serving pod's node must have (a Pod's nodeSelector), "
                    f"e.g. node.kubernetes.io/instance-type: m5.2xlarge; at most 64, each key a "
                    f"label key and each value a label value. {_PLACEMENT_EDIT}")
    tolerations: list[Annotated[Toleration, AfterValidator(_check_toleration)]] | None = Field(
        default=None, max_length=32, json_schema_extra={"x-kubernetes-list-type": "atomic"},
        description=f"Taints the serving pods tolerate (a Pod's tolerations), e.g. a dedicated "
                    f"inference node pool's; at most 32. A toleration lets a pod onto a tainted "
                    f"node, it does not send it there: pair it with nodeSelector. "
                    f"{_PLACEMENT_EDIT}")
    image_pull_secrets: list[ImagePullSecret] | None = Field(
        default=None, max_length=16,
        json_schema_extra={**LIST_MAP_BY_NAME, "x-kubernetes-validations": [
            {"rule": "self.all(s, self.filter(t, t.name == s.name).size() == 1)",
             "message": "imagePullSecrets[].name must be unique"}]},
        description=f"Secrets (type kubernetes.io/dockerconfigjson) the kubelet pulls the runtime "
                    f"image with, unique by name, at most 16 (a Pod's imagePullSecrets): for a "
                    f"runtimeImage in a private registry, when the serving pods' ServiceAccount "
                    f"does not carry them. The operator does not read them (a Secret missing is "
                    f"the kubelet's pull without it: ImagePullBackOff for a private image). "
                    f"{_PLACEMENT_EDIT}")
    priority_class_name: str | None = Field(
        default=None, max_length=253, json_schema_extra={"pattern": SUBDOMAIN_PATTERN},
        description=f"PriorityClass of the serving pods (a DNS-1123 subdomain): their priority "
                    f"in scheduling and preemption; a class that does not exist has every new "
                    f"pod refused at creation. Default: the cluster's default class, or 0. "
                    f"{_PLACEMENT_EDIT}")

    disruption_budget: Annotated[DisruptionBudget, AfterValidator(_check_budget)] | None = (
        Field(
            default=None,
            description="A PodDisruptionBudget per version the serving graph runs (the "
                        "stable's, and a canary's while its pods run), created, updated and "
                        "deleted by the operator (named <model>-v<version>, or cut short with "
                        "a digest past 63 characters; owned by the UpliftModel), selecting that "
                        "version's serving pods alone (seldon-deployment-id and "
                        "uplift.dev/version): a node drain evicts them within it. Applied with "
                        "the serving graph, and deleted when its version leaves the graph or "
                        "this field is removed; one deleted or edited by hand is put back at "
                        "the next change of what is wanted or operator restart. A budget the "
                        "operator cannot apply never holds serving back (DisruptionBudgetApplied "
                        "False, a Warning event, retried). Nothing rolls: the pods are not "
                        "changed. Absent: no PodDisruptionBudget (a drain may evict every pod "
                        "of a version at once)."))

    def placement(self) -> dict[str, JsonValue]:
        """The placement fields set, as a Pod's spec takes them (``nodeSelector``,
        ``tolerations``, ``imagePullSecrets``, ``priorityClassName``): what
        ``render.serving.RuntimeSettings.placement`` renders into every predictor."""
        wire = self.to_wire()
        return {key: wire[key] for key in PLACEMENT_FIELDS if wire.get(key)}


class RolloutStep(ApiModel):
    """One step of the canary ramp: a traffic weight held for a pause."""

    weight: int = Field(gt=0, le=100, description="Percent of traffic to the canary, in (0, 100].")
    pause: Duration | None = step_pause_field()


#: Why the API server (and ``domain.validation``) refuses a gate bound the evaluator cannot judge.
ERROR_RATE_MAX = ("an errorRate gate's max is a share of requests: it must be above 0 and below 1 "
                  "(at 0 the gate could never pass, at 1 never fail)")
#: PSI is never below 0, a p95 never at or below 0 s: at max 0 or below, the gate's Fail is
#: shown at the first look and every canary (a Campaign's exposure) is rolled back.
DRIFT_MAX = ("a drift gate's max is a PSI bound: it must be above 0 (a PSI is never below 0, so "
             "at 0 or below the gate fails at the first look; default 0.1), unless the gate "
             "is dryRun")
LATENCY_MAX = ("a latency gate's max is a p95 in seconds: it must be above 0 (at 0 or below "
               "every canary's p95 is above it, so the gate fails at the first look), unless "
               "the gate is dryRun")
RELATIVE_MARGIN = ("a relative margin must be below 1: it is a fraction of the stable's value "
                   "(marginType absent: relative for latency, errorRate and qini)")
#: The gate types whose margin is relative when marginType is absent
#: (``domain.gates.margin_of``; a test keeps them equal).
RELATIVE_BY_DEFAULT = ("latency", "errorRate", "qini")
UPLIFT_SANITY_BAND = ("an upliftSanity gate's band needs min below max (absent: min -1, max 1, "
                      "in training standard deviations)")

#: The gate types that read each optional gate field; the API server refuses the field on the
#: others (``field_rules``), so no setting is silently ignored.
MODEL_GATE_FIELDS: dict[str, tuple[str, ...]] = {
    "margin": ("latency", "errorRate", "qini", "onlineEffect"),
    "marginType": ("latency", "errorRate", "qini", "onlineEffect"),
    "min": ("qini", "upliftSanity", "custom"),
    "max": ("latency", "errorRate", "drift", "qini", "upliftSanity", "custom"),
    "expectedSamples": ("drift", "qini", "onlineEffect", "upliftSanity"),
    "features": ("drift",),
    "treatments": ("qini",),
    "query": ("custom",),
    "templateRef": ("latency", "custom"),
    # A custom gate compares a value with min/max: no test, no error level.
    "alpha": ("latency", "errorRate", "drift", "qini", "onlineEffect", "upliftSanity"),
}


class ModelGate(GateSpecBase):
    """A gate every rollout step must pass."""

    field_readers = MODEL_GATE_FIELDS
    kind = "UpliftModel"

    type: Literal["latency", "errorRate", "drift", "qini", "onlineEffect", "upliftSanity",
                  "custom"] = Field(
        description="latency: the canary's p95 against the stable's within margin, and/or "
                    "against max seconds, judged on the bucket counts of the classic Prometheus "
                    "histogram its template reads (templateRef, default uplift-latency-p95; a "
                    "template that reads no <name>_bucket series over a range, e.g. a native "
                    "histogram or a recording rule, makes the resource InvalidSpec). errorRate: "
                    "the canary's error rate against the stable's within margin, and/or against "
                    "max. drift: every feature's PSI (live vs training histograms) against max "
                    "(default 0.1). qini: the offline Qini from MLflow, paired against the "
                    "stable's within margin, above min (default 0) and below max, judged before "
                    "any traffic moves. onlineEffect: the treated conversion rate under the "
                    "canary against under the stable, within margin (absolute, default 0.005). "
                    "upliftSanity: the mean predicted uplift within [min, max] training "
                    "standard deviations (default [-1, 1]). custom: any PromQL scalar with "
                    "min/max. A field the type does not read (margin, marginType, min, max, "
                    "expectedSamples, features, treatments, query, templateRef; alpha on a "
                    "custom gate) is refused.")

    # Bounds the evaluators could never judge (an Error at every analysis, then a rollback);
    # ``domain.validation`` refuses the same of an object stored before (InvalidSpec).
    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            *gate_rules(["custom"]), *field_rules(MODEL_GATE_FIELDS, "UpliftModel"),
            {"rule": "self.type != 'errorRate' || !has(self.max) || "
                     "self.max > 0.0 && self.max < 1.0",
             "message": ERROR_RATE_MAX, "fieldPath": ".max"},
            # A dryRun gate acts on nothing (its Fail holds and rolls back nothing): it may
            # keep such a bound, as it could before these rules came.
            {"rule": "(has(self.dryRun) && self.dryRun) || self.type != 'drift' || "
                     "!has(self.max) || self.max > 0.0",
             "message": DRIFT_MAX, "fieldPath": ".max"},
            {"rule": "(has(self.dryRun) && self.dryRun) || self.type != 'latency' || "
                     "!has(self.max) || self.max > 0.0",
             "message": LATENCY_MAX, "fieldPath": ".max"},
            {"rule": "!has(self.margin) || self.margin < 1.0 || (has(self.marginType) ? "
                     "self.marginType == 'absolute' : !(self.type in "
                     f"[{', '.join(repr(t) for t in RELATIVE_BY_DEFAULT)}]))",
             "message": RELATIVE_MARGIN, "fieldPath": ".margin"},
            # [-1, 1]: the default band (``domain.gates.DEFAULT_SANITY_BAND``; a test keeps
            # them equal).
            {"rule": "self.type != 'upliftSanity' || "
                     "(has(self.min) ? self.min : -1.0) < (has(self.max) ? self.max : 1.0)",
             "message": UPLIFT_SANITY_BAND}]})


_DEFAULT_INTERVAL = "1m"


class RolloutSpec(RampSpecBase):
    """How a new version goes out: the ramp, the analysis cadence and the gates."""

    steps: list[RolloutStep] = Field(
        min_length=1, max_length=20,
        description="Ramp steps with strictly increasing weights; after the last one passes the "
                    "canary is promoted.")
    analysis_interval: Duration = Field(
        default=_DEFAULT_INTERVAL,
        description=f"How often gates are evaluated; at least 1s, and no longer than any step's "
                    f"pause. Default: {_DEFAULT_INTERVAL}. {AT_MOST}")
    gates: list[ModelGate] = Field(
        min_length=1, max_length=16,
        description="Gates evaluated at every step; at least one, unique by name.",
        json_schema_extra=LIST_MAP_BY_NAME)
    split_tolerance: float = split_tolerance_field(
        "How far the canary's realised share of requests may be from the last "
        "step's weight, relative to it, for the promotion: a gate that measures "
        "the traffic split (errorRate, latency, onlineEffect) passes on the last "
        "step only once the split is shown within weight × (1 ± splitTolerance) "
        "(anytime-valid, at the gate's alpha), so a split the sample-ratio check "
        "has not had the requests to flag cannot be promoted; onlineEffect also waits "
        "for the canary's holdout share shown within holdoutFraction ± "
        "splitTolerance × √(holdoutFraction × (1 − holdoutFraction)), a departure "
        "as easy to show. 0.04 is 52/48 on a 50/50 step; larger values promote "
        "sooner on little traffic; 0 turns the wait off (the sample-ratio check "
        "still holds the ramp on a mismatch). Default: 0.04.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.steps.map(s, s.weight).isSorted() && "
                 "self.steps.all(s, self.steps.filter(t, t.weight == s.weight).size() == 1)",
         "message": "steps[].weight must be strictly increasing", "fieldPath": ".steps"},
        {"rule": "self.gates.all(g, self.gates.filter(h, h.name == g.name).size() == 1)",
         "message": "gates[].name must be unique", "fieldPath": ".gates"},
        *ramp_rules(_DEFAULT_INTERVAL, "UpliftModel"),
        # A step at 100 % leaves the stable no traffic: comparative gates could never conclude.
        # A dry-run gate never holds a step (it is judged and reported only).
        {"rule": "self.steps[self.steps.size() - 1].weight < 100 || self.gates.all(g, "
                 "(has(g.dryRun) && g.dryRun) || g.type != 'onlineEffect' && "
                 "!(g.type in ['errorRate', 'latency'] && !has(g.max)))",
         "message": "a last step at weight 100 leaves the stable version no traffic to compare "
                    "with: onlineEffect, and errorRate or latency gates without max, could never "
                    "pass there (a dryRun gate, which holds no step, may stay); end the ramp "
                    "below 100 (the canary is promoted after the last step)",
         "fieldPath": ".steps"},
    ]})


class RollbackPolicy(RollbackPolicyBase):
    """What happens when a gate fails beyond its limit."""

    scale_down_delay: Duration = Field(
        default="0s",
        description="How long a rolled-back canary predictor (or the stable an emergency "
                    "rollback replaced, once the restored one serves) stays deployed at weight "
                    "0, for inspection, and only while its Deployment is whole (every pod "
                    "available): Seldon Core 1.17.1 moves traffic and removes predictors only "
                    "once every predictor's Deployment is available, so one with a pod down is "
                    "removed at once. "
                    f"Default: 0s. {AT_MOST}")


#: Why the API server refuses a gate naming a treatment the model does not have (the operator
#: too, for one stored before the rule: ``domain.validation``).
MODEL_GATE_TREATMENTS_UNKNOWN = ("a gate's treatments must be treatments of spec.treatments: a "
                                 "gate judges only treatments the model scores")


class UpliftModelSpec(ApiModel):
    """Desired state of an UpliftModel."""

    model: ModelReference = Field(description="The registered MLflow model to serve.")
    treatments: list[Treatment] = Field(
        min_length=1, max_length=32,
        description="Treatments the model scores against the control; unique names.",
        json_schema_extra=LIST_MAP_BY_NAME)
    features: list[FeatureSpec] | None = Field(
        default=None, max_length=1024,
        description="Feature schema, unique by name; checked against the model signature.",
        json_schema_extra=LIST_MAP_BY_NAME)
    experiment: ExperimentSpec = Field(
        default_factory=ExperimentSpec,
        description="The randomized holdout of the online gates. Cannot change while a canary "
                    "runs (status.canaryVersion); change it once the canary is promoted or "
                    "rolled back.")
    serving: ServingSpec = Field(default_factory=ServingSpec, description="How versions are served.")
    rollout: RolloutSpec = Field(description="The canary ramp and its gates.")
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy,
                                     description="What a failing gate does.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.treatments.all(t, self.treatments.filter(u, u.name == t.name).size() == 1)",
         "message": "treatments[].name must be unique", "fieldPath": ".treatments"},
        # Unique keys (``model.keys.treatment_key``): with no '--' (``Treatment``), two names
        # share one only as 't-1a' and '1a' (both 't_1a').
        {"rule": "self.treatments.all(t, !t.name.matches('^[0-9]') || "
                 "!self.treatments.exists(u, u.name == 't-' + t.name))",
         "message": TREATMENT_KEYS_SHARED, "fieldPath": ".treatments"},
        # A gate's treatments are the model's (the operator refuses it too, naming them), as a
        # Campaign's (campaign.GATE_TREATMENTS_UNKNOWN).
        {"rule": "self.rollout.gates.all(g, !has(g.treatments) || "
                 "g.treatments.all(n, self.treatments.exists(t, t.name == n)))",
         "message": MODEL_GATE_TREATMENTS_UNKNOWN, "fieldPath": ".rollout.gates"},
    ]})


#: The longest ``status.servingSplit`` (``domain.serving_split.describe`` words at most 8
#: predictors of 16-character versions, well within it).
SERVING_SPLIT_LENGTH = 256


class UpliftModelStatus(RampStatus):
    """Observed state of an UpliftModel; a pure function of what the operator observed."""

    # Its own words (StatusBase's speak of a Campaign too): every problem domain.stuck counts
    # for an UpliftModel, each reason named (unit test_model_phase_explain).
    phase: Phase | None = Field(
        default=None,
        description="Progressing, Healthy, Degraded or Paused. Degraded too (but a Paused ramp) "
                    "once a condition has said for 5 minutes, or progressDeadline when shorter, "
                    "that the spec has not taken effect: ServingFailed True, ServingApplied "
                    "False (ApplyFailed: the API server refused the serving graph; "
                    "RollTimedOut: its new pods did not serve within the roll timeout), "
                    "ModelResolved False (ModelNotFound, VersionFailed, InvalidModel, "
                    "CredentialsUnreadable, CredentialsRefused, TrackingUriMissing). A Paused "
                    "ramp whose stable version stops serving stays Paused (Argo CD's health "
                    "check shows it Degraded).")
    stable_version: str | None = Field(default=None, max_length=16,
                                       description="Version serving the stable predictor.")
    canary_version: str | None = Field(default=None, max_length=16,
                                       description="Version on the canary predictor, if any.")
    previous_stable_version: str | None = Field(
        default=None, max_length=16,
        description="Version that was stable before the last promotion; target of an emergency "
                    "rollback.")
    desired_version: str | None = Field(
        default=None, max_length=16,
        description="Version the spec resolves to (the alias' target, or spec.model.version); "
                    "while it does not resolve (MLflow unreachable, the alias gone), the last "
                    "version it resolved to.")
    canary_weight: int = Field(default=0, ge=0, le=100, description="Percent of traffic to canary.")
    serving_split: str | None = Field(
        default=None, max_length=SERVING_SPLIT_LENGTH,
        description="The traffic split the serving graph carries, as the operator last read or "
                    "applied it: each predictor's version and traffic percent, versions in "
                    "ascending order (e.g. 'v1 0%, v2 100%'). It differs from stableVersion, "
                    "canaryVersion and canaryWeight (the decided split) while the graph is "
                    "behind the decision: an emergency rollback's restore (the replaced stable "
                    "keeps the traffic until the restored version serves), an apply refused "
                    "(ServingApplied False), a hand edit not reverted yet. The split the graph "
                    "declares, which Seldon routes by once it has reconciled it. Absent without "
                    "a graph (and from statuses written before this field).")
    canary_started_at: dt.datetime | None = Field(
        default=None, description="When the canary version was deployed; its own counts (drift, "
                                  "predicted uplift) are taken since then.")
    split_applied_at: dt.datetime | None = Field(
        default=None, description="When the serving graph was last found not splitting traffic as "
                                  "this step says (an apply that failed, a replica that died "
                                  "between its apply and its status write, a hand edit) and "
                                  "applied again; the traffic-split check counts from one "
                                  "analysis interval after the later of it and stepStartedAt.")
    canary_not_serving_since: dt.datetime | None = Field(
        default=None,
        description="Since when the canary, with traffic (weight above 0), has not served (no "
                    "available replica of its predictor) while the stable version serves; "
                    "absent while it serves. Past 5 minutes, or spec.rollout.progressDeadline "
                    "when shorter, it is rolled back as a failed canary (rollback.mode Manual: "
                    "held Paused, Ready RollbackPending, until an abort or until it serves "
                    "again).")
    aborted_version: str | None = Field(
        default=None, max_length=16,
        description="Canary version rolled back or aborted (a gate, an abort, an emergency "
                    "rollback while a canary ran); not rolled out again until a new version or "
                    "a retry. Cleared when a canary starts.")
    emergency_rolled_back_version: str | None = Field(
        default=None, max_length=16,
        description="Stable version an emergency rollback replaced by previousStableVersion: it "
                    "keeps the traffic until the restored version serves, then stays deployed "
                    "at weight 0 for rollback.scaleDownDelay; not rolled out again until a new "
                    "version or a retry. A restored version that has not served within "
                    "spec.rollout.progressDeadline (10m without one) makes the phase Degraded "
                    "(ProgressDeadlineExceeded); until it serves, a retry (uplift.dev/retry) "
                    "withdraws the rollback: this version is stable again. Cleared when a "
                    "canary starts or the rollback is withdrawn. (Operators before this field "
                    "put this version in abortedVersion.)")
    stable_served_version: str | None = Field(
        default=None, max_length=16,
        description="stableVersion once it has been seen serving (Ready StableServing or "
                    "RollbackPending); absent until then, and again once another version "
                    "becomes stable, until that one serves. It tells a stable version that no "
                    "longer serves (Degraded, 'stable version N does not serve any more') from "
                    "one still awaited (Progressing, 'waiting for stable version N to serve'), "
                    "across passes that replace Ready (an invalid spec, a serving conflict). "
                    "Without it (a status written before this field, or pruned by an older CRD) "
                    "Ready is read: StableServing, RollbackPending, or 'stable version N does "
                    "not serve any more'.")
    seldon_deployment: str | None = Field(default=None, max_length=253,
                                          description="Name of the SeldonDeployment.")


#: An UpliftModel's name names its serving graph's container and the Services Seldon derives
#: from it (DNS-1035 labels: a letter first, no '.') and is a label value (at most 63).
MODEL_NAME_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
MODEL_NAME = ("metadata.name must be a DNS-1035 label: at most 63 characters, lower-case "
              "letters, digits and '-', starting with a letter and ending with a letter or "
              "digit (no '.'): it names the serving graph's container and Services and is a "
              "label value")


_SAME_EXPERIMENT = _same_experiment()


class UpliftModel(ApiModel):
    """An uplift model version from MLflow, served as a Seldon inference graph with canary ramps."""

    api_version: Literal["uplift.dev/v1alpha1"] = Field(default="uplift.dev/v1alpha1",
                                                        description="uplift.dev/v1alpha1")
    kind: Literal["UpliftModel"] = Field(default="UpliftModel", description="UpliftModel")
    spec: UpliftModelSpec = Field(description="Desired state.")
    status: UpliftModelStatus | None = Field(default=None, description="Observed state.")

    # A canary's online gates compare its decisions with the stable's under one holdout draw
    # and one attribution window: changed mid-canary, the runtimes restart on the new holdout
    # (units move between arms, the cohorts in flight fail the sample-ratio checks) and the
    # cohorts mix two windows. Between canaries the experiment may change.
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        name_rule(MODEL_NAME_PATTERN, MODEL_NAME),
        {"rule": "!has(oldSelf.status) || !has(oldSelf.status.canaryVersion) || "
                 + _SAME_EXPERIMENT,
         "message": "spec.experiment cannot change while a canary runs (status.canaryVersion): "
                    "its online gates compare the versions under one holdout and attribution "
                    "window; change it once the canary is promoted or rolled back",
         "fieldPath": ".spec.experiment"},
    ]})
