#!/usr/bin/env bash
# Build the local Kubernetes control plane binary (etcd + kube-apiserver +
# kube-controller-manager in one multi-call binary, "kube-local") from controlplane/.
#
# The binary is cached OUTSIDE the repository, so that a fresh clone on the same machine reuses
# it, keyed by the Kubernetes version and a hash of everything the build reads that can change:
# go.mod, go.sum, main.go, the ldflags and `go version` (the toolchain that builds it):
#   ${UPLIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator}/controlplane/<ver>-<sha12>/kube-local
# The build is skipped when that file exists. The binary path is the LAST line of stdout;
# everything else goes to stderr. Go is needed for a cache hit too (`go version` is in the key).
#
# Env: UPLIFT_CACHE_DIR, XDG_CACHE_HOME, GO (go command, default "go"),
#      GOFLAGS (default "-p=2"), UPLIFT_CONTROLPLANE_REBUILD=1 forces a rebuild.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo_root/controlplane"
go_cmd="${GO:-go}"

k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")"
if [[ -z "$k8s_version" ]]; then
    echo "build-controlplane: cannot find the k8s.io/kubernetes version in $src/go.mod" >&2
    exit 1
fi
cache_root="${UPLIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator}"

# v1.37.2 -> major 1, minor 37
ver="${k8s_version#v}"
major="${ver%%.*}"
rest="${ver#*.}"
minor="${rest%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

command -v "$go_cmd" >/dev/null || { echo "build-controlplane: '$go_cmd' not found" >&2; exit 1; }
export GOFLAGS="${GOFLAGS:--p=2}"
cd "$src"
# In the module's directory: the toolchain go.mod selects is the one that builds.
go_version="$("$go_cmd" version)"
sum="$({ cat go.mod go.sum main.go; printf 'ldflags %s\n%s\n' "$ldflags" "$go_version"; } \
       | sha256sum | cut -c1-12)"
out_dir="$cache_root/controlplane/$k8s_version-$sum"
bin="$out_dir/kube-local"

if [[ -x "$bin" && "${UPLIFT_CONTROLPLANE_REBUILD:-0}" != 1 ]]; then
    echo "build-controlplane: cached $bin" >&2
    echo "$bin"
    exit 0
fi

echo "build-controlplane: go mod download (k8s $k8s_version, $go_version)" >&2
start=$SECONDS
"$go_cmd" mod download >&2
echo "build-controlplane: downloaded in $((SECONDS - start))s; building $bin" >&2

mkdir -p "$out_dir"
tmp="$(mktemp "$out_dir/.kube-local.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
CGO_ENABLED=0 "$go_cmd" build -trimpath -ldflags "$ldflags" -o "$tmp" . >&2
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"   # atomic: concurrent builders never see a half-written file
trap - EXIT
echo "build-controlplane: built in $((SECONDS - start))s ($(du -h "$bin" | cut -f1))" >&2
echo "$bin"
