"""Seldon Core v1: one SeldonDeployment per UpliftModel, one predictor per served version.

Contract (integrations.md §1): ``protocol: v2``; non-shadow ``traffic`` sums to 100 (a single
predictor carries 100); the version goes into the predictor's ``annotations.version``, which is
where Seldon's executor takes the ``predictor_version`` metric label from; which version is
stable and which the canary goes into the SeldonDeployment's own ``ROLES_ANNOTATION``, never onto
a predictor (whose annotations reach its pods: a promotion must change only traffic); the
runtime image runs in ``componentSpecs`` under the graph node's name. The runtime runs with
``MLSERVER_PARALLEL_WORKERS=0`` (it keeps decisions and metrics in one process) and MLServer's
metrics directory on a pod-local emptyDir: the image's working directory belongs to root and the
container runs as uid 10001, so nothing may need to write there.

The runtime container declares its ports by name, ``http`` 9000, ``grpc`` 9500 and ``metrics``
6000 (``protocol: TCP`` each, the one default the CRD adds), and MLServer's own settings point at
them (``MLSERVER_HTTP_PORT``, ``_GRPC_PORT``, ``_METRICS_PORT``, ``MLSERVER_METRICS_ENDPOINT``
``/prometheus``): Seldon Core 1.17.1 takes the container's ``http`` and ``grpc`` ports when it
has them (its executor calls the model at ``localhost:<http>``, and its Services and probes
aim there) and numbers the ones it lacks itself, but it tells MLServer none of them (it sets
only ``PREDICTIVE_UNIT_*``, which MLServer does not read; its ``mlserver.go``, which sets
``MLSERVER_HTTP_PORT``, runs only for prepackaged servers): undeclared, MLServer listened on
its defaults (8080, 8081, metrics 8082 at ``/metrics``) and Seldon's probes and executor on
9000. A ``metrics`` port Seldon adds is numbered from 6000 *across the containers of every
predictor in order* (``addMetricsPortAndIncrement``), and its number and
``PREDICTIVE_UNIT_METRICS_SERVICE_PORT`` go into the pod template: undeclared, a promotion or an
emergency restore that moves a version from the second predictor to the first changed its pod
template, and Seldon rolled the pods of the version taking all the traffic. Declared, every
number is the same in every predictor, wherever it stands (``PORTS``).

The runtime container has started when MLServer says its model is loaded (``STARTUP_PROBE``:
HTTP ``/v2/health/ready`` on ``http``). MLServer opens its ports before it loads the model (from
MLflow: seconds to minutes), so the TCP readiness probe Seldon adds to a container that has
none passed while the model could answer nothing, and Seldon reported the version available. A
startup probe holds the readiness and liveness probes back until it passes, and is never run
again: it allows ``STARTUP_SECONDS`` (the roll timeout of ``services.rolls``, 10 minutes), after
which the kubelet restarts the container. Readiness and liveness stay Seldon's (TCP on ``http``,
which it adds only to a container without them): MLServer runs inference on its event loop
(``MLSERVER_PARALLEL_WORKERS=0``), so a large request holds the loop for a while, and an HTTP
probe with a short timeout would fail under load, take the pod out of its Service and count it
unavailable (the canary's not-serving timer, a rollback); a TCP connect is answered by the
kernel. A stopping pod (``DRAIN_HOOK``) is out of its Service's endpoints at once, whatever its
probes say, and MLServer answers both until the hook's wait is over.

Runtime pods get no Kubernetes API access (``automountServiceAccountToken: false``: the runtime
never calls the API). The runtime signs decision ids with ``UPLIFT_DECISION_KEY`` from the
UpliftModel's Secret ``<name>-decision-key`` (key ``key``, ``render.decision_key``), shared by
every replica of every predictor so any of them accepts reports for ids another issued. The
operator creates that Secret before it applies the graph, so the reference is not optional: a
pod never starts signing with a key of its own that the other replicas would refuse. A pod reads
the key once, at its start: a Secret deleted by hand and created anew (a new random key) under a
graph that serves would leave the running pods on the old key and new ones on the new. Then
``RuntimeSettings.decision_key_created`` is set, rendered as ``DECISION_KEY_CREATED_ENV`` into
every predictor's pod spec, and Seldon rolls them all onto the new key.

With ``RuntimeSettings.report_token`` (the UpliftModel's ``spec.serving.reportCredentials``) the
runtime requires a bearer token from that Secret and key on its report endpoints. The key alone
is mounted as a ``secret`` volume (``REPORT_TOKEN_VOLUME``, items: that key, read-only, as a
directory: a ``subPath`` mount is never updated) and the runtime reads the file at
``UPLIFT_REPORT_TOKEN_FILE``, again whenever the kubelet refreshes it: a token added to or
removed from the Secret reaches the pods without a restart (``runtime.report_tokens``; the value
may list several tokens, one per line, for a rotation). Operators before this one rendered
``UPLIFT_REPORT_TOKEN`` by ``secretKeyRef`` instead, read once at start; ``report_token`` reads
the reference back from either form, and such a graph is rendered anew (its pods replaced once)
at the first pass that applies it. The operator renders the reference only once it has found
the Secret and key (``services.upliftmodel``), so a pod never waits on a Secret that is not
there.

A stopping runtime pod first runs ``DRAIN_HOOK`` (preStop): the cohort counts the replica holds
until attribution windows close are counted at once and left ``RuntimeSettings.
drain_wait_seconds`` (``UPLIFT_DRAIN_WAIT_SECONDS``; the operator's Prometheus scrape interval
plus 5 s) for a scrape, within a grace period ``SHUTDOWN_SECONDS`` longer (docs/runtime.md, "A
replica that stops"). The runtime answers the hook only with the per-process drain token it
writes to ``DRAIN_TOKEN_FILE`` (``UPLIFT_DRAIN_TOKEN_FILE``), on the runtime container's own
``/tmp`` emptyDir: no other container of the pod (a mesh sidecar forwarding from loopback) can
read it.

Every predictor mounts the UpliftModel's campaigns ConfigMap (``render.campaigns``) read-only as
a directory at ``render.campaigns.MOUNT_DIR`` (never by ``subPath``: a subPath mount is not
updated when the ConfigMap changes) and reads the file at ``UPLIFT_CAMPAIGNS_FILE``; the runtime
re-reads it when the kubelet swaps the volume's ``..data`` link, so a Campaign's change reaches
the serving pods without a restart. The operator writes the ConfigMap only once the model has
something to say (a Campaign or a canary's version split: ``services.campaigns_file``), so the
volume is ``optional``: until then the pods see no file, and the runtime reads no campaign and
no split.

Reading Seldon's status (Seldon Core 1.17.1, ``operator/controllers/seldondeployment_controller.go``
``Reconcile``/``createDeployments``; docs/dataplane.md, "Reading a SeldonDeployment's status"):
``state`` is Available only when every Deployment of the spec Seldon last reconciled is ready,
but nothing says *which* spec that was. Seldon never writes ``status.observedGeneration`` (the
field is in the CRD only through knative's ``duckv1.Status``), and the operator's own apply
wakes its next pass before Seldon has reconciled: the status it reads then is the previous
graph's. So a version is ready only when the status is Available *and* that version's
predictor has a Deployment with an available replica in ``status.deploymentStatus`` (keyed by
``deployment_names``): Seldon adds a Deployment's entry only once the Deployment exists
unchanged, from the Deployment's own status, so a predictor just added has none. An
``observedGeneration`` is honoured when a status has one (older than ``metadata.generation``:
nothing in it is ready yet); its absence, Seldon's case, is no reason to wait.

Mid-rollout (the same sources; Kubernetes' ``deployment/sync.go`` ``calculateStatus``): Seldon
counts a Deployment ready when ``readyReplicas > 0`` and ``unavailableReplicas == 0``, and
nothing more: not ``updatedReplicas``, not the Deployment's ``observedGeneration``.
``unavailableReplicas`` is what its ReplicaSets *want* less what is available, so between two
surge batches of a rolling update (the new batch available, the old pods it replaces scaled
down but not yet gone: Seldon's Deployments have ``maxSurge`` 25 %, ``maxUnavailable`` 0) it is
0 and Seldon writes ``Available`` with ``{replicas: N + surge, availableReplicas: N + surge}``.
Every pod counted is available, so a version is still *ready* then (it serves, whichever
rendering its pods run); but the graph has not finished rolling: ``rolling_deployments`` says
which Deployment still runs more pods than its predictor wants, or fewer available than it
runs or than its predictor wants.

Replicas (the same sources, read, not run against a live Seldon): ``createDeployments``
updates an existing Deployment only when ``equality.Semantic.DeepEqual(deploy.Spec.Template.Spec,
found.Spec.Template.Spec)`` fails, and then writes its whole spec, replicas included; the
executor's ``ENGINE_PREDICTOR`` (``createEngineContainer``) is the predictor with its
``replicas`` and ``traffic`` set to 0 on purpose, so that neither changes the pod spec, and a
pod template *annotation* is not compared (only ``Template.Spec`` is). Were the two specs equal
whenever the graph's pod spec is unchanged, a replicas-only change would never reach the
Deployment. But ``found`` is the Deployment as stored, with the API server's defaults in it (a
ConfigMap or Secret volume's ``defaultMode``, a container's ``imagePullPolicy``,
``terminationMessagePath`` and ``terminationMessagePolicy``, an HTTP probe's ``scheme``), which
this rendering does not set: unless Seldon fills the same defaults into ``deploy`` before it
compares, the comparison fails at every reconcile and Seldon rewrites the whole spec each time,
replicas included (the same template: no roll). Which of the two happens depends on the
defaults Seldon fills, which is not checked here. So every predictor carries its count in
``REPLICAS_ENV`` too: a replicas change is then a pod spec change, which reaches the Deployment
whichever way the comparison goes. The cost: the version's pods roll once per replicas edit (a
re-render, throttled as any: ``services.rolls``), where a Seldon that rewrites the spec at every
reconcile would have scaled them in place. One replica included: a decrease to 1 an earlier
operator rendered without it (applied or not) is applied by the upgrade's re-render. A graph
short of the replicas its predictors want (``short_deployments``: Seldon not there yet, or a
Deployment scaled down by hand, which Seldon restores only if and when it rewrites the spec:
at the next pod spec change, or at every reconcile if the comparison always fails) is not
ready, its versions still serving.

The same rule gates the routes: Seldon rewrites its Istio VirtualService or Ambassador Mapping
weights, and deletes the Deployments of predictors removed from the graph, only in a reconcile
that found every predictor's Deployment ready. Until then the routes keep the last weights it
completed: a predictor whose pods are down holds every split change of its graph back. So a
rolled-back version stays in the graph at weight 0 (``spec.rollback.scaleDownDelay``) only while
its pods serve (``domain.canary._CanaryPass.kept_serves``; docs/dataplane.md).

Placement (``RuntimeSettings.placement``: ``PLACEMENT_KEYS``, the pod spec's ``nodeSelector``,
``tolerations``, ``imagePullSecrets`` and ``priorityClassName``) goes into every predictor's pod
spec, the stable's and a canary's alike, as ``serviceAccountName`` and the resources do, each
key only when set: a graph rendered without them keeps its pod spec, and no pod rolls for them.
A change of them is a pod spec change of every predictor, so Seldon rolls both versions' pods (a
re-render, throttled as any: ``services.rolls``). Seldon's Deployments roll with
``maxUnavailable`` 0 (above), so a placement the new pods cannot take (a nodeSelector no node
matches, a taint not tolerated, a priority class that does not exist, an image that pulls only
with a secret not there) leaves them Pending or not created and the old pods serving: the roll
times out (``RollTimedOut``) and the stable version keeps its traffic. No ``componentSpecs[].
pdbSpec``: Seldon's budget selects the whole SeldonDeployment, so during a canary two budgets
cover every pod and the Eviction API evicts none of them (docs/dataplane.md, "Disruption and
placement of the serving pods").

With ``controller_id`` (the operator's ``--seldon-controller-id``) every SeldonDeployment carries
``CONTROLLER_ID_LABEL``: only the Seldon controller started with that ``CONTROLLER_ID`` reconciles
it, and one started without an id leaves it alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from uplift_operator.render import campaigns, naming
from uplift_operator.render.decision_key import DECISION_KEY
from uplift_operator.render.naming import Owner
from uplift_operator.render.serving import RuntimeSettings, ServingState, TrafficSplit

__all__ = ["CAMPAIGNS_VOLUME", "CONTROLLER_ID_LABEL", "DECISION_KEY", "DECISION_KEY_CREATED_ENV",
           "DECISION_KEY_ENV", "DRAIN_HOOK", "DRAIN_TOKEN_FILE", "DRAIN_TOKEN_FILE_ENV",
           "EPHEMERAL_STORAGE", "GRPC_PORT",
           "HTTP_PORT", "METRICS_DIR", "METRICS_PATH", "METRICS_PORT", "MODEL_VERSION",
           "PLACEMENT_KEYS", "PORTS",
           "PORT_ENV",
           "PREDICTOR_ROLE_ANNOTATION", "REPLICAS_ENV", "REPORT_TOKEN_DIR", "REPORT_TOKEN_ENV",
           "REPORT_TOKEN_FILE", "REPORT_TOKEN_FILE_ENV", "REPORT_TOKEN_VOLUME", "ROLES_ANNOTATION",
           "SHUTDOWN_SECONDS", "STARTUP_PROBE", "STARTUP_SECONDS", "SeldonV1Backend",
           "deployment_names", "grace_period_seconds", "quantities_as_strings", "rolling_deployments",
           "runtime_env", "short_deployments", "stale_generation", "tmp_volume",
           "unavailable_deployments", "version_roles"]

#: The runtime container's preStop hook (``runtime.drain``: drain, then wait for a scrape).
DRAIN_HOOK = ("python", "-m", "uplift_operator.runtime.drain")
#: MLServer's own shutdown after the hook's wait (the grace period covers both).
SHUTDOWN_SECONDS = 30

METRICS_DIR = "/var/lib/mlserver/metrics"  # an emptyDir; MLServer's default is ./.metrics
#: The runtime container's ports by name (Seldon Core 1.x's own defaults for a graph node:
#: ``FirstHttpPortNumber``, its gRPC offset, ``FirstMetricsPortNumber``), declared on every
#: predictor's container alike and passed to MLServer (``PORT_ENV``): see the module docstring.
HTTP_PORT, GRPC_PORT, METRICS_PORT = 9000, 9500, 6000
PORTS = (("http", HTTP_PORT), ("grpc", GRPC_PORT), ("metrics", METRICS_PORT))
#: Where MLServer serves its metrics (and the runtime's ``uplift_*``): Seldon's
#: ``PREDICTIVE_UNIT_METRICS_ENDPOINT`` default, the chart's ``servingPodMonitor.path``.
METRICS_PATH = "/prometheus"
#: MLServer's settings (``mlserver.settings.Settings``, prefix ``MLSERVER_``) for those ports.
PORT_ENV = (("MLSERVER_HTTP_PORT", str(HTTP_PORT)), ("MLSERVER_GRPC_PORT", str(GRPC_PORT)),
            ("MLSERVER_METRICS_PORT", str(METRICS_PORT)),
            ("MLSERVER_METRICS_ENDPOINT", METRICS_PATH))
#: How long a runtime container may take to load its model: ``services.rolls.ROLL_TIMEOUT``
#: (not imported: the render layer imports no service), which a test holds them to.
STARTUP_SECONDS = 600
#: Started once MLServer's every model is loaded (``GET /v2/health/ready``: 200, else 400),
#: polled every 5 s for ``STARTUP_SECONDS``; no readiness or liveness probe is rendered.
STARTUP_PROBE: dict[str, Any] = {
    "httpGet": {"path": "/v2/health/ready", "port": "http"},
    "periodSeconds": 5, "timeoutSeconds": 1, "failureThreshold": STARTUP_SECONDS // 5,
    "successThreshold": 1}
CAMPAIGNS_VOLUME = "campaigns"
TMP_VOLUME = "tmp"
TMP_DIR = "/tmp"
#: The resource whose limit is also ``TMP_VOLUME``'s ``sizeLimit`` (``tmp_volume``).
EPHEMERAL_STORAGE = "ephemeral-storage"
#: The runtime's drain token (``runtime.drain.TOKEN_FILE_ENV``, not imported: the render layer
#: loads no runtime), on the runtime container's own ``TMP_VOLUME``.
DRAIN_TOKEN_FILE_ENV = "UPLIFT_DRAIN_TOKEN_FILE"
DRAIN_TOKEN_FILE = f"{TMP_DIR}/uplift-drain-token"
#: The runtime's report token file (``runtime.config.REPORT_TOKEN_FILE_ENV``; not imported: the
#: render layer loads no runtime), the Secret's key alone in a ``secret`` volume mounted as a
#: directory of its own.
REPORT_TOKEN_FILE_ENV = "UPLIFT_REPORT_TOKEN_FILE"
REPORT_TOKEN_VOLUME = "report-token"
REPORT_TOKEN_DIR = "/etc/uplift/report-token"
REPORT_TOKEN_ITEM = "token"  # the file's name in it, whatever the Secret's key (items[].path)
REPORT_TOKEN_FILE = f"{REPORT_TOKEN_DIR}/{REPORT_TOKEN_ITEM}"
#: The token itself by ``secretKeyRef`` (``runtime.config.REPORT_TOKEN_ENV``): what operators
#: before the token file rendered; read back from such a graph, never rendered now.
REPORT_TOKEN_ENV = "UPLIFT_REPORT_TOKEN"
#: The runtime's decision key, by ``secretKeyRef`` from the model's decision-key Secret.
DECISION_KEY_ENV = "UPLIFT_DECISION_KEY"
#: ``RuntimeSettings.decision_key_created``, when set: a key created anew under a graph that
#: served already. The runtime reads nothing from it; it is there so that every predictor's pod
#: spec changes and Seldon rolls each onto the new key (see the module docstring).
DECISION_KEY_CREATED_ENV = "UPLIFT_DECISION_KEY_CREATED"
#: The replicas a predictor wants, rendered beside its ``replicas`` always (1 included). The
#: runtime reads nothing from it: it makes a replicas change a pod spec change, which Seldon Core
#: 1.17.1 applies to the Deployment whether or not it would apply ``replicas`` alone (see the
#: module docstring, "Replicas").
REPLICAS_ENV = "UPLIFT_REPLICAS"

#: The pod spec keys of ``RuntimeSettings.placement``, in the order they are rendered (after
#: ``serviceAccountName``); a key outside them is not rendered.
PLACEMENT_KEYS = ("nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName")

#: Which version is stable and which the canary, said on the SeldonDeployment itself:
#: ``metadata.annotations[ROLES_ANNOTATION]``, JSON role → version (``{"canary":"4","stable":"3"}``;
#: ``version_roles`` reads it back). Not on the predictors, where operators before this one put
#: each version's role (``PREDICTOR_ROLE_ANNOTATION``): Seldon Core 1.17.1 carries a predictor's
#: annotations into its pods (the executor's ``ENGINE_PREDICTOR`` is the whole predictor but its
#: ``traffic`` and ``replicas``, ``createEngineContainer``; ``createDeploymentWithoutEngine`` copies
#: them into the pod template's annotations), so a promotion, changing the canary's role to
#: stable, changed its pod template and Seldon rolled the promoted version's pods just as they
#: took all the traffic. The object's own annotations reach no Deployment or pod (Seldon only
#: reads a few ``seldon.io/`` ones as settings, ``getAnnotation``), and a promotion changes only
#: traffic. ``annotations.version`` stays on the predictor: the executor labels its metrics
#: ``predictor_version`` with it, and it never changes for a version's predictor.
ROLES_ANNOTATION = "uplift.dev/roles"
#: Which Seldon controller reconciles the SeldonDeployment (Seldon Core 1.17.1's
#: ``CONTROLLER_ID``): set only with the operator's ``--seldon-controller-id``.
CONTROLLER_ID_LABEL = "seldon.io/controller-id"
PREDICTOR_ROLE_ANNOTATION = "uplift.dev/role"
ROLES = ("stable", "canary")

#: The runtime container meets the Pod Security Standard "restricted" (Seldon's executor
#: container, which Seldon adds to each pod with only a user, does not: docs/security.md): the
#: image's own non-root user (uid 10001), no privilege escalation, no
#: capabilities, the runtime's default seccomp profile, a read-only root filesystem (MLServer's
#: metrics and temporary files go to emptyDirs). The container carries the user and the seccomp
#: profile too: Seldon 1.17's controller replaces the pod-level securityContext of every
#: Deployment it creates with its own (``createDeploymentWithoutEngine``: nil, or only
#: ``runAsUser`` from its ``DEFAULT_USER_ID``, 8888 in its chart), so only the container's
#: settings reach the pods.
RUNTIME_UID = 10001
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True, "runAsUser": RUNTIME_UID, "runAsGroup": RUNTIME_UID,
    "fsGroup": RUNTIME_UID, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True, "runAsUser": RUNTIME_UID, "runAsGroup": RUNTIME_UID,
    "seccompProfile": {"type": "RuntimeDefault"}}

def deployment_names(sdep: str, predictor: Mapping[str, Any]) -> tuple[str, ...]:
    """The names Seldon's controller may give the Deployment of a predictor's first component,
    by which its ``status.deploymentStatus`` is keyed, its default first (v1.17
    ``GetDeploymentName``: ``<sdep>-<predictor>-0-<containers>``; past 63 characters
    ``seldon-<md5>``, or ``<sdep>-<md5>`` with ``DEPLOYMENT_NAME_AS_PREFIX``)."""
    component = (predictor.get("componentSpecs") or [{}])[0] or {}
    own = str((component.get("metadata") or {}).get("name") or "")
    containers = ((component.get("spec") or {}).get("containers") or [])
    name = f"{sdep}-{predictor.get('name', '')}-0-" + (
        own or "-".join(str(c.get("name", "")) for c in containers))
    if len(name) <= 63:
        return (name,)
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return (f"seldon-{digest}", f"{sdep}-{digest}")


#: A model version as MLflow numbers them and the operator renders them (``v<version>``
#: predictors): a positive integer of at most 16 digits (the status' version fields). What a
#: graph's annotations say otherwise (anyone who may edit SeldonDeployments can write them) is
#: read as no version: ``version_roles`` gives it no role, so it is never taken into the status,
#: a predictor's name or a gate's query.
MODEL_VERSION = re.compile(r"[1-9][0-9]{0,15}")


def _versions(child: Mapping[str, Any]) -> frozenset[str]:
    """The versions the graph's predictors carry (``annotations.version``)."""
    return frozenset(str(p.get("annotations", {}).get("version", ""))
                     for p in (child.get("spec") or {}).get("predictors") or []
                     if p.get("annotations", {}).get("version"))


