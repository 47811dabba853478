"""Semantic validation: what the API server's schema and CEL rules cannot know.

The schema already refuses malformed resources. What is left needs context the API server does
not have — the operator's metric templates, the referenced UpliftModel, the registered version
the spec resolves to (``ModelContract``: its signature and treatments), the credentials Secret
the spec names — or cross-field arithmetic that is clearer here than in CEL; and what the API
server refuses now but an object stored before its rule may hold (a Duration past its bound, a
gate bound its evaluator cannot judge, a name the serving graph or the runtime cannot carry),
so such an object is InvalidSpec, its abort still acted on, never an Error or an exception at
every pass. Each function returns the list of problems, each one naming the field, so the
status message says exactly what to fix. An empty list means valid. No message ever quotes a
credential.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser
from pydantic import ValidationError

from uplift_operator.api.v1alpha1.campaign import (
    CAMPAIGN_NAME,
    CAMPAIGN_NAME_PATTERN,
    CAMPAIGN_SALT_TAKEN,
    DELIVERY_RATE_MIN,
    INCREMENTAL_CONVERSIONS_MIN,
    ROI_COST,
    ROI_VALUE,
    CampaignSpec,
    Targeting,
)
from uplift_operator.api.v1alpha1.common import (
    COMPARED_RESOURCES,
    MAX_ATTRIBUTION_WINDOW_SECONDS,
    REQUEST_OVER_LIMIT,
    SUBDOMAIN_PATTERN,
    ApiModel,
    GateSpecBase,
    RampSpecBase,
    ResourceList,
    at_least,
    clamp_durations,
    duration_seconds,
    durations,
    parse_duration,
    quantity_value,
)
from uplift_operator.api.v1alpha1.upliftmodel import (
    ALIAS_VERSION_RESERVED,
    DRIFT_MAX,
    ERROR_RATE_MAX,
    LATENCY_MAX,
    LATEST_ALIAS_PATTERN,
    LATEST_RESERVED,
    MODEL_NAME,
    MODEL_NAME_PATTERN,
    RUNTIME_IMAGE_PATTERN,
    UPLIFT_SANITY_BAND,
    VERSION_ALIAS_PATTERN,
    VERSION_RESERVED,
    VERSION_SPLIT_SALT,
    VERSION_SPLIT_SALT_TAKEN,
    UpliftModelSpec,
    no_eviction_problems,
)
from uplift_operator.domain import promql
from uplift_operator.domain import templates as templating
from uplift_operator.domain.gates import DEFAULT_SANITY_BAND, margin_of
from uplift_operator.model.keys import NONE, treatment_key, treatment_keys

__all__ = ["CONTROL_PLANE_TAINTS", "CUSTOM_CONSTANT_FALLBACK", "CUSTOM_MIN_SAMPLES",
           "EXPERIMENT_IMMUTABLE", "LATENCY_NEEDS_VERSION", "MAX_ATTRIBUTION_WINDOW_SECONDS",
           "SYSTEM_PRIORITY_CLASSES", "ConstantFallback", "ModelContract", "ModelFeatures",
           "ServingPolicy", "constant_fallback", "credential_problems", "duration_problems",
           "gate_bound_problems", "ignored_gate_fields", "ignored_targeting_fields",
           "names_the_version", "query_variables", "schema_problems", "short_progress_deadline",
           "unknown_gate_features", "validate_against_model", "validate_campaign",
           "validate_upliftmodel", "while_a_canary_runs"]

#: The version a query is checked with (any version renders to the same syntax).
_EXAMPLE_VERSION = "1"


def schema_problems(error: ValidationError, prefix: str = "spec") -> list[str]:
    """What the typed model refused (the API server normally refuses it first), by field."""
    return [f"{prefix}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]


def query_variables(namespace: str, name: str, analysis_interval: str,
                    model: str | None = None) -> dict[str, str]:
    """The values a gate query's ``{{variables}}`` take when it is checked: the resource's own,
    its model's (a Campaign's; an UpliftModel is its own), the analysis interval (the collectors
    may render a longer one, ``services.measurements.rate_interval``: the same syntax), and an
    example version."""
    seconds = int(parse_duration(analysis_interval).total_seconds())
    return {"namespace": namespace, "name": name, "model": model or name,
            "version": _EXAMPLE_VERSION,
            "predictor": f"v{_EXAMPLE_VERSION}", "interval": f"{seconds}s"}


#: Values for a query's variables when only its syntax matters (``constant_fallback``).
_SYNTAX_VARIABLES = query_variables("default", "example", "1m")


def duration_problems(spec: ApiModel) -> list[str]:
    """Every Duration of ``spec`` longer than its type's bound (``api``'s ``DurationBound``, as
    the CRD's rule: an attribution window 10 years, the runtime's bound, any other 100 years),
    by field: an object stored before the API server refused it (``parse_duration`` refuses
    the longest; past some thousands of years no time could be computed from it)."""
    return [f"{where} must be at most {bound.text} ({bound.why}); got {value}"
            for where, value, bound in durations(spec, "spec")
            if duration_seconds(value) > bound.seconds]


def _name_problems(name: str, pattern: str, why: str) -> list[str]:
    """The CRD's rule on metadata.name, for an object created before it (``why`` says it)."""
    if len(name) <= 63 and re.fullmatch(pattern, name):
        return []
    return [f"{why} (got {name!r}); create it again under such a name"]


#: The taint-key prefix of the control plane's taints (node-role.kubernetes.io/control-plane,
#: /master): a toleration of one is refused under ``ServingPolicy.narrow_placement``.
CONTROL_PLANE_TAINTS = "node-role.kubernetes.io/"
#: The PriorityClasses Kubernetes keeps for what a node or the cluster cannot run without (their
#: pods preempt any other and are evicted last): refused under ``narrow_placement``.
SYSTEM_PRIORITY_CLASSES = ("system-node-critical", "system-cluster-critical")
#: Who refuses what ``narrow_placement`` refuses, said in each of its messages.
_NARROWED = ("which the SeldonDeployments admission policy refuses from the operator "
             "(--narrow-serving-placement); rendered, no apply of the serving graph would go "
             "through")


