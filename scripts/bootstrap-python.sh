#!/usr/bin/env bash
# Creates .venv with the project and its dev dependencies (kubectl among them: .venv/bin/kubectl),
# at the versions requirements/dev.lock pins.
# Idempotent and fast when warm: uv keeps its wheel cache in ~/.cache/uv, outside the repository.
#
# uv itself: the one on PATH; else one this script installed before; else `pip install uv` into
# the Python that runs pip (a pyenv or user Python); else, where pip refuses that (Debian 12's
# system Python is "externally managed", PEP 668), into a virtual environment of its own under
# ~/.cache/uplift-operator/uv-venv, from PyPI. Not the standalone installer (curl … | sh): it
# downloads uv from outside the package registries, which not every machine that runs this can
# reach. Debian's python3 needs its python3-venv package for that last way.
set -euo pipefail
cd "$(dirname "$0")/.."
# Not .venv's own python3 (scripts/env.sh puts .venv/bin first on PATH): the machine's.
PATH="$(printf '%s\n' "$PATH" | tr ':' '\n' | grep -vxF "$PWD/.venv/bin" | paste -sd: -)"
uv_venv="${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator/uv-venv"
uv=""
if command -v uv >/dev/null 2>&1; then
  uv=uv
elif [ -x "$uv_venv/bin/uv" ]; then
  uv="$uv_venv/bin/uv"
elif python3 -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
    && command -v uv >/dev/null 2>&1; then
  uv=uv
else
  echo "bootstrap-python: pip could not install uv here; installing it into $uv_venv" >&2
  rm -rf "$uv_venv"
  if ! python3 -m venv "$uv_venv"; then
    echo "bootstrap-python: 'python3 -m venv' failed; on Debian: apt-get install python3-venv" >&2
    exit 1
  fi
  "$uv_venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
  uv="$uv_venv/bin/uv"
fi
if [ ! -x .venv/bin/python ]; then
  "$uv" venv --quiet --python "$(command -v python3.11 || command -v python3)" .venv
fi
# The versions of requirements/dev.lock (scripts/lock.sh), as constraints: a fresh .venv gets what
# the last lock resolved, not the newest release pyproject's ranges allow that day. An existing
# .venv is brought to them. The lock is for Linux x86_64; elsewhere it constrains what overlaps.
"$uv" pip install --quiet --python .venv/bin/python -c requirements/dev.lock -e '.[dev]'
