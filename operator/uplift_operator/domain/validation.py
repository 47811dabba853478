"""Semantic validation: what the API server's schema and CEL rules cannot know.

The schema already refuses malformed resources. What is left needs context the API server does
not have — the operator's metric templates, the referenced UpliftModel — or cross-field arithmetic
that is clearer here than in CEL. Each function returns the list of problems, each one naming the
field, so the status message says exactly what to fix. An empty list means valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.api.v1alpha1.common import GateSpecBase, parse_duration
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
from uplift_operator.domain import templates as templating

__all__ = ["schema_problems", "validate_campaign", "validate_upliftmodel"]


def schema_problems(error: ValidationError, prefix: str = "spec") -> list[str]:
    """What the typed model refused (the API server normally refuses it first), by field."""
    return [f"{prefix}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]


def validate_upliftmodel(spec: UpliftModelSpec, metric_templates: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    treatment_names = {t.name for t in spec.treatments}
    feature_names = {f.name for f in spec.features} if spec.features is not None else None
    problems += _check_gates(spec.rollout.gates, metric_templates, treatment_names, feature_names)
    problems += _check_steps(
        [s.pause for s in spec.rollout.steps], spec.rollout.analysis_interval, "spec.rollout")
    if parse_duration(spec.model.alias_refresh_interval).total_seconds() < 1:
        problems.append("spec.model.aliasRefreshInterval must be at least 1s")
    return problems


def validate_campaign(spec: CampaignSpec, metric_templates: Mapping[str, str],
                      model_treatments: set[str] | None) -> list[str]:
    """``model_treatments`` are the referenced model's treatments, or None when it is not known."""
    problems: list[str] = []
    own = {t.name for t in spec.treatments}
    if model_treatments is not None:
        for index, name in enumerate(t.name for t in spec.treatments):
            if name not in model_treatments:
                problems.append(
                    f"spec.treatments[{index}].name: {name!r} is not a treatment of UpliftModel "
                    f"{spec.model_ref.name!r} (it has: {', '.join(sorted(model_treatments))})")
    problems += _check_gates(spec.exposure.gates, metric_templates, own, None)
    problems += _check_steps(
        [s.pause for s in spec.exposure.steps], spec.exposure.analysis_interval, "spec.exposure")
    economics = spec.economics
    cheapest = min(t.cost_per_treatment if t.cost_per_treatment is not None
                   else economics.cost_per_treatment for t in spec.treatments)
    if economics.budget is not None and economics.budget < cheapest:
        problems.append(f"spec.economics.budget ({economics.budget:g}) cannot pay for a single "
                        f"treatment (cheapest costs {cheapest:g})")
    return problems


def _check_gates(gates: Sequence[GateSpecBase], metric_templates: Mapping[str, str],
                 treatments: set[str], features: set[str] | None) -> list[str]:
    problems: list[str] = []
    for index, gate in enumerate(gates):
        where = f"gates[{index}] ({gate.name})"
        if gate.template_ref is not None:
            template = metric_templates.get(gate.template_ref)
            if template is None:
                problems.append(
                    f"{where}.templateRef: metric template {gate.template_ref!r} does not exist; "
                    f"known templates: {', '.join(sorted(metric_templates))}")
            else:
                problems += _check_variables(template, f"{where} template {gate.template_ref!r}")
        if gate.query is not None:
            problems += _check_variables(gate.query, f"{where}.query")
        for name in gate.treatments or []:
            if name not in treatments:
                problems.append(f"{where}.treatments: unknown treatment {name!r}")
        if features is not None:
            for name in gate.features or []:
                if name not in features:
                    problems.append(f"{where}.features: {name!r} is not in spec.features")
        if gate.margin_type == "relative" and gate.margin is not None and gate.margin >= 1:
            problems.append(f"{where}.margin: a relative margin must be below 1 (got {gate.margin:g})")
    return problems


def _check_variables(template: str, where: str) -> list[str]:
    unknown = templating.variables_of(template) - templating.KNOWN_VARIABLES
    if unknown:
        return [f"{where}: unknown variables {', '.join(sorted(unknown))}; known: "
                f"{', '.join(sorted(templating.KNOWN_VARIABLES))}"]
    return []


def _check_steps(pauses: Sequence[str | None], interval: str, where: str) -> list[str]:
    problems: list[str] = []
    interval_s = parse_duration(interval).total_seconds()
    if interval_s < 1:
        problems.append(f"{where}.analysisInterval must be at least 1s (got {interval})")
    for index, pause in enumerate(pauses):
        if pause is not None and parse_duration(pause).total_seconds() < interval_s:
            problems.append(
                f"{where}.steps[{index}].pause ({pause}) is shorter than analysisInterval "
                f"({interval}): the step would end before its gates are evaluated")
    return problems