@dataclass(frozen=True)
class ServingPolicy:
    """What the operator's administrator lets an UpliftModel's author choose (the operator's
    ``--allowed-*`` options): whoever may create an UpliftModel otherwise chooses the MLflow
    server the operator sends a namespace's credentials Secret to, and the image and
    ServiceAccount of pods the operator creates. Each is a list of regular expressions the
    whole value must match; empty: anything. The operator's own defaults (its tracking URI and
    runtime image) are always allowed.

    The serving pods' placement is held to what the SeldonDeployments admission policy admits
    from the operator, so that a model the policy would refuse is InvalidSpec (its graph left
    as rendered, less what the policy refuses of it: ``admitted_placement``; an abort or a
    rollback still applied: ``services.upliftmodel._invalid``) rather
    than valid and refused at every apply, the rollbacks' included: ``narrow_placement``
    (``--narrow-serving-placement``, set by the chart and the manifests with the policy) refuses
    a toleration without a key (it tolerates every taint) or of a control-plane taint
    (``CONTROL_PLANE_TAINTS``) and a ``SYSTEM_PRIORITY_CLASSES`` class; ``image_pull_secrets``
    (``--allowed-image-pull-secret``, the chart's ``allowed.imagePullSecrets``) are the exact
    names an ``imagePullSecrets`` entry may take, empty: any."""

    tracking_uris: tuple[str, ...] = ()
    runtime_images: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    default_tracking_uri: str | None = None
    default_runtime_image: str | None = None
    narrow_placement: bool = False
    image_pull_secrets: tuple[str, ...] = ()

    def problems(self, spec: UpliftModelSpec) -> list[str]:
        return [f"{where} {value!r} is not allowed by the operator ({option}: "
                f"{', '.join(allowed)})" for where, value, allowed, option in self._refused(spec)
                ] + [message for _where, message in self._refused_placement(spec)]

    def within(self, spec: UpliftModelSpec) -> UpliftModelSpec:
        """``spec`` with each value the policy refuses unset (the operator's default then: its
        tracking URI, its runtime image, the namespace's default ServiceAccount, the cluster's
        default PriorityClass) or, in a list (tolerations, imagePullSecrets), left out (none
        left: none rendered)."""
        refused = {where for where, *_ in self._refused(spec)}
        refused |= {where for where, _message in self._refused_placement(spec)}
        model = {"tracking_uri": None} if "spec.model.trackingUri" in refused else {}
        serving: dict[str, Any] = {key: None for where, key in (
            ("spec.serving.runtimeImage", "runtime_image"),
            ("spec.serving.serviceAccountName", "service_account_name"),
            ("spec.serving.priorityClassName", "priority_class_name")) if where in refused}
        for where, key in (("spec.serving.tolerations", "tolerations"),
                           ("spec.serving.imagePullSecrets", "image_pull_secrets")):
            items = getattr(spec.serving, key)
            if items is not None and any(w.startswith(f"{where}[") for w in refused):
                serving[key] = [item for i, item in enumerate(items)
                                if f"{where}[{i}]" not in refused] or None
        if not model and not serving:
            return spec
        return spec.model_copy(update={"model": spec.model.model_copy(update=model),
                                       "serving": spec.serving.model_copy(update=serving)})

    def admitted_placement(self, placement: Mapping[str, Any]) -> dict[str, Any]:
        """``placement`` (pod spec keys → values, as a graph's pods carry it: a read-back
        ``RuntimeSettings.placement``) without what the policy refuses, item by item as
        ``_refused_placement`` refuses a spec's: a refused toleration or pull Secret left out
        (none left: the key dropped), a refused PriorityClass dropped. A graph rendered before
        the policy (or before its pull-Secret list was narrowed) is re-rendered admitted, so an
        abort or a rollback held on it still reaches it."""
        admitted = dict(placement)
        tolerations = admitted.get("tolerations")
        if self.narrow_placement and isinstance(tolerations, list):
            admitted["tolerations"] = [t for t in tolerations if not (
                isinstance(t, Mapping) and self._refuses_toleration_key(t.get("key")))]
        if self.narrow_placement and admitted.get("priorityClassName") in SYSTEM_PRIORITY_CLASSES:
            del admitted["priorityClassName"]
        secrets = admitted.get("imagePullSecrets")
        if self.image_pull_secrets and isinstance(secrets, list):
            admitted["imagePullSecrets"] = [s for s in secrets if isinstance(s, Mapping)
                                            and s.get("name") in self.image_pull_secrets]
        return {key: value for key, value in admitted.items()
                if value or key not in ("tolerations", "imagePullSecrets")}

    @staticmethod
    def _refuses_toleration_key(key: Any) -> bool:
        """Whether a toleration of this key is refused under ``narrow_placement``."""
        return not key or str(key).startswith(CONTROL_PLANE_TAINTS)

    def _refused(self, spec: UpliftModelSpec) -> list[tuple[str, str, tuple[str, ...], str]]:
        checks = (
            ("spec.model.trackingUri", spec.model.tracking_uri, self.tracking_uris,
             self.default_tracking_uri, "--allowed-tracking-uri"),
            ("spec.serving.runtimeImage", spec.serving.runtime_image, self.runtime_images,
             self.default_runtime_image, "--allowed-runtime-image"),
            ("spec.serving.serviceAccountName", spec.serving.service_account_name,
             self.service_accounts, None, "--allowed-service-account"))
        return [(where, value, allowed, option)
                for where, value, allowed, default, option in checks
                if value is not None and allowed and value != default
                and not any(re.fullmatch(pattern, value) for pattern in allowed)]

    def _refused_placement(self, spec: UpliftModelSpec) -> list[tuple[str, str]]:
        """(where, why) of each placement value refused: a list's item by its index (``within``
        leaves it out), the priority class by its field."""
        serving = spec.serving
        refused: list[tuple[str, str]] = []
        if self.narrow_placement:
            for i, toleration in enumerate(serving.tolerations or ()):
                where = f"spec.serving.tolerations[{i}]"
                if not toleration.key:
                    refused.append((where, (
                        f"{where} names no taint key: it tolerates every taint (the control "
                        f"plane's, a node's not-ready and unreachable ones), {_NARROWED}; name "
                        f"the taint's key")))
                elif toleration.key.startswith(CONTROL_PLANE_TAINTS):
                    refused.append((where, (
                        f"{where}.key {toleration.key!r} is a control-plane taint "
                        f"({CONTROL_PLANE_TAINTS}), {_NARROWED}")))
            if serving.priority_class_name in SYSTEM_PRIORITY_CLASSES:
                refused.append(("spec.serving.priorityClassName", (
                    f"spec.serving.priorityClassName {serving.priority_class_name!r} is kept for "
                    f"what a node or the cluster cannot run without (its pods preempt any other), "
                    f"{_NARROWED}")))
        if self.image_pull_secrets:
            for i, secret in enumerate(serving.image_pull_secrets or ()):
                if secret.name not in self.image_pull_secrets:
                    where = f"spec.serving.imagePullSecrets[{i}]"
                    refused.append((where, (
                        f"{where}.name {secret.name!r} is not allowed by the operator "
                        f"(--allowed-image-pull-secret: {', '.join(self.image_pull_secrets)})")))
        return refused


