#!/usr/bin/env bash
# The main job: the whole stack on this machine (control plane, MLflow, Prometheus, operator, real
# MLServer runtimes behind a weighted router, simulated customers) playing scenarios live:
# `--scenario promote,harm` (default), drift, latency, offline, the Campaign's delivery-failure
# and budget, or all (comma-separated or repeated). See docs/demo.md.
# Installs what it needs first (same steps as the tests). Extra arguments go to `uplift-operator dev`.
# Needs the Hillstrom data (../shared/data/hillstrom.csv, or UPLIFT_HILLSTROM_CSV=<path>): checked
# before anything is installed.
set -euo pipefail
# A relative UPLIFT_HILLSTROM_CSV is relative to where dev.sh was called from.
if [[ -n "${UPLIFT_HILLSTROM_CSV:-}" && "$UPLIFT_HILLSTROM_CSV" != /* ]]; then
    export UPLIFT_HILLSTROM_CSV="$PWD/$UPLIFT_HILLSTROM_CSV"
fi
cd "$(dirname "$0")/.."
data="${UPLIFT_HILLSTROM_CSV:-$(cd .. && pwd -P)/shared/data/hillstrom.csv}"
if [[ ! -f "$data" && " $* " != *" -h "* && " $* " != *" --help "* ]]; then
    header=recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend
    echo "dev.sh: $data is absent. The demo replays the customers of Kevin Hillstrom's" \
         "MineThatData e-mail experiment (64,000 rows, CSV with the header $header)," \
         "expected at ../shared/data/hillstrom.csv beside this checkout;" \
         "UPLIFT_HILLSTROM_CSV=<path> names another file. Nothing was installed." >&2
    exit 2
fi
# Python's bytecode cached outside the checkout, as for the tests: scripts/env.sh.
source scripts/env.sh
scripts/bootstrap-python.sh
scripts/install-prometheus.sh
scripts/build-controlplane.sh | tail -n 1
exec .venv/bin/uplift-operator dev "$@"
