"""Campaign handlers: parse → validate against the referenced UpliftModel → status, one patch.

A Campaign may be applied before its UpliftModel (GitOps syncs in any order): it then waits,
Progressing, and a timer re-checks it, so it becomes Ready without another edit.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.domain import status as status_logic
from uplift_operator.domain import validation
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import config_of, now, write_status

KIND = "Campaign"
PLURAL = "campaigns"
RECHECK_SECONDS = 10.0


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile(body: kopf.Body, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
              patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    _reconcile(body, meta, spec, status, patch, memo, kwargs["model_treatments"])


@kopf.timer(GROUP, VERSION, PLURAL, interval=RECHECK_SECONDS, idle=RECHECK_SECONDS)
def recheck(body: kopf.Body, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
            patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Level-based re-check: the referenced model may have appeared, changed or gone."""
    _reconcile(body, meta, spec, status, patch, memo, kwargs["model_treatments"])


def _reconcile(body: kopf.Body, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
               patch: kopf.Patch, memo: kopf.Memo, models: kopf.Index[Any, Any]) -> None:
    config = config_of(memo)
    namespace = str(meta.get("namespace"))
    with observability.reconciling(KIND):
        current = CampaignStatus.model_validate(dict(status))
        waiting_for = None
        try:
            parsed = CampaignSpec.model_validate(dict(spec))
            key = (namespace, parsed.model_ref.name)
            treatments = set().union(*models[key]) if key in models else None
            if treatments is None:
                waiting_for = f"UpliftModel {parsed.model_ref.name!r} not found in {namespace}"
            problems = validation.validate_campaign(parsed, config.metric_templates, treatments)
        except ValidationError as error:
            problems = validation.schema_problems(error)
        observation = status_logic.Observation(generation=int(meta.get("generation", 0)),
                                               problems=tuple(problems), waiting_for=waiting_for)
        outcome = status_logic.validation_outcome(current.conditions, observation, now())
        desired = current.model_copy(update={
            "phase": outcome.phase, "message": outcome.message,
            "observed_generation": observation.generation, "conditions": outcome.conditions})
        if problems and current.message != outcome.message:
            kopf.warn(body, reason="InvalidSpec", message=outcome.message)
        write_status(patch, status_logic.status_patch(dict(status), desired.to_wire()))
        observability.observe_phase(KIND, namespace, str(meta.get("name")), outcome.phase,
                                    bool(problems))


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget(meta: kopf.Meta, **_: Any) -> None:
    observability.forget(KIND, str(meta.get("namespace")), str(meta.get("name")))