def validate_upliftmodel(spec: UpliftModelSpec, metric_templates: Mapping[str, str], *,
                         namespace: str = "default", name: str = "example",
                         policy: ServingPolicy = ServingPolicy()) -> list[str]:
    """Problems of an UpliftModel spec; ``namespace``/``name`` fill the gate queries'
    variables, so each query is parsed as Prometheus will receive it. ``policy``: what the
    operator allows (checked before anything is read or rendered for the spec)."""
    problems: list[str] = _name_problems(name, MODEL_NAME_PATTERN, MODEL_NAME)
    problems += policy.problems(spec)
    problems += duration_problems(spec)
    spec = clamp_durations(spec)  # the checks below parse every duration: within bounds now
    problems += _blank_holdout_text(spec.experiment.unit_key, spec.experiment.salt)
    if spec.experiment.salt == VERSION_SPLIT_SALT:   # the CRD's rule, for one stored before it
        problems.append(f"spec.experiment.salt: {VERSION_SPLIT_SALT_TAKEN}")
    problems += _resource_problems(spec)
    problems += _serving_name_problems(spec)
    problems += _reserved_alias_problems(spec)
    if spec.serving.disruption_budget is not None:  # the CRD's rules, for one stored before
        problems += [f"spec.serving.{problem}"
                     for problem in no_eviction_problems(spec.serving.disruption_budget)]
    if parse_duration(spec.experiment.attribution_window).total_seconds() < 1:
        # The CRD's rule, for one stored before it: the runtime counts it in whole seconds of
        # at least 1 (read as 1s, a window nobody wrote).
        problems.append(f"spec.experiment.attributionWindow must be at least 1s (got "
                        f"{spec.experiment.attribution_window})")
    treatment_names = {t.name for t in spec.treatments}
    feature_names = {f.name for f in spec.features} if spec.features is not None else None
    variables = query_variables(namespace, name, spec.rollout.analysis_interval)
    problems += _check_gates("spec.rollout.gates", spec.rollout.gates, metric_templates,
                             treatment_names, feature_names, variables)
    problems += _check_steps(
        [s.pause for s in spec.rollout.steps], spec.rollout.analysis_interval, "spec.rollout")
    if parse_duration(spec.model.alias_refresh_interval).total_seconds() < 1:
        problems.append("spec.model.aliasRefreshInterval must be at least 1s")
    try:  # the runtime refuses to load such a model: say so before anything is deployed
        treatment_keys(t.name for t in spec.treatments)
    except ValueError as error:
        problems.append(f"spec.treatments: {error}")
    return problems


#: A quantity with an integer exponent: one ``quantity_value`` does not read is past e64 (the
#: CRD's ``QUANTITY_PATTERN`` bounds it since; an object stored before may hold ``1e99``).
_INTEGER_EXPONENT = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")


def _resource_problems(spec: UpliftModelSpec) -> list[str]:
    """The CRD's quantity pattern and request-over-limit rules (``ResourceRequirements``), for
    an object stored before them: rendered, such resources reach every predictor, the stable's
    included, and Seldon's update of each Deployment fails (the graph frozen as it is).
    Refused, the pass is InvalidSpec and the graph keeps the resources it has
    (``services.upliftmodel._invalid``). A quantity Kubernetes does not parse (a fractional
    exponent, ``1e2.5``: the pattern let it through before), or one past e64 (``1e99``, which
    the operator does not compute), is named first; it is not compared with its limit
    (``requests_over_limits`` skips it)."""
    resources = spec.serving.resources
    if resources is None:
        return []
    problems = [
        f"spec.serving.resources.{part}.{resource}: {value!r} " + (
            "has an exponent outside e-64..e64, which the operator computes no quantity "
            "beyond (no resource is that large or small; the CRD refuses it since)"
            if isinstance(value, str) and _INTEGER_EXPONENT.fullmatch(value) else
            "is not a quantity a Pod takes (a decimal number, then Ki..Ei, n, u, m, k, M..E, "
            "or an integer exponent up to e64 such as e3: Kubernetes refuses a fractional "
            "one); rendered, no predictor of the serving graph, the stable's included, could "
            "be updated")
        for part, quantities in (("requests", resources.requests), ("limits", resources.limits))
        if quantities is not None
        for resource in COMPARED_RESOURCES
        if (value := quantities.quantity(resource)) is not None and quantity_value(value) is None]
    return problems + [
        f"spec.serving.resources: {REQUEST_OVER_LIMIT.format(resource=resource)} "
        f"(requests.{resource} {_said(resources.requests, resource)}, limits.{resource} "
        f"{_said(resources.limits, resource)})"
        for resource in resources.requests_over_limits()]


def _serving_name_problems(spec: UpliftModelSpec) -> list[str]:
    """The CRD's patterns on ``spec.serving.serviceAccountName`` (a DNS-1123 subdomain) and
    ``runtimeImage`` (no whitespace or control character), for an object stored before them:
    rendered into every predictor's pod spec, such a value has Kubernetes refuse the serving
    graph's Deployments, the stable's included."""
    problems = []
    account = spec.serving.service_account_name
    if account is not None and not (len(account) <= 253
                                    and re.fullmatch(SUBDOMAIN_PATTERN, account)):
        problems.append(f"spec.serving.serviceAccountName: {account!r} is not a ServiceAccount "
                        "name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
                        "at most 253 characters, starting and ending with a letter or digit)")
    image = spec.serving.runtime_image
    if image is not None and not re.fullmatch(RUNTIME_IMAGE_PATTERN, image):
        problems.append(f"spec.serving.runtimeImage: {image!r} is not an image reference (it "
                        "has whitespace or a control character)")
    return problems


def _reserved_alias_problems(spec: UpliftModelSpec) -> list[str]:
    """The CRD's rules on alias names MLflow reserves, for an object stored before them: a
    ``promotionAlias`` MLflow refuses to set (``latest`` in any case, ``v<number>``), a followed
    ``alias`` that never resolves (``v<number>``)."""
    problems = []
    promotion = spec.model.promotion_alias
    if promotion is not None and re.fullmatch(LATEST_ALIAS_PATTERN, promotion):
        problems.append(f"spec.{LATEST_RESERVED.format(field='model.promotionAlias')} (got "
                        f"{promotion!r})")
    elif promotion is not None and re.fullmatch(VERSION_ALIAS_PATTERN, promotion):
        problems.append(f"spec.{VERSION_RESERVED.format(field='model.promotionAlias')} (got "
                        f"{promotion!r})")
    followed = spec.model.alias
    if followed is not None and re.fullmatch(VERSION_ALIAS_PATTERN, followed):
        problems.append(f"spec.{ALIAS_VERSION_RESERVED} (got {followed!r})")
    return problems


def _said(quantities: ResourceList | None, resource: str) -> str:
    return str(quantities.quantity(resource) if quantities is not None else "")


def _blank_holdout_text(unit_key: str, salt: str | None) -> list[str]:
    """The CRDs' not-blank rules on ``spec.experiment`` (``api.v1alpha1.common.not_blank_rule``),
    for an object stored before them: a unit key of whitespace only names no request column,
    and a salt of whitespace only is not the default (that is ""): the campaigns' runtime refuses
    both."""
    return [f"spec.experiment.{field}: {field} must not be blank (got {value!r})"
            for field, value in (("unitKey", unit_key), ("salt", salt))
            if value and not value.strip()]


#: What a problem of a Campaign's ``spec.experiment`` adds: the API server's transition rules
#: refuse any change of it (``CampaignExperiment``), so the fix is a new Campaign.
EXPERIMENT_IMMUTABLE = "(immutable: create the Campaign again under a new name)"


