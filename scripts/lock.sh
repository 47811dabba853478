#!/usr/bin/env bash
# Regenerates the image locks from pyproject.toml: requirements/operator.lock (the operator image:
# base dependencies only) and requirements/runtime.lock (the runtime image: + the serving extra).
# Exact versions with hashes, for Linux x86_64 / CPython 3.11 (python:3.11-slim); the Dockerfile
# installs them with --require-hashes. tests/contract/test_locks.py checks they match pyproject.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes
        --no-emit-package uplift-operator --custom-compile-command scripts/lock.sh)
uv pip compile "${common[@]}" pyproject.toml -o requirements/operator.lock
uv pip compile "${common[@]}" --extra serving pyproject.toml -o requirements/runtime.lock