def _roles_annotation(split: TrafficSplit) -> str:
    roles = {"stable": split.stable_version}
    if split.canary_version is not None:
        roles["canary"] = split.canary_version
    return json.dumps(roles, sort_keys=True, separators=(",", ":"))


def version_roles(child: Mapping[str, Any] | None) -> dict[str, str]:
    """Each version of the graph's predictors that has a role → its role (``stable`` or
    ``canary``), as the graph was rendered: the object's ``ROLES_ANNOTATION``; on a graph an
    earlier operator rendered (no such annotation, or one that does not parse as an object),
    its predictors' ``PREDICTOR_ROLE_ANNOTATION``. A version without a predictor has none, nor
    has one that is not a ``MODEL_VERSION`` (a hand edit: the graph's roles are then read as a
    graph without them is, ``services.upliftmodel._split_from_graph`` taking nothing of them)."""
    child = child or {}
    versions = frozenset(v for v in _versions(child) if MODEL_VERSION.fullmatch(v))
    raw = ((child.get("metadata") or {}).get("annotations") or {}).get(ROLES_ANNOTATION)
    try:
        said = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        said = None
    if isinstance(said, dict):
        return {version: role for role, version in said.items()
                if role in ROLES and isinstance(version, str) and version in versions}
    legacy: dict[str, str] = {}
    for predictor in (child.get("spec") or {}).get("predictors") or []:
        annotations = predictor.get("annotations") or {}
        version, role = annotations.get("version"), annotations.get(PREDICTOR_ROLE_ANNOTATION)
        if version and role in ROLES and str(version) in versions:
            legacy[str(version)] = str(role)
    return legacy


