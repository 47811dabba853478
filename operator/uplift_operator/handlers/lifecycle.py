"""Operator start-up: kopf settings (storages, peering, posting) and the metrics endpoint."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from uplift_operator.handlers import observability
from uplift_operator.handlers.common import config_of

PREFIX = "uplift.dev"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = config_of(memo)
    # Progress and diff-base in annotations under our own prefix: status stays ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.posting.level = logging.INFO
    settings.peering.mandatory = not config.standalone
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.execution.max_workers = 8
    # A failing pass retries sooner than kopf's 60 s default; status says why meanwhile.
    settings.execution.default_backoff = 10
    if config.metrics_port:
        observability.serve(config.metrics_port)