def while_a_canary_runs(problems: Sequence[str], namespace: str, name: str) -> list[str]:
    """An UpliftModel's ``problems`` while a canary runs (``status.canaryVersion``): the API
    server's transition rule then refuses any change of ``spec.experiment``, so a problem of it
    (an attribution window under 1s stored before the CRD's rule, say) says the fix comes after
    an abort; an edit fixing it now is refused."""
    hint = (f"(spec.experiment cannot change while a canary runs: abort it with "
            f"`kubectl uplift abort -n {namespace} {name}`, then fix)")
    return [f"{problem} {hint}" if problem.startswith("spec.experiment.") else problem
            for problem in problems]


def validate_campaign(spec: CampaignSpec, metric_templates: Mapping[str, str],
                      model_treatments: set[str] | None, *, namespace: str = "default",
                      name: str = "example", model_features: ModelFeatures | None = None
                      ) -> list[str]:
    """``model_treatments`` are the referenced model's treatments, or None when it is not known;
    ``model_features`` the features its drift gates may name (the model's ``spec.features``,
    else the inputs of the version it serves), None when not known (not checked then).
    A problem of ``spec.experiment`` (only an object stored before the CRD's rules has one)
    says the field is immutable: an edit fixing it is refused (``EXPERIMENT_IMMUTABLE``)."""
    return [f"{problem} {EXPERIMENT_IMMUTABLE}" if problem.startswith("spec.experiment.")
            else problem for problem in _campaign_problems(
                spec, metric_templates, model_treatments, namespace=namespace, name=name,
                model_features=model_features)]


@dataclass(frozen=True)
class ModelFeatures:
    """The features a Campaign's drift gates may name: ``names``, as ``source`` says where they
    come from (``"spec.features of UpliftModel 'm'"``, ``"the inputs of version 3 of 'm'"``)."""

    names: frozenset[str]
    source: str


def unknown_gate_features(path: str, gates: Sequence[GateSpecBase], known: Collection[str],
                          source: str) -> list[str]:
    """Each feature a drift gate of ``gates`` (at ``path``) names that ``known`` lacks: measured,
    it would be a MeasurementError at every analysis (Error verdicts, then a rollback), so it is
    InvalidSpec before any analysis."""
    return [f"{path}[{index}] ({gate.name}).features: {name!r} is not in {source}; "
            f"known: {', '.join(sorted(known)) or '(none)'}"
            for index, gate in enumerate(gates) for name in gate.features or []
            if name not in known]


def _campaign_problems(spec: CampaignSpec, metric_templates: Mapping[str, str],
                       model_treatments: set[str] | None, *, namespace: str,
                       name: str, model_features: ModelFeatures | None) -> list[str]:
    problems: list[str] = _name_problems(name, CAMPAIGN_NAME_PATTERN, CAMPAIGN_NAME)
    problems += duration_problems(spec)
    spec = clamp_durations(spec)  # the checks below parse every duration: within bounds now
    # The runtime refuses text of whitespace only (its entry, and so the campaign, refused).
    problems += _blank_holdout_text(spec.experiment.unit_key, spec.experiment.salt)
    if spec.experiment.salt == VERSION_SPLIT_SALT:   # the CRD's rule, for one stored before it
        problems.append(f"spec.experiment.salt: {CAMPAIGN_SALT_TAKEN}")
    own = {t.name for t in spec.treatments}
    if model_treatments is not None:
        for index, treatment in enumerate(t.name for t in spec.treatments):
            if treatment not in model_treatments:
                problems.append(
                    f"spec.treatments[{index}].name: {treatment!r} is not a treatment of "
                    f"UpliftModel {spec.model_ref.name!r} (it has: "
                    f"{', '.join(sorted(model_treatments))})")
    problems += _check_gates("spec.exposure.gates", spec.exposure.gates, metric_templates, own, None,
                             query_variables(namespace, name, spec.exposure.analysis_interval,
                                             model=spec.model_ref.name))
    if model_features is not None:
        problems += unknown_gate_features("spec.exposure.gates", spec.exposure.gates,
                                          model_features.names, model_features.source)
    problems += _check_steps(
        [s.pause for s in spec.exposure.steps], spec.exposure.analysis_interval, "spec.exposure")
    economics = spec.economics
    if economics.budget is None:
        # Its measure is the period's spend against the budget: without one every analysis
        # would be an Error, and the Errors a rollback (a budget never rolls back).
        problems += [f"spec.exposure.gates[{index}] ({gate.name}): a budget gate needs "
                     "spec.economics.budget" for index, gate in enumerate(spec.exposure.gates)
                     if gate.type == "budget"]
    # The runtime counts both in whole seconds of at least 1 (docs/runtime.md, the campaigns
    # file) and refuses the campaign's entry otherwise.
    for where, duration in (("spec.economics.budgetPeriod", economics.budget_period),
                            ("spec.experiment.attributionWindow",
                             spec.experiment.attribution_window)):
        if duration is not None and parse_duration(duration).total_seconds() < 1:
            problems.append(f"{where} must be at least 1s (got {duration})")
    problems += _worthless_roi_problems(spec)
    problems += _free_roi_problems(spec)
    cheapest = min(t.cost_per_treatment if t.cost_per_treatment is not None
                   else economics.cost_per_treatment for t in spec.treatments)
    # The CRD's rule, for one stored before it (as the durations' and the steps' above).
    if economics.budget is not None and economics.budget < cheapest:
        problems.append(f"spec.economics.budget ({economics.budget:g}) cannot pay for a single "
                        f"treatment (cheapest costs {cheapest:g})")
    return problems


def _worthless_roi_problems(spec: CampaignSpec) -> list[str]:
    """The CRD's rules on a roi gate's values, for one stored before them: each treatment the
    gate judges (its ``treatments``, else all) is worth more than 0 per conversion, its own
    ``valuePerConversion`` else the economics' (``domain.exposure.roi_economics`` reads the
    same); a treatment it does not judge, and the economics' value when every one it judges
    overrides it, are never read by it, so they may be 0. Each problem names the field to fix,
    once, with the first gate that reads it."""
    economics, named = spec.economics, set()
    problems: list[str] = []
    for index, gate in enumerate(spec.exposure.gates):
        if gate.type != "roi":
            continue
        for t_index, treatment in enumerate(spec.treatments):
            if gate.treatments and treatment.name not in gate.treatments:
                continue
            if treatment.value_per_conversion is None:
                where, value = "spec.economics.valuePerConversion", economics.value_per_conversion
            else:
                where = f"spec.treatments[{t_index}].valuePerConversion"
                value = treatment.value_per_conversion
            if value <= 0 and where not in named:
                named.add(where)
                problems.append(f"{where} ({value:g}, read by spec.exposure.gates[{index}] "
                                f"({gate.name}) for {treatment.name!r}): {ROI_VALUE}")
    return problems