def _serving_versions(child: Mapping[str, Any]) -> frozenset[str]:
    """Versions whose Deployment has an available replica (``status.deploymentStatus``).

    Seldon writes an entry as ``{replicas, availableReplicas}`` (both ``omitempty``: a
    Deployment with none available has no ``availableReplicas``) once the Deployment exists
    and matches the spec, and drops it once the Deployment is gone."""
    deployments = (child.get("status") or {}).get("deploymentStatus") or {}
    available = {name for name, d in deployments.items()
                 if isinstance(d, Mapping) and _int(d.get("availableReplicas")) > 0}
    sdep = str(child.get("metadata", {}).get("name", ""))
    return frozenset(
        str(p.get("annotations", {}).get("version", ""))
        for p in (child.get("spec") or {}).get("predictors") or []
        if p.get("annotations", {}).get("version")
        and available.intersection(deployment_names(sdep, p)))


def _wanted_replicas(child: Mapping[str, Any], predictor: Mapping[str, Any]) -> int | None:
    """The pods a predictor's Deployment wants, as Seldon sets it (``createComponents``: the
    component's ``replicas``, else the predictor's, else the graph's); None when none says."""
    component = (predictor.get("componentSpecs") or [{}])[0] or {}
    for value in (component.get("replicas"), predictor.get("replicas"),
                  (child.get("spec") or {}).get("replicas")):
        if value is not None:
            return _int(value)
    return None


