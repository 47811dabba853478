#!/usr/bin/env bash
# The main job on the embedded default: control plane + MLflow + Prometheus + operator + samples.
# Installs what it needs first (same steps as the tests). Extra arguments go to `uplift-operator dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap-python.sh
scripts/install-prometheus.sh
scripts/build-controlplane.sh | tail -n 1
exec .venv/bin/uplift-operator dev "$@"
