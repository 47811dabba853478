"""Operator start-up: kopf settings (storages, peering, posting) and the metrics endpoint."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf

from uplift_operator.adapters import process_memory
from uplift_operator.adapters.kube import LIST_PAGE_SIZE, KubeCluster
from uplift_operator.adapters.mlflow_registry import Credentials, MlflowRegistry
from uplift_operator.adapters.prometheus import PrometheusClient, SecretFile, basic_auth_files
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.validation import ServingPolicy
from uplift_operator.handlers import (
    campaign,
    campaigns_file,
    existence,
    observability,
    registry_polling,
    upliftmodel,
)
from uplift_operator.handlers.campaigns_file import CAMPAIGNS_FILE_LABELS, CAMPAIGNS_FILE_SELECTOR
from uplift_operator.handlers.common import config_of, runner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.handlers.watches import GRAPH_LABELS, GRAPH_SELECTOR, alias_followers
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel as service
from uplift_operator.services.ports import Registry
from uplift_operator.services.rolls import Rolls
from uplift_operator.services.run_cache import RegistryClients
from uplift_operator.services.writeback import Stopped, WriteBack
from uplift_operator.settings import (
    KEEPALIVE_BUDGET,
    OperatorConfig,
    keepalives_per_second,
    recommended_peering_lifetime,
)

PREFIX = "uplift.dev"
#: Events posted at once (kopf's posting workers; each object's in order).
EVENT_POSTERS = 8
#: A stopping runtime pod waits a scrape interval plus this for the scrape after its drain.
DRAIN_SCRAPE_SLACK = 5
MODEL_PLURAL = "upliftmodels"
_GRAPHS = SeldonV1Backend()
#: The kinds the passes reconcile (a model's campaigns file among them).
KINDS = (upliftmodel.KIND, campaign.KIND, campaigns_file.FILE_KIND)

logger = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = config_of(memo)
    # Progress and diff-base in annotations under our own prefix: status stays ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.posting.level = logging.INFO
    # Events say `From: uplift-operator` (kopf's default is "kopf"), the instance is the pod.
    settings.posting.reporting_component = "uplift-operator"
    settings.posting.reporting_instance = os.environ.get("HOSTNAME") or "uplift-operator"
    # kopf posts each object's events from a worker of its own, all of them at once, on an
    # aiohttp pool without a limit: 1,000 first versions opened ~180 TLS connections in one
    # burst (the API server pays every handshake; bench/scale.py, docs/operator.md "Scale").
    # A few workers, each leaving as soon as its object has nothing more to post, reuse a
    # few connections; an object's events still go out in order, by one worker at a time.
    settings.posting.worker_limit = EVENT_POSTERS
    settings.posting.idle_timeout = 0.05
    settings.peering.mandatory = not config.standalone
    # kopf's default lifetime (60 s) kept a standby waiting up to a minute after the acting
    # replica was SIGKILLed (docs/reliability.md, "Kills and failovers"); keep-alives follow it.
    settings.peering.lifetime = config.peering_lifetime
    settings.peering.stealth = True  # no debug line per keep-alive (every 1-3 s now)
    warn_of_keepalive_cost(config)
    # Namespaces named exactly: no cluster-wide list/watch of namespaces and CRDs, so a
    # namespaced install runs on Roles alone (docs/install.md, "Namespaced mode").
    settings.scanning.disabled = not config.cluster_reads
    # The only ConfigMaps the operator watches are its campaigns files, selected by the API
    # server (a watch of every ConfigMap would bring the whole cluster's).
    settings.watching.label_selectors["v1", "configmaps"] = CAMPAIGNS_FILE_SELECTOR
    # The SeldonDeployments likewise: only the graphs it renders, not every team's plain Seldon
    # models in the watched namespaces (each was listed, watched and kept in memory).
    settings.watching.label_selectors[_GRAPHS.api_version, _GRAPHS.plural] = GRAPH_SELECTOR
    # kopf's LISTs (each watch's first, its re-list after a 410 Gone or a peering resume, and
    # the namespaces' and CRDs' scans) page as the operator's own do: without a chunk size kopf
    # sends no `limit`, and 10,000 UpliftModels, Campaigns or graphs came in one answer of tens
    # of MB, built whole by the API server and decoded whole here.
    settings.watching.chunk_size = LIST_PAGE_SIZE
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.execution.max_workers = 4  # kopf's own sync handlers: indexes, deletions
    settings.execution.default_backoff = 10
    # Before the first scrape: the last pass's end is the start until a pass ends (a process
    # hung since its start ages from there; one restarted healthy at rest does not look hung,
    # its first passes maybe before a scrape), and the reconcile counters are at 0.
    observability.process_started(KINDS, time.time())
    if config.metrics_port:
        observability.serve(config.metrics_port)
    objects = watched_objects()
    memo["watched_objects"] = objects
    memo["uplift_dependencies"] = dependencies(config, objects)
    # The passes (blocking I/O: the API server, MLflow, Prometheus) run here, never on the
    # event loop that carries the watches and the waiting tasks (handlers.scheduling).
    memo["pass_executor"] = ThreadPoolExecutor(max_workers=config.pass_workers,
                                               thread_name_prefix="pass")
    # The alias poller's reads of MLflow, on threads of their own: a pass never waits for them.
    memo["alias_executor"] = ThreadPoolExecutor(max_workers=registry_polling.ALIAS_READERS,
                                                thread_name_prefix="alias-read")
    memo["wakeups"] = Wakeups(observe_error_backoff=observability.passes_in_error_backoff,
                              observe_tasks=observability.resources)
    for kind in KINDS:
        observability.resources(kind, 0)  # from the start: a process hung before any pass
    memo["heap_trim"] = process_memory.start_trimming()
    # A watch event wakes a pass (handlers.watches): its routine success is not worth a line.
    logging.getLogger("kopf.objects").addFilter(QuietWatchHandlers())


@kopf.on.startup()
async def share_process_state(memo: kopf.Memo, **_: Any) -> None:
    """What every resource's handlers share, made once in the operator's memo, after
    ``configure`` (kopf runs start-up handlers one after another, in this order) and before any
    resource is seen. kopf hands each object a shallow copy of this memo when it first sees it:
    anything a handler put into its own memo later would be that object's alone — a poller, a
    write-back callback, an alias-follower table per UpliftModel (it was, until 2026-12-02:
    10,000 pollers each looking every second)."""
    runner(memo, upliftmodel.KIND, upliftmodel.PLURAL)
    runner(memo, campaign.KIND, campaign.PLURAL)
    alias_followers(memo)
    upliftmodel.start_write_back(memo)
    upliftmodel.follow_alias_claims(memo)
    upliftmodel.follow_rolls(memo)
    registry_polling.start(memo)
    campaigns_file.file_dependencies(memo)
    campaign.campaign_dependencies(memo)
    existence.start(memo)


def watched_objects() -> WatchedObjects:
    """The store of the watched kinds the passes read from memory (``adapters.watched``): the
    UpliftModels, and the children watched by label, kept by the labels their watches select
    (``GRAPH_LABELS``, ``CAMPAIGNS_FILE_LABELS``: what the watch keeps fresh). Their absence
    is remembered all the same, and read again before a pass writes over it: a campaigns
    ConfigMap's (most models have none, and each file pass would ask;
    ``services.campaigns_file``) and a graph's (a model whose reference does not resolve has
    none, and each of its passes, every 10 s to 5 min, asked: 10,000 such models in an MLflow
    outage sent 33 GETs a second; ``services.upliftmodel._apply``)."""
    return WatchedObjects([MODEL_PLURAL, _GRAPHS.plural, "configmaps"],
                          selectors={_GRAPHS.plural: GRAPH_LABELS,
                                     "configmaps": CAMPAIGNS_FILE_LABELS},
                          absence_kept=[_GRAPHS.plural, "configmaps"])


def warn_of_keepalive_cost(config: OperatorConfig) -> None:
    """Say so when the peering keep-alives cost more than ``KEEPALIVE_BUDGET`` PATCHes a second
    at rest: namespaced, kopf keeps a KopfPeering per watched namespace, each with keep-alives
    every lifetime minus 5-10 s, so a short lifetime given (the chart's, a flag) over many
    namespaces costs each replica hundreds of requests a second (200 namespaces at 8 s: 133 a
    second, each a watch event to every replica) through the operator's own API Priority and
    Fairness flow."""
    rate = keepalives_per_second(config)
    if rate <= KEEPALIVE_BUDGET:
        return
    advice = recommended_peering_lifetime(config.namespaces, config.all_namespaces)
    longer = (f"--peering-lifetime {advice} keeps them within {KEEPALIVE_BUDGET:g} a second (a "
              f"failover then waits up to {advice} s); "
              if advice > config.peering_lifetime else "")
    logger.warning(
        "kopf peering keep-alives: %d watched namespaces, a KopfPeering each, at "
        "--peering-lifetime %d cost %.1f PATCH requests a second per replica at rest, each a "
        "watch event to every replica. %s--all-namespaces keeps one ClusterKopfPeering "
        "(docs/install.md, 'Namespaced mode')", len(config.namespaces),
        config.peering_lifetime, rate, longer)


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff-base storage, building the same essence without deep-copying the status and
    the managed fields first, which kopf's ``build`` copies whole and then drops: the essence is
    built on every watch event of every object (11 % of the operator's Python time while 1,000
    new models were applied: ``bench/scale.py`` under ``py-spy --gil``, docs/operator.md)."""

    KEPT_METADATA = ("labels", "annotations", "ownerReferences")  # what ``build`` reads

    def build(self, *, body: kopf.Body,
              extra_fields: Iterable[kopf.FieldSpec] | None = None) -> kopf.BodyEssence:
        if extra_fields:  # fields picked from anywhere (a status field): kopf's own way
            return super().build(body=body, extra_fields=extra_fields)
        meta = body.get("metadata") or {}
        lean = {key: value for key, value in body.items() if key not in ("metadata", "status")}
        lean["metadata"] = {key: meta[key] for key in self.KEPT_METADATA if key in meta}
        return super().build(body=kopf.Body(cast(kopf.RawBody, lean)))


class QuietWatchHandlers(logging.Filter):
    """Drops kopf's INFO "Handler '<watch handler>' succeeded." line, one per watch event."""

    NAMES = ("model_changed", "campaign_changed", "child_changed", "file_changed")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (record.levelno <= logging.INFO and message.endswith("succeeded.")
                    and any(message == f"Handler '{name}' succeeded." for name in self.NAMES))


@kopf.on.cleanup()
def stop_passes(memo: kopf.Memo, **_: Any) -> None:
    """The operator stops: no MLflow write is tried any more (``WriteBack.stop``), and no pass
    starts. kopf runs the cleanup once its other tasks ended, the peering keep-alive among
    them, which took this replica out of the peering: a standby acts from then on, so a write
    of this one tried now (a retry, a drain of the queue) could land after the standby's newer
    decisions (a promotion alias moved back after its rollback). A write a worker is sending
    at the stop may still land (one per worker at most). What is left is logged
    (``stop_write_back``)."""
    deps = memo.get("uplift_dependencies")
    write_back = getattr(deps, "write_back", None)
    if isinstance(write_back, WriteBack):
        stop_write_back(write_back)
    trimming = memo.get("heap_trim")
    if isinstance(trimming, threading.Event):
        trimming.set()
    for pool in ("pass_executor", "alias_executor"):
        executor = memo.get(pool)
        if isinstance(executor, ThreadPoolExecutor):
            executor.shutdown(wait=False, cancel_futures=True)


def stop_write_back(write_back: WriteBack) -> Stopped:
    """``WriteBack.stop``, and a log line of what it left: the live resources' writes (the next
    process submits them again from their statuses, whose ``RegistryWrittenBack`` is not
    True), and, apart and named, the deleted resources' writes (lost: no status is left to
    submit them from)."""
    left = write_back.stop()
    if left.live:
        logger.warning("MLflow write-back stopped: %d writes of live resources left unwritten "
                       "(the next process submits them again from the resources' statuses: "
                       "their RegistryWrittenBack condition is not True)", left.live)
    if left.orphaned:
        more = left.orphaned - len(left.orphaned_names)
        logger.warning("MLflow write-back stopped: %d writes of deleted resources lost (no "
                       "status is left to submit them again from): %s%s", left.orphaned,
                       "; ".join(left.orphaned_names), f"; and {more} more" if more > 0 else "")
    if left.sending:
        logger.warning("MLflow write-back stopped: %d writes being sent at the stop may still "
                       "land", left.sending)
    if not left.total:
        logger.info("MLflow write-back stopped: no write was pending")
    return left


def prometheus_client(config: OperatorConfig) -> PrometheusClient | None:
    """The client of ``--prometheus-url``, with the credentials, headers and CA bundle the
    configuration names (the files are read at each query, when they changed)."""
    if not config.prometheus_url:
        return None
    return PrometheusClient(
        config.prometheus_url, headers=dict(config.prometheus_headers),
        bearer_token=(SecretFile(config.prometheus_bearer_token_file)
                      if config.prometheus_bearer_token_file is not None else None),
        basic_auth=(basic_auth_files(config.prometheus_username_file,
                                     config.prometheus_password_file)
                    if config.prometheus_username_file is not None
                    and config.prometheus_password_file is not None else None),
        verify=str(config.prometheus_ca_file) if config.prometheus_ca_file is not None else True)


def metric_source(config: OperatorConfig) -> PiecewiseIncreases | None:
    """The Prometheus every gate reads, long count ranges from kept pieces: one cache for
    every resource's analyses."""
    client = prometheus_client(config)
    if client is None:
        return None
    return PiecewiseIncreases(client, settle=config.prometheus_ingest_delay)


def dependencies(config: OperatorConfig,
                 objects: WatchedObjects | None = None) -> service.Dependencies:
    """The adapters the UpliftModel passes use, built once; reads of the watched kinds
    (``objects``) come from memory."""
    cluster = WatchedCluster(KubeCluster(), objects if objects is not None else WatchedObjects([]))
    prometheus = metric_source(config)
    # One client per registry identity (its connections kept), whose immutable run reads (a
    # gate's metrics and references) every resource shares.
    clients = RegistryClients(
        lambda uri, credentials: MlflowRegistry(uri, credentials=credentials, timeout=5.0))

    def registry_for(ref: ModelReference, credentials: Credentials | None) -> Registry:
        uri = ref.tracking_uri or config.mlflow_tracking_uri
        if not uri:
            raise ValueError("no MLflow tracking URI: set spec.model.trackingUri, or the "
                             "operator's --mlflow-tracking-uri (env UPLIFT_MLFLOW_TRACKING_URI, "
                             "Helm value mlflow.trackingUri)")
        return clients.get(uri, credentials)

    return service.Dependencies(
        cluster=cluster, backend=SeldonV1Backend(controller_id=config.seldon_controller_id),
        registry_for=registry_for,
        prometheus=prometheus, metric_templates=config.metric_templates,
        runtime_image=config.runtime_image, default_tracking_uri=config.mlflow_tracking_uri,
        # The next scrape after the drain, with some slack for its duration.
        runtime_drain_wait=config.prometheus_scrape_interval + DRAIN_SCRAPE_SLACK,
        # What the gates scale the counts they read by (``measurements.observed_share``).
        prometheus_scrape_interval=config.prometheus_scrape_interval,
        prometheus_query_lag=config.prometheus_query_lag,
        # The campaigns file's split and the onlineEffect cohorts (--split-propagation-grace).
        split_propagation_grace=config.split_propagation_grace,
        policy=ServingPolicy(
            tracking_uris=config.allowed_tracking_uris,
            runtime_images=config.allowed_runtime_images,
            service_accounts=config.allowed_service_accounts,
            narrow_placement=config.narrow_serving_placement,
            image_pull_secrets=config.allowed_image_pull_secrets,
            default_tracking_uri=config.mlflow_tracking_uri,
            default_runtime_image=config.runtime_image),
        rolls=Rolls(config.max_concurrent_graph_rolls))
