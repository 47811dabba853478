"""Operator configuration: command-line options with environment fallbacks.

Every option can be set as ``--flag`` or as ``UPLIFT_<FLAG>`` in the environment (the chart sets
the environment), except the repeatable ones, whose variable is the plural, comma-separated:
``UPLIFT_NAMESPACES``, ``UPLIFT_PROMETHEUS_HEADERS``, ``UPLIFT_ALLOWED_TRACKING_URIS``,
``UPLIFT_ALLOWED_RUNTIME_IMAGES``, ``UPLIFT_ALLOWED_SERVICE_ACCOUNTS`` and
``UPLIFT_ALLOWED_IMAGE_PULL_SECRETS``. Their singular names
(``UPLIFT_ALLOWED_TRACKING_URI``, what the ``UPLIFT_<FLAG>`` rule gives) are read as well, so
that an allow-list set by one is not silently off; both set to different lists is refused at
start (``_env_list``). The result is one frozen value handed to the handlers through kopf's memo.

A numeric option's environment value is its argparse default as the text it is (an int only
when the variable is unset or empty), converted by the option's ``type``: argparse converts a
text default as it does a flag's value, so ``UPLIFT_PASS_WORKERS=five`` is its usual usage
error naming the option (``argument --pass-workers: invalid int value: 'five'``, exit status
2), not a traceback from a conversion before the parser exists.

A switch's variable (``UPLIFT_ALL_NAMESPACES``, ``UPLIFT_STANDALONE``, ``UPLIFT_VERBOSE``,
``UPLIFT_HELM_CREATES_PEERINGS``, ``UPLIFT_NARROW_SERVING_PLACEMENT``) is ``true`` or ``false``
in any case, empty or unset being off; anything else is a usage error naming it (exit status
2), not read as off. A flag given wins over the variable, the namespace scope included:
``--namespace`` clears an ``UPLIFT_ALL_NAMESPACES=true`` and ``--all-namespaces`` an
``UPLIFT_NAMESPACES``; the two set in the environment without a flag are refused (kopf takes
one scope, not both).

An option with a fixed set of values (``--log-format``) checks its environment value as it
does the flag's: argparse checks ``choices`` only for a value given on the command line, not
for a default, so ``UPLIFT_LOG_FORMAT=text`` is checked after parsing and is the same usage
error naming the option (and the variable), exit status 2, not a ``KeyError`` when the
operator starts logging. A ``--metric-templates`` file that is missing, unreadable or not YAML
is a usage error naming the option too.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from uplift_operator.api.v1alpha1.common import SUBDOMAIN_PATTERN
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.userinfo import has_userinfo

__all__ = ["MIN_PEERING_LIFETIME", "OperatorConfig", "keepalive_gap", "keepalives_per_second",
           "parse_args", "parse_header", "recommended_peering_lifetime", "seniority_priority"]

MIN_PEERING_LIFETIME = 3
#: The shortest peering lifetime by default (one peering object: cluster-wide, or a namespace).
#: kopf judges a peer's ``lastseen`` (the writer's clock) by the reader's clock, so at any
#: lifetime the nodes' clocks must agree to under 5 s, kopf's least keep-alive margin; at 8 a
#: skew of 8 s has both replicas act continuously (docs/reliability.md, "Node clocks").
SHORT_PEERING_LIFETIME = 8
#: kopf's own default, the longest by default: a failover waits up to this long.
LONG_PEERING_LIFETIME = 60
#: Keep-alive PATCHes a second, per replica, that the default lifetime allows at rest (three
#: peering objects at 8 s). Each is also a watch event to every replica.
KEEPALIVE_BUDGET = 2.0
PATTERN_CHARS = "*?[!,"  # kopf's namespace patterns: globs, negations, lists


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    # Namespaces left out of kopf's set at start: they did not exist, or the operator could not
    # read its KopfPeering there (handlers.readiness.plan_start; with a pattern, only the latter,
    # negated in the patterns: plan_patterned_start).
    left_out_namespaces: tuple[str, ...] = ()
    standalone: bool = False
    peering_name: str = "uplift-operator"
    priority: int = 0
    peering_lifetime: int = 8
    liveness_port: int = 8080
    readiness_port: int = 0
    metrics_port: int = 9090
    # Seconds between Prometheus's scrapes of the operator's own /metrics (the chart's
    # serviceMonitor.interval or podMonitor.interval): a process that found a ghost waits
    # that long (and for one scrape, handlers.existence) before it exits.
    metrics_scrape_interval: int = 30
    log_format: str = "json"
    verbose: bool = False
    mlflow_tracking_uri: str | None = None
    prometheus_url: str | None = None
    # How the operator authenticates to Prometheus (docs/install.md, "Prometheus"): credentials
    # from files only (re-read when they change), never a value in the pod spec; headers such
    # as Mimir's X-Scope-OrgID (not secret); a CA bundle for its certificate.
    prometheus_bearer_token_file: Path | None = None
    prometheus_username_file: Path | None = None
    prometheus_password_file: Path | None = None
    prometheus_headers: tuple[tuple[str, str], ...] = ()
    prometheus_ca_file: Path | None = None
    # How far back the kept parts of long count ranges end (adapters.prometheus_ranges'
    # ``settle``): --prometheus-ingest-delay, plus two --prometheus-scrape-intervals when under
    # two, and at least --prometheus-query-lag plus two of them (``parse_args``), the least a
    # part must hold so that its increase() counts its scrapes.
    prometheus_ingest_delay: int = 300
    prometheus_scrape_interval: int = 30
    # Seconds before Prometheus answers a scrape's samples (a remote-write backend's ingestion
    # lag): the gates' counts are scaled by the scrapes of a range less this
    # (measurements.observed_share). 0: every scrape of a range is in its answer.
    prometheus_query_lag: int = 0
    # Seconds after a change of a canary's percent during which the runtime counts the units
    # between the old and the new percent for neither version, and the onlineEffect gate's
    # cohorts of the step begin (render.campaigns.carried_split, measurements.GateContext):
    # at least how long the kubelet takes to bring every pod the campaigns file's new copy.
    split_propagation_grace: int = 120
    runtime_image: str = "ghcr.io/uplift-dev/uplift-runtime:0.1.0"
    pass_workers: int = 8
    # Serving graphs re-rendered (same split, new rendering) rolling their pods at once; 0: no limit.
    max_concurrent_graph_rolls: int = 5
    metric_templates: Mapping[str, str] = field(default_factory=lambda: dict(BUILTIN_TEMPLATES))
    # Regular expressions an UpliftModel's trackingUri, runtimeImage and serviceAccountName
    # must match (empty: anything; the operator's own defaults always pass).
    allowed_tracking_uris: tuple[str, ...] = ()
    allowed_runtime_images: tuple[str, ...] = ()
    allowed_service_accounts: tuple[str, ...] = ()
    # The exact names spec.serving.imagePullSecrets may take (empty: any): the chart's
    # allowed.imagePullSecrets, which its SeldonDeployments admission policy holds them to too.
    allowed_image_pull_secrets: tuple[str, ...] = ()
    # The SeldonDeployments admission policy is installed: spec.serving's placement is held to
    # what it admits (domain.validation.ServingPolicy.narrow_placement), refused InvalidSpec.
    narrow_serving_placement: bool = False
    # The chart's Helm release (name, namespace): the peering objects the operator creates carry
    # its adoption metadata, so that Helm takes them into the release (handlers.readiness).
    helm_release: tuple[str, str] | None = None
    # The chart renders the peering objects too (its peering.create): Helm's first install
    # creates them after the Deployment, so the operator leaves them to it for a while.
    helm_creates_peerings: bool = False
    # The ``seldon.io/controller-id`` label of every SeldonDeployment rendered ("": none):
    # which Seldon controller (its CONTROLLER_ID) reconciles the serving graphs.
    seldon_controller_id: str = ""

    @property
    def cluster_reads(self) -> bool:
        """Whether kopf must list and watch cluster-scoped objects: namespaces (to match
        ``--namespace`` patterns) and CRDs (to notice ours appearing later). Not when every
        watched namespace is named exactly: then a namespaced install needs Roles only, and the
        CRDs must exist when the operator starts (a CRD created later needs a restart)."""
        return self.all_namespaces or any(c in n for n in self.namespaces for c in PATTERN_CHARS)


def keepalive_gap(lifetime: int) -> float:
    """The mean time between two keep-alives of one peering object, at ``lifetime``: kopf
    1.x's ``keepalive`` waits ``min(lifetime, max(1, lifetime - randint(5, 10)))`` seconds
    (1.5 s at 8, 52.5 s at 60)."""
    return sum(min(lifetime, max(1, lifetime - r)) for r in range(5, 11)) / 6


def keepalives_per_second(config: OperatorConfig, peerings: int | None = None) -> float:
    """Keep-alive PATCHes a second one replica sends at rest: one stream per peering object
    (``peerings``: the ClusterKopfPeering, or a KopfPeering per watched namespace; by default
    the namespaces named exactly), none standalone."""
    if config.standalone:
        return 0.0
    if peerings is None:
        peerings = 1 if config.all_namespaces else len(config.namespaces)
    return peerings / keepalive_gap(config.peering_lifetime)


def recommended_peering_lifetime(namespaces: Sequence[str], all_namespaces: bool) -> int:
    """The default ``--peering-lifetime``: the shortest (fastest failover) whose keep-alives
    cost at most ``KEEPALIVE_BUDGET`` PATCHes a second per replica, between 8 and 60 s.
    Cluster-wide there is one peering object (8 s); namespaced, kopf keeps one per watched
    namespace, each with its own keep-alives: 8 s up to 3 namespaces, 13 s for 10, 33 s for
    50, 60 s from 104 (over the budget from 106: ``--all-namespaces`` keeps one object). With a
    pattern the count is not known before the namespaces are listed: 60 s."""
    if all_namespaces:
        return SHORT_PEERING_LIFETIME
    if any(c in n for n in namespaces for c in PATTERN_CHARS):
        return LONG_PEERING_LIFETIME
    return next((lifetime for lifetime in range(SHORT_PEERING_LIFETIME, LONG_PEERING_LIFETIME)
                 if len(namespaces) / keepalive_gap(lifetime) <= KEEPALIVE_BUDGET),
                LONG_PEERING_LIFETIME)


_INTERVAL_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_INTERVAL_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _interval_seconds(text: str | int) -> int:
    """Whole seconds (at least 1) of ``text``: a number of seconds, or a Prometheus duration
    as a ServiceMonitor's interval spells it (``30s``, ``1m``, ``1m30s``)."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    parts = _INTERVAL_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds, or a duration such as 60s or 1m")
    return max(1, round(sum(int(n) * _INTERVAL_UNIT[u] for n, u in parts)))


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"UPLIFT_{name}", default)


