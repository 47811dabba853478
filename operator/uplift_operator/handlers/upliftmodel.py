"""UpliftModel handlers: parse → validate → status, in one patch.

The serving lifecycle (MLflow resolution, SeldonDeployment, canary ramp) is built on the same
pass; until it lands, a valid UpliftModel is accepted and an invalid one is Degraded with an
InvalidSpec condition that names the field.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import status as status_logic
from uplift_operator.domain import validation
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import config_of, now, pydantic_problems, write_status

KIND = "UpliftModel"
PLURAL = "upliftmodels"


@kopf.index(GROUP, VERSION, PLURAL)
def model_treatments(namespace: str | None, name: str, spec: kopf.Spec,
                     **_: Any) -> dict[tuple[str | None, str], set[str]]:
    """Treatments of every UpliftModel, for Campaigns that reference one."""
    return {(namespace, name): {t.get("name", "") for t in spec.get("treatments", [])}}


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile(body: kopf.Body, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
              patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    config = config_of(memo)
    with observability.reconciling(KIND):
        current = UpliftModelStatus.model_validate(dict(status))
        try:
            parsed = UpliftModelSpec.model_validate(dict(spec))
            problems = validation.validate_upliftmodel(parsed, config.metric_templates)
        except ValidationError as error:
            problems = pydantic_problems(error)
        observation = status_logic.Observation(generation=int(meta.get("generation", 0)),
                                               problems=tuple(problems))
        outcome = status_logic.validation_outcome(current.conditions, observation, now())
        desired = current.model_copy(update={
            "phase": outcome.phase, "message": outcome.message,
            "observed_generation": observation.generation, "conditions": outcome.conditions})
        if problems and current.message != outcome.message:
            kopf.warn(body, reason="InvalidSpec", message=outcome.message)
        write_status(patch, status_logic.status_patch(dict(status), desired.to_wire()))
        observability.observe_phase(KIND, str(meta.get("namespace")), str(meta.get("name")),
                                    outcome.phase, bool(problems))


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget(meta: kopf.Meta, **_: Any) -> None:
    observability.forget(KIND, str(meta.get("namespace")), str(meta.get("name")))
