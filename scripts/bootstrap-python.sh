#!/usr/bin/env bash
# Creates .venv with the project and its dev dependencies. Idempotent and fast when warm:
# uv keeps its wheel cache in ~/.cache/uv, outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
if [ ! -x .venv/bin/python ]; then
  uv venv --quiet --python "$(command -v python3.11 || command -v python3)" .venv
fi
uv pip install --quiet --python .venv/bin/python -e '.[dev]'