def _env_switch(name: str) -> bool:
    """A switch's environment value: ``true`` or ``false`` in any case (surrounding blanks
    ignored), unset or empty being off; anything else is a ``ValueError`` naming the variable,
    so that ``UPLIFT_VERBOSE=1`` is not silently off."""
    text = (_env(name, "") or "").strip()
    if text.lower() not in ("", "true", "false"):
        raise ValueError(f"UPLIFT_{name}: expected true or false, not {text[:20]!r}")
    return text.lower() == "true"


def _env_list(plural: str, singular: str) -> list[str]:
    """A repeatable option's environment value: ``UPLIFT_<plural>`` or ``UPLIFT_<singular>``,
    comma-separated, each item stripped of surrounding blanks and empty items dropped
    (``"team-a, team-b"`` is ``team-a`` and ``team-b``, not a namespace `` team-b`` that does
    not exist and is left unwatched, nor an allow-list pattern with a leading blank that never
    matches). The plural is the documented name (the chart and existing installs set it); the
    singular is what the ``UPLIFT_<OPTION>`` rule gives the flag, and was silently ignored,
    which left an ``--allowed-*`` allow-list off. Both set to different lists is a
    ``ValueError`` naming both (values not quoted): which one was meant cannot be known, and
    taking either could drop a pattern or a tenant header."""
    lists = {name: [item.strip() for item in (_env(name, "") or "").split(",") if item.strip()]
             for name in (plural, singular)}
    if lists[plural] and lists[singular] and lists[plural] != lists[singular]:
        raise ValueError(f"UPLIFT_{plural} and UPLIFT_{singular} are both set, to different "
                         f"values: set one (UPLIFT_{plural}, comma-separated)")
    return lists[plural] or lists[singular]