def rolling_deployments(child: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The Deployments of the graph whose ``status.deploymentStatus`` numbers show a rollout not
    finished, each as ``<name>: <why>``, in predictor order; empty when every predictor's
    Deployment runs as many pods as it wants, all available (see the module docstring,
    "Mid-rollout"). Judged from Seldon's numbers alone, whatever ``state`` says: Seldon writes
    ``Available`` between two surge batches. More pods than a surge adds (``_max_surge``) are
    someone else's scaling, not a roll. A Deployment running fewer pods than its predictor
    wants, all of them available, is one too (``<name>: N of M replicas available``): a count
    Seldon has not applied yet, or a Deployment scaled down by hand. Not judged: whether the
    Deployment has seen its new template at all (Seldon copies no ``observedGeneration`` or
    ``updatedReplicas``)."""
    return tuple(why for why, _ in _rollouts(child))


def unavailable_deployments(child: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Those of ``rolling_deployments`` with a pod that is not available (or no status from
    Seldon at all), or fewer available than its predictor wants: a roll that fails, e.g. an
    image that does not pull, or capacity short of the spec. Not one whose every pod is
    available and that only runs more than its predictor wants: a surge between two batches,
    or a Deployment scaled up by someone else, which serves as it is."""
    return tuple(why for why, unavailable in _rollouts(child) if unavailable)


def _rollouts(child: Mapping[str, Any] | None) -> list[tuple[str, bool]]:
    """Each Deployment not done rolling, as ``<name>: <why>``, and whether a pod of it is not
    available (``rolling_deployments``, ``unavailable_deployments``)."""
    if child is None:
        return []
    deployments = (child.get("status") or {}).get("deploymentStatus") or {}
    sdep = str((child.get("metadata") or {}).get("name", ""))
    rolling: list[tuple[str, bool]] = []
    for predictor in (child.get("spec") or {}).get("predictors") or []:
        names = deployment_names(sdep, predictor)
        found = next((n for n in names if isinstance(deployments.get(n), Mapping)), None)
        if found is None:
            rolling.append((f"{names[0]}: no status from Seldon yet", True))
            continue
        entry = deployments[found]
        replicas, available = _int(entry.get("replicas")), _int(entry.get("availableReplicas"))
        wanted = _wanted_replicas(child, predictor)
        unavailable = available < replicas or available == 0
        if wanted is not None and wanted < replicas <= wanted + _max_surge(wanted):
            rolling.append((f"{found}: {replicas} pods, {wanted} wanted (old pods not replaced "
                            "yet)", unavailable))
        elif unavailable:
            rolling.append((f"{found}: {available} of {replicas} pods available", True))
        elif wanted is not None and available < wanted:
            # Every pod it runs is available, but fewer than the predictor wants: a count Seldon
            # has not applied yet, or a Deployment scaled down by hand (which Seldon restores
            # only if and when it rewrites the spec: module docstring, "Replicas").
            rolling.append((_short_of(found, available, wanted), True))
    return rolling


def _short_of(name: str, available: int, wanted: int) -> str:
    return f"{name}: {available} of {wanted} replicas available"


def short_deployments(child: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The Deployments of the graph with at least one pod available but fewer than their
    predictor wants (``<name>: N of M replicas available``), in predictor order: capacity
    short of the spec, not an outage (the version serves). Judged from
    ``status.deploymentStatus`` alone, as ``rolling_deployments``."""
    if child is None:
        return ()
    deployments = (child.get("status") or {}).get("deploymentStatus") or {}
    sdep = str((child.get("metadata") or {}).get("name", ""))
    short: list[str] = []
    for predictor in (child.get("spec") or {}).get("predictors") or []:
        found = next((n for n in deployment_names(sdep, predictor)
                      if isinstance(deployments.get(n), Mapping)), None)
        wanted = _wanted_replicas(child, predictor)
        if found is None or wanted is None:
            continue
        available = _int(deployments[found].get("availableReplicas"))
        if 0 < available < wanted:
            short.append(_short_of(found, available, wanted))
    return tuple(short)


def _max_surge(wanted: int) -> int:
    """The pods a rolling update of a Deployment Seldon made runs beyond ``wanted``: its
    ``maxSurge`` 25 %, rounded up as Kubernetes rounds a surge. More than that is no surge but
    scaling by someone else (an autoscaler, ``kubectl scale``), which holds no roll."""
    return -(-wanted // 4)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def stale_generation(child: Mapping[str, Any]) -> tuple[int, int] | None:
    """(observed, current) when the status says it was written for an older generation of
    the graph; None when it is this generation's or does not say (Seldon Core 1.17.1 never
    writes ``observedGeneration``: see the module docstring)."""
    observed = (child.get("status") or {}).get("observedGeneration")
    generation = (child.get("metadata") or {}).get("generation")
    if observed is None or generation is None:
        return None
    seen, current = _int(observed), _int(generation)
    return (seen, current) if seen < current else None


def quantities_as_strings(resources: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The container's ``resources`` with every quantity a string (``2`` → ``"2"``).

    ``spec.serving.resources`` takes integers as well as strings (``cpu: 2`` is an integer in
    YAML), as a Pod does. Rendered always as strings, ``cpu: 2`` and ``cpu: "2"`` are one graph:
    a Git edit that only quotes a value, or an object written by another tool, re-renders
    nothing and rolls no pod.
    """
    return {section: {name: str(quantity) for name, quantity in quantities.items()}
            for section, quantities in resources.items()}


def tmp_volume(resources: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The runtime container's ``/tmp`` emptyDir (``TMP_VOLUME``), where MLflow downloads the
    model: its ``sizeLimit`` is the container's ``limits.ephemeral-storage`` when set (the
    kubelet evicts the pod once the volume holds more, and names the volume), else none (a
    graph without that limit renders the same pod spec as before it was taken)."""
    limit = (resources.get("limits") or {}).get(EPHEMERAL_STORAGE)
    return {"sizeLimit": limit} if limit is not None else {}


def grace_period_seconds(runtime: RuntimeSettings) -> int:
    """The runtime pod's termination grace period: the drain hook's wait, then the shutdown."""
    return runtime.drain_wait_seconds + SHUTDOWN_SECONDS


def runtime_env(runtime: RuntimeSettings, model_name: str, version: str) -> list[dict[str, Any]]:
    """Environment of the runtime container: which model to load and how to assign arms.

    The MLServer model name is the UpliftModel's name: it is the graph node Seldon routes
    ``/v2/models/<name>/infer`` to, and the ``model`` label of every runtime metric the gates read.
    """
    env = {
        "MLSERVER_MODEL_NAME": model_name,
        "MLSERVER_MODEL_VERSION": version,
        "MLSERVER_MODEL_URI": f"models:/{runtime.registered_model}/{version}",
        "MLSERVER_PARALLEL_WORKERS": "0",
        "MLFLOW_TRACKING_URI": runtime.tracking_uri,
        "UPLIFT_MODEL_VERSION": version,
        # repr, not :g (six digits): 0.9999999 must not reach the runtime as 1 (every unit held out).
        "UPLIFT_HOLDOUT_FRACTION": repr(float(runtime.holdout_fraction)),
        "UPLIFT_UNIT_KEY": runtime.unit_key,
        "UPLIFT_SALT": runtime.salt,
    }
    return [{"name": key, "value": value} for key, value in env.items()]


class SeldonV1Backend:
    """``machinelearning.seldon.io/v1`` SeldonDeployment rendering and status reading."""

    api_version = "machinelearning.seldon.io/v1"
    kind = "SeldonDeployment"
    plural = "seldondeployments"

    def __init__(self, controller_id: str = "") -> None:
        #: ``CONTROLLER_ID_LABEL``'s value on every graph rendered ("": no such label).
        self.controller_id = controller_id

    def render(self, owner: Owner, runtime: RuntimeSettings, split: TrafficSplit) -> dict[str, Any]:
        predictors = [self._predictor(owner, runtime, split.stable_version,
                                      100 - split.canary_weight)]
        if split.canary_version is not None:
            predictors.append(self._predictor(owner, runtime, split.canary_version,
                                              split.canary_weight))
        labels = naming.labels(owner)
        if self.controller_id:
            labels[CONTROLLER_ID_LABEL] = self.controller_id
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {
                "name": owner.name,
                "namespace": owner.namespace,
                "labels": labels,
                "annotations": {ROLES_ANNOTATION: _roles_annotation(split)},
                "ownerReferences": [naming.owner_reference(owner)],
            },
            "spec": {"protocol": "v2", "transport": "rest", "predictors": predictors},
        }

    def observe(self, child: Mapping[str, Any] | None, split: TrafficSplit) -> ServingState:
        """Seldon reports ``state`` Available / Creating / Failed for the whole graph it last
        reconciled, and each predictor's Deployment in ``deploymentStatus``: a version is
        ready only when both say so (an Available written for the graph before this one's
        apply leaves a predictor just added without a Deployment; see the module docstring),
        and the graph only while every Deployment has as many available replicas as its
        predictor wants (``short_deployments``: not ready, "N of M replicas", its versions
        still serving: degraded capacity, not an outage).
        ``rolling``: ``rolling_deployments``, whatever the state; ``unavailable``:
        ``unavailable_deployments``."""
        state = self._observe(child)
        if child is None:
            return state
        return replace(state, rolling=rolling_deployments(child),
                       unavailable=unavailable_deployments(child))

    def _observe(self, child: Mapping[str, Any] | None) -> ServingState:
        if child is None:
            return ServingState(ready=False, message="SeldonDeployment not created yet")
        weights = tuple(sorted(
            (str(p.get("annotations", {}).get("version", "")), int(p.get("traffic") or 0))
            for p in child.get("spec", {}).get("predictors", [])))
        status = child.get("status") or {}
        state = status.get("state", "")
        description = status.get("description", "")
        serving = _serving_versions(child)
        stale = stale_generation(child)
        if stale is not None:
            return ServingState(
                ready=False, weights=weights, serving_versions=serving,
                message=f"SeldonDeployment status is for generation {stale[0]}, not {stale[1]} yet")
        if state == "Available":
            versions = _versions(child)
            if pending := sorted(versions - serving):
                return ServingState(
                    ready=False, weights=weights, serving_versions=serving,
                    message=("SeldonDeployment Available for an earlier graph: no available "
                             f"Deployment for version{'s' * (len(pending) > 1)} "
                             f"{', '.join(pending)} yet"))
            if short := short_deployments(child):
                # Every version serves (none is down), with less capacity than the spec asks.
                return ServingState(
                    ready=False, weights=weights, serving_versions=serving, short=short,
                    message=("SeldonDeployment Available with fewer replicas than wanted: "
                             + "; ".join(short)))
            return ServingState(ready=True, message="SeldonDeployment Available",
                                ready_versions=versions,
                                weights=weights, serving_versions=serving)
        if state == "Failed":
            return ServingState(ready=False, failed=True,
                                message=f"SeldonDeployment Failed: {description}".rstrip(": "),
                                weights=weights, serving_versions=serving)
        return ServingState(ready=False,
                            message=f"SeldonDeployment {state or 'has no status yet'}",
                            weights=weights, serving_versions=serving)

    def retired_rendering(self, child: Mapping[str, Any]) -> bool:
        """A predictor carrying ``PREDICTOR_ROLE_ANNOTATION`` (operators before
        ``ROLES_ANNOTATION``): Seldon carries it into the pods, so the apply that removes it
        rolls them, better as a throttled re-render than with the next promotion."""
        return any(PREDICTOR_ROLE_ANNOTATION in (p.get("annotations") or {})
                   for p in (child.get("spec") or {}).get("predictors") or [])

    def rendered_roles(self, child: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
        """Each role in ``version_roles`` → its version and its predictor's ``traffic``."""
        of = version_roles(child)
        roles: dict[str, tuple[str, int]] = {}
        for predictor in (child.get("spec") or {}).get("predictors") or []:
            version = str((predictor.get("annotations") or {}).get("version") or "")
            if version in of:
                roles[of[version]] = (version, int(predictor.get("traffic") or 0))
        return roles

    def report_token(self, child: Mapping[str, Any] | None) -> tuple[str, str] | None:
        """The report token reference (Secret name, key) the graph gives its runtime containers
        as rendered (every predictor gets the same; the first one's is read), None without:
        the ``REPORT_TOKEN_VOLUME`` secret volume this operator renders, or the
        ``UPLIFT_REPORT_TOKEN`` secretKeyRef of a graph an earlier operator rendered."""
        predictors = ((child or {}).get("spec") or {}).get("predictors") or [{}]
        components = predictors[0].get("componentSpecs") or [{}]
        pod = (components[0] or {}).get("spec") or {}
        for volume in pod.get("volumes") or []:
            secret = volume.get("secret") or {}
            items = secret.get("items") or [{}]
            if (volume.get("name") == REPORT_TOKEN_VOLUME and secret.get("secretName")
                    and items[0].get("key")):
                return str(secret["secretName"]), str(items[0]["key"])
        containers = pod.get("containers") or [{}]
        for env in containers[0].get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            if env.get("name") == REPORT_TOKEN_ENV and ref.get("name") and ref.get("key"):
                return str(ref["name"]), str(ref["key"])
        return None

    def credential_env(self, child: Mapping[str, Any] | None) -> tuple[tuple[str, str, str], ...]:
        """Every ``secretKeyRef`` variable of the first predictor's runtime container (every
        predictor gets the same) but the two this backend renders of its own (the decision
        key, ``REPORT_TOKEN_ENV``): what ``RuntimeSettings.credential_env`` rendered, in order,
        so that rendering it again changes nothing."""
        predictors = ((child or {}).get("spec") or {}).get("predictors") or [{}]
        components = predictors[0].get("componentSpecs") or [{}]
        containers = ((components[0] or {}).get("spec") or {}).get("containers") or [{}]
        found: list[tuple[str, str, str]] = []
        for env in containers[0].get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            name = str(env.get("name") or "")
            if name and ref.get("name") and ref.get("key") and name not in (
                    DECISION_KEY_ENV, REPORT_TOKEN_ENV):
                found.append((name, str(ref["name"]), str(ref["key"])))
        return tuple(found)

    def decision_key_created(self, child: Mapping[str, Any] | None) -> str | None:
        """``DECISION_KEY_CREATED_ENV`` of the first predictor's runtime container (every
        predictor gets the same), None without."""
        predictors = ((child or {}).get("spec") or {}).get("predictors") or [{}]
        containers = _pod_spec(predictors[0]).get("containers") or [{}]
        for env in containers[0].get("env") or []:
            if env.get("name") == DECISION_KEY_CREATED_ENV and isinstance(env.get("value"), str):
                return str(env["value"])
        return None

    def runtime_settings(self, child: Mapping[str, Any] | None,
                         fallback: RuntimeSettings) -> RuntimeSettings | None:
        """The ``RuntimeSettings`` the graph ``child`` was rendered with, read back from its
        stable version's predictor (``version_roles``; else its first): the image, the
        ServiceAccount, the MLflow tracking URI and registered model, the credentials and
        report token references, replicas, resources, placement and the holdout's settings, so
        that rendering a split from them changes nothing but the traffic (and renders a new
        version's predictor as the others are). What a predictor does not carry (an earlier
        operator's rendering) is taken from ``fallback``; None without a predictor to read (no
        graph, or none of its predictors has a runtime container)."""
        predictors = [p for p in ((child or {}).get("spec") or {}).get("predictors") or []
                      if isinstance(p, Mapping)]
        stable = next((v for v, role in version_roles(child).items() if role == "stable"), None)
        predictors.sort(key=lambda p: (p.get("annotations") or {}).get("version") != stable)
        for predictor in predictors:
            pod = _pod_spec(predictor)
            containers = pod.get("containers") or []
            if containers and isinstance(containers[0], Mapping) and containers[0].get("image"):
                return _read_back(predictor, pod, containers[0], fallback)
        return None

    def _predictor(self, owner: Owner, runtime: RuntimeSettings, version: str,
                   traffic: int) -> dict[str, Any]:
        env = runtime_env(runtime, owner.name, version) + [
            {"name": "MLSERVER_METRICS_DIR", "value": METRICS_DIR}] + [
            {"name": name, "value": value} for name, value in PORT_ENV] + [
            {"name": "UPLIFT_CAMPAIGNS_FILE", "value": campaigns.FILE},
            {"name": "UPLIFT_DRAIN_WAIT_SECONDS", "value": str(runtime.drain_wait_seconds)},
            {"name": DRAIN_TOKEN_FILE_ENV, "value": DRAIN_TOKEN_FILE}] + [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for name, secret, key in runtime.credential_env] + [
            {"name": DECISION_KEY_ENV, "valueFrom": {"secretKeyRef": {
                "name": naming.decision_key_secret(owner.name), "key": DECISION_KEY}}}]
        if runtime.report_token is not None:
            env.append({"name": REPORT_TOKEN_FILE_ENV, "value": REPORT_TOKEN_FILE})
        # Always, one replica included: a replicas change is a pod spec change, which Seldon
        # applies whether or not it would apply ``replicas`` alone (module docstring,
        # "Replicas"); and a decrease to 1 an earlier operator rendered without it is applied.
        env.append({"name": REPLICAS_ENV, "value": str(runtime.replicas)})
        # Last, and only when set: a graph rendered without it keeps the same pod spec, and
        # rolls no pod.
        if runtime.decision_key_created is not None:
            env.append({"name": DECISION_KEY_CREATED_ENV,
                        "value": runtime.decision_key_created})
        # Seldon pairs the graph node with the container of the same name.
        container: dict[str, Any] = {
            "name": owner.name, "image": runtime.image, "env": env,
            # Declared, so that Seldon numbers none itself (by the predictor's position).
            "ports": [{"name": name, "containerPort": number, "protocol": "TCP"}
                      for name, number in PORTS],
            "startupProbe": copy.deepcopy(STARTUP_PROBE),
            "securityContext": copy.deepcopy(CONTAINER_SECURITY),
            "volumeMounts": [{"name": "mlserver-metrics", "mountPath": METRICS_DIR},
                             {"name": TMP_VOLUME, "mountPath": TMP_DIR},
                             {"name": CAMPAIGNS_VOLUME, "mountPath": campaigns.MOUNT_DIR,
                              "readOnly": True}]}
        resources = quantities_as_strings(runtime.resources) if runtime.resources else {}
        if resources:
            container["resources"] = resources
        # A stopping replica counts the cohorts it holds pending (its decisions' expected
        # count, the conversions reported to it) before they leave with it, then waits for a
        # scrape: the hook's wait and the runtime's own shutdown fit in the grace period.
        container["lifecycle"] = {"preStop": {"exec": {"command": list(DRAIN_HOOK)}}}
        volumes = [{"name": "mlserver-metrics", "emptyDir": {}},
                   # The root filesystem is read-only: MLflow downloads the model's artifacts
                   # into a temporary directory (``tmp_volume``).
                   {"name": TMP_VOLUME, "emptyDir": tmp_volume(resources)},
                   # Optional: the operator writes the ConfigMap only once it has something
                   # to say (a Campaign, a canary split); until then the directory is empty
                   # and the runtime reads no campaign and no split.
                   {"name": CAMPAIGNS_VOLUME, "configMap": {
                       "name": naming.campaigns_config_map(owner.name), "optional": True}}]
        if runtime.report_token is not None:
            # The one key, re-read by the runtime when the kubelet refreshes it: a rotation
            # needs no restart. Not optional: the operator found the Secret and key first.
            secret, key = runtime.report_token
            container["volumeMounts"].append({"name": REPORT_TOKEN_VOLUME,
                                              "mountPath": REPORT_TOKEN_DIR, "readOnly": True})
            volumes.append({"name": REPORT_TOKEN_VOLUME, "secret": {
                "secretName": secret,
                "items": [{"key": key, "path": REPORT_TOKEN_ITEM}]}})
        pod_spec: dict[str, Any] = {"containers": [container], "volumes": volumes,
                                    "securityContext": copy.deepcopy(POD_SECURITY),
                                    "automountServiceAccountToken": False,
                                    "terminationGracePeriodSeconds": grace_period_seconds(runtime)}
        if runtime.service_account_name:
            pod_spec["serviceAccountName"] = runtime.service_account_name
        # Each only when set: a graph rendered without them keeps its pod spec.
        pod_spec.update({key: copy.deepcopy(runtime.placement[key]) for key in PLACEMENT_KEYS
                         if runtime.placement.get(key)})
        return {
            "name": naming.predictor_name(version),
            # No role here (ROLES_ANNOTATION): what a predictor carries reaches its pods.
            "annotations": {"version": version},
            "labels": {"uplift.dev/version": version},
            "replicas": runtime.replicas,
            "traffic": traffic,
            "componentSpecs": [{"spec": pod_spec}],
            "graph": {"name": owner.name, "type": "MODEL", "children": []},
        }


def _pod_spec(predictor: Mapping[str, Any]) -> Mapping[str, Any]:
    components = predictor.get("componentSpecs") or [{}]
    pod = (components[0] or {}).get("spec") if isinstance(components[0], Mapping) else None
    return pod if isinstance(pod, Mapping) else {}


def _read_back(predictor: Mapping[str, Any], pod: Mapping[str, Any],
               container: Mapping[str, Any], fallback: RuntimeSettings) -> RuntimeSettings:
    """``SeldonV1Backend.runtime_settings`` of one predictor (its pod and runtime container)."""
    env = {str(e.get("name")): e["value"] for e in container.get("env") or []
           if isinstance(e, Mapping) and isinstance(e.get("value"), str)}
    model = env.get("MLSERVER_MODEL_URI", "")
    registered = (model.removeprefix("models:/").rpartition("/")[0]
                  if model.startswith("models:/") else "")
    # The same predictor's references, as the backend reads them off a whole graph.
    alone = {"spec": {"predictors": [predictor]}}
    backend = SeldonV1Backend()

    def number(name: str, kind: type[float] | type[int], default: float) -> Any:
        try:
            return kind(env[name])
        except (KeyError, ValueError):
            return default

    replicas = predictor.get("replicas")
    resources = container.get("resources")
    account = pod.get("serviceAccountName")
    return replace(
        fallback, image=str(container["image"]),
        registered_model=registered or fallback.registered_model,
        tracking_uri=env.get("MLFLOW_TRACKING_URI", fallback.tracking_uri),
        replicas=replicas if isinstance(replicas, int) else fallback.replicas,
        holdout_fraction=number("UPLIFT_HOLDOUT_FRACTION", float, fallback.holdout_fraction),
        unit_key=env.get("UPLIFT_UNIT_KEY", fallback.unit_key),
        salt=env.get("UPLIFT_SALT", fallback.salt),
        resources=dict(resources) if isinstance(resources, Mapping) else {},
        credential_env=backend.credential_env(alone), report_token=backend.report_token(alone),
        decision_key_created=env.get(DECISION_KEY_CREATED_ENV),
        service_account_name=str(account) if account else None,
        # As rendered, none when the pod spec has none (not the fallback's: a refused spec's).
        placement={key: copy.deepcopy(pod[key]) for key in PLACEMENT_KEYS if pod.get(key)},
        drain_wait_seconds=number("UPLIFT_DRAIN_WAIT_SECONDS", int,
                                  fallback.drain_wait_seconds))
