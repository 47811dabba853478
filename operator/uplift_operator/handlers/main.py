"""``uplift-operator run``: start kopf with our handlers, peering, probes and JSON logs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import kopf

from uplift_operator import settings


def main(argv: Sequence[str] | None = None) -> int:
    config = settings.parse_args(sys.argv[1:] if argv is None else argv)
    # Importing registers the handlers with kopf's default registry.
    from uplift_operator.handlers import (  # noqa: F401
        campaign,
        campaigns_file,
        kopf_toggles,
        lifecycle,
        readiness,
        registry_polling,
        upliftmodel,
        watches,
    )

    # Before kopf builds its start-up gate: at thousands of Campaigns kopf's own holds every
    # handler for minutes (the module says why).
    kopf_toggles.install()

    log_format = {"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.PLAIN,
                  "full": kopf.LogFormat.FULL}[config.log_format]
    kopf.configure(verbose=config.verbose, log_format=log_format)
    # Before kopf's watches start: the missing peering objects created, the namespaces that
    # cannot be watched left out, so that none of them pauses all the others (readiness says why).
    prepared = readiness.prepare_peerings(config)
    if prepared is None:
        return 1
    config = prepared
    # /healthz: served by readiness.serve_healthz once kopf sets this (its start-up through), on
    # both IP families; kopf's own liveness endpoint listens on its URL's host alone, one family.
    started = asyncio.Event()
    kopf.run(
        clusterwide=config.all_namespaces,
        namespaces=list(config.namespaces),
        standalone=config.standalone,
        peering_name=config.peering_name,
        priority=config.priority,
        liveness_endpoint=None,
        ready_flag=started,
        memo=kopf.Memo({"config": config, readiness.KOPF_STARTED: started}),
    )
    return 0
