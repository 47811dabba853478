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
# names on its `go` line. A Go from 1.21 on that is older switches to that toolchain by itself
# only as its GOTOOLCHAIN says: `auto` or `<name>+auto` fetches it through the module proxy,
# `path` or `<name>+path` runs go<version> from PATH (never fetches), `local` (what Debian's Go
# packages set) and a bare `go<version>` never switch. Unset, the Go's own default counts
# (`go env GOTOOLCHAIN`: go.env, or `go env -w`).
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
# Outside the checkout: a go.mod here would make it switch toolchains. It fails when it cannot
# run at all, or when GOTOOLCHAIN names a toolchain it cannot fetch (offline, say).
status=0
said="$(cd / && "$go_cmd" version 2>&1)" || status=$?
if [[ "$status" != 0 ]]; then
    echo "dev.sh: '$go_cmd version' failed (exit $status; GOTOOLCHAIN=${GOTOOLCHAIN:-unset})," \
         "so there is no Go here that runs to build the control plane (Go $need) with. It said:" >&2
    printf '%s\n' "$said" >&2
    echo "dev.sh: install Go $need or later, or repair this one (a GOTOOLCHAIN naming a" \
         "toolchain is fetched through the network the first time). Nothing was installed." >&2
    exit 2
fi
have="$(awk '$1 == "go" && $2 == "version" {print $3; exit}' <<<"$said")"
have="${have#go}"
if ! at_least "$have" "$need"; then
    if ! at_least "$have" 1.21; then
        echo "dev.sh: Go ${have:-of unknown version} is too old to build the control plane" \
             "(Go $need), and too old to fetch Go $need by itself (that needs Go 1.21): install" \
             "Go $need or later. Nothing was installed." >&2
        exit 2
    fi
    toolchain="${GOTOOLCHAIN:-}"
    if [[ -z "$toolchain" ]]; then
        toolchain="$(cd / && "$go_cmd" env GOTOOLCHAIN 2>/dev/null || true)"
    fi
    case "$toolchain" in
        auto | *+auto)
            echo "dev.sh: Go $have fetches go$need to build the control plane" \
                 "(GOTOOLCHAIN=$toolchain)" >&2 ;;
        path | *+path)
            if ! command -v "go$need" >/dev/null 2>&1; then
                echo "dev.sh: Go $have is older than the Go $need the control plane is built" \
                     "with, and GOTOOLCHAIN=$toolchain switches only to a go$need on PATH, which" \
                     "is not there: run with GOTOOLCHAIN=auto (fetches it), put go$need on" \
                     "PATH, or install Go $need or later. Nothing was installed." >&2
                exit 2
            fi
            echo "dev.sh: Go $have runs go$need from PATH to build the control plane" \
                 "(GOTOOLCHAIN=$toolchain)" >&2 ;;
        *)
            if [[ "$toolchain" == local* ]]; then
                why="keeps it from fetching go$need (Debian's Go packages set local)"
            elif [[ -z "$toolchain" ]]; then
                why="(unknown: 'go env GOTOOLCHAIN' said nothing) may not fetch go$need"
            else
                why="runs that Go only and never switches to go$need"
            fi
            echo "dev.sh: Go $have is older than the Go $need the control plane is built with," \
                 "and GOTOOLCHAIN=${toolchain:-?} $why: run with GOTOOLCHAIN=auto, or install" \
                 "Go $need or later. Nothing was installed." >&2
            exit 2 ;;
    esac
fi

# Python's bytecode cached outside the checkout, as for the tests: scripts/env.sh.
source scripts/env.sh
scripts/bootstrap-python.sh
scripts/install-prometheus.sh
scripts/build-controlplane.sh | tail -n 1
exec .venv/bin/uplift-operator dev "$@"