#: A Kubernetes label value (``validation.IsValidLabelValue``), not empty.
_LABEL_VALUE = re.compile(r"(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")

#: An HTTP header name (RFC 9110 ``token``).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Headers a ``--prometheus-header`` may not set: credentials go in files, never in the pod
#: spec; the others are the client's own.
_RESERVED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "host",
                               "content-length", "accept"})


def parse_header(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (``X-Scope-OrgID=team-a``) as a header, or ``ValueError`` saying why not."""
    name, equals, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not equals or not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{text!r}: expected NAME=VALUE with an HTTP header name")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"{name}: not settable as a header; credentials come from files "
                         "(--prometheus-bearer-token-file, --prometheus-username-file and "
                         "--prometheus-password-file)")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{name}: a header value cannot hold a line break")
    return name, value


def seniority_priority(started: float) -> int:
    """A peering priority that falls with the process's start time (``started``, Unix seconds):
    microseconds before 2^52 µs (year 2112), then 10 random bits, because kopf pauses every
    replica of a tie. A replica acting is never outranked by one started after it, which would
    pause it mid-ramp (and pause-then-exit it: ``handlers.common.task_ended``); it stays below
    2^63, the API server's integers."""
    return (2**52 - int(started * 1_000_000)) * 1024 + secrets.randbelow(1024)


def _check_choices(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every option with ``choices`` holds one of them: argparse checks a value given as a flag,
    not a default, which is where an ``UPLIFT_<OPTION>`` value is. Otherwise argparse's usage
    error for the flag, naming the variable too (exit status 2)."""
    for action in parser._actions:
        if action.choices is None or not action.option_strings:
            continue
        value = getattr(args, action.dest, None)
        for item in value if isinstance(value, list) else [value]:
            if item is None or item in action.choices:
                continue
            choices = ", ".join(repr(choice) for choice in action.choices)
            parser.error(f"argument {action.option_strings[-1]}: invalid choice: "
                         f"{str(item)[:40]!r} from UPLIFT_{action.dest.upper()} "
                         f"(choose from {choices})")


def _settle(delay: int, scrape: int, *, at_least_two: bool = False) -> int:
    """How far back the kept parts of long count ranges end: ``delay``, or, under two
    ``scrape`` intervals, ``delay`` plus two of them (a sample up to ``delay`` late, two scrapes
    after it for an ``increase()``; at most 3599 s: ``delay`` < 600 there). ``at_least_two``:
    plus two scrapes always, for a delay that is the backend's lag itself
    (``--prometheus-query-lag``) rather than a bound well past it (at most 3600 s: checked)."""
    return delay if delay >= 2 * scrape and not at_least_two else delay + 2 * scrape


def parse_args(argv: Sequence[str]) -> OperatorConfig:
    parser = argparse.ArgumentParser(prog="uplift-operator run",
                                     description="Run the uplift operator.")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=None,
                       help="watch this namespace (repeatable; globs allowed). "
                            "Env: UPLIFT_NAMESPACES (or UPLIFT_NAMESPACE), comma-separated; "
                            "the flag wins over UPLIFT_ALL_NAMESPACES")
    # None unless given: the environment's scope is settled after parsing (a flag wins).
    scope.add_argument("-A", "--all-namespaces", action="store_true", default=None,
                       help="watch every namespace. Env: UPLIFT_ALL_NAMESPACES=true; the flag "
                            "wins over UPLIFT_NAMESPACES")
    # The switches are None unless given, then read from the environment (_env_switch).
    parser.add_argument("--standalone", action="store_true", default=None,
                        help="no peering: only for a single replica you are sure of. "
                             "Env: UPLIFT_STANDALONE=true")
    # None unless given: refused next to --standalone (below), then UPLIFT_PEERING's or the default.
    parser.add_argument("--peering", default=None,
                        help="peering object shared by the replicas (default: uplift-operator). "
                             "Env: UPLIFT_PEERING. Not with --standalone")
    parser.add_argument("--priority", type=int,
                        default=_env("PRIORITY") or seniority_priority(time.time()),
                        help="peering priority; the highest live replica acts, the others wait. "
                             "Default: the earlier started the higher, so a replica that starts "
                             "(a rolling update, a restart) never pauses the one acting")
    parser.add_argument("--peering-lifetime", type=int,
                        default=_env("PEERING_LIFETIME") or None,
                        help="seconds after its last keep-alive that a replica counts as gone, "
                             "so a standby takes over from a killed or cut-off one. kopf sends "
                             "keep-alives every lifetime minus 5-10 s (at least 1 s: every 1-3 s "
                             "at 8), so an acting replica is given up only when its keep-alives "
                             "stall 5 s or more; namespaced, it sends them for each watched "
                             "namespace. Default: 8 cluster-wide and for up to 3 namespaces, "
                             "then growing with the namespaces so that the keep-alives stay "
                             f"within {KEEPALIVE_BUDGET:g} a second (13 for 10, 33 for 50), "
                             f"{LONG_PEERING_LIFETIME} from 104 namespaces or with a pattern")
    parser.add_argument("--liveness-port", type=int,
                        default=_env("LIVENESS_PORT", "8080") or 0,
                        help="port of the /healthz endpoint (0: off)")
    parser.add_argument("--readiness-port", type=int,
                        default=_env("READINESS_PORT", "0") or 0,
                        help="port of the /readyz endpoint: 503 while a peering object kopf "
                             "waits for is missing (0: off; the chart and manifests use 8081)")
    parser.add_argument("--metrics-port", type=int,
                        default=_env("METRICS_PORT", "9090") or 0,
                        help="port of the Prometheus /metrics endpoint (0: off)")
    parser.add_argument("--metrics-scrape-interval", type=_interval_seconds,
                        default=_env("METRICS_SCRAPE_INTERVAL")
                                or OperatorConfig.metrics_scrape_interval,
                        help="how often Prometheus scrapes this /metrics, in seconds or as a "
                             "Prometheus duration (60s, 1m): a process that found a deleted "
                             "object still reconciled counts it, then waits this plus 5 s, and "
                             "until a scrape read the count (at most this plus 5 s or 5 "
                             "minutes, whichever is longer; not at all with --metrics-port 0), "
                             "before it exits. Env: UPLIFT_METRICS_SCRAPE_INTERVAL. Default: 30")
    parser.add_argument("--log-format", choices=["json", "plain", "full"],
                        default=_env("LOG_FORMAT") or "json",
                        help="json, plain or full. Env: UPLIFT_LOG_FORMAT. Default: json")
    parser.add_argument("--verbose", action="store_true", default=None,
                        help="debug logging. Env: UPLIFT_VERBOSE=true")
    parser.add_argument("--mlflow-tracking-uri", default=_env("MLFLOW_TRACKING_URI"),
                        help="the MLflow tracking server of UpliftModels that name none "
                             "(http:// or https://), without user:password@: it is handed to "
                             "every serving pod's environment; credentials go in a Secret "
                             "named by spec.model.credentials. Env: UPLIFT_MLFLOW_TRACKING_URI")
    parser.add_argument("--prometheus-url", default=_env("PROMETHEUS_URL"),
                        help="the Prometheus every gate queries (its root: http://prom:9090, "
                             "or a Mimir/Thanos query path). Credentials in it "
                             "(https://user:pw@...) work but sit in the pod spec: prefer the "
                             "files below. Never shown in a message or log")
    parser.add_argument("--prometheus-bearer-token-file", type=Path,
                        default=_env("PROMETHEUS_BEARER_TOKEN_FILE") or None,
                        help="a file holding the bearer token sent to Prometheus (a mounted "
                             "Secret key, a projected ServiceAccount token), read again when "
                             "it changes. Env: UPLIFT_PROMETHEUS_BEARER_TOKEN_FILE")
    parser.add_argument("--prometheus-username-file", type=Path,
                        default=_env("PROMETHEUS_USERNAME_FILE") or None,
                        help="a file holding the basic-auth username (with "
                             "--prometheus-password-file). Env: UPLIFT_PROMETHEUS_USERNAME_FILE")
    parser.add_argument("--prometheus-password-file", type=Path,
                        default=_env("PROMETHEUS_PASSWORD_FILE") or None,
                        help="a file holding the basic-auth password, read again when it "
                             "changes. Env: UPLIFT_PROMETHEUS_PASSWORD_FILE")
    parser.add_argument("--prometheus-header", action="append", default=None,
                        metavar="NAME=VALUE",
                        help="a header sent with every query, e.g. X-Scope-OrgID=team-a for "
                             "a multi-tenant Mimir (repeatable; not for secrets: it is in the "
                             "pod spec). Env: UPLIFT_PROMETHEUS_HEADERS (or "
                             "UPLIFT_PROMETHEUS_HEADER), comma-separated")
    parser.add_argument("--prometheus-ca-file", type=Path,
                        default=_env("PROMETHEUS_CA_FILE") or None,
                        help="a PEM bundle of the CAs Prometheus' certificate must chain to, "
                             "instead of the default trust (REQUESTS_CA_BUNDLE, when set, is "
                             "that default). Env: UPLIFT_PROMETHEUS_CA_FILE")
    parser.add_argument("--prometheus-ingest-delay", type=int,
                        default=_env("PROMETHEUS_INGEST_DELAY")
                                or OperatorConfig.prometheus_ingest_delay,
                        help="seconds after a scrape until Prometheus answers with its samples "
                             "for sure (remote-write backends can lag): the parts of long count "
                             "ranges the operator keeps end at least this far back (and at "
                             "least --prometheus-query-lag plus two scrape intervals); under two "
                             "--prometheus-scrape-intervals, this plus two of them. Default: 300")
    parser.add_argument("--prometheus-scrape-interval", type=int,
                        default=_env("PROMETHEUS_SCRAPE_INTERVAL")
                                or OperatorConfig.prometheus_scrape_interval,
                        help="seconds between Prometheus's scrapes of the runtime pods: the "
                             "gates read the counts of a w-second range as those scrapes "
                             "observed them ((w - this)/w of what increase() reports; nothing "
                             "within this of a step's start), and a stopping runtime pod waits "
                             "this plus 5 s after counting what it holds pending, so that a "
                             "scrape reads it (its grace period is 30 s more). Set it to your "
                             "Prometheus's. Default: 30")
    parser.add_argument("--prometheus-query-lag", type=int,
                        default=_env("PROMETHEUS_QUERY_LAG")
                                or OperatorConfig.prometheus_query_lag,
                        help="seconds after a scrape before a query answers its samples: a "
                             "remote-write backend's (Thanos Receive, Mimir, Cortex) ingestion "
                             "lag. The gates read a w-second range's counts as the scrapes of "
                             "its first w - this seconds observed them; left at 0 with a lagging "
                             "backend, a look may read up to twice what it observed. A gate "
                             "query's {{interval}} is at least 4 scrape intervals plus this, and "
                             "--prometheus-ingest-delay is read as at least this plus two "
                             "scrape intervals. "
                             "Env: UPLIFT_PROMETHEUS_QUERY_LAG. Default: 0")
    parser.add_argument("--split-propagation-grace", type=_interval_seconds,
                        default=_env("SPLIT_PROPAGATION_GRACE")
                                or OperatorConfig.split_propagation_grace,
                        help="how long, in seconds or as a Prometheus duration (2m), after a "
                             "change of a canary's percent every runtime pod has the campaigns "
                             "file's new copy: the runtime counts the units between the old and "
                             "the new percent for neither version that long, and the "
                             "onlineEffect gate compares the step's decisions from this long "
                             "after its start, so that no unit is in both versions' counts of "
                             "a step. At least the kubelet's ConfigMap propagation delay "
                             "(60-90 s with its defaults); 1 s to 1 h. "
                             "Env: UPLIFT_SPLIT_PROPAGATION_GRACE. Default: 120")
    parser.add_argument("--runtime-image", default=_env("RUNTIME_IMAGE",
                                                        OperatorConfig.runtime_image))
    parser.add_argument("--pass-workers", type=int,
                        default=_env("PASS_WORKERS") or OperatorConfig.pass_workers,
                        help="passes run at once (threads; each mostly waits on the API server, "
                             "MLflow or Prometheus). Default: 8")
    for option, what in (("tracking-uri", "spec.model.trackingUri"),
                         ("runtime-image", "spec.serving.runtimeImage"),
                         ("service-account", "spec.serving.serviceAccountName")):
        env = "ALLOWED_" + option.upper().replace("-", "_")
        parser.add_argument(f"--allowed-{option}", action="append", default=None,
                            metavar="REGEX",
                            help=f"a regular expression {what} must match, whole (repeatable; "
                                 "none: anything; the operator's own default always passes). "
                                 f"Env: UPLIFT_{env}S (or UPLIFT_{env}), comma-separated")
    parser.add_argument("--allowed-image-pull-secret", action="append", default=None,
                        metavar="NAME",
                        help="a Secret name spec.serving.imagePullSecrets may name, exactly "
                             "(repeatable; none: any). The chart's allowed.imagePullSecrets, "
                             "which its SeldonDeployments admission policy holds the serving "
                             "pods to as well. Env: UPLIFT_ALLOWED_IMAGE_PULL_SECRETS (or "
                             "UPLIFT_ALLOWED_IMAGE_PULL_SECRET), comma-separated")
    parser.add_argument("--narrow-serving-placement", action="store_true", default=None,
                        help="the SeldonDeployments admission policy is installed (the chart's "
                             "admissionPolicy.enabled, manifests/seldondeployments-policy.yaml): "
                             "a spec.serving toleration without a key or of a "
                             "node-role.kubernetes.io/ taint, or a system-node-critical or "
                             "system-cluster-critical priorityClassName, which the policy "
                             "refuses, makes the UpliftModel InvalidSpec (its serving graph "
                             "kept as rendered less what the policy refuses, an abort or "
                             "rollback still applied) instead of "
                             "having every apply refused. "
                             "Env: UPLIFT_NARROW_SERVING_PLACEMENT=true")
    parser.add_argument("--max-concurrent-graph-rolls", type=int,
                        default=_env("MAX_CONCURRENT_GRAPH_ROLLS")
                                or OperatorConfig.max_concurrent_graph_rolls,
                        help="serving graphs whose pods roll at once because only their "
                             "rendering changed (an operator upgrade, --runtime-image, "
                             "--mlflow-tracking-uri, --prometheus-scrape-interval, a "
                             "spec.serving edit); the others wait, serving as they are. Traffic "
                             "changes (canary steps, rollbacks) never wait. 0: no limit. "
                             "Default: 5")
    parser.add_argument("--metric-templates", type=Path, default=_env("METRIC_TEMPLATES"),
                        help="YAML file mapping template names to PromQL, added to the built-ins")
    parser.add_argument("--helm-release", default=_env("HELM_RELEASE"),
                        help="the Helm release that installed the operator (the chart sets it): "
                             "a peering object the operator creates carries Helm's adoption "
                             "metadata for it, so that the release can take it over. "
                             "Env: UPLIFT_HELM_RELEASE")
    parser.add_argument("--helm-release-namespace", default=_env("HELM_RELEASE_NAMESPACE"),
                        help="that release's namespace (with --helm-release). "
                             "Env: UPLIFT_HELM_RELEASE_NAMESPACE")
    parser.add_argument("--helm-creates-peerings", action="store_true",
                        default=None,
                        help="the chart renders the peering objects as well (peering.create): "
                             "for its first 60 s the operator only dry-runs their creation, "
                             "which Helm's first install does after the Deployment. "
                             "Env: UPLIFT_HELM_CREATES_PEERINGS=true")
    parser.add_argument("--seldon-controller-id", default=_env("SELDON_CONTROLLER_ID", ""),
                        help="the seldon.io/controller-id label of every SeldonDeployment the "
                             "operator renders: only the Seldon controller started with that "
                             "CONTROLLER_ID reconciles them (a cluster running several Seldon "
                             "controllers). Empty: no label, for a Seldon controller without "
                             "an id. Env: UPLIFT_SELDON_CONTROLLER_ID")
    args = parser.parse_args(list(argv))
    _check_choices(parser, args)
    standalone_flag = bool(args.standalone)
    try:
        # A switch given wins: its variable is not read, so not even an invalid one is an error.
        for switch in ("standalone", "verbose", "helm_creates_peerings",
                       "narrow_serving_placement"):
            if getattr(args, switch) is None:
                setattr(args, switch, _env_switch(switch.upper()))
        # The scope: a flag's (argparse refuses both flags) wins over either variable.
        env_all_namespaces = (not args.namespace and args.all_namespaces is None
                              and _env_switch("ALL_NAMESPACES"))
    except ValueError as error:
        parser.error(str(error))
    # Peering named on purpose and switched off at once (the chart's --peering with --standalone
    # in extraArgs or UPLIFT_STANDALONE in extraEnv): each replica would act alone, on every
    # resource at once, where its peering object says one acts.
    env_peering = _env("PEERING") or ""
    if args.standalone and (args.peering is not None or env_peering):
        peering = (f"--peering {args.peering[:60]!r}" if args.peering is not None
                   else f"UPLIFT_PEERING={env_peering[:60]!r}")
        standalone = "--standalone" if standalone_flag else "UPLIFT_STANDALONE=true"
        # The peering from the environment alone (the chart's standalone=true renders no
        # --peering): what to drop is the variable, which the chart takes from peering.name.
        advice = ("Give one: --peering for replicas of which one acts, or --standalone for a "
                  "single replica (the chart's values standalone=true with replicas=1)"
                  if args.peering is not None else
                  "Unset UPLIFT_PEERING for a single replica (with the chart, remove it from "
                  f"extraEnv: peering.name names the peering), or drop {standalone} for "
                  "replicas of which one acts")
        parser.error(f"{standalone} with {peering}: standalone ignores the peering object, so "
                     f"replicas that share it would each act on every resource at once. {advice}")
    if args.peering is None:
        # Empty is unset, as for the refusal above: the default, not a peering named ''.
        args.peering = _env("PEERING") or "uplift-operator"
    if bool(args.helm_release) != bool(args.helm_release_namespace):
        parser.error("--helm-release and --helm-release-namespace go together")
    try:
        env_lists = {option: _env_list(f"{option}S", option) for option in (
            "NAMESPACE", "PROMETHEUS_HEADER", "ALLOWED_TRACKING_URI", "ALLOWED_RUNTIME_IMAGE",
            "ALLOWED_SERVICE_ACCOUNT", "ALLOWED_IMAGE_PULL_SECRET")}
    except ValueError as error:
        parser.error(str(error))
    # One scope: a flag's, else the environment's, which may not hold both either (kopf
    # refuses to be cluster-wide and namespaced at once).
    namespaces: list[str] = args.namespace or []
    all_namespaces = bool(args.all_namespaces)
    if not namespaces and not all_namespaces:
        namespaces, all_namespaces = env_lists["NAMESPACE"], env_all_namespaces
        if namespaces and all_namespaces:
            parser.error("UPLIFT_ALL_NAMESPACES=true and UPLIFT_NAMESPACES (or "
                         "UPLIFT_NAMESPACE) are both set: set one, or give --all-namespaces or "
                         "--namespace, which wins over both")
    if not namespaces and not all_namespaces:
        parser.error("choose --namespace NAME (repeatable) or --all-namespaces")
    if args.peering_lifetime is None:
        args.peering_lifetime = recommended_peering_lifetime(namespaces, all_namespaces)
    if args.peering_lifetime < MIN_PEERING_LIFETIME:
        parser.error(f"--peering-lifetime must be at least {MIN_PEERING_LIFETIME} s: below it a "
                     "replica whose 1 s keep-alive is a moment late is taken for dead")
    if args.mlflow_tracking_uri and has_userinfo(args.mlflow_tracking_uri):
        # Not quoted: the password would be in the operator's log.
        parser.error("--mlflow-tracking-uri (Helm value mlflow.trackingUri) must not hold "
                     "user:password@ (not shown here): it would reach every serving pod's "
                     "environment and the operator's messages; put the credentials in a Secret "
                     "named by each UpliftModel's spec.model.credentials")
    if args.seldon_controller_id and not _LABEL_VALUE.fullmatch(args.seldon_controller_id):
        parser.error(f"--seldon-controller-id {args.seldon_controller_id[:80]!r}: not a label "
                     "value (at most 63 letters, digits, '-', '_' or '.', beginning and ending "
                     "with a letter or a digit)")
    if args.pass_workers < 1:
        parser.error("--pass-workers must be at least 1")
    if args.max_concurrent_graph_rolls < 0:
        parser.error("--max-concurrent-graph-rolls must be 0 (no limit) or more")
    if not 1 <= args.prometheus_ingest_delay <= 3600:
        parser.error("--prometheus-ingest-delay must be between 1 and 3600 seconds")
    if not 1 <= args.metrics_scrape_interval <= 3600:
        parser.error("--metrics-scrape-interval must be between 1 s and 1 h")
    if not 1 <= args.prometheus_scrape_interval <= 300:
        parser.error("--prometheus-scrape-interval must be between 1 and 300 seconds")
    if not 0 <= args.prometheus_query_lag <= 3600:
        parser.error("--prometheus-query-lag must be between 0 and 3600 seconds")
    if args.prometheus_query_lag + 2 * args.prometheus_scrape_interval > 3600:
        # The kept parts of long count ranges end that far back, within their hour.
        parser.error("--prometheus-query-lag plus two --prometheus-scrape-intervals must be at "
                     "most 3600 seconds")
    if not 1 <= args.split_propagation_grace <= 3600:
        parser.error("--split-propagation-grace must be between 1 s and 1 h")
    if (args.prometheus_username_file is None) != (args.prometheus_password_file is None):
        parser.error("--prometheus-username-file and --prometheus-password-file go together")
    if args.prometheus_bearer_token_file is not None and args.prometheus_username_file is not None:
        parser.error("give either --prometheus-bearer-token-file or the basic-auth files, "
                     "not both")
    for option in ("bearer_token_file", "username_file", "password_file", "ca_file"):
        path = getattr(args, f"prometheus_{option}")
        if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
            parser.error(f"--prometheus-{option.replace('_', '-')} {path}: "
                         "not a readable file")
    headers: dict[str, tuple[str, str]] = {}
    for text in args.prometheus_header or [h for h in env_lists["PROMETHEUS_HEADER"]
                                           if h.strip()]:
        try:
            name, value = parse_header(text)
        except ValueError as error:
            parser.error(f"--prometheus-header {error}")
        headers[name.lower()] = (name, value)  # the last of one name wins, as a map's
    allowed: dict[str, tuple[str, ...]] = {}
    for option in ("tracking_uri", "runtime_image", "service_account"):
        given = getattr(args, f"allowed_{option}") or env_lists[f"ALLOWED_{option.upper()}"]
        for pattern in given:
            try:
                re.compile(pattern)
            except re.error as error:
                parser.error(f"--allowed-{option.replace('_', '-')} {pattern!r}: {error}")
        allowed[option] = tuple(given)
    pull_secrets = args.allowed_image_pull_secret or env_lists["ALLOWED_IMAGE_PULL_SECRET"]
    for name in pull_secrets:
        if not (len(name) <= 253 and re.fullmatch(SUBDOMAIN_PATTERN, name)):
            parser.error(f"--allowed-image-pull-secret {name!r}: not a Secret name (a DNS-1123 "
                         "subdomain), which the name is matched with exactly")
    templates = dict(BUILTIN_TEMPLATES)
    if args.metric_templates:
        try:
            loaded = yaml.safe_load(Path(args.metric_templates).read_text()) or {}
        except (OSError, UnicodeDecodeError) as error:
            reason = (error.strerror or str(error)) if isinstance(error, OSError) else error
            parser.error(f"--metric-templates {args.metric_templates}: cannot be read ({reason})")
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            what = getattr(error, "problem", None) or " ".join(str(error).split())
            parser.error(f"--metric-templates {args.metric_templates}: not YAML ({where}{what})")
        if not isinstance(loaded, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
            parser.error(f"{args.metric_templates}: expected a mapping of name: PromQL")
        templates.update(loaded)
    return OperatorConfig(
        namespaces=tuple(namespaces), all_namespaces=all_namespaces,
        standalone=args.standalone, peering_name=args.peering, priority=args.priority,
        peering_lifetime=args.peering_lifetime,
        liveness_port=args.liveness_port, readiness_port=args.readiness_port,
        metrics_port=args.metrics_port, metrics_scrape_interval=args.metrics_scrape_interval,
        log_format=args.log_format, verbose=args.verbose,
        mlflow_tracking_uri=args.mlflow_tracking_uri, prometheus_url=args.prometheus_url,
        prometheus_bearer_token_file=args.prometheus_bearer_token_file,
        prometheus_username_file=args.prometheus_username_file,
        prometheus_password_file=args.prometheus_password_file,
        prometheus_headers=tuple(headers.values()),
        prometheus_ca_file=args.prometheus_ca_file,
        # Under two scrapes, two scrapes more than asked: the part from the last kept piece to
        # the range's end must hold two scrapes already answered for increase() to count it,
        # and a sample is answered up to the delay late (with one scrape or none it answered
        # nothing, and that part's counts were missing: 0.13 % short at a 10 s delay and a
        # 30 s scrape; raised only to two scrapes, 0.24 % with samples 5 s late). At least the
        # query lag plus two scrapes: a backend answers no sample sooner than the lag, so a kept
        # part cut within it missed its last scrapes for good (a part is never asked again),
        # and the rest after the cut needs two scrapes answered (``_settle``).
        prometheus_ingest_delay=max(_settle(args.prometheus_ingest_delay,
                                            args.prometheus_scrape_interval),
                                    _settle(args.prometheus_query_lag,
                                            args.prometheus_scrape_interval,
                                            at_least_two=True)),
        prometheus_scrape_interval=args.prometheus_scrape_interval,
        prometheus_query_lag=args.prometheus_query_lag,
        split_propagation_grace=args.split_propagation_grace,
        runtime_image=args.runtime_image, pass_workers=args.pass_workers,
        max_concurrent_graph_rolls=args.max_concurrent_graph_rolls,
        metric_templates=templates, allowed_tracking_uris=allowed["tracking_uri"],
        allowed_runtime_images=allowed["runtime_image"],
        allowed_service_accounts=allowed["service_account"],
        allowed_image_pull_secrets=tuple(pull_secrets),
        narrow_serving_placement=args.narrow_serving_placement,
        helm_release=((args.helm_release, args.helm_release_namespace)
                      if args.helm_release else None),
        helm_creates_peerings=args.helm_creates_peerings,
        seldon_controller_id=args.seldon_controller_id)