def _free_roi_problems(spec: CampaignSpec) -> list[str]:
    """A roi gate whose treatments all cost 0: nothing is spent on them, so its break-even
    Δ* = c̄(1 + min)/v is 0 whatever its min and the ROI, (value − cost)/cost, is undefined;
    the gate measured "nothing spent" at every analysis, a counted Inconclusive, and could never
    pass (the ramp held, or paused at inconclusiveLimit). A gate naming a treatment the
    campaign does not send is reported by ``_check_gates`` (that is its problem), and not
    here, as the CRD's cost rule applies only to a roi gate whose treatments are all known."""
    economics, problems = spec.economics, []
    sent = {t.name for t in spec.treatments}
    for index, gate in enumerate(spec.exposure.gates):
        if gate.type != "roi" or any(name not in sent for name in gate.treatments or ()):
            continue
        costs = [t.cost_per_treatment if t.cost_per_treatment is not None
                 else economics.cost_per_treatment for t in spec.treatments
                 if not gate.treatments or t.name in gate.treatments]
        if costs and max(costs) <= 0:
            problems.append(f"spec.exposure.gates[{index}] ({gate.name}): {ROI_COST}")
    return problems


def _check_gates(path: str, gates: Sequence[GateSpecBase], metric_templates: Mapping[str, str],
                 treatments: set[str], features: set[str] | None,
                 variables: Mapping[str, str]) -> list[str]:
    """Each problem names its gate by ``path`` (the spec's gates list), index and name."""
    problems: list[str] = []
    for index, gate in enumerate(gates):
        where = f"{path}[{index}] ({gate.name})"
        if gate.template_ref is not None:
            template = metric_templates.get(gate.template_ref)
            if template is None:
                problems.append(
                    f"{where}.templateRef: metric template {gate.template_ref!r} does not exist; "
                    f"known templates: {', '.join(sorted(metric_templates))}")
            else:
                # A latency gate's template may answer a range (``x_bucket{…}[{{interval}}]``):
                # the gate tests the bucket counts it reads, and the p95 it shows is an Error
                # it tolerates (``services.measurements``), not the gate's value.
                problems += _check_query(template, f"{where} template {gate.template_ref!r}",
                                         variables, result_kind=gate.type != "latency")
        if gate.type == "latency":
            problems += _latency_template_problems(gate, metric_templates, where, variables)
        if gate.query is not None:
            problems += _check_query(gate.query, f"{where}.query", variables)
        for name in gate.treatments or []:
            if name not in treatments:
                problems.append(f"{where}.treatments: unknown treatment {name!r}")
        if features is not None:
            for name in gate.features or []:
                if name not in features:
                    problems.append(f"{where}.features: {name!r} is not in spec.features")
        # The type the gate is judged with, its default included (relative for latency,
        # errorRate and qini): a margin of 1 or more left without marginType is as relative.
        if gate.margin is not None and margin_of(gate)[1] == "relative" and gate.margin >= 1:
            problems.append(f"{where}.margin: a relative margin must be below 1 (got {gate.margin:g})")
        problems += gate_bound_problems(gate, where)
    return problems


def _latency_template_problems(gate: GateSpecBase, metric_templates: Mapping[str, str],
                               where: str, variables: Mapping[str, str]) -> list[str]:
    """A latency gate tests the bucket counts of the histogram its p95 template reads: a
    template that reads no classic histogram's ``_bucket`` series (a native histogram, a
    recording rule) would show its own p95 while the gate decided on another metric. Its
    ``templateRef``'s, or the default template's (``--metric-templates`` may replace it); a
    template that does not exist or parse is named by the checks above."""
    name = gate.template_ref or templating.DEFAULT_LATENCY_TEMPLATE
    template = metric_templates.get(name)
    if template is None or _check_variables(template, where):
        return []
    try:
        rendered = templating.render(template, variables)
    except templating.TemplateError:
        return []
    if promql.check(rendered) is not None:
        return []
    field = ".templateRef" if gate.template_ref is not None else ""
    selector = templating.bucket_selector(rendered)
    if selector is None:
        return [f"{where}{field}: template {name!r}: {templating.LATENCY_NEEDS_BUCKETS}"]
    metric = selector.split("{", 1)[0]
    if _in_another_unit(metric):
        return [f"{where}{field}: template {name!r}: its histogram {metric} "
                f"{LATENCY_NEEDS_SECONDS}"]
    if not names_the_version(template, variables):
        return [f"{where}{field}: template {name!r}: {LATENCY_NEEDS_VERSION}"]
    return []


#: A histogram's name that says its buckets are not in seconds, by its unit suffix (the last
#: name segment, as Prometheus' naming puts the unit): ``…_milliseconds``, ``…_ms``, ``…_msec``
#: (Istio's ``istio_request_duration_milliseconds``, Linkerd's ``response_latency_ms``),
#: ``…_microseconds``, ``…_us``. A segment elsewhere is no unit (``foo_ms_duration_seconds``,
#: ``api_msg_latency_seconds``: in seconds).
_NOT_SECONDS = re.compile(r"(?:^|_)(?:ms|msec|milliseconds?|microseconds?|us)$", re.IGNORECASE)


def _in_another_unit(metric: str) -> bool:
    """Whether a histogram's name (``<name>_bucket``) says its bounds are not seconds."""
    return _NOT_SECONDS.search(metric.removesuffix("_bucket")) is not None

#: Why a latency template over a histogram in another unit than seconds is refused.
LATENCY_NEEDS_SECONDS = (
    "counts in another unit than seconds (its name says so), but the latency gate reads its "
    "le bounds, its p95 and max as seconds: a bucket of 25 ms would read as 25 s, and every "
    "canary fail max; read a histogram in seconds (the runtime's "
    "uplift_request_duration_seconds, the default; Seldon's executor's; MLServer's)")

#: Why a latency template whose ``_bucket`` selector is the same for both versions is refused.
LATENCY_NEEDS_VERSION = (
    "its _bucket series selector names neither {{version}} nor {{predictor}}, so the canary's "
    "and the stable's bucket counts would be the same traffic (both versions' requests), the "
    "comparison would see no difference and a slow canary could pass; filter the histogram by "
    "the version with whichever label it carries (e.g. version=\"{{version}}\" or "
    "predictor_name=\"{{predictor}}\")")


def names_the_version(template: str, variables: Mapping[str, str]) -> bool:
    """Whether the ``_bucket`` selector a latency template reads differs between two versions
    (``{{version}}`` or ``{{predictor}}`` in it): one that does not reads both versions'
    traffic for each (``LATENCY_NEEDS_VERSION``). True for a template without such a
    selector (``LATENCY_NEEDS_BUCKETS`` says what is wrong with it)."""
    selectors = set()
    for version in ("1", "2"):
        values = {**variables, "version": version, "predictor": f"v{version}"}
        try:
            selectors.add(templating.bucket_selector(templating.render(template, values)))
        except templating.TemplateError:
            return True
    return len(selectors) > 1 or selectors == {None}


