#!/usr/bin/env bash
# The main job: the whole stack on this machine (control plane, MLflow, Prometheus, operator, real
# MLServer runtimes behind a weighted router, simulated customers) playing scenarios live:
# `--scenario promote,harm` (default), drift, latency, offline, the Campaign's delivery-failure
# and budget, or all (comma-separated or repeated). See docs/demo.md.
# Installs what it needs first (same steps as the tests). Extra arguments go to `uplift-operator dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python's bytecode cached outside the checkout, as for the tests: scripts/env.sh.
source scripts/env.sh
scripts/bootstrap-python.sh
scripts/install-prometheus.sh
scripts/build-controlplane.sh | tail -n 1
exec .venv/bin/uplift-operator dev "$@"
