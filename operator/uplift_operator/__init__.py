"""uplift-operator: lifecycle of uplift models and the campaigns that use them, in Kubernetes.

Layers, outermost first (enforced by import-linter, see ``.importlinter``):

- ``handlers``  — thin kopf glue: parse → decide → apply → status;
- ``adapters``  — all I/O: Kubernetes, Prometheus, MLflow, MLServer;
- ``render``    — pure builders of child manifests;
- ``domain``    — pure decisions: validation, gates, ramp, rollback, status;
- ``stats``     — pure statistics (numpy/scipy only);
- ``api``       — the typed contract (pydantic models that generate the CRDs).

``model`` (the MLflow uplift flavour and trainer), ``runtime`` (the MLServer runtime) and
``devenv`` (local real components for tests and the local run) sit beside the operator.
``report_token_format`` is a rule both sides read (the report-token Secret's format): the
standard library only, so the operator and the runtime import the one definition.
"""

__version__ = "0.1.0"