def gate_bound_problems(gate: GateSpecBase, where: str) -> list[str]:
    """Bounds the gate's evaluator refuses (an Error at every analysis, then a rollback), as the
    CRD's rules on the gate refuse them: an object stored before is InvalidSpec instead. A
    dryRun gate's drift/latency max and incrementalConversions min are not checked (nor
    refused by the CRD): it acts on nothing."""
    if gate.type == "errorRate" and gate.max is not None and not 0 < gate.max < 1:
        return [f"{where}.max: {ERROR_RATE_MAX} (got {gate.max:g})"]
    if gate.type == "deliveryRate" and gate.min is not None and not 0 < gate.min < 1:
        return [f"{where}.min: {DELIVERY_RATE_MIN} (got {gate.min:g})"]
    # The later rules leave a dryRun gate be (its Fail holds and rolls back nothing): one
    # stored with such a bound before them stays valid, judged and reported as before.
    acts = not gate.dry_run
    if (acts and gate.type == "incrementalConversions" and gate.min is not None
            and not -1 < gate.min < 1):
        return [f"{where}.min: {INCREMENTAL_CONVERSIONS_MIN} (got {gate.min:g})"]
    if acts and gate.type in ("drift", "latency") and gate.max is not None and not gate.max > 0:
        return [f"{where}.max: {DRIFT_MAX if gate.type == 'drift' else LATENCY_MAX} "
                f"(got {gate.max:g})"]
    if gate.type == "upliftSanity":
        low = gate.min if gate.min is not None else -DEFAULT_SANITY_BAND
        high = gate.max if gate.max is not None else DEFAULT_SANITY_BAND
        if not low < high:
            return [f"{where}: {UPLIFT_SANITY_BAND} (got [{low:g}, {high:g}])"]
    return []


#: Why a custom gate's ``minSamples`` is never read: its query gives a value, no count of the
#: samples behind it (``CustomMeasurement.samples`` is None), so the gate cannot wait for them.
CUSTOM_MIN_SAMPLES = ("minSamples: a custom gate's query gives one value and no count of the "
                      "samples behind it, so minSamples is never checked (gate on a count with "
                      "its own min/max, or give the query the traffic condition itself)")


#: Why a custom query ending in ``or vector(<number>)`` whose number passes the gate is warned
#: about (``constant_fallback``, ``ignored_gate_fields``).
CUSTOM_CONSTANT_FALLBACK = (
    "so with no traffic yet (or its series not scraped) the gate passes on that constant instead "
    "of holding Inconclusive (a custom gate reads no sample count: minSamples is not checked); "
    "drop the fallback so no data holds the gate")


def ignored_gate_fields(gates: Sequence[GateSpecBase], where: str) -> list[str]:
    """Gate fields the gate's type never reads, each named with why (the API server's own words).
    Not a problem: the operator ignores them, as it did before the API server refused them; a
    Warning event names each once per generation so the owner can remove it. So is a custom
    gate's ``minSamples`` set in the spec (``CUSTOM_MIN_SAMPLES``), which the API server
    accepts (refusing it now would break applying specs that have it) but nothing reads; and a
    custom ``query`` whose top-level expression is ``<expr> or vector(<number>)``
    (``constant_fallback``) with a number the gate passes (finite, within ``min``/``max``),
    whose fallback answers for a canary without traffic (``CUSTOM_CONSTANT_FALLBACK``): valid
    PromQL, so not refused, but the gate passes on it. A number it does not pass (``or
    vector(1)`` under ``max: 0.01``, ``vector(NaN)``) only fails the gate, or holds it, on no
    data: not named. Never raises (``constant_fallback``): it runs at every pass, outside
    ``validated``."""
    ignored = []
    for index, gate in enumerate(gates):
        named = f"{where}.gates[{index}] ({gate.name})"
        ignored += [f"{named}: {why}; ignored (stored before the API server refused it: remove "
                    "it)" for why in gate.ignored_fields()]
        if gate.type == "custom" and "min_samples" in gate.model_fields_set:
            ignored.append(f"{named}: {CUSTOM_MIN_SAMPLES}; ignored (remove it)")
        if gate.type == "custom" and gate.query is not None:
            fallback = constant_fallback(gate.query)
            if fallback is not None and _within(fallback.value, gate.min, gate.max):
                ignored.append(
                    f"{named}.query: its top-level `or {fallback.text}` answers "
                    f"{fallback.value:g} when the rest of the query has no data, within the "
                    f"gate's bounds [{_bound(gate.min, '-Inf')}, {_bound(gate.max, '+Inf')}], "
                    f"{CUSTOM_CONSTANT_FALLBACK}")
    return ignored


def _within(value: float, low: float | None, high: float | None) -> bool:
    """Whether a custom gate passes ``value`` (``gates._custom``): finite (NaN and ±Inf are
    Inconclusive), and within ``[low, high]``, at least one of them given (none: an Error)."""
    return (math.isfinite(value) and (low is not None or high is not None)
            and (low is None or value >= low) and (high is None or value <= high))


def _bound(bound: float | None, unbounded: str) -> str:
    return unbounded if bound is None else f"{bound:g}"


@dataclass(frozen=True)
class ConstantFallback:
    """A gate query's constant fallback (``constant_fallback``): how it reads (``vector(0)``;
    ``vector(…)`` when longer than ``_FALLBACK_SHOWN``) and the number it answers (NaN or ±Inf
    included: a gate holds those Inconclusive)."""

    text: str
    value: float


#: A fallback's text longer than this is shown as ``vector(…)``: an event message names it.
_FALLBACK_SHOWN = 64
#: Words a query with a constant fallback holds (PromQL keywords are case-insensitive): one
#: without either is not parsed (``constant_fallback`` is asked at every pass of every resource).
_OR = re.compile(r"\bor\b", re.IGNORECASE)
_VECTOR = re.compile(r"\bvector\b", re.IGNORECASE)


def constant_fallback(query: str) -> ConstantFallback | None:
    """The constant fallback of a gate query whose top-level expression (inside any
    parentheses) is an ``or`` whose right-hand side is ``vector(<number>)``, the number a
    literal or arithmetic of literals (``-1``, ``1 - 1``, ``1 > bool 0``), e.g.
    ``sum(rate(errors[5m])) / sum(rate(requests[5m])) or vector(0)``: its text and value, else
    None. Such a query answers the number whenever the left-hand side has no series, so a gate
    on it never sees "no data". A query that does not expand or parse has none
    (``_check_query`` names its problem).

    Never raises: it runs at every pass, outside ``validated``, so an exception here failed
    every pass of the resource with no status written (a 3 KB ``vector(1+1+…+0)`` exceeded
    Python's recursion limit). The arithmetic is evaluated with an explicit stack
    (``_constant``), and anything unforeseen is no fallback. Only a query with the words
    ``or`` and ``vector`` is parsed, the answer cached (``_parsed_fallback``)."""
    if not (_OR.search(query) and _VECTOR.search(query)):
        return None
    return _parsed_fallback(query)


