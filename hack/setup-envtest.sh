#!/usr/bin/env bash
# setup-envtest.sh makes kube-apiserver and etcd available for envtest and prints
# the folder to export as KUBEBUILDER_ASSETS (the only thing written to stdout).
#
# Order of preference:
#   1. $KUBEBUILDER_ASSETS when it already holds both binaries;
#   2. the cache setup-envtest itself uses, outside the repository;
#   3. the normal setup-envtest download, with a short timeout;
#   4. a build from the Go module proxy (no other network needed): about
#      10 minutes cold on 2 cores, about 1 minute with a warm Go build cache.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-v3.6.8}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-release-0.22}"
ARCH="$(go env GOARCH)"
OS="$(go env GOOS)"
CACHE_ROOT="${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest"
DEST="$CACHE_ROOT/k8s/${K8S_VERSION}-${OS}-${ARCH}"

log() { echo "setup-envtest: $*" >&2; }
have() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi
if have "$DEST"; then
  echo "$DEST"; exit 0
fi

# Only one build at a time per cache: a second caller waits for the first.
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.tokenwarden-build.lock"
if ! flock -n 9; then
  log "another setup-envtest is preparing $DEST; waiting for it"
  flock 9
fi
if have "$DEST"; then echo "$DEST"; exit 0; fi

# 3. The normal download, for machines with internet access.
if [ -z "${ENVTEST_SKIP_DOWNLOAD:-}" ]; then
  log "trying the setup-envtest download (60 s limit)"
  dl="$(timeout 60 go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" \
        use "$K8S_VERSION" --bin-dir "$CACHE_ROOT" -p path 2>/dev/null </dev/null || true)"
  if [ -n "$dl" ] && have "$dl"; then echo "$dl"; exit 0; fi
  log "download unavailable; building from the Go module proxy instead"
fi

# 4. Build from the module proxy.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
log "step 1/4: fetching k8s.io/kubernetes@v${K8S_VERSION} module metadata"
go mod init envtest-build >/dev/null 2>&1
kmod="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
[ -f "$kmod" ] || { log "could not download k8s.io/kubernetes@v${K8S_VERSION}"; exit 1; }
staging="$(awk '/^replace \(/{r=1;next} r&&/^\)/{r=0} r&&/=> \.\/staging/{print $1}' "$kmod")"
go mod edit -require="k8s.io/kubernetes@v${K8S_VERSION}"
for m in $staging; do go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"; done
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
log "step 2/4: resolving modules (downloads a few hundred MB the first time)"
go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
go mod tidy >&2 2>&1 || true
minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
mkdir -p "$work/out"
log "step 3/4: building etcd ${ETCD_VERSION} (about 20 s)"
CGO_ENABLED=0 go build -ldflags "-s -w" -o "$work/out/etcd" go.etcd.io/etcd/server/v3 >&2
log "step 4/4: building kube-apiserver v${K8S_VERSION} (about 10 min cold on 2 cores, 1 min warm; progress below)"
start=$(date +%s)
( while sleep 60; do log "  ... still building kube-apiserver ($(( ($(date +%s)-start)/60 )) min)"; done ) &
ticker=$!
CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$work/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2 || { kill $ticker; exit 1; }
kill $ticker 2>/dev/null || true
mkdir -p "$DEST"
mv "$work/out/etcd" "$work/out/kube-apiserver" "$DEST/"
log "binaries ready in $DEST"
echo "$DEST"
