"""The serving backend interface: how a traffic split becomes child objects, and their readiness.

The ramp logic only speaks in ``domain.ramp.TrafficSplit``s. A backend turns one into manifests and reads the
children's status back into ``ServingState``. Seldon Core v1 is the one backend today
(``render.seldon``); Seldon Core v2 (Model + Experiment) or KServe fit behind the same Protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from uplift_operator.domain.ramp import TrafficSplit
from uplift_operator.render.naming import Owner

__all__ = ["RuntimeSettings", "ServingBackend", "ServingState", "TrafficSplit"]


@dataclass(frozen=True)
class RuntimeSettings:
    """What every predictor's runtime container needs, beyond its model version."""

    image: str
    registered_model: str
    tracking_uri: str
    replicas: int = 1
    holdout_fraction: float = 0.1
    unit_key: str = "unit_id"
    salt: str = ""
    treatments: tuple[str, ...] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    # (environment variable, Secret name, key): MLflow credentials for the runtime's loader.
    credential_env: tuple[tuple[str, str, str], ...] = ()
    #: (Secret name, key) of the token(s) report senders present, mounted for the runtime's
    #: ``UPLIFT_REPORT_TOKEN_FILE``; None: the report endpoints are open to whoever reaches
    #: the pods.
    report_token: tuple[str, str] | None = None
    service_account_name: str | None = None
    #: Where the serving pods may be scheduled and what they pull their image with, as pod
    #: spec keys (``render.seldon.PLACEMENT_KEYS``: ``nodeSelector``, ``tolerations``,
    #: ``imagePullSecrets``, ``priorityClassName``) → their values as a Pod takes them; each set
    #: one is rendered into every predictor's pod spec, an unset (or empty) one not at all, so
    #: that a graph rendered without any is rendered the same.
    placement: Mapping[str, Any] = field(default_factory=dict)
    #: How long a stopping replica waits, after counting what it holds pending, for a scrape.
    drain_wait_seconds: int = 35
    #: When the decision-key Secret was created anew under a graph that served already (a
    #: Secret deleted by hand), None for the key the graph's pods started with: rendered into
    #: every predictor's pod spec, so that each one rolls onto the new key once
    #: (``services.upliftmodel._ensure_decision_key``).
    decision_key_created: str | None = None


@dataclass(frozen=True)
class ServingState:
    """Readiness of the serving graph as the backend reports it."""

    ready: bool
    message: str
    ready_versions: frozenset[str] = frozenset()
    failed: bool = False
    #: version → traffic percent the graph declares now (what the router splits by)
    weights: tuple[tuple[str, int], ...] = ()
    #: versions whose pods are available, whatever the whole graph's state: a stable version
    #: keeps serving while a canary's pods start (the graph is not ready meanwhile)
    serving_versions: frozenset[str] = frozenset()
    #: the graph's workloads still rolling their pods, each as ``<name>: <why>`` (a backend
    #: that cannot tell says none): a re-render's roll is not over while any is
    rolling: tuple[str, ...] = ()
    #: those of ``rolling`` with a pod not available: a roll that fails (an image that does not
    #: pull), not one that only runs more pods than wanted, all available
    unavailable: tuple[str, ...] = ()
    #: the graph is not ready only because workloads of it run fewer available pods than
    #: wanted, every version serving and every pod counted available (the backend's own word
    #: for the graph is that it serves), each as ``<name>: N of M replicas available``:
    #: capacity short of the spec, not an outage, and the pods hold what they started with
    short: tuple[str, ...] = ()


class ServingBackend(Protocol):
    """Renders a split into manifests and reads readiness back; pure on both sides."""

    api_version: str
    kind: str
    plural: str

    def render(self, owner: Owner, runtime: RuntimeSettings, split: TrafficSplit) -> dict[str, Any]:
        ...

    def observe(self, child: Mapping[str, Any] | None, split: TrafficSplit) -> ServingState:
        ...

    def retired_rendering(self, child: Mapping[str, Any]) -> bool:
        """Whether ``child`` carries what an earlier operator rendered and this one no longer
        does, which its pods see (an apply removes it: a re-render, though everything this
        operator renders is there)."""
        ...

    def rendered_roles(self, child: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
        """Each role ``child`` was rendered with (``stable``, ``canary``) → its version and the
        traffic percent that version's part of the graph has: the split as it serves, read back
        when the status' own cannot be."""
        ...

    def report_token(self, child: Mapping[str, Any] | None) -> tuple[str, str] | None:
        """The report token reference (Secret name, key) the rendered ``child`` carries: what
        an invalid spec's pass keeps rendering rather than a reference it could not check.
        Whatever form rendered it: a graph from an earlier operator version's is read too."""
        ...

    def credential_env(self, child: Mapping[str, Any] | None) -> tuple[tuple[str, str, str], ...]:
        """The MLflow credentials (``RuntimeSettings.credential_env``: variable, Secret name,
        key) the rendered ``child`` gives its runtime containers, in their order; empty without
        ``child`` or without any. What a pass keeps rendering while the credentials Secret the
        spec names cannot be read or does not fit: a reference to it would hold every new
        serving pod, the stable's included, until it is fixed."""
        ...

    def decision_key_created(self, child: Mapping[str, Any] | None) -> str | None:
        """The ``RuntimeSettings.decision_key_created`` the rendered ``child`` carries, None
        without (or without ``child``): what a pass renders again, so that a key created anew
        rolls the pods once and not at every pass."""
        ...

    def runtime_settings(self, child: Mapping[str, Any] | None,
                         fallback: RuntimeSettings) -> RuntimeSettings | None:
        """The runtime settings the rendered ``child`` carries (what it does not say taken
        from ``fallback``), None when it has none to read (absent): what a pass under an
        invalid spec renders its split from, so that the split moves and nothing else (a
        refused image, ServiceAccount or tracking URI never reaches a pod)."""
        ...
