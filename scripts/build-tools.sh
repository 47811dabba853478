#!/usr/bin/env bash
# Build the packaging tools the tests run against the chart, the manifests and the Argo CD health
# checks, from the Go module proxy:
#   helm        helm.sh/helm/v3/cmd/helm                  (v3.19.x)
#   kustomize   sigs.k8s.io/kustomize/kustomize/v5        (v5.8.2)
#   argocd-lua  ../shared/tools/argocd-lua (Argo CD's own Lua engine; read-only, built from a copy;
#               skipped with a warning when absent)
#   controller-gen  sigs.k8s.io/controller-tools/cmd/controller-gen  (v0.23.0), which generates
#   prometheus-operator-crds  the ServiceMonitor, PodMonitor and PrometheusRule CRDs from the Go API
#               types of github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
#               (v0.95.2), as prometheus-operator generates its own: the chart's monitoring
#               objects are dry-run against them on the real API server
#
# Each binary is cached OUTSIDE the repository and the build is skipped when it exists:
#   ${UPLIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uplift-operator}/tools/<name>-<version-or-hash>/<name>
# Prints "<name>=<path>" per tool on stdout (prometheus-operator-crds: a directory of three CRD
# files); progress goes to stderr.
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
controller_tools_version="v0.23.0"
monitoring_api_version="v0.95.2"   # github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
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
# Without ../shared (a checkout on its own) it is not built and its tests skip, saying why, as the
# tests reading ../shared/data do.
build_argocd_lua() {
    local src="$shared/tools/argocd-lua" sum dir start
    if [[ ! -f "$src/go.sum" ]]; then
        echo "build-tools: warning: $src not found (set UPLIFT_SHARED_DIR); argocd-lua not built," \
             "the Argo CD health-check tests skip" >&2
        return 0
    fi
    sum="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
    dir="$cache_root/tools/argocd-lua-$sum"
    cached argocd-lua "$dir" && return 0
    mkdir -p "$dir"
    lua_tmp="$(mktemp -d "$dir/.build.XXXXXX")"   # global: the EXIT trap runs after we return
    trap 'rm -rf "$lua_tmp"' EXIT
    cp "$src/go.mod" "$src/go.sum" "$src/main.go" "$lua_tmp/"
    start=$SECONDS
    echo "build-tools: building argocd-lua ($sum)" >&2
    (cd "$lua_tmp" && GOFLAGS="$GOFLAGS -mod=mod" "$go_cmd" build -trimpath -ldflags "-s -w" -o "$lua_tmp/argocd-lua" . >&2)
    mv -f "$lua_tmp/argocd-lua" "$dir/argocd-lua"
    echo "build-tools: built argocd-lua in $((SECONDS - start))s" >&2
    echo "argocd-lua=$dir/argocd-lua"
}
build_argocd_lua

# prometheus-operator's CRDs: controller-gen over the monitoring.coreos.com/v1 Go types, in a
# throwaway module that requires them. Only the three kinds the chart renders are kept.
install_module controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen \
    "$controller_tools_version" "-s -w"
controller_gen="$cache_root/tools/controller-gen-$controller_tools_version/controller-gen"
crds_dir="$cache_root/tools/prometheus-operator-crds-$monitoring_api_version-cg-$controller_tools_version"
crd_kinds=(servicemonitors podmonitors prometheusrules)
if [[ -f "$crds_dir/monitoring.coreos.com_prometheusrules.yaml" && "${UPLIFT_TOOLS_REBUILD:-0}" != 1 ]]; then
    echo "build-tools: cached $crds_dir" >&2
else
    mkdir -p "$cache_root/tools"
    crd_tmp="$(mktemp -d "$cache_root/tools/.prometheus-operator-crds.XXXXXX")"
    start=$SECONDS
    echo "build-tools: generating prometheus-operator CRDs ($monitoring_api_version)" >&2
    api="github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
    printf 'module uplift.dev/prometheus-operator-crds\n\ngo 1.26.0\n\nrequire %s %s\n' \
        "$api" "$monitoring_api_version" > "$crd_tmp/go.mod"
    printf 'package crds\n\nimport _ "%s/v1"\n' "$api" > "$crd_tmp/crds.go"
    (cd "$crd_tmp" && GOFLAGS="$GOFLAGS -mod=mod" "$go_cmd" mod tidy >&2 \
        && GOFLAGS="$GOFLAGS -mod=mod" "$controller_gen" crd:crdVersions=v1 "paths=$api/v1" \
            "output:crd:dir=$crd_tmp/out" >&2)
    mkdir -p "$crd_tmp/keep"
    for kind in "${crd_kinds[@]}"; do
        cp "$crd_tmp/out/monitoring.coreos.com_$kind.yaml" "$crd_tmp/keep/"
    done
    rm -rf "$crds_dir"
    mv -f "$crd_tmp/keep" "$crds_dir"   # whole directory at once: readers never see a partial set
    rm -rf "$crd_tmp"
    echo "build-tools: generated prometheus-operator CRDs in $((SECONDS - start))s" >&2
fi
echo "prometheus-operator-crds=$crds_dir"