@functools.lru_cache(maxsize=2048)
def _parsed_fallback(query: str) -> ConstantFallback | None:
    """``constant_fallback`` of a query with both words, cached (a failure too, as None)."""
    try:
        return _fallback_of(query)
    except Exception:  # a warning's check must never fail the pass
        return None


def _fallback_of(query: str) -> ConstantFallback | None:
    """``constant_fallback``'s work, which may raise (``_parsed_fallback`` catches it)."""
    try:
        expression = promql_parser.parse(templating.render(query, _SYNTAX_VARIABLES))
    except (templating.TemplateError, ValueError, TypeError):
        return None
    while isinstance(expression, promql_parser.ParenExpr):
        expression = expression.expr
    if not isinstance(expression, promql_parser.BinaryExpr) or str(expression.op) != "or":
        return None
    right = expression.rhs
    while isinstance(right, promql_parser.ParenExpr):
        right = right.expr
    if not (isinstance(right, promql_parser.Call) and right.func.name == "vector"
            and len(right.args) == 1):
        return None
    value = _constant(right.args[0])
    if value is None:
        return None
    try:
        text = str(right)  # the parser's printer recurses: a deep expression exceeds the limit
    except RecursionError:
        text = ""
    return ConstantFallback(text if 0 < len(text) <= _FALLBACK_SHOWN else "vector(…)", value)


def _constant(expression: object) -> float | None:
    """The value of a PromQL expression made of number literals only (``-1``, ``(0)``,
    ``1 - 1``, ``2 ^ 3``, ``1 > bool 0``): a constant whatever the series, computed as
    Prometheus does (float arithmetic; ``x / 0`` ±Inf or NaN). None for anything else (a
    function, a selector, an operator it does not know). Iterative, with an explicit stack: a
    query of thousands of terms is a tree as deep."""
    pending: list[tuple[object, bool]] = [(expression, False)]
    values: list[float] = []
    while pending:
        node, operands_done = pending.pop()
        if isinstance(node, promql_parser.NumberLiteral):
            values.append(float(node.val))
        elif isinstance(node, promql_parser.ParenExpr):
            pending.append((node.expr, False))
        elif isinstance(node, promql_parser.UnaryExpr):  # the parser keeps only minus
            if operands_done:
                values.append(-values.pop())
            else:
                pending += [(node, True), (node.expr, False)]
        elif isinstance(node, promql_parser.BinaryExpr):
            if operands_done:
                right, left = values.pop(), values.pop()
                value = _scalar_operation(node, left, right)
                if value is None:
                    return None
                values.append(value)
            else:
                pending += [(node, True), (node.rhs, False), (node.lhs, False)]
        else:
            return None
    return values[0] if len(values) == 1 else None


def _scalar_operation(node: promql_parser.BinaryExpr, left: float,
                      right: float) -> float | None:
    """``left <op> right`` between two scalars, as Prometheus computes it (Go's float
    arithmetic: no exception, ±Inf or NaN instead); a comparison only with ``bool`` (0 or 1).
    None for an operator it does not know."""
    op = str(node.op)
    comparisons = {"==": left == right, "!=": left != right, ">": left > right,
                   "<": left < right, ">=": left >= right, "<=": left <= right}
    if op in comparisons:
        modifier = node.modifier
        return float(comparisons[op]) if modifier is not None and modifier.return_bool else None
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            return (math.nan if left == 0 or math.isnan(left)
                    else math.copysign(math.inf, left) * math.copysign(1.0, right))
        return left / right
    if op == "%":
        return math.fmod(left, right) if right != 0 and math.isfinite(left) else math.nan
    if op == "^":
        return _power(left, right)
    if op == "atan2":
        return math.atan2(left, right)
    return None


def _power(base: float, exponent: float) -> float:
    """Go's ``math.Pow``, which answers ±Inf or NaN where Python's raises."""
    odd = math.isfinite(exponent) and exponent % 2 == 1
    try:
        return math.pow(base, exponent)
    except OverflowError:  # too large: ±Inf
        return -math.inf if base < 0 and odd else math.inf
    except ValueError:  # 0 to a negative power (±Inf), or a negative base to a fraction (NaN)
        if base == 0:
            return -math.inf if math.copysign(1.0, base) < 0 and odd else math.inf
        return math.nan


def ignored_targeting_fields(targeting: Targeting) -> list[str]:
    """``spec.targeting`` fields the policy never reads (minUplift outside upliftThreshold,
    topFraction outside topFraction), as ``ignored_gate_fields``: only an object stored before
    the API server refused them has one, and the runtime ignores it."""
    return [f"spec.targeting: {why}; ignored (stored before the API server refused it: remove "
            "it)" for why in targeting.ignored_fields()]


def _check_query(query: str, where: str, variables: Mapping[str, str], *,
                 result_kind: bool = True) -> list[str]:
    """An empty query, unknown variables, or PromQL that does not parse once expanded (the
    position is given in the text as written, placeholders and all), and, with
    ``result_kind``, one that answers no number (``_result_kind``)."""
    if not query.strip():
        return [f"{where} is empty: give a PromQL expression (or use templateRef)"]
    unknown = _check_variables(query, where)
    if unknown:
        return unknown
    rendered = templating.render(query, variables)
    problem = promql.check(rendered)
    if problem is None:
        kind = _result_kind(rendered) if result_kind else None
        return [] if kind is None else [f"{where}: {kind}"]
    offset = templating.source_offset(query, variables, problem.offset)
    return [f"{where}: PromQL does not parse at {promql.position(query, offset)}: "
            f"{problem.message}"]


#: Why a query whose top-level expression (inside any parentheses) is of such a node is
#: refused: Prometheus' instant query answers it with a range vector or a string, and the
#: gate reads one value (an instant vector or a scalar), so it was an Error ("bad query") at
#: every analysis until the Errors rolled the ramp back.
_NOT_A_VALUE = {
    "MatrixSelector": ("a range vector (a selector over [a range])",
                       "wrap it in a function over the range (rate(), increase(), "
                       "avg_over_time(), …)"),
    "SubqueryExpr": ("a range vector (a subquery, [range:step])",
                     "wrap it in a function over the range (max_over_time(), avg_over_time(), "
                     "…)"),
    "StringLiteral": ("a string", "give an expression whose value is a number"),
}


def _result_kind(rendered: str) -> str | None:
    """Why a parsed query answers no value a gate can read (``_NOT_A_VALUE``), else None."""
    try:
        expression: Any = promql_parser.parse(rendered)
        while isinstance(expression, promql_parser.ParenExpr):
            expression = expression.expr
    except Exception:  # parsed by ``promql.check`` already; never fail the validation here
        return None
    kind = _NOT_A_VALUE.get(type(expression).__name__)
    if kind is None:
        return None
    what, fix = kind
    return (f"its result is {what}, not the number a gate reads (an instant vector's or a "
            f"scalar's): {fix}")


