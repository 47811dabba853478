#!/usr/bin/env bash
# The main job: the whole stack on this machine (control plane, MLflow, Prometheus, operator, real
# MLServer runtimes behind a weighted router, simulated customers) playing scenarios live:
# `--scenario promote,harm` (default), drift, latency, offline, the Campaign's delivery-failure
# and budget, or all (comma-separated or repeated). See docs/demo.md.
# Installs what it needs first (same steps as the tests). Extra arguments go to `uplift-operator dev`.
# Before it installs anything: -h/--help prints the options and exits; then it checks for the
# Hillstrom data (../shared/data/hillstrom.csv, or UPLIFT_HILLSTROM_CSV=<path>), Python 3.11 and
# a Go that can build the control plane, and exits 2 saying what is missing.
set -euo pipefail
# A relative UPLIFT_HILLSTROM_CSV is relative to where dev.sh was called from.
if [[ -n "${UPLIFT_HILLSTROM_CSV:-}" && "$UPLIFT_HILLSTROM_CSV" != /* ]]; then
    export UPLIFT_HILLSTROM_CSV="$PWD/$UPLIFT_HILLSTROM_CSV"
fi
cd "$(dirname "$0")/.."

for arg in "$@"; do
    if [[ "$arg" == -h || "$arg" == --help ]]; then
        echo "Usage: scripts/dev.sh [OPTION]...  Installs what the demo needs (the Python packages" \
             "into .venv, Debian's Prometheus, the control plane built with Go; see README.md)," \
             "then runs \`uplift-operator dev\` with these options:"
        echo
        # up.py's options need the standard library only: any Python 3 prints them.
        python=""
        for candidate in .venv/bin/python python3.11 python3; do
            if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
        done
        if [[ -z "$python" ]]; then
            echo "(no Python 3 here to print them: see docs/demo.md)"
            exit 0
        fi
        PYTHONPATH=operator exec "$python" -B -m uplift_operator.devenv.up --help
    fi
done

data="${UPLIFT_HILLSTROM_CSV:-$(cd .. && pwd -P)/shared/data/hillstrom.csv}"
if [[ ! -f "$data" ]]; then
    header=recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend
    echo "dev.sh: $data is absent. The demo replays the customers of Kevin Hillstrom's" \
         "MineThatData e-mail experiment (64,000 rows, CSV with the header $header)," \
         "expected at ../shared/data/hillstrom.csv beside this checkout;" \
         "UPLIFT_HILLSTROM_CSV=<path> names another file. Nothing was installed." >&2
    exit 2
fi

# Python 3.11 (pyproject's requires-python): what scripts/bootstrap-python.sh makes .venv with,
# python3.11 or else python3. Not checked once .venv exists.
if [[ ! -x .venv/bin/python ]]; then
    python="$(command -v python3.11 || command -v python3 || true)"
    version="$([[ -n "$python" ]] && "$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
    if [[ "$version" != 3.11 ]]; then
        if [[ -z "$python" ]]; then
            found="neither is on PATH"
        else
            found="$python is Python ${version:-of unknown version}"
        fi
        echo "dev.sh: the project needs Python 3.11 (python3.11, or a python3 that is 3.11, on" \
             "PATH); $found. On Debian 12: apt-get install python3 python3-venv." \
             "Nothing was installed." >&2
        exit 2
    fi
fi

# Go: scripts/build-controlplane.sh builds the control plane with the toolchain controlplane/go.mod
# names on its `go` line. A Go from 1.21 on fetches that toolchain by itself through the module
# proxy (GOTOOLCHAIN=auto) when it is older; Debian's Go packages set GOTOOLCHAIN=local, which
# does not.
go_cmd="${GO:-go}"
need="$(awk '$1 == "go" {print $2; exit}' controlplane/go.mod)"
at_least() {  # at_least A B: version A >= version B
    [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}
if ! command -v "$go_cmd" >/dev/null 2>&1; then
    echo "dev.sh: Go is not on PATH ('$go_cmd'). The control plane is built with Go $need:" \
         "install Go $need or later, or a Go from 1.21 on with GOTOOLCHAIN=auto, which fetches" \
         "go$need by itself. Nothing was installed." >&2
    exit 2
fi
have="$(cd / && "$go_cmd" version 2>/dev/null | awk '{print $3}')"
have="${have#go}"
if ! at_least "$have" "$need"; then
    toolchain="$(cd / && "$go_cmd" env GOTOOLCHAIN 2>/dev/null || true)"
    if ! at_least "$have" 1.21; then
        echo "dev.sh: Go ${have:-of unknown version} is too old to build the control plane" \
             "(Go $need), and too old to fetch Go $need by itself (that needs Go 1.21): install" \
             "Go $need or later. Nothing was installed." >&2
        exit 2
    fi
    if [[ "$toolchain" == local* || -z "$toolchain" ]]; then
        echo "dev.sh: Go $have is older than the Go $need the control plane is built with, and" \
             "GOTOOLCHAIN=${toolchain:-?} keeps it from fetching go$need: run with" \
             "GOTOOLCHAIN=auto (Debian's Go packages set local), or install Go $need or later." \
             "Nothing was installed." >&2
        exit 2
    fi
    echo "dev.sh: Go $have fetches go$need to build the control plane (GOTOOLCHAIN=$toolchain)" >&2
fi

# Python's bytecode cached outside the checkout, as for the tests: scripts/env.sh.
source scripts/env.sh
scripts/bootstrap-python.sh
scripts/install-prometheus.sh
scripts/build-controlplane.sh | tail -n 1
exec .venv/bin/uplift-operator dev "$@"
