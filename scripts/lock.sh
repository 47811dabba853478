#!/usr/bin/env bash
# Regenerates the locks from pyproject.toml: requirements/operator.lock (the operator image: base
# dependencies only), requirements/runtime.lock (the runtime image: + the serving extra) and
# requirements/dev.lock (the dev extra: what scripts/bootstrap-python.sh installs into .venv, as
# constraints, so a fresh .venv gets these versions rather than the newest in pyproject's ranges).
# Exact versions with hashes, for Linux x86_64 / CPython 3.11 (python:3.11-slim); the Dockerfile
# installs the image locks with --require-hashes. tests/contract/test_locks.py checks they match
# pyproject.
#
# uv keeps an output file's existing pins where they still satisfy pyproject (its preferences), so
# a rerun changes only what must change. The dev lock starts from the runtime lock's pins (the
# operator lock's are the same versions) and its own for the rest: where they overlap, the tests
# run the versions the images ship.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes
        --no-emit-package uplift-operator --custom-compile-command scripts/lock.sh)
uv pip compile "${common[@]}" pyproject.toml -o requirements/operator.lock
uv pip compile "${common[@]}" --extra serving pyproject.toml -o requirements/runtime.lock

# Preferences for the dev lock: every runtime.lock pin, then dev.lock's pins of the other packages.
seed="$(mktemp requirements/.dev.lock.XXXXXX)"
trap 'rm -f "$seed"' EXIT
pins() { grep -E '^[A-Za-z0-9_.-]+==' "$1" | cut -d' ' -f1 || true; }
norm() { tr 'A-Z_.' 'a-z--'; }
pins requirements/runtime.lock > "$seed"
if [ -f requirements/dev.lock ]; then
  pins requirements/dev.lock | while IFS= read -r pin; do
    name="$(printf '%s' "${pin%%==*}" | norm)"
    grep -qiE "^${name//-/[-_.]}==" requirements/runtime.lock || printf '%s\n' "$pin"
  done >> "$seed"
fi
uv pip compile "${common[@]}" --extra dev pyproject.toml -o "$seed"
chmod 644 "$seed"
mv -f "$seed" requirements/dev.lock
trap - EXIT