def _check_variables(template: str, where: str) -> list[str]:
    unknown = templating.variables_of(template) - templating.KNOWN_VARIABLES
    if unknown:
        return [f"{where}: unknown variables {', '.join(sorted(unknown))}; known: "
                f"{', '.join(sorted(templating.KNOWN_VARIABLES))}"]
    return []


def short_progress_deadline(ramp: RampSpecBase, where: str) -> list[str]:
    """The CRD's rule on ``progressDeadline`` (``ramp_rules``: at least the analysis interval)
    for an object stored before it, as ``ignored_gate_fields``: not a problem (refused, a
    running canary or exposure ramp was held where it stood, its gates unjudged), but read as
    the interval (``RampSpecBase``); a Warning event names it once per generation."""
    stored = ramp.short_progress_deadline
    if stored is None:
        return []
    return [f"{where}.progressDeadline ({stored}) is shorter than analysisInterval "
            f"({ramp.progress_deadline}): read as {ramp.progress_deadline} (it counts from the "
            "end of a step's pause, and a shorter one would pass before the gates are evaluated "
            "again; stored before the API server refused it: set it to at least the interval)"]


def _check_steps(pauses: Sequence[str | None], interval: str, where: str) -> list[str]:
    problems: list[str] = []
    interval_s = parse_duration(interval).total_seconds()
    if interval_s < 1:
        problems.append(f"{where}.analysisInterval must be at least 1s (got {interval})")
    for index, pause in enumerate(pauses):
        if pause is not None and not at_least(parse_duration(pause).total_seconds(), interval_s):
            problems.append(
                f"{where}.steps[{index}].pause ({pause}) is shorter than analysisInterval "
                f"({interval}): the step would end before its gates are evaluated")
    return problems


# -- the registered version ---------------------------------------------------------------------

#: MLflow column types each declared feature type accepts (the runtime decodes by the signature).
_ACCEPTED_TYPES = {
    "numeric": frozenset({"double", "float", "long", "integer"}),
    "boolean": frozenset({"boolean", "long", "integer"}),
    "categorical": frozenset({"string"}),
}


@dataclass(frozen=True)
class ModelContract:
    """What a registered version says it takes and scores; None where it says nothing.

    ``inputs``: the signature's input columns, name → MLflow type; ``required``: those the
    signature marks required; ``treatments``: treatment key → name (the trainer's
    ``uplift.treatments`` tag); ``unreadable``: why its signature cannot be read (it is no
    schema MLflow loads, or names a column by other than a string: inputs None then), which
    is no "no signature": the version is refused as one whose MLmodel does not parse
    (``services.resolution.Resolver.contract`` raises it).
    """

    model: str
    version: str
    inputs: Mapping[str, str] | None = None
    required: frozenset[str] = frozenset()
    treatments: Mapping[str, str] | None = None
    unreadable: str | None = None


def _unservable_treatments(subject: str, treatments: Mapping[str, str]) -> list[str]:
    """The runtime's refusal of a version's treatments (``treatment_keys`` when it loads the
    version, ``runtime.engine``), whichever of them the spec lists: a version trained before
    the trainer refused them (an arm named ``None``, whose key is that of no treatment) is
    refused here rather than deployed to pods that never load it."""
    names = list(treatments.values())
    try:
        reserved = [name for name in names if treatment_key(name) == NONE]
        if not reserved:
            treatment_keys(names)
    except ValueError as error:  # a key too long, shared, or a name with none
        return [f"{subject} cannot be served: {error}; retrain it"]
    if reserved:
        return [f"{subject} scores a treatment whose key is {NONE!r} ({reserved[0]!r}), the key "
                "of no treatment: the serving runtime refuses to load it; retrain with the arm "
                "renamed"]
    return []


def validate_against_model(spec: UpliftModelSpec, contract: ModelContract) -> list[str]:
    """``spec.treatments`` and ``spec.features`` against the version the spec resolves to."""
    problems: list[str] = []
    subject = f"version {contract.version} of {contract.model!r}"
    if contract.treatments is not None:
        problems.extend(_unservable_treatments(subject, contract.treatments))
        scored = ", ".join(f"{name} ({key})" for key, name in sorted(contract.treatments.items()))
        for index, treatment in enumerate(spec.treatments):
            key = treatment_key(treatment.name)
            if key not in contract.treatments:
                problems.append(
                    f"spec.treatments[{index}].name: {treatment.name!r} (key {key}) is not a "
                    f"treatment {subject} scores; it scores: {scored}")
    if contract.inputs is None:
        return problems
    if spec.features is None:
        # No spec.features to check the drift gates' features against (``_check_gates``): the
        # version's inputs are what its reference histograms are of.
        return problems + unknown_gate_features("spec.rollout.gates", spec.rollout.gates,
                                                contract.inputs, f"the inputs of {subject}")
    inputs = contract.inputs
    for index, feature in enumerate(spec.features):
        taken = inputs.get(feature.name)
        if taken is None:
            problems.append(
                f"spec.features[{index}].name: {feature.name!r} is not an input of {subject}; "
                f"its inputs: {', '.join(inputs)}")
        elif taken not in _ACCEPTED_TYPES[feature.type]:
            problems.append(
                f"spec.features[{index}].type: {feature.name!r} is declared {feature.type} but "
                f"{subject} takes it as {taken}")
    declared = {f.name for f in spec.features}
    missing = [name for name in inputs if name in contract.required and name not in declared]
    if missing:
        problems.append(f"spec.features: {subject} requires {', '.join(missing)}, which "
                        "spec.features does not declare")
    return problems


# -- the credentials Secret ---------------------------------------------------------------------

def credential_problems(secret: str, keys: Sequence[str], values: Mapping[str, bytes],
                        field: str = "spec.model.credentials") -> list[str]:
    """What is wrong with the credentials Secret ``secret`` the spec names at ``field``
    (``spec.model.credentials``, or ``spec.serving.runtimeCredentials``): a key it lacks, a
    value that is empty, not UTF-8, or has whitespace or control characters in it.

    Refused rather than stripped: the serving pods read the same keys as they are (the MLflow
    client sends them in a header, which a newline breaks), so the operator and the runtime
    see one value. Messages name the Secret and the key, never the value.
    """
    problems: list[str] = []
    for key in keys:
        where = f"{field}: Secret {secret!r} key {key!r}"
        if key not in values:
            problems.append(f"{where} does not exist in the Secret")
            continue
        try:
            text = values[key].decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{where} is not UTF-8 text")
            continue
        if not text.strip():
            problems.append(f"{where} is empty")
        elif text != text.strip():
            ending = "a trailing newline" if text.rstrip(" \t") != text.rstrip() else "whitespace"
            problems.append(
                f"{where} has {ending} around the value (as `echo … | base64` writes); "
                "recreate it without (`echo -n …`, or `kubectl create secret generic "
                "--from-literal`): the serving pods read it as it is")
        elif any(unicodedata.category(c).startswith("C") for c in text):
            problems.append(f"{where} contains a control character")
    return problems
