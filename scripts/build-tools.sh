#!/usr/bin/env bash
# Build the packaging tools the tests run against the chart, the manifests and the Argo CD health
# checks, from the Go module proxy:
#   helm        helm.sh/helm/v3/cmd/helm                  (v3.19.x)
#   kustomize   sigs.k8s.io/kustomize/kustomize/v5        (v5.8.2)
#   argocd-lua  ../shared/tools/argocd-lua (Argo CD's own Lua engine; read-only, built from a copy)
#
# Each binary is cached OUTSIDE the repository and the build is skipped when it exists:
#   ${UPLIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator}/tools/<name>-<version-or-hash>/<name>
# Prints "<name>=<path>" per tool on stdout; progress goes to stderr.
#
# Env: UPLIFT_CACHE_DIR, XDG_CACHE_HOME, GO (default "go"), GOFLAGS (default "-p=2"),
#      UPLIFT_SHARED_DIR (default ../shared from the repository), UPLIFT_TOOLS_REBUILD=1.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
go_cmd="${GO:-go}"
cache_root="${UPLIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator}"
shared="${UPLIFT_SHARED_DIR:-$repo_root/../shared}"
helm_version="v3.19.5"
kustomize_version="v5.8.2"
export GOFLAGS="${GOFLAGS:--p=2}" GOTOOLCHAIN=local CGO_ENABLED=0

cached() {  # cached NAME DIR: print and succeed when DIR/NAME exists
    if [[ -x "$2/$1" && "${UPLIFT_TOOLS_REBUILD:-0}" != 1 ]]; then
        echo "build-tools: cached $2/$1" >&2
        echo "$1=$2/$1"
        return 0
    fi
    return 1
}

install_module() {  # install_module NAME PACKAGE VERSION LDFLAGS: `go install pkg@version` into the cache
    local name="$1" pkg="$2" version="$3" ldflags="$4" dir tmp start
    dir="$cache_root/tools/$name-$version"
    cached "$name" "$dir" && return 0
    command -v "$go_cmd" >/dev/null || { echo "build-tools: '$go_cmd' not found" >&2; exit 1; }
    mkdir -p "$dir"
    tmp="$(mktemp -d "$dir/.build.XXXXXX")"
    start=$SECONDS
    echo "build-tools: building $name $version" >&2
    GOBIN="$tmp" "$go_cmd" install -trimpath -ldflags "$ldflags" "$pkg@$version" >&2
    mv -f "$tmp/$name" "$dir/$name"   # atomic: concurrent builders never see a half-written file
    rm -rf "$tmp"
    echo "build-tools: built $name in $((SECONDS - start))s" >&2
    echo "$name=$dir/$name"
}

install_module helm helm.sh/helm/v3/cmd/helm "$helm_version" \
    "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
install_module kustomize sigs.k8s.io/kustomize/kustomize/v5 "$kustomize_version" \
    "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=kustomize/$kustomize_version"

# argocd-lua: shared/ is read-only, and `go build` may write go.mod/go.sum, so build from a copy.
src="$shared/tools/argocd-lua"
[[ -f "$src/go.sum" ]] || { echo "build-tools: $src not found (set UPLIFT_SHARED_DIR)" >&2; exit 1; }
sum="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
dir="$cache_root/tools/argocd-lua-$sum"
if ! cached argocd-lua "$dir"; then
    mkdir -p "$dir"
    tmp="$(mktemp -d "$dir/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    cp "$src/go.mod" "$src/go.sum" "$src/main.go" "$tmp/"
    start=$SECONDS
    echo "build-tools: building argocd-lua ($sum)" >&2
    (cd "$tmp" && GOFLAGS="$GOFLAGS -mod=mod" "$go_cmd" build -trimpath -ldflags "-s -w" -o "$tmp/argocd-lua" . >&2)
    mv -f "$tmp/argocd-lua" "$dir/argocd-lua"
    echo "build-tools: built argocd-lua in $((SECONDS - start))s" >&2
    echo "argocd-lua=$dir/argocd-lua"
fi
